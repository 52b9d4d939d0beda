/* sync_scope.c: partial sync in the store: scopes set, checked and persisted; the pull body
 * that carries them; purge markers (with and without pending local mutations, stale ones),
 * their listener events, and pages applied without moving the checkpoint. */
#include "client/client_test.h"
#include "client/store_int.h"
#include "client/sync_scope.h"

#define EQ42 "{\"method\":\"equal\",\"attribute\":\"storeId\",\"values\":[42]}"

/* Applies one pull page given as JSON text; returns how many changes were applied. */
static uint64_t apply_page(cairn_store *store, const char *text)
{
	json_object *page = json_tokener_parse(text);
	uint64_t applied = 0;
	int64_t checkpoint = 0;
	int more = 0;

	assert_non_null(page);
	assert_int_equal(cairn__pull_apply(&applied, &more, &checkpoint, store, page), 0);
	json_object_put(page);
	return applied;
}

/* A page with one live document `id` at `version` (storeId 42). */
static void apply_doc(cairn_store *store, const char *id, int64_t version)
{
	char text[1024];

	snprintf(text, sizeof(text), "{\"changes\":[{\"collection\":\"items\",\"id\":\"%s\","
		"\"version\":%lld,\"deleted\":false,\"hlc\":1,\"author\":\"c-x\",\"document\":{"
		"\"$id\":\"%s\",\"$collectionId\":\"items\",\"$databaseId\":\"main\","
		"\"$createdAt\":\"2020-01-01T00:00:00.000+00:00\","
		"\"$updatedAt\":\"2020-01-01T00:00:00.000+00:00\",\"$permissions\":[],"
		"\"$version\":%lld,\"$sequence\":\"1\",\"storeId\":42}}],\"checkpoint\":%lld,"
		"\"more\":false}", id, (long long)version, id, (long long)version, (long long)version);
	apply_page(store, text);
}

/* A page holding a purge marker for `id` at `version`; returns how many were applied. */
static uint64_t apply_purge(cairn_store *store, const char *id, int64_t version)
{
	char text[512];

	snprintf(text, sizeof(text), "{\"changes\":[{\"collection\":\"items\",\"id\":\"%s\","
		"\"version\":%lld,\"deleted\":false,\"purge\":true,\"document\":null}],"
		"\"checkpoint\":%lld,\"more\":false}", id, (long long)version, (long long)version);
	return apply_page(store, text);
}

static int exists(cairn_store *store, const char *id)
{
	char *text = NULL;
	int rc = cairn_doc_get(&text, store, "items", id);

	cairn_free(text);
	assert_true(rc == 0 || rc == CAIRN_ENOTFOUND);
	return rc == 0;
}

static int64_t server_rows(cairn_store *store, const char *id)
{
	sqlite3_stmt *stmt = NULL;
	int64_t count;

	assert_int_equal(sqlite3_prepare_v2(store->db, "SELECT count(*) FROM server_docs WHERE "
		"collection = 'items' AND id = ?1", -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	count = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return count;
}

static size_t outbox_length(cairn_store *store)
{
	char *text = NULL;
	json_object *outbox;
	size_t length;

	assert_int_equal(cairn_outbox_list(&text, store), 0);
	outbox = client_parse_owned(text);
	length = json_object_array_length(outbox);
	json_object_put(outbox);
	return length;
}

static void test_client_sync_scope__set_and_get(void **state)
{
	client_env env;
	const char *good[] = { EQ42, "{\"method\":\"or\",\"values\":[{\"method\":\"isNull\","
		"\"attribute\":\"x\"},{\"method\":\"lessThan\",\"attribute\":\"n\",\"values\":[3]}]}" };
	const char *paging[] = { EQ42, "{\"method\":\"limit\",\"values\":[5]}" };
	const char *order[] = { "{\"method\":\"orderDesc\",\"attribute\":\"n\"}" };
	const char *broken[] = { "{not json" };
	const char *null_query[] = { NULL };
	char *text = NULL;
	json_object *scope;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_sync_scope_get(&text, env.store, "items"), 0);
	assert_string_equal(text, "[]");
	cairn_free(text);
	assert_int_equal(cairn_sync_scope_set(env.store, "items", good, 2), 0);
	client_reopen(&env); /* persisted */
	assert_int_equal(cairn_sync_scope_get(&text, env.store, "items"), 0);
	scope = client_parse_owned(text);
	assert_int_equal(json_object_array_length(scope), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(scope, 0)), EQ42);
	json_object_put(scope);

	/* Only filters; the stored scope stays as it was after a refusal. */
	assert_int_equal(cairn_sync_scope_set(env.store, "items", paging, 2), CAIRN_EINVALID);
	assert_int_equal(cairn_sync_scope_set(env.store, "items", order, 1), CAIRN_EINVALID);
	assert_int_equal(cairn_sync_scope_set(env.store, "items", broken, 1), CAIRN_EINVALID);
	assert_int_equal(cairn_sync_scope_set(env.store, "items", null_query, 1), CAIRN_EINVALID);
	assert_int_equal(cairn_sync_scope_set(env.store, "-bad", good, 1), CAIRN_EINVALID);
	assert_int_equal(cairn_sync_scope_set(env.store, NULL, good, 1), CAIRN_EINVALID);
	assert_int_equal(cairn_sync_scope_get(&text, env.store, "-bad"), CAIRN_EINVALID);
	assert_int_equal(cairn_sync_scope_get(&text, env.store, "items"), 0);
	scope = client_parse_owned(text);
	assert_int_equal(json_object_array_length(scope), 2);
	json_object_put(scope);

	/* No queries: everything readable again. */
	assert_int_equal(cairn_sync_scope_set(env.store, "items", NULL, 0), 0);
	assert_int_equal(cairn_sync_scope_get(&text, env.store, "items"), 0);
	assert_string_equal(text, "[]");
	cairn_free(text);
	client_env_free(&env);
}

