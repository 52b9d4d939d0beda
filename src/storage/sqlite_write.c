/* sqlite_write.c: the SQLite backend's write batch: preconditions, versions, idempotency. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/sqlite_int.h"
#include "storage/storage_int.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"

typedef struct {
	char *id;
	int64_t next_sequence; /* the $sequence the next inserted document gets */
	int found;             /* 0: no such collection */
	int dirty;             /* next_sequence must be saved at commit */
} collection_slot;

/* The encoded outcomes of a run (see "Runs" below). */
typedef struct {
	unsigned char *data;
	size_t length;
	size_t capacity;
} run_buffer;

typedef struct {
	cairn_storage *storage;
	connection *conn;             /* the writer */
	const char *database_id;
	int64_t last_sequence;        /* the database's change sequence, saved at commit */
	int sequence_dirty;
	int fresh;                    /* 1: no write of the batch has a stored outcome (batch_fresh) */
	const char *first_id;         /* fresh: the batch's smallest and largest mutation ids */
	const char *last_id;
	run_buffer run;               /* fresh: the outcomes of its slim-acked puts, stored at the end */
	collection_slot *collections; /* the collections this batch touched */
	size_t collection_count;
	size_t collection_capacity;
} write_batch;

static void batch_free(write_batch *batch)
{
	for (size_t i = 0; i < batch->collection_count; i++)
		free(batch->collections[i].id);
	free(batch->collections);
	free(batch->run.data);
}

/* The batch's cached view of collection `id`, loaded on first use. */
static int batch_collection(collection_slot **out, write_batch *batch, const char *id)
{
	collection_slot *slot;
	sqlite3_stmt *stmt;
	int rc;

	for (size_t i = 0; i < batch->collection_count; i++) {
		if (strcmp(batch->collections[i].id, id) == 0) {
			*out = &batch->collections[i];
			return 0;
		}
	}
	if (batch->collection_count == batch->collection_capacity) {
		size_t capacity = batch->collection_capacity ? batch->collection_capacity * 2 : 4;
		collection_slot *grown = realloc(batch->collections, capacity * sizeof(*grown));

		if (!grown)
			return cairn__sqlite_oom();
		batch->collections = grown;
		batch->collection_capacity = capacity;
	}
	slot = &batch->collections[batch->collection_count];
	memset(slot, 0, sizeof(*slot));
	slot->id = strdup(id);
	if (!slot->id)
		return cairn__sqlite_oom();
	stmt = cairn__sqlite_statement(batch->conn, ST_COLL_SEQUENCE_GET);
	if (!stmt) {
		free(slot->id);
		return cairn__sqlite_prepare_failed();
	}
	cairn__sqlite_bind_text(stmt, 1, batch->database_id);
	cairn__sqlite_bind_text(stmt, 2, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		slot->found = 1;
		slot->next_sequence = sqlite3_column_int64(stmt, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = cairn__sqlite_fail(batch->conn->db, rc, "reading a collection");
	}
	cairn__sqlite_statement_done(stmt);
	if (rc < 0) {
		free(slot->id);
		return rc;
	}
	batch->collection_count++;
	*out = slot;
	return 0;
}

/* Saves the sequences the batch advanced. */
static int batch_flush(write_batch *batch)
{
	sqlite3_stmt *stmt;
	int rc;

	for (size_t i = 0; i < batch->collection_count; i++) {
		collection_slot *slot = &batch->collections[i];

		if (!slot->dirty)
			continue;
		stmt = cairn__sqlite_statement(batch->conn, ST_COLL_SEQUENCE_SET);
		if (!stmt)
			return cairn__sqlite_prepare_failed();
		cairn__sqlite_bind_text(stmt, 1, batch->database_id);
		cairn__sqlite_bind_text(stmt, 2, slot->id);
		sqlite3_bind_int64(stmt, 3, slot->next_sequence);
		rc = cairn__sqlite_statement_run(batch->conn, stmt, "saving a collection sequence");
		if (rc < 0)
			return rc;
	}
	if (!batch->sequence_dirty)
		return 0;
	stmt = cairn__sqlite_statement(batch->conn, ST_DB_SEQUENCE_SET);
	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, batch->database_id);
	sqlite3_bind_int64(stmt, 2, batch->last_sequence);
	return cairn__sqlite_statement_run(batch->conn, stmt, "saving the change sequence");
}

