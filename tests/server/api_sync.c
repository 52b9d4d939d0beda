/* api_sync.c: /v1/sync push (idempotency, conflicts, chains, rejections) and pull (paging,
 * byte budget, checkpoints, tombstones). */
#include "api_harness.h"

#define PUSH "/v1/sync/databases/main/push"
#define PULL "/v1/sync/databases/main/pull"
#define CLIENT "c-client-one"

static json_object *result_at(const api_reply *reply, size_t index)
{
	json_object *results = json_get(reply->json, "results");

	assert_non_null(results);
	assert_true(index < json_object_array_length(results));
	return json_object_array_get_idx(results, index);
}

static void assert_result(const api_reply *reply, size_t index, const char *mutation_id,
	const char *status)
{
	json_object *result = result_at(reply, index);

	if (strcmp(json_str(result, "status"), status) != 0)
		print_error("result %zu: expected %s, got %s\n", index, status,
			json_object_to_json_string(result));
	assert_string_equal(json_str(result, "mutationId"), mutation_id);
	assert_string_equal(json_str(result, "status"), status);
}

static api_reply pull(harness *h, int64_t checkpoint, int limit, int64_t max_bytes,
	const char *collections)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"checkpoint\":%lld,\"limit\":%d,\"maxBytes\":%lld%s%s}",
		(long long)checkpoint, limit, (long long)max_bytes,
		collections ? ",\"collections\":" : "", collections ? collections : "");
	return api_call(h, "POST", PULL, body);
}

/* Pulls everything from 0 and returns the number of changes; asserts more is false. */
static size_t count_changes(harness *h)
{
	api_reply reply = pull(h, 0, 10000, 1 << 30, NULL);
	size_t count;

	assert_status(&reply, 200);
	assert_false(json_object_get_boolean(json_get(reply.json, "more")));
	count = json_object_array_length(json_get(reply.json, "changes"));
	reply_free(&reply);
	return count;
}

static void test_server_api_sync__push_put_and_pull(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PUSH, "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"doca\","
		"\"baseVersion\":0,\"prevMutationId\":null,\"hlc\":116916434190090240,"
		"\"data\":{\"title\":\"alpha\",\"$id\":\"ignored\"},"
		"\"permissions\":[\"read(\\\"any\\\")\"]}]}");
	json_object *result;
	json_object *document;
	json_object *change;
	int64_t version;

	assert_status(&reply, 200);
	/* The server says it takes the text form (a client sends it only after this). */
	assert_true(json_object_get_boolean(json_get(reply.json, "dataAsText")));
	assert_result(&reply, 0, "m1", "applied");
	result = result_at(&reply, 0);
	version = json_int(result, "version");
	assert_true(version >= 1);
	document = json_get(result, "document");
	assert_string_equal(json_str(document, "$id"), "doca");
	assert_string_equal(json_str(document, "title"), "alpha");
	assert_int_equal(json_int(document, "$version"), version);
	assert_int_equal(json_object_array_length(json_get(document, "$permissions")), 1);
	reply_free(&reply);

	reply = pull(h, 0, 1000, 4194304, NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 1);
	change = json_object_array_get_idx(json_get(reply.json, "changes"), 0);
	assert_string_equal(json_str(change, "collection"), "items");
	assert_string_equal(json_str(change, "id"), "doca");
	assert_int_equal(json_int(change, "version"), version);
	assert_false(json_object_get_boolean(json_get(change, "deleted")));
	assert_int_equal(json_int(change, "hlc"), 116916434190090240LL);
	assert_string_equal(json_str(change, "author"), CLIENT);
	assert_string_equal(json_str(json_get(change, "document"), "title"), "alpha");
	assert_string_equal(json_str(json_get(change, "document"), "$databaseId"), "main");
	assert_int_equal(json_int(reply.json, "checkpoint"), version);
	assert_false(json_object_get_boolean(json_get(reply.json, "more")));
	reply_free(&reply);

	/* The REST view shows the same document. */
	reply = api_call(h, "GET", "/v1/databases/main/collections/items/documents/doca", NULL);
	assert_status(&reply, 200);
	assert_string_equal(json_str(reply.json, "title"), "alpha");
	assert_string_equal(json_str(reply.json, "$id"), "doca");
	reply_free(&reply);
}

