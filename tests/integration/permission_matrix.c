/* permission_matrix.c: permissions end to end on the real server: owner, another user, a
 * guest and the API key against get, list, create, update, upsert, delete, pull, push and
 * realtime, every cell of a table of expected outcomes checked; plus the role rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/websocket.h"
#include "support/integration.h"
#include "support/realtime_ws.h"
#include "util/json.h"

#define DOCS "/databases/main/collections/notes/documents"
#define PASSWORD "correct horse battery staple"

typedef enum { OWNER = 0, OTHER, GUEST, KEY, CALLERS } who;
static const char *const names[CALLERS] = { "owner", "other", "guest", "key" };

typedef struct {
	cairn_it_env *env;
	char user_id[CALLERS][64];   /* OWNER, OTHER */
	char token[CALLERS][1024];   /* their session tokens (X-Appwrite-Session) */
} world;

/* ---- requests as each caller ---- */

static long call(char **out, world *w, who c, const char *method, const char *path,
	const char *body)
{
	char url[512], header[1200];
	int user = c == OWNER || c == OTHER;

	snprintf(url, sizeof(url), "%s%s", w->env->url, path);
	snprintf(header, sizeof(header), "X-Appwrite-Session: %s", w->token[c]);
	return cairn_it_http(out, method, url, CAIRN_IT_PROJECT, c == KEY ? CAIRN_IT_KEY : NULL,
		user ? header : NULL, body, body ? strlen(body) : 0);
}

/* The status, asserting an Appwrite error of `type` when it is >= 400 and a type is given. */
static long call_expect(world *w, who c, const char *method, const char *path,
	const char *body, long expected, const char *type, json_object **reply)
{
	char *text = NULL;
	long status = call(&text, w, c, method, path, body);

	if (status != expected)
		fail_msg("%s %s %s as %s: status %ld, expected %ld: %s", method, path,
			body ? body : "", names[c], status, expected, text ? text : "");
	if (status >= 400)
		cairn_it_assert_error(status, text, expected, type);
	if (reply)
		*reply = text && text[0] ? cairn_it_parse(text) : NULL;
	free(text);
	return status;
}

static json_object *member(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(object));
	return value;
}

static void sign_up(world *w, who c)
{
	char body[512];
	json_object *reply = NULL;
	const char *text;

	snprintf(body, sizeof(body), "{\"userId\":\"unique()\",\"email\":\"%s@example.com\","
		"\"password\":\"" PASSWORD "\",\"name\":\"%s\"}", names[c], names[c]);
	call_expect(w, GUEST, "POST", "/account", body, 201, NULL, &reply);
	snprintf(w->user_id[c], sizeof(w->user_id[c]), "%s",
		json_object_get_string(member(reply, "$id")));
	json_object_put(reply);
	/* Server-side rendering's flow: a key creates the session and gets its token. */
	snprintf(body, sizeof(body), "{\"email\":\"%s@example.com\",\"password\":\"" PASSWORD
		"\"}", names[c]);
	call_expect(w, KEY, "POST", "/account/sessions/email", body, 201, NULL, &reply);
	text = json_object_get_string(member(reply, "secret"));
	assert_true(text && text[0]);
	snprintf(w->token[c], sizeof(w->token[c]), "%s", text);
	json_object_put(reply);
	/* The token identifies the user. */
	call_expect(w, c, "GET", "/account", NULL, 200, NULL, &reply);
	assert_string_equal(json_object_get_string(member(reply, "$id")), w->user_id[c]);
	json_object_put(reply);
}

/* A document created by the owner with no permissions (so: read/update/delete for it). */
static void owner_creates(world *w, const char *id)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"documentId\":\"%s\",\"data\":{\"title\":\"mine\","
		"\"n\":0}}", id);
	call_expect(w, OWNER, "POST", DOCS, body, 201, NULL, NULL);
}

/* 1 when the key can still get document `id`. */
static int exists(world *w, const char *id)
{
	char path[256], *text = NULL;
	long status;

	snprintf(path, sizeof(path), DOCS "/%s", id);
	status = call(&text, w, KEY, "GET", path, NULL);
	free(text);
	assert_true(status == 200 || status == 404);
	return status == 200;
}

