/* rest_mode.c: stores in REST mode (CAIRN_REMOTE_APPWRITE_REST) sync through the real server's
 * Appwrite document routes only: convergence, offline edits, 409 conflicts decided by the
 * collection's strategy, server deletes and missed writes found by the reconciliation scan,
 * paging by ($updatedAt, $id), a refused change parked, round-stopping answers, counters,
 * lost replies, the background replicator and sync scopes. Every store talks through a
 * proxy armed to cut any request to /v1/sync/, and each test asserts it never fired. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "support/integration.h"
#include "support/proxy.h"
#include "util/time.h"

#define DATABASE "shop"
#define WAIT_MS 15000 /* a bound for waiting on the background replicator, never asserted */

#define WAIT_FOR(condition, what) CAIRN_IT_WAIT_FOR(condition, what, WAIT_MS)

typedef struct {
	cairn_it_env *env;
	cairn_test_proxy *proxy;
	char url[128];            /* the proxy's URL */
} world;

static void create_collection(const cairn_it_env *env, const char *collection)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"collectionId\":\"%s\",\"name\":\"%s\","
		"\"permissions\":[],\"documentSecurity\":false}", collection, collection);
	cairn_it_rest_expect(env, "POST", "/databases/" DATABASE "/collections", body, 201);
}

/* The server with the database and collections (REST mode never creates them), and a
 * proxy armed against /v1/sync/. */
static void world_init(world *w, void **state)
{
	memset(w, 0, sizeof(*w));
	w->env = *state;
	cairn_it_rest_expect(w->env, "POST", "/databases",
		"{\"databaseId\":\"" DATABASE "\",\"name\":\"Shop\"}", 201);
	create_collection(w->env, "items");
	create_collection(w->env, "notes");
	assert_int_equal(cairn_test_proxy_start(&w->proxy,
		cairn_test_server_port(w->env->server)), 0);
	cairn_test_proxy_url(w->proxy, w->url, sizeof(w->url));
	cairn_test_proxy_cut_on(w->proxy, "/v1/sync/", CAIRN_PROXY_TO_SERVER, 0);
}

/* Asserts that no request went to a /v1/sync/ route (the proxy made `cuts` cuts the test
 * armed itself, and no more), then stops the proxy. */
static void world_free_after(world *w, int cuts)
{
	assert_int_equal(cairn_test_proxy_cuts(w->proxy), cuts);
	cairn_test_proxy_stop(w->proxy);
}

static void world_free(world *w)
{
	world_free_after(w, 0);
}

static cairn_store *store_open_with(const world *w, const char *name,
	const cairn_store_options *options, cairn_remote_mode mode)
{
	char path[512];
	cairn_store *store = NULL;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, w->url, CAIRN_IT_PROJECT, CAIRN_IT_KEY,
		DATABASE, NULL, 0, NULL, mode };
	int rc;

	snprintf(path, sizeof(path), "%s/%s.db", w->env->root, name);
	rc = cairn_store_open(&store, path, options);
	if (rc != 0)
		fail_msg("cairn_store_open(%s): %d %s", path, rc, cairn_error_last());
	rc = cairn_store_set_remote(store, &remote);
	if (rc != 0)
		fail_msg("cairn_store_set_remote: %d %s", rc, cairn_error_last());
	return store;
}

static cairn_store *store_open(const world *w, const char *name)
{
	return store_open_with(w, name, NULL, CAIRN_REMOTE_APPWRITE_REST);
}

/* A top-level field of the local document (NULL-safe: fails when missing). */
static json_object *local_field(cairn_store *store, const char *collection, const char *id,
	const char *field)
{
	char *text = NULL;
	json_object *document, *value = NULL;
	int rc = cairn_doc_get(&text, store, collection, id);

	if (rc != 0)
		fail_msg("get %s/%s: %d %s", collection, id, rc, cairn_error_last());
	document = cairn_it_parse(text);
	cairn_free(text);
	if (!json_object_object_get_ex(document, field, &value))
		fail_msg("%s/%s has no field %s", collection, id, field);
	json_object_get(value);
	json_object_put(document);
	return value;
}

