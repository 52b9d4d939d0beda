/* api_documents.c: the documents routes: model, CRUD, X-Appwrite-Timestamp, queries, bulk. */
#include "api_harness.h"
#include "util/time.h"

#define DOCS "/v1/databases/main/collections/items/documents"

static int setup(void **state)
{
	harness *h = harness_open();
	make_collection(h, "main", "items");
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	harness_close(*state);
	return 0;
}

static api_reply create_doc(harness *h, const char *id, const char *data)
{
	char *body = malloc(strlen(data) + 128);
	api_reply reply;

	assert_non_null(body);
	sprintf(body, "{\"documentId\":\"%s\",\"data\":%s}", id, data);
	reply = api_call(h, "POST", DOCS, body);
	free(body);
	return reply;
}

static json_object *get_doc(harness *h, const char *id, int expect_status)
{
	char path[256];
	api_reply reply;
	json_object *model;

	snprintf(path, sizeof(path), DOCS "/%s", id);
	reply = api_call(h, "GET", path, NULL);
	assert_status(&reply, expect_status);
	model = expect_status == 200 ? json_object_get(reply.json) : NULL;
	reply_free(&reply);
	return model;
}

/* GET the list with `count` query JSON strings encoded as queries[N]. */
static api_reply list_docs(harness *h, const char *extra, const char *const *queries,
	size_t count)
{
	char target[4096];
	size_t n = (size_t)snprintf(target, sizeof(target), DOCS "?%s", extra ? extra : "");
	api_reply reply;

	for (size_t i = 0; i < count; i++) {
		char *encoded = url_encode(queries[i]);
		n += (size_t)snprintf(target + n, sizeof(target) - n, "%squeries%%5B%zu%%5D=%s",
			(n > strlen(DOCS "?")) ? "&" : "", i, encoded);
		free(encoded);
	}
	assert_true(n < sizeof(target));
	reply = api_call(h, "GET", target, NULL);
	return reply;
}

static void test_server_api_documents__create_model(void **state)
{
	harness *h = *state;
	static const char *const keys[] = { "$id", "$sequence", "$collectionId", "$databaseId",
		"$createdAt", "$updatedAt", "$permissions", "$version", "title", "n", "big", "nested",
		"none" };
	api_reply reply = api_call(h, "POST", DOCS,
		"{\"documentId\":\"doca\",\"data\":{\"title\":\"alpha\",\"n\":1.5,"
		"\"big\":9007199254740993,\"nested\":{\"a\":[1,2]},\"none\":null,"
		"\"$id\":\"evil\",\"$permissions\":[\"read(\\\"any\\\")\"],\"$createdAt\":\"x\"},"
		"\"permissions\":[\"read(\\\"any\\\")\",\"update(\\\"user:u1\\\")\"]}");
	size_t i = 0;
	json_object *stored;

	assert_status(&reply, 201);
	json_object_object_foreach(reply.json, key, value) {
		(void)value;
		assert_true(i < sizeof(keys) / sizeof(keys[0]));
		assert_string_equal(key, keys[i]);
		i++;
	}
	assert_int_equal(i, sizeof(keys) / sizeof(keys[0]));
	assert_string_equal(json_str(reply.json, "$id"), "doca");
	assert_true(json_object_is_type(json_get(reply.json, "$sequence"), json_type_string));
	assert_string_equal(json_str(reply.json, "$collectionId"), "items");
	assert_string_equal(json_str(reply.json, "$databaseId"), "main");
	assert_true(json_object_is_type(json_get(reply.json, "$version"), json_type_int));
	assert_true(json_int(reply.json, "$version") >= 1);
	assert_int_equal(json_object_array_length(json_get(reply.json, "$permissions")), 2);
	assert_int_equal(json_int(reply.json, "big"), 9007199254740993LL);
	assert_null(json_get(reply.json, "none"));
	assert_non_null(strstr(reply.body, "\"big\":9007199254740993"));
	assert_non_null(strstr(reply.body, "\"$createdAt\":\"20"));

	stored = get_doc(h, "doca", 200);
	assert_true(cairn__json_equal(stored, reply.json));
	json_object_put(stored);
	reply_free(&reply);
}

