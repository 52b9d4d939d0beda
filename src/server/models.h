/* models.h: Appwrite JSON models (Database, Collection, Document) built from storage records. */
#ifndef CAIRN_SERVER_MODELS_H
#define CAIRN_SERVER_MODELS_H

#include <stdarg.h>
#include <stddef.h>
#include <json-c/json.h>

#include "storage/storage.h"

/* The server version Appwrite SDKs see (health, error bodies). */
#define CAIRN_APPWRITE_VERSION "1.9.6"

/* Models as new json_objects (caller owns; json_object_put). NULL only on ENOMEM. */
json_object *cairn__model_database(const cairn_storage_database *database);
json_object *cairn__model_collection(const cairn_storage_collection *collection);
/* The Document model of a live record: $id, $sequence (string), $collectionId, $databaseId,
 * $createdAt, $updatedAt, $permissions, $version, then the stored user fields (copied).
 * A tombstone (record->deleted or no data) gives the system keys only. */
json_object *cairn__model_document(const cairn_storage_record *record);

/* A growable text buffer for building large responses without a json_object tree.
 * After a failed allocation `failed` is set and later appends do nothing. */
typedef struct {
	char *data;      /* NUL-terminated while length > 0 or after any append */
	size_t length;
	size_t capacity;
	int failed;      /* 1 after an allocation failed */
} cairn_text;

void cairn__text_append(cairn_text *text, const char *bytes, size_t length);
void cairn__text_append_cstr(cairn_text *text, const char *string);
void cairn__text_appendf(cairn_text *text, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends `string` as a quoted, escaped JSON string. */
void cairn__text_append_json_string(cairn_text *text, const char *string);
/* Appends the compact JSON text of `value` (NULL appends null). */
void cairn__text_append_json(cairn_text *text, json_object *value);
/* Appends the Document model of `record` as JSON text (same keys as cairn__model_document)
 * by splicing the stored data's text: no copy of the data tree is made. */
void cairn__text_append_document(cairn_text *text, const cairn_storage_record *record);
/* Hands the buffer over (malloc'd, NUL-terminated, never NULL unless failed) and resets it. */
char *cairn__text_take(cairn_text *text);
void cairn__text_clear(cairn_text *text);

#endif
