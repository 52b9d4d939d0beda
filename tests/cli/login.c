/* login.c: `cairn login` / `cairn logout` / `cairn status` against a real `cairn serve`:
 * the password comes from stdin (never argv) and is never shown, and so is the token;
 * and `cairn serve --api-keys-file / --session-lifetime`. */
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "support/child.h"
#include "support/cli_fixture.h"
#include "support/server_proc.h"

#define PROJECT "clitest"
#define API_KEY "cli-test-key-7d2e91c04b58a3f6"
#define DATABASE "shop"
#define PASSWORD "s3cret-pa55word-xyz"

typedef cairn_cli_fixture fixture;

static pid_t extra_server; /* a server started by hand, or 0 */

/* Kills the server started by hand, if any, then the shared teardown. */
static int teardown(void **state)
{
	if (extra_server > 0) {
		kill(extra_server, SIGKILL);
		waitpid(extra_server, NULL, 0);
		extra_server = 0;
	}
	return cairn_cli_fixture_teardown(state);
}

#define LOGIN_TEST(f) cmocka_unit_test_setup_teardown(f, cairn_cli_fixture_setup, teardown)

static void expect_secret_hidden(const cairn_cli_result *r, const char *secret)
{
	if (secret && (strstr(r->out, secret) || strstr(r->err, secret)))
		fail_msg("a secret was shown:\nstdout: %s\nstderr: %s", r->out, r->err);
}

/* The session token the store keeps, or NULL. */
static char *stored_token(const char *store)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	char *token = NULL;

	assert_int_equal(sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'session_token'", -1,
		&stmt, NULL) == SQLITE_OK) {
		if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
			token = strdup((const char *)sqlite3_column_text(stmt, 0));
		sqlite3_finalize(stmt);
	}
	sqlite3_close(db);
	return token;
}

static long account_status(const char *url, const char *token)
{
	char target[256], header[2048], project[64];
	const char *headers[] = { project, header, NULL };
	long status = 0;

	snprintf(target, sizeof(target), "%s/account", url);
	snprintf(project, sizeof(project), "X-Appwrite-Project: %s", PROJECT);
	snprintf(header, sizeof(header), "X-Appwrite-Session: %s", token);
	if (cairn_test_http(&status, NULL, "GET", target, headers, NULL, 0) != 0)
		return -1;
	return status;
}

static void start_and_sign_up(fixture *f)
{
	char url[128];
	cairn_cli_result r;

	assert_int_equal(cairn_cli_server_start(&f->server, f->dir, PROJECT, API_KEY), 0);
	snprintf(url, sizeof(url), "%s/account", f->server.url);
	assert_int_equal(cairn_cli_http("POST", url, PROJECT, NULL, "{\"userId\":\"ana\","
		"\"email\":\"ana@example.com\",\"password\":\"" PASSWORD "\"}"), 201);
	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--server", f->server.url, "--project",
		PROJECT, "--database", DATABASE, "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
}

static void test_cli_login__password_from_stdin_never_shown(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	char *token;

	start_and_sign_up(f);
	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "not signed in");
	cairn_cli_result_free(&r);

	/* wrong password: refused, nothing stored, nothing shown */
	cairn_cli_runl(&r, NULL, NULL, "not-the-password\n", "login", "--email",
		"ana@example.com", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 1);
	cairn_cli_expect_contains(r.err, "cannot sign in as ana@example.com");
	expect_secret_hidden(&r, "not-the-password");
	cairn_cli_result_free(&r);
	assert_null(stored_token(f->store));

	cairn_cli_runl(&r, NULL, NULL, PASSWORD "\n", "login", "--email", "ana@example.com",
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "signed in as ana@example.com");
	expect_secret_hidden(&r, PASSWORD);
	token = stored_token(f->store);
	assert_non_null(token);
	expect_secret_hidden(&r, token);
	cairn_cli_result_free(&r);
	assert_int_equal(account_status(f->server.url, token), 200);

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "signed in as ana@example.com");
	expect_secret_hidden(&r, token);
	expect_secret_hidden(&r, PASSWORD);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "logout", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "signed out");
	expect_secret_hidden(&r, token);
	cairn_cli_result_free(&r);
	assert_null(stored_token(f->store));
	assert_int_equal(account_status(f->server.url, token), 401);

	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "not signed in");
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "logout", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "not signed in");
	cairn_cli_result_free(&r);
	free(token);
}

static void test_cli_login__usage(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;

	/* the password is never an argument */
	cairn_cli_runl(&r, NULL, NULL, NULL, "login", "--email", "ana@example.com", PASSWORD,
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 2);
	expect_secret_hidden(&r, PASSWORD);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, PASSWORD "\n", "login", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 2);
	cairn_cli_expect_contains(r.err, "--email");
	cairn_cli_result_free(&r);
	/* no remote: refused before the password is read */
	cairn_cli_runl(&r, NULL, NULL, PASSWORD "\n", "login", "--email", "ana@example.com",
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 1);
	cairn_cli_expect_contains(r.err, "cairn remote");
	expect_secret_hidden(&r, PASSWORD);
	cairn_cli_result_free(&r);
	/* a remote nobody answers at (port 9, discard) */
	cairn_cli_runl(&r, NULL, NULL, NULL, "remote", "--server", "http://127.0.0.1:9/v1",
		"--project", PROJECT, "--database", DATABASE, "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	/* empty stdin: no password */
	cairn_cli_runl(&r, NULL, NULL, NULL, "login", "--email", "ana@example.com", "--store",
		f->store, NULL);
	cairn_cli_expect_status(&r, 2);
	cairn_cli_expect_contains(r.err, "no password");
	cairn_cli_result_free(&r);
	/* unreachable: exit 5, nothing stored */
	cairn_cli_runl(&r, NULL, NULL, PASSWORD "\n", "login", "--email", "ana@example.com",
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 5);
	expect_secret_hidden(&r, PASSWORD);
	cairn_cli_result_free(&r);
	assert_null(stored_token(f->store));
}

