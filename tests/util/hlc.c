/* tests/util/hlc.c: hybrid logical clock ticks, observation and ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/hlc.h"

static int setup(void **state)
{
	char *dir = strdup("/tmp/cairn-test-hlc-XXXXXX");

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

static void test_util_hlc__layout(void **state)
{
	int64_t ts = cairn__hlc_from_ms(1787000000123) + 7;
	(void)state;

	assert_true(cairn__hlc_physical_ms(ts) == 1787000000123);
	assert_int_equal(cairn__hlc_logical(ts), 7);
	assert_int_equal(cairn__hlc_logical(cairn__hlc_from_ms(5)), 0);
	assert_true(cairn__hlc_from_ms(1) == (INT64_C(1) << CAIRN_HLC_LOGICAL_BITS));
}

static void test_util_hlc__monotonic(void **state)
{
	cairn_hlc clock = {0};
	int64_t previous, ts;
	/* The wall clock jumps back, stalls and jumps forward. */
	static const int64_t walls[] = {1000, 1000, 1000, 999, 500, 1001, 1001, 5000, 4000};
	(void)state;

	previous = cairn__hlc_tick(&clock, walls[0]);
	assert_true(previous >= cairn__hlc_from_ms(walls[0]));
	for (size_t i = 1; i < sizeof(walls) / sizeof(walls[0]); i++) {
		ts = cairn__hlc_tick(&clock, walls[i]);
		assert_true(ts > previous);
		assert_true(ts >= cairn__hlc_from_ms(walls[i]));
		previous = ts;
	}
	/* Same millisecond: only the logical counter moves. */
	clock.last = 0;
	ts = cairn__hlc_tick(&clock, 2000);
	assert_true(cairn__hlc_tick(&clock, 2000) == ts + 1);
	assert_int_equal(cairn__hlc_logical(ts + 1), 1);
	/* A fresh millisecond resets the counter. */
	ts = cairn__hlc_tick(&clock, 2001);
	assert_true(ts == cairn__hlc_from_ms(2001));
}

static void test_util_hlc__observe(void **state)
{
	cairn_hlc clock = {0};
	int64_t remote = cairn__hlc_from_ms(90000) + 41, ts;
	(void)state;

	cairn__hlc_tick(&clock, 1000);
	cairn__hlc_observe(&clock, remote);
	/* A remote clock ahead of ours: the next tick is still after it. */
	ts = cairn__hlc_tick(&clock, 1001);
	assert_true(ts > remote);
	assert_true(cairn__hlc_physical_ms(ts) == 90000);
	assert_int_equal(cairn__hlc_logical(ts), 42);
	/* Observing an older timestamp changes nothing. */
	cairn__hlc_observe(&clock, cairn__hlc_from_ms(5));
	assert_true(cairn__hlc_tick(&clock, 1002) == ts + 1);
}

static void test_util_hlc__compare(void **state)
{
	int64_t a = cairn__hlc_from_ms(100), b = cairn__hlc_from_ms(100) + 1;
	(void)state;

	assert_true(cairn__hlc_compare(a, "zzz", b, "aaa") < 0);
	assert_true(cairn__hlc_compare(b, "aaa", a, "zzz") > 0);
	/* Equal timestamps: the client id decides, so every replica picks the same winner. */
	assert_true(cairn__hlc_compare(a, "client-a", a, "client-b") < 0);
	assert_true(cairn__hlc_compare(a, "client-b", a, "client-a") > 0);
	assert_int_equal(cairn__hlc_compare(a, "same", a, "same"), 0);
	assert_int_equal(cairn__hlc_compare(a, NULL, a, ""), 0);
	assert_true(cairn__hlc_compare(a, NULL, a, "x") < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_util_hlc__layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_hlc__monotonic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_hlc__observe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_hlc__compare, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
