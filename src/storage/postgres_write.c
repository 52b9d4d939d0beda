/* postgres_write.c: the PostgreSQL backend's write batch: the database lock, preconditions, idempotency. */
#include <stdarg.h>
#include <stdatomic.h>
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
#define DOC_ARRAYS 12      /* PST_DOC_UPSERT's parameters after the database id */
#define MUTATION_ARRAYS 14 /* PST_MUTATION_PUT's after the database and client ids */
/* Documents this process inserts before it first runs ANALYZE: one push batch, so no later
 * batch is planned with the statistics of an empty table (at 5,000 a 10,000-document push
 * ran at ~5,300 docs/s, PostgreSQL planning scans for its first ten batches; at 500,
 * 17,600-18,300, and a 100,000-document push went from 15,800 to 20,000 docs/s). */
#define ANALYZE_FIRST 500

/* Inserted documents, and the count at which this process next runs ANALYZE (doubling):
 * see analyze_if_grown. */
static _Atomic long long inserted_total;
static _Atomic long long analyze_at = ANALYZE_FIRST;

/* The prefetched batch's statements, run unprepared (cairn__pg_run_sql): planned with the
 * table as it is now, never with a plan cached while it was small.
 * $2, $3: text arrays of collection ids and document ids, pairwise. Each pair is one lookup
 * of the whole primary key (unique: one row at most), which no other index or scan can
 * beat however stale the statistics; OFFSET 0 keeps the planner from flattening it into a
 * join it would cost by those statistics. */
static const char doc_get_many_sql[] = "SELECT d.* FROM unnest($2::text[], $3::text[]) "
	"AS k(c, i), LATERAL (SELECT " PG_DOC_COLUMNS " FROM documents WHERE database_id = "
	"$1::text AND collection_id = k.c COLLATE \"C\" AND id = k.i COLLATE \"C\" OFFSET 0) AS d";
/* PST_MUTATION_GET (postgres.c) for the mutation ids in the text array $3, plus
 * mutation_id last. */
static const char mutation_get_many_sql[] = "SELECT o.* FROM unnest($3::text[]) AS k(m), "
	"LATERAL ("
	"SELECT status, error_type, error_message, collection_id, document_id, data, "
	"permissions, created_at, updated_at, version, sequence, hlc, deleted, mutation_id "
	"FROM mutations WHERE database_id = $1::text AND client_id = $2::text "
	"AND mutation_id = k.m COLLATE \"C\" OFFSET 0) AS o";
/* PST_DOC_UPSERT (postgres.c) for many rows: $2..$13 are arrays of its $2..$13, no id twice
 * (WHERE true: ON CONFLICT then cannot be read as part of the FROM clause). */
static const char doc_upsert_many_sql[] = "INSERT INTO documents (database_id, "
	"collection_id, id, data, permissions, created_at, updated_at, version, sequence, hlc, "
	"author, last_mutation, deleted) SELECT $1::text, * FROM unnest($2::text[], $3::text[], "
	"$4::text[], "
	"$5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], "
	"$11::text[], $12::text[], $13::int[]) WHERE true "
	"ON CONFLICT (database_id, collection_id, id) DO UPDATE SET data = excluded.data, "
	"permissions = excluded.permissions, created_at = excluded.created_at, "
	"updated_at = excluded.updated_at, version = excluded.version, "
	"sequence = excluded.sequence, hlc = excluded.hlc, author = excluded.author, "
	"last_mutation = excluded.last_mutation, deleted = excluded.deleted";
/* PST_MUTATION_PUT (postgres.c) for many rows of one client: $3..$16 are arrays of its $3..$16. */
static const char mutation_put_many_sql[] = "INSERT INTO mutations (database_id, "
	"client_id, mutation_id, status, error_type, error_message, collection_id, document_id, "
	"data, permissions, created_at, updated_at, version, sequence, hlc, deleted) "
	"SELECT $1::text, $2::text, * "
	"FROM unnest($3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], "
	"$9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], "
	"$15::bigint[], $16::int[])";

/* A key of a batch-wide lookup: (a, b) names a document or a stored outcome, `index` its
 * write or its prefetched row. */
typedef struct {
	const char *a;
	const char *b;
	int index;
} batch_key;

