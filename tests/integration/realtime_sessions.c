/* realtime_sessions.c: who a realtime connection is, over its life: the session lookup runs
 * off the server's event loop (a blocked lookup holds up neither other clients nor the order
 * of the connection's own messages), and a session that ends (log-out of it, of all the
 * user's sessions, expiry) stops the connection from receiving what only the user may read. */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/websocket.h"
#include "support/child.h"
#include "support/integration.h"
#include "support/postgres.h"
#include "support/realtime_ws.h"
#include "util/json.h"
#include "util/time.h"

#define DOCS "/databases/main/collections/notes/documents"
#define PASSWORD "correct horse battery staple"
#define LOCK_APP "cairn-test-session-lock"

static cairn_test_pg *pg;  /* started once, for the lookup test; NULL when not installed */
static int pg_databases;

typedef struct {
	cairn_it_env env;        /* root, data_dir and url; env.server is NULL when we own pid */
	pid_t pid;               /* a server this file started itself (PostgreSQL, options) */
	char database[48];       /* PostgreSQL: this test's database */
	char conninfo[256];
	pid_t lock;              /* psql holding the sessions table locked, or 0 */
	pid_t other_pid;         /* a second instance on the same PostgreSQL database, or 0 */
	char other_url[128];
	char user_id[64];
	char token[2][1024];     /* two sessions of the user */
} world;

static json_object *member(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(object));
	return value;
}

/* A request as the user of session `token` (NULL: with the API key). */
static long call(char **out, world *w, const char *token, const char *method,
	const char *path, const char *body)
{
	char url[512], header[1200];

	snprintf(url, sizeof(url), "%s%s", w->env.url, path);
	snprintf(header, sizeof(header), "X-Appwrite-Session: %s", token ? token : "");
	return cairn_it_http(out, method, url, CAIRN_IT_PROJECT, token ? NULL : CAIRN_IT_KEY,
		token ? header : NULL, body, body ? strlen(body) : 0);
}

static void call_expect(world *w, const char *token, const char *method, const char *path,
	const char *body, long expected, json_object **reply)
{
	char *text = NULL;
	long status = call(&text, w, token, method, path, body);

	if (status != expected)
		fail_msg("%s %s: status %ld, expected %ld: %s", method, path, status, expected,
			text ? text : "");
	if (reply)
		*reply = cairn_it_parse(text);
	free(text);
}

/* The database, a documentSecurity collection nobody may read as a whole, and a user with
 * two sessions (created with the key, which gets the tokens). */
static void world_fill(world *w)
{
	json_object *reply = NULL;

	call_expect(w, NULL, "POST", "/databases", "{\"databaseId\":\"main\",\"name\":\"main\"}",
		201, NULL);
	call_expect(w, NULL, "POST", "/databases/main/collections", "{\"collectionId\":\"notes\","
		"\"name\":\"notes\",\"permissions\":[],\"documentSecurity\":true}", 201, NULL);
	call_expect(w, NULL, "POST", "/account", "{\"userId\":\"unique()\",\"email\":"
		"\"u@example.com\",\"password\":\"" PASSWORD "\"}", 201, &reply);
	snprintf(w->user_id, sizeof(w->user_id), "%s", json_object_get_string(member(reply,
		"$id")));
	json_object_put(reply);
	for (int i = 0; i < 2; i++) {
		call_expect(w, NULL, "POST", "/account/sessions/email", "{\"email\":\"u@example.com\","
			"\"password\":\"" PASSWORD "\"}", 201, &reply);
		snprintf(w->token[i], sizeof(w->token[i]), "%s",
			json_object_get_string(member(reply, "secret")));
		assert_true(w->token[i][0]);
		json_object_put(reply);
	}
}

static void world_temp(world *w)
{
	char root[sizeof(w->env.root)];

	snprintf(w->env.root, sizeof(w->env.root), "/tmp/cairn-it-rts-XXXXXX");
	assert_non_null(mkdtemp(w->env.root));
	memcpy(root, w->env.root, sizeof(root)); /* -Wrestrict cannot tell the fields apart */
	snprintf(w->env.data_dir, sizeof(w->env.data_dir), "%s/server", root);
}

