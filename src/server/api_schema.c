/* api_schema.c: Appwrite's attribute and index routes over schemaless collections: the
 * definitions are stored (a server setting per collection, as JSON) and shown in the
 * Attribute, Index and Collection models, but documents are not checked against them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_int.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/time.h"

#define MAX_ATTRIBUTES 1000  /* per collection */
#define MAX_INDEXES 100
#define MAX_INDEX_ATTRIBUTES 100

/* Read-modify-write of a collection's schema setting is serialised within the process. */
static pthread_mutex_t schema_lock = PTHREAD_MUTEX_INITIALIZER;

/* The setting holding a collection's schema. NUL bytes cannot occur in ids. */
static void schema_key(char *out, size_t size, const char *database_id, const char *collection_id)
{
	snprintf(out, size, "schema/%s/%s", database_id, collection_id);
}

static json_object *empty_schema(int64_t created_at)
{
	json_object *schema = json_object_new_object();

	if (!schema)
		return NULL;
	json_object_object_add(schema, "createdAt", json_object_new_int64(created_at));
	json_object_object_add(schema, "attributes", json_object_new_array());
	json_object_object_add(schema, "indexes", json_object_new_array());
	if (json_object_object_length(schema) != 3) {
		json_object_put(schema);
		return NULL;
	}
	return schema;
}

/* The stored schema of `collection` (a new object), or an empty one. A setting left by a
 * deleted collection of the same id (another createdAt) does not count. NULL on failure
 * (error set). */
static json_object *schema_load(cairn_api *api, const cairn_storage_collection *collection)
{
	char key[2 * CAIRN_ID_MAX + 16];
	char *text = NULL;
	json_object *schema = NULL;
	int64_t created_at = 0;
	int rc;

	schema_key(key, sizeof(key), collection->database_id, collection->id);
	rc = api->backend->setting_get(&text, api->storage, key);
	if (rc == 0)
		schema = cairn__json_parse_object(text, strlen(text), 0);
	free(text);
	if (rc < 0 && rc != CAIRN_ENOTFOUND)
		return NULL;
	if (schema && (!cairn__json_get_int64(schema, "createdAt", &created_at) ||
		created_at != collection->created_at ||
		!json_object_is_type(json_object_object_get(schema, "attributes"), json_type_array) ||
		!json_object_is_type(json_object_object_get(schema, "indexes"), json_type_array))) {
		json_object_put(schema);
		schema = NULL;
	}
	if (!schema)
		schema = empty_schema(collection->created_at);
	if (!schema)
		cairn__error_set(CAIRN_ENOMEM, "out of memory reading a collection's schema");
	return schema;
}

static int schema_store(cairn_api *api, const cairn_storage_collection *collection,
	json_object *schema)
{
	char key[2 * CAIRN_ID_MAX + 16];
	const char *text = cairn__json_text(schema, NULL);

	if (!text)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory storing a collection's schema");
	schema_key(key, sizeof(key), collection->database_id, collection->id);
	return api->backend->setting_set(api->storage, key, text);
}

int cairn__api_schema_fill(cairn_api *api, json_object *model,
	const cairn_storage_collection *collection)
{
	json_object *schema = schema_load(api, collection);

	if (!schema)
		return cairn__error_code();
	json_object_object_add(model, "attributes",
		json_object_get(json_object_object_get(schema, "attributes")));
	json_object_object_add(model, "indexes",
		json_object_get(json_object_object_get(schema, "indexes")));
	json_object_put(schema);
	return 0;
}

/* ---- request helpers ------------------------------------------------------------------ */

static void respond_oom(cairn_api_request *ctx)
{
	cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
}

/* The element of `array` whose "key" is `key`, and its index, or NULL. */
static json_object *find_key(json_object *array, const char *key, size_t *index)
{
	for (size_t i = 0; i < json_object_array_length(array); i++) {
		json_object *entry = json_object_array_get_idx(array, i);
		const char *entry_key = NULL;

		if (cairn__json_get_string(entry, "key", &entry_key) && strcmp(entry_key, key) == 0) {
			if (index)
				*index = i;
			return entry;
		}
	}
	return NULL;
}

static int key_valid(const char *key)
{
	return key && key[0] != '$' && cairn__id_valid(key);
}