static int64_t version_of(world *w, const char *id)
{
	char path[256];
	json_object *doc = NULL;
	int64_t version = -1;

	snprintf(path, sizeof(path), DOCS "/%s", id);
	call_expect(w, KEY, "GET", path, NULL, 200, NULL, &doc);
	assert_true(cairn__json_get_int64(doc, "$version", &version));
	json_object_put(doc);
	return version;
}

static int world_setup(void **state)
{
	world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	assert_int_equal(cairn_it_setup((void **)&w->env), 0);
	*state = w;
	call_expect(w, KEY, "POST", "/databases", "{\"databaseId\":\"main\",\"name\":\"main\"}",
		201, NULL, NULL);
	/* Users may create; everything else comes from each document's own permissions. */
	call_expect(w, KEY, "POST", "/databases/main/collections", "{\"collectionId\":\"notes\","
		"\"name\":\"notes\",\"permissions\":[\"create(\\\"users\\\")\"],"
		"\"documentSecurity\":true}", 201, NULL, NULL);
	sign_up(w, OWNER);
	sign_up(w, OTHER);
	owner_creates(w, "owned");
	call_expect(w, KEY, "POST", DOCS, "{\"documentId\":\"public\",\"data\":{\"title\":\"all\"},"
		"\"permissions\":[\"read(\\\"any\\\")\"]}", 201, NULL, NULL);
	return 0;
}

static int world_teardown(void **state)
{
	world *w = *state;
	void *env = w->env;

	cairn_it_teardown(&env);
	free(w);
	return 0;
}

/* ---- REST ---- */

/* Expected statuses by caller: owner, other, guest, key. */
static const struct {
	const char *what;
	long status[CALLERS];
	const char *type; /* of the refusals */
} rest_table[] = {
	{ "get owned", { 200, 404, 404, 200 }, "document_not_found" },
	{ "get public", { 200, 200, 200, 200 }, NULL },
	{ "create", { 201, 201, 401, 201 }, "user_unauthorized" },
	{ "update owned", { 200, 401, 401, 200 }, "user_unauthorized" },
	{ "upsert owned", { 201, 401, 401, 201 }, "user_unauthorized" },
	{ "delete", { 204, 401, 401, 204 }, "user_unauthorized" },
	{ "bulk create", { 401, 401, 401, 201 }, "general_unauthorized_scope" },
};

/* Expected list totals by caller: the owner and the key see both documents. */
static const int64_t list_total[CALLERS] = { 2, 1, 1, 2 };

