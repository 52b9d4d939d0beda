/* tests/util/wal_vfs.c: the "cairn-wal" VFS writes a commit's WAL frames in one write, and
 * every commit is in the file for other connections, later processes and crash recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/child.h"
#include "util/wal_vfs.h"

typedef struct {
	char dir[64];
	char path[96];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-test-walvfs-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char command[128];

	snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
	assert_int_equal(system(command), 0);
	free(f);
	return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *message = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &message);

	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, message ? message : sqlite3_errstr(rc));
}

/* vfs NULL: the system's default VFS. */
static sqlite3 *open_db(const char *path, const char *vfs)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
		vfs), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static sqlite3 *open_wal(const char *path)
{
	const char *vfs = cairn__wal_vfs();
	sqlite3 *db;

	assert_non_null(vfs);
	db = open_db(path, vfs);
	exec_ok(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
		"PRAGMA wal_autocheckpoint = 0");
	return db;
}

static int64_t count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int64_t value;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static void assert_intact(sqlite3 *db)
{
	sqlite3_stmt *stmt = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "ok");
	sqlite3_finalize(stmt);
}

/* Several pages in one commit reach the WAL file in one write, and a connection on the
 * default VFS reads the commit at once. */
static void test_util_wal_vfs__one_write_per_commit(void **state)
{
	fixture *f = *state;
	sqlite3 *db = open_wal(f->path);
	sqlite3 *reader = open_db(f->path, NULL);
	uint64_t before;

	exec_ok(db, "CREATE TABLE t(id TEXT PRIMARY KEY, body TEXT); CREATE INDEX t_body ON t(body)");
	for (int i = 0; i < 20; i++) {
		char sql[160];

		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES ('id-%d', printf('%%.500c', 'x'))",
			i);
		before = cairn__wal_vfs_writes();
		exec_ok(db, sql); /* the table, its primary key index and t_body: 3 pages or more */
		assert_int_equal(cairn__wal_vfs_writes() - before, 1);
		assert_int_equal(count_rows(reader, "SELECT count(*) FROM t"), i + 1);
	}
	assert_intact(reader);
	sqlite3_close(reader);
	sqlite3_close(db);
}

/* A transaction larger than the page cache spills frames before its commit and rewrites
 * some in place; a transaction larger than the buffer is written in parts. Everything is
 * there for another connection, and again after every connection closed (the WAL is read
 * back by recovery). */
static void test_util_wal_vfs__spills_and_large_commits(void **state)
{
	fixture *f = *state;
	sqlite3 *db = open_wal(f->path);
	sqlite3 *reader;

	exec_ok(db, "PRAGMA cache_size = 8; PRAGMA cache_spill = 1;"
		"CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT);"
		"BEGIN;"
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)"
		" INSERT INTO t SELECT i, printf('%.700c', 'a') FROM n;"
		"UPDATE t SET body = printf('%.700c', 'b') WHERE id % 3 = 0;"
		"COMMIT;");
	reader = open_db(f->path, NULL);
	assert_int_equal(count_rows(reader, "SELECT count(*) FROM t"), 6000);
	assert_int_equal(count_rows(reader, "SELECT count(*) FROM t WHERE body LIKE 'b%'"), 2000);
	assert_intact(reader);
	sqlite3_close(reader);
	sqlite3_close(db);
	db = open_wal(f->path);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM t WHERE body LIKE 'a%'"), 4000);
	assert_intact(db);
	sqlite3_close(db);
}

/* A process killed with a transaction's frames written or still held loses only that
 * transaction: every commit before it is intact. */
static void test_util_wal_vfs__killed_mid_transaction(void **state)
{
	fixture *f = *state;
	sqlite3 *db = open_wal(f->path);
	int status = 0;
	pid_t pid;

	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT);"
		"INSERT INTO t VALUES (1, 'kept'), (2, 'kept')");
	sqlite3_close(db);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cairn_test_child_init();
		db = open_wal(f->path);
		exec_ok(db, "PRAGMA cache_size = 8; BEGIN;"
			"WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
			" INSERT INTO t SELECT i, printf('%.900c', 'x') FROM n;"
			"UPDATE t SET body = 'lost' WHERE id <= 2");
		_exit(0); /* no COMMIT, no close: as if killed */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	db = open_wal(f->path);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM t"), 2);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM t WHERE body = 'kept'"), 2);
	assert_intact(db);
	exec_ok(db, "INSERT INTO t VALUES (3, 'after')");
	sqlite3_close(db);
	db = open_db(f->path, NULL);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM t"), 3);
	assert_intact(db);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_util_wal_vfs__one_write_per_commit, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_util_wal_vfs__spills_and_large_commits, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_util_wal_vfs__killed_mid_transaction, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
