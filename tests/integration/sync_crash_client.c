/* sync_crash_client.c: client processes SIGKILLed while pushing or pulling 1,200 documents,
 * or syncing one store file side by side: each mutation lands once, each change pulls once. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/child.h"
#include "support/integration.h"

#define DOCS 1200
#define COLLECTION "items"
#define PUSH_BATCH 20

/* ---- the child: write DOCS documents, then push them in small batches ---------------- */

static int child_progress(const cairn_sync_progress *progress, void *payload)
{
	int fd = *(int *)payload;
	char mark = progress->phase == CAIRN_SYNC_PHASE_PUSH ? 'B' : 'P';

	/* Tell the parent how far we are; it picks its moment to kill from these. */
	(void)!write(fd, &mark, 1);
	return 0;
}

static void document_json(char *out, size_t size, int i)
{
	snprintf(out, size, "{\"n\":%d,\"text\":\"document number %d\",\"even\":%s}", i, i,
		i % 2 ? "false" : "true");
}

/* Runs in the forked child: no cmocka here, only exit codes. */
static void child_main(const char *path, const cairn_remote *remote, int fd)
{
	cairn_store *store = NULL;
	cairn_sync_options opts = CAIRN_SYNC_OPTIONS_INIT;
	char id[32], json[128];
	int i;

	if (cairn_store_open(&store, path, NULL) != 0)
		_exit(10);
	if (cairn_store_set_remote(store, remote) != 0)
		_exit(11);
	for (i = 0; i < DOCS; i++) {
		snprintf(id, sizeof(id), "doc%05d", i);
		document_json(json, sizeof(json), i);
		if (cairn_doc_put(store, COLLECTION, id, json) != 0)
			_exit(12);
	}
	if (write(fd, "S", 1) != 1)
		_exit(13);
	opts.push_batch = PUSH_BATCH;
	opts.progress = child_progress;
	opts.payload = &fd;
	if (cairn_sync_once(NULL, store, &opts) != 0)
		_exit(14);
	cairn_store_free(store);
	_exit(0);
}

/* ---- the parent ------------------------------------------------------------------------ */

/* Reads marks until `marks` have arrived (after the start mark) or the child closed the
 * pipe. Returns how many push batches were seen. */
