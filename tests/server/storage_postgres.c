/* storage_postgres.c: tests of the PostgreSQL storage backend (src/storage/postgres.c): the
 * shared backend cases, then what only a shared database has: two instances at once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "storage/storage.h"
#include "support/postgres.h"
#include "util/error.h"
#include "util/json.h"

#define DB "main"
#define ITEMS "items"

static const cairn_storage_backend *backend = &cairn__storage_postgres;

static cairn_test_pg *server; /* one PostgreSQL for the whole program */
static int database_counter;

typedef struct {
	char name[32];      /* the PostgreSQL database of this test */
	char conninfo[256];
	cairn_storage *storage;
} fixture;

static void reopen(fixture *f)
{
	backend->close(f->storage);
	f->storage = NULL;
	assert_int_equal(backend->open(&f->storage, f->conninfo), 0);
}

/* A fresh PostgreSQL database with cairn database "main" and collection "items". */
static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	cairn_storage_database database;
	cairn_storage_collection collection;

	assert_non_null(f);
	snprintf(f->name, sizeof(f->name), "storage_%d_%d", (int)getpid(), ++database_counter);
	assert_int_equal(cairn_test_pg_create_database(server, f->name, f->conninfo,
		sizeof(f->conninfo)), 0);
	assert_int_equal(backend->open(&f->storage, f->conninfo), 0);
	assert_int_equal(backend->database_create(&database, f->storage, DB, "Main", 1), 0);
	cairn__storage_database_clear(&database);
	assert_int_equal(backend->collection_create(&collection, f->storage, DB, ITEMS, "Items",
		NULL, 0, 1), 0);
	cairn__storage_collection_clear(&collection);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	backend->close(f->storage);
	free(f);
	return 0;
}

#define STORAGE_CASE(name) test_server_storage_postgres__##name
#include "storage_cases.h"

static void test_server_storage_postgres__newer_schema_refused(void **state)
{
	fixture *f = *state;

	backend->close(f->storage);
	f->storage = NULL;
	assert_int_equal(cairn_test_pg_sql(server, f->name, "UPDATE cairn_meta SET value = '99' "
		"WHERE key = 'schema_version'"), 0);
	assert_int_equal(backend->open(&f->storage, f->conninfo), CAIRN_EIO);
	assert_null(f->storage);
	assert_non_null(strstr(cairn_error_last(), "schema version 99"));
}

static void test_server_storage_postgres__unreachable(void **state)
{
	cairn_storage *storage = NULL;

	(void)state;
	assert_int_equal(backend->open(&storage, "host=127.0.0.1 port=1 connect_timeout=2"),
		CAIRN_EIO);
	assert_null(storage);
	assert_non_null(strstr(cairn_error_last(), "cannot connect to PostgreSQL"));
}

/* A bulk push, as a client sends it: batches of one client's creates. Each batch is read
 * and written set-based (postgres_write.c) and stays exact; after the first batch, and
 * each time the inserted count doubles, the backend refreshes the planner's statistics
 * (ANALYZE), which autovacuum would only do a minute later. */
#define BULK_BATCHES 24
#define BULK_BATCH 500

