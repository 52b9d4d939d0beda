/* sync_scope.c: partial sync on the server: validating a pull's scopes, deciding per change
 * whether the caller receives the document or a purge marker, and collection fingerprints. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/sync_scope.h"
#include "server/permissions.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/query.h"

/* One collection of the database as this pull sees it. */
typedef struct {
	cairn_storage_collection collection; /* owned copy */
	json_object *scope_texts;            /* the request's queries for it (borrowed), or NULL */
	cairn_query *scope;                  /* parsed scope, or NULL: everything readable */
	int readable;                        /* the caller may read it by collection permission */
} scope_entry;

struct cairn_sync_scope {
	const cairn_api_caller *caller;      /* borrowed from the request */
	scope_entry *entries;                /* sorted by collection id */
	size_t count;
	size_t capacity;
};

static void entry_clear(scope_entry *entry)
{
	cairn__storage_collection_clear(&entry->collection);
	cairn__query_free(entry->scope);
}

void cairn__sync_scope_free(cairn_sync_scope *scope)
{
	if (!scope)
		return;
	for (size_t i = 0; i < scope->count; i++)
		entry_clear(&scope->entries[i]);
	free(scope->entries);
	free(scope);
}

/* ---- loading and validating --------------------------------------------------------- */

static int add_collection(const cairn_storage_collection *collection, void *payload)
{
	cairn_sync_scope *scope = payload;
	scope_entry *entry;

	if (scope->count == scope->capacity) {
		size_t capacity = scope->capacity ? scope->capacity * 2 : 16;
		scope_entry *grown = realloc(scope->entries, capacity * sizeof(*grown));
		if (!grown)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory loading collections");
		scope->entries = grown;
		scope->capacity = capacity;
	}
	entry = &scope->entries[scope->count];
	memset(entry, 0, sizeof(*entry));
	entry->collection.id = strdup(collection->id);
	entry->collection.database_id = strdup(collection->database_id ?
		collection->database_id : "");
	entry->collection.name = strdup(collection->name ? collection->name : "");
	entry->collection.permissions = collection->permissions ?
		cairn__json_copy(collection->permissions) : json_object_new_array();
	entry->collection.enabled = collection->enabled;
	entry->collection.document_security = collection->document_security;
	entry->collection.created_at = collection->created_at;
	entry->collection.updated_at = collection->updated_at;
	scope->count++;
	if (!entry->collection.id || !entry->collection.database_id || !entry->collection.name ||
		!entry->collection.permissions)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory loading collections");
	return 0;
}

static int compare_entries(const void *a, const void *b)
{
	return strcmp(((const scope_entry *)a)->collection.id,
		((const scope_entry *)b)->collection.id);
}

static scope_entry *find_entry(const cairn_sync_scope *scope, const char *collection_id)
{
	size_t low = 0;
	size_t high = scope->count;

	while (low < high) {
		size_t middle = low + (high - low) / 2;
		int order = strcmp(collection_id, scope->entries[middle].collection.id);

		if (order == 0)
			return &scope->entries[middle];
		if (order < 0)
			high = middle;
		else
			low = middle + 1;
	}
	return NULL;
}

/* Parses one collection's scope. Returns 0, or -1 after responding. */
static int parse_scope(cairn_api_request *ctx, const char *collection_id, json_object *texts,
	cairn_query **out)
{
	size_t count = json_object_array_length(texts);
	const char **strings = calloc(count ? count : 1, sizeof(*strings));
	int rc = -1;

	*out = NULL;
	if (!strings) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		json_object *text = json_object_array_get_idx(texts, i);

		if (!json_object_is_type(text, json_type_string)) {
			cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
				"Invalid `scopes` param: query %zu of '%s' is not a string.", i,
				collection_id);
			goto cleanup;
		}
		strings[i] = json_object_get_string(text);
	}
	/* The limits and messages of REST list queries. */
	if (cairn__api_check_queries(ctx, (char **)strings, count) != 0)
		goto cleanup;
	for (size_t i = 0; i < count; i++) {
		cairn_query *one = NULL;
		int filters_only;

		if (cairn__query_parse(&one, &strings[i], 1) != 0) {
			cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
				"Invalid query: scope of '%s', query %zu: %s", collection_id, i,
				cairn_error_last());
			goto cleanup;
		}
		filters_only = cairn__query_filters_only(one);
		cairn__query_free(one);
		if (!filters_only) {
			cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
				"Invalid query: scope of '%s', query %zu: a sync scope takes filter queries "
				"only (select, orderAsc, orderDesc, limit, offset, cursorAfter and "
				"cursorBefore cannot scope a sync).", collection_id, i);
			goto cleanup;
		}
	}
	if (count > 0 && cairn__query_parse(out, strings, count) != 0) {
		cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
			"Invalid query: scope of '%s': %s", collection_id, cairn_error_last());
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(strings);
	return rc;
}

