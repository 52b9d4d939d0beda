/* put_path.c: the single local write's fast paths (documents.c): a canonical put's text
 * stored as it came, the handle's reused JSON parser, a put handing its fields to the view, a
 * new document's row written without detaching, and the one statement that reads the
 * policy, the docs row, the base and the clock. */
#include "client_test.h"

/* The text the outbox sends for row `seq` (CAIRN__OUTBOX_PAYLOAD_SQL), or "" when NULL. */
static void outbox_payload(char *out, size_t size, const char *path, int64_t seq)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	const unsigned char *text;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT CASE WHEN payload IS NULL AND op = 'put' "
		"THEN (SELECT data FROM docs WHERE docs.collection = outbox.collection AND "
		"docs.id = outbox.doc_id) ELSE payload END FROM outbox WHERE seq = ?1", -1, &stmt,
		NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, seq);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	text = sqlite3_column_text(stmt, 0);
	snprintf(out, size, "%s", text ? (const char *)text : "");
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

/* Every refusal leaves the handle's parser ready for the next document. */
static void test_client_put_path__parser_reused_after_each_refusal(void **state)
{
	static const char *const refused[] = {
		"{\"v\":",                /* ends early: the parser waits for more */
		"{\"v\":1} x",            /* data after the value */
		"[1,2]",                  /* not an object */
		"{\"v\":\"\xff\xfe\"}",   /* not UTF-8 */
		"{\"v\":1,}",             /* not strict JSON */
		"{\"v\":01}",
		"",
	};
	char deep[300];
	char text[64];
	size_t at = 0;
	client_env env;
	json_object *doc;

	(void)state;
	client_env_init(&env);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (cairn_doc_put(env.store, "items", "a", refused[i]) != CAIRN_EINVALID)
			fail_msg("'%s' was not refused", refused[i]);
		snprintf(text, sizeof(text), "{\"n\":%zu,\"s\":\"after %zu\"}", i, i);
		assert_int_equal(cairn_doc_put(env.store, "items", "a", text), 0);
		doc = client_get(env.store, "items", "a");
		assert_int_equal(client_int(doc, "n"), (int64_t)i);
		snprintf(text, sizeof(text), "after %zu", i);
		assert_string_equal(client_string(doc, "s"), text);
		json_object_put(doc);
	}
	/* 40 levels with a value inside: json-c's own bound refuses it. */
	for (int i = 0; i < 40; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "{\"a\":");
	at += (size_t)snprintf(deep + at, sizeof(deep) - at, "1");
	for (int i = 0; i < 40; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "}");
	assert_int_equal(cairn_doc_put(env.store, "items", "a", deep), CAIRN_EINVALID);
	assert_non_null(strstr(cairn_error_last(), "nested deeper than 32"));
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":100}"), 0);
	/* 33 levels ending in an empty object: json-c lets it through, the walk does not. */
	at = 0;
	for (int i = 0; i < 32; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "{\"a\":");
	at += (size_t)snprintf(deep + at, sizeof(deep) - at, "{}");
	for (int i = 0; i < 32; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "}");
	assert_int_equal(cairn_doc_put(env.store, "items", "a", deep), CAIRN_EINVALID);
	assert_non_null(strstr(cairn_error_last(), "nested deeper than 32"));
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":101}  \n"), 0);
	doc = client_get(env.store, "items", "a");
	assert_int_equal(client_int(doc, "n"), 101);
	json_object_put(doc);
	/* Only the accepted puts reached the outbox. */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 9);
	client_env_free(&env);
}

/* A put's fields are shared with the view: the view row and the outbox payload are the same
 * text, "$" keys are dropped from both, and permissions follow the put's rules. */
static void test_client_put_path__shared_fields(void **state)
{
	char payload[256];
	client_env env;
	json_object *doc;
	json_object *rights;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"x\":{\"y\":[1,2]},"
		"\"$permissions\":[\"read(\\\"any\\\")\"],\"$id\":\"ignored\",\"t\":\"one\"}"), 0);
	outbox_payload(payload, sizeof(payload), env.path, 1);
	assert_string_equal(payload, "{\"x\":{\"y\":[1,2]},\"t\":\"one\"}");
	assert_int_equal(client_sql_int(env.path, "SELECT data = '{\"x\":{\"y\":[1,2]},"
		"\"t\":\"one\"}' FROM docs WHERE id = 'a'"), 1);
	/* Without "$permissions", a put keeps the document's. */
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"two\"}"), 0);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "two");
	assert_false(json_object_object_get_ex(doc, "x", NULL));
	assert_true(json_object_object_get_ex(doc, "$permissions", &rights));
	assert_int_equal(json_object_array_length(rights), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(rights, 0)),
		"read(\"any\")");
	json_object_put(doc);
	/* The first put got its own copy when the second changed the row. */
	outbox_payload(payload, sizeof(payload), env.path, 1);
	assert_string_equal(payload, "{\"x\":{\"y\":[1,2]},\"t\":\"one\"}");
	outbox_payload(payload, sizeof(payload), env.path, 2);
	assert_string_equal(payload, "{\"t\":\"two\"}");
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"payload IS NULL"), 1);
	client_env_free(&env);
}

