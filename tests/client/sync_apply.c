/* sync_apply.c: the replicator's local half without a server: the fold of pending mutations,
 * push results (applied, conflict by last-write-wins, rejected) and pull pages. */
#include <inttypes.h>
#include <time.h>

#include "client/outbox_batch.h"
#include "util/hlc.h"

#define SERVER_DOC(id, version, fields) \
	"{\"$id\":\"" id "\",\"$collectionId\":\"items\",\"$databaseId\":\"main\"," \
	"\"$createdAt\":\"2020-01-01T00:00:00.000+00:00\"," \
	"\"$updatedAt\":\"2020-01-02T00:00:00.000+00:00\",\"$permissions\":[]," \
	"\"$version\":" #version ",\"$sequence\":\"1\"" fields "}"

/* Applies reply text (with %s placeholders for the batch's mutation ids, in order). */
static int apply(cairn__push_tally *tally, client_env *env, batch *b, const char *format)
{
	char reply_text[8192];
	json_object *reply;
	int rc;

	snprintf(reply_text, sizeof(reply_text), format,
		b->count > 0 ? b->mutations[0].mutation_id : "",
		b->count > 1 ? b->mutations[1].mutation_id : "",
		b->count > 2 ? b->mutations[2].mutation_id : "");
	reply = json_tokener_parse(reply_text);
	if (!reply)
		fail_msg("bad test reply: %s", reply_text);
	rc = cairn__push_apply(tally, env->store, b->mutations, b->count, reply);
	json_object_put(reply);
	return rc;
}

static int64_t future_hlc(void)
{
	return ((int64_t)time(NULL) * 1000 + 3600 * 1000) << 16;
}

static void test_client_sync_apply__fold(void **state)
{
	cairn__view view = { 0 };
	json_object *a = json_tokener_parse("{\"x\":1,\"y\":2}");
	json_object *b = json_tokener_parse("{\"y\":3,\"z\":null}");
	json_object *rights = json_tokener_parse("[\"read(\\\"any\\\")\"]");
	json_object *value = NULL;

	(void)state;
	/* A patch on nothing stays nothing (the server rejects it). */
	assert_int_equal(cairn__view_apply(&view, "patch", b, NULL, 1000), 0);
	assert_false(view.exists);
	assert_int_equal(cairn__view_apply(&view, "put", a, rights, 1000), 0);
	assert_true(view.exists);
	assert_string_equal(view.created_at, "1970-01-01T00:00:01.000+00:00");
	assert_int_equal(cairn__view_apply(&view, "patch", b, NULL, 2000), 0);
	assert_string_equal(view.created_at, "1970-01-01T00:00:01.000+00:00");
	assert_string_equal(view.updated_at, "1970-01-01T00:00:02.000+00:00");
	assert_true(json_object_object_get_ex(view.data, "y", &value));
	assert_int_equal(json_object_get_int(value), 3);
	assert_true(json_object_object_get_ex(view.data, "x", &value));
	assert_true(json_object_object_get_ex(view.data, "z", &value));
	assert_null(value);
	assert_int_equal(json_object_array_length(view.permissions), 1);
	assert_int_equal(cairn__view_apply(&view, "delete", NULL, NULL, 3000), 0);
	assert_false(view.exists);
	assert_null(view.data);
	/* A put after a delete starts over: new $createdAt, default permissions. */
	assert_int_equal(cairn__view_apply(&view, "put", b, NULL, 4000), 0);
	assert_string_equal(view.created_at, "1970-01-01T00:00:04.000+00:00");
	assert_int_equal(json_object_array_length(view.permissions), 0);
	assert_false(json_object_object_get_ex(view.data, "x", NULL));
	assert_int_equal(cairn__view_apply(&view, "fly", b, NULL, 5000), CAIRN_EINVALID);
	cairn__view_clear(&view);
	json_object_put(a);
	json_object_put(b);
	json_object_put(rights);
}

static void test_client_sync_apply__lww_order(void **state)
{
	(void)state;
	/* HLC decides; equal HLCs fall to the client id (a REST write's author "" loses). */
	assert_true(cairn__hlc_compare(10, "c-a", 9, "c-z") > 0);
	assert_true(cairn__hlc_compare(9, "c-z", 10, "c-a") < 0);
	assert_true(cairn__hlc_compare(10, "c-b", 10, "c-a") > 0);
	assert_true(cairn__hlc_compare(10, "c-a", 10, "") > 0);
}