static void test_client_sync_scope__pull_body(void **state)
{
	client_env env;
	const char *one[] = { EQ42 };
	const char *two[] = { "{\"method\":\"greaterThan\",\"attribute\":\"n\",\"values\":[1]}",
		"{\"method\":\"isNotNull\",\"attribute\":\"n\"}" };
	json_object *body;
	json_object *scopes = NULL;
	json_object *field = NULL;
	char *text = NULL;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn__scope_pull_body(&text, env.store, 12, 100, 4096, NULL), 0);
	body = json_tokener_parse(text);
	free(text);
	assert_non_null(body);
	assert_false(json_object_object_get_ex(body, "scopes", NULL));
	assert_int_equal(json_object_get_int64(json_object_object_get(body, "checkpoint")), 12);
	json_object_put(body);

	assert_int_equal(cairn_sync_scope_set(env.store, "items", one, 1), 0);
	assert_int_equal(cairn_sync_scope_set(env.store, "notes", two, 2), 0);
	assert_int_equal(cairn_sync_scope_set(env.store, "tags", NULL, 0), 0);
	assert_int_equal(cairn__scope_pull_body(&text, env.store, 0, 100, 4096, NULL), 0);
	body = json_tokener_parse(text);
	free(text);
	assert_non_null(body);
	assert_true(json_object_object_get_ex(body, "scopes", &scopes));
	assert_int_equal(json_object_object_length(scopes), 2); /* "tags" reads everything */
	assert_int_equal(json_object_array_length(json_object_object_get(scopes, "notes")), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
		json_object_object_get(scopes, "items"), 0)), EQ42);
	assert_false(json_object_object_get_ex(body, "collections", NULL));
	json_object_put(body);

	/* A resync of one collection asks for it alone, with its scope alone. */
	assert_int_equal(cairn__scope_pull_body(&text, env.store, 0, 100, 4096, "notes"), 0);
	body = json_tokener_parse(text);
	free(text);
	assert_true(json_object_object_get_ex(body, "collections", &field));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(field, 0)), "notes");
	assert_true(json_object_object_get_ex(body, "scopes", &scopes));
	assert_int_equal(json_object_object_length(scopes), 1);
	assert_true(json_object_object_get_ex(scopes, "notes", NULL));
	json_object_put(body);
	client_env_free(&env);
}

