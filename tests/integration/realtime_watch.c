/* realtime_watch.c: `cairn sync --watch` as a process: another process's `cairn put` on the
 * same store is pushed without any further command, a server change arrives live, and
 * SIGINT stops it cleanly. */
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

#include "support/cli_run.h"

#define PROJECT "watch"
#define KEY "watch-test-key"

static void sleep_ms(long ms)
{
	usleep((useconds_t)ms * 1000);
}

static int file_contains(const char *path, const char *text)
{
	char buffer[65536];
	FILE *file = fopen(path, "r");
	size_t n;

	if (!file)
		return 0;
	n = fread(buffer, 1, sizeof(buffer) - 1, file);
	fclose(file);
	buffer[n] = '\0';
	return strstr(buffer, text) != NULL;
}

static void test_integration_realtime_watch__pushes_other_processes_writes(void **state)
{
	char dir[PATH_MAX], store[PATH_MAX + 16], log[PATH_MAX + 16], url[256];
	cairn_cli_server server;
	cairn_cli_result result;
	pid_t watch;
	int i, status = 0;
	long http = 0;

	(void)state;
	assert_int_equal(cairn_cli_tmpdir(dir), 0);
	assert_int_equal(cairn_cli_server_start(&server, dir, PROJECT, KEY), 0);
	snprintf(store, sizeof(store), "%s/a.db", dir);
	snprintf(log, sizeof(log), "%s/watch.log", dir);
	cairn_cli_runl(&result, dir, NULL, NULL, "remote", "--server", server.url, "--project",
		PROJECT, "--api-key", KEY, "--database", "main", "--store", store, (char *)NULL);
	assert_int_equal(result.status, 0);
	cairn_cli_result_free(&result);

	watch = fork();
	assert_true(watch >= 0);
	if (watch == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execl(CAIRN_BIN, CAIRN_BIN, "sync", "--watch", "--store", store, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 3000 && !file_contains(log, "idle "); i++)
		sleep_ms(10);
	assert_true(file_contains(log, "idle "));

	/* Another process writes; the watcher notices the commit and pushes it. */
	cairn_cli_runl(&result, dir, NULL, NULL, "put", "items", "x1", "{\"v\":1}", "--store",
		store, (char *)NULL);
	assert_int_equal(result.status, 0);
	cairn_cli_result_free(&result);
	snprintf(url, sizeof(url), "%s/databases/main/collections/items/documents/x1", server.url);
	for (i = 0; i < 3000; i++) {
		http = cairn_cli_http("GET", url, PROJECT, KEY, NULL);
		if (http == 200)
			break;
		sleep_ms(10);
	}
	assert_int_equal(http, 200);

	/* A server-side write comes back live. */
	snprintf(url, sizeof(url), "%s/databases/main/collections/items/documents", server.url);
	assert_int_equal(cairn_cli_http("POST", url, PROJECT, KEY,
		"{\"documentId\":\"srv\",\"data\":{\"v\":2}}"), 201);
	for (i = 0; i < 3000; i++) {
		cairn_cli_runl(&result, dir, NULL, NULL, "get", "items", "srv", "--store", store,
			(char *)NULL);
		status = result.status;
		cairn_cli_result_free(&result);
		if (status == 0)
			break;
		sleep_ms(10);
	}
	assert_int_equal(status, 0);

	kill(watch, SIGINT);
	assert_int_equal(waitpid(watch, &status, 0), watch);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(file_contains(log, "stopped"));
	assert_int_equal(cairn_cli_server_stop(&server), 0);
	cairn_cli_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integration_realtime_watch__pushes_other_processes_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
