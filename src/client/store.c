/* store.c: opening the local SQLite store, its schema, cached statements, transactions,
 * meta values (client id, HLC, checkpoint, remote), status and the remote setting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/session_int.h"
#include "client/checkpointer.h"
#include "client/store_int.h"
#include "util/error.h"
#include "util/wal_vfs.h"
#include "util/hlc.h"
#include "util/id.h"
#include "util/time.h"

/* The outbox row whose mutation id is ?1. A mutation id carries its row's seq
 * (cairn__mutation_id), so this is a lookup by rowid; ids written before schema 3 carry
 * none and are found through the partial index outbox_legacy_id (only their rows are in it). */
#define OUTBOX_ROW_OF_ID "seq = coalesce(cairn_mutation_seq(?1), (SELECT seq FROM outbox " \
	"WHERE instr(mutation_id, '-') = 0 AND mutation_id = ?1)) AND mutation_id = ?1"

static const char *const statement_sql[STMT_COUNT] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[STMT_META_SET] = "INSERT INTO meta(key, value) VALUES (?1, ?2) "
		"ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[STMT_DOC_GET] = "SELECT data, deleted, created_at, updated_at, permissions, pending, seq "
		"FROM docs WHERE collection = ?1 AND id = ?2",
	[STMT_DOC_UPSERT] = "INSERT INTO docs(collection, id, data, deleted, created_at, "
		"updated_at, permissions, pending) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
		"ON CONFLICT(collection, id) DO UPDATE SET data = excluded.data, "
		"deleted = excluded.deleted, created_at = excluded.created_at, "
		"updated_at = excluded.updated_at, permissions = excluded.permissions, "
		"pending = excluded.pending",
	[STMT_DOC_DELETE] = "DELETE FROM docs WHERE collection = ?1 AND id = ?2",
	/* An acknowledged put's row: its fields are already what the server stored. */
	[STMT_DOC_ACKED] = "UPDATE docs SET created_at = ?3, updated_at = ?4, permissions = ?5, "
		"pending = 0 WHERE collection = ?1 AND id = ?2 AND deleted = 0",
	[STMT_DOCS_LIVE] = "SELECT id, data, created_at, updated_at, permissions, seq FROM docs "
		"WHERE collection = ?1 AND deleted = 0",
	/* A live server copy without data shares the view row's (view_detach in view.c). */
	[STMT_SERVER_GET] = "SELECT CASE WHEN s.data IS NULL AND s.deleted = 0 THEN d.data "
		"ELSE s.data END, s.deleted, s.version, s.hlc, s.author, s.created_at, s.updated_at, "
		"s.permissions FROM server_docs AS s LEFT JOIN docs AS d "
		"ON d.collection = s.collection AND d.id = s.id "
		"WHERE s.collection = ?1 AND s.id = ?2",
	[STMT_SERVER_UPSERT] = "INSERT INTO server_docs(collection, id, data, deleted, version, "
		"hlc, author, created_at, updated_at, permissions, sequence) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
		"ON CONFLICT(collection, id) DO UPDATE SET data = excluded.data, "
		"deleted = excluded.deleted, version = excluded.version, hlc = excluded.hlc, "
		"author = excluded.author, created_at = excluded.created_at, "
		"updated_at = excluded.updated_at, permissions = excluded.permissions, "
		"sequence = excluded.sequence",
	[STMT_SERVER_DELETE] = "DELETE FROM server_docs WHERE collection = ?1 AND id = ?2",
	[STMT_SERVER_VERSION] = "SELECT version FROM server_docs WHERE collection = ?1 AND id = ?2",
	[STMT_SERVER_DETACH] = "UPDATE server_docs SET data = (SELECT data FROM docs "
		"WHERE docs.collection = ?1 AND docs.id = ?2) "
		"WHERE collection = ?1 AND id = ?2 AND data IS NULL AND deleted = 0",
	[STMT_OUTBOX_LAST_PENDING] = "SELECT mutation_id, base_version, op FROM outbox "
		"WHERE collection = ?1 AND doc_id = ?2 AND state = 'pending' ORDER BY seq DESC LIMIT 1",
	[STMT_OUTBOX_INSERT] = "INSERT INTO outbox(mutation_id, op, collection, doc_id, "
		"base_version, prev_mutation, hlc, payload, permissions, state, created_at, seq) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11)",
	[STMT_OUTBOX_DOC_PENDING] = "SELECT op, " CAIRN__OUTBOX_PAYLOAD_SQL ", permissions, "
		"created_at FROM outbox "
		"WHERE collection = ?1 AND doc_id = ?2 AND state = 'pending' ORDER BY seq",
	[STMT_OUTBOX_GET] = "SELECT state, prev_mutation FROM outbox WHERE " OUTBOX_ROW_OF_ID,
	[STMT_OUTBOX_DELETE] = "DELETE FROM outbox WHERE " OUTBOX_ROW_OF_ID,
	[STMT_OUTBOX_REBASE] = "UPDATE outbox SET base_version = ?2, prev_mutation = ?3 "
		"WHERE " OUTBOX_ROW_OF_ID,
	[STMT_OUTBOX_REJECT] = "UPDATE outbox SET state = 'rejected', error = ?2, "
		"payload = " CAIRN__OUTBOX_PAYLOAD_SQL " WHERE " OUTBOX_ROW_OF_ID,
	[STMT_OUTBOX_SET_PREV] = "UPDATE outbox SET prev_mutation = ?4 WHERE collection = ?1 "
		"AND doc_id = ?2 AND state = 'pending' AND prev_mutation = ?3",
	[STMT_OUTBOX_BASE_ALL] = "UPDATE outbox SET base_version = ?3 WHERE collection = ?1 "
		"AND doc_id = ?2 AND state = 'pending'",
	/* CAIRN__OUTBOX_PAYLOAD_SQL as a join, which also gives the view row's seq. */
	[STMT_OUTBOX_BATCH] = "SELECT o.mutation_id, o.op, o.collection, o.doc_id, "
		"o.base_version, o.prev_mutation, o.hlc, CASE WHEN o.payload IS NULL AND "
		"o.op = 'put' THEN d.data ELSE o.payload END, o.permissions, d.seq "
		"FROM outbox AS o LEFT JOIN docs AS d ON o.payload IS NULL AND o.op = 'put' AND "
		"d.collection = o.collection AND d.id = o.doc_id "
		"WHERE o.state = 'pending' AND o.seq > ?2 ORDER BY o.seq LIMIT ?1",
	/* How many pending rows up to seq ?1, and whether the one at ?1 is mutation ?2. */
	[STMT_OUTBOX_HEAD] = "SELECT count(*), coalesce(max(seq = ?1 AND mutation_id = ?2), 0) "
		"FROM outbox WHERE state = 'pending' AND seq <= ?1",
	[STMT_OUTBOX_COUNT] = "SELECT count(*) FROM outbox WHERE state = ?1",
	[STMT_OUTBOX_ANY_PENDING] = "SELECT 1 FROM outbox WHERE state = 'pending' LIMIT 1",
	[STMT_CONFLICT_INSERT] = "INSERT INTO conflicts(collection, doc_id, strategy, winner, "
		"local, remote, at, base, result, state) "
		"VALUES (?1, ?2, ?7, ?3, ?4, ?5, ?6, ?8, ?9, ?10)",
	[STMT_POLICY_GET] = "SELECT strategy, counters FROM policies WHERE collection = ?1",
	[STMT_SAVEPOINT] = "SAVEPOINT cairn_write",
	[STMT_RELEASE] = "RELEASE cairn_write",
	[STMT_ROLLBACK_TO] = "ROLLBACK TO cairn_write",
	[STMT_OUTBOX_NEWEST_HLC] = "SELECT hlc, seq FROM outbox ORDER BY seq DESC LIMIT 1",
	[STMT_OUTBOX_DETACH] = "UPDATE outbox SET payload = (SELECT data FROM docs "
		"WHERE docs.collection = ?1 AND docs.id = ?2) WHERE collection = ?1 AND doc_id = ?2 "
		"AND state = 'pending' AND payload IS NULL AND op = 'put'",
	[STMT_OUTBOX_PENDING_BEFORE] = "SELECT 1 FROM outbox WHERE seq < ?1 AND state = 'pending' "
		"LIMIT 1",
	/* The rows whose seqs are the JSON array ?1 (acknowledged together, sync_apply.c). */
	[STMT_OUTBOX_DELETE_SEQS] = "DELETE FROM outbox WHERE seq IN (SELECT value FROM "
		"json_each(?1))",
	/* The rows whose seqs are the JSON array ?1: pending, and a put sharing the view row's
	 * data (payload NULL, CAIRN__OUTBOX_PAYLOAD_SQL). */
	[STMT_OUTBOX_ROWS_AT] = "SELECT seq, mutation_id, state = 'pending', "
		"payload IS NULL AND op = 'put' FROM outbox WHERE seq IN (SELECT value FROM "
		"json_each(?1))",
	/* STMT_DOC_ACKED for the row whose seq is ?6 (read with the batch), if it still is
	 * that document's. */
	[STMT_DOC_ACKED_AT] = "UPDATE docs SET created_at = ?3, updated_at = ?4, "
		"permissions = ?5, pending = 0 WHERE seq = ?6 AND collection = ?1 AND id = ?2 AND "
		"deleted = 0",
	/* Everything a local write of document ?2 of collection ?1 reads, in one statement
	 * (documents.c): always one row. 0-6: the docs row as STMT_DOC_GET (NULLs: none);
	 * 7-9: the newest pending outbox row of the document as STMT_OUTBOX_LAST_PENDING
	 * (NULLs: none); 10: without one, the server copy's version (STMT_SERVER_VERSION);
	 * 11-12: the policy (STMT_POLICY_GET; NULLs: none); 13-15: the clock as
	 * cairn__store_hlc_tick reads it (meta's value, then the newest outbox row's hlc and
	 * seq, NULLs: no row). */
	[STMT_WRITE_READ] = "SELECT d.data, d.deleted, d.created_at, d.updated_at, "
		"d.permissions, d.pending, d.seq, o.mutation_id, o.base_version, o.op, "
		"CASE WHEN o.seq IS NULL THEN (SELECT version FROM server_docs "
		"WHERE collection = ?1 AND id = ?2) END, p.strategy, p.counters, "
		"(SELECT value FROM meta WHERE key = 'hlc'), n.hlc, n.seq "
		"FROM (SELECT 1) AS one "
		"LEFT JOIN docs AS d ON d.collection = ?1 AND d.id = ?2 "
		"LEFT JOIN outbox AS o ON o.seq = (SELECT seq FROM outbox WHERE collection = ?1 "
		"AND doc_id = ?2 AND state = 'pending' ORDER BY seq DESC LIMIT 1) "
		"LEFT JOIN policies AS p ON p.collection = ?1 "
		"LEFT JOIN outbox AS n ON n.seq = (SELECT max(seq) FROM outbox)",
};

