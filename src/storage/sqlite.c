/* sqlite.c: the server's SQLite storage backend: schema, one serialised writer, pooled readers. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/sqlite_int.h"
#include "storage/storage.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/time.h"
#include "util/wal_vfs.h"

static const char *const statement_sql[ST_COUNT] = {
	[ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
	[ST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2) "
		"ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_DB_GET] = "SELECT " DB_COLUMNS " FROM databases WHERE id = ?1",
	[ST_DB_LIST] = "SELECT " DB_COLUMNS " FROM databases ORDER BY id",
	[ST_DB_INSERT] = "INSERT INTO databases (id, name, enabled, created_at, updated_at, "
		"last_sequence) VALUES (?1, ?2, ?3, ?4, ?4, 0)",
	[ST_DB_UPDATE] = "UPDATE databases SET name = coalesce(?2, name), "
		"enabled = CASE WHEN ?3 < 0 THEN enabled ELSE ?3 END, updated_at = ?4 WHERE id = ?1",
	[ST_DB_SEQUENCE_GET] = "SELECT last_sequence FROM databases WHERE id = ?1",
	[ST_DB_SEQUENCE_SET] = "UPDATE databases SET last_sequence = ?2 WHERE id = ?1",
	[ST_DB_DELETE] = "DELETE FROM databases WHERE id = ?1",
	[ST_DB_DELETE_DOCUMENTS] = "DELETE FROM documents WHERE database_id = ?1",
	[ST_DB_DELETE_COLLECTIONS] = "DELETE FROM collections WHERE database_id = ?1",
	[ST_DB_DELETE_MUTATIONS] = "DELETE FROM mutations WHERE database_id = ?1",
	[ST_COLL_GET] = "SELECT " COLL_COLUMNS " FROM collections WHERE database_id = ?1 AND id = ?2",
	[ST_COLL_LIST] = "SELECT " COLL_COLUMNS " FROM collections WHERE database_id = ?1 ORDER BY id",
	[ST_COLL_INSERT] = "INSERT INTO collections (database_id, id, name, enabled, "
		"document_security, permissions, created_at, updated_at, next_sequence) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 1)",
	[ST_COLL_UPDATE] = "UPDATE collections SET name = coalesce(?3, name), "
		"enabled = CASE WHEN ?4 < 0 THEN enabled ELSE ?4 END, "
		"document_security = CASE WHEN ?5 < 0 THEN document_security ELSE ?5 END, "
		"permissions = coalesce(?6, permissions), updated_at = ?7 "
		"WHERE database_id = ?1 AND id = ?2",
	[ST_COLL_SEQUENCE_GET] = "SELECT next_sequence FROM collections "
		"WHERE database_id = ?1 AND id = ?2",
	[ST_COLL_SEQUENCE_SET] = "UPDATE collections SET next_sequence = ?3 "
		"WHERE database_id = ?1 AND id = ?2",
	[ST_COLL_DELETE] = "DELETE FROM collections WHERE database_id = ?1 AND id = ?2",
	[ST_COLL_DELETE_DOCUMENTS] = "DELETE FROM documents "
		"WHERE database_id = ?1 AND collection_id = ?2",
	[ST_DOC_GET] = "SELECT " DOC_COLUMNS " FROM documents "
		"WHERE database_id = ?1 AND collection_id = ?2 AND id = ?3",
	[ST_DOC_INSERT] = "INSERT INTO documents (database_id, collection_id, id, data, "
		"permissions, created_at, updated_at, version, sequence, hlc, author, last_mutation, "
		"deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[ST_DOC_UPDATE] = "UPDATE documents SET data = ?4, permissions = ?5, created_at = ?6, "
		"updated_at = ?7, version = ?8, sequence = ?9, hlc = ?10, author = ?11, "
		"last_mutation = ?12, deleted = ?13 "
		"WHERE database_id = ?1 AND collection_id = ?2 AND id = ?3",
	[ST_DOC_SCAN] = "SELECT " DOC_COLUMNS " FROM documents INDEXED BY documents_by_sequence "
		"WHERE database_id = ?1 AND collection_id = ?2 AND deleted = 0 ORDER BY sequence",
	/* The feed walks the version index; a collection filter is applied on the way (the IN
	 * list is built once per query from a JSON array, so it stays one parameter). */
	[ST_CHANGES_ALL] = "SELECT " DOC_COLUMNS " FROM documents INDEXED BY documents_by_version "
		"WHERE database_id = ?1 AND version > ?2 ORDER BY version LIMIT ?3",
	[ST_CHANGES_FILTERED] = "SELECT " DOC_COLUMNS " FROM documents "
		"INDEXED BY documents_by_version WHERE database_id = ?1 AND version > ?2 "
		"AND collection_id IN (SELECT value FROM json_each(?4)) ORDER BY version LIMIT ?3",
	[ST_MUTATION_GET] = "SELECT status, error_type, error_message, collection_id, document_id, "
		"data, permissions, created_at, updated_at, version, sequence, hlc, deleted "
		"FROM mutations WHERE database_id = ?1 AND client_id = ?2 AND mutation_id = ?3",
	[ST_MUTATION_PUT] = "INSERT INTO mutations (database_id, client_id, mutation_id, status, "
		"error_type, error_message, collection_id, document_id, data, permissions, created_at, "
		"updated_at, version, sequence, hlc, deleted) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
	[ST_MUTATION_ANY_BETWEEN] = "SELECT 1 FROM mutations WHERE database_id = ?1 "
		"AND client_id = ?2 AND mutation_id BETWEEN ?3 AND ?4 LIMIT 1",
	[ST_DB_DELETE_RUNS] = "DELETE FROM mutation_runs WHERE database_id = ?1",
	[ST_RUN_PUT] = "INSERT INTO mutation_runs (database_id, client_id, first_id, last_id, "
		"outcomes) VALUES (?1, ?2, ?3, ?4, ?5)",
	/* Runs never overlap, so the one starting last at or before an id is the only one that
	 * can hold it (or overlap a range ending there). */
	[ST_RUN_LAST_BEFORE] = "SELECT last_id FROM mutation_runs "
		"INDEXED BY mutation_runs_by_range WHERE database_id = ?1 "
		"AND client_id = ?2 AND first_id <= ?3 ORDER BY first_id DESC LIMIT 1",
	[ST_RUN_FIND] = "SELECT last_id, outcomes FROM mutation_runs "
		"INDEXED BY mutation_runs_by_range WHERE database_id = ?1 "
		"AND client_id = ?2 AND first_id <= ?3 ORDER BY first_id DESC LIMIT 1",
};

