/* api_account.c: Appwrite's account routes: sign-up, email/password sessions (cookies,
 * tokens, rate-limited failures), and the User and Session models. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "server/account.h"
#include "server/api_int.h"
#include "server/ratelimit.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/time.h"

#define MAX_EMAIL 254
#define MAX_USER_NAME 128
#define MAX_USER_AGENT 256

/* ---- models --------------------------------------------------------------------------- */

static void add_time(json_object *model, const char *key, int64_t unix_ms)
{
	char text[CAIRN_TIME_TEXT_SIZE];

	cairn__time_format(unix_ms, text);
	json_object_object_add(model, key, json_object_new_string(text));
}

static void add_string(json_object *model, const char *key, const char *value)
{
	json_object_object_add(model, key, json_object_new_string(value ? value : ""));
}

/* Appwrite's User model (no password fields). NULL when out of memory. */
static json_object *user_model(const cairn_storage_user *user)
{
	json_object *model = json_object_new_object();

	if (!model)
		return NULL;
	add_string(model, "$id", user->id);
	add_time(model, "$createdAt", user->created_at);
	add_time(model, "$updatedAt", user->updated_at);
	add_string(model, "name", user->name);
	add_time(model, "registration", user->created_at);
	json_object_object_add(model, "status", json_object_new_boolean(user->status == 1));
	json_object_object_add(model, "labels", json_object_new_array());
	add_time(model, "passwordUpdate", user->password_updated_at);
	add_string(model, "email", user->email);
	add_string(model, "phone", "");
	json_object_object_add(model, "emailVerification", json_object_new_boolean(0));
	json_object_object_add(model, "phoneVerification", json_object_new_boolean(0));
	json_object_object_add(model, "mfa", json_object_new_boolean(0));
	json_object_object_add(model, "prefs", json_object_new_object());
	json_object_object_add(model, "targets", json_object_new_array());
	add_time(model, "accessedAt", user->updated_at);
	return model;
}

/* Appwrite's Session model; `secret` only for API-key callers, else "". */
static json_object *session_model(const cairn_storage_session *session, const char *email,
	int current, const char *secret)
{
	static const char *const empty_fields[] = {
		"providerAccessToken", "providerAccessTokenExpiry", "providerRefreshToken",
		"osCode", "osName", "osVersion", "clientType", "clientCode", "clientName",
		"clientVersion", "clientEngine", "clientEngineVersion", "deviceName", "deviceBrand",
		"deviceModel", "mfaUpdatedAt"
	};
	json_object *model = json_object_new_object();
	json_object *factors = json_object_new_array();

	if (!model || !factors) {
		json_object_put(model);
		json_object_put(factors);
		return NULL;
	}
	add_string(model, "$id", session->id);
	add_time(model, "$createdAt", session->created_at);
	add_time(model, "$updatedAt", session->created_at);
	add_string(model, "userId", session->user_id);
	add_time(model, "expire", session->expires_at);
	add_string(model, "provider", "email");
	add_string(model, "providerUid", email);
	add_string(model, "ip", session->ip);
	for (size_t i = 0; i < sizeof(empty_fields) / sizeof(empty_fields[0]); i++)
		add_string(model, empty_fields[i], "");
	add_string(model, "countryCode", "--");
	add_string(model, "countryName", "Unknown");
	json_object_object_add(model, "current", json_object_new_boolean(current));
	json_object_array_add(factors, json_object_new_string("password"));
	json_object_object_add(model, "factors", factors);
	add_string(model, "secret", secret);
	return model;
}

/* Responds with `model` (consumed); 500 when it is NULL (out of memory). */
static void respond_model(cairn_api_request *ctx, int status, json_object *model)
{
	if (!model) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error",
			"Out of memory.");
		return;
	}
	cairn__api_respond_model(ctx, status, model);
	json_object_put(model);
}

static void respond_server_error(cairn_api_request *ctx)
{
	cairn__http_respond_error(ctx->response, 500, "general_server_error", "Server Error");
}

/* 1 when a user is signed in; else answers 401 as Appwrite does and returns 0. */
static int require_user(cairn_api_request *ctx)
{
	if (ctx->caller.kind == CAIRN_CALLER_USER)
		return 1;
	cairn__http_respond_error(ctx->response, 401, "general_unauthorized_scope",
		"User (role: %s) missing scopes ([\"account\"])",
		ctx->caller.kind == CAIRN_CALLER_KEY ? "applications" : "guests");
	return 0;
}

