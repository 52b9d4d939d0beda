/* outbox.c: reading the outbox (batches to push, the public listing) and the conflict log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/time.h"

static char *dup_column(sqlite3_stmt *stmt, int column, int *failed)
{
	const char *text = (const char *)sqlite3_column_text(stmt, column);
	char *copy;

	if (!text)
		return NULL;
	copy = strdup(text);
	if (!copy)
		*failed = 1;
	return copy;
}

void cairn__mutations_free(cairn__mutation *mutations, size_t count)
{
	if (!mutations)
		return;
	for (size_t i = 0; i < count; i++) {
		free(mutations[i].payload);
		free(mutations[i].permissions);
	}
	free(mutations);
}

static int load_after(cairn__mutation **out, size_t *count, cairn_store *store, size_t limit,
	int64_t after_seq)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_BATCH);
	cairn__mutation *mutations = NULL;
	size_t used = 0;
	int failed = 0;
	int rc;

	*out = NULL;
	*count = 0;
	if (!stmt)
		return cairn__error_code();
	if (limit == 0)
		limit = 1;
	mutations = calloc(limit, sizeof(*mutations));
	if (!mutations)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory loading the outbox");
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)limit);
	sqlite3_bind_int64(stmt, 2, after_seq);
	while (used < limit && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		cairn__mutation *mutation = &mutations[used++];

		snprintf(mutation->mutation_id, sizeof(mutation->mutation_id), "%s",
			sqlite3_column_text(stmt, 0));
		snprintf(mutation->op, sizeof(mutation->op), "%s", sqlite3_column_text(stmt, 1));
		snprintf(mutation->collection, sizeof(mutation->collection), "%s",
			sqlite3_column_text(stmt, 2));
		snprintf(mutation->doc_id, sizeof(mutation->doc_id), "%s",
			sqlite3_column_text(stmt, 3));
		mutation->base_version = sqlite3_column_int64(stmt, 4);
		snprintf(mutation->prev_mutation, sizeof(mutation->prev_mutation), "%s",
			sqlite3_column_text(stmt, 5) ? (const char *)sqlite3_column_text(stmt, 5) : "");
		mutation->hlc = sqlite3_column_int64(stmt, 6);
		mutation->payload = dup_column(stmt, 7, &failed);
		mutation->permissions = dup_column(stmt, 8, &failed);
		mutation->doc_seq = sqlite3_column_int64(stmt, 9);
		if (failed)
			break;
	}
	sqlite3_reset(stmt);
	if (failed) {
		cairn__mutations_free(mutations, used);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory loading the outbox");
	}
	if (used < limit && rc != SQLITE_DONE) {
		cairn__mutations_free(mutations, used);
		return cairn__store_error(store, rc, "reading the outbox");
	}
	*out = mutations;
	*count = used;
	return 0;
}

int cairn__outbox_load_batch(cairn__mutation **out, size_t *count, cairn_store *store,
	size_t limit)
{
	return load_after(out, count, store, limit, 0);
}

/* 1 when the pending rows up to the last of `current`'s seq are `before` rows and then the
 * `count` mutations of `current` (ids from before schema 3 carry no seq: 0, and the caller
 * loads the ordinary way). */
static int still_the_head(int *out, cairn_store *store, const cairn__mutation *current,
	size_t count, size_t before, int64_t last_seq)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_HEAD);
	int rc;

	*out = 0;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_int64(stmt, 1, last_seq);
	sqlite3_bind_text(stmt, 2, current[count - 1].mutation_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0) == (int64_t)(before + count) &&
			sqlite3_column_int(stmt, 1) == 1;
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW ? 0 : cairn__store_error(store, rc, "reading the outbox");
}

int cairn__outbox_load_after(cairn__mutation **out, size_t *out_count, cairn_store *store,
	const cairn__mutation *current, size_t count, size_t before, size_t limit)
{
	int64_t last_seq = count ? cairn__mutation_id_seq(current[count - 1].mutation_id) : 0;
	int head = 0;
	int rc;

	*out = NULL;
	*out_count = 0;
	if (last_seq <= 0)
		return 0;
	for (size_t i = 0; i + 1 < count; i++) {
		int64_t seq = cairn__mutation_id_seq(current[i].mutation_id);

		if (seq <= 0 || seq >= last_seq)
			return 0;
	}
	rc = still_the_head(&head, store, current, count, before, last_seq);
	if (rc != 0 || !head)
		return rc;
	return load_after(out, out_count, store, limit, last_seq);
}

/* Adds a key whose value may be NULL (stored as JSON null) and tracks allocation failures. */
static void add(json_object *object, const char *key, json_object *value, int *failed)
{
	if (json_object_object_add(object, key, value) != 0)
		*failed = 1;
}

static json_object *string_or_null(const unsigned char *text, int *failed)
{
	json_object *value;

	if (!text)
		return NULL;
	value = json_object_new_string((const char *)text);
	if (!value)
		*failed = 1;
	return value;
}

