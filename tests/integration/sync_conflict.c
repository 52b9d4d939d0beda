/* sync_conflict.c: one document edited (or deleted) offline on two stores: last write wins
 * by hybrid logical clock everywhere, and the overwritten version lands in a conflict log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"

#define DATABASE "main"
#define COLLECTION "items"
#define DOC "shared"

typedef struct {
	cairn_it_env env;
	cairn_store *a;
	cairn_store *b;
} world;

/* cmocka setup: server, two stores, and DOC created by A and seen by both. */
static int world_setup(void **state)
{
	world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	*state = w;
	cairn_it_env_init(&w->env);
	w->a = cairn_it_store_open(&w->env, "a", DATABASE);
	w->b = cairn_it_store_open(&w->env, "b", DATABASE);
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, DOC, "{\"v\":\"base\",\"keep\":1}"), 0);
	/* a second document nobody fights over */
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, "calm", "{\"v\":\"calm\"}"), 0);
	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(NULL, w->b, NULL);
	return 0;
}

/* cmocka teardown, also after a failure: no server or temp dir is left behind. */
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

/* The user field "v" of `document` (a Document object), or NULL if absent / not an object. */
static const char *field_v(json_object *document)
{
	json_object *v;

	if (!document || !json_object_is_type(document, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(document, "v", &v))
		return NULL;
	return json_object_get_string(v);
}

/* Asserts every store and the server hold DOC with v == `value` (NULL: deleted everywhere). */
static void assert_everywhere(world *w, const char *value)
{
	cairn_store *stores[2] = { w->a, w->b };
	char *body = NULL, *json = NULL;
	json_object *document;
	long status;
	int i;

	status = cairn_it_rest(&body, &w->env, "GET",
		"/databases/" DATABASE "/collections/" COLLECTION "/documents/" DOC, NULL);
	if (!value) {
		cairn_it_assert_error(status, body, 404, "document_not_found");
	} else {
		if (status != 200)
			fail_msg("GET " DOC ": %ld %s", status, body);
		document = cairn_it_parse(body);
		assert_non_null(field_v(document));
		assert_string_equal(field_v(document), value);
		json_object_put(document);
	}
	free(body);
	for (i = 0; i < 2; i++) {
		int rc = cairn_doc_get(&json, stores[i], COLLECTION, DOC);

		if (!value) {
			assert_int_equal(rc, CAIRN_ENOTFOUND);
			continue;
		}
		assert_int_equal(rc, 0);
		document = cairn_it_parse(json);
		cairn_free(json);
		assert_non_null(field_v(document));
		assert_string_equal(field_v(document), value);
		json_object_put(document);
	}
	for (i = 0; i < 2; i++) {
		cairn_it_assert_store_matches_server(&w->env, stores[i], DATABASE, COLLECTION);
		cairn_it_assert_outbox_empty(stores[i]);
	}
}

/* Asserts `store`'s conflict log is exactly one entry for DOC with that winner, local "v"
 * and remote "v" (NULL: that side is a delete, so null). */
static void assert_one_conflict(cairn_store *store, const char *winner, const char *local_v,
	const char *remote_v)
{
	json_object *log = cairn_it_conflicts(store), *entry, *field;
	cairn_store_status status;

	if (json_object_array_length(log) != 1)
		fail_msg("expected one conflict, log is %s", json_object_to_json_string(log));
	entry = json_object_array_get_idx(log, 0);
	assert_true(json_object_object_get_ex(entry, "collection", &field));
	assert_string_equal(json_object_get_string(field), COLLECTION);
	assert_true(json_object_object_get_ex(entry, "documentId", &field));
	assert_string_equal(json_object_get_string(field), DOC);
	assert_true(json_object_object_get_ex(entry, "winner", &field));
	assert_string_equal(json_object_get_string(field), winner);
	assert_true(json_object_object_get_ex(entry, "strategy", &field));
	assert_true(json_object_is_type(field, json_type_string));
	assert_true(json_object_object_get_ex(entry, "at", &field));

	assert_true(json_object_object_get_ex(entry, "local", &field));
	if (local_v) {
		if (!field_v(field) || strcmp(field_v(field), local_v) != 0)
			fail_msg("local should hold v=%s: %s", local_v, json_object_to_json_string(entry));
	} else if (field && !json_object_is_type(field, json_type_null)) {
		fail_msg("local should be null (a delete): %s", json_object_to_json_string(entry));
	}
	assert_true(json_object_object_get_ex(entry, "remote", &field));
	if (remote_v) {
		if (!field_v(field) || strcmp(field_v(field), remote_v) != 0)
			fail_msg("remote should hold v=%s: %s", remote_v, json_object_to_json_string(entry));
	} else if (field && !json_object_is_type(field, json_type_null)) {
		fail_msg("remote should be null (a delete): %s", json_object_to_json_string(entry));
	}
	json_object_put(log);
	assert_int_equal(cairn_store_status_get(&status, store), 0);
	assert_int_equal(status.conflicts, 1);
}

static void assert_no_conflict(cairn_store *store)
{
	json_object *log = cairn_it_conflicts(store);

	if (json_object_array_length(log) != 0)
		fail_msg("expected no conflict, log is %s", json_object_to_json_string(log));
	json_object_put(log);
}

/* Both sync twice, `first` then `second`. */
static void sync_both_twice(cairn_store *first, cairn_store *second)
{
	int round;

	for (round = 0; round < 2; round++) {
		cairn_it_sync(NULL, first, NULL);
		cairn_it_sync(NULL, second, NULL);
	}
}

/* A edits, later B edits (B's clock is higher). B syncs first, so A's push conflicts and
 * A's value is the one overwritten: A logs it with winner "remote". */
static void test_integration_sync_conflict__later_edit_wins_over_earlier_push(void **state)
{
	world *w = *state;
	cairn_sync_result result;

	assert_int_equal(cairn_doc_put(w->a, COLLECTION, DOC, "{\"v\":\"from A\",\"keep\":1}"), 0);
	cairn_it_sleep_ms(5); /* B's edit happens later by the wall clock too */
	assert_int_equal(cairn_doc_put(w->b, COLLECTION, DOC, "{\"v\":\"from B\",\"keep\":2}"), 0);

	cairn_it_sync(NULL, w->b, NULL);
	cairn_it_sync(&result, w->a, NULL);
	assert_int_equal(result.conflicts, 1);
	sync_both_twice(w->b, w->a);

	assert_everywhere(w, "from B");
	assert_one_conflict(w->a, "remote", "from A", "from B");
	assert_no_conflict(w->b);
}

/* Same edits, reverse sync order: A's push applies first, B's later push conflicts and
 * B's (newer) local version wins; B logs A's overwritten version as the remote side. */
static void test_integration_sync_conflict__later_edit_wins_when_pushed_last(void **state)
{
	world *w = *state;
	cairn_sync_result result;

	assert_int_equal(cairn_doc_put(w->a, COLLECTION, DOC, "{\"v\":\"from A\",\"keep\":1}"), 0);
	cairn_it_sleep_ms(5);
	assert_int_equal(cairn_doc_patch(w->b, COLLECTION, DOC, "{\"v\":\"from B\"}"), 0);

	cairn_it_sync(NULL, w->a, NULL);
	cairn_it_sync(&result, w->b, NULL);
	assert_int_equal(result.conflicts, 1);
	sync_both_twice(w->a, w->b);

	assert_everywhere(w, "from B");
	assert_one_conflict(w->b, "local", "from B", "from A");
	assert_no_conflict(w->a);
}

/* Earlier B edit loses to a later A edit even when B pushes first: the clock decides,
 * not the order of arrival. */
static void test_integration_sync_conflict__reverse_roles(void **state)
{
	world *w = *state;

	assert_int_equal(cairn_doc_put(w->b, COLLECTION, DOC, "{\"v\":\"from B\"}"), 0);
	cairn_it_sleep_ms(5);
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, DOC, "{\"v\":\"from A\"}"), 0);

	sync_both_twice(w->a, w->b);
	assert_everywhere(w, "from A");
	assert_one_conflict(w->b, "remote", "from B", "from A");
	assert_no_conflict(w->a);
}

