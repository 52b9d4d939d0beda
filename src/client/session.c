/* session.c: signing a store in and out of its remote (Appwrite email/password sessions):
 * the token kept in the store's meta table and the header that carries it. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "client/session_int.h"
#include "client/store_int.h"
#include "net/http_client.h"
#include "util/error.h"
#include "util/json.h"

#define META_TOKEN "session_token"
#define META_EMAIL "session_email"
#define META_USER "session_user_id"
#define LOGIN_TIMEOUT_MS 30000
#define MAX_TOKEN 1024

static void wipe(char *text)
{
	if (!text)
		return;
	/* volatile: the compiler may not drop the stores because the buffer is freed next */
	for (volatile char *p = text; *p; p++)
		*p = '\0';
}

void cairn__session_token_free(char *token)
{
	wipe(token);
	free(token);
}

int cairn__store_session_token(char **out, cairn_store *store)
{
	int rc = cairn__meta_get_text(store, META_TOKEN, out);

	if (rc < 0)
		return rc;
	if (*out && !(*out)[0]) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

int cairn__store_auth_headers(cairn_store *store, cairn__http_client *http)
{
	char *token = NULL;
	int rc = cairn__store_session_token(&token, store);

	if (rc == 0 && token)
		rc = cairn__http_client_add_header(http, "X-Appwrite-Session", token);
	cairn__session_token_free(token);
	return rc;
}

int cairn__session_remote_changing(cairn_store *store, const char *url, const char *project)
{
	char *token = NULL, *stored_url = NULL, *stored_project = NULL;
	int rc = cairn__store_session_token(&token, store);

	if (rc < 0 || !token)
		return rc;
	cairn__session_token_free(token);
	if ((rc = cairn__meta_get_text(store, "remote_url", &stored_url)) < 0 ||
		(rc = cairn__meta_get_text(store, "remote_project", &stored_project)) < 0)
		goto cleanup;
	rc = 0;
	if (!stored_url || !stored_project || strcmp(stored_url, url ? url : "") != 0 ||
		strcmp(stored_project, project ? project : "") != 0) {
		if ((rc = cairn__meta_set_text(store, META_TOKEN, NULL)) == 0 &&
			(rc = cairn__meta_set_text(store, META_EMAIL, NULL)) == 0)
			rc = cairn__meta_set_text(store, META_USER, NULL);
	}
cleanup:
	free(stored_url);
	free(stored_project);
	return rc;
}

/* The remote's URL, project and CA file from meta (malloc'd); CAIRN_ENOREMOTE if unset. */
typedef struct {
	char *url;
	char *project;
	char *ca_file;
} remote_meta;

static void remote_meta_clear(remote_meta *remote)
{
	free(remote->url);
	free(remote->project);
	free(remote->ca_file);
	memset(remote, 0, sizeof(*remote));
}

static int remote_meta_load(remote_meta *remote, cairn_store *store)
{
	int rc;

	memset(remote, 0, sizeof(*remote));
	rc = cairn__meta_get_text(store, "remote_url", &remote->url);
	if (rc == 0 || (rc > 0 && !remote->url[0]))
		rc = cairn__error_set(CAIRN_ENOREMOTE, "no remote is configured: set one first "
			"(cairn_store_set_remote, `cairn remote`)");
	if (rc > 0)
		rc = cairn__meta_get_text(store, "remote_project", &remote->project);
	if (rc >= 0)
		rc = cairn__meta_get_text(store, "remote_ca_file", &remote->ca_file);
	if (rc < 0) {
		remote_meta_clear(remote);
		return rc;
	}
	return 0;
}

/* A client for the remote, without the API key: the session is the user's own. */
static int remote_client(cairn__http_client **out, const remote_meta *remote)
{
	int rc = cairn__http_client_new(out, remote->url, remote->project ? remote->project : "",
		NULL, LOGIN_TIMEOUT_MS);

	if (rc == 0 && remote->ca_file && remote->ca_file[0])
		rc = cairn__http_client_set_ca_file(*out, remote->ca_file);
	if (rc != 0) {
		cairn__http_client_free(*out);
		*out = NULL;
	}
	return rc;
}

/* Percent-decodes a cookie value in place. */
static void percent_decode(char *text)
{
	char *out = text;

	for (char *in = text; *in; in++) {
		if (in[0] == '%' && isxdigit((unsigned char)in[1]) && isxdigit((unsigned char)in[2])) {
			char pair[3] = { in[1], in[2], '\0' };
			*out++ = (char)strtol(pair, NULL, 16);
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
}

/* The session token of a login reply: the a_session_<project> cookie, else the
 * X-Fallback-Cookies map, else a non-empty `secret` in the Session (API-key callers).
 * malloc'd in *out, or NULL when the reply holds none. */
static int login_token(char **out, cairn__http_client *http, const char *project,
	json_object *session)
{
	char prefix[200];
	char *header = NULL;
	const char *secret = NULL;
	int rc;

	*out = NULL;
	snprintf(prefix, sizeof(prefix), "a_session_%s=", project);
	rc = cairn__http_client_response_header(&header, http, "Set-Cookie", prefix);
	if (rc > 0) {
		char *value = header + strlen(prefix);

		value[strcspn(value, ";")] = '\0';
		percent_decode(value);
		if (value[0] && strlen(value) <= MAX_TOKEN)
			*out = strdup(value);
		cairn__session_token_free(header);
		return *out || !value[0] ? 0 : cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	if (rc < 0)
		return rc;
	rc = cairn__http_client_response_header(&header, http, "X-Fallback-Cookies", NULL);
	if (rc > 0) {
		json_object *map = cairn__json_parse_object(header, strlen(header), 2);
		const char *value = NULL;

		snprintf(prefix, sizeof(prefix), "a_session_%s", project);
		if (map && cairn__json_get_string(map, prefix, &value) && value[0])
			*out = strdup(value);
		json_object_put(map);
		cairn__session_token_free(header);
		if (*out)
			return 0;
	}
	if (rc < 0)
		return rc;
	if (cairn__json_get_string(session, "secret", &secret) && secret[0])
		*out = strdup(secret);
	return 0;
}

/* The error for a refused login reply. */
static int login_refused(const cairn__http_response *response)
{
	char message[300];

	cairn__http_error_message(response, message, sizeof(message));
	if (response->status == 401 || response->status == 400)
		return cairn__error_set(CAIRN_EAUTH, "the server refused the login: %s", message);
	if (response->status == 429)
		return cairn__error_set(CAIRN_EBUSY, "too many failed logins: %s", message);
	if (response->status == 404)
		return cairn__error_set(CAIRN_ENOTFOUND, "the server does not know this project or "
			"has no accounts: %s", message);
	return cairn__error_set(CAIRN_ESERVER, "the login failed (HTTP %ld): %s",
		response->status, message);
}

/* Keeps the session in meta, in one transaction. */
static int session_store(cairn_store *store, const char *token, const char *email,
	const char *user_id)
{
	int rc = cairn__store_begin(store);

	if (rc < 0)
		return rc;
	if ((rc = cairn__meta_set_text(store, META_TOKEN, token)) < 0 ||
		(rc = cairn__meta_set_text(store, META_EMAIL, email)) < 0 ||
		(rc = cairn__meta_set_text(store, META_USER, user_id)) < 0) {
		cairn__store_rollback(store);
		return rc;
	}
	return cairn__store_commit(store);
}

int cairn_store_login(cairn_store *store, const char *email, const char *password)
{
	remote_meta remote;
	cairn__http_client *http = NULL;
	cairn__http_response response;
	json_object *body = NULL, *session = NULL;
	const char *text;
	const char *user_id = "";
	char *token = NULL;
	int rc;

	memset(&response, 0, sizeof(response));
	if (!store || !email || !email[0] || !password || !password[0])
		return cairn__error_set(CAIRN_EINVALID, "login needs a store, an email and a "
			"password");
	if ((rc = remote_meta_load(&remote, store)) < 0)
		return rc;
	body = json_object_new_object();
	if (!body) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_object_object_add(body, "email", json_object_new_string(email));
	json_object_object_add(body, "password", json_object_new_string(password));
	text = cairn__json_text(body, NULL);
	if (!text) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = remote_client(&http, &remote)) < 0)
		goto cleanup;
	rc = cairn__http_request(&response, http, "POST", "/account/sessions/email", text,
		strlen(text));
	wipe((char *)text); /* the password is in it */
	if (rc < 0)
		goto cleanup;
	if (response.status != 201 && response.status != 200) {
		rc = login_refused(&response);
		goto cleanup;
	}
	session = cairn__json_parse_object(response.body, response.length, 0);
	if (session)
		cairn__json_get_string(session, "userId", &user_id);
	if ((rc = login_token(&token, http, remote.project ? remote.project : "", session)) < 0)
		goto cleanup;
	if (!token) {
		rc = cairn__error_set(CAIRN_ESERVER, "the server accepted the login but sent no "
			"session cookie or token");
		goto cleanup;
	}
	rc = session_store(store, token, email, user_id);
cleanup:
	cairn__session_token_free(token);
	cairn__http_client_response_clear(&response);
	cairn__http_client_free(http);
	json_object_put(session);
	if (body) {
		json_object *field = NULL;
		if (json_object_object_get_ex(body, "password", &field))
			wipe((char *)json_object_get_string(field));
	}
	json_object_put(body);
	remote_meta_clear(&remote);
	return rc;
}

/* Tells the server to end session `token`. 0 also when the server no longer knows it. */
static int session_end_remote(cairn_store *store, const char *token)
{
	remote_meta remote;
	cairn__http_client *http = NULL;
	cairn__http_response response;
	int rc;

	memset(&response, 0, sizeof(response));
	if ((rc = remote_meta_load(&remote, store)) < 0)
		return rc;
	if ((rc = remote_client(&http, &remote)) < 0 ||
		(rc = cairn__http_client_add_header(http, "X-Appwrite-Session", token)) < 0)
		goto cleanup;
	rc = cairn__http_request(&response, http, "DELETE", "/account/sessions/current", "{}", 2);
	if (rc == 0 && response.status >= 500)
		rc = cairn__error_set(CAIRN_ESERVER, "the server failed to end the session (HTTP "
			"%ld)", response.status);
cleanup:
	cairn__http_client_response_clear(&response);
	cairn__http_client_free(http);
	remote_meta_clear(&remote);
	return rc;
}

int cairn_store_logout(cairn_store *store)
{
	char *token = NULL;
	char message[512] = "";
	int remote_rc;
	int rc;

	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "logout needs a store");
	if ((rc = cairn__store_session_token(&token, store)) < 0)
		return rc;
	if (!token)
		return 0;
	remote_rc = session_end_remote(store, token);
	if (remote_rc < 0)
		snprintf(message, sizeof(message), "%s", cairn_error_last());
	cairn__session_token_free(token);
	rc = session_store(store, NULL, NULL, NULL);
	if (rc < 0)
		return rc;
	if (remote_rc < 0)
		return cairn__error_set(remote_rc, "signed out locally, but the server was not told "
			"(the session stays valid there until it expires): %s", message);
	return 0;
}

int cairn_store_session_email(char **out_email, cairn_store *store)
{
	char *token = NULL;
	int rc;

	if (!out_email || !store)
		return cairn__error_set(CAIRN_EINVALID, "no store or output");
	*out_email = NULL;
	if ((rc = cairn__store_session_token(&token, store)) < 0)
		return rc;
	if (!token)
		return 0;
	cairn__session_token_free(token);
	rc = cairn__meta_get_text(store, META_EMAIL, out_email);
	if (rc < 0)
		return rc;
	if (!*out_email && !(*out_email = strdup("")))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	return 1;
}