/* Schema version 1. The mutations table keeps each stored outcome as columns (not one JSON
 * blob) so that recording an outcome costs no extra JSON encoding on the push path; it is
 * only ever read by its key, so it is that key's b-tree (WITHOUT ROWID: one insert, not two).
 * New files get 8 KiB pages (the writer's page_size pragma): a push writes fewer of them.
 * Both only shape new files; older files work the same. */
static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS settings ("
	"  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS databases ("
	"  id TEXT PRIMARY KEY, name TEXT NOT NULL, enabled INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  last_sequence INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS collections ("
	"  database_id TEXT NOT NULL REFERENCES databases (id) ON DELETE CASCADE,"
	"  id TEXT NOT NULL, name TEXT NOT NULL, enabled INTEGER NOT NULL,"
	"  document_security INTEGER NOT NULL, permissions TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  next_sequence INTEGER NOT NULL DEFAULT 1,"
	"  PRIMARY KEY (database_id, id));"
	"CREATE TABLE IF NOT EXISTS documents ("
	"  database_id TEXT NOT NULL, collection_id TEXT NOT NULL, id TEXT NOT NULL,"
	"  data TEXT, permissions TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  version INTEGER NOT NULL, sequence INTEGER NOT NULL, hlc INTEGER NOT NULL,"
	"  author TEXT NOT NULL, last_mutation TEXT NOT NULL, deleted INTEGER NOT NULL,"
	"  UNIQUE (database_id, collection_id, id));"
	"CREATE INDEX IF NOT EXISTS documents_by_version ON documents (database_id, version);"
	"CREATE INDEX IF NOT EXISTS documents_by_sequence"
	"  ON documents (database_id, collection_id, sequence);"
	"CREATE TABLE IF NOT EXISTS mutations ("
	"  database_id TEXT NOT NULL, client_id TEXT NOT NULL, mutation_id TEXT NOT NULL,"
	"  status INTEGER NOT NULL, error_type TEXT NOT NULL, error_message TEXT NOT NULL,"
	"  collection_id TEXT NOT NULL, document_id TEXT NOT NULL, data TEXT, permissions TEXT,"
	"  created_at INTEGER, updated_at INTEGER, version INTEGER, sequence INTEGER,"
	"  hlc INTEGER, deleted INTEGER,"
	"  PRIMARY KEY (database_id, client_id, mutation_id)) WITHOUT ROWID;"
	/* Schema version 2: a run holds the stored outcomes of one fresh push batch's slim-acked
	 * puts in one row (sqlite_write.c "Runs"): one insert per batch, not one per put. It
	 * covers the batch's mutation ids from first_id to last_id; runs never overlap. */
	"CREATE TABLE IF NOT EXISTS mutation_runs ("
	"  database_id TEXT NOT NULL, client_id TEXT NOT NULL, first_id TEXT NOT NULL,"
	"  last_id TEXT NOT NULL, outcomes BLOB NOT NULL);"
	/* Lookups seek this index alone: a b-tree keyed by the row itself (WITHOUT ROWID) would
	 * read the whole blob's overflow pages at every key it compares. */
	"CREATE UNIQUE INDEX IF NOT EXISTS mutation_runs_by_range"
	"  ON mutation_runs (database_id, client_id, first_id, last_id);";


/* ---- connections and statements ---- */

static int sqlite_code_to_cairn(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY: case SQLITE_LOCKED: return CAIRN_EBUSY;
	case SQLITE_NOMEM: return CAIRN_ENOMEM;
	default: return CAIRN_EIO;
	}
}