/* Checks the shape of `scopes` and attaches each scope to its collection. */
static int take_scopes(cairn_api_request *ctx, cairn_sync_scope *scope, json_object *scopes)
{
	if (!json_object_is_type(scopes, json_type_object) ||
		json_object_object_length(scopes) > CAIRN_SYNC_MAX_SCOPES) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `scopes` param: must be an object of at most %d collection ids to "
			"arrays of query strings.", CAIRN_SYNC_MAX_SCOPES);
		return -1;
	}
	json_object_object_foreach(scopes, collection_id, texts) {
		scope_entry *entry;
		cairn_query *query = NULL;

		if (!cairn__id_valid(collection_id)) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `scopes` param: '%.40s' is not a valid collection id.",
				collection_id);
			return -1;
		}
		if (!json_object_is_type(texts, json_type_array)) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `scopes` param: the scope of '%s' must be an array of query "
				"strings.", collection_id);
			return -1;
		}
		if (parse_scope(ctx, collection_id, texts, &query) != 0)
			return -1;
		/* A scope of a collection that does not exist (yet) filters nothing. */
		entry = find_entry(scope, collection_id);
		if (!entry) {
			cairn__query_free(query);
			continue;
		}
		cairn__query_free(entry->scope);
		entry->scope = query;
		entry->scope_texts = texts;
	}
	return 0;
}

int cairn__sync_scope_open(cairn_sync_scope **out, cairn_api_request *ctx)
{
	cairn_sync_scope *scope;
	json_object *scopes = NULL;
	int rc;

	*out = NULL;
	scope = calloc(1, sizeof(*scope));
	if (!scope) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		return -1;
	}
	scope->caller = &ctx->caller;
	rc = ctx->api->backend->collection_list(ctx->api->storage, ctx->database_id,
		add_collection, scope);
	if (rc < 0) {
		if (rc == CAIRN_ENOMEM)
			cairn__http_respond_error(ctx->response, 500, "general_server_error",
				"Out of memory.");
		else
			cairn__api_respond_storage_error(ctx, rc, "database_not_found", NULL);
		goto failed;
	}
	if (scope->count > 1)
		qsort(scope->entries, scope->count, sizeof(*scope->entries), compare_entries);
	for (size_t i = 0; i < scope->count; i++)
		scope->entries[i].readable = cairn__permissions_allow(&ctx->caller,
			&scope->entries[i].collection, NULL, CAIRN_PERMISSION_READ);
	if (json_object_object_get_ex(ctx->body, "scopes", &scopes) && scopes &&
		take_scopes(ctx, scope, scopes) != 0)
		goto failed;
	*out = scope;
	return 0;
failed:
	cairn__sync_scope_free(scope);
	return -1;
}

/* ---- per change ---------------------------------------------------------------------- */

#define STORED_DATA_MAX_DEPTH 64 /* as storage reads stored JSON; input is held to 32 */

/* The rule of REST reads (permissions.c): collection read, or the document's own read when
 * documentSecurity is on; a tombstone keeps the permissions it had. */
static int readable(const cairn_sync_scope *scope, const scope_entry *entry,
	const cairn_storage_record *record)
{
	if (entry->readable)
		return 1;
	return cairn__permissions_allow(scope->caller, &entry->collection, record,
		CAIRN_PERMISSION_READ);
}

