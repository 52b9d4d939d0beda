/* conflicts.c: conflict strategies without a server: policies, the three-way merge, counters,
 * the manual inbox, the custom resolver, the ledger and restore, driven by push replies. */
#include <inttypes.h>
#include <time.h>

#include "client/client_test.h"
#include "client/store_int.h"
#include "util/json.h"

#define SERVER_DOC(id, version, fields) \
	"{\"$id\":\"" id "\",\"$collectionId\":\"items\",\"$databaseId\":\"main\"," \
	"\"$createdAt\":\"2020-01-01T00:00:00.000+00:00\"," \
	"\"$updatedAt\":\"2020-01-02T00:00:00.000+00:00\",\"$permissions\":[]," \
	"\"$version\":" #version ",\"$sequence\":\"1\"" fields "}"

/* A conflict result for every mutation of the batch against the same current document. */
static int conflict_all(cairn__push_tally *tally, cairn_store *store, int64_t version,
	int64_t hlc, const char *document)
{
	cairn__mutation *mutations = NULL;
	size_t count = 0;
	json_object *reply;
	json_object *results;
	int rc;

	assert_int_equal(cairn__outbox_load_batch(&mutations, &count, store, 100), 0);
	reply = json_object_new_object();
	results = json_object_new_array();
	json_object_object_add(reply, "results", results);
	for (size_t i = 0; i < count; i++) {
		json_object *result = json_object_new_object();
		json_object *current = json_object_new_object();

		json_object_object_add(result, "mutationId",
			json_object_new_string(mutations[i].mutation_id));
		json_object_object_add(result, "status", json_object_new_string("conflict"));
		json_object_object_add(current, "version", json_object_new_int64(version));
		json_object_object_add(current, "deleted", json_object_new_boolean(!document));
		json_object_object_add(current, "hlc", json_object_new_int64(hlc));
		json_object_object_add(current, "author", json_object_new_string("c-other"));
		json_object_object_add(current, "document",
			document ? json_tokener_parse(document) : NULL);
		json_object_object_add(result, "current", current);
		json_object_array_add(results, result);
	}
	rc = cairn__push_apply(tally, store, mutations, count, reply);
	json_object_put(reply);
	cairn__mutations_free(mutations, count);
	return rc;
}

/* Makes `document` the known server copy at `version` (a pull page). */
static void server_has(cairn_store *store, const char *id, int64_t version,
	const char *document)
{
	char page[4096];
	json_object *parsed;
	uint64_t applied = 0;
	int64_t checkpoint = 0;
	int more = 0;

	snprintf(page, sizeof(page), "{\"changes\":[{\"collection\":\"items\",\"id\":\"%s\","
		"\"version\":%" PRId64 ",\"deleted\":false,\"hlc\":1,\"author\":\"c-other\","
		"\"document\":%s}],\"checkpoint\":%" PRId64 ",\"more\":false}", id, version,
		document, version);
	parsed = json_tokener_parse(page);
	assert_non_null(parsed);
	assert_int_equal(cairn__pull_apply(&applied, &more, &checkpoint, store, parsed), 0);
	json_object_put(parsed);
}

static int64_t far_future(void)
{
	return ((int64_t)time(NULL) * 1000 + 3600 * 1000) << 16;
}

static json_object *inbox(cairn_store *store)
{
	char *text = NULL;

	assert_int_equal(cairn_conflicts_inbox(&text, store), 0);
	return client_parse_owned(text);
}

static void test_client_conflicts__merge3(void **state)
{
	json_object *base = json_tokener_parse("{\"a\":1,\"b\":1,\"c\":{\"x\":1,\"y\":1},"
		"\"d\":[1],\"gone\":1,\"both\":1}");
	json_object *local = json_tokener_parse("{\"a\":2,\"b\":1,\"c\":{\"x\":2,\"y\":1},"
		"\"d\":[1,2],\"both\":2,\"new\":true}");
	json_object *remote = json_tokener_parse("{\"a\":1,\"b\":3,\"c\":{\"x\":1,\"y\":3},"
		"\"d\":[1,3],\"gone\":1,\"both\":3}");
	json_object *expect_local = json_tokener_parse("{\"a\":2,\"b\":3,\"c\":{\"x\":2,"
		"\"y\":3},\"d\":[1,2],\"both\":2,\"new\":true}");
	json_object *merged;

	(void)state;
	merged = cairn__merge3(base, local, remote, 1);
	if (!cairn__json_equal(merged, expect_local))
		fail_msg("merged %s", json_object_to_json_string(merged));
	json_object_put(merged);
	/* Fields changed on both sides go to the later writer; the rest is the same. */
	merged = cairn__merge3(base, local, remote, 0);
	assert_int_equal(json_object_get_int(json_object_object_get(merged, "both")), 3);
	assert_string_equal(json_object_to_json_string(json_object_object_get(merged, "d")),
		"[ 1, 3 ]");
	assert_int_equal(json_object_get_int(json_object_object_get(merged, "a")), 2);
	assert_false(json_object_object_get_ex(merged, "gone", NULL));
	json_object_put(merged);
	json_object_put(base);
	json_object_put(local);
	json_object_put(remote);
	json_object_put(expect_local);
}

