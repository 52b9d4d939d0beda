/* storage_cases.h: the storage backend test cases every backend runs (included by
 * tests/server/storage_<backend>.c).
 *
 * The including file defines, before including this: DB and ITEMS (the database and
 * collection setup() creates), `backend`, the `fixture` type (with a `storage` member), its
 * setup/teardown, reopen(fixture *) (close and open the same storage again), and
 * STORAGE_CASE(name), the test function name for case `name`. STORAGE_CASES(setup, teardown)
 * then lists every case for the CMUnitTest array.
 */
#ifndef CAIRN_TESTS_SERVER_STORAGE_CASES_H
#define CAIRN_TESTS_SERVER_STORAGE_CASES_H

static json_object *json(const char *text)
{
	json_object *value = cairn__json_parse(text, (size_t)-1, 0);

	assert_non_null(value);
	return value;
}

/* One write of `op` to items/`id` with data text (may be NULL); returns the outcome. */
static cairn_storage_outcome write_one(fixture *f, cairn_storage_write write)
{
	cairn_storage_outcome outcome;

	assert_int_equal(backend->write(&outcome, f->storage, DB, &write, 1), 0);
	return outcome;
}

static cairn_storage_write make_write(cairn_write_op op, const char *id, json_object *data)
{
	cairn_storage_write write;

	memset(&write, 0, sizeof(write));
	write.op = op;
	write.collection_id = ITEMS;
	write.id = id;
	write.data = data;
	return write;
}

static int64_t field_int(json_object *object, const char *key)
{
	int64_t value = -1;

	assert_true(cairn__json_get_int64(object, key, &value));
	return value;
}

/* ---- collecting the change feed ---- */

typedef struct {
	size_t count;
	int64_t versions[8192];
	int64_t updated[8192];
	int deleted[8192];
	char ids[8192][40];
	size_t stop_after; /* 0 = never stop */
} feed;

static int collect(const cairn_storage_record *record, size_t approx_bytes, void *payload)
{
	feed *out = payload;

	assert_true(approx_bytes >= 200);
	assert_true(out->count < 8192);
	out->versions[out->count] = record->version;
	out->updated[out->count] = record->updated_at;
	out->deleted[out->count] = record->deleted;
	snprintf(out->ids[out->count], sizeof(out->ids[0]), "%s", record->id);
	assert_true(record->deleted ? record->data == NULL : record->data != NULL);
	out->count++;
	return out->stop_after && out->count >= out->stop_after ? 1 : 0;
}

static int changes(fixture *f, feed *out, int64_t since, const char *const *collections,
	size_t collection_count, size_t limit, int *more)
{
	return backend->changes(f->storage, DB, since, collections, collection_count, limit,
		collect, out, more);
}

/* ---- tests ---- */

static int collect_database_ids(const cairn_storage_database *database, void *payload)
{
	char *ids = payload;

	strcat(ids, database->id);
	strcat(ids, ",");
	return 0;
}

static void STORAGE_CASE(databases)(void **state)
{
	fixture *f = *state;
	cairn_storage_database database;
	char ids[256] = "";
	int64_t created;

	assert_int_equal(backend->database_create(&database, f->storage, DB, "again", 1),
		CAIRN_EEXISTS);
	assert_int_equal(backend->database_create(&database, f->storage, "-bad", "x", 1),
		CAIRN_EINVALID);
	assert_int_equal(backend->database_create(&database, f->storage, "alpha", "Alpha", 0), 0);
	assert_string_equal(database.id, "alpha");
	assert_string_equal(database.name, "Alpha");
	assert_int_equal(database.enabled, 0);
	assert_int_equal(database.last_sequence, 0);
	assert_int_equal(database.created_at, database.updated_at);
	created = database.created_at;
	cairn__storage_database_clear(&database);

	assert_int_equal(backend->database_get(&database, f->storage, DB), 0);
	assert_string_equal(database.name, "Main");
	assert_int_equal(database.enabled, 1);
	cairn__storage_database_clear(&database);

	assert_int_equal(backend->database_list(f->storage, collect_database_ids, ids), 0);
	assert_string_equal(ids, "alpha,main,");

	assert_int_equal(backend->database_update(&database, f->storage, "alpha", NULL, 1), 0);
	assert_string_equal(database.name, "Alpha");
	assert_int_equal(database.enabled, 1);
	assert_true(database.updated_at > created);
	assert_int_equal(database.created_at, created);
	cairn__storage_database_clear(&database);
	assert_int_equal(backend->database_update(&database, f->storage, "alpha", "Renamed", -1), 0);
	assert_string_equal(database.name, "Renamed");
	assert_int_equal(database.enabled, 1);
	cairn__storage_database_clear(&database);
	assert_int_equal(backend->database_update(&database, f->storage, "nope", "x", 1),
		CAIRN_ENOTFOUND);
	assert_non_null(strstr(cairn_error_last(), "'nope'"));

	assert_int_equal(backend->database_delete(f->storage, "alpha"), 0);
	assert_int_equal(backend->database_get(&database, f->storage, "alpha"), CAIRN_ENOTFOUND);
	assert_string_equal(cairn_error_last(),
		"Database with the requested ID 'alpha' could not be found.");
	assert_int_equal(backend->database_delete(f->storage, "alpha"), CAIRN_ENOTFOUND);
}

static int collect_collection_ids(const cairn_storage_collection *collection, void *payload)
{
	char *ids = payload;

	strcat(ids, collection->id);
	strcat(ids, ",");
	return 0;
}

