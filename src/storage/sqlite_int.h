/* sqlite_int.h: internals shared by the SQLite backend's files (sqlite.c, sqlite_write.c). */
#ifndef CAIRN_STORAGE_SQLITE_INT_H
#define CAIRN_STORAGE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

#define SCHEMA_VERSION 2                   /* the newest schema this build knows */
#define SCHEMA_VERSION_TEXT "2"
#define MAX_DOCUMENT_BYTES (1024 * 1024)   /* user fields as compact JSON (docs/protocol.md) */
#define BUSY_TIMEOUT_MS 10000
#define STORED_JSON_MAX_DEPTH 64           /* generous: the API layer enforces 32 on input */
#define RECORD_OVERHEAD_BYTES 200          /* rough size of a change's system fields */

#define ID_RULES "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, " \
	"period, hyphen, and underscore. Can't start with a special char"

/*
 * Concurrency model. One write connection, used only under `write_lock`, does every write;
 * the $updatedAt clock (`last_issued_ms`) and the per-database change sequence are advanced
 * under that lock in the same transaction as the write, so both are strictly increasing in
 * commit order. Reads use a pool of read connections (WAL lets them run beside the writer):
 * a thread takes an idle one or opens a new one, and gives it back after the call, so the
 * pool grows to the number of threads reading at once. Each connection is used by one
 * thread at a time, which is what SQLite's multi-thread mode (SQLITE_OPEN_NOMUTEX) needs.
 * Statements are prepared once per connection, on first use, and reused.
 */

enum statement_id {
	ST_BEGIN_IMMEDIATE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SETTING_GET,
	ST_SETTING_SET,
	ST_DB_GET,
	ST_DB_LIST,
	ST_DB_INSERT,
	ST_DB_UPDATE,
	ST_DB_SEQUENCE_GET,
	ST_DB_SEQUENCE_SET,
	ST_DB_DELETE,
	ST_DB_DELETE_DOCUMENTS,
	ST_DB_DELETE_COLLECTIONS,
	ST_DB_DELETE_MUTATIONS,
	ST_COLL_GET,
	ST_COLL_LIST,
	ST_COLL_INSERT,
	ST_COLL_UPDATE,
	ST_COLL_SEQUENCE_GET,
	ST_COLL_SEQUENCE_SET,
	ST_COLL_DELETE,
	ST_COLL_DELETE_DOCUMENTS,
	ST_DOC_GET,
	ST_DOC_INSERT,
	ST_DOC_UPDATE,
	ST_DOC_SCAN,
	ST_CHANGES_ALL,
	ST_CHANGES_FILTERED,
	ST_MUTATION_GET,
	ST_MUTATION_PUT,
	ST_MUTATION_ANY_BETWEEN,
	ST_DB_DELETE_RUNS,
	ST_RUN_PUT,
	ST_RUN_LAST_BEFORE,
	ST_RUN_FIND,
	ST_COUNT
};

#define DB_COLUMNS "id, name, enabled, created_at, updated_at, last_sequence"
#define COLL_COLUMNS "database_id, id, name, enabled, document_security, permissions, " \
	"created_at, updated_at"
#define DOC_COLUMNS "collection_id, id, data, permissions, created_at, updated_at, version, " \
	"sequence, hlc, author, last_mutation, deleted"
enum { /* column indexes of DOC_COLUMNS */
	DOC_COLLECTION, DOC_ID, DOC_DATA, DOC_PERMISSIONS, DOC_CREATED, DOC_UPDATED, DOC_VERSION,
	DOC_SEQUENCE, DOC_HLC, DOC_AUTHOR, DOC_LAST_MUTATION, DOC_DELETED
};

typedef struct connection {
	sqlite3 *db;
	sqlite3_stmt *statements[ST_COUNT]; /* prepared on first use */
	struct connection *next_idle;       /* the pool's free list */
} connection;

struct cairn_storage {
	char *path;                   /* <dir>/cairn.db */
	pthread_mutex_t write_lock;   /* guards writer and last_issued_ms */
	connection *writer;
	int64_t last_issued_ms;       /* the latest $updatedAt handed out */
	pthread_mutex_t pool_lock;    /* guards idle_readers */
	connection *idle_readers;
};

