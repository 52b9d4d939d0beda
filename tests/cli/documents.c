/* documents.c: `cairn put/patch/get/rm/query` against a local store, through the real binary. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "support/cli_fixture.h"

typedef cairn_cli_fixture fixture;

static const char *field(json_object *object, const char *key)
{
	json_object *value;

	if (!json_object_object_get_ex(object, key, &value))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(object));
	return json_object_get_string(value);
}

static void put(const fixture *f, const char *collection, const char *id, const char *json)
{
	cairn_cli_result r;

	cairn_cli_runl(&r, NULL, NULL, NULL, "put", collection, id, json, "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
}

/* The document as `cairn get` prints it (caller frees), or NULL with *status set. */
static json_object *get(const fixture *f, const char *collection, const char *id, int status)
{
	cairn_cli_result r;
	json_object *document = NULL;

	cairn_cli_runl(&r, NULL, NULL, NULL, "get", collection, id, "--store", f->store, NULL);
	cairn_cli_expect_status(&r, status);
	if (status == 0)
		document = cairn_cli_parse(r.out);
	cairn_cli_result_free(&r);
	return document;
}

static void test_cli_documents__put_then_get(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *document;

	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t1",
		"{\"title\":\"milk\",\"n\":9007199254740993}", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	document = cairn_cli_parse(r.out);
	assert_string_equal(field(document, "$id"), "t1");
	assert_string_equal(field(document, "$collectionId"), "tasks");
	assert_string_equal(field(document, "title"), "milk");
	json_object_put(document);
	cairn_cli_result_free(&r);

	document = get(f, "tasks", "t1", 0);
	assert_string_equal(field(document, "title"), "milk");
	/* Large integers survive the trip exactly. */
	assert_string_equal(field(document, "n"), "9007199254740993");
	json_object_put(document);
}

