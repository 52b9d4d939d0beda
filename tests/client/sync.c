/* sync.c: cairn_sync_once against the real `cairn serve`: push, pull, conflicts, deletes,
 * batching and progress, rejections, bad credentials and an unreachable server. */
#include <time.h>

#include "client/client_test.h"
#include "client/store_int.h"
#include "support/server_proc.h"

#define KEY "client-test-key"

typedef struct {
	char dir[64];
	char data[96];
	cairn_test_server *server;
	cairn_store *a;
	cairn_store *b;
} world;

static cairn_store *open_store(world *w, const char *name, const char *database,
	const char *key)
{
	cairn_remote remote = { CAIRN_REMOTE_VERSION, cairn_test_server_url(w->server), "test",
		key, database, NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	cairn_store *store = NULL;
	char path[160];

	snprintf(path, sizeof(path), "%s/%s.db", w->dir, name);
	assert_int_equal(cairn_store_open(&store, path, NULL), 0);
	assert_int_equal(cairn_store_set_remote(store, &remote), 0);
	return store;
}

static int setup(void **state)
{
	world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	snprintf(w->dir, sizeof(w->dir), "/tmp/cairn-client-sync-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->data, sizeof(w->data), "%s/server", w->dir);
	if (cairn_test_server_start(&w->server, w->data, "test", KEY) != 0)
		fail_msg("the server did not start");
	w->a = open_store(w, "a", "main", KEY);
	w->b = open_store(w, "b", "main", KEY);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	world *w = *state;

	cairn_store_free(w->a);
	cairn_store_free(w->b);
	if (w->server)
		cairn_test_server_stop(w->server);
	nftw(w->dir, client_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(w);
	return 0;
}

static void sync_ok(cairn_sync_result *result, cairn_store *store,
	const cairn_sync_options *options)
{
	int rc = cairn_sync_once(result, store, options);

	if (rc != 0)
		fail_msg("sync failed: %d %s", rc, cairn_error_last());
}

/* The documents of a collection (ids and user fields) as canonical text, for comparing. */
static char *snapshot(cairn_store *store, const char *collection)
{
	const char *order[] = { "{\"method\":\"orderAsc\",\"attribute\":\"$id\"}" };
	char *text = NULL;
	json_object *list;
	json_object *out = json_object_new_array();
	char *result;

	assert_int_equal(cairn_doc_query(&text, store, collection, order, 1), 0);
	list = client_parse_owned(text);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *doc = json_object_array_get_idx(list, i);
		json_object *entry = json_object_new_object();
		json_object_object_foreach(doc, key, value) {
			if (key[0] != '$' || strcmp(key, "$id") == 0)
				json_object_object_add(entry, key, json_object_get(value));
		}
		json_object_array_add(out, entry);
	}
	result = strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	json_object_put(list);
	return result;
}

static void assert_same(cairn_store *a, cairn_store *b, const char *collection)
{
	char *left = snapshot(a, collection);
	char *right = snapshot(b, collection);

	if (strcmp(left, right) != 0)
		fail_msg("stores differ:\n  %s\n  %s", left, right);
	free(left);
	free(right);
}

static void test_client_sync__push_then_pull(void **state)
{
	world *w = *state;
	cairn_sync_result result;
	cairn_store_status status;
	json_object *doc;
	char *text = NULL;
	char *body = NULL;
	char url[256];
	const char *headers[] = { "X-Appwrite-Project: test", "X-Appwrite-Key: " KEY, NULL };
	long http_status = 0;

	assert_int_equal(cairn_doc_put(w->a, "items", "apple", "{\"name\":\"apple\",\"qty\":1}"),
		0);
	assert_int_equal(cairn_doc_put(w->a, "items", "pear", "{\"name\":\"pear\"}"), 0);
	assert_int_equal(cairn_doc_patch(w->a, "items", "apple", "{\"qty\":2}"), 0);
	assert_int_equal(cairn_doc_put(w->a, "notes", "n1",
		"{\"text\":\"hi\",\"$permissions\":[\"read(\\\"any\\\")\"]}"), 0);
	sync_ok(&result, w->a, NULL);
	assert_int_equal(result.pushed, 4);
	assert_int_equal(result.conflicts, 0);
	assert_int_equal(result.rejected, 0);
	assert_true(result.checkpoint >= 4);
	assert_int_equal(cairn_store_status_get(&status, w->a), 0);
	assert_int_equal(status.pending, 0);
	assert_int_equal(status.last_sync_result, 0);
	assert_string_equal(status.last_sync_error, "");

	/* The server holds them (REST). */
	snprintf(url, sizeof(url), "%s/databases/main/collections/items/documents/apple",
		cairn_test_server_url(w->server));
	assert_int_equal(cairn_test_http(&http_status, &body, "GET", url, headers, NULL, 0), 0);
	assert_int_equal(http_status, 200);
	doc = json_tokener_parse(body);
	free(body);
	assert_int_equal(client_int(doc, "qty"), 2);
	json_object_put(doc);

	sync_ok(&result, w->b, NULL);
	assert_int_equal(result.pushed, 0);
	assert_int_equal(result.pulled, 3);
	assert_same(w->a, w->b, "items");
	assert_same(w->a, w->b, "notes");
	doc = client_get(w->b, "notes", "n1");
	assert_string_equal(client_string(doc, "$databaseId"), "main");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
		json_object_object_get(doc, "$permissions"), 0)), "read(\"any\")");
	json_object_put(doc);
	/* Timestamps are the server's on both sides. */
	assert_int_equal(cairn_doc_get(&text, w->a, "items", "pear"), 0);
	body = text;
	text = NULL;
	assert_int_equal(cairn_doc_get(&text, w->b, "items", "pear"), 0);
	assert_string_equal(body, text);
	cairn_free(body);
	cairn_free(text);

	/* A second round moves nothing. */
	sync_ok(&result, w->a, NULL);
	assert_int_equal(result.pushed + result.pulled + result.conflicts, 0);
}