/* A updates, later B deletes: the delete is newer, so it wins; A logs its lost update
 * against a deleted remote. */
static void test_integration_sync_conflict__later_delete_beats_update(void **state)
{
	world *w = *state;

	assert_int_equal(cairn_doc_put(w->a, COLLECTION, DOC, "{\"v\":\"updated by A\"}"), 0);
	cairn_it_sleep_ms(5);
	assert_int_equal(cairn_doc_delete(w->b, COLLECTION, DOC), 0);

	sync_both_twice(w->b, w->a);
	assert_everywhere(w, NULL);
	assert_one_conflict(w->a, "remote", "updated by A", NULL);
	assert_no_conflict(w->b);
}

/* A deletes, later B updates: the update is newer and wins (the document comes back
 * everywhere); A logs its lost delete. */
static void test_integration_sync_conflict__later_update_beats_delete(void **state)
{
	world *w = *state;

	assert_int_equal(cairn_doc_delete(w->a, COLLECTION, DOC), 0);
	cairn_it_sleep_ms(5);
	assert_int_equal(cairn_doc_put(w->b, COLLECTION, DOC, "{\"v\":\"revived by B\"}"), 0);

	sync_both_twice(w->b, w->a);
	assert_everywhere(w, "revived by B");
	assert_one_conflict(w->a, "remote", NULL, "revived by B");
	assert_no_conflict(w->b);
}

