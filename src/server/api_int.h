/* api_int.h: internals shared by the API's files: the API object, the per-request context,
 * the handlers the router dispatches to, and small response helpers. */
#ifndef CAIRN_SERVER_API_INT_H
#define CAIRN_SERVER_API_INT_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "server/api.h"
#include "server/http.h"
#include "server/models.h"
#include "storage/storage.h"

#define CAIRN_API_MAX_DOCUMENT_BYTES (1024u * 1024u) /* user fields as JSON */
#define CAIRN_API_DEPTH_TEXT "32" /* CAIRN_JSON_MAX_DEPTH as text, for messages */
#define CAIRN_API_ENVELOPE_DEPTH 4 /* request levels around a document (push: body, array, mutation, data) */
#define CAIRN_API_MAX_PUSH_MUTATIONS 1000
#define CAIRN_API_MAX_TOTAL 5000                     /* Appwrite's APP_LIMIT_COUNT */
#define CAIRN_API_MAX_PERMISSIONS 100
#define CAIRN_API_MAX_NAME 128                       /* database and collection names */

struct cairn_ratelimit;

struct cairn_api {
	const cairn_storage_backend *backend;
	cairn_storage *storage; /* borrowed */
	char *project;
	char *api_key;
	/* accounts (api_account_setup.c): set up by cairn__api_new, changed only before serving */
	char **extra_keys;              /* more accepted API keys (cairn__api_add_key) */
	size_t extra_key_count;
	int64_t session_lifetime_ms;    /* default 1 year */
	int password_cost;              /* cairn_password_cost (server/account.h) */
	struct cairn_ratelimit *login_by_email;   /* failed logins per account */
	struct cairn_ratelimit *login_by_address; /* failed logins per client address */
	cairn_api_sessions_ended sessions_ended;  /* told after log-outs (api.h) */
	void *sessions_ended_payload;
};

/* Who is calling: resolved once per request by authorize() in api.c. An API key is the
 * server side (Appwrite's keys: every permission check passes); a user comes from a
 * session (cookie, X-Appwrite-Session or X-Fallback-Cookies); otherwise a guest. */
typedef enum {
	CAIRN_CALLER_GUEST = 0,
	CAIRN_CALLER_USER,
	CAIRN_CALLER_KEY
} cairn_api_caller_kind;

typedef struct {
	cairn_api_caller_kind kind;
	char user_id[CAIRN_ID_MAX + 1];    /* CAIRN_CALLER_USER: the user's $id, else "" */
	char session_id[CAIRN_ID_MAX + 1]; /* CAIRN_CALLER_USER: the session's $id, else "" */
	int64_t expires_at;                /* CAIRN_CALLER_USER: when the session expires (ms) */
} cairn_api_caller;

/* Resolves a session token (base64 of {"id":userId,"secret":secret}, as in cookies,
 * X-Appwrite-Session and realtime `authentication`) to a user caller. NULL or "" gives a
 * guest and 0. A malformed, oversized, unknown, expired or revoked token, or a blocked
 * user: CAIRN_EAUTH with a message (answer 401 user_invalid_token). Other failures
 * (storage): their negative code. `out` is always filled (guest unless 0 and a user).
 * Thread-safe. (api_caller.c) */
int cairn__api_caller_from_token(cairn_api *api, const char *token, cairn_api_caller *out);
/* Finds the session token of a request in Appwrite's order: cookie a_session_<project>,
 * then a_session_<project>_legacy, then X-Appwrite-Session, then X-Fallback-Cookies
 * ({"a_session_<project>": token}), and resolves it as above. No token: guest, 0. Does
 * not look at X-Appwrite-Key (authorize() does). (api_caller.c) */
int cairn__api_caller_from_headers(cairn_api *api, const cairn_http_request *http,
	cairn_api_caller *out);
/* Only the finding part of cairn__api_caller_from_headers, without storage (realtime calls
 * it on its loop thread and resolves the token on a worker): *out is the malloc'd token, or
 * NULL when the request has none. CAIRN_EAUTH for an oversized X-Appwrite-Session,
 * CAIRN_ENOMEM. (api_caller.c) */
int cairn__api_session_token(char **out, cairn_api *api, const cairn_http_request *http);

/* Account set-up for cairn__api_new/_free (api_account_setup.c). */
int cairn__api_accounts_init(cairn_api *api);
void cairn__api_accounts_free(cairn_api *api);
/* 1 when `key` is one of the API's keys (compared in constant time per key). (api_caller.c) */
int cairn__api_key_accepted(cairn_api *api, const char *key);
/* 1 for sign-up and sign-in requests, where a stale session token is ignored (the caller
 * is a guest) instead of answering 401: a browser with an expired cookie must be able to
 * sign in again. */
int cairn__api_account_ignores_stale_session(const cairn_http_request *http);

