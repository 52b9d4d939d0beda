/* replicator_rest_pull.c: the pull half of a REST-mode round: which collections, their
 * sync scopes, pages by ($updatedAt, $id) through the sync mode's pull-apply path, and the
 * periodic reconciliation scan by id (docs/rest-mode.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/replicator_rest_int.h"
#include "util/error.h"
#include "util/hlc.h"
#include "util/id.h"
#include "util/json.h"
#include "util/time.h"

#define REST_PULL_DEFAULT_LIMIT 100
#define REST_PULL_MAX_LIMIT 5000      /* per list request; Appwrite itself has no hard cap */
#define REST_SCAN_PAGE 1000           /* ids per request of the reconciliation scan */
#define REST_FETCH_BATCH 50           /* ids per equal("$id", [...]): well under 4096 chars */
#define REST_MAX_COLLECTIONS 10000

/* ---- query strings (Appwrite's queries[N]=<JSON>, URL-encoded) ---- */

static json_object *query_new(const char *method, const char *attribute, json_object *values)
{
	json_object *query = json_object_new_object();

	if (!query) {
		json_object_put(values);
		return NULL;
	}
	json_object_object_add(query, "method", json_object_new_string(method));
	if (attribute)
		json_object_object_add(query, "attribute", json_object_new_string(attribute));
	if (values)
		json_object_object_add(query, "values", values);
	return query;
}

static json_object *values_of(json_object *value)
{
	json_object *values = json_object_new_array();

	if (!values || !value || json_object_array_add(values, value) != 0) {
		json_object_put(values);
		json_object_put(value);
		return NULL;
	}
	return values;
}

static json_object *time_value(int64_t ms)
{
	char text[CAIRN_TIME_TEXT_SIZE];

	cairn__time_format(ms, text);
	return json_object_new_string(text);
}

static void percent_encode(FILE *stream, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '.' || *p == '_' || *p == '~')
			fputc(*p, stream);
		else
			fprintf(stream, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
}

/* `base` + "?queries[0]=...&queries[1]=..." for the query objects in `queries` (an array;
 * NULL entries mean an allocation failed). Caller frees *out. */
static int queries_path(char **out, const char *base, json_object *queries)
{
	size_t size = 0;
	FILE *stream = open_memstream(out, &size);
	int failed = 0;

	*out = NULL;
	if (!stream)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory building a list request");
	fputs(base, stream);
	for (size_t i = 0; i < json_object_array_length(queries); i++) {
		json_object *query = json_object_array_get_idx(queries, i);
		const char *text = query ? cairn__json_text(query, NULL) : NULL;

		if (!text) {
			failed = 1;
			break;
		}
		fprintf(stream, "%squeries%%5B%zu%%5D=", i ? "&" : "?", i);
		percent_encode(stream, text);
	}
	failed |= ferror(stream) != 0;
	if (fclose(stream) != 0 || failed) {
		free(*out);
		*out = NULL;
		return cairn__error_set(CAIRN_ENOMEM, "out of memory building a list request");
	}
	return 0;
}

static void add_query(json_object *queries, json_object *query)
{
	/* A NULL entry makes queries_path fail with ENOMEM: no check needed at each call. */
	if (json_object_array_add(queries, query) != 0)
		json_object_put(query);
}

/* ---- which collections ---- */

static int add_collection(json_object *list, const char *name)
{
	if (!name || !cairn__id_valid(name))
		return 0;
	for (size_t i = 0; i < json_object_array_length(list); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(list, i)), name) == 0)
			return 0;
	if (json_object_array_length(list) >= REST_MAX_COLLECTIONS)
		return 0;
	if (json_object_array_add(list, json_object_new_string(name)) != 0)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory listing collections");
	return 0;
}

/* The collections this store knows: documents, server copies, outbox rows, policies, sync
 * scopes and REST checkpoints (a collection pulled once stays pulled). */
