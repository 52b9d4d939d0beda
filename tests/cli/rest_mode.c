/* rest_mode.c: `cairn remote --mode rest|sync`: a bad mode is a usage error, and a store set
 * to REST mode syncs with a real `cairn serve` through its Appwrite document routes. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/cli_fixture.h"

#define PROJECT "clitest"
#define API_KEY "cli-test-key-rest-5e1f0a7c93d2"
#define DATABASE "shop"

typedef cairn_cli_fixture fixture;

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
	cairn_cli_expect_status(&r, status);
	if (part)
		cairn_cli_expect_contains(status == 0 ? r.out : r.err, part);
	cairn_cli_result_free(&r);
}

static void test_cli_rest_mode__bad_mode_is_a_usage_error(void **state)
{
	fixture *f = *state;

	run(f->store, 2, "--mode must be sync or rest", "remote", "--server",
		"http://127.0.0.1:9/v1", "--project", PROJECT, "--database", DATABASE, "--mode",
		"soap", NULL);
	run(f->store, 2, "--server", "remote", "--mode", "rest", NULL);
	run(f->store, 0, "no remote", "remote", NULL);
}

/* `cairn remote` without --mode keeps the store's mode; only --mode changes it. */
static void test_cli_rest_mode__remote_without_mode_keeps_rest(void **state)
{
	fixture *f = *state;
	const char *argv[] = { "remote", "--store", f->store, NULL };
	cairn_cli_result r;

	run(f->store, 0, "mode:     rest", "remote", "--server", "http://127.0.0.1:9/v1",
		"--project", PROJECT, "--database", DATABASE, "--mode", "rest", NULL);
	run(f->store, 0, "mode:     rest", "remote", "--server", "http://127.0.0.1:10/v1",
		"--project", PROJECT, "--database", DATABASE, NULL);
	run(f->store, 0, "mode:     rest", "remote", NULL);
	run(f->store, 0, "127.0.0.1:10", "remote", NULL);
	run(f->store, 0, NULL, "remote", "--server", "http://127.0.0.1:10/v1", "--project",
		PROJECT, "--database", DATABASE, "--mode", "sync", NULL);
	cairn_cli_run(&r, NULL, NULL, NULL, argv);
	cairn_cli_expect_status(&r, 0);
	if (strstr(r.out, "rest"))
		fail_msg("--mode sync did not switch the store back:\n%s", r.out);
	cairn_cli_result_free(&r);
	/* And a sync-mode store stays in sync mode when set again without --mode. */
	cairn_cli_run(&r, NULL, NULL, NULL, (const char *[]){ "remote", "--server",
		"http://127.0.0.1:11/v1", "--project", PROJECT, "--database", DATABASE, "--store",
		f->store, NULL });
	cairn_cli_expect_status(&r, 0);
	if (strstr(r.out, "rest"))
		fail_msg("a sync-mode store turned into REST mode:\n%s", r.out);
	cairn_cli_result_free(&r);
}

static void test_cli_rest_mode__sync_through_rest_routes(void **state)
{
	fixture *f = *state;

	assert_int_equal(cairn_cli_server_start(&f->server, f->dir, PROJECT, API_KEY), 0);
	/* Store a (sync mode) creates the database and collection, which REST mode needs. */
	run(f->store, 0, NULL, "remote", "--server", f->server.url, "--project", PROJECT,
		"--api-key", API_KEY, "--database", DATABASE, NULL);
	run(f->store, 0, NULL, "put", "items", "from-a", "{\"n\":1}", NULL);
	run(f->store, 0, NULL, "sync", NULL);

	run(f->store_b, 0, "mode:     rest", "remote", "--server", f->server.url, "--project",
		PROJECT, "--api-key", API_KEY, "--database", DATABASE, "--mode", "rest", NULL);
	run(f->store_b, 0, NULL, "put", "items", "from-b", "{\"n\":2}", NULL);
	run(f->store_b, 0, NULL, "sync", NULL);
	run(f->store_b, 0, "\"n\":1", "get", "items", "from-a", NULL);
	run(f->store, 0, NULL, "sync", NULL);
	run(f->store, 0, "\"n\":2", "get", "items", "from-b", NULL);
	/* Setting the remote again without --mode keeps REST mode and the server copies. */
	run(f->store_b, 0, "mode:     rest", "remote", "--server", f->server.url, "--project",
		PROJECT, "--api-key", API_KEY, "--database", DATABASE, NULL);
	run(f->store_b, 0, NULL, "put", "items", "from-b2", "{\"n\":3}", NULL);
	run(f->store_b, 0, NULL, "sync", NULL);
	run(f->store, 0, NULL, "sync", NULL);
	run(f->store, 0, "\"n\":3", "get", "items", "from-b2", NULL);

	assert_int_equal(cairn_cli_server_stop(&f->server), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_CLI_TEST(test_cli_rest_mode__bad_mode_is_a_usage_error),
		CAIRN_CLI_TEST(test_cli_rest_mode__remote_without_mode_keeps_rest),
		CAIRN_CLI_TEST(test_cli_rest_mode__sync_through_rest_routes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