static void test_client_sync_apply__push_body(void **state)
{
	client_env env;
	batch b = { 0 };
	json_object *body;
	json_object *mutations;
	json_object *m;
	json_object *data;
	json_object *flag;
	char *text = NULL;
	size_t length = 0;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a",
		"{\"t\":\"x\\\"y\",\"$permissions\":[\"read(\\\"any\\\")\"]}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_delete(env.store, "items", "a"), 0);
	load(&b, &env, 10);
	assert_int_equal(b.count, 3);
	/* The object form, for a server that has not said it takes the text form. */
	assert_int_equal(cairn__push_body(&text, &length, env.store, b.mutations, b.count, 0), 0);
	body = json_tokener_parse(text);
	assert_non_null(body);
	assert_false(json_object_object_get_ex(body, "dataAsText", NULL));
	m = json_object_array_get_idx(json_object_object_get(body, "mutations"), 0);
	assert_true(json_object_is_type(json_object_object_get(m, "data"), json_type_object));
	assert_string_equal(client_string(json_object_object_get(m, "data"), "t"), "x\"y");
	json_object_put(body);
	free(text);
	assert_int_equal(cairn__push_body(&text, &length, env.store, b.mutations, b.count, 1), 0);
	assert_int_equal(strlen(text), length);
	body = json_tokener_parse(text);
	assert_non_null(body);
	assert_int_equal(strncmp(client_string(body, "clientId"), "c-", 2), 0);
	assert_true(json_object_object_get_ex(body, "dataAsText", &flag));
	assert_true(json_object_get_boolean(flag));
	assert_true(json_object_object_get_ex(body, "mutations", &mutations));
	assert_int_equal(json_object_array_length(mutations), 3);
	m = json_object_array_get_idx(mutations, 0);
	assert_string_equal(client_string(m, "op"), "put");
	assert_string_equal(client_string(m, "id"), "a");
	assert_string_equal(client_string(m, "collection"), "items");
	/* Base 0 and no predecessor are the server's defaults: left out. */
	assert_false(json_object_object_get_ex(m, "baseVersion", NULL));
	assert_true(client_int(m, "hlc") > 0);
	assert_false(json_object_object_get_ex(m, "prevMutationId", NULL));
	assert_true(json_object_object_get_ex(m, "permissions", NULL));
	/* The text form: `data` is a string holding the stored JSON text. */
	data = json_tokener_parse(client_string(m, "data"));
	assert_non_null(data);
	assert_string_equal(client_string(data, "t"), "x\"y");
	json_object_put(data);
	m = json_object_array_get_idx(mutations, 1);
	assert_string_equal(client_string(m, "prevMutationId"), b.mutations[0].mutation_id);
	assert_false(json_object_object_get_ex(m, "permissions", NULL));
	m = json_object_array_get_idx(mutations, 2);
	assert_string_equal(client_string(m, "op"), "delete");
	assert_false(json_object_object_get_ex(m, "data", NULL));
	json_object_put(body);
	free(text);
	unload(&b);
	client_env_free(&env);
}

static void test_client_sync_apply__applied_chain(void **state)
{
	client_env env;
	cairn__push_tally tally;
	batch b = { 0 };
	json_object *doc;
	json_object *outbox;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"title\":\"local\"}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"title\":\"b\"}"), 0);

	/* Only the first mutation goes out: the patch behind it is rebased onto version 5. */
	load(&b, &env, 1);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":[{\"mutationId\":\"%s\","
		"\"status\":\"applied\",\"version\":5,\"document\":"
		SERVER_DOC("a", 5, ",\"title\":\"local\"") "}]}"), 0);
	assert_int_equal(tally.applied, 1);
	unload(&b);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 2);
	assert_string_equal(client_string(json_object_array_get_idx(outbox, 0), "op"), "patch");
	assert_int_equal(client_int(json_object_array_get_idx(outbox, 0), "baseVersion"), 5);
	json_object_put(outbox);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"prev_mutation IS NOT NULL"), 0);
	/* The view keeps the pending patch on top of the acknowledged server state. */
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "$createdAt"), "2020-01-01T00:00:00.000+00:00");
	assert_string_equal(client_string(doc, "title"), "local");
	assert_int_equal(client_int(doc, "n"), 1);
	json_object_put(doc);

	load(&b, &env, 10);
	assert_int_equal(b.count, 2);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":6,\"document\":"
		SERVER_DOC("a", 6, ",\"title\":\"local\",\"n\":1") "},"
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":7,\"document\":"
		SERVER_DOC("b", 7, ",\"title\":\"b\"") "}]}"), 0);
	assert_int_equal(tally.applied, 2);
	unload(&b);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs WHERE pending = 1"),
		0);
	assert_int_equal(client_sql_int(env.path, "SELECT version FROM server_docs WHERE "
		"id = 'a'"), 6);
	doc = client_get(env.store, "items", "b");
	assert_string_equal(client_string(doc, "$updatedAt"), "2020-01-02T00:00:00.000+00:00");
	json_object_put(doc);
	/* The next local write is based on the acknowledged version. */
	assert_int_equal(cairn_doc_delete(env.store, "items", "a"), 0);
	outbox = client_outbox(env.store);
	assert_int_equal(client_int(json_object_array_get_idx(outbox, 0), "baseVersion"), 6);
	json_object_put(outbox);
	/* An acknowledged delete leaves a tombstone in the server copy and nothing in the view. */
	load(&b, &env, 10);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":[{\"mutationId\":\"%s\","
		"\"status\":\"applied\",\"version\":8,\"document\":null}]}"), 0);
	unload(&b);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs WHERE id = 'a'"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT deleted FROM server_docs WHERE "
		"id = 'a'"), 1);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{}"), 0);
	outbox = client_outbox(env.store);
	assert_int_equal(client_int(json_object_array_get_idx(outbox, 0), "baseVersion"), 8);
	json_object_put(outbox);
	client_env_free(&env);
}