/* ---- Runs ----
 * A fresh batch (batch_fresh) stores the outcomes of its slim-acked puts (applied, stored as
 * pushed, acked without their fields: what a push of new documents is made of) as one row of
 * mutation_runs instead of one mutations row each: the row covers the batch's mutation ids
 * from its smallest to its largest, and its blob holds one entry per such put. Every other
 * outcome of the batch gets its own mutations row as before. A batch is fresh only when no
 * stored outcome (row or run) lies in its range, so runs never overlap: the run starting last
 * at or before an id is the only one that can hold it. A replay looks for a row first, then
 * in that run, and answers exactly what the row would have (mutation_replay).
 *
 * An entry: the mutation id, collection id, document id and permissions text, each as a
 * 4-byte length and its bytes, then created_at, updated_at, version, sequence and hlc as 8
 * bytes each; all numbers little-endian. */

#define RUN_TEXTS 4
#define RUN_NUMBERS 5

static int run_reserve(run_buffer *run, size_t more)
{
	size_t capacity = run->capacity ? run->capacity : 4096;
	unsigned char *grown;

	if (run->length + more <= run->capacity)
		return 0;
	while (capacity < run->length + more)
		capacity *= 2;
	grown = realloc(run->data, capacity);
	if (!grown)
		return cairn__sqlite_oom();
	run->data = grown;
	run->capacity = capacity;
	return 0;
}

static void run_put_u64(run_buffer *run, uint64_t value, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		run->data[run->length++] = (unsigned char)(value >> (8 * i));
}

static uint64_t run_get_u64(const unsigned char *at, size_t bytes)
{
	uint64_t value = 0;

	for (size_t i = 0; i < bytes; i++)
		value |= (uint64_t)at[i] << (8 * i);
	return value;
}

/* Adds the outcome of an applied slim put to the batch's run. */
static int run_append(write_batch *batch, const cairn_storage_write *write,
	const cairn_storage_record *record, const char *permissions_text)
{
	const char *texts[RUN_TEXTS] = { write->mutation_id, write->collection_id, write->id,
		permissions_text };
	const int64_t numbers[RUN_NUMBERS] = { record->created_at, record->updated_at,
		record->version, record->sequence, record->hlc };
	size_t lengths[RUN_TEXTS];
	size_t size = RUN_NUMBERS * 8;
	int rc;

	for (size_t i = 0; i < RUN_TEXTS; i++) {
		lengths[i] = strlen(texts[i]);
		if (lengths[i] > UINT32_MAX)
			return cairn__error_set(CAIRN_EINVALID, "storage: a text of %zu bytes",
				lengths[i]);
		size += 4 + lengths[i];
	}
	rc = run_reserve(&batch->run, size);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < RUN_TEXTS; i++) {
		run_put_u64(&batch->run, lengths[i], 4);
		memcpy(batch->run.data + batch->run.length, texts[i], lengths[i]);
		batch->run.length += lengths[i];
	}
	for (size_t i = 0; i < RUN_NUMBERS; i++)
		run_put_u64(&batch->run, (uint64_t)numbers[i], 8);
	return 0;
}

/* Stores the batch's run, if it has one. */
static int run_store(write_batch *batch, const char *client_id)
{
	sqlite3_stmt *stmt;

	if (batch->run.length == 0)
		return 0;
	if (batch->run.length > INT_MAX)
		return cairn__error_set(CAIRN_EINVALID, "storage: %zu bytes of mutation outcomes",
			batch->run.length);
	stmt = cairn__sqlite_statement(batch->conn, ST_RUN_PUT);
	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, batch->database_id);
	cairn__sqlite_bind_text(stmt, 2, client_id);
	cairn__sqlite_bind_text(stmt, 3, batch->first_id);
	cairn__sqlite_bind_text(stmt, 4, batch->last_id);
	sqlite3_bind_blob(stmt, 5, batch->run.data, (int)batch->run.length, SQLITE_STATIC);
	return cairn__sqlite_statement_run(batch->conn, stmt, "storing mutation outcomes");
}

/* 0 when a run of `client_id` overlaps the ids from `first` to `last`, 1 when none does, or a
 * negative code. */
static int run_overlaps(write_batch *batch, const char *client_id, const char *first,
	const char *last)
{
	sqlite3_stmt *stmt = cairn__sqlite_statement(batch->conn, ST_RUN_LAST_BEFORE);
	int rc;

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, batch->database_id);
	cairn__sqlite_bind_text(stmt, 2, client_id);
	cairn__sqlite_bind_text(stmt, 3, last);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = strcmp((const char *)sqlite3_column_text(stmt, 0), first) >= 0 ? 0 : 1;
	else if (rc == SQLITE_DONE)
		rc = 1;
	else
		rc = cairn__sqlite_fail(batch->conn->db, rc, "looking for stored mutation outcomes");
	cairn__sqlite_statement_done(stmt);
	return rc;
}

/* Fills `outcome` as mutation_replay does from a row, from a run entry: its texts and
 * numbers. Returns 0 or a negative code. */