/* Sets and returns the error for a failed SQLite call on `db`. */
int cairn__sqlite_fail(sqlite3 *db, int rc, const char *doing)
{
	return cairn__error_set(sqlite_code_to_cairn(rc), "storage: %s failed: %s", doing,
		db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

int cairn__sqlite_oom(void)
{
	return cairn__error_set(CAIRN_ENOMEM, "storage: out of memory");
}

static void connection_close(connection *conn)
{
	if (!conn)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(conn->statements[i]);
	sqlite3_close(conn->db);
	free(conn);
}

static int exec_sql(connection *conn, const char *sql)
{
	char *message = NULL;
	int rc = sqlite3_exec(conn->db, sql, NULL, NULL, &message);

	if (rc != SQLITE_OK) {
		rc = cairn__error_set(sqlite_code_to_cairn(rc), "storage: '%.60s' failed: %s", sql,
			message ? message : sqlite3_errstr(rc));
		sqlite3_free(message);
		return rc;
	}
	return 0;
}

static int connection_open(connection **out, const char *path, int writer)
{
	connection *conn = calloc(1, sizeof(*conn));
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
	int rc;

	*out = NULL;
	if (!conn)
		return cairn__sqlite_oom();
	/* cairn__wal_vfs: a commit's WAL frames in one write (util/wal_vfs.c). */
	rc = sqlite3_open_v2(path, &conn->db, flags, cairn__wal_vfs());
	if (rc != SQLITE_OK) {
		rc = cairn__error_set(CAIRN_EIO, "storage: cannot open %s: %s", path,
			conn->db ? sqlite3_errmsg(conn->db) : sqlite3_errstr(rc));
		goto cleanup;
	}
	sqlite3_busy_timeout(conn->db, BUSY_TIMEOUT_MS);
	if (writer)
		rc = exec_sql(conn, "PRAGMA page_size = 8192; "
			"PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
			"PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY");
	else
		rc = exec_sql(conn, "PRAGMA query_only = 1; PRAGMA cache_size = -4096; "
			"PRAGMA temp_store = MEMORY");
	if (rc < 0)
		goto cleanup;
	*out = conn;
	conn = NULL;
	rc = 0;
cleanup:
	connection_close(conn);
	return rc;
}

/* The statement `which` of `conn`, reset and unbound, ready to bind; NULL + error set. */
sqlite3_stmt *cairn__sqlite_statement(connection *conn, enum statement_id which)
{
	sqlite3_stmt *stmt = conn->statements[which];
	int rc;

	if (stmt)
		return stmt;
	rc = sqlite3_prepare_v3(conn->db, statement_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
		&stmt, NULL);
	if (rc != SQLITE_OK) {
		cairn__sqlite_fail(conn->db, rc, "preparing a statement");
		return NULL;
	}
	conn->statements[which] = stmt;
	return stmt;
}

/* Resets a statement after use so the next caller finds it clean and locks are released. */
void cairn__sqlite_statement_done(sqlite3_stmt *stmt)
{
	if (!stmt)
		return;
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

/* Runs a statement that returns no rows (bindings already made) and resets it. */
int cairn__sqlite_statement_run(connection *conn, sqlite3_stmt *stmt, const char *doing)
{
	int rc = sqlite3_step(stmt);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rc = cairn__sqlite_fail(conn->db, rc, doing);
	else
		rc = 0;
	cairn__sqlite_statement_done(stmt);
	return rc;
}

int cairn__sqlite_prepare_failed(void)
{
	int code = cairn__error_code();

	return code < 0 ? code : CAIRN_EIO;
}

int cairn__sqlite_run(connection *conn, enum statement_id which, const char *doing)
{
	sqlite3_stmt *stmt = cairn__sqlite_statement(conn, which);

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	return cairn__sqlite_statement_run(conn, stmt, doing);
}

/* Rolls back after failure `rc`, keeping the error that caused it as the last error. */
void cairn__sqlite_rollback(connection *conn, int rc)
{
	char message[1024];

	snprintf(message, sizeof(message), "%s", cairn_error_last());
	if (cairn__sqlite_run(conn, ST_ROLLBACK, "rolling back") < 0)
		cairn__error_set(rc, "%s", message);
}

void cairn__sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
	/* Strings are borrowed for the call and statements are reset before returning. */
	if (text)
		sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, index);
}

void cairn__sqlite_bind_text_len(sqlite3_stmt *stmt, int index, const char *text, size_t len)
{
	if (text)
		sqlite3_bind_text(stmt, index, text, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, index);
}

/* Takes an idle read connection or opens a new one. */
static int reader_acquire(connection **out, cairn_storage *storage)
{
	pthread_mutex_lock(&storage->pool_lock);
	*out = storage->idle_readers;
	if (*out)
		storage->idle_readers = (*out)->next_idle;
	pthread_mutex_unlock(&storage->pool_lock);
	if (*out) {
		(*out)->next_idle = NULL;
		return 0;
	}
	return connection_open(out, storage->path, 0);
}

static void reader_release(cairn_storage *storage, connection *conn)
{
	if (!conn)
		return;
	pthread_mutex_lock(&storage->pool_lock);
	conn->next_idle = storage->idle_readers;
	storage->idle_readers = conn;
	pthread_mutex_unlock(&storage->pool_lock);
}

int cairn__sqlite_reader_acquire(connection **out, cairn_storage *storage)
{
	return reader_acquire(out, storage);
}

void cairn__sqlite_reader_release(cairn_storage *storage, connection *conn)
{
	reader_release(storage, conn);
}

/* The next $updatedAt: wall-clock ms, bumped past the last one issued. Caller holds the
 * write lock. */
int64_t cairn__sqlite_clock_next(cairn_storage *storage)
{
	int64_t now = cairn__time_now_ms();

	if (now <= storage->last_issued_ms)
		now = storage->last_issued_ms + 1;
	storage->last_issued_ms = now;
	return now;
}

/* ---- row decoding ---- */

char *cairn__sqlite_column_dup(sqlite3_stmt *stmt, int column)
{
	const unsigned char *text = sqlite3_column_text(stmt, column);
	int len = sqlite3_column_bytes(stmt, column);
	char *copy = malloc((size_t)len + 1);

	if (!copy)
		return NULL;
	if (text)
		memcpy(copy, text, (size_t)len);
	copy[len] = '\0';
	return copy;
}

/* One JSON parser per thread for stored values, kept between rows: the change feed parses
 * one document per row, and a fresh parser plus a copy of the text per row cost about as
 * much as the parse itself (bench: pull profile). Freed when the thread exits. */
static pthread_key_t stored_parser_key;
static pthread_once_t stored_parser_once = PTHREAD_ONCE_INIT;
static int stored_parser_ready;

static void stored_parser_free(void *parser)
{
	json_tokener_free(parser);
}

static void stored_parser_init(void)
{
	stored_parser_ready = pthread_key_create(&stored_parser_key, stored_parser_free) == 0;
}

static json_tokener *stored_parser(void)
{
	json_tokener *parser;

	pthread_once(&stored_parser_once, stored_parser_init);
	if (!stored_parser_ready)
		return NULL;
	parser = pthread_getspecific(stored_parser_key);
	if (!parser) {
		parser = json_tokener_new_ex(STORED_JSON_MAX_DEPTH + 1);
		if (parser && pthread_setspecific(stored_parser_key, parser) != 0) {
			json_tokener_free(parser);
			parser = NULL;
		}
	}
	return parser;
}

/* Parses stored JSON text: values were validated (UTF-8, depth, shape) when written, so the
 * fast path only parses; anything it rejects goes through the full parser for the message. */
static json_object *stored_json_parse(const char *text, size_t length)
{
	json_tokener *parser = stored_parser();
	json_object *value;
	size_t end;

	if (!parser)
		return cairn__json_parse(text, length, STORED_JSON_MAX_DEPTH);
	json_tokener_reset(parser);
	/* SQLite's text is NUL-terminated; json-c needs the NUL to finish a trailing number. */
	value = json_tokener_parse_ex(parser, text, (int)length + 1);
	end = json_tokener_get_parse_end(parser);
	if (value && json_tokener_get_error(parser) == json_tokener_success && end >= length)
		return value;
	json_object_put(value);
	return cairn__json_parse(text, length, STORED_JSON_MAX_DEPTH);
}

/* Parses a JSON column; a NULL column gives *out = NULL. */
int cairn__sqlite_column_json(json_object **out, sqlite3_stmt *stmt, int column)
{
	const char *text = (const char *)sqlite3_column_text(stmt, column);
	int length = sqlite3_column_bytes(stmt, column);

	*out = NULL;
	if (!text)
		return 0;
	if (length == 2 && text[0] == '[' && text[1] == ']')
		*out = json_object_new_array(); /* most documents' permissions: no parser needed */
	else if (length <= 0 || length >= INT32_MAX || strlen(text) != (size_t)length)
		*out = cairn__json_parse(text, (size_t)length, STORED_JSON_MAX_DEPTH);
	else
		*out = stored_json_parse(text, (size_t)length);
	if (!*out)
		return cairn__error_set(CAIRN_EIO, "storage: a stored JSON value is corrupt: %s",
			cairn_error_last());
	return 0;
}

static int database_from_row(cairn_storage_database *out, sqlite3_stmt *stmt)
{
	memset(out, 0, sizeof(*out));
	out->id = cairn__sqlite_column_dup(stmt, 0);
	out->name = cairn__sqlite_column_dup(stmt, 1);
	out->enabled = sqlite3_column_int(stmt, 2);
	out->created_at = sqlite3_column_int64(stmt, 3);
	out->updated_at = sqlite3_column_int64(stmt, 4);
	out->last_sequence = sqlite3_column_int64(stmt, 5);
	if (!out->id || !out->name) {
		cairn__storage_database_clear(out);
		return cairn__sqlite_oom();
	}
	return 0;
}


/* The numbers of a document row (both record builders below). */
static void record_numbers(cairn_storage_record *out, sqlite3_stmt *stmt)
{
	out->created_at = sqlite3_column_int64(stmt, DOC_CREATED);
	out->updated_at = sqlite3_column_int64(stmt, DOC_UPDATED);
	out->version = sqlite3_column_int64(stmt, DOC_VERSION);
	out->sequence = sqlite3_column_int64(stmt, DOC_SEQUENCE);
	out->hlc = sqlite3_column_int64(stmt, DOC_HLC);
	out->deleted = sqlite3_column_int(stmt, DOC_DELETED);
}
static int collection_from_row(cairn_storage_collection *out, sqlite3_stmt *stmt)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->database_id = cairn__sqlite_column_dup(stmt, 0);
	out->id = cairn__sqlite_column_dup(stmt, 1);
	out->name = cairn__sqlite_column_dup(stmt, 2);
	out->enabled = sqlite3_column_int(stmt, 3);
	out->document_security = sqlite3_column_int(stmt, 4);
	out->created_at = sqlite3_column_int64(stmt, 6);
	out->updated_at = sqlite3_column_int64(stmt, 7);
	if (!out->database_id || !out->id || !out->name) {
		rc = cairn__sqlite_oom();
		goto fail;
	}
	rc = cairn__sqlite_column_json(&out->permissions, stmt, 5);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	cairn__storage_collection_clear(out);
	return rc;
}

