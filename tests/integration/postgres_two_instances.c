/* postgres_two_instances.c: two `cairn serve --postgres` processes on one PostgreSQL database
 * behave as one server: clients spread over both converge, every mutation is applied once,
 * no pull misses a change, and a client whose server dies mid-push finishes on the other. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"
#include "support/pg_pair.h"
#include "support/postgres.h"

#define DATABASE "shop"
#define COLLECTION "items"
#define CLIENTS 4
#define ROUNDS 5
#define OWN_DOCS 30     /* per client per round */
#define SHARED_DOCS 10  /* edited by every client every round */
#define FAILOVER_DOCS 1200

static cairn_test_pg *pg; /* one PostgreSQL for the program */

/* Two servers on one fresh PostgreSQL database; env[i].url is server i's URL. */
typedef cairn_it_pg_pair world;

static int world_setup(void **state)
{
	world *w = calloc(1, sizeof(*w));
	char *body = NULL;
	long status;

	assert_non_null(w);
	cairn_it_pg_pair_start(w, pg, "pg");
	/* Created through one instance, seen by the other. */
	status = cairn_it_rest(&body, &w->env[0], "POST", "/databases",
		"{\"databaseId\":\"" DATABASE "\",\"name\":\"Shop\"}");
	assert_int_equal(status, 201);
	free(body);
	status = cairn_it_rest(&body, &w->env[1], "POST", "/databases/" DATABASE "/collections",
		"{\"collectionId\":\"" COLLECTION "\",\"name\":\"Items\"}");
	assert_int_equal(status, 201);
	free(body);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	world *w = *state;

	cairn_it_pg_pair_stop(w);
	free(w);
	return 0;
}

static void put(cairn_store *store, const char *id, const char *json)
{
	int rc = cairn_doc_put(store, COLLECTION, id, json);

	if (rc != 0)
		fail_msg("put %s: %d %s", id, rc, cairn_error_last());
}

static long long query(const world *w, const char *sql)
{
	long long value = -1;

	assert_int_equal(cairn_test_pg_query_int(pg, w->database, sql, &value), 0);
	return value;
}

/* ---- many clients over both instances ---- */

typedef struct {
	cairn_store *store;
	int rc;
	cairn_sync_result result;
} sync_job;

static void *sync_thread(void *arg)
{
	sync_job *job = arg;

	job->rc = cairn_sync_once(&job->result, job->store, NULL);
	return NULL;
}

static void test_integration_postgres_two_instances__clients_converge(void **state)
{
	world *w = *state;
	cairn_store *stores[CLIENTS];
	sync_job jobs[CLIENTS];
	uint64_t pushed = 0;
	json_object *server_a, *server_b;
	long long last_sequence, applied;

	for (int c = 0; c < CLIENTS; c++) {
		char name[16];

		snprintf(name, sizeof(name), "client%d", c);
		/* Clients 0 and 2 talk to instance A, 1 and 3 to instance B. */
		stores[c] = cairn_it_store_open(&w->env[c % 2], name, DATABASE);
	}
	for (int round = 0; round < ROUNDS; round++) {
		for (int c = 0; c < CLIENTS; c++) {
			char id[32], json[128];

			for (int i = 0; i < OWN_DOCS; i++) {
				snprintf(id, sizeof(id), "c%d-r%d-%d", c, round, i);
				snprintf(json, sizeof(json), "{\"client\":%d,\"round\":%d,\"i\":%d}", c,
					round, i);
				put(stores[c], id, json);
			}
			for (int i = 0; i < SHARED_DOCS; i++) {
				snprintf(id, sizeof(id), "shared-%d", i);
				snprintf(json, sizeof(json), "{\"by\":%d,\"round\":%d}", c, round);
				put(stores[c], id, json);
			}
		}
		/* Every client syncs at once: concurrent pushes to the same documents through
		 * both instances. */
		pthread_t threads[CLIENTS];

		for (int c = 0; c < CLIENTS; c++) {
			jobs[c] = (sync_job){ .store = stores[c] };
			assert_int_equal(pthread_create(&threads[c], NULL, sync_thread, &jobs[c]), 0);
		}
		for (int c = 0; c < CLIENTS; c++) {
			pthread_join(threads[c], NULL);
			if (jobs[c].rc != 0)
				fail_msg("client %d round %d: sync failed: %d", c, round, jobs[c].rc);
			pushed += jobs[c].result.pushed;
		}
	}
	/* Quiet rounds: conflicts resolved by clients are pushed, then everyone pulls. */
	for (int pass = 0; pass < 3; pass++) {
		for (int c = 0; c < CLIENTS; c++) {
			cairn_sync_result result;

			cairn_it_sync(&result, stores[c], NULL);
			pushed += result.pushed;
		}
	}

	/* Both instances serve the same state, and every client holds exactly that. */
	server_a = cairn_it_server_docs(&w->env[0], DATABASE, COLLECTION);
	server_b = cairn_it_server_docs(&w->env[1], DATABASE, COLLECTION);
	assert_int_equal(json_object_array_length(server_a),
		CLIENTS * ROUNDS * OWN_DOCS + SHARED_DOCS);
	cairn_it_assert_same_docs(server_a, server_b, "instance B against instance A");
	for (int c = 0; c < CLIENTS; c++) {
		cairn_store_status status;

		cairn_it_assert_store_matches_server(&w->env[c % 2], stores[c], DATABASE, COLLECTION);
		cairn_it_assert_outbox_empty(stores[c]);
		/* Nothing missing from any pull: each checkpoint reached the final sequence. */
		assert_int_equal(cairn_store_status_get(&status, stores[c]), 0);
		assert_int_equal(status.checkpoint, query(w, "SELECT last_sequence FROM databases "
			"WHERE id = '" DATABASE "'"));
	}

	/* Each mutation applied exactly once: one stored outcome per applied mutation, one
	 * change number per applied write, and as many as the clients saw acknowledged. */
	last_sequence = query(w, "SELECT last_sequence FROM databases WHERE id = '" DATABASE "'");
	applied = query(w, "SELECT count(*) FROM mutations WHERE database_id = '" DATABASE "' "
		"AND status = 0");
	assert_int_equal(applied, last_sequence);
	assert_int_equal((long long)pushed, applied);
	assert_int_equal(query(w, "SELECT count(DISTINCT version) FROM documents"),
		query(w, "SELECT count(*) FROM documents"));

	json_object_put(server_a);
	json_object_put(server_b);
	for (int c = 0; c < CLIENTS; c++)
		cairn_store_free(stores[c]);
}

