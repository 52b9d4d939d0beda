/* convergence.c: property-based convergence under every strategy: 4 clients make random puts,
 * patches, deletes and increments on a small id space with random sync points and offline
 * periods against the real server; after a final sync round every view equals the server's,
 * every increment counts once, every conflict is in a ledger and the manual inbox holds
 * exactly the conflicts. Deterministic seeds; a failure names its seed.
 * CAIRN_CONVERGENCE_ITERATIONS=N runs N operations per strategy (default 80);
 * CAIRN_CONVERGENCE_SEED=S replays one seed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"

#define DATABASE "main"
#define COLLECTION "items"
#define CLIENTS 4
#define DOCS 5          /* d0..d4: put, patch, delete */
#define COUNTERS 2      /* k0..k1: put, patch, increment (never deleted) */
#define FINAL_ROUNDS 8

static const char *const strategies[] = {
	"lww", "server-wins", "client-wins", "merge", "manual", "custom",
};

typedef struct {
	uint64_t state;
} rng;

static uint32_t next(rng *r)
{
	/* xorshift64*: tiny, and the same sequence on every platform */
	r->state ^= r->state >> 12;
	r->state ^= r->state << 25;
	r->state ^= r->state >> 27;
	return (uint32_t)((r->state * 0x2545F4914F6CDD1DULL) >> 32);
}

static uint32_t below(rng *r, uint32_t n)
{
	return next(r) % n;
}

/* The custom resolver keeps the local version (or the delete). */
static int keep_local(char **out_json, const char *collection, const char *id,
	const char *base, const char *local, const char *remote, void *payload)
{
	(void)collection;
	(void)id;
	(void)base;
	(void)remote;
	(void)payload;
	if (local && !(*out_json = strdup(local)))
		return -1;
	return 0;
}

typedef struct {
	cairn_store *store;
	int offline;
	uint64_t conflicts;  /* reported by its syncs */
} client;

static int64_t int_field(json_object *doc, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(doc, key, &value))
		return 0;
	return json_object_get_int64(value);
}

static uint64_t array_length_of(char *text)
{
	json_object *parsed = cairn_it_parse(text);
	uint64_t length = json_object_array_length(parsed);

	cairn_free(text);
	json_object_put(parsed);
	return length;
}

/* Nothing pending; a parked mutation may only be a patch of a document deleted on the server
 * (a patch that won against a delete has nothing left to patch: docs/conflicts.md). */
static void assert_outbox_settled(cairn_store *store, uint64_t seed, const char *strategy)
{
	cairn_store_status status;
	char *text = NULL;
	json_object *outbox;

	assert_int_equal(cairn_store_status_get(&status, store), 0);
	if (status.pending != 0)
		fail_msg("seed %" PRIu64 " %s: %" PRIu64 " mutations still pending", seed, strategy,
			status.pending);
	assert_int_equal(cairn_outbox_list(&text, store), 0);
	outbox = cairn_it_parse(text);
	cairn_free(text);
	for (size_t i = 0; i < json_object_array_length(outbox); i++) {
		json_object *entry = json_object_array_get_idx(outbox, i);
		const char *op = json_object_get_string(json_object_object_get(entry, "op"));
		const char *error = json_object_get_string(json_object_object_get(entry, "error"));

		if (strcmp(op, "patch") != 0 || !error || !strstr(error, "document_not_found"))
			fail_msg("seed %" PRIu64 " %s: unexpected parked mutation %s", seed, strategy,
				json_object_to_json_string(entry));
	}
	json_object_put(outbox);
}

static void sync_client(client *c)
{
	cairn_sync_result result;

	cairn_it_sync(&result, c->store, NULL);
	c->conflicts += result.conflicts;
}