/* ---- input checks --------------------------------------------------------------------- */

/* A required string field; answers 400 and returns NULL when missing or not a string. */
static const char *take_string(cairn_api_request *ctx, const char *key)
{
	json_object *field = NULL;

	if (!json_object_object_get_ex(ctx->body, key, &field) || !field) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Param \"%s\" is not optional.", key);
		return NULL;
	}
	if (!json_object_is_type(field, json_type_string)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `%s` param: Value must be a valid string", key);
		return NULL;
	}
	return json_object_get_string(field);
}

/* A plausible address: one '@', a non-empty local part, a dotted domain, no spaces or
 * control characters, at most 254 bytes. */
static int email_valid(const char *email)
{
	const char *at = strchr(email, '@');
	const char *dot;
	size_t length = strlen(email);

	if (length == 0 || length > MAX_EMAIL || !at || at == email || strchr(at + 1, '@'))
		return 0;
	for (const char *p = email; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == ',' || *p == ';' ||
			*p == '<' || *p == '>' || *p == '\\')
			return 0;
	}
	dot = strrchr(at + 1, '.');
	return dot && dot != at + 1 && dot[1] != '\0' && at[1] != '.';
}

/* Takes and checks `email` into a lower-cased malloc'd copy; answers 400 and returns NULL. */
static char *take_email(cairn_api_request *ctx)
{
	const char *email = take_string(ctx, "email");
	char *lower;

	if (!email)
		return NULL;
	if (!email_valid(email)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `email` param: Value must be a valid email address");
		return NULL;
	}
	lower = strdup(email);
	if (!lower) {
		respond_server_error(ctx);
		return NULL;
	}
	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return lower;
}

/* ---- cookies -------------------------------------------------------------------------- */

/* "Wed, 21 Oct 2026 07:28:00 GMT", independent of the locale. */
static void cookie_date(char out[40], int64_t unix_ms)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t seconds = (time_t)(unix_ms / 1000);
	struct tm tm;

	gmtime_r(&seconds, &tm);
	snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
		months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Percent-encodes what a cookie value may not hold (base64's '+', '/', '='). */
static char *cookie_encode(const char *value)
{
	char *out = malloc(strlen(value) * 3 + 1);
	char *cursor = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
			*cursor++ = (char)*p;
		else
			cursor += sprintf(cursor, "%%%02X", *p);
	}
	*cursor = '\0';
	return out;
}

/* Sets a_session_<project> and its _legacy twin to `token` until `expires_ms` ("" and the
 * epoch clear them). Secure over TLS; SameSite=None needs Secure, so plain HTTP gets Lax. */
static int set_session_cookies(cairn_api_request *ctx, const char *token, int64_t expires_ms)
{
	char date[40];
	char *value = cookie_encode(token);
	char *cookie = NULL;
	int tls = ctx->http->tls;
	int rc = CAIRN_ENOMEM;

	if (!value)
		return rc;
	cookie_date(date, expires_ms);
	if (asprintf(&cookie, "a_session_%s=%s; expires=%s; path=/; httponly%s", ctx->api->project,
		value, date, tls ? "; secure; samesite=none" : "; samesite=lax") < 0) {
		cookie = NULL;
		goto cleanup;
	}
	if ((rc = cairn__http_response_add_header(ctx->response, "Set-Cookie", cookie)) < 0)
		goto cleanup;
	free(cookie);
	if (asprintf(&cookie, "a_session_%s_legacy=%s; expires=%s; path=/; httponly%s",
		ctx->api->project, value, date, tls ? "; secure" : "") < 0) {
		cookie = NULL;
		rc = CAIRN_ENOMEM;
		goto cleanup;
	}
	rc = cairn__http_response_add_header(ctx->response, "Set-Cookie", cookie);
cleanup:
	if (cookie)
		sodium_memzero(cookie, strlen(cookie));
	sodium_memzero(value, strlen(value));
	free(cookie);
	free(value);
	return rc;
}

/* Ends the browser's copy of the session: expired cookies, and (as Appwrite does) an empty
 * X-Fallback-Cookies, which the web SDK stores over the token it kept. */
static void clear_session_cookies(cairn_api_request *ctx)
{
	(void)set_session_cookies(ctx, "", 0);
	(void)cairn__http_response_add_header(ctx->response, "X-Fallback-Cookies", "[]");
}

