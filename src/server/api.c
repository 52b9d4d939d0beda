/* api.c: the API object, request routing, project/key auth, body parsing, and the helpers
 * every handler shares (error mapping, id and permission checks, query-run lists). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_body.h"
#include "server/api_int.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/query.h"

#define MAX_SEGMENTS 8

typedef enum {
	AUTH_PUBLIC = 0,  /* no project, no key (/health/version) */
	AUTH_PROJECT,     /* the project must match (/ping) */
	AUTH_KEY          /* project and API key */
} auth_level;

typedef struct {
	const char *method;
	const char *pattern; /* segments after /v1, ':' captures database, collection, document */
	auth_level auth;
	void (*handler)(cairn_api_request *ctx);
} route;

static void handle_health(cairn_api_request *ctx);
static void handle_health_version(cairn_api_request *ctx);
static void handle_ping(cairn_api_request *ctx);

static const route routes[] = {
	{ "GET", "health", AUTH_KEY, handle_health },
	{ "GET", "health/version", AUTH_PUBLIC, handle_health_version },
	{ "GET", "ping", AUTH_PROJECT, handle_ping },
	{ "GET", "databases", AUTH_KEY, cairn__api_databases_list },
	{ "POST", "databases", AUTH_KEY, cairn__api_database_create },
	{ "GET", "databases/:", AUTH_KEY, cairn__api_database_get },
	{ "PUT", "databases/:", AUTH_KEY, cairn__api_database_update },
	{ "DELETE", "databases/:", AUTH_KEY, cairn__api_database_delete },
	{ "GET", "databases/:/collections", AUTH_KEY, cairn__api_collections_list },
	{ "POST", "databases/:/collections", AUTH_KEY, cairn__api_collection_create },
	{ "GET", "databases/:/collections/:", AUTH_KEY, cairn__api_collection_get },
	{ "PUT", "databases/:/collections/:", AUTH_KEY, cairn__api_collection_update },
	{ "DELETE", "databases/:/collections/:", AUTH_KEY, cairn__api_collection_delete },
	/* attributes and indexes (api_schema.c): stored, not enforced */
	{ "POST", "databases/:/collections/:/attributes/:", AUTH_KEY, cairn__api_attribute_create },
	{ "GET", "databases/:/collections/:/attributes", AUTH_KEY, cairn__api_attributes_list },
	{ "GET", "databases/:/collections/:/attributes/:", AUTH_KEY, cairn__api_attribute_get },
	{ "PATCH", "databases/:/collections/:/attributes/:/:", AUTH_KEY,
		cairn__api_attribute_update },
	{ "DELETE", "databases/:/collections/:/attributes/:", AUTH_KEY,
		cairn__api_attribute_delete },
	{ "POST", "databases/:/collections/:/indexes", AUTH_KEY, cairn__api_index_create },
	{ "GET", "databases/:/collections/:/indexes", AUTH_KEY, cairn__api_indexes_list },
	{ "GET", "databases/:/collections/:/indexes/:", AUTH_KEY, cairn__api_index_get },
	{ "DELETE", "databases/:/collections/:/indexes/:", AUTH_KEY, cairn__api_index_delete },
	/* Document and sync routes take any caller of the project: their handlers check
	 * permissions (server/permissions.h); the bulk ones answer non-keys themselves. */
	{ "GET", "databases/:/collections/:/documents", AUTH_PROJECT, cairn__api_documents_list },
	{ "POST", "databases/:/collections/:/documents", AUTH_PROJECT,
		cairn__api_document_create },
	{ "PUT", "databases/:/collections/:/documents", AUTH_KEY,
		cairn__api_documents_bulk_upsert },
	{ "PATCH", "databases/:/collections/:/documents", AUTH_KEY,
		cairn__api_documents_bulk_update },
	{ "DELETE", "databases/:/collections/:/documents", AUTH_KEY,
		cairn__api_documents_bulk_delete },
	{ "GET", "databases/:/collections/:/documents/:", AUTH_PROJECT,
		cairn__api_document_get },
	{ "PATCH", "databases/:/collections/:/documents/:", AUTH_PROJECT,
		cairn__api_document_update },
	{ "PUT", "databases/:/collections/:/documents/:", AUTH_PROJECT,
		cairn__api_document_upsert },
	{ "DELETE", "databases/:/collections/:/documents/:", AUTH_PROJECT,
		cairn__api_document_delete },
	{ "PATCH", "databases/:/collections/:/documents/:/:/increment", AUTH_PROJECT,
		cairn__api_document_increment },
	{ "PATCH", "databases/:/collections/:/documents/:/:/decrement", AUTH_PROJECT,
		cairn__api_document_decrement },
	{ "POST", "sync/databases/:/pull", AUTH_PROJECT, cairn__api_sync_pull },
	{ "POST", "sync/databases/:/push", AUTH_PROJECT, cairn__api_sync_push },
	/* accounts (api_account.c); the handlers check for a signed-in user themselves */
	{ "POST", "account", AUTH_PROJECT, cairn__api_account_create },
	{ "GET", "account", AUTH_PROJECT, cairn__api_account_get },
	{ "POST", "account/sessions/email", AUTH_PROJECT, cairn__api_account_session_create },
	{ "POST", "account/sessions", AUTH_PROJECT, cairn__api_account_session_create },
	{ "GET", "account/sessions", AUTH_PROJECT, cairn__api_account_sessions_list },
	{ "DELETE", "account/sessions", AUTH_PROJECT, cairn__api_account_sessions_delete },
	{ "GET", "account/sessions/:", AUTH_PROJECT, cairn__api_account_session_get },
	{ "DELETE", "account/sessions/:", AUTH_PROJECT, cairn__api_account_session_delete },
};

