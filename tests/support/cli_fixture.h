/* cli_fixture.h: what the tests of the `cairn` command (tests/cli/) share: a per-test temp dir
 * with two store paths and a `cairn serve` slot stopped at teardown, and cmocka assertions on
 * a run's exit code, output and printed JSON. */
#ifndef CAIRN_TESTS_SUPPORT_CLI_FIXTURE_H
#define CAIRN_TESTS_SUPPORT_CLI_FIXTURE_H

#include <limits.h>
#include <json-c/json.h>

#include "support/cli_run.h"

/* One test's world. */
typedef struct {
	char dir[PATH_MAX];          /* mkdtemp'd, removed by teardown */
	char store[PATH_MAX + 16];   /* DIR/a.db */
	char store_b[PATH_MAX + 16]; /* DIR/b.db, for tests with a second store */
	cairn_cli_server server;     /* not started; stopped by teardown if a test started it */
} cairn_cli_fixture;

/* cmocka per-test setup/teardown: *state becomes a zeroed fixture with a fresh temp dir;
 * teardown stops the server (if running) and removes the dir, even when the test failed. */
int cairn_cli_fixture_setup(void **state);
int cairn_cli_fixture_teardown(void **state);
/* A test entry with that setup and teardown, for the CMUnitTest array. */
#define CAIRN_CLI_TEST(f) \
	cmocka_unit_test_setup_teardown(f, cairn_cli_fixture_setup, cairn_cli_fixture_teardown)

/* Asserts the exit code, showing what the command printed when it differs. */
void cairn_cli_expect_status(const cairn_cli_result *r, int status);
/* Asserts `part` is in `text`, showing `text` when it is not. */
void cairn_cli_expect_contains(const char *text, const char *part);
/* Parses printed JSON, asserting it is JSON (caller frees). */
json_object *cairn_cli_parse(const char *text);
/* The member `key` of a JSON object, asserting it is there (owned by `object`). */
json_object *cairn_cli_member(json_object *object, const char *key);

#endif