/* `cairn serve` on SQLite with --session-lifetime SECONDS (the shared helpers take no
 * options); waits for its port file. */
static void serve_with_lifetime(world *w, const char *seconds)
{
	char port_file[512];
	int port = 0;

	snprintf(port_file, sizeof(port_file), "%s.port", w->env.data_dir);
	w->pid = fork();
	assert_true(w->pid >= 0);
	if (w->pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		cairn_test_child_init();
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execl(CAIRN_BIN, CAIRN_BIN, "serve", "--listen", "127.0.0.1:0", "--data",
			w->env.data_dir, "--project", CAIRN_IT_PROJECT, "--api-key", CAIRN_IT_KEY,
			"--port-file", port_file, "--session-lifetime", seconds, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000 && port <= 0; i++) {
		FILE *file = fopen(port_file, "r");

		if (file) {
			if (fscanf(file, "%d", &port) != 1)
				port = 0;
			fclose(file);
		}
		if (port <= 0)
			cairn_it_sleep_ms(10);
	}
	assert_true(port > 0);
	snprintf(w->env.url, sizeof(w->env.url), "http://127.0.0.1:%d/v1", port);
}

static int setup_sqlite(void **state)
{
	world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	cairn_it_env_init(&w->env);
	*state = w;
	world_fill(w);
	return 0;
}

static int setup_short_sessions(void **state)
{
	world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	*state = w;
	world_temp(w);
	serve_with_lifetime(w, "6");
	world_fill(w);
	return 0;
}

static int setup_postgres(void **state)
{
	world *w = calloc(1, sizeof(*w));
	int port;

	assert_non_null(w);
	*state = w;
	if (!pg)
		return 0; /* the test skips */
	snprintf(w->database, sizeof(w->database), "rts_%d_%d", (int)getpid(), ++pg_databases);
	assert_int_equal(cairn_test_pg_create_database(pg, w->database, w->conninfo,
		sizeof(w->conninfo)), 0);
	world_temp(w);
	assert_int_equal(cairn_test_pg_serve(&w->pid, &port, w->conninfo, w->env.data_dir,
		CAIRN_IT_PROJECT, CAIRN_IT_KEY), 0);
	snprintf(w->env.url, sizeof(w->env.url), "http://127.0.0.1:%d/v1", port);
	world_fill(w);
	return 0;
}

static void unlock_sessions(world *w);

/* The same, plus a second instance on the same database (w->other_url). */
static int setup_postgres_two(void **state)
{
	world *w;
	char data_dir[sizeof(w->env.data_dir) + 8];
	int port;

	setup_postgres(state);
	w = *state;
	if (!pg)
		return 0;
	snprintf(data_dir, sizeof(data_dir), "%s-b", w->env.data_dir);
	assert_int_equal(cairn_test_pg_serve(&w->other_pid, &port, w->conninfo, data_dir,
		CAIRN_IT_PROJECT, CAIRN_IT_KEY), 0);
	snprintf(w->other_url, sizeof(w->other_url), "http://127.0.0.1:%d/v1", port);
	return 0;
}

static int teardown(void **state)
{
	world *w = *state;
	char command[400];
	int rc = 0;

	if (w->lock > 0) /* the test failed while it held the lock */
		unlock_sessions(w);
	if (w->other_pid > 0 && cairn_test_pg_serve_stop(w->other_pid, 0) != 0)
		rc = -1;
	if (w->pid > 0 && cairn_test_pg_serve_stop(w->pid, 0) != 0)
		rc = -1; /* a clean exit on SIGTERM, also with lookups in flight */
	if (w->env.server || !w->pid) {
		if (w->env.root[0])
			cairn_it_env_free(&w->env);
	} else if (w->env.root[0]) {
		snprintf(command, sizeof(command), "rm -rf '%s'", w->env.root);
		if (system(command) != 0)
			rc = -1;
	}
	free(w);
	return rc;
}

/* A document only the user may read, or (`public`) anyone. */
static void key_writes(world *w, const char *id, int public)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"documentId\":\"%s\",\"data\":{\"secret\":\"s-%s\"},"
		"\"permissions\":[\"read(\\\"%s%s\\\")\"]}", id, id, public ? "any" : "user:",
		public ? "" : w->user_id);
	call_expect(w, NULL, "POST", DOCS, body, 201, NULL);
}