static void test_cli_documents__options_anywhere(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *document;
	char store_equals[PATH_MAX + 32];

	snprintf(store_equals, sizeof(store_equals), "--store=%s", f->store);
	/* Before the command, between the arguments, after them, and as --opt=value. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "--store", f->store, "put", "tasks", "a",
		"{\"v\":1}", NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "--store", f->store, "b",
		"{\"v\":2}", NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "c", "{\"v\":3}", store_equals, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	/* After --, words that look like options are arguments. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "put", store_equals, "--", "tasks", "d",
		"{\"v\":\"--store\"}", NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);

	document = get(f, "tasks", "a", 0);
	assert_string_equal(field(document, "v"), "1");
	json_object_put(document);
	document = get(f, "tasks", "b", 0);
	assert_string_equal(field(document, "v"), "2");
	json_object_put(document);
	document = get(f, "tasks", "c", 0);
	assert_string_equal(field(document, "v"), "3");
	json_object_put(document);
	document = get(f, "tasks", "d", 0);
	assert_string_equal(field(document, "v"), "--store");
	json_object_put(document);
}

static void test_cli_documents__put_unique_id(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *document;
	char id[64];

	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "unique()", "{\"title\":\"eggs\"}",
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	document = cairn_cli_parse(r.out);
	snprintf(id, sizeof(id), "%s", field(document, "$id"));
	json_object_put(document);
	cairn_cli_result_free(&r);
	assert_int_equal(strlen(id), 20);
	assert_int_equal(strspn(id, "0123456789abcdef"), 20);

	document = get(f, "tasks", id, 0);
	assert_string_equal(field(document, "title"), "eggs");
	json_object_put(document);
}

static void test_cli_documents__json_from_stdin(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *document;

	cairn_cli_runl(&r, NULL, NULL, "{\"title\":\"from stdin\"}\n", "put", "tasks", "s1", "-",
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	cairn_cli_runl(&r, NULL, NULL, "{\"done\":true}", "patch", "tasks", "s1", "-", "--store",
		f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);

	document = get(f, "tasks", "s1", 0);
	assert_string_equal(field(document, "title"), "from stdin");
	assert_string_equal(field(document, "done"), "true");
	json_object_put(document);
}

static void test_cli_documents__patch_merges_and_prints(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *document;

	put(f, "tasks", "t1", "{\"title\":\"milk\",\"done\":false,\"n\":1}");
	cairn_cli_runl(&r, NULL, NULL, NULL, "patch", "tasks", "t1", "{\"done\":true,\"n\":null}",
		"--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	document = cairn_cli_parse(r.out);
	assert_string_equal(field(document, "title"), "milk");
	assert_string_equal(field(document, "done"), "true");
	json_object_put(document);
	cairn_cli_result_free(&r);

	document = get(f, "tasks", "t1", 0);
	assert_string_equal(field(document, "done"), "true");
	assert_null(json_object_object_get(document, "n"));
	json_object_put(document);
}

static void test_cli_documents__not_found_is_exit_3(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;

	put(f, "tasks", "t1", "{\"a\":1}");
	get(f, "tasks", "missing", 3);
	get(f, "nothere", "t1", 3);

	cairn_cli_runl(&r, NULL, NULL, NULL, "patch", "tasks", "missing", "{\"a\":2}", "--store",
		f->store, NULL);
	cairn_cli_expect_status(&r, 3);
	assert_non_null(strstr(r.err, "cairn: "));
	assert_string_equal(r.out, "");
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "rm", "tasks", "missing", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 3);
	cairn_cli_result_free(&r);
}

static void test_cli_documents__rm(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *document;

	put(f, "tasks", "t1", "{\"a\":1}");
	put(f, "tasks", "t2", "{\"a\":2}");
	cairn_cli_runl(&r, NULL, NULL, NULL, "rm", "tasks", "t1", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	get(f, "tasks", "t1", 3);
	document = get(f, "tasks", "t2", 0);
	json_object_put(document);
	cairn_cli_runl(&r, NULL, NULL, NULL, "rm", "tasks", "t1", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 3);
	cairn_cli_result_free(&r);
}

static void test_cli_documents__malformed_json_changes_nothing(void **state)
{
	fixture *f = *state;
	static const char *const bad[] = { "{\"title\":", "[1,2]", "not json", "{\"a\":1} trailing",
		"\"string\"" };
	cairn_cli_result r;
	json_object *document;

	put(f, "tasks", "t1", "{\"title\":\"kept\"}");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "t1", bad[i], "--store", f->store,
			NULL);
		cairn_cli_expect_status(&r, 1);
		assert_string_equal(r.out, "");
		assert_non_null(strstr(r.err, "cairn: "));
		cairn_cli_result_free(&r);

		cairn_cli_runl(&r, NULL, NULL, NULL, "patch", "tasks", "t1", bad[i], "--store",
			f->store, NULL);
		cairn_cli_expect_status(&r, 1);
		cairn_cli_result_free(&r);

		cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "new", bad[i], "--store", f->store,
			NULL);
		cairn_cli_expect_status(&r, 1);
		cairn_cli_result_free(&r);
	}
	document = get(f, "tasks", "t1", 0);
	assert_string_equal(field(document, "title"), "kept");
	json_object_put(document);
	get(f, "tasks", "new", 3);

	/* Nothing was queued for the server either. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "status", "--json", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	document = cairn_cli_parse(r.out);
	assert_string_equal(field(document, "pending"), "1");
	json_object_put(document);
	cairn_cli_result_free(&r);
}

static void test_cli_documents__invalid_id_is_error(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;

	cairn_cli_runl(&r, NULL, NULL, NULL, "put", "tasks", "_bad", "{\"a\":1}", "--store", f->store,
		NULL);
	cairn_cli_expect_status(&r, 1);
	cairn_cli_result_free(&r);
}

static void test_cli_documents__query(void **state)
{
	fixture *f = *state;
	cairn_cli_result r;
	json_object *list;

	put(f, "tasks", "a", "{\"n\":1,\"done\":false}");
	put(f, "tasks", "b", "{\"n\":2,\"done\":true}");
	put(f, "tasks", "c", "{\"n\":3,\"done\":false}");

	cairn_cli_runl(&r, NULL, NULL, NULL, "query", "tasks", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	list = cairn_cli_parse(r.out);
	assert_true(json_object_is_type(list, json_type_array));
	assert_int_equal(json_object_array_length(list), 3);
	json_object_put(list);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "query", "tasks",
		"{\"method\":\"equal\",\"attribute\":\"done\",\"values\":[false]}", "--store", f->store,
		"{\"method\":\"orderDesc\",\"attribute\":\"n\"}", NULL);
	cairn_cli_expect_status(&r, 0);
	list = cairn_cli_parse(r.out);
	assert_int_equal(json_object_array_length(list), 2);
	assert_string_equal(field(json_object_array_get_idx(list, 0), "$id"), "c");
	assert_string_equal(field(json_object_array_get_idx(list, 1), "$id"), "a");
	json_object_put(list);
	cairn_cli_result_free(&r);

	/* An empty collection is an empty array, not an error. */
	cairn_cli_runl(&r, NULL, NULL, NULL, "query", "nothing", "--store", f->store, NULL);
	cairn_cli_expect_status(&r, 0);
	list = cairn_cli_parse(r.out);
	assert_int_equal(json_object_array_length(list), 0);
	json_object_put(list);
	cairn_cli_result_free(&r);

	cairn_cli_runl(&r, NULL, NULL, NULL, "query", "tasks", "{\"method\":", "--store", f->store,
		NULL);
	cairn_cli_expect_status(&r, 1);
	assert_string_equal(r.out, "");
	cairn_cli_result_free(&r);
}

