/* push_acks.c: applying a push reply's acknowledgements the short way (the rows' states read
 * for the batch at once, no pending probe for a put that was its document's newest write,
 * the rows removed together) and the cases that must take the long way. */
#include "client/outbox_batch.h"
#include "client/push_reply.h"

/* A reply with one result per mutation: `kinds[i]` 'a' applied "asPushed" (version
 * `first_version` + i), 'e' the same with no permissions, 'f' applied with its full document,
 * 'r' rejected. Caller frees. */
static char *reply_text(const cairn__mutation *m, size_t count, const char *kinds,
	int64_t first_version)
{
	char *text = NULL;
	size_t size = 0;
	FILE *stream = open_memstream(&text, &size);

	assert_non_null(stream);
	fputs("{\"results\":[", stream);
	for (size_t i = 0; i < count; i++) {
		long long version = (long long)first_version + (long long)i;

		fprintf(stream, "%s{\"mutationId\":\"%s\",", i ? "," : "", m[i].mutation_id);
		if (kinds[i] == 'r') {
			fputs("\"status\":\"rejected\",\"error\":{\"message\":\"no\",\"code\":400,"
				"\"type\":\"document_invalid_structure\"}}", stream);
			continue;
		}
		fprintf(stream, "\"status\":\"applied\",\"version\":%lld,%s\"document\":{"
			"\"$id\":\"%s\",\"$collectionId\":\"items\",\"$databaseId\":\"main\","
			"\"$createdAt\":\"2021-01-01T00:00:00.000+00:00\","
			"\"$updatedAt\":\"2021-01-02T00:00:%02lld.000+00:00\","
			"\"$permissions\":%s,\"$version\":%lld,\"$sequence\":\"%lld\"", version,
			kinds[i] == 'a' || kinds[i] == 'e' ? "\"asPushed\":true," : "", m[i].doc_id,
			version % 60, kinds[i] == 'e' ? "[]" : "[\"read(\\\"any\\\")\"]", version,
			version);
		/* a full document: the fields too (the payload's text without its opening brace) */
		if (kinds[i] == 'f' && m[i].payload && strcmp(m[i].payload, "{}") != 0)
			fprintf(stream, ",%s}", m[i].payload + 1);
		else
			fputs("}}", stream);
	}
	fputs("]}", stream);
	assert_int_equal(fclose(stream), 0);
	return text;
}

static int apply_results(cairn__push_tally *tally, client_env *env, const cairn__mutation *m,
	size_t count, const char *kinds, int64_t first_version)
{
	char *text = reply_text(m, count, kinds, first_version);
	json_object *reply;
	int rc;

	reply = json_tokener_parse(text);
	if (!reply)
		fail_msg("bad test reply: %s", text);
	rc = cairn__push_apply(tally, env->store, m, count, reply);
	json_object_put(reply);
	free(text);
	return rc;
}

static void test_client_push_acks__batch_acknowledged_together(void **state)
{
	client_env env;
	cairn__push_tally tally = { 0 };
	batch b = { 0 };
	json_object *doc;
	int64_t hlc = 0;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"a\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"t\":\"b\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{\"t\":\"c\"}"), 0);
	load(&b, &env, 10);
	assert_int_equal(b.count, 3);
	assert_true(b.mutations[2].doc_seq > 0); /* the view row, read with the payload */
	hlc = b.mutations[2].hlc;
	assert_int_equal(apply_results(&tally, &env, b.mutations, b.count, "aaa", 5), 0);
	assert_int_equal(tally.applied, 3);
	assert_int_equal(tally.dropped, 0);
	unload(&b);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs WHERE pending = 0 "
		"AND permissions = '[\"read(\\\"any\\\")\"]'"), 3);
	/* the server copies share the view rows' data */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM server_docs WHERE "
		"data IS NULL AND deleted = 0 AND author <> ''"), 3);
	assert_int_equal(client_sql_int(env.path, "SELECT version FROM server_docs WHERE "
		"id = 'c'"), 7);
	/* the clock keeps the newest row's timestamp when the rows leave together */
	assert_int_equal(client_sql_int(env.path, "SELECT value FROM meta WHERE key = 'hlc'"), hlc);
	doc = client_get(env.store, "items", "b");
	assert_string_equal(client_string(doc, "t"), "b");
	assert_string_equal(client_string(doc, "$updatedAt"), "2021-01-02T00:00:06.000+00:00");
	json_object_put(doc);
	/* the next write is based on the acknowledged version */
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{\"t\":\"c2\"}"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT base_version FROM outbox"), 7);
	client_env_free(&env);
}