static void test_client_sync_scope__purge_marker(void **state)
{
	client_env env;
	client_recorder r = { 0 };
	uint64_t token;
	cairn_store_status status;

	(void)state;
	client_env_init(&env);
	apply_doc(env.store, "a", 5);
	apply_doc(env.store, "b", 6);
	assert_true(exists(env.store, "a"));
	assert_int_equal(cairn_store_listen(&token, env.store, "items", NULL, client_record, &r), 0);
	assert_int_equal(apply_purge(env.store, "a", 7), 1);
	/* Gone locally, view and server copy, with no outbox entry (not a delete). */
	assert_false(exists(env.store, "a"));
	assert_int_equal(server_rows(env.store, "a"), 0);
	assert_true(exists(env.store, "b"));
	assert_int_equal(outbox_length(env.store), 0);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.last_id, "a");
	assert_int_equal(r.last_deleted, 1);
	assert_int_equal(r.last_source, CAIRN_CHANGE_PURGED);
	/* The checkpoint moves past the marker. */
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_int_equal(status.checkpoint, 7);
	/* A marker for something never held changes nothing. */
	assert_int_equal(apply_purge(env.store, "zz", 8), 0);
	assert_int_equal(cairn_store_unlisten(env.store, token), 0);
	client_env_free(&env);
}

static void test_client_sync_scope__stale_marker_kept(void **state)
{
	client_env env;

	(void)state;
	client_env_init(&env);
	apply_doc(env.store, "a", 9);
	/* We already hold version 9: a marker about version 7 is older news. */
	assert_int_equal(apply_purge(env.store, "a", 7), 0);
	assert_true(exists(env.store, "a"));
	assert_int_equal(server_rows(env.store, "a"), 1);
	client_env_free(&env);
}

static void test_client_sync_scope__pending_mutations_survive(void **state)
{
	client_env env;
	json_object *document;
	char *text = NULL;
	json_object *outbox;

	(void)state;
	client_env_init(&env);
	apply_doc(env.store, "a", 5);
	apply_doc(env.store, "b", 6);
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"note\":\"mine\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"storeId\":42,\"n\":1}"), 0);
	assert_int_equal(apply_purge(env.store, "a", 7), 1);
	assert_int_equal(apply_purge(env.store, "b", 8), 1);
	/* Both edits stay queued, untouched: the push will report what the server says. */
	assert_int_equal(cairn_outbox_list(&text, env.store), 0);
	outbox = client_parse_owned(text);
	assert_int_equal(json_object_array_length(outbox), 2);
	for (size_t i = 0; i < 2; i++) {
		json_object *entry = json_object_array_get_idx(outbox, i);
		assert_string_equal(json_object_get_string(json_object_object_get(entry, "state")),
			"pending");
		assert_int_equal(json_object_get_int64(json_object_object_get(entry,
			"baseVersion")), i == 0 ? 5 : 6);
	}
	json_object_put(outbox);
	/* The server copies are gone; the views are the pending edits over nothing: a put
	 * still shows, a patch of a document we no longer hold does not. */
	assert_int_equal(server_rows(env.store, "a"), 0);
	assert_int_equal(server_rows(env.store, "b"), 0);
	assert_false(exists(env.store, "a"));
	document = client_get(env.store, "items", "b");
	assert_int_equal(json_object_get_int64(json_object_object_get(document, "n")), 1);
	json_object_put(document);
	client_env_free(&env);
}

static void test_client_sync_scope__page_without_checkpoint(void **state)
{
	client_env env;
	cairn_store_status status;
	json_object *page;
	uint64_t applied = 0;
	int64_t checkpoint = 0;
	int more = 0;

	(void)state;
	client_env_init(&env);
	apply_doc(env.store, "a", 5);
	page = json_tokener_parse("{\"changes\":[{\"collection\":\"items\",\"id\":\"a\","
		"\"version\":40,\"deleted\":false,\"purge\":true,\"document\":null}],"
		"\"checkpoint\":40,\"more\":true}");
	assert_non_null(page);
	assert_int_equal(cairn__pull_apply_page(&applied, &more, &checkpoint, env.store, page, 0),
		0);
	json_object_put(page);
	assert_int_equal(applied, 1);
	assert_int_equal(more, 1);
	assert_int_equal(checkpoint, 40);
	assert_false(exists(env.store, "a"));
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_int_equal(status.checkpoint, 5);
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_sync_scope__set_and_get),
		cmocka_unit_test(test_client_sync_scope__pull_body),
		cmocka_unit_test(test_client_sync_scope__purge_marker),
		cmocka_unit_test(test_client_sync_scope__stale_marker_kept),
		cmocka_unit_test(test_client_sync_scope__pending_mutations_survive),
		cmocka_unit_test(test_client_sync_scope__page_without_checkpoint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
