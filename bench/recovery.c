/* recovery.c: the recovery workload: time from the server coming up to a store that wrote
 * while the server was down being in sync, with the background replicator's defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "cairn.h"

#define RECOVERY_WRITES 100       /* documents written while the server is down */
#define RECOVERY_TIMEOUT_S 130.0  /* > the default 60 s backoff cap, twice over */

/* One trial: a store writes while the server is down for `offline_s` seconds with its
 * replicator running, then the server starts on the store's URL. Returns the seconds from
 * the server's port being open to the replicator reporting nothing pending and idle, or a
 * negative value on failure. */
static double recovery_trial(const char *binary, const char *dir, double offline_s, int trial)
{
	char path[600], url[128];
	cairn_store *store = NULL;
	cairn_replicator *replicator = NULL;
	cairn_replicator_status status;
	double up, result = -1;
	pid_t server = -1;
	int port = bench_util_free_port(), started_port = 0;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, url, "bench", "bench-key", "recovery",
		NULL, 0, NULL, CAIRN_REMOTE_SYNC };

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", port);
	snprintf(path, sizeof(path), "%s/store-%d.db", dir, trial);
	if (port == 0 || cairn_store_open(&store, path, NULL) != 0 ||
		cairn_store_set_remote(store, &remote) != 0 ||
		cairn_replicator_start(&replicator, store, NULL) != 0)
		goto cleanup;
	for (int i = 0; i < RECOVERY_WRITES; i++) {
		char id[32], json[48];

		snprintf(id, sizeof(id), "t%d-%d", trial, i);
		snprintf(json, sizeof(json), "{\"n\":%d}", i);
		if (cairn_doc_put(store, "items", id, json) != 0)
			goto cleanup;
	}
	usleep((useconds_t)(offline_s * 1e6));
	{
		char listen[64];

		snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
		server = bench_util_server_start(binary, dir, listen, &started_port);
	}
	up = bench_util_now();
	if (server <= 0 || started_port != port) {
		fprintf(stderr, "cairn_bench: recovery: the server did not start on port %d\n", port);
		goto cleanup;
	}
	do {
		usleep(2000);
		if (cairn_replicator_status_get(&status, replicator) != 0)
			goto cleanup;
		if (status.pending == 0 && status.state == CAIRN_REPLICATOR_IDLE) {
			result = bench_util_now() - up;
			break;
		}
	} while (bench_util_now() - up < RECOVERY_TIMEOUT_S);
	if (result < 0)
		fprintf(stderr, "cairn_bench: recovery: not in sync %.0f s after the server came "
			"up\n", RECOVERY_TIMEOUT_S);
cleanup:
	cairn_replicator_stop(replicator);
	cairn_store_free(store);
	bench_util_server_stop(server);
	return result;
}

int cairn_bench_recovery(const char *cairn_binary, int trials, double offline_s)
{
	char dir[] = "/tmp/cairn-bench-recovery-XXXXXX", command[600];
	double *times = calloc((size_t)(trials > 0 ? trials : 1), sizeof(*times));
	int done = 0, rc = -1;

	if (!times || !mkdtemp(dir)) {
		free(times);
		return -1;
	}
	for (int i = 0; i < trials; i++) {
		double seconds = recovery_trial(cairn_binary, dir, offline_s, i);

		if (seconds < 0)
			goto cleanup;
		times[done++] = seconds;
	}
	if (done > 0) {
		qsort(times, (size_t)done, sizeof(*times), bench_util_compare_doubles);
		printf("# recovery: %d trials, %d writes each while the server was down %.0f s; "
			"default replicator options (backoff 250 ms doubling, full jitter, cap 60 s)\n",
			done, RECOVERY_WRITES, offline_s);
		printf("metric cairn.recovery_p50 %.3f s\n", bench_util_quantile(times,
			(size_t)done, 0.5));
		printf("metric cairn.recovery_max %.3f s\n", times[done - 1]);
		printf("metric cairn.recovery_min %.3f s\n", times[0]);
		fflush(stdout);
	}
	rc = 0;
cleanup:
	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	if (system(command) != 0)
		fprintf(stderr, "cairn_bench: could not remove %s\n", dir);
	free(times);
	return rc;
}
