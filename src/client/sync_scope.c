/* sync_scope.c: partial sync in the client: per-collection scopes (cairn_sync_scope_set),
 * pull bodies carrying them, purges, and the mark-and-sweep resync of a collection whose
 * fingerprint changed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/sync_scope.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/query.h"

#define SCOPE_KEY "scope:"              /* meta: scope:<collection> = JSON array of queries */
#define FINGERPRINT_KEY "fingerprint:"  /* meta: fingerprint:<collection> = the server's hash */
#define GENERATION_KEY "scope_generation"
#define META_KEY_MAX 64
#define RESYNC_ATTEMPTS 3               /* a fingerprint that keeps moving: retry next sync */
#define PULL_REPLY_DEPTH 48

static void meta_key(char out[META_KEY_MAX], const char *prefix, const char *collection)
{
	snprintf(out, META_KEY_MAX, "%s%s", prefix, collection);
}

/* ---- the public API ------------------------------------------------------------------ */

/* Checks `queries` as a scope: Appwrite Query JSON, filters only. */
static int scope_valid(const char *const *queries, size_t count)
{
	if (count > CAIRN_QUERY_MAX_COUNT)
		return cairn__error_set(CAIRN_EINVALID, "a sync scope holds at most %d queries",
			CAIRN_QUERY_MAX_COUNT);
	for (size_t i = 0; i < count; i++) {
		cairn_query *query = NULL;
		int filters_only;
		int rc;

		if (!queries[i])
			return cairn__error_set(CAIRN_EINVALID, "scope query %zu is NULL", i);
		rc = cairn__query_parse(&query, &queries[i], 1);
		if (rc != 0)
			return rc;
		filters_only = cairn__query_filters_only(query);
		cairn__query_free(query);
		if (!filters_only)
			return cairn__error_set(CAIRN_EINVALID, "scope query %zu is not a filter: a "
				"sync scope takes filter queries only (no select, order, limit, offset or "
				"cursor)", i);
	}
	return 0;
}

int cairn_sync_scope_set(cairn_store *store, const char *collection,
	const char *const *queries, size_t query_count)
{
	json_object *array = NULL;
	char key[META_KEY_MAX];
	int64_t generation = 0;
	int rc;

	if (!store || !collection || (query_count && !queries))
		return cairn__error_set(CAIRN_EINVALID, "cairn_sync_scope_set needs a store, a "
			"collection and the queries");
	if (!cairn__id_valid(collection))
		return cairn__error_set(CAIRN_EINVALID, "invalid collection id '%.40s'", collection);
	rc = scope_valid(queries, query_count);
	if (rc != 0)
		return rc;
	array = json_object_new_array();
	for (size_t i = 0; array && i < query_count; i++) {
		json_object *text = json_object_new_string(queries[i]);
		if (!text || json_object_array_add(array, text) != 0) {
			json_object_put(text);
			json_object_put(array);
			array = NULL;
		}
	}
	if (!array || !cairn__json_text(array, NULL)) {
		json_object_put(array);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory storing a sync scope");
	}
	meta_key(key, SCOPE_KEY, collection);
	/* The server's fingerprint of the collection covers the scope: the next sync sees it
	 * differ from the stored one and resyncs the collection. The generation tells running
	 * replicators to sync now. */
	rc = cairn__store_begin(store);
	if (rc == 0)
		rc = cairn__meta_set_text(store, key, cairn__json_text(array, NULL));
	if (rc == 0)
		rc = cairn__meta_get_int64(store, GENERATION_KEY, &generation);
	if (rc >= 0)
		rc = cairn__meta_set_int64(store, GENERATION_KEY, generation + 1);
	if (rc == 0)
		rc = cairn__store_commit(store);
	else
		cairn__store_rollback(store);
	json_object_put(array);
	return rc;
}