static void test_server_storage_postgres__bulk_push(void **state)
{
	fixture *f = *state;
	json_object *data = json("{\"qty\":1,\"note\":\"a \\\"b\\\" \\\\ {c}\"}");
	cairn_storage_write *writes = calloc(BULK_BATCH, sizeof(*writes));
	cairn_storage_outcome *outcomes = calloc(BULK_BATCH, sizeof(*outcomes));
	char (*ids)[24] = calloc(BULK_BATCH, sizeof(*ids));
	char (*mutations)[24] = calloc(BULK_BATCH, sizeof(*mutations));
	cairn_storage_record record;
	long long tuples = 0;
	int64_t version = 0;

	assert_non_null(writes);
	assert_non_null(outcomes);
	assert_non_null(ids);
	assert_non_null(mutations);
	for (int b = 0; b < BULK_BATCHES; b++) {
		for (int i = 0; i < BULK_BATCH; i++) {
			snprintf(ids[i], sizeof(ids[i]), "doc-%d", b * BULK_BATCH + i);
			snprintf(mutations[i], sizeof(mutations[i]), "m-%d", b * BULK_BATCH + i);
			writes[i] = make_write(CAIRN_WRITE_CREATE, ids[i], data);
			writes[i].expect = CAIRN_EXPECT_VERSION;
			writes[i].client_id = "bulk";
			writes[i].mutation_id = mutations[i];
		}
		assert_int_equal(backend->write(outcomes, f->storage, DB, writes, BULK_BATCH), 0);
		for (int i = 0; i < BULK_BATCH; i++) {
			assert_int_equal(outcomes[i].status, 0);
			assert_int_equal(outcomes[i].replayed, 0);
			assert_int_equal(outcomes[i].record.version, ++version);
			assert_int_equal(outcomes[i].record.sequence, version);
			cairn__storage_outcome_clear(&outcomes[i]);
		}
	}
	/* The last batch again: every outcome replayed, nothing written. */
	assert_int_equal(backend->write(outcomes, f->storage, DB, writes, BULK_BATCH), 0);
	for (int i = 0; i < BULK_BATCH; i++) {
		assert_int_equal(outcomes[i].replayed, 1);
		assert_int_equal(outcomes[i].record.version, version - BULK_BATCH + 1 + i);
		cairn__storage_outcome_clear(&outcomes[i]);
	}
	assert_int_equal(backend->document_get(&record, f->storage, DB, ITEMS, "doc-4321"), 0);
	assert_true(cairn__json_equal(record.data, data));
	assert_string_equal(record.last_mutation, "m-4321");
	cairn__storage_record_clear(&record);
	/* The statistics know the table has grown (autovacuum samples a minute later at best). */
	assert_int_equal(cairn_test_pg_query_int(server, f->name, "SELECT reltuples::bigint "
		"FROM pg_class WHERE relname = 'documents'", &tuples), 0);
	assert_true(tuples >= 2500); /* the last refresh saw half this process inserted, or more */

	json_object_put(data);
	free(writes);
	free(outcomes);
	free(ids);
	free(mutations);
}

/* ---- two instances on one database ---- */

#define FEED_WRITERS 4
#define FEED_BATCHES 30
#define FEED_BATCH 10
#define FEED_TOTAL (FEED_WRITERS * FEED_BATCHES * FEED_BATCH)

typedef struct {
	cairn_storage *storage; /* the instance this thread uses */
	int index;
	int failures;
	volatile int *writers_done;
	int64_t seen[FEED_TOTAL + 8]; /* a reader's versions, in the order received */
	size_t seen_count;
} feed_worker;

static void *feed_writer(void *arg)
{
	feed_worker *self = arg;
	json_object *data = json_object_new_object();
	cairn_storage_write writes[FEED_BATCH];
	cairn_storage_outcome outcomes[FEED_BATCH];
	char ids[FEED_BATCH][24];

	json_object_object_add(data, "writer", json_object_new_int(self->index));
	for (int b = 0; b < FEED_BATCHES; b++) {
		for (int i = 0; i < FEED_BATCH; i++) {
			/* Writers share ids, so batches touch the same rows as well as the sequence. */
			snprintf(ids[i], sizeof(ids[i]), "doc-%d", (b * FEED_BATCH + i) % 37);
			memset(&writes[i], 0, sizeof(writes[i]));
			writes[i].op = CAIRN_WRITE_REPLACE;
			writes[i].collection_id = ITEMS;
			writes[i].id = ids[i];
			writes[i].data = data;
		}
		if (backend->write(outcomes, self->storage, DB, writes, FEED_BATCH) != 0) {
			self->failures++;
			continue;
		}
		for (int i = 0; i < FEED_BATCH; i++) {
			if (outcomes[i].status != 0)
				self->failures++;
			cairn__storage_outcome_clear(&outcomes[i]);
		}
	}
	json_object_put(data);
	return NULL;
}

static int feed_collect(const cairn_storage_record *record, size_t approx_bytes, void *payload)
{
	feed_worker *self = payload;

	(void)approx_bytes;
	if (self->seen_count < FEED_TOTAL + 8)
		self->seen[self->seen_count] = record->version;
	self->seen_count++;
	return 0;
}

/* Pages through the feed like a client: from its last version, 7 at a time, until the
 * writers are done and the feed is drained. A change committed late and skipped shows as a
 * gap in what it received. */
