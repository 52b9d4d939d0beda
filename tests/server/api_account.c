/* api_account.c: tests of the account routes (src/server/api_account.c) and of caller
 * resolution (api_caller.c) over a real SQLite storage: sign-up, sessions by cookie,
 * X-Appwrite-Session and X-Fallback-Cookies, logout, expiry, bad tokens, rate limits. */
#include "server/api_harness.h"

#include <sqlite3.h>
#include <time.h>

#include "server/account.h"
#include "server/api_int.h"

#define PASSWORD "correct horse battery"
#define COOKIE_NAME "a_session_" HARNESS_PROJECT

/* A reply with the response headers too. */
typedef struct {
	api_reply reply;
	char *cookies[4];      /* Set-Cookie values */
	size_t cookie_count;
	char *fallback;        /* X-Fallback-Cookies, or NULL */
} full_reply;

static void full_free(full_reply *r)
{
	reply_free(&r->reply);
	for (size_t i = 0; i < r->cookie_count; i++)
		free(r->cookies[i]);
	free(r->fallback);
	memset(r, 0, sizeof(*r));
}

static int next_tls; /* the next request comes "over TLS" (then resets) */

/* Sends a request from `peer` with the project header, an optional API key, and up to two
 * more headers (name/value, NULL for none). */
static full_reply send_request(harness *h, const char *peer, const char *method,
	const char *path, const char *body, int with_key, const char *name, const char *value)
{
	cairn_http_request request;
	cairn_http_response response;
	full_reply out;

	memset(&request, 0, sizeof(request));
	memset(&response, 0, sizeof(response));
	memset(&out, 0, sizeof(out));
	request.method = method;
	request.path = path;
	request.query = "";
	request.peer = peer;
	request.tls = next_tls;
	next_tls = 0;
	request.headers[request.header_count++] = (cairn_http_header){ "x-appwrite-project",
		HARNESS_PROJECT };
	request.headers[request.header_count++] = (cairn_http_header){ "content-type",
		"application/json" };
	if (with_key)
		request.headers[request.header_count++] = (cairn_http_header){ "x-appwrite-key",
			HARNESS_KEY };
	if (name)
		request.headers[request.header_count++] = (cairn_http_header){ name, value };
	request.body = body;
	request.body_length = body ? strlen(body) : 0;
	cairn__api_handle(h->api, &request, &response);
	out.reply.status = response.status;
	if (response.content_type)
		out.reply.content_type = strdup(response.content_type);
	if (response.body) {
		out.reply.body = strndup(response.body, response.body_length);
		if (response.content_type && strstr(response.content_type, "application/json"))
			out.reply.json = cairn__json_parse(response.body, response.body_length, 64);
	}
	for (size_t i = 0; i < response.extra_header_count; i++) {
		const cairn_http_header *header = &response.extra_headers[i];
		if (strcasecmp(header->name, "set-cookie") == 0 && out.cookie_count < 4)
			out.cookies[out.cookie_count++] = strdup(header->value);
		else if (strcasecmp(header->name, "x-fallback-cookies") == 0)
			out.fallback = strdup(header->value);
	}
	cairn__http_response_clear(&response);
	return out;
}

static full_reply guest(harness *h, const char *method, const char *path, const char *body)
{
	return send_request(h, "10.0.0.1", method, path, body, 0, NULL, NULL);
}

static harness *open_fast(void)
{
	harness *h = harness_open();
	cairn_api_account_options options = { 0 };

	options.fast_password_hash = 1;
	assert_int_equal(cairn__api_set_account_options(h->api, &options), 0);
	return h;
}

static void sign_up(harness *h, const char *id, const char *email)
{
	char body[256];
	full_reply r;

	snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"email\":\"%s\",\"password\":\""
		PASSWORD "\",\"name\":\"Ana\"}", id, email);
	r = guest(h, "POST", "/v1/account", body);
	assert_status(&r.reply, 201);
	full_free(&r);
}