static int take_key(cairn_api_request *ctx, json_object *source, const char *param,
	const char **out)
{
	if (cairn__json_get_string(source, param, out) && key_valid(*out))
		return 0;
	cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
		json_object_object_get_ex(source, param, NULL) ? "Invalid `%s` param: at most 36 "
		"chars of a-z, A-Z, 0-9, period, hyphen and underscore, not starting with a special "
		"char." : "Param \"%s\" is not optional.", param);
	return -1;
}

/* Copies body field `key` into `model` when present and of type `type` (json_type_null
 * matches anything); 400 otherwise. */
static int copy_field(cairn_api_request *ctx, json_object *source, json_object *model,
	const char *key, json_type type, int required)
{
	json_object *field = NULL;
	json_object *copy;

	if (!json_object_object_get_ex(source, key, &field)) {
		if (!required)
			return 0;
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Param \"%s\" is not optional.", key);
		return -1;
	}
	if (field && type != json_type_null && !json_object_is_type(field, type) &&
		!(type == json_type_double && json_object_is_type(field, json_type_int))) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `%s` param: wrong type.", key);
		return -1;
	}
	copy = field ? cairn__json_copy(field) : NULL;
	if (field && !copy) {
		respond_oom(ctx);
		return -1;
	}
	json_object_object_add(model, key, copy);
	return 0;
}

static int add_time(json_object *model, const char *key, int64_t ms)
{
	char text[CAIRN_TIME_TEXT_SIZE];

	cairn__time_format(ms, text);
	return json_object_object_add(model, key, json_object_new_string(text));
}

/* ---- attributes ----------------------------------------------------------------------- */

/* Path type -> the model's type and format (Appwrite shows email/url/ip/enum as strings
 * with a format, and float as double). */
static int attribute_type(const char *path_type, const char **type, const char **format)
{
	static const struct { const char *path, *type, *format; } types[] = {
		{ "string", "string", NULL }, { "varchar", "varchar", NULL },
		{ "text", "text", NULL }, { "mediumtext", "mediumtext", NULL },
		{ "longtext", "longtext", NULL }, { "integer", "integer", NULL },
		{ "bigint", "bigint", NULL }, { "float", "double", NULL },
		{ "boolean", "boolean", NULL }, { "datetime", "datetime", "datetime" },
		{ "email", "string", "email" }, { "enum", "string", "enum" },
		{ "url", "string", "url" }, { "ip", "string", "ip" }, { "point", "point", NULL },
		{ "line", "linestring", NULL }, { "polygon", "polygon", NULL },
		{ "relationship", "relationship", NULL },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(types[i].path, path_type) == 0) {
			*type = types[i].type;
			*format = types[i].format;
			return 0;
		}
	}
	return -1;
}

/* The type-specific fields a create or update body may carry. */
static int copy_type_fields(cairn_api_request *ctx, json_object *source, json_object *model)
{
	static const struct { const char *key; json_type type; } fields[] = {
		{ "size", json_type_int }, { "min", json_type_double }, { "max", json_type_double },
		{ "elements", json_type_array }, { "encrypt", json_type_boolean },
		{ "relatedCollection", json_type_string }, { "twoWay", json_type_boolean },
		{ "twoWayKey", json_type_string }, { "onDelete", json_type_string },
		{ "relationType", json_type_string },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (copy_field(ctx, source, model, fields[i].key, fields[i].type, 0) != 0)
			return -1;
	}
	return 0;
}

static void respond_attribute_missing(cairn_api_request *ctx, const char *key)
{
	cairn__http_respond_error(ctx->response, 404, "attribute_not_found",
		"Attribute with the requested key '%s' could not be found.", key);
}

/* A relationship create body names the related collection `relatedCollectionId` and the
 * relation `type` (oneToMany...); the model says `relatedCollection` and `relationType`.
 * (An inline entry's `type` is the attribute type: it carries `relationType` itself.) */
static int relationship_fields(cairn_api_request *ctx, json_object *source, json_object *model)
{
	const char *related = NULL;
	const char *relation = NULL;

	if (cairn__json_get_string(source, "relatedCollectionId", &related))
		json_object_object_add(model, "relatedCollection", json_object_new_string(related));
	if (source == ctx->body && cairn__json_get_string(source, "type", &relation))
		json_object_object_add(model, "relationType", json_object_new_string(relation));
	if ((related && !json_object_object_get(model, "relatedCollection")) ||
		(relation && !json_object_object_get(model, "relationType"))) {
		respond_oom(ctx);
		return -1;
	}
	return 0;
}

