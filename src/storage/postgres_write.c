/* postgres_write.c: the PostgreSQL backend's write batch: the database lock, preconditions, idempotency. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/postgres_int.h"
#include "storage/storage_int.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/time.h"

#define WRITE_ATTEMPTS 5 /* a deadlock or serialisation failure is retried this often */

typedef struct {
	char *id;
	int64_t next_sequence; /* the $sequence the next inserted document gets */
	int found;             /* 0: no such collection */
	int dirty;             /* next_sequence must be saved at commit */
} collection_slot;

typedef struct {
	pg_connection *conn;
	const char *database_id;
	int64_t last_sequence;        /* the database's change sequence, saved at commit */
	int64_t clock_ms;             /* the database's latest document $updatedAt */
	int sequence_dirty;
	collection_slot *collections; /* the collections this batch touched */
	size_t collection_count;
	size_t collection_capacity;
} write_batch;

static void batch_free(write_batch *batch)
{
	for (size_t i = 0; i < batch->collection_count; i++)
		free(batch->collections[i].id);
	free(batch->collections);
	batch->collections = NULL;
	batch->collection_count = batch->collection_capacity = 0;
}

/* The batch's view of collection `id`, loaded on first use. The database lock keeps every
 * other writer of the database out, so next_sequence cannot change under the batch. */
static int batch_collection(collection_slot **out, write_batch *batch, const char *id)
{
	collection_slot *slot;
	pg_params params = { 0 };
	PGresult *result;
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
			return cairn__pg_oom();
		batch->collections = grown;
		batch->collection_capacity = capacity;
	}
	slot = &batch->collections[batch->collection_count];
	memset(slot, 0, sizeof(*slot));
	cairn__pg_param_text(&params, batch->database_id);
	cairn__pg_param_text(&params, id);
	result = cairn__pg_run(batch->conn, PST_COLL_SEQUENCE_GET, &params, &rc,
		"reading a collection");
	if (!result)
		return rc;
	if (PQntuples(result) > 0) {
		slot->found = 1;
		slot->next_sequence = cairn__pg_int(result, 0, 0);
	}
	PQclear(result);
	slot->id = strdup(id);
	if (!slot->id)
		return cairn__pg_oom();
	batch->collection_count++;
	*out = slot;
	return 0;
}

/* Saves the sequences and the clock the batch advanced. */
static int batch_flush(write_batch *batch)
{
	pg_params params;
	int rc;

	for (size_t i = 0; i < batch->collection_count; i++) {
		collection_slot *slot = &batch->collections[i];

		if (!slot->dirty)
			continue;
		memset(&params, 0, sizeof(params));
		cairn__pg_param_text(&params, batch->database_id);
		cairn__pg_param_text(&params, slot->id);
		cairn__pg_param_int(&params, slot->next_sequence);
		PQclear(cairn__pg_run(batch->conn, PST_COLL_SEQUENCE_SET, &params, &rc,
			"saving a collection sequence"));
		if (rc < 0)
			return rc;
	}
	if (!batch->sequence_dirty)
		return 0;
	memset(&params, 0, sizeof(params));
	cairn__pg_param_text(&params, batch->database_id);
	cairn__pg_param_int(&params, batch->last_sequence);
	cairn__pg_param_int(&params, batch->clock_ms);
	PQclear(cairn__pg_run(batch->conn, PST_DB_SEQUENCE_SET, &params, &rc,
		"saving the change sequence"));
	return rc;
}