/* Logs in from `peer` and returns the session token (from the fallback header). */
static char *log_in_from(harness *h, const char *peer, const char *email)
{
	char body[256];
	full_reply r;
	json_object *map;
	const char *token;
	char *copy;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"" PASSWORD "\"}", email);
	r = send_request(h, peer, "POST", "/v1/account/sessions/email", body, 0, NULL, NULL);
	assert_status(&r.reply, 201);
	assert_non_null(r.fallback);
	map = cairn__json_parse(r.fallback, strlen(r.fallback), 4);
	assert_non_null(map);
	token = json_str(map, COOKIE_NAME);
	assert_non_null(token);
	copy = strdup(token);
	json_object_put(map);
	full_free(&r);
	return copy;
}

static char *log_in(harness *h, const char *email)
{
	return log_in_from(h, "10.0.0.1", email);
}

/* GET /v1/account with the token in header `name` (formatted into `value_format`). */
static full_reply account_with(harness *h, const char *name, const char *value_format,
	const char *token)
{
	char value[4096];

	snprintf(value, sizeof(value), value_format, token);
	return send_request(h, "10.0.0.1", "GET", "/v1/account", NULL, 0, name, value);
}

static void test_server_account__sign_up(void **state)
{
	harness *h = open_fast();
	full_reply r;

	(void)state;
	r = guest(h, "POST", "/v1/account", "{\"userId\":\"ana\",\"email\":\"Ana@Example.COM\","
		"\"password\":\"" PASSWORD "\",\"name\":\"Ana\"}");
	assert_status(&r.reply, 201);
	assert_string_equal(json_str(r.reply.json, "$id"), "ana");
	assert_string_equal(json_str(r.reply.json, "email"), "ana@example.com");
	assert_string_equal(json_str(r.reply.json, "name"), "Ana");
	assert_true(json_object_get_boolean(json_get(r.reply.json, "status")));
	assert_non_null(json_str(r.reply.json, "$createdAt"));
	assert_null(json_get(r.reply.json, "password"));
	assert_null(strstr(r.reply.body, "argon2"));
	full_free(&r);

	/* unique() picks an id; a name is optional */
	r = guest(h, "POST", "/v1/account", "{\"userId\":\"unique()\",\"email\":\"bo@example.com\","
		"\"password\":\"" PASSWORD "\"}");
	assert_status(&r.reply, 201);
	assert_int_equal(strlen(json_str(r.reply.json, "$id")), 20);
	assert_string_equal(json_str(r.reply.json, "name"), "");
	full_free(&r);
	harness_close(h);
}

static void test_server_account__duplicate(void **state)
{
	harness *h = open_fast();
	full_reply r;

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	/* the same email in other case, under another id */
	r = guest(h, "POST", "/v1/account", "{\"userId\":\"ana2\",\"email\":\"ANA@example.com\","
		"\"password\":\"" PASSWORD "\"}");
	assert_error(&r.reply, 409, "user_already_exists");
	full_free(&r);
	/* the same id, another email */
	r = guest(h, "POST", "/v1/account", "{\"userId\":\"ana\",\"email\":\"other@example.com\","
		"\"password\":\"" PASSWORD "\"}");
	assert_error(&r.reply, 409, "user_already_exists");
	full_free(&r);
	harness_close(h);
}