static void test_client_sync__conflict_last_writer_wins(void **state)
{
	world *w = *state;
	cairn_sync_result result;
	json_object *doc;
	json_object *conflicts;
	struct timespec pause = { 0, 5 * 1000 * 1000 };

	assert_int_equal(cairn_doc_put(w->a, "items", "c", "{\"v\":0}"), 0);
	sync_ok(&result, w->a, NULL);
	sync_ok(&result, w->b, NULL);
	/* Both edit offline; A's edit is later. B syncs first, then A: A wins. */
	assert_int_equal(cairn_doc_patch(w->b, "items", "c", "{\"v\":\"b\",\"onlyB\":1}"), 0);
	nanosleep(&pause, NULL);
	assert_int_equal(cairn_doc_put(w->a, "items", "c", "{\"v\":\"a\"}"), 0);
	sync_ok(&result, w->b, NULL);
	assert_int_equal(result.pushed, 1);
	sync_ok(&result, w->a, NULL);
	assert_int_equal(result.conflicts, 1);
	assert_int_equal(result.pushed, 1);
	doc = client_get(w->a, "items", "c");
	assert_string_equal(client_string(doc, "v"), "a");
	assert_false(json_object_object_get_ex(doc, "onlyB", NULL));
	json_object_put(doc);
	conflicts = client_conflicts(w->a);
	assert_string_equal(client_string(json_object_array_get_idx(conflicts, 0), "winner"),
		"local");
	assert_string_equal(client_string(json_object_object_get(
		json_object_array_get_idx(conflicts, 0), "remote"), "v"), "b");
	json_object_put(conflicts);
	sync_ok(&result, w->b, NULL);
	assert_same(w->a, w->b, "items");

	/* Now B's later edit loses nothing when A's older offline edit arrives after it. */
	assert_int_equal(cairn_doc_patch(w->a, "items", "c", "{\"v\":\"a2\"}"), 0);
	nanosleep(&pause, NULL);
	assert_int_equal(cairn_doc_patch(w->b, "items", "c", "{\"v\":\"b2\"}"), 0);
	sync_ok(&result, w->b, NULL);
	sync_ok(&result, w->a, NULL);
	assert_int_equal(result.conflicts, 1);
	assert_int_equal(result.pushed, 0);
	doc = client_get(w->a, "items", "c");
	assert_string_equal(client_string(doc, "v"), "b2");
	json_object_put(doc);
	conflicts = client_conflicts(w->a);
	assert_string_equal(client_string(json_object_array_get_idx(conflicts, 0), "winner"),
		"remote");
	assert_string_equal(client_string(json_object_object_get(
		json_object_array_get_idx(conflicts, 0), "local"), "v"), "a2");
	json_object_put(conflicts);
	sync_ok(&result, w->b, NULL);
	assert_same(w->a, w->b, "items");
}