static void *feed_reader(void *arg)
{
	feed_worker *self = arg;
	int64_t since = 0;

	for (;;) {
		int done = *self->writers_done;
		int more = 0;
		size_t before = self->seen_count;

		if (backend->changes(self->storage, DB, since, NULL, 0, 7, feed_collect, self,
			&more) != 0) {
			self->failures++;
			return NULL;
		}
		if (self->seen_count > before && self->seen_count <= FEED_TOTAL + 8)
			since = self->seen[self->seen_count - 1];
		if (done && !more && self->seen_count == before)
			return NULL;
	}
}

/* Whatever the interleaving, each reader receives versions 1, 2, 3, ... in order. Only
 * the latest version of each document is in the feed, so a reader sees a gap-free
 * increasing subsequence; the test checks it never goes backwards, never repeats, and ends
 * at the final sequence, and that the final feed matches the database's last_sequence. */
static void test_server_storage_postgres__feed_gap_free_two_instances(void **state)
{
	fixture *f = *state;
	cairn_storage *second = NULL;
	pthread_t threads[FEED_WRITERS + 2];
	feed_worker *workers = calloc(FEED_WRITERS + 2, sizeof(*workers));
	volatile int writers_done = 0;
	cairn_storage_database database;

	assert_non_null(workers);
	assert_int_equal(backend->open(&second, f->conninfo), 0);
	for (int i = 0; i < FEED_WRITERS + 2; i++) {
		workers[i].storage = i % 2 ? second : f->storage;
		workers[i].index = i;
		workers[i].writers_done = &writers_done;
		assert_int_equal(pthread_create(&threads[i], NULL,
			i < FEED_WRITERS ? feed_writer : feed_reader, &workers[i]), 0);
	}
	for (int i = 0; i < FEED_WRITERS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(workers[i].failures, 0);
	}
	writers_done = 1;
	for (int i = FEED_WRITERS; i < FEED_WRITERS + 2; i++)
		pthread_join(threads[i], NULL);
	assert_int_equal(backend->database_get(&database, f->storage, DB), 0);
	assert_int_equal(database.last_sequence, FEED_TOTAL);
	cairn__storage_database_clear(&database);
	for (int i = FEED_WRITERS; i < FEED_WRITERS + 2; i++) {
		feed_worker *reader = &workers[i];

		assert_int_equal(reader->failures, 0);
		assert_true(reader->seen_count > 0 && reader->seen_count <= FEED_TOTAL);
		for (size_t k = 1; k < reader->seen_count; k++)
			assert_true(reader->seen[k] > reader->seen[k - 1]);
		assert_int_equal(reader->seen[reader->seen_count - 1], FEED_TOTAL);
	}
	backend->close(second);
	free(workers);
}

/* A reader pages past every committed change while a writer on the other instance holds
 * the database's write lock with its change uncommitted. That change must not be skipped:
 * its number is taken under the lock, so it is larger than everything already visible. */
#define RACE_WRITES 200

typedef struct {
	cairn_storage *storage;
	int index;
	int failures;
	int64_t max_version;
} race_worker;

static void *race_writer(void *arg)
{
	race_worker *self = arg;
	json_object *data = json_object_new_object();

	for (int i = 0; i < RACE_WRITES; i++) {
		cairn_storage_outcome outcome;
		cairn_storage_write write;
		char id[16];

		snprintf(id, sizeof(id), "r%d-%d", self->index, i);
		memset(&write, 0, sizeof(write));
		write.op = CAIRN_WRITE_CREATE;
		write.collection_id = ITEMS;
		write.id = id;
		write.data = data;
		if (backend->write(&outcome, self->storage, DB, &write, 1) != 0 || outcome.status) {
			self->failures++;
		} else if (outcome.record.version <= self->max_version) {
			self->failures++; /* a later commit got an earlier number */
		} else {
			self->max_version = outcome.record.version;
		}
		cairn__storage_outcome_clear(&outcome);
	}
	json_object_put(data);
	return NULL;
}