static void test_server_account__bad_input(void **state)
{
	static const char *const bodies[] = {
		"{\"userId\":\"a1\",\"email\":\"not-an-email\",\"password\":\"" PASSWORD "\"}",
		"{\"userId\":\"a1\",\"email\":\"a@b\",\"password\":\"" PASSWORD "\"}",
		"{\"userId\":\"a1\",\"email\":\"a b@example.com\",\"password\":\"" PASSWORD "\"}",
		"{\"userId\":\"a1\",\"email\":\"a@example.com\",\"password\":\"1234567\"}",
		"{\"userId\":\"a1\",\"email\":\"a@example.com\"}",
		"{\"userId\":\"a1\",\"email\":\"a@example.com\",\"password\":12345678}",
		"{\"userId\":\"_bad\",\"email\":\"a@example.com\",\"password\":\"" PASSWORD "\"}",
		"{\"email\":\"a@example.com\",\"password\":\"" PASSWORD "\"}",
		"{\"userId\":\"a1\",\"email\":\"a@example.com\",\"password\":\"" PASSWORD "\","
			"\"name\":7}",
		"{\"userId\":\"a1\",\"email\":[],\"password\":\"" PASSWORD "\"}",
		"not json",
		"[1,2]",
	};
	harness *h = open_fast();

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		full_reply r = guest(h, "POST", "/v1/account", bodies[i]);
		assert_error(&r.reply, 400, "general_argument_invalid");
		full_free(&r);
	}
	/* Exactly 8 characters is enough. */
	{
		full_reply r = guest(h, "POST", "/v1/account", "{\"userId\":\"a1\","
			"\"email\":\"a@example.com\",\"password\":\"12345678\"}");
		assert_status(&r.reply, 201);
		full_free(&r);
	}
	harness_close(h);
}

static void test_server_account__login(void **state)
{
	harness *h = open_fast();
	full_reply r;
	int plain = 0, legacy = 0;

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	r = guest(h, "POST", "/v1/account/sessions/email",
		"{\"email\":\"ANA@example.com\",\"password\":\"" PASSWORD "\"}");
	assert_status(&r.reply, 201);
	assert_string_equal(json_str(r.reply.json, "userId"), "ana");
	assert_string_equal(json_str(r.reply.json, "provider"), "email");
	assert_string_equal(json_str(r.reply.json, "providerUid"), "ana@example.com");
	assert_string_equal(json_str(r.reply.json, "ip"), "10.0.0.1");
	assert_true(json_object_get_boolean(json_get(r.reply.json, "current")));
	/* the secret is shown to API-key callers only */
	assert_string_equal(json_str(r.reply.json, "secret"), "");
	assert_int_equal(r.cookie_count, 2);
	for (size_t i = 0; i < r.cookie_count; i++) {
		if (strncmp(r.cookies[i], COOKIE_NAME "=", strlen(COOKIE_NAME) + 1) == 0)
			plain++;
		if (strncmp(r.cookies[i], COOKIE_NAME "_legacy=", strlen(COOKIE_NAME) + 8) == 0)
			legacy++;
		assert_non_null(strstr(r.cookies[i], "httponly"));
		assert_non_null(strstr(r.cookies[i], "path=/"));
		assert_null(strstr(r.cookies[i], "secure")); /* plain HTTP */
	}
	assert_int_equal(plain, 1);
	assert_int_equal(legacy, 1);
	assert_non_null(r.fallback);
	full_free(&r);

	/* wrong password, unknown email: the same answer */
	r = guest(h, "POST", "/v1/account/sessions/email",
		"{\"email\":\"ana@example.com\",\"password\":\"wrong password\"}");
	assert_error(&r.reply, 401, "user_invalid_credentials");
	assert_int_equal(r.cookie_count, 0);
	full_free(&r);
	r = guest(h, "POST", "/v1/account/sessions",
		"{\"email\":\"nobody@example.com\",\"password\":\"" PASSWORD "\"}");
	assert_error(&r.reply, 401, "user_invalid_credentials");
	full_free(&r);
	/* the alias route works */
	r = guest(h, "POST", "/v1/account/sessions",
		"{\"email\":\"ana@example.com\",\"password\":\"" PASSWORD "\"}");
	assert_status(&r.reply, 201);
	full_free(&r);
	harness_close(h);
}

