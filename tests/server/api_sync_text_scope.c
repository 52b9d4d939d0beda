/* api_sync_text_scope.c: a pull in the text form (dataAsText), whose documents storage hands
 * over as unparsed text (storage.h changes_text), still judges scopes by the documents' fields:
 * the same changes, purge markers and fields as the pull of parsed documents. */
#include "api_harness.h"

#define PUSH "/v1/sync/databases/main/push"
#define PULL "/v1/sync/databases/main/pull"
#define SCOPE "\"scopes\":{\"items\":[\"{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":" \
	"\\\"store\\\",\\\"values\\\":[1]}\"]}"

static json_object *change_of(json_object *changes, const char *id)
{
	for (size_t i = 0; i < json_object_array_length(changes); i++) {
		json_object *change = json_object_array_get_idx(changes, i);

		if (strcmp(json_str(change, "id"), id) == 0)
			return change;
	}
	return NULL;
}

static int is_purge(json_object *change)
{
	json_object *purge = json_get(change, "purge");

	return purge && json_object_get_boolean(purge);
}

static void test_server_api_sync_text_scope__scope_judges_the_text(void **state)
{
	harness *h = *state;
	api_reply parsed;
	api_reply text;
	json_object *changes;
	json_object *change;
	json_object *fields;
	json_object *expected;

	api_expect(h, "POST", PUSH, "{\"clientId\":\"c-one\",\"mutations\":["
		"{\"mutationId\":\"m1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"in\","
		"\"hlc\":1,\"data\":{\"store\":1,\"t\":\"kept\",\"nested\":{\"x\":[1,2]}}},"
		"{\"mutationId\":\"m2\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"out\","
		"\"hlc\":2,\"data\":{\"store\":2,\"t\":\"elsewhere\"}},"
		"{\"mutationId\":\"m3\",\"op\":\"put\",\"collection\":\"notes\",\"id\":\"free\","
		"\"hlc\":3,\"data\":{\"store\":2}},"
		"{\"mutationId\":\"m4\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"gone\","
		"\"hlc\":4,\"data\":{\"store\":2}},"
		"{\"mutationId\":\"m5\",\"op\":\"delete\",\"collection\":\"items\",\"id\":\"gone\","
		"\"hlc\":5,\"prevMutationId\":\"m4\"}]}", 200);
	parsed = api_call(h, "POST", PULL, "{\"checkpoint\":0," SCOPE "}");
	text = api_call(h, "POST", PULL, "{\"checkpoint\":0,\"dataAsText\":true," SCOPE "}");
	assert_status(&parsed, 200);
	assert_status(&text, 200);
	changes = json_get(text.json, "changes");
	assert_int_equal(json_object_array_length(changes),
		json_object_array_length(json_get(parsed.json, "changes")));
	assert_int_equal(json_int(text.json, "checkpoint"), json_int(parsed.json, "checkpoint"));

	/* In scope: sent, with the stored fields as text. */
	change = change_of(changes, "in");
	assert_non_null(change);
	assert_false(is_purge(change));
	fields = cairn__json_parse(json_str(change, "data"), (size_t)-1, 64);
	expected = cairn__json_parse("{\"store\":1,\"t\":\"kept\",\"nested\":{\"x\":[1,2]}}",
		(size_t)-1, 64);
	assert_true(json_object_equal(fields, expected));
	json_object_put(fields);
	json_object_put(expected);
	assert_false(is_purge(change_of(json_get(parsed.json, "changes"), "in")));

	/* Out of scope: a purge marker in both forms, without data. */
	change = change_of(changes, "out");
	assert_non_null(change);
	assert_true(is_purge(change));
	assert_null(json_get(change, "data"));
	assert_true(is_purge(change_of(json_get(parsed.json, "changes"), "out")));

	/* Another collection has no scope; a tombstone goes out as a delete. */
	change = change_of(changes, "free");
	assert_non_null(change);
	assert_false(is_purge(change));
	assert_non_null(json_str(change, "data"));
	change = change_of(changes, "gone");
	assert_non_null(change);
	assert_false(is_purge(change));
	assert_true(json_object_get_boolean(json_get(change, "deleted")));
	reply_free(&parsed);
	reply_free(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_server_api_sync_text_scope__scope_judges_the_text,
			harness_setup_items_notes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
