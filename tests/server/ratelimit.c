/* ratelimit.c: the failed-login counters (src/server/ratelimit.c): limits per key, fixed
 * windows, resets, the key cap, and exact counts under concurrent hits. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "cairn.h"
#include "server/ratelimit.h"

#define WINDOW 60000

static void test_server_ratelimit__limit_and_window(void **state)
{
	cairn_ratelimit *limiter = NULL;
	int64_t retry = 0;

	(void)state;
	assert_int_equal(cairn__ratelimit_new(&limiter, 3, WINDOW), 0);
	assert_false(cairn__ratelimit_blocked(limiter, "a", 1000, NULL));
	cairn__ratelimit_hit(limiter, "a", 1000);
	cairn__ratelimit_hit(limiter, "a", 2000);
	assert_false(cairn__ratelimit_blocked(limiter, "a", 2000, NULL));
	cairn__ratelimit_hit(limiter, "a", 3000);
	assert_true(cairn__ratelimit_blocked(limiter, "a", 3000, &retry));
	assert_int_equal(retry, 1000 + WINDOW - 3000);
	assert_false(cairn__ratelimit_blocked(limiter, "b", 3000, NULL)); /* per key */
	/* the window started at the first hit: it ends WINDOW later */
	assert_true(cairn__ratelimit_blocked(limiter, "a", 1000 + WINDOW - 1, NULL));
	assert_false(cairn__ratelimit_blocked(limiter, "a", 1000 + WINDOW, NULL));
	/* a new window counts from zero */
	cairn__ratelimit_hit(limiter, "a", 1000 + WINDOW);
	assert_false(cairn__ratelimit_blocked(limiter, "a", 1000 + WINDOW, NULL));
	/* reset forgets a key */
	cairn__ratelimit_hit(limiter, "c", 5000);
	cairn__ratelimit_hit(limiter, "c", 5000);
	cairn__ratelimit_hit(limiter, "c", 5000);
	assert_true(cairn__ratelimit_blocked(limiter, "c", 5000, NULL));
	cairn__ratelimit_reset(limiter, "c");
	assert_false(cairn__ratelimit_blocked(limiter, "c", 5000, NULL));
	cairn__ratelimit_reset(limiter, "never-seen");
	cairn__ratelimit_free(limiter);
	cairn__ratelimit_free(NULL);
}

static void test_server_ratelimit__bad_arguments(void **state)
{
	cairn_ratelimit *limiter = (cairn_ratelimit *)1;

	(void)state;
	assert_int_equal(cairn__ratelimit_new(&limiter, 0, WINDOW), CAIRN_EINVALID);
	assert_null(limiter);
	assert_int_equal(cairn__ratelimit_new(&limiter, 3, 0), CAIRN_EINVALID);
	assert_false(cairn__ratelimit_blocked(NULL, "a", 0, NULL));
	cairn__ratelimit_hit(NULL, "a", 0);
}

static void test_server_ratelimit__key_cap(void **state)
{
	cairn_ratelimit *limiter = NULL;
	char key[32];

	(void)state;
	assert_int_equal(cairn__ratelimit_new(&limiter, 1, WINDOW), 0);
	cairn__ratelimit_hit(limiter, "first", 0);
	/* more keys than the table holds, all in one window: the oldest goes */
	for (int i = 0; i < CAIRN_RATELIMIT_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cairn__ratelimit_hit(limiter, key, 10);
	}
	assert_false(cairn__ratelimit_blocked(limiter, "first", 10, NULL));
	assert_true(cairn__ratelimit_blocked(limiter, "k1", 10, NULL));
	/* expired windows make room first */
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "late%d", i);
		cairn__ratelimit_hit(limiter, key, 10 + WINDOW);
		assert_true(cairn__ratelimit_blocked(limiter, key, 10 + WINDOW, NULL));
	}
	cairn__ratelimit_free(limiter);
}

#define THREADS 8
#define HITS 500

static void *hammer(void *arg)
{
	cairn_ratelimit *limiter = arg;
	char key[16];

	for (int i = 0; i < HITS; i++) {
		snprintf(key, sizeof(key), "key%d", i % 50);
		cairn__ratelimit_hit(limiter, key, 100);
		(void)cairn__ratelimit_blocked(limiter, key, 100, NULL);
		if (i % 97 == 0)
			cairn__ratelimit_reset(limiter, "other");
	}
	return NULL;
}

static void test_server_ratelimit__concurrent_hits(void **state)
{
	cairn_ratelimit *limiter = NULL;
	pthread_t threads[THREADS];
	char key[16];

	(void)state;
	/* each of 50 keys gets THREADS * HITS / 50 = 80 hits: exactly at a limit of 80 */
	assert_int_equal(cairn__ratelimit_new(&limiter, THREADS * HITS / 50, WINDOW), 0);
	cairn__ratelimit_hit(limiter, "probe", 100);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, hammer, limiter), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		assert_true(cairn__ratelimit_blocked(limiter, key, 100, NULL));
	}
	cairn__ratelimit_free(limiter);
	/* one hit fewer per key is not blocked: no hit was lost or double-counted */
	assert_int_equal(cairn__ratelimit_new(&limiter, THREADS * HITS / 50 + 1, WINDOW), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, hammer, limiter), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		assert_false(cairn__ratelimit_blocked(limiter, key, 100, NULL));
	}
	cairn__ratelimit_free(limiter);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_ratelimit__limit_and_window),
		cmocka_unit_test(test_server_ratelimit__bad_arguments),
		cmocka_unit_test(test_server_ratelimit__key_cap),
		cmocka_unit_test(test_server_ratelimit__concurrent_hits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