static void test_server_account__secret_for_key_and_over_tls(void **state)
{
	harness *h = open_fast();
	full_reply r;
	char *token;

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	r = send_request(h, "10.0.0.1", "POST", "/v1/account/sessions/email",
		"{\"email\":\"ana@example.com\",\"password\":\"" PASSWORD "\"}", 1, NULL, NULL);
	assert_status(&r.reply, 201);
	assert_true(strlen(json_str(r.reply.json, "secret")) > 0);
	token = strdup(json_str(r.reply.json, "secret"));
	full_free(&r);
	/* over TLS the cookies are Secure (and SameSite=None, which needs Secure) */
	next_tls = 1;
	r = send_request(h, "10.0.0.1", "POST", "/v1/account/sessions/email",
		"{\"email\":\"ana@example.com\",\"password\":\"" PASSWORD "\"}", 0, NULL, NULL);
	assert_status(&r.reply, 201);
	assert_int_equal(r.cookie_count, 2);
	assert_non_null(strstr(r.cookies[0], "; secure"));
	assert_non_null(strstr(r.cookies[0], "samesite=none"));
	assert_non_null(strstr(r.cookies[1], "; secure"));
	full_free(&r);
	/* the secret is the token: it signs in */
	r = account_with(h, "x-appwrite-session", "%s", token);
	assert_status(&r.reply, 200);
	assert_string_equal(json_str(r.reply.json, "$id"), "ana");
	full_free(&r);
	free(token);
	harness_close(h);
}

static void test_server_account__token_sources(void **state)
{
	harness *h = open_fast();
	char *token;
	char *encoded;
	full_reply r;

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	token = log_in(h, "ana@example.com");

	r = account_with(h, "x-appwrite-session", "%s", token);
	assert_status(&r.reply, 200);
	assert_string_equal(json_str(r.reply.json, "email"), "ana@example.com");
	full_free(&r);

	r = account_with(h, "cookie", "theme=dark; " COOKIE_NAME "=%s; other=1", token);
	assert_status(&r.reply, 200);
	full_free(&r);
	/* the legacy cookie alone, percent-encoded as browsers send what we set */
	encoded = url_encode(token);
	r = account_with(h, "cookie", COOKIE_NAME "_legacy=%s", encoded);
	assert_status(&r.reply, 200);
	full_free(&r);
	free(encoded);

	{
		char fallback[2048];
		snprintf(fallback, sizeof(fallback), "{\"" COOKIE_NAME "\":\"%s\"}", token);
		r = account_with(h, "x-fallback-cookies", "%s", fallback);
		assert_status(&r.reply, 200);
		assert_string_equal(json_str(r.reply.json, "$id"), "ana");
		full_free(&r);
	}
	/* another project's cookie is not ours: guest */
	r = account_with(h, "cookie", "a_session_elsewhere=%s", token);
	assert_error(&r.reply, 401, "general_unauthorized_scope");
	full_free(&r);
	/* no session at all: a guest, refused as Appwrite does */
	r = guest(h, "GET", "/v1/account", NULL);
	assert_error(&r.reply, 401, "general_unauthorized_scope");
	full_free(&r);
	free(token);
	harness_close(h);
}

static void test_server_account__caller_resolution(void **state)
{
	harness *h = open_fast();
	cairn_api_caller caller;
	char *token;

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	token = log_in(h, "ana@example.com");
	assert_int_equal(cairn__api_caller_from_token(h->api, token, &caller), 0);
	assert_int_equal(caller.kind, CAIRN_CALLER_USER);
	assert_string_equal(caller.user_id, "ana");
	assert_true(strlen(caller.session_id) > 0);
	assert_int_equal(cairn__api_caller_from_token(h->api, NULL, &caller), 0);
	assert_int_equal(caller.kind, CAIRN_CALLER_GUEST);
	assert_int_equal(cairn__api_caller_from_token(h->api, "", &caller), 0);
	assert_int_equal(caller.kind, CAIRN_CALLER_GUEST);
	assert_int_equal(cairn__api_caller_from_token(h->api, "garbage!", &caller), CAIRN_EAUTH);
	assert_int_equal(caller.kind, CAIRN_CALLER_GUEST);
	free(token);
	harness_close(h);
}

