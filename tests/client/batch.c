/* batch.c: batched local writes: one commit for many writes, each write still atomic, the
 * batch invisible to other handles until it commits, rollback, misuse, and listeners. */
#include "client/client_test.h"

typedef struct {
	int calls;
	char ids[8][40];
} recorder;

static void record(const cairn_change *change, void *payload)
{
	recorder *r = payload;

	if (r->calls < 8)
		snprintf(r->ids[r->calls], sizeof(r->ids[0]), "%s", change->id);
	r->calls++;
}

static void put(cairn_store *store, const char *id, const char *json)
{
	int rc = cairn_doc_put(store, "items", id, json);

	if (rc != 0)
		fail_msg("put %s: %d %s", id, rc, cairn_error_last());
}

static uint64_t pending(cairn_store *store)
{
	cairn_store_status status;

	assert_int_equal(cairn_store_status_get(&status, store), 0);
	return status.pending;
}

static int exists(cairn_store *store, const char *id)
{
	char *text = NULL;
	int rc = cairn_doc_get(&text, store, "items", id);

	cairn_free(text);
	if (rc != 0 && rc != CAIRN_ENOTFOUND)
		fail_msg("get %s: %d %s", id, rc, cairn_error_last());
	return rc == 0;
}

static void test_client_batch__commit_is_one_unit(void **state)
{
	client_env env;
	cairn_store *other = NULL;
	json_object *doc;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_store_open(&other, env.path, NULL), 0);

	assert_int_equal(cairn_store_batch_begin(env.store), 0);
	put(env.store, "a", "{\"n\":1}");
	put(env.store, "b", "{\"n\":2}");
	put(env.store, "c", "{\"n\":3}");
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"m\":9}"), 0);
	assert_int_equal(cairn_doc_delete(env.store, "items", "c"), 0);
	/* This handle reads its own batch; the other handle sees none of it yet. */
	assert_true(exists(env.store, "a"));
	assert_false(exists(env.store, "c"));
	assert_false(exists(other, "a"));
	assert_false(exists(other, "b"));
	assert_int_equal(pending(other), 0);
	assert_int_equal(cairn_store_batch_commit(env.store), 0);

	assert_true(exists(other, "a"));
	assert_true(exists(other, "b"));
	assert_false(exists(other, "c"));
	doc = client_get(other, "items", "a");
	assert_int_equal(json_object_get_int(json_object_object_get(doc, "n")), 1);
	assert_int_equal(json_object_get_int(json_object_object_get(doc, "m")), 9);
	json_object_put(doc);
	/* every write keeps its own outbox entry */
	assert_int_equal(pending(other), 5);

	/* after the batch, writes commit one by one again */
	put(env.store, "d", "{\"n\":4}");
	assert_true(exists(other, "d"));
	cairn_store_free(other);
	client_env_free(&env);
}

static void test_client_batch__failed_write_leaves_the_rest(void **state)
{
	client_env env;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_store_batch_begin(env.store), 0);
	put(env.store, "a", "{\"n\":1}");
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"n\":"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "-bad", "{}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_patch(env.store, "items", "missing", "{\"n\":1}"),
		CAIRN_ENOTFOUND);
	assert_int_equal(cairn_doc_increment(env.store, "items", "a", "n", 1), CAIRN_EINVALID);
	put(env.store, "c", "{\"n\":3}");
	assert_int_equal(cairn_store_batch_commit(env.store), 0);

	client_reopen(&env);
	assert_true(exists(env.store, "a"));
	assert_false(exists(env.store, "b"));
	assert_false(exists(env.store, "missing"));
	assert_true(exists(env.store, "c"));
	assert_int_equal(pending(env.store), 2);
	client_env_free(&env);
}

