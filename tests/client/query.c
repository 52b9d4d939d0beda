/* query.c: local queries through the public API over the store's view. */
#include "client/client_test.h"

static client_env env;

static int setup(void **state)
{
	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "fruit", "apple",
		"{\"name\":\"apple\",\"qty\":3,\"color\":\"red\",\"price\":1.5}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "fruit", "banana",
		"{\"name\":\"banana\",\"qty\":12,\"color\":\"yellow\",\"price\":0.25}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "fruit", "cherry",
		"{\"name\":\"cherry\",\"qty\":100,\"color\":\"red\",\"price\":null}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "fruit", "date",
		"{\"name\":\"date\",\"qty\":7,\"color\":\"brown\",\"tags\":[\"dry\",\"sweet\"]}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "fruit", "elder",
		"{\"name\":\"elder\",\"qty\":0,\"color\":\"black\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "veg", "leek", "{\"name\":\"leek\",\"qty\":5}"),
		0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	client_env_free(&env);
	return 0;
}

/* Runs the queries and returns the $id list joined by commas (caller frees). */
static char *ids_of(const char *collection, const char *const *queries, size_t count)
{
	char *text = NULL;
	json_object *list;
	char *ids = calloc(1, 1024);
	int rc = cairn_doc_query(&text, env.store, collection, queries, count);

	if (rc != 0)
		fail_msg("query failed: %d %s", rc, cairn_error_last());
	list = client_parse_owned(text);
	assert_true(json_object_is_type(list, json_type_array));
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *doc = json_object_array_get_idx(list, i);
		if (i)
			strcat(ids, ",");
		strcat(ids, client_string(doc, "$id"));
		assert_false(json_object_object_get_ex(doc, "$sequence", NULL));
		assert_string_equal(client_string(doc, "$collectionId"), collection);
	}
	json_object_put(list);
	return ids;
}

static void expect(const char *collection, const char *expected, size_t count, ...)
{
	const char *queries[8];
	va_list args;
	char *ids;

	va_start(args, count);
	for (size_t i = 0; i < count; i++)
		queries[i] = va_arg(args, const char *);
	va_end(args);
	ids = ids_of(collection, queries, count);
	if (strcmp(ids, expected) != 0)
		fail_msg("expected [%s], got [%s]", expected, ids);
	free(ids);
}

static void test_client_query__no_queries_returns_all_in_order(void **state)
{
	(void)state;
	expect("fruit", "apple,banana,cherry,date,elder", 0);
	expect("veg", "leek", 0);
	expect("empty", "", 0);
}

static void test_client_query__filters(void **state)
{
	(void)state;
	expect("fruit", "apple,cherry", 1,
		"{\"method\":\"equal\",\"attribute\":\"color\",\"values\":[\"red\"]}");
	expect("fruit", "apple,banana,cherry", 1,
		"{\"method\":\"equal\",\"attribute\":\"color\",\"values\":[\"red\",\"yellow\"]}");
	expect("fruit", "banana,cherry", 1,
		"{\"method\":\"greaterThan\",\"attribute\":\"qty\",\"values\":[7]}");
	expect("fruit", "apple,date,elder", 1,
		"{\"method\":\"lessThanEqual\",\"attribute\":\"qty\",\"values\":[7]}");
	expect("fruit", "apple,date", 1,
		"{\"method\":\"between\",\"attribute\":\"qty\",\"values\":[3,7]}");
	expect("fruit", "banana", 1,
		"{\"method\":\"startsWith\",\"attribute\":\"name\",\"values\":[\"ban\"]}");
	expect("fruit", "date", 1,
		"{\"method\":\"contains\",\"attribute\":\"tags\",\"values\":[\"sweet\"]}");
	expect("fruit", "cherry,date,elder", 1,
		"{\"method\":\"isNull\",\"attribute\":\"price\"}");
	expect("fruit", "banana,cherry", 2,
		"{\"method\":\"greaterThan\",\"attribute\":\"qty\",\"values\":[5]}",
		"{\"method\":\"notEqual\",\"attribute\":\"color\",\"values\":[\"brown\"]}");
	expect("fruit", "apple,elder", 1,
		"{\"method\":\"or\",\"values\":["
		"{\"method\":\"equal\",\"attribute\":\"qty\",\"values\":[0]},"
		"{\"method\":\"equal\",\"attribute\":\"name\",\"values\":[\"apple\"]}]}");
	expect("fruit", "banana", 1,
		"{\"method\":\"equal\",\"attribute\":\"$id\",\"values\":[\"banana\"]}");
}