static void test_server_account__secret_never_stored(void **state)
{
	harness *h = open_fast();
	char user[CAIRN_ID_MAX + 1];
	char secret[CAIRN_ACCOUNT_TOKEN_MAX + 1];
	char hash[CAIRN_ACCOUNT_HASH_TEXT];
	char path[128];
	char *token;
	sqlite3 *db;
	sqlite3_stmt *stmt;

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	token = log_in(h, "ana@example.com");
	assert_int_equal(cairn__account_token_decode(token, user, secret), 0);
	assert_string_equal(user, "ana");
	cairn__account_secret_hash(hash, secret);
	snprintf(path, sizeof(path), "%s/cairn.db", h->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sessions WHERE "
		"secret_hash = ?1), (SELECT count(*) FROM sessions WHERE secret_hash = ?2 OR "
		"instr(ip || user_agent || id, ?2) > 0), (SELECT count(*) FROM users WHERE "
		"password_hash LIKE '$argon2id$%' AND instr(password_hash, ?3) = 0)", -1, &stmt,
		NULL), SQLITE_OK);
	sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, secret, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, PASSWORD, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 1);
	assert_int_equal(sqlite3_column_int(stmt, 1), 0);
	assert_int_equal(sqlite3_column_int(stmt, 2), 1);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	free(token);
	harness_close(h);
}

static void test_server_account__sessions(void **state)
{
	harness *h = open_fast();
	char *first, *second;
	char path[128];
	char first_id[64];
	full_reply r;

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	sign_up(h, "bo", "bo@example.com");
	first = log_in(h, "ana@example.com");
	second = log_in(h, "ana@example.com");

	r = send_request(h, "10.0.0.1", "GET", "/v1/account/sessions/current", NULL, 0,
		"x-appwrite-session", first);
	assert_status(&r.reply, 200);
	assert_true(json_object_get_boolean(json_get(r.reply.json, "current")));
	assert_string_equal(json_str(r.reply.json, "secret"), "");
	snprintf(first_id, sizeof(first_id), "%s", json_str(r.reply.json, "$id"));
	full_free(&r);

	r = send_request(h, "10.0.0.1", "GET", "/v1/account/sessions", NULL, 0,
		"x-appwrite-session", second);
	assert_status(&r.reply, 200);
	assert_int_equal(json_int(r.reply.json, "total"), 2);
	full_free(&r);

	/* by id, from the other session: not current */
	snprintf(path, sizeof(path), "/v1/account/sessions/%s", first_id);
	r = send_request(h, "10.0.0.1", "GET", path, NULL, 0, "x-appwrite-session", second);
	assert_status(&r.reply, 200);
	assert_false(json_object_get_boolean(json_get(r.reply.json, "current")));
	full_free(&r);
	/* another user cannot see it */
	{
		char *bo = log_in(h, "bo@example.com");
		r = send_request(h, "10.0.0.1", "GET", path, NULL, 0, "x-appwrite-session", bo);
		assert_error(&r.reply, 404, "user_session_not_found");
		full_free(&r);
		r = send_request(h, "10.0.0.1", "DELETE", path, "{}", 0, "x-appwrite-session", bo);
		assert_error(&r.reply, 404, "user_session_not_found");
		full_free(&r);
		free(bo);
	}
	/* log out the first session: it stops working, the second does not */
	r = send_request(h, "10.0.0.1", "DELETE", "/v1/account/sessions/current", "{}", 0,
		"x-appwrite-session", first);
	assert_status(&r.reply, 204);
	assert_null(r.reply.content_type);
	assert_int_equal(r.cookie_count, 2);
	assert_non_null(strstr(r.cookies[0], "=; expires=Thu, 01 Jan 1970"));
	assert_non_null(r.fallback);
	assert_string_equal(r.fallback, "[]");
	full_free(&r);
	/* what the web SDK then sends back is no session: a guest, not an error */
	r = account_with(h, "x-fallback-cookies", "%s", "[]");
	assert_error(&r.reply, 401, "general_unauthorized_scope");
	full_free(&r);
	r = account_with(h, "x-appwrite-session", "%s", first);
	assert_error(&r.reply, 401, "user_invalid_token");
	full_free(&r);
	r = account_with(h, "x-appwrite-session", "%s", second);
	assert_status(&r.reply, 200);
	full_free(&r);
	/* log out everywhere */
	r = send_request(h, "10.0.0.1", "DELETE", "/v1/account/sessions", "{}", 0,
		"x-appwrite-session", second);
	assert_status(&r.reply, 204);
	full_free(&r);
	r = account_with(h, "x-appwrite-session", "%s", second);
	assert_error(&r.reply, 401, "user_invalid_token");
	full_free(&r);
	/* guests have no sessions to delete */
	r = guest(h, "DELETE", "/v1/account/sessions/current", "{}");
	assert_error(&r.reply, 401, "general_unauthorized_scope");
	full_free(&r);
	free(first);
	free(second);
	harness_close(h);
}

