/* api_sync_text.c: pull's text form (dataAsText): the same documents as the Document model,
 * with user fields and permissions as strings holding their JSON text. */
#include "api_harness.h"

#define PUSH "/v1/sync/databases/main/push"
#define PULL "/v1/sync/databases/main/pull"

static json_object *change_of(json_object *changes, const char *id)
{
	for (size_t i = 0; i < json_object_array_length(changes); i++) {
		json_object *change = json_object_array_get_idx(changes, i);

		if (strcmp(json_str(change, "id"), id) == 0)
			return change;
	}
	fail_msg("no change for %s", id);
	return NULL;
}

/* The user fields of a Document model: every key not starting with '$'. */
static json_object *user_fields(json_object *document)
{
	json_object *fields = json_object_new_object();

	json_object_object_foreach(document, key, value) {
		if (key[0] != '$')
			json_object_object_add(fields, key, json_object_get(value));
	}
	return fields;
}

static void test_server_api_sync_text__same_documents_as_the_model(void **state)
{
	harness *h = *state;
	api_reply model;
	api_reply text;
	json_object *a_model;
	json_object *a_text;
	json_object *parsed;
	json_object *fields;
	json_object *document;

	api_expect(h, "POST", PUSH, "{\"clientId\":\"c-one\",\"mutations\":["
		"{\"mutationId\":\"m1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"hlc\":1,\"data\":{\"t\":\"quote \\\" back \\\\ tab \\t é ✓\","
		"\"n\":9007199254740993,\"d\":1.5,\"nested\":{\"x\":[1,{\"y\":null}]}},"
		"\"permissions\":[\"read(\\\"any\\\")\"]},"
		"{\"mutationId\":\"m2\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"gone\","
		"\"hlc\":2,\"data\":{}},"
		"{\"mutationId\":\"m3\",\"op\":\"delete\",\"collection\":\"items\",\"id\":\"gone\","
		"\"hlc\":3,\"prevMutationId\":\"m2\"},"
		"{\"mutationId\":\"m4\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"empty\","
		"\"hlc\":4,\"data\":{}}]}", 200);
	model = api_call(h, "POST", PULL, "{\"checkpoint\":0}");
	text = api_call(h, "POST", PULL, "{\"checkpoint\":0,\"dataAsText\":true}");
	assert_status(&model, 200);
	assert_status(&text, 200);
	assert_int_equal(json_int(model.json, "checkpoint"), json_int(text.json, "checkpoint"));

	a_model = change_of(json_get(model.json, "changes"), "a");
	a_text = change_of(json_get(text.json, "changes"), "a");
	assert_false(json_object_object_get_ex(a_text, "document", NULL));
	assert_int_equal(json_int(a_text, "version"), json_int(a_model, "version"));
	assert_int_equal(json_int(a_text, "hlc"), json_int(a_model, "hlc"));
	assert_string_equal(json_str(a_text, "author"), "c-one");
	document = json_get(a_model, "document");
	assert_string_equal(json_str(a_text, "createdAt"), json_str(document, "$createdAt"));
	assert_string_equal(json_str(a_text, "updatedAt"), json_str(document, "$updatedAt"));
	assert_string_equal(json_str(a_text, "sequence"), json_str(document, "$sequence"));
	parsed = json_tokener_parse(json_str(a_text, "data"));
	fields = user_fields(document);
	assert_non_null(parsed);
	assert_true(json_object_equal(parsed, fields));
	assert_int_equal(json_object_get_int64(json_get(parsed, "n")), INT64_C(9007199254740993));
	json_object_put(parsed);
	json_object_put(fields);
	parsed = json_tokener_parse(json_str(a_text, "permissions"));
	assert_non_null(parsed);
	assert_true(json_object_equal(parsed, json_get(document, "$permissions")));
	json_object_put(parsed);
	/* an empty document is "{}"; a tombstone keeps the model's form: document null */
	assert_string_equal(json_str(change_of(json_get(text.json, "changes"), "empty"), "data"),
		"{}");
	a_text = change_of(json_get(text.json, "changes"), "gone");
	assert_true(json_object_get_boolean(json_get(a_text, "deleted")));
	assert_true(json_object_object_get_ex(a_text, "document", &document));
	assert_null(document);
	assert_false(json_object_object_get_ex(a_text, "data", NULL));
	reply_free(&model);
	reply_free(&text);
}

static void test_server_api_sync_text__bad_flag(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PULL, "{\"checkpoint\":0,\"dataAsText\":\"yes\"}");

	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", PULL, "{\"checkpoint\":0,\"dataAsText\":false}");
	assert_status(&reply, 200);
	reply_free(&reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_server_api_sync_text__same_documents_as_the_model,
			harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync_text__bad_flag, harness_setup_items_notes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
