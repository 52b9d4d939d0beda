/* store.c: tests of the local store: writes, reads, validation, the outbox, the HLC, status,
 * and crash safety of a write with its outbox entry. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "client/client_test.h"
#include "support/child.h"

static void test_client_store__put_get_roundtrip(void **state)
{
	client_env env;
	json_object *doc;
	json_object *permissions;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "apple",
		"{\"title\":\"Apple\",\"qty\":3,\"big\":9007199254740993,\"tags\":[\"a\"],"
		"\"$id\":\"ignored\",\"$createdAt\":\"1999-01-01T00:00:00.000+00:00\"}"), 0);
	doc = client_get(env.store, "items", "apple");
	assert_string_equal(client_string(doc, "$id"), "apple");
	assert_string_equal(client_string(doc, "$collectionId"), "items");
	assert_string_equal(client_string(doc, "$databaseId"), "");
	assert_int_equal(strlen(client_string(doc, "$createdAt")), 29);
	assert_string_not_equal(client_string(doc, "$createdAt"), "1999-01-01T00:00:00.000+00:00");
	assert_string_equal(client_string(doc, "$createdAt"), client_string(doc, "$updatedAt"));
	assert_true(json_object_object_get_ex(doc, "$permissions", &permissions));
	assert_true(json_object_is_type(permissions, json_type_array));
	assert_int_equal(json_object_array_length(permissions), 0);
	assert_string_equal(client_string(doc, "title"), "Apple");
	assert_int_equal(client_int(doc, "qty"), 3);
	assert_true(client_int(doc, "big") == 9007199254740993LL);
	/* Model keys come first, in Appwrite's order, then the user fields. */
	{
		const char *expected[] = { "$id", "$collectionId", "$databaseId", "$createdAt",
			"$updatedAt", "$permissions", "title", "qty", "big", "tags" };
		size_t i = 0;
		json_object_object_foreach(doc, key, value) {
			(void)value;
			assert_true(i < sizeof(expected) / sizeof(expected[0]));
			assert_string_equal(key, expected[i]);
			i++;
		}
		assert_int_equal(i, sizeof(expected) / sizeof(expected[0]));
	}
	json_object_put(doc);
	client_env_free(&env);
}

static void test_client_store__permissions_given(void **state)
{
	client_env env;
	json_object *doc;
	json_object *permissions;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a",
		"{\"$permissions\":[\"read(\\\"any\\\")\"],\"n\":1}"), 0);
	/* A put without "$permissions" keeps those of the live document. */
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":2}"), 0);
	doc = client_get(env.store, "items", "a");
	assert_true(json_object_object_get_ex(doc, "$permissions", &permissions));
	assert_int_equal(json_object_array_length(permissions), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(permissions, 0)),
		"read(\"any\")");
	assert_int_equal(client_int(doc, "n"), 2);
	json_object_put(doc);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"$permissions\":\"x\"}"),
		CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"$permissions\":[1]}"),
		CAIRN_EINVALID);
	client_env_free(&env);
}

static void test_client_store__patch_and_delete(void **state)
{
	client_env env;
	json_object *doc;
	json_object *value;
	char *text = NULL;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_patch(env.store, "items", "nope", "{\"a\":1}"), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_doc_delete(env.store, "items", "nope"), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_doc_put(env.store, "items", "d1", "{\"a\":1,\"b\":{\"x\":1}}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "d1", "{\"b\":{\"y\":2},\"c\":null}"),
		0);
	doc = client_get(env.store, "items", "d1");
	assert_int_equal(client_int(doc, "a"), 1);
	assert_true(json_object_object_get_ex(doc, "b", &value));
	assert_false(json_object_object_get_ex(value, "x", NULL)); /* top-level merge only */
	assert_true(json_object_object_get_ex(doc, "c", &value));
	assert_null(value);
	json_object_put(doc);
	assert_int_equal(cairn_doc_delete(env.store, "items", "d1"), 0);
	assert_int_equal(cairn_doc_get(&text, env.store, "items", "d1"), CAIRN_ENOTFOUND);
	assert_null(text);
	assert_int_equal(cairn_doc_patch(env.store, "items", "d1", "{\"a\":2}"), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_doc_delete(env.store, "items", "d1"), CAIRN_ENOTFOUND);
	/* Same id, other collection: independent. */
	assert_int_equal(cairn_doc_get(&text, env.store, "other", "d1"), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_doc_put(env.store, "items", "d1", "{\"again\":true}"), 0);
	doc = client_get(env.store, "items", "d1");
	assert_false(json_object_object_get_ex(doc, "a", NULL));
	json_object_put(doc);
	client_env_free(&env);
}

