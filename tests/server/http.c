/* tests/server/http.c: query-string decoding, header lookup and response helpers of http.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "server/http.h"

static cairn_http_request request_with_query(const char *query)
{
	cairn_http_request request;

	memset(&request, 0, sizeof(request));
	request.method = "GET";
	request.path = "/v1/databases";
	request.query = query;
	return request;
}

static void test_server_http__query_indexed_json(void **state)
{
	cairn_http_request request = request_with_query(
		"queries%5B0%5D=%7B%22method%22%3A%22equal%22%2C%22attribute%22%3A%22a%26b%3Dc%22%7D"
		"&queries%5B1%5D=%7B%22method%22%3A%22limit%22%7D&total=false");
	char **values;
	size_t count;

	(void)state;
	count = cairn__http_query_values(&values, &request, "queries");
	assert_int_equal(count, 2);
	assert_string_equal(values[0], "{\"method\":\"equal\",\"attribute\":\"a&b=c\"}");
	assert_string_equal(values[1], "{\"method\":\"limit\"}");
	cairn__http_values_free(values, count);

	count = cairn__http_query_values(&values, &request, "total");
	assert_int_equal(count, 1);
	assert_string_equal(values[0], "false");
	cairn__http_values_free(values, count);
}

static void test_server_http__query_brackets_and_repeats(void **state)
{
	/* Literal brackets, empty brackets and a bare repeated name all count, in order. */
	cairn_http_request request = request_with_query(
		"queries[]=a&other=x&queries=b&queries[7]=c&queriesX=no&queries[x]=no&queries[1=no");
	char **values;
	size_t count;

	(void)state;
	count = cairn__http_query_values(&values, &request, "queries");
	assert_int_equal(count, 3);
	assert_string_equal(values[0], "a");
	assert_string_equal(values[1], "b");
	assert_string_equal(values[2], "c");
	cairn__http_values_free(values, count);
}

static void test_server_http__query_plus_and_percent(void **state)
{
	cairn_http_request request = request_with_query(
		"search=hello+world%21&plus=a%2Bb&bad=100%&bad2=%zz&empty=&flag&utf=%C3%A9");
	char **values;
	size_t count;

	(void)state;
	count = cairn__http_query_values(&values, &request, "search");
	assert_int_equal(count, 1);
	assert_string_equal(values[0], "hello world!");
	cairn__http_values_free(values, count);

	count = cairn__http_query_values(&values, &request, "plus");
	assert_int_equal(count, 1);
	assert_string_equal(values[0], "a+b");
	cairn__http_values_free(values, count);

	/* A stray '%' stays literal instead of eating the next bytes. */
	count = cairn__http_query_values(&values, &request, "bad");
	assert_int_equal(count, 1);
	assert_string_equal(values[0], "100%");
	cairn__http_values_free(values, count);
	count = cairn__http_query_values(&values, &request, "bad2");
	assert_int_equal(count, 1);
	assert_string_equal(values[0], "%zz");
	cairn__http_values_free(values, count);

	count = cairn__http_query_values(&values, &request, "empty");
	assert_int_equal(count, 1);
	assert_string_equal(values[0], "");
	cairn__http_values_free(values, count);
	count = cairn__http_query_values(&values, &request, "flag");
	assert_int_equal(count, 1);
	assert_string_equal(values[0], "");
	cairn__http_values_free(values, count);

	count = cairn__http_query_values(&values, &request, "utf");
	assert_int_equal(count, 1);
	assert_string_equal(values[0], "\xc3\xa9");
	cairn__http_values_free(values, count);
}

static void test_server_http__query_missing(void **state)
{
	cairn_http_request request = request_with_query("a=1&&b=2&");
	cairn_http_request empty = request_with_query("");
	char **values = (char **)1;

	(void)state;
	assert_int_equal(cairn__http_query_values(&values, &request, "queries"), 0);
	assert_null(values);
	assert_int_equal(cairn__http_query_values(&values, &empty, "a"), 0);
	assert_null(values);
	assert_int_equal(cairn__http_query_values(&values, &request, "b"), 1);
	assert_string_equal(values[0], "2");
	cairn__http_values_free(values, 1);
	cairn__http_values_free(NULL, 0);
}