static void test_server_account__signed_in_cannot_log_in_again(void **state)
{
	harness *h = open_fast();
	char *token;
	full_reply r;

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	token = log_in(h, "ana@example.com");
	r = send_request(h, "10.0.0.1", "POST", "/v1/account/sessions/email",
		"{\"email\":\"ana@example.com\",\"password\":\"" PASSWORD "\"}", 0,
		"x-appwrite-session", token);
	assert_error(&r.reply, 401, "user_session_already_exists");
	full_free(&r);
	/* a stale cookie does not stop a new sign-in: it is ignored there */
	r = send_request(h, "10.0.0.1", "DELETE", "/v1/account/sessions/current", "{}", 0,
		"x-appwrite-session", token);
	assert_status(&r.reply, 204);
	full_free(&r);
	{
		char cookie[2048];
		snprintf(cookie, sizeof(cookie), COOKIE_NAME "=%s", token);
		r = send_request(h, "10.0.0.1", "POST", "/v1/account/sessions/email",
			"{\"email\":\"ana@example.com\",\"password\":\"" PASSWORD "\"}", 0, "cookie",
			cookie);
		assert_status(&r.reply, 201);
		full_free(&r);
	}
	free(token);
	harness_close(h);
}

static void test_server_account__expiry(void **state)
{
	harness *h = harness_open();
	cairn_api_account_options options = { 0 };
	struct timespec pause = { 1, 200 * 1000 * 1000 };
	char *token;
	full_reply r;

	(void)state;
	options.fast_password_hash = 1;
	options.session_lifetime_seconds = 1;
	assert_int_equal(cairn__api_set_account_options(h->api, &options), 0);
	sign_up(h, "ana", "ana@example.com");
	token = log_in(h, "ana@example.com");
	r = account_with(h, "x-appwrite-session", "%s", token);
	assert_status(&r.reply, 200);
	full_free(&r);
	nanosleep(&pause, NULL); /* past the one-second lifetime */
	r = account_with(h, "x-appwrite-session", "%s", token);
	assert_error(&r.reply, 401, "user_invalid_token");
	full_free(&r);
	free(token);
	harness_close(h);
}

static void test_server_account__bad_tokens(void **state)
{
	harness *h = open_fast();
	char *huge = malloc(20000);
	char *token;
	/* base64 of: "not json", {"id":"ana"}, {"id":"_x","secret":"s"},
	 * {"id":"ana","secret":"0000"} (well-formed, unknown secret) */
	const char *const bad[] = {
		"%%%not-base64%%%",
		"bm90IGpzb24=",
		"eyJpZCI6ImFuYSJ9",
		"eyJpZCI6Il94Iiwic2VjcmV0IjoicyJ9",
		"eyJpZCI6ImFuYSIsInNlY3JldCI6IjAwMDAifQ==",
		"e30",
	};
	full_reply r;

	(void)state;
	assert_non_null(huge);
	sign_up(h, "ana", "ana@example.com");
	token = log_in(h, "ana@example.com");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = account_with(h, "x-appwrite-session", "%s", bad[i]);
		assert_error(&r.reply, 401, "user_invalid_token");
		full_free(&r);
		r = account_with(h, "cookie", COOKIE_NAME "=%s", bad[i]);
		assert_error(&r.reply, 401, "user_invalid_token");
		full_free(&r);
	}
	memset(huge, 'A', 19999);
	huge[19999] = '\0';
	r = send_request(h, "10.0.0.1", "GET", "/v1/account", NULL, 0, "x-appwrite-session", huge);
	assert_error(&r.reply, 401, "user_invalid_token");
	full_free(&r);
	/* a valid token's user with another user's id in it */
	{
		char user[CAIRN_ID_MAX + 1];
		char secret[CAIRN_ACCOUNT_TOKEN_MAX + 1];
		char *forged;

		sign_up(h, "bo", "bo@example.com");
		assert_int_equal(cairn__account_token_decode(token, user, secret), 0);
		forged = cairn__account_token_encode("bo", secret);
		r = account_with(h, "x-appwrite-session", "%s", forged);
		assert_error(&r.reply, 401, "user_invalid_token");
		full_free(&r);
		free(forged);
	}
	/* the API key wins over a bad session: key callers are not users */
	r = send_request(h, "10.0.0.1", "GET", "/v1/databases", NULL, 1, "x-appwrite-session",
		"garbage");
	assert_status(&r.reply, 200);
	full_free(&r);
	free(token);
	free(huge);
	harness_close(h);
}