/* Fills `out` from a DOC_COLUMNS row; *approx_bytes (optional) gets its rough size. */
int cairn__sqlite_record_from_row(cairn_storage_record *out, sqlite3_stmt *stmt,
	const char *database_id, size_t *approx_bytes)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->database_id = strdup(database_id);
	out->collection_id = cairn__sqlite_column_dup(stmt, DOC_COLLECTION);
	out->id = cairn__sqlite_column_dup(stmt, DOC_ID);
	out->author = cairn__sqlite_column_dup(stmt, DOC_AUTHOR);
	out->last_mutation = cairn__sqlite_column_dup(stmt, DOC_LAST_MUTATION);
	record_numbers(out, stmt);
	if (!out->database_id || !out->collection_id || !out->id || !out->author ||
		!out->last_mutation) {
		rc = cairn__sqlite_oom();
		goto fail;
	}
	rc = cairn__sqlite_column_json(&out->data, stmt, DOC_DATA);
	if (rc == 0)
		rc = cairn__sqlite_column_json(&out->permissions, stmt, DOC_PERMISSIONS);
	if (rc < 0)
		goto fail;
	if (approx_bytes)
		*approx_bytes = (size_t)sqlite3_column_bytes(stmt, DOC_DATA) + RECORD_OVERHEAD_BYTES;
	return 0;
fail:
	cairn__storage_record_clear(out);
	return rc;
}

/* A text column as a borrowed string ("" for NULL), valid until the statement moves on. */
static char *column_view(sqlite3_stmt *stmt, int column)
{
	const unsigned char *text = sqlite3_column_text(stmt, column);

	return (char *)(text ? (const char *)text : "");
}

/* A scan's record of the current row: its strings and `data_text` borrowed from the
 * statement and `database_id` (a scan callback's record is borrowed for the call), so a row
 * costs no copies; only `data` (unless `parse_data` is 0: storage.h changes_text) and
 * `permissions` are built. Release it with record_view_release, not record_clear. */
static int record_view(cairn_storage_record *out, sqlite3_stmt *stmt,
	const char *database_id, size_t *approx_bytes, int parse_data)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->database_id = (char *)database_id;
	out->collection_id = column_view(stmt, DOC_COLLECTION);
	out->id = column_view(stmt, DOC_ID);
	out->author = column_view(stmt, DOC_AUTHOR);
	out->last_mutation = column_view(stmt, DOC_LAST_MUTATION);
	record_numbers(out, stmt);
	rc = parse_data ? cairn__sqlite_column_json(&out->data, stmt, DOC_DATA) : 0;
	if (rc == 0)
		rc = cairn__sqlite_column_json(&out->permissions, stmt, DOC_PERMISSIONS);
	/* Written by cairn__json_text: printing the parsed data gives this text back. */
	out->data_text = (const char *)sqlite3_column_text(stmt, DOC_DATA);
	out->data_text_length = out->data_text ? (size_t)sqlite3_column_bytes(stmt, DOC_DATA) : 0;
	if (approx_bytes)
		*approx_bytes = out->data_text_length + RECORD_OVERHEAD_BYTES;
	return rc;
}

static void record_view_release(cairn_storage_record *record)
{
	json_object_put(record->data);
	json_object_put(record->permissions);
	memset(record, 0, sizeof(*record));
}

int cairn__sqlite_database_missing(const char *id)
{
	return cairn__error_set(CAIRN_ENOTFOUND,
		"Database with the requested ID '%s' could not be found.", id ? id : "");
}

static int collection_missing(const char *id)
{
	return cairn__error_set(CAIRN_ENOTFOUND,
		"Collection with the requested ID '%s' could not be found.", id ? id : "");
}

static int invalid_id(const char *what, const char *id)
{
	return cairn__error_set(CAIRN_EINVALID, "Invalid `%s` param: " ID_RULES " (got '%s').",
		what, id ? id : "");
}

/* ---- open / close ---- */

static int mkdir_p(const char *dir)
{
	char *path = strdup(dir);
	int rc = 0;

	if (!path)
		return cairn__sqlite_oom();
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			rc = cairn__error_set(CAIRN_EIO, "storage: cannot create directory %s: %s",
				path, strerror(errno));
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(path);
	return rc;
}