static int local_collections(json_object *list, cairn_store *store)
{
	static const char sql[] =
		"SELECT collection FROM docs UNION SELECT collection FROM server_docs "
		"UNION SELECT collection FROM outbox UNION SELECT collection FROM policies "
		"UNION SELECT substr(key, 17) FROM meta WHERE key LIKE 'rest_checkpoint/%' "
		"UNION SELECT substr(key, 7) FROM meta WHERE key LIKE 'scope:%'";
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return cairn__store_error(store, rc, "listing collections");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		rc = add_collection(list, (const char *)sqlite3_column_text(stmt, 0));
		if (rc != 0)
			goto cleanup;
	}
	rc = rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "listing collections");
cleanup:
	sqlite3_finalize(stmt);
	return rc;
}

/* With an API key the database's collections can be listed (GET /databases/{db}/collections
 * is a key route): a new store then pulls collections it has never touched. Any refusal just
 * leaves the local list. */
static int server_collections(json_object *list, cairn__rest_session *s)
{
	char base[128];
	int rc = 0;

	snprintf(base, sizeof(base), "/databases/%s/collections", s->database);
	for (int64_t offset = 0; offset < REST_MAX_COLLECTIONS; offset += 100) {
		json_object *queries = json_object_new_array();
		json_object *reply = NULL;
		json_object *collections = NULL;
		char *path = NULL;
		long status = 0;
		size_t count = 0;

		if (!queries)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory listing collections");
		add_query(queries, query_new("limit", NULL, values_of(json_object_new_int64(100))));
		add_query(queries, query_new("offset", NULL, values_of(json_object_new_int64(offset))));
		rc = queries_path(&path, base, queries);
		json_object_put(queries);
		if (rc == 0)
			rc = cairn__rest_call(&reply, &status, s, "GET", path, NULL, NULL);
		free(path);
		if (rc == 0 && status == 200 && json_object_object_get_ex(reply, "collections",
			&collections) && json_object_is_type(collections, json_type_array)) {
			count = json_object_array_length(collections);
			for (size_t i = 0; i < count && rc == 0; i++)
				rc = add_collection(list, cairn__rest_reply_string(
					json_object_array_get_idx(collections, i), "$id", NULL));
		}
		json_object_put(reply);
		if (rc != 0 || count < 100)
			return rc == CAIRN_ENOMEM || rc == CAIRN_EOFFLINE ? rc : 0;
	}
	return 0;
}

/* ---- sync scopes (cairn_sync_scope_set: meta "scope:<collection>") ---- */

/* The collection's scope: *text the stored JSON array of query strings ("[]" when none;
 * caller frees) and *queries those queries parsed (caller owns). */
static int scope_load(json_object **queries, char **text, cairn_store *store,
	const char *collection)
{
	json_object *strings = NULL;
	char key[64];
	int rc;

	*queries = NULL;
	*text = NULL;
	snprintf(key, sizeof(key), "scope:%s", collection);
	rc = cairn__meta_get_text(store, key, text);
	if (rc < 0)
		return rc;
	if (rc == 0 && !(*text = strdup("[]")))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory reading a sync scope");
	*queries = json_object_new_array();
	strings = cairn__json_parse(*text, strlen(*text), 4);
	if (!*queries || !json_object_is_type(strings, json_type_array)) {
		rc = *queries ? cairn__error_set(CAIRN_EIO, "the stored scope of '%s' is not a JSON "
			"array: set it again", collection) : cairn__error_set(CAIRN_ENOMEM,
			"out of memory reading a sync scope");
		goto failed;
	}
	for (size_t i = 0; i < json_object_array_length(strings); i++) {
		const char *query = json_object_get_string(json_object_array_get_idx(strings, i));
		json_object *parsed = query ? cairn__json_parse_object(query, strlen(query), 0) : NULL;

		if (!parsed) {
			rc = cairn__error_set(CAIRN_EIO, "a stored scope query of '%s' is not a JSON "
				"object: set the scope again", collection);
			goto failed;
		}
		add_query(*queries, parsed);
	}
	json_object_put(strings);
	return 0;
failed:
	json_object_put(strings);
	json_object_put(*queries);
	free(*text);
	*queries = NULL;
	*text = NULL;
	return rc;
}