static int64_t outbox_count(client_env *env)
{
	cairn_store_status status;

	assert_int_equal(cairn_store_status_get(&status, env->store), 0);
	return (int64_t)status.pending;
}

static void test_client_store__validation_changes_nothing(void **state)
{
	cairn_store_options options;
	client_env env;
	json_object *doc;
	char deep[200];
	char id37[38];
	size_t at = 0;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "keep", "{\"v\":1}"), 0);
	assert_int_equal(outbox_count(&env), 1);

	assert_int_equal(cairn_doc_put(env.store, "items", "keep", "{\"v\":"), CAIRN_EINVALID);
	assert_true(strlen(cairn_error_last()) > 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "keep", "[1,2]"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "keep", "\"text\""), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "keep", ""), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "keep", NULL), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "keep", "{\"v\":1} x"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_patch(env.store, "items", "keep", "{\"v\":}"), CAIRN_EINVALID);

	/* 33 levels of nesting: one too many. 32 is accepted. */
	for (int i = 0; i < 32; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "{\"a\":");
	at += (size_t)snprintf(deep + at, sizeof(deep) - at, "{}");
	for (int i = 0; i < 32; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "}");
	assert_int_equal(cairn_doc_put(env.store, "items", "keep", deep), CAIRN_EINVALID);
	deep[at - 1] = '\0'; /* drop the outermost level */
	assert_int_equal(cairn_doc_put(env.store, "items", "deep32", deep + 5), 0);

	memset(id37, 'a', 37);
	id37[37] = '\0';
	assert_int_equal(cairn_doc_put(env.store, "items", id37, "{}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "_x", "{}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "a b", "{}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", "", "{}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "items", NULL, "{}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, "bad/coll", "x", "{}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_put(env.store, NULL, "x", "{}"), CAIRN_EINVALID);
	assert_int_equal(cairn_doc_delete(env.store, "-c", "keep"), CAIRN_EINVALID);
	id37[36] = '\0';
	assert_int_equal(cairn_doc_put(env.store, "items", id37, "{}"), 0); /* 36 is fine */

	assert_int_equal(outbox_count(&env), 3);
	doc = client_get(env.store, "items", "keep");
	assert_int_equal(client_int(doc, "v"), 1);
	json_object_put(doc);
	client_env_free(&env);

	/* Too big, with a small limit: put and a patch that would grow past it. */
	memset(&env, 0, sizeof(env));
	snprintf(env.dir, sizeof(env.dir), "/tmp/cairn-client-XXXXXX");
	assert_non_null(mkdtemp(env.dir));
	snprintf(env.path, sizeof(env.path), "%s/store.db", env.dir);
	assert_int_equal(cairn_store_options_init(&options, CAIRN_STORE_OPTIONS_VERSION), 0);
	options.max_document_bytes = 40;
	assert_int_equal(cairn_store_open(&env.store, env.path, &options), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "s", "{\"text\":\"0123456789\"}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "s",
		"{\"text\":\"0123456789012345678901234567890123456789\"}"), CAIRN_ETOOBIG);
	assert_int_equal(cairn_doc_patch(env.store, "items", "s",
		"{\"more\":\"01234567890123456789\"}"), CAIRN_ETOOBIG);
	/* Whitespace does not count: the stored form is compact. */
	assert_int_equal(cairn_doc_put(env.store, "items", "s",
		"{ \"text\" :      \"0123456789\"            }"), 0);
	assert_int_equal(outbox_count(&env), 2);
	doc = client_get(env.store, "items", "s");
	assert_false(json_object_object_get_ex(doc, "more", NULL));
	json_object_put(doc);
	client_env_free(&env);
}