static void STORAGE_CASE(collections)(void **state)
{
	fixture *f = *state;
	cairn_storage_collection collection;
	cairn_storage_record record;
	cairn_storage_outcome outcome;
	json_object *permissions = json("[\"read(\\\"any\\\")\"]");
	json_object *data = json("{\"a\":1}");
	char ids[256] = "";
	feed *seen = calloc(1, sizeof(*seen));

	assert_int_equal(backend->collection_create(&collection, f->storage, "nope", "c", "C",
		NULL, 0, 1), CAIRN_ENOTFOUND);
	assert_int_equal(backend->collection_create(&collection, f->storage, DB, ITEMS, "x",
		NULL, 0, 1), CAIRN_EEXISTS);
	assert_int_equal(backend->collection_create(&collection, f->storage, DB, "notes", "Notes",
		permissions, 1, 0), 0);
	assert_string_equal(collection.database_id, DB);
	assert_string_equal(collection.name, "Notes");
	assert_int_equal(collection.document_security, 1);
	assert_int_equal(collection.enabled, 0);
	assert_true(cairn__json_equal(collection.permissions, permissions));
	cairn__storage_collection_clear(&collection);

	assert_int_equal(backend->collection_list(f->storage, DB, collect_collection_ids, ids), 0);
	assert_string_equal(ids, "items,notes,");
	assert_int_equal(backend->collection_list(f->storage, "nope", collect_collection_ids, ids),
		CAIRN_ENOTFOUND);

	/* Update: NULL / -1 keep. */
	assert_int_equal(backend->collection_update(&collection, f->storage, DB, "notes", NULL,
		NULL, -1, 1), 0);
	assert_string_equal(collection.name, "Notes");
	assert_int_equal(collection.enabled, 1);
	assert_int_equal(collection.document_security, 1);
	assert_true(cairn__json_equal(collection.permissions, permissions));
	cairn__storage_collection_clear(&collection);
	assert_int_equal(backend->collection_update(&collection, f->storage, DB, "zzz", "n",
		NULL, -1, -1), CAIRN_ENOTFOUND);
	assert_string_equal(cairn_error_last(),
		"Collection with the requested ID 'zzz' could not be found.");
	assert_int_equal(backend->collection_get(&collection, f->storage, "nodb", ITEMS),
		CAIRN_ENOTFOUND);
	assert_non_null(strstr(cairn_error_last(), "Database"));

	/* Deleting a collection drops its documents (and their feed entries). */
	cairn_storage_write write = make_write(CAIRN_WRITE_CREATE, "d1", data);
	write.collection_id = "notes";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	cairn__storage_outcome_clear(&outcome);
	assert_int_equal(backend->collection_delete(f->storage, DB, "notes"), 0);
	assert_int_equal(backend->collection_delete(f->storage, DB, "notes"), CAIRN_ENOTFOUND);
	assert_int_equal(backend->collection_get(&collection, f->storage, DB, "notes"),
		CAIRN_ENOTFOUND);
	assert_int_equal(changes(f, seen, 0, NULL, 0, 100, NULL), 0);
	assert_int_equal(seen->count, 0);
	assert_int_equal(backend->collection_create(&collection, f->storage, DB, "notes", "Notes",
		NULL, 0, 1), 0);
	cairn__storage_collection_clear(&collection);
	assert_int_equal(backend->document_get(&record, f->storage, DB, "notes", "d1"),
		CAIRN_ENOTFOUND);

	json_object_put(permissions);
	json_object_put(data);
	free(seen);
}

static void STORAGE_CASE(settings)(void **state)
{
	fixture *f = *state;
	char *value = NULL;

	assert_int_equal(backend->setting_get(&value, f->storage, "api_key"), CAIRN_ENOTFOUND);
	assert_null(value);
	assert_int_equal(backend->setting_set(f->storage, "api_key", "one"), 0);
	assert_int_equal(backend->setting_set(f->storage, "api_key", "two"), 0);
	assert_int_equal(backend->setting_get(&value, f->storage, "api_key"), 0);
	assert_string_equal(value, "two");
	free(value);
}

static void STORAGE_CASE(create)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"title\":\"alpha\",\"n\":9007199254740993,\"$id\":\"x\"}");
	json_object *permissions = json("[\"read(\\\"any\\\")\"]");
	cairn_storage_outcome outcome, outcomes[1];
	cairn_storage_record record;
	cairn_storage_write write = make_write(CAIRN_WRITE_CREATE, "doca", data);

	write.permissions = permissions;
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.replayed, 0);
	assert_int_equal(outcome.record.version, 1);
	assert_int_equal(outcome.record.sequence, 1);
	assert_int_equal(outcome.record.deleted, 0);
	assert_int_equal(outcome.record.created_at, outcome.record.updated_at);
	assert_int_equal(outcome.record.hlc, outcome.record.updated_at << 16);
	assert_string_equal(outcome.record.author, "");
	assert_string_equal(outcome.record.last_mutation, "");
	assert_string_equal(outcome.record.collection_id, ITEMS);
	assert_string_equal(outcome.record.database_id, DB);
	assert_int_equal(field_int(outcome.record.data, "n"), 9007199254740993LL);
	assert_false(json_object_object_get_ex(outcome.record.data, "$id", NULL));
	cairn__storage_outcome_clear(&outcome);

	assert_int_equal(backend->document_get(&record, f->storage, DB, ITEMS, "doca"), 0);
	assert_int_equal(record.version, 1);
	assert_int_equal(field_int(record.data, "n"), 9007199254740993LL);
	assert_false(json_object_object_get_ex(record.data, "$id", NULL));
	assert_true(cairn__json_equal(record.permissions, permissions));
	cairn__storage_record_clear(&record);

	/* A live id: already exists. */
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_EEXISTS);
	assert_string_equal(outcome.error_type, "document_already_exists");
	cairn__storage_outcome_clear(&outcome);

	/* Unknown collection and invalid ids are rejected; an unknown database fails the call. */
	write.collection_id = "nope";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ENOTFOUND);
	assert_string_equal(outcome.error_type, "collection_not_found");
	assert_string_equal(outcome.error_message,
		"Collection with the requested ID 'nope' could not be found.");
	cairn__storage_outcome_clear(&outcome);
	write.collection_id = ITEMS;
	write.id = "_bad";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_EINVALID);
	assert_string_equal(outcome.error_type, "general_argument_invalid");
	cairn__storage_outcome_clear(&outcome);
	assert_int_equal(backend->write(outcomes, f->storage, "nodb", &write, 1), CAIRN_ENOTFOUND);
	assert_non_null(strstr(cairn_error_last(), "Database"));

	/* Documents over 1 MiB of JSON are rejected. */
	{
		char *big = malloc(1100 * 1000);
		json_object *huge = json_object_new_object();

		memset(big, 'x', 1100 * 1000 - 1);
		big[1100 * 1000 - 1] = '\0';
		json_object_object_add(huge, "blob", json_object_new_string(big));
		write = make_write(CAIRN_WRITE_CREATE, "huge", huge);
		outcome = write_one(f, write);
		assert_int_equal(outcome.status, CAIRN_ETOOBIG);
		assert_string_equal(outcome.error_type, "document_invalid_structure");
		cairn__storage_outcome_clear(&outcome);
		json_object_put(huge);
		free(big);
	}

	/* Nothing but the first create consumed a version. */
	cairn_storage_database database;
	assert_int_equal(backend->database_get(&database, f->storage, DB), 0);
	assert_int_equal(database.last_sequence, 1);
	cairn__storage_database_clear(&database);

	json_object_put(data);
	json_object_put(permissions);
}