static int64_t local_int(cairn_store *store, const char *collection, const char *id,
	const char *field)
{
	json_object *value = local_field(store, collection, id, field);
	int64_t number = json_object_get_int64(value);

	json_object_put(value);
	return number;
}

static void assert_local_string(cairn_store *store, const char *collection, const char *id,
	const char *field, const char *expected)
{
	json_object *value = local_field(store, collection, id, field);

	assert_string_equal(json_object_get_string(value), expected);
	json_object_put(value);
}

static int has_doc(cairn_store *store, const char *collection, const char *id)
{
	char *text = NULL;
	int rc = cairn_doc_get(&text, store, collection, id);

	cairn_free(text);
	assert_true(rc == 0 || rc == CAIRN_ENOTFOUND);
	return rc == 0;
}

static void assert_converged(const world *w, cairn_store *a, cairn_store *b)
{
	static const char *const collections[] = { "items", "notes" };

	for (size_t c = 0; c < 2; c++) {
		cairn_it_assert_store_matches_server(w->env, a, DATABASE, collections[c]);
		cairn_it_assert_store_matches_server(w->env, b, DATABASE, collections[c]);
	}
	cairn_it_assert_outbox_empty(a);
	cairn_it_assert_outbox_empty(b);
}

typedef struct {
	uint64_t push_calls, push_done, push_total, pull_calls, pull_done;
} progress_seen;

static int on_progress(const cairn_sync_progress *progress, void *payload)
{
	progress_seen *seen = payload;

	if (progress->phase == CAIRN_SYNC_PHASE_PUSH) {
		seen->push_calls++;
		seen->push_done = progress->done;
		seen->push_total = progress->total;
	} else {
		seen->pull_calls++;
		seen->pull_done = progress->done;
	}
	return 0;
}

/* Two stores edit offline (creates, replaces, patches, a create-then-delete) in two
 * collections, then sync in turns: both end with exactly the server's documents. A store
 * that never wrote a collection still pulls it (the key lists the database's collections). */
static void test_integration_rest_mode__two_stores_converge(void **state)
{
	world w;
	cairn_store *a, *b;
	cairn_sync_result result;
	cairn_sync_options options = CAIRN_SYNC_OPTIONS_INIT;
	progress_seen seen = { 0 };
	char id[32], json[128], *text = NULL;

	world_init(&w, state);
	a = store_open(&w, "a");
	b = store_open(&w, "b");
	for (int i = 0; i < 30; i++) {
		snprintf(id, sizeof(id), "a%02d", i);
		snprintf(json, sizeof(json), "{\"owner\":\"a\",\"n\":%d,\"tags\":[\"x\",%d]}", i, i);
		cairn_it_put(a, i % 2 ? "items" : "notes", id, json);
	}
	cairn_it_put(a, "items", "a01", "{\"owner\":\"a\",\"replaced\":true}");
	cairn_it_patch(a, "items", "a03", "{\"patched\":1}");
	cairn_it_put(a, "items", "short", "{\"lived\":true}");
	assert_int_equal(cairn_doc_delete(a, "items", "short"), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "b%02d", i);
		cairn_it_put(b, "items", id, "{\"owner\":\"b\"}");
	}

	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 34);
	assert_int_equal(result.rejected, 0);
	options.progress = on_progress;
	options.payload = &seen;
	cairn_it_sync(&result, b, &options);
	assert_int_equal(result.pushed, 5);
	assert_int_equal(result.pulled, 30);
	/* The progress callback as in sync mode: once per pushed change, once per pull page. */
	assert_int_equal(seen.push_calls, 5);
	assert_int_equal(seen.push_done, 5);
	assert_int_equal(seen.push_total, 5);
	assert_true(seen.pull_calls >= 2);
	assert_int_equal(seen.pull_done, 30);
	/* b edits a's documents (a replace removes fields; a patch adds one). */
	cairn_it_put(b, "items", "a05", "{\"owner\":\"b now\"}");
	cairn_it_patch(b, "notes", "a04", "{\"seen\":\"by b\"}");
	cairn_it_sync(&result, b, NULL);
	assert_int_equal(result.pushed, 2);
	assert_int_equal(result.conflicts, 0);
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pulled, 7);
	assert_converged(&w, a, b);
	assert_local_string(a, "items", "a05", "owner", "b now");
	assert_local_string(a, "notes", "a04", "seen", "by b");
	assert_int_equal(cairn_doc_get(&text, b, "items", "short"), CAIRN_ENOTFOUND);
	/* A further round moves nothing: the safety window re-reads, the guard skips. */
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed + result.pulled, 0);

	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

