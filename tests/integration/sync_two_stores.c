/* sync_two_stores.c: two offline stores edit several collections, sync through the real
 * server, and end up with exactly the server's documents, deletes included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"

#define DATABASE "shop"

static const char *const collections[] = { "items", "notes", "tags" };
#define COLLECTION_COUNT (sizeof(collections) / sizeof(collections[0]))

/* Offline work of one store in every collection: 20 creates (ids prefixed by `who`), then
 * updates of some, patches of others, deletes of a few, and one create-then-delete that the
 * server must still see as a tombstone. */
static void offline_edits(cairn_store *store, const char *who)
{
	size_t c;
	int i;

	for (c = 0; c < COLLECTION_COUNT; c++) {
		char id[40], json[256];

		for (i = 0; i < 20; i++) {
			snprintf(id, sizeof(id), "%s%02d", who, i);
			snprintf(json, sizeof(json),
				"{\"owner\":\"%s\",\"n\":%d,\"title\":\"%s %s %d\",\"tags\":[\"x\",%d],"
				"\"meta\":{\"big\":9007199254740993}}", who, i, collections[c], who, i, i);
			cairn_it_put(store, collections[c], id, json);
		}
		for (i = 0; i < 20; i += 3) {
			snprintf(id, sizeof(id), "%s%02d", who, i);
			snprintf(json, sizeof(json), "{\"owner\":\"%s\",\"n\":%d,\"title\":\"replaced\"}",
				who, i * 100);
			cairn_it_put(store, collections[c], id, json);
		}
		for (i = 1; i < 20; i += 4) {
			snprintf(id, sizeof(id), "%s%02d", who, i);
			cairn_it_patch(store, collections[c], id, "{\"patched\":true,\"title\":null}");
		}
		for (i = 2; i < 20; i += 5) {
			snprintf(id, sizeof(id), "%s%02d", who, i);
			cairn_it_delete(store, collections[c], id);
		}
		snprintf(id, sizeof(id), "%sgone", who);
		cairn_it_put(store, collections[c], id, "{\"short\":\"lived\"}");
		cairn_it_delete(store, collections[c], id);
	}
}

/* Edits by one store of documents the other store created (seen through the server). */
static void edits_of_the_other(cairn_store *store, const char *other)
{
	size_t c;
	char id[40];

	for (c = 0; c < COLLECTION_COUNT; c++) {
		snprintf(id, sizeof(id), "%s%02d", other, 3);
		cairn_it_put(store, collections[c], id, "{\"owner\":\"someone else\",\"n\":-3}");
		snprintf(id, sizeof(id), "%s%02d", other, 4);
		cairn_it_patch(store, collections[c], id, "{\"n\":444}");
		snprintf(id, sizeof(id), "%s%02d", other, 5);
		cairn_it_delete(store, collections[c], id);
	}
}

static void assert_deleted_everywhere(const cairn_it_env *env, cairn_store *a, cairn_store *b,
	const char *collection, const char *id)
{
	char path[512], *body = NULL, *json = NULL;
	long status;

	snprintf(path, sizeof(path), "/databases/" DATABASE "/collections/%s/documents/%s",
		collection, id);
	status = cairn_it_rest(&body, env, "GET", path, NULL);
	cairn_it_assert_error(status, body, 404, "document_not_found");
	free(body);
	assert_int_equal(cairn_doc_get(&json, a, collection, id), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_doc_get(&json, b, collection, id), CAIRN_ENOTFOUND);
}

static void assert_all_equal(const cairn_it_env *env, cairn_store *a, cairn_store *b)
{
	size_t c;

	for (c = 0; c < COLLECTION_COUNT; c++) {
		cairn_it_assert_store_matches_server(env, a, DATABASE, collections[c]);
		cairn_it_assert_store_matches_server(env, b, DATABASE, collections[c]);
	}
	cairn_it_assert_outbox_empty(a);
	cairn_it_assert_outbox_empty(b);
}