/* docs.seq is the rowid: it stays put across updates (upsert, never REPLACE), so it orders
 * documents by when they first appeared locally, standing in for Appwrite's $sequence.
 * outbox.seq only orders the rows present (commit order); it has no AUTOINCREMENT because
 * that would write sqlite_sequence on every put, and reuse after the outbox drains is
 * harmless. */
static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS server_docs("
	" collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT, deleted INTEGER NOT NULL,"
	" version INTEGER NOT NULL, hlc INTEGER NOT NULL, author TEXT NOT NULL DEFAULT '',"
	" created_at TEXT, updated_at TEXT, permissions TEXT, sequence TEXT,"
	" PRIMARY KEY(collection, id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS docs("
	" seq INTEGER PRIMARY KEY, collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT,"
	" deleted INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
	" permissions TEXT NOT NULL DEFAULT '[]', pending INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(collection, id));"
	"CREATE TABLE IF NOT EXISTS outbox("
	" seq INTEGER PRIMARY KEY, mutation_id TEXT NOT NULL,"
	/* Not "op IN (4 values)": SQLite checks an IN list of more than two values through a
	 * temporary b-tree it builds on every insert. */
	" op TEXT NOT NULL CHECK (op = 'put' OR op = 'patch' OR op = 'delete' OR"
	" op = 'increment'),"
	" collection TEXT NOT NULL, doc_id TEXT NOT NULL, base_version INTEGER NOT NULL,"
	" prev_mutation TEXT, hlc INTEGER NOT NULL, payload TEXT, permissions TEXT,"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'rejected')), error TEXT,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS outbox_doc ON outbox(collection, doc_id, state, seq);"
	/* Mutation ids carry their row's seq (a '-' and the number) and need no index of their
	 * own; the ids written before schema 3 do not, and only they are in this one. */
	"CREATE INDEX IF NOT EXISTS outbox_legacy_id ON outbox(mutation_id)"
	" WHERE instr(mutation_id, '-') = 0;"
	/* The clock's value lives in the newest outbox row while there is one (see
	 * cairn__store_hlc_tick); the newest row leaving the outbox hands its timestamp to meta
	 * (older rows hold smaller ones: timestamps grow with seq). */
	"INSERT OR IGNORE INTO meta(key, value) VALUES ('hlc', 0);"
	"CREATE TRIGGER IF NOT EXISTS outbox_keeps_hlc AFTER DELETE ON outbox"
	" WHEN NOT EXISTS (SELECT 1 FROM outbox WHERE seq > OLD.seq)"
	" AND OLD.hlc > (SELECT value FROM meta WHERE key = 'hlc')"
	" BEGIN UPDATE meta SET value = OLD.hlc WHERE key = 'hlc'; END;"
	"CREATE TABLE IF NOT EXISTS conflicts("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, doc_id TEXT NOT NULL,"
	" strategy TEXT NOT NULL, winner TEXT NOT NULL, local TEXT, remote TEXT,"
	" at INTEGER NOT NULL, base TEXT, result TEXT,"
	" state TEXT NOT NULL DEFAULT 'done' CHECK (state IN ('done', 'open', 'resolved')));"
	"CREATE INDEX IF NOT EXISTS conflicts_open ON conflicts(state, collection, doc_id);"
	"CREATE TABLE IF NOT EXISTS policies(collection TEXT PRIMARY KEY, strategy TEXT NOT NULL,"
	" counters TEXT NOT NULL DEFAULT '[]') WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS bases(collection TEXT NOT NULL, doc_id TEXT NOT NULL,"
	" version INTEGER NOT NULL, data TEXT, PRIMARY KEY(collection, doc_id, version))"
	" WITHOUT ROWID;";