/* Edits made while the server cannot be reached stay pending and go out later. */
static void test_integration_rest_mode__offline_edits_pushed_later(void **state)
{
	world w;
	cairn_store *a, *b;
	cairn_sync_result result;
	cairn_store_status status;

	world_init(&w, state);
	a = store_open(&w, "a");
	b = store_open(&w, "b");
	cairn_it_put(a, "items", "x", "{\"v\":1}");
	cairn_it_sync(NULL, a, NULL);
	cairn_it_sync(NULL, b, NULL);

	cairn_test_proxy_set_mode(w.proxy, CAIRN_PROXY_REFUSE);
	cairn_it_patch(a, "items", "x", "{\"v\":2}");
	cairn_it_put(a, "items", "y", "{\"v\":3}");
	assert_int_equal(cairn_doc_delete(a, "items", "x"), 0);
	cairn_it_put(a, "items", "x", "{\"v\":4,\"back\":true}");
	assert_int_equal(cairn_sync_once(&result, a, NULL), CAIRN_EOFFLINE);
	assert_int_equal(cairn_store_status_get(&status, a), 0);
	assert_int_equal(status.pending, 4);

	cairn_test_proxy_set_mode(w.proxy, CAIRN_PROXY_PASS);
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 4);
	assert_int_equal(result.conflicts, 0); /* the put after our own delete is a create */
	cairn_it_sync(&result, b, NULL);
	assert_local_string(b, "items", "y", "v", "3");
	assert_int_equal(local_int(b, "items", "x", "v"), 4);
	assert_converged(&w, a, b);

	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

/* Patches x on the server directly (another Appwrite client). */
static void server_patch(const world *w, const char *collection, const char *id,
	const char *data)
{
	char path[256], body[256];

	snprintf(path, sizeof(path), "/databases/" DATABASE "/collections/%s/documents/%s",
		collection, id);
	snprintf(body, sizeof(body), "{\"data\":%s}", data);
	cairn_it_rest_expect(w->env, "PATCH", path, body, 200);
}

/* A concurrent server edit makes the push's X-Appwrite-Timestamp stale: 409, and the
 * collection's strategy decides. lww: the later write wins either way round; server-wins:
 * the server's, even over a later local edit. Each conflict is in the ledger. */