static void add_scope(json_object *queries, json_object *scope)
{
	for (size_t i = 0; scope && i < json_object_array_length(scope); i++)
		add_query(queries, json_object_get(json_object_array_get_idx(scope, i)));
}

/* *changed 1 when the scope differs from the one the collection was last pulled with
 * (meta "rest_scope/<collection>"); a collection never pulled has not changed. */
static int scope_changed(int *changed, cairn_store *store, const char *collection,
	const char *scope)
{
	char key[64];
	char *text = NULL;
	int rc;

	*changed = 0;
	snprintf(key, sizeof(key), "rest_scope/%s", collection);
	rc = cairn__meta_get_text(store, key, &text);
	if (rc < 0)
		return rc;
	*changed = strcmp(rc == 1 ? text : "[]", scope) != 0;
	free(text);
	return 0;
}

/* ---- pull ---- */

/* Applies server documents (and tombstones) as one pull page through the sync mode's path:
 * same guards, pending local changes kept on top, listeners. */
static int apply_page(uint64_t *applied_count, cairn__rest_session *s, json_object *changes)
{
	json_object *page = json_object_new_object();
	int64_t checkpoint = 0;
	int more = 0;
	int rc;

	*applied_count = 0;
	if (!page)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a pull page");
	json_object_object_add(page, "changes", json_object_get(changes));
	json_object_object_add(page, "checkpoint", json_object_new_int64(s->sync_checkpoint));
	json_object_object_add(page, "more", json_object_new_boolean(0));
	rc = cairn__pull_apply(applied_count, &more, &checkpoint, s->store, page);
	json_object_put(page);
	return rc;
}

static json_object *change_new(const char *collection, const char *id, int64_t version,
	json_object *document)
{
	json_object *change = json_object_new_object();

	if (!change)
		return NULL;
	json_object_object_add(change, "collection", json_object_new_string(collection));
	json_object_object_add(change, "id", json_object_new_string(id));
	json_object_object_add(change, "version", json_object_new_int64(version));
	json_object_object_add(change, "hlc", json_object_new_int64(document ?
		cairn__hlc_from_ms(version) : 0));
	json_object_object_add(change, "author", json_object_new_string(""));
	json_object_object_add(change, "deleted", json_object_new_boolean(!document));
	if (document)
		json_object_object_add(change, "document", json_object_get(document));
	return change;
}

/* The per-collection checkpoint "rest_checkpoint/<collection>" = "<unix ms> <id>". */
static int checkpoint_load(int64_t *ms, char *id, size_t id_size, cairn_store *store,
	const char *collection)
{
	char key[64];
	char *text = NULL;
	long long value = 0;
	int rc;

	*ms = -1;
	id[0] = '\0';
	snprintf(key, sizeof(key), "rest_checkpoint/%s", collection);
	rc = cairn__meta_get_text(store, key, &text);
	if (rc <= 0)
		return rc;
	if (sscanf(text, "%lld %39s", &value, id) == 2 && id_size > 40 && value >= 0)
		*ms = value;
	else
		id[0] = '\0';
	free(text);
	return 0;
}

static int checkpoint_save(cairn_store *store, const char *collection, int64_t ms,
	const char *id)
{
	char key[64];
	char text[96];
	int rc;

	snprintf(key, sizeof(key), "rest_checkpoint/%s", collection);
	snprintf(text, sizeof(text), "%lld %s", (long long)ms, id);
	rc = cairn__store_begin(store);
	if (rc != 0)
		return rc;
	rc = cairn__meta_set_text(store, key, text);
	if (rc == 0)
		rc = cairn__store_commit(store);
	if (rc != 0)
		cairn__store_rollback(store);
	return rc;
}

/* or(greaterThan($updatedAt, t), and(equal($updatedAt, t), greaterThan($id, id))): what
 * comes after (t, id) in ($updatedAt, $id) order, ties inside one millisecond included. */
