/* server_proc.h: integration-test helpers: run the real `cairn serve` and talk HTTP to it. */
#ifndef CAIRN_TESTS_SUPPORT_SERVER_PROC_H
#define CAIRN_TESTS_SUPPORT_SERVER_PROC_H

/*
 * None of these assert: they return codes and print what went wrong on stderr, so they can
 * be used from any helper. The server is the binary at CAIRN_BIN, listening on 127.0.0.1.
 */

#include <stddef.h>
#include <sys/types.h>

typedef struct cairn_test_server cairn_test_server; /* one `cairn serve` child process */

/* Starts `cairn serve --listen 127.0.0.1:0 --data DATA_DIR --project PROJECT --api-key KEY
 * --port-file <DATA_DIR>.port` and waits (at most ~10 s) until it answers HTTP. project NULL
 * means "test", api_key NULL "test-key". Returns 0 and *out (free it with _stop or _kill), or
 * -1 if it did not come up (then *out is NULL and nothing is left running).
 * With the environment variable CAIRN_TEST_POSTGRES set (not "0"), the server runs with
 * --postgres on a fresh database of a private PostgreSQL started once per test program
 * (tests/support/postgres.h); _restart keeps that database. */
int cairn_test_server_start(cairn_test_server **out, const char *data_dir, const char *project,
	const char *api_key);

/* The same serving HTTPS and WSS: `cert_file` and `key_file` go to --tls-cert/--tls-key, and
 * readiness is checked over https:// trusting the PEM CA file `ca_file` (NULL: the
 * system's). _url is then "https://127.0.0.1:PORT/v1". Restarts keep TLS. */
int cairn_test_server_start_tls(cairn_test_server **out, const char *data_dir,
	const char *project, const char *api_key, const char *cert_file, const char *key_file,
	const char *ca_file);

/* SIGTERM, wait and free. Returns the exit status (0 for a clean shutdown), or -1 if it died
 * of a signal or did not exit within ~10 s (then it is SIGKILLed). NULL: returns -1. */
int cairn_test_server_stop(cairn_test_server *server);
/* SIGKILL, wait and free (a crash, as far as the data directory is concerned). NULL: no-op. */
void cairn_test_server_kill(cairn_test_server *server);

/* SIGKILL and wait, but keep the handle so that _restart can bring it back. */
void cairn_test_server_crash(cairn_test_server *server);
/* Stops it (SIGTERM) if running, then starts it again on the same data directory, project,
 * key and, when it can, the same port (so clients' URLs stay valid; check _url). 0 or -1. */
int cairn_test_server_restart(cairn_test_server *server);

/* The running child's pid (0 when not running). */
pid_t cairn_test_server_pid(const cairn_test_server *server);
/* "http://127.0.0.1:PORT/v1", borrowed; valid until the next restart or free. */
const char *cairn_test_server_url(const cairn_test_server *server);
int cairn_test_server_port(const cairn_test_server *server);

/* One blocking HTTP request with libcurl. `headers`: NULL-terminated "Name: value" strings,
 * or NULL. `body_in` may be NULL (no body). On return *status is the HTTP status and *body a
 * malloc'd NUL-terminated response body (free it); either out pointer may be NULL. Returns 0,
 * or -1 if no HTTP answer came (connection refused, reset, timeout). "Expect: 100-continue"
 * is never sent unless given in `headers`. */
int cairn_test_http(long *status, char **body, const char *method, const char *url,
	const char *const *headers, const char *body_in, size_t body_len);
/* The same, trusting the PEM CA file `ca_file` for https:// URLs (NULL: the system's). */
int cairn_test_http_ca(long *status, char **body, const char *method, const char *url,
	const char *ca_file, const char *const *headers, const char *body_in, size_t body_len);

#endif