int cairn__sync_scope_visible(cairn_sync_scope *scope, const cairn_storage_record *record)
{
	scope_entry *entry = find_entry(scope, record->collection_id);
	json_object *model;
	int matches;

	if (!entry)
		return CAIRN_SYNC_SKIP;
	if (!readable(scope, entry, record)) {
		/* Only a document whose own permissions may have changed needs a marker. One
		 * never written since its creation (storage.h: $updatedAt strictly increases
		 * with every write) never had other permissions, and collection rules are the
		 * fingerprint's business. */
		if (!entry->collection.document_security || record->created_at == record->updated_at)
			return CAIRN_SYNC_SKIP;
		return CAIRN_SYNC_PURGE;
	}
	/* A delete the caller could read goes out as it is: its data is gone, so the scope
	 * cannot judge it, and it removes nothing the client may keep. */
	if (!entry->scope || record->deleted || (!record->data && !record->data_text))
		return CAIRN_SYNC_SEND;
	if (!record->data) {
		/* A text-only record (storage.h changes_text): the scope must look inside. */
		cairn_storage_record parsed = *record; /* shallow: borrowed, never cleared */

		parsed.data = cairn__json_parse(record->data_text, record->data_text_length,
			STORED_DATA_MAX_DEPTH);
		if (!parsed.data)
			return cairn__error_set(CAIRN_EIO, "a stored document is corrupt: %s",
				cairn_error_last());
		model = cairn__model_document(&parsed);
		json_object_put(parsed.data);
	} else {
		model = cairn__model_document(record);
	}
	if (!model)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory matching a sync scope");
	matches = cairn__query_matches(entry->scope, model);
	json_object_put(model);
	return matches ? CAIRN_SYNC_SEND : CAIRN_SYNC_PURGE;
}

/* ---- fingerprints -------------------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t hash_bytes(uint64_t hash, const char *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		hash ^= (unsigned char)bytes[i];
		hash *= FNV_PRIME;
	}
	/* A separator after every field, so ("ab","c") and ("a","bc") differ. */
	hash ^= 0xff;
	return hash * FNV_PRIME;
}

static uint64_t hash_text(uint64_t hash, const char *text)
{
	return hash_bytes(hash, text ? text : "", text ? strlen(text) : 0);
}

static uint64_t fingerprint(const cairn_sync_scope *scope, const scope_entry *entry)
{
	const cairn_api_caller *caller = scope->caller;
	const cairn_storage_collection *collection = &entry->collection;
	uint64_t hash = hash_text(FNV_OFFSET, "cairn-scope-1");
	cairn_permission_roles roles;
	char flags[32];

	/* Who: a key, or the roles the caller holds (which name the user). */
	hash = hash_text(hash, caller->kind == CAIRN_CALLER_KEY ? "key" :
		caller->kind == CAIRN_CALLER_USER ? "user" : "guest");
	cairn__permissions_roles(&roles, caller);
	for (size_t i = 0; i < roles.count; i++)
		hash = hash_text(hash, roles.roles[i]);
	hash = hash_text(hash, caller->user_id);
	snprintf(flags, sizeof(flags), "%d", collection->document_security ? 1 : 0);
	hash = hash_text(hash, flags);
	hash = hash_text(hash, cairn__json_text(collection->permissions, NULL));
	for (size_t i = 0; entry->scope_texts && i < json_object_array_length(entry->scope_texts);
		i++)
		hash = hash_text(hash, json_object_get_string(
			json_object_array_get_idx(entry->scope_texts, i)));
	return hash;
}

static int requested(const char *id, const char *const *collections, size_t count)
{
	if (count == 0)
		return 1;
	for (size_t i = 0; i < count; i++)
		if (collections[i] && strcmp(collections[i], id) == 0)
			return 1;
	return 0;
}

void cairn__sync_scope_append_fingerprints(cairn_text *text, const cairn_sync_scope *scope,
	const char *const *collections, size_t count)
{
	int first = 1;

	cairn__text_append_cstr(text, "\"fingerprints\":{");
	for (size_t i = 0; i < scope->count; i++) {
		const scope_entry *entry = &scope->entries[i];

		if (!requested(entry->collection.id, collections, count))
			continue;
		if (!first)
			cairn__text_append_cstr(text, ",");
		first = 0;
		cairn__text_append_json_string(text, entry->collection.id);
		cairn__text_appendf(text, ":\"%016" PRIx64 "\"", fingerprint(scope, entry));
	}
	cairn__text_append_cstr(text, "}");
}