static void test_client_conflicts__policy(void **state)
{
	client_env env;
	const char *counters[] = { "stock", "sold", "stock" };
	json_object *policy;
	char *text = NULL;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_policy_get(&text, env.store, "items"), 0);
	policy = client_parse_owned(text);
	assert_string_equal(client_string(policy, "strategy"), "lww");
	json_object_put(policy);
	assert_int_equal(cairn_policy_set(env.store, "items", "sometimes", NULL, 0),
		CAIRN_EINVALID);
	assert_int_equal(cairn_policy_set(env.store, "items", "merge", counters, 3), 0);
	client_reopen(&env);
	assert_int_equal(cairn_policy_get(&text, env.store, "items"), 0);
	policy = client_parse_owned(text);
	assert_string_equal(client_string(policy, "strategy"), "merge");
	assert_string_equal(json_object_to_json_string(json_object_object_get(policy,
		"counters")), "[ \"stock\", \"sold\" ]");
	json_object_put(policy);
	client_env_free(&env);
}

static void test_client_conflicts__increment(void **state)
{
	client_env env;
	const char *counters[] = { "stock" };
	cairn__mutation *mutations = NULL;
	size_t count = 0;
	json_object *doc;
	json_object *body;
	char *text = NULL;
	size_t length = 0;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_increment(env.store, "items", "till", "stock", 1),
		CAIRN_EINVALID);
	assert_int_equal(cairn_policy_set(env.store, "items", "lww", counters, 1), 0);
	assert_int_equal(cairn_doc_increment(env.store, "items", "till", "stock", 1),
		CAIRN_ENOTFOUND);
	assert_int_equal(cairn_doc_put(env.store, "items", "till", "{\"name\":\"pen\"}"), 0);
	assert_int_equal(cairn_doc_increment(env.store, "items", "till", "stock", 4), 0);
	assert_int_equal(cairn_doc_increment(env.store, "items", "till", "stock", -3), 0);
	doc = client_get(env.store, "items", "till");
	assert_int_equal(client_int(doc, "stock"), 1);
	json_object_put(doc);
	/* A put neither sets nor drops a counter; a patch leaves it alone. */
	assert_int_equal(cairn_doc_put(env.store, "items", "till",
		"{\"name\":\"ink\",\"stock\":100}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "till", "{\"stock\":50}"), 0);
	doc = client_get(env.store, "items", "till");
	assert_int_equal(client_int(doc, "stock"), 1);
	assert_string_equal(client_string(doc, "name"), "ink");
	json_object_put(doc);
	assert_int_equal(cairn_doc_increment(env.store, "items", "till", "name", 1),
		CAIRN_EINVALID);
	client_reopen(&env);
	doc = client_get(env.store, "items", "till");
	assert_int_equal(client_int(doc, "stock"), 1);
	json_object_put(doc);
	assert_int_equal(cairn__outbox_load_batch(&mutations, &count, env.store, 10), 0);
	assert_int_equal(count, 5);
	assert_string_equal(mutations[1].op, "increment");
	assert_int_equal(cairn__push_body(&text, &length, env.store, mutations, count, 1),
		0);
	body = json_tokener_parse(text);
	free(text);
	assert_non_null(body);
	{
		json_object *list = json_object_object_get(body, "mutations");
		json_object *incr = json_object_array_get_idx(list, 2);
		json_object *put = json_object_array_get_idx(list, 3);
		/* The text form: each `data` is a string holding its JSON text. */
		json_object *incr_data = json_tokener_parse(client_string(incr, "data"));
		json_object *put_data = json_tokener_parse(client_string(put, "data"));

		assert_string_equal(client_string(incr, "op"), "increment");
		assert_int_equal(client_int(incr_data, "stock"), -3);
		assert_string_equal(json_object_to_json_string(json_object_object_get(put,
			"counters")), "[ \"stock\" ]");
		assert_non_null(put_data);
		assert_false(json_object_object_get_ex(put_data, "stock", NULL));
		json_object_put(incr_data);
		json_object_put(put_data);
	}
	json_object_put(body);
	cairn__mutations_free(mutations, count);
	client_env_free(&env);
}

