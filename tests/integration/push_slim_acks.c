/* push_slim_acks.c: a push with "slimAcks": true acks a put whose stored fields are exactly
 * the pushed data with "asPushed" and the $ attributes only; every other result (and every
 * result of a push without it) carries the full document, whose user fields are the stored
 * ones. Runs against the real server (SQLite; again on PostgreSQL as pg_push_slim_acks). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/integration.h"
#include "util/json.h"

#define PUSH "/sync/databases/main/push"
#define CLIENT "c-slim-acks-client"

static int has_member(json_object *object, const char *key)
{
	return json_object_object_get_ex(object, key, NULL);
}

static void assert_fields_equal(json_object *document, const char *expected_json)
{
	json_object *fields = cairn_it_user_fields(document);
	json_object *expected = cairn_it_parse(expected_json);

	if (!json_object_equal(fields, expected))
		fail_msg("user fields %s, expected %s", json_object_to_json_string(fields),
			expected_json);
	json_object_put(fields);
	json_object_put(expected);
}

static json_object *result_at(json_object *reply, size_t index)
{
	json_object *results = cairn_it_member(reply, "results");

	assert_true(index < json_object_array_length(results));
	return json_object_array_get_idx(results, index);
}

/* An applied result with the full document: no asPushed, and these user fields. */
static void assert_full(json_object *reply, size_t index, const char *fields_json)
{
	json_object *result = result_at(reply, index);

	assert_string_equal(json_object_get_string(cairn_it_member(result, "status")), "applied");
	assert_false(has_member(result, "asPushed"));
	assert_fields_equal(cairn_it_member(result, "document"), fields_json);
}

/* An applied slim result: asPushed true, a document with the $ attributes of the full
 * document `full` (same keys, same values) and no user field. */
static void assert_slim(json_object *reply, size_t index, json_object *full)
{
	json_object *result = result_at(reply, index);
	json_object *document = cairn_it_member(result, "document");

	assert_string_equal(json_object_get_string(cairn_it_member(result, "status")), "applied");
	assert_true(json_object_get_boolean(cairn_it_member(result, "asPushed")));
	json_object_object_foreach(full, key, value) {
		if (key[0] != '$') {
			assert_false(has_member(document, key));
			continue;
		}
		if (!json_object_equal(cairn_it_member(document, key), value))
			fail_msg("%s: slim %s, full %s", key,
				json_object_to_json_string(cairn_it_member(document, key)),
				json_object_to_json_string(value));
	}
	json_object_object_foreach(document, slim_key, slim_value) {
		(void)slim_value;
		assert_true(slim_key[0] == '$');
		assert_true(has_member(full, slim_key));
	}
	assert_int_equal(json_object_get_int64(cairn_it_member(result, "version")),
		json_object_get_int64(cairn_it_member(document, "$version")));
}

/* The document `id` as a pull from 0 shows it (full, with every $ attribute). */
static json_object *pulled(cairn_it_env *env, const char *id)
{
	json_object *reply = cairn_it_post(env, "/sync/databases/main/pull", "{\"checkpoint\":0}", 200);
	json_object *changes = cairn_it_member(reply, "changes");
	json_object *found = NULL;

	for (size_t i = 0; i < json_object_array_length(changes); i++) {
		json_object *change = json_object_array_get_idx(changes, i);

		if (strcmp(json_object_get_string(cairn_it_member(change, "id")), id) == 0)
			found = json_object_get(cairn_it_member(change, "document"));
	}
	json_object_put(reply);
	if (!found)
		fail_msg("document %s not in the feed", id);
	return found;
}

/* Without slimAcks (absent or false) every put is acked with the full document, whose user
 * fields are exactly what was pushed. */
static void test_integration_push_slim_acks__off_gives_full_documents(void **state)
{
	cairn_it_env *env = *state;
	json_object *reply = cairn_it_post(env, PUSH, "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"hlc\":10,\"data\":{\"title\":\"alpha\",\"n\":1.5,"
		"\"tags\":[\"x\",\"y\"],\"nested\":{\"deep\":[1,{\"z\":null}]},\"ok\":true}}]}", 200);

	assert_full(reply, 0, "{\"title\":\"alpha\",\"n\":1.5,\"tags\":[\"x\",\"y\"],"
		"\"nested\":{\"deep\":[1,{\"z\":null}]},\"ok\":true}");
	json_object_put(reply);
	reply = cairn_it_post(env, PUSH, "{\"clientId\":\"" CLIENT "\",\"slimAcks\":false,\"mutations\":["
		"{\"mutationId\":\"m2\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"b\","
		"\"baseVersion\":0,\"hlc\":11,\"data\":{\"title\":\"beta\"}}]}", 200);
	assert_full(reply, 0, "{\"title\":\"beta\"}");
	json_object_put(reply);
}