static void test_server_account__wrong_project(void **state)
{
	harness *h = open_fast();
	const char *headers[] = { "x-appwrite-project", "elsewhere", NULL };
	api_reply reply;

	(void)state;
	reply = api_call_headers(h, "POST", "/v1/account", "{\"userId\":\"a\",\"email\":"
		"\"a@example.com\",\"password\":\"" PASSWORD "\"}", headers);
	assert_error(&reply, 404, "project_not_found");
	reply_free(&reply);
	reply = api_call_headers(h, "POST", "/v1/account/sessions/email", "{\"email\":"
		"\"a@example.com\",\"password\":\"" PASSWORD "\"}", NULL);
	assert_error(&reply, 404, "project_not_found");
	reply_free(&reply);
	harness_close(h);
}

/* A failed login of `email` from `peer`: 401, or `expect` when given. */
static void failed_login(harness *h, const char *peer, const char *email, int expect)
{
	char body[256];
	full_reply r;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"wrong password\"}", email);
	r = send_request(h, peer, "POST", "/v1/account/sessions/email", body, 0, NULL, NULL);
	assert_status(&r.reply, expect);
	full_free(&r);
}

static int login_status(harness *h, const char *peer, const char *email)
{
	char body[256];
	full_reply r;
	int status;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"" PASSWORD "\"}", email);
	r = send_request(h, peer, "POST", "/v1/account/sessions/email", body, 0, NULL, NULL);
	status = r.reply.status;
	if (status == 429)
		assert_error(&r.reply, 429, "general_rate_limit_exceeded");
	full_free(&r);
	return status;
}

static harness *open_limited(unsigned failures)
{
	harness *h = harness_open();
	cairn_api_account_options options = { 0 };

	options.fast_password_hash = 1;
	options.login_failures = failures;
	assert_int_equal(cairn__api_set_account_options(h->api, &options), 0);
	return h;
}

static void test_server_account__rate_limit_per_account(void **state)
{
	harness *h = open_limited(3);

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	sign_up(h, "bo", "bo@example.com");
	/* three failures from three addresses: the account is locked, even for the right
	 * password from a fresh address */
	failed_login(h, "10.0.0.1", "ana@example.com", 401);
	failed_login(h, "10.0.0.2", "ANA@example.com", 401);
	failed_login(h, "10.0.0.3", "ana@example.com", 401);
	assert_int_equal(login_status(h, "10.0.0.4", "ana@example.com"), 429);
	failed_login(h, "10.0.0.5", "ana@example.com", 429);
	/* other accounts are not affected */
	assert_int_equal(login_status(h, "10.0.0.4", "bo@example.com"), 201);
	/* a success before the limit resets the account's count */
	failed_login(h, "10.0.0.6", "bo@example.com", 401);
	failed_login(h, "10.0.0.7", "bo@example.com", 401);
	assert_int_equal(login_status(h, "10.0.0.8", "bo@example.com"), 201);
	failed_login(h, "10.0.0.9", "bo@example.com", 401);
	failed_login(h, "10.0.0.10", "bo@example.com", 401);
	assert_int_equal(login_status(h, "10.0.0.11", "bo@example.com"), 201);
	harness_close(h);
}