static void test_server_api_sync__push_is_idempotent(void **state)
{
	harness *h = *state;
	const char *batch = "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"hlc\":10,\"data\":{\"v\":1}},"
		"{\"mutationId\":\"m2\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"b\","
		"\"baseVersion\":0,\"hlc\":11,\"data\":{\"v\":2}},"
		"{\"mutationId\":\"m3\",\"op\":\"patch\",\"collection\":\"nope\",\"id\":\"c\","
		"\"baseVersion\":0,\"hlc\":12,\"data\":{\"v\":3}}]}";
	api_reply first = api_call(h, "POST", PUSH, batch);
	api_reply second;
	api_reply last;

	assert_status(&first, 200);
	assert_result(&first, 0, "m1", "applied");
	assert_result(&first, 1, "m2", "applied");
	assert_result(&first, 2, "m3", "rejected");
	second = api_call(h, "POST", PUSH, batch);
	assert_status(&second, 200);
	for (size_t i = 0; i < 3; i++) {
		json_object *a = result_at(&first, i);
		json_object *b = result_at(&second, i);
		assert_string_equal(json_str(a, "status"), json_str(b, "status"));
		if (strcmp(json_str(a, "status"), "applied") == 0)
			assert_int_equal(json_int(a, "version"), json_int(b, "version"));
	}
	/* Nothing doubled: two changes, and the next write gets the very next version. */
	assert_int_equal(count_changes(h), 2);
	last = api_call(h, "POST", PUSH, "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m4\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"d\","
		"\"baseVersion\":0,\"hlc\":13,\"data\":{}}]}");
	assert_result(&last, 0, "m4", "applied");
	assert_int_equal(json_int(result_at(&last, 0), "version"),
		json_int(result_at(&first, 1), "version") + 1);
	reply_free(&first);
	reply_free(&second);
	reply_free(&last);
}

static void test_server_api_sync__conflict(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PUSH, "{\"clientId\":\"c-other\",\"mutations\":["
		"{\"mutationId\":\"o1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"hlc\":100,\"data\":{\"who\":\"other\"}}]}");
	json_object *current;
	int64_t version;
	char body[512];

	assert_result(&reply, 0, "o1", "applied");
	version = json_int(result_at(&reply, 0), "version");
	reply_free(&reply);

	/* This client edited on base 0 too: a conflict, nothing written. */
	reply = api_call(h, "POST", PUSH, "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"hlc\":99,\"data\":{\"who\":\"me\"}}]}");
	assert_status(&reply, 200);
	assert_result(&reply, 0, "m1", "conflict");
	current = json_get(result_at(&reply, 0), "current");
	assert_int_equal(json_int(current, "version"), version);
	assert_false(json_object_get_boolean(json_get(current, "deleted")));
	assert_int_equal(json_int(current, "hlc"), 100);
	assert_string_equal(json_str(current, "author"), "c-other");
	assert_string_equal(json_str(json_get(current, "document"), "who"), "other");
	reply_free(&reply);
	assert_int_equal(count_changes(h), 1);

	/* Conflicts are not remembered: the same mutation id on the new base applies. */
	snprintf(body, sizeof(body), "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":%lld,\"hlc\":101,\"data\":{\"who\":\"me\"}}]}", (long long)version);
	reply = api_call(h, "POST", PUSH, body);
	assert_result(&reply, 0, "m1", "applied");
	assert_string_equal(json_str(json_get(result_at(&reply, 0), "document"), "who"), "me");
	reply_free(&reply);

	/* A conflict on a document that never existed reports version 0 and no document. */
	reply = api_call(h, "POST", PUSH, "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m9\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"never\","
		"\"baseVersion\":7,\"hlc\":1,\"data\":{}}]}");
	assert_result(&reply, 0, "m9", "conflict");
	current = json_get(result_at(&reply, 0), "current");
	assert_int_equal(json_int(current, "version"), 0);
	assert_true(json_object_get_boolean(json_get(current, "deleted")));
	assert_true(json_object_object_get_ex(current, "document", NULL));
	assert_null(json_get(current, "document"));
	reply_free(&reply);
}