static void test_integration_rest_mode__conflicts_follow_the_strategy(void **state)
{
	world w;
	cairn_store *a;
	cairn_sync_result result;
	json_object *ledger;

	world_init(&w, state);
	a = store_open(&w, "a");
	assert_int_equal(cairn_policy_set(a, "notes", "server-wins", NULL, 0), 0);
	assert_int_equal(cairn_policy_set(a, "tags", "merge", NULL, 0), 0);
	create_collection(w.env, "tags");
	cairn_it_put(a, "tags", "m", "{\"mine\":0,\"theirs\":0}");
	cairn_it_put(a, "items", "older", "{\"v\":\"base\"}");
	cairn_it_put(a, "items", "newer", "{\"v\":\"base\"}");
	cairn_it_put(a, "notes", "n", "{\"v\":\"base\"}");
	cairn_it_sync(NULL, a, NULL);

	/* lww, local edit first: the server's later write wins. */
	cairn_it_patch(a, "items", "older", "{\"v\":\"local\"}");
	cairn_it_sleep_ms(20);
	server_patch(&w, "items", "older", "{\"v\":\"server\"}");
	/* lww, server edit first: the later local edit wins and is re-sent. */
	server_patch(&w, "items", "newer", "{\"v\":\"server\"}");
	cairn_it_sleep_ms(20);
	cairn_it_patch(a, "items", "newer", "{\"v\":\"local\"}");
	/* server-wins, server edit first: the server's still wins. */
	server_patch(&w, "notes", "n", "{\"v\":\"server\"}");
	cairn_it_sleep_ms(20);
	cairn_it_patch(a, "notes", "n", "{\"v\":\"local\"}");
	/* merge: each side changed its own field; both survive. */
	cairn_it_patch(a, "tags", "m", "{\"mine\":1}");
	server_patch(&w, "tags", "m", "{\"theirs\":2}");

	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.conflicts, 4);
	assert_int_equal(local_int(a, "tags", "m", "mine"), 1);
	assert_int_equal(local_int(a, "tags", "m", "theirs"), 2);
	cairn_it_assert_store_matches_server(w.env, a, DATABASE, "tags");
	assert_local_string(a, "items", "older", "v", "server");
	assert_local_string(a, "items", "newer", "v", "local");
	assert_local_string(a, "notes", "n", "v", "server");
	cairn_it_assert_store_matches_server(w.env, a, DATABASE, "items");
	cairn_it_assert_store_matches_server(w.env, a, DATABASE, "notes");
	cairn_it_assert_outbox_empty(a);
	ledger = cairn_it_conflicts(a);
	assert_int_equal(json_object_array_length(ledger), 4);
	json_object_put(ledger);

	cairn_store_free(a);
	world_free(&w);
}

/* A hard delete on the server never shows in a $updatedAt pull; the id scan that runs
 * every CAIRN__REST_SCAN_EVERY (10) rounds removes the local copy. A re-created document
 * comes back. */
