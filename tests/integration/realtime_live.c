/* realtime_live.c: the background replicator against the real server through a faulty proxy:
 * server down at start, cuts mid-push and mid-pull, a server restart, a long offline catch-up,
 * and two live clients. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"
#include "support/proxy.h"
#include "util/time.h"

#define DATABASE "live"
#define WAIT_MS 60000 /* an upper bound for "eventually", never a timing assertion */

typedef struct {
	cairn_it_env *env;
	cairn_test_proxy *proxy;
	char url[128];
} world;

static void world_init(world *w, cairn_it_env *env)
{
	w->env = env;
	assert_int_equal(cairn_test_proxy_start(&w->proxy, cairn_test_server_port(env->server)), 0);
	cairn_test_proxy_url(w->proxy, w->url, sizeof(w->url));
}

static void world_free(world *w)
{
	cairn_test_proxy_stop(w->proxy);
}

/* A store whose remote is the proxy. */
static cairn_store *open_store(world *w, const char *name)
{
	cairn_store *store = cairn_it_store_open(w->env, name, DATABASE);
	cairn_remote remote = { CAIRN_REMOTE_VERSION, w->url, CAIRN_IT_PROJECT, CAIRN_IT_KEY,
		DATABASE, NULL, 0, NULL, CAIRN_REMOTE_SYNC };

	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	return store;
}

static cairn_replicator *start(cairn_store *store, long backoff_max_ms)
{
	cairn_replicator_options options = CAIRN_REPLICATOR_OPTIONS_INIT;
	cairn_replicator *replicator = NULL;

	options.backoff_initial_ms = 50;
	options.backoff_max_ms = backoff_max_ms;
	options.request_timeout_ms = 3000;
	options.ping_interval_ms = 1000;
	options.ping_timeout_ms = 2000;
	if (cairn_replicator_start(&replicator, store, &options) != 0)
		fail_msg("replicator start: %s", cairn_error_last());
	return replicator;
}

static cairn_replicator_status status_of(cairn_replicator *replicator)
{
	cairn_replicator_status status;

	assert_int_equal(cairn_replicator_status_get(&status, replicator), 0);
	return status;
}

static void put(cairn_store *store, const char *id, int n)
{
	char json[128];
	int rc;

	snprintf(json, sizeof(json), "{\"n\":%d,\"title\":\"doc %s\"}", n, id);
	rc = cairn_doc_put(store, "items", id, json);
	if (rc != 0)
		fail_msg("put %s: %s", id, cairn_error_last());
}

/* 1 when `store` has document `id` with field n == `n`. */
static int has_doc(cairn_store *store, const char *id, int n)
{
	char *json = NULL;
	char needle[32];
	int found;

	if (cairn_doc_get(&json, store, "items", id) != 0)
		return 0;
	snprintf(needle, sizeof(needle), "\"n\":%d", n);
	found = strstr(json, needle) != NULL;
	cairn_free(json);
	return found;
}

static size_t server_count(world *w)
{
	json_object *docs = cairn_it_server_docs(w->env, DATABASE, "items");
	size_t count = json_object_array_length(docs);

	json_object_put(docs);
	return count;
}

#define WAIT_FOR(condition, what) CAIRN_IT_WAIT_FOR(condition, what, WAIT_MS)

static void test_integration_realtime_live__server_down_at_start(void **state)
{
	world w;
	cairn_store *a;
	cairn_replicator *replicator;
	cairn_replicator_status status;
	int64_t up;
	int i;

	world_init(&w, *state);
	cairn_test_proxy_set_mode(w.proxy, CAIRN_PROXY_REFUSE);
	a = open_store(&w, "a");
	replicator = start(a, 2000);
	WAIT_FOR(status_of(replicator).state == CAIRN_REPLICATOR_OFFLINE &&
		status_of(replicator).last_error == CAIRN_EOFFLINE, "the replicator to go offline");
	for (i = 0; i < 20; i++) {
		char id[16];

		snprintf(id, sizeof(id), "d%02d", i);
		put(a, id, i); /* local writes succeed while offline */
	}
	WAIT_FOR(status_of(replicator).pending == 20, "the pending count");
	status = status_of(replicator);
	assert_true(status.state == CAIRN_REPLICATOR_OFFLINE ||
		status.state == CAIRN_REPLICATOR_CONNECTING);
	assert_true(status.retry_in_ms <= 2000 + 10); /* the cap bounds every wait */

	up = cairn__time_monotonic_ms();
	cairn_test_proxy_set_mode(w.proxy, CAIRN_PROXY_PASS);
	WAIT_FOR(status_of(replicator).pending == 0 && status_of(replicator).state ==
		CAIRN_REPLICATOR_IDLE, "the outbox to drain");
	printf("server up -> synced: %lld ms (backoff cap 2000 ms)\n",
		(long long)(cairn__time_monotonic_ms() - up));
	assert_int_equal(server_count(&w), 20);
	WAIT_FOR(status_of(replicator).realtime == 1, "the realtime subscription");
	cairn_replicator_stop(replicator);
	cairn_it_assert_store_matches_server(w.env, a, DATABASE, "items");
	cairn_it_assert_outbox_empty(a);
	cairn_store_free(a);
	world_free(&w);
}

