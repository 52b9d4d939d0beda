/* outbox_upgrade.c: a store file written by schema 2 (mutation ids without a seq, a UNIQUE
 * index on them) opens with today's library, keeps its pending writes and their ids, takes
 * new writes that chain on them, and pushes everything to the real server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "client/client_test.h"
#include "support/integration.h"
#include "util/id.h"
#include "util/time.h"

#define DATABASE "shop"

/* Schema 2 as libcairn wrote it (src/client/store.c before schema 3). */
static const char schema_2_sql[] =
	"PRAGMA page_size = 1024; PRAGMA journal_mode = WAL;"
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE server_docs("
	" collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT, deleted INTEGER NOT NULL,"
	" version INTEGER NOT NULL, hlc INTEGER NOT NULL, author TEXT NOT NULL DEFAULT '',"
	" created_at TEXT, updated_at TEXT, permissions TEXT, sequence TEXT,"
	" PRIMARY KEY(collection, id)) WITHOUT ROWID;"
	"CREATE TABLE docs("
	" seq INTEGER PRIMARY KEY, collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT,"
	" deleted INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
	" permissions TEXT NOT NULL DEFAULT '[]', pending INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(collection, id));"
	"CREATE TABLE outbox("
	" seq INTEGER PRIMARY KEY, mutation_id TEXT NOT NULL UNIQUE,"
	" op TEXT NOT NULL CHECK (op IN ('put', 'patch', 'delete', 'increment')),"
	" collection TEXT NOT NULL, doc_id TEXT NOT NULL, base_version INTEGER NOT NULL,"
	" prev_mutation TEXT, hlc INTEGER NOT NULL, payload TEXT, permissions TEXT,"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'rejected')), error TEXT,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX outbox_doc ON outbox(collection, doc_id, state, seq);"
	"INSERT INTO meta(key, value) VALUES ('hlc', 0);"
	"CREATE TRIGGER outbox_keeps_hlc AFTER DELETE ON outbox"
	" WHEN OLD.hlc > (SELECT value FROM meta WHERE key = 'hlc')"
	" BEGIN UPDATE meta SET value = OLD.hlc WHERE key = 'hlc'; END;"
	"CREATE TABLE conflicts("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, doc_id TEXT NOT NULL,"
	" strategy TEXT NOT NULL, winner TEXT NOT NULL, local TEXT, remote TEXT,"
	" at INTEGER NOT NULL, base TEXT, result TEXT,"
	" state TEXT NOT NULL DEFAULT 'done' CHECK (state IN ('done', 'open', 'resolved')));"
	"CREATE INDEX conflicts_open ON conflicts(state, collection, doc_id);"
	"CREATE TABLE policies(collection TEXT PRIMARY KEY, strategy TEXT NOT NULL,"
	" counters TEXT NOT NULL DEFAULT '[]') WITHOUT ROWID;"
	"CREATE TABLE bases(collection TEXT NOT NULL, doc_id TEXT NOT NULL,"
	" version INTEGER NOT NULL, data TEXT, PRIMARY KEY(collection, doc_id, version))"
	" WITHOUT ROWID;"
	"INSERT INTO meta(key, value) VALUES ('schema_version', 2), ('client_id', 'c-upgrade2');";

static void sql_exec(sqlite3 *db, const char *sql)
{
	char *message = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
		fail_msg("%s: %s", sql, message);
}

/* Old-style ids (20 hex characters, no seq) made the way schema 2 made them. */
static void old_id(char *out, size_t size)
{
	assert_int_equal(cairn_id_unique(out, size), 0);
	assert_int_equal(strlen(out), 20);
}

/* Writes <root>/old.db as schema 2 with five pending writes with old-style ids: put a,
 * patch a (chained on that put), put b, put c and delete c (chained), at seqs 1 2 4 6 7. */