/* The $id of the next event on `ws` (asserting the next message is one). */
static void expect_event(cairn__ws *ws, const char *id)
{
	json_object *message, *data = cairn_it_ws_expect_type(&message, ws, "event");

	assert_string_equal(json_object_get_string(member(member(data, "payload"), "$id")), id);
	json_object_put(message);
}

/* Connects with session `token` at the upgrade (NULL: a guest), expects `connected` naming
 * the user (or null), and subscribes to every document. */
static cairn__ws *connect_subscribed(world *w, const char *token)
{
	cairn__ws *ws = NULL;
	json_object *message, *data;

	if (cairn__ws_connect_session(&ws, w->env.url, CAIRN_IT_PROJECT, NULL, token, 10000) != 0)
		fail_msg("realtime connect: %s", cairn_error_last());
	data = cairn_it_ws_expect_type(&message, ws, "connected");
	if (token)
		assert_string_equal(json_object_get_string(member(member(data, "user"), "$id")),
			w->user_id);
	else
		assert_true(json_object_get_type(member(data, "user")) == json_type_null);
	json_object_put(message);
	cairn_it_ws_send(ws, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"all\","
		"\"channels\":[\"documents\"]}]}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "response"), message));
	return ws;
}

/* ---- the lookup is off the event loop (PostgreSQL: a lock makes it wait for as long as
 * the test wants) ---- */

/* psql holding ACCESS EXCLUSIVE on the sessions table until it is terminated. */
static void lock_sessions(world *w)
{
	char conninfo[320];
	long long held = 0;
	int64_t until = cairn__time_monotonic_ms() + CAIRN_IT_WS_WAIT_MS;
	pid_t pid;

	snprintf(conninfo, sizeof(conninfo), "%s application_name=" LOCK_APP, w->conninfo);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		cairn_test_child_init();
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execl(CAIRN_TEST_PG_BIN "/psql", "psql", "-X", "-q", "-d", conninfo, "-c",
			"BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);",
			(char *)NULL);
		_exit(127);
	}
	w->lock = pid;
	while (!held) {
		assert_int_equal(cairn_test_pg_query_int(pg, w->database, "SELECT count(*) FROM "
			"pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.granted AND "
			"a.application_name = '" LOCK_APP "' AND l.relation = 'sessions'::regclass",
			&held), 0);
		if (!held && cairn__time_monotonic_ms() > until)
			fail_msg("psql did not take the lock");
		if (!held)
			cairn_it_sleep_ms(20);
	}
}

/* Ends the lock's backend (psql then exits). Does not assert: teardown uses it too. */
static void unlock_sessions(world *w)
{
	long long ended = 0;
	int status;

	if (cairn_test_pg_query_int(pg, w->database, "SELECT count(*) FROM ("
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '"
		LOCK_APP "') t", &ended) != 0 || ended < 1)
		kill(w->lock, SIGKILL);
	waitpid(w->lock, &status, 0);
	w->lock = 0;
}