/* The Attribute model described by `source` (a create body, or an inline `attributes`
 * entry) for attribute type `path_type`, or NULL after responding. */
static json_object *build_attribute(cairn_api_request *ctx, json_object *source,
	const char *path_type)
{
	json_object *model = NULL;
	const char *type, *format, *key = NULL;
	int64_t now = cairn__time_now_ms();

	if (!path_type || attribute_type(path_type, &type, &format) != 0) {
		cairn__http_respond_error(ctx->response, 400, "attribute_type_invalid",
			"Unknown attribute type '%s'.", path_type ? path_type : "");
		return NULL;
	}
	/* A relationship's key is optional (Appwrite derives it from the related collection). */
	if (strcmp(type, "relationship") == 0 && !json_object_object_get_ex(source, "key", NULL))
		cairn__json_get_string(source, "relatedCollectionId", &key);
	if (!key && take_key(ctx, source, "key", &key) != 0)
		return NULL;
	if (!key_valid(key)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `key` param.");
		return NULL;
	}
	model = json_object_new_object();
	if (!model) {
		respond_oom(ctx);
		return NULL;
	}
	json_object_object_add(model, "key", json_object_new_string(key));
	json_object_object_add(model, "type", json_object_new_string(type));
	json_object_object_add(model, "status", json_object_new_string("available"));
	json_object_object_add(model, "error", json_object_new_string(""));
	if (copy_field(ctx, source, model, "required", json_type_boolean, 0) != 0 ||
		copy_field(ctx, source, model, "array", json_type_boolean, 0) != 0 ||
		copy_field(ctx, source, model, "default", json_type_null, 0) != 0 ||
		copy_type_fields(ctx, source, model) != 0) {
		json_object_put(model);
		return NULL;
	}
	if (!json_object_object_get_ex(model, "required", NULL))
		json_object_object_add(model, "required", json_object_new_boolean(0));
	if (!json_object_object_get_ex(model, "array", NULL))
		json_object_object_add(model, "array", json_object_new_boolean(0));
	if (!json_object_object_get_ex(model, "default", NULL))
		json_object_object_add(model, "default", NULL);
	if (format)
		json_object_object_add(model, "format", json_object_new_string(format));
	if (strcmp(type, "relationship") == 0 && relationship_fields(ctx, source, model) != 0) {
		json_object_put(model);
		return NULL;
	}
	add_time(model, "$createdAt", now);
	add_time(model, "$updatedAt", now);
	return model;
}

/* Adds `model` (an attribute or index) to `part` of `schema`: 409 when its key is taken,
 * 400 past the limit. 0, or -1 after responding. */
static int schema_add(cairn_api_request *ctx, json_object *schema, const char *part,
	json_object *model)
{
	json_object *entries = json_object_object_get(schema, part);
	const char *key = "";
	int attributes = strcmp(part, "attributes") == 0;

	cairn__json_get_string(model, "key", &key);
	if (find_key(entries, key, NULL)) {
		cairn__http_respond_error(ctx->response, 409, attributes ?
			"attribute_already_exists" : "index_already_exists",
			"%s with the requested key '%s' already exists.", attributes ? "Attribute" :
			"Index", key);
		return -1;
	}
	if (json_object_array_length(entries) >= (attributes ? MAX_ATTRIBUTES : MAX_INDEXES)) {
		cairn__http_respond_error(ctx->response, 400, attributes ?
			"attribute_limit_exceeded" : "index_limit_exceeded",
			"A collection may declare at most %d %s.", attributes ? MAX_ATTRIBUTES :
			MAX_INDEXES, part);
		return -1;
	}
	if (json_object_array_add(entries, json_object_get(model)) != 0) {
		json_object_put(model);
		respond_oom(ctx);
		return -1;
	}
	return 0;
}

static int index_attributes_known(cairn_api_request *ctx, json_object *schema,
	json_object *names);

/* Adds one attribute (or index) to ctx's collection and responds 202 with its model. */
static void add_and_respond(cairn_api_request *ctx, const char *part, json_object *model)
{
	cairn_storage_collection collection;
	json_object *schema = NULL;
	int rc;

	if (cairn__api_load_collection(ctx, &collection) != 0)
		goto cleanup;
	pthread_mutex_lock(&schema_lock);
	schema = schema_load(ctx->api, &collection);
	if (!schema)
		cairn__api_respond_storage_error(ctx, cairn__error_code(), NULL, NULL);
	else if ((strcmp(part, "indexes") != 0 || index_attributes_known(ctx, schema,
		json_object_object_get(model, "attributes")) == 0) &&
		schema_add(ctx, schema, part, model) == 0) {
		rc = schema_store(ctx->api, &collection, schema);
		if (rc < 0)
			cairn__api_respond_storage_error(ctx, rc, NULL, NULL);
		else
			cairn__api_respond_model(ctx, 202, model);
	}
	pthread_mutex_unlock(&schema_lock);
cleanup:
	json_object_put(schema);
	cairn__storage_collection_clear(&collection);
}