/* Creates the schema on a new file, refuses one newer than this build knows. */
static int schema_prepare(connection *conn, const char *path)
{
	sqlite3_stmt *stmt = NULL;
	int64_t version = 0;
	int rc;

	rc = exec_sql(conn, "BEGIN IMMEDIATE");
	if (rc < 0)
		return rc;
	rc = exec_sql(conn, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
		"value TEXT NOT NULL)");
	if (rc < 0)
		goto cleanup;
	rc = sqlite3_prepare_v2(conn->db, "SELECT CAST(value AS INTEGER) FROM meta "
		"WHERE key = 'schema_version'", -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		rc = cairn__sqlite_fail(conn->db, rc, "reading the schema version");
		goto cleanup;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		version = sqlite3_column_int64(stmt, 0);
	else if (rc != SQLITE_DONE) {
		rc = cairn__sqlite_fail(conn->db, rc, "reading the schema version");
		goto cleanup;
	}
	if (version > SCHEMA_VERSION) {
		rc = cairn__error_set(CAIRN_EIO, "storage: %s has schema version %lld but this "
			"cairn knows only versions up to %d; run a newer cairn server",
			path, (long long)version, SCHEMA_VERSION);
		goto cleanup;
	}
	/* Version 1 is the first schema; version 2 only adds a table. Creating what is missing
	 * is the only "migration". */
	rc = exec_sql(conn, schema_sql);
	if (rc == 0)
		rc = exec_sql(conn, cairn__sqlite_accounts_schema); /* users, sessions */
	if (rc < 0)
		goto cleanup;
	if (version < SCHEMA_VERSION) {
		rc = exec_sql(conn, "INSERT INTO meta (key, value) VALUES ('schema_version', '"
			SCHEMA_VERSION_TEXT "') "
			"ON CONFLICT (key) DO UPDATE SET value = excluded.value");
		if (rc < 0)
			goto cleanup;
	}
	rc = exec_sql(conn, "COMMIT");
cleanup:
	sqlite3_finalize(stmt);
	if (rc < 0)
		sqlite3_exec(conn->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The largest $updatedAt stored anywhere, so the clock resumes past it. A database's latest
 * document write is the one with its highest version, so the version index answers that
 * without scanning the documents. */
static int clock_restore(cairn_storage *storage)
{
	static const char sql[] =
		"SELECT max(coalesce((SELECT max(updated_at) FROM databases), 0),"
		" coalesce((SELECT max(updated_at) FROM collections), 0),"
		" coalesce((SELECT max((SELECT d.updated_at FROM documents d"
		"   WHERE d.database_id = b.id ORDER BY d.version DESC LIMIT 1)) FROM databases b), 0))";
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(storage->writer->db, sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return cairn__sqlite_fail(storage->writer->db, rc, "reading the clock");
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		storage->last_issued_ms = sqlite3_column_int64(stmt, 0);
		rc = 0;
	} else {
		rc = cairn__sqlite_fail(storage->writer->db, rc, "reading the clock");
	}
	sqlite3_finalize(stmt);
	return rc;
}

static void sqlite_close(cairn_storage *storage)
{
	connection *conn;

	if (!storage)
		return;
	while ((conn = storage->idle_readers) != NULL) {
		storage->idle_readers = conn->next_idle;
		connection_close(conn);
	}
	connection_close(storage->writer);
	pthread_mutex_destroy(&storage->write_lock);
	pthread_mutex_destroy(&storage->pool_lock);
	free(storage->path);
	free(storage);
}

static int sqlite_open(cairn_storage **out, const char *location)
{
	cairn_storage *storage = NULL;
	int rc;

	*out = NULL;
	if (!location || !location[0])
		return cairn__error_set(CAIRN_EINVALID, "storage: no data directory given");
	if (!sqlite3_threadsafe())
		return cairn__error_set(CAIRN_EIO, "storage: this SQLite library was built without "
			"thread support (SQLITE_THREADSAFE=0); the server needs a thread-safe build");
	rc = mkdir_p(location);
	if (rc < 0)
		return rc;
	storage = calloc(1, sizeof(*storage));
	if (!storage)
		return cairn__sqlite_oom();
	pthread_mutex_init(&storage->write_lock, NULL);
	pthread_mutex_init(&storage->pool_lock, NULL);
	if (asprintf(&storage->path, "%s/cairn.db", location) < 0) {
		storage->path = NULL;
		rc = cairn__sqlite_oom();
		goto cleanup;
	}
	rc = connection_open(&storage->writer, storage->path, 1);
	if (rc < 0)
		goto cleanup;
	rc = schema_prepare(storage->writer, storage->path);
	if (rc < 0)
		goto cleanup;
	rc = clock_restore(storage);
	if (rc < 0)
		goto cleanup;
	*out = storage;
	storage = NULL;
cleanup:
	sqlite_close(storage);
	return rc;
}

/* ---- settings ---- */

static int sqlite_setting_get(char **out, cairn_storage *storage, const char *key)
{
	connection *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc;

	*out = NULL;
	rc = reader_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	stmt = cairn__sqlite_statement(conn, ST_SETTING_GET);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, key);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = cairn__sqlite_column_dup(stmt, 0);
		rc = *out ? 0 : cairn__sqlite_oom();
	} else if (rc == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "setting '%s' is not set", key ? key : "");
	} else {
		rc = cairn__sqlite_fail(conn->db, rc, "reading a setting");
	}
cleanup:
	cairn__sqlite_statement_done(stmt);
	reader_release(storage, conn);
	return rc;
}

static int sqlite_setting_set(cairn_storage *storage, const char *key, const char *value)
{
	sqlite3_stmt *stmt;
	int rc;

	if (!key || !value)
		return cairn__error_set(CAIRN_EINVALID, "storage: a setting needs a key and a value");
	pthread_mutex_lock(&storage->write_lock);
	stmt = cairn__sqlite_statement(storage->writer, ST_SETTING_SET);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, key);
	cairn__sqlite_bind_text(stmt, 2, value);
	rc = cairn__sqlite_statement_run(storage->writer, stmt, "saving a setting");
cleanup:
	pthread_mutex_unlock(&storage->write_lock);
	return rc;
}

/* ---- databases ---- */

/* Reads database `id` on `conn` into `out`. */
static int database_read(cairn_storage_database *out, connection *conn, const char *id)
{
	sqlite3_stmt *stmt = cairn__sqlite_statement(conn, ST_DB_GET);
	int rc;

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = database_from_row(out, stmt);
	else if (rc == SQLITE_DONE)
		rc = cairn__sqlite_database_missing(id);
	else
		rc = cairn__sqlite_fail(conn->db, rc, "reading a database");
	cairn__sqlite_statement_done(stmt);
	return rc;
}

