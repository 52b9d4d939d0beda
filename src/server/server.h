/* server.h: `cairn serve`: configuration and the blocking entry point. */
#ifndef CAIRN_SERVER_SERVER_H
#define CAIRN_SERVER_SERVER_H

typedef struct {
	const char *listen;     /* "HOST:PORT", default "127.0.0.1:8080"; port 0 = pick a free one */
	const char *data_dir;   /* default "./cairn-data"; created if missing */
	const char *project;    /* default "cairn" */
	const char *api_key;    /* NULL: use the key stored in data_dir, or generate, store and print it once */
	int workers;            /* database worker threads; 0 = default (4) */
	const char *port_file;  /* if set, the bound port is written there once listening (tests) */
	const char *postgres;   /* libpq connection string or URI: store everything in PostgreSQL
	                         * (several servers may share it) instead of in data_dir */
	const char *tls_cert;   /* with tls_key: serve HTTPS and WSS on `listen` (PEM certificate */
	const char *tls_key;    /* chain and its unencrypted PEM private key); NULL: plain HTTP */
	const char *api_keys_file; /* more accepted API keys, one per line ('#' comments); NULL: none */
	long long session_lifetime; /* seconds a new session lasts; 0: one year (Appwrite's default) */
} cairn_server_config;

/* Runs the server until SIGINT or SIGTERM (then returns 0), or returns a negative CAIRN_E*
 * code with cairn_error_last() set if it could not start (port in use, bad data dir).
 * Prints one line "cairn server listening on http[s]://HOST:PORT/v1 (project P)" to stdout when
 * ready, and the generated API key once, on first start. */
int cairn__server_run(const cairn_server_config *config);

#endif