static void test_integration_permission_matrix__rest(void **state)
{
	world *w = *state;
	char path[256], body[512];

	for (who c = 0; c < CALLERS; c++) {
		json_object *reply = NULL;
		int64_t total = -1;
		int has_owned = 0;

		call_expect(w, c, "GET", DOCS "/owned", NULL, rest_table[0].status[c],
			rest_table[0].type, &reply);
		if (reply && rest_table[0].status[c] == 200)
			assert_string_equal(json_object_get_string(member(reply, "title")), "mine");
		json_object_put(reply);
		call_expect(w, c, "GET", DOCS "/public", NULL, rest_table[1].status[c], NULL, NULL);

		/* List: only readable documents, and `total` counts only those. */
		call_expect(w, c, "GET", DOCS, NULL, 200, NULL, &reply);
		assert_true(cairn__json_get_int64(reply, "total", &total));
		if (total != list_total[c])
			fail_msg("list as %s: total %lld, expected %lld", names[c], (long long)total,
				(long long)list_total[c]);
		assert_int_equal(json_object_array_length(member(reply, "documents")),
			(size_t)list_total[c]);
		for (size_t i = 0; i < json_object_array_length(member(reply, "documents")); i++) {
			json_object *doc = json_object_array_get_idx(member(reply, "documents"), i);
			has_owned |= strcmp(json_object_get_string(member(doc, "$id")), "owned") == 0;
		}
		assert_int_equal(has_owned, c == OWNER || c == KEY);
		json_object_put(reply);
	}
	/* The writes, once every caller has read the same two documents. */
	for (who c = 0; c < CALLERS; c++) {
		snprintf(body, sizeof(body), "{\"documentId\":\"made-%s\",\"data\":{\"by\":\"%s\"}}",
			names[c], names[c]);
		call_expect(w, c, "POST", DOCS, body, rest_table[2].status[c], rest_table[2].type,
			NULL);
		snprintf(path, sizeof(path), "made-%s", names[c]);
		assert_int_equal(exists(w, path), rest_table[2].status[c] == 201);

		snprintf(body, sizeof(body), "{\"data\":{\"n\":%d}}", 10 + (int)c);
		call_expect(w, c, "PATCH", DOCS "/owned", body, rest_table[3].status[c],
			rest_table[3].type, NULL);
		snprintf(body, sizeof(body), "{\"data\":{\"title\":\"mine\",\"n\":%d}}", 20 + (int)c);
		call_expect(w, c, "PUT", DOCS "/owned", body, rest_table[4].status[c],
			rest_table[4].type, NULL);

		snprintf(path, sizeof(path), "victim-%s", names[c]);
		owner_creates(w, path);
		snprintf(path, sizeof(path), DOCS "/victim-%s", names[c]);
		call_expect(w, c, "DELETE", path, NULL, rest_table[5].status[c], rest_table[5].type,
			NULL);
		snprintf(path, sizeof(path), "victim-%s", names[c]);
		assert_int_equal(exists(w, path), rest_table[5].status[c] != 204);

		snprintf(body, sizeof(body), "{\"documents\":[{\"$id\":\"bulk-%s\",\"x\":1}]}",
			names[c]);
		call_expect(w, c, "POST", DOCS, body, rest_table[6].status[c], rest_table[6].type,
			NULL);
	}
	/* Refused writes changed nothing: owned carries the key's last values. */
	{
		json_object *doc = NULL;

		call_expect(w, KEY, "GET", DOCS "/owned", NULL, 200, NULL, &doc);
		assert_int_equal(json_object_get_int(member(doc, "n")), 20 + KEY);
		json_object_put(doc);
	}
}

/* Defaults and the role rule: a user's document gets read/update/delete for that user;
 * permissions may only name roles the caller holds; write() is stored expanded. */
static void test_integration_permission_matrix__roles_and_defaults(void **state)
{
	world *w = *state;
	char body[512], expected[512];
	json_object *doc = NULL;

	call_expect(w, KEY, "GET", DOCS "/owned", NULL, 200, NULL, &doc);
	snprintf(expected, sizeof(expected), "[\"read(\\\"user:%s\\\")\",\"update(\\\"user:%s\\\")\","
		"\"delete(\\\"user:%s\\\")\"]", w->user_id[OWNER], w->user_id[OWNER],
		w->user_id[OWNER]);
	assert_string_equal(json_object_to_json_string_ext(member(doc, "$permissions"),
		JSON_C_TO_STRING_PLAIN), expected);
	json_object_put(doc);

	snprintf(body, sizeof(body), "{\"documentId\":\"gift\",\"data\":{},\"permissions\":"
		"[\"read(\\\"user:%s\\\")\"]}", w->user_id[OTHER]);
	call_expect(w, OWNER, "POST", DOCS, body, 401, "user_unauthorized", NULL);
	assert_false(exists(w, "gift"));
	call_expect(w, GUEST, "PATCH", DOCS "/public", "{\"permissions\":[\"read(\\\"users\\\")\"]}",
		401, "user_unauthorized", NULL);
	/* The owner may share with roles it holds; write() becomes update + delete. */
	snprintf(body, sizeof(body), "{\"documentId\":\"shared\",\"data\":{},\"permissions\":"
		"[\"read(\\\"users\\\")\",\"write(\\\"user:%s\\\")\"]}", w->user_id[OWNER]);
	call_expect(w, OWNER, "POST", DOCS, body, 201, NULL, &doc);
	snprintf(expected, sizeof(expected), "[\"read(\\\"users\\\")\",\"update(\\\"user:%s\\\")\","
		"\"delete(\\\"user:%s\\\")\"]", w->user_id[OWNER], w->user_id[OWNER]);
	assert_string_equal(json_object_to_json_string_ext(member(doc, "$permissions"),
		JSON_C_TO_STRING_PLAIN), expected);
	json_object_put(doc);
	call_expect(w, OTHER, "GET", DOCS "/shared", NULL, 200, NULL, NULL);
	call_expect(w, GUEST, "GET", DOCS "/shared", NULL, 404, "document_not_found", NULL);
	call_expect(w, OTHER, "DELETE", DOCS "/shared", NULL, 401, "user_unauthorized", NULL);
	/* A key may name any role. */
	call_expect(w, KEY, "PATCH", DOCS "/shared", "{\"permissions\":[\"read(\\\"team:t1\\\")\"]}",
		200, NULL, NULL);
	call_expect(w, OTHER, "GET", DOCS "/shared", NULL, 404, "document_not_found", NULL);
	/* An unknown session token is refused, not taken for a guest. */
	{
		char *text = NULL;
		char url[256];
		long status;

		snprintf(url, sizeof(url), "%s" DOCS "/public", w->env->url);
		status = cairn_it_http(&text, "GET", url, CAIRN_IT_PROJECT, NULL,
			"X-Appwrite-Session: eyJpZCI6Im5vYm9keSIsInNlY3JldCI6Im5vcGUifQ==", NULL, 0);
		cairn_it_assert_error(status, text, 401, NULL);
		free(text);
	}
}

