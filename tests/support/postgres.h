/* postgres.h: test helpers: a private PostgreSQL server in a temp dir, and `cairn serve --postgres`. */
#ifndef CAIRN_TESTS_SUPPORT_POSTGRES_H
#define CAIRN_TESTS_SUPPORT_POSTGRES_H

/*
 * None of these assert: they return codes and print what went wrong on stderr. The server
 * is initdb'd into a mkdtemp'd directory and started with pg_ctl on a free loopback port
 * (trust authentication, superuser "postgres", fsync off). When the tests run as root the
 * PostgreSQL programs run as the `postgres` user (runuser), which owns the directory.
 */

#include <stddef.h>
#include <sys/types.h>

typedef struct cairn_test_pg cairn_test_pg;

/* Where the PostgreSQL programs are looked for (initdb, pg_ctl, psql). */
#define CAIRN_TEST_PG_BIN "/usr/lib/postgresql/15/bin"

/* Starts a private PostgreSQL. Returns 0 and *out (stop it with _stop), 1 when the
 * PostgreSQL programs are not installed (the caller skips; a message is printed), or -1. */
int cairn_test_pg_start(cairn_test_pg **out);
/* Stops the server (pg_ctl stop -m immediate), removes its directory, frees. NULL: no-op. */
void cairn_test_pg_stop(cairn_test_pg *pg);

/* Creates database `name` (dropping it first if it exists) and writes its libpq connection
 * string into conninfo. 0 or -1. */
int cairn_test_pg_create_database(cairn_test_pg *pg, const char *name, char *conninfo,
	size_t size);
/* Runs SQL (psql -c) in database `name`. 0 or -1. */
int cairn_test_pg_sql(cairn_test_pg *pg, const char *name, const char *sql);
/* Runs a query (psql -tA) whose first output is an integer, into *out. 0 or -1. */
int cairn_test_pg_query_int(cairn_test_pg *pg, const char *name, const char *sql,
	long long *out);

/* Starts `cairn serve --postgres CONNINFO --listen 127.0.0.1:0 --data DATA_DIR --project
 * PROJECT --api-key KEY --port-file DATA_DIR.port` and waits (at most ~10 s) for the port
 * file. Fills *pid and *port. 0 or -1 (nothing left running). */
int cairn_test_pg_serve(pid_t *pid, int *port, const char *conninfo, const char *data_dir,
	const char *project, const char *api_key);
/* SIGTERM (or SIGKILL when `kill_hard`) and reap. Returns the exit status, or -1 when it
 * died of a signal. */
int cairn_test_pg_serve_stop(pid_t pid, int kill_hard);

/* The main of a test program whose cmocka group needs PostgreSQL: starts it into *pg, runs
 * the group, stops it. Returns the group's result, 0 when PostgreSQL is not installed (a
 * skip; the message says why), or 1 when it would not start. */
struct CMUnitTest;
int cairn_test_pg_run_group(cairn_test_pg **pg, const char *name,
	const struct CMUnitTest *tests, size_t count);
#define CAIRN_TEST_PG_RUN_GROUP(pg, tests) \
	cairn_test_pg_run_group(&(pg), #tests, (tests), sizeof(tests) / sizeof((tests)[0]))

#endif
