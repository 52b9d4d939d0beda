/* checkpointer.c: a store's WAL is copied back into the database file (by the helper thread
 * after bulk commits, inline after small ones) and so stays bounded, and a store handle that
 * crossed a fork() still writes, checkpoints and closes in the child. */
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/checkpointer.h"
#include "client/client_test.h"
#include "client/store_int.h"
#include "support/child.h"

static off_t file_size(const char *path)
{
	struct stat info;

	return stat(path, &info) == 0 ? info.st_size : 0;
}

/* `count` documents of ~1 KiB in one commit (a bulk commit: many pages). */
static void bulk_commit(cairn_store *store, int first, int count)
{
	char body[1100];
	char id[16];

	memset(body, 0, sizeof(body));
	snprintf(body, sizeof(body), "{\"text\":\"%0900d\"}", first);
	assert_int_equal(cairn_store_batch_begin(store), 0);
	for (int i = first; i < first + count; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		assert_int_equal(cairn_doc_put(store, "items", id, body), 0);
	}
	assert_int_equal(cairn_store_batch_commit(store), 0);
}

/* Polls (up to 10 s) until the database file is larger than `than`: pages reach it only by
 * checkpoints. */
static void wait_checkpointed(const char *path, off_t than)
{
	for (int i = 0; i < 1000 && file_size(path) <= than; i++)
		usleep(10000);
	assert_true(file_size(path) > than);
}

static void test_client_checkpointer__bulk_commits_are_checkpointed(void **state)
{
	client_env env;
	char wal[600];
	off_t before;

	(void)state;
	client_env_init(&env);
	snprintf(wal, sizeof(wal), "%s-wal", env.path);
	before = file_size(env.path);
	/* ~0.7 MiB of WAL a commit: past CAIRN__CHECKPOINT_WAKE_PAGES (2 KiB pages) within 40 */
	for (int round = 0; round < 40; round++)
		bulk_commit(env.store, round * 500, 500);
	wait_checkpointed(env.path, before);
	/* and the WAL never grows past the backstop however much is written */
	for (int round = 40; round < 80; round++)
		bulk_commit(env.store, round * 500, 500);
	assert_true(file_size(wal) <= (off_t)CAIRN__CHECKPOINT_BACKSTOP_PAGES * 2100 + 4096);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs"), 40000);
	client_env_free(&env);
}

static void test_client_checkpointer__small_commits_are_checkpointed(void **state)
{
	client_env env;
	off_t before;

	(void)state;
	client_env_init(&env);
	before = file_size(env.path);
	/* single puts: about five pages each, past the wake threshold after ~2,000 */
	for (int i = 0; i < 4000; i++) {
		char id[16];

		snprintf(id, sizeof(id), "s%d", i);
		assert_int_equal(cairn_doc_put(env.store, "items", id, "{\"n\":1}"), 0);
	}
	wait_checkpointed(env.path, before);
	client_env_free(&env);
}

static void test_client_checkpointer__handle_used_after_fork(void **state)
{
	client_env env;
	int status = 0;
	pid_t child;

	(void)state;
	client_env_init(&env);
	bulk_commit(env.store, 0, 500); /* the parent's helper may run */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		cairn_test_child_init();
		for (int round = 1; round < 30; round++)
			bulk_commit(env.store, round * 500, 500);
		cairn_store_free(env.store);
		_exit(0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs"), 15000);
	bulk_commit(env.store, 15000, 500);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs"), 15500);
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_checkpointer__bulk_commits_are_checkpointed),
		cmocka_unit_test(test_client_checkpointer__small_commits_are_checkpointed),
		cmocka_unit_test(test_client_checkpointer__handle_used_after_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
