/* push_data_as_text.c: a push with "dataAsText": true, whose `data` (and `permissions`) travel
 * as strings holding their JSON text, has exactly the outcomes of the same push with objects:
 * the same results, errors and stored documents, whether the server stores the text as it came
 * (a plain put) or parses it (anything else). Runs against the real server (SQLite; again on
 * PostgreSQL as pg_push_data_as_text). */
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

#define PUSH "/sync/databases/main/push"
#define PULL "/sync/databases/main/pull"
#define CLIENT "c-data-as-text"
#define DOCS "/databases/main/collections/items/documents/"
#define MAX_DOCUMENT_BYTES (1024 * 1024)

static int has_member(json_object *object, const char *key)
{
	return json_object_object_get_ex(object, key, NULL);
}

static const char *string_of(json_object *object, const char *key)
{
	return json_object_get_string(cairn_it_member(object, key));
}

/* Any JSON value (scalars too), nested deeper than the server allows if need be. */
static json_object *parse_any(const char *text)
{
	json_tokener *tokener = json_tokener_new_ex(64);
	json_object *value = json_tokener_parse_ex(tokener, text, (int)strlen(text) + 1);

	if (json_tokener_get_error(tokener) != json_tokener_success)
		fail_msg("invalid JSON: %s", text);
	json_tokener_free(tokener);
	return value;
}

#define TEXT_LENGTH ((size_t)-1) /* mutation(): the length of a NUL-terminated `data` */

/* One mutation. `data` (length `length`, which may hold a NUL; TEXT_LENGTH: strlen) is sent
 * as a string holding it when `as_text`, else as the JSON value it holds; NULL sends none.
 * `extra` (JSON object text or NULL) adds members such as counters or permissions. */
static json_object *mutation(const char *mutation_id, const char *op, const char *id,
	int64_t base_version, const char *data, size_t length, int as_text, const char *extra)
{
	json_object *m = json_object_new_object();

	if (data && length == TEXT_LENGTH)
		length = strlen(data);
	json_object_object_add(m, "mutationId", json_object_new_string(mutation_id));
	json_object_object_add(m, "op", json_object_new_string(op));
	json_object_object_add(m, "collection", json_object_new_string("items"));
	json_object_object_add(m, "id", json_object_new_string(id));
	json_object_object_add(m, "baseVersion", json_object_new_int64(base_version));
	json_object_object_add(m, "hlc", json_object_new_int64(1000));
	if (data && as_text)
		json_object_object_add(m, "data", json_object_new_string_len(data, (int)length));
	else if (data)
		json_object_object_add(m, "data", parse_any(data));
	if (extra) {
		json_object *members = cairn_it_parse(extra);

		json_object_object_foreach(members, key, value)
			json_object_object_add(m, key, json_object_get(value));
		json_object_put(members);
	}
	return m;
}

/* The body of a push of `mutations` (handed over); `flags` is a JSON object text of the
 * top-level flags (dataAsText, slimAcks) or NULL. Returns a malloc'd string. */
static char *push_body(json_object *mutations, const char *flags)
{
	json_object *body = flags ? cairn_it_parse(flags) : json_object_new_object();
	char *text;

	json_object_object_add(body, "clientId", json_object_new_string(CLIENT));
	json_object_object_add(body, "mutations", mutations);
	text = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
	json_object_put(body);
	return text;
}

/* Pushes one mutation and returns the whole reply (status 200 asserted). */
static json_object *push_one(cairn_it_env *env, json_object *one, const char *flags)
{
	json_object *mutations = json_object_new_array();
	json_object *reply;
	char *body;

	json_object_array_add(mutations, one);
	body = push_body(mutations, flags);
	reply = cairn_it_post(env, PUSH, body, 200);
	free(body);
	return reply;
}

static json_object *result_at(json_object *reply, size_t index)
{
	json_object *results = cairn_it_member(reply, "results");

	assert_true(index < json_object_array_length(results));
	return json_object_array_get_idx(results, index);
}