int cairn__api_new(cairn_api **out, const cairn_storage_backend *backend, cairn_storage *storage,
	const char *project, const char *api_key)
{
	cairn_api *api;

	if (!out || !backend || !storage || !project || !project[0] || !api_key || !api_key[0])
		return cairn__error_set(CAIRN_EINVALID,
			"the API needs a storage backend, a project id and a non-empty API key");
	if (backend->version != CAIRN_STORAGE_BACKEND_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "storage backend '%s' has version %u, "
			"this server needs %u", backend->name ? backend->name : "?", backend->version,
			CAIRN_STORAGE_BACKEND_VERSION);
	api = calloc(1, sizeof(*api));
	if (!api)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory creating the API");
	api->backend = backend;
	api->storage = storage;
	api->project = strdup(project);
	api->api_key = strdup(api_key);
	if (!api->project || !api->api_key) {
		cairn__api_free(api);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory creating the API");
	}
	if (cairn__api_accounts_init(api) < 0) {
		cairn__api_free(api);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory creating the API");
	}
	*out = api;
	return 0;
}

void cairn__api_free(cairn_api *api)
{
	if (!api)
		return;
	free(api->project);
	if (api->api_key) {
		/* Do not leave the key lying around in freed memory. */
		volatile char *key = api->api_key;
		while (*key)
			*key++ = '\0';
	}
	free(api->api_key);
	cairn__api_accounts_free(api);
	free(api);
}

/* ---- auth ---------------------------------------------------------------------------- */

/* API keys are checked by cairn__api_key_accepted (api_caller.c, shared with realtime). */

/* Sets ctx->caller from the request's session, if any. A bad token answers 401
 * user_invalid_token (0), except where sign-in must stay possible. */
static int resolve_session(cairn_api_request *ctx)
{
	int rc = cairn__api_caller_from_headers(ctx->api, ctx->http, &ctx->caller);

	if (rc == 0 || (rc == CAIRN_EAUTH && cairn__api_account_ignores_stale_session(ctx->http)))
		return 1;
	if (rc == CAIRN_EAUTH)
		cairn__http_respond_error(ctx->response, 401, "user_invalid_token",
			"Invalid token passed in the request.");
	else
		cairn__http_respond_error(ctx->response, 500, "general_server_error",
			"Server Error");
	return 0;
}