static void test_client_store__outbox_entries(void **state)
{
	client_env env;
	json_object *outbox;
	json_object *entry;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"n\":2}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_delete(env.store, "items", "a"), 0);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 4);
	{
		const char *ops[] = { "put", "patch", "put", "delete" };
		const char *ids[] = { "a", "a", "b", "a" };
		int64_t last_hlc = 0;
		for (size_t i = 0; i < 4; i++) {
			entry = json_object_array_get_idx(outbox, i);
			assert_string_equal(client_string(entry, "op"), ops[i]);
			assert_string_equal(client_string(entry, "documentId"), ids[i]);
			assert_string_equal(client_string(entry, "collection"), "items");
			assert_string_equal(client_string(entry, "state"), "pending");
			assert_int_equal(client_int(entry, "baseVersion"), 0);
			/* A unique id carrying the row's seq (tests/client/outbox_ids.c). */
			assert_true(cairn_id_valid(client_string(entry, "mutationId")));
			assert_int_equal(strlen(client_string(entry, "mutationId")), 22);
			assert_true(client_int(entry, "hlc") > last_hlc);
			last_hlc = client_int(entry, "hlc");
		}
	}
	json_object_put(outbox);
	/* Each mutation of a document names the previous pending one. */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox o JOIN outbox p "
		"ON o.prev_mutation = p.mutation_id WHERE o.doc_id = 'a' AND p.doc_id = 'a' AND "
		"p.seq < o.seq"), 2);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"prev_mutation IS NULL"), 2);
	/* The pending delete keeps a (deleted) row in the view. */
	assert_int_equal(client_sql_int(env.path, "SELECT deleted FROM docs WHERE id = 'a'"), 1);
	client_env_free(&env);
}