static void run(const char *strategy, uint64_t seed, long operations)
{
	cairn_it_env env;
	client clients[CLIENTS];
	const char *counters[] = { "n" };
	int64_t expected[COUNTERS] = { 0 };
	rng r = { seed * 2654435761ULL + 1 };
	json_object *server;
	char name[16];
	char json[128];

	fprintf(stderr, "convergence: strategy %s seed %" PRIu64 " (replay with "
		"CAIRN_CONVERGENCE_SEED=%" PRIu64 ")\n", strategy, seed, seed);
	cairn_it_env_init(&env);
	for (int i = 0; i < CLIENTS; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		clients[i].store = cairn_it_store_open(&env, name, DATABASE);
		clients[i].offline = 0;
		clients[i].conflicts = 0;
		assert_int_equal(cairn_policy_set(clients[i].store, COLLECTION, strategy, counters, 1),
			0);
		assert_int_equal(cairn_store_set_resolver(clients[i].store, keep_local, NULL), 0);
	}
	for (int k = 0; k < COUNTERS; k++) {
		snprintf(name, sizeof(name), "k%d", k);
		assert_int_equal(cairn_doc_put(clients[0].store, COLLECTION, name, "{\"label\":0}"),
			0);
	}
	for (int i = 0; i < CLIENTS; i++)
		sync_client(&clients[i]);

	for (long step = 0; step < operations; step++) {
		client *c = &clients[below(&r, CLIENTS)];
		uint32_t action = below(&r, 100);
		int rc;

		if (action < 25) {
			snprintf(name, sizeof(name), below(&r, 4) ? "d%u" : "k%u",
				below(&r, DOCS) % (below(&r, 4) ? DOCS : COUNTERS));
			snprintf(json, sizeof(json), "{\"v\":%ld,\"w\":%u,\"o\":{\"a\":%u}}", step,
				below(&r, 3), below(&r, 3));
			rc = cairn_doc_put(c->store, COLLECTION, name, json);
			assert_int_equal(rc, 0);
		} else if (action < 45) {
			snprintf(name, sizeof(name), "d%u", below(&r, DOCS));
			snprintf(json, sizeof(json), below(&r, 2) ? "{\"w\":%ld}" :
				"{\"o\":{\"a\":%ld,\"b\":1}}", step);
			rc = cairn_doc_patch(c->store, COLLECTION, name, json);
			assert_true(rc == 0 || rc == CAIRN_ENOTFOUND);
		} else if (action < 55) {
			snprintf(name, sizeof(name), "d%u", below(&r, DOCS));
			rc = cairn_doc_delete(c->store, COLLECTION, name);
			assert_true(rc == 0 || rc == CAIRN_ENOTFOUND);
		} else if (action < 75) {
			uint32_t k = below(&r, COUNTERS);
			int64_t delta = (int64_t)below(&r, 11) - 5;

			snprintf(name, sizeof(name), "k%u", k);
			rc = cairn_doc_increment(c->store, COLLECTION, name, "n", delta);
			if (rc != 0)
				fail_msg("increment %s: %s", name, cairn_error_last());
			expected[k] += delta;
		} else if (action < 92) {
			if (!c->offline)
				sync_client(c);
		} else {
			c->offline = !c->offline;
		}
	}

	/* Everyone back online; rounds until nothing moves. */
	for (int round = 0; round < FINAL_ROUNDS; round++) {
		int quiet = 1;

		for (int i = 0; i < CLIENTS; i++) {
			cairn_sync_result result;

			cairn_it_sync(&result, clients[i].store, NULL);
			clients[i].conflicts += result.conflicts;
			if (result.pushed || result.pulled || result.conflicts)
				quiet = 0;
		}
		if (quiet)
			break;
	}

	server = cairn_it_server_docs(&env, DATABASE, COLLECTION);
	for (int k = 0; k < COUNTERS; k++) {
		int found = 0;

		snprintf(name, sizeof(name), "k%d", k);
		for (size_t j = 0; j < json_object_array_length(server); j++) {
			json_object *doc = json_object_array_get_idx(server, j);

			if (strcmp(json_object_get_string(json_object_object_get(doc, "$id")), name))
				continue;
			found = 1;
			if (int_field(doc, "n") != expected[k])
				fail_msg("seed %" PRIu64 " %s: counter %s is %" PRId64 ", increments sum to "
					"%" PRId64, seed, strategy, name, int_field(doc, "n"), expected[k]);
		}
		if (!found)
			fail_msg("seed %" PRIu64 " %s: counter document %s is missing", seed, strategy,
				name);
	}
	json_object_put(server);
	{
		uint64_t total = 0;

		for (int i = 0; i < CLIENTS; i++)
			total += clients[i].conflicts;
		fprintf(stderr, "convergence: %s seed %" PRIu64 ": %" PRIu64 " conflicts\n", strategy,
			seed, total);
		/* The run must have exercised the strategy at all. */
		if (total == 0)
			fail_msg("seed %" PRIu64 " %s: no conflict happened; the run proves nothing",
				seed, strategy);
	}
	for (int i = 0; i < CLIENTS; i++) {
		char *text = NULL;
		uint64_t ledger;
		uint64_t open;

		cairn_it_assert_store_matches_server(&env, clients[i].store, DATABASE, COLLECTION);
		assert_outbox_settled(clients[i].store, seed, strategy);
		assert_int_equal(cairn_conflicts_list(&text, clients[i].store), 0);
		ledger = array_length_of(text);
		assert_int_equal(cairn_conflicts_inbox(&text, clients[i].store), 0);
		open = array_length_of(text);
		/* Every conflict a sync reported left exactly one ledger row (what it overwrote is
		 * there), and the inbox is exactly the manual ones. */
		if (ledger != clients[i].conflicts)
			fail_msg("seed %" PRIu64 " %s: client %d reported %" PRIu64 " conflicts but its "
				"ledger has %" PRIu64, seed, strategy, i, clients[i].conflicts, ledger);
		if (open != (strcmp(strategy, "manual") == 0 ? ledger : 0))
			fail_msg("seed %" PRIu64 " %s: client %d has %" PRIu64 " open inbox entries of "
				"%" PRIu64 " conflicts", seed, strategy, i, open, ledger);
		cairn_store_free(clients[i].store);
	}
	cairn_it_env_free(&env);
}

static void test_integration_convergence__every_strategy(void **state)
{
	const char *iterations = getenv("CAIRN_CONVERGENCE_ITERATIONS");
	const char *replay = getenv("CAIRN_CONVERGENCE_SEED");
	long operations = iterations && atol(iterations) > 0 ? atol(iterations) : 80;
	int seeds = 2;

	(void)state;
	for (size_t s = 0; s < sizeof(strategies) / sizeof(strategies[0]); s++) {
		if (replay && replay[0]) {
			run(strategies[s], strtoull(replay, NULL, 10), operations);
			continue;
		}
		for (int i = 0; i < seeds; i++)
			run(strategies[s], 1000 + s * 10 + (uint64_t)i, operations);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integration_convergence__every_strategy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