/* Returns 1 when allowed, else responds and returns 0. */
static int authorize(cairn_api_request *ctx, auth_level level)
{
	const char *project;
	const char *key;
	char *project_param = NULL;
	int allowed = 0;

	if (level == AUTH_PUBLIC)
		return 1;
	/* SDKs always send the header, possibly empty; the query parameter is the fallback. */
	project = cairn__http_header(ctx->http, "x-appwrite-project");
	if (!project || !project[0]) {
		project_param = cairn__api_query_param(ctx, "project");
		project = project_param;
	}
	if (!project || strcmp(project, ctx->api->project) != 0) {
		cairn__http_respond_error(ctx->response, 404, "project_not_found",
			"Project with the requested ID could not be found.");
		goto cleanup;
	}
	key = cairn__http_header(ctx->http, "x-appwrite-key");
	if (key && cairn__api_key_accepted(ctx->api, key))
		ctx->caller.kind = CAIRN_CALLER_KEY;
	else if (!resolve_session(ctx))
		goto cleanup;
	if (level == AUTH_KEY) {
		if (ctx->caller.kind != CAIRN_CALLER_KEY) {
			cairn__http_respond_error(ctx->response, 401, "general_unauthorized_scope",
				"User (role: guests) missing scopes ([\"databases.read\", "
				"\"databases.write\"]): send a valid X-Appwrite-Key header.");
			goto cleanup;
		}
	}
	allowed = 1;
cleanup:
	free(project_param);
	return allowed;
}

/* ---- routing ------------------------------------------------------------------------- */

/* Matches `segments` against `pattern`; fills captures[0..3]. Returns 1 on a match. */
static int pattern_match(const char *pattern, char **segments, size_t count,
	const char *captures[4])
{
	size_t index = 0;
	size_t captured = 0;
	const char *p = pattern;

	while (*p) {
		const char *end = strchr(p, '/');
		size_t length = end ? (size_t)(end - p) : strlen(p);

		if (index >= count)
			return 0;
		if (length == 1 && p[0] == ':') {
			if (captured < 4)
				captures[captured++] = segments[index];
		} else if (strlen(segments[index]) != length || memcmp(segments[index], p, length)) {
			return 0;
		}
		index++;
		p += length;
		if (*p == '/')
			p++;
	}
	return index == count;
}

static void parse_body(cairn_api_request *ctx)
{
	const char *body = ctx->http->body;
	size_t length = body ? ctx->http->body_length : 0;
	size_t start = 0;

	while (start < length && isspace((unsigned char)body[start]))
		start++;
	if (start == length) {
		ctx->body = json_object_new_object();
		if (!ctx->body)
			snprintf(ctx->body_error, sizeof(ctx->body_error), "out of memory");
		return;
	}
	/* The envelope ({"mutations":[{"data":...}]}) adds levels around a document; each
	 * document's own depth is checked against CAIRN_JSON_MAX_DEPTH where it is read. */
	ctx->body = cairn__api_body_parse(body, length, CAIRN_JSON_MAX_DEPTH +
		CAIRN_API_ENVELOPE_DEPTH); /* api_body.c: a plain ASCII body parses cheaper */
	if (!ctx->body)
		snprintf(ctx->body_error, sizeof(ctx->body_error), "Invalid request body: %s",
			cairn_error_last());
}

/* Finds the route for `method` on `path` (a writable copy of the path after "/v1/", split
 * in place) and fills the captured ids of ctx. NULL when no route matches. */
static const route *find_route(cairn_api_request *ctx, char *path, const char *method)
{
	char *segments[MAX_SEGMENTS];
	size_t count = 0;

	for (char *cursor = path;;) {
		char *slash = strchr(cursor, '/');
		if (count == MAX_SEGMENTS)
			return NULL;
		segments[count++] = cursor;
		if (!slash)
			break;
		*slash = '\0';
		cursor = slash + 1;
	}
	for (size_t i = 0; i < count; i++) {
		if (!segments[i][0])
			return NULL;
	}
	ctx->naming = cairn__api_tablesdb_map_path(segments, count);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *captures[4] = { NULL, NULL, NULL, NULL };
		/* Appwrite answers a wrong method on a known path like an unknown path. */
		if (strcmp(routes[i].method, method) != 0 ||
			!pattern_match(routes[i].pattern, segments, count, captures))
			continue;
		ctx->database_id = captures[0];
		ctx->collection_id = captures[1];
		ctx->document_id = captures[2];
		ctx->attribute_id = captures[3];
		return &routes[i];
	}
	return NULL;
}

