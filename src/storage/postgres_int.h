/* postgres_int.h: internals shared by the PostgreSQL backend's files (postgres.c, postgres_write.c). */
#ifndef CAIRN_STORAGE_POSTGRES_INT_H
#define CAIRN_STORAGE_POSTGRES_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

#define PG_SCHEMA_VERSION 2                /* the newest schema this build knows (2: accounts) */
#define PG_MAX_DOCUMENT_BYTES (1024 * 1024) /* as the SQLite backend (docs/protocol.md) */
#define PG_STORED_JSON_MAX_DEPTH 64
#define PG_RECORD_OVERHEAD_BYTES 200
#define PG_MAX_PARAMS 20

#define PG_ID_RULES "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, " \
	"period, hyphen, and underscore. Can't start with a special char"

/*
 * Concurrency model. Several server processes may share one PostgreSQL database, so no
 * process-local lock can order writes. Every write to a database's documents first locks
 * that database's row (SELECT ... FOR UPDATE) and holds it until commit: writers of one
 * database are serialised across all instances, the change sequence and the database's
 * clock are advanced under that lock, and so sequence order is commit order (a pull can
 * never page past a number whose transaction commits later; docs/protocol.md). Idempotency
 * and conflict checks read under the same lock, so they are exact across instances.
 * Connections come from a pool: a thread takes an idle one or opens a new one.
 */

enum pg_statement_id {
	PST_SETTING_GET,
	PST_SETTING_SET,
	PST_DB_GET,
	PST_DB_LIST,
	PST_DB_INSERT,
	PST_DB_UPDATE,
	PST_DB_LOCK,
	PST_DB_EXISTS,
	PST_DB_SEQUENCE_SET,
	PST_DB_DELETE,
	PST_DB_DELETE_DOCUMENTS,
	PST_DB_DELETE_MUTATIONS,
	PST_COLL_GET,
	PST_COLL_LIST,
	PST_COLL_INSERT,
	PST_COLL_UPDATE,
	PST_COLL_SEQUENCE_GET,
	PST_COLL_SEQUENCE_SET,
	PST_COLL_DELETE,
	PST_COLL_DELETE_DOCUMENTS,
	PST_DOC_GET,
	PST_DOC_UPSERT,
	PST_DOC_SCAN,
	PST_CHANGES_ALL,
	PST_CHANGES_FILTERED,
	PST_MUTATION_GET,
	PST_MUTATION_PUT,
	PST_COUNT
};

#define PG_DOC_COLUMNS "collection_id, id, data, permissions, created_at, updated_at, version, " \
	"sequence, hlc, author, last_mutation, deleted"
enum { /* column indexes of PG_DOC_COLUMNS */
	PDOC_COLLECTION, PDOC_ID, PDOC_DATA, PDOC_PERMISSIONS, PDOC_CREATED, PDOC_UPDATED,
	PDOC_VERSION, PDOC_SEQUENCE, PDOC_HLC, PDOC_AUTHOR, PDOC_LAST_MUTATION, PDOC_DELETED
};

typedef struct pg_connection {
	PGconn *conn;
	unsigned char prepared[PST_COUNT]; /* 1 once PQprepare'd on this connection */
	char sqlstate[6];                  /* SQLSTATE of the last failed statement */
	struct pg_connection *next_idle;
} pg_connection;

struct cairn_storage {
	char *conninfo;
	pthread_mutex_t pool_lock;    /* guards idle */
	pg_connection *idle;
	pthread_mutex_t clock_lock;   /* guards last_issued_ms */
	int64_t last_issued_ms;       /* this process's latest metadata $updatedAt */
	struct pg_watcher *watcher;   /* the LISTEN thread (postgres_watch.c), or NULL */
};

/* Parameters of one statement, as text. */
typedef struct {
	const char *values[PG_MAX_PARAMS];
	char numbers[PG_MAX_PARAMS][24];
	int count;
} pg_params;

void cairn__pg_param_text(pg_params *params, const char *text); /* NULL binds NULL */
void cairn__pg_param_int(pg_params *params, int64_t value);

int cairn__pg_oom(void);
/* Runs prepared statement `which`; returns the result (PQclear it) or NULL with the error
 * set and *rc the code. conn->sqlstate holds the failure's SQLSTATE. */
PGresult *cairn__pg_run(pg_connection *conn, enum pg_statement_id which,
	const pg_params *params, int *rc, const char *doing);
/* As cairn__pg_run for SQL text, unprepared: planned each time with the values at hand
 * and the table's size now (postgres_write.c's batch statements). */
PGresult *cairn__pg_run_sql(pg_connection *conn, const char *sql, const pg_params *params,
	int *rc, const char *doing);
/* Runs a parameterless command (BEGIN, COMMIT, ROLLBACK); 0 or the error. */
int cairn__pg_command(pg_connection *conn, const char *sql, const char *doing);
/* Rolls back after failure `rc`, keeping that failure as the last error. */
void cairn__pg_rollback(pg_connection *conn, int rc);
int64_t cairn__pg_int(const PGresult *result, int row, int column);
/* A malloc'd copy of a text column ("" for NULL); NULL on ENOMEM. */
char *cairn__pg_dup(const PGresult *result, int row, int column);
/* Parses a JSON column into *out (NULL for SQL NULL). */
int cairn__pg_json(json_object **out, const PGresult *result, int row, int column);
/* Fills `out` from a PG_DOC_COLUMNS row. */
int cairn__pg_record_from_row(cairn_storage_record *out, const PGresult *result, int row,
	const char *database_id, size_t *approx_bytes);
int cairn__pg_database_missing(const char *id);

/* The write batch (postgres_write.c): the backend's `write` entry. */
int cairn__pg_write(cairn_storage_outcome *outcomes, cairn_storage *storage,
	const char *database_id, const cairn_storage_write *writes, size_t count);
/* Pool access, for the write batch. */
int cairn__pg_acquire(pg_connection **out, cairn_storage *storage);
void cairn__pg_release(cairn_storage *storage, pg_connection *conn);

/* Users and sessions (postgres_accounts.c): the schema-2 tables and the account entries. */
extern const char cairn__pg_accounts_schema[];
int cairn__pg_user_create(cairn_storage_user *out, cairn_storage *storage,
	const cairn_storage_user *user);
int cairn__pg_user_get(cairn_storage_user *out, cairn_storage *storage, const char *id);
int cairn__pg_user_get_by_email(cairn_storage_user *out, cairn_storage *storage,
	const char *email);
int cairn__pg_session_create(cairn_storage *storage, const cairn_storage_session *session);
int cairn__pg_session_get(cairn_storage_session *out, cairn_storage *storage, const char *id);
int cairn__pg_session_find(cairn_storage_session *out, cairn_storage *storage,
	const char *secret_hash);
int cairn__pg_session_list(cairn_storage *storage, const char *user_id,
	int (*each)(const cairn_storage_session *session, void *payload), void *payload);
int cairn__pg_session_delete(cairn_storage *storage, const char *user_id, const char *id);
int cairn__pg_session_delete_all(cairn_storage *storage, const char *user_id);

/* Change notifications (postgres_watch.c). Every write batch NOTIFYs PG_NOTIFY_CHANNEL with
 * "<sequence> <database id>" inside its transaction, so the notice is delivered at commit to
 * every instance LISTENing; the backend's `watch` entry runs the listener thread. */
#define PG_NOTIFY_CHANNEL "cairn_changes"
int cairn__pg_watch(cairn_storage *storage,
	void (*on_change)(const char *database_id, int64_t sequence, void *payload), void *payload);

#endif
