/* rest_mode.c: `cairn remote --mode rest|sync`: a bad mode is a usage error, and a store set
 * to REST mode syncs with a real `cairn serve` through its Appwrite document routes. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/cli_run.h"

#define PROJECT "clitest"
#define API_KEY "cli-test-key-rest-5e1f0a7c93d2"
#define DATABASE "shop"

typedef struct {
	char dir[PATH_MAX];
	char store_a[PATH_MAX + 16];
	char store_b[PATH_MAX + 16];
	cairn_cli_server server; /* stopped by teardown if a test fails while it runs */
} fixture;

static int setup(void **state)
{
	static fixture f;

	memset(&f, 0, sizeof(f));
	if (cairn_cli_tmpdir(f.dir) != 0)
		return -1;
	snprintf(f.store_a, sizeof(f.store_a), "%s/a.db", f.dir);
	snprintf(f.store_b, sizeof(f.store_b), "%s/b.db", f.dir);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	cairn_cli_server_stop(&f->server);
	cairn_cli_rmtree(f->dir);
	return 0;
}

static void expect_status(const cairn_cli_result *r, int status)
{
	if (r->status != status)
		fail_msg("exit %d, expected %d\nstdout: %s\nstderr: %s", r->status, status, r->out,
			r->err);
}

static void expect_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("expected '%s' in:\n%s", part, text);
}

/* Runs `cairn ARGS... --store STORE`, expects exit `status` and, unless `part` is NULL, finds
 * `part` in stdout (exit 0) or stderr (otherwise). */
static void run(const char *store, int status, const char *part, ...)
{
	const char *argv[24];
	cairn_cli_result r;
	size_t count = 0;
	va_list args;
	const char *arg;

	va_start(args, part);
	while ((arg = va_arg(args, const char *)) != NULL && count < 20)
		argv[count++] = arg;
	va_end(args);
	argv[count++] = "--store";
	argv[count++] = store;
	argv[count] = NULL;
	cairn_cli_run(&r, NULL, NULL, NULL, argv);
	expect_status(&r, status);
	if (part)
		expect_contains(status == 0 ? r.out : r.err, part);
	cairn_cli_result_free(&r);
}

static void test_cli_rest_mode__bad_mode_is_a_usage_error(void **state)
{
	fixture *f = *state;

	run(f->store_a, 2, "--mode must be sync or rest", "remote", "--server",
		"http://127.0.0.1:9/v1", "--project", PROJECT, "--database", DATABASE, "--mode",
		"soap", NULL);
	run(f->store_a, 2, "--server", "remote", "--mode", "rest", NULL);
	run(f->store_a, 0, "no remote", "remote", NULL);
}

static void test_cli_rest_mode__sync_through_rest_routes(void **state)
{
	fixture *f = *state;

	assert_int_equal(cairn_cli_server_start(&f->server, f->dir, PROJECT, API_KEY), 0);
	/* Store a (sync mode) creates the database and collection, which REST mode needs. */
	run(f->store_a, 0, NULL, "remote", "--server", f->server.url, "--project", PROJECT,
		"--api-key", API_KEY, "--database", DATABASE, NULL);
	run(f->store_a, 0, NULL, "put", "items", "from-a", "{\"n\":1}", NULL);
	run(f->store_a, 0, NULL, "sync", NULL);

	run(f->store_b, 0, "mode:     rest", "remote", "--server", f->server.url, "--project",
		PROJECT, "--api-key", API_KEY, "--database", DATABASE, "--mode", "rest", NULL);
	run(f->store_b, 0, NULL, "put", "items", "from-b", "{\"n\":2}", NULL);
	run(f->store_b, 0, NULL, "sync", NULL);
	run(f->store_b, 0, "\"n\":1", "get", "items", "from-a", NULL);
	run(f->store_a, 0, NULL, "sync", NULL);
	run(f->store_a, 0, "\"n\":2", "get", "items", "from-b", NULL);

	assert_int_equal(cairn_cli_server_stop(&f->server), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cli_rest_mode__bad_mode_is_a_usage_error, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_cli_rest_mode__sync_through_rest_routes, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