static void test_server_http__header_case_insensitive(void **state)
{
	cairn_http_request request = request_with_query("");

	(void)state;
	request.headers[0].name = "content-type";
	request.headers[0].value = "application/json";
	request.headers[1].name = "x-appwrite-project";
	request.headers[1].value = "demo";
	request.header_count = 2;
	assert_string_equal(cairn__http_header(&request, "Content-Type"), "application/json");
	assert_string_equal(cairn__http_header(&request, "X-APPWRITE-PROJECT"), "demo");
	assert_string_equal(cairn__http_header(&request, "x-appwrite-project"), "demo");
	assert_null(cairn__http_header(&request, "x-appwrite-key"));
	assert_null(cairn__http_header(&request, "content-typ"));
}

static void test_server_http__error_response(void **state)
{
	cairn_http_response response;
	json_object *body, *field;

	(void)state;
	memset(&response, 0, sizeof(response));
	cairn__http_respond_error(&response, 404, "document_not_found",
		"Document with the requested ID '%s' could not be found.", "x\"y");
	assert_int_equal(response.status, 404);
	assert_string_equal(response.content_type, "application/json");
	assert_int_equal(response.body_length, strlen(response.body));
	body = json_tokener_parse(response.body);
	assert_non_null(body);
	assert_true(json_object_object_get_ex(body, "message", &field));
	assert_string_equal(json_object_get_string(field),
		"Document with the requested ID 'x\"y' could not be found.");
	assert_true(json_object_object_get_ex(body, "code", &field));
	assert_int_equal(json_object_get_int(field), 404);
	assert_true(json_object_object_get_ex(body, "type", &field));
	assert_string_equal(json_object_get_string(field), "document_not_found");
	assert_true(json_object_object_get_ex(body, "version", &field));
	assert_true(json_object_get_string_len(field) > 0);
	json_object_put(body);
	cairn__http_response_clear(&response);
	assert_int_equal(response.status, 0);
	assert_null(response.body);
}

static void test_server_http__no_content_drops_body_keeps_headers(void **state)
{
	cairn_http_response response;

	(void)state;
	memset(&response, 0, sizeof(response));
	cairn__http_respond_json(&response, 200, strdup("{\"a\":1}"));
	assert_int_equal(response.status, 200);
	assert_int_equal(response.body_length, 7);
	assert_int_equal(cairn__http_response_add_header(&response, "Set-Cookie", "a=b; Path=/"),
		0);
	cairn__http_respond_no_content(&response);
	assert_int_equal(response.status, 204);
	assert_null(response.content_type);
	assert_null(response.body);
	assert_int_equal(response.body_length, 0);
	assert_int_equal(response.extra_header_count, 1);
	assert_string_equal(response.extra_headers[0].name, "Set-Cookie");
	assert_string_equal(response.extra_headers[0].value, "a=b; Path=/");
	cairn__http_response_clear(&response);
}

static void test_server_http__add_header_limits(void **state)
{
	cairn_http_response response;
	size_t i, capacity = sizeof(response.extra_headers) / sizeof(response.extra_headers[0]);

	(void)state;
	memset(&response, 0, sizeof(response));
	/* Header injection is refused. */
	assert_true(cairn__http_response_add_header(&response, "X-A", "1\r\nX-B: 2") < 0);
	assert_true(cairn__http_response_add_header(&response, "X-A: b", "1") < 0);
	for (i = 0; i < capacity; i++)
		assert_int_equal(cairn__http_response_add_header(&response, "X-N", "v"), 0);
	assert_true(cairn__http_response_add_header(&response, "X-N", "v") < 0);
	assert_int_equal(response.extra_header_count, capacity);
	cairn__http_response_clear(&response);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_http__query_indexed_json),
		cmocka_unit_test(test_server_http__query_brackets_and_repeats),
		cmocka_unit_test(test_server_http__query_plus_and_percent),
		cmocka_unit_test(test_server_http__query_missing),
		cmocka_unit_test(test_server_http__header_case_insensitive),
		cmocka_unit_test(test_server_http__error_response),
		cmocka_unit_test(test_server_http__no_content_drops_body_keeps_headers),
		cmocka_unit_test(test_server_http__add_header_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