static void test_server_api_sync__prev_mutation_chain(void **state)
{
	harness *h = *state;
	const char *batch = "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"hlc\":1,\"data\":{\"x\":1}},"
		"{\"mutationId\":\"m2\",\"op\":\"patch\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"prevMutationId\":\"m1\",\"hlc\":2,\"data\":{\"y\":2}},"
		"{\"mutationId\":\"m3\",\"op\":\"patch\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"prevMutationId\":\"m2\",\"hlc\":3,\"data\":{\"z\":3}}]}";
	api_reply reply = api_call(h, "POST", PUSH, batch);
	json_object *document;

	assert_status(&reply, 200);
	assert_result(&reply, 0, "m1", "applied");
	assert_result(&reply, 1, "m2", "applied");
	assert_result(&reply, 2, "m3", "applied");
	document = json_get(result_at(&reply, 2), "document");
	assert_int_equal(json_int(document, "x"), 1);
	assert_int_equal(json_int(document, "y"), 2);
	assert_int_equal(json_int(document, "z"), 3);
	reply_free(&reply);

	/* A retry after a lost response: all stored outcomes, no new writes. */
	reply = api_call(h, "POST", PUSH, batch);
	assert_result(&reply, 2, "m3", "applied");
	reply_free(&reply);
	assert_int_equal(count_changes(h), 1);

	/* Another client's edit on base 0 with a prevMutationId that is not its own. */
	reply = api_call(h, "POST", PUSH, "{\"clientId\":\"c-other\",\"mutations\":["
		"{\"mutationId\":\"o1\",\"op\":\"patch\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"prevMutationId\":\"m3\",\"hlc\":4,\"data\":{\"w\":1}}]}");
	assert_result(&reply, 0, "o1", "conflict");
	reply_free(&reply);
}

static void test_server_api_sync__delete_and_tombstone(void **state)
{
	harness *h = *state;
	api_reply reply = api_call(h, "POST", PUSH, "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m1\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":0,\"hlc\":1,\"data\":{\"x\":1}}]}");
	int64_t version = json_int(result_at(&reply, 0), "version");
	char body[512];
	json_object *change;

	reply_free(&reply);
	snprintf(body, sizeof(body), "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"m2\",\"op\":\"delete\",\"collection\":\"items\",\"id\":\"a\","
		"\"baseVersion\":%lld,\"hlc\":2}]}", (long long)version);
	reply = api_call(h, "POST", PUSH, body);
	assert_result(&reply, 0, "m2", "applied");
	assert_true(json_int(result_at(&reply, 0), "version") > version);
	assert_true(json_object_object_get_ex(result_at(&reply, 0), "document", NULL));
	assert_null(json_get(result_at(&reply, 0), "document"));
	reply_free(&reply);

	reply = pull(h, 0, 100, 1 << 20, NULL);
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 1);
	change = json_object_array_get_idx(json_get(reply.json, "changes"), 0);
	assert_true(json_object_get_boolean(json_get(change, "deleted")));
	assert_true(json_object_object_get_ex(change, "document", NULL));
	assert_null(json_get(change, "document"));
	assert_int_equal(json_int(change, "hlc"), 2);
	reply_free(&reply);

	reply = api_call(h, "GET", "/v1/databases/main/collections/items/documents/a", NULL);
	assert_error(&reply, 404, "document_not_found");
	reply_free(&reply);

	/* REST deletes show up as tombstones with author "". */
	api_expect(h, "POST", "/v1/databases/main/collections/items/documents",
		"{\"documentId\":\"r\",\"data\":{}}", 201);
	api_expect(h, "DELETE", "/v1/databases/main/collections/items/documents/r", NULL, 204);
	reply = pull(h, 0, 100, 1 << 20, NULL);
	change = json_object_array_get_idx(json_get(reply.json, "changes"), 1);
	assert_string_equal(json_str(change, "id"), "r");
	assert_true(json_object_get_boolean(json_get(change, "deleted")));
	assert_string_equal(json_str(change, "author"), "");
	reply_free(&reply);
}

