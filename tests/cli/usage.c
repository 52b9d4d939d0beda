/* usage.c: `cairn` help, version and usage errors (exit code 2), through the real binary. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cairn.h"
#include "support/cli_fixture.h"

static const char *const command_names[] = { "serve", "remote", "put", "patch", "get", "rm",
	"query", "sync", "status", "conflicts", "help" };
#define COMMAND_COUNT (sizeof(command_names) / sizeof(command_names[0]))

typedef cairn_cli_fixture fixture;

static void test_cli_usage__help_on_every_command(void **state)
{
	fixture *f = *state;
	static const char *const spellings[] = { "--help", "-h" };

	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		for (size_t s = 0; s < 2; s++) {
			cairn_cli_result r;
			char usage[64];

			/* Run where a store would be created, to see that help never opens one. */
			cairn_cli_runl(&r, f->dir, NULL, NULL, command_names[i], spellings[s], NULL);
			cairn_cli_expect_status(&r, 0);
			snprintf(usage, sizeof(usage), "usage: cairn %s", command_names[i]);
			cairn_cli_expect_contains(r.out, usage);
			assert_string_equal(r.err, "");
			cairn_cli_result_free(&r);

			/* Help wins over missing arguments, wherever it is. */
			cairn_cli_runl(&r, f->dir, NULL, NULL, spellings[s], command_names[i], NULL);
			cairn_cli_expect_status(&r, 0);
			cairn_cli_expect_contains(r.out, usage);
			cairn_cli_result_free(&r);
		}
	}
	{
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/cairn.db", f->dir);
		assert_int_not_equal(access(path, F_OK), 0);
	}
}

static void test_cli_usage__top_level_help_and_version(void **state)
{
	cairn_cli_result r;
	(void)state;

	cairn_cli_runl(&r, NULL, NULL, NULL, "--help", NULL);
	cairn_cli_expect_status(&r, 0);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		cairn_cli_expect_contains(r.out, command_names[i]);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "help", "sync", NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "usage: cairn sync");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "--version", NULL);
	cairn_cli_expect_status(&r, 0);
	assert_string_equal(r.out, "cairn " CAIRN_VERSION "\n");
	cairn_cli_result_free(&r);

	/* No command at all: the overview, on stderr, as a usage error. */
	cairn_cli_runl(&r, NULL, NULL, NULL, NULL);
	cairn_cli_expect_status(&r, 2);
	cairn_cli_expect_contains(r.err, "usage: cairn");
	assert_string_equal(r.out, "");
	cairn_cli_result_free(&r);
}

/* Runs argv and asserts a usage error whose stderr holds `part`. */
static void expect_usage_error(const fixture *f, const char *const *argv, const char *part)
{
	cairn_cli_result r;

	cairn_cli_run(&r, f->dir, NULL, NULL, argv);
	cairn_cli_expect_status(&r, 2);
	assert_string_equal(r.out, "");
	cairn_cli_expect_contains(r.err, "cairn: ");
	cairn_cli_expect_contains(r.err, part);
	cairn_cli_result_free(&r);
}

static void test_cli_usage__errors_exit_2(void **state)
{
	fixture *f = *state;

	expect_usage_error(f, (const char *[]){ "frobnicate", NULL }, "unknown command");
	expect_usage_error(f, (const char *[]){ "get", "tasks", "t1", "--bogus", NULL },
		"unknown option");
	expect_usage_error(f, (const char *[]){ "get", "tasks", "t1", "-x", NULL },
		"unknown option");
	/* An option another command has, with this one. */
	expect_usage_error(f, (const char *[]){ "get", "tasks", "t1", "--json", NULL },
		"usage: cairn get");
	expect_usage_error(f, (const char *[]){ "put", "tasks", "t1", NULL }, "usage: cairn put");
	expect_usage_error(f, (const char *[]){ "get", "tasks", NULL }, "usage: cairn get");
	expect_usage_error(f, (const char *[]){ "get", "tasks", "t1", "extra", NULL },
		"usage: cairn get");
	expect_usage_error(f, (const char *[]){ "query", NULL }, "usage: cairn query");
	expect_usage_error(f, (const char *[]){ "sync", "now", NULL }, "usage: cairn sync");
	expect_usage_error(f, (const char *[]){ "get", "tasks", "t1", "--store", NULL },
		"needs a value");
	expect_usage_error(f, (const char *[]){ "status", "--json=yes", NULL }, "takes no value");
	expect_usage_error(f, (const char *[]){ "help", "frobnicate", NULL }, "unknown command");
	expect_usage_error(f, (const char *[]){ "serve", "--workers", "lots", NULL },
		"usage: cairn serve");
	expect_usage_error(f, (const char *[]){ "serve", "--listen", "8080", NULL },
		"HOST:PORT");
	expect_usage_error(f, (const char *[]){ "remote", "--server", "http://h/v1", NULL },
		"--project");
	expect_usage_error(f, (const char *[]){ "remote", "--server", "ftp://h", "--project", "p",
		"--database", "d", NULL }, "http://");

	/* None of that created a store. */
	{
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/cairn.db", f->dir);
		assert_int_not_equal(access(path, F_OK), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_CLI_TEST(test_cli_usage__help_on_every_command),
		CAIRN_CLI_TEST(test_cli_usage__top_level_help_and_version),
		CAIRN_CLI_TEST(test_cli_usage__errors_exit_2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