static void test_integration_realtime_live__cut_mid_push_and_pull(void **state)
{
	world w;
	cairn_store *a, *b;
	cairn_replicator *ra, *rb;
	json_object *conflicts;
	int i;

	world_init(&w, *state);
	a = open_store(&w, "a");
	ra = start(a, 500);
	WAIT_FOR(status_of(ra).state == CAIRN_REPLICATOR_IDLE, "a first sync");

	/* Cut inside a push request: the server never sees the whole batch. */
	cairn_test_proxy_cut_on(w.proxy, "/push", CAIRN_PROXY_TO_SERVER, 300);
	for (i = 0; i < 100; i++) {
		char id[16];

		snprintf(id, sizeof(id), "p%03d", i);
		put(a, id, i);
	}
	WAIT_FOR(cairn_test_proxy_cuts(w.proxy) >= 1, "the cut mid-request");
	WAIT_FOR(status_of(ra).pending == 0, "the outbox to drain after a cut request");

	/* Cut inside a push response: the server applied it, the client never heard. */
	cairn_test_proxy_cut_on(w.proxy, "/push", CAIRN_PROXY_TO_CLIENT, 100);
	for (i = 100; i < 200; i++) {
		char id[16];

		snprintf(id, sizeof(id), "p%03d", i);
		put(a, id, i);
	}
	WAIT_FOR(cairn_test_proxy_cuts(w.proxy) >= 2, "the cut mid-response");
	WAIT_FOR(status_of(ra).pending == 0 && status_of(ra).state == CAIRN_REPLICATOR_IDLE,
		"the outbox to drain after a cut response");
	assert_int_equal(server_count(&w), 200);
	/* Nothing applied twice: a replayed push would have met its own write as a conflict. */
	conflicts = cairn_it_conflicts(a);
	assert_int_equal(json_object_array_length(conflicts), 0);
	json_object_put(conflicts);

	/* Cut inside a pull response: B must still get every change exactly once. */
	b = open_store(&w, "b");
	cairn_test_proxy_cut_on(w.proxy, "/pull", CAIRN_PROXY_TO_CLIENT, 5000);
	rb = start(b, 500);
	WAIT_FOR(cairn_test_proxy_cuts(w.proxy) >= 3, "the cut mid-pull");
	WAIT_FOR(status_of(rb).checkpoint == status_of(ra).checkpoint &&
		status_of(rb).state == CAIRN_REPLICATOR_IDLE, "B to catch up");
	cairn_replicator_stop(ra);
	cairn_replicator_stop(rb);
	for (i = 0; i < 200; i++) {
		char id[16];

		snprintf(id, sizeof(id), "p%03d", i);
		assert_true(has_doc(b, id, i));
	}
	cairn_it_assert_store_matches_server(w.env, a, DATABASE, "items");
	cairn_it_assert_store_matches_server(w.env, b, DATABASE, "items");
	cairn_it_assert_outbox_empty(a);
	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

static void test_integration_realtime_live__server_restart(void **state)
{
	world w;
	cairn_it_env *env = *state;
	cairn_store *a, *b;
	cairn_replicator *ra, *rb;
	int i;

	world_init(&w, env);
	a = open_store(&w, "a");
	b = open_store(&w, "b");
	ra = start(a, 500);
	rb = start(b, 500);
	put(a, "before", 1);
	WAIT_FOR(has_doc(b, "before", 1), "the first write to reach B");
	WAIT_FOR(status_of(rb).realtime == 1, "B's realtime subscription");

	cairn_test_server_crash(env->server);
	for (i = 0; i < 5; i++) {
		char id[16];

		snprintf(id, sizeof(id), "down%d", i);
		put(a, id, i); /* written while the server is down */
	}
	WAIT_FOR(status_of(rb).realtime == 0, "B to notice the server is gone");
	assert_int_equal(cairn_test_server_restart(env->server), 0);
	cairn_test_proxy_set_target(w.proxy, cairn_test_server_port(env->server));
	snprintf(env->url, sizeof(env->url), "%s", cairn_test_server_url(env->server));
	/* A change made on the server directly, while B may not be subscribed yet. */
	assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases/" DATABASE
		"/collections/items/documents", "{\"documentId\":\"rest\",\"data\":{\"n\":7}}"), 201);
	for (i = 0; i < 5; i++) {
		char id[16];

		snprintf(id, sizeof(id), "down%d", i);
		WAIT_FOR(has_doc(b, id, i), "writes made during the outage to reach B");
	}
	WAIT_FOR(has_doc(b, "rest", 7), "the server-side write to reach B");
	WAIT_FOR(status_of(rb).realtime == 1, "B to resubscribe");
	put(a, "after", 2);
	WAIT_FOR(has_doc(b, "after", 2), "a live write after the restart");
	cairn_replicator_stop(ra);
	cairn_replicator_stop(rb);
	cairn_it_assert_store_matches_server(env, b, DATABASE, "items");
	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

