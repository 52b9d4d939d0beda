/* models.c: Appwrite's Database, Collection and Document JSON models, and the text buffer the
 * sync feed streams documents into. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/models.h"
#include "util/json.h"
#include "util/time.h"

static int add_time(json_object *model, const char *key, int64_t unix_ms)
{
	char text[CAIRN_TIME_TEXT_SIZE];
	json_object *value;

	cairn__time_format(unix_ms, text);
	value = json_object_new_string(text);
	if (!value)
		return -1;
	json_object_object_add(model, key, value);
	return 0;
}

static int add_string(json_object *model, const char *key, const char *string)
{
	json_object *value = json_object_new_string(string ? string : "");

	if (!value)
		return -1;
	json_object_object_add(model, key, value);
	return 0;
}

/* A copy of a permissions array, or [] when the record has none. */
static json_object *permissions_copy(json_object *permissions)
{
	if (permissions && json_object_is_type(permissions, json_type_array))
		return cairn__json_copy(permissions);
	return json_object_new_array();
}

json_object *cairn__model_database(const cairn_storage_database *database)
{
	json_object *model = json_object_new_object();
	int failed = 0;

	if (!model)
		return NULL;
	failed |= add_string(model, "$id", database->id);
	failed |= add_string(model, "name", database->name);
	failed |= add_time(model, "$createdAt", database->created_at);
	failed |= add_time(model, "$updatedAt", database->updated_at);
	json_object_object_add(model, "enabled", json_object_new_boolean(database->enabled != 0));
	failed |= add_string(model, "type", "legacy");
	if (failed) {
		json_object_put(model);
		return NULL;
	}
	return model;
}

json_object *cairn__model_collection(const cairn_storage_collection *collection)
{
	json_object *model = json_object_new_object();
	json_object *permissions = NULL;
	int failed = 0;

	if (!model)
		return NULL;
	failed |= add_string(model, "$id", collection->id);
	failed |= add_time(model, "$createdAt", collection->created_at);
	failed |= add_time(model, "$updatedAt", collection->updated_at);
	permissions = permissions_copy(collection->permissions);
	if (!permissions)
		failed = 1;
	else
		json_object_object_add(model, "$permissions", permissions);
	failed |= add_string(model, "databaseId", collection->database_id);
	failed |= add_string(model, "name", collection->name);
	json_object_object_add(model, "enabled", json_object_new_boolean(collection->enabled != 0));
	json_object_object_add(model, "documentSecurity",
		json_object_new_boolean(collection->document_security != 0));
	/* Schemaless: the collection has no declared attributes or indexes. */
	json_object_object_add(model, "attributes", json_object_new_array());
	json_object_object_add(model, "indexes", json_object_new_array());
	json_object_object_add(model, "bytesMax", json_object_new_int64(0));
	json_object_object_add(model, "bytesUsed", json_object_new_int64(0));
	if (failed) {
		json_object_put(model);
		return NULL;
	}
	return model;
}

json_object *cairn__model_document(const cairn_storage_record *record)
{
	json_object *model = json_object_new_object();
	json_object *permissions;
	char sequence[24];
	int failed = 0;

	if (!model)
		return NULL;
	snprintf(sequence, sizeof(sequence), "%" PRId64, record->sequence);
	failed |= add_string(model, "$id", record->id);
	failed |= add_string(model, "$sequence", sequence);
	failed |= add_string(model, "$collectionId", record->collection_id);
	failed |= add_string(model, "$databaseId", record->database_id);
	failed |= add_time(model, "$createdAt", record->created_at);
	failed |= add_time(model, "$updatedAt", record->updated_at);
	permissions = permissions_copy(record->permissions);
	if (!permissions)
		failed = 1;
	else
		json_object_object_add(model, "$permissions", permissions);
	json_object_object_add(model, "$version", json_object_new_int64(record->version));
	if (!failed && !record->deleted && record->data &&
		json_object_is_type(record->data, json_type_object)) {
		json_object_object_foreach(record->data, key, value) {
			json_object *copy = NULL;
			/* A stored '$' key would shadow a system key; storage should never hold one. */
			if (key[0] == '$')
				continue;
			if (value) {
				copy = cairn__json_copy(value);
				if (!copy) {
					failed = 1;
					break;
				}
			}
			json_object_object_add(model, key, copy);
		}
	}
	if (failed) {
		json_object_put(model);
		return NULL;
	}
	return model;
}

/* ---- text buffer ---------------------------------------------------------------------- */

static int text_reserve(cairn_text *text, size_t extra)
{
	size_t need;
	size_t capacity;
	char *grown;

	if (text->failed)
		return -1;
	if (extra > SIZE_MAX - text->length - 1) {
		text->failed = 1;
		return -1;
	}
	need = text->length + extra + 1;
	if (need <= text->capacity)
		return 0;
	capacity = text->capacity ? text->capacity : 256;
	while (capacity < need)
		capacity = capacity > SIZE_MAX / 2 ? need : capacity * 2;
	grown = realloc(text->data, capacity);
	if (!grown) {
		text->failed = 1;
		return -1;
	}
	text->data = grown;
	text->capacity = capacity;
	return 0;
}

void cairn__text_append(cairn_text *text, const char *bytes, size_t length)
{
	if (text_reserve(text, length) != 0)
		return;
	if (length)
		memcpy(text->data + text->length, bytes, length);
	text->length += length;
	text->data[text->length] = '\0';
}