/* Looks up a stored outcome of (client, mutation). Returns 1 and fills `outcome` if found. */
static int mutation_replay(write_batch *batch, const cairn_storage_write *write,
	cairn_storage_outcome *outcome)
{
	cairn_storage_record *record = &outcome->record;
	pg_params params = { 0 };
	PGresult *result;
	int rc;

	cairn__pg_param_text(&params, batch->database_id);
	cairn__pg_param_text(&params, write->client_id ? write->client_id : "");
	cairn__pg_param_text(&params, write->mutation_id);
	result = cairn__pg_run(batch->conn, PST_MUTATION_GET, &params, &rc,
		"reading a stored mutation outcome");
	if (!result)
		return rc;
	if (PQntuples(result) == 0) {
		rc = 0;
		goto cleanup;
	}
	cairn__storage_outcome_set(outcome, (int)cairn__pg_int(result, 0, 0), PQgetvalue(result, 0, 1), "%s",
		PQgetvalue(result, 0, 2));
	outcome->replayed = 1;
	rc = cairn__storage_record_empty(record, batch->database_id, PQgetvalue(result, 0, 3),
		PQgetvalue(result, 0, 4));
	if (rc < 0)
		goto cleanup;
	if (outcome->status == 0) {
		json_object_put(record->permissions);
		record->permissions = NULL;
		if ((rc = cairn__pg_json(&record->data, result, 0, 5)) < 0 ||
			(rc = cairn__pg_json(&record->permissions, result, 0, 6)) < 0 ||
			(rc = cairn__storage_record_set_string(&record->author, write->client_id)) < 0 ||
			(rc = cairn__storage_record_set_string(&record->last_mutation, write->mutation_id)) < 0)
			goto cleanup;
		record->created_at = cairn__pg_int(result, 0, 7);
		record->updated_at = cairn__pg_int(result, 0, 8);
		record->version = cairn__pg_int(result, 0, 9);
		record->sequence = cairn__pg_int(result, 0, 10);
		record->hlc = cairn__pg_int(result, 0, 11);
		record->deleted = (int)cairn__pg_int(result, 0, 12);
		if (!record->permissions && !(record->permissions = json_object_new_array())) {
			rc = cairn__pg_oom();
			goto cleanup;
		}
	}
	rc = 1;
cleanup:
	PQclear(result);
	return rc;
}

/* Stores an applied or rejected outcome under (client, mutation). */
static int mutation_store(write_batch *batch, const cairn_storage_write *write,
	const cairn_storage_outcome *outcome, const char *data_text, const char *permissions_text)
{
	const cairn_storage_record *record = &outcome->record;
	pg_params params = { 0 };
	int rc;

	cairn__pg_param_text(&params, batch->database_id);
	cairn__pg_param_text(&params, write->client_id ? write->client_id : "");
	cairn__pg_param_text(&params, write->mutation_id);
	cairn__pg_param_int(&params, outcome->status);
	cairn__pg_param_text(&params, outcome->error_type);
	cairn__pg_param_text(&params, outcome->error_message);
	cairn__pg_param_text(&params, write->collection_id ? write->collection_id : "");
	cairn__pg_param_text(&params, write->id ? write->id : "");
	if (outcome->status == 0) {
		cairn__pg_param_text(&params, data_text);
		cairn__pg_param_text(&params, permissions_text);
		cairn__pg_param_int(&params, record->created_at);
		cairn__pg_param_int(&params, record->updated_at);
		cairn__pg_param_int(&params, record->version);
		cairn__pg_param_int(&params, record->sequence);
		cairn__pg_param_int(&params, record->hlc);
		cairn__pg_param_int(&params, record->deleted);
	} else {
		for (int i = 0; i < 8; i++)
			cairn__pg_param_text(&params, NULL);
	}
	PQclear(cairn__pg_run(batch->conn, PST_MUTATION_PUT, &params, &rc,
		"storing a mutation outcome"));
	return rc;
}

/* The next document $updatedAt of the locked database: wall-clock ms, past its clock. */
static int64_t batch_clock_next(write_batch *batch)
{
	int64_t now = cairn__time_now_ms();

	if (now <= batch->clock_ms)
		now = batch->clock_ms + 1;
	batch->clock_ms = now;
	return now;
}

/* Applies one write of the batch, filling `outcome`. Returns 0 whatever the outcome, or a
 * negative code on a storage failure (the whole batch then rolls back). */