static void test_integration_realtime_live__offline_catch_up(void **state)
{
	world w;
	cairn_store *a, *b;
	cairn_replicator *rb;
	cairn_sync_result result;
	json_object *docs;
	int i;

	world_init(&w, *state);
	a = open_store(&w, "a");
	b = open_store(&w, "b");
	rb = start(b, 1000);
	cairn_replicator_set_reachable(rb, 0);
	WAIT_FOR(status_of(rb).state == CAIRN_REPLICATOR_OFFLINE, "B to be offline");
	for (i = 0; i < 10000; i++) {
		char id[16];

		snprintf(id, sizeof(id), "m%05d", i);
		put(a, id, i);
	}
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 10000);
	assert_int_equal(status_of(rb).state, CAIRN_REPLICATOR_OFFLINE);
	cairn_replicator_set_reachable(rb, 1);
	WAIT_FOR(status_of(rb).checkpoint >= result.checkpoint, "B to catch up 10,000 changes");
	cairn_replicator_stop(rb);
	docs = cairn_it_store_docs(b, "items");
	assert_int_equal(json_object_array_length(docs), 10000);
	json_object_put(docs);
	assert_true(has_doc(b, "m00000", 0));
	assert_true(has_doc(b, "m09999", 9999));
	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

static void test_integration_realtime_live__two_clients(void **state)
{
	world w;
	cairn_store *a, *b;
	cairn_replicator *ra, *rb;
	int i;

	world_init(&w, *state);
	a = open_store(&w, "a");
	b = open_store(&w, "b");
	ra = start(a, 500);
	rb = start(b, 500);
	WAIT_FOR(status_of(ra).realtime && status_of(rb).realtime, "both subscriptions");
	for (i = 0; i < 20; i++) {
		char id[16];

		snprintf(id, sizeof(id), "a%02d", i);
		put(a, id, i);
		WAIT_FOR(has_doc(b, id, i), "A's write on B");
	}
	put(b, "from-b", 42);
	WAIT_FOR(has_doc(a, "from-b", 42), "B's write on A");
	cairn_replicator_stop(ra);
	cairn_replicator_stop(rb);
	cairn_store_free(a);
	cairn_store_free(b);
	world_free(&w);
}

static void test_integration_realtime_live__stalled_server(void **state)
{
	world w;
	cairn_store *a;
	cairn_replicator *replicator;

	world_init(&w, *state);
	a = open_store(&w, "a");
	replicator = start(a, 500);
	WAIT_FOR(status_of(replicator).state == CAIRN_REPLICATOR_IDLE &&
		status_of(replicator).realtime, "a first sync");
	/* The network path goes silent: connections open but nothing ever answers. */
	cairn_test_proxy_set_mode(w.proxy, CAIRN_PROXY_STALL);
	cairn_test_proxy_cut_all(w.proxy);
	put(a, "during-stall", 1);
	WAIT_FOR(status_of(replicator).last_error == CAIRN_EOFFLINE &&
		status_of(replicator).pending == 1, "the stalled request to time out");
	assert_int_equal(server_count(&w), 0);
	cairn_test_proxy_set_mode(w.proxy, CAIRN_PROXY_PASS);
	cairn_test_proxy_cut_all(w.proxy); /* the stalled connections break: retry */
	WAIT_FOR(status_of(replicator).pending == 0 && status_of(replicator).state ==
		CAIRN_REPLICATOR_IDLE, "the write to go through after the stall");
	WAIT_FOR(status_of(replicator).realtime == 1, "the subscription to come back");
	cairn_replicator_stop(replicator);
	assert_int_equal(server_count(&w), 1);
	cairn_store_free(a);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_realtime_live__server_down_at_start),
		CAIRN_IT_TEST(test_integration_realtime_live__cut_mid_push_and_pull),
		CAIRN_IT_TEST(test_integration_realtime_live__server_restart),
		CAIRN_IT_TEST(test_integration_realtime_live__offline_catch_up),
		CAIRN_IT_TEST(test_integration_realtime_live__two_clients),
		CAIRN_IT_TEST(test_integration_realtime_live__stalled_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
