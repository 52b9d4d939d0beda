/* schema_routes.c: the attribute and index definitions of a collection are kept by the real
 * server across a restart, dropped with the collection, and shown under both namings; an
 * increment over HTTP is exact under concurrency. Runs on SQLite and, as
 * integration/pg_schema_routes, on PostgreSQL (CAIRN_TEST_POSTGRES). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"

#define COLL "/databases/shop/collections/items"
#define INCREMENT_THREADS 4
#define INCREMENTS_EACH 10

static json_object *rest_json(cairn_it_env *env, const char *method, const char *path,
	const char *body, long expected)
{
	char *text = NULL;
	long status = cairn_it_rest(&text, env, method, path, body);
	json_object *parsed;

	if (status != expected)
		fail_msg("%s %s: expected %ld, got %ld: %.300s", method, path, expected, status,
			text ? text : "");
	parsed = cairn_it_parse(text);
	free(text);
	return parsed;
}

static size_t array_length(json_object *object, const char *key)
{
	json_object *array = NULL;

	assert_true(json_object_object_get_ex(object, key, &array));
	assert_true(json_object_is_type(array, json_type_array));
	return json_object_array_length(array);
}

static void test_integration_schema_routes__kept_across_restart_and_dropped(void **state)
{
	cairn_it_env *env = *state;
	json_object *model;

	cairn_it_rest_expect(env, "POST", "/databases", "{\"databaseId\":\"shop\",\"name\":\"S\"}",
		201);
	cairn_it_rest_expect(env, "POST", "/databases/shop/collections",
		"{\"collectionId\":\"items\",\"name\":\"Items\",\"attributes\":[{\"key\":\"a\","
		"\"type\":\"string\",\"size\":4}]}", 201);
	cairn_it_rest_expect(env, "POST", COLL "/attributes/integer",
		"{\"key\":\"n\",\"required\":false,\"min\":0}", 202);
	cairn_it_rest_expect(env, "POST", COLL "/indexes",
		"{\"key\":\"by_n\",\"type\":\"key\",\"attributes\":[\"n\"]}", 202);

	cairn_it_server_kill(env); /* SIGKILL: what was answered must be on disk */
	cairn_it_server_restart(env);
	model = rest_json(env, "GET", COLL, NULL, 200);
	assert_int_equal(array_length(model, "attributes"), 2);
	assert_int_equal(array_length(model, "indexes"), 1);
	json_object_put(model);
	model = rest_json(env, "GET", "/tablesdb/shop/tables/items", NULL, 200);
	assert_int_equal(array_length(model, "columns"), 2);
	assert_false(json_object_object_get_ex(model, "attributes", NULL));
	json_object_put(model);

	/* Deleting the collection drops its schema: a new one of the same id starts empty. */
	cairn_it_rest_expect(env, "DELETE", COLL, NULL, 204);
	cairn_it_rest_expect(env, "POST", "/databases/shop/collections",
		"{\"collectionId\":\"items\",\"name\":\"Again\"}", 201);
	model = rest_json(env, "GET", COLL "/attributes", NULL, 200);
	assert_int_equal(array_length(model, "attributes"), 0);
	json_object_put(model);
}

typedef struct {
	cairn_it_env *env;
	int failures;
} incrementer;

static void *increment_thread(void *arg)
{
	incrementer *self = arg;

	for (int i = 0; i < INCREMENTS_EACH; i++) {
		char *body = NULL;
		long status = cairn_it_rest(&body, self->env, "PATCH",
			COLL "/documents/counter/n/increment", "{\"value\":1}");
		if (status != 200)
			self->failures++;
		free(body);
	}
	return NULL;
}

static void test_integration_schema_routes__increments_exact(void **state)
{
	cairn_it_env *env = *state;
	pthread_t threads[INCREMENT_THREADS];
	incrementer workers[INCREMENT_THREADS];
	json_object *doc;
	json_object *n = NULL;

	cairn_it_rest_expect(env, "POST", "/databases", "{\"databaseId\":\"shop\",\"name\":\"S\"}",
		201);
	cairn_it_rest_expect(env, "POST", "/databases/shop/collections",
		"{\"collectionId\":\"items\",\"name\":\"Items\"}", 201);
	cairn_it_rest_expect(env, "POST", COLL "/documents",
		"{\"documentId\":\"counter\",\"data\":{\"n\":0}}", 201);
	for (int i = 0; i < INCREMENT_THREADS; i++) {
		workers[i].env = env;
		workers[i].failures = 0;
		assert_int_equal(pthread_create(&threads[i], NULL, increment_thread, &workers[i]), 0);
	}
	for (int i = 0; i < INCREMENT_THREADS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(workers[i].failures, 0);
	}
	doc = rest_json(env, "GET", COLL "/documents/counter", NULL, 200);
	assert_true(json_object_object_get_ex(doc, "n", &n));
	assert_int_equal(json_object_get_int64(n), INCREMENT_THREADS * INCREMENTS_EACH);
	json_object_put(doc);
	/* Bounded: from 40 with max 42, exactly two more steps go through. */
	cairn_it_rest_expect(env, "PATCH", COLL "/documents/counter/n/increment", "{\"max\":42}",
		200);
	cairn_it_rest_expect(env, "PATCH", COLL "/documents/counter/n/increment", "{\"max\":42}",
		200);
	cairn_it_rest_expect(env, "PATCH", COLL "/documents/counter/n/increment", "{\"max\":42}",
		400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_schema_routes__kept_across_restart_and_dropped),
		CAIRN_IT_TEST(test_integration_schema_routes__increments_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