/* One request being handled: what the router matched, plus the parsed body. */
typedef struct {
	cairn_api *api;
	const cairn_http_request *http;
	cairn_http_response *response;
	const char *database_id;   /* path segments (borrowed from `segments` storage) */
	const char *collection_id;
	const char *document_id;
	const char *attribute_id;  /* a fourth captured segment (increment's attribute, an
	                            * attribute key after its type), else NULL */
	int naming;                /* CAIRN_API_NAMING_*: the route's naming (api_tablesdb.c) */
	cairn_api_caller caller;   /* who is calling (see above) */
	json_object *body;         /* the JSON body object ({} when empty); NULL if it failed */
	char body_error[256];      /* why `body` is NULL */
} cairn_api_request;

/* TablesDB (api_tablesdb.c): /v1/tablesdb/... is served by the legacy handlers. The router
 * maps its path onto the legacy one (tables = collections, rows = documents, columns =
 * attributes) and sets ctx->naming; the request body's TablesDB names are renamed before
 * the handler runs and its response (models, lists, error types) after. */
enum { CAIRN_API_NAMING_LEGACY = 0, CAIRN_API_NAMING_TABLES = 1 };
/* Rewrites segments[0..count) of a /v1/tablesdb/... path to the legacy names in place
 * (pointers to static strings); returns CAIRN_API_NAMING_TABLES, or LEGACY (untouched)
 * for any other path. */
int cairn__api_tablesdb_map_path(char **segments, size_t count);
/* Renames TablesDB body keys (rowId, tableId, rowSecurity, rows, columns) to legacy ones. */
void cairn__api_tablesdb_request(cairn_api_request *ctx);
/* Renames the response's legacy names to TablesDB ones ($tableId, rows, tables, columns,
 * rowSecurity, row_ and table_ error types). */
void cairn__api_tablesdb_response(cairn_api_request *ctx);

/* Handlers: each fills ctx->response. */
void cairn__api_databases_list(cairn_api_request *ctx);
void cairn__api_database_create(cairn_api_request *ctx);
void cairn__api_database_get(cairn_api_request *ctx);
void cairn__api_database_update(cairn_api_request *ctx);
void cairn__api_database_delete(cairn_api_request *ctx);
void cairn__api_collections_list(cairn_api_request *ctx);
void cairn__api_collection_create(cairn_api_request *ctx);
void cairn__api_collection_get(cairn_api_request *ctx);
void cairn__api_collection_update(cairn_api_request *ctx);
void cairn__api_collection_delete(cairn_api_request *ctx);

void cairn__api_documents_list(cairn_api_request *ctx);
void cairn__api_document_create(cairn_api_request *ctx); /* also bulk create (`documents`) */
void cairn__api_documents_bulk_upsert(cairn_api_request *ctx);
void cairn__api_documents_bulk_update(cairn_api_request *ctx);
void cairn__api_documents_bulk_delete(cairn_api_request *ctx);
void cairn__api_document_get(cairn_api_request *ctx);
void cairn__api_document_update(cairn_api_request *ctx);
void cairn__api_document_upsert(cairn_api_request *ctx);
void cairn__api_document_delete(cairn_api_request *ctx);
/* Responds to one applied write's outcome as the document routes do: the Document model
 * with `status`, or the Appwrite error (api_documents.c). */
void cairn__api_respond_outcome(cairn_api_request *ctx, const cairn_storage_write *write,
	const cairn_storage_outcome *outcome, int status);
/* Attribute and index routes (api_schema.c): definitions stored per collection, not
 * enforced. The attribute type of create/update is in ctx->document_id, update's key in
 * ctx->attribute_id; get/delete's key in ctx->document_id. */
void cairn__api_attribute_create(cairn_api_request *ctx);
void cairn__api_attributes_list(cairn_api_request *ctx);
void cairn__api_attribute_get(cairn_api_request *ctx);
void cairn__api_attribute_update(cairn_api_request *ctx);
void cairn__api_attribute_delete(cairn_api_request *ctx);
void cairn__api_index_create(cairn_api_request *ctx);
void cairn__api_indexes_list(cairn_api_request *ctx);
void cairn__api_index_get(cairn_api_request *ctx);
void cairn__api_index_delete(cairn_api_request *ctx);
/* Puts the collection's declared `attributes` and `indexes` into its Collection `model`.
 * 0 or a negative code (error set). */
int cairn__api_schema_fill(cairn_api *api, json_object *model,
	const cairn_storage_collection *collection);
/* A collection create's inline `attributes` and `indexes`: *out a schema to store once the
 * collection exists (NULL when the body has neither). 0, or -1 after responding 400. */