static void test_integration_realtime_sessions__lookup_off_the_loop(void **state)
{
	world *w = *state;
	cairn__ws *user = NULL, *guest;
	json_object *message, *data, *nothing;

	if (!pg)
		skip();
	lock_sessions(w);
	/* The user's upgrade: its session lookup now waits on the lock. Its subscribe goes out
	 * at once, before `connected` (an old client might). */
	if (cairn__ws_connect_session(&user, w->env.url, CAIRN_IT_PROJECT, NULL, w->token[0],
		10000) != 0)
		fail_msg("realtime connect while the lookup waits: %s", cairn_error_last());
	cairn_it_ws_send(user, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"all\","
		"\"channels\":[\"documents\"]}]}");
	/* Meanwhile the loop serves everyone else: a guest connects and talks, REST answers. */
	guest = connect_subscribed(w, NULL);
	cairn_it_ws_send(guest, "{\"type\":\"ping\"}");
	json_object_put((cairn_it_ws_expect_type(&message, guest, "pong"), message));
	call_expect(w, NULL, "GET", "/databases/main", NULL, 200, NULL);
	/* ...and the user's connection has been told nothing yet. */
	nothing = cairn_it_ws_next(user, 300);
	if (nothing)
		fail_msg("a message before the session was looked up: %s",
			json_object_to_json_string(nothing));
	/* A client that gives up while its lookup waits: freed once the answer is back (the
	 * server's clean exit at teardown, under ASan, checks nothing leaked or was reused). */
	{
		cairn__ws *gone = NULL;

		if (cairn__ws_connect_session(&gone, w->env.url, CAIRN_IT_PROJECT, NULL,
			w->token[1], 10000) != 0)
			fail_msg("realtime connect: %s", cairn_error_last());
		cairn_it_ws_send(gone, "{\"type\":\"ping\"}");
		cairn__ws_free(gone);
		cairn_it_sleep_ms(300); /* ordering: the server sees the close before the unlock */
	}
	unlock_sessions(w);
	/* Then, in order: connected as the user, the held subscribe's answer, and its events. */
	data = cairn_it_ws_expect_type(&message, user, "connected");
	assert_string_equal(json_object_get_string(member(member(data, "user"), "$id")),
		w->user_id);
	json_object_put(message);
	data = cairn_it_ws_expect_type(&message, user, "response");
	assert_string_equal(json_object_get_string(member(data, "to")), "subscribe");
	json_object_put(message);
	key_writes(w, "private1", 0);
	key_writes(w, "public1", 1);
	expect_event(user, "private1");
	expect_event(user, "public1");
	expect_event(guest, "public1");
	/* `authentication` is looked up off the loop too, and answered before what follows. */
	lock_sessions(w);
	{
		char text[1400];

		snprintf(text, sizeof(text), "{\"type\":\"authentication\",\"data\":{\"session\":"
			"\"%s\"}}", w->token[1]);
		cairn_it_ws_send(guest, text);
		cairn_it_ws_send(guest, "{\"type\":\"ping\"}");
	}
	cairn_it_ws_send(user, "{\"type\":\"ping\"}");
	json_object_put((cairn_it_ws_expect_type(&message, user, "pong"), message));
	nothing = cairn_it_ws_next(guest, 300);
	if (nothing)
		fail_msg("a message before the session was looked up: %s",
			json_object_to_json_string(nothing));
	unlock_sessions(w);
	data = cairn_it_ws_expect_type(&message, guest, "response");
	assert_string_equal(json_object_get_string(member(data, "to")), "authentication");
	assert_string_equal(json_object_get_string(member(member(data, "user"), "$id")),
		w->user_id);
	json_object_put(message);
	json_object_put((cairn_it_ws_expect_type(&message, guest, "pong"), message));
	key_writes(w, "private2", 0);
	expect_event(guest, "private2");
	cairn__ws_free(user);
	cairn__ws_free(guest);
}

/* ---- sessions that end ---- */