static json_object *after_query(int64_t ms, const char *id)
{
	json_object *tie = json_object_new_array();
	json_object *either = json_object_new_array();

	if (!tie || !either) {
		json_object_put(tie);
		json_object_put(either);
		return NULL;
	}
	add_query(tie, query_new("equal", "$updatedAt", values_of(time_value(ms))));
	add_query(tie, query_new("greaterThan", "$id", values_of(json_object_new_string(id))));
	add_query(either, query_new("greaterThan", "$updatedAt", values_of(time_value(ms))));
	add_query(either, query_new("and", NULL, tie));
	return query_new("or", NULL, either);
}

/* One list request of a collection's pull: from `from_ms` (or everything, when < 0) on the
 * first page, after (after_ms, after_id) on the next ones. *documents is the array. */
static int list_page(json_object **reply, json_object **documents, cairn__rest_session *s,
	const char *collection, json_object *scope, int64_t from_ms, int64_t after_ms,
	const char *after_id, size_t limit)
{
	json_object *queries = json_object_new_array();
	char base[160];
	char *path = NULL;
	long status = 0;
	int rc;

	*reply = NULL;
	*documents = NULL;
	if (!queries)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory building a pull request");
	if (after_id)
		add_query(queries, after_query(after_ms, after_id));
	else if (from_ms >= 0)
		add_query(queries, query_new("greaterThanEqual", "$updatedAt",
			values_of(time_value(from_ms))));
	add_scope(queries, scope);
	add_query(queries, query_new("orderAsc", "$updatedAt", NULL));
	add_query(queries, query_new("orderAsc", "$id", NULL));
	add_query(queries, query_new("limit", NULL, values_of(json_object_new_int64(
		(int64_t)limit))));
	cairn__rest_document_path(base, sizeof(base), s, collection, NULL);
	rc = queries_path(&path, base, queries);
	json_object_put(queries);
	if (rc == 0)
		rc = cairn__rest_call(reply, &status, s, "GET", path, NULL, NULL);
	free(path);
	if (rc != 0)
		return rc;
	if (status == 404 && strcmp(cairn__rest_reply_string(*reply, "type", ""),
		"collection_not_found") == 0)
		return 1; /* not on the server (yet): nothing to pull */
	if (status != 200) {
		rc = cairn__rest_round_stopper(status, *reply, "pulling changes");
		return rc ? rc : cairn__error_set(CAIRN_ESERVER, "the server answered HTTP %ld to a "
			"pull: %s", status, cairn__rest_reply_string(*reply, "message", "no message"));
	}
	if (!json_object_object_get_ex(*reply, "documents", documents) ||
		!json_object_is_type(*documents, json_type_array))
		return cairn__error_set(CAIRN_ESERVER, "the server's document list has no "
			"`documents` array");
	return 0;
}

/* The changes of one page; (*last_ms, last_id) the position of its last document. */
static int page_changes(json_object **changes, int64_t *last_ms, char *last_id, size_t size,
	const char *collection, json_object *documents)
{
	*changes = json_object_new_array();
	if (!*changes)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory reading a pull page");
	for (size_t i = 0; i < json_object_array_length(documents); i++) {
		json_object *document = json_object_array_get_idx(documents, i);
		const char *id = cairn__rest_reply_string(document, "$id", NULL);
		int64_t version = 0;
		int rc = cairn__rest_document_version(&version, document);

		if (rc == 0 && (!id || !cairn__id_valid(id)))
			rc = cairn__error_set(CAIRN_ESERVER, "the server sent a document without a "
				"valid $id");
		if (rc == 0 && json_object_array_add(*changes,
			change_new(collection, id, version, document)) != 0)
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory reading a pull page");
		if (rc != 0) {
			json_object_put(*changes);
			*changes = NULL;
			return rc;
		}
		*last_ms = version;
		snprintf(last_id, size, "%s", id);
	}
	return 0;
}