static void test_client_sync_apply__conflict_local_wins(void **state)
{
	client_env env;
	cairn__push_tally tally;
	batch b = { 0 };
	json_object *doc;
	json_object *outbox;
	json_object *conflicts;
	json_object *entry;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"title\":\"mine\"}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"n\":2}"), 0);
	load(&b, &env, 10);
	/* The remote write is older (HLC 1) by another client: both local mutations win. */
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"conflict\",\"current\":{\"version\":3,"
		"\"deleted\":false,\"hlc\":1,\"author\":\"c-other\",\"document\":"
		SERVER_DOC("a", 3, ",\"title\":\"theirs\"") "}},"
		"{\"mutationId\":\"%s\",\"status\":\"conflict\",\"current\":{\"version\":3,"
		"\"deleted\":false,\"hlc\":1,\"author\":\"c-other\",\"document\":"
		SERVER_DOC("a", 3, ",\"title\":\"theirs\"") "}}]}"), 0);
	assert_int_equal(tally.conflicts, 2);
	assert_int_equal(tally.requeued, 2);
	assert_int_equal(tally.applied + tally.dropped + tally.rejected, 0);
	unload(&b);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 2);
	assert_int_equal(client_int(json_object_array_get_idx(outbox, 0), "baseVersion"), 3);
	assert_int_equal(client_int(json_object_array_get_idx(outbox, 1), "baseVersion"), 3);
	json_object_put(outbox);
	/* The chain survives: the second follows the first, the first starts it. */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox o JOIN outbox p ON "
		"o.prev_mutation = p.mutation_id"), 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "title"), "mine");
	assert_int_equal(client_int(doc, "n"), 2);
	json_object_put(doc);
	conflicts = client_conflicts(env.store);
	assert_int_equal(json_object_array_length(conflicts), 2);
	entry = json_object_array_get_idx(conflicts, 0);
	assert_string_equal(client_string(entry, "winner"), "local");
	assert_string_equal(client_string(entry, "strategy"), "lww");
	assert_string_equal(client_string(entry, "documentId"), "a");
	assert_string_equal(client_string(json_object_object_get(entry, "remote"), "title"),
		"theirs");
	assert_string_equal(client_string(json_object_object_get(entry, "local"), "title"),
		"mine");
	assert_true(client_int(entry, "id") > client_int(json_object_array_get_idx(conflicts, 1),
		"id"));
	json_object_put(conflicts);
	client_env_free(&env);
}

/* The clock is kept by the newest outbox row and, once rows leave the outbox, by meta: a
 * timestamp issued once is never issued lower again, across the outbox draining and a
 * reopen. A row an hour ahead stands for a clock that later went back. */
static void test_client_sync_apply__clock_survives_the_outbox(void **state)
{
	client_env env;
	cairn__push_tally tally;
	batch b = { 0 };
	json_object *outbox;
	int64_t future = future_hlc();
	int64_t second;
	char sql[160];

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1}"), 0);
	snprintf(sql, sizeof(sql), "UPDATE outbox SET hlc = %" PRId64, future);
	client_sql_exec(env.path, sql);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"n\":2}"), 0);
	outbox = client_outbox(env.store);
	second = client_int(json_object_array_get_idx(outbox, 1), "hlc");
	assert_true(second > future);
	json_object_put(outbox);

	load(&b, &env, 10);
	assert_int_equal(b.count, 2);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":1,\"document\":"
		SERVER_DOC("a", 1, ",\"n\":1") "},"
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":2,\"document\":"
		SERVER_DOC("b", 2, ",\"n\":2") "}]}"), 0);
	assert_int_equal(tally.applied, 2);
	unload(&b);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 0);

	client_reopen(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{\"n\":3}"), 0);
	outbox = client_outbox(env.store);
	assert_true(client_int(json_object_array_get_idx(outbox, 0), "hlc") > second);
	json_object_put(outbox);
	client_env_free(&env);
}

/* Rows leaving the outbox in any order (the newest first, as a discarded edit) never let
 * the clock go back: the trigger keeps the newest row's timestamp in meta. */
static void test_client_sync_apply__clock_survives_any_removal_order(void **state)
{
	client_env env;
	json_object *outbox;
	int64_t newest;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"n\":2}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{\"n\":3}"), 0);
	outbox = client_outbox(env.store);
	newest = client_int(json_object_array_get_idx(outbox, 2), "hlc");
	json_object_put(outbox);
	client_sql_exec(env.path, "DELETE FROM outbox WHERE doc_id = 'c'");
	assert_int_equal(client_sql_int(env.path, "SELECT value FROM meta WHERE key = 'hlc'"),
		newest);
	client_sql_exec(env.path, "DELETE FROM outbox WHERE doc_id = 'a'");
	client_sql_exec(env.path, "DELETE FROM outbox WHERE doc_id = 'b'");
	assert_int_equal(client_sql_int(env.path, "SELECT value FROM meta WHERE key = 'hlc'"),
		newest);
	client_reopen(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "d", "{\"n\":4}"), 0);
	outbox = client_outbox(env.store);
	assert_true(client_int(json_object_array_get_idx(outbox, 0), "hlc") > newest);
	json_object_put(outbox);
	client_env_free(&env);
}