static void test_client_conflicts__server_and_client_wins(void **state)
{
	client_env env;
	cairn__push_tally tally;
	json_object *doc;
	json_object *ledger;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_policy_set(env.store, "items", "server-wins", NULL, 0), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"mine\"}"), 0);
	/* The remote write is older, yet the server wins. */
	assert_int_equal(conflict_all(&tally, env.store, 3, 1,
		SERVER_DOC("a", 3, ",\"t\":\"theirs\"")), 0);
	assert_int_equal(tally.dropped, 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "theirs");
	json_object_put(doc);

	assert_int_equal(cairn_policy_set(env.store, "items", "client-wins", NULL, 0), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"mine again\"}"), 0);
	/* The remote write is far newer, yet the client wins. */
	assert_int_equal(conflict_all(&tally, env.store, 4, far_future(),
		SERVER_DOC("a", 4, ",\"t\":\"newer\"")), 0);
	assert_int_equal(tally.requeued, 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "mine again");
	json_object_put(doc);
	ledger = client_conflicts(env.store);
	assert_int_equal(json_object_array_length(ledger), 2);
	assert_string_equal(client_string(json_object_array_get_idx(ledger, 0), "strategy"),
		"client-wins");
	assert_string_equal(client_string(json_object_array_get_idx(ledger, 0), "winner"),
		"local");
	assert_string_equal(client_string(json_object_array_get_idx(ledger, 1), "strategy"),
		"server-wins");
	assert_string_equal(client_string(json_object_object_get(
		json_object_array_get_idx(ledger, 1), "local"), "t"), "mine");
	json_object_put(ledger);
	client_env_free(&env);
}

static void test_client_conflicts__merge(void **state)
{
	client_env env;
	cairn__push_tally tally;
	json_object *doc;
	json_object *outbox;
	json_object *ledger;
	json_object *entry;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_policy_set(env.store, "items", "merge", NULL, 0), 0);
	server_has(env.store, "n", 1, SERVER_DOC("n", 1, ",\"title\":\"t\",\"body\":\"b\","
		"\"meta\":{\"x\":1,\"y\":1}"));
	assert_int_equal(cairn_doc_patch(env.store, "items", "n",
		"{\"title\":\"local title\",\"meta\":{\"x\":2,\"y\":1}}"), 0);
	/* The server moved on (another device changed body and meta.y) before we pushed: the
	 * pull keeps version 1 as the base of the pending edit. */
	server_has(env.store, "n", 2, SERVER_DOC("n", 2, ",\"title\":\"t\",\"body\":\"remote\","
		"\"meta\":{\"x\":1,\"y\":2}"));
	assert_int_equal(conflict_all(&tally, env.store, 2, 1, SERVER_DOC("n", 2,
		",\"title\":\"t\",\"body\":\"remote\",\"meta\":{\"x\":1,\"y\":2}")), 0);
	assert_int_equal(tally.conflicts, 1);
	doc = client_get(env.store, "items", "n");
	assert_string_equal(client_string(doc, "title"), "local title");
	assert_string_equal(client_string(doc, "body"), "remote");
	assert_int_equal(client_int(json_object_object_get(doc, "meta"), "x"), 2);
	assert_int_equal(client_int(json_object_object_get(doc, "meta"), "y"), 2);
	json_object_put(doc);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 1);
	assert_string_equal(client_string(json_object_array_get_idx(outbox, 0), "op"), "put");
	assert_int_equal(client_int(json_object_array_get_idx(outbox, 0), "baseVersion"), 2);
	json_object_put(outbox);
	ledger = client_conflicts(env.store);
	entry = json_object_array_get_idx(ledger, 0);
	assert_string_equal(client_string(entry, "strategy"), "merge");
	assert_string_equal(client_string(entry, "winner"), "merged");
	assert_string_equal(client_string(json_object_object_get(entry, "base"), "body"), "b");
	assert_string_equal(client_string(json_object_object_get(entry, "result"), "body"),
		"remote");
	json_object_put(ledger);
	/* Bases are kept only while something pending needs them. */
	assert_int_equal(cairn_doc_delete(env.store, "items", "n"), 0);
	assert_int_equal(conflict_all(&tally, env.store, 5, 1, SERVER_DOC("n", 5,
		",\"title\":\"edited\"")), 0);
	/* Deleted here, edited there: the edit stays. */
	doc = client_get(env.store, "items", "n");
	assert_string_equal(client_string(doc, "title"), "edited");
	json_object_put(doc);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM bases"), 0);
	client_env_free(&env);
}

