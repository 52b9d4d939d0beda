/* replicator_wake.c: a commit through any store handle of the replicator's own process wakes
 * it at once: with the file poll set so slow it never runs, local writes are still pushed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"
#include "util/time.h"

#define DATABASE "wake"
#define WAIT_MS 20000 /* an upper bound for "eventually"; the poll would take 10 minutes */

static int server_has(const cairn_it_env *env, const char *id)
{
	json_object *docs = cairn_it_server_docs(env, DATABASE, "items");
	int found = 0;

	for (size_t i = 0; i < json_object_array_length(docs) && !found; i++) {
		json_object *value = NULL;

		json_object_object_get_ex(json_object_array_get_idx(docs, i), "$id", &value);
		found = value && strcmp(json_object_get_string(value), id) == 0;
	}
	json_object_put(docs);
	return found;
}

static void wait_on_server(const cairn_it_env *env, const char *id)
{
	int64_t until = cairn__time_monotonic_ms() + WAIT_MS;

	while (!server_has(env, id)) {
		if (cairn__time_monotonic_ms() > until)
			fail_msg("%s was not pushed: the replicator was not woken by the commit", id);
		cairn_it_sleep_ms(20);
	}
}

static void test_integration_replicator_wake__local_commit_wakes_replicator(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *app = cairn_it_store_open(env, "app", DATABASE), *other;
	cairn_replicator_options options = CAIRN_REPLICATOR_OPTIONS_INIT;
	cairn_replicator *replicator = NULL;
	cairn_replicator_status status;
	char path[400];
	int64_t until;

	/* The collection exists before the replicator starts. */
	assert_int_equal(cairn_doc_put(app, "items", "first", "{\"n\":0}"), 0);
	cairn_it_sync(NULL, app, NULL);

	options.poll_ms = 600000; /* the file poll runs at start, then not for 10 minutes */
	options.netlink = 0;
	assert_int_equal(cairn_replicator_start(&replicator, app, &options), 0);
	until = cairn__time_monotonic_ms() + WAIT_MS;
	do {
		if (cairn__time_monotonic_ms() > until)
			fail_msg("the replicator did not settle");
		cairn_it_sleep_ms(20);
		assert_int_equal(cairn_replicator_status_get(&status, replicator), 0);
	} while (status.state != CAIRN_REPLICATOR_IDLE || status.pending != 0);

	/* The app's own handle. */
	assert_int_equal(cairn_doc_put(app, "items", "a", "{\"n\":1}"), 0);
	wait_on_server(env, "a");

	/* A second handle of the same file in this process. */
	snprintf(path, sizeof(path), "%s/app.db", env->root);
	assert_int_equal(cairn_store_open(&other, path, NULL), 0);
	assert_int_equal(cairn_doc_put(other, "items", "b", "{\"n\":2}"), 0);
	wait_on_server(env, "b");
	cairn_store_free(other);

	/* After the replicator stops, commits wake nobody and nothing breaks. */
	cairn_replicator_stop(replicator);
	assert_int_equal(cairn_doc_put(app, "items", "c", "{\"n\":3}"), 0);
	cairn_store_free(app);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_replicator_wake__local_commit_wakes_replicator),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
