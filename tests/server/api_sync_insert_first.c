/* api_sync_insert_first.c: the SQLite backend inserts a put on base 0 without reading the
 * document first; when the document is there after all (live, a tombstone, or the client's own
 * chain) the outcome is exactly that of a write that looked first: the same conflicts and
 * updates, and no version, $sequence or $updatedAt skipped or reused. */
#include "api_harness.h"

#define PUSH "/v1/sync/databases/main/push"
#define PULL "/v1/sync/databases/main/pull"

/* A mutation of `id` by `mutation`; `more` adds members (",\"prevMutationId\":…") or "". */
#define MUTATION(mutation, op, id, base, more) "{\"mutationId\":\"" mutation "\"," \
	"\"op\":\"" op "\",\"collection\":\"items\",\"id\":\"" id "\",\"baseVersion\":" base \
	",\"hlc\":1" more ",\"data\":{\"v\":\"" mutation "\"}}"
#define PUT(mutation, id, base, more) MUTATION(mutation, "put", id, base, more)
#define BATCH(client, mutations) "{\"clientId\":\"" client "\",\"mutations\":[" mutations "]}"

static json_object *result_at(const api_reply *reply, size_t index)
{
	json_object *results = json_get(reply->json, "results");

	assert_true(index < json_object_array_length(results));
	return json_object_array_get_idx(results, index);
}

static json_object *applied(const api_reply *reply, size_t index)
{
	json_object *result = result_at(reply, index);

	if (strcmp(json_str(result, "status"), "applied") != 0)
		fail_msg("result %zu: %s", index, json_object_to_json_string(result));
	return result;
}

static void assert_conflict(const api_reply *reply, size_t index, int64_t current_version,
	int deleted)
{
	json_object *result = result_at(reply, index);
	json_object *current;

	if (strcmp(json_str(result, "status"), "conflict") != 0)
		fail_msg("result %zu: %s", index, json_object_to_json_string(result));
	current = json_get(result, "current");
	assert_int_equal(json_int(current, "version"), current_version);
	assert_int_equal(json_object_get_boolean(json_get(current, "deleted")), deleted);
}

static const char *document_str(json_object *result, const char *key)
{
	return json_str(json_get(result, "document"), key);
}

static void test_server_api_sync_insert_first__documents_already_there(void **state)
{
	harness *h = *state;
	api_reply first;
	api_reply reply;
	api_reply feed;
	char a_created[64];

	first = api_call(h, "POST", PUSH, BATCH("c-one", PUT("m1", "a", "0", "") ","
		PUT("m2", "b", "0", "") "," MUTATION("m3", "delete", "b", "2", "")));
	assert_status(&first, 200);
	assert_int_equal(json_int(applied(&first, 0), "version"), 1);
	assert_int_equal(json_int(applied(&first, 2), "version"), 3);
	snprintf(a_created, sizeof(a_created), "%s", document_str(applied(&first, 0),
		"$createdAt"));

	reply = api_call(h, "POST", PUSH, BATCH("c-one",
		PUT("m4", "x", "0", "") ","
		PUT("m5", "a", "0", "") ","                               /* live: conflict */
		PUT("m6", "b", "0", "") ","                               /* tombstone: conflict */
		PUT("m7", "a", "0", ",\"prevMutationId\":\"m1\"") ","     /* own chain: update */
		PUT("m8", "y", "0", "")));
	assert_status(&reply, 200);
	assert_int_equal(json_int(applied(&reply, 0), "version"), 4);
	assert_conflict(&reply, 1, 1, 0);
	assert_conflict(&reply, 2, 3, 1);
	assert_int_equal(json_int(applied(&reply, 3), "version"), 5);
	assert_int_equal(json_int(applied(&reply, 4), "version"), 6);
	/* Per-collection sequences: a 1, b 2, then x and y with none skipped; a keeps its own. */
	assert_string_equal(document_str(applied(&reply, 0), "$sequence"), "3");
	assert_string_equal(document_str(applied(&reply, 3), "$sequence"), "1");
	assert_string_equal(document_str(applied(&reply, 4), "$sequence"), "4");
	assert_string_equal(document_str(applied(&reply, 3), "$createdAt"), a_created);
	assert_string_equal(document_str(applied(&reply, 3), "v"), "m7");
	/* $updatedAt strictly increases over the writes made: x, then a, then y. */
	assert_true(strcmp(document_str(applied(&reply, 0), "$updatedAt"),
		document_str(applied(&reply, 3), "$updatedAt")) < 0);
	assert_true(strcmp(document_str(applied(&reply, 3), "$updatedAt"),
		document_str(applied(&reply, 4), "$updatedAt")) < 0);
	reply_free(&reply);
	reply_free(&first);

	/* Another client's put on base 0 of the same documents conflicts the same way. */
	reply = api_call(h, "POST", PUSH, BATCH("c-two", PUT("n1", "x", "0", "") ","
		PUT("n2", "z", "0", "")));
	assert_status(&reply, 200);
	assert_conflict(&reply, 0, 4, 0);
	assert_int_equal(json_int(applied(&reply, 1), "version"), 7);
	assert_string_equal(document_str(applied(&reply, 1), "$sequence"), "5");
	reply_free(&reply);

	feed = api_call(h, "POST", PULL, "{\"checkpoint\":0}");
	assert_status(&feed, 200);
	assert_int_equal(json_int(feed.json, "checkpoint"), 7);
	/* a, b (tombstone), x, y, z: each once, at its latest version. */
	assert_int_equal(json_object_array_length(json_get(feed.json, "changes")), 5);
	reply_free(&feed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_server_api_sync_insert_first__documents_already_there,
			harness_setup_items_notes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
