/* api_schema.c: attribute and index routes (stored with the collection, kept across a
 * restart, dropped with the collection), the TablesDB path and name mapping, and bad input
 * to the increment routes, over a real SQLite storage. */
#include "api_harness.h"

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

#define ATTRS "/v1/databases/db/collections/items/attributes"

static void test_server_api_schema__survives_a_restart(void **state)
{
	harness *h = *state;
	api_reply reply;

	make_collection(h, "db", "items");
	api_expect(h, "POST", ATTRS "/string", "{\"key\":\"title\",\"size\":10,\"required\":true}",
		202);
	api_expect(h, "POST", "/v1/databases/db/collections/items/indexes",
		"{\"key\":\"t\",\"type\":\"key\",\"attributes\":[\"title\"]}", 202);
	/* A new API over the storage reopened from disk sees the same schema. */
	cairn__api_free(h->api);
	cairn__storage_sqlite.close(h->storage);
	assert_int_equal(cairn__storage_sqlite.open(&h->storage, h->dir), 0);
	assert_int_equal(cairn__api_new(&h->api, &cairn__storage_sqlite, h->storage,
		HARNESS_PROJECT, HARNESS_KEY), 0);
	reply = api_call(h, "GET", "/v1/databases/db/collections/items", NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_object_array_length(json_get(reply.json, "attributes")), 1);
	assert_int_equal(json_object_array_length(json_get(reply.json, "indexes")), 1);
	reply_free(&reply);
	reply = api_call(h, "GET", ATTRS "/title", NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "size"), 10);
	assert_string_equal(json_str(reply.json, "status"), "available");
	reply_free(&reply);
}

static void test_server_api_schema__bad_input(void **state)
{
	harness *h = *state;
	api_reply reply;

	make_collection(h, "db", "items");
	reply = api_call(h, "POST", ATTRS "/nonsense", "{\"key\":\"x\"}");
	assert_error(&reply, 404, "general_route_not_found");
	reply_free(&reply);
	reply = api_call(h, "POST", ATTRS "/string", "{\"size\":3}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", ATTRS "/string", "{\"key\":\"$id\"}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", ATTRS "/string", "{\"key\":\"x\",\"required\":\"yes\"}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", ATTRS "/string", "[1,2]");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", "/v1/databases/db/collections/items/indexes",
		"{\"key\":\"i\",\"type\":\"btree\",\"attributes\":[\"$id\"]}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", "/v1/databases/db/collections/items/indexes",
		"{\"key\":\"i\",\"type\":\"key\",\"attributes\":\"$id\"}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "PATCH", ATTRS "/string/missing", "{\"required\":false}");
	assert_error(&reply, 404, "attribute_not_found");
	reply_free(&reply);
	reply = api_call(h, "DELETE", "/v1/databases/db/collections/items/indexes/missing", NULL);
	assert_error(&reply, 404, "index_not_found");
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/databases/db/collections/nope/attributes", NULL);
	assert_error(&reply, 404, "collection_not_found");
	reply_free(&reply);
	/* Nothing was stored by the refused calls. */
	reply = api_call(h, "GET", ATTRS, NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "total"), 0);
	reply_free(&reply);
}

static void test_server_api_schema__tablesdb_mapping(void **state)
{
	harness *h = *state;
	api_reply reply;

	api_expect(h, "POST", "/v1/tablesdb", "{\"databaseId\":\"db\",\"name\":\"DB\"}", 201);
	api_expect(h, "POST", "/v1/tablesdb/db/tables", "{\"tableId\":\"t\",\"name\":\"T\"}", 201);
	reply = api_call(h, "POST", "/v1/tablesdb/db/tables/t/rows",
		"{\"rowId\":\"r\",\"data\":{\"documents\":1,\"$collectionId\":\"x\"}}");
	assert_status(&reply, 201);
	assert_string_equal(json_str(reply.json, "$tableId"), "t");
	assert_null(json_get(reply.json, "$collectionId"));
	/* User fields named like legacy keys are left alone. */
	assert_int_equal(json_int(reply.json, "documents"), 1);
	reply_free(&reply);
	/* A row shaped like an error body is still a row. */
	reply = api_call(h, "POST", "/v1/tablesdb/db/tables/t/rows",
		"{\"rowId\":\"e\",\"data\":{\"code\":404,\"type\":\"document_not_found\","
		"\"message\":\"Document x\",\"version\":\"1\"}}");
	assert_status(&reply, 201);
	assert_string_equal(json_str(reply.json, "type"), "document_not_found");
	assert_string_equal(json_str(reply.json, "message"), "Document x");
	assert_string_equal(json_str(reply.json, "$tableId"), "t");
	reply_free(&reply);
	/* The legacy names under /tablesdb, and TablesDB names under /databases, are no routes. */
	reply = api_call(h, "GET", "/v1/tablesdb/db/collections/t/documents", NULL);
	assert_error(&reply, 404, "general_route_not_found");
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/databases/db/tables/t/rows", NULL);
	assert_error(&reply, 404, "general_route_not_found");
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/tablesdb/db/tables/t/rows/missing", NULL);
	assert_error(&reply, 404, "row_not_found");
	reply_free(&reply);
	/* The same row through the legacy routes. */
	reply = api_call(h, "GET", "/v1/databases/db/collections/t/documents/r", NULL);
	assert_status(&reply, 200);
	assert_string_equal(json_str(reply.json, "$collectionId"), "t");
	reply_free(&reply);
}

static void test_server_api_schema__increment_bad_input(void **state)
{
	harness *h = *state;
	api_reply reply;

	make_collection(h, "db", "items");
	api_expect(h, "POST", "/v1/databases/db/collections/items/documents",
		"{\"documentId\":\"d\",\"data\":{\"n\":1,\"s\":\"x\"}}", 201);
	reply = api_call(h, "PATCH", "/v1/databases/db/collections/items/documents/d/n/increment",
		"{\"value\":\"2\"}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "PATCH", "/v1/databases/db/collections/items/documents/d/n/increment",
		"{\"value\":0}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "PATCH", "/v1/databases/db/collections/items/documents/d/s/decrement",
		"{}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "PATCH",
		"/v1/databases/db/collections/items/documents/d/$id/increment", "{}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "PATCH", "/v1/databases/db/collections/items/documents/d/n/increment",
		"{\"max\":\"ten\"}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "PATCH", "/v1/databases/db/collections/items/documents/d/n/increment",
		"{not json");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	/* Unchanged by all of that; then a real step. */
	reply = api_call(h, "PATCH", "/v1/databases/db/collections/items/documents/d/n/increment",
		"{\"value\":2,\"max\":3}");
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "n"), 3);
	assert_string_equal(json_str(reply.json, "s"), "x");
	reply_free(&reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_api_schema__survives_a_restart, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_schema__bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_schema__tablesdb_mapping, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_schema__increment_bad_input, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