/* Schema 1 to 2 (and straight on to 3: the tables are recreated by today's schema_sql): the
 * outbox learns "increment" and the conflict log becomes the ledger (base, result, inbox
 * state). SQLite cannot alter a CHECK, so both tables are renamed, recreated by schema_sql
 * and copied back; their trigger and indexes are dropped first, since a renamed table takes
 * them along and schema_sql would then not recreate them. */
static const char migrate_1_sql[] =
	"DROP INDEX IF EXISTS outbox_doc;"
	"DROP TRIGGER IF EXISTS outbox_keeps_hlc;"
	"DROP INDEX IF EXISTS conflicts_open;"
	"ALTER TABLE outbox RENAME TO outbox_v1;"
	"ALTER TABLE conflicts RENAME TO conflicts_v1;";
static const char migrate_1_copy_sql[] =
	"INSERT INTO outbox SELECT * FROM outbox_v1;"
	"INSERT INTO conflicts(id, collection, doc_id, strategy, winner, local, remote, at)"
	" SELECT id, collection, doc_id, strategy, winner, local, remote, at FROM conflicts_v1;"
	"DROP TABLE outbox_v1; DROP TABLE conflicts_v1;";

/* Schema 2 to 3: the outbox loses the UNIQUE index on mutation_id (one b-tree less to write
 * per local write: mutation ids now carry their row's seq, and the older ids are found
 * through outbox_legacy_id). The table is renamed, recreated by schema_sql and copied back
 * with every row, seq and id; the clock's trigger is dropped first, since a renamed table
 * takes its triggers along and schema_sql would then not recreate it. */
static const char migrate_2_sql[] =
	"DROP INDEX IF EXISTS outbox_doc;"
	"DROP TRIGGER IF EXISTS outbox_keeps_hlc;"
	"ALTER TABLE outbox RENAME TO outbox_v2;";
