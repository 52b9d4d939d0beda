/* sql_metacharacters.c: SQL metacharacters, quotes, backslashes, LIKE wildcards and unicode in
 * ids, queries, field names and values, over REST and sync, on the real server: stored and
 * returned verbatim, matched literally, and never able to change anything else. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/integration.h"
#include "util/json.h"

#define DOCS "/databases/main/collections/items/documents"
#define WEIRD_KEY "k'\"%_\\;--"

static const char *const nasty[] = {
	"x'); DROP TABLE documents;--",
	"'; DELETE FROM documents WHERE '1'='1",
	"%",
	"_",
	"\\",
	"a%b_c\\%d\\_e",
	"quote \" and ' and ` and ''",
	"\"); DROP TABLE collections; --",
	"/* comment */ OR 1=1 --",
	"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x9a\x80 \xc3\xb1 \xe2\x80\x8f",
	"$1 :name ? @p",
	"line\nbreak\ttab\r",
};
#define NASTY_COUNT (sizeof(nasty) / sizeof(nasty[0]))

static json_object *member(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(object));
	return value;
}

/* The JSON text of `value` (consumed), malloc'd. */
static char *take_text(json_object *value)
{
	char *text = strdup(json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN));

	json_object_put(value);
	assert_non_null(text);
	return text;
}

static json_object *fields_for(size_t i)
{
	json_object *data = json_object_new_object();

	json_object_object_add(data, "v", json_object_new_string(nasty[i]));
	json_object_object_add(data, WEIRD_KEY, json_object_new_string(nasty[i]));
	json_object_object_add(data, "i", json_object_new_int((int)i));
	return data;
}

static void assert_verbatim(json_object *doc, size_t i)
{
	assert_string_equal(json_object_get_string(member(doc, "v")), nasty[i]);
	assert_string_equal(json_object_get_string(member(doc, WEIRD_KEY)), nasty[i]);
	assert_int_equal(json_object_get_int(member(doc, "i")), (int)i);
}

static long rest_json(json_object **reply, const cairn_it_env *env, const char *method,
	const char *path, json_object *body /* consumed */)
{
	char *text = body ? take_text(body) : NULL;
	char *out = NULL;
	long status = cairn_it_rest(&out, env, method, path, text);

	if (reply)
		*reply = out && out[0] ? cairn_it_parse(out) : NULL;
	free(out);
	free(text);
	return status;
}

/* Percent-encodes everything but unreserved characters. */
static void url_encode(char *out, size_t size, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p && o + 4 < size; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '.' || *p == '_' || *p == '~') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

/* The documents a REST list with one query returns. */
static json_object *list_where(const cairn_it_env *env, const char *method, const char *value)
{
	json_object *query = json_object_new_object(), *values = json_object_new_array();
	json_object *reply = NULL;
	char *text, encoded[2048], path[2200];

	json_object_object_add(query, "method", json_object_new_string(method));
	json_object_object_add(query, "attribute", json_object_new_string("v"));
	json_object_array_add(values, json_object_new_string(value));
	json_object_object_add(query, "values", values);
	text = take_text(query);
	url_encode(encoded, sizeof(encoded), text);
	free(text);
	snprintf(path, sizeof(path), DOCS "?queries%%5B0%%5D=%s", encoded);
	assert_int_equal(rest_json(&reply, env, "GET", path, NULL), 200);
	return reply;
}

static void setup_items(const cairn_it_env *env)
{
	assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases",
		"{\"databaseId\":\"main\",\"name\":\"main\"}"), 201);
	assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases/main/collections",
		"{\"collectionId\":\"items\",\"name\":\"x'); DROP TABLE collections;--\"}"), 201);
}

static int64_t total_of(const cairn_it_env *env)
{
	json_object *reply = NULL;
	int64_t total = -1;

	assert_int_equal(rest_json(&reply, env, "GET", DOCS, NULL), 200);
	assert_true(cairn__json_get_int64(reply, "total", &total));
	json_object_put(reply);
	return total;
}

