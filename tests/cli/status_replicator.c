/* status_replicator.c: `cairn status` shows the background replicator that `cairn sync
 * --watch` runs in another process on the same store: its state while it runs, and "not
 * running" after it stops or is killed. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "support/cli_run.h"

#define PROJECT "status"
#define KEY "status-test-key"

/* `cairn status --json` parsed (caller puts), asserting it ran. */
static json_object *status_json(const char *dir, const char *store)
{
	cairn_cli_result result;
	json_object *status;

	cairn_cli_runl(&result, dir, NULL, NULL, "status", "--json", "--store", store,
		(char *)NULL);
	if (result.status != 0)
		fail_msg("cairn status failed: %s", result.err);
	status = json_tokener_parse(result.out);
	if (!status)
		fail_msg("cairn status --json printed %s", result.out);
	cairn_cli_result_free(&result);
	return status;
}

static json_object *replicator_of(json_object *status)
{
	json_object *replicator = NULL;

	if (!json_object_object_get_ex(status, "replicator", &replicator) || !replicator)
		fail_msg("no replicator in %s", json_object_to_json_string(status));
	return replicator;
}

static const char *member_string(json_object *object, const char *key)
{
	json_object *value = json_object_object_get(object, key);

	return value ? json_object_get_string(value) : "";
}

/* Waits (at most 30 s) until the status shows the replicator running in `state` with at
 * least `pending` mutations pending (the replicator may record a state before it has seen
 * a write made by another process). */
static int wait_for_pending(const char *dir, const char *store, const char *state,
	int pending)
{
	for (int i = 0; i < 300; i++) {
		json_object *status = status_json(dir, store);
		json_object *replicator = replicator_of(status);
		int found = json_object_get_boolean(json_object_object_get(replicator, "running")) &&
			strcmp(member_string(replicator, "state"), state) == 0 &&
			json_object_get_int(json_object_object_get(replicator, "pending")) >= pending;

		json_object_put(status);
		if (found)
			return 1;
		usleep(100 * 1000);
	}
	return 0;
}

static int wait_for_state(const char *dir, const char *store, const char *state)
{
	return wait_for_pending(dir, store, state, 0);
}

static pid_t start_watch(const char *dir, const char *store)
{
	char log[PATH_MAX + 16];
	pid_t watch;

	snprintf(log, sizeof(log), "%s/watch.log", dir);
	watch = fork();
	assert_true(watch >= 0);
	if (watch == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execl(CAIRN_BIN, CAIRN_BIN, "sync", "--watch", "--store", store, (char *)NULL);
		_exit(127);
	}
	return watch;
}

static void test_cli_status_replicator__shows_the_watching_process(void **state)
{
	char dir[PATH_MAX], store[PATH_MAX + 16];
	cairn_cli_server server;
	cairn_cli_result result;
	json_object *status, *replicator;
	pid_t watch;
	int exit_status = 0;

	(void)state;
	assert_int_equal(cairn_cli_tmpdir(dir), 0);
	assert_int_equal(cairn_cli_server_start(&server, dir, PROJECT, KEY), 0);
	snprintf(store, sizeof(store), "%s/a.db", dir);
	cairn_cli_runl(&result, dir, NULL, NULL, "remote", "--server", server.url, "--project",
		PROJECT, "--api-key", KEY, "--database", "main", "--store", store, (char *)NULL);
	assert_int_equal(result.status, 0);
	cairn_cli_result_free(&result);

	/* Before any replicator ran: not running, and said so in both forms. */
	status = status_json(dir, store);
	replicator = replicator_of(status);
	assert_false(json_object_get_boolean(json_object_object_get(replicator, "running")));
	assert_string_equal(member_string(replicator, "state"), "stopped");
	json_object_put(status);
	cairn_cli_runl(&result, dir, NULL, NULL, "status", "--store", store, (char *)NULL);
	assert_int_equal(result.status, 0);
	assert_non_null(strstr(result.out, "replicator: not running"));
	cairn_cli_result_free(&result);

	watch = start_watch(dir, store);
	assert_true(wait_for_state(dir, store, "idle"));
	status = status_json(dir, store);
	replicator = replicator_of(status);
	assert_int_equal(json_object_get_int(json_object_object_get(replicator, "pid")), watch);
	assert_int_equal(json_object_get_int(json_object_object_get(replicator, "pending")), 0);
	assert_null(json_object_object_get(replicator, "lastError"));
	json_object_put(status);
	cairn_cli_runl(&result, dir, NULL, NULL, "status", "--store", store, (char *)NULL);
	assert_int_equal(result.status, 0);
	assert_non_null(strstr(result.out, "replicator: idle (pid "));
	cairn_cli_result_free(&result);

	/* The server goes away: the watcher goes offline with an error, and status shows it. */
	assert_int_equal(cairn_cli_server_stop(&server), 0);
	cairn_cli_runl(&result, dir, NULL, NULL, "put", "items", "x1", "{\"v\":1}", "--store",
		store, (char *)NULL);
	assert_int_equal(result.status, 0);
	cairn_cli_result_free(&result);
	assert_true(wait_for_pending(dir, store, "offline", 1));
	status = status_json(dir, store);
	replicator = replicator_of(status);
	assert_int_equal(json_object_get_int(json_object_object_get(replicator, "pending")), 1);
	assert_non_null(json_object_object_get(replicator, "lastError"));
	json_object_put(status);

	/* A clean stop records "stopped". */
	kill(watch, SIGINT);
	assert_int_equal(waitpid(watch, &exit_status, 0), watch);
	status = status_json(dir, store);
	replicator = replicator_of(status);
	assert_false(json_object_get_boolean(json_object_object_get(replicator, "running")));
	assert_string_equal(member_string(replicator, "state"), "stopped");
	json_object_put(status);

	/* A killed watcher cannot record anything: its dead process shows it is not running. */
	watch = start_watch(dir, store);
	assert_true(wait_for_state(dir, store, "offline"));
	kill(watch, SIGKILL);
	assert_int_equal(waitpid(watch, &exit_status, 0), watch);
	status = status_json(dir, store);
	replicator = replicator_of(status);
	assert_false(json_object_get_boolean(json_object_object_get(replicator, "running")));
	assert_string_equal(member_string(replicator, "state"), "stopped");
	json_object_put(status);
	cairn_cli_runl(&result, dir, NULL, NULL, "status", "--store", store, (char *)NULL);
	assert_non_null(strstr(result.out, "replicator: not running"));
	cairn_cli_result_free(&result);
	cairn_cli_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_status_replicator__shows_the_watching_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