static void test_client_sync_apply__conflict_remote_wins(void **state)
{
	client_env env;
	cairn__push_tally tally;
	cairn_store_status status;
	batch b = { 0 };
	json_object *doc;
	json_object *outbox;
	json_object *conflicts;
	char reply[4096];
	int64_t remote = future_hlc();

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"title\":\"mine\"}"), 0);
	load(&b, &env, 10);
	snprintf(reply, sizeof(reply), "{\"results\":[{\"mutationId\":\"%%s\",\"status\":"
		"\"conflict\",\"current\":{\"version\":4,\"deleted\":false,\"hlc\":%" PRId64 ","
		"\"author\":\"c-other\",\"document\":" SERVER_DOC("a", 4, ",\"title\":\"theirs\"")
		"}}]}", remote);
	assert_int_equal(apply(&tally, &env, &b, reply), 0);
	assert_int_equal(tally.dropped, 1);
	assert_int_equal(tally.conflicts, 1);
	unload(&b);
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_int_equal(status.pending, 0);
	assert_int_equal(status.conflicts, 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "title"), "theirs");
	json_object_put(doc);
	conflicts = client_conflicts(env.store);
	assert_string_equal(client_string(json_object_array_get_idx(conflicts, 0), "winner"),
		"remote");
	assert_string_equal(client_string(json_object_object_get(
		json_object_array_get_idx(conflicts, 0), "local"), "title"), "mine");
	json_object_put(conflicts);
	/* The remote clock was absorbed; the next write is based on the remote version. */
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"n\":1}"), 0);
	outbox = client_outbox(env.store);
	assert_true(client_int(json_object_array_get_idx(outbox, 0), "hlc") > remote);
	assert_int_equal(client_int(json_object_array_get_idx(outbox, 0), "baseVersion"), 4);
	json_object_put(outbox);
	client_env_free(&env);
}

static void test_client_sync_apply__conflict_ties_and_deletes(void **state)
{
	client_env env;
	cairn__push_tally tally;
	batch b = { 0 };
	json_object *conflicts;
	char reply[2048];
	char *text = NULL;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"v\":1}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"v\":1}"), 0);
	load(&b, &env, 10);
	/* Same HLC: the author "zzz" sorts after our "c-..." id and wins; the deleted remote
	 * document on "a" (tombstone) loses to us because "" sorts first. */
	snprintf(reply, sizeof(reply), "{\"results\":["
		"{\"mutationId\":\"%%s\",\"status\":\"conflict\",\"current\":{\"version\":9,"
		"\"deleted\":true,\"hlc\":%" PRId64 ",\"author\":\"\",\"document\":null}},"
		"{\"mutationId\":\"%%s\",\"status\":\"conflict\",\"current\":{\"version\":10,"
		"\"deleted\":true,\"hlc\":%" PRId64 ",\"author\":\"zzz\",\"document\":null}}]}",
		b.mutations[0].hlc, b.mutations[1].hlc);
	assert_int_equal(apply(&tally, &env, &b, reply), 0);
	assert_int_equal(tally.requeued, 1);
	assert_int_equal(tally.dropped, 1);
	unload(&b);
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "b"), CAIRN_ENOTFOUND);
	text = NULL;
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "a"), 0);
	cairn_free(text);
	conflicts = client_conflicts(env.store);
	assert_int_equal(json_object_array_length(conflicts), 2);
	/* Newest first: "b" lost, its remote side is a deletion (null). */
	assert_string_equal(client_string(json_object_array_get_idx(conflicts, 0), "documentId"),
		"b");
	assert_null(json_object_object_get(json_object_array_get_idx(conflicts, 0), "remote"));
	json_object_put(conflicts);
	assert_int_equal(client_sql_int(env.path, "SELECT base_version FROM outbox"), 9);
	client_env_free(&env);
}

static void test_client_sync_apply__rejected(void **state)
{
	client_env env;
	cairn__push_tally tally;
	cairn_store_status status;
	batch b = { 0 };
	json_object *outbox;
	json_object *entry;
	char *text = NULL;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"v\":1}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"w\":2}"), 0);
	load(&b, &env, 1);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":[{\"mutationId\":\"%s\","
		"\"status\":\"rejected\",\"error\":{\"message\":\"Collection with the requested ID "
		"'items' could not be found.\",\"code\":404,\"type\":\"collection_not_found\"}}]}"), 0);
	assert_int_equal(tally.rejected, 1);
	unload(&b);
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_int_equal(status.rejected, 1);
	assert_int_equal(status.pending, 1);
	outbox = client_outbox(env.store);
	entry = json_object_array_get_idx(outbox, 0);
	assert_string_equal(client_string(entry, "state"), "rejected");
	assert_non_null(strstr(client_string(entry, "error"), "could not be found"));
	assert_non_null(strstr(client_string(entry, "error"), "collection_not_found"));
	json_object_put(outbox);
	/* The patch no longer follows the parked put, and the view drops the put: a patch on
	 * nothing leaves nothing. */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"prev_mutation IS NOT NULL"), 0);
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "a"), CAIRN_ENOTFOUND);
	/* The next batch skips the rejected entry. */
	load(&b, &env, 10);
	assert_int_equal(b.count, 1);
	assert_string_equal(b.mutations[0].op, "patch");
	unload(&b);
	client_env_free(&env);
}

static void test_client_sync_apply__malformed_reply_changes_nothing(void **state)
{
	client_env env;
	cairn__push_tally tally;
	batch b = { 0 };

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"v\":1}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"v\":1}"), 0);
	load(&b, &env, 10);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":[{\"mutationId\":\"%s\","
		"\"status\":\"applied\",\"version\":1,\"document\":null}]}"), CAIRN_ESERVER);
	assert_int_equal(apply(&tally, &env, &b, "{\"nothing\":1}"), CAIRN_ESERVER);
	/* Second result broken: the first must not stay applied either (one transaction). */
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":1,\"document\":null},"
		"{\"mutationId\":\"%s\",\"status\":\"weird\"}]}"), CAIRN_ESERVER);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":1,\"document\":null},"
		"{\"mutationId\":\"wrong\",\"status\":\"applied\",\"version\":2}]}"), CAIRN_ESERVER);
	unload(&b);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"state = 'pending'"), 2);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM server_docs"), 0);
	client_env_free(&env);
}