static void test_client_sync__deletes_propagate(void **state)
{
	world *w = *state;
	cairn_sync_result result;
	char *text = NULL;

	assert_int_equal(cairn_doc_put(w->a, "items", "del", "{\"v\":1}"), 0);
	sync_ok(&result, w->a, NULL);
	sync_ok(&result, w->b, NULL);
	assert_int_equal(cairn_doc_get(&text, w->b, "items", "del"), 0);
	cairn_free(text);
	text = NULL;
	assert_int_equal(cairn_doc_delete(w->b, "items", "del"), 0);
	sync_ok(&result, w->b, NULL);
	assert_int_equal(result.pushed, 1);
	sync_ok(&result, w->a, NULL);
	assert_int_equal(cairn_doc_get(&text, w->a, "items", "del"), CAIRN_ENOTFOUND);
	/* Re-create after the tombstone: the base is the tombstone's version, no conflict. */
	assert_int_equal(cairn_doc_put(w->a, "items", "del", "{\"v\":2}"), 0);
	sync_ok(&result, w->a, NULL);
	assert_int_equal(result.conflicts, 0);
	assert_int_equal(result.pushed, 1);
	sync_ok(&result, w->b, NULL);
	assert_same(w->a, w->b, "items");
}

typedef struct {
	unsigned push_calls;
	unsigned pull_calls;
	uint64_t last_push_done;
	uint64_t last_push_total;
	int stop_after;
} progress_log;

static int on_progress(const cairn_sync_progress *progress, void *payload)
{
	progress_log *log = payload;

	assert_true(progress->elapsed_s >= 0);
	if (progress->phase == CAIRN_SYNC_PHASE_PUSH) {
		log->push_calls++;
		assert_true(progress->done >= log->last_push_done);
		assert_true(progress->done <= progress->total);
		log->last_push_done = progress->done;
		log->last_push_total = progress->total;
	} else {
		log->pull_calls++;
	}
	return log->stop_after && log->push_calls >= (unsigned)log->stop_after ? 7 : 0;
}

static void test_client_sync__batches_pages_and_progress(void **state)
{
	world *w = *state;
	cairn_sync_options options;
	cairn_sync_result result;
	cairn_store_status status;
	progress_log log = { 0 };
	char id[16];

	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "bulk%02d", i);
		assert_int_equal(cairn_doc_put(w->a, "bulk", id, "{\"n\":1}"), 0);
	}
	assert_int_equal(cairn_sync_options_init(&options, CAIRN_SYNC_OPTIONS_VERSION), 0);
	options.push_batch = 7;
	options.pull_limit = 10;
	options.progress = on_progress;
	options.payload = &log;
	/* Stopped by the callback after two batches: 14 pushed, the rest still pending. */
	log.stop_after = 2;
	assert_int_equal(cairn_sync_once(&result, w->a, &options), CAIRN_EUSER);
	assert_int_equal(result.pushed, 14);
	assert_int_equal(cairn_store_status_get(&status, w->a), 0);
	assert_int_equal(status.pending, 36);
	assert_int_equal(status.last_sync_result, CAIRN_EUSER);

	memset(&log, 0, sizeof(log));
	sync_ok(&result, w->a, &options);
	assert_int_equal(result.pushed, 36);
	assert_int_equal(log.push_calls, 6);
	assert_int_equal(log.last_push_done, 36);
	assert_int_equal(log.last_push_total, 36);

	memset(&log, 0, sizeof(log));
	sync_ok(&result, w->b, &options);
	assert_int_equal(result.pulled, 50);
	assert_true(log.pull_calls >= 5);
	assert_same(w->a, w->b, "bulk");
}