static void test_server_api_documents__unique_and_duplicate(void **state)
{
	harness *h = *state;
	api_reply reply = create_doc(h, "unique()", "{\"a\":1}");
	json_object *stored;

	assert_status(&reply, 201);
	assert_int_equal(strlen(json_str(reply.json, "$id")), 20);
	reply_free(&reply);

	reply = create_doc(h, "doca", "{\"a\":1}");
	assert_status(&reply, 201);
	reply_free(&reply);
	reply = create_doc(h, "doca", "{\"a\":2}");
	assert_error(&reply, 409, "document_already_exists");
	reply_free(&reply);
	stored = get_doc(h, "doca", 200);
	assert_int_equal(json_int(stored, "a"), 1);
	json_object_put(stored);
}

static void test_server_api_documents__create_errors(void **state)
{
	harness *h = *state;
	api_reply reply;
	size_t big_size = 1024 * 1024 + 64;
	char *big = malloc(big_size + 64);
	json_object *list;

	reply = create_doc(h, "doca", "[1,2]");
	assert_error(&reply, 400, "document_invalid_structure");
	reply_free(&reply);
	reply = create_doc(h, "doca", "\"text\"");
	assert_error(&reply, 400, "document_invalid_structure");
	reply_free(&reply);
	reply = create_doc(h, "-bad", "{}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", DOCS, "{\"documentId\":\"doca\"}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", DOCS, "{\"documentId\":\"doca\",\"data\":{},"
		"\"permissions\":[1]}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);

	/* Over 1 MiB of user fields. */
	assert_non_null(big);
	strcpy(big, "{\"blob\":\"");
	memset(big + 9, 'x', big_size);
	strcpy(big + 9 + big_size, "\"}");
	reply = create_doc(h, "doca", big);
	assert_error(&reply, 400, "document_invalid_structure");
	reply_free(&reply);
	free(big);

	reply = api_call(h, "POST", "/v1/databases/main/collections/nope/documents",
		"{\"documentId\":\"doca\",\"data\":{}}");
	assert_error(&reply, 404, "collection_not_found");
	reply_free(&reply);
	reply = api_call(h, "POST", "/v1/databases/nope/collections/items/documents",
		"{\"documentId\":\"doca\",\"data\":{}}");
	assert_error(&reply, 404, "database_not_found");
	reply_free(&reply);

	/* None of that stored anything. */
	reply = list_docs(h, NULL, NULL, 0);
	assert_status(&reply, 200);
	list = json_get(reply.json, "documents");
	assert_int_equal(json_object_array_length(list), 0);
	assert_int_equal(json_int(reply.json, "total"), 0);
	reply_free(&reply);
}

static void test_server_api_documents__get_select(void **state)
{
	harness *h = *state;
	api_reply reply = create_doc(h, "doca", "{\"a\":1,\"b\":2}");
	char target[512];
	char *select = url_encode("{\"method\":\"select\",\"values\":[\"b\"]}");

	reply_free(&reply);
	snprintf(target, sizeof(target), DOCS "/doca?queries%%5B0%%5D=%s", select);
	free(select);
	reply = api_call(h, "GET", target, NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "b"), 2);
	assert_false(json_object_object_get_ex(reply.json, "a", NULL));
	assert_string_equal(json_str(reply.json, "$id"), "doca");
	reply_free(&reply);

	reply = api_call(h, "GET", DOCS "/doca?queries[]=bad", NULL);
	assert_error(&reply, 400, "general_query_invalid");
	reply_free(&reply);
}

static void test_server_api_documents__get_missing(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "GET", DOCS "/nope", NULL);

	assert_error(&reply, 404, "document_not_found");
	reply_free(&reply);
	reply = api_call(h, "GET", "/v1/databases/main/collections/nope/documents/x", NULL);
	assert_error(&reply, 404, "collection_not_found");
	reply_free(&reply);
}