static void test_integration_rest_mode__server_delete_is_purged(void **state)
{
	world w;
	cairn_store *a, *b;
	char *text = NULL;
	int rounds = 0;

	world_init(&w, state);
	a = store_open(&w, "a");
	b = store_open(&w, "b");
	cairn_it_put(a, "items", "gone", "{\"v\":1}");
	cairn_it_put(a, "items", "kept", "{\"v\":2}");
	cairn_it_sync(NULL, a, NULL);
	cairn_it_sync(NULL, b, NULL);
	assert_int_equal(cairn_doc_get(&text, b, "items", "gone"), 0);
	cairn_free(text);

	cairn_it_rest_expect(w.env, "DELETE",
		"/databases/" DATABASE "/collections/items/documents/gone", NULL, 204);
	while (rounds < 10 && cairn_doc_get(&text, b, "items", "gone") == 0) {
		cairn_free(text);
		text = NULL;
		cairn_it_sync(NULL, b, NULL);
		rounds++;
	}
	assert_int_equal(cairn_doc_get(&text, b, "items", "gone"), CAIRN_ENOTFOUND);
	assert_int_equal(local_int(b, "items", "kept", "v"), 2);
	cairn_it_assert_store_matches_server(w.env, b, DATABASE, "items");

	/* Created again on the server: the new $updatedAt is past the tombstone. */
	cairn_it_rest_expect(w.env, "POST", "/databases/" DATABASE "/collections/items/documents",
		"{\"documentId\":\"gone\",\"data\":{\"v\":3}}", 201);
	cairn_it_sync(NULL, b, NULL);
	assert_int_equal(local_int(b, "items", "gone", "v"), 3);

	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

/* Sets a collection's REST checkpoint in the store file, as a server clock running ahead
 * would have left it: later writes then carry an $updatedAt "before" it. */
static void checkpoint_ahead(const world *w, const char *name, const char *collection,
	int64_t ms)
{
	char path[512], sql[256];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/%s.db", w->env->root, name);
	snprintf(sql, sizeof(sql), "UPDATE meta SET value = '%lld zzz' WHERE key = "
		"'rest_checkpoint/%s'", (long long)ms, collection);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
}

/* A write the $updatedAt pull cannot see (it lies more than the safety window before the
 * checkpoint, as after a clock that ran ahead) is found by the reconciliation scan. */
static void test_integration_rest_mode__missed_write_found_by_scan(void **state)
{
	world w;
	cairn_store *a, *b;
	int rounds = 1;

	world_init(&w, state);
	a = store_open(&w, "a");
	b = store_open(&w, "b");
	cairn_it_put(a, "items", "early", "{\"v\":1}");
	cairn_it_sync(NULL, a, NULL);
	cairn_it_sync(NULL, b, NULL);
	checkpoint_ahead(&w, "b", "items", cairn__time_now_ms() + 3600 * 1000);
	cairn_it_put(a, "items", "late", "{\"v\":2}");
	cairn_it_patch(a, "items", "early", "{\"v\":3}");
	cairn_it_sync(NULL, a, NULL);

	cairn_it_sync(NULL, b, NULL); /* round 2: a pull only, which cannot see them */
	rounds++;
	assert_false(has_doc(b, "items", "late"));
	assert_int_equal(local_int(b, "items", "early", "v"), 1);
	while (rounds < 10 && !has_doc(b, "items", "late")) {
		cairn_it_sync(NULL, b, NULL);
		rounds++;
	}
	assert_int_equal(local_int(b, "items", "late", "v"), 2);
	assert_int_equal(local_int(b, "items", "early", "v"), 3);
	cairn_it_assert_store_matches_server(w.env, b, DATABASE, "items");
	/* The scan moved the checkpoint back to what it found: the next write comes by the
	 * plain pull of the next round (round 11: not a scan round). */
	cairn_it_put(a, "items", "after", "{\"v\":4}");
	cairn_it_sync(NULL, a, NULL);
	cairn_it_sync(NULL, b, NULL);
	assert_int_equal(local_int(b, "items", "after", "v"), 4);

	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

/* 300 documents written by one bulk request (a burst of neighbouring $updatedAt values)
 * and pulled 7 at a time: none is lost at a page boundary, none is counted twice. */
static void test_integration_rest_mode__burst_paged_with_small_limit(void **state)
{
	world w;
	cairn_store *b;
	cairn_sync_options options = CAIRN_SYNC_OPTIONS_INIT;
	cairn_sync_result result;
	size_t size = 300 * 64 + 64, used = 0;
	char *body = malloc(size);

	assert_non_null(body);
	world_init(&w, state);
	used += (size_t)snprintf(body + used, size - used, "{\"documents\":[");
	for (int i = 0; i < 300; i++)
		used += (size_t)snprintf(body + used, size - used, "%s{\"$id\":\"d%03d\",\"i\":%d}",
			i ? "," : "", (i * 7919) % 300, i);
	snprintf(body + used, size - used, "]}");
	cairn_it_rest_expect(w.env, "POST", "/databases/" DATABASE "/collections/notes/documents",
		body, 201);
	free(body);

	b = store_open(&w, "b");
	options.pull_limit = 7;
	cairn_it_sync(&result, b, &options);
	assert_int_equal(result.pulled, 300);
	cairn_it_assert_store_matches_server(w.env, b, DATABASE, "notes");
	cairn_it_sync(&result, b, &options);
	assert_int_equal(result.pulled, 0);

	cairn_store_free(b);
	world_free(&w);
}

/* A change the server refuses with a 4xx (a document over its 1 MiB limit) is parked as
 * rejected; the changes before and after it go through. */
static void test_integration_rest_mode__refused_change_is_parked(void **state)
{
	world w;
	cairn_store *a, *b;
	cairn_store_options options = CAIRN_STORE_OPTIONS_INIT;
	cairn_store_status status;
	cairn_sync_result result;
	size_t size = 1200 * 1024;
	char *big = malloc(size + 32), *text = NULL;

	assert_non_null(big);
	world_init(&w, state);
	options.max_document_bytes = 2 * 1024 * 1024;
	a = store_open_with(&w, "a", &options, CAIRN_REMOTE_APPWRITE_REST);
	strcpy(big, "{\"blob\":\"");
	memset(big + strlen(big), 'z', size);
	strcpy(big + strlen("{\"blob\":\"") + size, "\"}");
	cairn_it_put(a, "items", "before", "{\"n\":1}");
	cairn_it_put(a, "items", "toobig", big);
	cairn_it_put(a, "items", "after", "{\"n\":2}");
	free(big);

	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.rejected, 1);
	assert_int_equal(result.pushed, 2);
	assert_int_equal(cairn_store_status_get(&status, a), 0);
	assert_int_equal(status.pending, 0);
	assert_int_equal(status.rejected, 1);
	b = store_open(&w, "b");
	cairn_it_sync(NULL, b, NULL);
	assert_int_equal(local_int(b, "items", "before", "n"), 1);
	assert_int_equal(local_int(b, "items", "after", "n"), 2);
	assert_int_equal(cairn_doc_get(&text, b, "items", "toobig"), CAIRN_ENOTFOUND);
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed + result.rejected, 0);

	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

/* Answers about the round, not the document, park nothing: a wrong key stops the round
 * with CAIRN_EAUTH; a collection missing on the server (REST mode creates no schema) is
 * skipped for the round, which still syncs the others and then says CAIRN_ENOTFOUND. The
 * changes stay pending and go out once the cause is fixed. */
static void test_integration_rest_mode__round_stoppers_park_nothing(void **state)
{
	world w;
	cairn_store *a;
	cairn_store_status status;
	cairn_sync_result result;
	cairn_remote wrong = { CAIRN_REMOTE_VERSION, NULL, CAIRN_IT_PROJECT, "not-the-key",
		DATABASE, NULL, 0, NULL, CAIRN_REMOTE_APPWRITE_REST };

	world_init(&w, state);
	a = store_open(&w, "a");
	wrong.url = w.url;
	cairn_it_put(a, "later", "y", "{\"v\":2}"); /* first in the outbox */
	cairn_it_put(a, "items", "x", "{\"v\":1}");
	assert_int_equal(cairn_store_set_remote(a, &wrong), 0);
	assert_int_equal(cairn_sync_once(&result, a, NULL), CAIRN_EAUTH);
	assert_int_equal(cairn_store_status_get(&status, a), 0);
	assert_int_equal(status.pending, 2);
	assert_int_equal(status.rejected, 0);

	cairn_store_free(a);
	a = store_open(&w, "a"); /* the right key again */
	/* "later" is skipped for the round; "items" still goes out. */
	assert_int_equal(cairn_sync_once(&result, a, NULL), CAIRN_ENOTFOUND);
	assert_int_equal(result.pushed, 1);
	cairn_it_assert_store_matches_server(w.env, a, DATABASE, "items");
	assert_int_equal(cairn_store_status_get(&status, a), 0);
	assert_int_equal(status.pending, 1);
	assert_int_equal(status.rejected, 0);
	create_collection(w.env, "later");
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 1);
	cairn_it_assert_store_matches_server(w.env, a, DATABASE, "later");
	cairn_it_assert_outbox_empty(a);

	cairn_store_free(a);
	world_free(&w);
}