/* Without documentSecurity a document's own permissions count for nothing, and a caller
 * with no collection read cannot list at all (Appwrite: 401). */
static void test_integration_permission_matrix__collection_only(void **state)
{
	world *w = *state;
	char body[256];

	call_expect(w, KEY, "POST", "/databases/main/collections", "{\"collectionId\":\"board\","
		"\"name\":\"board\",\"permissions\":[\"read(\\\"users\\\")\",\"create(\\\"users\\\")\","
		"\"update(\\\"users\\\")\"],\"documentSecurity\":false}", 201, NULL, NULL);
	snprintf(body, sizeof(body), "{\"documentId\":\"pin\",\"data\":{\"a\":1},\"permissions\":"
		"[\"read(\\\"user:%s\\\")\",\"delete(\\\"user:%s\\\")\"]}", w->user_id[OWNER],
		w->user_id[OWNER]);
	call_expect(w, OWNER, "POST", "/databases/main/collections/board/documents", body, 201,
		NULL, NULL);
	call_expect(w, OTHER, "GET", "/databases/main/collections/board/documents/pin", NULL, 200,
		NULL, NULL);
	call_expect(w, OTHER, "PATCH", "/databases/main/collections/board/documents/pin",
		"{\"data\":{\"a\":2}}", 200, NULL, NULL);
	call_expect(w, OWNER, "DELETE", "/databases/main/collections/board/documents/pin", NULL,
		401, "user_unauthorized", NULL);
	call_expect(w, GUEST, "GET", "/databases/main/collections/board/documents", NULL, 401,
		"user_unauthorized", NULL);
	call_expect(w, GUEST, "GET", "/databases/main/collections/board/documents/pin", NULL, 404,
		"document_not_found", NULL);
	/* Admin routes stay key-only for everyone else. */
	call_expect(w, OWNER, "GET", "/databases/main/collections/board", NULL, 401,
		"general_unauthorized_scope", NULL);
}

/* ---- sync ---- */

/* Pull: does the caller receive the owner's document (with its data), the public one? */
static const int pull_sees_owned[CALLERS] = { 1, 0, 0, 1 };

static void test_integration_permission_matrix__pull(void **state)
{
	world *w = *state;

	for (who c = 0; c < CALLERS; c++) {
		json_object *reply = NULL, *changes;
		int saw_owned = 0, saw_public = 0;

		call_expect(w, c, "POST", "/sync/databases/main/pull", "{\"checkpoint\":0}", 200,
			NULL, &reply);
		changes = member(reply, "changes");
		for (size_t i = 0; i < json_object_array_length(changes); i++) {
			json_object *change = json_object_array_get_idx(changes, i);
			json_object *doc = member(change, "document");
			const char *id = json_object_get_string(member(change, "id"));

			if (!doc || json_object_get_type(doc) == json_type_null)
				continue;
			assert_string_equal(json_object_get_string(member(doc, "$id")), id);
			if (strcmp(id, "owned") == 0) {
				saw_owned = 1;
				assert_string_equal(json_object_get_string(member(doc, "title")), "mine");
			}
			saw_public |= strcmp(id, "public") == 0;
		}
		if (saw_owned != pull_sees_owned[c])
			fail_msg("pull as %s: owner's document %s", names[c], saw_owned ? "returned" :
				"missing");
		assert_true(saw_public);
		json_object_put(reply);
	}
}