static int wait_for_marks(int fd, int marks)
{
	int seen = -1; /* the start mark is not a batch */
	char mark;

	while (seen < marks) {
		ssize_t n = read(fd, &mark, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (mark == 'S' || mark == 'B')
			seen++;
	}
	return seen < 0 ? 0 : seen;
}

/* Checks the server holds DOCS documents, each once, with the right data, and that no
 * mutation was applied twice: versions are unique and the largest is DOCS. */
static void assert_server_exact(const cairn_it_env *env, const char *database)
{
	json_object *docs = cairn_it_server_docs(env, database, COLLECTION);
	size_t i, count = json_object_array_length(docs);
	unsigned char *seen_version = calloc(DOCS + 1, 1);
	unsigned char *seen_doc = calloc(DOCS, 1);
	int64_t max_version = 0;

	assert_non_null(seen_version);
	assert_non_null(seen_doc);
	if (count != DOCS)
		fail_msg("%s: server holds %zu documents, expected %d", database, count, DOCS);
	for (i = 0; i < count; i++) {
		json_object *document = json_object_array_get_idx(docs, i), *field;
		int64_t version, n;
		char id[32];

		assert_true(json_object_object_get_ex(document, "n", &field));
		n = json_object_get_int64(field);
		assert_in_range(n, 0, DOCS - 1);
		snprintf(id, sizeof(id), "doc%05d", (int)n);
		assert_true(json_object_object_get_ex(document, "$id", &field));
		assert_string_equal(json_object_get_string(field), id);
		if (seen_doc[n])
			fail_msg("%s: document %s listed twice", database, id);
		seen_doc[n] = 1;
		assert_true(json_object_object_get_ex(document, "text", &field));
		{
			char text[64];

			snprintf(text, sizeof(text), "document number %d", (int)n);
			assert_string_equal(json_object_get_string(field), text);
		}
		assert_true(json_object_object_get_ex(document, "$version", &field));
		version = json_object_get_int64(field);
		assert_in_range(version, 1, DOCS);
		if (seen_version[version])
			fail_msg("%s: version %lld used twice", database, (long long)version);
		seen_version[version] = 1;
		if (version > max_version)
			max_version = version;
	}
	/* N single writes, each applied once, are versions 1..N exactly. */
	assert_int_equal(max_version, DOCS);
	free(seen_version);
	free(seen_doc);
	json_object_put(docs);
}

/* One round: child writes and pushes, parent kills it after `batches` acknowledged push
 * batches plus `delay_us`, then reopens the store and finishes the sync. */
static void crash_round(cairn_it_env *env, int round, int batches, useconds_t delay_us)
{
	char database[32], path[512], name[32];
	cairn_remote remote = { CAIRN_REMOTE_VERSION, env->url, CAIRN_IT_PROJECT, CAIRN_IT_KEY,
		NULL, NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	cairn_sync_options opts = CAIRN_SYNC_OPTIONS_INIT;
	cairn_sync_result result;
	cairn_store *store, *fresh;
	json_object *local;
	int fds[2], status, attempt, rc;
	pid_t pid;

	snprintf(database, sizeof(database), "crash%d", round);
	snprintf(name, sizeof(name), "client%d", round);
	snprintf(path, sizeof(path), "%s/%s.db", env->root, name);
	remote.database = database;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cairn_test_child_init();
		close(fds[0]);
		child_main(path, &remote, fds[1]);
	}
	close(fds[1]);
	wait_for_marks(fds[0], batches);
	if (delay_us)
		usleep(delay_us);
	kill(pid, SIGKILL);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* Either killed, or it finished first (then the round still checks exactly-once). */
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		fail_msg("round %d: child failed before the kill with exit code %d", round,
			WEXITSTATUS(status));

	/* Reopen the store the killed process left and sync to completion. */
	rc = cairn_store_open(&store, path, NULL);
	if (rc != 0)
		fail_msg("reopen %s: %d %s", path, rc, cairn_error_last());
	local = cairn_it_store_docs(store, COLLECTION);
	assert_int_equal(json_object_array_length(local), DOCS);
	json_object_put(local);
	{
		cairn_store_status st;
		json_object *before = cairn_it_server_docs(env, database, COLLECTION);

		assert_int_equal(cairn_store_status_get(&st, store), 0);
		/* When the server holds more than the client knows was acknowledged, the kill cut a
		 * response off and the resend below exercises the idempotent replay. */
		print_message("round %d: child %s; %llu of %d mutations pending; server holds %zu\n",
			round, WIFSIGNALED(status) ? "killed" : "finished first",
			(unsigned long long)st.pending, DOCS, json_object_array_length(before));
		assert_true(json_object_array_length(before) >= DOCS - st.pending);
		json_object_put(before);
	}
	opts.push_batch = 100;
	for (attempt = 0; attempt < 3; attempt++) {
		cairn_store_status st;

		cairn_it_sync(&result, store, &opts);
		assert_int_equal(result.conflicts, 0);
		assert_int_equal(result.rejected, 0);
		assert_int_equal(cairn_store_status_get(&st, store), 0);
		if (st.pending == 0)
			break;
	}
	cairn_it_assert_outbox_empty(store);
	assert_server_exact(env, database);
	cairn_it_assert_store_matches_server(env, store, database, COLLECTION);
	cairn_store_free(store);

	/* The change feed holds each document once: a fresh store pulls exactly DOCS changes. */
	snprintf(name, sizeof(name), "fresh%d", round);
	fresh = cairn_it_store_open(env, name, database);
	cairn_it_sync(&result, fresh, NULL);
	assert_int_equal(result.pulled, DOCS);
	assert_int_equal(result.checkpoint, DOCS);
	cairn_it_assert_store_matches_server(env, fresh, database, COLLECTION);
	cairn_store_free(fresh);
}

static void test_integration_sync_crash_client__killed_during_push(void **state)
{
	/* (batches acknowledged before the kill, extra delay): from "just started" to late. */
	static const struct { int batches; useconds_t delay_us; } rounds[] = {
		{ 0, 0 }, { 0, 3000 }, { 1, 150 }, { 2, 700 }, { 5, 400 }, { 9, 0 }, { 14, 900 },
		{ 18, 1200 }, { 23, 1500 }, { 30, 50 }, { 41, 300 }, { 52, 2000 },
	};
	cairn_it_env *env = *state;
	size_t i;

	for (i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++)
		crash_round(env, (int)i, rounds[i].batches, rounds[i].delay_us);
}

/* Runs in a forked child: pulls everything into a fresh store in small pages. */
static void child_pull(const char *path, const cairn_remote *remote, int fd)
{
	cairn_store *store = NULL;
	cairn_sync_options opts = CAIRN_SYNC_OPTIONS_INIT;

	if (cairn_store_open(&store, path, NULL) != 0)
		_exit(10);
	if (cairn_store_set_remote(store, remote) != 0)
		_exit(11);
	if (write(fd, "S", 1) != 1)
		_exit(13);
	opts.pull_limit = 40;
	opts.progress = child_progress;
	opts.payload = &fd;
	if (cairn_sync_once(NULL, store, &opts) != 0)
		_exit(14);
	cairn_store_free(store);
	_exit(0);
}

/* Reads marks until the start mark and then `pages` pull pages were reported, or the pipe
 * closed. */
static void wait_for_pages(int fd, int pages)
{
	int seen = -1; /* -1 until the start mark: the remote is set from then on */
	char mark;

	while (seen < pages) {
		ssize_t n = read(fd, &mark, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (mark == 'S' || (mark == 'P' && seen >= 0))
			seen++;
	}
}

/* A fresh client killed while pulling 1,200 documents in pages of 40: reopened, it keeps
 * the pages it committed and resumes from its checkpoint, pulling each change once. */
static void test_integration_sync_crash_client__killed_during_pull(void **state)
{
	static const struct { int pages; useconds_t delay_us; } rounds[] = {
		{ 0, 500 }, { 1, 0 }, { 4, 300 }, { 11, 800 }, { 20, 100 },
	};
	cairn_it_env *env = *state;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, NULL, CAIRN_IT_PROJECT, CAIRN_IT_KEY, "pulled", NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	cairn_store *writer;
	size_t i;

	remote.url = env->url;
	writer = cairn_it_store_open(env, "writer", "pulled");
	for (i = 0; i < DOCS; i++) {
		char id[32], json[128];

		snprintf(id, sizeof(id), "doc%05zu", i);
		document_json(json, sizeof(json), (int)i);
		assert_int_equal(cairn_doc_put(writer, COLLECTION, id, json), 0);
	}
	cairn_it_sync(NULL, writer, NULL);
	cairn_store_free(writer);

	for (i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++) {
		char path[512];
		cairn_store *store;
		cairn_store_status st;
		cairn_sync_result result;
		json_object *local;
		int fds[2], status;
		size_t before;
		pid_t pid;

		snprintf(path, sizeof(path), "%s/puller%zu.db", env->root, i);
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			cairn_test_child_init();
			close(fds[0]);
			child_pull(path, &remote, fds[1]);
		}
		close(fds[1]);
		wait_for_pages(fds[0], rounds[i].pages);
		if (rounds[i].delay_us)
			usleep(rounds[i].delay_us);
		kill(pid, SIGKILL);
		close(fds[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			fail_msg("pull round %zu: child failed with exit code %d", i, WEXITSTATUS(status));

		assert_int_equal(cairn_store_open(&store, path, NULL), 0);
		local = cairn_it_store_docs(store, COLLECTION);
		before = json_object_array_length(local);
		json_object_put(local);
		assert_int_equal(cairn_store_status_get(&st, store), 0);
		print_message("pull round %zu: child %s with %zu documents, checkpoint %lld\n", i,
			WIFSIGNALED(status) ? "killed" : "finished first", before,
			(long long)st.checkpoint);
		/* each document was written once, so versions are 1..DOCS in id order */
		assert_int_equal((int64_t)before, st.checkpoint);
		cairn_it_sync(&result, store, NULL);
		assert_int_equal(result.pulled, DOCS - before);
		assert_int_equal(result.checkpoint, DOCS);
		cairn_it_assert_store_matches_server(env, store, "pulled", COLLECTION);
		cairn_it_assert_outbox_empty(store);
		cairn_store_free(store);
	}
}

/* Two processes sync the same store file at the same time: each mutation still reaches the
 * server exactly once. */
static void test_integration_sync_crash_client__two_processes_one_store(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *store;
	cairn_sync_result result;
	json_object *log;
	char path[512];
	pid_t pids[2];
	int i, statuses[2], gate[2];

	store = cairn_it_store_open(env, "shared", "shared");
	for (i = 0; i < DOCS; i++) {
		char id[32], json[128];

		snprintf(id, sizeof(id), "doc%05d", i);
		document_json(json, sizeof(json), i);
		assert_int_equal(cairn_doc_put(store, COLLECTION, id, json), 0);
	}
	cairn_store_free(store);
	snprintf(path, sizeof(path), "%s/shared.db", env->root);
	assert_int_equal(pipe(gate), 0);
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			cairn_store *mine = NULL;
			cairn_sync_options opts = CAIRN_SYNC_OPTIONS_INIT;
			char go;
			int rc;

			cairn_test_child_init();

			close(gate[1]);
			opts.push_batch = 10;
			if (cairn_store_open(&mine, path, NULL) != 0)
				_exit(10);
			/* both start pushing at the same moment */
			if (read(gate[0], &go, 1) != 1)
				_exit(11);
			rc = cairn_sync_once(NULL, mine, &opts);
			if (rc != 0)
				fprintf(stderr, "syncing process %d: %d %s\n", i, rc, cairn_error_last());
			cairn_store_free(mine);
			/* EBUSY is an honest answer when the other process holds the outbox. */
			_exit(rc == 0 ? 0 : rc == CAIRN_EBUSY ? 1 : 20 - rc);
		}
	}
	close(gate[0]);
	assert_int_equal(write(gate[1], "go", 2), 2);
	close(gate[1]);
	/* Reap both before judging, so a failure never tears the server down under one. */
	for (i = 0; i < 2; i++)
		assert_int_equal(waitpid(pids[i], &statuses[i], 0), pids[i]);
	for (i = 0; i < 2; i++) {
		if (!WIFEXITED(statuses[i]) || WEXITSTATUS(statuses[i]) > 1)
			fail_msg("syncing process %d failed: status 0x%x", i, statuses[i]);
		print_message("syncing process %d: %s\n", i,
			WEXITSTATUS(statuses[i]) ? "CAIRN_EBUSY" : "synced");
	}
	assert_int_equal(cairn_store_open(&store, path, NULL), 0);
	cairn_it_sync(&result, store, NULL);
	assert_int_equal(result.conflicts, 0);
	cairn_it_assert_outbox_empty(store);
	assert_server_exact(env, "shared");
	cairn_it_assert_store_matches_server(env, store, "shared", COLLECTION);
	log = cairn_it_conflicts(store);
	assert_int_equal(json_object_array_length(log), 0);
	json_object_put(log);
	cairn_store_free(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_sync_crash_client__killed_during_push),
		CAIRN_IT_TEST(test_integration_sync_crash_client__killed_during_pull),
		CAIRN_IT_TEST(test_integration_sync_crash_client__two_processes_one_store),
	};

	/* A child killed mid-write must not take the parent with it through the pipe. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
