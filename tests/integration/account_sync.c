/* account_sync.c: a store signed in as a user (cairn_store_login, src/client/session.c)
 * against the real server: its requests carry the session, it syncs without an API key,
 * and logout ends the session on the server and locally (also when offline). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "cairn.h"
#include "net/websocket.h"
#include "support/integration.h"
#include "support/realtime_ws.h"
#include "util/json.h"

#define DATABASE "notes"
#define COLLECTION "items"
#define PASSWORD "correct horse battery"

static void sign_up(const cairn_it_env *env, const char *id, const char *email)
{
	char url[256], body[256];
	long status;

	snprintf(url, sizeof(url), "%s/account", env->url);
	snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"email\":\"%s\",\"password\":\""
		PASSWORD "\"}", id, email);
	status = cairn_it_http(NULL, "POST", url, CAIRN_IT_PROJECT, NULL, NULL, body,
		strlen(body));
	assert_int_equal(status, 201);
}

/* Database and collection made by the admin (key): users may create and read. */
static void make_collection(const cairn_it_env *env)
{
	assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases",
		"{\"databaseId\":\"" DATABASE "\",\"name\":\"Notes\"}"), 201);
	assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases/" DATABASE "/collections",
		"{\"collectionId\":\"" COLLECTION "\",\"name\":\"Items\",\"permissions\":["
		"\"create(\\\"users\\\")\",\"read(\\\"users\\\")\",\"update(\\\"users\\\")\"],"
		"\"documentSecurity\":false}"), 201);
}

/* A store pointed at the server WITHOUT an API key. */
static cairn_store *open_keyless(const cairn_it_env *env, const char *name)
{
	cairn_remote remote = { CAIRN_REMOTE_VERSION, NULL, NULL, NULL, NULL, NULL, 0, NULL,
		CAIRN_REMOTE_SYNC };
	char path[512];
	cairn_store *store = NULL;

	snprintf(path, sizeof(path), "%s/%s.db", env->root, name);
	assert_int_equal(cairn_store_open(&store, path, NULL), 0);
	remote.url = env->url;
	remote.project = CAIRN_IT_PROJECT;
	remote.database = DATABASE;
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	return store;
}

/* The token the store keeps (read from its file, as an attacker with the file could). */
static char *stored_token(const cairn_it_env *env, const char *name)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	char *token = NULL;

	snprintf(path, sizeof(path), "%s/%s.db", env->root, name);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = "
		"'session_token'", -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
		token = strdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return token;
}

/* GET /account with the token: the HTTP status. */
static long account_status(const cairn_it_env *env, const char *token)
{
	char url[256];
	char header[2048];

	snprintf(url, sizeof(url), "%s/account", env->url);
	snprintf(header, sizeof(header), "X-Appwrite-Session: %s", token);
	return cairn_it_http(NULL, "GET", url, CAIRN_IT_PROJECT, NULL, header, NULL, 0);
}

static void test_integration_account__login_and_sync_as_user(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *store;
	cairn_sync_result result;
	char *email = NULL;
	char *token;
	char *body = NULL;

	sign_up(env, "ana", "ana@example.com");
	make_collection(env);
	store = open_keyless(env, "ana");
	assert_int_equal(cairn_store_session_email(&email, store), 0);
	assert_null(email);

	assert_int_equal(cairn_store_login(store, "ana@example.com", "wrong password"),
		CAIRN_EAUTH);
	assert_null(stored_token(env, "ana"));
	assert_int_equal(cairn_store_login(store, "ana@example.com", PASSWORD), 0);
	assert_int_equal(cairn_store_session_email(&email, store), 1);
	assert_string_equal(email, "ana@example.com");
	cairn_free(email);
	token = stored_token(env, "ana");
	assert_non_null(token);
	assert_int_equal(account_status(env, token), 200);

	/* sync as ana, with no API key: the push is accepted and the document is on the
	 * server */
	assert_int_equal(cairn_doc_put(store, COLLECTION, "n1", "{\"text\":\"hello\"}"), 0);
	memset(&result, 0, sizeof(result));
	if (cairn_sync_once(&result, store, NULL) != 0)
		fail_msg("sync as a user: %s", cairn_error_last());
	assert_int_equal(result.pushed, 1);
	assert_int_equal(result.rejected, 0);
	assert_int_equal(cairn_it_rest(&body, env, "GET", "/databases/" DATABASE "/collections/"
		COLLECTION "/documents/n1", NULL), 200);
	assert_non_null(strstr(body, "hello"));
	free(body);

	/* logout ends the session on the server too */
	assert_int_equal(cairn_store_logout(store), 0);
	assert_int_equal(account_status(env, token), 401);
	assert_null(stored_token(env, "ana"));
	assert_int_equal(cairn_store_session_email(&email, store), 0);
	/* signed out, without a key: the next push is not accepted as ana's */
	assert_int_equal(cairn_doc_put(store, COLLECTION, "n2", "{\"text\":\"anon\"}"), 0);
	memset(&result, 0, sizeof(result));
	(void)cairn_sync_once(&result, store, NULL);
	assert_int_equal(result.pushed, 0);
	assert_int_equal(cairn_it_rest(NULL, env, "GET", "/databases/" DATABASE "/collections/"
		COLLECTION "/documents/n2", NULL), 404);
	free(token);
	cairn_store_free(store);
}