/* A put that was its document's newest write, but an older mutation of the same document is
 * still pending before the batch (REST mode settles one mutation at a time; a conflict may
 * have been requeued): the long way, with the pending probe. */
static void test_client_push_acks__pending_before_the_batch(void **state)
{
	client_env env;
	cairn__push_tally tally = { 0 };
	batch b = { 0 };
	json_object *doc;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"one\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"two\"}"), 0);
	load(&b, &env, 10);
	assert_int_equal(b.count, 2);
	/* only the second one is acknowledged */
	assert_int_equal(apply_results(&tally, &env, &b.mutations[1], 1, "a", 5), 0);
	assert_int_equal(tally.applied, 1);
	unload(&b);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"state = 'pending' AND base_version = 5"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT pending FROM docs WHERE id = 'a'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT json_extract(data, '$.t') = 'two' "
		"FROM server_docs WHERE id = 'a'"), 1);
	/* the view is the server copy with the pending put on top */
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "one");
	json_object_put(doc);
	client_env_free(&env);
}

/* A write queued after the batch was read detaches the acknowledged put's payload: the long
 * way again, and the later write stays on top. */
static void test_client_push_acks__write_after_the_batch(void **state)
{
	client_env env;
	cairn__push_tally tally = { 0 };
	batch b = { 0 };
	json_object *doc;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"one\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"t\":\"bee\"}"), 0);
	load(&b, &env, 10);
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"n\":2}"), 0);
	assert_int_equal(apply_results(&tally, &env, b.mutations, b.count, "aa", 5), 0);
	unload(&b);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"op = 'patch' AND base_version = 5"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT pending FROM docs WHERE id = 'a'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT pending FROM docs WHERE id = 'b'"), 0);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "one");
	assert_int_equal(client_int(doc, "n"), 2);
	json_object_put(doc);
	client_env_free(&env);
}

/* Rows another handle settled (removed, or parked as rejected) count as dropped here. */
static void test_client_push_acks__settled_elsewhere(void **state)
{
	client_env env;
	cairn__push_tally tally = { 0 };
	batch b = { 0 };

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"a\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"t\":\"b\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{\"t\":\"c\"}"), 0);
	load(&b, &env, 10);
	client_sql_exec(env.path, "DELETE FROM outbox WHERE doc_id = 'b';"
		"UPDATE outbox SET state = 'rejected', payload = '{}' WHERE doc_id = 'c'");
	assert_int_equal(apply_results(&tally, &env, b.mutations, b.count, "aaa", 5), 0);
	unload(&b);
	assert_int_equal(tally.applied, 1);
	assert_int_equal(tally.dropped, 2);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"doc_id = 'c' AND state = 'rejected'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM server_docs"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT pending FROM docs WHERE id = 'a'"), 0);
	client_env_free(&env);
}

/* Another handle already holds a newer server version (a concurrent pull): the guard keeps
 * it, and the view is recomputed from it after the acknowledged row has left the outbox. */
static void test_client_push_acks__newer_server_copy_kept(void **state)
{
	client_env env;
	cairn__push_tally tally = { 0 };
	batch b = { 0 };
	json_object *doc;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"one\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"t\":\"bee\"}"), 0);
	load(&b, &env, 10);
	client_sql_exec(env.path, "INSERT INTO server_docs(collection, id, data, deleted, "
		"version, hlc, author, created_at, updated_at, permissions) VALUES ('items', 'a', "
		"'{\"t\":\"newer\"}', 0, 99, 1, 'c-other', '2022-01-01T00:00:00.000+00:00', "
		"'2022-01-01T00:00:00.000+00:00', '[]')");
	assert_int_equal(apply_results(&tally, &env, b.mutations, b.count, "aa", 5), 0);
	unload(&b);
	assert_int_equal(tally.applied, 2);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT version FROM server_docs WHERE "
		"id = 'a'"), 99);
	assert_int_equal(client_sql_int(env.path, "SELECT pending FROM docs WHERE id = 'a'"), 0);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "newer");
	json_object_put(doc);
	doc = client_get(env.store, "items", "b");
	assert_string_equal(client_string(doc, "t"), "bee");
	json_object_put(doc);
	client_env_free(&env);
}