static void test_integration_realtime_sessions__logout_downgrades(void **state)
{
	world *w = *state;
	cairn__ws *first = connect_subscribed(w, w->token[0]);
	cairn__ws *second = connect_subscribed(w, w->token[1]);

	key_writes(w, "before", 0);
	expect_event(first, "before");
	expect_event(second, "before");
	/* Logging out of the first session: its connection gets only what a guest may read;
	 * the second session's is untouched. */
	call_expect(w, w->token[0], "DELETE", "/account/sessions/current", NULL, 204, NULL);
	key_writes(w, "private1", 0);
	key_writes(w, "public1", 1);
	expect_event(first, "public1");
	expect_event(second, "private1");
	expect_event(second, "public1");
	/* Ending every session of the user (from the second one). */
	call_expect(w, w->token[1], "DELETE", "/account/sessions", NULL, 204, NULL);
	key_writes(w, "private2", 0);
	key_writes(w, "public2", 1);
	expect_event(first, "public2");
	expect_event(second, "public2");
	cairn__ws_free(first);
	cairn__ws_free(second);
}

static void test_integration_realtime_sessions__logout_by_id(void **state)
{
	world *w = *state;
	cairn__ws *first = connect_subscribed(w, w->token[0]);
	json_object *reply = NULL;
	char path[256];

	/* The second session ends the first by its id. */
	call_expect(w, w->token[0], "GET", "/account/sessions/current", NULL, 200, &reply);
	snprintf(path, sizeof(path), "/account/sessions/%s",
		json_object_get_string(member(reply, "$id")));
	json_object_put(reply);
	call_expect(w, w->token[1], "DELETE", path, NULL, 204, NULL);
	key_writes(w, "private1", 0);
	key_writes(w, "public1", 1);
	expect_event(first, "public1");
	cairn__ws_free(first);
}

static void test_integration_realtime_sessions__expiry(void **state)
{
	world *w = *state;
	cairn__ws *ws = connect_subscribed(w, w->token[0]);
	int64_t until = cairn__time_now_ms() + 7000; /* the 6 s sessions began before this */

	key_writes(w, "before", 0);
	expect_event(ws, "before");
	while (cairn__time_now_ms() < until) /* ordering: past the session's end */
		cairn_it_sleep_ms(100);
	key_writes(w, "private1", 0);
	key_writes(w, "public1", 1);
	expect_event(ws, "public1");
	cairn__ws_free(ws);
}

/* With several instances, a log-out on one reaches connections on another through the
 * periodic session check (every 30 s, started by a client's ping or an event). */
static void test_integration_realtime_sessions__logout_on_another_instance(void **state)
{
	world *w = *state;
	cairn__ws *ws;
	json_object *message;
	char url[128];
	int64_t until;

	if (!pg)
		skip();
	/* Connected to the second instance; the first check runs at its first event. */
	memcpy(url, w->env.url, sizeof(url));
	snprintf(w->env.url, sizeof(w->env.url), "%s", w->other_url);
	ws = connect_subscribed(w, w->token[0]);
	snprintf(w->env.url, sizeof(w->env.url), "%s", url);
	key_writes(w, "before", 0);
	expect_event(ws, "before");
	until = cairn__time_now_ms() + 31000;
	/* Logged out through the first instance. */
	call_expect(w, w->token[0], "DELETE", "/account/sessions/current", NULL, 204, NULL);
	while (cairn__time_now_ms() < until) /* ordering: past the next check's time */
		cairn_it_sleep_ms(200);
	cairn_it_ws_send(ws, "{\"type\":\"ping\"}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "pong"), message));
	cairn_it_sleep_ms(1000); /* ordering: the check's one read is back before the writes */
	key_writes(w, "private1", 0);
	key_writes(w, "public1", 1);
	expect_event(ws, "public1");
	cairn__ws_free(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_integration_realtime_sessions__lookup_off_the_loop, setup_postgres, teardown),
		cmocka_unit_test_setup_teardown(test_integration_realtime_sessions__logout_downgrades,
			setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_integration_realtime_sessions__logout_by_id,
			setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_integration_realtime_sessions__expiry,
			setup_short_sessions, teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_realtime_sessions__logout_on_another_instance,
			setup_postgres_two, teardown),
	};
	int rc;

	if (cairn_test_pg_start(&pg) != 0)
		pg = NULL;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	cairn_test_pg_stop(pg);
	return rc;
}
