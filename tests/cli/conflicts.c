/* conflicts.c: `cairn policy/incr/conflicts/resolve/restore` through the real binary, with two
 * stores and a `cairn serve` child: counters, the manual inbox and restore. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "support/cli_fixture.h"

#define PROJECT "clitest"
#define KEY "cli-conflicts-key-0123456789"

typedef cairn_cli_fixture fixture;

/* Runs `cairn ARGS... --store STORE`, asserts the exit code, returns stdout (caller frees). */
static char *run(int expected, const char *store, ...)
{
	const char *argv[16];
	cairn_cli_result r;
	va_list list;
	size_t n = 0;
	char *out;

	va_start(list, store);
	while (n < 13 && (argv[n] = va_arg(list, const char *)) != NULL)
		n++;
	va_end(list);
	argv[n++] = "--store";
	argv[n++] = store;
	argv[n] = NULL;
	assert_int_equal(cairn_cli_run(&r, NULL, NULL, NULL, argv), 0);
	if (r.status != expected)
		fail_msg("cairn %s: exit %d, expected %d\nstdout: %s\nstderr: %s", argv[0], r.status,
			expected, r.out, r.err);
	out = r.out;
	r.out = NULL;
	cairn_cli_result_free(&r);
	return out;
}

static void check_field(char *out, const char *key, const char *expected)
{
	json_object *doc = json_tokener_parse(out);
	json_object *value = NULL;

	if (!doc || !json_object_object_get_ex(doc, key, &value))
		fail_msg("no '%s' in %s", key, out);
	assert_string_equal(json_object_get_string(value), expected);
	json_object_put(doc);
	free(out);
}

static size_t array_length(char *out)
{
	json_object *list = json_tokener_parse(out);
	size_t length;

	assert_non_null(list);
	length = json_object_array_length(list);
	json_object_put(list);
	free(out);
	return length;
}

static void test_cli_conflicts__counters_inbox_restore(void **state)
{
	fixture *f = *state;
	const char *stores[2] = { f->store, f->store_b };
	char path[PATH_MAX + 32];
	FILE *file;

	assert_int_equal(cairn_cli_server_start(&f->server, f->dir, PROJECT, KEY), 0);
	for (int i = 0; i < 2; i++) {
		free(run(0, stores[i], "remote", "--server", f->server.url, "--project", PROJECT,
			"--api-key", KEY, "--database", "shop", NULL));
		free(run(0, stores[i], "policy", "stock", "manual", "--counter", "count", NULL));
	}
	check_field(run(0, f->store, "policy", "stock", NULL), "strategy", "manual");
	free(run(2, f->store, "policy", "stock", "--counter", "x", NULL));
	free(run(1, f->store, "policy", "stock", "often", NULL));
	free(run(0, f->store, "put", "stock", "pen", "{\"name\":\"pen\"}", NULL));
	check_field(run(0, f->store, "incr", "stock", "pen", "count", "4", NULL), "count", "4");
	free(run(2, f->store, "incr", "stock", "pen", "count", "many", NULL));
	free(run(0, f->store, "sync", NULL));
	free(run(0, f->store_b, "sync", NULL));
	/* Two tills sell 3 each, and both rename the pen: a manual conflict for the second. */
	free(run(0, f->store, "incr", "stock", "pen", "count", "-3", NULL));
	free(run(0, f->store_b, "incr", "stock", "pen", "count", "-3", NULL));
	free(run(0, f->store, "patch", "stock", "pen", "{\"name\":\"red pen\"}", NULL));
	free(run(0, f->store_b, "patch", "stock", "pen", "{\"name\":\"blue pen\"}", NULL));
	free(run(0, f->store, "sync", NULL));
	free(run(0, f->store_b, "sync", NULL));
	check_field(run(0, f->store_b, "get", "stock", "pen", NULL), "name", "red pen");
	check_field(run(0, f->store_b, "get", "stock", "pen", NULL), "count", "-2");
	assert_int_equal(array_length(run(0, f->store_b, "conflicts", NULL)), 1);
	free(run(3, f->store, "resolve", "stock", "pen", "--keep", "mine", NULL));
	free(run(2, f->store_b, "resolve", "stock", "pen", NULL));

	snprintf(path, sizeof(path), "%s/merged.json", f->dir);
	file = fopen(path, "w");
	assert_non_null(file);
	fputs("{\"name\":\"red and blue pen\"}", file);
	fclose(file);
	check_field(run(0, f->store_b, "resolve", "stock", "pen", "--with", path, NULL), "name",
		"red and blue pen");
	assert_int_equal(array_length(run(0, f->store_b, "conflicts", NULL)), 0);
	assert_int_equal(array_length(run(0, f->store_b, "conflicts", "--all", NULL)), 1);
	free(run(0, f->store_b, "sync", NULL));
	free(run(0, f->store, "sync", NULL));
	check_field(run(0, f->store, "get", "stock", "pen", NULL), "name", "red and blue pen");
	check_field(run(0, f->store, "get", "stock", "pen", NULL), "count", "-2");

	/* Restore puts B's own overwritten version ("blue pen") back as a new write. */
	free(run(0, f->store_b, "restore", "1", NULL));
	check_field(run(0, f->store_b, "get", "stock", "pen", NULL), "name", "blue pen");
	free(run(2, f->store_b, "restore", "x", NULL));
	free(run(3, f->store_b, "restore", "99", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_CLI_TEST(test_cli_conflicts__counters_inbox_restore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