static int pull(client_env *env, uint64_t *applied, int64_t *checkpoint, const char *text)
{
	json_object *page = json_tokener_parse(text);
	int more = 0;
	int rc;

	if (!page)
		fail_msg("bad test page: %s", text);
	rc = cairn__pull_apply(applied, &more, checkpoint, env->store, page);
	json_object_put(page);
	return rc;
}

static void test_client_sync_apply__pull_pages(void **state)
{
	client_env env;
	cairn_store_status status;
	uint64_t applied = 0;
	int64_t checkpoint = 0;
	json_object *doc;
	json_object *outbox;
	char page[2048];
	char *text = NULL;
	int64_t remote = future_hlc();

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "gone", "{\"v\":1}"), 0);
	assert_int_equal(pull(&env, &applied, &checkpoint, "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"x\",\"version\":1,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"c-o\",\"document\":" SERVER_DOC("x", 1, ",\"t\":\"one\"") "},"
		"{\"collection\":\"items\",\"id\":\"y\",\"version\":2,\"deleted\":false,\"hlc\":6,"
		"\"author\":\"c-o\",\"document\":" SERVER_DOC("y", 2, ",\"t\":\"two\"") "}],"
		"\"checkpoint\":2,\"more\":true}"), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(checkpoint, 2);
	doc = client_get(env.store, "items", "x");
	assert_string_equal(client_string(doc, "t"), "one");
	assert_false(json_object_object_get_ex(doc, "$version", NULL));
	json_object_put(doc);

	/* A local edit of y, then the server's newer y: the edit stays on top. A tombstone for
	 * x removes it. */
	assert_int_equal(cairn_doc_patch(env.store, "items", "y", "{\"mine\":true}"), 0);
	snprintf(page, sizeof(page), "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"y\",\"version\":3,\"deleted\":false,\"hlc\":%"
		PRId64 ",\"author\":\"c-o\",\"document\":" SERVER_DOC("y", 3, ",\"t\":\"newer\"") "},"
		"{\"collection\":\"items\",\"id\":\"x\",\"version\":4,\"deleted\":true,\"hlc\":7,"
		"\"author\":\"\",\"document\":null}],\"checkpoint\":4,\"more\":false}", remote);
	assert_int_equal(pull(&env, &applied, &checkpoint, page), 0);
	assert_int_equal(applied, 2);
	doc = client_get(env.store, "items", "y");
	assert_string_equal(client_string(doc, "t"), "newer");
	assert_true(json_object_get_boolean(json_object_object_get(doc, "mine")));
	json_object_put(doc);
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "x"), CAIRN_ENOTFOUND);
	/* The pending patch keeps its original base (2): pushing it will meet version 3 as a
	 * conflict and be judged by LWW, rather than silently overwrite it. */
	outbox = client_outbox(env.store);
	assert_int_equal(client_int(json_object_array_get_idx(outbox, 1), "baseVersion"), 2);
	json_object_put(outbox);
	/* The remote clock was observed. */
	assert_int_equal(cairn_doc_put(env.store, "items", "z", "{}"), 0);
	outbox = client_outbox(env.store);
	assert_true(client_int(json_object_array_get_idx(outbox, 2), "hlc") > remote);
	json_object_put(outbox);
	/* Replaying an old page changes nothing. */
	assert_int_equal(pull(&env, &applied, &checkpoint, "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"x\",\"version\":1,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"c-o\",\"document\":" SERVER_DOC("x", 1, ",\"t\":\"one\"") "}],"
		"\"checkpoint\":4,\"more\":false}"), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "x"), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_int_equal(status.checkpoint, 4);
	/* The locally created document that the server never saw is untouched. */
	doc = client_get(env.store, "items", "gone");
	json_object_put(doc);
	/* A malformed page is refused whole, checkpoint unchanged. */
	assert_int_equal(pull(&env, &applied, &checkpoint, "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"q\",\"version\":9,\"deleted\":false,"
		"\"document\":" SERVER_DOC("q", 9, "") "},"
		"{\"collection\":\"items\",\"id\":\"bad id\",\"version\":10}],"
		"\"checkpoint\":10,\"more\":false}"), CAIRN_ESERVER);
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "q"), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_int_equal(status.checkpoint, 4);
	client_env_free(&env);
}

