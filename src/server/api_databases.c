/* api_databases.c: the Appwrite databases and collections routes (schemaless collections). */
#include <stdlib.h>
#include <string.h>

#include "server/api_int.h"
#include "util/error.h"
#include "util/json.h"
#include "util/time.h"

#define DATABASE_EXISTS_MESSAGE "Database with the requested ID already exists. Try again " \
	"with a different ID or use ID.unique() to generate a unique ID."
#define COLLECTION_EXISTS_MESSAGE "Collection with the requested ID already exists. Try " \
	"again with a different ID or use ID.unique() to generate a unique ID."

/* A name field: required -> must be present. *out borrowed from `body`, NULL when absent. */
static int take_name(cairn_api_request *ctx, int required, const char **out)
{
	json_object *field = NULL;
	const char *name;

	*out = NULL;
	if (!json_object_object_get_ex(ctx->body, "name", &field) || !field) {
		if (!required)
			return 0;
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Param \"name\" is not optional.");
		return -1;
	}
	if (!json_object_is_type(field, json_type_string))
		goto invalid;
	name = json_object_get_string(field);
	if (!name[0] || strlen(name) > CAIRN_API_MAX_NAME)
		goto invalid;
	*out = name;
	return 0;
invalid:
	cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
		"Invalid `name` param: Value must be a valid string and at least 1 chars and no "
		"longer than %d chars", CAIRN_API_MAX_NAME);
	return -1;
}

/* Keeps the models whose $id or name contains `search` (Appwrite's `search` parameter). */
static json_object *filter_search(json_object *models, const char *search)
{
	json_object *kept = json_object_new_array();
	size_t count = json_object_array_length(models);

	if (!kept)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		json_object *model = json_object_array_get_idx(models, i);
		const char *id = "";
		const char *name = "";

		cairn__json_get_string(model, "$id", &id);
		cairn__json_get_string(model, "name", &name);
		if (strstr(id, search) || strstr(name, search))
			json_object_array_add(kept, json_object_get(model));
	}
	return kept;
}

/* Responds with the list of `models` filtered by the request's search and queries. */
static void respond_filtered_list(cairn_api_request *ctx, json_object *models,
	const char *list_key)
{
	char **queries = NULL;
	size_t query_count = cairn__http_query_values(&queries, ctx->http, "queries");
	char *search = cairn__api_query_param(ctx, "search");
	json_object *kept = NULL;

	if (search && search[0]) {
		kept = filter_search(models, search);
		if (!kept) {
			cairn__http_respond_error(ctx->response, 500, "general_server_error",
				"Out of memory.");
			goto cleanup;
		}
		models = kept;
	}
	cairn__api_respond_list(ctx, models, queries, query_count, list_key);
cleanup:
	json_object_put(kept);
	free(search);
	cairn__http_values_free(queries, query_count);
}

/* ---- databases ----------------------------------------------------------------------- */

static int collect_database(const cairn_storage_database *database, void *payload)
{
	json_object *model = cairn__model_database(database);

	if (!model)
		return CAIRN_ENOMEM;
	json_object_array_add((json_object *)payload, model);
	return 0;
}

void cairn__api_databases_list(cairn_api_request *ctx)
{
	json_object *models = json_object_new_array();
	int rc;

	if (!models) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		return;
	}
	rc = ctx->api->backend->database_list(ctx->api->storage, collect_database, models);
	if (rc != 0)
		cairn__api_respond_storage_error(ctx, rc < 0 ? rc : CAIRN_ERROR, NULL, NULL);
	else
		respond_filtered_list(ctx, models, "databases");
	json_object_put(models);
}

static void respond_database(cairn_api_request *ctx, int status,
	const cairn_storage_database *database)
{
	json_object *model = cairn__model_database(database);

	if (!model) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		return;
	}
	cairn__api_respond_model(ctx, status, model);
	json_object_put(model);
}

void cairn__api_database_create(cairn_api_request *ctx)
{
	cairn_storage_database database;
	char id[CAIRN_ID_MAX + 1];
	const char *name;
	int enabled = 1;
	int rc;

	memset(&database, 0, sizeof(database));
	if (cairn__api_body_failed(ctx))
		return;
	if (cairn__api_take_id(ctx, ctx->body, "databaseId", id) != 0 ||
		take_name(ctx, 1, &name) != 0 ||
		cairn__api_take_bool(ctx, ctx->body, "enabled", &enabled) != 0)
		return;
	rc = ctx->api->backend->database_create(&database, ctx->api->storage, id, name, enabled);
	if (rc == CAIRN_EEXISTS)
		cairn__http_respond_error(ctx->response, 409, "database_already_exists", "%s",
			DATABASE_EXISTS_MESSAGE);
	else if (rc < 0)
		cairn__api_respond_storage_error(ctx, rc, "database_not_found", NULL);
	else
		respond_database(ctx, 201, &database);
	cairn__storage_database_clear(&database);
}