static void test_client_conflicts__manual_inbox_and_resolve(void **state)
{
	client_env env;
	cairn__push_tally tally;
	json_object *doc;
	json_object *open;
	json_object *outbox;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_policy_set(env.store, "items", "manual", NULL, 0), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"mine\"}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(cairn_conflict_resolve(env.store, "items", "a", CAIRN_RESOLVE_MINE,
		NULL), CAIRN_ENOTFOUND);
	assert_int_equal(conflict_all(&tally, env.store, 3, 1,
		SERVER_DOC("a", 3, ",\"t\":\"theirs\"")), 0);
	/* The server's version is visible; the local one waits in the inbox, once. */
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "theirs");
	json_object_put(doc);
	open = inbox(env.store);
	assert_int_equal(json_object_array_length(open), 1);
	assert_string_equal(client_string(json_object_object_get(
		json_object_array_get_idx(open, 0), "local"), "t"), "mine");
	assert_int_equal(client_int(json_object_object_get(
		json_object_array_get_idx(open, 0), "local"), "n"), 1);
	json_object_put(open);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 0);
	json_object_put(outbox);

	assert_int_equal(cairn_conflict_resolve(env.store, "items", "a", CAIRN_RESOLVE_MINE,
		NULL), 0);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "mine");
	json_object_put(doc);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 1);
	json_object_put(outbox);
	open = inbox(env.store);
	assert_int_equal(json_object_array_length(open), 0);
	json_object_put(open);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM conflicts WHERE "
		"state = 'resolved'"), 1);

	/* A second conflict, resolved with a merged document and then with theirs. */
	assert_int_equal(conflict_all(&tally, env.store, 4, 1,
		SERVER_DOC("a", 4, ",\"t\":\"again\"")), 0);
	assert_int_equal(cairn_conflict_resolve(env.store, "items", "a", CAIRN_RESOLVE_WITH,
		"{\"t\":\"both\"}"), 0);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "both");
	json_object_put(doc);
	assert_int_equal(conflict_all(&tally, env.store, 5, 1,
		SERVER_DOC("a", 5, ",\"t\":\"final\"")), 0);
	assert_int_equal(cairn_conflict_resolve(env.store, "items", "a", CAIRN_RESOLVE_THEIRS,
		NULL), 0);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "final");
	json_object_put(doc);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 0);
	json_object_put(outbox);
	client_env_free(&env);
}

static int resolver_calls;

static int take_upper(char **out_json, const char *collection, const char *id,
	const char *base, const char *local, const char *remote, void *payload)
{
	(void)collection;
	(void)id;
	(void)base;
	resolver_calls++;
	assert_non_null(local);
	assert_non_null(remote);
	if (payload)
		return CAIRN_RESOLVE_DEFER;
	*out_json = strdup("{\"t\":\"RESOLVED\"}");
	return 0;
}

static void test_client_conflicts__custom(void **state)
{
	client_env env;
	cairn__push_tally tally;
	json_object *doc;
	json_object *open;
	int defer = 1;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_policy_set(env.store, "items", "custom", NULL, 0), 0);
	assert_int_equal(cairn_store_set_resolver(env.store, take_upper, NULL), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"mine\"}"), 0);
	assert_int_equal(conflict_all(&tally, env.store, 3, 1,
		SERVER_DOC("a", 3, ",\"t\":\"theirs\"")), 0);
	assert_int_equal(resolver_calls, 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "RESOLVED");
	json_object_put(doc);
	/* Deferring sends the pair to the inbox. */
	assert_int_equal(cairn_store_set_resolver(env.store, take_upper, &defer), 0);
	assert_int_equal(conflict_all(&tally, env.store, 4, 1,
		SERVER_DOC("a", 4, ",\"t\":\"other\"")), 0);
	assert_int_equal(resolver_calls, 2);
	open = inbox(env.store);
	assert_int_equal(json_object_array_length(open), 1);
	assert_string_equal(client_string(json_object_array_get_idx(open, 0), "strategy"),
		"manual");
	json_object_put(open);
	client_env_free(&env);
}