static void test_server_api_documents__patch(void **state)
{
	harness *h = *state;
	api_reply reply = create_doc(h, "doca", "{\"a\":1,\"b\":2}");
	json_object *stored;
	int64_t version;

	version = json_int(reply.json, "$version");
	reply_free(&reply);
	reply = api_call(h, "PATCH", DOCS "/doca", "{\"data\":{\"b\":3,\"c\":4,\"$id\":\"x\"}}");
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "a"), 1);
	assert_int_equal(json_int(reply.json, "b"), 3);
	assert_int_equal(json_int(reply.json, "c"), 4);
	assert_string_equal(json_str(reply.json, "$id"), "doca");
	assert_true(json_int(reply.json, "$version") > version);
	reply_free(&reply);

	reply = api_call(h, "PATCH", DOCS "/doca", "{}");
	assert_error(&reply, 400, "document_missing_payload");
	reply_free(&reply);
	reply = api_call(h, "PATCH", DOCS "/doca", "{\"data\":5}");
	assert_error(&reply, 400, "document_invalid_structure");
	reply_free(&reply);
	reply = api_call(h, "PATCH", DOCS "/nope", "{\"data\":{\"a\":1}}");
	assert_error(&reply, 404, "document_not_found");
	reply_free(&reply);

	/* Permissions alone keep the data. */
	reply = api_call(h, "PATCH", DOCS "/doca", "{\"permissions\":[\"read(\\\"any\\\")\"]}");
	assert_status(&reply, 200);
	assert_int_equal(json_object_array_length(json_get(reply.json, "$permissions")), 1);
	reply_free(&reply);
	stored = get_doc(h, "doca", 200);
	assert_int_equal(json_int(stored, "b"), 3);
	assert_int_equal(json_int(stored, "c"), 4);
	assert_int_equal(json_object_array_length(json_get(stored, "$permissions")), 1);
	json_object_put(stored);
	get_doc(h, "nope", 404);
}

static void test_server_api_documents__upsert(void **state)
{
	harness *h = *state;
	api_reply reply;
	json_object *stored;

	reply = api_call(h, "PUT", DOCS "/doca", "{\"data\":{\"a\":1,\"b\":2}}");
	assert_status(&reply, 201);
	assert_int_equal(json_int(reply.json, "a"), 1);
	reply_free(&reply);

	/* Replaces all user fields. */
	reply = api_call(h, "PUT", DOCS "/doca", "{\"data\":{\"c\":3}}");
	assert_status(&reply, 201);
	assert_null(json_get(reply.json, "a"));
	assert_int_equal(json_int(reply.json, "c"), 3);
	reply_free(&reply);

	/* Permissions only keeps the fields. */
	reply = api_call(h, "PUT", DOCS "/doca", "{\"permissions\":[\"read(\\\"any\\\")\"]}");
	assert_status(&reply, 201);
	reply_free(&reply);
	stored = get_doc(h, "doca", 200);
	assert_int_equal(json_int(stored, "c"), 3);
	assert_false(json_object_object_get_ex(stored, "a", NULL));
	assert_int_equal(json_object_array_length(json_get(stored, "$permissions")), 1);
	json_object_put(stored);

	reply = api_call(h, "PUT", DOCS "/_bad", "{\"data\":{}}");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
}

static void test_server_api_documents__delete(void **state)
{
	harness *h = *state;
	api_reply reply = create_doc(h, "doca", "{\"a\":1}");

	reply_free(&reply);
	reply = api_call(h, "DELETE", DOCS "/doca", "{}");
	assert_int_equal(reply.status, 204);
	assert_null(reply.content_type);
	assert_null(reply.body);
	reply_free(&reply);
	get_doc(h, "doca", 404);
	reply = api_call(h, "DELETE", DOCS "/doca", "{}");
	assert_error(&reply, 404, "document_not_found");
	reply_free(&reply);

	/* A deleted id can be created again. */
	reply = create_doc(h, "doca", "{\"a\":2}");
	assert_status(&reply, 201);
	reply_free(&reply);
}

