/* client_test.h: temp-dir and store helpers shared by the tests in tests/client/. */
#ifndef CAIRN_TESTS_CLIENT_TEST_H
#define CAIRN_TESTS_CLIENT_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <json-c/json.h>

#include "cairn.h"

typedef struct {
	char dir[64];    /* mkdtemp'd, removed by client_env_free */
	char path[128];  /* <dir>/store.db */
	cairn_store *store;
} client_env;

static int client_remove_entry(const char *path, const struct stat *sb, int flag,
	struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void client_env_init(client_env *env)
{
	memset(env, 0, sizeof(*env));
	snprintf(env->dir, sizeof(env->dir), "/tmp/cairn-client-XXXXXX");
	assert_non_null(mkdtemp(env->dir));
	snprintf(env->path, sizeof(env->path), "%s/store.db", env->dir);
	assert_int_equal(cairn_store_open(&env->store, env->path, NULL), 0);
}

static inline void client_env_free(client_env *env)
{
	cairn_store_free(env->store);
	env->store = NULL;
	nftw(env->dir, client_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static inline void client_reopen(client_env *env)
{
	cairn_store_free(env->store);
	env->store = NULL;
	assert_int_equal(cairn_store_open(&env->store, env->path, NULL), 0);
}

/* Parses JSON text returned by the library (asserts), and frees the text. */
static inline json_object *client_parse_owned(char *text)
{
	json_object *value;

	assert_non_null(text);
	value = json_tokener_parse(text);
	if (!value)
		fail_msg("unparseable JSON from the library: %s", text);
	cairn_free(text);
	return value;
}

static inline json_object *client_get(cairn_store *store, const char *collection,
	const char *id)
{
	char *text = NULL;
	int rc = cairn_doc_get(&text, store, collection, id);

	if (rc != 0)
		fail_msg("get %s/%s: %d %s", collection, id, rc, cairn_error_last());
	return client_parse_owned(text);
}

static inline json_object *client_outbox(cairn_store *store)
{
	char *text = NULL;

	assert_int_equal(cairn_outbox_list(&text, store), 0);
	return client_parse_owned(text);
}

static inline json_object *client_conflicts(cairn_store *store)
{
	char *text = NULL;

	assert_int_equal(cairn_conflicts_list(&text, store), 0);
	return client_parse_owned(text);
}

static inline const char *client_string(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value) ||
		!json_object_is_type(value, json_type_string))
		fail_msg("no string '%s' in %s", key, json_object_to_json_string(object));
	return json_object_get_string(value);
}

static inline int64_t client_int(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value) ||
		!json_object_is_type(value, json_type_int))
		fail_msg("no integer '%s' in %s", key, json_object_to_json_string(object));
	return json_object_get_int64(value);
}

/* One integer from a SQL query run on a separate connection to the store file. */
static inline int64_t client_sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t value = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(stmt) == SQLITE_ROW)
		value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return value;
}

static inline void client_sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *message = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
		fail_msg("%s: %s", sql, message);
	sqlite3_close(db);
}

/* What a change listener saw: how many calls, and the last change's fields. */
typedef struct {
	int calls;
	char last_collection[40];
	char last_id[40];
	int last_deleted;
	cairn_change_source last_source;
} client_recorder;

/* A cairn_store_listen callback filling the client_recorder in `payload`. */
static inline void client_record(const cairn_change *change, void *payload)
{
	client_recorder *r = payload;

	r->calls++;
	snprintf(r->last_collection, sizeof(r->last_collection), "%s", change->collection);
	snprintf(r->last_id, sizeof(r->last_id), "%s", change->id);
	r->last_deleted = change->deleted;
	r->last_source = change->source;
}

#endif
