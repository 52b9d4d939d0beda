/* api_sync_runs.c: the SQLite backend stores the outcomes of a fresh push batch's slim-acked
 * puts as one run (src/storage/sqlite_write.c "Runs"): a retry answers exactly what it answered
 * the first time, alone or in a batch, beside outcomes stored one by one; batches that reach
 * into a run's id range look there; a deleted database takes its runs with it; a damaged run
 * is an error, not a crash; a schema-1 file gains the table. */
#include <sqlite3.h>

#include "api_harness.h"

#define PUSH "/v1/sync/databases/main/push"
#define PULL "/v1/sync/databases/main/pull"

/* A put of `id` by mutation `mutation` on base 0, as one mutation of a batch. */
#define PUT(mutation, id, value) "{\"mutationId\":\"" mutation "\",\"op\":\"put\"," \
	"\"collection\":\"items\",\"id\":\"" id "\",\"baseVersion\":0,\"hlc\":7," \
	"\"data\":{\"v\":" value "}}"
#define SLIM(mutations) "{\"clientId\":\"c-one\",\"slimAcks\":true,\"mutations\":[" \
	mutations "]}"

static json_object *results(const api_reply *reply)
{
	json_object *list = json_get(reply->json, "results");

	assert_non_null(list);
	return list;
}

/* Result `index` printed without the fields a replay may print differently (none here: the
 * whole result must be the same). */
static const char *result_text(const api_reply *reply, size_t index)
{
	json_object *list = results(reply);

	assert_true(index < json_object_array_length(list));
	return json_object_to_json_string_ext(json_object_array_get_idx(list, index),
		JSON_C_TO_STRING_PLAIN);
}

static int64_t feed_checkpoint(harness *h)
{
	api_reply reply = api_call(h, "POST", PULL, "{\"checkpoint\":0}");
	int64_t checkpoint;

	assert_status(&reply, 200);
	checkpoint = json_int(reply.json, "checkpoint");
	reply_free(&reply);
	return checkpoint;
}

