/* api_auth.c: project and API-key checks, public routes, routing misses and body limits. */
#include "api_harness.h"

static int setup(void **state)
{
	*state = harness_open();
	return 0;
}

static int teardown(void **state)
{
	harness_close(*state);
	return 0;
}

static void test_server_api_auth__version_is_public(void **state)
{
	harness *h = *state;
	api_reply reply = api_call_headers(h, "GET", "/v1/health/version", NULL, NULL);

	assert_status(&reply, 200);
	assert_non_null(reply.json);
	assert_string_equal(json_str(reply.json, "version"), "1.9.6");
	reply_free(&reply);
}

static void test_server_api_auth__ping_needs_project_only(void **state)
{
	harness *h = *state;
	const char *project_only[] = { "x-appwrite-project", HARNESS_PROJECT, NULL };
	const char *wrong_project[] = { "x-appwrite-project", "other", NULL };
	const char *empty_project[] = { "x-appwrite-project", "", NULL };
	api_reply reply;

	reply = api_call_headers(h, "GET", "/v1/ping", NULL, NULL);
	assert_error(&reply, 404, "project_not_found");
	reply_free(&reply);

	reply = api_call_headers(h, "GET", "/v1/ping", NULL, wrong_project);
	assert_error(&reply, 404, "project_not_found");
	reply_free(&reply);

	reply = api_call_headers(h, "GET", "/v1/ping", NULL, project_only);
	assert_status(&reply, 200);
	assert_non_null(reply.content_type);
	assert_non_null(strstr(reply.content_type, "text/plain"));
	assert_string_equal(reply.body, "Pong!");
	reply_free(&reply);

	/* An empty header (SDKs always send it) falls back to the `project` parameter. */
	reply = api_call_headers(h, "GET", "/v1/ping?project=" HARNESS_PROJECT, NULL,
		empty_project);
	assert_status(&reply, 200);
	assert_string_equal(reply.body, "Pong!");
	reply_free(&reply);
}

static void test_server_api_auth__health_needs_key(void **state)
{
	harness *h = *state;
	const char *no_key[] = { "x-appwrite-project", HARNESS_PROJECT, NULL };
	const char *short_key[] = { "x-appwrite-project", HARNESS_PROJECT, "x-appwrite-key",
		"secret-api-key", NULL };
	const char *long_key[] = { "x-appwrite-project", HARNESS_PROJECT, "x-appwrite-key",
		HARNESS_KEY "x", NULL };
	const char *case_key[] = { "x-appwrite-project", HARNESS_PROJECT, "X-Appwrite-Key",
		HARNESS_KEY, NULL };
	api_reply reply;

	reply = api_call_headers(h, "GET", "/v1/health", NULL, no_key);
	assert_error(&reply, 401, "general_unauthorized_scope");
	reply_free(&reply);
	reply = api_call_headers(h, "GET", "/v1/health", NULL, short_key);
	assert_error(&reply, 401, "general_unauthorized_scope");
	reply_free(&reply);
	reply = api_call_headers(h, "GET", "/v1/health", NULL, long_key);
	assert_error(&reply, 401, "general_unauthorized_scope");
	reply_free(&reply);

	/* Header names are case-insensitive. */
	reply = api_call_headers(h, "GET", "/v1/health", NULL, case_key);
	assert_status(&reply, 200);
	assert_string_equal(json_str(reply.json, "name"), "http");
	assert_string_equal(json_str(reply.json, "status"), "pass");
	assert_int_equal(json_int(reply.json, "ping"), 0);
	reply_free(&reply);
}

static void test_server_api_auth__wrong_project_with_key(void **state)
{
	harness *h = *state;
	const char *headers[] = { "x-appwrite-project", "nope", "x-appwrite-key", HARNESS_KEY,
		NULL };
	api_reply reply = api_call_headers(h, "GET", "/v1/databases", NULL, headers);

	assert_error(&reply, 404, "project_not_found");
	reply_free(&reply);
}

static void test_server_api_auth__no_key_writes_nothing(void **state)
{
	harness *h = *state;
	const char *no_key[] = { "x-appwrite-project", HARNESS_PROJECT, NULL };
	api_reply reply;

	reply = api_call_headers(h, "POST", "/v1/databases",
		"{\"databaseId\":\"main\",\"name\":\"Main\"}", no_key);
	assert_error(&reply, 401, "general_unauthorized_scope");
	reply_free(&reply);
	/* Sync routes take any caller (permissions decide what it sees): no database here. */
	reply = api_call_headers(h, "POST", "/v1/sync/databases/main/pull", "{}", no_key);
	assert_error(&reply, 404, "database_not_found");
	reply_free(&reply);

	reply = api_call(h, "GET", "/v1/databases", NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "total"), 0);
	reply_free(&reply);
}

static void test_server_api_auth__unknown_routes(void **state)
{
	harness *h = *state;
	static const char *const cases[][2] = {
		{ "GET", "/v1/nothing" },
		{ "GET", "/v2/databases" },
		{ "GET", "/databases" },
		{ "GET", "/v1/databases/" },
		{ "GET", "/v1//databases" },
		{ "PATCH", "/v1/databases" },          /* wrong method on a known path */
		{ "POST", "/v1/databases/main" },
		{ "GET", "/v1/sync/databases/main/pull" },
		{ "GET", "/v1/databases/a/collections/b/documents/c/d/e/f" },
		{ "GET", "/v1/health/version/extra" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		api_reply reply = api_call(h, cases[i][0], cases[i][1], NULL);
		assert_error(&reply, 404, "general_route_not_found");
		reply_free(&reply);
	}
}

static void test_server_api_auth__options_preflight(void **state)
{
	harness *h = *state;
	api_reply reply = api_call_headers(h, "OPTIONS", "/v1/databases", NULL, NULL);

	assert_int_equal(reply.status, 204);
	assert_null(reply.content_type);
	reply_free(&reply);
}

static void test_server_api_auth__bad_bodies(void **state)
{
	harness *h = *state;
	char deep[200];
	size_t n = 0;
	api_reply reply;

	reply = api_call(h, "POST", "/v1/databases", "{\"databaseId\":");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", "/v1/databases", "[1,2]");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	reply = api_call(h, "POST", "/v1/databases", "{\"databaseId\":\"a\"} trailing");
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);

	/* 40 levels of nesting: over the limit of 32. */
	n += (size_t)sprintf(deep + n, "{\"databaseId\":\"x\",\"name\":\"x\",\"deep\":");
	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	reply = api_call(h, "POST", "/v1/databases", deep);
	assert_error(&reply, 400, "general_argument_invalid");
	assert_non_null(strstr(json_str(reply.json, "message"), "nested deeper than"));
	reply_free(&reply);

	/* Nothing was created by any of them. */
	reply = api_call(h, "GET", "/v1/databases", NULL);
	assert_int_equal(json_int(reply.json, "total"), 0);
	reply_free(&reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_api_auth__version_is_public, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_auth__ping_needs_project_only, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_auth__health_needs_key, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_auth__wrong_project_with_key, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_auth__no_key_writes_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_auth__unknown_routes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_auth__options_preflight, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_api_auth__bad_bodies, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