void cairn__api_database_get(cairn_api_request *ctx)
{
	cairn_storage_database database;
	int rc;

	memset(&database, 0, sizeof(database));
	rc = ctx->api->backend->database_get(&database, ctx->api->storage, ctx->database_id);
	if (rc == CAIRN_ENOTFOUND)
		cairn__http_respond_error(ctx->response, 404, "database_not_found",
			"Database with the requested ID '%s' could not be found.", ctx->database_id);
	else if (rc < 0)
		cairn__api_respond_storage_error(ctx, rc, "database_not_found", NULL);
	else
		respond_database(ctx, 200, &database);
	cairn__storage_database_clear(&database);
}

void cairn__api_database_update(cairn_api_request *ctx)
{
	cairn_storage_database database;
	const char *name;
	int enabled = -1;
	int rc;

	memset(&database, 0, sizeof(database));
	if (cairn__api_body_failed(ctx))
		return;
	if (take_name(ctx, 0, &name) != 0 ||
		cairn__api_take_bool(ctx, ctx->body, "enabled", &enabled) != 0)
		return;
	rc = ctx->api->backend->database_update(&database, ctx->api->storage, ctx->database_id,
		name, enabled);
	if (rc == CAIRN_ENOTFOUND)
		cairn__http_respond_error(ctx->response, 404, "database_not_found",
			"Database with the requested ID '%s' could not be found.", ctx->database_id);
	else if (rc < 0)
		cairn__api_respond_storage_error(ctx, rc, "database_not_found", NULL);
	else
		respond_database(ctx, 200, &database);
	cairn__storage_database_clear(&database);
}

void cairn__api_database_delete(cairn_api_request *ctx)
{
	int rc = ctx->api->backend->database_delete(ctx->api->storage, ctx->database_id);

	if (rc == CAIRN_ENOTFOUND)
		cairn__http_respond_error(ctx->response, 404, "database_not_found",
			"Database with the requested ID '%s' could not be found.", ctx->database_id);
	else if (rc < 0)
		cairn__api_respond_storage_error(ctx, rc, "database_not_found", NULL);
	else
		cairn__http_respond_no_content(ctx->response);
}

/* ---- collections --------------------------------------------------------------------- */

typedef struct {
	cairn_api *api;
	json_object *models;
} collect_collections_state;

/* The Collection model with its declared attributes and indexes (api_schema.c). */
static json_object *collection_model(cairn_api *api, const cairn_storage_collection *collection)
{
	json_object *model = cairn__model_collection(collection);

	if (model && cairn__api_schema_fill(api, model, collection) != 0) {
		json_object_put(model);
		return NULL;
	}
	return model;
}

/* Collects the models without their schema: it is read after the listing, which must not
 * wait for a second storage connection while it holds one. */
static int collect_collection(const cairn_storage_collection *collection, void *payload)
{
	collect_collections_state *state = payload;
	json_object *model = cairn__model_collection(collection);

	if (!model)
		return CAIRN_ENOMEM;
	json_object_array_add(state->models, model);
	return 0;
}

/* Fills the schema of each listed model (ids and $createdAt identify the collection). */
static int fill_schemas(cairn_api *api, const char *database_id, json_object *models)
{
	for (size_t i = 0; i < json_object_array_length(models); i++) {
		json_object *model = json_object_array_get_idx(models, i);
		cairn_storage_collection collection;
		const char *id = "";
		const char *created = "";
		int rc;

		memset(&collection, 0, sizeof(collection));
		cairn__json_get_string(model, "$id", &id);
		cairn__json_get_string(model, "$createdAt", &created);
		if (cairn__time_parse(created, &collection.created_at) != 0)
			continue;
		collection.database_id = (char *)database_id;
		collection.id = (char *)id;
		rc = cairn__api_schema_fill(api, model, &collection);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void respond_collection(cairn_api_request *ctx, int status,
	const cairn_storage_collection *collection)
{
	json_object *model = collection_model(ctx->api, collection);

	if (!model) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		return;
	}
	cairn__api_respond_model(ctx, status, model);
	json_object_put(model);
}

static void respond_collection_missing(cairn_api_request *ctx, int rc)
{
	if (rc == CAIRN_ENOTFOUND)
		cairn__http_respond_error(ctx->response, 404, "collection_not_found",
			"Collection with the requested ID '%s' could not be found.", ctx->collection_id);
	else
		cairn__api_respond_storage_error(ctx, rc, "collection_not_found", NULL);
}

void cairn__api_collections_list(cairn_api_request *ctx)
{
	json_object *models = NULL;
	collect_collections_state state;
	int rc;

	if (cairn__api_require_database(ctx) != 0)
		return;
	models = json_object_new_array();
	if (!models) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		return;
	}
	state.api = ctx->api;
	state.models = models;
	rc = ctx->api->backend->collection_list(ctx->api->storage, ctx->database_id,
		collect_collection, &state);
	if (rc == 0)
		rc = fill_schemas(ctx->api, ctx->database_id, models);
	if (rc != 0)
		cairn__api_respond_storage_error(ctx, rc < 0 ? rc : CAIRN_ERROR, "database_not_found",
			NULL);
	else
		respond_filtered_list(ctx, models, "collections");
	json_object_put(models);
}

