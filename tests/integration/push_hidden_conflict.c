/* push_hidden_conflict.c: a push that loses a version race on a document the caller may
 * update (or delete) but not read is told it lost (a conflict with the current version and
 * clock) without the document's data; a caller who may read it gets the document. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/integration.h"
#include "util/json.h"

#define DOCS "/databases/main/collections/notes/documents"
#define PASSWORD "correct horse battery staple"

typedef struct {
	cairn_it_env *env;
	char user_id[64];
	char token[1024];
} world;

static json_object *member(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(object));
	return value;
}

/* As the user (`user`) or with the API key; asserts the status; *reply_text (optional) gets
 * the body. */
static json_object *call(world *w, int user, const char *method, const char *path,
	const char *body, long expected, char **reply_text)
{
	char url[512], header[1200], *text = NULL;
	json_object *reply;
	long status;

	snprintf(url, sizeof(url), "%s%s", w->env->url, path);
	snprintf(header, sizeof(header), "X-Appwrite-Session: %s", w->token);
	status = cairn_it_http(&text, method, url, CAIRN_IT_PROJECT, user ? NULL : CAIRN_IT_KEY,
		user ? header : NULL, body, body ? strlen(body) : 0);
	if (status != expected)
		fail_msg("%s %s: status %ld, expected %ld: %s", method, path, status, expected,
			text ? text : "");
	reply = text && text[0] ? cairn_it_parse(text) : NULL;
	if (reply_text)
		*reply_text = text;
	else
		free(text);
	return reply;
}