/* ---- failover ---- */

typedef struct {
	pid_t server;
	uint64_t after;
	int killed;
} killer;

static int kill_on_push_progress(const cairn_sync_progress *progress, void *payload)
{
	killer *k = payload;

	if (!k->killed && progress->phase == CAIRN_SYNC_PHASE_PUSH && progress->done >= k->after) {
		kill(k->server, SIGKILL);
		k->killed = 1;
	}
	return 0;
}

/* Sets the remote to instance A with instance B as its fallback. */
static void set_remote_with_fallback(world *w, cairn_store *store)
{
	const char *fallbacks[] = { w->env[1].url };
	cairn_remote remote = { CAIRN_REMOTE_VERSION, w->env[0].url, CAIRN_IT_PROJECT,
		CAIRN_IT_KEY, DATABASE, fallbacks, 1, NULL, CAIRN_REMOTE_SYNC };
	const char *bad[] = { "ftp://example.com" };
	cairn_remote v1 = { 1, w->env[0].url, CAIRN_IT_PROJECT, CAIRN_IT_KEY, DATABASE, bad, 1, NULL, CAIRN_REMOTE_SYNC };

	/* Version 1 callers end at `database`: their fallback fields are never read. */
	assert_int_equal(cairn_store_set_remote(store, &v1), 0);
	remote.fallback_urls = bad;
	assert_int_equal(cairn_store_set_remote(store, &remote), CAIRN_EINVALID);
	remote.fallback_urls = fallbacks;
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
}

/* Instance A dies in the middle of a push. The client knows B as a fallback URL: the same
 * round retries there and finishes, each mutation applied once. */
static void test_integration_postgres_two_instances__failover_mid_push(void **state)
{
	world *w = *state;
	cairn_store *writer, *reader;
	cairn_sync_options opts = CAIRN_SYNC_OPTIONS_INIT;
	cairn_sync_result result;
	killer k = { w->pid[0], 300, 0 };
	json_object *docs;
	int rc;

	writer = cairn_it_store_open(&w->env[0], "writer", DATABASE);
	set_remote_with_fallback(w, writer);
	for (int i = 0; i < FAILOVER_DOCS; i++) {
		char id[32], json[64];

		snprintf(id, sizeof(id), "doc%05d", i);
		snprintf(json, sizeof(json), "{\"n\":%d}", i);
		put(writer, id, json);
	}
	opts.push_batch = 100;
	opts.progress = kill_on_push_progress;
	opts.payload = &k;
	rc = cairn_sync_once(&result, writer, &opts);
	assert_true(k.killed);
	if (rc != 0)
		fail_msg("the round did not fail over to the second instance: %d %s", rc,
			cairn_error_last());
	cairn_it_assert_outbox_empty(writer);
	assert_int_equal(result.conflicts, 0);
	cairn_test_pg_serve_stop(w->pid[0], 1);
	w->pid[0] = 0;

	/* The next round stays on the instance that works. */
	put(writer, "after", "{\"n\":-1}");
	cairn_it_sync(&result, writer, NULL);
	cairn_it_assert_outbox_empty(writer);

	docs = cairn_it_server_docs(&w->env[1], DATABASE, COLLECTION);
	assert_int_equal(json_object_array_length(docs), FAILOVER_DOCS + 1);
	json_object_put(docs);
	/* Nothing applied twice: exactly one change number per document ("after" included). */
	assert_int_equal(query(w, "SELECT last_sequence FROM databases WHERE id = '" DATABASE "'"),
		FAILOVER_DOCS + 1);
	assert_int_equal(query(w, "SELECT count(DISTINCT version) FROM documents "
		"WHERE database_id = '" DATABASE "'"), FAILOVER_DOCS + 1);

	reader = cairn_it_store_open(&w->env[1], "reader", DATABASE);
	cairn_it_sync(&result, reader, NULL);
	assert_int_equal(result.pulled, FAILOVER_DOCS + 1);
	cairn_it_assert_store_matches_server(&w->env[1], reader, DATABASE, COLLECTION);
	cairn_it_assert_store_matches_server(&w->env[1], writer, DATABASE, COLLECTION);
	cairn_store_free(writer);
	cairn_store_free(reader);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_integration_postgres_two_instances__clients_converge, world_setup,
			world_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_postgres_two_instances__failover_mid_push, world_setup,
			world_teardown),
	};

	return CAIRN_TEST_PG_RUN_GROUP(pg, tests);
}