/* Short and long ways in one batch: two mutations of one document, a rejection between
 * acknowledgements, a full (not "asPushed") acknowledgement. */
static void test_client_push_acks__mixed_batch(void **state)
{
	client_env env;
	cairn__push_tally tally = { 0 };
	batch b = { 0 };
	json_object *doc;
	int64_t checkpoint = 0;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"a\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"t\":\"b\"}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "b", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{\"t\":\"c\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "d", "{\"t\":\"d\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "e", "{\"t\":\"e\"}"), 0);
	load(&b, &env, 10);
	assert_int_equal(b.count, 6);
	assert_int_equal(apply_results(&tally, &env, b.mutations, b.count, "aafraf", 1), 0);
	unload(&b);
	assert_int_equal(tally.applied, 5);
	assert_int_equal(tally.rejected, 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"doc_id = 'c' AND state = 'rejected' AND payload IS NOT NULL"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs WHERE "
		"pending = 1"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT version FROM server_docs WHERE "
		"id = 'b'"), 3);
	doc = client_get(env.store, "items", "b");
	assert_int_equal(client_int(doc, "n"), 1);
	json_object_put(doc);
	doc = client_get(env.store, "items", "e");
	assert_string_equal(client_string(doc, "t"), "e");
	assert_string_equal(client_string(doc, "$updatedAt"), "2021-01-02T00:00:06.000+00:00");
	json_object_put(doc);
	/* the rejected put leaves nothing in the view; not every result applied: the checkpoint
	 * stays */
	assert_int_equal(cairn_doc_get(&(char *){ NULL }, env.store, "items", "c"),
		CAIRN_ENOTFOUND);
	assert_true(cairn__meta_get_int64(env.store, "checkpoint", &checkpoint) <= 1);
	assert_int_equal(checkpoint, 0);
	client_env_free(&env);
}

/* The slim reader takes exactly a reply of slim acknowledgements with no permissions and
 * leaves everything else to json-c. */
#define SLIM_RESULT(id, version) "{\"mutationId\":\"" id "\",\"status\":\"applied\"," \
	"\"version\":" version ",\"asPushed\":true,\"document\":{\"$id\":\"doca\"," \
	"\"$sequence\":\"7\",\"$collectionId\":\"items\",\"$databaseId\":\"main\"," \
	"\"$createdAt\":\"2021-01-01T00:00:00.000+00:00\"," \
	"\"$updatedAt\":\"2021-01-02T00:00:00.000+00:00\",\"$permissions\":[ ],\"$version\":" \
	version "}}"

static int read_reply(const char *text, size_t length)
{
	cairn__push_ack *acks = NULL;
	size_t count = 0;
	int data_as_text = -1;
	int rc = cairn__push_reply_read(&acks, &count, &data_as_text, text, length);

	assert_true(rc == 1 || (acks == NULL && count == 0));
	free(acks);
	return rc;
}

/* cairn__push_reply_read of `text` with the first `from` replaced by `to`. */
static int read_changed(const char *text, const char *from, const char *to)
{
	char changed[2048];
	const char *at = strstr(text, from);
	int rc;

	assert_non_null(at);
	snprintf(changed, sizeof(changed), "%.*s%s%s", (int)(at - text), text, to,
		at + strlen(from));
	rc = read_reply(changed, strlen(changed));
	return rc;
}