/* The server's document `id` (REST), or NULL when it does not exist. */
static json_object *server_document(cairn_it_env *env, const char *id)
{
	char path[128];
	char *text = NULL;
	long status;
	json_object *document;

	snprintf(path, sizeof(path), DOCS "%s", id);
	status = cairn_it_rest(&text, env, "GET", path, NULL);
	if (status == 404) {
		free(text);
		return NULL;
	}
	if (status != 200)
		fail_msg("GET %s: %ld %.500s", path, status, text ? text : "");
	document = cairn_it_parse(text);
	free(text);
	return document;
}

/* Asserts two results of one mutation pushed in the two forms mean the same: the status, the
 * slim or full ack with the same user fields, the same error. */
static void assert_same_result(json_object *object_form, json_object *text_form,
	const char *what)
{
	const char *status = string_of(object_form, "status");

	if (strcmp(status, string_of(text_form, "status")) != 0)
		fail_msg("%s: object form %s, text form %s", what,
			json_object_to_json_string(object_form), json_object_to_json_string(text_form));
	if (strcmp(status, "rejected") == 0) {
		json_object *a = cairn_it_member(object_form, "error");
		json_object *b = cairn_it_member(text_form, "error");

		assert_int_equal(json_object_get_int64(cairn_it_member(a, "code")),
			json_object_get_int64(cairn_it_member(b, "code")));
		assert_string_equal(string_of(a, "type"), string_of(b, "type"));
		assert_string_equal(string_of(a, "message"), string_of(b, "message"));
		return;
	}
	assert_string_equal(status, "applied");
	assert_int_equal(has_member(object_form, "asPushed"), has_member(text_form, "asPushed"));
	if (json_object_is_type(cairn_it_member(object_form, "document"), json_type_object)) {
		json_object *a = cairn_it_user_fields(cairn_it_member(object_form, "document"));
		json_object *b = cairn_it_user_fields(cairn_it_member(text_form, "document"));

		if (!json_object_equal(a, b))
			fail_msg("%s: acked fields %s and %s", what, json_object_to_json_string(a),
				json_object_to_json_string(b));
		json_object_put(a);
		json_object_put(b);
	}
}

/* Asserts documents `a` and `b` are both missing, or both exist with equal user fields. */
static void assert_same_stored(cairn_it_env *env, const char *a_id, const char *b_id,
	const char *what)
{
	json_object *a = server_document(env, a_id);
	json_object *b = server_document(env, b_id);
	json_object *a_fields, *b_fields;

	if (!a || !b) {
		if (a || b)
			fail_msg("%s: stored in one form only", what);
		return;
	}
	a_fields = cairn_it_user_fields(a);
	b_fields = cairn_it_user_fields(b);
	if (!json_object_equal(a_fields, b_fields))
		fail_msg("%s: stored %s and %s", what, json_object_to_json_string(a_fields),
			json_object_to_json_string(b_fields));
	json_object_put(a_fields);
	json_object_put(b_fields);
	json_object_put(a);
	json_object_put(b);
}

/* Pushes a put of `data` to a new document in both forms (with slim acks, then without) and
 * asserts the same results and stored documents. Returns the text form's slim result's
 * status, for the caller's own expectation. */
static char *both_forms(cairn_it_env *env, const char *data, const char *extra)
{
	static int next;
	char *status = NULL;

	for (int slim = 0; slim < 2; slim++) {
		const char *flags[2] = { slim ? "{\"slimAcks\":true}" : NULL,
			slim ? "{\"slimAcks\":true,\"dataAsText\":true}" : "{\"dataAsText\":true}" };
		json_object *replies[2];
		char ids[2][32];
		char mutation_ids[2][32];

		for (int form = 0; form < 2; form++) {
			snprintf(ids[form], sizeof(ids[form]), "d%d-%d", next, form);
			snprintf(mutation_ids[form], sizeof(mutation_ids[form]), "m%d-%d", next, form);
			replies[form] = push_one(env, mutation(mutation_ids[form], "put", ids[form], 0,
				data, strlen(data), form, extra), flags[form]);
		}
		next++;
		assert_same_result(result_at(replies[0], 0), result_at(replies[1], 0), data);
		assert_same_stored(env, ids[0], ids[1], data);
		if (slim) {
			free(status);
			status = strdup(string_of(result_at(replies[1], 0), "status"));
		}
		json_object_put(replies[0]);
		json_object_put(replies[1]);
	}
	return status;
}