static void test_client_sync_apply__new_remote_forgets_server_state(void **state)
{
	client_env env;
	cairn_store_status status;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, "http://127.0.0.1:1/v1", "p", NULL, "one", NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	uint64_t applied = 0;
	int64_t checkpoint = 0;
	json_object *doc;
	char *text = NULL;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_store_set_remote(env.store, &remote), 0);
	assert_int_equal(pull(&env, &applied, &checkpoint, "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"x\",\"version\":1,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"c-o\",\"document\":" SERVER_DOC("x", 1, ",\"t\":\"one\"") "},"
		"{\"collection\":\"items\",\"id\":\"y\",\"version\":2,\"deleted\":false,\"hlc\":6,"
		"\"author\":\"c-o\",\"document\":" SERVER_DOC("y", 2, ",\"t\":\"two\"") "}],"
		"\"checkpoint\":2,\"more\":false}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "y", "{\"mine\":1}"), 0);
	/* Same remote again, or the same database at a new address: nothing forgotten. */
	assert_int_equal(cairn_store_set_remote(env.store, &remote), 0);
	remote.url = "http://localhost:2/v1";
	assert_int_equal(cairn_store_set_remote(env.store, &remote), 0);
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_int_equal(status.checkpoint, 2);
	assert_string_equal(status.remote_url, "http://localhost:2/v1");
	doc = client_get(env.store, "items", "x");
	json_object_put(doc);
	remote.database = "two";
	assert_int_equal(cairn_store_set_remote(env.store, &remote), 0);
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_int_equal(status.checkpoint, 0);
	assert_int_equal(status.pending, 1);
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "x"), CAIRN_ENOTFOUND);
	/* y's pending patch had nothing under it any more: it stays queued, the view is empty. */
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "y"), CAIRN_ENOTFOUND);
	assert_int_equal(client_sql_int(env.path, "SELECT base_version FROM outbox"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "z", "{}"), 0);
	doc = client_get(env.store, "items", "z");
	assert_string_equal(client_string(doc, "$databaseId"), "two");
	json_object_put(doc);
	client_env_free(&env);
}

/* The fast paths for plain acks and pulls must never move a document backwards: a stale
 * applied reply meets a newer pulled version, older changes and our own echo are ignored,
 * our own unseen write is taken, and a tombstone removes the view. */
static void test_client_sync_apply__stale_replies_and_echoes_are_guarded(void **state)
{
	client_env env;
	cairn__push_tally tally;
	batch b = { 0 };
	json_object *doc;
	uint64_t applied = 0;
	int64_t checkpoint = 0;
	char page[2048];

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"local\"}"), 0);
	load(&b, &env, 10);
	/* another handle's pull brought version 9 while the push was in flight */
	assert_int_equal(pull(&env, &applied, &checkpoint, "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"a\",\"version\":9,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"c-o\",\"document\":" SERVER_DOC("a", 9, ",\"t\":\"remote\"") "}],"
		"\"checkpoint\":9,\"more\":false}"), 0);
	assert_int_equal(applied, 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "local");
	json_object_put(doc);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":[{\"mutationId\":\"%s\","
		"\"status\":\"applied\",\"version\":5,\"document\":"
		SERVER_DOC("a", 5, ",\"t\":\"local\"") "}]}"), 0);
	unload(&b);
	assert_int_equal(client_sql_int(env.path, "SELECT version FROM server_docs"), 9);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 0);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "remote");
	json_object_put(doc);
	assert_int_equal(client_sql_int(env.path, "SELECT pending FROM docs"), 0);
	/* an older change from someone else, and our own echo, change nothing */
	snprintf(page, sizeof(page), "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"a\",\"version\":7,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"c-o\",\"document\":" SERVER_DOC("a", 7, ",\"t\":\"old\"") "},"
		"{\"collection\":\"items\",\"id\":\"a\",\"version\":9,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"%s\",\"document\":" SERVER_DOC("a", 9, ",\"t\":\"echo\"") "}],"
		"\"checkpoint\":10,\"more\":false}", env.store->client_id);
	assert_int_equal(pull(&env, &applied, &checkpoint, page), 0);
	assert_int_equal(applied, 0);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "remote");
	assert_string_equal(client_string(doc, "$createdAt"), "2020-01-01T00:00:00.000+00:00");
	json_object_put(doc);
	/* our own write that we never saw acknowledged is taken */
	snprintf(page, sizeof(page), "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"a\",\"version\":11,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"%s\",\"document\":" SERVER_DOC("a", 11, ",\"t\":\"mine\",\"d\":1.50") "}],"
		"\"checkpoint\":11,\"more\":false}", env.store->client_id);
	assert_int_equal(pull(&env, &applied, &checkpoint, page), 0);
	assert_int_equal(applied, 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "mine");
	json_object_put(doc);
	/* with nothing pending the server copy shares the view row's data */
	assert_int_equal(client_sql_int(env.path, "SELECT data IS NULL FROM server_docs"), 1);
	/* a tombstone with nothing pending removes the view */
	assert_int_equal(pull(&env, &applied, &checkpoint, "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"a\",\"version\":12,\"deleted\":true,\"hlc\":5,"
		"\"author\":\"c-o\",\"document\":null}],\"checkpoint\":12,\"more\":false}"), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT deleted FROM server_docs"), 1);
	client_env_free(&env);
}

/* A server copy that shares the view row's data gets its own copy before any local write
 * changes that row: conflict handling later needs the server state, not the local edit. */
