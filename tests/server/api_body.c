/* api_body.c: a request body's parse (src/server/api_body.c) answers exactly what
 * cairn__json_parse_object() answers: the same value, or NULL and the same error, whether the
 * body takes the plain-ASCII path or not; bodies that are not NUL-terminated parse alike. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "server/api_body.h"
#include "util/error.h"
#include "util/json.h"

#define DEPTH 35

/* Parses `length` bytes of `text` both ways, from a copy with no NUL after it (ASan sees any
 * read past the end), and checks they agree. Returns 1 when the body parsed. */
static int agree(const char *text, size_t length)
{
	char *exact = malloc(length ? length : 1);
	json_object *expected, *got;
	char expected_error[256] = "";
	int parsed;

	assert_non_null(exact);
	memcpy(exact, text, length);
	expected = cairn__json_parse_object(exact, length, DEPTH);
	if (!expected)
		snprintf(expected_error, sizeof(expected_error), "%s", cairn_error_last());
	cairn__error_clear();
	got = cairn__api_body_parse(exact, length, DEPTH);
	parsed = got != NULL;
	if (expected) {
		assert_non_null(got);
		/* The printed trees (types show: a double prints with a point), not
		 * json_object_equal(), which finds NaN unequal to itself. */
		assert_string_equal(json_object_to_json_string_ext(expected, JSON_C_TO_STRING_PLAIN),
			json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN));
	} else {
		if (got)
			fail_msg("parsed what cairn__json_parse_object refuses (%s): %.*s",
				expected_error, (int)length, text);
		assert_string_equal(cairn_error_last(), expected_error);
	}
	json_object_put(expected);
	json_object_put(got);
	free(exact);
	return parsed;
}

static int agree_text(const char *text)
{
	return agree(text, strlen(text));
}

/* ASCII bodies, good and bad: the same value or the same error. */
static void test_server_api_body__ascii_agrees(void **state)
{
	static const char *const good[] = {
		"{}", "{\"a\":1}", " {\"a\":[1,2,{\"b\":null}]} \n\t", "{\"s\":\"\\u00e9\\ud83d\\ude00\"}",
		"{\"lone\":\"\\ud800\"}", "{\"n\":-1.5e3,\"t\":true,\"f\":false}",
		"{\"a\":1,\"a\":2}", "{\"big\":123456789012345678901234567890}",
	};
	static const char *const bad[] = {
		"", "   ", "[1,2]", "12", "\"s\"", "{\"a\":1} x", "{\"a\":1}}", "{\"a\":1,}",
		"{\"a\":1", "{\"a\":\"x}", "{\"a\":01}", "{a:1}",
		"{\"a\":1} /* c */", "{\"a\":tru}", "null",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(agree_text(good[i]));
	/* json-c 0.16 takes these even when strict: both paths agree. */
	agree_text("{'a':1}");
	agree_text("{\"a\":NaN}");
	agree_text("{\"a\":\"\t\"}");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (agree_text(bad[i]))
			fail_msg("parsed: %s", bad[i]);
	}
}

/* Depth: the deepest object allowed parses, one level more is refused with the same error. */
static void test_server_api_body__depth(void **state)
{
	char text[8 * DEPTH + 32];
	size_t length;

	(void)state;
	for (int levels = DEPTH - 1; levels <= DEPTH + 1; levels++) {
		length = 0;
		for (int i = 0; i < levels; i++)
			length += (size_t)sprintf(text + length, "{\"a\":");
		length += (size_t)sprintf(text + length, "1");
		for (int i = 0; i < levels; i++)
			text[length++] = '}';
		assert_int_equal(agree(text, length), levels <= DEPTH);
		/* An empty innermost object: json-c's own limit is one level off here. */
		length = 0;
		for (int i = 0; i < levels; i++)
			length += (size_t)sprintf(text + length, "{\"a\":");
		length += (size_t)sprintf(text + length, "{}");
		for (int i = 0; i < levels; i++)
			text[length++] = '}';
		assert_int_equal(agree(text, length), levels < DEPTH);
	}
}

/* Bytes outside ASCII take the validating path: valid UTF-8 parses, invalid UTF-8 and a NUL
 * are refused, exactly as before. */
static void test_server_api_body__non_ascii(void **state)
{
	static const char nul_inside[] = "{\"a\":\"x\0y\"}";

	(void)state;
	assert_true(agree_text("{\"name\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}"));
	assert_false(agree_text("{\"name\":\"\xff\"}"));
	assert_false(agree_text("{\"name\":\"\xc3\"}"));
	assert_false(agree_text("{\"name\":\"\xe2\x82\"}"));
	assert_false(agree(nul_inside, sizeof(nul_inside) - 1));
}

/* A long body of the push's shape takes the plain path and parses whole. */
static void test_server_api_body__long_body(void **state)
{
	size_t capacity = 600 * 200;
	char *text = malloc(capacity);
	size_t length = 0;
	json_object *body;

	(void)state;
	assert_non_null(text);
	length += (size_t)sprintf(text, "{\"clientId\":\"c-1\",\"mutations\":[");
	for (int i = 0; i < 500; i++)
		length += (size_t)sprintf(text + length, "%s{\"mutationId\":\"m%d\",\"op\":\"put\","
			"\"data\":\"{\\\"title\\\":\\\"doc %d\\\"}\"}", i ? "," : "", i, i);
	length += (size_t)sprintf(text + length, "]}");
	assert_true(agree(text, length));
	body = cairn__api_body_parse(text, length, DEPTH);
	assert_int_equal(json_object_array_length(json_object_object_get(body, "mutations")), 500);
	json_object_put(body);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_api_body__ascii_agrees),
		cmocka_unit_test(test_server_api_body__depth),
		cmocka_unit_test(test_server_api_body__non_ascii),
		cmocka_unit_test(test_server_api_body__long_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