/* A deletes, later B updates, but A pushes first: B's newer update is re-sent on top of the
 * tombstone and wins; B logs the delete it overrode. */
static void test_integration_sync_conflict__update_pushed_after_delete(void **state)
{
	world *w = *state;

	assert_int_equal(cairn_doc_delete(w->a, COLLECTION, DOC), 0);
	cairn_it_sleep_ms(5);
	assert_int_equal(cairn_doc_put(w->b, COLLECTION, DOC, "{\"v\":\"revived by B\"}"), 0);

	sync_both_twice(w->a, w->b);
	assert_everywhere(w, "revived by B");
	assert_one_conflict(w->b, "local", "revived by B", NULL);
	assert_no_conflict(w->a);
}

/* Both create the same new id offline; the later creation wins everywhere. */
static void test_integration_sync_conflict__same_new_id_on_both(void **state)
{
	world *w = *state;
	json_object *log;

	assert_int_equal(cairn_doc_put(w->a, COLLECTION, "twin", "{\"v\":\"A's twin\"}"), 0);
	cairn_it_sleep_ms(5);
	assert_int_equal(cairn_doc_put(w->b, COLLECTION, "twin", "{\"v\":\"B's twin\"}"), 0);
	sync_both_twice(w->a, w->b);
	cairn_it_assert_store_matches_server(&w->env, w->a, DATABASE, COLLECTION);
	cairn_it_assert_store_matches_server(&w->env, w->b, DATABASE, COLLECTION);
	{
		char *json = NULL;
		json_object *document;

		assert_int_equal(cairn_doc_get(&json, w->a, COLLECTION, "twin"), 0);
		document = cairn_it_parse(json);
		cairn_free(json);
		assert_string_equal(field_v(document), "B's twin");
		json_object_put(document);
	}
	log = cairn_it_conflicts(w->b);
	assert_int_equal(json_object_array_length(log), 1);
	json_object_put(log);
	cairn_it_assert_outbox_empty(w->a);
	cairn_it_assert_outbox_empty(w->b);
}

/* A chain of offline edits to one document (patch, patch, put) against a later edit by B:
 * every store converges on the server's version, B's value wins, A logs what it lost. */
