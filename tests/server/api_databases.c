/* api_databases.c: the databases and collections routes and their Appwrite models. */
#include <ctype.h>

#include "api_harness.h"
#include "util/time.h"

static int setup(void **state)
{
	*state = harness_open();
	return 0;
}

static int teardown(void **state)
{
	harness_close(*state);
	return 0;
}

/* Asserts `model` has exactly these keys, in this order. */
static void assert_keys(json_object *model, const char *const *keys, size_t count)
{
	size_t i = 0;

	assert_non_null(model);
	json_object_object_foreach(model, key, value) {
		(void)value;
		assert_true(i < count);
		assert_string_equal(key, keys[i]);
		i++;
	}
	assert_int_equal(i, count);
}

static void assert_timestamp(json_object *model, const char *key)
{
	const char *text = json_str(model, key);
	int64_t ms;

	assert_non_null(text);
	/* 2026-08-21T12:34:56.789+00:00 */
	assert_int_equal(strlen(text), 29);
	assert_string_equal(text + 23, "+00:00");
	assert_int_equal(cairn__time_parse(text, &ms), 0);
	assert_true(ms > 0);
}

static void test_server_api_databases__create_model(void **state)
{
	harness *h = *state;
	static const char *const keys[] = { "$id", "name", "$createdAt", "$updatedAt", "enabled",
		"type" };
	api_reply reply = api_call(h, "POST", "/v1/databases",
		"{\"databaseId\":\"main\",\"name\":\"Main DB\"}");
	json_object *enabled;

	assert_status(&reply, 201);
	assert_keys(reply.json, keys, 6);
	assert_string_equal(json_str(reply.json, "$id"), "main");
	assert_string_equal(json_str(reply.json, "name"), "Main DB");
	assert_string_equal(json_str(reply.json, "type"), "legacy");
	enabled = json_get(reply.json, "enabled");
	assert_true(json_object_is_type(enabled, json_type_boolean));
	assert_true(json_object_get_boolean(enabled));
	assert_timestamp(reply.json, "$createdAt");
	assert_timestamp(reply.json, "$updatedAt");
	reply_free(&reply);

	reply = api_call(h, "GET", "/v1/databases/main", NULL);
	assert_status(&reply, 200);
	assert_string_equal(json_str(reply.json, "name"), "Main DB");
	reply_free(&reply);

	reply = api_call(h, "POST", "/v1/databases",
		"{\"databaseId\":\"off\",\"name\":\"Off\",\"enabled\":false}");
	assert_status(&reply, 201);
	assert_false(json_object_get_boolean(json_get(reply.json, "enabled")));
	reply_free(&reply);
}

static void test_server_api_databases__unique_id(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", "/v1/databases",
		"{\"databaseId\":\"unique()\",\"name\":\"Generated\"}");
	const char *id;

	assert_status(&reply, 201);
	id = json_str(reply.json, "$id");
	assert_non_null(id);
	assert_int_equal(strlen(id), 20);
	for (const char *p = id; *p; p++)
		assert_true(isxdigit((unsigned char)*p));
	reply_free(&reply);
}

static void test_server_api_databases__create_errors(void **state)
{
	harness *h = *state;
	api_reply reply;
	static const char *const bad[] = {
		"{\"name\":\"x\"}",
		"{\"databaseId\":\"_bad\",\"name\":\"x\"}",
		"{\"databaseId\":\"has space\",\"name\":\"x\"}",
		"{\"databaseId\":\"0123456789012345678901234567890123456\",\"name\":\"x\"}",
		"{\"databaseId\":42,\"name\":\"x\"}",
		"{\"databaseId\":\"ok\"}",
		"{\"databaseId\":\"ok\",\"name\":7}",
		"{\"databaseId\":\"ok\",\"name\":\"\"}",
		"{\"databaseId\":\"ok\",\"name\":\"x\",\"enabled\":\"yes\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reply = api_call(h, "POST", "/v1/databases", bad[i]);
		assert_error(&reply, 400, "general_argument_invalid");
		reply_free(&reply);
	}
	api_expect(h, "POST", "/v1/databases", "{\"databaseId\":\"main\",\"name\":\"A\"}", 201);
	reply = api_call(h, "POST", "/v1/databases", "{\"databaseId\":\"main\",\"name\":\"B\"}");
	assert_error(&reply, 409, "database_already_exists");
	reply_free(&reply);

	/* Only the first create landed. */
	reply = api_call(h, "GET", "/v1/databases", NULL);
	assert_int_equal(json_int(reply.json, "total"), 1);
	assert_string_equal(json_str(json_object_array_get_idx(json_get(reply.json, "databases"),
		0), "name"), "A");
	reply_free(&reply);
}