static void test_server_api_documents__timestamp_header(void **state)
{
	harness *h = *state;
	api_reply reply = create_doc(h, "doca", "{\"a\":1}");
	char updated[CAIRN_TIME_TEXT_SIZE];
	char before[CAIRN_TIME_TEXT_SIZE];
	int64_t updated_ms;
	json_object *stored;

	snprintf(updated, sizeof(updated), "%s", json_str(reply.json, "$updatedAt"));
	reply_free(&reply);
	assert_int_equal(cairn__time_parse(updated, &updated_ms), 0);
	cairn__time_format(updated_ms - 1, before);

	reply = api_call_with(h, "PATCH", DOCS "/doca", "{\"data\":{\"a\":2}}",
		"x-appwrite-timestamp", "yesterday");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call_with(h, "PATCH", DOCS "/doca", "{\"data\":{\"a\":2}}",
		"x-appwrite-timestamp", before);
	assert_error(&reply, 409, "document_update_conflict");
	reply_free(&reply);
	reply = api_call_with(h, "PUT", DOCS "/doca", "{\"data\":{\"a\":3}}",
		"x-appwrite-timestamp", before);
	assert_error(&reply, 409, "document_update_conflict");
	reply_free(&reply);
	reply = api_call_with(h, "DELETE", DOCS "/doca", "{}", "x-appwrite-timestamp", before);
	assert_error(&reply, 409, "document_update_conflict");
	reply_free(&reply);
	stored = get_doc(h, "doca", 200);
	assert_int_equal(json_int(stored, "a"), 1);
	json_object_put(stored);

	/* Not modified since its own $updatedAt: passes. */
	reply = api_call_with(h, "PATCH", DOCS "/doca", "{\"data\":{\"a\":4}}",
		"x-appwrite-timestamp", updated);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "a"), 4);
	snprintf(updated, sizeof(updated), "%s", json_str(reply.json, "$updatedAt"));
	reply_free(&reply);
	reply = api_call_with(h, "DELETE", DOCS "/doca", "{}", "x-appwrite-timestamp", updated);
	assert_int_equal(reply.status, 204);
	reply_free(&reply);
}

static void test_server_api_documents__list_default_limit(void **state)
{
	harness *h = *state;
	api_reply reply;
	char id[16];

	for (int i = 0; i < 30; i++) {
		snprintf(id, sizeof(id), "d%02d", i);
		reply = create_doc(h, id, "{\"k\":1}");
		assert_status(&reply, 201);
		reply_free(&reply);
	}
	reply = list_docs(h, NULL, NULL, 0);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "total"), 30);
	assert_int_equal(json_object_array_length(json_get(reply.json, "documents")), 25);
	/* No order: $sequence (insert) order. */
	assert_string_equal(json_str(json_object_array_get_idx(json_get(reply.json, "documents"),
		0), "$id"), "d00");
	reply_free(&reply);

	reply = list_docs(h, "total=false", NULL, 0);
	assert_int_equal(json_int(reply.json, "total"), 0);
	reply_free(&reply);
}

static void test_server_api_documents__list_queries(void **state)
{
	harness *h = *state;
	api_reply reply;
	char id[16];
	char data[64];
	json_object *list;

	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		snprintf(data, sizeof(data), "{\"n\":%d,\"even\":%s}", i, i % 2 ? "false" : "true");
		reply = create_doc(h, id, data);
		reply_free(&reply);
	}
	{
		const char *queries[] = {
			"{\"method\":\"equal\",\"attribute\":\"even\",\"values\":[true]}",
			"{\"method\":\"orderDesc\",\"attribute\":\"n\"}",
			"{\"method\":\"limit\",\"values\":[2]}",
			"{\"method\":\"offset\",\"values\":[1]}",
		};
		reply = list_docs(h, NULL, queries, 4);
		assert_status(&reply, 200);
		assert_int_equal(json_int(reply.json, "total"), 5);
		list = json_get(reply.json, "documents");
		assert_int_equal(json_object_array_length(list), 2);
		assert_int_equal(json_int(json_object_array_get_idx(list, 0), "n"), 6);
		assert_int_equal(json_int(json_object_array_get_idx(list, 1), "n"), 4);
		reply_free(&reply);
	}
	{
		const char *queries[] = {
			"{\"method\":\"cursorAfter\",\"values\":[\"d7\"]}",
			"{\"method\":\"select\",\"values\":[\"n\"]}",
		};
		reply = list_docs(h, NULL, queries, 2);
		assert_status(&reply, 200);
		list = json_get(reply.json, "documents");
		assert_int_equal(json_object_array_length(list), 2);
		assert_string_equal(json_str(json_object_array_get_idx(list, 0), "$id"), "d8");
		assert_false(json_object_object_get_ex(json_object_array_get_idx(list, 0), "even",
			NULL));
		reply_free(&reply);
	}
	{
		const char *queries[] = { "{\"method\":\"cursorAfter\",\"values\":[\"nope\"]}" };
		reply = list_docs(h, NULL, queries, 1);
		assert_error(&reply, 400, "general_cursor_not_found");
		reply_free(&reply);
	}
	{
		const char *queries[] = { "{\"method\":\"frobnicate\",\"attribute\":\"n\"}" };
		reply = list_docs(h, NULL, queries, 1);
		assert_error(&reply, 400, "general_query_invalid");
		reply_free(&reply);
	}
	{
		const char *queries[] = { "not json" };
		reply = list_docs(h, NULL, queries, 1);
		assert_error(&reply, 400, "general_query_invalid");
		reply_free(&reply);
	}
	reply = api_call(h, "GET", "/v1/databases/main/collections/nope/documents", NULL);
	assert_error(&reply, 404, "collection_not_found");
	reply_free(&reply);
}

