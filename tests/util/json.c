/* tests/util/json.c: bounded JSON parsing, exact int64, and the json-c helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/error.h"
#include "util/json.h"

static int setup(void **state)
{
	char *dir = strdup("/tmp/cairn-test-json-XXXXXX");

	if (!dir || !mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	rmdir(*state);
	free(*state);
	return 0;
}

/* `levels` nested arrays around a 1: "[[1]]" for 2. */
static char *nested_arrays(int levels)
{
	char *text = malloc((size_t)levels * 2 + 2);

	assert_non_null(text);
	memset(text, '[', (size_t)levels);
	text[levels] = '1';
	memset(text + levels + 1, ']', (size_t)levels);
	text[levels * 2 + 1] = '\0';
	return text;
}

static void test_util_json__depth_limit(void **state)
{
	char *ok = nested_arrays(CAIRN_JSON_MAX_DEPTH);
	char *too_deep = nested_arrays(CAIRN_JSON_MAX_DEPTH + 1);
	char *small = nested_arrays(4);
	json_object *value;
	(void)state;

	value = cairn__json_parse(ok, (size_t)-1, 0);
	assert_non_null(value);
	assert_int_equal(cairn__json_depth(value), CAIRN_JSON_MAX_DEPTH);
	json_object_put(value);

	assert_null(cairn__json_parse(too_deep, (size_t)-1, 0));
	assert_int_equal(cairn__error_code(), CAIRN_EINVALID);
	assert_non_null(strstr(cairn_error_last(), "nested deeper than 32"));

	/* An explicit, smaller limit. */
	value = cairn__json_parse(small, (size_t)-1, 4);
	assert_non_null(value);
	json_object_put(value);
	assert_null(cairn__json_parse(small, (size_t)-1, 3));
	assert_int_equal(cairn__error_code(), CAIRN_EINVALID);

	free(ok);
	free(too_deep);
	free(small);
}

static void test_util_json__trailing_and_bad_input(void **state)
{
	json_object *value;
	(void)state;

	value = cairn__json_parse("{\"a\":1}  \n\t", (size_t)-1, 0);
	assert_non_null(value);
	json_object_put(value);

	assert_null(cairn__json_parse("{\"a\":1} x", (size_t)-1, 0));
	assert_int_equal(cairn__error_code(), CAIRN_EINVALID);
	/* The message says where: byte 8 is the 'x'. */
	assert_non_null(strstr(cairn_error_last(), "invalid JSON at byte 8"));
	assert_null(cairn__json_parse("{} {}", (size_t)-1, 0));
	assert_null(cairn__json_parse("[1,2", (size_t)-1, 0));
	assert_non_null(strstr(cairn_error_last(), "invalid JSON"));
	assert_null(cairn__json_parse("", (size_t)-1, 0));
	assert_null(cairn__json_parse(NULL, 0, 0));

	/* len bounds the text: only "[1]" of "[1]garbage" is read. */
	value = cairn__json_parse("[1]garbage", 3, 0);
	assert_non_null(value);
	assert_int_equal(json_object_array_length(value), 1);
	json_object_put(value);
	/* A trailing number needs no terminator inside len. */
	value = cairn__json_parse("12345", 3, 0);
	assert_non_null(value);
	assert_int_equal(json_object_get_int64(value), 123);
	json_object_put(value);

	value = cairn__json_parse_object("[1]", (size_t)-1, 0);
	assert_null(value);
	assert_int_equal(cairn__error_code(), CAIRN_EINVALID);
	assert_non_null(strstr(cairn_error_last(), "expected a JSON object"));
}

static void test_util_json__embedded_nul(void **state)
{
	(void)state;

	/* An embedded NUL is refused, not silently truncated at the NUL. */
	assert_null(cairn__json_parse("[1]\0[2]", 7, 0));
	assert_int_equal(cairn__error_code(), CAIRN_EINVALID);
	assert_non_null(strstr(cairn_error_last(), "NUL byte at offset 3"));
}