static void test_integration_sync_two_stores__converge(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *a, *b;
	cairn_sync_result result;
	json_object *docs;
	size_t c;
	char *json = NULL;

	a = cairn_it_store_open(env, "a", DATABASE);
	b = cairn_it_store_open(env, "b", DATABASE);

	/* Round 1: disjoint offline work; the database does not exist until A's sync. */
	offline_edits(a, "a");
	offline_edits(b, "b");
	cairn_it_sync(&result, a, NULL);
	assert_true(result.pushed > 0);
	cairn_it_sync(&result, b, NULL);
	assert_true(result.pulled > 0); /* A's documents */
	cairn_it_sync(&result, a, NULL);
	assert_true(result.pulled > 0); /* B's documents */
	assert_all_equal(env, a, b);

	for (c = 0; c < COLLECTION_COUNT; c++) {
		/* 20 created, 4 deleted, per store */
		docs = cairn_it_server_docs(env, DATABASE, collections[c]);
		assert_int_equal(json_object_array_length(docs), 32);
		json_object_put(docs);
		assert_deleted_everywhere(env, a, b, collections[c], "a02");
		assert_deleted_everywhere(env, a, b, collections[c], "b17");
		assert_deleted_everywhere(env, a, b, collections[c], "agone");
		assert_deleted_everywhere(env, a, b, collections[c], "bgone");
	}
	assert_int_equal(cairn_doc_get(&json, b, "items", "a03"), 0);
	assert_non_null(strstr(json, "\"title\":\"replaced\""));
	cairn_free(json);

	/* Round 2: each edits the other's documents. */
	edits_of_the_other(a, "b");
	edits_of_the_other(b, "a");
	cairn_it_sync(NULL, a, NULL);
	cairn_it_sync(NULL, b, NULL);
	cairn_it_sync(NULL, a, NULL);
	assert_all_equal(env, a, b);
	for (c = 0; c < COLLECTION_COUNT; c++) {
		docs = cairn_it_server_docs(env, DATABASE, collections[c]);
		assert_int_equal(json_object_array_length(docs), 30);
		json_object_put(docs);
		assert_deleted_everywhere(env, a, b, collections[c], "a05");
		assert_deleted_everywhere(env, a, b, collections[c], "b05");
	}
	assert_int_equal(cairn_doc_get(&json, a, "notes", "a04"), 0);
	assert_non_null(strstr(json, "\"n\":444"));
	cairn_free(json);
	assert_int_equal(cairn_doc_get(&json, b, "tags", "b03"), 0);
	assert_non_null(strstr(json, "\"owner\":\"someone else\""));
	cairn_free(json);

	/* A third sync of each changes nothing. */
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 0);
	assert_int_equal(result.pulled, 0);
	cairn_it_sync(&result, b, NULL);
	assert_int_equal(result.pushed, 0);
	assert_int_equal(result.pulled, 0);

	cairn_store_free(a);
	cairn_store_free(b);
}

/* A fresh third store that only pulls gets exactly what the server holds, and writes made
 * through REST (by an Appwrite SDK, say) reach the stores too. */
static void test_integration_sync_two_stores__rest_writes_and_fresh_store(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *a, *c;
	cairn_store_status status;
	char *body = NULL, *json = NULL;
	long http;

	a = cairn_it_store_open(env, "a", DATABASE);
	offline_edits(a, "a");
	cairn_it_sync(NULL, a, NULL);

	http = cairn_it_rest(&body, env, "POST",
		"/databases/" DATABASE "/collections/items/documents",
		"{\"documentId\":\"fromrest\",\"data\":{\"title\":\"via REST\",\"n\":7}}");
	if (http != 201)
		fail_msg("REST create: %ld %s", http, body);
	free(body);
	http = cairn_it_rest(&body, env, "DELETE",
		"/databases/" DATABASE "/collections/items/documents/a00", "{}");
	assert_int_equal(http, 204);
	free(body);

	cairn_it_sync(NULL, a, NULL);
	assert_int_equal(cairn_doc_get(&json, a, "items", "fromrest"), 0);
	assert_non_null(strstr(json, "\"title\":\"via REST\""));
	cairn_free(json);
	assert_int_equal(cairn_doc_get(&json, a, "items", "a00"), CAIRN_ENOTFOUND);

	c = cairn_it_store_open(env, "c", DATABASE);
	cairn_it_sync(NULL, c, NULL);
	cairn_it_assert_store_matches_server(env, c, DATABASE, "items");
	cairn_it_assert_store_matches_server(env, c, DATABASE, "notes");
	cairn_it_assert_store_matches_server(env, a, DATABASE, "items");
	assert_int_equal(cairn_store_status_get(&status, c), 0);
	assert_true(status.checkpoint > 0);
	assert_int_equal(status.pending, 0);
	assert_int_equal(status.last_sync_result, 0);

	cairn_store_free(a);
	cairn_store_free(c);
}

/* Values that are easy to mangle on the way: exact int64, doubles, unicode, escapes, empty
 * containers, nulls, deep nesting, and $permissions. */