static void test_client_push_acks__slim_reader(void **state)
{
	static const char text[] = " {\"results\": [" SLIM_RESULT("m-1", "19") ",\n"
		SLIM_RESULT("m-2", "20") "] }\n";
	static const char with_flag[] = "{\"dataAsText\":true,\"results\":["
		SLIM_RESULT("m-1", "19") "]}";
	cairn__push_ack *acks = NULL;
	size_t count = 0;
	int data_as_text = -1;

	(void)state;
	assert_int_equal(cairn__push_reply_read(&acks, &count, &data_as_text, text,
		strlen(text)), 1);
	assert_int_equal(count, 2);
	assert_string_equal(acks[1].mutation_id, "m-2");
	assert_int_equal(acks[1].version, 20);
	assert_string_equal(acks[0].created_at, "2021-01-01T00:00:00.000+00:00");
	assert_string_equal(acks[0].updated_at, "2021-01-02T00:00:00.000+00:00");
	assert_true(acks[0].has_sequence);
	assert_string_equal(acks[0].sequence, "7");
	assert_int_equal(data_as_text, 0);
	free(acks);
	/* the server's word that it takes the text form */
	assert_int_equal(cairn__push_reply_read(&acks, &count, &data_as_text, with_flag,
		strlen(with_flag)), 1);
	assert_int_equal(count, 1);
	assert_int_equal(data_as_text, 1);
	free(acks);
	/* anything else is not taken */
	assert_int_equal(read_changed(text, "\"applied\"", "\"conflict\""), 0);
	assert_int_equal(read_changed(text, "\"asPushed\":true,", ""), 0);
	assert_int_equal(read_changed(text, "\"asPushed\":true", "\"asPushed\":false"), 0);
	assert_int_equal(read_changed(text, "[ ]", "[\"read(\\\"any\\\")\"]"), 0);
	assert_int_equal(read_changed(text, "m-1", "m\\u002d1"), 0);
	assert_int_equal(read_changed(text, "00.000+00:00", "00.000+00:00\xc3\xa9"), 0);
	assert_int_equal(read_changed(text, "\"version\":19", "\"version\":19,\"x\":1"), 0);
	assert_int_equal(read_changed(text, "\"version\":19", "\"version\":19,\"version\":3"),
		0);
	assert_int_equal(read_changed(text, "\"$id\":\"doca\"", "\"$id\":\"doca\",\"t\":1"), 0);
	assert_int_equal(read_changed(text, "\"version\":19", "\"version\":19.0"), 0);
	assert_int_equal(read_changed(text, "\"version\":19", "\"version\":0"), 0);
	assert_int_equal(read_changed(text, "\"version\":19", "\"version\":-19"), 0);
	assert_int_equal(read_changed(text, "\"version\":19", "\"version\":019"), 0);
	assert_int_equal(read_changed(text, "\"version\":19",
		"\"version\":9223372036854775808"), 0);
	assert_int_equal(read_changed(text, "] }", "],\"more\":1}"), 0);
	assert_int_equal(read_changed(text, "] }", "] }x"), 0);
	assert_int_equal(read_changed(text, "{\"results\"", "{\"dataAsText\":true,\"results\""),
		1);
	assert_int_equal(read_changed(text, "] }", "],\"dataAsText\":false}"), 1);
	assert_int_equal(read_changed(text, "{\"results\"", "{\"dataAsText\":1,\"results\""),
		0);
	assert_int_equal(read_changed(text, "] }", "],\"results\":[]}"), 0);
	assert_int_equal(read_reply(text, strlen(text) - 4), 0);
	assert_int_equal(read_reply("{\"results\":[]}", 15), 0);
	assert_int_equal(read_reply("{\"results\":[" SLIM_RESULT("m\0", "1") "]}",
		sizeof("{\"results\":[" SLIM_RESULT("m\0", "1") "]}") - 1), 0);
	assert_int_equal(read_reply("", 0), 0);
}