static void test_integration_sync_conflict__chain_of_edits_loses(void **state)
{
	world *w = *state;
	json_object *log;

	assert_int_equal(cairn_doc_patch(w->a, COLLECTION, DOC, "{\"x\":1}"), 0);
	assert_int_equal(cairn_doc_patch(w->a, COLLECTION, DOC, "{\"y\":2}"), 0);
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, DOC, "{\"v\":\"A3\"}"), 0);
	cairn_it_sleep_ms(5);
	assert_int_equal(cairn_doc_put(w->b, COLLECTION, DOC, "{\"v\":\"from B\"}"), 0);
	sync_both_twice(w->b, w->a);
	assert_everywhere(w, "from B");
	log = cairn_it_conflicts(w->a);
	assert_true(json_object_array_length(log) >= 1);
	json_object_put(log);
}

/* The same chain made later than B's edit wins: A's last put is what everyone holds. */
static void test_integration_sync_conflict__chain_of_edits_wins(void **state)
{
	world *w = *state;

	assert_int_equal(cairn_doc_put(w->b, COLLECTION, DOC, "{\"v\":\"from B\"}"), 0);
	cairn_it_sleep_ms(5);
	assert_int_equal(cairn_doc_patch(w->a, COLLECTION, DOC, "{\"x\":1}"), 0);
	assert_int_equal(cairn_doc_put(w->a, COLLECTION, DOC, "{\"v\":\"A2\"}"), 0);
	assert_int_equal(cairn_doc_patch(w->a, COLLECTION, DOC, "{\"y\":2}"), 0);
	sync_both_twice(w->b, w->a);
	assert_everywhere(w, "A2");
	{
		char *json = NULL;
		json_object *document, *y;

		assert_int_equal(cairn_doc_get(&json, w->b, COLLECTION, DOC), 0);
		document = cairn_it_parse(json);
		cairn_free(json);
		assert_true(json_object_object_get_ex(document, "y", &y));
		assert_int_equal(json_object_get_int64(y), 2);
		json_object_put(document);
	}
}

/* A REST write (an Appwrite SDK) made after A's offline edit has the newer clock
 * ($updatedAt): A's edit loses and is logged. */
static void test_integration_sync_conflict__rest_write_after_offline_edit(void **state)
{
	world *w = *state;
	char *body = NULL;
	long status;

	assert_int_equal(cairn_doc_put(w->a, COLLECTION, DOC, "{\"v\":\"offline A\"}"), 0);
	cairn_it_sleep_ms(5);
	status = cairn_it_rest(&body, &w->env, "PATCH",
		"/databases/" DATABASE "/collections/" COLLECTION "/documents/" DOC,
		"{\"data\":{\"v\":\"from REST\"}}");
	if (status != 200)
		fail_msg("REST update: %ld %s", status, body);
	free(body);
	sync_both_twice(w->a, w->b);
	assert_everywhere(w, "from REST");
	assert_one_conflict(w->a, "remote", "offline A", "from REST");
}

#define WORLD_TEST(f) cmocka_unit_test_setup_teardown(f, world_setup, world_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		WORLD_TEST(test_integration_sync_conflict__later_edit_wins_over_earlier_push),
		WORLD_TEST(test_integration_sync_conflict__later_edit_wins_when_pushed_last),
		WORLD_TEST(test_integration_sync_conflict__reverse_roles),
		WORLD_TEST(test_integration_sync_conflict__later_delete_beats_update),
		WORLD_TEST(test_integration_sync_conflict__later_update_beats_delete),
		WORLD_TEST(test_integration_sync_conflict__update_pushed_after_delete),
		WORLD_TEST(test_integration_sync_conflict__same_new_id_on_both),
		WORLD_TEST(test_integration_sync_conflict__chain_of_edits_loses),
		WORLD_TEST(test_integration_sync_conflict__chain_of_edits_wins),
		WORLD_TEST(test_integration_sync_conflict__rest_write_after_offline_edit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