static void test_integration_sync_two_stores__values_survive_the_round_trip(void **state)
{
	static const char tricky[] =
		"{\"big\":9223372036854775807,\"small\":-9223372036854775807,\"float\":0.1,"
		"\"huge\":1e300,\"neg\":-2.5,\"zero\":0,\"t\":true,\"f\":false,\"nothing\":null,"
		"\"text\":\"snow \\u2603 \\ud83d\\ude00 caf\\u00e9 \\\"quoted\\\" back\\\\slash\\nline\","
		"\"empty\":\"\",\"arr\":[],\"obj\":{},\"mixed\":[1,\"two\",[3,[4,{\"five\":5}]],null],"
		"\"deep\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":[1,2,3]}}}}},"
		"\"$permissions\":[\"read(\\\"any\\\")\",\"update(\\\"users\\\")\"]}";
	cairn_it_env *env = *state;
	cairn_store *a, *b;
	json_object *expected, *from_server, *from_b, *permissions;
	char *body = NULL, *json = NULL;

	a = cairn_it_store_open(env, "a", DATABASE);
	b = cairn_it_store_open(env, "b", DATABASE);
	assert_int_equal(cairn_doc_put(a, "items", "tricky", tricky), 0);
	cairn_it_sync(NULL, a, NULL);
	cairn_it_sync(NULL, b, NULL);

	expected = cairn_it_parse(tricky);
	json_object_object_del(expected, "$permissions");
	json_object_object_add(expected, "$id", json_object_new_string("tricky"));
	assert_int_equal(cairn_it_rest(&body, env, "GET",
		"/databases/" DATABASE "/collections/items/documents/tricky", NULL), 200);
	from_server = cairn_it_parse(body);
	free(body);
	assert_int_equal(cairn_doc_get(&json, b, "items", "tricky"), 0);
	from_b = cairn_it_parse(json);
	cairn_free(json);
	{
		json_object *one = json_object_new_array(), *two = json_object_new_array();

		json_object_array_add(one, json_object_get(expected));
		json_object_array_add(two, json_object_get(from_server));
		cairn_it_assert_same_docs(one, two, "written vs server");
		json_object_put(two);
		two = json_object_new_array();
		json_object_array_add(two, json_object_get(from_b));
		cairn_it_assert_same_docs(one, two, "written vs store B");
		json_object_put(one);
		json_object_put(two);
	}
	assert_true(json_object_object_get_ex(from_server, "$permissions", &permissions));
	assert_int_equal(json_object_array_length(permissions), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(permissions, 0)),
		"read(\"any\")");
	assert_true(json_object_object_get_ex(from_b, "$permissions", &permissions));
	assert_int_equal(json_object_array_length(permissions), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(permissions, 1)),
		"update(\"users\")");
	json_object_put(expected);
	json_object_put(from_server);
	json_object_put(from_b);

	cairn_store_free(a);
	cairn_store_free(b);
}