static void test_client_sync_apply__shared_server_copy_detaches(void **state)
{
	client_env env;
	uint64_t applied = 0;
	int64_t checkpoint = 0;
	json_object *doc;

	(void)state;
	client_env_init(&env);
	assert_int_equal(pull(&env, &applied, &checkpoint, "{\"changes\":["
		"{\"collection\":\"items\",\"id\":\"a\",\"version\":3,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"c-o\",\"document\":" SERVER_DOC("a", 3, ",\"t\":\"server\",\"d\":1.5") "},"
		"{\"collection\":\"items\",\"id\":\"b\",\"version\":4,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"c-o\",\"document\":" SERVER_DOC("b", 4, ",\"t\":\"server b\"") "}],"
		"\"checkpoint\":4,\"more\":false}"), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM server_docs "
		"WHERE data IS NULL AND deleted = 0"), 2);
	/* a put and a delete: each server copy keeps the server's fields */
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"local\"}"), 0);
	assert_int_equal(cairn_doc_delete(env.store, "items", "b"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM server_docs WHERE "
		"json_extract(data, '$.t') = 'server' AND json_extract(data, '$.d') = 1.5 "
		"AND id = 'a'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM server_docs WHERE "
		"json_extract(data, '$.t') = 'server b' AND id = 'b'"), 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "local");
	json_object_put(doc);
	/* the server copy read back through the library (the base of a conflict) */
	{
		cairn__view view;
		cairn__server_meta meta;

		assert_int_equal(cairn__view_load_server(&view, &meta, env.store, "items", "a"), 0);
		assert_int_equal(meta.version, 3);
		assert_string_equal(json_object_get_string(json_object_object_get(view.data, "t")),
			"server");
		cairn__view_clear(&view);
		assert_int_equal(cairn__view_load_server(&view, &meta, env.store, "items", "b"), 0);
		assert_true(view.exists);
		assert_string_equal(json_object_get_string(json_object_object_get(view.data, "t")),
			"server b");
		cairn__view_clear(&view);
	}
	client_env_free(&env);
}

/* A change in the text form (dataAsText): the fields and permissions arrive as their JSON
 * text and are stored as received; text that is not a JSON object (or array, for the
 * permissions) refuses the whole page and stores nothing. */
#define TEXT_CHANGE(id, version, data, permissions) \
	"{\"collection\":\"items\",\"id\":\"" id "\",\"version\":" #version ",\"deleted\":false," \
	"\"hlc\":5,\"author\":\"c-o\",\"createdAt\":\"2020-01-01T00:00:00.000+00:00\"," \
	"\"updatedAt\":\"2020-01-02T00:00:00.000+00:00\",\"sequence\":\"7\"," \
	"\"permissions\":" permissions ",\"data\":" data "}"

static void test_client_sync_apply__pull_text_form(void **state)
{
	client_env env;
	uint64_t applied = 0;
	int64_t checkpoint = 0;
	json_object *doc;
	json_object *value;
	const char *bad[] = {
		TEXT_CHANGE("b", 4, "\"{\\\"t\\\":\"", "\"[]\""),        /* truncated JSON */
		TEXT_CHANGE("b", 4, "\"[1,2]\"", "\"[]\""),               /* not an object */
		TEXT_CHANGE("b", 4, "\"{\\\"t\\\":1}\"", "\"{}\""),       /* permissions not an array */
		TEXT_CHANGE("b", 4, "{\"t\":1}", "\"[]\""),               /* data not a string */
		TEXT_CHANGE("b", 4, "\"{}\\u0000junk\"", "\"[]\""),       /* a NUL inside */
		"{\"collection\":\"items\",\"id\":\"b\",\"version\":4,\"deleted\":false,\"hlc\":5,"
		"\"author\":\"c-o\",\"permissions\":\"[]\",\"data\":\"{}\"}", /* no timestamps */
	};

	(void)state;
	client_env_init(&env);
	assert_int_equal(pull(&env, &applied, &checkpoint, "{\"changes\":["
		TEXT_CHANGE("a", 3, "\"{\\\"t\\\":\\\"x\\\\\\\"y\\\",\\\"n\\\":9007199254740993}\"",
			"\"[\\\"read(\\\\\\\"any\\\\\\\")\\\"]\"") "],\"checkpoint\":3,\"more\":false}"), 0);
	assert_int_equal(applied, 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "x\"y");
	assert_true(json_object_object_get_ex(doc, "n", &value));
	assert_int_equal(json_object_get_int64(value), INT64_C(9007199254740993));
	assert_string_equal(client_string(doc, "$createdAt"), "2020-01-01T00:00:00.000+00:00");
	assert_string_equal(client_string(doc, "$updatedAt"), "2020-01-02T00:00:00.000+00:00");
	assert_true(json_object_object_get_ex(doc, "$permissions", &value));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(value, 0)),
		"read(\"any\")");
	json_object_put(doc);
	assert_int_equal(client_sql_int(env.path, "SELECT version FROM server_docs"), 3);
	assert_int_equal(client_sql_int(env.path, "SELECT sequence = '7' FROM server_docs"), 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char page[1024];

		snprintf(page, sizeof(page), "{\"changes\":[" TEXT_CHANGE("c", 4, "\"{}\"", "\"[]\"")
			",%s],\"checkpoint\":4,\"more\":false}", bad[i]);
		assert_int_equal(pull(&env, &applied, &checkpoint, page), CAIRN_ESERVER);
		assert_non_null(strstr(cairn_error_last(), "malformed"));
		/* the page's good change was rolled back with it */
		assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs"), 1);
		assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM server_docs"), 1);
	}
	client_env_free(&env);
}

/* An acknowledgement "asPushed" carries no fields: the server copy takes the put's own
 * payload (shared with the view when nothing else is pending, its own copy otherwise). */
#define SYSTEM_DOC(id, version) \
	"{\"$id\":\"" id "\",\"$collectionId\":\"items\",\"$databaseId\":\"main\"," \
	"\"$createdAt\":\"2021-01-01T00:00:00.000+00:00\"," \
	"\"$updatedAt\":\"2021-01-02T00:00:00.000+00:00\",\"$permissions\":[]," \
	"\"$version\":" #version ",\"$sequence\":\"3\"}"