void cairn__api_attribute_create(cairn_api_request *ctx)
{
	json_object *model;
	const char *type, *format;

	if (cairn__api_body_failed(ctx))
		return;
	if (attribute_type(ctx->document_id, &type, &format) != 0) {
		cairn__http_respond_error(ctx->response, 404, "general_route_not_found",
			"The requested route was not found: no attribute type '%s'.", ctx->document_id);
		return;
	}
	model = build_attribute(ctx, ctx->body, ctx->document_id);
	if (!model)
		return;
	add_and_respond(ctx, "attributes", model);
	json_object_put(model);
}

/* Lists (`key` NULL) or gets one attribute or index of ctx's collection. */
static void respond_schema_part(cairn_api_request *ctx, const char *part, const char *key)
{
	cairn_storage_collection collection;
	json_object *schema = NULL;
	json_object *entries;

	if (cairn__api_load_collection(ctx, &collection) != 0)
		goto cleanup;
	schema = schema_load(ctx->api, &collection);
	if (!schema) {
		cairn__api_respond_storage_error(ctx, cairn__error_code(), NULL, NULL);
		goto cleanup;
	}
	entries = json_object_object_get(schema, part);
	if (key) {
		json_object *entry = find_key(entries, key, NULL);
		if (entry)
			cairn__api_respond_model(ctx, 200, entry);
		else if (strcmp(part, "attributes") == 0)
			respond_attribute_missing(ctx, key);
		else
			cairn__http_respond_error(ctx->response, 404, "index_not_found",
				"Index with the requested key '%s' could not be found.", key);
	} else {
		char **queries = NULL;
		size_t count = cairn__http_query_values(&queries, ctx->http, "queries");
		cairn__api_respond_list(ctx, entries, queries, count, part);
		cairn__http_values_free(queries, count);
	}
cleanup:
	json_object_put(schema);
	cairn__storage_collection_clear(&collection);
}

void cairn__api_attributes_list(cairn_api_request *ctx)
{
	respond_schema_part(ctx, "attributes", NULL);
}

void cairn__api_attribute_get(cairn_api_request *ctx)
{
	respond_schema_part(ctx, "attributes", ctx->document_id);
}

/* Deletes (`update` 0) or updates one attribute or index, under the schema lock. */
static void change_schema_part(cairn_api_request *ctx, const char *part, const char *key,
	int update)
{
	cairn_storage_collection collection;
	json_object *schema = NULL;
	json_object *entries;
	json_object *entry;
	size_t index = 0;
	int rc;

	if (update && cairn__api_body_failed(ctx))
		return;
	if (cairn__api_load_collection(ctx, &collection) != 0) {
		cairn__storage_collection_clear(&collection);
		return;
	}
	pthread_mutex_lock(&schema_lock);
	schema = schema_load(ctx->api, &collection);
	if (!schema) {
		cairn__api_respond_storage_error(ctx, cairn__error_code(), NULL, NULL);
		goto cleanup;
	}
	entries = json_object_object_get(schema, part);
	entry = find_key(entries, key, &index);
	if (!entry) {
		if (strcmp(part, "attributes") == 0)
			respond_attribute_missing(ctx, key);
		else
			cairn__http_respond_error(ctx->response, 404, "index_not_found",
				"Index with the requested key '%s' could not be found.", key);
		goto cleanup;
	}
	if (update) {
		const char *new_key = NULL;

		if (copy_field(ctx, ctx->body, entry, "required", json_type_boolean, 0) != 0 ||
			copy_field(ctx, ctx->body, entry, "default", json_type_null, 0) != 0 ||
			copy_type_fields(ctx, ctx->body, entry) != 0)
			goto cleanup;
		if (cairn__json_get_string(ctx->body, "newKey", &new_key) && new_key[0]) {
			if (!key_valid(new_key)) {
				cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
					"Invalid `newKey` param.");
				goto cleanup;
			}
			if (strcmp(new_key, key) != 0 && find_key(entries, new_key, NULL)) {
				cairn__http_respond_error(ctx->response, 409, "attribute_already_exists",
					"Attribute with the requested key '%s' already exists.", new_key);
				goto cleanup;
			}
			json_object_object_add(entry, "key", json_object_new_string(new_key));
		}
		add_time(entry, "$updatedAt", cairn__time_now_ms());
		json_object_get(entry);
	} else {
		json_object_array_del_idx(entries, index, 1);
		entry = NULL;
	}
	rc = schema_store(ctx->api, &collection, schema);
	if (rc < 0)
		cairn__api_respond_storage_error(ctx, rc, NULL, NULL);
	else if (entry)
		cairn__api_respond_model(ctx, 200, entry);
	else
		cairn__http_respond_no_content(ctx->response);
	json_object_put(entry);