/* Pulls the collection from its checkpoint, or from the start with `from_start`. */
static int pull_collection(uint64_t *done, cairn__rest_session *s, const char *collection,
	json_object *scope, int from_start, size_t limit, int64_t started)
{
	int64_t checkpoint_ms = -1;
	char checkpoint_id[64];
	int64_t after_ms = 0;
	char after_id[64] = "";
	int first = 1;
	int rc;

	rc = checkpoint_load(&checkpoint_ms, checkpoint_id, sizeof(checkpoint_id), s->store,
		collection);
	if (rc != 0)
		return rc;
	if (from_start) {
		checkpoint_ms = -1;
		checkpoint_id[0] = '\0';
	}
	for (;;) {
		json_object *reply = NULL;
		json_object *documents = NULL;
		json_object *changes = NULL;
		uint64_t applied_count = 0;
		int64_t last_ms = 0;
		char last_id[64] = "";
		size_t count = 0;

		/* The first page re-reads a safety window before the checkpoint; what we already
		 * have is skipped by the version guard. */
		rc = list_page(&reply, &documents, s, collection, scope, checkpoint_ms < 0 ? -1 :
			checkpoint_ms - CAIRN__REST_SAFETY_WINDOW_MS, after_ms, first ? NULL : after_id,
			limit);
		if (rc == 0) {
			count = json_object_array_length(documents);
			rc = page_changes(&changes, &last_ms, last_id, sizeof(last_id), collection,
				documents);
		}
		if (rc == 0 && count > 0)
			rc = apply_page(&applied_count, s, changes);
		if (rc == 0 && count > 0 && (last_ms > checkpoint_ms || (last_ms == checkpoint_ms &&
			strcmp(last_id, checkpoint_id) > 0))) {
			rc = checkpoint_save(s->store, collection, last_ms, last_id);
			checkpoint_ms = last_ms;
			snprintf(checkpoint_id, sizeof(checkpoint_id), "%s", last_id);
		}
		json_object_put(changes);
		json_object_put(reply);
		if (rc == 1)
			return 0;
		if (rc != 0)
			return rc;
		s->result->pulled += applied_count;
		*done += applied_count;
		rc = cairn__rest_report(s, CAIRN_SYNC_PHASE_PULL, *done, 0, started);
		if (rc != 0 || count < limit)
			return rc;
		first = 0;
		after_ms = last_ms;
		snprintf(after_id, sizeof(after_id), "%s", last_id);
	}
}

/* ---- the reconciliation scan ---- */

/* Entries of the id scan are [id, $updatedAt in ms (0 when the reply lacks it)]. */
static const char *entry_id(json_object *entry)
{
	return json_object_get_string(json_object_array_get_idx(entry, 0));
}

static int compare_entries(const void *a, const void *b)
{
	return strcmp(entry_id(*(json_object *const *)a), entry_id(*(json_object *const *)b));
}

static json_object *entry_new(const char *id, json_object *document)
{
	json_object *entry = json_object_new_array();
	const char *text = NULL;
	int64_t ms = 0;

	if (cairn__json_get_string(document, "$updatedAt", &text) && cairn__time_parse(text, &ms))
		ms = 0;
	if (entry && (json_object_array_add(entry, json_object_new_string(id)) != 0 ||
		json_object_array_add(entry, json_object_new_int64(ms)) != 0)) {
		json_object_put(entry);
		entry = NULL;
	}
	return entry;
}

/* Every document of `collection` on the server (in the scope) as entries sorted by id
 * (strcmp), listed with select(["$id"]) (system keys such as $updatedAt come along) and
 * paged by greaterThan("$id"), which no concurrent delete can break as a cursor would.
 * Returns 1 when the collection is not on the server. */
