/* sync_scope.c: partial sync on the server: validation of a pull's `scopes`, purge markers for
 * changes outside a scope, checkpoints across them, and collection fingerprints. */
#include "api_harness.h"

#define PULL "/v1/sync/databases/main/pull"
#define DOCS "/v1/databases/main/collections/items/documents"
#define EQ42 "{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":\\\"storeId\\\",\\\"values\\\":[42]}"

static void put_doc(harness *h, const char *id, int store_id)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"documentId\":\"%s\",\"data\":{\"storeId\":%d,"
		"\"name\":\"%s\"}}", id, store_id, id);
	api_expect(h, "POST", DOCS, body, 201);
}

/* A pull from `checkpoint` with `scopes` (JSON text or NULL). */
static api_reply pull_scoped(harness *h, int64_t checkpoint, int limit, const char *scopes)
{
	char body[8192];

	snprintf(body, sizeof(body), "{\"checkpoint\":%lld,\"limit\":%d%s%s}",
		(long long)checkpoint, limit, scopes ? ",\"scopes\":" : "", scopes ? scopes : "");
	return api_call(h, "POST", PULL, body);
}

static json_object *change_for(const api_reply *reply, const char *id)
{
	json_object *changes = json_get(reply->json, "changes");

	for (size_t i = 0; changes && i < json_object_array_length(changes); i++) {
		json_object *change = json_object_array_get_idx(changes, i);
		if (strcmp(json_str(change, "id"), id) == 0)
			return change;
	}
	return NULL;
}

static int is_purge(json_object *change)
{
	json_object *purge = json_get(change, "purge");
	return purge && json_object_get_boolean(purge);
}

static void expect_invalid(harness *h, const char *scopes, const char *type)
{
	api_reply reply = pull_scoped(h, 0, 100, scopes);

	assert_error(&reply, 400, type);
	reply_free(&reply);
}

static void test_server_sync_scope__validation(void **state)
{
	harness *h = *state;
	char *many;
	char *long_query;
	size_t at = 0;

	expect_invalid(h, "[]", "general_argument_invalid");
	expect_invalid(h, "\"items\"", "general_argument_invalid");
	expect_invalid(h, "{\"-bad\":[]}", "general_argument_invalid");
	expect_invalid(h, "{\"items\":\"" EQ42 "\"}", "general_argument_invalid");
	expect_invalid(h, "{\"items\":[42]}", "general_query_invalid");
	expect_invalid(h, "{\"items\":[\"not json\"]}", "general_query_invalid");
	expect_invalid(h, "{\"items\":[\"{\\\"method\\\":\\\"nope\\\",\\\"values\\\":[]}\"]}",
		"general_query_invalid");
	/* Only filters: no paging, ordering, selection or cursors. */
	expect_invalid(h, "{\"items\":[\"{\\\"method\\\":\\\"limit\\\",\\\"values\\\":[5]}\"]}",
		"general_query_invalid");
	expect_invalid(h, "{\"items\":[\"{\\\"method\\\":\\\"offset\\\",\\\"values\\\":[5]}\"]}",
		"general_query_invalid");
	expect_invalid(h, "{\"items\":[\"{\\\"method\\\":\\\"orderAsc\\\",\\\"attribute\\\":"
		"\\\"name\\\"}\"]}", "general_query_invalid");
	expect_invalid(h, "{\"items\":[\"{\\\"method\\\":\\\"select\\\",\\\"values\\\":"
		"[\\\"name\\\"]}\"]}", "general_query_invalid");
	expect_invalid(h, "{\"items\":[\"" EQ42 "\",\"{\\\"method\\\":\\\"cursorAfter\\\","
		"\\\"values\\\":[\\\"a\\\"]}\"]}", "general_query_invalid");
	/* The limits of REST list queries: 100 queries, 4096 characters each. */
	many = malloc(101 * 80 + 64);
	assert_non_null(many);
	at += (size_t)sprintf(many + at, "{\"items\":[");
	for (int i = 0; i < 101; i++)
		at += (size_t)sprintf(many + at, "%s\"" EQ42 "\"", i ? "," : "");
	sprintf(many + at, "]}");
	expect_invalid(h, many, "general_query_invalid");
	free(many);
	long_query = malloc(4200 + 64);
	assert_non_null(long_query);
	at = (size_t)sprintf(long_query, "{\"items\":[\"{\\\"method\\\":\\\"equal\\\","
		"\\\"attribute\\\":\\\"name\\\",\\\"values\\\":[\\\"");
	memset(long_query + at, 'x', 4100);
	at += 4100;
	sprintf(long_query + at, "\\\"]}\"]}");
	expect_invalid(h, long_query, "general_query_invalid");
	free(long_query);
}