static void test_client_sync_apply__slim_acknowledgements(void **state)
{
	client_env env;
	cairn__push_tally tally = { 0 };
	batch b = { 0 };
	json_object *doc;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"t\":\"one\",\"n\":1}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"t\":\"bee\"}"), 0);
	load(&b, &env, 10);
	assert_int_equal(b.count, 2);
	/* a later local edit of b is pending when its first put is acknowledged */
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"t\":\"bee 2\"}"), 0);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":5,\"asPushed\":true,"
		"\"document\":" SYSTEM_DOC("a", 5) "},"
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":6,\"asPushed\":true,"
		"\"document\":" SYSTEM_DOC("b", 6) "}]}"), 0);
	unload(&b);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "t"), "one");
	assert_string_equal(client_string(doc, "$createdAt"), "2021-01-01T00:00:00.000+00:00");
	json_object_put(doc);
	assert_int_equal(client_sql_int(env.path, "SELECT data IS NULL AND version = 5 "
		"FROM server_docs WHERE id = 'a'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT json_extract(data, '$.t') = 'bee' AND "
		"version = 6 FROM server_docs WHERE id = 'b'"), 1);
	doc = client_get(env.store, "items", "b");
	assert_string_equal(client_string(doc, "t"), "bee 2");
	json_object_put(doc);
	/* "asPushed" on anything but a put is refused, and nothing of that reply is kept */
	load(&b, &env, 10);
	assert_int_equal(b.count, 1);
	assert_int_equal(cairn_doc_delete(env.store, "items", "a"), 0);
	unload(&b);
	load(&b, &env, 10);
	assert_int_equal(b.count, 2);
	assert_string_equal(b.mutations[1].op, "delete");
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":7,\"asPushed\":true,"
		"\"document\":" SYSTEM_DOC("b", 7) "},"
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":8,\"asPushed\":true,"
		"\"document\":null}]}"), CAIRN_ESERVER);
	unload(&b);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 2);
	client_env_free(&env);
}

/* A batch applied at the versions right after the checkpoint moves the checkpoint past them
 * (its own writes are not pulled back); a gap, a non-applied result or a sync scope keeps it. */
static void test_client_sync_apply__own_changes_move_the_checkpoint(void **state)
{
	client_env env;
	cairn__push_tally tally = { 0 };
	batch b = { 0 };
	int64_t checkpoint = 0;
	const char *scope = "{\"method\":\"equal\",\"attribute\":\"n\",\"values\":[1]}";

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn__meta_set_int64(env.store, "checkpoint", 10), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"n\":2}"), 0);
	load(&b, &env, 10);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":11,\"asPushed\":true,"
		"\"document\":" SYSTEM_DOC("a", 11) "},"
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":12,\"asPushed\":true,"
		"\"document\":" SYSTEM_DOC("b", 12) "}]}"), 0);
	unload(&b);
	assert_int_equal(cairn__meta_get_int64(env.store, "checkpoint", &checkpoint), 1);
	assert_int_equal(checkpoint, 12);

	/* someone else's change at 13: ours at 14 leaves the checkpoint for the pull */
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":3}"), 0);
	load(&b, &env, 10);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":14,\"asPushed\":true,"
		"\"document\":" SYSTEM_DOC("a", 14) "}]}"), 0);
	unload(&b);
	assert_int_equal(cairn__meta_get_int64(env.store, "checkpoint", &checkpoint), 1);
	assert_int_equal(checkpoint, 12);

	/* with a scope the pull decides what this device keeps, its own writes too */
	assert_int_equal(cairn__meta_set_int64(env.store, "checkpoint", 14), 0);
	assert_int_equal(cairn_sync_scope_set(env.store, "items", &scope, 1), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"n\":4}"), 0);
	load(&b, &env, 10);
	assert_int_equal(apply(&tally, &env, &b, "{\"results\":["
		"{\"mutationId\":\"%s\",\"status\":\"applied\",\"version\":15,\"asPushed\":true,"
		"\"document\":" SYSTEM_DOC("b", 15) "}]}"), 0);
	unload(&b);
	assert_int_equal(cairn__meta_get_int64(env.store, "checkpoint", &checkpoint), 1);
	assert_int_equal(checkpoint, 14);
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_sync_apply__fold),
		cmocka_unit_test(test_client_sync_apply__lww_order),
		cmocka_unit_test(test_client_sync_apply__push_body),
		cmocka_unit_test(test_client_sync_apply__applied_chain),
		cmocka_unit_test(test_client_sync_apply__conflict_local_wins),
		cmocka_unit_test(test_client_sync_apply__clock_survives_the_outbox),
		cmocka_unit_test(test_client_sync_apply__clock_survives_any_removal_order),
		cmocka_unit_test(test_client_sync_apply__conflict_remote_wins),
		cmocka_unit_test(test_client_sync_apply__conflict_ties_and_deletes),
		cmocka_unit_test(test_client_sync_apply__rejected),
		cmocka_unit_test(test_client_sync_apply__malformed_reply_changes_nothing),
		cmocka_unit_test(test_client_sync_apply__pull_pages),
		cmocka_unit_test(test_client_sync_apply__new_remote_forgets_server_state),
		cmocka_unit_test(test_client_sync_apply__stale_replies_and_echoes_are_guarded),
		cmocka_unit_test(test_client_sync_apply__shared_server_copy_detaches),
		cmocka_unit_test(test_client_sync_apply__pull_text_form),
		cmocka_unit_test(test_client_sync_apply__slim_acknowledgements),
		cmocka_unit_test(test_client_sync_apply__own_changes_move_the_checkpoint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
