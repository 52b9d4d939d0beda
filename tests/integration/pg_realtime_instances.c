/* pg_realtime_instances.c: two `cairn serve --postgres` processes on one PostgreSQL database
 * are one realtime server: a write through either instance reaches the realtime clients of
 * both, once, with an unbroken change-sequence chain, also after the LISTEN connection is
 * lost; a replicator on instance B follows writes made through instance A live. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "net/websocket.h"
#include "support/integration.h"
#include "support/realtime_ws.h"
#include "support/pg_pair.h"
#include "support/postgres.h"
#include "util/json.h"
#include "util/time.h"

#define DATABASE "shop"
#define COLLECTION "items"
#define WAIT_MS 20000 /* an upper bound for "eventually"; below the replicator's 30 s fallback
                       * pull, so a replicator that catches up did it by realtime */

/* The instances' LISTEN sessions (postgres_watch.c names them) on this test's database. */
#define LISTENERS "FROM pg_stat_activity WHERE datname = current_database() " \
	"AND application_name = 'cairn-listen'"

static cairn_test_pg *pg; /* one PostgreSQL for the program */

/* Two servers on one fresh PostgreSQL database; env[i].url is server i's URL. */
typedef cairn_it_pg_pair world;

static int world_setup(void **state)
{
	world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	cairn_it_pg_pair_start(w, pg, "rt");
	assert_int_equal(cairn_it_rest(NULL, &w->env[0], "POST", "/databases",
		"{\"databaseId\":\"" DATABASE "\",\"name\":\"Shop\"}"), 201);
	assert_int_equal(cairn_it_rest(NULL, &w->env[1], "POST", "/databases/" DATABASE
		"/collections", "{\"collectionId\":\"" COLLECTION "\",\"name\":\"Items\","
		"\"permissions\":[\"read(\\\"any\\\")\"]}"), 201); /* guests get the events */
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	world *w = *state;
	int rc = cairn_it_pg_pair_stop(w);

	free(w);
	return rc;
}

static long long query(const world *w, const char *sql)
{
	long long value = -1;

	assert_int_equal(cairn_test_pg_query_int(pg, w->database, sql, &value), 0);
	return value;
}

/* ---- a realtime client ---- */

/* A realtime client of `env` subscribed to the collection's documents. */
static cairn__ws *subscribe(const cairn_it_env *env)
{
	return cairn_it_ws_subscribe(env, "s",
		"databases." DATABASE ".collections." COLLECTION ".documents");
}

/* Nothing else is queued before a pong: no duplicate or stray event. */
static void expect_quiet(cairn__ws *ws)
{
	json_object *message;

	cairn_it_ws_send(ws, "{\"type\":\"ping\"}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "pong"), message));
}

/* The next event must be `action` of document `id` with $changeSequence `sequence` and
 * $previousChangeSequence `previous`. */
static void expect_event(cairn__ws *ws, const char *action, const char *id, int64_t sequence,
	int64_t previous)
{
	json_object *message, *data, *events, *payload;
	char expected[160];
	const char *got_id = NULL;
	int64_t got_sequence = -1, got_previous = -1;

	data = cairn_it_ws_expect_type(&message, ws, "event");
	snprintf(expected, sizeof(expected), "databases." DATABASE ".collections." COLLECTION
		".documents.%s.%s", id, action);
	assert_true(json_object_object_get_ex(data, "events", &events));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(events, 0)),
		expected);
	assert_true(json_object_object_get_ex(data, "payload", &payload));
	assert_true(cairn__json_get_string(payload, "$id", &got_id));
	assert_string_equal(got_id, id);
	assert_true(cairn__json_get_int64(data, "$changeSequence", &got_sequence));
	assert_true(cairn__json_get_int64(data, "$previousChangeSequence", &got_previous));
	assert_int_equal(got_sequence, sequence);
	assert_int_equal(got_previous, previous);
	json_object_put(message);
}

