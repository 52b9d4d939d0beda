/* conflict_strategies.c: strategies end to end against the real server: counters from two
 * tills, a field-level merge, the manual inbox, restore, and the server's HLC bound. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"

#define DATABASE "main"
#define COLLECTION "items"

typedef struct {
	cairn_it_env env;
	cairn_store *a;
	cairn_store *b;
} world;

static int world_setup(void **state)
{
	world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	*state = w;
	cairn_it_env_init(&w->env);
	w->a = cairn_it_store_open(&w->env, "a", DATABASE);
	w->b = cairn_it_store_open(&w->env, "b", DATABASE);
	return 0;
}

static int world_teardown(void **state)
{
	world *w = *state;

	*state = NULL;
	if (!w)
		return 0;
	cairn_store_free(w->a);
	cairn_store_free(w->b);
	cairn_it_env_free(&w->env);
	free(w);
	return 0;
}

static void both_policy(world *w, const char *strategy, const char *counter)
{
	const char *counters[] = { counter };

	assert_int_equal(cairn_policy_set(w->a, COLLECTION, strategy, counters, counter ? 1 : 0),
		0);
	assert_int_equal(cairn_policy_set(w->b, COLLECTION, strategy, counters, counter ? 1 : 0),
		0);
}

static json_object *get(cairn_store *store, const char *id)
{
	char *text = NULL;
	json_object *doc;

	if (cairn_doc_get(&text, store, COLLECTION, id) != 0)
		fail_msg("get %s: %s", id, cairn_error_last());
	doc = cairn_it_parse(text);
	cairn_free(text);
	return doc;
}

static void assert_converged(world *w)
{
	cairn_it_assert_store_matches_server(&w->env, w->a, DATABASE, COLLECTION);
	cairn_it_assert_store_matches_server(&w->env, w->b, DATABASE, COLLECTION);
}

/* Two tills each sell 3 of the last 4 pens offline: the stock ends at -2 everywhere. */
static void test_integration_conflict_strategies__counter_two_tills(void **state)
{
	world *w = *state;
	json_object *doc;

	both_policy(w, "lww", "stock");
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, "pen", "{\"name\":\"pen\"}"), 0);
	assert_int_equal(cairn_doc_increment(w->a, COLLECTION, "pen", "stock", 4), 0);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(NULL, w->b, NULL);
	assert_int_equal(cairn_doc_increment(w->a, COLLECTION, "pen", "stock", -3), 0);
	assert_int_equal(cairn_doc_increment(w->b, COLLECTION, "pen", "stock", -3), 0);
	/* A put of another field meanwhile neither resets nor loses the count. */
	assert_int_equal(cairn_doc_put(w->b, COLLECTION, "pen", "{\"name\":\"blue pen\"}"), 0);
	doc = get(w->b, "pen");
	assert_int_equal(json_object_get_int64(json_object_object_get(doc, "stock")), 1);
	json_object_put(doc);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(NULL, w->b, NULL);
	cairn_it_sync(NULL, w->a, NULL);
	doc = get(w->a, "pen");
	assert_int_equal(json_object_get_int64(json_object_object_get(doc, "stock")), -2);
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "name")),
		"blue pen");
	json_object_put(doc);
	assert_converged(w);
	cairn_it_assert_outbox_empty(w->a);
	cairn_it_assert_outbox_empty(w->b);
}

/* Increments are not edits: a patch made while another till counted is no conflict, even
 * under manual. */
static void test_integration_conflict_strategies__increment_is_no_conflict(void **state)
{
	world *w = *state;
	cairn_sync_result result;
	json_object *doc;
	char *text = NULL;

	both_policy(w, "manual", "stock");
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, "pen", "{\"name\":\"pen\"}"), 0);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(NULL, w->b, NULL);
	assert_int_equal(cairn_doc_increment(w->a, COLLECTION, "pen", "stock", 7), 0);
	assert_int_equal(cairn_doc_patch(w->b, COLLECTION, "pen", "{\"name\":\"blue\"}"), 0);
	assert_int_equal(cairn_doc_increment(w->b, COLLECTION, "pen", "stock", 1), 0);
	assert_int_equal(cairn_doc_patch(w->b, COLLECTION, "pen", "{\"colour\":\"blue\"}"), 0);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(&result, w->b, NULL);
	cairn_it_sync(&result, w->b, NULL);
	cairn_it_sync(NULL, w->a, NULL);
	assert_int_equal(cairn_conflicts_list(&text, w->b), 0);
	assert_string_equal(text, "[]");
	cairn_free(text);
	doc = get(w->a, "pen");
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "name")), "blue");
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "colour")),
		"blue");
	assert_int_equal(json_object_get_int64(json_object_object_get(doc, "stock")), 8);
	json_object_put(doc);
	assert_converged(w);
	cairn_it_assert_outbox_empty(w->b);
}

/* The notes app: one device edits the title, the other the body; both edits survive. */
static void test_integration_conflict_strategies__merge_notes(void **state)
{
	world *w = *state;
	json_object *doc;
	json_object *ledger;

	both_policy(w, "merge", NULL);
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, "note",
		"{\"title\":\"Groceries\",\"body\":\"milk\",\"tags\":[\"home\"]}"), 0);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(NULL, w->b, NULL);
	assert_int_equal(cairn_doc_patch(w->a, COLLECTION, "note", "{\"title\":\"Shopping\"}"),
		0);
	assert_int_equal(cairn_doc_patch(w->b, COLLECTION, "note",
		"{\"body\":\"milk, eggs\",\"tags\":[\"home\",\"weekend\"]}"), 0);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(NULL, w->b, NULL);
	cairn_it_sync(NULL, w->a, NULL);
	doc = get(w->a, "note");
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "title")),
		"Shopping");
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "body")),
		"milk, eggs");
	assert_int_equal(json_object_array_length(json_object_object_get(doc, "tags")), 2);
	json_object_put(doc);
	assert_converged(w);
	ledger = cairn_it_conflicts(w->b);
	assert_int_equal(json_object_array_length(ledger), 1);
	assert_string_equal(json_object_get_string(json_object_object_get(
		json_object_array_get_idx(ledger, 0), "strategy")), "merge");
	json_object_put(ledger);
}