static void test_server_api_sync__rejections(void **state)
{
	harness *h = *state;
	char *big = malloc(1100 * 1024);
	char *body = malloc(1200 * 1024);
	api_reply reply;
	json_object *error;

	assert_non_null(big);
	assert_non_null(body);
	memset(big, 'x', 1100 * 1024 - 1);
	big[1100 * 1024 - 1] = '\0';
	snprintf(body, 1200 * 1024, "{\"clientId\":\"" CLIENT "\",\"mutations\":["
		"{\"mutationId\":\"r1\",\"op\":\"put\",\"collection\":\"nope\",\"id\":\"a\",\"data\":{}},"
		"{\"mutationId\":\"r2\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"_bad\","
		"\"data\":{}},"
		"{\"mutationId\":\"r3\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"data\":[1]},"
		"{\"mutationId\":\"r4\",\"op\":\"patch\",\"collection\":\"items\",\"id\":\"missing\","
		"\"data\":{\"x\":1}},"
		"{\"mutationId\":\"r5\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"data\":{\"blob\":\"%s\"}},"
		"{\"mutationId\":\"r6\",\"op\":\"delete\",\"collection\":\"items\",\"id\":\"missing\"},"
		"{\"mutationId\":\"ok\",\"op\":\"put\",\"collection\":\"items\",\"id\":\"a\","
		"\"data\":{\"fine\":true}}]}", big);
	free(big);
	reply = api_call(h, "POST", PUSH, body);
	free(body);
	assert_status(&reply, 200);
	assert_result(&reply, 0, "r1", "rejected");
	error = json_get(result_at(&reply, 0), "error");
	assert_string_equal(json_str(error, "type"), "collection_not_found");
	assert_int_equal(json_int(error, "code"), 404);
	assert_non_null(json_str(error, "message"));
	assert_result(&reply, 1, "r2", "rejected");
	assert_int_equal(json_int(json_get(result_at(&reply, 1), "error"), "code"), 400);
	assert_result(&reply, 2, "r3", "rejected");
	assert_string_equal(json_str(json_get(result_at(&reply, 2), "error"), "type"),
		"document_invalid_structure");
	assert_result(&reply, 3, "r4", "rejected");
	assert_string_equal(json_str(json_get(result_at(&reply, 3), "error"), "type"),
		"document_not_found");
	assert_result(&reply, 4, "r5", "rejected");
	assert_string_equal(json_str(json_get(result_at(&reply, 4), "error"), "type"),
		"document_invalid_structure");
	assert_result(&reply, 5, "r6", "rejected");
	/* Rejections do not block the mutations behind them. */
	assert_result(&reply, 6, "ok", "applied");
	reply_free(&reply);
	assert_int_equal(count_changes(h), 1);
}

static void test_server_api_sync__malformed_push(void **state)
{
	harness *h = *state;
	static const char *const bodies[] = {
		"{\"mutations\":[{\"mutationId\":\"m\",\"op\":\"put\",\"collection\":\"items\","
			"\"id\":\"a\",\"data\":{}}]}",
		"{\"clientId\":\"bad id\",\"mutations\":[]}",
		"{\"clientId\":\"" CLIENT "\"}",
		"{\"clientId\":\"" CLIENT "\",\"mutations\":[]}",
		"{\"clientId\":\"" CLIENT "\",\"mutations\":{}}",
		"{\"clientId\":\"" CLIENT "\",\"mutations\":[{\"mutationId\":\"m\",\"op\":\"put\","
			"\"collection\":\"items\",\"id\":\"a\",\"data\":{}}, 7]}",
		"{\"clientId\":\"" CLIENT "\",\"mutations\":[{\"op\":\"put\",\"collection\":\"items\","
			"\"id\":\"a\",\"data\":{}}]}",
		"{\"clientId\":\"" CLIENT "\",\"mutations\":[{\"mutationId\":\"m\",\"op\":\"upsert\","
			"\"collection\":\"items\",\"id\":\"a\",\"data\":{}}]}",
		"{\"clientId\":\"" CLIENT "\",\"mutations\":[{\"mutationId\":\"m\",\"op\":\"put\","
			"\"collection\":\"items\",\"id\":\"a\",\"baseVersion\":\"1\",\"data\":{}}]}",
		"{\"clientId\":\"" CLIENT "\",\"mutations\":[{\"mutationId\":\"m\",\"op\":\"put\","
			"\"collection\":\"items\",\"id\":\"a\",\"baseVersion\":-1,\"data\":{}}]}",
		"{\"clientId\":\"" CLIENT "\",\"mutations\":[{\"mutationId\":\"m\",\"op\":\"put\","
			"\"collection\":\"items\",\"id\":\"a\",\"hlc\":1.5,\"data\":{}}]}",
		"{\"clientId\":\"" CLIENT "\",\"mutations\":[{\"mutationId\":\"m\",\"op\":\"put\","
			"\"collection\":\"items\",\"id\":\"a\",\"prevMutationId\":5,\"data\":{}}]}",
	};
	api_reply reply;
	char *many;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		reply = api_call(h, "POST", PUSH, bodies[i]);
		assert_error(&reply, 400, "general_argument_invalid");
		reply_free(&reply);
	}
	/* 1001 mutations. */
	many = malloc(1001 * 128 + 128);
	assert_non_null(many);
	n += (size_t)sprintf(many, "{\"clientId\":\"" CLIENT "\",\"mutations\":[");
	for (int i = 0; i < 1001; i++)
		n += (size_t)sprintf(many + n, "%s{\"mutationId\":\"m%d\",\"op\":\"put\","
			"\"collection\":\"items\",\"id\":\"d%d\",\"data\":{}}", i ? "," : "", i, i);
	strcpy(many + n, "]}");
	reply = api_call(h, "POST", PUSH, many);
	assert_error(&reply, 400, "general_argument_invalid");
	reply_free(&reply);
	free(many);

	reply = api_call(h, "POST", "/v1/sync/databases/nope/push", "{\"clientId\":\"" CLIENT
		"\",\"mutations\":[{\"mutationId\":\"m\",\"op\":\"put\",\"collection\":\"items\","
		"\"id\":\"a\",\"data\":{}}]}");
	assert_error(&reply, 404, "database_not_found");
	reply_free(&reply);

	assert_int_equal(count_changes(h), 0);
}