int cairn_sync_scope_get(char **out_json, cairn_store *store, const char *collection)
{
	char key[META_KEY_MAX];
	char *text = NULL;
	int rc;

	if (!out_json || !store || !collection)
		return cairn__error_set(CAIRN_EINVALID, "cairn_sync_scope_get needs an out pointer, "
			"a store and a collection");
	*out_json = NULL;
	if (!cairn__id_valid(collection))
		return cairn__error_set(CAIRN_EINVALID, "invalid collection id '%.40s'", collection);
	meta_key(key, SCOPE_KEY, collection);
	rc = cairn__meta_get_text(store, key, &text);
	if (rc < 0)
		return rc;
	if (rc == 0 || !text[0]) {
		free(text);
		text = strdup("[]");
		if (!text)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	*out_json = text;
	return 0;
}

void cairn__scope_generation(int64_t *out, cairn_store *store)
{
	int64_t value = 0;

	if (cairn__meta_get_int64(store, GENERATION_KEY, &value) >= 0)
		*out = value;
}

/* ---- the pull body --------------------------------------------------------------------- */

/* Appends `"scopes":{...}` for the stored non-empty scopes (all, or `only`). */
static int append_scopes(FILE *stream, cairn_store *store, const char *only)
{
	sqlite3_stmt *stmt = NULL;
	int count = 0;
	int rc;

	rc = sqlite3_prepare_v2(store->db, "SELECT substr(key, 7), value FROM meta "
		"WHERE key > 'scope:' AND key < 'scope;' ORDER BY key", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return cairn__store_error(store, rc, "reading the sync scopes");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *collection = (const char *)sqlite3_column_text(stmt, 0);
		const char *queries = (const char *)sqlite3_column_text(stmt, 1);

		if (!collection || !queries || strcmp(queries, "[]") == 0 || !queries[0] ||
			(only && strcmp(only, collection) != 0) || !cairn__id_valid(collection))
			continue;
		/* Ids and the stored array were validated when the scope was set. */
		fprintf(stream, "%s\"%s\":%s", count ? "," : ",\"scopes\":{", collection, queries);
		count++;
	}
	if (count)
		fputc('}', stream);
	rc = rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "reading the sync scopes");
	sqlite3_finalize(stmt);
	return rc;
}

int cairn__scope_pull_body(char **out, cairn_store *store, int64_t checkpoint, size_t limit,
	size_t max_bytes, const char *only)
{
	char *text = NULL;
	size_t size = 0;
	FILE *stream = open_memstream(&text, &size);
	int rc;

	*out = NULL;
	if (!stream)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory building a pull request");
	/* dataAsText: each document's fields as their JSON text, stored without parsing. */
	fprintf(stream, "{\"checkpoint\":%" PRId64 ",\"limit\":%zu,\"maxBytes\":%zu,"
		"\"dataAsText\":true", checkpoint, limit, max_bytes);
	if (only)
		fprintf(stream, ",\"collections\":[\"%s\"]", only);
	rc = append_scopes(stream, store, only);
	fputc('}', stream);
	if (ferror(stream) && rc == 0)
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory building a pull request");
	if (fclose(stream) != 0 && rc == 0)
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory building a pull request");
	if (rc != 0) {
		free(text);
		return rc;
	}
	*out = text;
	return 0;
}

/* ---- purging one document -------------------------------------------------------------- */

static int step_done(cairn_store *store, cairn__stmt_id id, const char *collection,
	const char *doc_id, const char *what)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, id);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, doc_id, -1, SQLITE_STATIC);
	return cairn__store_step_done(store, stmt, what);
}

/* *found 1 when the statement `id` (bound with collection and id) yields a row; *value is
 * its first column as an integer. */
static int lookup(int *found, int64_t *value, cairn_store *store, cairn__stmt_id id,
	const char *collection, const char *doc_id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, id);
	int rc;

	*found = 0;
	if (value)
		*value = 0;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, doc_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*found = 1;
		if (value)
			*value = sqlite3_column_int64(stmt, 0);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cairn__store_error(store, rc, "reading the store");
	return 0;
}

int cairn__scope_purge(int *removed, cairn_store *store, const char *collection,
	const char *id, int64_t version)
{
	int64_t known_version = 0;
	int64_t ignored = 0;
	int known = 0;
	int pending = 0;
	int local = 0;
	int rc;

	if (removed)
		*removed = 0;
	rc = lookup(&known, &known_version, store, STMT_SERVER_VERSION, collection, id);
	if (rc != 0)
		return rc;
	if (known && known_version > version)
		return 0; /* we hold a newer version than the one that left the scope */
	rc = lookup(&pending, &ignored, store, STMT_OUTBOX_LAST_PENDING, collection, id);
	if (rc == 0)
		rc = lookup(&local, &ignored, store, STMT_DOC_GET, collection, id);
	if (rc == 0 && known)
		rc = step_done(store, STMT_SERVER_DELETE, collection, id, "purging a document");
	if (rc != 0)
		return rc;
	/* Pending local mutations are the user's input: they stay queued and applied on top
	 * of nothing; the push reports what the server makes of them. */
	if (pending)
		rc = cairn__view_recompute(store, collection, id);
	else if (local)
		rc = step_done(store, STMT_DOC_DELETE, collection, id, "purging a document");
	if (rc == 0 && removed)
		*removed = known || (local && !pending);
	return rc;
}