static const char migrate_2_copy_sql[] =
	"INSERT INTO outbox(seq, mutation_id, op, collection, doc_id, base_version,"
	" prev_mutation, hlc, payload, permissions, state, error, created_at)"
	" SELECT seq, mutation_id, op, collection, doc_id, base_version, prev_mutation, hlc,"
	" payload, permissions, state, error, created_at FROM outbox_v2;"
	"DROP TABLE outbox_v2;";

int cairn_store_options_init(cairn_store_options *opts, unsigned int version)
{
	cairn_store_options defaults = CAIRN_STORE_OPTIONS_INIT;

	if (!opts)
		return cairn__error_set(CAIRN_EINVALID, "options must not be NULL");
	if (version != CAIRN_STORE_OPTIONS_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "unsupported store options version %u "
			"(this library knows %d)", version, CAIRN_STORE_OPTIONS_VERSION);
	*opts = defaults;
	return 0;
}

int cairn__store_error(cairn_store *store, int sqlite_rc, const char *what)
{
	const char *detail = store && store->db ? sqlite3_errmsg(store->db) :
		sqlite3_errstr(sqlite_rc);

	switch (sqlite_rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return cairn__error_set(CAIRN_EBUSY, "%s: the store is locked by another writer "
			"(waited %d ms): %s", what, store ? store->options.busy_timeout_ms : 0, detail);
	case SQLITE_NOMEM:
		return cairn__error_set(CAIRN_ENOMEM, "%s: out of memory", what);
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return cairn__error_set(CAIRN_EIO, "%s: %s", what, detail);
	default:
		return cairn__error_set(CAIRN_ERROR, "%s: %s", what, detail);
	}
}

sqlite3_stmt *cairn__store_stmt(cairn_store *store, cairn__stmt_id id)
{
	sqlite3_stmt *stmt = store->stmts[id];
	int rc;

	if (stmt) {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
		return stmt;
	}
	rc = sqlite3_prepare_v3(store->db, statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &stmt,
		NULL);
	if (rc != SQLITE_OK) {
		cairn__store_error(store, rc, "preparing a statement");
		sqlite3_finalize(stmt);
		return NULL;
	}
	store->stmts[id] = stmt;
	return stmt;
}

int cairn__store_step_done(cairn_store *store, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return cairn__store_error(store, rc, what);
	return 0;
}

int cairn__store_begin(cairn_store *store)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, store->batch ? STMT_SAVEPOINT : STMT_BEGIN);
	int rc;

	if (!stmt)
		return cairn__error_code();
	rc = cairn__store_step_done(store, stmt, "starting a transaction");
	if (rc == 0)
		store->in_transaction = 1;
	return rc;
}

int cairn__store_commit(cairn_store *store)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, store->batch ? STMT_RELEASE : STMT_COMMIT);
	int rc;

	if (!stmt)
		return cairn__error_code();
	rc = cairn__store_step_done(store, stmt, "committing");
	if (rc == 0) {
		store->in_transaction = 0;
		if (!store->batch) /* a batch's RELEASE commits nothing yet */
			cairn__replicator_committed(store); /* wakes this process's replicator */
	}
	return rc;
}

void cairn__store_rollback(cairn_store *store)
{
	sqlite3_stmt *stmt;

	if (store->batch) {
		/* Undo this write only: the batch around it stays open. */
		if (!store->in_transaction)
			return;
		stmt = cairn__store_stmt(store, STMT_ROLLBACK_TO);
		if (stmt) {
			sqlite3_step(stmt);
			sqlite3_reset(stmt);
		}
		stmt = cairn__store_stmt(store, STMT_RELEASE);
		if (stmt) {
			sqlite3_step(stmt);
			sqlite3_reset(stmt);
		}
		store->in_transaction = 0;
		return;
	}
	if (!store->in_transaction && sqlite3_get_autocommit(store->db))
		return;
	stmt = cairn__store_stmt(store, STMT_ROLLBACK);
	if (stmt) {
		sqlite3_step(stmt);
		sqlite3_reset(stmt);
	}
	store->in_transaction = 0;
}

/* ---- meta ---- */

static int meta_lookup(sqlite3_stmt **out, cairn_store *store, const char *key)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_META_GET);
	int rc;

	*out = NULL;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(stmt);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(stmt);
		return cairn__store_error(store, rc, "reading the store's settings");
	}
	if (sqlite3_column_type(stmt, 0) == SQLITE_NULL) {
		sqlite3_reset(stmt);
		return 0;
	}
	*out = stmt;
	return 1;
}

int cairn__meta_get_int64(cairn_store *store, const char *key, int64_t *out)
{
	sqlite3_stmt *stmt;
	int rc = meta_lookup(&stmt, store, key);

	if (rc <= 0)
		return rc;
	*out = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return 1;
}

int cairn__meta_get_text(cairn_store *store, const char *key, char **out)
{
	sqlite3_stmt *stmt;
	const char *text;
	int rc = meta_lookup(&stmt, store, key);

	*out = NULL;
	if (rc <= 0)
		return rc;
	text = (const char *)sqlite3_column_text(stmt, 0);
	*out = strdup(text ? text : "");
	sqlite3_reset(stmt);
	if (!*out)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory reading setting '%s'", key);
	return 1;
}

int cairn__meta_set_int64(cairn_store *store, const char *key, int64_t value)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_META_SET);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, value);
	return cairn__store_step_done(store, stmt, "writing the store's settings");
}

int cairn__meta_set_text(cairn_store *store, const char *key, const char *value)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_META_SET);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 2);
	return cairn__store_step_done(store, stmt, "writing the store's settings");
}

/* The next timestamp after the stored clock `stored` and the newest outbox row (`has_newest`:
 * its hlc and seq), and the seq the next row gets (0: none left above, SQLite picks one). */
