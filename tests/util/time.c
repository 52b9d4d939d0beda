/* tests/util/time.c: Appwrite timestamp formatting and ISO 8601 parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/error.h"
#include "util/time.h"

static int setup(void **state)
{
	char *dir = strdup("/tmp/cairn-test-time-XXXXXX");

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

/* 2026-08-21T12:34:56.789Z in unix milliseconds. */
#define SAMPLE_MS INT64_C(1787315696789)

static int64_t parse_ok(const char *text)
{
	int64_t ms = -1;

	if (cairn__time_parse(text, &ms) != 0)
		fail_msg("'%s' should parse: %s", text, cairn_error_last());
	return ms;
}

static void test_util_time__format(void **state)
{
	char text[CAIRN_TIME_TEXT_SIZE];
	(void)state;

	cairn__time_format(0, text);
	assert_string_equal(text, "1970-01-01T00:00:00.000+00:00");
	cairn__time_format(SAMPLE_MS, text);
	assert_string_equal(text, "2026-08-21T12:34:56.789+00:00");
	cairn__time_format(-1, text);
	assert_string_equal(text, "1969-12-31T23:59:59.999+00:00");
	cairn__time_format(INT64_C(951782400000), text); /* a leap day */
	assert_string_equal(text, "2000-02-29T00:00:00.000+00:00");
}

static void test_util_time__round_trip(void **state)
{
	static const int64_t samples[] = {
		0, 1, 999, 1000, SAMPLE_MS, INT64_C(951782400000), INT64_C(4102444799999), -1,
		INT64_C(-86400001),
	};
	char text[CAIRN_TIME_TEXT_SIZE];
	(void)state;

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		cairn__time_format(samples[i], text);
		if (parse_ok(text) != samples[i])
			fail_msg("%s did not round-trip to %lld", text, (long long)samples[i]);
	}
}

static void test_util_time__zones_and_shapes(void **state)
{
	(void)state;

	assert_true(parse_ok("2026-08-21T12:34:56.789Z") == SAMPLE_MS);
	assert_true(parse_ok("2026-08-21T12:34:56.789z") == SAMPLE_MS);
	assert_true(parse_ok("2026-08-21T14:34:56.789+02:00") == SAMPLE_MS);
	assert_true(parse_ok("2026-08-21T07:04:56.789-05:30") == SAMPLE_MS);
	assert_true(parse_ok("2026-08-21T14:34:56.789+0200") == SAMPLE_MS);
	assert_true(parse_ok("2026-08-21 12:34:56.789+00:00") == SAMPLE_MS);
	/* More than three fraction digits: milliseconds kept, the rest dropped. */
	assert_true(parse_ok("2026-08-21T12:34:56.789999Z") == SAMPLE_MS);
	assert_true(parse_ok("2026-08-21T12:34:56.7Z") == SAMPLE_MS - 89);
	assert_true(parse_ok("2026-08-21T12:34:56Z") == SAMPLE_MS - 789);
	assert_true(parse_ok("2026-08-21T12:34Z") == SAMPLE_MS - 56789);
	assert_true(parse_ok("2026-08-21") == SAMPLE_MS - (12 * 3600 + 34 * 60 + 56) * 1000 - 789);
	/* An offset that crosses midnight backwards into the previous day. */
	assert_true(parse_ok("2026-08-22T00:00:00.000+12:00") ==
		parse_ok("2026-08-21T12:00:00.000Z"));
}

static void test_util_time__invalid(void **state)
{
	static const char *const bad[] = {
		"", "yesterday", "2026-13-01", "2026-00-10", "2026-08-32", "2026-8-21",
		"2026-08-21T25:00:00Z", "2026-08-21T12:60:00Z", "2026-08-21T12:34:56.Z",
		"2026-08-21T12:34:56.789+24:00", "2026-08-21T12:34:56.789Zjunk",
		"2026-08-21T12:34:56.789 ", "2026-08-21X12:34:56",
	};
	int64_t ms;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cairn__time_parse(bad[i], &ms) != CAIRN_EINVALID)
			fail_msg("'%s' should be rejected", bad[i]);
	}
	assert_int_equal(cairn__time_parse(NULL, &ms), CAIRN_EINVALID);
	cairn__time_parse("2026-13-01", &ms);
	assert_non_null(strstr(cairn_error_last(), "invalid date-time '2026-13-01'"));
}

static void test_util_time__clocks(void **state)
{
	int64_t first, second;
	(void)state;

	/* Sanity, not timing: the realtime clock is after 2020, the monotonic one never goes back. */
	assert_true(cairn__time_now_ms() > INT64_C(1577836800000));
	first = cairn__time_monotonic_ms();
	second = cairn__time_monotonic_ms();
	assert_true(second >= first);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_util_time__format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_time__round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_time__zones_and_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_time__invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_time__clocks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
