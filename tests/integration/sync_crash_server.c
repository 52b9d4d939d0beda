/* sync_crash_server.c: the server SIGKILLed in the middle of a long pull or push, restarted
 * on the same data dir: nothing lost, nothing duplicated, checkpoints resume. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"

#define DATABASE "main"
#define COLLECTION "items"
#define FIRST 1500  /* documents on the server before the crash */
#define SECOND 1500 /* documents pending in the writer when the server dies */

static void put_range(cairn_store *store, int from, int to)
{
	char id[32], json[160];
	int i, rc;

	for (i = from; i < to; i++) {
		snprintf(id, sizeof(id), "doc%05d", i);
		snprintf(json, sizeof(json), "{\"n\":%d,\"text\":\"payload %d\",\"pad\":\"%048d\"}",
			i, i, i);
		rc = cairn_doc_put(store, COLLECTION, id, json);
		if (rc != 0)
			fail_msg("put %s: %d %s", id, rc, cairn_error_last());
	}
}

/* Asserts the server holds documents 0..count-1 exactly once each, versions 1..count. */
static void assert_server_exact(const cairn_it_env *env, int count)
{
	json_object *docs = cairn_it_server_docs(env, DATABASE, COLLECTION);
	unsigned char *seen_version = calloc((size_t)count + 1, 1);
	unsigned char *seen_doc = calloc((size_t)count, 1);
	size_t i;

	assert_non_null(seen_version);
	assert_non_null(seen_doc);
	if ((int)json_object_array_length(docs) != count)
		fail_msg("server holds %zu documents, expected %d", json_object_array_length(docs),
			count);
	for (i = 0; i < json_object_array_length(docs); i++) {
		json_object *document = json_object_array_get_idx(docs, i), *field;
		int64_t n, version;
		char text[64];

		assert_true(json_object_object_get_ex(document, "n", &field));
		n = json_object_get_int64(field);
		assert_in_range(n, 0, count - 1);
		assert_false(seen_doc[n]);
		seen_doc[n] = 1;
		assert_true(json_object_object_get_ex(document, "text", &field));
		snprintf(text, sizeof(text), "payload %d", (int)n);
		assert_string_equal(json_object_get_string(field), text);
		assert_true(json_object_object_get_ex(document, "$version", &field));
		version = json_object_get_int64(field);
		assert_in_range(version, 1, count);
		if (seen_version[version])
			fail_msg("version %lld applied twice", (long long)version);
		seen_version[version] = 1;
	}
	free(seen_version);
	free(seen_doc);
	json_object_put(docs);
}

static int count_docs(cairn_store *store)
{
	json_object *docs = cairn_it_store_docs(store, COLLECTION);
	int count = (int)json_object_array_length(docs);

	json_object_put(docs);
	return count;
}

/* ---- killing the server from a progress callback (between pages / batches) ----------- */

typedef struct {
	cairn_sync_phase phase; /* which phase to interrupt */
	uint64_t after;         /* kill once this many changes/mutations are done */
	pid_t server;
	int killed;
	uint64_t done_at_kill;
} killer;

static int kill_on_progress(const cairn_sync_progress *progress, void *payload)
{
	killer *k = payload;

	if (!k->killed && progress->phase == k->phase && progress->done >= k->after) {
		kill(k->server, SIGKILL);
		k->killed = 1;
		k->done_at_kill = progress->done;
	}
	return 0;
}

/* A pull of 1,500 changes in pages of 100; the server dies after the third page. The pages
 * applied stay applied and the next sync resumes from the stored checkpoint. */