static void rest_write(const cairn_it_env *env, const char *method, const char *id,
	const char *body, long expected_status)
{
	char path[160];

	if (strcmp(method, "POST") == 0)
		snprintf(path, sizeof(path), "/databases/" DATABASE "/collections/" COLLECTION
			"/documents");
	else
		snprintf(path, sizeof(path), "/databases/" DATABASE "/collections/" COLLECTION
			"/documents/%s", id);
	assert_int_equal(cairn_it_rest(NULL, env, method, path, body), expected_status);
}

static long long last_sequence(const world *w)
{
	return query(w, "SELECT last_sequence FROM databases WHERE id = '" DATABASE "'");
}

/* ---- tests ---- */

/* Writes through A reach a realtime client of B (and of A), each once, in order, with the
 * sequences PostgreSQL assigned and an unbroken previous-sequence chain; B's own writes
 * are not doubled by its own notifications. */
static void test_integration_pg_realtime_instances__events_reach_every_instance(void **state)
{
	world *w = *state;
	cairn__ws *on_b = subscribe(&w->env[1]), *on_a = subscribe(&w->env[0]);

	rest_write(&w->env[0], "POST", NULL, "{\"documentId\":\"d1\",\"data\":{\"n\":1}}", 201);
	expect_event(on_b, "create", "d1", 1, 0);
	assert_int_equal(last_sequence(w), 1);
	rest_write(&w->env[0], "PATCH", "d1", "{\"data\":{\"n\":2}}", 200);
	expect_event(on_b, "update", "d1", 2, 1);
	rest_write(&w->env[0], "POST", NULL, "{\"documentId\":\"d2\",\"data\":{\"n\":3}}", 201);
	expect_event(on_b, "create", "d2", 3, 2);
	rest_write(&w->env[0], "DELETE", "d1", NULL, 204);
	expect_event(on_b, "delete", "d1", 4, 3);
	expect_quiet(on_b);

	/* A write through B itself: one event on B (not one per path), and on A too. */
	rest_write(&w->env[1], "PATCH", "d2", "{\"data\":{\"n\":5}}", 200);
	expect_event(on_b, "update", "d2", 5, 4);
	expect_quiet(on_b);
	assert_int_equal(last_sequence(w), 5);

	/* A's client saw the same chain, its own writes and B's alike. */
	expect_event(on_a, "create", "d1", 1, 0);
	expect_event(on_a, "update", "d1", 2, 1);
	expect_event(on_a, "create", "d2", 3, 2);
	expect_event(on_a, "delete", "d1", 4, 3);
	expect_event(on_a, "update", "d2", 5, 4);
	expect_quiet(on_a);
	cairn__ws_free(on_a);
	cairn__ws_free(on_b);
}

/* Killing every LISTEN connection loses nothing: the watchers reconnect and read the feed
 * from where they stopped, so writes made meanwhile still arrive, once and in order. */
static void test_integration_pg_realtime_instances__listener_lost_and_back(void **state)
{
	world *w = *state;
	cairn__ws *on_b = subscribe(&w->env[1]);
	int64_t until;

	/* Both instances listen on their own connection. */
	until = cairn__time_monotonic_ms() + WAIT_MS;
	while (query(w, "SELECT count(*) " LISTENERS) != 2) {
		if (cairn__time_monotonic_ms() > until)
			fail_msg("the instances do not both listen");
		cairn_it_sleep_ms(20);
	}
	rest_write(&w->env[0], "POST", NULL, "{\"documentId\":\"a\",\"data\":{}}", 201);
	expect_event(on_b, "create", "a", 1, 0);

	assert_int_equal(query(w, "SELECT count(pg_terminate_backend(pid)) " LISTENERS), 2);
	/* Written while B may not be listening. */
	rest_write(&w->env[0], "POST", NULL, "{\"documentId\":\"b\",\"data\":{}}", 201);
	rest_write(&w->env[0], "POST", NULL, "{\"documentId\":\"c\",\"data\":{}}", 201);
	{
		/* Either one event per write, or both folded into one if they were read together;
		 * the chain is unbroken and ends at c. */
		json_object *message, *data, *payload;
		int64_t sequence = -1, previous = -1;
		const char *id = NULL;

		data = cairn_it_ws_expect_type(&message, on_b, "event");
		assert_true(cairn__json_get_int64(data, "$changeSequence", &sequence));
		assert_true(cairn__json_get_int64(data, "$previousChangeSequence", &previous));
		assert_true(json_object_object_get_ex(data, "payload", &payload));
		assert_true(cairn__json_get_string(payload, "$id", &id));
		assert_int_equal(previous, 1);
		if (sequence == 2) {
			assert_string_equal(id, "b");
			json_object_put(message);
			expect_event(on_b, "create", "c", 3, 2);
		} else {
			assert_int_equal(sequence, 3);
			assert_string_equal(id, "c");
			json_object_put(message);
		}
	}
	/* Both listen again, and live notifications flow as before. */
	until = cairn__time_monotonic_ms() + WAIT_MS;
	while (query(w, "SELECT count(*) " LISTENERS) != 2) {
		if (cairn__time_monotonic_ms() > until)
			fail_msg("the instances did not listen again");
		cairn_it_sleep_ms(20);
	}
	rest_write(&w->env[0], "POST", NULL, "{\"documentId\":\"d\",\"data\":{}}", 201);
	expect_event(on_b, "create", "d", 4, 3);
	expect_quiet(on_b);
	cairn__ws_free(on_b);
}

