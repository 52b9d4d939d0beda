/* push_own_changes.c: after a push whose writes are the only changes since the store's
 * checkpoint, the checkpoint moves past them without pulling them back; with anyone else's
 * change in between, the pull still brings it. Against a real server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"

#define DATABASE "own"

static int64_t checkpoint_of(cairn_store *store)
{
	cairn_store_status status;

	assert_int_equal(cairn_store_status_get(&status, store), 0);
	return status.checkpoint;
}

/* The highest version the server's feed holds for the database. */
static int64_t server_checkpoint(const cairn_it_env *env)
{
	char *reply = NULL;
	json_object *page;
	int64_t checkpoint;

	assert_int_equal(cairn_it_rest(&reply, env, "POST", "/sync/databases/" DATABASE "/pull",
		"{\"checkpoint\":0,\"limit\":10000}"), 200);
	page = cairn_it_parse(reply);
	free(reply);
	checkpoint = json_object_get_int64(json_object_object_get(page, "checkpoint"));
	json_object_put(page);
	return checkpoint;
}

static void test_integration_push_own_changes__skipped_only_when_alone(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *a = cairn_it_store_open(env, "a", DATABASE);
	cairn_store *b = cairn_it_store_open(env, "b", DATABASE);
	cairn_sync_result result;
	json_object *docs;

	cairn_it_put(a, "items", "a1", "{\"n\":1}");
	cairn_it_put(a, "items", "a2", "{\"n\":2}");
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 2);
	assert_int_equal(checkpoint_of(a), server_checkpoint(env));

	/* b writes; a's next push lands after it: a's versions do not follow its checkpoint */
	cairn_it_put(b, "items", "b1", "{\"n\":3}");
	cairn_it_sync(NULL, b, NULL);
	cairn_it_put(a, "items", "a3", "{\"n\":4}");
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 1);
	assert_int_equal(result.pulled, 1); /* b1 */
	docs = cairn_it_store_docs(a, "items");
	assert_int_equal(json_object_array_length(docs), 4);
	json_object_put(docs);
	cairn_it_assert_store_matches_server(env, a, DATABASE, "items");
	assert_int_equal(checkpoint_of(a), server_checkpoint(env));

	/* b's own changes since its checkpoint include a3: it pulls it */
	cairn_it_put(b, "items", "b2", "{\"n\":5}");
	cairn_it_sync(&result, b, NULL);
	assert_int_equal(result.pulled, 1);
	cairn_it_assert_store_matches_server(env, b, DATABASE, "items");

	/* a store with a sync scope always pulls: the scope may purge its own write */
	{
		const char *wanted = "{\"method\":\"equal\",\"attribute\":\"n\",\"values\":[6]}";

		assert_int_equal(cairn_sync_scope_set(a, "items", &wanted, 1), 0);
		cairn_it_sync(NULL, a, NULL);
		cairn_it_put(a, "items", "a4", "{\"n\":7}");
		cairn_it_sync(&result, a, NULL);
		assert_int_equal(result.pushed, 1);
		docs = cairn_it_store_docs(a, "items");
		/* n = 7 is outside the scope: the pull purged it locally (kept on the server) */
		assert_int_equal(json_object_array_length(docs), 0);
		json_object_put(docs);
	}
	cairn_store_free(a);
	cairn_store_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_integration_push_own_changes__skipped_only_when_alone, cairn_it_setup,
			cairn_it_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