static int run_entry_outcome(write_batch *batch, const cairn_storage_write *write,
	cairn_storage_outcome *outcome, char *texts[RUN_TEXTS], const int64_t *numbers)
{
	cairn_storage_record *record = &outcome->record;
	int rc;

	cairn__storage_outcome_set(outcome, 0, "", "%s", "");
	outcome->replayed = 1;
	rc = cairn__storage_record_empty(record, batch->database_id, texts[1], texts[2]);
	if (rc < 0)
		return rc;
	json_object_put(record->permissions);
	record->permissions = cairn__json_parse(texts[3], (size_t)-1, STORED_JSON_MAX_DEPTH);
	if (!record->permissions && !(record->permissions = json_object_new_array()))
		return cairn__sqlite_oom();
	if ((rc = cairn__storage_record_set_string(&record->author, write->client_id)) < 0 ||
		(rc = cairn__storage_record_set_string(&record->last_mutation, write->mutation_id)) < 0)
		return rc;
	record->created_at = numbers[0];
	record->updated_at = numbers[1];
	record->version = numbers[2];
	record->sequence = numbers[3];
	record->hlc = numbers[4];
	record->deleted = 0;
	outcome->fields_omitted = 1;
	return 0;
}

/* Looks for (client, mutation) in the run that may hold it. Returns 1 and fills `outcome` if
 * found, 0 if not, or a negative code (a run that does not decode is CAIRN_EIO). */
static int run_replay(write_batch *batch, const cairn_storage_write *write,
	cairn_storage_outcome *outcome)
{
	sqlite3_stmt *stmt = cairn__sqlite_statement(batch->conn, ST_RUN_FIND);
	const unsigned char *at, *end;
	size_t id_length = strlen(write->mutation_id);
	int rc = 0;

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	/* First without the blob: most lookups find no run around their id. */
	rc = run_overlaps(batch, write->client_id ? write->client_id : "", write->mutation_id,
		write->mutation_id);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	cairn__sqlite_bind_text(stmt, 1, batch->database_id);
	cairn__sqlite_bind_text(stmt, 2, write->client_id ? write->client_id : "");
	cairn__sqlite_bind_text(stmt, 3, write->mutation_id);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? 0 : cairn__sqlite_fail(batch->conn->db, rc,
			"reading stored mutation outcomes");
		goto cleanup;
	}
	rc = 0;
	if (strcmp((const char *)sqlite3_column_text(stmt, 0), write->mutation_id) < 0)
		goto cleanup;
	at = sqlite3_column_blob(stmt, 1);
	end = at ? at + sqlite3_column_bytes(stmt, 1) : NULL;
	while (at && at < end) {
		const unsigned char *text_at[RUN_TEXTS];
		size_t lengths[RUN_TEXTS];
		int64_t numbers[RUN_NUMBERS];

		for (size_t i = 0; i < RUN_TEXTS; i++) {
			if ((size_t)(end - at) < 4 || (size_t)(end - at) - 4 < run_get_u64(at, 4)) {
				rc = cairn__error_set(CAIRN_EIO, "storage: stored mutation outcomes are "
					"damaged");
				goto cleanup;
			}
			lengths[i] = (size_t)run_get_u64(at, 4);
			text_at[i] = at + 4;
			at += 4 + lengths[i];
		}
		if ((size_t)(end - at) < RUN_NUMBERS * 8) {
			rc = cairn__error_set(CAIRN_EIO, "storage: stored mutation outcomes are damaged");
			goto cleanup;
		}
		for (size_t i = 0; i < RUN_NUMBERS; i++, at += 8)
			numbers[i] = (int64_t)run_get_u64(at, 8);
		if (lengths[0] == id_length && memcmp(text_at[0], write->mutation_id, id_length) == 0) {
			char *texts[RUN_TEXTS] = { NULL };

			for (size_t i = 0; i < RUN_TEXTS && rc == 0; i++) {
				texts[i] = strndup((const char *)text_at[i], lengths[i]);
				if (!texts[i])
					rc = cairn__sqlite_oom();
			}
			if (rc == 0)
				rc = run_entry_outcome(batch, write, outcome, texts, numbers);
			for (size_t i = 0; i < RUN_TEXTS; i++)
				free(texts[i]);
			rc = rc < 0 ? rc : 1;
			goto cleanup;
		}
	}