/* With slimAcks: a plain put is slim; a put with $ keys or kept counters, a patch, an
 * increment, a delete and a conflict answer as without it. */
static void test_integration_push_slim_acks__only_plain_puts_are_slim(void **state)
{
	cairn_it_env *env = *state;
	json_object *reply;
	json_object *full;
	json_object *result;

	json_object_put(cairn_it_post(env, PUSH, "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"seed\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"d\","
		"\"baseVersion\":0,\"hlc\":5,\"data\":{\"title\":\"delta\",\"count\":7}}]}", 200));
	reply = cairn_it_post(env, PUSH, "{\"clientId\":\"" CLIENT "\",\"slimAcks\":true,\"mutations\":["
		"{\"mutationId\":\"s1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"hlc\":10,\"data\":{\"title\":\"alpha\",\"n\":1},"
		"\"permissions\":[\"read(\\\"any\\\")\"]},"
		"{\"mutationId\":\"s2\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"c\","
		"\"baseVersion\":0,\"hlc\":11,\"data\":{\"title\":\"gamma\",\"$id\":\"ignored\"}},"
		"{\"mutationId\":\"s3\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"d\","
		"\"baseVersion\":1,\"hlc\":12,\"data\":{\"title\":\"delta2\",\"count\":0},"
		"\"counters\":[\"count\"]},"
		"{\"mutationId\":\"s4\",\"op\":\"patch\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"prevMutationId\":\"s1\",\"hlc\":13,\"data\":{\"n\":2}},"
		"{\"mutationId\":\"s5\",\"op\":\"increment\",\"collection\":\"items\",\"id\":\"a\","
		"\"data\":{\"n\":3}},"
		"{\"mutationId\":\"s6\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"e\","
		"\"baseVersion\":0,\"hlc\":14,\"data\":{\"title\":\"epsilon\"},\"counters\":[]},"
		"{\"mutationId\":\"s7\",\"op\":\"delete\",\"collection\":\"items\",\"id\":\"e\","
		"\"baseVersion\":0,\"prevMutationId\":\"s6\",\"hlc\":15},"
		"{\"mutationId\":\"s8\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"d\","
		"\"baseVersion\":99,\"hlc\":16,\"data\":{\"title\":\"late\"}},"
		"{\"mutationId\":\"s9\",\"op\":\"put\",\"collection\":\"nope\",\"id\":\"f\","
		"\"baseVersion\":0,\"hlc\":17,\"data\":{\"title\":\"nowhere\"}}]}", 200);

	/* s1: slim (its $ attributes are compared with a full document's below, on "g", whose
	 * version stays the latest). */
	result = result_at(reply, 0);
	assert_true(json_object_get_boolean(cairn_it_member(result, "asPushed")));
	assert_false(has_member(cairn_it_member(result, "document"), "title"));
	assert_string_equal(json_object_get_string(cairn_it_member(cairn_it_member(result, "document"), "$id")), "a");
	assert_int_equal(json_object_array_length(cairn_it_member(cairn_it_member(result, "document"),
		"$permissions")), 1);
	assert_full(reply, 1, "{\"title\":\"gamma\"}");                 /* $ keys pushed */
	assert_full(reply, 2, "{\"title\":\"delta2\",\"count\":7}");     /* counters kept */
	assert_full(reply, 3, "{\"title\":\"alpha\",\"n\":2}");          /* patch */
	assert_full(reply, 4, "{\"title\":\"alpha\",\"n\":5}");          /* increment */
	assert_true(json_object_get_boolean(cairn_it_member(result_at(reply, 5), "asPushed")));
	assert_false(has_member(cairn_it_member(result_at(reply, 5), "document"), "title"));
	result = result_at(reply, 6);                                    /* delete */
	assert_string_equal(json_object_get_string(cairn_it_member(result, "status")), "applied");
	assert_false(has_member(result, "asPushed"));
	assert_true(json_object_is_type(cairn_it_member(result, "document"), json_type_null));
	result = result_at(reply, 7);                                    /* conflict */
	assert_string_equal(json_object_get_string(cairn_it_member(result, "status")), "conflict");
	assert_fields_equal(cairn_it_member(cairn_it_member(result, "current"), "document"),
		"{\"title\":\"delta2\",\"count\":7}");
	result = result_at(reply, 8);                                    /* rejected */
	assert_string_equal(json_object_get_string(cairn_it_member(result, "status")), "rejected");
	assert_string_equal(json_object_get_string(cairn_it_member(cairn_it_member(result, "error"), "type")),
		"collection_not_found");
	json_object_put(reply);

	/* A slim ack's $ attributes are exactly those of the full document at that version. */
	reply = cairn_it_post(env, PUSH, "{\"clientId\":\"" CLIENT "\",\"slimAcks\":true,\"mutations\":["
		"{\"mutationId\":\"s10\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"g\","
		"\"baseVersion\":0,\"hlc\":20,\"data\":{\"title\":\"eta\",\"list\":[1,2,3]}}]}", 200);
	full = pulled(env, "g");
	assert_fields_equal(full, "{\"title\":\"eta\",\"list\":[1,2,3]}");
	assert_slim(reply, 0, full);
	json_object_put(full);
	json_object_put(reply);
}