static void test_integration_sync_crash_server__killed_during_pull(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *writer, *reader;
	cairn_sync_options opts = CAIRN_SYNC_OPTIONS_INIT;
	cairn_sync_result result;
	cairn_store_status status;
	killer k = { CAIRN_SYNC_PHASE_PULL, 300, 0, 0, 0 };
	int rc, before;

	writer = cairn_it_store_open(env, "writer", DATABASE);
	put_range(writer, 0, FIRST);
	cairn_it_sync(NULL, writer, NULL);

	reader = cairn_it_store_open(env, "reader", DATABASE);
	k.server = cairn_it_server_pid(env);
	opts.pull_limit = 100;
	opts.progress = kill_on_progress;
	opts.payload = &k;
	rc = cairn_sync_once(&result, reader, &opts);
	assert_true(k.killed);
	if (rc == 0)
		fail_msg("the sync finished although the server died after %llu changes",
			(unsigned long long)k.done_at_kill);
	assert_true(rc == CAIRN_EOFFLINE || rc == CAIRN_ESERVER);
	cairn_it_server_kill(env); /* reap it */

	/* What was pulled before the crash is kept, with its checkpoint. */
	before = count_docs(reader);
	assert_int_equal(cairn_store_status_get(&status, reader), 0);
	assert_true(before >= 300);
	assert_true(before < FIRST);
	assert_int_equal(status.checkpoint, before); /* versions 1..before, written once each */
	assert_int_not_equal(status.last_sync_result, 0);

	cairn_it_server_restart(env);
	cairn_it_store_set_remote(env, reader, DATABASE);
	cairn_it_store_set_remote(env, writer, DATABASE);
	opts.progress = NULL;
	cairn_it_sync(&result, reader, &opts);
	assert_int_equal(result.pulled, FIRST - before); /* resumed, nothing pulled twice */
	assert_int_equal(result.checkpoint, FIRST);
	assert_int_equal(count_docs(reader), FIRST);
	assert_server_exact(env, FIRST);
	cairn_it_assert_store_matches_server(env, reader, DATABASE, COLLECTION);
	assert_int_equal(cairn_store_status_get(&status, reader), 0);
	assert_int_equal(status.last_sync_result, 0);

	cairn_store_free(writer);
	cairn_store_free(reader);
}

/* A push of 1,500 mutations in batches of 100; the server dies after the fourth batch is
 * acknowledged. The rest arrives after the restart, each mutation applied once. */
static void test_integration_sync_crash_server__killed_between_push_batches(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *writer, *reader;
	cairn_sync_options opts = CAIRN_SYNC_OPTIONS_INIT;
	cairn_sync_result result;
	cairn_store_status status;
	killer k = { CAIRN_SYNC_PHASE_PUSH, 400, 0, 0, 0 };
	int rc;

	writer = cairn_it_store_open(env, "writer", DATABASE);
	reader = cairn_it_store_open(env, "reader", DATABASE);
	put_range(writer, 0, FIRST);
	cairn_it_sync(NULL, writer, NULL);
	cairn_it_sync(NULL, reader, NULL);

	put_range(writer, FIRST, FIRST + SECOND);
	k.server = cairn_it_server_pid(env);
	opts.push_batch = 100;
	opts.progress = kill_on_progress;
	opts.payload = &k;
	rc = cairn_sync_once(&result, writer, &opts);
	assert_true(k.killed);
	assert_true(rc == CAIRN_EOFFLINE || rc == CAIRN_ESERVER);
	cairn_it_server_kill(env);
	assert_int_equal(cairn_store_status_get(&status, writer), 0);
	assert_true(status.pending > 0);
	assert_true(status.pending <= SECOND - 400);

	cairn_it_server_restart(env);
	cairn_it_store_set_remote(env, writer, DATABASE);
	cairn_it_store_set_remote(env, reader, DATABASE);
	cairn_it_sync(&result, writer, NULL);
	assert_int_equal(result.conflicts, 0);
	cairn_it_assert_outbox_empty(writer);
	assert_server_exact(env, FIRST + SECOND);

	cairn_it_sync(&result, reader, NULL);
	assert_int_equal(result.pulled, SECOND);
	assert_int_equal(result.checkpoint, FIRST + SECOND);
	cairn_it_assert_store_matches_server(env, reader, DATABASE, COLLECTION);
	cairn_it_assert_store_matches_server(env, writer, DATABASE, COLLECTION);

	cairn_store_free(writer);
	cairn_store_free(reader);
}