static void test_client_store__hlc_monotonic_across_reopen(void **state)
{
	client_env env;
	json_object *outbox;
	int64_t future;
	int64_t last;
	char sql[160];

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{}"), 0);
	cairn_store_free(env.store);
	env.store = NULL;
	/* As if an earlier run had seen a clock one hour ahead: timestamps must stay above it. */
	future = ((int64_t)time(NULL) * 1000 + 3600 * 1000) << 16;
	snprintf(sql, sizeof(sql), "UPDATE meta SET value = %lld WHERE key = 'hlc'",
		(long long)future);
	client_sql_exec(env.path, sql);
	assert_int_equal(cairn_store_open(&env.store, env.path, NULL), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{}"), 0);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 3);
	last = client_int(json_object_array_get_idx(outbox, 1), "hlc");
	assert_true(last > future);
	assert_true(client_int(json_object_array_get_idx(outbox, 2), "hlc") > last);
	assert_true(client_int(json_object_array_get_idx(outbox, 0), "hlc") < future);
	json_object_put(outbox);
	client_env_free(&env);
}

static void test_client_store__status_and_remote(void **state)
{
	client_env env;
	cairn_store_status status;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, "http://127.0.0.1:1/v1", "proj", "key",
		"main", NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	json_object *doc;
	char client_id[40];

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_int_equal(strncmp(status.client_id, "c-", 2), 0);
	assert_int_equal(strlen(status.client_id), 22);
	assert_true(cairn_id_valid(status.client_id));
	assert_string_equal(status.remote_url, "");
	assert_int_equal(status.pending, 0);
	assert_int_equal(status.last_sync_ms, 0);
	assert_int_equal(status.checkpoint, 0);
	snprintf(client_id, sizeof(client_id), "%s", status.client_id);

	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{}"), 0);
	remote.url = "ftp://x";
	assert_int_equal(cairn_store_set_remote(env.store, &remote), CAIRN_EINVALID);
	remote.url = "http://127.0.0.1:1/v1";
	remote.database = "bad id";
	assert_int_equal(cairn_store_set_remote(env.store, &remote), CAIRN_EINVALID);
	remote.database = "main";
	assert_int_equal(cairn_store_set_remote(env.store, &remote), 0);
	client_reopen(&env);
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_string_equal(status.client_id, client_id);
	assert_string_equal(status.remote_url, "http://127.0.0.1:1/v1");
	assert_string_equal(status.remote_database, "main");
	assert_int_equal(status.pending, 1);
	doc = client_get(env.store, "items", "a");
	assert_string_equal(client_string(doc, "$databaseId"), "main");
	json_object_put(doc);
	client_env_free(&env);
}

static void test_client_store__sync_errors_are_recorded(void **state)
{
	client_env env;
	cairn_store_status status;
	cairn_sync_result result;
	/* Port 1 on loopback: nothing listens there. */
	cairn_remote remote = { CAIRN_REMOTE_VERSION, "http://127.0.0.1:1/v1", "proj", "key",
		"main", NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	json_object *doc;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_sync_once(&result, env.store, NULL), CAIRN_ENOREMOTE);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(cairn_store_set_remote(env.store, &remote), 0);
	assert_int_equal(cairn_sync_once(&result, env.store, NULL), CAIRN_EOFFLINE);
	assert_non_null(strstr(cairn_error_last(), "cannot reach http://127.0.0.1:1/v1"));
	assert_int_equal(result.pushed, 0);
	assert_int_equal(cairn_store_status_get(&status, env.store), 0);
	assert_true(status.last_sync_ms > 0);
	assert_int_equal(status.last_sync_result, CAIRN_EOFFLINE);
	assert_non_null(strstr(status.last_sync_error, "cannot reach"));
	assert_int_equal(status.pending, 1);
	doc = client_get(env.store, "items", "a");
	assert_int_equal(client_int(doc, "n"), 1);
	json_object_put(doc);
	client_env_free(&env);
}

static void test_client_store__options(void **state)
{
	cairn_store_options options;
	cairn_sync_options sync;
	cairn_store *store = (cairn_store *)1;

	(void)state;
	cairn_store_free(NULL);
	assert_int_equal(cairn_store_options_init(&options, 99), CAIRN_EINVALID);
	assert_int_equal(cairn_store_options_init(&options, CAIRN_STORE_OPTIONS_VERSION), 0);
	assert_int_equal(options.busy_timeout_ms, 5000);
	assert_int_equal(options.max_document_bytes, 1048576);
	options.version = 7;
	assert_int_equal(cairn_store_open(&store, "/tmp/never-created.db", &options),
		CAIRN_EINVALID);
	assert_null(store);
	assert_int_equal(cairn_store_open(&store, "/nonexistent-dir/x/store.db", NULL),
		CAIRN_EIO);
	assert_null(store);
	assert_int_equal(cairn_sync_options_init(&sync, CAIRN_SYNC_OPTIONS_VERSION), 0);
	assert_int_equal(sync.push_batch, 500);
	assert_int_equal(sync.pull_limit, 1000);
}

static void test_client_store__newer_schema_refused(void **state)
{
	client_env env;
	cairn_store *other = NULL;

	(void)state;
	client_env_init(&env);
	cairn_store_free(env.store);
	env.store = NULL;
	client_sql_exec(env.path, "UPDATE meta SET value = 99 WHERE key = 'schema_version'");
	assert_int_equal(cairn_store_open(&other, env.path, NULL), CAIRN_EINVALID);
	assert_non_null(strstr(cairn_error_last(), "newer"));
	assert_null(other);
	client_env_free(&env);
}

static void test_client_store__two_handles(void **state)
{
	client_env env;
	cairn_store *second = NULL;
	json_object *doc;
	json_object *outbox;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_store_open(&second, env.path, NULL), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_patch(second, "items", "a", "{\"m\":2}"), 0);
	doc = client_get(env.store, "items", "a");
	assert_int_equal(client_int(doc, "n"), 1);
	assert_int_equal(client_int(doc, "m"), 2);
	json_object_put(doc);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 2);
	/* The clock is shared through the file: the second handle's write is later. */
	assert_true(client_int(json_object_array_get_idx(outbox, 1), "hlc") >
		client_int(json_object_array_get_idx(outbox, 0), "hlc"));
	json_object_put(outbox);
	cairn_store_free(second);
	client_env_free(&env);
}

static void test_client_store__busy_writer(void **state)
{
	cairn_store_options options;
	client_env env;
	cairn_store *store = NULL;
	sqlite3 *locker = NULL;
	char *text = NULL;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"v\":1}"), 0);
	assert_int_equal(cairn_store_options_init(&options, CAIRN_STORE_OPTIONS_VERSION), 0);
	options.busy_timeout_ms = 50;
	assert_int_equal(cairn_store_open(&store, env.path, &options), 0);
	assert_int_equal(sqlite3_open(env.path, &locker), SQLITE_OK);
	assert_int_equal(sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(cairn_doc_put(store, "items", "b", "{}"), CAIRN_EBUSY);
	assert_int_equal(cairn_doc_patch(store, "items", "a", "{\"v\":2}"), CAIRN_EBUSY);
	/* Readers are not blocked by a writer (WAL). */
	assert_int_equal(cairn_doc_get(&text, store, "items", "a"), 0);
	cairn_free(text);
	assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(locker);
	assert_int_equal(cairn_doc_put(store, "items", "b", "{}"), 0);
	assert_int_equal(outbox_count(&env), 2);
	cairn_store_free(store);
	client_env_free(&env);
}