/* `depth` nested objects around a number: {"a":{"a":…1…}}. */
static char *nested(int depth)
{
	char *text = malloc((size_t)depth * 6 + 2);
	size_t n = 0;

	for (int i = 0; i < depth; i++) {
		memcpy(text + n, "{\"a\":", 5);
		n += 5;
	}
	text[n++] = '1';
	for (int i = 0; i < depth; i++)
		text[n++] = '}';
	text[n] = '\0';
	return text;
}

/* A plain text is stored as it came and acked slim; other puts are stored as their object
 * would be: $ keys dropped, white space, repeated keys, escaped keys. */
static void test_integration_push_data_as_text__same_as_objects(void **state)
{
	cairn_it_env *env = *state;
	static const struct { const char *data; const char *status; } cases[] = {
		{ "{\"title\":\"alpha\",\"n\":1.5,\"big\":9007199254740993,\"tags\":[\"x\",\"y\"],"
		  "\"nested\":{\"deep\":[1,{\"z\":null}],\"$inner\":true},\"ok\":false,"
		  "\"s\":\"quote \\\" back \\\\ tab \\t slash / \\u00e9 \\u2713 nul \\u0000 end\"}",
		  "applied" },
		{ "{}", "applied" },
		{ "{\"$id\":\"ignored\",\"title\":\"t\",\"$permissions\":[]}", "applied" },
		{ "{ \"a\" : [ 1 , 2 ],\n\"b\":{} }", "applied" },
		{ "{\"a\":1,\"b\":2,\"a\":3}", "applied" },
		{ "{\"o\":{\"k\":1,\"k\":[2]},\"p\":{\"k\":3}}", "applied" },
		{ "{\"\\u0061\":1,\"a\":2}", "applied" },
		{ "{\"e\":1E+2,\"f\":-0.5e-3,\"g\":-0}", "applied" },
		{ "[1,2]", "rejected" },
		{ "\"text\"", "rejected" },
		{ "5", "rejected" },
		{ "null", "rejected" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *status = both_forms(env, cases[i].data, NULL);

		if (strcmp(status, cases[i].status) != 0)
			fail_msg("%s: %s, expected %s", cases[i].data, status, cases[i].status);
		free(status);
	}
}

/* Depth and size limits refuse the same documents with the same errors in both forms. */
static void test_integration_push_data_as_text__limits(void **state)
{
	cairn_it_env *env = *state;
	char *deepest = nested(CAIRN_JSON_MAX_DEPTH);
	char *too_deep = nested(CAIRN_JSON_MAX_DEPTH + 1);
	size_t big_length = MAX_DOCUMENT_BYTES + 16;
	char *big = malloc(big_length + 1);
	char *status;
	json_object *reply;

	status = both_forms(env, deepest, NULL);
	assert_string_equal(status, "applied");
	free(status);
	status = both_forms(env, too_deep, NULL);
	assert_string_equal(status, "rejected");
	free(status);
	/* Deeper than a request body may nest an object: only the text form can say it. */
	free(too_deep);
	too_deep = nested(200);
	reply = push_one(env, mutation("deep", "put", "deep", 0, too_deep, TEXT_LENGTH, 1, NULL),
		"{\"dataAsText\":true}");
	assert_string_equal(string_of(result_at(reply, 0), "status"), "rejected");
	assert_string_equal(string_of(cairn_it_member(result_at(reply, 0), "error"), "message"),
		"Invalid document structure: `data` is nested deeper than 32 levels.");
	json_object_put(reply);
	/* {"big":"xxx…"} of exactly the limit, then one byte over it. */
	memcpy(big, "{\"big\":\"", 8);
	memset(big + 8, 'x', big_length - 8);
	memcpy(big + MAX_DOCUMENT_BYTES - 2, "\"}", 3);
	status = both_forms(env, big, NULL);
	assert_string_equal(status, "applied");
	free(status);
	memcpy(big + MAX_DOCUMENT_BYTES - 2, "x\"}", 4);
	status = both_forms(env, big, NULL);
	assert_string_equal(status, "rejected");
	free(status);
	free(big);
	free(deepest);
	free(too_deep);
}

/* Texts no object could be: not JSON, trailing data, a NUL byte, nothing. Each is rejected
 * alone (400 document_invalid_structure) and the rest of the batch applies. */
static void test_integration_push_data_as_text__bad_texts(void **state)
{
	cairn_it_env *env = *state;
	static const struct { const char *data; size_t length; } cases[] = {
		{ "{\"a\":", 5 },
		{ "{\"a\":1} x", 9 },
		{ "{\"a\":1}{}", 9 },
		{ "{\"a\":1}\0", 8 },
		{ "{\"a\":\"x\0y\"}", 11 },
		{ "{\"a\":tru}", 9 },
		{ "{[\"k\"]:1}", 9 }, /* SQLite 3.40's json_valid() takes it */
		{ "{\"o\":{{\"k\":\"v\"}:1}}", 19 },
		{ "", 0 },
	};
	size_t count = sizeof(cases) / sizeof(cases[0]);
	json_object *mutations = json_object_new_array();
	json_object *reply;
	char *body;

	for (size_t i = 0; i < count; i++) {
		char mutation_id[16], id[16];

		snprintf(mutation_id, sizeof(mutation_id), "bad%zu", i);
		snprintf(id, sizeof(id), "bad%zu", i);
		json_object_array_add(mutations, mutation(mutation_id, "put", id, 0, cases[i].data,
			cases[i].length, 1, NULL));
	}
	json_object_array_add(mutations, mutation("good", "put", "good", 0, "{\"ok\":true}",
		TEXT_LENGTH, 1, NULL));
	body = push_body(mutations, "{\"dataAsText\":true,\"slimAcks\":true}");
	reply = cairn_it_post(env, PUSH, body, 200);
	for (size_t i = 0; i < count; i++) {
		json_object *result = result_at(reply, i);
		char id[16];

		if (strcmp(string_of(result, "status"), "rejected") != 0)
			fail_msg("text %zu: %s", i, json_object_to_json_string(result));
		assert_int_equal(json_object_get_int64(cairn_it_member(cairn_it_member(result, "error"), "code")), 400);
		assert_string_equal(string_of(cairn_it_member(result, "error"), "type"),
			"document_invalid_structure");
		snprintf(id, sizeof(id), "bad%zu", i);
		assert_null(server_document(env, id));
	}
	assert_string_equal(string_of(result_at(reply, count), "status"), "applied");
	assert_true(json_object_get_boolean(cairn_it_member(result_at(reply, count), "asPushed")));
	json_object_put(reply);
	/* The refusals are stored: the same batch again gives them back and writes nothing. */
	reply = cairn_it_post(env, PUSH, body, 200);
	for (size_t i = 0; i < count; i++)
		assert_string_equal(string_of(result_at(reply, i), "status"), "rejected");
	json_object_put(reply);
	reply = cairn_it_post(env, PULL, "{\"checkpoint\":0}", 200);
	assert_int_equal(json_object_array_length(cairn_it_member(reply, "changes")), 1);
	json_object_put(reply);
	free(body);
}

/* Patches, increments, counters and permissions sent as text mean what their values mean. */
static void test_integration_push_data_as_text__other_ops(void **state)
{
	cairn_it_env *env = *state;
	json_object *mutations = json_object_new_array();
	json_object *reply;
	json_object *document;
	json_object *fields;
	json_object *expected;
	char *body;

	json_object_array_add(mutations, mutation("o1", "put", "a", 0,
		"{\"title\":\"alpha\",\"n\":1,\"count\":5}", TEXT_LENGTH, 1,
		"{\"permissions\":\"[\\\"read(\\\\\\\"any\\\\\\\")\\\"]\"}"));
	json_object_array_add(mutations, mutation("o2", "patch", "a", 1, "{\"n\":2}",
		TEXT_LENGTH, 1, "{\"prevMutationId\":\"o1\"}"));
	json_object_array_add(mutations, mutation("o3", "increment", "a", 0, "{\"count\":3}",
		TEXT_LENGTH, 1, NULL));
	json_object_array_add(mutations, mutation("o4", "put", "a", 3,
		"{\"title\":\"beta\",\"count\":0}", TEXT_LENGTH, 1, "{\"counters\":[\"count\"]}"));
	json_object_array_add(mutations, mutation("o5", "put", "b", 0, "{\"x\":1}",
		TEXT_LENGTH, 1, "{\"permissions\":\"[\"}"));
	json_object_array_add(mutations, mutation("o6", "put", "c", 0, "{\"x\":1}",
		TEXT_LENGTH, 1, "{\"permissions\":\"[\\\"bogus\\\"]\"}"));
	body = push_body(mutations, "{\"dataAsText\":true}");
	reply = cairn_it_post(env, PUSH, body, 200);
	free(body);
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(string_of(result_at(reply, i), "status"), "applied") != 0)
			fail_msg("mutation %zu: %s", i, json_object_to_json_string(result_at(reply, i)));
	}
	assert_string_equal(string_of(result_at(reply, 4), "status"), "rejected");
	assert_string_equal(string_of(cairn_it_member(result_at(reply, 4), "error"), "type"),
		"general_argument_invalid");
	assert_string_equal(string_of(result_at(reply, 5), "status"), "rejected");
	assert_string_equal(string_of(cairn_it_member(result_at(reply, 5), "error"), "type"),
		"general_argument_invalid");
	json_object_put(reply);

	document = server_document(env, "a");
	assert_non_null(document);
	fields = cairn_it_user_fields(document);
	expected = cairn_it_parse("{\"title\":\"beta\",\"count\":8}");
	if (!json_object_equal(fields, expected))
		fail_msg("stored %s", json_object_to_json_string(fields));
	assert_int_equal(json_object_array_length(cairn_it_member(document, "$permissions")), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
		cairn_it_member(document, "$permissions"), 0)), "read(\"any\")");
	json_object_put(expected);
	json_object_put(fields);
	json_object_put(document);
}