static void test_server_api_databases__list_queries_and_search(void **state)
{
	harness *h = *state;
	api_reply reply;
	char target[512];
	char *limit = url_encode("{\"method\":\"limit\",\"values\":[2]}");
	char *order = url_encode("{\"method\":\"orderDesc\",\"attribute\":\"$id\"}");
	json_object *list;

	api_expect(h, "POST", "/v1/databases", "{\"databaseId\":\"alpha\",\"name\":\"One\"}", 201);
	api_expect(h, "POST", "/v1/databases", "{\"databaseId\":\"beta\",\"name\":\"Two\"}", 201);
	api_expect(h, "POST", "/v1/databases", "{\"databaseId\":\"gamma\",\"name\":\"Three\"}", 201);

	reply = api_call(h, "GET", "/v1/databases", NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "total"), 3);
	assert_int_equal(json_object_array_length(json_get(reply.json, "databases")), 3);
	reply_free(&reply);

	snprintf(target, sizeof(target), "/v1/databases?queries%%5B0%%5D=%s&queries%%5B1%%5D=%s",
		limit, order);
	reply = api_call(h, "GET", target, NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "total"), 3);
	list = json_get(reply.json, "databases");
	assert_int_equal(json_object_array_length(list), 2);
	assert_string_equal(json_str(json_object_array_get_idx(list, 0), "$id"), "gamma");
	assert_string_equal(json_str(json_object_array_get_idx(list, 1), "$id"), "beta");
	reply_free(&reply);

	reply = api_call(h, "GET", "/v1/databases?search=Tw", NULL);
	assert_int_equal(json_int(reply.json, "total"), 1);
	assert_string_equal(json_str(json_object_array_get_idx(json_get(reply.json, "databases"),
		0), "$id"), "beta");
	reply_free(&reply);

	reply = api_call(h, "GET", "/v1/databases?total=false", NULL);
	assert_int_equal(json_int(reply.json, "total"), 0);
	assert_int_equal(json_object_array_length(json_get(reply.json, "databases")), 3);
	reply_free(&reply);

	reply = api_call(h, "GET", "/v1/databases?queries[]=notjson", NULL);
	assert_error(&reply, 400, "general_query_invalid");
	reply_free(&reply);
	free(limit);
	free(order);
}

static void test_server_api_databases__update_and_delete(void **state)
{
	harness *h = *state;
	api_reply reply;

	api_expect(h, "POST", "/v1/databases", "{\"databaseId\":\"main\",\"name\":\"Main\"}", 201);
	reply = api_call(h, "PUT", "/v1/databases/main", "{\"name\":\"Renamed\",\"enabled\":false}");
	assert_status(&reply, 200);
	assert_string_equal(json_str(reply.json, "name"), "Renamed");
	assert_false(json_object_get_boolean(json_get(reply.json, "enabled")));
	reply_free(&reply);

	reply = api_call(h, "PUT", "/v1/databases/main", "{\"name\":\"\"}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/databases/main", NULL);
	assert_string_equal(json_str(reply.json, "name"), "Renamed");
	reply_free(&reply);

	reply = api_call(h, "PUT", "/v1/databases/nope", "{\"name\":\"x\"}");
	assert_error(&reply, 404, "database_not_found");
	reply_free(&reply);

	reply = api_call(h, "DELETE", "/v1/databases/main", "{}");
	assert_int_equal(reply.status, 204);
	assert_null(reply.content_type);
	assert_null(reply.body);
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/databases/main", NULL);
	assert_error(&reply, 404, "database_not_found");
	reply_free(&reply);
	reply = api_call(h, "DELETE", "/v1/databases/main", NULL);
	assert_error(&reply, 404, "database_not_found");
	reply_free(&reply);
}

static void test_server_api_databases__collection_model(void **state)
{
	harness *h = *state;
	static const char *const keys[] = { "$id", "$createdAt", "$updatedAt", "$permissions",
		"databaseId", "name", "enabled", "documentSecurity", "attributes", "indexes",
		"bytesMax", "bytesUsed" };
	api_reply reply;
	json_object *permissions;

	api_expect(h, "POST", "/v1/databases", "{\"databaseId\":\"main\",\"name\":\"Main\"}", 201);
	reply = api_call(h, "POST", "/v1/databases/main/collections",
		"{\"collectionId\":\"items\",\"name\":\"Items\",\"permissions\":[\"read(\\\"any\\\")\"],"
		"\"documentSecurity\":true,\"attributes\":[{\"key\":\"title\",\"type\":\"string\"}],"
		"\"indexes\":[{\"key\":\"i\",\"type\":\"key\",\"attributes\":[\"title\"]}]}");
	assert_status(&reply, 201);
	assert_keys(reply.json, keys, 12);
	assert_string_equal(json_str(reply.json, "$id"), "items");
	assert_string_equal(json_str(reply.json, "databaseId"), "main");
	assert_string_equal(json_str(reply.json, "name"), "Items");
	assert_true(json_object_get_boolean(json_get(reply.json, "enabled")));
	assert_true(json_object_get_boolean(json_get(reply.json, "documentSecurity")));
	permissions = json_get(reply.json, "$permissions");
	assert_int_equal(json_object_array_length(permissions), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(permissions, 0)),
		"read(\"any\")");
	/* The inline schema is stored and shown (api_schema.c), not enforced. */
	assert_int_equal(json_object_array_length(json_get(reply.json, "attributes")), 1);
	assert_int_equal(json_object_array_length(json_get(reply.json, "indexes")), 1);
	assert_int_equal(json_int(reply.json, "bytesMax"), 0);
	assert_int_equal(json_int(reply.json, "bytesUsed"), 0);
	assert_timestamp(reply.json, "$createdAt");
	reply_free(&reply);

	reply = api_call(h, "GET", "/v1/databases/main/collections/items", NULL);
	assert_status(&reply, 200);
	assert_keys(reply.json, keys, 12);
	reply_free(&reply);

	reply = api_call(h, "GET", "/v1/databases/main/collections", NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "total"), 1);
	assert_string_equal(json_str(json_object_array_get_idx(json_get(reply.json,
		"collections"), 0), "$id"), "items");
	reply_free(&reply);
}

