/* api_tablesdb.c: Appwrite's TablesDB naming (/v1/tablesdb: tables, rows, columns) served by
 * the legacy databases handlers: path mapping, request body and response renaming. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_int.h"
#include "util/json.h"

/* Extra levels of a response around a row's user fields: list, rows array, row. */
#define RESPONSE_ENVELOPE_DEPTH 4

typedef struct {
	const char *from;
	const char *to;
} rename_pair;

/* Request body keys: TablesDB name -> legacy name. */
static const rename_pair body_keys[] = {
	{ "rowId", "documentId" },
	{ "tableId", "collectionId" },
	{ "rowSecurity", "documentSecurity" },
	{ "rows", "documents" },
	{ "columns", "attributes" },
	{ "relatedTableId", "relatedCollectionId" },
};

/* Error type prefixes: legacy -> TablesDB (row_not_found, table_already_exists...). */
static const rename_pair type_prefixes[] = {
	{ "document_", "row_" },
	{ "collection_", "table_" },
	{ "attribute_", "column_" },
};

/* The first word of legacy messages ("Document with the requested ID ..."). */
static const rename_pair message_words[] = {
	{ "Document ", "Row " },
	{ "Collection ", "Table " },
	{ "Attribute ", "Column " },
};

/* Replaces a literal path segment: `from` becomes `to`; the legacy name itself under
 * /tablesdb becomes a segment no route has, so only the TablesDB names are served there. */
static void map_segment(char **segment, const char *from, const char *to, const char *alt_from,
	const char *alt_to)
{
	if (strcmp(*segment, from) == 0)
		*segment = (char *)to;
	else if (alt_from && strcmp(*segment, alt_from) == 0)
		*segment = (char *)alt_to;
	else if (strcmp(*segment, to) == 0 || (alt_to && strcmp(*segment, alt_to) == 0))
		*segment = (char *)"-";
}

int cairn__api_tablesdb_map_path(char **segments, size_t count)
{
	if (count == 0 || strcmp(segments[0], "tablesdb") != 0)
		return CAIRN_API_NAMING_LEGACY;
	segments[0] = (char *)"databases";
	if (count >= 3)
		map_segment(&segments[2], "tables", "collections", NULL, NULL);
	if (count >= 5)
		map_segment(&segments[4], "rows", "documents", "columns", "attributes");
	return CAIRN_API_NAMING_TABLES;
}

void cairn__api_tablesdb_request(cairn_api_request *ctx)
{
	if (!ctx->body)
		return;
	for (size_t i = 0; i < sizeof(body_keys) / sizeof(body_keys[0]); i++) {
		json_object *value = NULL;

		if (!json_object_object_get_ex(ctx->body, body_keys[i].from, &value))
			continue;
		json_object_get(value);
		json_object_object_del(ctx->body, body_keys[i].from);
		if (json_object_object_add(ctx->body, body_keys[i].to, value) != 0)
			json_object_put(value);
	}
}

/* ---- response ------------------------------------------------------------------------ */

/* A copy of `object` with key `from` renamed `to` in place (key order kept), or NULL. */
static json_object *renamed(json_object *object, const char *from, const char *to)
{
	json_object *copy = json_object_new_object();

	if (!copy)
		return NULL;
	json_object_object_foreach(object, key, value) {
		if (json_object_object_add(copy, strcmp(key, from) == 0 ? to : key,
			json_object_get(value)) != 0) {
			json_object_put(value);
			json_object_put(copy);
			return NULL;
		}
	}
	return copy;
}

/* Renames `from` to `to` in *object (replacing the object), when present. 0 or -1. */
static int rename_key(json_object **object, const char *from, const char *to)
{
	json_object *copy;

	if (!json_object_object_get_ex(*object, from, NULL))
		return 0;
	copy = renamed(*object, from, to);
	if (!copy)
		return -1;
	json_object_put(*object);
	*object = copy;
	return 0;
}

static int convert_model(json_object **model);