/* Runs `sql` and turns each row into an object with `build`; *out is the JSON array text. */
static int list_rows(char **out, cairn_store *store, const char *sql,
	json_object *(*build)(sqlite3_stmt *stmt, int *failed), const char *what)
{
	sqlite3_stmt *stmt = NULL;
	json_object *list = NULL;
	int failed = 0;
	int rc;

	*out = NULL;
	rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		rc = cairn__store_error(store, rc, what);
		goto cleanup;
	}
	list = json_object_new_array();
	if (!list) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory %s", what);
		goto cleanup;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		json_object *entry = build(stmt, &failed);
		if (!entry || json_object_array_add(list, entry) != 0) {
			json_object_put(entry);
			failed = 1;
		}
		if (failed)
			break;
	}
	if (failed) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory %s", what);
		goto cleanup;
	}
	if (rc != SQLITE_DONE) {
		rc = cairn__store_error(store, rc, what);
		goto cleanup;
	}
	*out = cairn__json_dump(list);
	rc = *out ? 0 : cairn__error_set(CAIRN_ENOMEM, "out of memory %s", what);
cleanup:
	sqlite3_finalize(stmt);
	json_object_put(list);
	return rc;
}

static json_object *outbox_entry(sqlite3_stmt *stmt, int *failed)
{
	json_object *entry = json_object_new_object();

	if (!entry)
		return NULL;
	add(entry, "mutationId", string_or_null(sqlite3_column_text(stmt, 0), failed), failed);
	add(entry, "op", string_or_null(sqlite3_column_text(stmt, 1), failed), failed);
	add(entry, "collection", string_or_null(sqlite3_column_text(stmt, 2), failed), failed);
	add(entry, "documentId", string_or_null(sqlite3_column_text(stmt, 3), failed), failed);
	add(entry, "baseVersion", json_object_new_int64(sqlite3_column_int64(stmt, 4)), failed);
	add(entry, "hlc", json_object_new_int64(sqlite3_column_int64(stmt, 5)), failed);
	add(entry, "state", string_or_null(sqlite3_column_text(stmt, 6), failed), failed);
	add(entry, "error", string_or_null(sqlite3_column_text(stmt, 7), failed), failed);
	return entry;
}

int cairn_outbox_list(char **out_json, cairn_store *store)
{
	if (!out_json || !store)
		return cairn__error_set(CAIRN_EINVALID, "cairn_outbox_list needs an out pointer "
			"and a store");
	return list_rows(out_json, store, "SELECT mutation_id, op, collection, doc_id, "
		"base_version, hlc, state, error FROM outbox ORDER BY seq", outbox_entry,
		"listing the outbox");
}

static json_object *stored_document(const unsigned char *text, int *failed)
{
	json_object *value;

	if (!text)
		return NULL;
	value = cairn__json_parse((const char *)text, (size_t)-1, CAIRN_JSON_MAX_DEPTH + 8);
	if (!value)
		*failed = 1;
	return value;
}

static json_object *conflict_entry(sqlite3_stmt *stmt, int *failed)
{
	json_object *entry = json_object_new_object();
	char at[CAIRN_TIME_TEXT_SIZE];

	if (!entry)
		return NULL;
	cairn__time_format(sqlite3_column_int64(stmt, 7), at);
	add(entry, "id", json_object_new_int64(sqlite3_column_int64(stmt, 0)), failed);
	add(entry, "collection", string_or_null(sqlite3_column_text(stmt, 1), failed), failed);
	add(entry, "documentId", string_or_null(sqlite3_column_text(stmt, 2), failed), failed);
	add(entry, "strategy", string_or_null(sqlite3_column_text(stmt, 3), failed), failed);
	add(entry, "winner", string_or_null(sqlite3_column_text(stmt, 4), failed), failed);
	add(entry, "local", stored_document(sqlite3_column_text(stmt, 5), failed), failed);
	add(entry, "remote", stored_document(sqlite3_column_text(stmt, 6), failed), failed);
	add(entry, "at", json_object_new_string(at), failed);
	add(entry, "base", stored_document(sqlite3_column_text(stmt, 8), failed), failed);
	add(entry, "result", stored_document(sqlite3_column_text(stmt, 9), failed), failed);
	add(entry, "state", string_or_null(sqlite3_column_text(stmt, 10), failed), failed);
	return entry;
}

int cairn_conflicts_list(char **out_json, cairn_store *store)
{
	if (!out_json || !store)
		return cairn__error_set(CAIRN_EINVALID, "cairn_conflicts_list needs an out pointer "
			"and a store");
	return list_rows(out_json, store, "SELECT id, collection, doc_id, strategy, winner, "
		"local, remote, at, base, result, state FROM conflicts ORDER BY id DESC",
		conflict_entry, "listing conflicts");
}

int cairn_conflicts_inbox(char **out_json, cairn_store *store)
{
	if (!out_json || !store)
		return cairn__error_set(CAIRN_EINVALID, "cairn_conflicts_inbox needs an out pointer "
			"and a store");
	return list_rows(out_json, store, "SELECT id, collection, doc_id, strategy, winner, "
		"local, remote, at, base, result, state FROM conflicts WHERE state = 'open' "
		"ORDER BY id", conflict_entry, "listing the conflict inbox");
}
