/* listeners.c: change listeners (collection, document, all) for local writes and pulled
 * pages, across handles of one file, removal, and the live-query helper. */
#include "client/client_test.h"
#include "client/store_int.h"

static void put(cairn_store *store, const char *collection, const char *id, const char *json)
{
	if (cairn_doc_put(store, collection, id, json) != 0)
		fail_msg("put: %s", cairn_error_last());
}

static void test_client_listeners__local_writes(void **state)
{
	client_env env;
	client_recorder all = { 0 }, items = { 0 }, one = { 0 };
	uint64_t t_all, t_items, t_one;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_store_listen(&t_all, env.store, NULL, NULL, client_record, &all), 0);
	assert_int_equal(cairn_store_listen(&t_items, env.store, "items", NULL, client_record,
		&items), 0);
	assert_int_equal(cairn_store_listen(&t_one, env.store, "items", "a", client_record, &one), 0);

	put(env.store, "items", "a", "{\"x\":1}");
	assert_int_equal(all.calls, 1);
	assert_int_equal(items.calls, 1);
	assert_int_equal(one.calls, 1);
	assert_string_equal(one.last_id, "a");
	assert_int_equal(one.last_source, CAIRN_CHANGE_LOCAL);
	assert_int_equal(one.last_deleted, 0);

	put(env.store, "items", "b", "{\"x\":2}");
	put(env.store, "notes", "a", "{\"x\":3}");
	assert_int_equal(all.calls, 3);
	assert_int_equal(items.calls, 2);
	assert_int_equal(one.calls, 1);
	assert_string_equal(all.last_collection, "notes");

	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"y\":1}"), 0);
	assert_int_equal(cairn_doc_delete(env.store, "items", "a"), 0);
	assert_int_equal(one.calls, 3);
	assert_int_equal(one.last_deleted, 1);

	/* A failed write commits nothing and tells nobody. */
	assert_int_equal(cairn_doc_patch(env.store, "items", "missing", "{}"), CAIRN_ENOTFOUND);
	assert_int_equal(items.calls, 4);

	assert_int_equal(cairn_store_unlisten(env.store, t_items), 0);
	assert_int_equal(cairn_store_unlisten(env.store, t_items), CAIRN_ENOTFOUND);
	put(env.store, "items", "c", "{}");
	assert_int_equal(items.calls, 4);
	assert_int_equal(all.calls, 6);
	assert_int_equal(cairn_store_unlisten(env.store, t_all), 0);
	assert_int_equal(cairn_store_unlisten(env.store, t_one), 0);
	client_env_free(&env);
}

static void test_client_listeners__other_handle_and_pulls(void **state)
{
	client_env env, other;
	cairn_store *second = NULL;
	client_recorder r = { 0 }, elsewhere = { 0 };
	uint64_t token, token_elsewhere;
	json_object *page;
	uint64_t applied = 0;
	int64_t checkpoint = 0;
	int more = 0;

	(void)state;
	client_env_init(&env);
	client_env_init(&other);
	assert_int_equal(cairn_store_open(&second, env.path, NULL), 0);
	assert_int_equal(cairn_store_listen(&token, env.store, "items", NULL, client_record, &r), 0);
	assert_int_equal(cairn_store_listen(&token_elsewhere, other.store, "items", NULL, client_record,
		&elsewhere), 0);

	/* A write through another handle of the same file is heard; another file is not. */
	put(second, "items", "z", "{}");
	assert_int_equal(r.calls, 1);
	assert_int_equal(elsewhere.calls, 0);

	/* A pulled page fires once per change after it commits, with the remote source. */
	page = json_tokener_parse("{\"changes\":[{\"collection\":\"items\",\"id\":\"p1\","
		"\"version\":5,\"deleted\":false,\"hlc\":1,\"author\":\"c-x\",\"document\":{"
		"\"$id\":\"p1\",\"$collectionId\":\"items\",\"$databaseId\":\"main\","
		"\"$createdAt\":\"2020-01-01T00:00:00.000+00:00\","
		"\"$updatedAt\":\"2020-01-01T00:00:00.000+00:00\",\"$permissions\":[],"
		"\"$version\":5,\"$sequence\":\"1\",\"t\":1}},{\"collection\":\"items\",\"id\":\"p2\","
		"\"version\":6,\"deleted\":true,\"hlc\":2,\"author\":\"\",\"document\":null}],"
		"\"checkpoint\":6,\"more\":false}");
	assert_non_null(page);
	assert_int_equal(cairn__pull_apply(&applied, &more, &checkpoint, second, page), 0);
	json_object_put(page);
	assert_int_equal(r.calls, 3);
	assert_string_equal(r.last_id, "p2");
	assert_int_equal(r.last_deleted, 1);
	assert_int_equal(r.last_source, CAIRN_CHANGE_REMOTE);

	assert_int_equal(cairn_store_unlisten(env.store, token), 0);
	assert_int_equal(cairn_store_unlisten(other.store, token_elsewhere), 0);
	cairn_store_free(second);
	client_env_free(&other);
	client_env_free(&env);
}