static void hlc_next(int64_t *out, int64_t *next_seq, int64_t stored, int has_newest,
	int64_t newest_hlc, int64_t newest_seq)
{
	cairn_hlc clock = { 0 };

	clock.last = stored;
	if (has_newest && newest_hlc > clock.last)
		clock.last = newest_hlc;
	if (next_seq) /* one past the newest row, as SQLite would pick it */
		*next_seq = !has_newest ? 1 : newest_seq < INT64_MAX ? newest_seq + 1 : 0;
	*out = cairn__hlc_tick(&clock, cairn__time_now_ms());
}

void cairn__store_hlc_tick_row(int64_t *out, int64_t *next_seq, sqlite3_stmt *stmt,
	int column)
{
	int has_newest = sqlite3_column_type(stmt, column + 2) != SQLITE_NULL;

	hlc_next(out, next_seq, sqlite3_column_int64(stmt, column), has_newest,
		sqlite3_column_int64(stmt, column + 1), sqlite3_column_int64(stmt, column + 2));
}

int cairn__store_hlc_tick(cairn_store *store, int64_t *out, int64_t *next_seq)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_NEWEST_HLC);
	int64_t stored = 0;
	int has_newest;
	int rc;

	/* The clock lives in the file, not only in memory: other handles on it issue
	 * timestamps too, and the value must survive a restart with a clock that went back.
	 * Every tick stamps the outbox row written with it (in the same transaction), so the
	 * newest row holds the latest timestamp and meta is not written on every local write
	 * (a page less per commit); the outbox_keeps_hlc trigger moves a row's timestamp to
	 * meta when the row leaves, and remote timestamps go to meta (hlc_observe). */
	rc = cairn__meta_get_int64(store, "hlc", &stored);
	if (rc < 0)
		return rc;
	if (!stmt)
		return cairn__error_code();
	rc = sqlite3_step(stmt);
	has_newest = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_reset(stmt);
		return cairn__store_error(store, rc, "reading the clock");
	}
	hlc_next(out, next_seq, stored, has_newest, has_newest ? sqlite3_column_int64(stmt, 0) :
		0, has_newest ? sqlite3_column_int64(stmt, 1) : 0);
	sqlite3_reset(stmt);
	return 0;
}

int cairn__store_hlc_observe(cairn_store *store, int64_t remote)
{
	int64_t last = 0;
	int rc = cairn__meta_get_int64(store, "hlc", &last);

	if (rc < 0)
		return rc;
	if (remote <= last)
		return 0;
	return cairn__meta_set_int64(store, "hlc", remote);
}

/* ---- open / free ---- */

static int exec_sql(cairn_store *store, const char *sql, const char *what)
{
	char *message = NULL;
	int rc = sqlite3_exec(store->db, sql, NULL, NULL, &message);

	sqlite3_free(message);
	if (rc != SQLITE_OK)
		return cairn__store_error(store, rc, what);
	return 0;
}

/* cairn_mutation_seq(id): the outbox seq a mutation id carries, NULL when none (used by
 * OUTBOX_ROW_OF_ID; registered on each handle, never stored in the schema). */
static void mutation_seq_sql(sqlite3_context *context, int argc, sqlite3_value **argv)
{
	int64_t seq;

	(void)argc;
	seq = cairn__mutation_id_seq((const char *)sqlite3_value_text(argv[0]));
	if (seq > 0)
		sqlite3_result_int64(context, seq);
	else
		sqlite3_result_null(context);
}

/* Creates or checks the schema and the client id, in one write transaction so that two
 * processes opening a new file at once agree on one client id. */
static int prepare_schema(cairn_store *store)
{
	sqlite3_stmt *stmt = NULL;
	char *client_id = NULL;
	int64_t version = 0;
	int has_meta = 0;
	int rc;

	rc = cairn__store_begin(store);
	if (rc != 0)
		return rc;
	rc = sqlite3_prepare_v2(store->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' "
		"AND name = 'meta'", -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		rc = cairn__store_error(store, rc, "reading the store's schema");
		goto cleanup;
	}
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = cairn__store_error(store, rc, "reading the store's schema");
		goto cleanup;
	}
	has_meta = rc == SQLITE_ROW;
	/* Done with it: an open statement would lock the tables a migration renames. */
	sqlite3_finalize(stmt);
	stmt = NULL;
	rc = 0;
	if (has_meta) {
		rc = cairn__meta_get_int64(store, "schema_version", &version);
		if (rc < 0)
			goto cleanup;
		rc = 0;
		if (version > CAIRN__STORE_SCHEMA_VERSION) {
			rc = cairn__error_set(CAIRN_EINVALID, "the store was written by a newer cairn "
				"(schema %lld; this library reads up to %d): upgrade libcairn",
				(long long)version, CAIRN__STORE_SCHEMA_VERSION);
			goto cleanup;
		}
	}
	if (version == 1 || version == 2) {
		rc = exec_sql(store, version == 1 ? migrate_1_sql : migrate_2_sql,
			"upgrading the store's schema");
		if (rc != 0)
			goto cleanup;
	}
	/* Schema 3 to 4: the clock's trigger fires for the newest row only (schema_sql). */
	if (version == 3) {
		rc = exec_sql(store, "DROP TRIGGER IF EXISTS outbox_keeps_hlc;",
			"upgrading the store's schema");
		if (rc != 0)
			goto cleanup;
	}
	rc = exec_sql(store, schema_sql, "creating the store's tables");
	if (rc != 0)
		goto cleanup;
	if (version == 1 || version == 2) {
		rc = exec_sql(store, version == 1 ? migrate_1_copy_sql : migrate_2_copy_sql,
			"upgrading the store's schema");
		if (rc != 0)
			goto cleanup;
	}
	if (version < CAIRN__STORE_SCHEMA_VERSION) {
		rc = cairn__meta_set_int64(store, "schema_version", CAIRN__STORE_SCHEMA_VERSION);
		if (rc != 0)
			goto cleanup;
	}
	/* A new file holds nothing from before partial sync's fingerprints (sync_scope.c). */
	if (!has_meta) {
		rc = cairn__meta_set_int64(store, "fingerprints_from_start", 1);
		if (rc != 0)
			goto cleanup;
	}
	rc = cairn__meta_get_text(store, "client_id", &client_id);
	if (rc < 0)
		goto cleanup;
	if (rc == 0) {
		char unique[32];

		rc = cairn__id_unique(unique, sizeof(unique));
		if (rc != 0)
			goto cleanup;
		snprintf(store->client_id, sizeof(store->client_id), "c-%s", unique);
		rc = cairn__meta_set_text(store, "client_id", store->client_id);
		if (rc != 0)
			goto cleanup;
	} else {
		snprintf(store->client_id, sizeof(store->client_id), "%s", client_id);
	}
	rc = cairn__store_commit(store);