cleanup:
	cairn__sqlite_statement_done(stmt);
	return rc;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when no write of the batch can find a stored outcome, so that the writes need not look
 * one by one: all are one client's pushes, no mutation id repeats in the batch, and the
 * client has no stored outcome from the smallest id to the largest (one index seek; a
 * client's ids grow with time, so a new batch lies past its earlier ones). 0 when that is not
 * certain (each write then looks), or a negative code. */
static int batch_fresh(write_batch *batch, const cairn_storage_write *writes, size_t count)
{
	const char **ids;
	sqlite3_stmt *stmt;
	int rc = 1;

	if (count < 2)
		return 0;
	for (size_t i = 0; i < count; i++) {
		if (!writes[i].mutation_id || !writes[i].client_id ||
			strcmp(writes[i].client_id, writes[0].client_id) != 0)
			return 0;
	}
	ids = malloc(count * sizeof(*ids));
	if (!ids)
		return 0;
	for (size_t i = 0; i < count; i++)
		ids[i] = writes[i].mutation_id;
	qsort(ids, count, sizeof(*ids), compare_strings);
	for (size_t i = 1; i < count && rc == 1; i++) {
		if (strcmp(ids[i - 1], ids[i]) == 0)
			rc = 0;
	}
	if (rc == 1) {
		stmt = cairn__sqlite_statement(batch->conn, ST_MUTATION_ANY_BETWEEN);
		if (!stmt) {
			free(ids);
			return cairn__sqlite_prepare_failed();
		}
		cairn__sqlite_bind_text(stmt, 1, batch->database_id);
		cairn__sqlite_bind_text(stmt, 2, writes[0].client_id);
		cairn__sqlite_bind_text(stmt, 3, ids[0]);
		cairn__sqlite_bind_text(stmt, 4, ids[count - 1]);
		rc = sqlite3_step(stmt);
		rc = rc == SQLITE_DONE ? 1 : rc == SQLITE_ROW ? 0 :
			cairn__sqlite_fail(batch->conn->db, rc, "looking for stored mutation outcomes");
		cairn__sqlite_statement_done(stmt);
	}
	if (rc == 1)
		rc = run_overlaps(batch, writes[0].client_id, ids[0], ids[count - 1]);
	if (rc == 1) {
		batch->first_id = ids[0];
		batch->last_id = ids[count - 1];
	}
	free(ids);
	return rc;
}

/* Looks up a stored outcome of (client, mutation). Returns 1 and fills `outcome` if found. */
static int mutation_replay(write_batch *batch, const cairn_storage_write *write,
	cairn_storage_outcome *outcome)
{
	sqlite3_stmt *stmt = cairn__sqlite_statement(batch->conn, ST_MUTATION_GET);
	cairn_storage_record *record = &outcome->record;
	int rc;

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, batch->database_id);
	cairn__sqlite_bind_text(stmt, 2, write->client_id ? write->client_id : "");
	cairn__sqlite_bind_text(stmt, 3, write->mutation_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		cairn__sqlite_statement_done(stmt);
		return run_replay(batch, write, outcome);
	}
	if (rc != SQLITE_ROW) {
		rc = cairn__sqlite_fail(batch->conn->db, rc, "reading a stored mutation outcome");
		goto cleanup;
	}
	cairn__storage_outcome_set(outcome, sqlite3_column_int(stmt, 0), (const char *)sqlite3_column_text(stmt, 1),
		"%s", (const char *)sqlite3_column_text(stmt, 2));
	outcome->replayed = 1;
	rc = cairn__storage_record_empty(record, batch->database_id, (const char *)sqlite3_column_text(stmt, 3),
		(const char *)sqlite3_column_text(stmt, 4));
	if (rc < 0)
		goto cleanup;
	if (outcome->status == 0) {
		json_object_put(record->permissions);
		record->permissions = NULL;
		if ((rc = cairn__sqlite_column_json(&record->data, stmt, 5)) < 0 ||
			(rc = cairn__sqlite_column_json(&record->permissions, stmt, 6)) < 0 ||
			(rc = cairn__storage_record_set_string(&record->author, write->client_id)) < 0 ||
			(rc = cairn__storage_record_set_string(&record->last_mutation, write->mutation_id)) < 0)
			goto cleanup;
		record->created_at = sqlite3_column_int64(stmt, 7);
		record->updated_at = sqlite3_column_int64(stmt, 8);
		record->version = sqlite3_column_int64(stmt, 9);
		record->sequence = sqlite3_column_int64(stmt, 10);
		record->hlc = sqlite3_column_int64(stmt, 11);
		record->deleted = sqlite3_column_int(stmt, 12);
		outcome->fields_omitted = !record->deleted && !record->data;
		if (!record->permissions && !(record->permissions = json_object_new_array())) {
			rc = cairn__sqlite_oom();
			goto cleanup;
		}
	}
	rc = 1;
cleanup:
	cairn__sqlite_statement_done(stmt);
	return rc;
}

