/* partial_sync.c: partial sync end to end with the real server: stores scoped by a query get
 * only matching documents, purge what stops matching or stops being readable (a document's
 * or a collection's permissions, another user signing in) without touching the server, pick
 * up a widened scope, keep a pending edit of a purged document, and never skip a change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "support/integration.h"
#include "support/proxy.h"

#define DATABASE "shop"
#define PASSWORD "correct-horse-42"
#define EQ(n) "{\"method\":\"equal\",\"attribute\":\"storeId\",\"values\":[" #n "]}"

/* ---- helpers ---- */

static void make_database(const cairn_it_env *env)
{
	cairn_it_rest_expect(env, "POST", "/databases",
		"{\"databaseId\":\"" DATABASE "\",\"name\":\"shop\"}", 201);
}

/* `permissions` is a JSON array text. */
static void make_collection(const cairn_it_env *env, const char *id, const char *permissions,
	int document_security)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"collectionId\":\"%s\",\"name\":\"%s\",\"permissions\":%s,"
		"\"documentSecurity\":%s}", id, id, permissions, document_security ? "true" : "false");
	cairn_it_rest_expect(env, "POST", "/databases/" DATABASE "/collections", body, 201);
}

static void make_doc(const cairn_it_env *env, const char *collection, const char *id,
	const char *data, const char *permissions)
{
	char path[256];
	char body[1024];

	snprintf(path, sizeof(path), "/databases/" DATABASE "/collections/%s/documents", collection);
	snprintf(body, sizeof(body), "{\"documentId\":\"%s\",\"data\":%s%s%s}", id, data,
		permissions ? ",\"permissions\":" : "", permissions ? permissions : "");
	cairn_it_rest_expect(env, "POST", path, body, 201);
}

static void patch_doc(const cairn_it_env *env, const char *collection, const char *id,
	const char *body)
{
	char path[256];

	snprintf(path, sizeof(path), "/databases/" DATABASE "/collections/%s/documents/%s",
		collection, id);
	cairn_it_rest_expect(env, "PATCH", path, body, 200);
}

/* The server's document (GET with the key), or NULL when it does not exist. */
static json_object *server_doc(const cairn_it_env *env, const char *collection, const char *id)
{
	char path[256];
	char *reply = NULL;
	long status;
	json_object *document = NULL;

	snprintf(path, sizeof(path), "/databases/" DATABASE "/collections/%s/documents/%s",
		collection, id);
	status = cairn_it_rest(&reply, env, "GET", path, NULL);
	if (status == 200)
		document = cairn_it_parse(reply);
	else if (status != 404)
		fail_msg("GET %s: %ld %s", path, status, reply ? reply : "");
	free(reply);
	return document;
}

static int64_t field_int(json_object *object, const char *key)
{
	json_object *value = NULL;

	assert_true(json_object_object_get_ex(object, key, &value));
	return json_object_get_int64(value);
}

static cairn_store *scoped_store(const cairn_it_env *env, const char *name, const char *query)
{
	cairn_store *store = cairn_it_store_open(env, name, DATABASE);

	if (query)
		assert_int_equal(cairn_sync_scope_set(store, "orders", &query, 1), 0);
	return store;
}

static int has(cairn_store *store, const char *collection, const char *id)
{
	char *text = NULL;
	int rc = cairn_doc_get(&text, store, collection, id);

	cairn_free(text);
	if (rc != 0 && rc != CAIRN_ENOTFOUND)
		fail_msg("get %s/%s: %d %s", collection, id, rc, cairn_error_last());
	return rc == 0;
}

static size_t local_count(cairn_store *store, const char *collection)
{
	json_object *docs = cairn_it_store_docs(store, collection);
	size_t count = json_object_array_length(docs);

	json_object_put(docs);
	return count;
}

/* Rows the store ever kept of a server document, read from the file itself. */
static int64_t server_copies(cairn_store *store, const char *path, const char *collection)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t count;

	(void)store;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM server_docs WHERE "
		"collection = ?1", -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	count = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return count;
}