/* ---- fingerprints -------------------------------------------------------------------- */

void cairn__scope_tracker_clear(cairn__scope_tracker *tracker)
{
	json_object_put(tracker->first);
	json_object_put(tracker->changed);
	tracker->first = NULL;
	tracker->changed = NULL;
}

int cairn__scope_track(cairn__scope_tracker *tracker, json_object *reply)
{
	json_object *fingerprints = NULL;

	if (!json_object_object_get_ex(reply, "fingerprints", &fingerprints) ||
		!json_object_is_type(fingerprints, json_type_object))
		return 0;
	if (!tracker->first)
		tracker->first = json_object_new_object();
	if (!tracker->changed)
		tracker->changed = json_object_new_object();
	if (!tracker->first || !tracker->changed)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory reading a pull reply");
	json_object_object_foreach(fingerprints, collection, value) {
		json_object *seen = NULL;

		if (!json_object_is_type(value, json_type_string) || !cairn__id_valid(collection))
			continue;
		if (!json_object_object_get_ex(tracker->first, collection, &seen)) {
			if (json_object_object_add(tracker->first, collection,
				json_object_new_string(json_object_get_string(value))) != 0)
				return cairn__error_set(CAIRN_ENOMEM, "out of memory reading a pull reply");
		} else if (strcmp(json_object_get_string(seen), json_object_get_string(value)) != 0) {
			json_object_object_add(tracker->changed, collection, json_object_new_boolean(1));
		}
	}
	return 0;
}

/* ---- resync: mark and sweep ---------------------------------------------------------- */

/* The ids a resync received, per connection (a TEMP table: a resync cut short starts over,
 * since its fingerprint was not stored). */
static int seen_prepare(cairn_store *store, const char *collection)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = sqlite3_exec(store->db, "CREATE TEMP TABLE IF NOT EXISTS scope_seen("
		"collection TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(collection, id)) "
		"WITHOUT ROWID", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return cairn__store_error(store, rc, "preparing a resync");
	rc = sqlite3_prepare_v2(store->db, "DELETE FROM temp.scope_seen WHERE collection = ?1", -1,
		&stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "preparing a resync");
}

/* Marks every document a resync page delivered (not the purge markers). */
static int seen_mark(cairn_store *store, const char *collection, json_object *reply)
{
	json_object *changes = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!json_object_object_get_ex(reply, "changes", &changes) ||
		!json_object_is_type(changes, json_type_array))
		return 0;
	rc = sqlite3_prepare_v2(store->db, "INSERT OR IGNORE INTO temp.scope_seen(collection, id) "
		"VALUES (?1, ?2)", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return cairn__store_error(store, rc, "marking a resync");
	/* One deferred transaction that writes only the TEMP table: it never takes the store
	 * file's write lock. */
	rc = sqlite3_exec(store->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return cairn__store_error(store, rc, "marking a resync");
	}
	for (size_t i = 0; i < json_object_array_length(changes); i++) {
		json_object *change = json_object_array_get_idx(changes, i);
		const char *changed = NULL;
		const char *id = NULL;
		int purge = 0;

		cairn__json_get_bool(change, "purge", &purge);
		if (purge || !cairn__json_get_string(change, "collection", &changed) ||
			strcmp(changed, collection) != 0 || !cairn__json_get_string(change, "id", &id))
			continue;
		sqlite3_reset(stmt);
		sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE) {
			rc = cairn__store_error(store, rc, "marking a resync");
			sqlite3_finalize(stmt);
			sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
	}
	sqlite3_finalize(stmt);
	rc = sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = cairn__store_error(store, rc, "marking a resync");
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return 0;
}

/* Purges every document of `collection` the resync did not deliver and stores the
 * collection's new fingerprint (NULL: keep the old one), in one transaction. Only server
 * copies at or below `covered` (the resync's last checkpoint) are judged: a newer one was
 * written meanwhile (another handle's pull, a push reply) from news this resync never saw.
 * The purged ids land in *purged (a JSON array, owned) for the listeners. */