int cairn__api_schema_inline(cairn_api_request *ctx, json_object **out);
/* Stores that schema (NULL: nothing) for the created collection. 0 or a negative code. */
int cairn__api_schema_inline_store(cairn_api *api, const cairn_storage_collection *collection,
	json_object *schema);
/* PATCH .../documents/{id}/{attribute}/increment and /decrement (api_increment.c). */
void cairn__api_document_increment(cairn_api_request *ctx);
void cairn__api_document_decrement(cairn_api_request *ctx);

void cairn__api_account_create(cairn_api_request *ctx);       /* api_account.c */
void cairn__api_account_get(cairn_api_request *ctx);
void cairn__api_account_session_create(cairn_api_request *ctx);
void cairn__api_account_sessions_list(cairn_api_request *ctx);
void cairn__api_account_session_get(cairn_api_request *ctx);     /* id in ctx->database_id */
void cairn__api_account_session_delete(cairn_api_request *ctx);  /* id in ctx->database_id */
void cairn__api_account_sessions_delete(cairn_api_request *ctx);

void cairn__api_sync_pull(cairn_api_request *ctx);
void cairn__api_sync_push(cairn_api_request *ctx);

/* ---- helpers (api.c) ---- */

/* Answers with the body parse error when ctx->body is NULL; returns 1 if it answered. */
int cairn__api_body_failed(cairn_api_request *ctx);
/* Responds with the JSON text of `value` (consumes nothing; `value` stays the caller's).
 * On ENOMEM responds 500. */
void cairn__api_respond_model(cairn_api_request *ctx, int status, json_object *value);
/* Responds to a failed storage call `code` with the thread's last error message, choosing
 * status and type: ENOTFOUND uses `not_found_type` (404), EEXISTS `exists_type` (409),
 * EINVALID/ETOOBIG 400 general_argument_invalid, anything else 500 general_server_error. */
void cairn__api_respond_storage_error(cairn_api_request *ctx, int code,
	const char *not_found_type, const char *exists_type);
/* The HTTP status for a storage outcome code (404, 409, 400 or 500). */
int cairn__api_status_for_code(int code);
/* Loads the database (and collection when `collection_id` is set) of ctx, answering
 * 404 database_not_found / collection_not_found when missing. Returns 0 or a negative code
 * after having responded. */
int cairn__api_require_database(cairn_api_request *ctx);
int cairn__api_require_collection(cairn_api_request *ctx);
/* The same, keeping the collection in *out (clear it afterwards, whatever the result). */
int cairn__api_load_collection(cairn_api_request *ctx, cairn_storage_collection *out);
/* Checks an id from a body field or "unique()" (then writes a generated id into `out`).
 * On failure responds 400 general_argument_invalid naming `param` and returns -1. */
int cairn__api_take_id(cairn_api_request *ctx, json_object *body, const char *param,
	char out[CAIRN_ID_MAX + 1]);
/* Validates an optional permissions field: absent -> *out NULL, 0. An array of permission
 * strings -> *out borrowed, 0. Otherwise responds 400 general_argument_invalid, -1. */
int cairn__api_take_permissions(cairn_api_request *ctx, json_object *object, const char *key,
	json_object **out);
/* Checks a permissions value: NULL when valid, else a static reason. */
const char *cairn__api_permissions_problem(json_object *permissions);
/* An optional boolean field: absent -> *out unchanged, 0; boolean -> 0; else responds 400. */
int cairn__api_take_bool(cairn_api_request *ctx, json_object *object, const char *key, int *out);
/* The first value of a query parameter (malloc'd) or NULL. */
char *cairn__api_query_param(cairn_api_request *ctx, const char *name);
/* 1 unless the `total` query parameter (or body field) says false. */
int cairn__api_want_total(cairn_api_request *ctx);
/* Runs `queries` (Appwrite Query JSON strings) over `models` (borrowed) and responds
 * 200 {total, <list_key>: [...]} (total capped at 5000, 0 when total=false). Answers
 * 400 general_query_invalid / general_cursor_not_found itself. */
void cairn__api_respond_list(cairn_api_request *ctx, json_object *models, char **queries,
	size_t query_count, const char *list_key);
/* Validates a list of query strings (count, length): responds 400 and returns -1 if bad. */
int cairn__api_check_queries(cairn_api_request *ctx, char **queries, size_t count);
/* api_lookup.c: when a documents list only looks ids up (equal on $id, or an `or` of those,
 * plus order/select), rewrites each `or` as one equal("$id", [...]) (so that a long one fits
 * the per-query limit) and, when more ids are named than the default page holds, appends a
 * limit for all of them. `*queries` is malloc'd as by cairn__http_query_values. RxDB's push
 * reads its batch with such a list and no limit (appwrite-compat.md §9.4). Any other list is
 * left as it is. 0, or -1 out of memory. */
int cairn__api_id_lookup(char ***queries, size_t *count);

#endif