static int server_ids(json_object **ids, cairn__rest_session *s, const char *collection,
	json_object *scope)
{
	char last[64] = "";
	char base[160];
	int rc;

	*ids = json_object_new_array();
	if (!*ids)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory scanning ids");
	cairn__rest_document_path(base, sizeof(base), s, collection, NULL);
	for (;;) {
		json_object *queries = json_object_new_array();
		json_object *select = json_object_new_array();
		json_object *reply = NULL;
		json_object *documents = NULL;
		char *path = NULL;
		long status = 0;
		size_t count = 0;

		if (!queries || !select) {
			json_object_put(queries);
			json_object_put(select);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory scanning ids");
		}
		json_object_array_add(select, json_object_new_string("$id"));
		add_query(queries, query_new("select", NULL, select));
		if (last[0])
			add_query(queries, query_new("greaterThan", "$id",
				values_of(json_object_new_string(last))));
		add_scope(queries, scope);
		add_query(queries, query_new("orderAsc", "$id", NULL));
		add_query(queries, query_new("limit", NULL, values_of(json_object_new_int64(
			REST_SCAN_PAGE))));
		rc = queries_path(&path, base, queries);
		json_object_put(queries);
		if (rc == 0)
			rc = cairn__rest_call(&reply, &status, s, "GET", path, NULL, NULL);
		free(path);
		if (rc == 0 && status == 404 &&
			strcmp(cairn__rest_reply_string(reply, "type", ""), "collection_not_found") == 0) {
			rc = 1;
		} else if (rc == 0 && status != 200) {
			rc = cairn__rest_round_stopper(status, reply, "listing document ids");
			if (rc == 0)
				rc = cairn__error_set(CAIRN_ESERVER, "the server answered HTTP %ld to an id "
					"scan", status);
		} else if (rc == 0 && (!json_object_object_get_ex(reply, "documents", &documents) ||
			!json_object_is_type(documents, json_type_array))) {
			rc = cairn__error_set(CAIRN_ESERVER, "the server's id list has no `documents`");
		}
		if (rc == 0) {
			count = json_object_array_length(documents);
			for (size_t i = 0; i < count && rc == 0; i++) {
				json_object *document = json_object_array_get_idx(documents, i);
				const char *id = cairn__rest_reply_string(document, "$id", NULL);

				if (!id || !cairn__id_valid(id))
					rc = cairn__error_set(CAIRN_ESERVER, "the server's id list holds a "
						"document without a valid $id");
				else if (json_object_array_add(*ids, entry_new(id, document)) != 0)
					rc = cairn__error_set(CAIRN_ENOMEM, "out of memory scanning ids");
				else
					snprintf(last, sizeof(last), "%s", id);
			}
		}
		json_object_put(reply);
		if (rc != 0 || count < REST_SCAN_PAGE)
			break;
	}
	if (rc == 0)
		json_object_array_sort(*ids, compare_entries);
	return rc;
}

static int id_listed(json_object *ids, const char *id)
{
	size_t low = 0;
	size_t high = json_object_array_length(ids);

	while (low < high) {
		size_t middle = low + (high - low) / 2;
		int order = strcmp(entry_id(json_object_array_get_idx(ids, middle)), id);

		if (order == 0)
			return 1;
		if (order < 0)
			low = middle + 1;
		else
			high = middle;
	}
	return 0;
}

/* Purge changes for every live server copy of `collection` whose id the server no longer
 * lists (in the scope): deleted, no longer readable, or out of the scope. A purge forgets
 * the copy (pending local changes stay), so the document is pulled again if it is created
 * again or comes back into view. */
static int purges(json_object *changes, cairn__rest_session *s, const char *collection,
	json_object *ids)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->store->db, "SELECT id, version FROM server_docs "
		"WHERE collection = ?1 AND deleted = 0", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return cairn__store_error(s->store, rc, "reading server copies");
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(stmt, 0);
		json_object *change;

		if (id_listed(ids, id))
			continue;
		change = change_new(collection, id, sqlite3_column_int64(stmt, 1), NULL);
		if (!change || json_object_object_add(change, "purge",
			json_object_new_boolean(1)) != 0 || json_object_array_add(changes, change) != 0) {
			json_object_put(change);
			sqlite3_finalize(stmt);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory scanning ids");
		}
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : cairn__store_error(s->store, rc, "reading server copies");
}

/* The ids the server lists with a newer $updatedAt than our copy, or that we do not have:
 * writes the $updatedAt pull missed (a late commit or a clock behind by more than the
 * safety window). *oldest: the smallest $updatedAt among them (INT64_MAX when none). */