static int sweep(json_object **purged, cairn_store *store, const char *collection,
	int64_t covered, const char *fingerprint)
{
	sqlite3_stmt *stmt = NULL;
	json_object *ids = json_object_new_array();
	char key[META_KEY_MAX];
	int rc;

	*purged = NULL;
	if (!ids)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory sweeping a resync");
	rc = cairn__store_begin(store);
	if (rc != 0) {
		json_object_put(ids);
		return rc;
	}
	rc = sqlite3_prepare_v2(store->db, "SELECT id FROM server_docs WHERE collection = ?1 AND "
		"version <= ?2 AND id NOT IN (SELECT id FROM temp.scope_seen WHERE collection = ?1)",
		-1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		rc = cairn__store_error(store, rc, "sweeping a resync");
		goto cleanup;
	}
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, covered);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		json_object *id = json_object_new_string((const char *)sqlite3_column_text(stmt, 0));
		if (!id || json_object_array_add(ids, id) != 0) {
			json_object_put(id);
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory sweeping a resync");
			goto cleanup;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = cairn__store_error(store, rc, "sweeping a resync");
		goto cleanup;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	rc = 0;
	for (size_t i = 0; rc == 0 && i < json_object_array_length(ids); i++)
		rc = cairn__scope_purge(NULL, store, collection,
			json_object_get_string(json_object_array_get_idx(ids, i)), covered);
	meta_key(key, FINGERPRINT_KEY, collection);
	if (rc == 0 && fingerprint)
		rc = cairn__meta_set_text(store, key, fingerprint);
	if (rc == 0)
		rc = cairn__store_commit(store);
cleanup:
	sqlite3_finalize(stmt);
	if (rc != 0) {
		cairn__store_rollback(store);
		json_object_put(ids);
		return rc;
	}
	*purged = ids;
	return 0;
}

static const char *reply_fingerprint(json_object *reply, const char *collection)
{
	json_object *fingerprints = NULL;
	json_object *value = NULL;

	if (!json_object_object_get_ex(reply, "fingerprints", &fingerprints) ||
		!json_object_object_get_ex(fingerprints, collection, &value) ||
		!json_object_is_type(value, json_type_string))
		return NULL;
	return json_object_get_string(value);
}

/* One pass over `collection` from checkpoint 0 to the end (*covered: the last checkpoint).
 * *fingerprint (malloc'd) is the first page's; *stable 0 when a later page reported
 * another one. */
static int resync_pass(uint64_t *pulled, int64_t *covered, char **fingerprint, int *stable,
	cairn_store *store, const char *collection, size_t limit, size_t max_bytes,
	cairn__pull_fetch_fn fetch, void *session)
{
	int64_t checkpoint = 0;
	int rc;

	*fingerprint = NULL;
	*stable = 1;
	*covered = 0;
	rc = seen_prepare(store, collection);
	for (int more = 1; rc == 0 && more;) {
		json_object *reply = NULL;
		char *body = NULL;
		const char *now;
		uint64_t applied = 0;
		int64_t next = 0;

		rc = cairn__scope_pull_body(&body, store, checkpoint, limit, max_bytes, collection);
		if (rc == 0)
			rc = fetch(&reply, session, body, strlen(body));
		free(body);
		if (rc == 0) {
			now = reply_fingerprint(reply, collection);
			if (!*fingerprint)
				*fingerprint = strdup(now ? now : "");
			else if (!now || strcmp(*fingerprint, now) != 0)
				*stable = 0;
			if (!*fingerprint)
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory resyncing");
		}
		if (rc == 0)
			rc = cairn__pull_apply_page(&applied, &more, &next, store, reply, 0);
		if (rc == 0)
			rc = seen_mark(store, collection, reply);
		json_object_put(reply);
		*pulled += applied;
		if (rc == 0 && more && next <= checkpoint)
			rc = cairn__error_set(CAIRN_ESERVER, "the server said more changes follow "
				"checkpoint %" PRId64 " but sent none", checkpoint);
		checkpoint = next;
	}
	*covered = checkpoint;
	return rc;
}