static int apply_write(write_batch *batch, const cairn_storage_write *write,
	cairn_storage_outcome *outcome)
{
	cairn_storage_record *record = &outcome->record;
	PGresult *current = NULL;
	collection_slot *collection = NULL;
	pg_params params = { 0 };
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
	int exists, live, fresh;
	int rejected = 0;
	int64_t created_at = 0, sequence = 0, now;
	int rc;

	if (write->mutation_id) {
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

	cairn__pg_param_text(&params, batch->database_id);
	cairn__pg_param_text(&params, write->collection_id);
	cairn__pg_param_text(&params, write->id);
	current = cairn__pg_run(batch->conn, PST_DOC_GET, &params, &rc, "reading a document");
	if (!current)
		goto cleanup;
	exists = PQntuples(current) > 0;
	live = exists && cairn__pg_int(current, 0, PDOC_DELETED) == 0;

	/* Permissions, against the row as it is now (under the database lock: no race). */
	rc = cairn__storage_guard_rejects(write, outcome, live, live ?
		PQgetvalue(current, 0, PDOC_PERMISSIONS) : NULL);
	if (rc != 0) {
		rejected = rc > 0;
		rc = rc > 0 ? 0 : rc;
		goto cleanup;
	}

	/* The precondition, checked against the row as it is now (under the database lock). */
	if (write->expect == CAIRN_EXPECT_VERSION) {
		int64_t version = exists ? cairn__pg_int(current, 0, PDOC_VERSION) : 0;
		int ok = version == write->base_version;

		if (!ok && exists && write->prev_mutation && write->prev_mutation[0] &&
			write->client_id && write->client_id[0] &&
			strcmp(PQgetvalue(current, 0, PDOC_AUTHOR), write->client_id) == 0 &&
			strcmp(PQgetvalue(current, 0, PDOC_LAST_MUTATION), write->prev_mutation) == 0)
			ok = 1;
		if (!ok) {
			cairn__storage_outcome_set(outcome, CAIRN_ECONFLICT, "document_update_conflict",
				"Document '%s' changed on the server: it is at version %lld, the write was "
				"based on version %lld.", write->id, (long long)version,
				(long long)write->base_version);
			if (exists) {
				cairn__storage_record_clear(record);
				rc = cairn__pg_record_from_row(record, current, 0, batch->database_id, NULL);
			}
			goto cleanup;
		}
	} else if (write->expect == CAIRN_EXPECT_EXISTS && !live) {
		cairn__storage_outcome_set(outcome, CAIRN_ENOTFOUND, "document_not_found",
			"Document with the requested ID '%s' could not be found.", write->id);
		rejected = 1;
		goto cleanup;
	} else if (write->expect == CAIRN_EXPECT_UNMODIFIED_SINCE && live &&
		cairn__pg_int(current, 0, PDOC_UPDATED) > write->unmodified_since) {
		cairn__storage_outcome_set(outcome, CAIRN_ECONFLICT, "document_update_conflict",
			"Remote document is newer than local.");
		cairn__storage_record_clear(record);
		rc = cairn__pg_record_from_row(record, current, 0, batch->database_id, NULL);
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
		created_at = cairn__pg_int(current, 0, PDOC_CREATED);
		sequence = cairn__pg_int(current, 0, PDOC_SEQUENCE);
		if (!write->permissions) {
			kept_permissions = cairn__pg_dup(current, 0, PDOC_PERMISSIONS);
			if (!kept_permissions) {
				rc = cairn__pg_oom();
				goto cleanup;
			}
		}
		if (increment) {
			/* An increment is not a content write: the document keeps the clock, author
			 * and last mutation of its last content write (as on SQLite). */
			kept_hlc = cairn__pg_int(current, 0, PDOC_HLC);
			kept_author = cairn__pg_dup(current, 0, PDOC_AUTHOR);
			kept_mutation = cairn__pg_dup(current, 0, PDOC_LAST_MUTATION);
			if (!kept_author || !kept_mutation) {
				rc = cairn__pg_oom();
				goto cleanup;
			}
		}
		if (write->op == CAIRN_WRITE_PATCH || (write->op == CAIRN_WRITE_REPLACE &&
			write->data && json_object_object_get_ex(write->data, CAIRN_STORAGE_COUNTERS_KEY, NULL))) {
			rc = cairn__pg_json(&stored_data, current, 0, PDOC_DATA);
			if (rc < 0)
				goto cleanup;
		}
	}

	if (write->op != CAIRN_WRITE_DELETE)
		data = cairn__storage_new_data(write, stored_data);
	if (write->op != CAIRN_WRITE_DELETE) {
		if (!data) {
			rc = cairn__pg_oom();
			goto cleanup;
		}
		data_text = cairn__json_text(data, &data_len);
		if (!data_text) {
			rc = cairn__pg_oom();
			goto cleanup;
		}
		if (data_len > PG_MAX_DOCUMENT_BYTES) {
			cairn__storage_outcome_set(outcome, CAIRN_ETOOBIG, "document_invalid_structure",
				"Invalid document structure: the document is %zu bytes, over the limit of "
				"%d bytes.", data_len, PG_MAX_DOCUMENT_BYTES);
			rejected = 1;
			goto cleanup;
		}
	}
	permissions_text = write->permissions ? cairn__json_text(write->permissions, NULL) :
		kept_permissions ? kept_permissions : "[]";

	now = batch_clock_next(batch);
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

	memset(&params, 0, sizeof(params));
	cairn__pg_param_text(&params, batch->database_id);
	cairn__pg_param_text(&params, write->collection_id);
	cairn__pg_param_text(&params, write->id);
	cairn__pg_param_text(&params, data_text);
	cairn__pg_param_text(&params, permissions_text);
	cairn__pg_param_int(&params, record->created_at);
	cairn__pg_param_int(&params, record->updated_at);
	cairn__pg_param_int(&params, record->version);
	cairn__pg_param_int(&params, record->sequence);
	cairn__pg_param_int(&params, record->hlc);
	cairn__pg_param_text(&params, record->author);
	cairn__pg_param_text(&params, record->last_mutation);
	cairn__pg_param_int(&params, record->deleted);
	PQclear(cairn__pg_run(batch->conn, PST_DOC_UPSERT, &params, &rc, "writing a document"));
	if (rc < 0)
		goto cleanup;

	json_object_put(record->permissions);
	record->permissions = write->permissions ? json_object_get(write->permissions) :
		cairn__json_parse(permissions_text, (size_t)-1, PG_STORED_JSON_MAX_DEPTH);
	if (!record->permissions) {
		rc = cairn__pg_oom();
		goto cleanup;
	}
	record->data = data;
	data = NULL;
	rc = write->mutation_id ? mutation_store(batch, write, outcome, data_text,
		permissions_text) : 0;
cleanup:
	PQclear(current);
	json_object_put(data);
	json_object_put(stored_data);
	free(kept_permissions);
	free(kept_author);
	free(kept_mutation);
	if (rc == 0 && rejected && write->mutation_id)
		rc = mutation_store(batch, write, outcome, NULL, NULL);
	return rc;
}

/* One attempt at the whole batch in one transaction. */
static int write_attempt(write_batch *batch, cairn_storage_outcome *outcomes,
	const cairn_storage_write *writes, size_t count)
{
	pg_params params = { 0 };
	PGresult *result;
	int in_transaction = 0;
	int rc;

	rc = cairn__pg_command(batch->conn, "BEGIN", "starting a transaction");
	if (rc < 0)
		return rc;
	in_transaction = 1;
	/* The database's write lock, held until COMMIT: see postgres_int.h. */
	cairn__pg_param_text(&params, batch->database_id);
	result = cairn__pg_run(batch->conn, PST_DB_LOCK, &params, &rc, "locking the database");
	if (!result)
		goto cleanup;
	if (PQntuples(result) == 0) {
		PQclear(result);
		rc = cairn__pg_database_missing(batch->database_id);
		goto cleanup;
	}
	batch->last_sequence = cairn__pg_int(result, 0, 0);
	batch->clock_ms = cairn__pg_int(result, 0, 1);
	PQclear(result);
	for (size_t i = 0; i < count; i++) {
		rc = apply_write(batch, &writes[i], &outcomes[i]);
		if (rc < 0)
			goto cleanup;
	}
	rc = batch_flush(batch);
	if (rc < 0)
		goto cleanup;
	rc = cairn__pg_command(batch->conn, "COMMIT", "committing");
	if (rc == 0)
		in_transaction = 0;
cleanup:
	if (in_transaction)
		cairn__pg_rollback(batch->conn, rc);
	return rc;
}

int cairn__pg_write(cairn_storage_outcome *outcomes, cairn_storage *storage,
	const char *database_id, const cairn_storage_write *writes, size_t count)
{
	write_batch batch;
	int rc;

	memset(&batch, 0, sizeof(batch));
	memset(outcomes, 0, count * sizeof(*outcomes));
	if (!database_id)
		return cairn__pg_database_missing("");
	batch.database_id = database_id;
	rc = cairn__pg_acquire(&batch.conn, storage);
	if (rc < 0)
		return rc;
	for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		rc = write_attempt(&batch, outcomes, writes, count);
		batch_free(&batch);
		batch.sequence_dirty = 0;
		if (rc != CAIRN_EBUSY)
			break;
		/* A deadlock or serialisation failure rolled everything back: start afresh. */
		for (size_t i = 0; i < count; i++)
			cairn__storage_outcome_clear(&outcomes[i]);
	}
	cairn__pg_release(storage, batch.conn);
	if (rc < 0) {
		for (size_t i = 0; i < count; i++)
			cairn__storage_outcome_clear(&outcomes[i]);
	}
	return rc;
}
