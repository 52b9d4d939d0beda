/* tests/util/id.c: Appwrite id validation and offline unique ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/error.h"
#include "util/id.h"

#define UNIQUE_COUNT 100000

static int setup(void **state)
{
	char *dir = strdup("/tmp/cairn-test-id-XXXXXX");

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

static void test_util_id__valid(void **state)
{
	static const char *const good[] = {
		"a", "Z", "0", "doc1", "a.b-c_d", "6b05e1f700354b64e4fa",
		"abcdefghijklmnopqrstuvwxyz0123456789", /* 36 */
	};
	static const char *const bad[] = {
		"", ".a", "-a", "_a", "a b", "a/b", "a$", "unique()", "é",
		"abcdefghijklmnopqrstuvwxyz0123456789a", /* 37 */
	};
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!cairn__id_valid(good[i]))
			fail_msg("'%s' should be valid", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cairn__id_valid(bad[i]))
			fail_msg("'%s' should be invalid", bad[i]);
	assert_false(cairn__id_valid(NULL));
}

static int compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_util_id__unique(void **state)
{
	char (*ids)[21] = calloc(UNIQUE_COUNT, sizeof(*ids));
	(void)state;

	assert_non_null(ids);
	for (size_t i = 0; i < UNIQUE_COUNT; i++) {
		assert_int_equal(cairn__id_unique(ids[i], sizeof(ids[i])), 0);
		assert_int_equal(strlen(ids[i]), 20);
		assert_int_equal(strspn(ids[i], "0123456789abcdef"), 20);
		assert_true(cairn__id_valid(ids[i]));
	}
	qsort(ids, UNIQUE_COUNT, sizeof(*ids), compare_ids);
	for (size_t i = 1; i < UNIQUE_COUNT; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			fail_msg("duplicate id %s", ids[i]);
	free(ids);
}

static void test_util_id__small_buffer(void **state)
{
	char out[20] = "unchanged";
	(void)state;

	assert_int_equal(cairn__id_unique(out, sizeof(out)), CAIRN_EINVALID);
	assert_non_null(strstr(cairn_error_last(), "21 bytes"));
	assert_int_equal(cairn__id_unique(NULL, 64), CAIRN_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_util_id__valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_id__unique, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_id__small_buffer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