/* X-Fallback-Cookies: {"a_session_<project>": token}, for clients that cannot keep
 * cookies (the web SDK stores it and sends it back as a request header). */
static int set_fallback_header(cairn_api_request *ctx, const char *token)
{
	json_object *map = json_object_new_object();
	char name[160];
	char *text;
	int rc = CAIRN_ENOMEM;

	if (!map)
		return rc;
	snprintf(name, sizeof(name), "a_session_%.128s", ctx->api->project);
	json_object_object_add(map, name, json_object_new_string(token));
	text = cairn__json_dump(map);
	if (text) {
		rc = cairn__http_response_add_header(ctx->response, "X-Fallback-Cookies", text);
		sodium_memzero(text, strlen(text));
		free(text);
	}
	json_object_put(map);
	return rc;
}

/* ---- POST /account -------------------------------------------------------------------- */

void cairn__api_account_create(cairn_api_request *ctx)
{
	char id[CAIRN_ID_MAX + 1];
	char hash[CAIRN_ACCOUNT_HASH_MAX];
	cairn_storage_user user, stored;
	json_object *field = NULL;
	const char *password;
	const char *name = "";
	char *email = NULL;
	size_t password_length;
	int rc;

	memset(&stored, 0, sizeof(stored));
	if (cairn__api_body_failed(ctx) || cairn__api_take_id(ctx, ctx->body, "userId", id) < 0)
		return;
	if (!(email = take_email(ctx)) || !(password = take_string(ctx, "password")))
		goto cleanup;
	password_length = strlen(password);
	if (password_length < CAIRN_ACCOUNT_PASSWORD_MIN ||
		password_length > CAIRN_ACCOUNT_PASSWORD_MAX) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `password` param: Password must be between %d and %d characters long.",
			CAIRN_ACCOUNT_PASSWORD_MIN, CAIRN_ACCOUNT_PASSWORD_MAX);
		goto cleanup;
	}
	if (json_object_object_get_ex(ctx->body, "name", &field) && field) {
		if (!json_object_is_type(field, json_type_string) ||
			strlen(json_object_get_string(field)) > MAX_USER_NAME) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `name` param: Value must be a valid string and at most %d chars",
				MAX_USER_NAME);
			goto cleanup;
		}
		name = json_object_get_string(field);
	}
	if (cairn__account_password_hash(hash, password, ctx->api->password_cost) < 0) {
		respond_server_error(ctx);
		goto cleanup;
	}
	memset(&user, 0, sizeof(user));
	user.id = id;
	user.email = email;
	user.name = (char *)name;
	user.password_hash = hash;
	user.status = 1;
	user.created_at = user.updated_at = user.password_updated_at = cairn__time_now_ms();
	rc = ctx->api->backend->user_create(&stored, ctx->api->storage, &user);
	sodium_memzero(hash, sizeof(hash));
	if (rc == CAIRN_EEXISTS)
		cairn__http_respond_error(ctx->response, 409, "user_already_exists",
			"A user with the same id, email, or phone already exists in this project.");
	else if (rc < 0)
		respond_server_error(ctx);
	else
		respond_model(ctx, 201, user_model(&stored));
cleanup:
	cairn__storage_user_clear(&stored);
	free(email);
}

/* ---- GET /account --------------------------------------------------------------------- */

void cairn__api_account_get(cairn_api_request *ctx)
{
	cairn_storage_user user;
	int rc;

	if (!require_user(ctx))
		return;
	memset(&user, 0, sizeof(user));
	rc = ctx->api->backend->user_get(&user, ctx->api->storage, ctx->caller.user_id);
	if (rc == CAIRN_ENOTFOUND)
		cairn__http_respond_error(ctx->response, 404, "user_not_found",
			"User with the requested ID could not be found.");
	else if (rc < 0)
		respond_server_error(ctx);
	else
		respond_model(ctx, 200, user_model(&user));
	cairn__storage_user_clear(&user);
}

/* ---- POST /account/sessions/email ----------------------------------------------------- */

/* Answers 429 when the account or the address has used up its failures; returns 1 then. */
static int login_limited(cairn_api_request *ctx, const char *email, const char *address,
	int64_t now)
{
	if (!cairn__ratelimit_blocked(ctx->api->login_by_email, email, now, NULL) &&
		!cairn__ratelimit_blocked(ctx->api->login_by_address, address, now, NULL))
		return 0;
	cairn__http_respond_error(ctx->response, 429, "general_rate_limit_exceeded",
		"Rate limit for the current endpoint has been exceeded. Please try again after some "
		"time.");
	return 1;
}