static int stale_ids(json_object *out, int64_t *oldest, cairn__rest_session *s,
	const char *collection, json_object *ids)
{
	*oldest = INT64_MAX;
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		json_object *entry = json_object_array_get_idx(ids, i);
		sqlite3_stmt *stmt = cairn__store_stmt(s->store, STMT_SERVER_VERSION);
		int64_t ms = json_object_get_int64(json_object_array_get_idx(entry, 1));
		int rc;

		if (!stmt)
			return cairn__error_code();
		sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, entry_id(entry), -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			sqlite3_reset(stmt);
			return cairn__store_error(s->store, rc, "reading server copies");
		}
		if (rc == SQLITE_DONE || sqlite3_column_int64(stmt, 0) < ms) {
			if (json_object_array_add(out, json_object_new_string(entry_id(entry))) != 0) {
				sqlite3_reset(stmt);
				return cairn__error_set(CAIRN_ENOMEM, "out of memory scanning ids");
			}
			if (ms > 0 && ms < *oldest)
				*oldest = ms;
		}
		sqlite3_reset(stmt);
	}
	return 0;
}

/* Reads the documents `ids[from, from + count)` (equal("$id", [...])) and applies them. */
static int fetch_ids(uint64_t *applied_count, cairn__rest_session *s, const char *collection,
	json_object *scope, json_object *ids, size_t from, size_t count)
{
	json_object *queries = json_object_new_array();
	json_object *values = json_object_new_array();
	json_object *reply = NULL;
	json_object *documents = NULL;
	json_object *changes = NULL;
	char base[160];
	char *path = NULL;
	char last_id[64];
	int64_t last_ms = 0;
	long status = 0;
	int rc;

	*applied_count = 0;
	if (!queries || !values) {
		json_object_put(queries);
		json_object_put(values);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory fetching documents");
	}
	for (size_t i = from; i < from + count; i++)
		json_object_array_add(values, json_object_get(json_object_array_get_idx(ids, i)));
	add_query(queries, query_new("equal", "$id", values));
	add_scope(queries, scope);
	add_query(queries, query_new("limit", NULL, values_of(json_object_new_int64(
		(int64_t)count))));
	cairn__rest_document_path(base, sizeof(base), s, collection, NULL);
	rc = queries_path(&path, base, queries);
	json_object_put(queries);
	if (rc == 0)
		rc = cairn__rest_call(&reply, &status, s, "GET", path, NULL, NULL);
	free(path);
	if (rc == 0 && status != 200) {
		rc = cairn__rest_round_stopper(status, reply, "reading documents");
		if (rc == 0)
			rc = cairn__error_set(CAIRN_ESERVER, "the server answered HTTP %ld to reading "
				"documents", status);
	}
	if (rc == 0 && (!json_object_object_get_ex(reply, "documents", &documents) ||
		!json_object_is_type(documents, json_type_array)))
		rc = cairn__error_set(CAIRN_ESERVER, "the server's document list has no "
			"`documents` array");
	if (rc == 0)
		rc = page_changes(&changes, &last_ms, last_id, sizeof(last_id), collection,
			documents);
	if (rc == 0 && json_object_array_length(changes) > 0)
		rc = apply_page(applied_count, s, changes);
	json_object_put(changes);
	json_object_put(reply);
	return rc;
}

/*
 * Reconciles `collection` with the server by its full id list: purges what the server no
 * longer has (hard deletes are invisible to a $updatedAt pull) and fetches what the pull
 * missed (present on the server and newer than our copy, or unknown to us).
 */