static void test_client_sync__rejected_is_parked(void **state)
{
	world *w = *state;
	cairn_store_options store_options;
	cairn_sync_result result;
	cairn_store_status status;
	cairn_store *big = NULL;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, cairn_test_server_url(w->server), "test",
		KEY, "main", NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	json_object *outbox;
	size_t size = 1200 * 1024;
	char *json = malloc(size + 32);
	char path[160];
	char *text = NULL;

	/* This store allows 2 MiB documents; the server's limit is 1 MiB. */
	assert_int_equal(cairn_store_options_init(&store_options, CAIRN_STORE_OPTIONS_VERSION), 0);
	store_options.max_document_bytes = 2 * 1024 * 1024;
	snprintf(path, sizeof(path), "%s/big.db", w->dir);
	assert_int_equal(cairn_store_open(&big, path, &store_options), 0);
	assert_int_equal(cairn_store_set_remote(big, &remote), 0);
	strcpy(json, "{\"blob\":\"");
	memset(json + 9, 'x', size);
	strcpy(json + 9 + size, "\"}");
	assert_int_equal(cairn_doc_put(big, "items", "huge", json), 0);
	assert_int_equal(cairn_doc_put(big, "items", "small", "{\"ok\":true}"), 0);
	free(json);
	sync_ok(&result, big, NULL);
	assert_int_equal(result.rejected, 1);
	assert_int_equal(result.pushed, 1);
	assert_int_equal(cairn_store_status_get(&status, big), 0);
	assert_int_equal(status.pending, 0);
	assert_int_equal(status.rejected, 1);
	outbox = client_outbox(big);
	assert_int_equal(json_object_array_length(outbox), 1);
	assert_string_equal(client_string(json_object_array_get_idx(outbox, 0), "state"),
		"rejected");
	assert_true(strlen(client_string(json_object_array_get_idx(outbox, 0), "error")) > 0);
	json_object_put(outbox);
	/* The view no longer shows what the server refused. */
	assert_int_equal(cairn_doc_get(&text, big, "items", "huge"), CAIRN_ENOTFOUND);
	/* A later sync does not resend it. */
	sync_ok(&result, big, NULL);
	assert_int_equal(result.rejected + result.pushed, 0);
	cairn_store_free(big);
}

static void test_client_sync__deep_document_does_not_block(void **state)
{
	world *w = *state;
	cairn_sync_result result;
	cairn_store_status status;
	char deep[400];
	size_t at = 0;

	/* 32 levels: valid locally. If the server cannot take it inside a push body, the
	 * mutation is parked as rejected and everything else still goes through. */
	for (int i = 0; i < 31; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "{\"a\":");
	at += (size_t)snprintf(deep + at, sizeof(deep) - at, "{}");
	for (int i = 0; i < 31; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "}");
	assert_int_equal(cairn_doc_put(w->a, "items", "ok1", "{}"), 0);
	assert_int_equal(cairn_doc_put(w->a, "items", "deep", deep), 0);
	assert_int_equal(cairn_doc_put(w->a, "items", "ok2", "{}"), 0);
	sync_ok(&result, w->a, NULL);
	assert_int_equal(result.pushed + result.rejected, 3);
	assert_true(result.pushed >= 2);
	assert_int_equal(cairn_store_status_get(&status, w->a), 0);
	assert_int_equal(status.pending, 0);
	if (result.rejected) {
		json_object *outbox = client_outbox(w->a);
		json_object *entry = json_object_array_get_idx(outbox, 0);

		assert_int_equal(json_object_array_length(outbox), 1);
		assert_string_equal(client_string(entry, "documentId"), "deep");
		printf("# the server refused a 32-level document in a push: %s\n",
			client_string(entry, "error"));
		json_object_put(outbox);
	}
}

/* The server applied a batch but the reply never arrived: the next sync sends the same
 * mutation ids, gets the stored outcomes back and applies them once. */