/* Stores an applied or rejected outcome under (client, mutation). `data_text` and
 * `permissions_text` are the stored texts of an applied write. */
static int mutation_store(write_batch *batch, const cairn_storage_write *write,
	const cairn_storage_outcome *outcome, const char *data_text, size_t data_len,
	const char *permissions_text)
{
	const cairn_storage_record *record = &outcome->record;
	sqlite3_stmt *stmt = cairn__sqlite_statement(batch->conn, ST_MUTATION_PUT);

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, batch->database_id);
	cairn__sqlite_bind_text(stmt, 2, write->client_id ? write->client_id : "");
	cairn__sqlite_bind_text(stmt, 3, write->mutation_id);
	sqlite3_bind_int(stmt, 4, outcome->status);
	cairn__sqlite_bind_text(stmt, 5, outcome->error_type);
	cairn__sqlite_bind_text(stmt, 6, outcome->error_message);
	cairn__sqlite_bind_text(stmt, 7, write->collection_id ? write->collection_id : "");
	cairn__sqlite_bind_text(stmt, 8, write->id ? write->id : "");
	if (outcome->status == 0) {
		cairn__sqlite_bind_text_len(stmt, 9, data_text, data_len);
		cairn__sqlite_bind_text(stmt, 10, permissions_text);
		sqlite3_bind_int64(stmt, 11, record->created_at);
		sqlite3_bind_int64(stmt, 12, record->updated_at);
		sqlite3_bind_int64(stmt, 13, record->version);
		sqlite3_bind_int64(stmt, 14, record->sequence);
		sqlite3_bind_int64(stmt, 15, record->hlc);
		sqlite3_bind_int(stmt, 16, record->deleted);
	}
	return cairn__sqlite_statement_run(batch->conn, stmt, "storing a mutation outcome");
}

/* 1 if the object has a key starting with '$' (system fields are never stored as data). */
/* A conflict returns the current document; a never-existing one stays the empty tombstone
 * from record_empty. Conflicts are not stored: the client may retry with a new base. */
static int conflict_record(write_batch *batch, cairn_storage_record *record,
	sqlite3_stmt *current, int exists)
{
	if (!exists)
		return 0;
	cairn__storage_record_clear(record);
	return cairn__sqlite_record_from_row(record, current, batch->database_id, NULL);
}

/* apply_write_once: the document was there after all (an insert without a look first). */
#define WRITE_FOUND_EXISTING 1

/* 1 when a write may be tried as a plain insert, without reading the document first: a put
 * on base 0 with no permission guard, whose outcome on a document that does not exist is
 * known without looking (applied, fresh). A push's new documents are nearly all such puts. */
static int insert_first(const cairn_storage_write *write)
{
	return write->op == CAIRN_WRITE_REPLACE && write->expect == CAIRN_EXPECT_VERSION &&
		write->base_version == 0 && !write->guard;
}

/* Applies one write of the batch, filling `outcome`. With `assume_new` it does not read the
 * document and inserts it; if the insert meets the document (a unique key conflict, which
 * SQLite backs out alone), it undoes its clock and sequence steps and returns
 * WRITE_FOUND_EXISTING, to be called again without. Otherwise returns 0 whatever the outcome,
 * or a negative code on a storage failure (the whole batch then rolls back). */