/* A retried slim batch returns the stored outcomes with the same versions (in either form;
 * a full one carries the pushed fields) and applies nothing twice. */
static void test_integration_push_slim_acks__retry(void **state)
{
	cairn_it_env *env = *state;
	const char *batch = "{\"clientId\":\"" CLIENT "\",\"slimAcks\":true,\"mutations\":["
		"{\"mutationId\":\"r1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"hlc\":10,\"data\":{\"title\":\"alpha\"}},"
		"{\"mutationId\":\"r2\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"b\","
		"\"baseVersion\":0,\"hlc\":11,\"data\":{\"title\":\"beta\",\"$x\":1}}]}";
	const char *full_batch = "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"r1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"hlc\":10,\"data\":{\"title\":\"alpha\"}},"
		"{\"mutationId\":\"r2\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"b\","
		"\"baseVersion\":0,\"hlc\":11,\"data\":{\"title\":\"beta\",\"$x\":1}}]}";
	json_object *first = cairn_it_post(env, PUSH, batch, 200);
	json_object *retries[2];
	json_object *feed;

	assert_true(json_object_get_boolean(cairn_it_member(result_at(first, 0), "asPushed")));
	assert_full(first, 1, "{\"title\":\"beta\"}");
	/* Retried with slimAcks, then without it (a client that changed its mind). */
	retries[0] = cairn_it_post(env, PUSH, batch, 200);
	retries[1] = cairn_it_post(env, PUSH, full_batch, 200);
	for (size_t r = 0; r < 2; r++) {
		for (size_t i = 0; i < 2; i++) {
			json_object *a = result_at(first, i);
			json_object *b = result_at(retries[r], i);
			json_object *document = cairn_it_member(b, "document");

			assert_string_equal(json_object_get_string(cairn_it_member(b, "status")), "applied");
			assert_int_equal(json_object_get_int64(cairn_it_member(a, "version")),
				json_object_get_int64(cairn_it_member(b, "version")));
			if (!has_member(b, "asPushed")) {
				assert_fields_equal(document, i == 0 ? "{\"title\":\"alpha\"}" :
					"{\"title\":\"beta\"}");
				continue;
			}
			/* A slim replay: the $ attributes of the first ack, no field. */
			assert_int_equal(i, 0);
			assert_true(json_object_get_boolean(cairn_it_member(b, "asPushed")));
			if (!json_object_equal(document, cairn_it_member(a, "document")))
				fail_msg("replayed %s, first %s", json_object_to_json_string(document),
					json_object_to_json_string(cairn_it_member(a, "document")));
		}
		json_object_put(retries[r]);
	}
	json_object_put(first);
	feed = cairn_it_post(env, "/sync/databases/main/pull", "{\"checkpoint\":0}", 200);
	assert_int_equal(json_object_array_length(cairn_it_member(feed, "changes")), 2);
	assert_int_equal(json_object_get_int64(cairn_it_member(feed, "checkpoint")), 2);
	json_object_put(feed);
}

static void test_integration_push_slim_acks__bad_flag(void **state)
{
	cairn_it_env *env = *state;
	char *text = NULL;
	long status = cairn_it_rest(&text, env, "POST", PUSH, "{\"clientId\":\"" CLIENT "\","
		"\"slimAcks\":\"yes\",\"mutations\":[{\"mutationId\":\"m1\",\"op\":\"put\","
		"\"collection\":\"items\",\"id\":\"a\",\"data\":{}}]}");

	cairn_it_assert_error(status, text, 400, "general_argument_invalid");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_integration_push_slim_acks__off_gives_full_documents, cairn_it_setup_items,
			cairn_it_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_push_slim_acks__only_plain_puts_are_slim, cairn_it_setup_items,
			cairn_it_teardown),
		cmocka_unit_test_setup_teardown(test_integration_push_slim_acks__retry, cairn_it_setup_items,
			cairn_it_teardown),
		cmocka_unit_test_setup_teardown(test_integration_push_slim_acks__bad_flag, cairn_it_setup_items,
			cairn_it_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
