/* pg_pair.c: two `cairn serve --postgres` instances on one fresh database (see pg_pair.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/pg_pair.h"

void cairn_it_pg_pair_start(cairn_it_pg_pair *pair, cairn_test_pg *pg, const char *tag)
{
	static int database_counter;

	snprintf(pair->database, sizeof(pair->database), "%s_%d_%d", tag, (int)getpid(),
		++database_counter);
	assert_int_equal(cairn_test_pg_create_database(pg, pair->database, pair->conninfo,
		sizeof(pair->conninfo)), 0);
	for (int i = 0; i < 2; i++) {
		cairn_it_env *env = &pair->env[i];
		char root[sizeof(env->root)];
		int port;

		snprintf(env->root, sizeof(env->root), "/tmp/cairn-it-%s-XXXXXX", tag);
		assert_non_null(mkdtemp(env->root));
		memcpy(root, env->root, sizeof(root)); /* -Wrestrict cannot tell the fields apart */
		snprintf(env->data_dir, sizeof(env->data_dir), "%s/server", root);
		assert_int_equal(cairn_test_pg_serve(&pair->pid[i], &port, pair->conninfo,
			env->data_dir, CAIRN_IT_PROJECT, CAIRN_IT_KEY), 0);
		snprintf(env->url, sizeof(env->url), "http://127.0.0.1:%d/v1", port);
	}
}

int cairn_it_pg_pair_stop(cairn_it_pg_pair *pair)
{
	char command[400];
	int rc = 0;

	for (int i = 0; i < 2; i++) {
		/* A clean exit on SIGTERM: the watcher thread stops and nothing leaks (ASan). */
		if (pair->pid[i] > 0 && cairn_test_pg_serve_stop(pair->pid[i], 0) != 0) {
			fprintf(stderr, "instance %d did not exit cleanly\n", i);
			rc = -1;
		}
		pair->pid[i] = 0;
		if (!pair->env[i].root[0])
			continue;
		snprintf(command, sizeof(command), "rm -rf '%s'", pair->env[i].root);
		if (system(command) != 0)
			fprintf(stderr, "could not remove %s\n", pair->env[i].root);
	}
	return rc;
}