static void push_documents(harness *h, const char *collection, int first, int count)
{
	char *body = malloc((size_t)count * 200 + 128);
	size_t n = 0;
	api_reply reply;

	assert_non_null(body);
	n += (size_t)sprintf(body, "{\"clientId\":\"" CLIENT "\",\"mutations\":[");
	for (int i = 0; i < count; i++)
		n += (size_t)sprintf(body + n, "%s{\"mutationId\":\"%s-%d\",\"op\":\"put\","
			"\"collection\":\"%s\",\"id\":\"d%d\",\"hlc\":%d,\"data\":{\"i\":%d}}",
			i ? "," : "", collection, first + i, collection, first + i, first + i, first + i);
	strcpy(body + n, "]}");
	reply = api_call(h, "POST", PUSH, body);
	assert_status(&reply, 200);
	for (int i = 0; i < count; i++)
		assert_string_equal(json_str(result_at(&reply, (size_t)i), "status"), "applied");
	reply_free(&reply);
	free(body);
}

static void test_server_api_sync__pull_paging(void **state)
{
	harness *h = *state;
	api_reply reply;
	int64_t checkpoint = 0;
	int seen[10] = { 0 };
	int pages = 0;
	int more = 1;

	push_documents(h, "items", 0, 10);
	while (more) {
		json_object *changes;
		int64_t last = -1;

		reply = pull(h, checkpoint, 3, 1 << 20, NULL);
		assert_status(&reply, 200);
		changes = json_get(reply.json, "changes");
		assert_true(json_object_array_length(changes) <= 3);
		for (size_t i = 0; i < json_object_array_length(changes); i++) {
			json_object *change = json_object_array_get_idx(changes, i);
			int64_t version = json_int(change, "version");
			int64_t index = json_int(json_get(change, "document"), "i");
			assert_true(version > checkpoint);
			assert_true(version > last);
			last = version;
			assert_true(index >= 0 && index < 10);
			seen[index]++;
		}
		assert_int_equal(json_int(reply.json, "checkpoint"), last);
		more = json_object_get_boolean(json_get(reply.json, "more"));
		checkpoint = json_int(reply.json, "checkpoint");
		pages++;
		reply_free(&reply);
		assert_true(pages <= 4);
	}
	assert_int_equal(pages, 4);
	for (int i = 0; i < 10; i++)
		assert_int_equal(seen[i], 1);

	/* An empty page echoes the checkpoint. */
	reply = pull(h, checkpoint, 3, 1 << 20, NULL);
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 0);
	assert_int_equal(json_int(reply.json, "checkpoint"), checkpoint);
	assert_false(json_object_get_boolean(json_get(reply.json, "more")));
	reply_free(&reply);
}