typedef struct {
	int purged;
	char last_id[40];
} purge_recorder;

static void on_change(const cairn_change *change, void *payload)
{
	purge_recorder *r = payload;

	if (change->source != CAIRN_CHANGE_PURGED)
		return;
	assert_true(change->deleted);
	r->purged++;
	snprintf(r->last_id, sizeof(r->last_id), "%s", change->id);
}

/* Signs up a user (no key: a guest calls POST /v1/account) and returns its $id (free it). */
static char *sign_up(const cairn_it_env *env, const char *email)
{
	char url[256];
	char body[256];
	char *reply = NULL;
	json_object *user;
	json_object *id = NULL;
	char *out;
	long status;

	snprintf(url, sizeof(url), "%s/account", env->url);
	snprintf(body, sizeof(body), "{\"userId\":\"unique()\",\"email\":\"%s\",\"password\":\""
		PASSWORD "\",\"name\":\"%s\"}", email, email);
	status = cairn_it_http(&reply, "POST", url, CAIRN_IT_PROJECT, NULL, NULL, body,
		strlen(body));
	if (status != 201)
		fail_msg("sign up %s: %ld %s", email, status, reply ? reply : "");
	user = cairn_it_parse(reply);
	free(reply);
	assert_true(json_object_object_get_ex(user, "$id", &id));
	out = strdup(json_object_get_string(id));
	json_object_put(user);
	assert_non_null(out);
	return out;
}