static void write_schema_2_store(const cairn_it_env *env, char ids[5][32])
{
	char path[512];
	char sql[4096];
	sqlite3 *db = NULL;
	int64_t hlc = cairn__time_now_ms() << 16;
	const char *at = "2026-01-02T03:04:05.000+00:00";

	snprintf(path, sizeof(path), "%s/old.db", env->root);
	for (int i = 0; i < 5; i++)
		old_id(ids[i], sizeof(ids[i]));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sql_exec(db, schema_2_sql);
	snprintf(sql, sizeof(sql),
		"INSERT INTO outbox(seq, mutation_id, op, collection, doc_id, base_version,"
		" prev_mutation, hlc, payload, permissions, state, error, created_at) VALUES"
		" (1, '%s', 'put', 'items', 'a', 0, NULL, %lld, '{\"n\":1,\"title\":\"A\"}', NULL,"
		"  'pending', NULL, 1),"
		" (2, '%s', 'patch', 'items', 'a', 0, '%s', %lld, '{\"m\":2}', NULL, 'pending', NULL, 2),"
		" (4, '%s', 'put', 'items', 'b', 0, NULL, %lld, '{\"n\":3}', NULL, 'pending', NULL, 3),"
		" (6, '%s', 'put', 'items', 'c', 0, NULL, %lld, '{\"n\":4}', NULL, 'pending', NULL, 4),"
		" (7, '%s', 'delete', 'items', 'c', 0, '%s', %lld, NULL, NULL, 'pending', NULL, 5);"
		"INSERT INTO docs(collection, id, data, deleted, created_at, updated_at, pending)"
		" VALUES ('items', 'a', '{\"n\":1,\"title\":\"A\",\"m\":2}', 0, '%s', '%s', 1),"
		" ('items', 'b', '{\"n\":3}', 0, '%s', '%s', 1),"
		" ('items', 'c', NULL, 1, '%s', '%s', 1);",
		ids[0], (long long)hlc + 1, ids[1], ids[0], (long long)hlc + 2, ids[2],
		(long long)hlc + 3, ids[3], (long long)hlc + 4, ids[4], ids[3], (long long)hlc + 5,
		at, at, at, at, at, at);
	sql_exec(db, sql);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_outbox_upgrade__schema_2_rows_push(void **state)
{
	cairn_it_env *env = *state;
	char ids[5][32];
	char path[512];
	char sql[512];
	cairn_sync_result result;
	cairn_store *store;
	json_object *docs;

	write_schema_2_store(env, ids);
	snprintf(path, sizeof(path), "%s/old.db", env->root);
	store = cairn_it_store_open(env, "old", DATABASE);
	/* The upgrade kept every row with its seq and id, and dropped the UNIQUE index. */
	assert_int_equal(client_sql_int(path, "SELECT value FROM meta WHERE key = 'schema_version'"), 4);
	assert_int_equal(client_sql_int(path, "SELECT count(*) FROM outbox WHERE state = 'pending'"), 5);
	for (int i = 0; i < 5; i++) {
		static const int seqs[5] = { 1, 2, 4, 6, 7 };

		snprintf(sql, sizeof(sql), "SELECT seq FROM outbox WHERE mutation_id = '%s'", ids[i]);
		assert_int_equal(client_sql_int(path, sql), seqs[i]);
	}
	assert_int_equal(client_sql_int(path, "SELECT count(*) FROM pragma_index_list('outbox') "
		"WHERE \"unique\" = 1"), 0);
	assert_int_equal(client_sql_int(path, "SELECT value FROM meta WHERE key = 'client_id' AND "
		"value = 'c-upgrade2'") != -1, 1);
	/* New writes after the old ones: one chains on the old patch of a. */
	cairn_it_patch(store, "items", "a", "{\"k\":5}");
	cairn_it_put(store, "items", "e", "{\"n\":6}");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM outbox WHERE seq = 8 AND "
		"prev_mutation = '%s' AND mutation_id LIKE '%%-8'", ids[1]);
	assert_int_equal(client_sql_int(path, sql), 1);
	assert_int_equal(client_sql_int(path, "SELECT count(*) FROM outbox WHERE seq = 9 AND "
		"mutation_id LIKE '%-9'"), 1);
	/* One round pushes all seven; the server acknowledges each (none left, none parked). */
	cairn_it_sync(&result, store, NULL);
	assert_int_equal(result.pushed, 7);
	cairn_it_assert_outbox_empty(store);
	cairn_it_assert_store_matches_server(env, store, DATABASE, "items");
	docs = cairn_it_server_docs(env, DATABASE, "items");
	assert_int_equal(json_object_array_length(docs), 3); /* a, b, e; c was deleted */
	json_object_put(docs);
	/* The clock's trigger survived the rebuild: the rows leaving moved their time to meta. */
	snprintf(sql, sizeof(sql), "SELECT value >= %lld FROM meta WHERE key = 'hlc'",
		(long long)(cairn__time_now_ms() - 60000) << 16);
	assert_int_equal(client_sql_int(path, sql), 1);
	/* Later writes push as usual. */
	cairn_it_put(store, "items", "a", "{\"n\":10}");
	cairn_it_sync(&result, store, NULL);
	assert_int_equal(result.pushed, 1);
	cairn_it_assert_outbox_empty(store);
	cairn_it_assert_store_matches_server(env, store, DATABASE, "items");
	cairn_store_free(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_outbox_upgrade__schema_2_rows_push),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
