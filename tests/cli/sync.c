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

#include "support/cli_run.h"

#define PROJECT "clitest"
#define API_KEY "cli-test-key-7d2e91c04b58a3f6"
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

static json_object *parse(const char *text)
{
	json_object *value = json_tokener_parse(text);

	if (!value)
		fail_msg("not JSON: %s", text);
	return value;
}

static json_object *member(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(object));
	return value;
}

/* `cairn status --json` of a store (caller frees). */
static json_object *status_json(const char *store)
{
	cairn_cli_result r;
	json_object *status;

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", store, "--json", NULL);
	expect_status(&r, 0);
	status = parse(r.out);
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
	expect_status(&r, 0);
	cairn_cli_result_free(&r);
}

static void test_cli_sync__without_remote(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *status;

	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t1", "{\"a\":1}", "--store", f->store_a,
		NULL);
	expect_status(&r, 0);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store_a, NULL);
	expect_status(&r, 1);
	expect_contains(r.err, "cairn: sync failed: ");
	expect_contains(r.err, "cairn remote --server");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--store", f->store_a, NULL);
	expect_status(&r, 0);
	expect_contains(r.out, "no remote");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", f->store_a, NULL);
	expect_status(&r, 0);
	expect_contains(r.out, "pending:    1");
	expect_contains(r.out, "remote:     none");
	expect_contains(r.out, "last sync:  never");
	cairn_cli_result_free(&r);

	status = status_json(f->store_a);
	assert_int_equal(json_object_get_int64(member(status, "pending")), 1);
	assert_null(member(status, "remote"));
	assert_true(strlen(json_object_get_string(member(status, "clientId"))) > 0);
	json_object_put(status);
}

static void test_cli_sync__remote_is_shown_without_the_key(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *status;

	/* Just the origin: /v1 is added. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--store", f->store_a, "--server",
		"http://127.0.0.1:9/", "--project=" PROJECT, "--api-key", API_KEY, "--database",
		DATABASE, NULL);
	expect_status(&r, 0);
	expect_contains(r.out, "http://127.0.0.1:9/v1");
	assert_null(strstr(r.out, API_KEY));
	assert_null(strstr(r.err, API_KEY));
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--store", f->store_a, NULL);
	expect_status(&r, 0);
	expect_contains(r.out, "http://127.0.0.1:9/v1");
	expect_contains(r.out, DATABASE);
	assert_null(strstr(r.out, API_KEY));
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", f->store_a, NULL);
	expect_status(&r, 0);
	assert_null(strstr(r.out, API_KEY));
	cairn_cli_result_free(&r);

	status = status_json(f->store_a);
	assert_string_equal(json_object_get_string(member(member(status, "remote"), "url")),
		"http://127.0.0.1:9/v1");
	assert_string_equal(json_object_get_string(member(member(status, "remote"), "database")),
		DATABASE);
	json_object_put(status);
}

static void test_cli_sync__offline_exit_5_keeps_local_writes(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *status, *last;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", unused_port());
	set_remote(f->store_a, url);
	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t1", "{\"title\":\"offline\"}",
		"--store", f->store_a, NULL);
	expect_status(&r, 0);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store_a, NULL);
	expect_status(&r, 5);
	expect_contains(r.err, "cairn: sync failed: ");
	expect_contains(r.err, "is the server running");
	expect_contains(r.err, url);
	assert_string_equal(r.out, "");
	cairn_cli_result_free(&r);

	/* The write is still there and still queued. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "get", "tasks", "t1", "--store", f->store_a, NULL);
	expect_status(&r, 0);
	expect_contains(r.out, "offline");
	cairn_cli_result_free(&r);
	status = status_json(f->store_a);
	assert_int_equal(json_object_get_int64(member(status, "pending")), 1);
	last = member(status, "lastSync");
	assert_non_null(last);
	assert_false(json_object_get_boolean(member(last, "ok")));
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

	set_remote(f->store_a, server->url);
	set_remote(f->store_b, server->url);
	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t1", "{\"title\":\"shared\",\"n\":7}",
		"--store", f->store_a, NULL);
	expect_status(&r, 0);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store_a, NULL);
	expect_status(&r, 0);
	expect_contains(r.out, "pushed 1, pulled ");
	expect_contains(r.out, "conflicts 0, rejected 0\n");
	/* No progress line when stderr is not a terminal. */
	assert_string_equal(r.err, "");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store_b, NULL);
	expect_status(&r, 0);
	expect_contains(r.out, "pushed 0, pulled 1, conflicts 0, rejected 0\n");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "get", "tasks", "t1", "--store", f->store_b, NULL);
	expect_status(&r, 0);
	document = parse(r.out);
	assert_string_equal(json_object_get_string(member(document, "title")), "shared");
	assert_int_equal(json_object_get_int64(member(document, "n")), 7);
	json_object_put(document);
	cairn_cli_result_free(&r);

	status = status_json(f->store_a);
	assert_int_equal(json_object_get_int64(member(status, "pending")), 0);
	assert_true(json_object_get_int64(member(status, "checkpoint")) > 0);
	assert_true(json_object_get_boolean(member(member(status, "lastSync"), "ok")));
	json_object_put(status);

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", f->store_b, NULL);
	expect_status(&r, 0);
	expect_contains(r.out, "pending:    0");
	expect_contains(r.out, ", ok\n");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "conflicts", "--store", f->store_b, NULL);
	expect_status(&r, 0);
	list = parse(r.out);
	assert_true(json_object_is_type(list, json_type_array));
	assert_int_equal(json_object_array_length(list), 0);
	json_object_put(list);
	cairn_cli_result_free(&r);

	/* A wrong key is an error with a hint, not "offline". */
	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--server", server->url, "--project", PROJECT,
		"--api-key", "not-the-key", "--database", DATABASE, "--store", f->store_b, NULL);
	expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t2", "{}", "--store", f->store_b, NULL);
	expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "sync", "--store", f->store_b, NULL);
	expect_status(&r, 1);
	expect_contains(r.err, "hint: check the project and API key");
	cairn_cli_result_free(&r);

	assert_int_equal(cairn_cli_server_stop(server), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cli_sync__without_remote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_sync__remote_is_shown_without_the_key, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_cli_sync__offline_exit_5_keeps_local_writes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_cli_sync__two_stores_through_a_server, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