/* An increment whose text is not an object of deltas makes the request malformed, as an
 * increment with such an object does; so does a dataAsText that is not a boolean. Without
 * dataAsText a string `data` is refused as it always was. */
static void test_integration_push_data_as_text__request_errors(void **state)
{
	cairn_it_env *env = *state;
	static const char *const increments[] = { "{\"count\":", "{\"count\":1.5}", "[1]" };
	json_object *reply;
	char *body;
	char *text = NULL;
	long status;

	for (size_t i = 0; i < sizeof(increments) / sizeof(increments[0]); i++) {
		json_object *mutations = json_object_new_array();

		json_object_array_add(mutations, mutation("i1", "increment", "a", 0, increments[i],
			strlen(increments[i]), 1, NULL));
		body = push_body(mutations, "{\"dataAsText\":true}");
		status = cairn_it_rest(&text, env, "POST", PUSH, body);
		cairn_it_assert_error(status, text, 400, "general_argument_invalid");
		free(text);
		free(body);
	}
	status = cairn_it_rest(&text, env, "POST", PUSH, "{\"clientId\":\"" CLIENT "\","
		"\"dataAsText\":\"yes\",\"mutations\":[{\"mutationId\":\"m1\",\"op\":\"put\","
		"\"collection\":\"items\",\"id\":\"a\",\"data\":\"{}\"}]}");
	cairn_it_assert_error(status, text, 400, "general_argument_invalid");
	free(text);
	reply = push_one(env, mutation("s1", "put", "a", 0, "{\"x\":1}", TEXT_LENGTH, 1, NULL),
		"{\"dataAsText\":false}");
	assert_string_equal(string_of(result_at(reply, 0), "status"), "rejected");
	assert_string_equal(string_of(cairn_it_member(result_at(reply, 0), "error"), "type"),
		"document_invalid_structure");
	json_object_put(reply);
}

