/* scope.c: `cairn scope`: show, set and reset a collection's sync scope, refusals (not a
 * filter, not JSON, queries with --all), and a scoped store syncing through `cairn serve`. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "support/cli_fixture.h"

#define PROJECT "clitest"
#define API_KEY "cli-test-key-5c1f0a9e22d7b364"
#define DATABASE "shop"
#define EQ42 "{\"method\":\"equal\",\"attribute\":\"storeId\",\"values\":[42]}"

typedef cairn_cli_fixture fixture;

/* The printed scope, parsed (caller frees). */
static json_object *printed(const cairn_cli_result *r)
{
	json_object *value = json_tokener_parse(r->out);

	if (!value || !json_object_is_type(value, json_type_array))
		fail_msg("not a JSON array: %s", r->out);
	return value;
}

static void test_cli_scope__show_set_reset(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *scope;

	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	scope = printed(&r);
	assert_int_equal(json_object_array_length(scope), 0);
	json_object_put(scope);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", EQ42, "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	scope = printed(&r);
	assert_int_equal(json_object_array_length(scope), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(scope, 0)), EQ42);
	json_object_put(scope);
	cairn_cli_result_free(&r);

	/* Refusals leave the scope as it was. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", "{\"method\":\"limit\","
		"\"values\":[5]}", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 1);
	assert_non_null(strstr(r.err, "not a filter"));
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", "{oops", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 1);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", EQ42, "--all", "--store", f->store,
		NULL);
	cairn_cli_expect_status(&r, 2);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 2);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", "--store", f->store, NULL);
	scope = printed(&r);
	assert_int_equal(json_object_array_length(scope), 1);
	json_object_put(scope);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", "--all", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	scope = printed(&r);
	assert_int_equal(json_object_array_length(scope), 0);
	json_object_put(scope);
	cairn_cli_result_free(&r);
}

static void test_cli_scope__scoped_sync(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	char url[256];
	json_object *list;

	if (cairn_cli_server_start(&f->server, f->dir, PROJECT, API_KEY) != 0)
		fail_msg("cairn serve did not start");
	snprintf(url, sizeof(url), "%s/databases", f->server.url);
	assert_int_equal(cairn_cli_http("POST", url, PROJECT, API_KEY,
		"{\"databaseId\":\"" DATABASE "\",\"name\":\"Shop\"}"), 201);
	snprintf(url, sizeof(url), "%s/databases/" DATABASE "/collections", f->server.url);
	assert_int_equal(cairn_cli_http("POST", url, PROJECT, API_KEY,
		"{\"collectionId\":\"orders\",\"name\":\"Orders\"}"), 201);
	snprintf(url, sizeof(url), "%s/databases/" DATABASE "/collections/orders/documents",
		f->server.url);
	assert_int_equal(cairn_cli_http("POST", url, PROJECT, API_KEY,
		"{\"documentId\":\"o1\",\"data\":{\"storeId\":42}}"), 201);
	assert_int_equal(cairn_cli_http("POST", url, PROJECT, API_KEY,
		"{\"documentId\":\"o2\",\"data\":{\"storeId\":7}}"), 201);

	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--server", f->server.url, "--project",
		PROJECT, "--api-key", API_KEY, "--database", DATABASE, "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", EQ42, "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "query", "orders", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	list = json_tokener_parse(r.out);
	assert_non_null(list);
	assert_int_equal(json_object_array_length(list), 1);
	json_object_put(list);
	cairn_cli_result_free(&r);

	/* Everything readable again: o2 arrives at the next sync. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "scope", "orders", "--all", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "get", "orders", "o2", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	assert_int_equal(cairn_cli_server_stop(&f->server), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_CLI_TEST(test_cli_scope__show_set_reset),
		CAIRN_CLI_TEST(test_cli_scope__scoped_sync),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