static void test_server_sync_scope__accepts_filters(void **state)
{
	harness *h = *state;
	api_reply reply;

	/* Nested and/or, several filters, an empty scope and a collection that does not exist. */
	reply = pull_scoped(h, 0, 100, "{\"items\":[\"" EQ42 "\",\"{\\\"method\\\":\\\"or\\\","
		"\\\"values\\\":[{\\\"method\\\":\\\"greaterThan\\\",\\\"attribute\\\":\\\"storeId\\\","
		"\\\"values\\\":[40]},{\\\"method\\\":\\\"isNull\\\",\\\"attribute\\\":\\\"x\\\"}]}\"],"
		"\"notes\":[],\"nothere\":[\"" EQ42 "\"]}");
	assert_status(&reply, 200);
	reply_free(&reply);
}

static void test_server_sync_scope__purge_markers(void **state)
{
	harness *h = *state;
	api_reply reply;
	json_object *change;
	json_object *document;

	put_doc(h, "a", 42);
	put_doc(h, "b", 7);
	put_doc(h, "c", 42);
	reply = pull_scoped(h, 0, 100, "{\"items\":[\"" EQ42 "\"]}");
	assert_status(&reply, 200);
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 3);
	change = change_for(&reply, "a");
	assert_false(is_purge(change));
	document = json_get(change, "document");
	assert_non_null(document);
	assert_int_equal(json_int(document, "storeId"), 42);
	/* Outside the scope: a marker with no data, permissions, clock or author. */
	change = change_for(&reply, "b");
	assert_true(is_purge(change));
	assert_true(json_object_is_type(json_get(change, "document"), json_type_null));
	assert_null(json_get(change, "hlc"));
	assert_null(json_get(change, "author"));
	assert_true(json_int(change, "version") > 0);
	assert_null(strstr(reply.body, "\"storeId\":7"));
	assert_false(is_purge(change_for(&reply, "c")));
	/* The checkpoint covers the markers too: nothing is skipped or repeated. */
	assert_int_equal(json_int(reply.json, "checkpoint"),
		json_int(change_for(&reply, "c"), "version"));
	reply_free(&reply);

	/* Without a scope the same change is sent whole. */
	reply = pull_scoped(h, 0, 100, NULL);
	assert_false(is_purge(change_for(&reply, "b")));
	assert_int_equal(json_int(json_get(change_for(&reply, "b"), "document"), "storeId"), 7);
	reply_free(&reply);
}

static void test_server_sync_scope__field_change_purges(void **state)
{
	harness *h = *state;
	api_reply reply;
	int64_t checkpoint;

	put_doc(h, "a", 42);
	reply = pull_scoped(h, 0, 100, "{\"items\":[\"" EQ42 "\"]}");
	checkpoint = json_int(reply.json, "checkpoint");
	reply_free(&reply);
	api_expect(h, "PATCH", DOCS "/a", "{\"data\":{\"storeId\":7}}", 200);
	reply = pull_scoped(h, checkpoint, 100, "{\"items\":[\"" EQ42 "\"]}");
	assert_status(&reply, 200);
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 1);
	assert_true(is_purge(change_for(&reply, "a")));
	assert_true(json_int(reply.json, "checkpoint") > checkpoint);
	reply_free(&reply);
}

static void test_server_sync_scope__paging_over_markers(void **state)
{
	harness *h = *state;
	int64_t checkpoint = 0;
	int pages = 0;
	int delivered = 0;
	int purged = 0;

	for (int i = 0; i < 10; i++) {
		char id[8];
		snprintf(id, sizeof(id), "d%d", i);
		put_doc(h, id, i % 2 ? 7 : 42);
	}
	for (;;) {
		api_reply reply = pull_scoped(h, checkpoint, 3, "{\"items\":[\"" EQ42 "\"]}");
		json_object *changes = json_get(reply.json, "changes");
		int more;

		assert_status(&reply, 200);
		for (size_t i = 0; i < json_object_array_length(changes); i++) {
			json_object *change = json_object_array_get_idx(changes, i);
			assert_true(json_int(change, "version") > checkpoint);
			if (is_purge(change))
				purged++;
			else
				delivered++;
		}
		more = json_object_get_boolean(json_get(reply.json, "more"));
		checkpoint = json_int(reply.json, "checkpoint");
		reply_free(&reply);
		pages++;
		if (!more)
			break;
		assert_true(pages < 10);
	}
	assert_int_equal(delivered, 5);
	assert_int_equal(purged, 5);
	assert_int_equal(pages, 4);
}

