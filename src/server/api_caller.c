/* api_caller.c: who is calling: API keys, and session tokens from cookies,
 * X-Appwrite-Session and X-Fallback-Cookies resolved to a user through the stored sessions
 * (Appwrite's order). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "server/account.h"
#include "server/api_int.h"
#include "util/error.h"
#include "util/json.h"
#include "util/time.h"

#define COOKIE_PREFIX "a_session_"
#define COOKIE_NAME_MAX (sizeof(COOKIE_PREFIX) + 128 + sizeof("_legacy"))
#define MAX_HEADER_TEXT 8192 /* cookie and fallback headers longer than this are ignored */

/* Compares a secret in time that depends only on the expected secret's length. */
static int secret_equal(const char *given, const char *expected)
{
	size_t given_length = strlen(given);
	size_t expected_length = strlen(expected);
	volatile unsigned char difference = given_length != expected_length;

	for (size_t i = 0; i < expected_length; i++) {
		unsigned char g = i < given_length ? (unsigned char)given[i] : 0;
		difference |= (unsigned char)(g ^ (unsigned char)expected[i]);
	}
	return difference == 0;
}

/* Every key is compared, whichever matches, so the time says nothing about which. */
int cairn__api_key_accepted(cairn_api *api, const char *key)
{
	int accepted;

	if (!api || !key || !api->api_key)
		return 0;
	accepted = secret_equal(key, api->api_key);
	for (size_t i = 0; i < api->extra_key_count; i++)
		accepted |= secret_equal(key, api->extra_keys[i]);
	return accepted;
}

static void caller_guest(cairn_api_caller *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = CAIRN_CALLER_GUEST;
}

/* Checks the session against the token's user and the clock, then the user. */
static int session_accept(cairn_api *api, const cairn_storage_session *session,
	const char *user_id, cairn_api_caller *out)
{
	cairn_storage_user user;
	int rc;

	if (strcmp(session->user_id, user_id) != 0)
		return cairn__error_set(CAIRN_EAUTH, "the session token does not match its session");
	if (session->expires_at <= cairn__time_now_ms())
		return cairn__error_set(CAIRN_EAUTH, "the session has expired");
	memset(&user, 0, sizeof(user));
	rc = api->backend->user_get(&user, api->storage, user_id);
	if (rc == CAIRN_ENOTFOUND)
		rc = cairn__error_set(CAIRN_EAUTH, "the session's user no longer exists");
	else if (rc == 0 && user.status != 1)
		rc = cairn__error_set(CAIRN_EAUTH, "the user is blocked");
	if (rc == 0) {
		out->kind = CAIRN_CALLER_USER;
		snprintf(out->user_id, sizeof(out->user_id), "%s", user_id);
		snprintf(out->session_id, sizeof(out->session_id), "%s", session->id);
		out->expires_at = session->expires_at;
	}
	cairn__storage_user_clear(&user);
	return rc;
}

int cairn__api_caller_from_token(cairn_api *api, const char *token, cairn_api_caller *out)
{
	char user_id[CAIRN_ID_MAX + 1];
	char secret[CAIRN_ACCOUNT_TOKEN_MAX + 1];
	char hash[CAIRN_ACCOUNT_HASH_TEXT];
	cairn_storage_session session;
	int rc;

	caller_guest(out);
	if (!api)
		return cairn__error_set(CAIRN_EINVALID, "no API to resolve a session token against");
	if (!token || !token[0])
		return 0;
	rc = cairn__account_token_decode(token, user_id, secret);
	if (rc < 0)
		return rc;
	cairn__account_secret_hash(hash, secret);
	sodium_memzero(secret, sizeof(secret));
	memset(&session, 0, sizeof(session));
	rc = api->backend->session_find(&session, api->storage, hash);
	if (rc == CAIRN_ENOTFOUND)
		rc = cairn__error_set(CAIRN_EAUTH, "no such session (signed out or never valid)");
	else if (rc == 0)
		rc = session_accept(api, &session, user_id, out);
	cairn__storage_session_clear(&session);
	if (rc < 0)
		caller_guest(out);
	return rc;
}