/* A growable text buffer, for array literals. */
typedef struct {
	char *text;
	size_t length;
	size_t capacity;
} text_buf;

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
	/* The prefetched batch (batch_prefetch): every document and stored outcome the writes
	 * name, read in one query each, and the writes gathered into one statement per table
	 * (batch_write_rows). NULL docs: per-write reads and writes (a batch naming a document
	 * or mutation twice: each write must see the ones before it). */
	PGresult *docs;
	batch_key *doc_keys;          /* docs' rows sorted by (collection_id, id) */
	PGresult *mutations;
	batch_key *mutation_keys;     /* mutations' rows sorted by mutation_id */
	text_buf doc_columns[DOC_ARRAYS];         /* the rows to upsert, one array per column */
	text_buf mutation_columns[MUTATION_ARRAYS]; /* the outcomes to store */
	size_t doc_rows;
	size_t mutation_rows;
	const char *mutation_client;  /* the client id of the outcomes (one per prefetched batch) */
	long long inserted;           /* new documents (not replacements) this attempt wrote */
} write_batch;

static void batch_free(write_batch *batch)
{
	for (size_t i = 0; i < batch->collection_count; i++)
		free(batch->collections[i].id);
	free(batch->collections);
	batch->collections = NULL;
	batch->collection_count = batch->collection_capacity = 0;
	PQclear(batch->docs);
	PQclear(batch->mutations);
	free(batch->doc_keys);
	free(batch->mutation_keys);
	batch->docs = batch->mutations = NULL;
	batch->doc_keys = batch->mutation_keys = NULL;
	for (int i = 0; i < DOC_ARRAYS; i++)
		free(batch->doc_columns[i].text);
	for (int i = 0; i < MUTATION_ARRAYS; i++)
		free(batch->mutation_columns[i].text);
	memset(batch->doc_columns, 0, sizeof(batch->doc_columns));
	memset(batch->mutation_columns, 0, sizeof(batch->mutation_columns));
	batch->doc_rows = batch->mutation_rows = 0;
	batch->mutation_client = NULL;
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

static int key_compare(const void *left, const void *right)
{
	const batch_key *x = left, *y = right;
	int c = strcmp(x->a, y->a);

	return c ? c : strcmp(x->b, y->b);
}

/* The prefetched row of (a, b) in `keys` (sorted), or -1. */
static int key_find(const batch_key *keys, size_t count, const char *a, const char *b)
{
	batch_key probe = { a, b, -1 };
	const batch_key *hit = count ? bsearch(&probe, keys, count, sizeof(*keys), key_compare) : NULL;

	return hit ? hit->index : -1;
}

/* 1 when two of the `count` keys are equal (they are sorted in place). */
static int keys_repeat(batch_key *keys, size_t count)
{
	qsort(keys, count, sizeof(*keys), key_compare);
	for (size_t i = 1; i < count; i++) {
		if (key_compare(&keys[i - 1], &keys[i]) == 0)
			return 1;
	}
	return 0;
}

static int buf_add(text_buf *buf, const char *bytes, size_t length)
{
	if (buf->length + length + 1 > buf->capacity) {
		size_t capacity = buf->capacity ? buf->capacity : 256;
		char *grown;

		while (buf->length + length + 1 > capacity)
			capacity *= 2;
		if (!(grown = realloc(buf->text, capacity)))
			return cairn__pg_oom();
		buf->text = grown;
		buf->capacity = capacity;
	}
	memcpy(buf->text + buf->length, bytes, length);
	buf->length += length;
	buf->text[buf->length] = '\0';
	return 0;
}

/* Appends `value` (NULL: SQL NULL) as an element of a PostgreSQL array literal, opening
 * it with "{" first; the caller closes it. */
static int buf_add_element(text_buf *buf, const char *value)
{
	int rc = buf->length == 0 ? buf_add(buf, "{", 1) : buf_add(buf, ",", 1);

	if (rc < 0)
		return rc;
	if (!value)
		return buf_add(buf, "NULL", 4);
	if ((rc = buf_add(buf, "\"", 1)) < 0)
		return rc;
	while (*value) {
		size_t span = strcspn(value, "\"\\");

		if ((rc = buf_add(buf, value, span)) < 0)
			return rc;
		value += span;
		if (*value) { /* a quote or backslash, escaped */
			char escaped[2] = { '\\', *value++ };

			if ((rc = buf_add(buf, escaped, 2)) < 0)
				return rc;
		}
	}
	return buf_add(buf, "\"", 1);
}

/* Closes an array literal buf_add_element opened ("{}" when it has no element). */
static int buf_close_array(text_buf *buf)
{
	return buf->length == 0 ? buf_add(buf, "{}", 2) : buf_add(buf, "}", 1);
}

/* Sorted keys of the rows of `result`: columns a_column and b_column (-1: ""). */
static int result_keys(batch_key **out, const PGresult *result, int a_column, int b_column)
{
	int rows = PQntuples(result);

	*out = malloc(((size_t)rows + 1) * sizeof(**out));
	if (!*out)
		return cairn__pg_oom();
	for (int row = 0; row < rows; row++) {
		(*out)[row].a = PQgetvalue(result, row, a_column);
		(*out)[row].b = b_column >= 0 ? PQgetvalue(result, row, b_column) : "";
		(*out)[row].index = row;
	}
	qsort(*out, (size_t)rows, sizeof(**out), key_compare);
	return 0;
}

/* Reads every document and stored outcome the batch's writes name in one query each, and
 * loads their collections; the writes are then gathered (batch_exec). Leaves
 * batch->docs NULL (per-write reads) for a single write, and when two writes name one
 * document or one mutation, or the writes come from different clients: each write must then
 * see the ones before it. */
static int batch_prefetch(write_batch *batch, const cairn_storage_write *writes, size_t count)
{
	batch_key *keys = malloc((count + 1) * sizeof(*keys));
	text_buf collections = { 0 }, ids = { 0 }, mutation_ids = { 0 };
	const char *client_id = NULL;
	size_t doc_count = 0, mutation_count = 0;
	pg_params params = { 0 };
	collection_slot *slot;
	int rc = 0;

	if (!keys)
		return cairn__pg_oom();
	if (count < 2)
		goto done; /* one write: the same round trips per write, with prepared statements */
	for (size_t i = 0; i < count; i++) {
		const cairn_storage_write *write = &writes[i];
		const char *client = write->client_id ? write->client_id : "";

		if (write->mutation_id) {
			if (client_id && strcmp(client_id, client) != 0)
				goto done; /* several clients: per-write reads */
			client_id = client;
		}
		if (write->collection_id && write->id) {
			keys[doc_count].a = write->collection_id;
			keys[doc_count].b = write->id;
			keys[doc_count++].index = (int)i;
		}
	}
	if (keys_repeat(keys, doc_count))
		goto done;
	for (size_t i = 0; i < count; i++) {
		if (writes[i].mutation_id) {
			keys[mutation_count].a = writes[i].mutation_id;
			keys[mutation_count].b = "";
			keys[mutation_count++].index = (int)i;
		}
	}
	if (keys_repeat(keys, mutation_count))
		goto done;

	for (size_t i = 0; i < count; i++) {
		const cairn_storage_write *write = &writes[i];

		if (write->collection_id && write->id &&
			((rc = buf_add_element(&collections, write->collection_id)) < 0 ||
			(rc = buf_add_element(&ids, write->id)) < 0 ||
			(rc = batch_collection(&slot, batch, write->collection_id)) < 0))
			goto done;
		if (write->mutation_id && (rc = buf_add_element(&mutation_ids, write->mutation_id)) < 0)
			goto done;
	}
	if ((rc = buf_close_array(&collections)) < 0 || (rc = buf_close_array(&ids)) < 0 ||
		(rc = buf_close_array(&mutation_ids)) < 0)
		goto done;

	if (mutation_count > 0) {
		cairn__pg_param_text(&params, batch->database_id);
		cairn__pg_param_text(&params, client_id);
		cairn__pg_param_text(&params, mutation_ids.text);
		batch->mutations = cairn__pg_run_sql(batch->conn, mutation_get_many_sql, &params, &rc,
			"reading stored mutation outcomes");
		if (!batch->mutations || (rc = result_keys(&batch->mutation_keys, batch->mutations,
			13, -1)) < 0)
			goto done;
	}
	memset(&params, 0, sizeof(params));
	cairn__pg_param_text(&params, batch->database_id);
	cairn__pg_param_text(&params, collections.text);
	cairn__pg_param_text(&params, ids.text);
	batch->docs = cairn__pg_run_sql(batch->conn, doc_get_many_sql, &params, &rc,
		"reading documents");
	if (!batch->docs || (rc = result_keys(&batch->doc_keys, batch->docs, PDOC_COLLECTION,
		PDOC_ID)) < 0)
		goto done;
done:
	if (rc < 0) {
		PQclear(batch->docs);
		batch->docs = NULL;
	}
	free(keys);
	free(collections.text);
	free(ids.text);
	free(mutation_ids.text);
	return rc;
}

/* Runs a write whose result is not needed; in a prefetched batch, adds its row to the
 * batch's arrays instead, for batch_write_rows. */
static int batch_exec(write_batch *batch, enum pg_statement_id which, const pg_params *params,
	const char *doing)
{
	text_buf *columns = which == PST_DOC_UPSERT ? batch->doc_columns : batch->mutation_columns;
	int first = which == PST_DOC_UPSERT ? 1 : 2; /* the parameters that are not arrays */
	int count = which == PST_DOC_UPSERT ? DOC_ARRAYS : MUTATION_ARRAYS;
	int rc;

	if (!batch->docs) {
		PQclear(cairn__pg_run(batch->conn, which, params, &rc, doing));
		return rc;
	}
	if (which == PST_DOC_UPSERT)
		batch->doc_rows++;
	else {
		batch->mutation_rows++;
		batch->mutation_client = params->values[1];
	}
	for (int i = 0; i < count; i++) {
		if ((rc = buf_add_element(&columns[i], params->values[first + i])) < 0)
			return rc;
	}
	return 0;
}

/* Writes the rows a prefetched batch gathered: one statement per table. */
static int batch_write_rows(write_batch *batch)
{
	pg_params params;
	int rc;

	if (batch->doc_rows > 0) {
		memset(&params, 0, sizeof(params));
		cairn__pg_param_text(&params, batch->database_id);
		for (int i = 0; i < DOC_ARRAYS; i++) {
			if ((rc = buf_close_array(&batch->doc_columns[i])) < 0)
				return rc;
			cairn__pg_param_text(&params, batch->doc_columns[i].text);
		}
		PQclear(cairn__pg_run_sql(batch->conn, doc_upsert_many_sql, &params, &rc,
			"writing documents"));
		if (rc < 0)
			return rc;
	}
	if (batch->mutation_rows > 0) {
		memset(&params, 0, sizeof(params));
		cairn__pg_param_text(&params, batch->database_id);
		cairn__pg_param_text(&params, batch->mutation_client);
		for (int i = 0; i < MUTATION_ARRAYS; i++) {
			if ((rc = buf_close_array(&batch->mutation_columns[i])) < 0)
				return rc;
			cairn__pg_param_text(&params, batch->mutation_columns[i].text);
		}
		PQclear(cairn__pg_run_sql(batch->conn, mutation_put_many_sql, &params, &rc,
			"storing mutation outcomes"));
		if (rc < 0)
			return rc;
	}
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
	PGresult *result, *owned = NULL;
	int row = 0;
	int rc;

	if (batch->docs) { /* prefetched */
		result = batch->mutations;
		row = result ? key_find(batch->mutation_keys, (size_t)PQntuples(result),
			write->mutation_id, "") : -1;
		if (row < 0)
			return 0;
	} else {
		cairn__pg_param_text(&params, batch->database_id);
		cairn__pg_param_text(&params, write->client_id ? write->client_id : "");
		cairn__pg_param_text(&params, write->mutation_id);
		result = owned = cairn__pg_run(batch->conn, PST_MUTATION_GET, &params, &rc,
			"reading a stored mutation outcome");
		if (!result)
			return rc;
		if (PQntuples(result) == 0) {
			rc = 0;
			goto cleanup;
		}
	}
	cairn__storage_outcome_set(outcome, (int)cairn__pg_int(result, row, 0),
		PQgetvalue(result, row, 1), "%s", PQgetvalue(result, row, 2));
	outcome->replayed = 1;
	rc = cairn__storage_record_empty(record, batch->database_id, PQgetvalue(result, row, 3),
		PQgetvalue(result, row, 4));
	if (rc < 0)
		goto cleanup;
	if (outcome->status == 0) {
		json_object_put(record->permissions);
		record->permissions = NULL;
		if ((rc = cairn__pg_json(&record->data, result, row, 5)) < 0 ||
			(rc = cairn__pg_json(&record->permissions, result, row, 6)) < 0 ||
			(rc = cairn__storage_record_set_string(&record->author, write->client_id)) < 0 ||
			(rc = cairn__storage_record_set_string(&record->last_mutation, write->mutation_id)) < 0)
			goto cleanup;
		record->created_at = cairn__pg_int(result, row, 7);
		record->updated_at = cairn__pg_int(result, row, 8);
		record->version = cairn__pg_int(result, row, 9);
		record->sequence = cairn__pg_int(result, row, 10);
		record->hlc = cairn__pg_int(result, row, 11);
		record->deleted = (int)cairn__pg_int(result, row, 12);
		if (!record->permissions && !(record->permissions = json_object_new_array())) {
			rc = cairn__pg_oom();
			goto cleanup;
		}
	}
	rc = 1;
cleanup:
	PQclear(owned);
	return rc;
}

/* Stores an applied or rejected outcome under (client, mutation). */
static int mutation_store(write_batch *batch, const cairn_storage_write *write,
	const cairn_storage_outcome *outcome, const char *data_text, const char *permissions_text)
{
	const cairn_storage_record *record = &outcome->record;
	pg_params params = { 0 };

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
	return batch_exec(batch, PST_MUTATION_PUT, &params, "storing a mutation outcome");
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
	PGresult *current = NULL, *owned = NULL; /* the row as it is; owned: read here */
	int row = -1;
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
	int text_only = cairn__storage_write_text_only(write);
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

	if (batch->docs) { /* prefetched */
		current = batch->docs;
		row = key_find(batch->doc_keys, (size_t)PQntuples(current), write->collection_id,
			write->id);
	} else {
		cairn__pg_param_text(&params, batch->database_id);
		cairn__pg_param_text(&params, write->collection_id);
		cairn__pg_param_text(&params, write->id);
		current = owned = cairn__pg_run(batch->conn, PST_DOC_GET, &params, &rc,
			"reading a document");
		if (!current)
			goto cleanup;
		row = PQntuples(current) > 0 ? 0 : -1;
	}
	exists = row >= 0;
	live = exists && cairn__pg_int(current, row, PDOC_DELETED) == 0;

	/* Permissions, against the row as it is now (under the database lock: no race). */
	rc = cairn__storage_guard_rejects(write, outcome, live, live ?
		PQgetvalue(current, row, PDOC_PERMISSIONS) : NULL);
	if (rc != 0) {
		rejected = rc > 0;
		rc = rc > 0 ? 0 : rc;
		goto cleanup;
	}

	/* The precondition, checked against the row as it is now (under the database lock). */
	if (write->expect == CAIRN_EXPECT_VERSION) {
		int64_t version = exists ? cairn__pg_int(current, row, PDOC_VERSION) : 0;
		int ok = version == write->base_version;

		if (!ok && exists && write->prev_mutation && write->prev_mutation[0] &&
			write->client_id && write->client_id[0] &&
			strcmp(PQgetvalue(current, row, PDOC_AUTHOR), write->client_id) == 0 &&
			strcmp(PQgetvalue(current, row, PDOC_LAST_MUTATION), write->prev_mutation) == 0)
			ok = 1;
		if (!ok) {
			cairn__storage_outcome_set(outcome, CAIRN_ECONFLICT, "document_update_conflict",
				"Document '%s' changed on the server: it is at version %lld, the write was "
				"based on version %lld.", write->id, (long long)version,
				(long long)write->base_version);
			if (exists) {
				cairn__storage_record_clear(record);
				rc = cairn__pg_record_from_row(record, current, row, batch->database_id, NULL);
			}
			goto cleanup;
		}
	} else if (write->expect == CAIRN_EXPECT_EXISTS && !live) {
		cairn__storage_outcome_set(outcome, CAIRN_ENOTFOUND, "document_not_found",
			"Document with the requested ID '%s' could not be found.", write->id);
		rejected = 1;
		goto cleanup;
	} else if (write->expect == CAIRN_EXPECT_UNMODIFIED_SINCE && live &&
		cairn__pg_int(current, row, PDOC_UPDATED) > write->unmodified_since) {
		cairn__storage_outcome_set(outcome, CAIRN_ECONFLICT, "document_update_conflict",
			"Remote document is newer than local.");
		cairn__storage_record_clear(record);
		rc = cairn__pg_record_from_row(record, current, row, batch->database_id, NULL);
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
		created_at = cairn__pg_int(current, row, PDOC_CREATED);
		sequence = cairn__pg_int(current, row, PDOC_SEQUENCE);
		if (!write->permissions) {
			kept_permissions = cairn__pg_dup(current, row, PDOC_PERMISSIONS);
			if (!kept_permissions) {
				rc = cairn__pg_oom();
				goto cleanup;
			}
		}
		if (increment) {
			/* An increment is not a content write: the document keeps the clock, author
			 * and last mutation of its last content write (as on SQLite). */
			kept_hlc = cairn__pg_int(current, row, PDOC_HLC);
			kept_author = cairn__pg_dup(current, row, PDOC_AUTHOR);
			kept_mutation = cairn__pg_dup(current, row, PDOC_LAST_MUTATION);
			if (!kept_author || !kept_mutation) {
				rc = cairn__pg_oom();
				goto cleanup;
			}
		}
		if (write->op == CAIRN_WRITE_PATCH || (write->op == CAIRN_WRITE_REPLACE &&
			write->data && json_object_object_get_ex(write->data, CAIRN_STORAGE_COUNTERS_KEY, NULL))) {
			rc = cairn__pg_json(&stored_data, current, row, PDOC_DATA);
			if (rc < 0)
				goto cleanup;
		}
	}

	if (text_only) {
		/* A put's plain text (storage.h data_text): stored as it came, no tree. */
		data_text = write->data_text;
		data_len = write->data_text_length;
	} else if (write->op != CAIRN_WRITE_DELETE) {
		data = cairn__storage_new_data(write, stored_data);
		if (!data) {
			rc = cairn__pg_oom();
			goto cleanup;
		}
		data_text = cairn__json_text(data, &data_len);
		if (!data_text) {
			rc = cairn__pg_oom();
			goto cleanup;
		}
	}
	if (data_text && data_len > PG_MAX_DOCUMENT_BYTES) {
		cairn__storage_outcome_set(outcome, CAIRN_ETOOBIG, "document_invalid_structure",
			"Invalid document structure: the document is %zu bytes, over the limit of "
			"%d bytes.", data_len, PG_MAX_DOCUMENT_BYTES);
		rejected = 1;
		goto cleanup;
	}
	permissions_text = write->permissions ? cairn__json_text(write->permissions, NULL) :
		kept_permissions ? kept_permissions : "[]";

	now = batch_clock_next(batch);
	if (fresh) {
		created_at = now;
		sequence = collection->next_sequence++;
		batch->inserted++;
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
	rc = batch_exec(batch, PST_DOC_UPSERT, &params, "writing a document");
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
	if (text_only) {
		record->data_text = write->data_text;
		record->data_text_length = write->data_text_length;
	}
	data = NULL;
	rc = write->mutation_id ? mutation_store(batch, write, outcome, data_text,
		permissions_text) : 0;
cleanup:
	PQclear(owned);
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

	batch->inserted = 0;
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
	rc = batch_prefetch(batch, writes, count);
	if (rc < 0)
		goto cleanup;
	for (size_t i = 0; i < count; i++) {
		rc = apply_write(batch, &writes[i], &outcomes[i]);
		if (rc < 0)
			goto cleanup;
	}
	rc = batch_write_rows(batch);
	if (rc < 0)
		goto cleanup;
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

/* Refreshes the planner's statistics once this process has inserted as many documents again
 * as at its last ANALYZE. A bulk push outgrows the statistics long before autovacuum looks
 * (it samples about once a minute); with a table that the statistics say is nearly empty,
 * the planner picks a secondary index and filters for the batch's document lookups and the
 * change feed, and each batch then reads every document of the database. One thread runs
 * it, after its commit, outside any transaction; a failure only loses the refresh. */
static void analyze_if_grown(pg_connection *conn, long long inserted)
{
	long long total = atomic_fetch_add(&inserted_total, inserted) + inserted;
	long long at = atomic_load(&analyze_at);

	if (inserted <= 0 || total < at ||
		!atomic_compare_exchange_strong(&analyze_at, &at, total * 2))
		return;
	cairn__pg_command(conn, "ANALYZE documents, mutations", "refreshing statistics");
	cairn__error_clear();
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
	if (rc == 0)
		analyze_if_grown(batch.conn, batch.inserted);
	cairn__pg_release(storage, batch.conn);
	if (rc < 0) {
		for (size_t i = 0; i < count; i++)
			cairn__storage_outcome_clear(&outcomes[i]);
	}
	return rc;
}