static void STORAGE_CASE(replace_patch_delete)(void **state)
{
	fixture *f = *state;
	json_object *first = json("{\"a\":1,\"b\":2}");
	json_object *second = json("{\"c\":3}");
	json_object *patch = json("{\"b\":20,\"d\":null}");
	json_object *permissions = json("[\"read(\\\"users\\\")\"]");
	json_object *expected;
	cairn_storage_outcome outcome;
	cairn_storage_record record;
	cairn_storage_write write = make_write(CAIRN_WRITE_REPLACE, "doc", first);
	int64_t created, sequence;

	/* Replace creates a missing document. */
	write.permissions = permissions;
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.record.version, 1);
	created = outcome.record.created_at;
	sequence = outcome.record.sequence;
	cairn__storage_outcome_clear(&outcome);

	/* Replace with NULL permissions keeps them, and keeps created_at and $sequence. */
	write = make_write(CAIRN_WRITE_REPLACE, "doc", second);
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.record.version, 2);
	assert_int_equal(outcome.record.created_at, created);
	assert_int_equal(outcome.record.sequence, sequence);
	assert_true(outcome.record.updated_at > created);
	assert_true(cairn__json_equal(outcome.record.data, second));
	assert_true(cairn__json_equal(outcome.record.permissions, permissions));
	cairn__storage_outcome_clear(&outcome);

	/* Patch merges top-level fields. */
	write = make_write(CAIRN_WRITE_PATCH, "doc", patch);
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	expected = json("{\"c\":3,\"b\":20,\"d\":null}");
	assert_true(cairn__json_equal(outcome.record.data, expected));
	json_object_put(expected);
	assert_true(cairn__json_equal(outcome.record.permissions, permissions));
	cairn__storage_outcome_clear(&outcome);
	write.id = "missing";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ENOTFOUND);
	assert_string_equal(outcome.error_type, "document_not_found");
	cairn__storage_outcome_clear(&outcome);

	/* Delete leaves a tombstone with a new version. */
	write = make_write(CAIRN_WRITE_DELETE, "doc", NULL);
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.record.version, 4);
	assert_int_equal(outcome.record.deleted, 1);
	assert_null(outcome.record.data);
	assert_int_equal(outcome.record.sequence, sequence);
	cairn__storage_outcome_clear(&outcome);
	assert_int_equal(backend->document_get(&record, f->storage, DB, ITEMS, "doc"),
		CAIRN_ENOTFOUND);
	assert_string_equal(cairn_error_last(),
		"Document with the requested ID 'doc' could not be found.");
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ENOTFOUND);
	cairn__storage_outcome_clear(&outcome);
	write = make_write(CAIRN_WRITE_PATCH, "doc", patch);
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ENOTFOUND);
	cairn__storage_outcome_clear(&outcome);

	/* Create over a tombstone: a new document with a new created_at and $sequence. */
	write = make_write(CAIRN_WRITE_CREATE, "doc", first);
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.record.version, 5);
	assert_int_equal(outcome.record.deleted, 0);
	assert_true(outcome.record.created_at > created);
	assert_true(outcome.record.sequence > sequence);
	assert_int_equal(json_object_array_length(outcome.record.permissions), 0);
	cairn__storage_outcome_clear(&outcome);

	json_object_put(first);
	json_object_put(second);
	json_object_put(patch);
	json_object_put(permissions);
}

static void STORAGE_CASE(expect_version)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"v\":1}");
	cairn_storage_outcome outcome;
	cairn_storage_write write = make_write(CAIRN_WRITE_REPLACE, "doc", data);

	write.expect = CAIRN_EXPECT_VERSION;
	write.client_id = "clientA";
	write.hlc = 12345;

	/* Never existed: base 0 applies; a non-zero base conflicts with an empty tombstone. */
	write.base_version = 3;
	write.mutation_id = "a0";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ECONFLICT);
	assert_int_equal(outcome.record.version, 0);
	assert_int_equal(outcome.record.deleted, 1);
	assert_null(outcome.record.data);
	cairn__storage_outcome_clear(&outcome);

	write.base_version = 0;
	write.mutation_id = "a1";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.record.version, 1);
	assert_int_equal(outcome.record.hlc, 12345);
	assert_string_equal(outcome.record.author, "clientA");
	assert_string_equal(outcome.record.last_mutation, "a1");
	cairn__storage_outcome_clear(&outcome);

	/* A chain: the next offline edit still has base 0 but names a1 as its predecessor. */
	write.mutation_id = "a2";
	write.prev_mutation = "a1";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.record.version, 2);
	cairn__storage_outcome_clear(&outcome);

	/* Another client naming a2 does not pass: the author must match. */
	write.client_id = "clientB";
	write.mutation_id = "b1";
	write.prev_mutation = "a2";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ECONFLICT);
	assert_int_equal(outcome.record.version, 2);
	assert_int_equal(outcome.record.deleted, 0);
	assert_string_equal(outcome.record.author, "clientA");
	assert_int_equal(field_int(outcome.record.data, "v"), 1);
	cairn__storage_outcome_clear(&outcome);

	/* A stale predecessor conflicts too. */
	write.client_id = "clientA";
	write.mutation_id = "a3";
	write.prev_mutation = "a1";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ECONFLICT);
	cairn__storage_outcome_clear(&outcome);

	/* Conflicts are not stored: the same mutation id with the right base applies. */
	write.client_id = "clientB";
	write.mutation_id = "b1";
	write.prev_mutation = NULL;
	write.base_version = 2;
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.replayed, 0);
	assert_int_equal(outcome.record.version, 3);
	cairn__storage_outcome_clear(&outcome);

	/* Tombstones have versions too: a delete at base 3, then a put at base 4. */
	write = make_write(CAIRN_WRITE_DELETE, "doc", NULL);
	write.expect = CAIRN_EXPECT_VERSION;
	write.base_version = 3;
	write.client_id = "clientB";
	write.mutation_id = "b2";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.record.version, 4);
	cairn__storage_outcome_clear(&outcome);
	write = make_write(CAIRN_WRITE_REPLACE, "doc", data);
	write.expect = CAIRN_EXPECT_VERSION;
	write.base_version = 0;
	write.client_id = "clientA";
	write.mutation_id = "a4";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ECONFLICT);
	assert_int_equal(outcome.record.version, 4);
	assert_int_equal(outcome.record.deleted, 1);
	cairn__storage_outcome_clear(&outcome);
	write.base_version = 4;
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.record.version, 5);
	cairn__storage_outcome_clear(&outcome);

	json_object_put(data);
}