static int apply_write_once(write_batch *batch, const cairn_storage_write *write,
	cairn_storage_outcome *outcome, int assume_new)
{
	cairn_storage_record *record = &outcome->record;
	sqlite3_stmt *current = NULL;
	sqlite3_stmt *stmt;
	collection_slot *collection = NULL;
	json_object *data = NULL;        /* the new user fields (NULL for a delete) */
	json_object *stored_data = NULL; /* a patch's base, or a put's counters */
	int increment = write->op == CAIRN_WRITE_PATCH && write->data &&
		json_object_is_type(write->data, json_type_object) &&
		json_object_object_get_ex(write->data, CAIRN_STORAGE_INCREMENT_KEY, NULL);
	int64_t kept_hlc = 0;            /* an increment keeps these three */
	char *kept_author = NULL;
	char *kept_mutation = NULL;
	char *kept_permissions = NULL;   /* permissions text carried over from the row */
	const char *data_text = NULL;
	const char *permissions_text;
	size_t data_len = 0;
	int text_only = cairn__storage_write_text_only(write);
	int exists, live, fresh;
	int rejected = 0; /* the outcome is a rejection, to be stored for idempotency */
	int64_t created_at = 0, sequence = 0, now;
	int64_t clock_before;            /* assume_new: what to undo when the row is there */
	int collection_dirty_before, sequence_dirty_before;
	int rc;

	if (write->mutation_id && !batch->fresh) {
		rc = mutation_replay(batch, write, outcome);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	rc = cairn__storage_record_empty(record, batch->database_id, write->collection_id, write->id);
	if (rc < 0)
		return rc;
	if (!cairn__storage_write_arguments_ok(write, outcome)) {
		rejected = 1;
		goto cleanup;
	}
	rc = batch_collection(&collection, batch, write->collection_id);
	if (rc < 0)
		return rc;
	if (!collection->found) {
		cairn__storage_outcome_set(outcome, CAIRN_ENOTFOUND, "collection_not_found",
			"Collection with the requested ID '%s' could not be found.", write->collection_id);
		rejected = 1;
		goto cleanup;
	}

	if (assume_new) {
		exists = 0; /* the insert below finds out */
	} else {
		current = cairn__sqlite_statement(batch->conn, ST_DOC_GET);
		if (!current)
			return cairn__sqlite_prepare_failed();
		cairn__sqlite_bind_text(current, 1, batch->database_id);
		cairn__sqlite_bind_text(current, 2, write->collection_id);
		cairn__sqlite_bind_text(current, 3, write->id);
		rc = sqlite3_step(current);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			rc = cairn__sqlite_fail(batch->conn->db, rc, "reading a document");
			goto cleanup;
		}
		exists = rc == SQLITE_ROW;
		rc = 0;
	}
	live = exists && !sqlite3_column_int(current, DOC_DELETED);

	/* Permissions, against the row as it is now (inside the transaction: no race). */
	rc = cairn__storage_guard_rejects(write, outcome, live, live ?
		(const char *)sqlite3_column_text(current, DOC_PERMISSIONS) : NULL);
	if (rc != 0) {
		rejected = rc > 0;
		rc = rc > 0 ? 0 : rc;
		goto cleanup;
	}

	/* The precondition, checked against the row as it is now. */
	if (write->expect == CAIRN_EXPECT_VERSION) {
		int64_t version = exists ? sqlite3_column_int64(current, DOC_VERSION) : 0;
		int ok = version == write->base_version;

		if (!ok && exists && write->prev_mutation && write->prev_mutation[0] &&
			write->client_id && write->client_id[0] &&
			strcmp((const char *)sqlite3_column_text(current, DOC_AUTHOR),
				write->client_id) == 0 &&
			strcmp((const char *)sqlite3_column_text(current, DOC_LAST_MUTATION),
				write->prev_mutation) == 0)
			ok = 1;
		if (!ok) {
			cairn__storage_outcome_set(outcome, CAIRN_ECONFLICT, "document_update_conflict",
				"Document '%s' changed on the server: it is at version %lld, the write was "
				"based on version %lld.", write->id, (long long)version,
				(long long)write->base_version);
			rc = conflict_record(batch, record, current, exists);
			goto cleanup;
		}
	} else if (write->expect == CAIRN_EXPECT_EXISTS && !live) {
		cairn__storage_outcome_set(outcome, CAIRN_ENOTFOUND, "document_not_found",
			"Document with the requested ID '%s' could not be found.", write->id);
		rejected = 1;
		goto cleanup;
	} else if (write->expect == CAIRN_EXPECT_UNMODIFIED_SINCE && live &&
		sqlite3_column_int64(current, DOC_UPDATED) > write->unmodified_since) {
		cairn__storage_outcome_set(outcome, CAIRN_ECONFLICT, "document_update_conflict",
			"Remote document is newer than local.");
		rc = conflict_record(batch, record, current, exists);
		goto cleanup;
	}

	switch (write->op) {
	case CAIRN_WRITE_CREATE:
		if (live) {
			cairn__storage_outcome_set(outcome, CAIRN_EEXISTS, "document_already_exists",
				"Document with the requested ID already exists. Try again with a different "
				"ID or use ID.unique() to generate a unique ID.");
			rejected = 1;
			goto cleanup;
		}
		fresh = 1;
		break;
	case CAIRN_WRITE_REPLACE:
		fresh = !live;
		break;
	default: /* patch, delete */
		if (!live) {
			cairn__storage_outcome_set(outcome, CAIRN_ENOTFOUND, "document_not_found",
				"Document with the requested ID '%s' could not be found.", write->id);
			rejected = 1;
			goto cleanup;
		}
		fresh = 0;
		break;
	}
	if (!fresh) {
		created_at = sqlite3_column_int64(current, DOC_CREATED);
		sequence = sqlite3_column_int64(current, DOC_SEQUENCE);
		if (!write->permissions) {
			kept_permissions = cairn__sqlite_column_dup(current, DOC_PERMISSIONS);
			if (!kept_permissions) {
				rc = cairn__sqlite_oom();
				goto cleanup;
			}
		}
		if (increment) {
			/* An increment is not a content write: the document keeps the clock, author
			 * and last mutation of its last content write, so that concurrent edits are
			 * judged (and chained) against content only. */
			kept_hlc = sqlite3_column_int64(current, DOC_HLC);
			kept_author = cairn__sqlite_column_dup(current, DOC_AUTHOR);
			kept_mutation = cairn__sqlite_column_dup(current, DOC_LAST_MUTATION);
			if (!kept_author || !kept_mutation) {
				rc = cairn__sqlite_oom();
				goto cleanup;
			}
		}
		if (write->op == CAIRN_WRITE_PATCH || (write->op == CAIRN_WRITE_REPLACE &&
			write->data && json_object_object_get_ex(write->data, CAIRN_STORAGE_COUNTERS_KEY, NULL))) {
			rc = cairn__sqlite_column_json(&stored_data, current, DOC_DATA);
			if (rc < 0)
				goto cleanup;
		}
	}
	cairn__sqlite_statement_done(current);
	current = NULL;

	/* The new user fields and their stored text. */
	if (text_only) {
		/* A put's plain text (storage.h data_text): stored as it came, no tree. */
		data_text = write->data_text;
		data_len = write->data_text_length;
	} else if (write->op != CAIRN_WRITE_DELETE) {
		data = cairn__storage_new_data(write, stored_data);
		if (!data) {
			rc = cairn__sqlite_oom();
			goto cleanup;
		}
		if (data == write->data && write->data_text) {
			/* Stored as given (no $ keys dropped, nothing merged): printed already. */
			data_text = write->data_text;
			data_len = write->data_text_length;
		} else {
			data_text = cairn__json_text(data, &data_len);
		}
		if (!data_text) {
			rc = cairn__sqlite_oom();
			goto cleanup;
		}
	}
	if (data_text && data_len > MAX_DOCUMENT_BYTES) {
		cairn__storage_outcome_set(outcome, CAIRN_ETOOBIG, "document_invalid_structure",
			"Invalid document structure: the document is %zu bytes, over the limit of "
			"%d bytes.", data_len, MAX_DOCUMENT_BYTES);
		rejected = 1;
		goto cleanup;
	}
	permissions_text = write->permissions ? cairn__json_text(write->permissions, NULL) :
		kept_permissions ? kept_permissions : "[]";

	clock_before = batch->storage->last_issued_ms;
	collection_dirty_before = collection->dirty;
	sequence_dirty_before = batch->sequence_dirty;
	now = cairn__sqlite_clock_next(batch->storage);
	if (fresh) {
		created_at = now;
		sequence = collection->next_sequence++;
		collection->dirty = 1;
	}
	record->created_at = created_at;
	record->updated_at = now;
	record->version = ++batch->last_sequence;
	batch->sequence_dirty = 1;
	record->sequence = sequence;
	record->hlc = increment ? kept_hlc : write->hlc ? write->hlc : now << 16;
	record->deleted = write->op == CAIRN_WRITE_DELETE;
	if ((rc = cairn__storage_record_set_string(&record->author, increment ? kept_author :
		write->client_id)) < 0 ||
		(rc = cairn__storage_record_set_string(&record->last_mutation, increment ? kept_mutation :
		write->mutation_id)) < 0)
		goto cleanup;

	stmt = cairn__sqlite_statement(batch->conn, exists ? ST_DOC_UPDATE : ST_DOC_INSERT);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, batch->database_id);
	cairn__sqlite_bind_text(stmt, 2, write->collection_id);
	cairn__sqlite_bind_text(stmt, 3, write->id);
	cairn__sqlite_bind_text_len(stmt, 4, data_text, data_len);
	cairn__sqlite_bind_text(stmt, 5, permissions_text);
	sqlite3_bind_int64(stmt, 6, record->created_at);
	sqlite3_bind_int64(stmt, 7, record->updated_at);
	sqlite3_bind_int64(stmt, 8, record->version);
	sqlite3_bind_int64(stmt, 9, record->sequence);
	sqlite3_bind_int64(stmt, 10, record->hlc);
	cairn__sqlite_bind_text(stmt, 11, record->author);
	cairn__sqlite_bind_text(stmt, 12, record->last_mutation);
	sqlite3_bind_int(stmt, 13, record->deleted);
	if (assume_new) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_CONSTRAINT &&
			sqlite3_extended_errcode(batch->conn->db) == SQLITE_CONSTRAINT_UNIQUE) {
			cairn__sqlite_statement_done(stmt);
			batch->storage->last_issued_ms = clock_before;
			collection->next_sequence--;
			collection->dirty = collection_dirty_before;
			batch->last_sequence--;
			batch->sequence_dirty = sequence_dirty_before;
			rc = WRITE_FOUND_EXISTING;
			goto cleanup;
		}
		rc = rc == SQLITE_DONE ? 0 : cairn__sqlite_fail(batch->conn->db, rc,
			"writing a document");
		cairn__sqlite_statement_done(stmt);
	} else {
		rc = cairn__sqlite_statement_run(batch->conn, stmt, "writing a document");
	}
	if (rc < 0)
		goto cleanup;

	/* The record after the write. */
	json_object_put(record->permissions);
	record->permissions = write->permissions ? json_object_get(write->permissions) :
		strcmp(permissions_text, "[]") == 0 ? json_object_new_array() :
		cairn__json_parse(permissions_text, (size_t)-1, STORED_JSON_MAX_DEPTH);
	if (!record->permissions) {
		rc = cairn__sqlite_oom();
		goto cleanup;
	}
	record->data = data;
	if ((text_only || data == write->data) && write->data_text) {
		/* Printed by the caller, who prints the outcome next (storage.h data_text). */
		record->data_text = write->data_text;
		record->data_text_length = write->data_text_length;
	}
	/* Stored exactly as given and acked without its fields: a replay needs none either. */
	if (write->slim_ack && (text_only || data == write->data) &&
		write->op == CAIRN_WRITE_REPLACE)
		data_text = NULL;
	data = NULL;
	if (batch->fresh && !data_text && write->op == CAIRN_WRITE_REPLACE && write->mutation_id &&
		write->client_id)
		rc = run_append(batch, write, record, permissions_text); /* "Runs" above */
	else
		rc = write->mutation_id ? mutation_store(batch, write, outcome, data_text, data_len,
			permissions_text) : 0;
