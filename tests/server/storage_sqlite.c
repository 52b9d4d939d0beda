/* storage_sqlite.c: tests of the server's SQLite storage backend (src/storage/sqlite.c). */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "storage/storage.h"
#include "util/error.h"
#include "util/json.h"

#define DB "main"
#define ITEMS "items"

static const cairn_storage_backend *backend = &cairn__storage_sqlite;

typedef struct {
	char dir[64];
	cairn_storage *storage;
} fixture;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void reopen(fixture *f)
{
	backend->close(f->storage);
	f->storage = NULL;
	assert_int_equal(backend->open(&f->storage, f->dir), 0);
}

/* A fresh storage with database "main" and collection "items". */
static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	cairn_storage_database database;
	cairn_storage_collection collection;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-storage-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(backend->open(&f->storage, f->dir), 0);
	assert_int_equal(backend->database_create(&database, f->storage, DB, "Main", 1), 0);
	cairn__storage_database_clear(&database);
	assert_int_equal(backend->collection_create(&collection, f->storage, DB, ITEMS, "Items",
		NULL, 0, 1), 0);
	cairn__storage_collection_clear(&collection);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	backend->close(f->storage);
	nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

#define STORAGE_CASE(name) test_server_storage_sqlite__##name
#include "storage_cases.h"

static void test_server_storage_sqlite__newer_schema_refused(void **state)
{
	fixture *f = *state;
	char path[128];
	sqlite3 *db = NULL;

	backend->close(f->storage);
	f->storage = NULL;
	snprintf(path, sizeof(path), "%s/cairn.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = '99' "
		"WHERE key = 'schema_version'", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
	assert_int_equal(backend->open(&f->storage, f->dir), CAIRN_EIO);
	assert_null(f->storage);
	assert_non_null(strstr(cairn_error_last(), "schema version 99"));
}

static void test_server_storage_sqlite__open_makes_directories(void **state)
{
	fixture *f = *state;
	cairn_storage *storage = NULL;
	char nested[128];

	snprintf(nested, sizeof(nested), "%s/a/b/c", f->dir);
	assert_int_equal(backend->open(&storage, nested), 0);
	assert_int_equal(access(nested, F_OK), 0);
	backend->close(storage);
	assert_int_equal(backend->open(&storage, "/proc/nope/cannot"), CAIRN_EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		STORAGE_CASES(setup, teardown)
		cmocka_unit_test_setup_teardown(test_server_storage_sqlite__newer_schema_refused,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_storage_sqlite__open_makes_directories,
			setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