void cairn__api_handle(cairn_api *api, const cairn_http_request *request,
	cairn_http_response *response)
{
	cairn_api_request ctx;
	char *path = NULL;
	const route *matched = NULL;

	memset(&ctx, 0, sizeof(ctx));
	ctx.api = api;
	ctx.http = request;
	ctx.response = response;
	if (!request || !request->method || !request->path) {
		cairn__http_respond_error(response, 400, "general_bad_request", "Malformed request.");
		return;
	}
	/* CORS preflight: the transport adds the CORS headers; nothing here needs auth. */
	if (strcmp(request->method, "OPTIONS") == 0) {
		cairn__http_respond_no_content(response);
		return;
	}
	if (strncmp(request->path, "/v1/", 4) == 0) {
		path = strdup(request->path + 4);
		if (!path) {
			cairn__http_respond_error(response, 500, "general_server_error",
				"Out of memory.");
			return;
		}
		matched = find_route(&ctx, path, request->method);
	}
	if (!matched) {
		cairn__http_respond_error(response, 404, "general_route_not_found", "The requested "
			"route was not found. Please refer to the API docs and try again.");
		goto cleanup;
	}
	if (!authorize(&ctx, matched->auth))
		goto cleanup;
	if (strcmp(request->method, "GET") != 0)
		parse_body(&ctx);
	if (ctx.naming == CAIRN_API_NAMING_TABLES)
		cairn__api_tablesdb_request(&ctx);
	matched->handler(&ctx);
cleanup:
	if (ctx.naming == CAIRN_API_NAMING_TABLES)
		cairn__api_tablesdb_response(&ctx);
	json_object_put(ctx.body);
	free(path);
}

/* ---- small handlers ------------------------------------------------------------------ */

static void respond_literal(cairn_api_request *ctx, int status, const char *json)
{
	char *text = strdup(json);

	if (!text) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		return;
	}
	cairn__http_respond_json(ctx->response, status, text);
}

static void handle_health(cairn_api_request *ctx)
{
	respond_literal(ctx, 200, "{\"name\":\"http\",\"status\":\"pass\",\"ping\":0}");
}

static void handle_health_version(cairn_api_request *ctx)
{
	respond_literal(ctx, 200, "{\"version\":\"" CAIRN_APPWRITE_VERSION "\"}");
}

static void handle_ping(cairn_api_request *ctx)
{
	cairn_http_response *response = ctx->response;
	char *type = strdup("text/plain; charset=UTF-8");
	char *body = strdup("Pong!");

	if (!type || !body) {
		free(type);
		free(body);
		cairn__http_respond_error(response, 500, "general_server_error", "Out of memory.");
		return;
	}
	free(response->content_type);
	free(response->body);
	response->status = 200;
	response->content_type = type;
	response->body = body;
	response->body_length = strlen(body);
}

/* ---- helpers shared by the handlers -------------------------------------------------- */

int cairn__api_body_failed(cairn_api_request *ctx)
{
	if (ctx->body)
		return 0;
	cairn__http_respond_error(ctx->response, 400, "general_argument_invalid", "%s",
		ctx->body_error[0] ? ctx->body_error : "Invalid request body.");
	return 1;
}

void cairn__api_respond_model(cairn_api_request *ctx, int status, json_object *value)
{
	char *text = cairn__json_dump(value);

	if (!text) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error",
			"Out of memory while writing the response.");
		return;
	}
	cairn__http_respond_json(ctx->response, status, text);
}

int cairn__api_status_for_code(int code)
{
	switch (code) {
	case CAIRN_ENOTFOUND: return 404;
	case CAIRN_EEXISTS: return 409;
	case CAIRN_ECONFLICT: return 409;
	case CAIRN_EAUTH: return 401; /* a permission refusal (user_unauthorized) */
	case CAIRN_EINVALID: return 400;
	case CAIRN_ETOOBIG: return 400;
	default: return 500;
	}
}

void cairn__api_respond_storage_error(cairn_api_request *ctx, int code,
	const char *not_found_type, const char *exists_type)
{
	const char *message = cairn_error_last();
	const char *type;
	int status = cairn__api_status_for_code(code);

	switch (code) {
	case CAIRN_ENOTFOUND: type = not_found_type; break;
	case CAIRN_EEXISTS: type = exists_type; break;
	case CAIRN_EINVALID: case CAIRN_ETOOBIG: type = "general_argument_invalid"; break;
	default: type = "general_server_error"; break;
	}
	if (!type) {
		status = 500;
		type = "general_server_error";
	}
	if (status == 500)
		message = "Server Error";
	cairn__http_respond_error(ctx->response, status, type, "%s",
		message && message[0] ? message : "The request failed.");
}