static void test_client_batch__rollback_and_free_undo_everything(void **state)
{
	client_env env;

	(void)state;
	client_env_init(&env);
	put(env.store, "kept", "{\"n\":0}");
	assert_int_equal(cairn_store_batch_begin(env.store), 0);
	put(env.store, "a", "{\"n\":1}");
	assert_int_equal(cairn_doc_delete(env.store, "items", "kept"), 0);
	assert_int_equal(cairn_store_batch_rollback(env.store), 0);
	assert_false(exists(env.store, "a"));
	assert_true(exists(env.store, "kept"));
	assert_int_equal(pending(env.store), 1);

	/* a handle freed with its batch open rolls it back */
	assert_int_equal(cairn_store_batch_begin(env.store), 0);
	put(env.store, "b", "{\"n\":2}");
	client_reopen(&env);
	assert_false(exists(env.store, "b"));
	assert_true(exists(env.store, "kept"));
	assert_int_equal(pending(env.store), 1);
	client_env_free(&env);
}

static void test_client_batch__misuse(void **state)
{
	client_env env;
	cairn_sync_result result;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_store_batch_begin(NULL), CAIRN_EINVALID);
	assert_int_equal(cairn_store_batch_commit(NULL), CAIRN_EINVALID);
	assert_int_equal(cairn_store_batch_rollback(NULL), CAIRN_EINVALID);
	assert_int_equal(cairn_store_batch_commit(env.store), CAIRN_EINVALID);
	assert_int_equal(cairn_store_batch_rollback(env.store), CAIRN_EINVALID);
	assert_int_equal(cairn_store_batch_begin(env.store), 0);
	assert_int_equal(cairn_store_batch_begin(env.store), CAIRN_EINVALID);
	assert_int_equal(cairn_sync_once(&result, env.store, NULL), CAIRN_EINVALID);
	assert_non_null(strstr(cairn_error_last(), "batch"));
	put(env.store, "a", "{}");
	assert_int_equal(cairn_store_batch_commit(env.store), 0);
	assert_int_equal(cairn_store_batch_commit(env.store), CAIRN_EINVALID);
	assert_true(exists(env.store, "a"));
	client_env_free(&env);
}

static void test_client_batch__other_writers_wait(void **state)
{
	client_env env;
	cairn_store_options options = CAIRN_STORE_OPTIONS_INIT;
	cairn_store *other = NULL;

	(void)state;
	client_env_init(&env);
	options.busy_timeout_ms = 20;
	assert_int_equal(cairn_store_open(&other, env.path, &options), 0);
	assert_int_equal(cairn_store_batch_begin(env.store), 0);
	put(env.store, "a", "{}");
	assert_int_equal(cairn_doc_put(other, "items", "b", "{}"), CAIRN_EBUSY);
	assert_int_equal(cairn_store_batch_begin(other), CAIRN_EBUSY);
	assert_int_equal(cairn_store_batch_commit(env.store), 0);
	put(other, "b", "{}");
	assert_int_equal(pending(other), 2);
	cairn_store_free(other);
	client_env_free(&env);
}

static void test_client_batch__listeners_hear_the_commit(void **state)
{
	client_env env;
	recorder heard = { 0 };
	uint64_t token;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_store_listen(&token, env.store, "items", NULL, record, &heard), 0);
	assert_int_equal(cairn_store_batch_begin(env.store), 0);
	put(env.store, "a", "{}");
	put(env.store, "b", "{}");
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "nope"), CAIRN_EINVALID);
	assert_int_equal(heard.calls, 0);
	assert_int_equal(cairn_store_batch_commit(env.store), 0);
	assert_int_equal(heard.calls, 2);
	assert_string_equal(heard.ids[0], "a");
	assert_string_equal(heard.ids[1], "b");

	assert_int_equal(cairn_store_batch_begin(env.store), 0);
	put(env.store, "d", "{}");
	assert_int_equal(cairn_store_batch_rollback(env.store), 0);
	assert_int_equal(heard.calls, 2);
	assert_int_equal(cairn_store_unlisten(env.store, token), 0);
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_batch__commit_is_one_unit),
		cmocka_unit_test(test_client_batch__failed_write_leaves_the_rest),
		cmocka_unit_test(test_client_batch__rollback_and_free_undo_everything),
		cmocka_unit_test(test_client_batch__misuse),
		cmocka_unit_test(test_client_batch__other_writers_wait),
		cmocka_unit_test(test_client_batch__listeners_hear_the_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
