/* api.h: the server's request handlers: routing, auth, Appwrite REST and /v1/sync. */
#ifndef CAIRN_SERVER_API_H
#define CAIRN_SERVER_API_H

#include <stdint.h>

#include "server/http.h"
#include "storage/storage.h"

typedef struct cairn_api cairn_api; /* routing state shared by all worker threads */

/* Creates the API over an open storage handle (borrowed; must outlive the API). */
int cairn__api_new(cairn_api **out, const cairn_storage_backend *backend, cairn_storage *storage,
	const char *project, const char *api_key);
void cairn__api_free(cairn_api *api);

/* Accounts (api_account_setup.c). Call these before serving requests: not thread-safe. */
/* Accepts one more API key besides the one given to cairn__api_new. */
int cairn__api_add_key(cairn_api *api, const char *key);
/* Adds every key in a text file: one per line; blank lines and lines starting with '#' are
 * skipped, surrounding spaces trimmed. CAIRN_EIO when unreadable, CAIRN_EINVALID when it
 * holds no key. */
int cairn__api_add_keys_file(cairn_api *api, const char *path);
typedef struct {
	int64_t session_lifetime_seconds; /* 0: one year, like Appwrite */
	int fast_password_hash;           /* 1: libsodium's minimum argon2id cost (tests only) */
	unsigned login_failures;          /* per window, per email and per address; 0: 10 */
	int64_t login_window_seconds;     /* 0: 15 minutes */
} cairn_api_account_options;
int cairn__api_set_account_options(cairn_api *api, const cairn_api_account_options *options);
/* Told after the log-out routes end sessions, on the worker thread that ended them (after
 * the delete committed): `session_id` is the one session of `user_id` that ended, or NULL
 * for all of them. Realtime uses it to stop live connections of those sessions from
 * receiving what only the user may read. Set before serving; NULL callback: nobody told. */
typedef void (*cairn_api_sessions_ended)(void *payload, const char *user_id,
	const char *session_id);
void cairn__api_on_sessions_ended(cairn_api *api, cairn_api_sessions_ended callback,
	void *payload);

/* Handles one complete request; fills `response` (always: errors become Appwrite error
 * responses). Thread-safe: called concurrently from worker threads. */
void cairn__api_handle(cairn_api *api, const cairn_http_request *request,
	cairn_http_response *response);

#endif