cleanup:
	pthread_mutex_unlock(&schema_lock);
	json_object_put(schema);
	cairn__storage_collection_clear(&collection);
}

void cairn__api_attribute_delete(cairn_api_request *ctx)
{
	change_schema_part(ctx, "attributes", ctx->document_id, 0);
}

void cairn__api_attribute_update(cairn_api_request *ctx)
{
	const char *type, *format;

	if (attribute_type(ctx->document_id, &type, &format) != 0) {
		cairn__http_respond_error(ctx->response, 404, "general_route_not_found",
			"The requested route was not found: no attribute type '%s'.", ctx->document_id);
		return;
	}
	change_schema_part(ctx, "attributes", ctx->attribute_id, 1);
}

/* ---- indexes -------------------------------------------------------------------------- */

/* An array of strings from the body (`required`: must be there). *out borrowed or NULL. */
static int take_strings(cairn_api_request *ctx, json_object *source, const char *key,
	int required, json_object **out)
{
	json_object *field = NULL;

	*out = NULL;
	if (!json_object_object_get_ex(source, key, &field) || !field) {
		if (!required)
			return 0;
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Param \"%s\" is not optional.", key);
		return -1;
	}
	if (!json_object_is_type(field, json_type_array) ||
		json_object_array_length(field) > MAX_INDEX_ATTRIBUTES)
		goto invalid;
	for (size_t i = 0; i < json_object_array_length(field); i++) {
		json_object *entry = json_object_array_get_idx(field, i);
		if (!json_object_is_type(entry, json_type_string) &&
			!(json_object_is_type(entry, json_type_int) && strcmp(key, "lengths") == 0) &&
			!(entry == NULL && strcmp(key, "lengths") == 0))
			goto invalid;
	}
	*out = field;
	return 0;
invalid:
	cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
		"Invalid `%s` param: must be an array of at most %d values.", key,
		MAX_INDEX_ATTRIBUTES);
	return -1;
}

/* Every index attribute is a declared attribute or a system one. */
static int index_attributes_known(cairn_api_request *ctx, json_object *schema,
	json_object *names)
{
	static const char *const system[] = { "$id", "$createdAt", "$updatedAt", "$sequence" };

	for (size_t i = 0; i < json_object_array_length(names); i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(names, i));
		int known = find_key(json_object_object_get(schema, "attributes"), name, NULL) != NULL;

		for (size_t j = 0; !known && j < sizeof(system) / sizeof(system[0]); j++)
			known = strcmp(name, system[j]) == 0;
		if (!known) {
			cairn__http_respond_error(ctx->response, 400, "attribute_unknown",
				"The attribute '%s' of the index is not declared in the collection.", name);
			return -1;
		}
	}
	return 0;
}

/* The Index model described by `source` (a create body or an inline `indexes` entry), or
 * NULL after responding. */