/* Converts every element of the array under `key` of `object`. */
static int convert_elements(json_object *object, const char *key)
{
	json_object *array = NULL;

	if (!json_object_object_get_ex(object, key, &array) ||
		!json_object_is_type(array, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(array); i++) {
		json_object *element = json_object_get(json_object_array_get_idx(array, i));

		if (!json_object_is_type(element, json_type_object)) {
			json_object_put(element);
			continue;
		}
		if (convert_model(&element) != 0) {
			json_object_put(element);
			return -1;
		}
		json_object_array_put_idx(array, i, element);
	}
	return 0;
}

/* One model: Row ($collectionId -> $tableId, user fields untouched), Table
 * (documentSecurity, attributes -> rowSecurity, columns), Index (attributes -> columns),
 * Database (type legacy -> tablesdb). */
static int convert_model(json_object **model)
{
	const char *type = NULL;

	if (json_object_object_get_ex(*model, "$collectionId", NULL))
		return rename_key(model, "$collectionId", "$tableId");
	if (json_object_object_get_ex(*model, "documentSecurity", NULL)) {
		if (convert_elements(*model, "indexes") != 0 ||
			rename_key(model, "documentSecurity", "rowSecurity") != 0)
			return -1;
		return rename_key(model, "attributes", "columns");
	}
	if (json_object_object_get_ex(*model, "key", NULL) &&
		json_object_object_get_ex(*model, "orders", NULL))
		return rename_key(model, "attributes", "columns");
	if (cairn__json_get_string(*model, "type", &type) && strcmp(type, "legacy") == 0 &&
		json_object_object_get_ex(*model, "enabled", NULL)) {
		json_object *value = json_object_new_string("tablesdb");
		if (!value)
			return -1;
		json_object_object_add(*model, "type", value);
	}
	return 0;
}

/* An error body: type prefix and the message's first word. */
static int convert_error(json_object *body)
{
	const char *type = NULL;
	const char *message = NULL;

	if (cairn__json_get_string(body, "type", &type)) {
		for (size_t i = 0; i < sizeof(type_prefixes) / sizeof(type_prefixes[0]); i++) {
			size_t length = strlen(type_prefixes[i].from);
			char renamed_type[96];
			json_object *value;

			if (strncmp(type, type_prefixes[i].from, length) != 0)
				continue;
			snprintf(renamed_type, sizeof(renamed_type), "%s%s", type_prefixes[i].to,
				type + length);
			value = json_object_new_string(renamed_type);
			if (!value)
				return -1;
			json_object_object_add(body, "type", value);
			break;
		}
	}
	if (cairn__json_get_string(body, "message", &message)) {
		for (size_t i = 0; i < sizeof(message_words) / sizeof(message_words[0]); i++) {
			size_t length = strlen(message_words[i].from);
			size_t size;
			char *text;
			json_object *value;

			if (strncmp(message, message_words[i].from, length) != 0)
				continue;
			size = strlen(message_words[i].to) + strlen(message + length) + 1;
			text = malloc(size);
			if (!text)
				return -1;
			snprintf(text, size, "%s%s", message_words[i].to, message + length);
			value = json_object_new_string(text);
			free(text);
			if (!value)
				return -1;
			json_object_object_add(body, "message", value);
			break;
		}
	}
	return 0;
}

/* An error (`status` >= 400), a list ({total, <key>: [...]}) or a model: converted in
 * place or replaced. */
static int convert_body(json_object **body, int status)
{
	static const rename_pair lists[] = {
		{ "documents", "rows" },
		{ "collections", "tables" },
		{ "attributes", "columns" },
		{ "indexes", "indexes" },
		{ "databases", "databases" },
	};

	if (status >= 400)
		return convert_error(*body);
	if (json_object_object_length(*body) == 2 &&
		json_object_object_get_ex(*body, "total", NULL)) {
		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
			if (!json_object_object_get_ex(*body, lists[i].from, NULL))
				continue;
			if (convert_elements(*body, lists[i].from) != 0)
				return -1;
			return rename_key(body, lists[i].from, lists[i].to);
		}
	}
	return convert_model(body);
}

void cairn__api_tablesdb_response(cairn_api_request *ctx)
{
	cairn_http_response *response = ctx->response;
	json_object *body;
	char *text;

	if (!response->body || !response->body_length || !response->content_type ||
		!strstr(response->content_type, "json"))
		return;
	body = cairn__json_parse_object(response->body, response->body_length,
		CAIRN_JSON_MAX_DEPTH + RESPONSE_ENVELOPE_DEPTH);
	if (!body)
		return; /* not an object (cannot happen for our models): left as it is */
	if (convert_body(&body, response->status) != 0) {
		json_object_put(body);
		cairn__http_respond_error(response, 500, "general_server_error", "Out of memory.");
		return;
	}
	text = cairn__json_dump(body);
	json_object_put(body);
	if (!text) {
		cairn__http_respond_error(response, 500, "general_server_error", "Out of memory.");
		return;
	}
	free(response->body);
	response->body = text;
	response->body_length = strlen(text);
}