static int world_setup(void **state)
{
	world *w = calloc(1, sizeof(*w));
	json_object *reply;

	assert_non_null(w);
	assert_int_equal(cairn_it_setup((void **)&w->env), 0);
	*state = w;
	json_object_put(call(w, 0, "POST", "/databases", "{\"databaseId\":\"main\","
		"\"name\":\"main\"}", 201, NULL));
	json_object_put(call(w, 0, "POST", "/databases/main/collections", "{\"collectionId\":"
		"\"notes\",\"name\":\"notes\",\"permissions\":[\"create(\\\"users\\\")\"],"
		"\"documentSecurity\":true}", 201, NULL));
	reply = call(w, 0, "POST", "/account", "{\"userId\":\"unique()\",\"email\":"
		"\"u@example.com\",\"password\":\"" PASSWORD "\"}", 201, NULL);
	snprintf(w->user_id, sizeof(w->user_id), "%s", json_object_get_string(member(reply,
		"$id")));
	json_object_put(reply);
	reply = call(w, 0, "POST", "/account/sessions/email", "{\"email\":\"u@example.com\","
		"\"password\":\"" PASSWORD "\"}", 201, NULL);
	snprintf(w->token, sizeof(w->token), "%s", json_object_get_string(member(reply,
		"secret")));
	json_object_put(reply);
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

/* Creates `id` with the key: user data {"secret": "s3cret-<id>"} and, for the user, the
 * actions in `actions` ("update", "update\",\"delete"...). Returns its version after the key
 * changed it once more (so a push based on the first version conflicts). */
static int64_t create_and_move(world *w, const char *id, const char *const *actions,
	size_t action_count, int64_t *first_version)
{
	char body[1024];
	size_t used;
	json_object *doc;
	int64_t version = -1;

	used = (size_t)snprintf(body, sizeof(body), "{\"documentId\":\"%s\",\"data\":{\"secret\":"
		"\"s3cret-%s\"},\"permissions\":[", id, id);
	for (size_t i = 0; i < action_count; i++)
		used += (size_t)snprintf(body + used, sizeof(body) - used, "%s\"%s(\\\"user:%s\\\")\"",
			i ? "," : "", actions[i], w->user_id);
	snprintf(body + used, sizeof(body) - used, "]}");
	doc = call(w, 0, "POST", DOCS, body, 201, NULL);
	assert_true(cairn__json_get_int64(doc, "$version", first_version));
	json_object_put(doc);
	snprintf(body, sizeof(body), DOCS "/%s", id);
	doc = call(w, 0, "PATCH", body, "{\"data\":{\"secret\":\"s3cret-moved\"}}", 200, NULL);
	assert_true(cairn__json_get_int64(doc, "$version", &version));
	json_object_put(doc);
	return version;
}

/* Pushes one mutation as the user; returns its result (owned by *reply) and the reply text. */
static json_object *push(world *w, const char *mutation, json_object **reply, char **text)
{
	char body[1024];

	snprintf(body, sizeof(body), "{\"clientId\":\"client-u\",\"mutations\":[%s]}", mutation);
	*reply = call(w, 1, "POST", "/sync/databases/main/push", body, 200, text);
	return json_object_array_get_idx(member(*reply, "results"), 0);
}

static void assert_hidden_conflict(json_object *result, const char *text, int64_t version)
{
	json_object *current;
	int64_t got = -1;

	assert_string_equal(json_object_get_string(member(result, "status")), "conflict");
	current = member(result, "current");
	assert_true(cairn__json_get_int64(current, "version", &got));
	assert_true(got == version);
	assert_true(json_object_get_type(member(current, "document")) == json_type_null);
	assert_false(json_object_get_boolean(member(current, "readable")));
	assert_false(json_object_get_boolean(member(current, "deleted")));
	if (strstr(text, "s3cret"))
		fail_msg("the conflict shows data the caller may not read: %s", text);
}

static void test_integration_push_hidden_conflict__update_without_read(void **state)
{
	world *w = *state;
	const char *const actions[] = { "update" };
	json_object *reply, *result;
	int64_t first, version = create_and_move(w, "blind", actions, 1, &first);
	char mutation[512], *text = NULL;

	snprintf(mutation, sizeof(mutation), "{\"mutationId\":\"m1\",\"op\":\"patch\","
		"\"collection\":\"notes\",\"id\":\"blind\",\"baseVersion\":%lld,"
		"\"data\":{\"mine\":1}}", (long long)first);
	result = push(w, mutation, &reply, &text);
	assert_hidden_conflict(result, text, version);
	json_object_put(reply);
	free(text);
	/* Rebased on the version it was told, the write goes through (update is allowed). */
	snprintf(mutation, sizeof(mutation), "{\"mutationId\":\"m2\",\"op\":\"patch\","
		"\"collection\":\"notes\",\"id\":\"blind\",\"baseVersion\":%lld,"
		"\"data\":{\"mine\":2}}", (long long)version);
	result = push(w, mutation, &reply, &text);
	assert_string_equal(json_object_get_string(member(result, "status")), "applied");
	json_object_put(reply);
	free(text);
}

static void test_integration_push_hidden_conflict__delete_without_read(void **state)
{
	world *w = *state;
	const char *const actions[] = { "delete" };
	json_object *reply, *result;
	int64_t first, version = create_and_move(w, "blind-delete", actions, 1, &first);
	char mutation[512], *text = NULL;

	snprintf(mutation, sizeof(mutation), "{\"mutationId\":\"m1\",\"op\":\"delete\","
		"\"collection\":\"notes\",\"id\":\"blind-delete\",\"baseVersion\":%lld}",
		(long long)first);
	result = push(w, mutation, &reply, &text);
	assert_hidden_conflict(result, text, version);
	json_object_put(reply);
	free(text);
}

static void test_integration_push_hidden_conflict__reader_sees_document(void **state)
{
	world *w = *state;
	const char *const actions[] = { "read", "update" };
	json_object *reply, *result, *current;
	int64_t first;
	char mutation[512], *text = NULL;

	create_and_move(w, "seen", actions, 2, &first);
	snprintf(mutation, sizeof(mutation), "{\"mutationId\":\"m1\",\"op\":\"patch\","
		"\"collection\":\"notes\",\"id\":\"seen\",\"baseVersion\":%lld,"
		"\"data\":{\"mine\":1}}", (long long)first);
	result = push(w, mutation, &reply, &text);
	assert_string_equal(json_object_get_string(member(result, "status")), "conflict");
	current = member(result, "current");
	assert_string_equal(json_object_get_string(member(member(current, "document"),
		"secret")), "s3cret-moved");
	assert_false(json_object_object_get_ex(current, "readable", NULL));
	json_object_put(reply);
	free(text);
}

/* The client library: a delete that meets a document it may no longer read is not taken as
 * "both sides deleted it": by last-write-wins the later local delete wins and is applied. */
static void test_integration_push_hidden_conflict__client_delete_still_wins(void **state)
{
	world *w = *state;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, NULL, NULL, NULL, NULL, NULL, 0, NULL,
		CAIRN_REMOTE_SYNC };
	const char *const actions[] = { "read", "delete" };
	cairn_store *store = NULL;
	cairn_sync_result result;
	char path[512], body[512];
	int64_t first;

	snprintf(path, sizeof(path), "%s/client.db", w->env->root);
	assert_int_equal(cairn_store_open(&store, path, NULL), 0);
	remote.url = w->env->url;
	remote.project = CAIRN_IT_PROJECT;
	remote.database = "main";
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	assert_int_equal(cairn_store_login(store, "u@example.com", PASSWORD), 0);
	/* The user reads the document once; then the key takes its read away and changes it. */
	create_and_move(w, "shared", actions, 2, &first);
	cairn_it_sync(&result, store, NULL);
	assert_int_equal(result.pulled, 1);
	snprintf(body, sizeof(body), "{\"data\":{\"secret\":\"s3cret-again\"},"
		"\"permissions\":[\"delete(\\\"user:%s\\\")\"]}", w->user_id);
	json_object_put(call(w, 0, "PATCH", DOCS "/shared", body, 200, NULL));
	cairn_it_sleep_ms(5); /* ordering: the local delete is the later write */
	assert_int_equal(cairn_doc_delete(store, "notes", "shared"), 0);
	cairn_it_sync(&result, store, NULL);
	cairn_it_sync(&result, store, NULL);
	json_object_put(call(w, 0, "GET", DOCS "/shared", NULL, 404, NULL));
	cairn_it_assert_outbox_empty(store);
	cairn_store_free(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_integration_push_hidden_conflict__update_without_read, world_setup,
			world_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_push_hidden_conflict__delete_without_read, world_setup,
			world_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_push_hidden_conflict__reader_sees_document, world_setup,
			world_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_push_hidden_conflict__client_delete_still_wins, world_setup,
			world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
