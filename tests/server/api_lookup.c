/* api_lookup.c: a documents list that only looks ids up returns every id it names, even from
 * an `or` longer than one query may be (RxDB's push lookup, compat §9.4); any other list keeps
 * the default page of 25 and the per-query limit. */
#include "api_harness.h"

#define DOCS "/v1/databases/main/collections/items/documents"
#define DOC_COUNT 40

static int setup(void **state)
{
	harness *h = harness_open();

	make_collection(h, "main", "items");
	for (int i = 0; i < DOC_COUNT; i++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"documentId\":\"d%02d\",\"data\":{\"n\":%d}}", i, i);
		api_expect(h, "POST", DOCS, body, 201);
	}
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	harness_close(*state);
	return 0;
}

/* `equal("$id", ...)` over ids d00..d<count-1>, as one query object (JSON text, malloc'd). */
static char *equal_ids(int count)
{
	char *text = malloc(64 + (size_t)count * 8);
	size_t n;

	assert_non_null(text);
	n = (size_t)sprintf(text, "{\"method\":\"equal\",\"attribute\":\"$id\",\"values\":[");
	for (int i = 0; i < count; i++)
		n += (size_t)sprintf(text + n, "%s\"d%02d\"", i ? "," : "", i);
	strcpy(text + n, "]}");
	return text;
}

/* `or([equal("$id", d00), equal("$id", d01), ...])`, as RxDB sends it. */
static char *or_of_ids(int count)
{
	char *text = malloc(64 + (size_t)count * 64);
	size_t n;

	assert_non_null(text);
	n = (size_t)sprintf(text, "{\"method\":\"or\",\"values\":[");
	for (int i = 0; i < count; i++)
		n += (size_t)sprintf(text + n, "%s{\"method\":\"equal\",\"attribute\":\"$id\","
			"\"values\":[\"d%02d\"]}", i ? "," : "", i);
	strcpy(text + n, "]}");
	return text;
}

/* GETs the list with the given queries and returns how many documents the page holds. */
static size_t page_size(harness *h, const char *const *queries, size_t count)
{
	size_t capacity = sizeof(DOCS) + 16;
	char *target;
	size_t n;
	api_reply reply;
	json_object *documents;
	size_t size;

	for (size_t i = 0; i < count; i++)
		capacity += strlen(queries[i]) * 3 + 32;
	target = malloc(capacity);
	assert_non_null(target);
	n = (size_t)sprintf(target, DOCS "?");
	for (size_t i = 0; i < count; i++) {
		char *encoded = url_encode(queries[i]);
		n += (size_t)sprintf(target + n, "%squeries%%5B%zu%%5D=%s", i ? "&" : "", i, encoded);
		free(encoded);
	}
	reply = api_call(h, "GET", target, NULL);
	assert_status(&reply, 200);
	documents = json_get(reply.json, "documents");
	assert_non_null(documents);
	size = json_object_array_length(documents);
	reply_free(&reply);
	free(target);
	return size;
}

static void test_server_api_lookup__or_of_ids_returns_all(void **state)
{
	char *query = or_of_ids(30);
	const char *queries[] = { query };

	assert_int_equal(page_size(*state, queries, 1), 30);
	free(query);
}

static void test_server_api_lookup__equal_many_ids_returns_all(void **state)
{
	char *query = equal_ids(DOC_COUNT);
	const char *queries[] = { query, "{\"method\":\"orderDesc\",\"attribute\":\"n\"}" };

	assert_int_equal(page_size(*state, queries, 2), DOC_COUNT);
	free(query);
}

static void test_server_api_lookup__other_lists_keep_the_default(void **state)
{
	char *ids = equal_ids(DOC_COUNT);
	const char *with_filter[] = { ids, "{\"method\":\"greaterThan\",\"attribute\":\"n\","
		"\"values\":[-1]}" };
	const char *with_limit[] = { ids, "{\"method\":\"limit\",\"values\":[5]}" };
	const char *with_offset[] = { ids, "{\"method\":\"offset\",\"values\":[1]}" };
	const char *none[] = { "{\"method\":\"orderAsc\",\"attribute\":\"n\"}" };

	assert_int_equal(page_size(*state, with_filter, 2), 25);
	assert_int_equal(page_size(*state, with_limit, 2), 5);
	assert_int_equal(page_size(*state, with_offset, 2), 25);
	assert_int_equal(page_size(*state, none, 1), 25);
	free(ids);
}

static void test_server_api_lookup__few_ids_and_bad_queries(void **state)
{
	harness *h = *state;
	char *query = or_of_ids(3);
	const char *few[] = { query };
	api_reply reply;

	assert_int_equal(page_size(h, few, 1), 3);
	/* A malformed query is still the list's own 400, not swallowed by the lookup. */
	reply = api_call(h, "GET", DOCS "?queries%5B0%5D=%7Bnot%20json", NULL);
	assert_error(&reply, 400, "general_query_invalid");
	reply_free(&reply);
	free(query);
}

/* An `or` of 100 equal("$id") on 20-character ids is about 6,700 characters, over the 4,096
 * allowed per query: it is folded into one equal("$id", [...]) and served whole. */
static void test_server_api_lookup__long_or_is_folded(void **state)
{
	harness *h = *state;
	char *query = malloc(100 * 80 + 64);
	char *mixed;
	const char *queries[1];
	size_t n;
	api_reply reply;

	assert_non_null(query);
	for (int i = 0; i < 100; i++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"documentId\":\"long-id-%012d\",\"data\":{}}", i);
		api_expect(h, "POST", DOCS, body, 201);
	}
	n = (size_t)sprintf(query, "{\"method\":\"or\",\"values\":[");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(query + n, "%s{\"method\":\"equal\",\"attribute\":\"$id\","
			"\"values\":[\"long-id-%012d\"]}", i ? "," : "", i);
	strcpy(query + n, "]}");
	assert_true(strlen(query) > 4096);
	queries[0] = query;
	assert_int_equal(page_size(h, queries, 1), 100);

	/* Anything else in the `or` keeps the list as it is: too long is still a 400. */
	mixed = malloc(strlen(query) + 128);
	assert_non_null(mixed);
	n = (size_t)sprintf(mixed, "%.*s,{\"method\":\"greaterThan\",\"attribute\":\"n\","
		"\"values\":[1]}]}", (int)(strlen(query) - 2), query);
	free(query);
	query = url_encode(mixed);
	free(mixed);
	mixed = malloc(strlen(query) + 64);
	assert_non_null(mixed);
	sprintf(mixed, DOCS "?queries%%5B0%%5D=%s", query);
	reply = api_call(h, "GET", mixed, NULL);
	assert_error(&reply, 400, "general_query_invalid");
	reply_free(&reply);
	free(mixed);
	free(query);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_api_lookup__or_of_ids_returns_all,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_lookup__equal_many_ids_returns_all,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_lookup__other_lists_keep_the_default,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_lookup__few_ids_and_bad_queries,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_api_lookup__long_or_is_folded,
			setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