/* Sets and returns the error for a failed SQLite call (CAIRN_EBUSY, _ENOMEM or _EIO). */
int cairn__sqlite_fail(sqlite3 *db, int rc, const char *doing);
int cairn__sqlite_oom(void);
/* The code of the error a failed cairn__sqlite_statement() set. */
int cairn__sqlite_prepare_failed(void);
/* The statement `which` of `conn`, prepared on first use, ready to bind; NULL + error set. */
sqlite3_stmt *cairn__sqlite_statement(connection *conn, enum statement_id which);
/* Resets and unbinds a statement after use (NULL is fine). */
void cairn__sqlite_statement_done(sqlite3_stmt *stmt);
/* Steps a bound statement that returns no rows, then resets it. */
int cairn__sqlite_statement_run(connection *conn, sqlite3_stmt *stmt, const char *doing);
/* Runs statement `which` without bindings (BEGIN, COMMIT, ROLLBACK). */
int cairn__sqlite_run(connection *conn, enum statement_id which, const char *doing);
/* Rolls back after failure `rc`, keeping that failure as the last error. */
void cairn__sqlite_rollback(connection *conn, int rc);
/* Binds borrowed text (SQLITE_STATIC: valid until the statement is reset); NULL binds NULL. */
void cairn__sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text);
void cairn__sqlite_bind_text_len(sqlite3_stmt *stmt, int index, const char *text, size_t len);
/* The next $updatedAt; the caller holds storage->write_lock. */
int64_t cairn__sqlite_clock_next(cairn_storage *storage);
/* A malloc'd copy of a text column ("" for NULL); NULL on ENOMEM. */
char *cairn__sqlite_column_dup(sqlite3_stmt *stmt, int column);
/* Parses a JSON text column into *out (NULL for a NULL column). */
int cairn__sqlite_column_json(json_object **out, sqlite3_stmt *stmt, int column);
/* Fills `out` from a DOC_COLUMNS row; *approx_bytes (optional) gets its rough size. */
int cairn__sqlite_record_from_row(cairn_storage_record *out, sqlite3_stmt *stmt,
	const char *database_id, size_t *approx_bytes);
/* Sets CAIRN_ENOTFOUND with Appwrite's message for a missing database. */
int cairn__sqlite_database_missing(const char *id);

/* Pooled read connections (sqlite.c), for the backend's other files. */
int cairn__sqlite_reader_acquire(connection **out, cairn_storage *storage);
void cairn__sqlite_reader_release(cairn_storage *storage, connection *conn);

/* Users and sessions (sqlite_accounts.c): the schema and the backend's account entries. */
extern const char cairn__sqlite_accounts_schema[];
int cairn__sqlite_user_create(cairn_storage_user *out, cairn_storage *storage,
	const cairn_storage_user *user);
int cairn__sqlite_user_get(cairn_storage_user *out, cairn_storage *storage, const char *id);
int cairn__sqlite_user_get_by_email(cairn_storage_user *out, cairn_storage *storage,
	const char *email);
int cairn__sqlite_session_create(cairn_storage *storage, const cairn_storage_session *session);
int cairn__sqlite_session_get(cairn_storage_session *out, cairn_storage *storage,
	const char *id);
int cairn__sqlite_session_find(cairn_storage_session *out, cairn_storage *storage,
	const char *secret_hash);
int cairn__sqlite_session_list(cairn_storage *storage, const char *user_id,
	int (*each)(const cairn_storage_session *session, void *payload), void *payload);
int cairn__sqlite_session_delete(cairn_storage *storage, const char *user_id, const char *id);
int cairn__sqlite_session_delete_all(cairn_storage *storage, const char *user_id);

/* The write batch (sqlite_write.c): the backend's `write` entry. */
int cairn__sqlite_write(cairn_storage_outcome *outcomes, cairn_storage *storage,
	const char *database_id, const cairn_storage_write *writes, size_t count);

#endif