static void test_server_api_sync__pull_large_page(void **state)
{
	harness *h = *state;
	api_reply reply;
	json_object *changes;

	/* Ten full batches of 1000 mutations, then one page of 10000 changes. */
	for (int batch = 0; batch < 10; batch++)
		push_documents(h, "items", batch * 1000, 1000);
	reply = pull(h, 0, 10000, 64 << 20, NULL);
	assert_status(&reply, 200);
	changes = json_get(reply.json, "changes");
	assert_int_equal(json_object_array_length(changes), 10000);
	assert_false(json_object_get_boolean(json_get(reply.json, "more")));
	assert_int_equal(json_int(reply.json, "checkpoint"),
		json_int(json_object_array_get_idx(changes, 9999), "version"));
	reply_free(&reply);

	/* The default budget of 4 MiB splits nothing this small; a limit of 9999 leaves one. */
	reply = pull(h, 0, 9999, 4194304, NULL);
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 9999);
	assert_true(json_object_get_boolean(json_get(reply.json, "more")));
	reply_free(&reply);
}

static void test_server_api_sync__pull_max_bytes(void **state)
{
	harness *h = *state;
	api_reply reply;
	json_object *changes;
	int64_t first_version;

	push_documents(h, "items", 0, 5);
	/* A tiny budget still yields one change per page. */
	reply = pull(h, 0, 1000, 1, NULL);
	assert_status(&reply, 200);
	changes = json_get(reply.json, "changes");
	assert_int_equal(json_object_array_length(changes), 1);
	first_version = json_int(json_object_array_get_idx(changes, 0), "version");
	assert_int_equal(json_int(reply.json, "checkpoint"), first_version);
	assert_true(json_object_get_boolean(json_get(reply.json, "more")));
	reply_free(&reply);

	/* A budget of about two changes. */
	reply = pull(h, 0, 1000, 700, NULL);
	changes = json_get(reply.json, "changes");
	assert_true(json_object_array_length(changes) >= 1);
	assert_true(json_object_array_length(changes) < 5);
	assert_true(strlen(reply.body) < 700 + 400);
	assert_true(json_object_get_boolean(json_get(reply.json, "more")));
	reply_free(&reply);
}

static void test_server_api_sync__pull_collections_filter(void **state)
{
	harness *h = *state;
	api_reply reply;
	json_object *changes;

	push_documents(h, "items", 0, 3);
	push_documents(h, "notes", 10, 2);
	reply = pull(h, 0, 1000, 1 << 20, "[\"notes\"]");
	assert_status(&reply, 200);
	changes = json_get(reply.json, "changes");
	assert_int_equal(json_object_array_length(changes), 2);
	for (size_t i = 0; i < 2; i++)
		assert_string_equal(json_str(json_object_array_get_idx(changes, i), "collection"),
			"notes");
	reply_free(&reply);

	reply = pull(h, 0, 1000, 1 << 20, "[]");
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 5);
	reply_free(&reply);
}

static void test_server_api_sync__pull_bad_fields(void **state)
{
	harness *h = *state;
	static const char *const bodies[] = {
		"{\"checkpoint\":-1}",
		"{\"checkpoint\":\"0\"}",
		"{\"limit\":0}",
		"{\"limit\":10001}",
		"{\"maxBytes\":0}",
		"{\"collections\":\"items\"}",
		"{\"collections\":[5]}",
		"{\"collections\":[\"_bad\"]}",
		"[]",
	};
	api_reply reply;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		reply = api_call(h, "POST", PULL, bodies[i]);
		assert_error(&reply, 400, "general_argument_invalid");
		reply_free(&reply);
	}
	reply = api_call(h, "POST", "/v1/sync/databases/nope/pull", "{}");
	assert_error(&reply, 404, "database_not_found");
	reply_free(&reply);

	/* Defaults apply to an empty body. */
	reply = api_call(h, "POST", PULL, NULL);
	assert_status(&reply, 200);
	assert_int_equal(json_int(reply.json, "checkpoint"), 0);
	reply_free(&reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_server_api_sync__push_put_and_pull, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__push_is_idempotent, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__conflict, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__prev_mutation_chain, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__delete_and_tombstone, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__rejections, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__malformed_push, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__pull_paging, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__pull_large_page, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__pull_max_bytes, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__pull_collections_filter, harness_setup_items_notes),
		HARNESS_TEST(test_server_api_sync__pull_bad_fields, harness_setup_items_notes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