static void test_server_api_documents__bulk_create_upsert(void **state)
{
	harness *h = *state;
	api_reply reply;
	json_object *stored;

	reply = api_call(h, "POST", DOCS, "{\"documents\":[{\"$id\":\"b1\",\"x\":1},"
		"{\"x\":2,\"$permissions\":[\"read(\\\"any\\\")\"]}]}");
	assert_status(&reply, 201);
	assert_int_equal(json_int(reply.json, "total"), 2);
	assert_int_equal(json_object_array_length(json_get(reply.json, "documents")), 2);
	assert_string_equal(json_str(json_object_array_get_idx(json_get(reply.json, "documents"),
		0), "$id"), "b1");
	reply_free(&reply);

	/* One taken id refuses the whole batch before writing. */
	reply = api_call(h, "POST", DOCS, "{\"documents\":[{\"$id\":\"b2\",\"x\":1},"
		"{\"$id\":\"b1\",\"x\":9}]}");
	assert_error(&reply, 409, "document_already_exists");
	reply_free(&reply);
	get_doc(h, "b2", 404);
	stored = get_doc(h, "b1", 200);
	assert_int_equal(json_int(stored, "x"), 1);
	json_object_put(stored);

	reply = api_call(h, "POST", DOCS, "{\"documents\":[1]}");
	assert_error(&reply, 400, "document_invalid_structure");
	reply_free(&reply);

	reply = api_call(h, "PUT", DOCS, "{\"documents\":[{\"$id\":\"b1\",\"y\":5},"
		"{\"$id\":\"b3\",\"y\":6}]}");
	assert_status(&reply, 201);
	assert_int_equal(json_int(reply.json, "total"), 2);
	reply_free(&reply);
	stored = get_doc(h, "b1", 200);
	assert_int_equal(json_int(stored, "y"), 5);
	assert_false(json_object_object_get_ex(stored, "x", NULL));
	json_object_put(stored);
}

static void test_server_api_documents__bulk_update_delete(void **state)
{
	harness *h = *state;
	api_reply reply;
	json_object *stored;
	char id[8];
	char data[32];

	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		snprintf(data, sizeof(data), "{\"n\":%d}", i);
		reply = create_doc(h, id, data);
		reply_free(&reply);
	}
	reply = api_call(h, "PATCH", DOCS, "{\"data\":{\"big\":true},\"queries\":["
		"\"{\\\"method\\\":\\\"greaterThan\\\",\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[3]}\"]}");
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "total"), 2);
	reply_free(&reply);
	stored = get_doc(h, "d5", 200);
	assert_true(json_object_get_boolean(json_get(stored, "big")));
	json_object_put(stored);
	stored = get_doc(h, "d3", 200);
	assert_false(json_object_object_get_ex(stored, "big", NULL));
	json_object_put(stored);

	reply = api_call(h, "DELETE", DOCS, "{\"queries\":["
		"\"{\\\"method\\\":\\\"lessThan\\\",\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[2]}\"]}");
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "total"), 2);
	reply_free(&reply);
	get_doc(h, "d0", 404);
	get_doc(h, "d1", 404);
	json_object_put(get_doc(h, "d2", 200));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_api_documents__create_model, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__unique_and_duplicate,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__create_errors, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__get_select, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__get_missing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__patch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__upsert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__timestamp_header, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__list_default_limit, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__list_queries, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__bulk_create_upsert, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_documents__bulk_update_delete, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