int cairn__api_require_database(cairn_api_request *ctx)
{
	cairn_storage_database database;
	int rc;

	memset(&database, 0, sizeof(database));
	rc = ctx->api->backend->database_get(&database, ctx->api->storage, ctx->database_id);
	cairn__storage_database_clear(&database);
	if (rc == CAIRN_ENOTFOUND) {
		cairn__http_respond_error(ctx->response, 404, "database_not_found",
			"Database with the requested ID '%s' could not be found.", ctx->database_id);
		return rc;
	}
	if (rc < 0)
		cairn__api_respond_storage_error(ctx, rc, "database_not_found", NULL);
	return rc;
}

int cairn__api_load_collection(cairn_api_request *ctx, cairn_storage_collection *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cairn__api_require_database(ctx);
	if (rc < 0)
		return rc;
	rc = ctx->api->backend->collection_get(out, ctx->api->storage, ctx->database_id,
		ctx->collection_id);
	if (rc == CAIRN_ENOTFOUND)
		cairn__http_respond_error(ctx->response, 404, "collection_not_found",
			"Collection with the requested ID '%s' could not be found.", ctx->collection_id);
	else if (rc < 0)
		cairn__api_respond_storage_error(ctx, rc, "collection_not_found", NULL);
	return rc;
}

int cairn__api_require_collection(cairn_api_request *ctx)
{
	cairn_storage_collection collection;
	int rc = cairn__api_load_collection(ctx, &collection);

	cairn__storage_collection_clear(&collection);
	return rc;
}

int cairn__api_take_id(cairn_api_request *ctx, json_object *body, const char *param,
	char out[CAIRN_ID_MAX + 1])
{
	json_object *field = NULL;
	const char *id;

	if (!json_object_object_get_ex(body, param, &field) || !field) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Param \"%s\" is not optional.", param);
		return -1;
	}
	if (!json_object_is_type(field, json_type_string))
		goto invalid;
	id = json_object_get_string(field);
	if (strcmp(id, "unique()") == 0) {
		if (cairn__id_unique(out, CAIRN_ID_MAX + 1) != 0) {
			cairn__http_respond_error(ctx->response, 500, "general_server_error",
				"Could not generate a unique id.");
			return -1;
		}
		return 0;
	}
	if (!cairn__id_valid(id))
		goto invalid;
	strcpy(out, id); /* cairn__id_valid bounds it to CAIRN_ID_MAX */
	return 0;
invalid:
	cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
		"Invalid `%s` param: Parameter must contain at most 36 chars. Valid chars are a-z, "
		"A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char", param);
	return -1;
}

/* One permission string: action("role"), e.g. read("any") or update("user:u1"). */
static int permission_valid(const char *permission)
{
	static const char *const actions[] = { "read", "create", "update", "delete", "write" };
	size_t length = strlen(permission);

	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		size_t action_length = strlen(actions[i]);
		const char *role;
		size_t role_length;

		if (strncmp(permission, actions[i], action_length) != 0)
			continue;
		if (length < action_length + 5 || strncmp(permission + action_length, "(\"", 2) != 0 ||
			strcmp(permission + length - 2, "\")") != 0)
			return 0;
		role = permission + action_length + 2;
		role_length = length - action_length - 4;
		if (role_length == 0 || memchr(role, '"', role_length))
			return 0;
		return 1;
	}
	return 0;
}

const char *cairn__api_permissions_problem(json_object *permissions)
{
	size_t count;

	if (!json_object_is_type(permissions, json_type_array))
		return "must be an array of permission strings";
	count = json_object_array_length(permissions);
	if (count > CAIRN_API_MAX_PERMISSIONS)
		return "may hold at most 100 permissions";
	for (size_t i = 0; i < count; i++) {
		json_object *entry = json_object_array_get_idx(permissions, i);
		if (!json_object_is_type(entry, json_type_string) ||
			!permission_valid(json_object_get_string(entry)))
			return "must hold strings like read(\"any\") or update(\"user:ID\")";
	}
	return NULL;
}