/* ---- killing the server at an arbitrary moment, mid-request -------------------------- */

typedef struct {
	pid_t server;
	useconds_t delay_us;
} timed_kill;

static void *kill_after_delay(void *payload)
{
	timed_kill *t = payload;

	usleep(t->delay_us);
	kill(t->server, SIGKILL);
	return NULL;
}

/* Several rounds: the server dies a few ms into the writer's push of big batches or into
 * the reader's pull of small pages (likely inside a request or a server transaction),
 * restarts on the same data, and both carry on. Each round adds 1,000 documents; in the end
 * the server holds each exactly once and the reader has them all. */
static void test_integration_sync_crash_server__killed_at_random_moments(void **state)
{
	static const struct { int reader; useconds_t delay_us; } rounds[] = {
		{ 0, 2000 }, { 1, 3000 }, { 0, 9000 }, { 1, 12000 }, { 0, 25000 }, { 1, 500 },
	};
	cairn_it_env *env = *state;
	cairn_store *writer, *reader;
	cairn_sync_options push_opts = CAIRN_SYNC_OPTIONS_INIT;
	cairn_sync_options pull_opts = CAIRN_SYNC_OPTIONS_INIT;
	cairn_sync_result result;
	cairn_store_status status;
	size_t round;
	int total = 0, rc;

	writer = cairn_it_store_open(env, "writer", DATABASE);
	reader = cairn_it_store_open(env, "reader", DATABASE);
	push_opts.push_batch = 250;
	pull_opts.pull_limit = 50;
	for (round = 0; round < sizeof(rounds) / sizeof(rounds[0]); round++) {
		cairn_store *victim = rounds[round].reader ? reader : writer;
		timed_kill t;
		pthread_t thread;

		put_range(writer, total, total + 1000);
		total += 1000;
		if (rounds[round].reader)
			(void)cairn_sync_once(NULL, writer, &push_opts); /* something to pull */
		t.server = cairn_it_server_pid(env);
		t.delay_us = rounds[round].delay_us;
		assert_int_equal(pthread_create(&thread, NULL, kill_after_delay, &t), 0);
		/* The outcome depends on when the kill lands: any result is fine, nothing lost. */
		rc = cairn_sync_once(&result, victim, rounds[round].reader ? &pull_opts : &push_opts);
		pthread_join(thread, NULL);
		assert_int_equal(cairn_store_status_get(&status, victim), 0);
		print_message("round %zu: %s killed after %u us: sync %d, %llu pending, "
			"checkpoint %lld\n", round, rounds[round].reader ? "pull" : "push",
			(unsigned)t.delay_us, rc, (unsigned long long)status.pending,
			(long long)status.checkpoint);
		cairn_it_server_kill(env);
		cairn_it_server_restart(env);
		cairn_it_store_set_remote(env, writer, DATABASE);
		cairn_it_store_set_remote(env, reader, DATABASE);
	}
	cairn_it_sync(&result, writer, &push_opts);
	assert_int_equal(result.conflicts, 0);
	cairn_it_assert_outbox_empty(writer);
	assert_server_exact(env, total);
	assert_int_equal(cairn_store_status_get(&status, reader), 0);
	cairn_it_sync(&result, reader, &pull_opts);
	/* resumed from its checkpoint: every change after it, once */
	assert_int_equal(result.pulled, total - status.checkpoint);
	assert_int_equal(result.checkpoint, total);
	assert_int_equal(count_docs(reader), total);
	cairn_it_assert_store_matches_server(env, reader, DATABASE, COLLECTION);
	cairn_it_assert_store_matches_server(env, writer, DATABASE, COLLECTION);

	cairn_store_free(writer);
	cairn_store_free(reader);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_sync_crash_server__killed_during_pull),
		CAIRN_IT_TEST(test_integration_sync_crash_server__killed_between_push_batches),
		CAIRN_IT_TEST(test_integration_sync_crash_server__killed_at_random_moments),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