/* Percent-decodes `length` bytes of `text` into a malloc'd string ('+' stays: base64). */
static char *cookie_value_decode(const char *text, size_t length)
{
	char *out = malloc(length + 1);
	size_t used = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < length; i++) {
		if (text[i] == '%' && i + 2 < length &&
			isxdigit((unsigned char)text[i + 1]) && isxdigit((unsigned char)text[i + 2])) {
			char pair[3] = { text[i + 1], text[i + 2], '\0' };
			out[used++] = (char)strtol(pair, NULL, 16);
			i += 2;
		} else {
			out[used++] = text[i];
		}
	}
	out[used] = '\0';
	if (used > 1 && out[0] == '"' && out[used - 1] == '"') { /* RFC 6265 quoted value */
		memmove(out, out + 1, used - 2);
		out[used - 2] = '\0';
	}
	return out;
}

/* The value of cookie `name` in a Cookie header (malloc'd), or NULL. */
static char *cookie_find(const char *header, const char *name)
{
	size_t name_length = strlen(name);
	const char *cursor = header;

	while (cursor && *cursor) {
		const char *end = strchr(cursor, ';');
		size_t length = end ? (size_t)(end - cursor) : strlen(cursor);

		while (length && (*cursor == ' ' || *cursor == '\t')) {
			cursor++;
			length--;
		}
		if (length > name_length && memcmp(cursor, name, name_length) == 0 &&
			cursor[name_length] == '=')
			return cookie_value_decode(cursor + name_length + 1, length - name_length - 1);
		cursor = end ? end + 1 : NULL;
	}
	return NULL;
}

/* The session token from the X-Fallback-Cookies JSON map (malloc'd), or NULL. */
static char *fallback_find(const char *header, const char *name)
{
	json_object *map = cairn__json_parse_object(header, strlen(header), 2);
	const char *value = NULL;
	char *token = NULL;

	if (map && cairn__json_get_string(map, name, &value))
		token = strdup(value);
	json_object_put(map);
	return token;
}

/* Resolves a token found in the request (malloc'd, consumed; NULL = out of memory). */
static int resolve_found(cairn_api *api, char *token, cairn_api_caller *out)
{
	int rc;

	if (!token)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory reading the session");
	rc = cairn__api_caller_from_token(api, token, out);
	sodium_memzero(token, strlen(token));
	free(token);
	return rc;
}

int cairn__api_session_token(char **out, cairn_api *api, const cairn_http_request *http)
{
	char name[COOKIE_NAME_MAX];
	const char *header;
	char *token = NULL;

	*out = NULL;
	if (!api || !http)
		return cairn__error_set(CAIRN_EINVALID, "no request to find a session token in");
	snprintf(name, sizeof(name), COOKIE_PREFIX "%.128s", api->project);
	header = cairn__http_header(http, "cookie");
	if (header && strlen(header) <= MAX_HEADER_TEXT) {
		token = cookie_find(header, name);
		if (!token || !token[0]) {
			free(token);
			snprintf(name, sizeof(name), COOKIE_PREFIX "%.128s_legacy", api->project);
			token = cookie_find(header, name);
		}
		if (token && token[0]) {
			*out = token;
			return 0;
		}
		free(token);
	}
	header = cairn__http_header(http, "x-appwrite-session");
	if (header && header[0]) {
		if (strlen(header) > CAIRN_ACCOUNT_TOKEN_MAX)
			return cairn__error_set(CAIRN_EAUTH, "the session token is too long");
		if (!(*out = strdup(header)))
			return cairn__error_set(CAIRN_ENOMEM, "out of memory reading the session");
		return 0;
	}
	header = cairn__http_header(http, "x-fallback-cookies");
	if (header && header[0] && strlen(header) <= MAX_HEADER_TEXT) {
		snprintf(name, sizeof(name), COOKIE_PREFIX "%.128s", api->project);
		token = fallback_find(header, name);
		if (token && token[0]) {
			*out = token;
			return 0;
		}
		free(token);
	}
	return 0;
}

int cairn__api_caller_from_headers(cairn_api *api, const cairn_http_request *http,
	cairn_api_caller *out)
{
	char *token = NULL;
	int rc;

	caller_guest(out);
	if (!api || !http)
		return cairn__error_set(CAIRN_EINVALID, "no request to resolve a caller from");
	rc = cairn__api_session_token(&token, api, http);
	if (rc < 0 || !token)
		return rc;
	return resolve_found(api, token, out);
}