/* A child process writes as fast as it can and is killed mid-flight; afterwards every
 * document has its outbox entries and every outbox entry its document. */
static void test_client_store__crash_keeps_doc_and_outbox_together(void **state)
{
	client_env env;
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	cairn_store *store = NULL;
	int wstatus = 0;
	pid_t child;

	(void)state;
	client_env_init(&env);
	cairn_store_free(env.store);
	env.store = NULL;
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		cairn_store *writer = NULL;
		char id[32];

		cairn_test_child_init();

		if (cairn_store_open(&writer, env.path, NULL) != 0)
			_exit(2);
		for (unsigned i = 0;; i++) {
			snprintf(id, sizeof(id), "d%u", i);
			if (cairn_doc_put(writer, "items", id, "{\"payload\":\"some text\"}") != 0)
				_exit(3);
			if (i % 3 == 0 && cairn_doc_patch(writer, "items", id, "{\"p\":1}") != 0)
				_exit(4);
			if (i % 5 == 0 && cairn_doc_delete(writer, "items", id) != 0)
				_exit(5);
		}
	}
	nanosleep(&pause, NULL);
	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &wstatus, 0), child);
	assert_true(WIFSIGNALED(wstatus));

	assert_int_equal(cairn_store_open(&store, env.path, NULL), 0);
	assert_true(client_sql_int(env.path, "SELECT count(*) FROM docs") > 10);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs d WHERE NOT EXISTS "
		"(SELECT 1 FROM outbox o WHERE o.collection = d.collection AND o.doc_id = d.id)"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox o WHERE NOT EXISTS "
		"(SELECT 1 FROM docs d WHERE o.collection = d.collection AND o.doc_id = d.id)"), 0);
	/* Each document's latest outbox op matches its state in the view. */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs d WHERE d.deleted <> "
		"((SELECT op FROM outbox o WHERE o.doc_id = d.id ORDER BY seq DESC LIMIT 1) = "
		"'delete')"), 0);
	/* put + (patch when i%3==0) + (delete when i%5==0) per document; only the document
	 * being written when the kill came may have fewer (each call is its own commit). */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs d WHERE (SELECT "
		"count(*) FROM outbox o WHERE o.doc_id = d.id) <> 1 + "
		"(CAST(substr(d.id, 2) AS INTEGER) % 3 = 0) + (CAST(substr(d.id, 2) AS INTEGER) % 5 = 0)"
		" AND d.id <> (SELECT doc_id FROM outbox ORDER BY seq DESC LIMIT 1)"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM pragma_integrity_check "
		"WHERE integrity_check <> 'ok'"), 0);
	/* The store keeps working. */
	assert_int_equal(cairn_doc_put(store, "items", "after", "{}"), 0);
	cairn_store_free(store);
	client_env_free(&env);
}

/* Not a timing assertion: prints the single-put rate for the record. */
static void test_client_store__put_rate(void **state)
{
	client_env env;
	struct timespec start;
	struct timespec end;
	char id[32];
	double seconds;
	const int count = 20000;

	(void)state;
	client_env_init(&env);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int i = 0; i < count; i++) {
		snprintf(id, sizeof(id), "doc%d", i);
		assert_int_equal(cairn_doc_put(env.store, "items", id,
			"{\"title\":\"a typical small document\",\"qty\":12,\"done\":false}"), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	printf("# %d puts, each its own commit: %.0f puts/s\n", count, count / seconds);
	assert_int_equal(outbox_count(&env), count);
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_store__put_get_roundtrip),
		cmocka_unit_test(test_client_store__permissions_given),
		cmocka_unit_test(test_client_store__patch_and_delete),
		cmocka_unit_test(test_client_store__validation_changes_nothing),
		cmocka_unit_test(test_client_store__outbox_entries),
		cmocka_unit_test(test_client_store__hlc_monotonic_across_reopen),
		cmocka_unit_test(test_client_store__status_and_remote),
		cmocka_unit_test(test_client_store__sync_errors_are_recorded),
		cmocka_unit_test(test_client_store__options),
		cmocka_unit_test(test_client_store__newer_schema_refused),
		cmocka_unit_test(test_client_store__two_handles),
		cmocka_unit_test(test_client_store__busy_writer),
		cmocka_unit_test(test_client_store__crash_keeps_doc_and_outbox_together),
		cmocka_unit_test(test_client_store__put_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