static void STORAGE_CASE(expect_exists_and_since)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"v\":1}");
	cairn_storage_outcome outcome;
	cairn_storage_write write = make_write(CAIRN_WRITE_REPLACE, "doc", data);
	int64_t updated;

	write.expect = CAIRN_EXPECT_EXISTS;
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ENOTFOUND);
	assert_string_equal(outcome.error_type, "document_not_found");
	cairn__storage_outcome_clear(&outcome);

	write.expect = CAIRN_EXPECT_NONE;
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	cairn__storage_outcome_clear(&outcome);

	write.expect = CAIRN_EXPECT_EXISTS;
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	updated = outcome.record.updated_at;
	cairn__storage_outcome_clear(&outcome);

	write.expect = CAIRN_EXPECT_UNMODIFIED_SINCE;
	write.unmodified_since = updated - 1;
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, CAIRN_ECONFLICT);
	assert_string_equal(outcome.error_type, "document_update_conflict");
	assert_int_equal(outcome.record.updated_at, updated);
	assert_int_equal(outcome.record.version, 2);
	cairn__storage_outcome_clear(&outcome);
	write.unmodified_since = updated;
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	assert_int_equal(outcome.record.version, 3);
	cairn__storage_outcome_clear(&outcome);

	json_object_put(data);
}

static void STORAGE_CASE(replay)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"v\":1}");
	cairn_storage_outcome outcomes[3], again[3];
	cairn_storage_write writes[3];
	cairn_storage_database database;
	feed *seen = calloc(1, sizeof(*seen));

	writes[0] = make_write(CAIRN_WRITE_REPLACE, "d1", data);
	writes[1] = make_write(CAIRN_WRITE_PATCH, "missing", data);
	writes[2] = make_write(CAIRN_WRITE_REPLACE, "d2", data);
	for (int i = 0; i < 3; i++) {
		writes[i].expect = CAIRN_EXPECT_VERSION;
		writes[i].client_id = "client";
	}
	writes[0].mutation_id = "m1";
	writes[1].mutation_id = "m2";
	writes[2].mutation_id = "m3";
	assert_int_equal(backend->write(outcomes, f->storage, DB, writes, 3), 0);
	assert_int_equal(outcomes[0].status, 0);
	assert_int_equal(outcomes[1].status, CAIRN_ENOTFOUND); /* rejected, does not stop m3 */
	assert_int_equal(outcomes[2].status, 0);
	assert_int_equal(outcomes[0].record.version, 1);
	assert_int_equal(outcomes[2].record.version, 2);

	/* The same batch again: stored outcomes, same versions, nothing written. */
	assert_int_equal(backend->write(again, f->storage, DB, writes, 3), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(again[i].replayed, 1);
		assert_int_equal(again[i].status, outcomes[i].status);
		assert_string_equal(again[i].error_type, outcomes[i].error_type);
		assert_string_equal(again[i].error_message, outcomes[i].error_message);
	}
	for (int i = 0; i < 3; i += 2) {
		assert_int_equal(again[i].record.version, outcomes[i].record.version);
		assert_int_equal(again[i].record.updated_at, outcomes[i].record.updated_at);
		assert_int_equal(again[i].record.created_at, outcomes[i].record.created_at);
		assert_int_equal(again[i].record.sequence, outcomes[i].record.sequence);
		assert_int_equal(again[i].record.hlc, outcomes[i].record.hlc);
		assert_string_equal(again[i].record.id, outcomes[i].record.id);
		assert_string_equal(again[i].record.author, "client");
		assert_true(cairn__json_equal(again[i].record.data, outcomes[i].record.data));
	}
	assert_string_equal(again[1].error_type, "document_not_found");
	assert_int_equal(backend->database_get(&database, f->storage, DB), 0);
	assert_int_equal(database.last_sequence, 2);
	cairn__storage_database_clear(&database);
	assert_int_equal(changes(f, seen, 0, NULL, 0, 100, NULL), 0);
	assert_int_equal(seen->count, 2);

	/* Another client may use the same mutation id: outcomes are per client. */
	writes[0].client_id = "other";
	writes[0].base_version = 1;
	cairn__storage_outcome_clear(&again[0]);
	assert_int_equal(backend->write(again, f->storage, DB, writes, 1), 0);
	assert_int_equal(again[0].replayed, 0);
	assert_int_equal(again[0].record.version, 3);

	for (int i = 0; i < 3; i++) {
		cairn__storage_outcome_clear(&outcomes[i]);
		cairn__storage_outcome_clear(&again[i]);
	}
	json_object_put(data);
	free(seen);
}

static void STORAGE_CASE(batch_keeps_going)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"v\":1}");
	cairn_storage_outcome outcomes[4];
	cairn_storage_write writes[4];

	writes[0] = make_write(CAIRN_WRITE_CREATE, "a", data);
	writes[1] = make_write(CAIRN_WRITE_CREATE, "a", data);   /* exists */
	writes[2] = make_write(CAIRN_WRITE_REPLACE, "b", data);
	writes[2].expect = CAIRN_EXPECT_VERSION;
	writes[2].base_version = 7;                               /* conflict */
	writes[3] = make_write(CAIRN_WRITE_CREATE, "c", data);
	assert_int_equal(backend->write(outcomes, f->storage, DB, writes, 4), 0);
	assert_int_equal(outcomes[0].status, 0);
	assert_int_equal(outcomes[1].status, CAIRN_EEXISTS);
	assert_int_equal(outcomes[2].status, CAIRN_ECONFLICT);
	assert_int_equal(outcomes[3].status, 0);
	assert_int_equal(outcomes[0].record.version, 1);
	assert_int_equal(outcomes[3].record.version, 2);
	assert_int_equal(outcomes[0].record.sequence, 1);
	assert_int_equal(outcomes[3].record.sequence, 2);
	assert_true(outcomes[3].record.updated_at > outcomes[0].record.updated_at);
	for (int i = 0; i < 4; i++)
		cairn__storage_outcome_clear(&outcomes[i]);
	json_object_put(data);
}