static void test_cli_login__logout_offline(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	char *token;

	start_and_sign_up(f);
	cairn_cli_runl(&r, NULL, NULL, PASSWORD "\n", "login", "--email", "ana@example.com",
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	token = stored_token(f->store);
	assert_non_null(token);
	assert_int_equal(cairn_cli_server_stop(&f->server), 0);
	cairn_cli_runl(&r, NULL, NULL, NULL, "logout", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_expect_contains(r.out, "signed out");
	cairn_cli_expect_contains(r.err, "warning");
	expect_secret_hidden(&r, token);
	cairn_cli_result_free(&r);
	assert_null(stored_token(f->store));
	free(token);
}

/* Starts `cairn serve` with extra options; waits for its port file. */
static int serve_with(fixture *f, const char *keys_file, const char *lifetime)
{
	char data[PATH_MAX + 16], port_file[PATH_MAX + 16];
	int port = 0;

	snprintf(data, sizeof(data), "%s/extra", f->dir);
	snprintf(port_file, sizeof(port_file), "%s/extra.port", f->dir);
	extra_server = fork();
	assert_true(extra_server >= 0);
	if (extra_server == 0) {
		cairn_test_child_init();
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(CAIRN_BIN, CAIRN_BIN, "serve", "--listen", "127.0.0.1:0", "--data", data,
			"--project", PROJECT, "--api-key", API_KEY, "--port-file", port_file,
			"--api-keys-file", keys_file, "--session-lifetime", lifetime, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1500 && port == 0; i++) {
		FILE *file = fopen(port_file, "r");
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		if (file) {
			if (fscanf(file, "%d", &port) != 1)
				port = 0;
			fclose(file);
		}
		if (port == 0)
			nanosleep(&pause, NULL);
	}
	return port;
}

static void test_cli_login__serve_options(void **state)
{
	fixture *f = *state;
	char keys[PATH_MAX + 16], url[128], target[160], token[2048];
	char *body = NULL;
	const char *session_header[3];
	char project_header[64], session_line[2100];
	cairn_cli_result r;
	FILE *file;
	int port;
	long status = 0;
	struct timespec pause = { 1, 300 * 1000 * 1000 };

	/* bad values are usage errors */
	cairn_cli_runl(&r, NULL, NULL, NULL, "serve", "--session-lifetime", "soon", NULL);
	cairn_cli_expect_status(&r, 2);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "serve", "--data", f->dir, "--listen",
		"127.0.0.1:0", "--api-keys-file", "/nonexistent/keys", NULL);
	cairn_cli_expect_status(&r, 1);
	cairn_cli_expect_contains(r.err, "/nonexistent/keys");
	cairn_cli_result_free(&r);

	snprintf(keys, sizeof(keys), "%s/keys.txt", f->dir);
	file = fopen(keys, "w");
	assert_non_null(file);
	fputs("# batch jobs\nsecond-key-1234567890\n", file);
	fclose(file);
	port = serve_with(f, keys, "1");
	assert_true(port > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", port);
	snprintf(target, sizeof(target), "%s/databases", url);
	assert_int_equal(cairn_cli_http("GET", target, PROJECT, "second-key-1234567890", NULL),
		200);
	assert_int_equal(cairn_cli_http("GET", target, PROJECT, API_KEY, NULL), 200);
	assert_int_equal(cairn_cli_http("GET", target, PROJECT, "third-key", NULL), 401);

	/* a one-second session: valid, then expired */
	snprintf(target, sizeof(target), "%s/account", url);
	assert_int_equal(cairn_cli_http("POST", target, PROJECT, NULL, "{\"userId\":\"bo\","
		"\"email\":\"bo@example.com\",\"password\":\"" PASSWORD "\"}"), 201);
	snprintf(target, sizeof(target), "%s/account/sessions/email", url);
	/* with a key, the Session model carries the token in `secret` */
	snprintf(project_header, sizeof(project_header), "X-Appwrite-Project: %s", PROJECT);
	{
		const char *headers[] = { project_header, "X-Appwrite-Key: " API_KEY,
			"Content-Type: application/json", NULL };
		const char *login = "{\"email\":\"bo@example.com\",\"password\":\"" PASSWORD "\"}";
		const char *start, *end;

		assert_int_equal(cairn_test_http(&status, &body, "POST", target, headers, login,
			strlen(login)), 0);
		assert_int_equal(status, 201);
		start = strstr(body, "\"secret\":\"");
		assert_non_null(start);
		start += strlen("\"secret\":\"");
		end = strchr(start, '"');
		assert_non_null(end);
		snprintf(token, sizeof(token), "%.*s", (int)(end - start), start);
		free(body);
	}
	snprintf(session_line, sizeof(session_line), "X-Appwrite-Session: %s", token);
	session_header[0] = project_header;
	session_header[1] = session_line;
	session_header[2] = NULL;
	snprintf(target, sizeof(target), "%s/account", url);
	assert_int_equal(cairn_test_http(&status, NULL, "GET", target, session_header, NULL, 0), 0);
	assert_int_equal(status, 200);
	nanosleep(&pause, NULL);
	assert_int_equal(cairn_test_http(&status, NULL, "GET", target, session_header, NULL, 0), 0);
	assert_int_equal(status, 401);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		LOGIN_TEST(test_cli_login__password_from_stdin_never_shown),
		LOGIN_TEST(test_cli_login__usage),
		LOGIN_TEST(test_cli_login__logout_offline),
		LOGIN_TEST(test_cli_login__serve_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