/* Stores a new session for `user` and answers 201 with it, the cookies and the token. */
static void session_start(cairn_api_request *ctx, const cairn_storage_user *user, int64_t now)
{
	char id[CAIRN_ID_MAX + 1];
	char secret[CAIRN_ACCOUNT_SECRET_TEXT];
	char hash[CAIRN_ACCOUNT_HASH_TEXT];
	char agent[MAX_USER_AGENT + 1];
	const char *user_agent = cairn__http_header(ctx->http, "user-agent");
	cairn_storage_session session;
	char *token = NULL;
	json_object *model = NULL;
	int rc;

	if (cairn__id_unique(id, sizeof(id)) != 0) {
		respond_server_error(ctx);
		return;
	}
	cairn__account_secret_new(secret);
	cairn__account_secret_hash(hash, secret);
	snprintf(agent, sizeof(agent), "%s", user_agent ? user_agent : "");
	memset(&session, 0, sizeof(session));
	session.id = id;
	session.user_id = user->id;
	session.secret_hash = hash;
	session.created_at = now;
	session.expires_at = now + ctx->api->session_lifetime_ms;
	session.ip = (char *)(ctx->http->peer ? ctx->http->peer : "");
	session.user_agent = agent;
	rc = ctx->api->backend->session_create(ctx->api->storage, &session);
	if (rc == 0 && !(token = cairn__account_token_encode(user->id, secret)))
		rc = CAIRN_ENOMEM;
	if (rc == 0)
		model = session_model(&session, user->email, 1,
			ctx->caller.kind == CAIRN_CALLER_KEY ? token : "");
	if (rc < 0 || !model) {
		respond_server_error(ctx);
		goto cleanup;
	}
	respond_model(ctx, 201, model);
	if (set_session_cookies(ctx, token, session.expires_at) < 0 ||
		set_fallback_header(ctx, token) < 0)
		respond_server_error(ctx);
cleanup:
	sodium_memzero(secret, sizeof(secret));
	if (token) {
		sodium_memzero(token, strlen(token));
		free(token);
	}
}

void cairn__api_account_session_create(cairn_api_request *ctx)
{
	cairn_storage_user user;
	const char *password;
	const char *address = ctx->http->peer && ctx->http->peer[0] ? ctx->http->peer : "unknown";
	char *email = NULL;
	int64_t now = cairn__time_now_ms();
	int rc;

	memset(&user, 0, sizeof(user));
	if (cairn__api_body_failed(ctx))
		return;
	if (ctx->caller.kind == CAIRN_CALLER_USER) {
		cairn__http_respond_error(ctx->response, 401, "user_session_already_exists",
			"Creation of a session is prohibited when a session is active.");
		return;
	}
	if (!(email = take_email(ctx)) || !(password = take_string(ctx, "password")))
		goto cleanup;
	if (login_limited(ctx, email, address, now))
		goto cleanup;
	rc = ctx->api->backend->user_get_by_email(&user, ctx->api->storage, email);
	if (rc < 0 && rc != CAIRN_ENOTFOUND) {
		respond_server_error(ctx);
		goto cleanup;
	}
	if (rc == CAIRN_ENOTFOUND) /* as slow as a wrong password: no account probing by time */
		cairn__account_password_burn(password, ctx->api->password_cost);
	if (rc == CAIRN_ENOTFOUND || !cairn__account_password_verify(user.password_hash, password)) {
		cairn__ratelimit_hit(ctx->api->login_by_email, email, now);
		cairn__ratelimit_hit(ctx->api->login_by_address, address, now);
		cairn__http_respond_error(ctx->response, 401, "user_invalid_credentials",
			"Invalid credentials. Please check the email and password.");
		goto cleanup;
	}
	if (user.status != 1) {
		cairn__http_respond_error(ctx->response, 401, "user_blocked",
			"The current user has been blocked.");
		goto cleanup;
	}
	/* The account's failures are forgotten; the address's are not (one address trying
	 * many accounts is the brute force the address limit is for). */
	cairn__ratelimit_reset(ctx->api->login_by_email, email);
	session_start(ctx, &user, now);
cleanup:
	cairn__storage_user_clear(&user);
	free(email);
}

/* ---- sessions of the signed-in user --------------------------------------------------- */

typedef struct {
	json_object *list;
	const char *email;
	const char *current;
} list_state;