static void test_client_query__order_limit_offset_cursor(void **state)
{
	(void)state;
	expect("fruit", "cherry,banana,date,apple,elder", 1,
		"{\"method\":\"orderDesc\",\"attribute\":\"qty\"}");
	expect("fruit", "banana,date", 3,
		"{\"method\":\"orderDesc\",\"attribute\":\"qty\"}",
		"{\"method\":\"limit\",\"values\":[2]}",
		"{\"method\":\"offset\",\"values\":[1]}");
	expect("fruit", "date,elder", 1,
		"{\"method\":\"cursorAfter\",\"values\":[\"cherry\"]}");
	expect("fruit", "apple,banana", 1,
		"{\"method\":\"cursorBefore\",\"values\":[\"cherry\"]}");
	expect("fruit", "elder,date", 2,
		"{\"method\":\"orderDesc\",\"attribute\":\"$createdAt\"}",
		"{\"method\":\"limit\",\"values\":[2]}");
}

static void test_client_query__select(void **state)
{
	const char *queries[] = {
		"{\"method\":\"select\",\"values\":[\"name\"]}",
		"{\"method\":\"equal\",\"attribute\":\"$id\",\"values\":[\"apple\"]}",
	};
	char *text = NULL;
	json_object *list;
	json_object *doc;

	(void)state;
	assert_int_equal(cairn_doc_query(&text, env.store, "fruit", queries, 2), 0);
	list = client_parse_owned(text);
	assert_int_equal(json_object_array_length(list), 1);
	doc = json_object_array_get_idx(list, 0);
	assert_string_equal(client_string(doc, "name"), "apple");
	assert_string_equal(client_string(doc, "$id"), "apple");
	assert_false(json_object_object_get_ex(doc, "qty", NULL));
	assert_false(json_object_object_get_ex(doc, "$sequence", NULL));
	json_object_put(list);
}

static void test_client_query__sees_pending_writes(void **state)
{
	(void)state;
	assert_int_equal(cairn_doc_patch(env.store, "fruit", "elder", "{\"color\":\"red\"}"), 0);
	assert_int_equal(cairn_doc_delete(env.store, "fruit", "apple"), 0);
	expect("fruit", "cherry,elder", 1,
		"{\"method\":\"equal\",\"attribute\":\"color\",\"values\":[\"red\"]}");
	expect("fruit", "banana,cherry,date,elder", 0);
	/* Re-creating keeps nothing of the deleted document. */
	assert_int_equal(cairn_doc_put(env.store, "fruit", "apple", "{\"name\":\"apple2\"}"), 0);
	expect("fruit", "", 1,
		"{\"method\":\"equal\",\"attribute\":\"color\",\"values\":[\"green\"]}");
	expect("fruit", "apple", 1,
		"{\"method\":\"equal\",\"attribute\":\"name\",\"values\":[\"apple2\"]}");
}

static void test_client_query__invalid(void **state)
{
	const char *bad_json[] = { "{\"method\":" };
	const char *bad_method[] = { "{\"method\":\"fly\",\"attribute\":\"x\",\"values\":[]}" };
	const char *missing_cursor[] = { "{\"method\":\"cursorAfter\",\"values\":[\"nope\"]}" };
	char *text = NULL;

	(void)state;
	assert_int_equal(cairn_doc_query(&text, env.store, "fruit", bad_json, 1), CAIRN_EINVALID);
	assert_null(text);
	assert_int_equal(cairn_doc_query(&text, env.store, "fruit", bad_method, 1),
		CAIRN_EINVALID);
	assert_int_equal(cairn_doc_query(&text, env.store, "bad coll", NULL, 0), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_query(&text, env.store, "fruit", NULL, 2), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_query(&text, env.store, "fruit", missing_cursor, 1),
		CAIRN_ENOTFOUND);
	assert_null(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_query__no_queries_returns_all_in_order),
		cmocka_unit_test(test_client_query__filters),
		cmocka_unit_test(test_client_query__order_limit_offset_cursor),
		cmocka_unit_test(test_client_query__select),
		cmocka_unit_test(test_client_query__invalid),
		cmocka_unit_test(test_client_query__sees_pending_writes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