static void test_cli_documents__store_from_environment(void **state)
{
	fixture *f = *state;
	char variable[PATH_MAX + 32];
	const char *env[] = { variable, NULL };
	cairn_cli_result r;
	json_object *document;

	snprintf(variable, sizeof(variable), "CAIRN_STORE=%s", f->store);
	cairn_cli_runl(&r, NULL, env, NULL, "put", "tasks", "e1", "{\"via\":\"env\"}", NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	assert_int_equal(access(f->store, F_OK), 0);
	/* The same store through --store. */
	document = get(f, "tasks", "e1", 0);
	assert_string_equal(field(document, "via"), "env");
	json_object_put(document);
}

static void test_cli_documents__default_store_in_cwd(void **state)
{
	fixture *f = *state;
	char path[PATH_MAX + 16];
	cairn_cli_result r;

	cairn_cli_runl(&r, f->dir, NULL, NULL, "put", "tasks", "d1", "{\"a\":1}", NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	snprintf(path, sizeof(path), "%s/cairn.db", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	cairn_cli_runl(&r, f->dir, NULL, NULL, "get", "tasks", "d1", NULL);
	cairn_cli_expect_status(&r, 0);
	cairn_cli_result_free(&r);
	/* --store wins over the default: a different, empty store. */
	get(f, "tasks", "d1", 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_CLI_TEST(test_cli_documents__put_then_get),
		CAIRN_CLI_TEST(test_cli_documents__options_anywhere),
		CAIRN_CLI_TEST(test_cli_documents__put_unique_id),
		CAIRN_CLI_TEST(test_cli_documents__json_from_stdin),
		CAIRN_CLI_TEST(test_cli_documents__patch_merges_and_prints),
		CAIRN_CLI_TEST(test_cli_documents__not_found_is_exit_3),
		CAIRN_CLI_TEST(test_cli_documents__rm),
		CAIRN_CLI_TEST(test_cli_documents__malformed_json_changes_nothing),
		CAIRN_CLI_TEST(test_cli_documents__invalid_id_is_error),
		CAIRN_CLI_TEST(test_cli_documents__query),
		CAIRN_CLI_TEST(test_cli_documents__store_from_environment),
		CAIRN_CLI_TEST(test_cli_documents__default_store_in_cwd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