static int list_one(const cairn_storage_session *session, void *payload)
{
	list_state *state = payload;
	json_object *model = session_model(session, state->email,
		strcmp(session->id, state->current) == 0, "");

	if (!model)
		return CAIRN_ENOMEM;
	json_object_array_add(state->list, model);
	return 0;
}

/* The signed-in user's email, for the models' providerUid (malloc'd; NULL on failure). */
static char *caller_email(cairn_api_request *ctx)
{
	cairn_storage_user user;
	char *email = NULL;

	memset(&user, 0, sizeof(user));
	if (ctx->api->backend->user_get(&user, ctx->api->storage, ctx->caller.user_id) == 0)
		email = strdup(user.email);
	cairn__storage_user_clear(&user);
	return email;
}

void cairn__api_account_sessions_list(cairn_api_request *ctx)
{
	list_state state = { NULL, NULL, ctx->caller.session_id };
	json_object *result = NULL;
	char *email = NULL;
	int rc;

	if (!require_user(ctx))
		return;
	state.list = json_object_new_array();
	email = caller_email(ctx);
	state.email = email;
	if (!state.list || !email) {
		respond_server_error(ctx);
		goto cleanup;
	}
	rc = ctx->api->backend->session_list(ctx->api->storage, ctx->caller.user_id, list_one,
		&state);
	if (rc < 0 || !(result = json_object_new_object())) {
		respond_server_error(ctx);
		goto cleanup;
	}
	json_object_object_add(result, "total",
		json_object_new_int64((int64_t)json_object_array_length(state.list)));
	json_object_object_add(result, "sessions", state.list);
	state.list = NULL;
	respond_model(ctx, 200, result);
cleanup:
	json_object_put(state.list);
	free(email);
}

/* The session id a path names: "current" is the caller's own. */
static const char *path_session_id(cairn_api_request *ctx)
{
	return strcmp(ctx->database_id, "current") == 0 ? ctx->caller.session_id :
		ctx->database_id;
}

static void respond_session_missing(cairn_api_request *ctx)
{
	cairn__http_respond_error(ctx->response, 404, "user_session_not_found",
		"The current user session could not be found.");
}

void cairn__api_account_session_get(cairn_api_request *ctx)
{
	cairn_storage_session session;
	const char *id;
	char *email = NULL;
	int rc;

	if (!require_user(ctx))
		return;
	id = path_session_id(ctx);
	memset(&session, 0, sizeof(session));
	rc = ctx->api->backend->session_get(&session, ctx->api->storage, id);
	if (rc == CAIRN_ENOTFOUND || (rc == 0 && strcmp(session.user_id, ctx->caller.user_id)))
		respond_session_missing(ctx);
	else if (rc < 0 || !(email = caller_email(ctx)))
		respond_server_error(ctx);
	else
		respond_model(ctx, 200, session_model(&session, email,
			strcmp(session.id, ctx->caller.session_id) == 0, ""));
	free(email);
	cairn__storage_session_clear(&session);
}

void cairn__api_account_session_delete(cairn_api_request *ctx)
{
	const char *id;
	int current;
	int rc;

	if (!require_user(ctx))
		return;
	id = path_session_id(ctx);
	current = strcmp(id, ctx->caller.session_id) == 0;
	rc = ctx->api->backend->session_delete(ctx->api->storage, ctx->caller.user_id, id);
	if (rc == CAIRN_ENOTFOUND) {
		respond_session_missing(ctx);
		return;
	}
	if (rc < 0) {
		respond_server_error(ctx);
		return;
	}
	cairn__http_respond_no_content(ctx->response);
	if (current)
		clear_session_cookies(ctx);
	if (ctx->api->sessions_ended) /* live realtime connections of it (docs/security.md) */
		ctx->api->sessions_ended(ctx->api->sessions_ended_payload, ctx->caller.user_id, id);
}

void cairn__api_account_sessions_delete(cairn_api_request *ctx)
{
	if (!require_user(ctx))
		return;
	if (ctx->api->backend->session_delete_all(ctx->api->storage, ctx->caller.user_id) < 0) {
		respond_server_error(ctx);
		return;
	}
	cairn__http_respond_no_content(ctx->response);
	clear_session_cookies(ctx);
	if (ctx->api->sessions_ended)
		ctx->api->sessions_ended(ctx->api->sessions_ended_payload, ctx->caller.user_id, NULL);
}