static json_object *build_index(cairn_api_request *ctx, json_object *source)
{
	static const char *const types[] = { "key", "fulltext", "unique", "spatial" };
	json_object *model = NULL;
	json_object *attributes, *orders, *lengths;
	const char *key = NULL, *type = NULL;
	int64_t now = cairn__time_now_ms();
	int type_known = 0;

	/* TablesDB's inline indexes name them `columns`. */
	if (take_key(ctx, source, "key", &key) != 0 ||
		take_strings(ctx, source, json_object_object_get_ex(source, "attributes", NULL) ||
			!json_object_object_get_ex(source, "columns", NULL) ? "attributes" : "columns",
			1, &attributes) != 0 ||
		take_strings(ctx, source, "orders", 0, &orders) != 0 ||
		take_strings(ctx, source, "lengths", 0, &lengths) != 0)
		return NULL;
	cairn__json_get_string(source, "type", &type);
	for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		type_known |= strcmp(type, types[i]) == 0;
	if (!type_known) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `type` param: must be one of key, fulltext, unique, spatial.");
		return NULL;
	}
	model = json_object_new_object();
	if (!model) {
		respond_oom(ctx);
		return NULL;
	}
	json_object_object_add(model, "$id", json_object_new_string(key));
	add_time(model, "$createdAt", now);
	add_time(model, "$updatedAt", now);
	json_object_object_add(model, "key", json_object_new_string(key));
	json_object_object_add(model, "type", json_object_new_string(type));
	json_object_object_add(model, "status", json_object_new_string("available"));
	json_object_object_add(model, "error", json_object_new_string(""));
	json_object_object_add(model, "attributes", cairn__json_copy(attributes));
	json_object_object_add(model, "lengths", lengths ? cairn__json_copy(lengths) :
		json_object_new_array());
	json_object_object_add(model, "orders", orders ? cairn__json_copy(orders) :
		json_object_new_array());
	if (!json_object_object_get(model, "attributes") ||
		!json_object_object_get(model, "lengths") || !json_object_object_get(model, "orders")) {
		json_object_put(model);
		respond_oom(ctx);
		return NULL;
	}
	return model;
}

void cairn__api_index_create(cairn_api_request *ctx)
{
	json_object *model;

	if (cairn__api_body_failed(ctx))
		return;
	model = build_index(ctx, ctx->body);
	if (!model)
		return;
	add_and_respond(ctx, "indexes", model);
	json_object_put(model);
}

void cairn__api_indexes_list(cairn_api_request *ctx)
{
	respond_schema_part(ctx, "indexes", NULL);
}

void cairn__api_index_get(cairn_api_request *ctx)
{
	respond_schema_part(ctx, "indexes", ctx->document_id);
}

void cairn__api_index_delete(cairn_api_request *ctx)
{
	change_schema_part(ctx, "indexes", ctx->document_id, 0);
}

/* ---- inline schema of a collection create --------------------------------------------- */

/* Builds every entry of the body array `part` into `schema` with `build`. */
static int inline_part(cairn_api_request *ctx, json_object *schema, const char *part)
{
	json_object *entries = NULL;

	if (!json_object_object_get_ex(ctx->body, part, &entries) || !entries)
		return 0;
	if (!json_object_is_type(entries, json_type_array)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `%s` param: must be an array of objects.", part);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(entries); i++) {
		json_object *entry = json_object_array_get_idx(entries, i);
		const char *type = NULL;
		json_object *model;
		int rc;

		if (!json_object_is_type(entry, json_type_object)) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `%s` param: entry %zu is not an object.", part, i);
			return -1;
		}
		cairn__json_get_string(entry, "type", &type);
		model = strcmp(part, "attributes") == 0 ? build_attribute(ctx, entry, type) :
			build_index(ctx, entry);
		if (!model)
			return -1;
		rc = (strcmp(part, "indexes") != 0 || index_attributes_known(ctx, schema,
			json_object_object_get(model, "attributes")) == 0) ?
			schema_add(ctx, schema, part, model) : -1;
		json_object_put(model);
		if (rc != 0)
			return -1;
	}
	return 0;
}

int cairn__api_schema_inline(cairn_api_request *ctx, json_object **out)
{
	json_object *schema;

	*out = NULL;
	if (!json_object_object_get_ex(ctx->body, "attributes", NULL) &&
		!json_object_object_get_ex(ctx->body, "indexes", NULL))
		return 0;
	schema = empty_schema(0);
	if (!schema) {
		respond_oom(ctx);
		return -1;
	}
	if (inline_part(ctx, schema, "attributes") != 0 ||
		inline_part(ctx, schema, "indexes") != 0) {
		json_object_put(schema);
		return -1;
	}
	*out = schema;
	return 0;
}

int cairn__api_schema_inline_store(cairn_api *api, const cairn_storage_collection *collection,
	json_object *schema)
{
	int rc;

	if (!schema)
		return 0;
	json_object_object_add(schema, "createdAt", json_object_new_int64(collection->created_at));
	pthread_mutex_lock(&schema_lock);
	rc = schema_store(api, collection, schema);
	pthread_mutex_unlock(&schema_lock);
	return rc;
}