static void STORAGE_CASE(changes)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"v\":1}");
	cairn_storage_collection collection;
	cairn_storage_outcome outcome;
	cairn_storage_write write;
	feed *seen = calloc(1, sizeof(*seen));
	const char *only_notes[] = { "notes" };
	const char *both[] = { "notes", ITEMS };
	int more = -1;
	char id[16];

	assert_int_equal(backend->collection_create(&collection, f->storage, DB, "notes", "Notes",
		NULL, 0, 1), 0);
	cairn__storage_collection_clear(&collection);
	/* versions 1..10: items i0..i4 and notes n0..n4, alternating */
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "i%d", i);
		outcome = write_one(f, make_write(CAIRN_WRITE_CREATE, id, data));
		cairn__storage_outcome_clear(&outcome);
		snprintf(id, sizeof(id), "n%d", i);
		write = make_write(CAIRN_WRITE_CREATE, id, data);
		write.collection_id = "notes";
		outcome = write_one(f, write);
		cairn__storage_outcome_clear(&outcome);
	}
	/* version 11: i0 becomes a tombstone and leaves its old place in the feed */
	outcome = write_one(f, make_write(CAIRN_WRITE_DELETE, "i0", NULL));
	assert_int_equal(outcome.record.version, 11);
	cairn__storage_outcome_clear(&outcome);

	assert_int_equal(changes(f, seen, 0, NULL, 0, 100, &more), 0);
	assert_int_equal(seen->count, 10);
	assert_int_equal(more, 0);
	assert_int_equal(seen->versions[0], 2);
	assert_string_equal(seen->ids[9], "i0");
	assert_int_equal(seen->versions[9], 11);
	assert_int_equal(seen->deleted[9], 1);

	/* Paging: 4 per page from checkpoint 0, then from the page's last version. */
	memset(seen, 0, sizeof(*seen));
	assert_int_equal(changes(f, seen, 0, NULL, 0, 4, &more), 0);
	assert_int_equal(seen->count, 4);
	assert_int_equal(more, 1);
	assert_int_equal(seen->versions[3], 5);
	memset(seen, 0, sizeof(*seen));
	assert_int_equal(changes(f, seen, 5, NULL, 0, 4, &more), 0);
	assert_int_equal(seen->count, 4);
	assert_int_equal(seen->versions[0], 6);
	assert_int_equal(more, 1);
	memset(seen, 0, sizeof(*seen));
	assert_int_equal(changes(f, seen, 9, NULL, 0, 4, &more), 0);
	assert_int_equal(seen->count, 2);
	assert_int_equal(more, 0);
	memset(seen, 0, sizeof(*seen));
	assert_int_equal(changes(f, seen, 11, NULL, 0, 4, &more), 0);
	assert_int_equal(seen->count, 0);
	assert_int_equal(more, 0);

	/* Exactly `limit` remaining: no more. */
	memset(seen, 0, sizeof(*seen));
	assert_int_equal(changes(f, seen, 9, NULL, 0, 2, &more), 0);
	assert_int_equal(seen->count, 2);
	assert_int_equal(more, 0);

	/* Collection filter. */
	memset(seen, 0, sizeof(*seen));
	assert_int_equal(changes(f, seen, 0, only_notes, 1, 3, &more), 0);
	assert_int_equal(seen->count, 3);
	assert_int_equal(more, 1);
	assert_string_equal(seen->ids[0], "n0");
	assert_int_equal(seen->versions[0], 2);
	assert_string_equal(seen->ids[2], "n2");
	memset(seen, 0, sizeof(*seen));
	assert_int_equal(changes(f, seen, 6, only_notes, 1, 100, &more), 0);
	assert_int_equal(seen->count, 2);
	assert_int_equal(more, 0);
	assert_string_equal(seen->ids[0], "n3");
	memset(seen, 0, sizeof(*seen));
	assert_int_equal(changes(f, seen, 0, both, 2, 100, &more), 0);
	assert_int_equal(seen->count, 10);

	/* The callback stops the page early (byte budget): more is set. */
	memset(seen, 0, sizeof(*seen));
	seen->stop_after = 2;
	assert_int_not_equal(changes(f, seen, 0, NULL, 0, 100, &more), 0);
	assert_int_equal(seen->count, 2);
	assert_int_equal(more, 1);

	assert_int_equal(backend->changes(f->storage, "nodb", 0, NULL, 0, 10, collect, seen,
		&more), CAIRN_ENOTFOUND);

	json_object_put(data);
	free(seen);
}

/* ---- the feed as stored text (changes_text) ---- */

typedef struct {
	size_t count;
	char ids[8][16];
	char texts[8][256]; /* data_text, "" for a tombstone */
	int parsed[8];      /* whether `data` was built */
} text_feed;

static int collect_text(const cairn_storage_record *record, size_t approx_bytes, void *payload)
{
	text_feed *out = payload;

	(void)approx_bytes;
	assert_true(out->count < 8);
	snprintf(out->ids[out->count], sizeof(out->ids[0]), "%s", record->id);
	if (record->data_text) {
		assert_true(record->data_text_length < sizeof(out->texts[0]));
		memcpy(out->texts[out->count], record->data_text, record->data_text_length);
		out->texts[out->count][record->data_text_length] = '\0';
	}
	out->parsed[out->count] = record->data != NULL;
	/* Whenever both are there, the text is what printing the fields gives. */
	if (record->data && record->data_text)
		assert_string_equal(out->texts[out->count], cairn__json_text(record->data, NULL));
	assert_true(record->deleted || record->permissions != NULL);
	out->count++;
	return 0;
}