/* Increments from two stores by read-modify-write with the timestamp precondition: all of
 * them count when the stores take turns. */
static void test_integration_rest_mode__counters_by_read_modify_write(void **state)
{
	static const char *const counters[] = { "stock" };
	world w;
	cairn_store *a, *b;

	world_init(&w, state);
	a = store_open(&w, "a");
	b = store_open(&w, "b");
	assert_int_equal(cairn_policy_set(a, "items", "lww", counters, 1), 0);
	assert_int_equal(cairn_policy_set(b, "items", "lww", counters, 1), 0);
	cairn_it_put(a, "items", "apple", "{\"name\":\"apple\"}");
	assert_int_equal(cairn_doc_increment(a, "items", "apple", "stock", 10), 0);
	cairn_it_sync(NULL, a, NULL);
	cairn_it_sync(NULL, b, NULL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cairn_doc_increment(a, "items", "apple", "stock", 1), 0);
		assert_int_equal(cairn_doc_increment(b, "items", "apple", "stock", -2), 0);
	}
	/* Each round reads the value the other store's increments left. */
	cairn_it_sync(NULL, b, NULL);
	cairn_it_sync(NULL, a, NULL);
	cairn_it_sync(NULL, b, NULL);
	assert_int_equal(local_int(a, "items", "apple", "stock"), 10 + 3 - 6);
	assert_int_equal(local_int(b, "items", "apple", "stock"), 10 + 3 - 6);
	assert_converged(&w, a, b);

	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

