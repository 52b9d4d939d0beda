/* api_sync_batch_replay.c: a push batch finds the stored outcomes of its mutations however its
 * ids lie (the SQLite backend skips the per-mutation lookup when one range check proves the
 * batch new): repeated ids within a batch, a retry overlapping new mutations, stored ids
 * inside and outside the new batch's id range. */
#include "api_harness.h"

#define PUSH "/v1/sync/databases/main/push"
#define PULL "/v1/sync/databases/main/pull"

/* A put of `id` by mutation `mutation` on base 0, as one mutation of a batch. */
#define PUT(mutation, id, value) "{\"mutationId\":\"" mutation "\",\"op\":\"put\"," \
	"\"collection\":\"items\",\"id\":\"" id "\",\"baseVersion\":0,\"hlc\":1," \
	"\"data\":{\"v\":" value "}}"
#define BATCH(mutations) "{\"clientId\":\"c-one\",\"mutations\":[" mutations "]}"

static json_object *result_at(const api_reply *reply, size_t index)
{
	json_object *results = json_get(reply->json, "results");

	assert_non_null(results);
	assert_true(index < json_object_array_length(results));
	return json_object_array_get_idx(results, index);
}

static int64_t applied_version(const api_reply *reply, size_t index)
{
	json_object *result = result_at(reply, index);

	if (strcmp(json_str(result, "status"), "applied") != 0)
		fail_msg("result %zu: %s", index, json_object_to_json_string(result));
	return json_int(result, "version");
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

/* The same id twice in one batch: the second gets the first's outcome. */
static void test_server_api_sync_batch_replay__repeated_id_in_a_batch(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PUSH, BATCH(PUT("m5", "a", "1") ","
		PUT("m7", "b", "2") "," PUT("m5", "a", "1")));

	assert_status(&reply, 200);
	assert_int_equal(applied_version(&reply, 0), 1);
	assert_int_equal(applied_version(&reply, 1), 2);
	assert_int_equal(applied_version(&reply, 2), 1);
	reply_free(&reply);
	assert_int_equal(feed_checkpoint(h), 2);
}

/* A batch whose ids surround stored ones, or overlap them, replays those and applies the
 * rest; a batch wholly past the stored ids applies everything. */
static void test_server_api_sync_batch_replay__stored_ids_in_and_out_of_range(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PUSH, BATCH(PUT("m3", "a", "1") ","
		PUT("m4", "b", "2")));

	assert_status(&reply, 200);
	assert_int_equal(applied_version(&reply, 0), 1);
	assert_int_equal(applied_version(&reply, 1), 2);
	reply_free(&reply);

	/* m3 and m4 lie between m1 and m9: their stored outcomes come back. */
	reply = api_call(h, "POST", PUSH, BATCH(PUT("m1", "c", "3") "," PUT("m4", "b", "2") ","
		PUT("m9", "d", "4") "," PUT("m3", "a", "1")));
	assert_status(&reply, 200);
	assert_int_equal(applied_version(&reply, 0), 3);
	assert_int_equal(applied_version(&reply, 1), 2);
	assert_int_equal(applied_version(&reply, 2), 4);
	assert_int_equal(applied_version(&reply, 3), 1);
	reply_free(&reply);

	/* Past every stored id: all new. */
	reply = api_call(h, "POST", PUSH, BATCH(PUT("n1", "e", "5") "," PUT("n2", "f", "6")));
	assert_status(&reply, 200);
	assert_int_equal(applied_version(&reply, 0), 5);
	assert_int_equal(applied_version(&reply, 1), 6);
	reply_free(&reply);

	/* Before every stored id, with one stored id repeated at the end of the range. */
	reply = api_call(h, "POST", PUSH, BATCH(PUT("a1", "g", "7") "," PUT("m9", "d", "4")));
	assert_status(&reply, 200);
	assert_int_equal(applied_version(&reply, 0), 7);
	assert_int_equal(applied_version(&reply, 1), 4);
	reply_free(&reply);
	assert_int_equal(feed_checkpoint(h), 7);
}

/* Another client's stored ids do not make a batch a replay. */
static void test_server_api_sync_batch_replay__other_clients_ids(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PUSH, "{\"clientId\":\"c-two\",\"mutations\":["
		PUT("m1", "a", "1") "," PUT("m2", "b", "2") "]}");

	assert_status(&reply, 200);
	reply_free(&reply);
	reply = api_call(h, "POST", PUSH, BATCH(PUT("m1", "c", "3") "," PUT("m2", "d", "4")));
	assert_status(&reply, 200);
	assert_int_equal(applied_version(&reply, 0), 3);
	assert_int_equal(applied_version(&reply, 1), 4);
	reply_free(&reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_server_api_sync_batch_replay__repeated_id_in_a_batch,
			harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync_batch_replay__stored_ids_in_and_out_of_range,
			harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync_batch_replay__other_clients_ids,
			harness_setup_items_notes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