/* changes_text hands on each live document's stored text, unparsed, and the same feed. */
static void STORAGE_CASE(changes_text)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"t\":\"quote \\\" back \\\\ \u00e9 \u2713\","
		"\"n\":9007199254740993,\"d\":1.5,\"nested\":{\"x\":[1,{\"y\":null}]}}");
	cairn_storage_outcome outcome;
	text_feed *parsed = calloc(1, sizeof(*parsed));
	text_feed *text = calloc(1, sizeof(*text));
	const char *printed = cairn__json_text(data, NULL);
	int more = -1;

	assert_non_null(parsed);
	assert_non_null(text);
	assert_non_null(backend->changes_text);
	outcome = write_one(f, make_write(CAIRN_WRITE_CREATE, "a", data));
	cairn__storage_outcome_clear(&outcome);
	outcome = write_one(f, make_write(CAIRN_WRITE_CREATE, "b", data));
	cairn__storage_outcome_clear(&outcome);
	outcome = write_one(f, make_write(CAIRN_WRITE_DELETE, "b", NULL));
	cairn__storage_outcome_clear(&outcome);

	assert_int_equal(backend->changes(f->storage, DB, 0, NULL, 0, 10, collect_text, parsed,
		NULL), 0);
	assert_int_equal(backend->changes_text(f->storage, DB, 0, NULL, 0, 10, collect_text, text,
		&more), 0);
	assert_int_equal(more, 0);
	assert_int_equal(text->count, 2);
	assert_int_equal(parsed->count, 2);
	assert_string_equal(text->ids[0], "a");
	assert_string_equal(text->ids[1], "b");
	assert_int_equal(parsed->parsed[0], 1);
	assert_int_equal(text->parsed[0], 0);
	assert_int_equal(text->parsed[1], 0);
	assert_string_equal(text->texts[0], printed);
	assert_string_equal(parsed->texts[0], printed);
	assert_string_equal(text->texts[1], "");
	/* A page of one: the same paging as `changes`. */
	memset(text, 0, sizeof(*text));
	assert_int_equal(backend->changes_text(f->storage, DB, 0, NULL, 0, 1, collect_text, text,
		&more), 0);
	assert_int_equal(text->count, 1);
	assert_int_equal(more, 1);
	json_object_put(data);
	free(parsed);
	free(text);
}

static int scan_collect(const cairn_storage_record *record, size_t approx_bytes, void *payload)
{
	feed *out = payload;

	(void)approx_bytes;
	snprintf(out->ids[out->count], sizeof(out->ids[0]), "%s", record->id);
	out->versions[out->count] = record->sequence;
	out->count++;
	return out->stop_after && out->count >= out->stop_after ? 42 : 0;
}

static void STORAGE_CASE(scan)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"v\":1}");
	const char *ids[] = { "zeta", "alpha", "mid", "gone" };
	cairn_storage_outcome outcome;
	feed *seen = calloc(1, sizeof(*seen));

	for (int i = 0; i < 4; i++) {
		outcome = write_one(f, make_write(CAIRN_WRITE_CREATE, ids[i], data));
		cairn__storage_outcome_clear(&outcome);
	}
	outcome = write_one(f, make_write(CAIRN_WRITE_DELETE, "gone", NULL));
	cairn__storage_outcome_clear(&outcome);
	outcome = write_one(f, make_write(CAIRN_WRITE_PATCH, "zeta", data));
	cairn__storage_outcome_clear(&outcome);

	assert_int_equal(backend->document_scan(f->storage, DB, ITEMS, scan_collect, seen), 0);
	assert_int_equal(seen->count, 3);
	assert_string_equal(seen->ids[0], "zeta"); /* $sequence order, not id or version */
	assert_string_equal(seen->ids[1], "alpha");
	assert_string_equal(seen->ids[2], "mid");
	assert_int_equal(seen->versions[0], 1);
	assert_int_equal(seen->versions[2], 3);

	memset(seen, 0, sizeof(*seen));
	seen->stop_after = 1;
	assert_int_equal(backend->document_scan(f->storage, DB, ITEMS, scan_collect, seen), 42);
	assert_int_equal(seen->count, 1);
	assert_int_equal(backend->document_scan(f->storage, DB, "nope", scan_collect, seen),
		CAIRN_ENOTFOUND);

	json_object_put(data);
	free(seen);
}

static void STORAGE_CASE(strictly_increasing)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"v\":1}");
	cairn_storage_outcome outcomes[50];
	cairn_storage_write writes[50];
	feed *seen = calloc(1, sizeof(*seen));
	char ids[50][8];

	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 50; i++) {
			snprintf(ids[i], sizeof(ids[i]), "d%d", (i * 7 + round) % 60);
			writes[i] = make_write(CAIRN_WRITE_REPLACE, ids[i], data);
		}
		assert_int_equal(backend->write(outcomes, f->storage, DB, writes, 50), 0);
		for (int i = 0; i < 50; i++) {
			assert_int_equal(outcomes[i].status, 0);
			assert_int_equal(outcomes[i].record.version, round * 50 + i + 1);
			if (i > 0)
				assert_true(outcomes[i].record.updated_at >
					outcomes[i - 1].record.updated_at);
			cairn__storage_outcome_clear(&outcomes[i]);
		}
	}
	assert_int_equal(changes(f, seen, 0, NULL, 0, 1000, NULL), 0);
	assert_true(seen->count > 0);
	for (size_t i = 1; i < seen->count; i++) {
		assert_true(seen->versions[i] > seen->versions[i - 1]);
		assert_true(seen->updated[i] > seen->updated[i - 1]);
	}
	json_object_put(data);
	free(seen);
}