static int has_doc(cairn_store *store, const char *id, int n)
{
	char *json = NULL, needle[32];
	int found;

	if (cairn_doc_get(&json, store, COLLECTION, id) != 0)
		return 0;
	snprintf(needle, sizeof(needle), "\"n\":%d", n);
	found = strstr(json, needle) != NULL;
	cairn_free(json);
	return found;
}

/* A replicator connected to B gets writes pushed through A by realtime alone (its only
 * other way to learn of them is a pull every 30 s, longer than we wait). */
static void test_integration_pg_realtime_instances__replicator_follows_other_instance(
	void **state)
{
	world *w = *state;
	cairn_store *writer = cairn_it_store_open(&w->env[0], "writer", DATABASE);
	cairn_store *reader = cairn_it_store_open(&w->env[1], "reader", DATABASE);
	cairn_replicator_options options = CAIRN_REPLICATOR_OPTIONS_INIT;
	cairn_replicator *replicator = NULL;
	cairn_replicator_status status;
	cairn_sync_result result;
	int64_t until;

	assert_int_equal(cairn_replicator_start(&replicator, reader, &options), 0);
	until = cairn__time_monotonic_ms() + WAIT_MS;
	do {
		if (cairn__time_monotonic_ms() > until)
			fail_msg("the replicator did not connect to instance B");
		cairn_it_sleep_ms(20);
		assert_int_equal(cairn_replicator_status_get(&status, replicator), 0);
	} while (!status.realtime || status.state != CAIRN_REPLICATOR_IDLE);

	for (int round = 0; round < 3; round++) {
		char id[16], json[32];

		for (int i = 0; i < 5; i++) {
			snprintf(id, sizeof(id), "r%d-%d", round, i);
			snprintf(json, sizeof(json), "{\"n\":%d}", round * 10 + i);
			assert_int_equal(cairn_doc_put(writer, COLLECTION, id, json), 0);
		}
		cairn_it_sync(&result, writer, NULL);
		assert_int_equal(result.pushed, 5);
		until = cairn__time_monotonic_ms() + WAIT_MS;
		for (int i = 0; i < 5; i++) {
			snprintf(id, sizeof(id), "r%d-%d", round, i);
			while (!has_doc(reader, id, round * 10 + i)) {
				if (cairn__time_monotonic_ms() > until)
					fail_msg("instance B's replicator did not get %s", id);
				cairn_it_sleep_ms(10);
			}
		}
	}
	assert_int_equal(cairn_replicator_status_get(&status, replicator), 0);
	assert_true(status.realtime);
	cairn_replicator_stop(replicator);
	cairn_it_assert_store_matches_server(&w->env[1], reader, DATABASE, COLLECTION);
	cairn_store_free(writer);
	cairn_store_free(reader);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_integration_pg_realtime_instances__events_reach_every_instance,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_pg_realtime_instances__listener_lost_and_back,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_pg_realtime_instances__replicator_follows_other_instance,
			world_setup, world_teardown),
	};

	return CAIRN_TEST_PG_RUN_GROUP(pg, tests);
}