/* Applies the same writes and reply, read slim or parsed; *dump: the store's rows as text. */
static void slim_or_parsed(client_env *env, int slim, char **dump)
{
	cairn__push_tally tally = { 0 };
	cairn__push_ack *acks = NULL;
	size_t count = 0;
	int data_as_text = 0;
	batch b = { 0 };
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	json_object *reply;
	char *text;

	assert_int_equal(cairn_doc_put(env->store, "items", "a", "{\"t\":\"a\"}"), 0);
	assert_int_equal(cairn_doc_put(env->store, "items", "b", "{\"t\":\"b\"}"), 0);
	assert_int_equal(cairn_doc_put(env->store, "items", "b", "{\"t\":\"b2\"}"), 0);
	assert_int_equal(cairn_doc_put(env->store, "items", "c", "{\"t\":\"c\"}"), 0);
	load(&b, env, 10);
	/* c's put is settled elsewhere; a later b stays pending on top */
	assert_int_equal(cairn_doc_put(env->store, "items", "b", "{\"t\":\"b3\"}"), 0);
	client_sql_exec(env->path, "DELETE FROM outbox WHERE doc_id = 'c'");
	text = reply_text(b.mutations, b.count, "eeee", 1);
	if (slim) {
		assert_int_equal(cairn__push_reply_read(&acks, &count, &data_as_text, text,
		strlen(text)), 1);
		assert_int_equal(count, 4);
		assert_int_equal(cairn__push_apply_acks(&tally, env->store, b.mutations, b.count,
			acks), 0);
		free(acks);
	} else {
		reply = json_tokener_parse(text);
		assert_int_equal(cairn__push_apply(&tally, env->store, b.mutations, b.count, reply),
			0);
		json_object_put(reply);
	}
	assert_int_equal(tally.applied, 3);
	assert_int_equal(tally.dropped, 1);
	free(text);
	unload(&b);
	assert_int_equal(sqlite3_open(env->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT group_concat(id || data || "
		"deleted || created_at || CASE pending WHEN 0 THEN updated_at ELSE 'local' END "
		"|| permissions || pending, '|') FROM docs) "
		"|| (SELECT group_concat(id || coalesce(data, '-') || version || permissions || "
		"sequence || created_at, '|') FROM server_docs) || (SELECT group_concat(doc_id "
		"|| base_version || coalesce(prev_mutation, '-') || state, '|') FROM outbox) || "
		"coalesce((SELECT value FROM meta WHERE key = 'checkpoint'), '-')", -1, &stmt,
		NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_non_null(sqlite3_column_text(stmt, 0));
	*dump = strdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static void test_client_push_acks__slim_and_parsed_agree(void **state)
{
	client_env slim_env;
	client_env parsed_env;
	char *slim = NULL;
	char *parsed = NULL;

	(void)state;
	client_env_init(&slim_env);
	client_env_init(&parsed_env);
	slim_or_parsed(&slim_env, 1, &slim);
	slim_or_parsed(&parsed_env, 0, &parsed);
	assert_string_equal(slim, parsed);
	assert_non_null(strstr(slim, "b3"));
	free(slim);
	free(parsed);
	client_env_free(&slim_env);
	client_env_free(&parsed_env);
}

/* A slim reply applies to a batch of puts only; anything else is refused, nothing done. */
static void test_client_push_acks__slim_needs_puts(void **state)
{
	client_env env;
	cairn__push_tally tally = { 0 };
	cairn__push_ack *acks = NULL;
	size_t count = 0;
	int data_as_text = 0;
	batch b = { 0 };
	char *text;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"a\"}"), 0);
	assert_int_equal(cairn_doc_delete(env.store, "items", "a"), 0);
	load(&b, &env, 10);
	text = reply_text(b.mutations, b.count, "ee", 1);
	assert_int_equal(cairn__push_reply_read(&acks, &count, &data_as_text, text,
		strlen(text)), 1);
	assert_int_equal(cairn__push_apply_acks(&tally, env.store, b.mutations, b.count, acks),
		CAIRN_EINVALID);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 2);
	free(acks);
	free(text);
	unload(&b);
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_push_acks__batch_acknowledged_together),
		cmocka_unit_test(test_client_push_acks__pending_before_the_batch),
		cmocka_unit_test(test_client_push_acks__write_after_the_batch),
		cmocka_unit_test(test_client_push_acks__settled_elsewhere),
		cmocka_unit_test(test_client_push_acks__newer_server_copy_kept),
		cmocka_unit_test(test_client_push_acks__mixed_batch),
		cmocka_unit_test(test_client_push_acks__slim_reader),
		cmocka_unit_test(test_client_push_acks__slim_and_parsed_agree),
		cmocka_unit_test(test_client_push_acks__slim_needs_puts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