/* A put over a document whose server copy shares the view row's data (after a pull) gives
 * the server copy its own copy first; a new document's put has nothing to detach. */
static void test_client_put_path__detach_only_existing_rows(void **state)
{
	client_env env;

	(void)state;
	client_env_init(&env);
	/* As a pull leaves a synced document: server copy without data, the view row has it. */
	client_sql_exec(env.path, "INSERT INTO docs(collection, id, data, created_at, updated_at, "
		"pending) VALUES ('items', 'synced', '{\"v\":\"server\"}', 'c', 'u', 0);"
		"INSERT INTO server_docs(collection, id, data, deleted, version, hlc, created_at, "
		"updated_at, permissions) VALUES ('items', 'synced', NULL, 0, 7, 1, 'c', 'u', '[]')");
	assert_int_equal(cairn_doc_put(env.store, "items", "synced", "{\"v\":\"local\"}"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT data = '{\"v\":\"server\"}' FROM "
		"server_docs WHERE id = 'synced'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT base_version FROM outbox WHERE "
		"doc_id = 'synced'"), 7);
	/* A new document: its row is inserted, no server copy appears or changes. */
	assert_int_equal(cairn_doc_put(env.store, "items", "fresh", "{\"v\":1}"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM server_docs"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT pending FROM docs WHERE id = 'fresh'"),
		1);
	assert_int_equal(client_sql_int(env.path, "SELECT base_version FROM outbox WHERE "
		"doc_id = 'fresh'"), 0);
	/* A pending delete keeps a row: the put after it goes through the detaching path and
	 * the delete's chain. */
	assert_int_equal(cairn_doc_delete(env.store, "items", "fresh"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "fresh", "{\"v\":2}"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox o JOIN outbox p "
		"ON o.prev_mutation = p.mutation_id WHERE o.doc_id = 'fresh' AND p.op = 'delete'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT deleted FROM docs WHERE id = 'fresh'"),
		0);
	client_env_free(&env);
}

/* What the one read gives: the base from a pending chain (past an increment), the counters
 * a put keeps, a clock above both meta and the newest row, and a refused unreadable policy. */
static void test_client_put_path__one_read_state(void **state)
{
	static const char *const counters[] = { "n" };
	client_env env;
	json_object *doc;
	int64_t newest;
	char sql[200];

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_policy_set(env.store, "items", "lww", counters, 1), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":5,\"x\":1}"), 0);
	assert_int_equal(cairn_doc_increment(env.store, "items", "a", "n", 2), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":100,\"x\":2}"), 0);
	doc = client_get(env.store, "items", "a");
	/* Counters change only through increments: the first put's "n" was dropped, and the
	 * second put keeps the incremented value. */
	assert_int_equal(client_int(doc, "n"), 2);
	assert_int_equal(client_int(doc, "x"), 2);
	json_object_put(doc);
	/* The second put chains on the first (increments are not content writes). */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox o JOIN outbox p "
		"ON o.prev_mutation = p.mutation_id WHERE o.seq = 3 AND p.seq = 1"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox o JOIN outbox p "
		"ON o.prev_mutation = p.mutation_id WHERE o.seq = 2 AND p.seq = 1"), 1);
	/* The clock: above a newer value in meta, and each row's seq one past the newest. */
	newest = client_sql_int(env.path, "SELECT max(hlc) FROM outbox");
	snprintf(sql, sizeof(sql), "UPDATE meta SET value = %lld WHERE key = 'hlc'",
		(long long)(newest + ((int64_t)3600 * 1000 << 16)));
	client_sql_exec(env.path, sql);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{}"), 0);
	assert_true(client_sql_int(env.path, "SELECT hlc FROM outbox WHERE doc_id = 'b'") >
		newest + ((int64_t)3600 * 1000 << 16));
	assert_int_equal(client_sql_int(env.path, "SELECT seq FROM outbox WHERE doc_id = 'b'"), 4);
	/* An unreadable policy refuses the write and changes nothing. */
	client_sql_exec(env.path, "UPDATE policies SET counters = 'not json' WHERE "
		"collection = 'items'");
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{}"), CAIRN_EIO);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 4);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs WHERE id = 'c'"), 0);
	/* Other collections still write. */
	assert_int_equal(cairn_doc_put(env.store, "other", "c", "{}"), 0);
	client_env_free(&env);
}