cleanup:
	sqlite3_finalize(stmt);
	free(client_id);
	if (rc != 0)
		cairn__store_rollback(store);
	return rc;
}

static int load_database(cairn_store *store)
{
	char *database = NULL;
	int rc = cairn__meta_get_text(store, "remote_database", &database);

	if (rc < 0)
		return rc;
	snprintf(store->database, sizeof(store->database), "%s", database ? database : "");
	free(database);
	return 0;
}

int cairn_store_open(cairn_store **out, const char *path, const cairn_store_options *opts)
{
	cairn_store *store = NULL;
	cairn_store_options defaults = CAIRN_STORE_OPTIONS_INIT;
	int rc;

	if (!out)
		return cairn__error_set(CAIRN_EINVALID, "cairn_store_open needs an out pointer");
	*out = NULL;
	if (!path || !path[0])
		return cairn__error_set(CAIRN_EINVALID, "cairn_store_open needs a file path");
	if (opts && opts->version != CAIRN_STORE_OPTIONS_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "unsupported store options version %u "
			"(this library knows %d)", opts->version, CAIRN_STORE_OPTIONS_VERSION);
	store = calloc(1, sizeof(*store));
	if (!store)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory opening %s", path);
	store->options = opts ? *opts : defaults;
	if (store->options.busy_timeout_ms < 0)
		store->options.busy_timeout_ms = 0;
	if (store->options.max_document_bytes == 0)
		store->options.max_document_bytes = defaults.max_document_bytes;
	/* cairn__wal_vfs: a commit's WAL frames in one write (util/wal_vfs.c). */
	rc = sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		SQLITE_OPEN_NOMUTEX, cairn__wal_vfs());
	if (rc != SQLITE_OK) {
		rc = cairn__error_set(rc == SQLITE_NOMEM ? CAIRN_ENOMEM : CAIRN_EIO,
			"cannot open the store %s: %s", path,
			store->db ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc));
		goto cleanup;
	}
	sqlite3_extended_result_codes(store->db, 0);
	sqlite3_busy_timeout(store->db, store->options.busy_timeout_ms);
	/* 2 KiB pages (only effective when the file is created): every commit appends each page
	 * it dirtied to the WAL (two pwrites a page), a single put touches about six pages, and a
	 * pull or push batch writes many rows per page. Measured at 100k documents: 1 KiB and
	 * 2 KiB give the same single-put rate and 4 KiB 15% less; 2 KiB cuts the client's CPU
	 * for pull and push by about a fifth against 1 KiB (half the pages and syscalls). */
	rc = exec_sql(store, "PRAGMA page_size = 2048; PRAGMA journal_mode = WAL",
		"switching the store to WAL mode");
	if (rc != 0)
		goto cleanup;
	/* In WAL mode NORMAL is durable against application crashes (what the outbox promises);
	 * only a power loss may drop the last commits, never corrupt the file. Checkpoints run
	 * on a helper thread once the WAL holds ~2 MiB (checkpointer.c); the autocheckpoint
	 * setting only stays if that cannot start. */
	rc = exec_sql(store, "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 10000",
		"configuring the store");
	if (rc != 0)
		goto cleanup;
	if (cairn__checkpointer_start(&store->checkpointer, store->db,
		sqlite3_db_filename(store->db, "main")) != 0)
		store->checkpointer = NULL;
	rc = sqlite3_create_function_v2(store->db, "cairn_mutation_seq", 1, SQLITE_UTF8 |
		SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL, mutation_seq_sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = cairn__store_error(store, rc, "registering the store's SQL functions");
		goto cleanup;
	}
	rc = prepare_schema(store);
	if (rc != 0)
		goto cleanup;
	rc = load_database(store);
cleanup:
	if (rc != 0) {
		cairn_store_free(store);
		return rc;
	}
	*out = store;
	return 0;
}

void cairn_store_free(cairn_store *store)
{
	if (!store)
		return;
	cairn__resolver_forget(store);
	if (store->db) {
		cairn__store_rollback(store);
		cairn__batch_discard(store);
		for (int i = 0; i < STMT_COUNT; i++)
			sqlite3_finalize(store->stmts[i]);
		cairn__checkpointer_stop(store->checkpointer);
		sqlite3_close_v2(store->db);
	}
	if (store->tokener) /* json-c 0.16 crashes on NULL */
		json_tokener_free(store->tokener);
	free(store);
}

/* ---- remote ---- */