static void test_server_account__rate_limit_per_address(void **state)
{
	harness *h = open_limited(3);

	(void)state;
	sign_up(h, "ana", "ana@example.com");
	sign_up(h, "bo", "bo@example.com");
	sign_up(h, "cy", "cy@example.com");
	/* one address trying many accounts: a success does not reset the address */
	failed_login(h, "10.9.9.9", "ana@example.com", 401);
	failed_login(h, "10.9.9.9", "bo@example.com", 401);
	assert_int_equal(login_status(h, "10.9.9.9", "cy@example.com"), 201);
	failed_login(h, "10.9.9.9", "nobody@example.com", 401);
	assert_int_equal(login_status(h, "10.9.9.9", "cy@example.com"), 429);
	failed_login(h, "10.9.9.9", "ana@example.com", 429);
	/* another address is fine (ana and bo have one failure each) */
	assert_int_equal(login_status(h, "10.1.1.1", "ana@example.com"), 201);
	harness_close(h);
}

static void test_server_account__extra_api_keys(void **state)
{
	harness *h = open_fast();
	char path[] = "/tmp/cairn-keys-XXXXXX";
	int fd = mkstemp(path);
	FILE *file;
	const char *second[] = { "x-appwrite-project", HARNESS_PROJECT, "x-appwrite-key",
		"second-key-abcdef", NULL };
	const char *third[] = { "x-appwrite-project", HARNESS_PROJECT, "x-appwrite-key",
		"third-key", NULL };
	const char *wrong[] = { "x-appwrite-project", HARNESS_PROJECT, "x-appwrite-key",
		"second-key-abcde", NULL };
	api_reply reply;

	(void)state;
	assert_true(fd >= 0);
	file = fdopen(fd, "w");
	assert_non_null(file);
	fputs("# keys for the batch jobs\n\n  second-key-abcdef  \nthird-key\n", file);
	fclose(file);
	assert_int_equal(cairn__api_add_keys_file(h->api, path), 0);
	reply = api_call_headers(h, "GET", "/v1/databases", NULL, second);
	assert_status(&reply, 200);
	reply_free(&reply);
	reply = api_call_headers(h, "GET", "/v1/databases", NULL, third);
	assert_status(&reply, 200);
	reply_free(&reply);
	reply = api_call_headers(h, "GET", "/v1/databases", NULL, wrong);
	assert_error(&reply, 401, "general_unauthorized_scope");
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/databases", NULL); /* the first key still works */
	assert_status(&reply, 200);
	reply_free(&reply);
	/* a file without keys, or none at all, is an error */
	file = fopen(path, "w");
	assert_non_null(file);
	fputs("# nothing\n", file);
	fclose(file);
	assert_int_equal(cairn__api_add_keys_file(h->api, path), CAIRN_EINVALID);
	unlink(path);
	assert_int_equal(cairn__api_add_keys_file(h->api, path), CAIRN_EIO);
	harness_close(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_account__sign_up),
		cmocka_unit_test(test_server_account__duplicate),
		cmocka_unit_test(test_server_account__bad_input),
		cmocka_unit_test(test_server_account__login),
		cmocka_unit_test(test_server_account__secret_for_key_and_over_tls),
		cmocka_unit_test(test_server_account__token_sources),
		cmocka_unit_test(test_server_account__caller_resolution),
		cmocka_unit_test(test_server_account__secret_never_stored),
		cmocka_unit_test(test_server_account__sessions),
		cmocka_unit_test(test_server_account__signed_in_cannot_log_in_again),
		cmocka_unit_test(test_server_account__expiry),
		cmocka_unit_test(test_server_account__bad_tokens),
		cmocka_unit_test(test_server_account__wrong_project),
		cmocka_unit_test(test_server_account__rate_limit_per_account),
		cmocka_unit_test(test_server_account__rate_limit_per_address),
		cmocka_unit_test(test_server_account__extra_api_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