/* A retried text batch gets its stored outcomes back (same versions), in either form, and
 * nothing is applied twice; the pull's text form hands the stored text back as it came. */
static void test_integration_push_data_as_text__retry_and_pull(void **state)
{
	cairn_it_env *env = *state;
	const char *texts[] = { "{\"title\":\"alpha\",\"s\":\"a \\\"q\\\"\"}",
		"{\"title\":\"beta\",\"$x\":1}" };
	json_object *replies[3];
	json_object *feed;
	char *bodies[2];

	for (int form = 0; form < 2; form++) {
		json_object *mutations = json_object_new_array();

		for (size_t i = 0; i < 2; i++) {
			char mutation_id[8], id[8];

			snprintf(mutation_id, sizeof(mutation_id), "r%zu", i);
			snprintf(id, sizeof(id), "r%zu", i);
			json_object_array_add(mutations, mutation(mutation_id, "put", id, 0, texts[i],
				strlen(texts[i]), form == 0, NULL));
		}
		bodies[form] = push_body(mutations, form == 0 ?
			"{\"dataAsText\":true,\"slimAcks\":true}" : NULL);
	}
	replies[0] = cairn_it_post(env, PUSH, bodies[0], 200);
	replies[1] = cairn_it_post(env, PUSH, bodies[0], 200);
	replies[2] = cairn_it_post(env, PUSH, bodies[1], 200);
	for (int r = 1; r < 3; r++) {
		for (size_t i = 0; i < 2; i++) {
			json_object *first = result_at(replies[0], i);
			json_object *again = result_at(replies[r], i);

			assert_string_equal(string_of(again, "status"), "applied");
			assert_int_equal(json_object_get_int64(cairn_it_member(first, "version")),
				json_object_get_int64(cairn_it_member(again, "version")));
		}
	}
	assert_true(has_member(result_at(replies[0], 0), "asPushed"));
	assert_false(has_member(result_at(replies[0], 1), "asPushed"));
	for (int r = 0; r < 3; r++)
		json_object_put(replies[r]);
	free(bodies[0]);
	free(bodies[1]);

	feed = cairn_it_post(env, PULL, "{\"checkpoint\":0,\"dataAsText\":true}", 200);
	assert_int_equal(json_object_array_length(cairn_it_member(feed, "changes")), 2);
	assert_int_equal(json_object_get_int64(cairn_it_member(feed, "checkpoint")), 2);
	assert_string_equal(string_of(json_object_array_get_idx(cairn_it_member(feed, "changes"), 0),
		"data"), texts[0]);
	assert_string_equal(string_of(json_object_array_get_idx(cairn_it_member(feed, "changes"), 1),
		"data"), "{\"title\":\"beta\"}");
	json_object_put(feed);
}