static const char *fingerprint_of(const api_reply *reply, const char *collection)
{
	return json_str(json_get(reply->json, "fingerprints"), collection);
}

static void test_server_sync_scope__fingerprints(void **state)
{
	harness *h = *state;
	api_reply plain = pull_scoped(h, 0, 100, NULL);
	api_reply again = pull_scoped(h, 0, 100, NULL);
	api_reply scoped = pull_scoped(h, 0, 100, "{\"items\":[\"" EQ42 "\"]}");
	api_reply only = api_call(h, "POST", PULL, "{\"collections\":[\"notes\"]}");
	api_reply changed;
	char items_before[32];

	assert_non_null(fingerprint_of(&plain, "items"));
	assert_non_null(fingerprint_of(&plain, "notes"));
	assert_int_equal(strlen(fingerprint_of(&plain, "items")), 16);
	assert_string_equal(fingerprint_of(&plain, "items"), fingerprint_of(&again, "items"));
	/* A scope changes its collection's fingerprint only. */
	assert_string_not_equal(fingerprint_of(&plain, "items"), fingerprint_of(&scoped, "items"));
	assert_string_equal(fingerprint_of(&plain, "notes"), fingerprint_of(&scoped, "notes"));
	/* A pull of some collections reports those. */
	assert_null(fingerprint_of(&only, "items"));
	assert_string_equal(fingerprint_of(&only, "notes"), fingerprint_of(&plain, "notes"));
	/* So do the collection's read rules. */
	snprintf(items_before, sizeof(items_before), "%s", fingerprint_of(&plain, "items"));
	api_expect(h, "PUT", "/v1/databases/main/collections/items",
		"{\"name\":\"items\",\"permissions\":[\"read(\\\"any\\\")\"]}", 200);
	changed = pull_scoped(h, 0, 100, NULL);
	assert_string_not_equal(fingerprint_of(&changed, "items"), items_before);
	assert_string_equal(fingerprint_of(&changed, "notes"), fingerprint_of(&plain, "notes"));
	reply_free(&plain);
	reply_free(&again);
	reply_free(&scoped);
	reply_free(&only);
	reply_free(&changed);
}

static void test_server_sync_scope__tombstones_pass(void **state)
{
	harness *h = *state;
	api_reply reply;
	json_object *change;

	put_doc(h, "a", 42);
	api_expect(h, "DELETE", DOCS "/a", NULL, 204);
	/* The key reads everything; a delete cannot be judged by the scope and is sent. */
	reply = pull_scoped(h, 0, 100, "{\"items\":[\"" EQ42 "\"]}");
	change = change_for(&reply, "a");
	assert_non_null(change);
	assert_false(is_purge(change));
	assert_true(json_object_get_boolean(json_get(change, "deleted")));
	reply_free(&reply);
}

/* ---- as signed-in users ---- */

static void guest_call(harness *h, const char *method, const char *target, const char *body,
	int status)
{
	const char *headers[] = { "x-appwrite-project", HARNESS_PROJECT, "content-type",
		"application/json", NULL };
	api_reply reply = api_call_headers(h, method, target, body, headers);

	assert_status(&reply, status);
	reply_free(&reply);
}

/* Signs `id` up and returns a session token (free it): an API key sees the session's
 * secret, which is the token. */
static char *user_token(harness *h, const char *id)
{
	char body[256];
	api_reply reply;
	char *token;

	snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"email\":\"%s@example.com\","
		"\"password\":\"correct horse battery\",\"name\":\"%s\"}", id, id, id);
	guest_call(h, "POST", "/v1/account", body, 201);
	snprintf(body, sizeof(body), "{\"email\":\"%s@example.com\",\"password\":"
		"\"correct horse battery\"}", id);
	reply = api_call(h, "POST", "/v1/account/sessions/email", body);
	assert_status(&reply, 201);
	token = strdup(json_str(reply.json, "secret"));
	assert_non_null(token);
	assert_true(strlen(token) > 0);
	reply_free(&reply);
	return token;
}

static api_reply pull_as(harness *h, const char *token, const char *body)
{
	const char *headers[] = { "x-appwrite-project", HARNESS_PROJECT, "content-type",
		"application/json", "x-appwrite-session", token, NULL };
	return api_call_headers(h, "POST", PULL, body, headers);
}