/* Push outcomes by caller: "applied", or "rejected" with 401 user_unauthorized. */
static const struct {
	const char *what;
	int applied[CALLERS];
} push_table[] = {
	{ "patch owned", { 1, 0, 0, 1 } },
	{ "increment owned", { 1, 0, 0, 1 } },
	{ "put new", { 1, 1, 0, 1 } },
	{ "put over owned", { 1, 0, 0, 1 } },
	{ "delete", { 1, 0, 0, 1 } },
	{ "put with a foreign role", { 0, 0, 0, 1 } },
};

static void assert_push(world *w, who c, size_t row, const char *mutation)
{
	char body[1024];
	json_object *reply = NULL, *result;
	const char *status;

	snprintf(body, sizeof(body), "{\"clientId\":\"client-%s\",\"mutations\":[%s]}", names[c],
		mutation);
	call_expect(w, c, "POST", "/sync/databases/main/push", body, 200, NULL, &reply);
	result = json_object_array_get_idx(member(reply, "results"), 0);
	status = json_object_get_string(member(result, "status"));
	if (strcmp(status, push_table[row].applied[c] ? "applied" : "rejected") != 0)
		fail_msg("push %s as %s: %s", push_table[row].what, names[c],
			json_object_to_json_string(result));
	if (!push_table[row].applied[c]) {
		json_object *error = member(result, "error");

		assert_int_equal(json_object_get_int(member(error, "code")), 401);
		assert_string_equal(json_object_get_string(member(error, "type")),
			"user_unauthorized");
	}
	json_object_put(reply);
}

static void test_integration_permission_matrix__push(void **state)
{
	world *w = *state;
	char mutation[768], id[64];

	for (who c = 0; c < CALLERS; c++) {
		snprintf(mutation, sizeof(mutation), "{\"mutationId\":\"m1\",\"op\":\"patch\","
			"\"collection\":\"notes\",\"id\":\"owned\",\"baseVersion\":%lld,"
			"\"data\":{\"pushed\":\"%s\"}}", (long long)version_of(w, "owned"), names[c]);
		assert_push(w, c, 0, mutation);
		assert_push(w, c, 1, "{\"mutationId\":\"m2\",\"op\":\"increment\","
			"\"collection\":\"notes\",\"id\":\"owned\",\"data\":{\"n\":1}}");
		snprintf(mutation, sizeof(mutation), "{\"mutationId\":\"m3\",\"op\":\"put\","
			"\"collection\":\"notes\",\"id\":\"pushed-%s\",\"baseVersion\":0,"
			"\"data\":{\"by\":\"%s\"}}", names[c], names[c]);
		assert_push(w, c, 2, mutation);
		snprintf(id, sizeof(id), "pushed-%s", names[c]);
		assert_int_equal(exists(w, id), push_table[2].applied[c]);
		snprintf(mutation, sizeof(mutation), "{\"mutationId\":\"m4\",\"op\":\"put\","
			"\"collection\":\"notes\",\"id\":\"owned\",\"baseVersion\":%lld,"
			"\"data\":{\"title\":\"mine\",\"n\":0}}", (long long)version_of(w, "owned"));
		assert_push(w, c, 3, mutation);
		snprintf(id, sizeof(id), "pvictim-%s", names[c]);
		owner_creates(w, id);
		snprintf(mutation, sizeof(mutation), "{\"mutationId\":\"m5\",\"op\":\"delete\","
			"\"collection\":\"notes\",\"id\":\"%s\",\"baseVersion\":%lld}", id,
			(long long)version_of(w, id));
		assert_push(w, c, 4, mutation);
		assert_int_equal(exists(w, id), !push_table[4].applied[c]);
		snprintf(mutation, sizeof(mutation), "{\"mutationId\":\"m6\",\"op\":\"put\","
			"\"collection\":\"notes\",\"id\":\"foreign-%s\",\"baseVersion\":0,\"data\":{},"
			"\"permissions\":[\"read(\\\"team:t9\\\")\"]}", names[c]);
		assert_push(w, c, 5, mutation);
	}
	/* A user's pushed document got that user's defaults: the other user cannot read it. */
	call_expect(w, OWNER, "GET", DOCS "/pushed-owner", NULL, 200, NULL, NULL);
	call_expect(w, OTHER, "GET", DOCS "/pushed-owner", NULL, 404, "document_not_found", NULL);
	call_expect(w, OWNER, "GET", DOCS "/pushed-other", NULL, 404, "document_not_found", NULL);
	/* A refused mutation stays refused when replayed, even by its owner's client id. */
	{
		char body[512];
		json_object *reply = NULL, *result;

		snprintf(body, sizeof(body), "{\"clientId\":\"client-other\",\"mutations\":["
			"{\"mutationId\":\"m2\",\"op\":\"increment\",\"collection\":\"notes\","
			"\"id\":\"owned\",\"data\":{\"n\":1}}]}");
		call_expect(w, OTHER, "POST", "/sync/databases/main/push", body, 200, NULL, &reply);
		result = json_object_array_get_idx(member(reply, "results"), 0);
		assert_string_equal(json_object_get_string(member(result, "status")), "rejected");
		json_object_put(reply);
	}
}