/* What is stored, as the pull's text form shows it: a plain text exactly as it came (escapes
 * and number spellings kept); any other text as json-c prints its object (compact, one value
 * per key, $ keys dropped at the top). */
static void test_integration_push_data_as_text__stored_texts(void **state)
{
	cairn_it_env *env = *state;
	static const struct { const char *pushed; const char *stored; } cases[] = {
		{ "{\"e\":\"\\u00e9\",\"n\":1E+2,\"l\":[true,null,{\"$k\":-0.5}]}",
		  "{\"e\":\"\\u00e9\",\"n\":1E+2,\"l\":[true,null,{\"$k\":-0.5}]}" },
		{ "{ \"a\" : 1 }", "{\"a\":1}" },
		{ "{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}" },
		{ "{\"o\":{\"k\":1,\"k\":2}}", "{\"o\":{\"k\":2}}" },
		{ "{\"\\u0061\":1,\"b\":2}", "{\"a\":1,\"b\":2}" },
		{ "{\"$id\":\"x\",\"t\":1}", "{\"t\":1}" },
	};
	size_t count = sizeof(cases) / sizeof(cases[0]);
	json_object *mutations = json_object_new_array();
	json_object *changes;
	json_object *feed;
	char *body;

	for (size_t i = 0; i < count; i++) {
		char mutation_id[16], id[16];

		snprintf(mutation_id, sizeof(mutation_id), "t%zu", i);
		snprintf(id, sizeof(id), "t%zu", i);
		json_object_array_add(mutations, mutation(mutation_id, "put", id, 0, cases[i].pushed,
			TEXT_LENGTH, 1, NULL));
	}
	body = push_body(mutations, "{\"dataAsText\":true,\"slimAcks\":true}");
	json_object_put(cairn_it_post(env, PUSH, body, 200));
	free(body);
	feed = cairn_it_post(env, PULL, "{\"checkpoint\":0,\"dataAsText\":true}", 200);
	changes = cairn_it_member(feed, "changes");
	assert_int_equal(json_object_array_length(changes), count);
	for (size_t i = 0; i < count; i++)
		assert_string_equal(string_of(json_object_array_get_idx(changes, i), "data"),
			cases[i].stored);
	json_object_put(feed);
}

