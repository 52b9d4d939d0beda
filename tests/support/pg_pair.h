/* pg_pair.h: two `cairn serve --postgres` instances sharing one fresh PostgreSQL database, as
 * the multi-instance integration tests use them. */
#ifndef CAIRN_TESTS_SUPPORT_PG_PAIR_H
#define CAIRN_TESTS_SUPPORT_PG_PAIR_H

#include <sys/types.h>

#include "support/integration.h"
#include "support/postgres.h"

typedef struct {
	char database[48];   /* "<tag>_<pid>_<n>" on the test's PostgreSQL */
	char conninfo[256];  /* libpq conninfo of that database */
	cairn_it_env env[2]; /* env[i].url is instance i's URL; env[i].server stays NULL */
	pid_t pid[2];        /* the instances, 0 when not running */
} cairn_it_pg_pair;

/* Creates a fresh database on `pg` and starts both instances on it, each with its own temp
 * dir /tmp/cairn-it-<tag>-XXXXXX. Asserts with cmocka. */
void cairn_it_pg_pair_start(cairn_it_pg_pair *pair, cairn_test_pg *pg, const char *tag);
/* SIGTERMs both instances (waiting for them) and removes their dirs. Returns 0, or -1 when
 * an instance did not exit cleanly (said on stderr). */
int cairn_it_pg_pair_stop(cairn_it_pg_pair *pair);

#endif
