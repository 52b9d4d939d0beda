/* bench_util.h: what the bench programs share: a clock, sorting, the server process, RSS. */
#ifndef CAIRN_BENCH_UTIL_H
#define CAIRN_BENCH_UTIL_H

#include <sys/types.h>

/* Monotonic seconds. */
double bench_util_now(void);
/* qsort comparator for doubles, ascending. */
int bench_util_compare_doubles(const void *a, const void *b);
/* The value at quantile q (0..1) of `sorted` (count > 0). */
double bench_util_quantile(const double *sorted, size_t count, double q);
/* Starts `binary serve` with data in <dir>/server, project "bench", API key "bench-key",
 * listening on `listen` ("127.0.0.1:0" for any free port), stdout to /dev/null. Waits up to
 * 10 s for the port file; *port is 0 when the server did not come up. The child dies with
 * the bench (PR_SET_PDEATHSIG). Returns the pid, or -1. */
pid_t bench_util_server_start(const char *binary, const char *dir, const char *listen,
	int *port);
/* Stops a server started above (SIGTERM, then waits). */
void bench_util_server_stop(pid_t pid);
/* A free loopback TCP port (bound, read and released), or 0. */
int bench_util_free_port(void);
/* The resident set of `pid` in KiB (VmRSS), or -1. */
long bench_util_rss_kib(pid_t pid);

#endif