static void test_integration_account__logout_offline(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *store;
	char *token;

	sign_up(env, "bo", "bo@example.com");
	store = open_keyless(env, "bo");
	assert_int_equal(cairn_store_login(store, "bo@example.com", PASSWORD), 0);
	token = stored_token(env, "bo");
	assert_non_null(token);
	cairn_it_server_kill(env);
	/* the server is gone: forgotten locally anyway, and the code says the server was not
	 * told */
	assert_int_equal(cairn_store_logout(store), CAIRN_EOFFLINE);
	assert_null(stored_token(env, "bo"));
	assert_int_equal(cairn_store_logout(store), 0); /* nothing left to do */
	/* the server still knows the session until it expires */
	cairn_it_server_restart(env);
	cairn_it_store_set_remote(env, store, DATABASE);
	assert_int_equal(account_status(env, token), 200);
	/* a login while the server is down fails offline and stores nothing (and pointing
	 * the store at another server forgets a session: checked below) */
	cairn_it_server_kill(env);
	assert_int_equal(cairn_store_login(store, "bo@example.com", PASSWORD), CAIRN_EOFFLINE);
	assert_null(stored_token(env, "bo"));
	cairn_it_server_restart(env);
	free(token);
	cairn_store_free(store);
}

static void test_integration_account__missing_collection_without_key(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *store;
	cairn_sync_result result;
	int rc;

	sign_up(env, "cy", "cy@example.com");
	make_collection(env);
	store = open_keyless(env, "cy");
	assert_int_equal(cairn_store_login(store, "cy@example.com", PASSWORD), 0);
	/* no key: the store does not try to create "ghosts"; the server's refusal comes back */
	assert_int_equal(cairn_doc_put(store, "ghosts", "g1", "{\"a\":1}"), 0);
	memset(&result, 0, sizeof(result));
	rc = cairn_sync_once(&result, store, NULL);
	assert_true(rc != 0 || result.rejected == 1);
	assert_int_equal(result.pushed, 0);
	assert_int_equal(cairn_it_rest(NULL, env, "GET", "/databases/" DATABASE "/collections/"
		"ghosts", NULL), 404);
	cairn_store_free(store);
}

static void test_integration_account__session_ended_elsewhere(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *store;
	char url[256], header[2048];
	char *token;

	sign_up(env, "di", "di@example.com");
	make_collection(env);
	store = open_keyless(env, "di");
	assert_int_equal(cairn_store_login(store, "di@example.com", PASSWORD), 0);
	assert_int_equal(cairn_sync_once(NULL, store, NULL), 0);
	/* "log out everywhere" from another device */
	token = stored_token(env, "di");
	assert_non_null(token);
	snprintf(url, sizeof(url), "%s/account/sessions", env->url);
	snprintf(header, sizeof(header), "X-Appwrite-Session: %s", token);
	assert_int_equal(cairn_it_http(NULL, "DELETE", url, CAIRN_IT_PROJECT, NULL, header, "{}",
		2), 204);
	assert_int_equal(cairn_sync_once(NULL, store, NULL), CAIRN_EAUTH);
	assert_non_null(strstr(cairn_error_last(), "Invalid token"));
	/* logging in again fixes it */
	assert_int_equal(cairn_store_login(store, "di@example.com", PASSWORD), 0);
	assert_int_equal(cairn_sync_once(NULL, store, NULL), 0);
	free(token);
	cairn_store_free(store);
}