/* The client library signed in as a user: a mutation the server refuses for permissions is
 * parked as rejected, the others go through, and the refused one changed nothing. */
static void test_integration_permission_matrix__client_parks_refusals(void **state)
{
	world *w = *state;
	cairn_remote remote = { .version = CAIRN_REMOTE_VERSION, .url = w->env->url,
		.project = CAIRN_IT_PROJECT, .api_key = NULL, .database = "main" };
	cairn_store *store = NULL;
	cairn_store_status status;
	cairn_sync_result result;
	json_object *doc = NULL;
	char path[512];

	snprintf(path, sizeof(path), "%s/other.db", w->env->root);
	assert_int_equal(cairn_store_open(&store, path, NULL), 0);
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	assert_int_equal(cairn_store_login(store, "other@example.com", PASSWORD), 0);
	assert_int_equal(cairn_doc_put(store, "notes", "mine-other", "{\"a\":1}"), 0);
	assert_int_equal(cairn_doc_put(store, "notes", "owned", "{\"title\":\"hijack\"}"), 0);
	cairn_it_sync(&result, store, NULL);
	assert_int_equal(result.pushed, 1);
	assert_int_equal(result.rejected, 1);
	assert_int_equal(cairn_store_status_get(&status, store), 0);
	assert_int_equal(status.rejected, 1);
	assert_int_equal(status.pending, 0);
	call_expect(w, KEY, "GET", DOCS "/owned", NULL, 200, NULL, &doc);
	assert_string_equal(json_object_get_string(member(doc, "title")), "mine");
	json_object_put(doc);
	call_expect(w, OTHER, "GET", DOCS "/mine-other", NULL, 200, NULL, NULL);
	call_expect(w, OWNER, "GET", DOCS "/mine-other", NULL, 404, "document_not_found", NULL);
	cairn_store_free(store);
}

/* ---- realtime ---- */

/* Connects as `c`: the owner by its session header at the upgrade, the other user by the
 * `authentication` message, the key by cairn's key form of it, the guest as it is. */