static void test_server_storage_postgres__commit_order_is_sequence_order(void **state)
{
	fixture *f = *state;
	cairn_storage *second = NULL;
	race_worker workers[2];
	pthread_t threads[2];
	feed_worker *reader = calloc(1, sizeof(*reader));
	volatile int done = 0;

	assert_non_null(reader);
	assert_int_equal(backend->open(&second, f->conninfo), 0);
	workers[0] = (race_worker){ .storage = f->storage };
	workers[1] = (race_worker){ .storage = second, .index = 1 };
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, race_writer, &workers[i]), 0);
	reader->storage = second;
	reader->writers_done = &done;
	{
		pthread_t reader_thread;

		assert_int_equal(pthread_create(&reader_thread, NULL, feed_reader, reader), 0);
		for (int i = 0; i < 2; i++) {
			pthread_join(threads[i], NULL);
			assert_int_equal(workers[i].failures, 0);
		}
		done = 1;
		pthread_join(reader_thread, NULL);
	}
	/* Every document is written once, so the feed holds every number: a reader that
	 * paged while writers committed must have received all of them, in order. */
	assert_int_equal(reader->failures, 0);
	assert_int_equal(reader->seen_count, 2 * RACE_WRITES);
	for (size_t k = 0; k < reader->seen_count; k++)
		assert_int_equal(reader->seen[k], (int64_t)k + 1);
	backend->close(second);
	free(reader);
}

/* The same pushes arrive at both instances at once (a client retrying against the other
 * server): each mutation is applied exactly once; the rest are replays of its outcome. And
 * clients racing on one document with the same base version: exactly one wins. */
#define PUSH_THREADS 4
#define PUSH_MUTATIONS 40

typedef struct {
	cairn_storage *storage;
	int index;
	int failures;
	int applied[PUSH_MUTATIONS];  /* per mutation: applied fresh (not replayed) */
	int conflict_wins;            /* the contested document: writes applied */
	int conflict_losses;
} push_worker;

static void *push_thread(void *arg)
{
	push_worker *self = arg;
	json_object *data = json_object_new_object();
	char client[16];

	snprintf(client, sizeof(client), "racer%d", self->index);
	for (int m = 0; m < PUSH_MUTATIONS; m++) {
		cairn_storage_write writes[2];
		cairn_storage_outcome outcomes[2];
		char id[16], mutation[16], contested_mutation[24];

		snprintf(id, sizeof(id), "p%d", m);
		snprintf(mutation, sizeof(mutation), "m%d", m);
		snprintf(contested_mutation, sizeof(contested_mutation), "c%d", m);
		memset(writes, 0, sizeof(writes));
		/* The same client and mutation id from every thread: one logical push. */
		writes[0].op = CAIRN_WRITE_REPLACE;
		writes[0].collection_id = ITEMS;
		writes[0].id = id;
		writes[0].data = data;
		writes[0].expect = CAIRN_EXPECT_VERSION;
		writes[0].client_id = "shared-client";
		writes[0].mutation_id = mutation;
		/* Different clients, all based on what each last saw of "contested". */
		writes[1].op = CAIRN_WRITE_REPLACE;
		writes[1].collection_id = ITEMS;
		writes[1].id = "contested";
		writes[1].data = data;
		writes[1].expect = CAIRN_EXPECT_VERSION;
		writes[1].base_version = 0;
		writes[1].client_id = client;
		writes[1].mutation_id = contested_mutation;
		if (m > 0) {
			cairn_storage_record current;

			if (backend->document_get(&current, self->storage, DB, ITEMS, "contested") == 0) {
				writes[1].base_version = current.version;
				cairn__storage_record_clear(&current);
			}
		}
		if (backend->write(outcomes, self->storage, DB, writes, 2) != 0) {
			self->failures++;
			continue;
		}
		if (outcomes[0].status == 0 && !outcomes[0].replayed)
			self->applied[m] = 1;
		else if (outcomes[0].status != 0 && outcomes[0].status != CAIRN_ECONFLICT)
			self->failures++;
		if (outcomes[1].status == 0)
			self->conflict_wins++;
		else if (outcomes[1].status == CAIRN_ECONFLICT)
			self->conflict_losses++;
		else
			self->failures++;
		cairn__storage_outcome_clear(&outcomes[0]);
		cairn__storage_outcome_clear(&outcomes[1]);
	}
	json_object_put(data);
	return NULL;
}