static void test_client_sync__lost_response_is_replayed(void **state)
{
	world *w = *state;
	cairn_sync_result result;
	cairn__mutation *mutations = NULL;
	const char *headers[] = { "X-Appwrite-Project: test", "X-Appwrite-Key: " KEY,
		"Content-Type: application/json", NULL };
	json_object *doc;
	json_object *conflicts;
	char *body = NULL;
	char *reply = NULL;
	char url[256];
	size_t length = 0;
	size_t count = 0;
	long status = 0;

	/* Create the database and collection with a first sync. */
	assert_int_equal(cairn_doc_put(w->a, "items", "seed", "{}"), 0);
	sync_ok(&result, w->a, NULL);
	assert_int_equal(cairn_doc_put(w->a, "items", "r", "{\"v\":1}"), 0);
	assert_int_equal(cairn_doc_patch(w->a, "items", "r", "{\"w\":2}"), 0);
	assert_int_equal(cairn__outbox_load_batch(&mutations, &count, w->a, 10), 0);
	assert_int_equal(count, 2);
	assert_int_equal(cairn__push_body(&body, &length, w->a, mutations, count, 1), 0);
	snprintf(url, sizeof(url), "%s/sync/databases/main/push",
		cairn_test_server_url(w->server));
	assert_int_equal(cairn_test_http(&status, &reply, "POST", url, headers, body, length), 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(reply, "applied"));
	free(reply);
	free(body);
	cairn__mutations_free(mutations, count);

	sync_ok(&result, w->a, NULL);
	assert_int_equal(result.pushed, 2);
	assert_int_equal(result.conflicts, 0);
	conflicts = client_conflicts(w->a);
	assert_int_equal(json_object_array_length(conflicts), 0);
	json_object_put(conflicts);
	doc = client_get(w->a, "items", "r");
	assert_int_equal(client_int(doc, "v"), 1);
	assert_int_equal(client_int(doc, "w"), 2);
	json_object_put(doc);
	sync_ok(&result, w->b, NULL);
	assert_same(w->a, w->b, "items");
}

static void test_client_sync__bad_key_and_offline(void **state)
{
	world *w = *state;
	cairn_sync_result result;
	cairn_store_status status;
	cairn_store *intruder = open_store(w, "intruder", "main", "wrong-key");
	json_object *doc;

	assert_int_equal(cairn_doc_put(intruder, "items", "x", "{}"), 0);
	assert_int_equal(cairn_sync_once(&result, intruder, NULL), CAIRN_EAUTH);
	assert_int_equal(cairn_store_status_get(&status, intruder), 0);
	assert_int_equal(status.pending, 1);
	cairn_store_free(intruder);

	assert_int_equal(cairn_doc_put(w->a, "items", "offline", "{\"v\":1}"), 0);
	cairn_test_server_crash(w->server);
	assert_int_equal(cairn_sync_once(&result, w->a, NULL), CAIRN_EOFFLINE);
	assert_non_null(strstr(cairn_error_last(), "cannot reach"));
	doc = client_get(w->a, "items", "offline");
	json_object_put(doc);
	assert_int_equal(cairn_test_server_restart(w->server), 0);
	{
		cairn_remote remote = { CAIRN_REMOTE_VERSION, cairn_test_server_url(w->server),
			"test", KEY, "main", NULL, 0, NULL, CAIRN_REMOTE_SYNC };
		assert_int_equal(cairn_store_set_remote(w->a, &remote), 0);
		assert_int_equal(cairn_store_set_remote(w->b, &remote), 0);
	}
	sync_ok(&result, w->a, NULL);
	assert_int_equal(result.pushed, 1);
	sync_ok(&result, w->b, NULL);
	assert_same(w->a, w->b, "items");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_client_sync__push_then_pull, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_sync__conflict_last_writer_wins, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_client_sync__deletes_propagate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_sync__batches_pages_and_progress, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_client_sync__rejected_is_parked, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_client_sync__deep_document_does_not_block, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_client_sync__lost_response_is_replayed, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_client_sync__bad_key_and_offline, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