/* The first realtime message ("connected") of a connection opened with `token` (or none):
 * the $id of its `user`, or NULL for a guest. malloc'd. */
static char *realtime_user(const cairn_it_env *env, const char *token)
{
	cairn__ws *ws = NULL;
	json_object *message = NULL, *data = NULL, *user = NULL;
	const char *id = NULL;
	char *out = NULL;

	if (cairn__ws_connect_session(&ws, env->url, CAIRN_IT_PROJECT, NULL, token, 10000) != 0)
		fail_msg("realtime connect: %s", cairn_error_last());
	data = cairn_it_ws_expect_type(&message, ws, "connected");
	assert_non_null(data);
	if (json_object_object_get_ex(data, "user", &user) && user &&
		cairn__json_get_string(user, "$id", &id))
		out = strdup(id);
	json_object_put(message);
	cairn__ws_free(ws);
	return out;
}

static void test_integration_account__realtime_upgrade_carries_the_session(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *store;
	char *token, *user;

	sign_up(env, "ed", "ed@example.com");
	store = open_keyless(env, "ed");
	assert_int_equal(cairn_store_login(store, "ed@example.com", PASSWORD), 0);
	token = stored_token(env, "ed");
	assert_non_null(token);
	user = realtime_user(env, token);
	assert_non_null(user);
	assert_string_equal(user, "ed");
	free(user);
	assert_null(realtime_user(env, NULL)); /* no session: a guest */
	assert_int_equal(cairn_store_logout(store), 0);
	assert_null(realtime_user(env, token)); /* ended: a guest again */
	free(token);
	cairn_store_free(store);
}

static void test_integration_account__new_remote_forgets_the_session(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *store;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, NULL, CAIRN_IT_PROJECT, NULL, DATABASE,
		NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	char *email = NULL;
	char other[160];

	sign_up(env, "fay", "fay@example.com");
	store = open_keyless(env, "fay");
	assert_int_equal(cairn_store_login(store, "fay@example.com", PASSWORD), 0);
	/* the same remote again (a new API key, say): still signed in */
	remote.url = env->url;
	remote.api_key = "some-key";
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	assert_int_equal(cairn_store_session_email(&email, store), 1);
	cairn_free(email);
	/* another server: the token must never go there */
	snprintf(other, sizeof(other), "%s", env->url);
	other[strlen(other) - 4] = '\0'; /* drop "/v1": another base URL */
	strcat(other, "/other/v1");
	remote.url = other;
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	assert_int_equal(cairn_store_session_email(&email, store), 0);
	assert_null(stored_token(env, "fay"));
	/* another project on the same server: likewise */
	remote.url = env->url;
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	assert_int_equal(cairn_store_login(store, "fay@example.com", PASSWORD), 0);
	remote.project = "another-project";
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	assert_null(stored_token(env, "fay"));
	cairn_store_free(store);
}

static void test_integration_account__no_remote(void **state)
{
	cairn_it_env *env = *state;
	char path[512];
	cairn_store *store = NULL;

	snprintf(path, sizeof(path), "%s/lonely.db", env->root);
	assert_int_equal(cairn_store_open(&store, path, NULL), 0);
	assert_int_equal(cairn_store_login(store, "a@example.com", PASSWORD), CAIRN_ENOREMOTE);
	assert_int_equal(cairn_store_login(store, "", PASSWORD), CAIRN_EINVALID);
	assert_int_equal(cairn_store_login(store, "a@example.com", NULL), CAIRN_EINVALID);
	assert_int_equal(cairn_store_logout(store), 0);
	cairn_store_free(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_account__login_and_sync_as_user),
		CAIRN_IT_TEST(test_integration_account__logout_offline),
		CAIRN_IT_TEST(test_integration_account__missing_collection_without_key),
		CAIRN_IT_TEST(test_integration_account__session_ended_elsewhere),
		CAIRN_IT_TEST(test_integration_account__realtime_upgrade_carries_the_session),
		CAIRN_IT_TEST(test_integration_account__new_remote_forgets_the_session),
		CAIRN_IT_TEST(test_integration_account__no_remote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