/* Rows of the storage file matching `sql` (a SELECT count(*)). */
static int64_t count_rows(harness *h, const char *sql)
{
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t count = -1;

	snprintf(path, sizeof(path), "%s/cairn.db", h->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		count = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return count;
}

/* A fresh slim batch is one run and no mutations rows; the same batch again, and each of its
 * mutations pushed alone, answer exactly the first replies and write nothing. */
static void test_server_api_sync_runs__retry_answers_the_same(void **state)
{
	harness *h = *state;
	static const char *const alone[] = {
		SLIM(PUT("m1", "a", "1")), SLIM(PUT("m2", "b", "2")), SLIM(PUT("m3", "c", "3")),
	};
	api_reply first = api_call(h, "POST", PUSH, SLIM(PUT("m1", "a", "1") ","
		PUT("m2", "b", "2") "," PUT("m3", "c", "3")));
	api_reply again;

	assert_status(&first, 200);
	for (size_t i = 0; i < 3; i++) {
		json_object *result = json_object_array_get_idx(results(&first), i);

		assert_string_equal(json_str(result, "status"), "applied");
		assert_true(json_object_get_boolean(json_get(result, "asPushed")));
	}
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutation_runs"), 1);
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutations"), 0);
	assert_int_equal(feed_checkpoint(h), 3);

	again = api_call(h, "POST", PUSH, SLIM(PUT("m1", "a", "1") "," PUT("m2", "b", "2") ","
		PUT("m3", "c", "3")));
	assert_status(&again, 200);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(result_text(&again, i), result_text(&first, i));
	reply_free(&again);
	for (size_t i = 0; i < 3; i++) {
		again = api_call(h, "POST", PUSH, alone[i]);
		assert_status(&again, 200);
		assert_string_equal(result_text(&again, 0), result_text(&first, i));
		reply_free(&again);
	}
	/* Without slimAcks a retry still answers slim (docs/protocol.md "Slim acks"). */
	again = api_call(h, "POST", PUSH, "{\"clientId\":\"c-one\",\"mutations\":["
		PUT("m2", "b", "2") "]}");
	assert_status(&again, 200);
	assert_string_equal(result_text(&again, 0), result_text(&first, 1));
	reply_free(&again);
	assert_int_equal(feed_checkpoint(h), 3);
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutation_runs"), 1);
	reply_free(&first);
}

/* A batch with a rejection and a put acked in full beside slim puts: those two get rows, the
 * slim ones the run; a retry answers all four the same, permissions included. */
static void test_server_api_sync_runs__beside_stored_rows(void **state)
{
	harness *h = *state;
	const char *batch = SLIM(PUT("m1", "a", "1") ","
		"{\"mutationId\":\"m2\",\"op\":\"put\",\"collection\":\"nope\",\"id\":\"x\","
		"\"baseVersion\":0,\"data\":{}},"
		"{\"mutationId\":\"m3\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"d\","
		"\"baseVersion\":0,\"data\":{\"v\":1,\"$skip\":2}},"
		"{\"mutationId\":\"m4\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"e\","
		"\"baseVersion\":0,\"data\":{\"v\":4},\"permissions\":[\"read(\\\"any\\\")\"]}");
	api_reply first = api_call(h, "POST", PUSH, batch);
	api_reply again;

	assert_status(&first, 200);
	assert_string_equal(json_str(json_object_array_get_idx(results(&first), 1), "status"),
		"rejected");
	assert_null(json_get(json_object_array_get_idx(results(&first), 2), "asPushed"));
	assert_non_null(strstr(result_text(&first, 3), "read(\\\"any\\\")"));
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutations"), 2);
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutation_runs"), 1);
	again = api_call(h, "POST", PUSH, batch);
	assert_status(&again, 200);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(result_text(&again, i), result_text(&first, i));
	reply_free(&again);
	reply_free(&first);
	assert_int_equal(feed_checkpoint(h), 3);
}

/* New ids inside a run's range (not in it) are applied, and their retry replays; a batch past
 * the run is fresh again (a second run). */
static void test_server_api_sync_runs__ids_inside_a_run_range(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PUSH, SLIM(PUT("m1", "a", "1") ","
		PUT("m5", "b", "2")));
	api_reply first;

	assert_status(&reply, 200);
	reply_free(&reply);
	first = api_call(h, "POST", PUSH, SLIM(PUT("m2", "c", "3") "," PUT("m4", "d", "4")));
	assert_status(&first, 200);
	assert_int_equal(json_int(json_object_array_get_idx(results(&first), 0), "version"), 3);
	assert_int_equal(json_int(json_object_array_get_idx(results(&first), 1), "version"), 4);
	/* Not fresh (it reaches into the run): stored one by one. */
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutations"), 2);
	reply = api_call(h, "POST", PUSH, SLIM(PUT("m4", "d", "4") "," PUT("m2", "c", "3") ","
		PUT("m5", "b", "2")));
	assert_status(&reply, 200);
	assert_string_equal(result_text(&reply, 0), result_text(&first, 1));
	assert_string_equal(result_text(&reply, 1), result_text(&first, 0));
	assert_int_equal(json_int(json_object_array_get_idx(results(&reply), 2), "version"), 2);
	reply_free(&reply);
	reply_free(&first);
	reply = api_call(h, "POST", PUSH, SLIM(PUT("m6", "e", "5") "," PUT("m7", "f", "6")));
	assert_status(&reply, 200);
	assert_int_equal(json_int(json_object_array_get_idx(results(&reply), 1), "version"), 6);
	reply_free(&reply);
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutation_runs"), 2);
	assert_int_equal(feed_checkpoint(h), 6);
}