/* A store that syncs as a signed-in user (no API key). */
static cairn_store *user_store(const cairn_it_env *env, const char *name, const char *email,
	char *path_out, size_t path_size)
{
	cairn_remote remote = { CAIRN_REMOTE_VERSION, env->url, CAIRN_IT_PROJECT, NULL, DATABASE,
		NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	cairn_store *store = NULL;
	int rc;

	snprintf(path_out, path_size, "%s/%s.db", env->root, name);
	assert_int_equal(cairn_store_open(&store, path_out, NULL), 0);
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	rc = cairn_store_login(store, email, PASSWORD);
	if (rc != 0)
		fail_msg("login %s: %d %s", email, rc, cairn_error_last());
	return store;
}

/* ---- scopes ---- */

static void test_integration_partial_sync__scope_and_field_change(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *store;
	purge_recorder recorder = { 0 };
	json_object *document;
	uint64_t token;

	make_database(env);
	make_collection(env, "orders", "[]", 0);
	make_doc(env, "orders", "o1", "{\"storeId\":42,\"total\":10}", NULL);
	make_doc(env, "orders", "o2", "{\"storeId\":7,\"total\":20}", NULL);
	make_doc(env, "orders", "o3", "{\"storeId\":42,\"total\":30}", NULL);
	store = scoped_store(env, "till", EQ(42));
	cairn_it_sync(NULL, store, NULL);
	assert_true(has(store, "orders", "o1"));
	assert_false(has(store, "orders", "o2"));
	assert_true(has(store, "orders", "o3"));
	assert_int_equal(local_count(store, "orders"), 2);

	/* o1 moves to store 7: purged here, and still on the server. */
	assert_int_equal(cairn_store_listen(&token, store, "orders", NULL, on_change, &recorder),
		0);
	patch_doc(env, "orders", "o1", "{\"data\":{\"storeId\":7}}");
	cairn_it_sync(NULL, store, NULL);
	assert_false(has(store, "orders", "o1"));
	assert_true(has(store, "orders", "o3"));
	assert_int_equal(recorder.purged, 1);
	assert_string_equal(recorder.last_id, "o1");
	cairn_it_assert_outbox_empty(store);
	document = server_doc(env, "orders", "o1");
	assert_non_null(document);
	assert_int_equal(field_int(document, "storeId"), 7);
	assert_int_equal(field_int(document, "total"), 10);
	json_object_put(document);

	/* Back in the scope: it comes back. */
	patch_doc(env, "orders", "o1", "{\"data\":{\"storeId\":42}}");
	cairn_it_sync(NULL, store, NULL);
	assert_true(has(store, "orders", "o1"));

	/* Written here outside the scope: pushed, then purged here by the pull. */
	assert_int_equal(cairn_doc_put(store, "orders", "o9", "{\"storeId\":7,\"total\":90}"),
		0);
	cairn_it_sync(NULL, store, NULL);
	assert_false(has(store, "orders", "o9"));
	cairn_it_assert_outbox_empty(store);
	document = server_doc(env, "orders", "o9");
	assert_non_null(document);
	assert_int_equal(field_int(document, "total"), 90);
	json_object_put(document);
	assert_int_equal(cairn_store_unlisten(store, token), 0);
	cairn_store_free(store);
}

static void test_integration_partial_sync__scope_change_resyncs(void **state)
{
	cairn_it_env *env = *state;
	const char *seven = EQ(7);
	purge_recorder recorder = { 0 };
	cairn_store *store;
	json_object *server;
	uint64_t token;

	make_database(env);
	make_collection(env, "orders", "[]", 0);
	make_collection(env, "notes", "[]", 0);
	make_doc(env, "orders", "o1", "{\"storeId\":42}", NULL);
	make_doc(env, "orders", "o2", "{\"storeId\":7}", NULL);
	make_doc(env, "orders", "o3", "{\"storeId\":42}", NULL);
	make_doc(env, "notes", "n1", "{\"text\":\"hello\"}", NULL);
	store = scoped_store(env, "till", EQ(42));
	cairn_it_sync(NULL, store, NULL);
	assert_int_equal(local_count(store, "orders"), 2);

	/* Widened to everything readable: the missing document arrives, though nothing
	 * changed on the server since the last pull. */
	assert_int_equal(cairn_sync_scope_set(store, "orders", NULL, 0), 0);
	cairn_it_sync(NULL, store, NULL);
	cairn_it_assert_store_matches_server(env, store, DATABASE, "orders");

	/* Narrowed to another store: the others are purged here only, and heard as purges. */
	assert_int_equal(cairn_store_listen(&token, store, "orders", NULL, on_change, &recorder),
		0);
	assert_int_equal(cairn_sync_scope_set(store, "orders", &seven, 1), 0);
	cairn_it_sync(NULL, store, NULL);
	assert_int_equal(recorder.purged, 2);
	assert_int_equal(cairn_store_unlisten(store, token), 0);
	assert_int_equal(local_count(store, "orders"), 1);
	assert_true(has(store, "orders", "o2"));
	cairn_it_assert_outbox_empty(store);
	server = cairn_it_server_docs(env, DATABASE, "orders");
	assert_int_equal(json_object_array_length(server), 3);
	json_object_put(server);
	/* Other collections are left alone. */
	assert_true(has(store, "notes", "n1"));

	/* A second sync with nothing new does nothing more. */
	cairn_it_sync(NULL, store, NULL);
	assert_int_equal(local_count(store, "orders"), 1);
	cairn_store_free(store);
}

static void test_integration_partial_sync__no_change_skipped(void **state)
{
	cairn_it_env *env = *state;
	cairn_sync_options options = CAIRN_SYNC_OPTIONS_INIT;
	cairn_store *store;
	cairn_store *all;
	cairn_store_status status;
	cairn_store_status all_status;
	int expected = 0;

	make_database(env);
	make_collection(env, "orders", "[]", 0);
	for (int i = 0; i < 40; i++) {
		char id[16];
		char data[64];
		snprintf(id, sizeof(id), "o%02d", i);
		snprintf(data, sizeof(data), "{\"storeId\":%d,\"n\":%d}", i % 3 ? 7 : 42, i);
		make_doc(env, "orders", id, data, NULL);
	}
	store = scoped_store(env, "till", EQ(42));
	all = scoped_store(env, "office", NULL);
	/* Small pages: most of them hold purge markers, and the checkpoint walks over them. */
	options.pull_limit = 3;
	cairn_it_sync(NULL, store, &options);
	cairn_it_sync(NULL, all, &options);
	for (int i = 0; i < 40; i++)
		expected += i % 3 ? 0 : 1;
	assert_int_equal(local_count(store, "orders"), (size_t)expected);

	/* Moves in and out of the scope, new documents, a delete; pulled two at a time. */
	for (int i = 0; i < 12; i++) {
		char id[16];
		char body[64];
		snprintf(id, sizeof(id), "o%02d", i);
		snprintf(body, sizeof(body), "{\"data\":{\"storeId\":%d}}", i % 3 ? 42 : 7);
		patch_doc(env, "orders", id, body);
	}
	make_doc(env, "orders", "new42", "{\"storeId\":42}", NULL);
	make_doc(env, "orders", "new7", "{\"storeId\":7}", NULL);
	cairn_it_rest_expect(env, "DELETE",
		"/databases/" DATABASE "/collections/orders/documents/o39", NULL, 204);
	options.pull_limit = 2;
	cairn_it_sync(NULL, store, &options);
	cairn_it_sync(NULL, all, &options);
	cairn_it_assert_store_matches_server(env, all, DATABASE, "orders");
	/* Exactly the server's documents with storeId 42. */
	{
		json_object *server = cairn_it_server_docs(env, DATABASE, "orders");
		json_object *matching = json_object_new_array();

		for (size_t i = 0; i < json_object_array_length(server); i++) {
			json_object *document = json_object_array_get_idx(server, i);
			if (field_int(document, "storeId") == 42)
				json_object_array_add(matching, json_object_get(document));
		}
		assert_true(json_object_array_length(matching) > 0);
		{
			json_object *local = cairn_it_store_docs(store, "orders");
			cairn_it_assert_same_docs(matching, local, "scoped store vs server's storeId 42");
			json_object_put(local);
		}
		json_object_put(matching);
		json_object_put(server);
	}
	/* Both stores stand at the same checkpoint: purge markers count as changes. */
	assert_int_equal(cairn_store_status_get(&status, store), 0);
	assert_int_equal(cairn_store_status_get(&all_status, all), 0);
	assert_int_equal(status.checkpoint, all_status.checkpoint);
	cairn_it_assert_outbox_empty(store);
	cairn_store_free(all);
	cairn_store_free(store);
}

static void test_integration_partial_sync__resync_cut_short_runs_again(void **state)
{
	cairn_it_env *env = *state;
	cairn_sync_options options = CAIRN_SYNC_OPTIONS_INIT;
	cairn_test_proxy *proxy = NULL;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, NULL, CAIRN_IT_PROJECT, CAIRN_IT_KEY,
		DATABASE, NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	const char *seven = EQ(7);
	char url[128];
	char match[256];
	char *reply = NULL;
	json_object *page;
	cairn_store *store;
	int64_t second_page;
	int rc;

	make_database(env);
	make_collection(env, "orders", "[]", 0);
	for (int i = 1; i <= 6; i++) {
		char id[8];
		snprintf(id, sizeof(id), "o%d", i);
		make_doc(env, "orders", id, i == 6 ? "{\"storeId\":7}" : "{\"storeId\":42}", NULL);
	}
	/* Where the resync's second page of two starts. */
	assert_int_equal(cairn_it_rest(&reply, env, "POST", "/sync/databases/" DATABASE "/pull",
		"{\"checkpoint\":0,\"collections\":[\"orders\"],\"limit\":2}"), 200);
	page = cairn_it_parse(reply);
	free(reply);
	second_page = field_int(page, "checkpoint");
	json_object_put(page);

	assert_int_equal(cairn_test_proxy_start(&proxy, cairn_test_server_port(env->server)), 0);
	cairn_test_proxy_url(proxy, url, sizeof(url));
	remote.url = url;
	store = scoped_store(env, "till", NULL);
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	options.pull_limit = 2;
	cairn_it_sync(NULL, store, &options);
	assert_int_equal(local_count(store, "orders"), 6);

	/* Narrowed; the resync's second page is cut off mid-answer. */
	assert_int_equal(cairn_sync_scope_set(store, "orders", &seven, 1), 0);
	snprintf(match, sizeof(match), "{\"checkpoint\":%lld,\"limit\":2,\"maxBytes\":4194304,"
		"\"dataAsText\":true,\"collections\":[\"orders\"]", (long long)second_page);
	cairn_test_proxy_cut_on(proxy, match, CAIRN_PROXY_TO_CLIENT, 20);
	rc = cairn_sync_once(NULL, store, &options);
	assert_int_not_equal(rc, 0);
	assert_int_equal(cairn_test_proxy_cuts(proxy), 1);
	/* Nothing was swept and no fingerprint stored: the next sync resyncs in full. */
	cairn_it_sync(NULL, store, &options);
	assert_int_equal(local_count(store, "orders"), 1);
	assert_true(has(store, "orders", "o6"));
	cairn_it_sync(NULL, store, &options);
	assert_int_equal(local_count(store, "orders"), 1);
	cairn_it_assert_outbox_empty(store);
	cairn_store_free(store);
	cairn_test_proxy_stop(proxy);
}

#define WAIT_MS 30000 /* a bound for giving up, never a measurement */

/* Polls the store until `collection` holds `expected` documents; fails after WAIT_MS. */
static void wait_for_count(cairn_store *store, const char *collection, size_t expected)
{
	for (int waited = 0; local_count(store, collection) != expected; waited += 20) {
		if (waited > WAIT_MS)
			fail_msg("gave up waiting for %zu documents in %s (have %zu)", expected,
				collection, local_count(store, collection));
		cairn_it_sleep_ms(20);
	}
}

static void test_integration_partial_sync__replicator_applies_new_scope(void **state)
{
	cairn_it_env *env = *state;
	cairn_replicator_options options = CAIRN_REPLICATOR_OPTIONS_INIT;
	cairn_replicator *replicator = NULL;
	const char *seven = EQ(7);
	cairn_store *store;

	make_database(env);
	make_collection(env, "orders", "[]", 0);
	make_doc(env, "orders", "o1", "{\"storeId\":42}", NULL);
	make_doc(env, "orders", "o2", "{\"storeId\":7}", NULL);
	make_doc(env, "orders", "o3", "{\"storeId\":42}", NULL);
	store = scoped_store(env, "till", EQ(42));
	options.netlink = 0;
	assert_int_equal(cairn_replicator_start(&replicator, store, &options), 0);
	wait_for_count(store, "orders", 2);
	/* No server change and nothing to push: the scope alone makes the replicator sync. */
	assert_int_equal(cairn_sync_scope_set(store, "orders", &seven, 1), 0);
	wait_for_count(store, "orders", 1);
	assert_true(has(store, "orders", "o2"));
	cairn_replicator_stop(replicator);
	cairn_store_free(store);
}

/* ---- permissions ---- */

typedef struct {
	char *alice;
	char *bob;
} users;

static void users_free(users *u)
{
	free(u->alice);
	free(u->bob);
}

/* notes: document security; n1, n2 alice's (read + update), n3 bob's. */
static void make_notes(const cairn_it_env *env, users *u)
{
	char permissions[256];

	make_database(env);
	u->alice = sign_up(env, "alice@example.com");
	u->bob = sign_up(env, "bob@example.com");
	make_collection(env, "notes", "[\"create(\\\"users\\\")\"]", 1);
	snprintf(permissions, sizeof(permissions), "[\"read(\\\"user:%s\\\")\","
		"\"update(\\\"user:%s\\\")\"]", u->alice, u->alice);
	make_doc(env, "notes", "n1", "{\"text\":\"alice one\"}", permissions);
	make_doc(env, "notes", "n2", "{\"text\":\"alice two\"}", permissions);
	snprintf(permissions, sizeof(permissions), "[\"read(\\\"user:%s\\\")\"]", u->bob);
	make_doc(env, "notes", "n3", "{\"text\":\"bob three\"}", permissions);
}

static void test_integration_partial_sync__document_permission_revoked(void **state)
{
	cairn_it_env *env = *state;
	users u = { 0 };
	char alice_path[512], bob_path[512];
	char body[256];
	cairn_store *alice;
	cairn_store *bob;
	json_object *document;

	make_notes(env, &u);
	alice = user_store(env, "alice", "alice@example.com", alice_path, sizeof(alice_path));
	bob = user_store(env, "bob", "bob@example.com", bob_path, sizeof(bob_path));
	cairn_it_sync(NULL, alice, NULL);
	cairn_it_sync(NULL, bob, NULL);
	assert_true(has(alice, "notes", "n1"));
	assert_true(has(alice, "notes", "n2"));
	assert_false(has(alice, "notes", "n3"));
	/* Never another user's record: bob's file holds no copy of alice's documents. */
	assert_int_equal(local_count(bob, "notes"), 1);
	assert_true(has(bob, "notes", "n3"));
	assert_int_equal(server_copies(bob, bob_path, "notes"), 1);

	/* n1 is given to bob: alice purges it, bob receives it, the server keeps it. */
	snprintf(body, sizeof(body), "{\"permissions\":[\"read(\\\"user:%s\\\")\"]}", u.bob);
	patch_doc(env, "notes", "n1", body);
	cairn_it_sync(NULL, alice, NULL);
	cairn_it_sync(NULL, bob, NULL);
	assert_false(has(alice, "notes", "n1"));
	assert_int_equal(server_copies(alice, alice_path, "notes"), 1);
	assert_true(has(alice, "notes", "n2"));
	assert_true(has(bob, "notes", "n1"));
	cairn_it_assert_outbox_empty(alice);
	document = server_doc(env, "notes", "n1");
	assert_non_null(document);
	json_object_put(document);

	cairn_store_free(bob);
	cairn_store_free(alice);
	users_free(&u);
}

static void test_integration_partial_sync__collection_permission_revoked(void **state)
{
	cairn_it_env *env = *state;
	users u = { 0 };
	char path[512];
	cairn_store *alice;
	json_object *server;

	make_database(env);
	u.alice = sign_up(env, "alice@example.com");
	make_collection(env, "shared", "[\"read(\\\"users\\\")\"]", 0);
	make_doc(env, "shared", "s1", "{\"text\":\"one\"}", NULL);
	make_doc(env, "shared", "s2", "{\"text\":\"two\"}", NULL);
	alice = user_store(env, "alice", "alice@example.com", path, sizeof(path));
	cairn_it_sync(NULL, alice, NULL);
	assert_int_equal(local_count(alice, "shared"), 2);

	/* No document changes: only the collection's read permission goes. */
	cairn_it_rest_expect(env, "PUT", "/databases/" DATABASE "/collections/shared",
		"{\"name\":\"shared\",\"permissions\":[]}", 200);
	cairn_it_sync(NULL, alice, NULL);
	assert_int_equal(local_count(alice, "shared"), 0);
	assert_int_equal(server_copies(alice, path, "shared"), 0);
	cairn_it_assert_outbox_empty(alice);
	server = cairn_it_server_docs(env, DATABASE, "shared");
	assert_int_equal(json_object_array_length(server), 2);
	json_object_put(server);

	/* And given back: they return. */
	cairn_it_rest_expect(env, "PUT", "/databases/" DATABASE "/collections/shared",
		"{\"name\":\"shared\",\"permissions\":[\"read(\\\"users\\\")\"]}", 200);
	cairn_it_sync(NULL, alice, NULL);
	assert_int_equal(local_count(alice, "shared"), 2);
	cairn_store_free(alice);
	users_free(&u);
}

static void test_integration_partial_sync__pending_edit_not_lost(void **state)
{
	cairn_it_env *env = *state;
	users u = { 0 };
	char path[512];
	char body[256];
	char *outbox_text = NULL;
	cairn_store *alice;
	cairn_store_status status;
	json_object *outbox;
	json_object *entry;
	json_object *document;
	json_object *field = NULL;
	int rc;

	make_notes(env, &u);
	alice = user_store(env, "alice", "alice@example.com", path, sizeof(path));
	cairn_it_sync(NULL, alice, NULL);
	/* Offline, alice edits n2; meanwhile n2 is taken from her. */
	assert_int_equal(cairn_doc_patch(alice, "notes", "n2", "{\"text\":\"alice edited\"}"), 0);
	snprintf(body, sizeof(body), "{\"permissions\":[\"read(\\\"user:%s\\\")\","
		"\"update(\\\"user:%s\\\")\"]}", u.bob, u.bob);
	patch_doc(env, "notes", "n2", body);
	rc = cairn_sync_once(NULL, alice, NULL);
	assert_int_equal(rc, 0);
	/* Purged from the view, but the edit is parked with the server's refusal, not lost. */
	assert_false(has(alice, "notes", "n2"));
	assert_int_equal(cairn_store_status_get(&status, alice), 0);
	assert_int_equal(status.rejected, 1);
	assert_int_equal(status.pending, 0);
	assert_int_equal(cairn_outbox_list(&outbox_text, alice), 0);
	outbox = cairn_it_parse(outbox_text);
	cairn_free(outbox_text);
	assert_int_equal(json_object_array_length(outbox), 1);
	entry = json_object_array_get_idx(outbox, 0);
	assert_true(json_object_object_get_ex(entry, "documentId", &field));
	assert_string_equal(json_object_get_string(field), "n2");
	assert_true(json_object_object_get_ex(entry, "state", &field));
	assert_string_equal(json_object_get_string(field), "rejected");
	assert_true(json_object_object_get_ex(entry, "error", &field));
	assert_non_null(strstr(json_object_get_string(field), "user_unauthorized"));
	json_object_put(outbox);
	/* The server's n2 is untouched. */
	document = server_doc(env, "notes", "n2");
	assert_non_null(document);
	assert_true(json_object_object_get_ex(document, "text", &field));
	assert_string_equal(json_object_get_string(field), "alice two");
	json_object_put(document);
	cairn_store_free(alice);
	users_free(&u);
}

static void test_integration_partial_sync__other_user_signs_in(void **state)
{
	cairn_it_env *env = *state;
	users u = { 0 };
	char path[512];
	cairn_store *store;
	int rc;

	make_notes(env, &u);
	store = user_store(env, "shared-till", "alice@example.com", path, sizeof(path));
	cairn_it_sync(NULL, store, NULL);
	assert_int_equal(local_count(store, "notes"), 2);
	assert_int_equal(cairn_store_logout(store), 0);
	rc = cairn_store_login(store, "bob@example.com", PASSWORD);
	if (rc != 0)
		fail_msg("login bob: %d %s", rc, cairn_error_last());
	/* Nothing changed on the server: the identity did, and alice's copies go. */
	cairn_it_sync(NULL, store, NULL);
	assert_false(has(store, "notes", "n1"));
	assert_false(has(store, "notes", "n2"));
	assert_true(has(store, "notes", "n3"));
	assert_int_equal(server_copies(store, path, "notes"), 1);
	cairn_store_free(store);
	users_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_partial_sync__scope_and_field_change),
		CAIRN_IT_TEST(test_integration_partial_sync__scope_change_resyncs),
		CAIRN_IT_TEST(test_integration_partial_sync__no_change_skipped),
		CAIRN_IT_TEST(test_integration_partial_sync__resync_cut_short_runs_again),
		CAIRN_IT_TEST(test_integration_partial_sync__replicator_applies_new_scope),
		CAIRN_IT_TEST(test_integration_partial_sync__document_permission_revoked),
		CAIRN_IT_TEST(test_integration_partial_sync__collection_permission_revoked),
		CAIRN_IT_TEST(test_integration_partial_sync__pending_edit_not_lost),
		CAIRN_IT_TEST(test_integration_partial_sync__other_user_signs_in),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