/* Manual: the second writer's version waits in its inbox; "keep mine" syncs everywhere. */
static void test_integration_conflict_strategies__manual_then_restore(void **state)
{
	world *w = *state;
	json_object *doc;
	json_object *ledger;
	char *text = NULL;

	both_policy(w, "manual", NULL);
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, "n", "{\"v\":\"base\"}"), 0);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(NULL, w->b, NULL);
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, "n", "{\"v\":\"a\"}"), 0);
	assert_int_equal(cairn_doc_put(w->b, COLLECTION, "n", "{\"v\":\"b\"}"), 0);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(NULL, w->b, NULL);
	doc = get(w->b, "n");
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "v")), "a");
	json_object_put(doc);
	assert_int_equal(cairn_conflicts_inbox(&text, w->b), 0);
	ledger = cairn_it_parse(text);
	cairn_free(text);
	assert_int_equal(json_object_array_length(ledger), 1);
	json_object_put(ledger);
	assert_int_equal(cairn_conflict_resolve(w->b, COLLECTION, "n", CAIRN_RESOLVE_MINE, NULL),
		0);
	cairn_it_sync(NULL, w->b, NULL);
	cairn_it_sync(NULL, w->a, NULL);
	doc = get(w->a, "n");
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "v")), "b");
	json_object_put(doc);
	assert_converged(w);

	/* Switch to LWW: A's older edit loses to B's, then A restores it from its ledger. */
	both_policy(w, "lww", NULL);
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, "n", "{\"v\":\"a2\"}"), 0);
	cairn_it_sleep_ms(5);
	assert_int_equal(cairn_doc_put(w->b, COLLECTION, "n", "{\"v\":\"b2\"}"), 0);
	cairn_it_sync(NULL, w->b, NULL);
	cairn_it_sync(NULL, w->a, NULL);
	doc = get(w->a, "n");
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "v")), "b2");
	json_object_put(doc);
	ledger = cairn_it_conflicts(w->a);
	assert_int_equal(cairn_conflict_restore(w->a, json_object_get_int64(
		json_object_object_get(json_object_array_get_idx(ledger, 0), "id"))), 0);
	json_object_put(ledger);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(NULL, w->b, NULL);
	doc = get(w->b, "n");
	assert_string_equal(json_object_get_string(json_object_object_get(doc, "v")), "a2");
	json_object_put(doc);
	assert_converged(w);
}

/* A mutation stamped an hour ahead is clamped to the server's clock + 60 s. */
static void test_integration_conflict_strategies__hlc_bound(void **state)
{
	world *w = *state;
	char url[256];
	char body[1024];
	char *reply = NULL;
	json_object *page;
	json_object *change;
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	int64_t ahead = (now_ms + 3600 * 1000) << 16;
	long status;

	assert_int_equal(cairn_doc_put(w->a, COLLECTION, "x", "{\"v\":1}"), 0);
	cairn_it_sync(NULL, w->a, NULL);
	snprintf(url, sizeof(url), "%s/sync/databases/" DATABASE "/push", w->env.url);
	snprintf(body, sizeof(body), "{\"clientId\":\"c-fast\",\"mutations\":[{\"mutationId\":"
		"\"m1\",\"op\":\"put\",\"collection\":\"" COLLECTION "\",\"id\":\"fast\","
		"\"baseVersion\":0,\"prevMutationId\":null,\"hlc\":%" PRId64 ",\"data\":{\"v\":2}}]}",
		ahead);
	status = cairn_it_http(&reply, "POST", url, CAIRN_IT_PROJECT, CAIRN_IT_KEY, NULL, body,
		strlen(body));
	assert_int_equal(status, 200);
	assert_non_null(strstr(reply, "applied"));
	free(reply);
	snprintf(url, sizeof(url), "%s/sync/databases/" DATABASE "/pull", w->env.url);
	status = cairn_it_http(&reply, "POST", url, CAIRN_IT_PROJECT, CAIRN_IT_KEY, NULL,
		"{\"checkpoint\":1}", 16);
	assert_int_equal(status, 200);
	page = cairn_it_parse(reply);
	free(reply);
	change = json_object_array_get_idx(json_object_object_get(page, "changes"), 0);
	assert_non_null(change);
	assert_string_equal(json_object_get_string(json_object_object_get(change, "id")), "fast");
	assert_true(json_object_get_int64(json_object_object_get(change, "hlc")) <
		((now_ms + 120 * 1000) << 16));
	json_object_put(page);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_integration_conflict_strategies__counter_two_tills,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_conflict_strategies__increment_is_no_conflict, world_setup,
			world_teardown),
		cmocka_unit_test_setup_teardown(test_integration_conflict_strategies__merge_notes,
			world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_conflict_strategies__manual_then_restore, world_setup,
			world_teardown),
		cmocka_unit_test_setup_teardown(test_integration_conflict_strategies__hlc_bound,
			world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