/* Applies a push reply (%s: the mutation ids of the pending outbox, in order). */
static void push_reply(cairn_store *store, const char *format)
{
	cairn__mutation *mutations = NULL;
	cairn__push_tally tally;
	size_t count = 0;
	char text[4096];
	json_object *reply;

	assert_int_equal(cairn__outbox_load_batch(&mutations, &count, store, 10), 0);
	snprintf(text, sizeof(text), format, count > 0 ? mutations[0].mutation_id : "",
		count > 1 ? mutations[1].mutation_id : "");
	reply = json_tokener_parse(text);
	assert_non_null(reply);
	assert_int_equal(cairn__push_apply(&tally, store, mutations, count, reply), 0);
	json_object_put(reply);
	cairn__mutations_free(mutations, count);
}

#define THEIRS(id) "{\"$id\":\"" id "\",\"$collectionId\":\"items\"," \
	"\"$databaseId\":\"main\",\"$createdAt\":\"2020-01-01T00:00:00.000+00:00\"," \
	"\"$updatedAt\":\"2020-01-02T00:00:00.000+00:00\",\"$permissions\":[]," \
	"\"$version\":4,\"$sequence\":\"1\",\"title\":\"theirs\"}"

/* A push conflict the server wins changes the local view: its listeners hear it (remote
 * source). One the local side wins changes nothing, so nothing is heard. */
static void test_client_listeners__push_outcomes(void **state)
{
	client_env env;
	client_recorder r = { 0 };
	uint64_t token;
	char *text = NULL;

	(void)state;
	client_env_init(&env);
	put(env.store, "items", "a", "{\"title\":\"mine\"}");
	put(env.store, "items", "b", "{\"title\":\"mine\"}");
	assert_int_equal(cairn_store_listen(&token, env.store, "items", NULL, client_record, &r), 0);
	/* a: the server's version is newer by clock and wins; b: ours is newer and wins. */
	push_reply(env.store, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"conflict\",\"current\":{\"version\":4,"
		"\"deleted\":false,\"hlc\":9223372036854775000,\"author\":\"c-other\","
		"\"document\":" THEIRS("a") "}},"
		"{\"mutationId\":\"%s\",\"status\":\"conflict\",\"current\":{\"version\":4,"
		"\"deleted\":false,\"hlc\":1,\"author\":\"c-other\",\"document\":" THEIRS("b")
		"}}]}");
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.last_id, "a");
	assert_int_equal(r.last_source, CAIRN_CHANGE_REMOTE);
	assert_int_equal(r.last_deleted, 0);
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "a"), 0);
	assert_non_null(strstr(text, "theirs"));
	cairn_free(text);

	/* A rejected create is undone locally: the document is gone, and that is heard. */
	assert_int_equal(cairn_store_unlisten(env.store, token), 0);
	client_env_free(&env);
	client_env_init(&env);
	memset(&r, 0, sizeof(r));
	put(env.store, "items", "c", "{\"title\":\"mine\"}");
	assert_int_equal(cairn_store_listen(&token, env.store, "items", NULL, client_record, &r), 0);
	push_reply(env.store, "{\"results\":[{\"mutationId\":\"%s\",\"status\":\"rejected\","
		"\"error\":{\"message\":\"no\",\"type\":\"document_invalid_structure\"}}]}");
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.last_id, "c");
	assert_int_equal(r.last_deleted, 1);
	assert_int_equal(r.last_source, CAIRN_CHANGE_REMOTE);
	assert_int_equal(cairn_store_unlisten(env.store, token), 0);
	client_env_free(&env);
}

typedef struct {
	int calls;
	size_t last_count;
} live_recorder;

static void on_results(const char *results, void *payload)
{
	live_recorder *r = payload;
	json_object *array = json_tokener_parse(results);

	assert_non_null(array);
	r->calls++;
	r->last_count = json_object_array_length(array);
	json_object_put(array);
}

static void test_client_listeners__live_query(void **state)
{
	client_env env;
	live_recorder r = { 0 };
	cairn_live_query *query = NULL;
	const char *queries[] = { "{\"method\":\"greaterThan\",\"attribute\":\"n\","
		"\"values\":[1]}" };
	const char *bad[] = { "{\"method\":\"nope\"}" };

	(void)state;
	client_env_init(&env);
	put(env.store, "items", "a", "{\"n\":1}");
	put(env.store, "items", "b", "{\"n\":2}");
	assert_int_equal(cairn_live_query_start(&query, env.store, "items", queries, 1, on_results,
		&r), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_count, 1);
	put(env.store, "items", "c", "{\"n\":5}");
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.last_count, 2);
	put(env.store, "notes", "c", "{\"n\":5}"); /* another collection: not re-run */
	assert_int_equal(r.calls, 2);
	assert_int_equal(cairn_doc_delete(env.store, "items", "b"), 0);
	assert_int_equal(r.last_count, 1);
	cairn_live_query_stop(query);
	put(env.store, "items", "d", "{\"n\":9}");
	assert_int_equal(r.calls, 3);

	assert_int_equal(cairn_live_query_start(&query, env.store, "items", bad, 1, on_results,
		&r), CAIRN_EINVALID);
	assert_null(query);
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_listeners__local_writes),
		cmocka_unit_test(test_client_listeners__other_handle_and_pulls),
		cmocka_unit_test(test_client_listeners__push_outcomes),
		cmocka_unit_test(test_client_listeners__live_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