static void test_integration_sql_metacharacters__rest(void **state)
{
	cairn_it_env *env = *state;
	char path[256];

	setup_items(env);
	for (size_t i = 0; i < NASTY_COUNT; i++) {
		json_object *body = json_object_new_object(), *reply = NULL;

		snprintf(path, sizeof(path), "d%zu", i);
		json_object_object_add(body, "documentId", json_object_new_string(path));
		json_object_object_add(body, "data", fields_for(i));
		assert_int_equal(rest_json(&reply, env, "POST", DOCS, body), 201);
		assert_verbatim(reply, i);
		json_object_put(reply);
	}
	for (size_t i = 0; i < NASTY_COUNT; i++) {
		json_object *reply = NULL, *documents;

		snprintf(path, sizeof(path), DOCS "/d%zu", i);
		assert_int_equal(rest_json(&reply, env, "GET", path, NULL), 200);
		assert_verbatim(reply, i);
		json_object_put(reply);
		/* equal matches the one document, byte for byte. */
		reply = list_where(env, "equal", nasty[i]);
		documents = member(reply, "documents");
		assert_int_equal(json_object_array_length(documents), 1);
		assert_verbatim(json_object_array_get_idx(documents, 0), i);
		json_object_put(reply);
	}
	/* LIKE wildcards are literal characters in startsWith and contains. */
	{
		json_object *reply = list_where(env, "startsWith", "%");
		json_object *documents = member(reply, "documents");

		assert_int_equal(json_object_array_length(documents), 1);
		assert_string_equal(json_object_get_string(member(json_object_array_get_idx(
			documents, 0), "v")), "%");
		json_object_put(reply);
		reply = list_where(env, "startsWith", "_");
		assert_int_equal(json_object_array_length(member(reply, "documents")), 1);
		json_object_put(reply);
		reply = list_where(env, "contains", "\\%d\\_");
		documents = member(reply, "documents");
		assert_int_equal(json_object_array_length(documents), 1);
		assert_string_equal(json_object_get_string(member(json_object_array_get_idx(
			documents, 0), "v")), "a%b_c\\%d\\_e");
		json_object_put(reply);
	}
	/* Ids are never SQL: refused with 400, in a body or a path. */
	{
		json_object *body = json_object_new_object(), *reply = NULL;

		json_object_object_add(body, "documentId", json_object_new_string(nasty[0]));
		json_object_object_add(body, "data", json_object_new_object());
		assert_int_equal(rest_json(&reply, env, "POST", DOCS, body), 400);
		assert_string_equal(json_object_get_string(member(reply, "type")),
			"general_argument_invalid");
		json_object_put(reply);
		body = json_object_new_object();
		json_object_object_add(body, "databaseId", json_object_new_string(nasty[1]));
		json_object_object_add(body, "name", json_object_new_string("n"));
		assert_int_equal(rest_json(NULL, env, "POST", "/databases", body), 400);
		snprintf(path, sizeof(path), DOCS "/x%%27%%29%%3B%%20DROP%%20TABLE%%20documents%%3B--");
		/* Not an id: "not found" or "invalid", as an Appwrite error either way. */
		for (int m = 0; m < 2; m++) {
			long status = rest_json(&reply, env, m ? "DELETE" : "GET", path, NULL);

			assert_true(status == 400 || status == 404);
			assert_int_equal(json_object_get_int(member(reply, "code")), status);
			json_object_put(reply);
		}
	}
	/* Nothing else changed: every document is still there. */
	assert_int_equal(total_of(env), (int64_t)NASTY_COUNT);
}

static void test_integration_sql_metacharacters__sync(void **state)
{
	cairn_it_env *env = *state;
	json_object *body, *mutations, *reply = NULL, *changes;
	size_t found = 0;

	setup_items(env);
	body = json_object_new_object();
	mutations = json_object_new_array();
	for (size_t i = 0; i < NASTY_COUNT; i++) {
		json_object *mutation = json_object_new_object();
		char id[32];

		snprintf(id, sizeof(id), "s%zu", i);
		/* The mutation id is free text: SQL in it is just bytes too. */
		json_object_object_add(mutation, "mutationId", json_object_new_string_len(
			nasty[i], (int)strlen(nasty[i])));
		json_object_object_add(mutation, "op", json_object_new_string("put"));
		json_object_object_add(mutation, "collection", json_object_new_string("items"));
		json_object_object_add(mutation, "id", json_object_new_string(id));
		json_object_object_add(mutation, "baseVersion", json_object_new_int(0));
		json_object_object_add(mutation, "data", fields_for(i));
		json_object_array_add(mutations, mutation);
	}
	json_object_object_add(body, "clientId", json_object_new_string("c-1"));
	json_object_object_add(body, "mutations", mutations);
	assert_int_equal(rest_json(&reply, env, "POST", "/sync/databases/main/push",
		json_object_get(body)), 200);
	for (size_t i = 0; i < NASTY_COUNT; i++) {
		json_object *result = json_object_array_get_idx(member(reply, "results"), i);

		assert_string_equal(json_object_get_string(member(result, "status")), "applied");
		assert_string_equal(json_object_get_string(member(result, "mutationId")), nasty[i]);
		assert_verbatim(member(result, "document"), i);
	}
	json_object_put(reply);
	/* The same push again is a replay: identical outcomes, nothing written twice. */
	assert_int_equal(rest_json(&reply, env, "POST", "/sync/databases/main/push", body), 200);
	for (size_t i = 0; i < NASTY_COUNT; i++)
		assert_string_equal(json_object_get_string(member(json_object_array_get_idx(
			member(reply, "results"), i), "status")), "applied");
	json_object_put(reply);
	assert_int_equal(rest_json(&reply, env, "POST", "/sync/databases/main/pull",
		json_object_new_object()), 200);
	changes = member(reply, "changes");
	for (size_t c = 0; c < json_object_array_length(changes); c++) {
		json_object *doc = member(json_object_array_get_idx(changes, c), "document");
		int i = json_object_get_int(member(doc, "i"));

		assert_true(i >= 0 && (size_t)i < NASTY_COUNT);
		assert_verbatim(doc, (size_t)i);
		found++;
	}
	assert_int_equal(found, NASTY_COUNT);
	json_object_put(reply);
	assert_int_equal(total_of(env), (int64_t)NASTY_COUNT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_sql_metacharacters__rest),
		CAIRN_IT_TEST(test_integration_sql_metacharacters__sync),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
