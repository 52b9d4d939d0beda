/* cli_run.h: test helpers for the `cairn` command: run the binary at CAIRN_BIN and capture
 * what it prints and its exit code; temp dirs; a `cairn serve` child on a free port. */
#ifndef CAIRN_TESTS_SUPPORT_CLI_RUN_H
#define CAIRN_TESTS_SUPPORT_CLI_RUN_H

#include <limits.h>
#include <sys/types.h>

/* What one run of `cairn` did. */
typedef struct {
	int status; /* exit code, or -1 if it died of a signal or was killed after the timeout */
	char *out;  /* all of stdout, NUL-terminated (malloc'd; cairn_cli_result_free) */
	char *err;  /* all of stderr, likewise */
} cairn_cli_result;

/* Runs `cairn ARGV...` and waits (killing it after 120 s). `argv`: NULL-terminated
 * arguments after the program name. `cwd`: working directory, NULL to inherit. `env`:
 * NULL-terminated "NAME=VALUE" to set or "NAME" to unset, applied to the test's
 * environment after CAIRN_STORE has been removed from it (so nothing leaks in from the
 * outside); may be NULL. `stdin_text`: fed to stdin, or NULL for an empty stdin.
 * stdin/stdout/stderr are pipes or files, never a terminal. Returns 0, or -1 if the
 * process could not be started (result->status is then -1). */
int cairn_cli_run(cairn_cli_result *result, const char *cwd, const char *const *env,
	const char *stdin_text, const char *const *argv);
/* The same with the arguments as a NULL-terminated list. */
int cairn_cli_runl(cairn_cli_result *result, const char *cwd, const char *const *env,
	const char *stdin_text, ...) __attribute__((sentinel));
void cairn_cli_result_free(cairn_cli_result *result);

/* mkdtemp("/tmp/cairn-cli-XXXXXX") into `out` (PATH_MAX bytes); returns 0 or -1. */
int cairn_cli_tmpdir(char *out);
/* Removes a directory tree (no-op if missing). */
void cairn_cli_rmtree(const char *path);

/* A `cairn serve` child on 127.0.0.1 with a port the kernel picked. */
typedef struct {
	pid_t pid;               /* 0 when not running */
	int port;
	char url[64];            /* "http://127.0.0.1:PORT/v1" */
	char data_dir[PATH_MAX]; /* --data */
	char log_path[PATH_MAX + 8]; /* its stdout and stderr */
} cairn_cli_server;

/* Starts `cairn serve --listen 127.0.0.1:0 --data DIR/server --project PROJECT --api-key KEY
 * --port-file ...` with its output in DIR/server.log and waits (at most 15 s) until it
 * accepts connections. Returns 0, or -1 (printing the log to stderr). */
int cairn_cli_server_start(cairn_cli_server *server, const char *dir, const char *project,
	const char *api_key);
/* SIGTERM, then waits (SIGKILL after 10 s). Returns its exit status, -1 if it had to be
 * killed or died of a signal. No-op returning 0 when not running. */
int cairn_cli_server_stop(cairn_cli_server *server);

/* One blocking HTTP request (libcurl) with X-Appwrite-Project/X-Appwrite-Key headers and a
 * JSON body (or NULL). Returns the HTTP status, or -1 when no answer came. */
long cairn_cli_http(const char *method, const char *url, const char *project,
	const char *api_key, const char *json_body);

#endif