/* Deleting the database deletes its runs: the same ids in a new database of that name apply. */
static void test_server_api_sync_runs__database_delete(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PUSH, SLIM(PUT("m1", "a", "1") ","
		PUT("m2", "b", "2")));

	assert_status(&reply, 200);
	reply_free(&reply);
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutation_runs"), 1);
	api_expect(h, "DELETE", "/v1/databases/main", NULL, 204);
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutation_runs"), 0);
	make_collection(h, "main", "items");
	reply = api_call(h, "POST", PUSH, SLIM(PUT("m1", "a", "7") "," PUT("m2", "b", "8")));
	assert_status(&reply, 200);
	assert_int_equal(json_int(json_object_array_get_idx(results(&reply), 1), "version"), 2);
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/databases/main/collections/items/documents/a", NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "v"), 7);
	reply_free(&reply);
}

/* Runs `sql` on the storage file beside the open storage. */
static void run_sql(harness *h, const char *sql)
{
	char path[128];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/cairn.db", h->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A damaged run is a storage error for the retry that reads it, never a read past its end. */
static void test_server_api_sync_runs__damaged_run(void **state)
{
	harness *h = *state;
	static const char *const damage[] = {
		"UPDATE mutation_runs SET outcomes = x'05000000616263'",
		"UPDATE mutation_runs SET outcomes = x'ffffffff'",
		"UPDATE mutation_runs SET outcomes = substr(outcomes, 1, length(outcomes) - 3)",
	};
	api_reply reply = api_call(h, "POST", PUSH, SLIM(PUT("m1", "a", "1") ","
		PUT("m2", "b", "2")));

	assert_status(&reply, 200);
	reply_free(&reply);
	run_sql(h, "CREATE TABLE kept AS SELECT outcomes FROM mutation_runs");
	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		run_sql(h, damage[i]);
		reply = api_call(h, "POST", PUSH, SLIM(PUT("m2", "b", "2")));
		assert_int_equal(reply.status, 500);
		reply_free(&reply);
		run_sql(h, "UPDATE mutation_runs SET outcomes = (SELECT outcomes FROM kept)");
	}
	reply = api_call(h, "POST", PUSH, SLIM(PUT("m2", "b", "2")));
	assert_status(&reply, 200);
	assert_int_equal(json_int(json_object_array_get_idx(results(&reply), 0), "version"), 2);
	reply_free(&reply);
	assert_int_equal(feed_checkpoint(h), 2);
}

/* A schema-1 file (no mutation_runs) opens as schema 2 with the table added, its stored rows
 * kept: a retry of an outcome stored one by one still replays. */
static void test_server_api_sync_runs__schema_one_file(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PUSH, SLIM(PUT("m1", "a", "1")));

	assert_status(&reply, 200);
	reply_free(&reply);
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutations"), 1);
	cairn__api_free(h->api);
	h->api = NULL;
	cairn__storage_sqlite.close(h->storage);
	h->storage = NULL;
	run_sql(h, "DROP TABLE mutation_runs; UPDATE meta SET value = '1' "
		"WHERE key = 'schema_version'");
	assert_int_equal(cairn__storage_sqlite.open(&h->storage, h->dir), 0);
	assert_int_equal(cairn__api_new(&h->api, &cairn__storage_sqlite, h->storage,
		HARNESS_PROJECT, HARNESS_KEY), 0);
	assert_int_equal(count_rows(h, "SELECT value FROM meta WHERE key = 'schema_version'"), 2);
	reply = api_call(h, "POST", PUSH, SLIM(PUT("m1", "a", "1")));
	assert_status(&reply, 200);
	assert_int_equal(json_int(json_object_array_get_idx(results(&reply), 0), "version"), 1);
	reply_free(&reply);
	reply = api_call(h, "POST", PUSH, SLIM(PUT("m2", "b", "2") "," PUT("m3", "c", "3")));
	assert_status(&reply, 200);
	reply_free(&reply);
	assert_int_equal(count_rows(h, "SELECT count(*) FROM mutation_runs"), 1);
	assert_int_equal(feed_checkpoint(h), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_server_api_sync_runs__retry_answers_the_same,
			harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync_runs__beside_stored_rows, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync_runs__ids_inside_a_run_range,
			harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync_runs__database_delete, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync_runs__damaged_run, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync_runs__schema_one_file, harness_setup_items_notes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