/* The view row of items/id as stored. */
static void stored_data(char *out, size_t size, const char *path, const char *id)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM docs WHERE collection = 'items' "
		"AND id = ?1", -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

/* What json-c makes of `json` as a put's fields: top-level "$" keys dropped, printed plain. */
static void json_c_fields(char *out, size_t size, const char *json)
{
	json_object *value = json_tokener_parse(json);
	int again = 1;

	assert_non_null(value);
	while (again) {
		again = 0;
		json_object_object_foreach(value, key, child) {
			(void)child;
			if (key[0] == '$') {
				json_object_object_del(value, key);
				again = 1;
				break;
			}
		}
	}
	snprintf(out, size, "%s", json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN |
		JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(value);
}

/* A put's text is stored exactly as json-c would print its fields, whether it was canonical
 * (stored as it came) or not (json-c parsed and printed it). */
static void test_client_put_path__canonical_text_as_json_c_prints_it(void **state)
{
	static const char *const texts[] = {
		/* canonical: stored as they came */
		"{}",
		"{\"a\":1,\"b\":-25,\"c\":999999999999999999,\"d\":0,\"e\":-7}",
		"{\"s\":\"\",\"\":\"empty key\",\"path\":\"a/b~c{}[],:\"}",
		"{\"o\":{},\"l\":[],\"n\":[{},[],[[1]],{\"x\":{\"y\":null}}],\"t\":true,\"f\":false}",
		"{\"nested\":{\"$kept\":1,\"a\":{\"a\":{\"a\":1}}},\"a\":[1,2,3]}",
		/* not canonical: json-c decides */
		"{\"a\":1,\"a\":2}",
		"{\"o\":{\"k\":1,\"k\":[]},\"k\":3}",
		"{ \"a\" : 1 ,\"b\":[ 1, 2 ] }",
		"{\"a\":-0}",
		"{\"a\":1.50,\"b\":1e3,\"c\":-0.0}",
		"{\"a\":1234567890123456789}",
		"{\"a\":\"\\u0041\\n\\\"\\\\\\/\"}",
		"{\"a\":\"caf\xc3\xa9\"}",
		"{\"$id\":\"x\",\"a\":1,\"$createdAt\":\"y\"}",
	};
	char expected[512];
	char stored[512];
	char id[16];
	client_env env;

	(void)state;
	client_env_init(&env);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		snprintf(id, sizeof(id), "d%zu", i);
		if (cairn_doc_put(env.store, "items", id, texts[i]) != 0)
			fail_msg("put %s: %s", texts[i], cairn_error_last());
		json_c_fields(expected, sizeof(expected), texts[i]);
		stored_data(stored, sizeof(stored), env.path, id);
		if (strcmp(stored, expected) != 0)
			fail_msg("%s stored as %s, json-c prints %s", texts[i], stored, expected);
		if (i < 5)
			assert_string_equal(stored, texts[i]);
	}
	/* The outbox sends the same text. */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"payload IS NULL"), 14);
	/* Canonical-looking but not JSON: refused, nothing written. */
	assert_int_equal(cairn_doc_put(env.store, "items", "bad", "{\"a\":tru}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "bad", "{\"a\":1"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "bad", "{\"a\":1}}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "bad", "{\"a\":[1,]}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "bad", "{\"a\"}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "bad", "{\"a\":-}"), CAIRN_EINVALID);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 14);
	client_env_free(&env);
}

/* A canonical put on a collection with counters still drops them from its fields. */
static void test_client_put_path__canonical_put_keeps_counters(void **state)
{
	static const char *const counters[] = { "n" };
	char stored[128];
	client_env env;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1,\"x\":1}"), 0);
	stored_data(stored, sizeof(stored), env.path, "a");
	assert_string_equal(stored, "{\"n\":1,\"x\":1}");
	assert_int_equal(cairn_policy_set(env.store, "items", "lww", counters, 1), 0);
	assert_int_equal(cairn_doc_increment(env.store, "items", "a", "n", 4), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":100,\"x\":2}"), 0);
	stored_data(stored, sizeof(stored), env.path, "a");
	assert_string_equal(stored, "{\"x\":2,\"n\":5}");
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"n\":100,\"x\":3}"), 0);
	stored_data(stored, sizeof(stored), env.path, "b");
	assert_string_equal(stored, "{\"x\":3}");
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_put_path__parser_reused_after_each_refusal),
		cmocka_unit_test(test_client_put_path__shared_fields),
		cmocka_unit_test(test_client_put_path__detach_only_existing_rows),
		cmocka_unit_test(test_client_put_path__one_read_state),
		cmocka_unit_test(test_client_put_path__canonical_text_as_json_c_prints_it),
		cmocka_unit_test(test_client_put_path__canonical_put_keeps_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