/* Syncs until a round succeeds (at most 3), with the reply to the request containing
 * `match` cut once; asserts the change went out once, without a conflict. */
static void sync_through_lost_reply(world *w, cairn_store *store, const char *match,
	int cuts_before)
{
	cairn_sync_result result;
	uint64_t pushed = 0, conflicts = 0;
	int rc = CAIRN_ERROR;

	cairn_test_proxy_cut_on(w->proxy, match, CAIRN_PROXY_TO_CLIENT, 0);
	for (int i = 0; i < 3 && rc != 0; i++) {
		rc = cairn_sync_once(&result, store, NULL);
		assert_true(rc == 0 || rc == CAIRN_EOFFLINE);
		pushed += result.pushed;
		conflicts += result.conflicts;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(cairn_test_proxy_cuts(w->proxy), cuts_before + 1); /* a reply was lost */
	assert_int_equal(pushed, 1);
	assert_int_equal(conflicts, 0);
}

/* A create whose reply is lost is sent again and meets document_already_exists; an update
 * whose reply is lost is sent again and meets a 409 (its precondition is now stale). Each
 * time the server holds what we sent, so it counts as applied: no conflict, no duplicate. */
static void test_integration_rest_mode__lost_replies(void **state)
{
	world w;
	cairn_store *a;
	json_object *ledger;

	world_init(&w, state);
	a = store_open(&w, "a");
	cairn_it_put(a, "items", "once", "{\"v\":1,\"list\":[1,2]}");
	sync_through_lost_reply(&w, a, "POST /v1/databases/" DATABASE
		"/collections/items/documents HTTP", 0);
	cairn_it_patch(a, "items", "once", "{\"v\":2}");
	sync_through_lost_reply(&w, a, "PATCH /v1/databases/" DATABASE
		"/collections/items/documents/once HTTP", 1);
	cairn_it_put(a, "items", "once", "{\"w\":3}");
	sync_through_lost_reply(&w, a, "PATCH /v1/databases/" DATABASE
		"/collections/items/documents/once HTTP", 2);
	ledger = cairn_it_conflicts(a);
	assert_int_equal(json_object_array_length(ledger), 0);
	json_object_put(ledger);
	cairn_it_assert_store_matches_server(w.env, a, DATABASE, "items");
	cairn_it_assert_outbox_empty(a);
	assert_int_equal(local_int(a, "items", "once", "w"), 3);

	cairn_test_proxy_cut_on(w.proxy, "/v1/sync/", CAIRN_PROXY_TO_SERVER, 0);
	cairn_it_sync(NULL, a, NULL);
	cairn_store_free(a);
	world_free_after(&w, 3);
}

/* The background replicator in REST mode: local writes go out by themselves, and a write
 * on the server arrives through a pull that its realtime event triggers. */
static void test_integration_rest_mode__background_replicator(void **state)
{
	world w;
	cairn_store *a;
	cairn_replicator *replicator = NULL;
	cairn_replicator_options options = CAIRN_REPLICATOR_OPTIONS_INIT;
	cairn_replicator_status status;
	char *text = NULL;

	world_init(&w, state);
	a = store_open(&w, "a");
	options.backoff_initial_ms = 50;
	options.backoff_max_ms = 1000;
	options.request_timeout_ms = 3000;
	assert_int_equal(cairn_replicator_start(&replicator, a, &options), 0);
	cairn_it_put(a, "items", "local", "{\"v\":1}");
	WAIT_FOR(cairn_replicator_status_get(&status, replicator) == 0 && status.pending == 0 &&
		status.pushed >= 1, "the local write to be pushed");
	WAIT_FOR(cairn_replicator_status_get(&status, replicator) == 0 && status.realtime == 1,
		"the realtime subscription");
	cairn_it_rest_expect(w.env, "POST", "/databases/" DATABASE "/collections/items/documents",
		"{\"documentId\":\"remote\",\"data\":{\"v\":2}}", 201);
	WAIT_FOR(cairn_doc_get(&text, a, "items", "remote") == 0, "the server's write to arrive");
	cairn_free(text);
	cairn_replicator_stop(replicator);
	cairn_it_assert_store_matches_server(w.env, a, DATABASE, "items");
	cairn_it_assert_outbox_empty(a);
	cairn_store_free(a);
	world_free(&w);
}

/* A sync scope narrows the REST pull (its filters go into the list queries); a new scope
 * pulls the collection again and purges what left it; documents that re-enter the scope
 * come back even though they did not change. */
static void test_integration_rest_mode__sync_scope(void **state)
{
	const char *kind_a[] = { "{\"method\":\"equal\",\"attribute\":\"kind\",\"values\":[\"a\"]}" };
	const char *kind_b[] = { "{\"method\":\"equal\",\"attribute\":\"kind\",\"values\":[\"b\"]}" };
	world w;
	cairn_store *a, *b;

	world_init(&w, state);
	a = store_open(&w, "a");
	b = store_open(&w, "b");
	cairn_it_put(a, "items", "a1", "{\"kind\":\"a\"}");
	cairn_it_put(a, "items", "a2", "{\"kind\":\"a\"}");
	cairn_it_put(a, "items", "b1", "{\"kind\":\"b\"}");
	cairn_it_sync(NULL, a, NULL);

	assert_int_equal(cairn_sync_scope_set(b, "items", kind_a, 1), 0);
	cairn_it_sync(NULL, b, NULL);
	assert_true(has_doc(b, "items", "a1") && has_doc(b, "items", "a2"));
	assert_false(has_doc(b, "items", "b1"));

	assert_int_equal(cairn_sync_scope_set(b, "items", kind_b, 1), 0);
	cairn_it_sync(NULL, b, NULL);
	assert_false(has_doc(b, "items", "a1") || has_doc(b, "items", "a2"));
	assert_true(has_doc(b, "items", "b1"));

	assert_int_equal(cairn_sync_scope_set(b, "items", NULL, 0), 0);
	cairn_it_sync(NULL, b, NULL);
	cairn_it_assert_store_matches_server(w.env, b, DATABASE, "items");
	assert_true(has_doc(b, "items", "a1"));

	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

/* The detector can fail: a store in sync mode through the same proxy does call /v1/sync/. */
static void test_integration_rest_mode__sync_mode_trips_the_detector(void **state)
{
	world w;
	cairn_store *s;
	cairn_sync_result result;

	world_init(&w, state);
	s = store_open_with(&w, "s", NULL, CAIRN_REMOTE_SYNC);
	cairn_it_put(s, "items", "x", "{\"v\":1}");
	(void)cairn_sync_once(&result, s, NULL); /* the cut request fails it; that is the point */
	assert_int_equal(cairn_test_proxy_cuts(w.proxy), 1);
	cairn_store_free(s);
	cairn_test_proxy_stop(w.proxy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_rest_mode__two_stores_converge),
		CAIRN_IT_TEST(test_integration_rest_mode__offline_edits_pushed_later),
		CAIRN_IT_TEST(test_integration_rest_mode__conflicts_follow_the_strategy),
		CAIRN_IT_TEST(test_integration_rest_mode__server_delete_is_purged),
		CAIRN_IT_TEST(test_integration_rest_mode__missed_write_found_by_scan),
		CAIRN_IT_TEST(test_integration_rest_mode__burst_paged_with_small_limit),
		CAIRN_IT_TEST(test_integration_rest_mode__refused_change_is_parked),
		CAIRN_IT_TEST(test_integration_rest_mode__round_stoppers_park_nothing),
		CAIRN_IT_TEST(test_integration_rest_mode__counters_by_read_modify_write),
		CAIRN_IT_TEST(test_integration_rest_mode__lost_replies),
		CAIRN_IT_TEST(test_integration_rest_mode__background_replicator),
		CAIRN_IT_TEST(test_integration_rest_mode__sync_scope),
		CAIRN_IT_TEST(test_integration_rest_mode__sync_mode_trips_the_detector),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