static void STORAGE_CASE(reopen)(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"title\":\"kept\"}");
	cairn_storage_outcome outcome;
	cairn_storage_record record;
	cairn_storage_collection collection;
	cairn_storage_write write = make_write(CAIRN_WRITE_CREATE, "doc", data);
	int64_t updated;
	char *value = NULL;

	write.client_id = "client";
	write.mutation_id = "m1";
	outcome = write_one(f, write);
	assert_int_equal(outcome.status, 0);
	updated = outcome.record.updated_at;
	cairn__storage_outcome_clear(&outcome);
	outcome = write_one(f, make_write(CAIRN_WRITE_DELETE, "doc", NULL));
	cairn__storage_outcome_clear(&outcome);
	outcome = write_one(f, make_write(CAIRN_WRITE_CREATE, "other", data));
	updated = outcome.record.updated_at;
	cairn__storage_outcome_clear(&outcome);
	assert_int_equal(backend->setting_set(f->storage, "api_key", "secret"), 0);

	reopen(f);

	assert_int_equal(backend->setting_get(&value, f->storage, "api_key"), 0);
	assert_string_equal(value, "secret");
	free(value);
	assert_int_equal(backend->collection_get(&collection, f->storage, DB, ITEMS), 0);
	cairn__storage_collection_clear(&collection);
	assert_int_equal(backend->document_get(&record, f->storage, DB, ITEMS, "other"), 0);
	assert_int_equal(record.version, 3);
	assert_string_equal(json_object_get_string(json_object_object_get(record.data, "title")),
		"kept");
	cairn__storage_record_clear(&record);
	assert_int_equal(backend->document_get(&record, f->storage, DB, ITEMS, "doc"),
		CAIRN_ENOTFOUND);

	/* The stored outcome survives; versions, $sequence and the clock carry on. */
	outcome = write_one(f, write);
	assert_int_equal(outcome.replayed, 1);
	assert_int_equal(outcome.record.version, 1);
	cairn__storage_outcome_clear(&outcome);
	outcome = write_one(f, make_write(CAIRN_WRITE_CREATE, "third", data));
	assert_int_equal(outcome.record.version, 4);
	assert_int_equal(outcome.record.sequence, 3);
	assert_true(outcome.record.updated_at > updated);
	cairn__storage_outcome_clear(&outcome);
	json_object_put(data);
}

/* ---- concurrency ---- */

#define THREADS 4
#define BATCHES 40
#define BATCH_SIZE 25

typedef struct {
	fixture *f;
	int index;
	int failures;
} worker;

static void *writer_thread(void *arg)
{
	worker *self = arg;
	json_object *data = json_object_new_object();
	cairn_storage_write writes[BATCH_SIZE];
	cairn_storage_outcome outcomes[BATCH_SIZE];
	char ids[BATCH_SIZE][24];

	json_object_object_add(data, "thread", json_object_new_int(self->index));
	for (int b = 0; b < BATCHES; b++) {
		for (int i = 0; i < BATCH_SIZE; i++) {
			snprintf(ids[i], sizeof(ids[i]), "t%d-%d", self->index, b * BATCH_SIZE + i);
			memset(&writes[i], 0, sizeof(writes[i]));
			writes[i].op = CAIRN_WRITE_CREATE;
			writes[i].collection_id = ITEMS;
			writes[i].id = ids[i];
			writes[i].data = data;
		}
		if (backend->write(outcomes, self->f->storage, DB, writes, BATCH_SIZE) != 0) {
			self->failures++;
			continue;
		}
		for (int i = 0; i < BATCH_SIZE; i++) {
			if (outcomes[i].status != 0)
				self->failures++;
			cairn__storage_outcome_clear(&outcomes[i]);
		}
	}
	json_object_put(data);
	return NULL;
}

static int count_each(const cairn_storage_record *record, size_t approx_bytes, void *payload)
{
	(void)record; (void)approx_bytes;
	(*(size_t *)payload)++;
	return 0;
}

static void *reader_thread(void *arg)
{
	worker *self = arg;

	for (int i = 0; i < 50; i++) {
		size_t count = 0;
		int more = 0;

		if (backend->changes(self->f->storage, DB, 0, NULL, 0, 100000, count_each, &count,
			&more) != 0)
			self->failures++;
	}
	return NULL;
}

static void STORAGE_CASE(concurrent_writers)(void **state)
{
	fixture *f = *state;
	pthread_t threads[THREADS + 1];
	worker workers[THREADS + 1];
	feed *seen = calloc(1, sizeof(*seen));
	int more = 0;

	for (int i = 0; i <= THREADS; i++) {
		workers[i] = (worker){ .f = f, .index = i };
		assert_int_equal(pthread_create(&threads[i], NULL,
			i < THREADS ? writer_thread : reader_thread, &workers[i]), 0);
	}
	for (int i = 0; i <= THREADS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(workers[i].failures, 0);
	}
	assert_int_equal(changes(f, seen, 0, NULL, 0, 8192, &more), 0);
	assert_int_equal(more, 0);
	assert_int_equal(seen->count, THREADS * BATCHES * BATCH_SIZE);
	for (size_t i = 0; i < seen->count; i++) {
		assert_int_equal(seen->versions[i], (int64_t)i + 1); /* gap-free and distinct */
		if (i > 0)
			assert_true(seen->updated[i] > seen->updated[i - 1]);
	}
	free(seen);
}

/* A batch of one client's writes to distinct documents (PostgreSQL reads it at once and
 * writes it set-based): odd text survives, an id in two collections stays two documents,
 * preconditions see the rows as they are, a replay returns every stored outcome, and a
 * batch from two clients or naming one document twice still sees its own earlier writes. */