void cairn__text_append_cstr(cairn_text *text, const char *string)
{
	cairn__text_append(text, string, strlen(string));
}

void cairn__text_appendf(cairn_text *text, const char *fmt, ...)
{
	va_list args;
	char small[128];
	int length;

	va_start(args, fmt);
	length = vsnprintf(small, sizeof(small), fmt, args);
	va_end(args);
	if (length < 0) {
		text->failed = 1;
		return;
	}
	if ((size_t)length < sizeof(small)) {
		cairn__text_append(text, small, (size_t)length);
		return;
	}
	if (text_reserve(text, (size_t)length) != 0)
		return;
	va_start(args, fmt);
	vsnprintf(text->data + text->length, (size_t)length + 1, fmt, args);
	va_end(args);
	text->length += (size_t)length;
}

void cairn__text_append_json_string(cairn_text *text, const char *string)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(string ? string : "");
	const unsigned char *run = p;

	cairn__text_append(text, "\"", 1);
	for (; *p; p++) {
		char escape[7];
		size_t escape_length = 2;

		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		cairn__text_append(text, (const char *)run, (size_t)(p - run));
		escape[0] = '\\';
		switch (*p) {
		case '"': escape[1] = '"'; break;
		case '\\': escape[1] = '\\'; break;
		case '\n': escape[1] = 'n'; break;
		case '\r': escape[1] = 'r'; break;
		case '\t': escape[1] = 't'; break;
		case '\b': escape[1] = 'b'; break;
		case '\f': escape[1] = 'f'; break;
		default:
			escape[1] = 'u';
			escape[2] = '0';
			escape[3] = '0';
			escape[4] = hex[*p >> 4];
			escape[5] = hex[*p & 15];
			escape_length = 6;
			break;
		}
		cairn__text_append(text, escape, escape_length);
		run = p + 1;
	}
	cairn__text_append(text, (const char *)run, (size_t)(p - run));
	cairn__text_append(text, "\"", 1);
}

void cairn__text_append_json(cairn_text *text, json_object *value)
{
	size_t length = 0;
	const char *json;

	if (!value) {
		cairn__text_append(text, "null", 4);
		return;
	}
	json = cairn__json_text(value, &length);
	if (!json) {
		text->failed = 1;
		return;
	}
	cairn__text_append(text, json, length);
}

/* A decimal int64, without printf (every document carries two). */
static void append_int64(cairn_text *text, int64_t value)
{
	char digits[24];
	size_t at = sizeof(digits);
	uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;

	do {
		digits[--at] = (char)('0' + magnitude % 10);
		magnitude /= 10;
	} while (magnitude);
	if (value < 0)
		digits[--at] = '-';
	cairn__text_append(text, digits + at, sizeof(digits) - at);
}

void cairn__text_append_document(cairn_text *text, const cairn_storage_record *record)
{
	char created[CAIRN_TIME_TEXT_SIZE];
	char updated[CAIRN_TIME_TEXT_SIZE];
	json_object *data = record->deleted ? NULL : record->data;

	cairn__time_format(record->created_at, created);
	cairn__time_format(record->updated_at, updated);
	cairn__text_append_cstr(text, "{\"$id\":");
	cairn__text_append_json_string(text, record->id);
	cairn__text_append_cstr(text, ",\"$sequence\":\"");
	append_int64(text, record->sequence);
	cairn__text_append_cstr(text, "\",\"$collectionId\":");
	cairn__text_append_json_string(text, record->collection_id);
	cairn__text_append_cstr(text, ",\"$databaseId\":");
	cairn__text_append_json_string(text, record->database_id);
	cairn__text_append_cstr(text, ",\"$createdAt\":\"");
	cairn__text_append_cstr(text, created);
	cairn__text_append_cstr(text, "\",\"$updatedAt\":\"");
	cairn__text_append_cstr(text, updated);
	cairn__text_append_cstr(text, "\",\"$permissions\":");
	if (record->permissions && json_object_is_type(record->permissions, json_type_array) &&
		json_object_array_length(record->permissions) > 0)
		cairn__text_append_json(text, record->permissions);
	else
		cairn__text_append_cstr(text, "[]");
	cairn__text_append_cstr(text, ",\"$version\":");
	append_int64(text, record->version);
	if (data && json_object_is_type(data, json_type_object) &&
		json_object_object_length(data) > 0) {
		size_t length = record->data_text ? record->data_text_length : 0;
		const char *json = record->data_text ? record->data_text :
			cairn__json_text(data, &length);
		/* The stored data is an object "{...}": splice its members after the system keys. */
		if (!json || length < 2 || json[0] != '{') {
			text->failed = 1;
			return;
		}
		cairn__text_append(text, ",", 1);
		cairn__text_append(text, json + 1, length - 1);
	} else {
		cairn__text_append(text, "}", 1);
	}
}

char *cairn__text_take(cairn_text *text)
{
	char *data;

	if (text->failed) {
		cairn__text_clear(text);
		return NULL;
	}
	if (!text->data)
		cairn__text_append(text, "", 0);
	data = text->data;
	text->data = NULL;
	text->length = 0;
	text->capacity = 0;
	text->failed = 0;
	return data;
}

void cairn__text_clear(cairn_text *text)
{
	free(text->data);
	text->data = NULL;
	text->length = 0;
	text->capacity = 0;
	text->failed = 0;
}