/* Sync creates the database; a wrong key is refused (CAIRN_EAUTH) and loses nothing. */
static void test_integration_sync_two_stores__database_created_and_wrong_key(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *a;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, NULL, CAIRN_IT_PROJECT, "wrong-key", DATABASE, NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	cairn_store_status status;
	char *body = NULL;
	long http;
	int rc;

	a = cairn_it_store_open(env, "a", DATABASE);
	assert_int_equal(cairn_doc_put(a, "items", "one", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_put(a, "notes", "two", "{\"n\":2}"), 0);

	remote.url = env->url;
	assert_int_equal(cairn_store_set_remote(a, &remote), 0);
	rc = cairn_sync_once(NULL, a, NULL);
	assert_int_equal(rc, CAIRN_EAUTH);
	assert_int_equal(cairn_store_status_get(&status, a), 0);
	assert_int_equal(status.pending, 2);
	assert_int_equal(status.last_sync_result, CAIRN_EAUTH);
	assert_true(status.last_sync_error[0] != '\0');
	http = cairn_it_rest(&body, env, "GET", "/databases/" DATABASE, NULL);
	cairn_it_assert_error(http, body, 404, "database_not_found");
	free(body);

	cairn_it_store_set_remote(env, a, DATABASE);
	cairn_it_sync(NULL, a, NULL);
	assert_int_equal(cairn_it_rest(&body, env, "GET", "/databases/" DATABASE, NULL), 200);
	free(body);
	assert_int_equal(cairn_it_rest(&body, env, "GET",
		"/databases/" DATABASE "/collections/notes", NULL), 200);
	free(body);
	cairn_it_assert_store_matches_server(env, a, DATABASE, "items");
	cairn_it_assert_store_matches_server(env, a, DATABASE, "notes");
	cairn_it_assert_outbox_empty(a);

	cairn_store_free(a);
}

/* A mutation the server refuses (a document over the server's 1 MiB limit, accepted by a
 * store configured for 2 MiB) is parked as rejected and does not hold back the others. */
static void test_integration_sync_two_stores__rejected_mutation_is_parked(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *a, *b;
	cairn_store_options options = CAIRN_STORE_OPTIONS_INIT;
	cairn_remote remote;
	cairn_sync_result result;
	cairn_store_status status;
	json_object *outbox, *entry, *field;
	char path[512], *big, *text = NULL, *json = NULL;
	size_t size = 1200 * 1024;

	snprintf(path, sizeof(path), "%s/a.db", env->root);
	options.max_document_bytes = 2 * 1024 * 1024;
	assert_int_equal(cairn_store_open(&a, path, &options), 0);
	remote = (cairn_remote){ CAIRN_REMOTE_VERSION, env->url, CAIRN_IT_PROJECT, CAIRN_IT_KEY,
		DATABASE, NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	assert_int_equal(cairn_store_set_remote(a, &remote), 0);

	big = malloc(size + 32);
	assert_non_null(big);
	strcpy(big, "{\"blob\":\"");
	memset(big + strlen(big), 'z', size);
	strcpy(big + strlen("{\"blob\":\"") + size, "\"}");
	assert_int_equal(cairn_doc_put(a, "items", "before", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_put(a, "items", "toobig", big), 0);
	assert_int_equal(cairn_doc_put(a, "items", "after", "{\"n\":2}"), 0);
	free(big);

	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.rejected, 1);
	assert_int_equal(cairn_store_status_get(&status, a), 0);
	assert_int_equal(status.pending, 0);
	assert_int_equal(status.rejected, 1);
	assert_int_equal(cairn_outbox_list(&text, a), 0);
	outbox = cairn_it_parse(text);
	cairn_free(text);
	assert_int_equal(json_object_array_length(outbox), 1);
	entry = json_object_array_get_idx(outbox, 0);
	assert_true(json_object_object_get_ex(entry, "documentId", &field));
	assert_string_equal(json_object_get_string(field), "toobig");
	assert_true(json_object_object_get_ex(entry, "state", &field));
	assert_string_equal(json_object_get_string(field), "rejected");
	assert_true(json_object_object_get_ex(entry, "error", &field));
	assert_false(json_object_is_type(field, json_type_null));
	json_object_put(outbox);

	/* The others made it; another store sees them and not the rejected one. */
	b = cairn_it_store_open(env, "b", DATABASE);
	cairn_it_sync(NULL, b, NULL);
	assert_int_equal(cairn_doc_get(&json, b, "items", "before"), 0);
	cairn_free(json);
	assert_int_equal(cairn_doc_get(&json, b, "items", "after"), 0);
	cairn_free(json);
	assert_int_equal(cairn_doc_get(&json, b, "items", "toobig"), CAIRN_ENOTFOUND);
	cairn_it_assert_store_matches_server(env, b, DATABASE, "items");
	/* A later sync does not resend it. */
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 0);
	assert_int_equal(result.rejected, 0);

	cairn_store_free(a);
	cairn_store_free(b);
}

/* Documents near the 1 MiB limit: a push request of several MiB, and pull pages bounded by
 * bytes (each page may hold a single document). */
static void test_integration_sync_two_stores__large_documents(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *a, *b;
	cairn_sync_options opts = CAIRN_SYNC_OPTIONS_INIT;
	cairn_sync_result result;
	size_t size = 900 * 1024, prefix = strlen("{\"blob\":\"");
	char *big = malloc(size + 64), id[16];
	int i;

	assert_non_null(big);
	a = cairn_it_store_open(env, "a", DATABASE);
	b = cairn_it_store_open(env, "b", DATABASE);
	for (i = 0; i < 6; i++) {
		strcpy(big, "{\"blob\":\"");
		memset(big + prefix, 'a' + i, size);
		sprintf(big + prefix + size, "\",\"i\":%d}", i);
		snprintf(id, sizeof(id), "big%d", i);
		assert_int_equal(cairn_doc_put(a, "blobs", id, big), 0);
	}
	free(big);
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 6);
	opts.pull_max_bytes = 1024 * 1024;
	cairn_it_sync(&result, b, &opts);
	assert_int_equal(result.pulled, 6);
	cairn_it_assert_store_matches_server(env, a, DATABASE, "blobs");
	cairn_it_assert_store_matches_server(env, b, DATABASE, "blobs");
	cairn_store_free(a);
	cairn_store_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_sync_two_stores__converge),
		CAIRN_IT_TEST(test_integration_sync_two_stores__rest_writes_and_fresh_store),
		CAIRN_IT_TEST(test_integration_sync_two_stores__values_survive_the_round_trip),
		CAIRN_IT_TEST(test_integration_sync_two_stores__database_created_and_wrong_key),
		CAIRN_IT_TEST(test_integration_sync_two_stores__rejected_mutation_is_parked),
		CAIRN_IT_TEST(test_integration_sync_two_stores__large_documents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