static void test_server_storage_postgres__push_exactly_once_two_instances(void **state)
{
	fixture *f = *state;
	cairn_storage *second = NULL;
	push_worker *workers = calloc(PUSH_THREADS, sizeof(*workers));
	pthread_t threads[PUSH_THREADS];
	cairn_storage_database database;
	cairn_storage_record contested;
	int wins = 0;

	assert_non_null(workers);
	assert_int_equal(backend->open(&second, f->conninfo), 0);
	for (int i = 0; i < PUSH_THREADS; i++) {
		workers[i].storage = i % 2 ? second : f->storage;
		workers[i].index = i;
		assert_int_equal(pthread_create(&threads[i], NULL, push_thread, &workers[i]), 0);
	}
	for (int i = 0; i < PUSH_THREADS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(workers[i].failures, 0);
		wins += workers[i].conflict_wins;
	}
	for (int m = 0; m < PUSH_MUTATIONS; m++) {
		int applied = 0;

		for (int i = 0; i < PUSH_THREADS; i++)
			applied += workers[i].applied[m];
		assert_int_equal(applied, 1);
	}
	/* Each applied write advanced the sequence once: the shared mutations plus the wins. */
	assert_int_equal(backend->database_get(&database, f->storage, DB), 0);
	assert_int_equal(database.last_sequence, PUSH_MUTATIONS + wins);
	cairn__storage_database_clear(&database);
	assert_int_equal(backend->document_get(&contested, f->storage, DB, ITEMS, "contested"), 0);
	assert_true(wins >= 1);
	cairn__storage_record_clear(&contested);
	backend->close(second);
	free(workers);
}

/* Counter increments (a patch carrying {"$cairnIncrement": {field: delta}}, as api_sync.c
 * passes them) through both instances at once add up exactly. */
#define INCREMENT_THREADS 4
#define INCREMENTS 25

typedef struct {
	cairn_storage *storage;
	int index;
	int failures;
} increment_worker;

static void *increment_thread(void *arg)
{
	increment_worker *self = arg;
	json_object *data = json("{\"$cairnIncrement\":{\"n\":1}}");
	char client[16];

	snprintf(client, sizeof(client), "inc%d", self->index);
	for (int i = 0; i < INCREMENTS; i++) {
		cairn_storage_outcome outcome;
		cairn_storage_write write;
		char mutation[16];

		snprintf(mutation, sizeof(mutation), "i%d", i);
		memset(&write, 0, sizeof(write));
		write.op = CAIRN_WRITE_PATCH;
		write.collection_id = ITEMS;
		write.id = "counter";
		write.data = data;
		write.client_id = client;
		write.mutation_id = mutation;
		if (backend->write(&outcome, self->storage, DB, &write, 1) != 0 || outcome.status)
			self->failures++;
		cairn__storage_outcome_clear(&outcome);
	}
	json_object_put(data);
	return NULL;
}

static void test_server_storage_postgres__increments_exact_two_instances(void **state)
{
	fixture *f = *state;
	cairn_storage *second = NULL;
	increment_worker workers[INCREMENT_THREADS];
	pthread_t threads[INCREMENT_THREADS];
	cairn_storage_outcome outcome;
	cairn_storage_record record;
	json_object *start = json("{\"n\":0,\"label\":\"kept\"}");

	outcome = write_one(f, make_write(CAIRN_WRITE_CREATE, "counter", start));
	assert_int_equal(outcome.status, 0);
	cairn__storage_outcome_clear(&outcome);
	assert_int_equal(backend->open(&second, f->conninfo), 0);
	for (int i = 0; i < INCREMENT_THREADS; i++) {
		workers[i] = (increment_worker){ .storage = i % 2 ? second : f->storage, .index = i };
		assert_int_equal(pthread_create(&threads[i], NULL, increment_thread, &workers[i]), 0);
	}
	for (int i = 0; i < INCREMENT_THREADS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(workers[i].failures, 0);
	}
	assert_int_equal(backend->document_get(&record, f->storage, DB, ITEMS, "counter"), 0);
	assert_int_equal(field_int(record.data, "n"), INCREMENT_THREADS * INCREMENTS);
	assert_string_equal(json_object_get_string(json_object_object_get(record.data, "label")),
		"kept");
	assert_int_equal(record.version, 1 + INCREMENT_THREADS * INCREMENTS);
	cairn__storage_record_clear(&record);
	json_object_put(start);
	backend->close(second);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		STORAGE_CASES(setup, teardown)
		cmocka_unit_test_setup_teardown(test_server_storage_postgres__newer_schema_refused,
			setup, teardown),
		cmocka_unit_test(test_server_storage_postgres__unreachable),
		cmocka_unit_test_setup_teardown(test_server_storage_postgres__bulk_push, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_server_storage_postgres__feed_gap_free_two_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_server_storage_postgres__commit_order_is_sequence_order, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_server_storage_postgres__push_exactly_once_two_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_server_storage_postgres__increments_exact_two_instances, setup, teardown),
	};

	return CAIRN_TEST_PG_RUN_GROUP(server, tests);
}