int cairn__api_take_permissions(cairn_api_request *ctx, json_object *object, const char *key,
	json_object **out)
{
	json_object *field = NULL;
	const char *problem;

	*out = NULL;
	if (!json_object_object_get_ex(object, key, &field) || !field)
		return 0;
	problem = cairn__api_permissions_problem(field);
	if (problem) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `%s` param: %s.", key, problem);
		return -1;
	}
	*out = field;
	return 0;
}

int cairn__api_take_bool(cairn_api_request *ctx, json_object *object, const char *key, int *out)
{
	json_object *field = NULL;

	if (!json_object_object_get_ex(object, key, &field) || !field)
		return 0;
	if (!json_object_is_type(field, json_type_boolean)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `%s` param: Value must be a valid boolean", key);
		return -1;
	}
	*out = json_object_get_boolean(field) ? 1 : 0;
	return 0;
}

char *cairn__api_query_param(cairn_api_request *ctx, const char *name)
{
	char **values = NULL;
	size_t count;
	char *first = NULL;

	if (!ctx->http->query || !ctx->http->query[0])
		return NULL;
	count = cairn__http_query_values(&values, ctx->http, name);
	if (count > 0) {
		first = values[0];
		values[0] = NULL;
	}
	cairn__http_values_free(values, count);
	return first;
}

int cairn__api_want_total(cairn_api_request *ctx)
{
	char *total = cairn__api_query_param(ctx, "total");
	int want = 1;
	json_object *field = NULL;

	if (total && (strcmp(total, "false") == 0 || strcmp(total, "0") == 0))
		want = 0;
	free(total);
	if (ctx->body && json_object_object_get_ex(ctx->body, "total", &field) &&
		json_object_is_type(field, json_type_boolean) && !json_object_get_boolean(field))
		want = 0;
	return want;
}

int cairn__api_check_queries(cairn_api_request *ctx, char **queries, size_t count)
{
	if (count > CAIRN_QUERY_MAX_COUNT) {
		cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
			"Invalid `queries` param: Value must be an array of at most %d items.",
			CAIRN_QUERY_MAX_COUNT);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (strlen(queries[i]) > CAIRN_QUERY_MAX_TEXT) {
			cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
				"Invalid query %zu: longer than %d characters.", i, CAIRN_QUERY_MAX_TEXT);
			return -1;
		}
	}
	return 0;
}

void cairn__api_respond_list(cairn_api_request *ctx, json_object *models, char **queries,
	size_t query_count, const char *list_key)
{
	cairn_query *query = NULL;
	json_object **items = NULL;
	json_object *page = NULL;
	json_object *list = NULL;
	size_t count = json_object_array_length(models);
	int64_t total = 0;
	int rc;

	if (cairn__api_check_queries(ctx, queries, query_count) != 0)
		goto cleanup;
	rc = cairn__query_parse(&query, (const char *const *)queries, query_count);
	if (rc != 0) {
		cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
			"Invalid query: %s", cairn_error_last());
		goto cleanup;
	}
	items = malloc((count ? count : 1) * sizeof(*items));
	if (!items) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error",
			"Out of memory.");
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++)
		items[i] = json_object_array_get_idx(models, i);
	rc = cairn__query_run(&page, &total, query, items, count,
		CAIRN_QUERY_DEFAULT_LIMIT_SERVER);
	if (rc != 0) {
		if (rc == CAIRN_ENOMEM)
			cairn__http_respond_error(ctx->response, 500, "general_server_error",
				"Out of memory.");
		else
			cairn__http_respond_error(ctx->response, 400, rc == CAIRN_ENOTFOUND ?
				"general_cursor_not_found" : "general_query_invalid", "Invalid query: %s",
				cairn_error_last());
		goto cleanup;
	}
	if (!cairn__api_want_total(ctx))
		total = 0;
	else if (total > CAIRN_API_MAX_TOTAL)
		total = CAIRN_API_MAX_TOTAL;
	list = json_object_new_object();
	if (!list) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error",
			"Out of memory.");
		goto cleanup;
	}
	json_object_object_add(list, "total", json_object_new_int64(total));
	json_object_object_add(list, list_key, page);
	page = NULL;
	cairn__api_respond_model(ctx, 200, list);
cleanup:
	json_object_put(list);
	json_object_put(page);
	free(items);
	cairn__query_free(query);
}