static void test_util_json__int64_exact(void **state)
{
	const char *text = "{\"a\":9007199254740993,\"max\":9223372036854775807,"
		"\"min\":-9223372036854775808,\"d\":1.5}";
	json_object *value;
	int64_t number = 0;
	char *dumped;
	(void)state;

	value = cairn__json_parse_object(text, (size_t)-1, 0);
	assert_non_null(value);
	assert_true(cairn__json_get_int64(value, "a", &number));
	assert_true(number == INT64_C(9007199254740993));
	assert_true(cairn__json_get_int64(value, "max", &number));
	assert_true(number == INT64_MAX);
	assert_true(cairn__json_get_int64(value, "min", &number));
	assert_true(number == INT64_MIN);
	/* Only integers are int64: a double is not silently truncated. */
	assert_false(cairn__json_get_int64(value, "d", &number));

	dumped = cairn__json_dump(value);
	assert_non_null(dumped);
	assert_string_equal(dumped, text);
	free(dumped);
	json_object_put(value);
}

static void test_util_json__getters(void **state)
{
	json_object *value = cairn__json_parse_object(
		"{\"s\":\"x/y\",\"n\":7,\"b\":false,\"z\":null}", (size_t)-1, 0);
	const char *text = NULL;
	int64_t number = 0;
	int flag = -1;
	size_t len = 0;
	(void)state;

	assert_non_null(value);
	assert_true(cairn__json_get_string(value, "s", &text));
	assert_string_equal(text, "x/y");
	assert_false(cairn__json_get_string(value, "n", &text));
	assert_false(cairn__json_get_string(value, "missing", &text));
	assert_false(cairn__json_get_string(value, "z", &text));
	assert_true(cairn__json_get_int64(value, "n", &number));
	assert_int_equal(number, 7);
	assert_true(cairn__json_get_bool(value, "b", &flag));
	assert_int_equal(flag, 0);
	assert_false(cairn__json_get_bool(value, "n", &flag));
	assert_false(cairn__json_get_string(NULL, "s", &text));
	/* Compact text, no escaped slashes. */
	assert_string_equal(cairn__json_text(value, &len),
		"{\"s\":\"x/y\",\"n\":7,\"b\":false,\"z\":null}");
	assert_int_equal(len, strlen("{\"s\":\"x/y\",\"n\":7,\"b\":false,\"z\":null}"));
	json_object_put(value);
}

static void test_util_json__equal_copy_merge(void **state)
{
	json_object *a = cairn__json_parse("{\"x\":1,\"y\":[1,{\"z\":true}]}", (size_t)-1, 0);
	json_object *b = cairn__json_parse("{\"y\":[1,{\"z\":true}],\"x\":1}", (size_t)-1, 0);
	json_object *c = cairn__json_parse("{\"x\":2,\"y\":[1,{\"z\":true}]}", (size_t)-1, 0);
	json_object *patch = cairn__json_parse("{\"x\":null,\"w\":\"new\"}", (size_t)-1, 0);
	json_object *doc = cairn__json_parse("{\"$id\":\"d\",\"$sequence\":\"1\",\"t\":1}",
		(size_t)-1, 0);
	json_object *copy, *merged, *user;
	(void)state;

	assert_true(cairn__json_equal(a, b));
	assert_false(cairn__json_equal(a, c));

	copy = cairn__json_copy(a);
	assert_non_null(copy);
	assert_ptr_not_equal(copy, a);
	assert_true(cairn__json_equal(copy, a));
	json_object_object_add(copy, "x", json_object_new_int(5));
	assert_false(cairn__json_equal(copy, a));

	merged = cairn__json_merge_top(a, patch);
	assert_non_null(merged);
	assert_string_equal(cairn__json_text(merged, NULL),
		"{\"x\":null,\"y\":[1,{\"z\":true}],\"w\":\"new\"}");
	/* The base is not changed. */
	assert_string_equal(cairn__json_text(a, NULL), "{\"x\":1,\"y\":[1,{\"z\":true}]}");

	user = cairn__json_user_fields(doc);
	assert_non_null(user);
	assert_string_equal(cairn__json_text(user, NULL), "{\"t\":1}");

	assert_int_equal(cairn__json_depth(json_object_array_get_idx(
		json_object_object_get(a, "y"), 0)), 0);
	assert_int_equal(cairn__json_depth(a), 3);

	json_object_put(a);
	json_object_put(b);
	json_object_put(c);
	json_object_put(patch);
	json_object_put(doc);
	json_object_put(copy);
	json_object_put(merged);
	json_object_put(user);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_util_json__depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_json__trailing_and_bad_input, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_util_json__embedded_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_json__int64_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_json__getters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_json__equal_copy_merge, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