static int sqlite_database_create(cairn_storage_database *out, cairn_storage *storage,
	const char *id, const char *name, int enabled)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!id || !cairn__id_valid(id))
		return invalid_id("databaseId", id);
	pthread_mutex_lock(&storage->write_lock);
	stmt = cairn__sqlite_statement(storage->writer, ST_DB_INSERT);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, id);
	cairn__sqlite_bind_text(stmt, 2, name ? name : id);
	sqlite3_bind_int(stmt, 3, enabled ? 1 : 0);
	sqlite3_bind_int64(stmt, 4, cairn__sqlite_clock_next(storage));
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		rc = cairn__error_set(CAIRN_EEXISTS, "Database with the requested ID already exists. "
			"Try again with a different ID or use ID.unique() to generate a unique ID.");
	} else if (rc != SQLITE_DONE) {
		rc = cairn__sqlite_fail(storage->writer->db, rc, "creating a database");
	} else {
		cairn__sqlite_statement_done(stmt);
		rc = database_read(out, storage->writer, id);
	}
cleanup:
	cairn__sqlite_statement_done(stmt);
	pthread_mutex_unlock(&storage->write_lock);
	return rc;
}

static int sqlite_database_get(cairn_storage_database *out, cairn_storage *storage,
	const char *id)
{
	connection *conn = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = reader_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = database_read(out, conn, id);
	reader_release(storage, conn);
	return rc;
}

static int sqlite_database_list(cairn_storage *storage,
	int (*each)(const cairn_storage_database *db, void *payload), void *payload)
{
	connection *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = reader_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	stmt = cairn__sqlite_statement(conn, ST_DB_LIST);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		cairn_storage_database database;

		rc = database_from_row(&database, stmt);
		if (rc < 0)
			goto cleanup;
		rc = each(&database, payload);
		cairn__storage_database_clear(&database);
		if (rc != 0)
			goto cleanup;
	}
	rc = rc == SQLITE_DONE ? 0 : cairn__sqlite_fail(conn->db, rc, "listing databases");
cleanup:
	cairn__sqlite_statement_done(stmt);
	reader_release(storage, conn);
	return rc;
}

static int sqlite_database_update(cairn_storage_database *out, cairn_storage *storage,
	const char *id, const char *name, int enabled)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&storage->write_lock);
	stmt = cairn__sqlite_statement(storage->writer, ST_DB_UPDATE);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, id);
	cairn__sqlite_bind_text(stmt, 2, name);
	sqlite3_bind_int(stmt, 3, enabled < 0 ? -1 : enabled ? 1 : 0);
	sqlite3_bind_int64(stmt, 4, cairn__sqlite_clock_next(storage));
	rc = cairn__sqlite_statement_run(storage->writer, stmt, "updating a database");
	if (rc < 0)
		goto cleanup;
	if (sqlite3_changes(storage->writer->db) == 0)
		rc = cairn__sqlite_database_missing(id);
	else
		rc = database_read(out, storage->writer, id);
cleanup:
	pthread_mutex_unlock(&storage->write_lock);
	return rc;
}

/* Runs the bound-by-id delete statement `which` with ?1 = a, ?2 = b (may be NULL). */
static int delete_where(connection *conn, enum statement_id which, const char *a,
	const char *b)
{
	sqlite3_stmt *stmt = cairn__sqlite_statement(conn, which);

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, a);
	if (b)
		cairn__sqlite_bind_text(stmt, 2, b);
	return cairn__sqlite_statement_run(conn, stmt, "deleting");
}

static int sqlite_database_delete(cairn_storage *storage, const char *id)
{
	connection *conn = storage->writer;
	int in_transaction = 0;
	int rc;

	pthread_mutex_lock(&storage->write_lock);
	rc = cairn__sqlite_run(conn, ST_BEGIN_IMMEDIATE, "starting a transaction");
	if (rc < 0)
		goto cleanup;
	in_transaction = 1;
	rc = delete_where(conn, ST_DB_DELETE, id, NULL);
	if (rc < 0)
		goto cleanup;
	if (sqlite3_changes(conn->db) == 0) {
		rc = cairn__sqlite_database_missing(id);
		goto cleanup;
	}
	if ((rc = delete_where(conn, ST_DB_DELETE_DOCUMENTS, id, NULL)) < 0 ||
		(rc = delete_where(conn, ST_DB_DELETE_COLLECTIONS, id, NULL)) < 0 ||
		(rc = delete_where(conn, ST_DB_DELETE_MUTATIONS, id, NULL)) < 0 ||
		(rc = delete_where(conn, ST_DB_DELETE_RUNS, id, NULL)) < 0)
		goto cleanup;
	rc = cairn__sqlite_run(conn, ST_COMMIT, "committing");
	if (rc == 0)
		in_transaction = 0;
cleanup:
	if (in_transaction)
		cairn__sqlite_rollback(conn, rc);
	pthread_mutex_unlock(&storage->write_lock);
	return rc;
}

/* ---- collections ---- */

static int collection_read(cairn_storage_collection *out, connection *conn,
	const char *database_id, const char *id)
{
	sqlite3_stmt *stmt = cairn__sqlite_statement(conn, ST_COLL_GET);
	int rc;

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, database_id);
	cairn__sqlite_bind_text(stmt, 2, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = collection_from_row(out, stmt);
	else if (rc == SQLITE_DONE)
		rc = collection_missing(id);
	else
		rc = cairn__sqlite_fail(conn->db, rc, "reading a collection");
	cairn__sqlite_statement_done(stmt);
	return rc;
}

/* 0 if database `id` exists on `conn`, CAIRN_ENOTFOUND (set) if not. */
static int database_exists(connection *conn, const char *id)
{
	sqlite3_stmt *stmt = cairn__sqlite_statement(conn, ST_DB_SEQUENCE_GET);
	int rc;

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = 0;
	else if (rc == SQLITE_DONE)
		rc = cairn__sqlite_database_missing(id);
	else
		rc = cairn__sqlite_fail(conn->db, rc, "reading a database");
	cairn__sqlite_statement_done(stmt);
	return rc;
}

static int permissions_check(json_object *permissions)
{
	if (permissions && !json_object_is_type(permissions, json_type_array))
		return cairn__error_set(CAIRN_EINVALID, "Invalid `permissions` param: Value must "
			"be an array of permission strings.");
	return 0;
}