cleanup:
	cairn__sqlite_statement_done(current);
	json_object_put(data);
	json_object_put(stored_data);
	free(kept_permissions);
	free(kept_author);
	free(kept_mutation);
	if (rc == 0 && rejected && write->mutation_id)
		rc = mutation_store(batch, write, outcome, NULL, 0, NULL);
	return rc;
}

static int apply_write(write_batch *batch, const cairn_storage_write *write,
	cairn_storage_outcome *outcome)
{
	int rc = apply_write_once(batch, write, outcome, insert_first(write));

	if (rc == WRITE_FOUND_EXISTING) {
		cairn__storage_outcome_clear(outcome);
		rc = apply_write_once(batch, write, outcome, 0);
	}
	return rc;
}

int cairn__sqlite_write(cairn_storage_outcome *outcomes, cairn_storage *storage,
	const char *database_id, const cairn_storage_write *writes, size_t count)
{
	write_batch batch;
	sqlite3_stmt *stmt;
	int in_transaction = 0;
	int rc;

	memset(&batch, 0, sizeof(batch));
	memset(outcomes, 0, count * sizeof(*outcomes));
	batch.storage = storage;
	batch.conn = storage->writer;
	batch.database_id = database_id;
	if (!database_id)
		return cairn__sqlite_database_missing("");
	pthread_mutex_lock(&storage->write_lock);
	rc = cairn__sqlite_run(batch.conn, ST_BEGIN_IMMEDIATE, "starting a transaction");
	if (rc < 0)
		goto cleanup;
	in_transaction = 1;
	stmt = cairn__sqlite_statement(batch.conn, ST_DB_SEQUENCE_GET);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, database_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		batch.last_sequence = sqlite3_column_int64(stmt, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = cairn__sqlite_database_missing(database_id);
	} else {
		rc = cairn__sqlite_fail(batch.conn->db, rc, "reading the change sequence");
	}
	cairn__sqlite_statement_done(stmt);
	if (rc < 0)
		goto cleanup;
	rc = batch_fresh(&batch, writes, count);
	if (rc < 0)
		goto cleanup;
	batch.fresh = rc;
	for (size_t i = 0; i < count; i++) {
		rc = apply_write(&batch, &writes[i], &outcomes[i]);
		if (rc < 0)
			goto cleanup;
	}
	rc = run_store(&batch, writes[0].client_id);
	if (rc < 0)
		goto cleanup;
	rc = batch_flush(&batch);
	if (rc < 0)
		goto cleanup;
	rc = cairn__sqlite_run(batch.conn, ST_COMMIT, "committing");
	if (rc == 0)
		in_transaction = 0;
cleanup:
	if (in_transaction)
		cairn__sqlite_rollback(batch.conn, rc);
	pthread_mutex_unlock(&storage->write_lock);
	batch_free(&batch);
	if (rc < 0) {
		for (size_t i = 0; i < count; i++)
			cairn__storage_outcome_clear(&outcomes[i]);
	}
	return rc;
}