static int resync(uint64_t *pulled, cairn_store *store, const char *collection, size_t limit,
	size_t max_bytes, cairn__pull_fetch_fn fetch, void *session)
{
	json_object *purged = NULL;
	char *fingerprint = NULL;
	int64_t covered = 0;
	int stable = 0;
	int rc = 0;

	for (int attempt = 0; rc == 0 && !stable && attempt < RESYNC_ATTEMPTS; attempt++) {
		free(fingerprint);
		rc = resync_pass(pulled, &covered, &fingerprint, &stable, store, collection, limit,
			max_bytes, fetch, session);
	}
	/* A collection the server no longer reports (deleted) keeps nothing either. Unstable
	 * to the end: sweep, but keep the old fingerprint so the next sync looks again. */
	if (rc == 0)
		rc = sweep(&purged, store, collection, covered, stable && fingerprint &&
			fingerprint[0] ? fingerprint : NULL);
	for (size_t i = 0; rc == 0 && i < json_object_array_length(purged); i++)
		cairn__listeners_view(store, collection,
			json_object_get_string(json_object_array_get_idx(purged, i)), 1,
			CAIRN_CHANGE_PURGED);
	json_object_put(purged);
	free(fingerprint);
	return rc;
}

/* *out 1 when `sql` (with `text`, unless NULL, bound as ?1) returns a row. */
static int any_row(int *out, cairn_store *store, const char *sql, const char *text,
	const char *what)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	*out = 0;
	rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return cairn__store_error(store, rc, what);
	if (text)
		sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	*out = rc == SQLITE_ROW;
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, what);
}

int cairn__scope_any(int *out, cairn_store *store)
{
	return any_row(out, store, "SELECT 1 FROM meta WHERE key > 'scope:' AND key < 'scope;' "
		"LIMIT 1", NULL, "reading the sync scopes");
}

static int has_server_docs(int *out, cairn_store *store, const char *collection)
{
	return any_row(out, store, "SELECT 1 FROM server_docs WHERE collection = ?1 LIMIT 1",
		collection, "reading the store");
}

/* Stores a fingerprint without a resync (its own transaction). */
static int adopt(cairn_store *store, const char *key, const char *fingerprint)
{
	int rc = cairn__store_begin(store);

	if (rc == 0)
		rc = cairn__meta_set_text(store, key, fingerprint);
	if (rc == 0)
		rc = cairn__store_commit(store);
	else
		cairn__store_rollback(store);
	return rc;
}

/* *out 1 when the store holds any fingerprint: it has synced with fingerprints before. */
/* *out 1 when the store keeps fingerprints, or was created by a library that does (then all
 * it holds came under the rules fingerprints describe, even what its own pushes moved its
 * checkpoint past without a pull: sync_apply.c). */
static int any_fingerprint(int *out, cairn_store *store)
{
	return any_row(out, store, "SELECT 1 FROM meta WHERE (key > 'fingerprint:' AND "
		"key < 'fingerprint;') OR key = 'fingerprints_from_start' LIMIT 1", NULL,
		"reading the store's settings");
}

int cairn__scope_reconcile(uint64_t *pulled, cairn_store *store,
	const cairn__scope_tracker *tracker, int64_t start_checkpoint, size_t limit,
	size_t max_bytes, cairn__pull_fetch_fn fetch, void *session)
{
	int seasoned = 0;
	int rc = 0;

	if (!tracker->first)
		return 0; /* a server without partial sync */
	/* A collection new to a store that already keeps fingerprints got everything it holds
	 * under the rules just reported (pulled now, or pushed by this store): no resync. Only a
	 * store that synced before fingerprints existed must check what it holds. */
	rc = any_fingerprint(&seasoned, store);
	if (rc != 0)
		return rc;
	json_object_object_foreach(tracker->first, collection, value) {
		const char *fingerprint = json_object_get_string(value);
		char key[META_KEY_MAX];
		char *stored = NULL;
		int moved = json_object_object_get_ex(tracker->changed, collection, NULL);
		int known;
		int holds = 0;

		meta_key(key, FINGERPRINT_KEY, collection);
		known = cairn__meta_get_text(store, key, &stored);
		if (known < 0)
			return known;
		if (known && !moved && strcmp(stored, fingerprint) == 0) {
			free(stored);
			continue;
		}
		free(stored);
		if (!known && !moved) {
			rc = start_checkpoint > 0 && !seasoned ?
				has_server_docs(&holds, store, collection) : 0;
			if (rc == 0 && !holds)
				rc = adopt(store, key, fingerprint);
			if (rc != 0)
				return rc;
			if (!holds)
				continue;
		}
		rc = resync(pulled, store, collection, limit, max_bytes, fetch, session);
		if (rc != 0)
			return rc;
	}
	return 0;
}