static int sqlite_collection_create(cairn_storage_collection *out, cairn_storage *storage,
	const char *database_id, const char *id, const char *name, json_object *permissions,
	int document_security, int enabled)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!id || !cairn__id_valid(id))
		return invalid_id("collectionId", id);
	rc = permissions_check(permissions);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&storage->write_lock);
	rc = database_exists(storage->writer, database_id);
	if (rc < 0)
		goto cleanup;
	stmt = cairn__sqlite_statement(storage->writer, ST_COLL_INSERT);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, database_id);
	cairn__sqlite_bind_text(stmt, 2, id);
	cairn__sqlite_bind_text(stmt, 3, name ? name : id);
	sqlite3_bind_int(stmt, 4, enabled ? 1 : 0);
	sqlite3_bind_int(stmt, 5, document_security ? 1 : 0);
	cairn__sqlite_bind_text(stmt, 6, permissions ? cairn__json_text(permissions, NULL) : "[]");
	sqlite3_bind_int64(stmt, 7, cairn__sqlite_clock_next(storage));
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		rc = cairn__error_set(CAIRN_EEXISTS, "Collection with the requested ID already "
			"exists. Try again with a different ID or use ID.unique() to generate a "
			"unique ID.");
	} else if (rc != SQLITE_DONE) {
		rc = cairn__sqlite_fail(storage->writer->db, rc, "creating a collection");
	} else {
		cairn__sqlite_statement_done(stmt);
		rc = collection_read(out, storage->writer, database_id, id);
	}
cleanup:
	cairn__sqlite_statement_done(stmt);
	pthread_mutex_unlock(&storage->write_lock);
	return rc;
}

static int sqlite_collection_get(cairn_storage_collection *out, cairn_storage *storage,
	const char *database_id, const char *id)
{
	connection *conn = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = reader_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = collection_read(out, conn, database_id, id);
	if (rc == CAIRN_ENOTFOUND) {
		/* Name the database in the message when it is the database that is missing. */
		rc = database_exists(conn, database_id);
		if (rc == 0)
			rc = collection_missing(id);
	}
	reader_release(storage, conn);
	return rc;
}

static int sqlite_collection_list(cairn_storage *storage, const char *database_id,
	int (*each)(const cairn_storage_collection *collection, void *payload), void *payload)
{
	connection *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = reader_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = database_exists(conn, database_id);
	if (rc < 0)
		goto cleanup;
	stmt = cairn__sqlite_statement(conn, ST_COLL_LIST);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, database_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		cairn_storage_collection collection;

		rc = collection_from_row(&collection, stmt);
		if (rc < 0)
			goto cleanup;
		rc = each(&collection, payload);
		cairn__storage_collection_clear(&collection);
		if (rc != 0)
			goto cleanup;
	}
	rc = rc == SQLITE_DONE ? 0 : cairn__sqlite_fail(conn->db, rc, "listing collections");
cleanup:
	cairn__sqlite_statement_done(stmt);
	reader_release(storage, conn);
	return rc;
}

static int sqlite_collection_update(cairn_storage_collection *out, cairn_storage *storage,
	const char *database_id, const char *id, const char *name, json_object *permissions,
	int document_security, int enabled)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = permissions_check(permissions);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&storage->write_lock);
	stmt = cairn__sqlite_statement(storage->writer, ST_COLL_UPDATE);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, database_id);
	cairn__sqlite_bind_text(stmt, 2, id);
	cairn__sqlite_bind_text(stmt, 3, name);
	sqlite3_bind_int(stmt, 4, enabled < 0 ? -1 : enabled ? 1 : 0);
	sqlite3_bind_int(stmt, 5, document_security < 0 ? -1 : document_security ? 1 : 0);
	cairn__sqlite_bind_text(stmt, 6, permissions ? cairn__json_text(permissions, NULL) : NULL);
	sqlite3_bind_int64(stmt, 7, cairn__sqlite_clock_next(storage));
	rc = cairn__sqlite_statement_run(storage->writer, stmt, "updating a collection");
	if (rc < 0)
		goto cleanup;
	if (sqlite3_changes(storage->writer->db) == 0) {
		rc = database_exists(storage->writer, database_id);
		if (rc == 0)
			rc = collection_missing(id);
	} else {
		rc = collection_read(out, storage->writer, database_id, id);
	}
cleanup:
	pthread_mutex_unlock(&storage->write_lock);
	return rc;
}

static int sqlite_collection_delete(cairn_storage *storage, const char *database_id,
	const char *id)
{
	connection *conn = storage->writer;
	int in_transaction = 0;
	int rc;

	pthread_mutex_lock(&storage->write_lock);
	rc = cairn__sqlite_run(conn, ST_BEGIN_IMMEDIATE, "starting a transaction");
	if (rc < 0)
		goto cleanup;
	in_transaction = 1;
	rc = delete_where(conn, ST_COLL_DELETE, database_id, id);
	if (rc < 0)
		goto cleanup;
	if (sqlite3_changes(conn->db) == 0) {
		rc = database_exists(conn, database_id);
		if (rc == 0)
			rc = collection_missing(id);
		goto cleanup;
	}
	rc = delete_where(conn, ST_COLL_DELETE_DOCUMENTS, database_id, id);
	if (rc < 0)
		goto cleanup;
	rc = cairn__sqlite_run(conn, ST_COMMIT, "committing");
	if (rc == 0)
		in_transaction = 0;
cleanup:
	if (in_transaction)
		cairn__sqlite_rollback(conn, rc);
	pthread_mutex_unlock(&storage->write_lock);
	return rc;
}

/* ---- documents: reads ---- */

static int document_missing(const char *id)
{
	return cairn__error_set(CAIRN_ENOTFOUND,
		"Document with the requested ID '%s' could not be found.", id ? id : "");
}

/* 0 when the collection exists; CAIRN_ENOTFOUND naming the database or the collection. */
static int collection_exists(connection *conn, const char *database_id, const char *id)
{
	sqlite3_stmt *stmt = cairn__sqlite_statement(conn, ST_COLL_SEQUENCE_GET);
	int rc;

	if (!stmt)
		return cairn__sqlite_prepare_failed();
	cairn__sqlite_bind_text(stmt, 1, database_id);
	cairn__sqlite_bind_text(stmt, 2, id);
	rc = sqlite3_step(stmt);
	cairn__sqlite_statement_done(stmt);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return cairn__sqlite_fail(conn->db, rc, "reading a collection");
	rc = database_exists(conn, database_id);
	return rc < 0 ? rc : collection_missing(id);
}

