/* sync.c: `cairn remote/sync/status/conflicts`: no remote, an unreachable server (exit 5),
 * and two stores syncing through a real `cairn serve`. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "support/cli_fixture.h"

#define PROJECT "clitest"
#define API_KEY "cli-test-key-7d2e91c04b58a3f6"
#define DATABASE "shop"

typedef cairn_cli_fixture fixture;

/* `cairn status --json` of a store (caller frees). */
static json_object *status_json(const char *store)
{
	cairn_cli_result r;
	json_object *status;

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", store, "--json", NULL);
	cairn_cli_expect_status(&r, 0);
	status = cairn_cli_parse(r.out);
	cairn_cli_result_free(&r);
	return status;
}

/* A loopback port nobody listens on: bound, then released. */
static int unused_port(void)
{
	struct sockaddr_in address = { 0 };
	socklen_t length = sizeof(address);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	assert_true(fd >= 0);
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
	port = ntohs(address.sin_port);
	close(fd);
	return port;
}

static void set_remote(const char *store, const char *url)
{
	cairn_cli_result r;

	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--server", url, "--project", PROJECT,
		"--api-key", API_KEY, "--database", DATABASE, "--store", store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
}

static void test_cli_sync__without_remote(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *status;

	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t1", "{\"a\":1}", "--store", f->store,
		NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 1);
	cairn_cli_expect_contains(r.err, "cairn: sync failed: ");
	cairn_cli_expect_contains(r.err, "cairn remote --server");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "no remote");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "pending:    1");
	cairn_cli_expect_contains(r.out, "remote:     none");
	cairn_cli_expect_contains(r.out, "last sync:  never");
	cairn_cli_result_free(&r);

	status = status_json(f->store);
	assert_int_equal(json_object_get_int64(cairn_cli_member(status, "pending")), 1);
	assert_null(cairn_cli_member(status, "remote"));
	assert_true(strlen(json_object_get_string(cairn_cli_member(status, "clientId"))) > 0);
	json_object_put(status);
}

static void test_cli_sync__remote_is_shown_without_the_key(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *status, *remote;

	/* Just the origin: /v1 is added. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--store", f->store, "--server",
		"http://127.0.0.1:9/", "--project=" PROJECT, "--api-key", API_KEY, "--database",
		DATABASE, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "http://127.0.0.1:9/v1");
	assert_null(strstr(r.out, API_KEY));
	assert_null(strstr(r.err, API_KEY));
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "http://127.0.0.1:9/v1");
	cairn_cli_expect_contains(r.out, DATABASE);
	assert_null(strstr(r.out, API_KEY));
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	assert_null(strstr(r.out, API_KEY));
	cairn_cli_result_free(&r);

	status = status_json(f->store);
	remote = cairn_cli_member(status, "remote");
	assert_string_equal(json_object_get_string(cairn_cli_member(remote, "url")),
		"http://127.0.0.1:9/v1");
	assert_string_equal(json_object_get_string(cairn_cli_member(remote, "database")), DATABASE);
	json_object_put(status);
}

static void test_cli_sync__offline_exit_5_keeps_local_writes(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *status, *last;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", unused_port());
	set_remote(f->store, url);
	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t1", "{\"title\":\"offline\"}",
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 5);
	cairn_cli_expect_contains(r.err, "cairn: sync failed: ");
	cairn_cli_expect_contains(r.err, "is the server running");
	cairn_cli_expect_contains(r.err, url);
	assert_string_equal(r.out, "");
	cairn_cli_result_free(&r);

	/* The write is still there and still queued. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "get", "tasks", "t1", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "offline");
	cairn_cli_result_free(&r);
	status = status_json(f->store);
	assert_int_equal(json_object_get_int64(cairn_cli_member(status, "pending")), 1);
	last = cairn_cli_member(status, "lastSync");
	assert_non_null(last);
	assert_false(json_object_get_boolean(cairn_cli_member(last, "ok")));
	json_object_put(status);
}

static void test_cli_sync__two_stores_through_a_server(void **state)
{
	fixture *f = *state;
	cairn_cli_server *server = &f->server;
	cairn_cli_result r;
	json_object *status, *document, *list;
	char url[256];

	if (cairn_cli_server_start(server, f->dir, PROJECT, API_KEY) != 0)
		fail_msg("cairn serve did not start");
	/* The database and collection exist on the server before anyone syncs. */
	snprintf(url, sizeof(url), "%s/databases", server->url);
	assert_int_equal(cairn_cli_http("POST", url, PROJECT, API_KEY,
				 "{\"databaseId\":\"" DATABASE "\",\"name\":\"Shop\"}"), 201);
	snprintf(url, sizeof(url), "%s/databases/" DATABASE "/collections", server->url);
	assert_int_equal(cairn_cli_http("POST", url, PROJECT, API_KEY,
				 "{\"collectionId\":\"tasks\",\"name\":\"Tasks\"}"), 201);

	set_remote(f->store, server->url);
	set_remote(f->store_b, server->url);
	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t1", "{\"title\":\"shared\",\"n\":7}",
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "pushed 1, pulled ");
	cairn_cli_expect_contains(r.out, "conflicts 0, rejected 0\n");
	/* No progress line when stderr is not a terminal. */
	assert_string_equal(r.err, "");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store_b, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "pushed 0, pulled 1, conflicts 0, rejected 0\n");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "get", "tasks", "t1", "--store", f->store_b, NULL);
	cairn_cli_expect_status(&r, 0);
	document = cairn_cli_parse(r.out);
	assert_string_equal(json_object_get_string(cairn_cli_member(document, "title")), "shared");
	assert_int_equal(json_object_get_int64(cairn_cli_member(document, "n")), 7);
	json_object_put(document);
	cairn_cli_result_free(&r);

	status = status_json(f->store);
	assert_int_equal(json_object_get_int64(cairn_cli_member(status, "pending")), 0);
	assert_true(json_object_get_int64(cairn_cli_member(status, "checkpoint")) > 0);
	assert_true(json_object_get_boolean(
		cairn_cli_member(cairn_cli_member(status, "lastSync"), "ok")));
	json_object_put(status);

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", f->store_b, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "pending:    0");
	cairn_cli_expect_contains(r.out, ", ok\n");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "conflicts", "--store", f->store_b, NULL);
	cairn_cli_expect_status(&r, 0);
	list = cairn_cli_parse(r.out);
	assert_true(json_object_is_type(list, json_type_array));
	assert_int_equal(json_object_array_length(list), 0);
	json_object_put(list);
	cairn_cli_result_free(&r);

	/* A wrong key is an error with a hint, not "offline". */
	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--server", server->url, "--project", PROJECT,
		"--api-key", "not-the-key", "--database", DATABASE, "--store", f->store_b, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t2", "{}", "--store", f->store_b, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store_b, NULL);
	cairn_cli_expect_status(&r, 1);
	cairn_cli_expect_contains(r.err, "hint: check the project and API key");
	cairn_cli_result_free(&r);

	assert_int_equal(cairn_cli_server_stop(server), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_CLI_TEST(test_cli_sync__without_remote),
		CAIRN_CLI_TEST(test_cli_sync__remote_is_shown_without_the_key),
		CAIRN_CLI_TEST(test_cli_sync__offline_exit_5_keeps_local_writes),
		CAIRN_CLI_TEST(test_cli_sync__two_stores_through_a_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