static int scan_collection(uint64_t *done, cairn__rest_session *s, const char *collection,
	json_object *scope)
{
	json_object *ids = NULL;
	json_object *changes = NULL;
	json_object *stale = NULL;
	uint64_t applied_count = 0;
	int64_t oldest = INT64_MAX;
	int64_t checkpoint_ms = -1;
	char checkpoint_id[64];
	int rc;

	rc = server_ids(&ids, s, collection, scope);
	if (rc != 0)
		goto cleanup;
	changes = json_object_new_array();
	stale = json_object_new_array();
	if (!changes || !stale) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory scanning ids");
		goto cleanup;
	}
	rc = purges(changes, s, collection, ids);
	if (rc == 0 && json_object_array_length(changes) > 0)
		rc = apply_page(&applied_count, s, changes);
	if (rc == 0) {
		s->result->pulled += applied_count;
		*done += applied_count;
		rc = stale_ids(stale, &oldest, s, collection, ids);
	}
	for (size_t i = 0; rc == 0 && i < json_object_array_length(stale);
		i += REST_FETCH_BATCH) {
		size_t count = json_object_array_length(stale) - i;

		rc = fetch_ids(&applied_count, s, collection, scope, stale, i,
			count < REST_FETCH_BATCH ? count : REST_FETCH_BATCH);
		if (rc == 0) {
			s->result->pulled += applied_count;
			*done += applied_count;
		}
	}
	/* What the pull missed lies before the checkpoint (a clock ran ahead, or a write
	 * committed late): move the checkpoint back to it, so later writes with the same clock
	 * are pulled again instead of waiting for the next scan. "-" sorts before every id. */
	if (rc == 0 && oldest != INT64_MAX)
		rc = checkpoint_load(&checkpoint_ms, checkpoint_id, sizeof(checkpoint_id), s->store,
			collection);
	if (rc == 0 && oldest != INT64_MAX && checkpoint_ms >= 0 && oldest <= checkpoint_ms)
		rc = checkpoint_save(s->store, collection, oldest, "-");
cleanup:
	json_object_put(ids);
	json_object_put(changes);
	json_object_put(stale);
	return rc == 1 ? 0 : rc;
}

/* 1 when this round also runs the reconciliation scan (every CAIRN__REST_SCAN_EVERY-th). */
static int scan_due(int *due, cairn_store *store)
{
	int64_t rounds = 0;
	int rc = cairn__meta_get_int64(store, "rest_rounds", &rounds);

	*due = 0;
	if (rc < 0)
		return rc;
	rounds++;
	*due = rounds % CAIRN__REST_SCAN_EVERY == 0;
	rc = cairn__store_begin(store);
	if (rc != 0)
		return rc;
	rc = cairn__meta_set_int64(store, "rest_rounds", rounds);
	if (rc == 0)
		rc = cairn__store_commit(store);
	if (rc != 0)
		cairn__store_rollback(store);
	return rc;
}

/* One collection: its pull, then (every Nth round, or when its scope changed: the pull then
 * starts over) the id scan that purges what the server no longer sends. */
static int pull_one(uint64_t *done, cairn__rest_session *s, const char *collection, int scan,
	size_t limit, int64_t started)
{
	json_object *scope = NULL;
	char *scope_text = NULL;
	char key[64];
	int changed = 0;
	int rc;

	rc = scope_load(&scope, &scope_text, s->store, collection);
	if (rc == 0)
		rc = scope_changed(&changed, s->store, collection, scope_text);
	if (rc == 0)
		rc = pull_collection(done, s, collection, scope, changed, limit, started);
	if (rc == 0 && (scan || changed))
		rc = scan_collection(done, s, collection, scope);
	if (rc == 0 && changed) {
		snprintf(key, sizeof(key), "rest_scope/%s", collection);
		rc = cairn__store_begin(s->store);
		if (rc == 0)
			rc = cairn__meta_set_text(s->store, key, scope_text);
		if (rc == 0)
			rc = cairn__store_commit(s->store);
		if (rc != 0)
			cairn__store_rollback(s->store);
	}
	json_object_put(scope);
	free(scope_text);
	return rc;
}

int cairn__rest_pull(cairn__rest_session *s)
{
	json_object *collections = json_object_new_array();
	size_t limit = s->options->pull_limit;
	int64_t started = cairn__time_monotonic_ms();
	uint64_t done = 0;
	int scan = 0;
	int rc;

	if (!collections)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory listing collections");
	if (limit == 0)
		limit = REST_PULL_DEFAULT_LIMIT;
	if (limit > REST_PULL_MAX_LIMIT)
		limit = REST_PULL_MAX_LIMIT;
	rc = local_collections(collections, s->store);
	if (rc == 0)
		rc = server_collections(collections, s);
	if (rc == 0)
		rc = scan_due(&scan, s->store);
	for (size_t i = 0; rc == 0 && i < json_object_array_length(collections); i++)
		rc = pull_one(&done, s, json_object_get_string(json_object_array_get_idx(collections,
			i)), scan, limit, started);
	json_object_put(collections);
	return rc;
}