/* Whether meta `key` currently differs from `value`. */
static int meta_differs(cairn_store *store, const char *key, const char *value, int *differs)
{
	char *current = NULL;
	int rc = cairn__meta_get_text(store, key, &current);

	if (rc < 0)
		return rc;
	*differs = rc == 1 && strcmp(current, value ? value : "") != 0;
	free(current);
	return 0;
}

/* Whether the stored remote_mode (sync when unset) differs from `mode`. */
static int mode_differs(cairn_store *store, cairn_remote_mode mode, int *differs)
{
	int64_t current = CAIRN_REMOTE_SYNC;
	int rc = cairn__meta_get_int64(store, "remote_mode", &current);

	if (rc < 0)
		return rc;
	*differs = current != (int64_t)mode;
	return 0;
}

/* A different database means the server copy, checkpoint and base versions describe other
 * data: forget them, keep every pending local change (its base becomes 0, so the new
 * database decides by last-write-wins where documents exist). */
static int forget_server_state(cairn_store *store)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = exec_sql(store, "DELETE FROM server_docs;"
		"UPDATE outbox SET base_version = 0 WHERE state = 'pending';"
		"DELETE FROM docs WHERE pending = 0;"
		"DELETE FROM meta WHERE key = 'checkpoint';"
		"DELETE FROM meta WHERE key LIKE 'rest\\_%' ESCAPE '\\';",
		"forgetting the old remote's state");
	if (rc != 0)
		return rc;
	rc = sqlite3_prepare_v2(store->db, "SELECT collection, id FROM docs", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return cairn__store_error(store, rc, "reading local documents");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		char collection[64];
		char id[64];

		snprintf(collection, sizeof(collection), "%s", sqlite3_column_text(stmt, 0));
		snprintf(id, sizeof(id), "%s", sqlite3_column_text(stmt, 1));
		rc = cairn__view_recompute(store, collection, id);
		if (rc != 0)
			goto cleanup;
	}
	rc = rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "reading local documents");
cleanup:
	sqlite3_finalize(stmt);
	return rc;
}

#define REMOTE_MAX_FALLBACK_URLS 16

/* Validates the fallback URLs into a JSON array of strings (*out: free with json_object_put). */
static int fallback_urls_json(json_object **out, const char *const *urls, size_t count)
{
	size_t i;

	*out = NULL;
	if (count > REMOTE_MAX_FALLBACK_URLS)
		return cairn__error_set(CAIRN_EINVALID, "at most %d fallback URLs are supported, got "
			"%zu", REMOTE_MAX_FALLBACK_URLS, count);
	if (count > 0 && !urls)
		return cairn__error_set(CAIRN_EINVALID, "fallback_url_count is %zu but "
			"fallback_urls is NULL", count);
	for (i = 0; i < count; i++) {
		if (!urls[i] || (strncmp(urls[i], "http://", 7) != 0 &&
			strncmp(urls[i], "https://", 8) != 0))
			return cairn__error_set(CAIRN_EINVALID, "fallback URL %zu must start with "
				"http:// or https://, got '%s'", i, urls[i] ? urls[i] : "(null)");
		if (strlen(urls[i]) >= sizeof(((cairn_store_status *)0)->remote_url))
			return cairn__error_set(CAIRN_EINVALID, "fallback URL %zu is longer than %zu "
				"bytes", i, sizeof(((cairn_store_status *)0)->remote_url) - 1);
	}
	*out = json_object_new_array();
	if (!*out)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory storing the fallback URLs");
	for (i = 0; i < count; i++) {
		if (json_object_array_add(*out, json_object_new_string(urls[i])) != 0) {
			json_object_put(*out);
			*out = NULL;
			return cairn__error_set(CAIRN_ENOMEM, "out of memory storing the fallback URLs");
		}
	}
	return 0;
}