static void test_client_conflicts__restore(void **state)
{
	client_env env;
	cairn__push_tally tally;
	json_object *doc;
	json_object *ledger;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"mine\"}"), 0);
	/* LWW: the remote write is newer and wins; the ledger keeps mine. */
	assert_int_equal(conflict_all(&tally, env.store, 3, far_future(),
		SERVER_DOC("a", 3, ",\"t\":\"theirs\"")), 0);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "theirs");
	json_object_put(doc);
	ledger = client_conflicts(env.store);
	assert_int_equal(json_object_array_length(ledger), 1);
	assert_int_equal(cairn_conflict_restore(env.store, 999), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_conflict_restore(env.store,
		client_int(json_object_array_get_idx(ledger, 0), "id")), 0);
	json_object_put(ledger);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "mine");
	json_object_put(doc);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"base_version = 3"), 1);
	client_env_free(&env);
}

/* A store written by schema 1 (outbox without "increment", conflicts without the ledger
 * columns) opens, keeps its rows, and takes increments. */
static void test_client_conflicts__schema_1_upgrade(void **state)
{
	client_env env;
	const char *counters[] = { "n" };
	json_object *ledger;
	json_object *doc;

	(void)state;
	client_env_init(&env);
	cairn_store_free(env.store);
	env.store = NULL;
	client_sql_exec(env.path,
		"DROP TABLE outbox; DROP TABLE conflicts;"
		"CREATE TABLE outbox(seq INTEGER PRIMARY KEY, mutation_id TEXT NOT NULL UNIQUE,"
		" op TEXT NOT NULL CHECK (op IN ('put', 'patch', 'delete')),"
		" collection TEXT NOT NULL, doc_id TEXT NOT NULL, base_version INTEGER NOT NULL,"
		" prev_mutation TEXT, hlc INTEGER NOT NULL, payload TEXT, permissions TEXT,"
		" state TEXT NOT NULL CHECK (state IN ('pending', 'rejected')), error TEXT,"
		" created_at INTEGER NOT NULL);"
		"CREATE INDEX outbox_doc ON outbox(collection, doc_id, state, seq);"
		"CREATE TABLE conflicts(id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL,"
		" doc_id TEXT NOT NULL, strategy TEXT NOT NULL, winner TEXT NOT NULL CHECK (winner IN"
		" ('local', 'remote')), local TEXT, remote TEXT, at INTEGER NOT NULL);"
		"INSERT INTO conflicts(collection, doc_id, strategy, winner, local, remote, at) VALUES"
		" ('items', 'old', 'lww', 'remote', NULL, NULL, 1);"
		"INSERT INTO outbox(mutation_id, op, collection, doc_id, base_version, hlc, payload,"
		" state, created_at) VALUES ('m1', 'put', 'items', 'a', 0, 1, '{\"n\":1}', 'pending', 1);"
		"INSERT INTO docs(collection, id, data, created_at, updated_at, pending) VALUES"
		" ('items', 'a', '{\"n\":1}', 'x', 'x', 1);"
		"UPDATE meta SET value = 1 WHERE key = 'schema_version';");
	client_reopen(&env);
	assert_int_equal(client_sql_int(env.path, "SELECT value FROM meta WHERE key = "
		"'schema_version'"), CAIRN__STORE_SCHEMA_VERSION);
	ledger = client_conflicts(env.store);
	assert_int_equal(json_object_array_length(ledger), 1);
	assert_string_equal(client_string(json_object_array_get_idx(ledger, 0), "state"), "done");
	json_object_put(ledger);
	assert_int_equal(cairn_policy_set(env.store, "items", "lww", counters, 1), 0);
	assert_int_equal(cairn_doc_increment(env.store, "items", "a", "n", 2), 0);
	doc = client_get(env.store, "items", "a");
	assert_int_equal(client_int(doc, "n"), 3);
	json_object_put(doc);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 2);
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_conflicts__merge3),
		cmocka_unit_test(test_client_conflicts__policy),
		cmocka_unit_test(test_client_conflicts__increment),
		cmocka_unit_test(test_client_conflicts__server_and_client_wins),
		cmocka_unit_test(test_client_conflicts__merge),
		cmocka_unit_test(test_client_conflicts__manual_inbox_and_resolve),
		cmocka_unit_test(test_client_conflicts__custom),
		cmocka_unit_test(test_client_conflicts__restore),
		cmocka_unit_test(test_client_conflicts__schema_1_upgrade),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