void cairn__api_collection_create(cairn_api_request *ctx)
{
	cairn_storage_collection collection;
	char id[CAIRN_ID_MAX + 1];
	const char *name;
	json_object *permissions = NULL;
	json_object *empty = NULL;
	json_object *schema = NULL;
	int document_security = 0;
	int enabled = 1;
	int rc;

	memset(&collection, 0, sizeof(collection));
	if (cairn__api_body_failed(ctx))
		return;
	if (cairn__api_take_id(ctx, ctx->body, "collectionId", id) != 0 ||
		take_name(ctx, 1, &name) != 0 ||
		cairn__api_take_permissions(ctx, ctx->body, "permissions", &permissions) != 0 ||
		cairn__api_take_bool(ctx, ctx->body, "documentSecurity", &document_security) != 0 ||
		cairn__api_take_bool(ctx, ctx->body, "enabled", &enabled) != 0)
		return;
	/* `attributes` and `indexes` (inline schema) are stored, not enforced (api_schema.c). */
	if (cairn__api_schema_inline(ctx, &schema) != 0)
		return;
	if (cairn__api_require_database(ctx) != 0)
		goto cleanup;
	if (!permissions) {
		empty = json_object_new_array();
		permissions = empty;
	}
	rc = ctx->api->backend->collection_create(&collection, ctx->api->storage,
		ctx->database_id, id, name, permissions, document_security, enabled);
	if (rc >= 0)
		rc = cairn__api_schema_inline_store(ctx->api, &collection, schema);
	if (rc == CAIRN_EEXISTS)
		cairn__http_respond_error(ctx->response, 409, "collection_already_exists", "%s",
			COLLECTION_EXISTS_MESSAGE);
	else if (rc < 0)
		cairn__api_respond_storage_error(ctx, rc, "database_not_found", NULL);
	else
		respond_collection(ctx, 201, &collection);
cleanup:
	cairn__storage_collection_clear(&collection);
	json_object_put(empty);
	json_object_put(schema);
}

void cairn__api_collection_get(cairn_api_request *ctx)
{
	cairn_storage_collection collection;
	int rc;

	if (cairn__api_require_database(ctx) != 0)
		return;
	memset(&collection, 0, sizeof(collection));
	rc = ctx->api->backend->collection_get(&collection, ctx->api->storage, ctx->database_id,
		ctx->collection_id);
	if (rc < 0)
		respond_collection_missing(ctx, rc);
	else
		respond_collection(ctx, 200, &collection);
	cairn__storage_collection_clear(&collection);
}

void cairn__api_collection_update(cairn_api_request *ctx)
{
	cairn_storage_collection collection;
	const char *name;
	json_object *permissions = NULL;
	int document_security = -1;
	int enabled = -1;
	int rc;

	memset(&collection, 0, sizeof(collection));
	if (cairn__api_body_failed(ctx))
		return;
	if (take_name(ctx, 0, &name) != 0 ||
		cairn__api_take_permissions(ctx, ctx->body, "permissions", &permissions) != 0 ||
		cairn__api_take_bool(ctx, ctx->body, "documentSecurity", &document_security) != 0 ||
		cairn__api_take_bool(ctx, ctx->body, "enabled", &enabled) != 0)
		return;
	if (cairn__api_require_database(ctx) != 0)
		return;
	rc = ctx->api->backend->collection_update(&collection, ctx->api->storage,
		ctx->database_id, ctx->collection_id, name, permissions, document_security, enabled);
	if (rc < 0)
		respond_collection_missing(ctx, rc);
	else
		respond_collection(ctx, 200, &collection);
	cairn__storage_collection_clear(&collection);
}

void cairn__api_collection_delete(cairn_api_request *ctx)
{
	int rc;

	if (cairn__api_require_database(ctx) != 0)
		return;
	rc = ctx->api->backend->collection_delete(ctx->api->storage, ctx->database_id,
		ctx->collection_id);
	if (rc < 0)
		respond_collection_missing(ctx, rc);
	else
		cairn__http_respond_no_content(ctx->response);
}