int cairn_store_set_remote(cairn_store *store, const cairn_remote *remote)
{
	const char *const *fallback_urls = NULL;
	size_t fallback_count = 0;
	const char *ca_file = NULL;
	cairn_remote_mode mode = CAIRN_REMOTE_SYNC;
	json_object *fallbacks = NULL;
	int database_changed = 0;
	int rc;

	if (!store || !remote)
		return cairn__error_set(CAIRN_EINVALID, "cairn_store_set_remote needs a store and "
			"a remote");
	if (remote->version < 1 || remote->version > CAIRN_REMOTE_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "unsupported remote version %u (this "
			"library knows 1 to %d)", remote->version, CAIRN_REMOTE_VERSION);
	if (!remote->url || (strncmp(remote->url, "http://", 7) != 0 &&
		strncmp(remote->url, "https://", 8) != 0))
		return cairn__error_set(CAIRN_EINVALID, "the remote URL must start with http:// or "
			"https:// (e.g. http://127.0.0.1:8080/v1), got '%s'",
			remote->url ? remote->url : "(null)");
	if (strlen(remote->url) >= sizeof(((cairn_store_status *)0)->remote_url))
		return cairn__error_set(CAIRN_EINVALID, "the remote URL is longer than %zu bytes",
			sizeof(((cairn_store_status *)0)->remote_url) - 1);
	if (!remote->project || !remote->project[0] || strlen(remote->project) > 128)
		return cairn__error_set(CAIRN_EINVALID, "the remote needs a project id (1 to 128 "
			"characters)");
	if (!cairn__id_valid(remote->database))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a valid database id (1 to 36 "
			"characters of a-z A-Z 0-9 . - _, not starting with . - or _)",
			remote->database ? remote->database : "(null)");
	/* Version 1 structs end at `database`: their fallback fields must not be read. */
	if (remote->version >= 2) {
		fallback_urls = remote->fallback_urls;
		fallback_count = remote->fallback_url_count;
	}
	if (remote->version >= 3) {
		ca_file = remote->ca_file;
		mode = remote->mode;
		if (mode != CAIRN_REMOTE_SYNC && mode != CAIRN_REMOTE_APPWRITE_REST)
			return cairn__error_set(CAIRN_EINVALID, "unknown remote mode %d", (int)mode);
		if (ca_file && (!ca_file[0] || strlen(ca_file) > 4096))
			return cairn__error_set(CAIRN_EINVALID, "the CA file path must be 1 to 4096 "
				"characters");
	}
	rc = fallback_urls_json(&fallbacks, fallback_urls, fallback_count);
	if (rc != 0)
		return rc;
	rc = cairn__store_begin(store);
	if (rc != 0)
		goto cleanup;
	/* A new URL alone keeps everything: the same server often moves (a new port or host
	 * name), and the protocol has no server identity to tell a different one apart. */
	rc = meta_differs(store, "remote_database", remote->database, &database_changed);
	/* Versions mean change sequences in sync mode and $updatedAt in REST mode: a new mode
	 * starts over as a new database does. */
	if (rc == 0 && !database_changed)
		rc = mode_differs(store, mode, &database_changed);
	if (rc == 0 && database_changed)
		rc = forget_server_state(store);
	if (rc == 0) /* a session token goes only where it was issued (session.c) */
		rc = cairn__session_remote_changing(store, remote->url, remote->project);
	if (rc == 0)
		rc = cairn__meta_set_text(store, "remote_url", remote->url);
	if (rc == 0)
		rc = cairn__meta_set_text(store, "remote_project", remote->project);
	if (rc == 0)
		rc = cairn__meta_set_text(store, "remote_api_key", remote->api_key);
	if (rc == 0)
		rc = cairn__meta_set_text(store, "remote_database", remote->database);
	if (rc == 0)
		rc = cairn__meta_set_text(store, "remote_fallback_urls",
			json_object_to_json_string_ext(fallbacks, JSON_C_TO_STRING_PLAIN));
	if (rc == 0)
		rc = cairn__meta_set_text(store, "remote_ca_file", ca_file);
	if (rc == 0)
		rc = cairn__meta_set_int64(store, "remote_mode", (int64_t)mode);
	/* The replicator starts on the URL that last worked; a new list starts on the first. */
	if (rc == 0)
		rc = cairn__meta_set_int64(store, "remote_active_url", 0);
	if (rc == 0)
		rc = cairn__store_commit(store);
	if (rc != 0) {
		cairn__store_rollback(store);
		goto cleanup;
	}
	snprintf(store->database, sizeof(store->database), "%s", remote->database);
cleanup:
	json_object_put(fallbacks);
	return rc;
}

/* ---- status ---- */

int cairn__store_count_outbox(uint64_t *out, cairn_store *store, const char *state)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_COUNT);
	int rc;

	*out = 0;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, state, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW ? 0 : cairn__store_error(store, rc, "counting the outbox");
}

static int copy_meta_text(cairn_store *store, const char *key, char *out, size_t size)
{
	char *value = NULL;
	int rc = cairn__meta_get_text(store, key, &value);

	if (rc < 0)
		return rc;
	snprintf(out, size, "%s", value ? value : "");
	free(value);
	return 0;
}

int cairn_store_status_get(cairn_store_status *out, cairn_store *store)
{
	sqlite3_stmt *stmt = NULL;
	int64_t value = 0;
	int rc;

	if (!out || !store)
		return cairn__error_set(CAIRN_EINVALID, "cairn_store_status_get needs an out "
			"pointer and a store");
	memset(out, 0, sizeof(*out));
	rc = cairn__store_count_outbox(&out->pending, store, "pending");
	if (rc == 0)
		rc = cairn__store_count_outbox(&out->rejected, store, "rejected");
	if (rc != 0)
		return rc;
	rc = sqlite3_prepare_v2(store->db, "SELECT count(*) FROM conflicts", -1, &stmt, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		out->conflicts = (uint64_t)sqlite3_column_int64(stmt, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_OK)
		return cairn__store_error(store, rc, "counting conflicts");
	if ((rc = cairn__meta_get_int64(store, "checkpoint", &value)) < 0)
		return rc;
	out->checkpoint = rc ? value : 0;
	value = 0;
	if ((rc = cairn__meta_get_int64(store, "last_sync_ms", &value)) < 0)
		return rc;
	out->last_sync_ms = rc ? value : 0;
	value = 0;
	if ((rc = cairn__meta_get_int64(store, "last_sync_result", &value)) < 0)
		return rc;
	out->last_sync_result = rc ? (int)value : 0;
	rc = copy_meta_text(store, "last_sync_error", out->last_sync_error,
		sizeof(out->last_sync_error));
	if (rc == 0)
		rc = copy_meta_text(store, "remote_url", out->remote_url, sizeof(out->remote_url));
	if (rc == 0)
		rc = copy_meta_text(store, "remote_database", out->remote_database,
			sizeof(out->remote_database));
	if (rc != 0)
		return rc;
	value = 0;
	if ((rc = cairn__meta_get_int64(store, "remote_mode", &value)) < 0)
		return rc;
	out->remote_mode = rc && value == CAIRN_REMOTE_APPWRITE_REST ? CAIRN_REMOTE_APPWRITE_REST :
		CAIRN_REMOTE_SYNC;
	snprintf(out->client_id, sizeof(out->client_id), "%s", store->client_id);
	return 0;
}