static void test_server_api_databases__collection_errors(void **state)
{
	harness *h = *state;
	api_reply reply;

	reply = api_call(h, "POST", "/v1/databases/nope/collections",
		"{\"collectionId\":\"items\",\"name\":\"Items\"}");
	assert_error(&reply, 404, "database_not_found");
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/databases/nope/collections", NULL);
	assert_error(&reply, 404, "database_not_found");
	reply_free(&reply);

	api_expect(h, "POST", "/v1/databases", "{\"databaseId\":\"main\",\"name\":\"Main\"}", 201);
	reply = api_call(h, "POST", "/v1/databases/main/collections",
		"{\"collectionId\":\"items\",\"name\":\"Items\",\"permissions\":\"read\"}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", "/v1/databases/main/collections",
		"{\"collectionId\":\"items\",\"name\":\"Items\",\"permissions\":[\"fly(\\\"any\\\")\"]}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", "/v1/databases/main/collections",
		"{\"collectionId\":\"-x\",\"name\":\"Items\"}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);

	api_expect(h, "POST", "/v1/databases/main/collections",
		"{\"collectionId\":\"items\",\"name\":\"Items\"}", 201);
	reply = api_call(h, "POST", "/v1/databases/main/collections",
		"{\"collectionId\":\"items\",\"name\":\"Again\"}");
	assert_error(&reply, 409, "collection_already_exists");
	reply_free(&reply);

	reply = api_call(h, "GET", "/v1/databases/main/collections/nope", NULL);
	assert_error(&reply, 404, "collection_not_found");
	reply_free(&reply);
	reply = api_call(h, "PUT", "/v1/databases/main/collections/nope", "{\"name\":\"x\"}");
	assert_error(&reply, 404, "collection_not_found");
	reply_free(&reply);
	reply = api_call(h, "DELETE", "/v1/databases/main/collections/nope", NULL);
	assert_error(&reply, 404, "collection_not_found");
	reply_free(&reply);

	/* The stored collection kept its name through all of that. */
	reply = api_call(h, "GET", "/v1/databases/main/collections/items", NULL);
	assert_string_equal(json_str(reply.json, "name"), "Items");
	reply_free(&reply);
}

static void test_server_api_databases__collection_update_delete(void **state)
{
	harness *h = *state;
	api_reply reply;

	make_collection(h, "main", "items");
	reply = api_call(h, "PUT", "/v1/databases/main/collections/items",
		"{\"name\":\"Renamed\",\"permissions\":[\"read(\\\"users\\\")\"],"
		"\"documentSecurity\":true,\"enabled\":false}");
	assert_status(&reply, 200);
	assert_string_equal(json_str(reply.json, "name"), "Renamed");
	assert_true(json_object_get_boolean(json_get(reply.json, "documentSecurity")));
	assert_false(json_object_get_boolean(json_get(reply.json, "enabled")));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
		json_get(reply.json, "$permissions"), 0)), "read(\"users\")");
	reply_free(&reply);

	/* Omitted fields are kept. */
	reply = api_call(h, "PUT", "/v1/databases/main/collections/items", "{\"enabled\":true}");
	assert_status(&reply, 200);
	assert_string_equal(json_str(reply.json, "name"), "Renamed");
	assert_true(json_object_get_boolean(json_get(reply.json, "enabled")));
	assert_int_equal(json_object_array_length(json_get(reply.json, "$permissions")), 1);
	reply_free(&reply);

	reply = api_call(h, "DELETE", "/v1/databases/main/collections/items", NULL);
	assert_int_equal(reply.status, 204);
	assert_null(reply.content_type);
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/databases/main/collections/items", NULL);
	assert_error(&reply, 404, "collection_not_found");
	reply_free(&reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_api_databases__create_model, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_databases__unique_id, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_databases__create_errors, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_databases__list_queries_and_search,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_databases__update_and_delete, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_databases__collection_model, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_databases__collection_errors, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_databases__collection_update_delete,
			setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