static void test_server_sync_scope__users_get_only_their_own(void **state)
{
	harness *h = *state;
	cairn_api_account_options options = { 0 };
	char *ana;
	char *bo;
	api_reply reply;
	api_reply other;
	int64_t last;

	options.fast_password_hash = 1;
	assert_int_equal(cairn__api_set_account_options(h->api, &options), 0);
	ana = user_token(h, "ana");
	bo = user_token(h, "bo");
	/* items: collection rules only, nobody but the key may read. notes: per document. */
	put_doc(h, "a", 42);
	api_expect(h, "PUT", "/v1/databases/main/collections/notes", "{\"name\":\"notes\","
		"\"permissions\":[],\"documentSecurity\":true}", 200);
	api_expect(h, "POST", "/v1/databases/main/collections/notes/documents",
		"{\"documentId\":\"n1\",\"data\":{\"text\":\"ana-private\"},"
		"\"permissions\":[\"read(\\\"user:ana\\\")\"]}", 201);
	api_expect(h, "POST", "/v1/databases/main/collections/notes/documents",
		"{\"documentId\":\"n2\",\"data\":{\"text\":\"bo-private\"},"
		"\"permissions\":[\"read(\\\"user:bo\\\")\"]}", 201);
	reply = pull_scoped(h, 0, 100, NULL);
	last = json_int(reply.json, "checkpoint");
	reply_free(&reply);

	reply = pull_as(h, ana, "{\"checkpoint\":0}");
	assert_status(&reply, 200);
	/* Her note whole; bo's never-changed note and the items not even named. */
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 1);
	assert_false(is_purge(change_for(&reply, "n1")));
	assert_string_equal(json_str(json_get(change_for(&reply, "n1"), "document"), "text"),
		"ana-private");
	assert_null(change_for(&reply, "n2"));
	assert_null(strstr(reply.body, "bo-private"));
	assert_null(change_for(&reply, "a"));
	assert_null(strstr(reply.body, "storeId"));
	/* Skipped changes still move the checkpoint. */
	assert_int_equal(json_int(reply.json, "checkpoint"), last);
	reply_free(&reply);
	/* n2 is written again: its permissions may have changed, so ana gets a bare marker. */
	api_expect(h, "PATCH", "/v1/databases/main/collections/notes/documents/n2",
		"{\"data\":{\"text\":\"bo-private-2\"}}", 200);
	reply = pull_as(h, ana, "{\"checkpoint\":0}");
	assert_status(&reply, 200);
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 2);
	assert_true(is_purge(change_for(&reply, "n2")));
	assert_null(json_get(change_for(&reply, "n2"), "author"));
	assert_null(strstr(reply.body, "bo-private"));
	other = pull_as(h, bo, "{\"checkpoint\":0}");
	assert_status(&other, 200);
	assert_null(change_for(&other, "n1"));
	assert_null(strstr(other.body, "ana-private"));
	assert_string_equal(json_str(json_get(change_for(&other, "n2"), "document"), "text"),
		"bo-private-2");
	/* Each user's fingerprints are their own. */
	assert_string_not_equal(fingerprint_of(&reply, "notes"), fingerprint_of(&other, "notes"));
	reply_free(&other);
	reply_free(&reply);

	/* A page of nothing but skipped changes is empty and still advances. */
	reply = pull_as(h, ana, "{\"checkpoint\":0,\"collections\":[\"items\"]}");
	assert_status(&reply, 200);
	assert_int_equal(json_object_array_length(json_get(reply.json, "changes")), 0);
	assert_true(json_int(reply.json, "checkpoint") > 0);
	reply_free(&reply);
	free(ana);
	free(bo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_server_sync_scope__validation, harness_setup_items_notes),
		HARNESS_TEST(test_server_sync_scope__accepts_filters, harness_setup_items_notes),
		HARNESS_TEST(test_server_sync_scope__purge_markers, harness_setup_items_notes),
		HARNESS_TEST(test_server_sync_scope__field_change_purges, harness_setup_items_notes),
		HARNESS_TEST(test_server_sync_scope__paging_over_markers, harness_setup_items_notes),
		HARNESS_TEST(test_server_sync_scope__fingerprints, harness_setup_items_notes),
		HARNESS_TEST(test_server_sync_scope__tombstones_pass, harness_setup_items_notes),
		HARNESS_TEST(test_server_sync_scope__users_get_only_their_own, harness_setup_items_notes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