static int sqlite_document_get(cairn_storage_record *out, cairn_storage *storage,
	const char *database_id, const char *collection_id, const char *id)
{
	connection *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = reader_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	stmt = cairn__sqlite_statement(conn, ST_DOC_GET);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, database_id);
	cairn__sqlite_bind_text(stmt, 2, collection_id);
	cairn__sqlite_bind_text(stmt, 3, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && !sqlite3_column_int(stmt, DOC_DELETED)) {
		rc = cairn__sqlite_record_from_row(out, stmt, database_id, NULL);
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		cairn__sqlite_statement_done(stmt);
		rc = collection_exists(conn, database_id, collection_id);
		if (rc == 0)
			rc = document_missing(id);
	} else {
		rc = cairn__sqlite_fail(conn->db, rc, "reading a document");
	}
cleanup:
	cairn__sqlite_statement_done(stmt);
	reader_release(storage, conn);
	return rc;
}

/* Steps `stmt` (DOC_COLUMNS rows) and hands each record to `each`. At most `limit` rows are
 * delivered; *out_more (optional) is 1 if a further row exists or the callback stopped. */
static int stream_records(connection *conn, sqlite3_stmt *stmt, const char *database_id,
	size_t limit, int parse_data, cairn_storage_record_cb each, void *payload, int *out_more)
{
	size_t delivered = 0;
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		cairn_storage_record record;
		size_t approx_bytes = 0;

		if (delivered == limit) {
			if (out_more)
				*out_more = 1;
			return 0;
		}
		rc = record_view(&record, stmt, database_id, &approx_bytes, parse_data);
		if (rc < 0) {
			record_view_release(&record);
			return rc;
		}
		rc = each(&record, approx_bytes, payload);
		record_view_release(&record);
		delivered++;
		if (rc != 0) {
			if (out_more)
				*out_more = 1;
			return rc;
		}
	}
	if (rc != SQLITE_DONE)
		return cairn__sqlite_fail(conn->db, rc, "reading documents");
	return 0;
}

static int sqlite_document_scan(cairn_storage *storage, const char *database_id,
	const char *collection_id, cairn_storage_record_cb each, void *payload)
{
	connection *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = reader_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = collection_exists(conn, database_id, collection_id);
	if (rc < 0)
		goto cleanup;
	stmt = cairn__sqlite_statement(conn, ST_DOC_SCAN);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, database_id);
	cairn__sqlite_bind_text(stmt, 2, collection_id);
	rc = stream_records(conn, stmt, database_id, SIZE_MAX, 1, each, payload, NULL);
cleanup:
	cairn__sqlite_statement_done(stmt);
	reader_release(storage, conn);
	return rc;
}

static int changes_scan(cairn_storage *storage, const char *database_id, int64_t since,
	const char *const *collections, size_t collection_count, size_t limit, int parse_data,
	cairn_storage_record_cb each, void *payload, int *out_more)
{
	connection *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	json_object *filter = NULL;
	int rc;

	if (out_more)
		*out_more = 0;
	if (limit > (size_t)INT64_MAX - 1)
		limit = (size_t)INT64_MAX - 1;
	if (collections && collection_count > 0) {
		filter = json_object_new_array_ext((int)collection_count);
		if (!filter)
			return cairn__sqlite_oom();
		for (size_t i = 0; i < collection_count; i++) {
			json_object *name = json_object_new_string(collections[i] ? collections[i] : "");
			if (!name || json_object_array_add(filter, name) != 0) {
				json_object_put(name);
				json_object_put(filter);
				return cairn__sqlite_oom();
			}
		}
	}
	rc = reader_acquire(&conn, storage);
	if (rc < 0)
		goto cleanup;
	rc = database_exists(conn, database_id);
	if (rc < 0)
		goto cleanup;
	stmt = cairn__sqlite_statement(conn, filter ? ST_CHANGES_FILTERED : ST_CHANGES_ALL);
	if (!stmt) {
		rc = cairn__sqlite_prepare_failed();
		goto cleanup;
	}
	cairn__sqlite_bind_text(stmt, 1, database_id);
	sqlite3_bind_int64(stmt, 2, since);
	/* One row past the limit tells whether more remain. */
	sqlite3_bind_int64(stmt, 3, (int64_t)limit + 1);
	if (filter)
		cairn__sqlite_bind_text(stmt, 4, cairn__json_text(filter, NULL));
	rc = stream_records(conn, stmt, database_id, limit, parse_data, each, payload, out_more);
cleanup:
	cairn__sqlite_statement_done(stmt);
	reader_release(storage, conn);
	json_object_put(filter);
	return rc;
}

static int sqlite_changes(cairn_storage *storage, const char *database_id, int64_t since,
	const char *const *collections, size_t collection_count, size_t limit,
	cairn_storage_record_cb each, void *payload, int *out_more)
{
	return changes_scan(storage, database_id, since, collections, collection_count, limit, 1,
		each, payload, out_more);
}

static int sqlite_changes_text(cairn_storage *storage, const char *database_id, int64_t since,
	const char *const *collections, size_t collection_count, size_t limit,
	cairn_storage_record_cb each, void *payload, int *out_more)
{
	return changes_scan(storage, database_id, since, collections, collection_count, limit, 0,
		each, payload, out_more);
}

const cairn_storage_backend cairn__storage_sqlite = {
	.version = CAIRN_STORAGE_BACKEND_VERSION,
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.setting_get = sqlite_setting_get,
	.setting_set = sqlite_setting_set,
	.database_create = sqlite_database_create,
	.database_get = sqlite_database_get,
	.database_list = sqlite_database_list,
	.database_update = sqlite_database_update,
	.database_delete = sqlite_database_delete,
	.collection_create = sqlite_collection_create,
	.collection_get = sqlite_collection_get,
	.collection_list = sqlite_collection_list,
	.collection_update = sqlite_collection_update,
	.collection_delete = sqlite_collection_delete,
	.document_get = sqlite_document_get,
	.document_scan = sqlite_document_scan,
	.write = cairn__sqlite_write,
	.changes = sqlite_changes,
	.user_create = cairn__sqlite_user_create,
	.user_get = cairn__sqlite_user_get,
	.user_get_by_email = cairn__sqlite_user_get_by_email,
	.session_create = cairn__sqlite_session_create,
	.session_get = cairn__sqlite_session_get,
	.session_find = cairn__sqlite_session_find,
	.session_list = cairn__sqlite_session_list,
	.session_delete = cairn__sqlite_session_delete,
	.session_delete_all = cairn__sqlite_session_delete_all,
	.changes_text = sqlite_changes_text,
};