/* libcairn pushes its outbox in the text form: documents with every kind of character in
 * their strings arrive as the store holds them. */
static void test_integration_push_data_as_text__client_round_trip(void **state)
{
	cairn_it_env *env = *state;
	cairn_store *store = cairn_it_store_open(env, "writer", "main");
	cairn_sync_result result;

	cairn_it_put(store, "items", "plain", "{\"title\":\"alpha\",\"n\":1}");
	cairn_it_put(store, "items", "tricky", "{\"s\":\"quote \\\" back \\\\ nl \\n tab \\t "
		"ctl \\u0001 slash / \\u00e9 \\u2713\",\"k\\\"ey\":[\"\\\\\",{}],\"e\":{}}");
	cairn_it_put(store, "items", "empty", "{}");
	cairn_it_put(store, "items", "gone", "{\"x\":1}");
	cairn_it_sync(&result, store, NULL);
	cairn_it_patch(store, "items", "plain", "{\"n\":2,\"t\":\"\\\"\"}");
	cairn_it_delete(store, "items", "gone");
	cairn_it_sync(&result, store, NULL);
	cairn_it_assert_outbox_empty(store);
	cairn_it_assert_store_matches_server(env, store, "main", "items");
	cairn_store_free(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_integration_push_data_as_text__same_as_objects,
			cairn_it_setup_items, cairn_it_teardown),
		cmocka_unit_test_setup_teardown(test_integration_push_data_as_text__limits,
			cairn_it_setup_items, cairn_it_teardown),
		cmocka_unit_test_setup_teardown(test_integration_push_data_as_text__bad_texts,
			cairn_it_setup_items, cairn_it_teardown),
		cmocka_unit_test_setup_teardown(test_integration_push_data_as_text__other_ops,
			cairn_it_setup_items, cairn_it_teardown),
		cmocka_unit_test_setup_teardown(test_integration_push_data_as_text__request_errors,
			cairn_it_setup_items, cairn_it_teardown),
		cmocka_unit_test_setup_teardown(test_integration_push_data_as_text__retry_and_pull,
			cairn_it_setup_items, cairn_it_teardown),
		cmocka_unit_test_setup_teardown(test_integration_push_data_as_text__stored_texts,
			cairn_it_setup_items, cairn_it_teardown),
		cmocka_unit_test_setup_teardown(
			test_integration_push_data_as_text__client_round_trip, cairn_it_setup_items,
			cairn_it_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