static cairn__ws *connect_as(world *w, who c)
{
	cairn__ws *ws = NULL;
	json_object *message, *data, *user;
	char text[1400];

	if (cairn__ws_connect_session(&ws, w->env->url, CAIRN_IT_PROJECT, NULL,
		c == OWNER ? w->token[c] : NULL, 10000) != 0)
		fail_msg("realtime connect: %s", cairn_error_last());
	data = cairn_it_ws_expect_type(&message, ws, "connected");
	user = member(data, "user");
	if (c == OWNER)
		assert_string_equal(json_object_get_string(member(user, "$id")), w->user_id[c]);
	else
		assert_true(json_object_get_type(user) == json_type_null);
	json_object_put(message);
	if (c == OTHER || c == KEY) {
		if (c == OTHER)
			snprintf(text, sizeof(text), "{\"type\":\"authentication\",\"data\":"
				"{\"session\":\"%s\"}}", w->token[c]);
		else
			snprintf(text, sizeof(text), "{\"type\":\"authentication\",\"data\":"
				"{\"key\":\"%s\"}}", CAIRN_IT_KEY);
		cairn_it_ws_send(ws, text);
		data = cairn_it_ws_expect_type(&message, ws, "response");
		assert_string_equal(json_object_get_string(member(data, "to")), "authentication");
		assert_true(json_object_get_boolean(member(data, "success")));
		if (c == OTHER)
			assert_string_equal(json_object_get_string(member(member(data, "user"), "$id")),
				w->user_id[c]);
		json_object_put(message);
	}
	cairn_it_ws_send(ws, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"all\","
		"\"channels\":[\"documents\"]}]}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "response"), message));
	return ws;
}

/* Realtime: which of the phase's events each caller gets, in commit order: an update of the
 * owner's document, a delete of another of its documents, an update of the public one. */
static const char *const realtime_expected[CALLERS] = {
	"owned.update rt-victim.delete public.update",
	"public.update",
	"public.update",
	"owned.update rt-victim.delete public.update",
};

static void test_integration_permission_matrix__realtime(void **state)
{
	world *w = *state;
	cairn__ws *ws[CALLERS];

	owner_creates(w, "rt-victim");
	for (who c = 0; c < CALLERS; c++)
		ws[c] = connect_as(w, c);
	call_expect(w, KEY, "PATCH", DOCS "/owned", "{\"data\":{\"phase\":\"rt\"}}", 200, NULL,
		NULL);
	call_expect(w, KEY, "DELETE", DOCS "/rt-victim", NULL, 204, NULL, NULL);
	call_expect(w, KEY, "PATCH", DOCS "/public", "{\"data\":{\"phase\":\"rt\"}}", 200, NULL,
		NULL);
	for (who c = 0; c < CALLERS; c++) {
		char seen[256] = "";

		/* Until the last event of the phase: everything before it arrived first. */
		for (;;) {
			json_object *message, *data = cairn_it_ws_expect_type(&message, ws[c], "event");
			json_object *events = member(data, "events");
			const char *first = json_object_get_string(json_object_array_get_idx(events, 0));
			const char *id = json_object_get_string(member(member(data, "payload"), "$id"));
			const char *action = strrchr(first, '.') + 1;
			int last = strcmp(id, "public") == 0;

			snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s.%s",
				seen[0] ? " " : "", id, action);
			json_object_put(message);
			if (last)
				break;
		}
		if (strcmp(seen, realtime_expected[c]) != 0)
			fail_msg("realtime as %s: got \"%s\", expected \"%s\"", names[c], seen,
				realtime_expected[c]);
	}
	/* A bad session token is an error frame, and the connection stays a guest. */
	{
		json_object *message, *data;

		cairn_it_ws_send(ws[GUEST], "{\"type\":\"authentication\",\"data\":{\"session\":\"bm9wZQ==\"}}");
		data = cairn_it_ws_expect_type(&message, ws[GUEST], "error");
		assert_int_equal(json_object_get_int(member(data, "code")), 1003);
		json_object_put(message);
		cairn_it_ws_send(ws[GUEST], "{\"type\":\"authentication\",\"data\":{\"key\":\"wrong\"}}");
		data = cairn_it_ws_expect_type(&message, ws[GUEST], "error");
		assert_int_equal(json_object_get_int(member(data, "code")), 1003);
		json_object_put(message);
		call_expect(w, KEY, "PATCH", DOCS "/owned", "{\"data\":{\"phase\":\"after\"}}", 200,
			NULL, NULL);
		call_expect(w, KEY, "PATCH", DOCS "/public", "{\"data\":{\"phase\":\"after\"}}", 200,
			NULL, NULL);
		data = cairn_it_ws_expect_type(&message, ws[GUEST], "event");
		assert_string_equal(json_object_get_string(member(member(data, "payload"), "$id")),
			"public");
		json_object_put(message);
	}
	for (who c = 0; c < CALLERS; c++)
		cairn__ws_free(ws[c]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_integration_permission_matrix__rest,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_integration_permission_matrix__roles_and_defaults,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_integration_permission_matrix__collection_only,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_integration_permission_matrix__pull,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_integration_permission_matrix__push,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_integration_permission_matrix__realtime,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_integration_permission_matrix__client_parks_refusals,
			world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