static void STORAGE_CASE(batch_prefetch)(void **state)
{
	fixture *f = *state;
	json_object *odd = json("{\"q\":\"a \\\"quoted\\\" {x,y} \\\\ back\\\\slash\",\"n\":\"NULL\","
		"\"u\":\"\\u00e9\\u4e2d\",\"e\":\"\",\"arr\":[\"{\",\"}\",\",\"]}");
	json_object *perms = json("[\"read(\\\"any\\\")\"]");
	json_object *one = json("{\"v\":1}");
	cairn_storage_collection collection;
	cairn_storage_outcome outcomes[6], again[6];
	cairn_storage_write writes[6];
	cairn_storage_record record;

	assert_int_equal(backend->collection_create(&collection, f->storage, DB, "notes", "Notes",
		NULL, 0, 1), 0);
	cairn__storage_collection_clear(&collection);
	outcomes[0] = write_one(f, make_write(CAIRN_WRITE_CREATE, "x", one));
	assert_int_equal(outcomes[0].status, 0);
	cairn__storage_outcome_clear(&outcomes[0]);

	writes[0] = make_write(CAIRN_WRITE_REPLACE, "NULL", odd);
	writes[0].permissions = perms;
	writes[1] = make_write(CAIRN_WRITE_REPLACE, "bad\"id\\{,}", one); /* invalid id */
	writes[2] = make_write(CAIRN_WRITE_CREATE, "x", one);              /* exists in items */
	writes[3] = make_write(CAIRN_WRITE_CREATE, "x", odd);              /* not in notes */
	writes[3].collection_id = "notes";
	writes[4] = make_write(CAIRN_WRITE_REPLACE, "y", one);
	writes[4].expect = CAIRN_EXPECT_VERSION;
	writes[4].base_version = 3;                                        /* conflict */
	writes[5] = make_write(CAIRN_WRITE_DELETE, "x", NULL);             /* items/x */
	writes[5].collection_id = "missing";                               /* no collection */
	for (int i = 0; i < 6; i++) {
		static const char *const ids[] = { "m1", "m\"2\\", "m3", "m4", "m5", "m6" };

		writes[i].client_id = "c1";
		writes[i].mutation_id = ids[i];
	}
	assert_int_equal(backend->write(outcomes, f->storage, DB, writes, 6), 0);
	assert_int_equal(outcomes[0].status, 0);
	assert_int_equal(outcomes[1].status, CAIRN_EINVALID);
	assert_int_equal(outcomes[2].status, CAIRN_EEXISTS);
	assert_int_equal(outcomes[3].status, 0);
	assert_int_equal(outcomes[4].status, CAIRN_ECONFLICT);
	assert_int_equal(outcomes[4].record.version, 0);
	assert_string_equal(outcomes[5].error_type, "collection_not_found");
	assert_int_equal(outcomes[0].record.version, 2);
	assert_int_equal(outcomes[3].record.version, 3);
	assert_int_equal(outcomes[3].record.sequence, 1); /* the first document of notes */

	assert_int_equal(backend->document_get(&record, f->storage, DB, ITEMS, "NULL"), 0);
	assert_true(cairn__json_equal(record.data, odd));
	assert_true(cairn__json_equal(record.permissions, perms));
	assert_string_equal(record.author, "c1");
	assert_string_equal(record.last_mutation, "m1");
	cairn__storage_record_clear(&record);
	assert_int_equal(backend->document_get(&record, f->storage, DB, "notes", "x"), 0);
	assert_true(cairn__json_equal(record.data, odd));
	cairn__storage_record_clear(&record);
	assert_int_equal(backend->document_get(&record, f->storage, DB, ITEMS, "x"), 0);
	assert_int_equal(record.version, 1); /* untouched */
	cairn__storage_record_clear(&record);

	/* The same batch again: every outcome replayed but the conflict (not stored: checked
	 * again), nothing written. */
	assert_int_equal(backend->write(again, f->storage, DB, writes, 6), 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(again[i].replayed, i != 4);
		assert_int_equal(again[i].status, outcomes[i].status);
		assert_string_equal(again[i].error_type, outcomes[i].error_type);
		assert_int_equal(again[i].record.version, outcomes[i].record.version);
		cairn__storage_outcome_clear(&again[i]);
	}

	/* Two clients in one batch, and one document twice: each write sees the one before. */
	writes[0] = make_write(CAIRN_WRITE_PATCH, "NULL", one);
	writes[0].expect = CAIRN_EXPECT_VERSION;
	writes[0].base_version = 2;
	writes[0].client_id = "c1";
	writes[0].mutation_id = "m7";
	writes[1] = make_write(CAIRN_WRITE_PATCH, "NULL", one);
	writes[1].expect = CAIRN_EXPECT_VERSION;
	writes[1].base_version = 2;               /* stale, but chained on m7 */
	writes[1].prev_mutation = "m7";
	writes[1].client_id = "c1";
	writes[1].mutation_id = "m8";
	writes[2] = make_write(CAIRN_WRITE_DELETE, "y", NULL);
	writes[2].client_id = "c2";
	writes[2].mutation_id = "m1";             /* c2's own m1, not c1's */
	assert_int_equal(backend->write(again, f->storage, DB, writes, 3), 0);
	assert_int_equal(again[0].status, 0);
	assert_int_equal(again[1].status, 0);
	assert_int_equal(again[1].record.version, 5);
	assert_int_equal(again[2].replayed, 0);
	assert_int_equal(again[2].status, CAIRN_ENOTFOUND);
	for (int i = 0; i < 3; i++)
		cairn__storage_outcome_clear(&again[i]);

	/* One client, distinct documents, a delete and a stale write in a batch. */
	writes[0] = make_write(CAIRN_WRITE_DELETE, "NULL", NULL);
	writes[0].expect = CAIRN_EXPECT_VERSION;
	writes[0].base_version = 5;
	writes[1] = make_write(CAIRN_WRITE_REPLACE, "x", one);
	writes[1].collection_id = "notes";
	writes[1].expect = CAIRN_EXPECT_VERSION;
	writes[1].base_version = 2;               /* it is at 3: conflict */
	for (int i = 0; i < 2; i++) {
		writes[i].client_id = "c1";
		writes[i].mutation_id = i ? "m10" : "m9";
	}
	assert_int_equal(backend->write(again, f->storage, DB, writes, 2), 0);
	assert_int_equal(again[0].status, 0);
	assert_int_equal(again[0].record.deleted, 1);
	assert_int_equal(again[0].record.version, 6);
	assert_int_equal(again[1].status, CAIRN_ECONFLICT);
	assert_int_equal(again[1].record.version, 3);
	assert_true(cairn__json_equal(again[1].record.data, odd));
	assert_int_equal(backend->document_get(&record, f->storage, DB, ITEMS, "NULL"),
		CAIRN_ENOTFOUND);
	for (int i = 0; i < 2; i++)
		cairn__storage_outcome_clear(&again[i]);

	for (int i = 0; i < 6; i++)
		cairn__storage_outcome_clear(&outcomes[i]);
	json_object_put(odd);
	json_object_put(perms);
	json_object_put(one);
}

/* Expands STORAGE_CASE(name) before cmocka turns the function into its printed name. */
#define STORAGE_CASE_ENTRY(f, setup, teardown) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define STORAGE_CASES(setup, teardown) \
	STORAGE_CASE_ENTRY(STORAGE_CASE(databases), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(collections), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(settings), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(create), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(replace_patch_delete), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(expect_version), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(expect_exists_and_since), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(replay), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(batch_keeps_going), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(batch_prefetch), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(changes), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(changes_text), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(scan), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(strictly_increasing), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(reopen), setup, teardown), \
	STORAGE_CASE_ENTRY(STORAGE_CASE(concurrent_writers), setup, teardown),

#endif
