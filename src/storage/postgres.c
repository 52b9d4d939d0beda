/* postgres.c: the server's PostgreSQL storage backend: schema, connection pool, reads, metadata. */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/postgres_int.h"
#include "storage/storage.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/time.h"

#define DB_COLUMNS "id, name, enabled, created_at, updated_at, last_sequence"
#define COLL_COLUMNS "database_id, id, name, enabled, document_security, permissions, " \
	"created_at, updated_at"

static const char *const statement_sql[PST_COUNT] = {
	[PST_SETTING_GET] = "SELECT value FROM settings WHERE key = $1::text",
	[PST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES ($1::text, $2::text) "
		"ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[PST_DB_GET] = "SELECT " DB_COLUMNS " FROM databases WHERE id = $1::text",
	[PST_DB_LIST] = "SELECT " DB_COLUMNS " FROM databases ORDER BY id COLLATE \"C\"",
	[PST_DB_INSERT] = "INSERT INTO databases (id, name, enabled, created_at, updated_at, "
		"last_sequence, clock_ms) VALUES ($1::text, $2::text, $3::int, $4::bigint, $4::bigint, "
		"0, $4::bigint) ON CONFLICT (id) DO NOTHING RETURNING " DB_COLUMNS,
	[PST_DB_UPDATE] = "UPDATE databases SET name = coalesce($2::text, name), "
		"enabled = CASE WHEN $3::int < 0 THEN enabled ELSE $3::int END, "
		"updated_at = $4::bigint WHERE id = $1::text RETURNING " DB_COLUMNS,
	/* The write lock of one database: held until commit (see postgres_int.h). */
	[PST_DB_LOCK] = "SELECT last_sequence, clock_ms FROM databases WHERE id = $1::text "
		"FOR UPDATE",
	[PST_DB_EXISTS] = "SELECT 1 FROM databases WHERE id = $1::text",
	/* The notice is queued in the transaction and delivered at commit (postgres_watch.c). */
	[PST_DB_SEQUENCE_SET] = "UPDATE databases SET last_sequence = $2::bigint, "
		"clock_ms = $3::bigint WHERE id = $1::text RETURNING pg_notify('" PG_NOTIFY_CHANNEL
		"', $2::bigint::text || ' ' || $1::text)",
	[PST_DB_DELETE] = "DELETE FROM databases WHERE id = $1::text",
	[PST_DB_DELETE_DOCUMENTS] = "DELETE FROM documents WHERE database_id = $1::text",
	[PST_DB_DELETE_MUTATIONS] = "DELETE FROM mutations WHERE database_id = $1::text",
	[PST_COLL_GET] = "SELECT " COLL_COLUMNS " FROM collections "
		"WHERE database_id = $1::text AND id = $2::text",
	[PST_COLL_LIST] = "SELECT " COLL_COLUMNS " FROM collections WHERE database_id = $1::text "
		"ORDER BY id COLLATE \"C\"",
	[PST_COLL_INSERT] = "INSERT INTO collections (database_id, id, name, enabled, "
		"document_security, permissions, created_at, updated_at, next_sequence) "
		"VALUES ($1::text, $2::text, $3::text, $4::int, $5::int, $6::text, $7::bigint, "
		"$7::bigint, 1) ON CONFLICT (database_id, id) DO NOTHING RETURNING " COLL_COLUMNS,
	[PST_COLL_UPDATE] = "UPDATE collections SET name = coalesce($3::text, name), "
		"enabled = CASE WHEN $4::int < 0 THEN enabled ELSE $4::int END, "
		"document_security = CASE WHEN $5::int < 0 THEN document_security ELSE $5::int END, "
		"permissions = coalesce($6::text, permissions), updated_at = $7::bigint "
		"WHERE database_id = $1::text AND id = $2::text RETURNING " COLL_COLUMNS,
	[PST_COLL_SEQUENCE_GET] = "SELECT next_sequence FROM collections "
		"WHERE database_id = $1::text AND id = $2::text",
	[PST_COLL_SEQUENCE_SET] = "UPDATE collections SET next_sequence = $3::bigint "
		"WHERE database_id = $1::text AND id = $2::text",
	[PST_COLL_DELETE] = "DELETE FROM collections WHERE database_id = $1::text AND id = $2::text",
	[PST_COLL_DELETE_DOCUMENTS] = "DELETE FROM documents "
		"WHERE database_id = $1::text AND collection_id = $2::text",
	[PST_DOC_GET] = "SELECT " PG_DOC_COLUMNS " FROM documents "
		"WHERE database_id = $1::text AND collection_id = $2::text AND id = $3::text",
	[PST_DOC_UPSERT] = "INSERT INTO documents (database_id, collection_id, id, data, "
		"permissions, created_at, updated_at, version, sequence, hlc, author, last_mutation, "
		"deleted) VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, "
		"$7::bigint, $8::bigint, $9::bigint, $10::bigint, $11::text, $12::text, $13::int) "
		"ON CONFLICT (database_id, collection_id, id) DO UPDATE SET data = excluded.data, "
		"permissions = excluded.permissions, created_at = excluded.created_at, "
		"updated_at = excluded.updated_at, version = excluded.version, "
		"sequence = excluded.sequence, hlc = excluded.hlc, author = excluded.author, "
		"last_mutation = excluded.last_mutation, deleted = excluded.deleted",
	[PST_DOC_SCAN] = "SELECT " PG_DOC_COLUMNS " FROM documents WHERE database_id = $1::text "
		"AND collection_id = $2::text AND deleted = 0 ORDER BY sequence",
	[PST_CHANGES_ALL] = "SELECT " PG_DOC_COLUMNS " FROM documents WHERE database_id = $1::text "
		"AND version > $2::bigint ORDER BY version LIMIT $3::bigint",
	[PST_CHANGES_FILTERED] = "SELECT " PG_DOC_COLUMNS " FROM documents "
		"WHERE database_id = $1::text AND version > $2::bigint "
		"AND collection_id = ANY ($4::text[]) ORDER BY version LIMIT $3::bigint",
	[PST_MUTATION_GET] = "SELECT status, error_type, error_message, collection_id, "
		"document_id, data, permissions, created_at, updated_at, version, sequence, hlc, "
		"deleted FROM mutations WHERE database_id = $1::text AND client_id = $2::text "
		"AND mutation_id = $3::text",
	[PST_MUTATION_PUT] = "INSERT INTO mutations (database_id, client_id, mutation_id, status, "
		"error_type, error_message, collection_id, document_id, data, permissions, created_at, "
		"updated_at, version, sequence, hlc, deleted) VALUES ($1::text, $2::text, $3::text, "
		"$4::int, $5::text, $6::text, $7::text, $8::text, $9::text, $10::text, $11::bigint, "
		"$12::bigint, $13::bigint, $14::bigint, $15::bigint, $16::int)",
};

/* Schema version 1, as the SQLite one plus the database's clock (clock_ms: the latest
 * document $updatedAt, advanced under the database's row lock so that it is strictly
 * increasing in commit order whichever instance writes). Ids compare with the "C"
 * collation so that listings are in byte order, as on SQLite. */
static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS settings ("
	"  key text COLLATE \"C\" PRIMARY KEY, value text NOT NULL);"
	"CREATE TABLE IF NOT EXISTS databases ("
	"  id text COLLATE \"C\" PRIMARY KEY, name text NOT NULL, enabled int NOT NULL,"
	"  created_at bigint NOT NULL, updated_at bigint NOT NULL,"
	"  last_sequence bigint NOT NULL DEFAULT 0, clock_ms bigint NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS collections ("
	"  database_id text COLLATE \"C\" NOT NULL REFERENCES databases (id) ON DELETE CASCADE,"
	"  id text COLLATE \"C\" NOT NULL, name text NOT NULL, enabled int NOT NULL,"
	"  document_security int NOT NULL, permissions text NOT NULL,"
	"  created_at bigint NOT NULL, updated_at bigint NOT NULL,"
	"  next_sequence bigint NOT NULL DEFAULT 1,"
	"  PRIMARY KEY (database_id, id));"
	"CREATE TABLE IF NOT EXISTS documents ("
	"  database_id text COLLATE \"C\" NOT NULL, collection_id text COLLATE \"C\" NOT NULL,"
	"  id text COLLATE \"C\" NOT NULL, data text, permissions text NOT NULL,"
	"  created_at bigint NOT NULL, updated_at bigint NOT NULL,"
	"  version bigint NOT NULL, sequence bigint NOT NULL, hlc bigint NOT NULL,"
	"  author text NOT NULL, last_mutation text NOT NULL, deleted int NOT NULL,"
	"  PRIMARY KEY (database_id, collection_id, id));"
	"CREATE INDEX IF NOT EXISTS documents_by_version ON documents (database_id, version);"
	"CREATE INDEX IF NOT EXISTS documents_by_sequence"
	"  ON documents (database_id, collection_id, sequence);"
	"CREATE TABLE IF NOT EXISTS mutations ("
	"  database_id text COLLATE \"C\" NOT NULL, client_id text COLLATE \"C\" NOT NULL,"
	"  mutation_id text COLLATE \"C\" NOT NULL,"
	"  status int NOT NULL, error_type text NOT NULL, error_message text NOT NULL,"
	"  collection_id text NOT NULL, document_id text NOT NULL, data text, permissions text,"
	"  created_at bigint, updated_at bigint, version bigint, sequence bigint,"
	"  hlc bigint, deleted int,"
	"  PRIMARY KEY (database_id, client_id, mutation_id));";

/* Any constant: the advisory lock that serialises schema creation of instances starting at
 * once (CREATE TABLE IF NOT EXISTS alone races on the catalog). */
#define SCHEMA_LOCK_KEY 0x636169726e /* "cairn" */

/* ---- parameters, statements, results ---- */

void cairn__pg_param_text(pg_params *params, const char *text)
{
	params->values[params->count++] = text;
}

void cairn__pg_param_int(pg_params *params, int64_t value)
{
	snprintf(params->numbers[params->count], sizeof(params->numbers[0]), "%lld",
		(long long)value);
	params->values[params->count] = params->numbers[params->count];
	params->count++;
}

int cairn__pg_oom(void)
{
	return cairn__error_set(CAIRN_ENOMEM, "storage: out of memory");
}

/* The message of a failed result without libpq's trailing newline. */
static int pg_fail(pg_connection *conn, const PGresult *result, const char *doing)
{
	const char *message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn->conn);
	const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
	int length = (int)strcspn(message ? message : "", "\n");
	int code = CAIRN_EIO;

	snprintf(conn->sqlstate, sizeof(conn->sqlstate), "%s", state ? state : "");
	/* Lock waits that time out and serialisation failures are worth retrying. */
	if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
		strcmp(state, "55P03") == 0))
		code = CAIRN_EBUSY;
	return cairn__error_set(code, "storage: %s failed: %.*s", doing, length,
		message ? message : "");
}

PGresult *cairn__pg_run_sql(pg_connection *conn, const char *sql, const pg_params *params,
	int *rc, const char *doing)
{
	PGresult *result;
	ExecStatusType status;

	conn->sqlstate[0] = '\0';
	result = PQexecParams(conn->conn, sql, params ? params->count : 0, NULL,
		params ? params->values : NULL, NULL, NULL, 0);
	status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		*rc = pg_fail(conn, result, doing);
		PQclear(result);
		return NULL;
	}
	*rc = 0;
	return result;
}

PGresult *cairn__pg_run(pg_connection *conn, enum pg_statement_id which,
	const pg_params *params, int *rc, const char *doing)
{
	char name[16];
	PGresult *result;
	ExecStatusType status;

	snprintf(name, sizeof(name), "c%d", (int)which);
	conn->sqlstate[0] = '\0';
	if (!conn->prepared[which]) {
		result = PQprepare(conn->conn, name, statement_sql[which], 0, NULL);
		if (!result || PQresultStatus(result) != PGRES_COMMAND_OK) {
			*rc = pg_fail(conn, result, "preparing a statement");
			PQclear(result);
			return NULL;
		}
		PQclear(result);
		conn->prepared[which] = 1;
	}
	result = PQexecPrepared(conn->conn, name, params ? params->count : 0,
		params ? params->values : NULL, NULL, NULL, 0);
	status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		*rc = pg_fail(conn, result, doing);
		PQclear(result);
		return NULL;
	}
	*rc = 0;
	return result;
}

int cairn__pg_command(pg_connection *conn, const char *sql, const char *doing)
{
	PGresult *result = PQexec(conn->conn, sql);
	int rc = 0;

	if (!result || (PQresultStatus(result) != PGRES_COMMAND_OK &&
		PQresultStatus(result) != PGRES_TUPLES_OK))
		rc = pg_fail(conn, result, doing);
	PQclear(result);
	return rc;
}

void cairn__pg_rollback(pg_connection *conn, int rc)
{
	char message[1024];

	snprintf(message, sizeof(message), "%s", cairn_error_last());
	cairn__pg_command(conn, "ROLLBACK", "rolling back");
	cairn__error_set(rc, "%s", message);
}

int64_t cairn__pg_int(const PGresult *result, int row, int column)
{
	if (PQgetisnull(result, row, column))
		return 0;
	return strtoll(PQgetvalue(result, row, column), NULL, 10);
}

char *cairn__pg_dup(const PGresult *result, int row, int column)
{
	return strdup(PQgetisnull(result, row, column) ? "" : PQgetvalue(result, row, column));
}

int cairn__pg_json(json_object **out, const PGresult *result, int row, int column)
{
	*out = NULL;
	if (PQgetisnull(result, row, column))
		return 0;
	*out = cairn__json_parse(PQgetvalue(result, row, column),
		(size_t)PQgetlength(result, row, column), PG_STORED_JSON_MAX_DEPTH);
	if (!*out)
		return cairn__error_set(CAIRN_EIO, "storage: a stored JSON value is corrupt: %s",
			cairn_error_last());
	return 0;
}

/* The record of `row`; its `data` is parsed only with `parse_data` (storage.h changes_text). */
static int record_fill(cairn_storage_record *out, const PGresult *result, int row,
	const char *database_id, size_t *approx_bytes, int parse_data)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->database_id = strdup(database_id);
	out->collection_id = cairn__pg_dup(result, row, PDOC_COLLECTION);
	out->id = cairn__pg_dup(result, row, PDOC_ID);
	out->author = cairn__pg_dup(result, row, PDOC_AUTHOR);
	out->last_mutation = cairn__pg_dup(result, row, PDOC_LAST_MUTATION);
	out->created_at = cairn__pg_int(result, row, PDOC_CREATED);
	out->updated_at = cairn__pg_int(result, row, PDOC_UPDATED);
	out->version = cairn__pg_int(result, row, PDOC_VERSION);
	out->sequence = cairn__pg_int(result, row, PDOC_SEQUENCE);
	out->hlc = cairn__pg_int(result, row, PDOC_HLC);
	out->deleted = (int)cairn__pg_int(result, row, PDOC_DELETED);
	if (!out->database_id || !out->collection_id || !out->id || !out->author ||
		!out->last_mutation) {
		rc = cairn__pg_oom();
		goto fail;
	}
	rc = parse_data ? cairn__pg_json(&out->data, result, row, PDOC_DATA) : 0;
	if (rc == 0)
		rc = cairn__pg_json(&out->permissions, result, row, PDOC_PERMISSIONS);
	if (rc < 0)
		goto fail;
	if (approx_bytes)
		*approx_bytes = (size_t)PQgetlength(result, row, PDOC_DATA) + PG_RECORD_OVERHEAD_BYTES;
	return 0;
fail:
	cairn__storage_record_clear(out);
	return rc;
}

int cairn__pg_record_from_row(cairn_storage_record *out, const PGresult *result, int row,
	const char *database_id, size_t *approx_bytes)
{
	return record_fill(out, result, row, database_id, approx_bytes, 1);
}

int cairn__pg_database_missing(const char *id)
{
	return cairn__error_set(CAIRN_ENOTFOUND,
		"Database with the requested ID '%s' could not be found.", id ? id : "");
}

static int collection_missing(const char *id)
{
	return cairn__error_set(CAIRN_ENOTFOUND,
		"Collection with the requested ID '%s' could not be found.", id ? id : "");
}

static int document_missing(const char *id)
{
	return cairn__error_set(CAIRN_ENOTFOUND,
		"Document with the requested ID '%s' could not be found.", id ? id : "");
}

static int invalid_id(const char *what, const char *id)
{
	return cairn__error_set(CAIRN_EINVALID, "Invalid `%s` param: " PG_ID_RULES " (got '%s').",
		what, id ? id : "");
}

/* ---- the connection pool ---- */

static void connection_close(pg_connection *conn)
{
	if (!conn)
		return;
	PQfinish(conn->conn);
	free(conn);
}

static int connection_open(pg_connection **out, const char *conninfo)
{
	pg_connection *conn = calloc(1, sizeof(*conn));
	int rc;

	*out = NULL;
	if (!conn)
		return cairn__pg_oom();
	conn->conn = PQconnectdb(conninfo);
	if (!conn->conn) {
		free(conn);
		return cairn__pg_oom();
	}
	if (PQstatus(conn->conn) != CONNECTION_OK) {
		const char *message = PQerrorMessage(conn->conn);

		rc = cairn__error_set(CAIRN_EIO, "storage: cannot connect to PostgreSQL: %.*s",
			(int)strcspn(message, "\n"), message);
		connection_close(conn);
		return rc;
	}
	/* Notices (e.g. "relation already exists, skipping") are not errors. */
	rc = cairn__pg_command(conn, "SET client_min_messages = warning", "configuring a session");
	if (rc < 0) {
		connection_close(conn);
		return rc;
	}
	*out = conn;
	return 0;
}

int cairn__pg_acquire(pg_connection **out, cairn_storage *storage)
{
	pthread_mutex_lock(&storage->pool_lock);
	*out = storage->idle;
	if (*out)
		storage->idle = (*out)->next_idle;
	pthread_mutex_unlock(&storage->pool_lock);
	if (*out) {
		(*out)->next_idle = NULL;
		return 0;
	}
	return connection_open(out, storage->conninfo);
}

/* Gives a connection back; a broken one, or one left inside a transaction, is closed so
 * that the next caller opens a fresh one (the server survives a database restart). */
void cairn__pg_release(cairn_storage *storage, pg_connection *conn)
{
	if (!conn)
		return;
	if (PQstatus(conn->conn) != CONNECTION_OK ||
		PQtransactionStatus(conn->conn) != PQTRANS_IDLE) {
		connection_close(conn);
		return;
	}
	pthread_mutex_lock(&storage->pool_lock);
	conn->next_idle = storage->idle;
	storage->idle = conn;
	pthread_mutex_unlock(&storage->pool_lock);
}

/* The next metadata $updatedAt: wall-clock ms, past the last one this process issued. */
static int64_t clock_next(cairn_storage *storage)
{
	int64_t now = cairn__time_now_ms();

	pthread_mutex_lock(&storage->clock_lock);
	if (now <= storage->last_issued_ms)
		now = storage->last_issued_ms + 1;
	storage->last_issued_ms = now;
	pthread_mutex_unlock(&storage->clock_lock);
	return now;
}

/* ---- open / close ---- */

/* Creates or migrates the schema under an advisory lock; refuses a newer one. */
static int schema_prepare(pg_connection *conn)
{
	PGresult *result = NULL;
	int64_t version = 0;
	int in_transaction = 0;
	char lock_sql[80];
	int rc;

	rc = cairn__pg_command(conn, "BEGIN", "starting a transaction");
	if (rc < 0)
		return rc;
	in_transaction = 1;
	snprintf(lock_sql, sizeof(lock_sql), "SELECT pg_advisory_xact_lock(%lld)",
		(long long)SCHEMA_LOCK_KEY);
	if ((rc = cairn__pg_command(conn, lock_sql, "locking the schema")) < 0 ||
		(rc = cairn__pg_command(conn, "CREATE TABLE IF NOT EXISTS cairn_meta ("
			"key text PRIMARY KEY, value text NOT NULL)", "creating the version table")) < 0)
		goto cleanup;
	result = PQexec(conn->conn, "SELECT value FROM cairn_meta WHERE key = 'schema_version'");
	if (!result || PQresultStatus(result) != PGRES_TUPLES_OK) {
		rc = pg_fail(conn, result, "reading the schema version");
		goto cleanup;
	}
	if (PQntuples(result) > 0)
		version = cairn__pg_int(result, 0, 0);
	if (version > PG_SCHEMA_VERSION) {
		rc = cairn__error_set(CAIRN_EIO, "storage: the PostgreSQL database has cairn schema "
			"version %lld but this cairn knows only versions up to %d; run a newer cairn "
			"server", (long long)version, PG_SCHEMA_VERSION);
		goto cleanup;
	}
	/* Version 1 is the first schema; version 2 adds users and sessions. Both are
	 * CREATE ... IF NOT EXISTS, so creating them is also the migration from 1 to 2. */
	if ((rc = cairn__pg_command(conn, schema_sql, "creating the schema")) < 0 ||
		(rc = cairn__pg_command(conn, cairn__pg_accounts_schema,
			"creating the accounts schema")) < 0)
		goto cleanup;
	if (version < PG_SCHEMA_VERSION &&
		(rc = cairn__pg_command(conn, "INSERT INTO cairn_meta (key, value) "
			"VALUES ('schema_version', '2') ON CONFLICT (key) DO UPDATE "
			"SET value = excluded.value", "saving the schema version")) < 0)
		goto cleanup;
	rc = cairn__pg_command(conn, "COMMIT", "committing the schema");
	if (rc == 0)
		in_transaction = 0;
cleanup:
	PQclear(result);
	if (in_transaction)
		cairn__pg_rollback(conn, rc);
	return rc;
}

static void pg_close(cairn_storage *storage)
{
	pg_connection *conn;

	if (!storage)
		return;
	cairn__pg_watch(storage, NULL, NULL);
	while ((conn = storage->idle) != NULL) {
		storage->idle = conn->next_idle;
		connection_close(conn);
	}
	pthread_mutex_destroy(&storage->pool_lock);
	pthread_mutex_destroy(&storage->clock_lock);
	free(storage->conninfo);
	free(storage);
}

static int pg_open(cairn_storage **out, const char *location)
{
	cairn_storage *storage = NULL;
	pg_connection *conn = NULL;
	int rc;

	*out = NULL;
	if (!location || !location[0])
		return cairn__error_set(CAIRN_EINVALID, "storage: no PostgreSQL connection string "
			"given (e.g. --postgres 'host=db dbname=cairn')");
	if (!PQisthreadsafe())
		return cairn__error_set(CAIRN_EIO, "storage: this libpq was built without thread "
			"support; the server needs a thread-safe libpq");
	storage = calloc(1, sizeof(*storage));
	if (!storage)
		return cairn__pg_oom();
	pthread_mutex_init(&storage->pool_lock, NULL);
	pthread_mutex_init(&storage->clock_lock, NULL);
	storage->conninfo = strdup(location);
	if (!storage->conninfo) {
		rc = cairn__pg_oom();
		goto cleanup;
	}
	rc = connection_open(&conn, storage->conninfo);
	if (rc < 0)
		goto cleanup;
	rc = schema_prepare(conn);
	if (rc < 0)
		goto cleanup;
	cairn__pg_release(storage, conn);
	conn = NULL;
	*out = storage;
	storage = NULL;
cleanup:
	connection_close(conn);
	pg_close(storage);
	return rc;
}

/* ---- settings ---- */

static int pg_setting_get(char **out, cairn_storage *storage, const char *key)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	pg_params params = { 0 };
	int rc;

	*out = NULL;
	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	cairn__pg_param_text(&params, key ? key : "");
	result = cairn__pg_run(conn, PST_SETTING_GET, &params, &rc, "reading a setting");
	if (!result)
		goto cleanup;
	if (PQntuples(result) == 0) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "setting '%s' is not set", key ? key : "");
		goto cleanup;
	}
	*out = cairn__pg_dup(result, 0, 0);
	rc = *out ? 0 : cairn__pg_oom();
cleanup:
	PQclear(result);
	cairn__pg_release(storage, conn);
	return rc;
}

static int pg_setting_set(cairn_storage *storage, const char *key, const char *value)
{
	pg_connection *conn = NULL;
	pg_params params = { 0 };
	int rc;

	if (!key || !value)
		return cairn__error_set(CAIRN_EINVALID, "storage: a setting needs a key and a value");
	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	cairn__pg_param_text(&params, key);
	cairn__pg_param_text(&params, value);
	PQclear(cairn__pg_run(conn, PST_SETTING_SET, &params, &rc, "saving a setting"));
	cairn__pg_release(storage, conn);
	return rc;
}

/* ---- databases ---- */

static int database_from_row(cairn_storage_database *out, const PGresult *result, int row)
{
	memset(out, 0, sizeof(*out));
	out->id = cairn__pg_dup(result, row, 0);
	out->name = cairn__pg_dup(result, row, 1);
	out->enabled = (int)cairn__pg_int(result, row, 2);
	out->created_at = cairn__pg_int(result, row, 3);
	out->updated_at = cairn__pg_int(result, row, 4);
	out->last_sequence = cairn__pg_int(result, row, 5);
	if (!out->id || !out->name) {
		cairn__storage_database_clear(out);
		return cairn__pg_oom();
	}
	return 0;
}

static int collection_from_row(cairn_storage_collection *out, const PGresult *result, int row)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->database_id = cairn__pg_dup(result, row, 0);
	out->id = cairn__pg_dup(result, row, 1);
	out->name = cairn__pg_dup(result, row, 2);
	out->enabled = (int)cairn__pg_int(result, row, 3);
	out->document_security = (int)cairn__pg_int(result, row, 4);
	out->created_at = cairn__pg_int(result, row, 6);
	out->updated_at = cairn__pg_int(result, row, 7);
	if (!out->database_id || !out->id || !out->name) {
		rc = cairn__pg_oom();
		goto fail;
	}
	rc = cairn__pg_json(&out->permissions, result, row, 5);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	cairn__storage_collection_clear(out);
	return rc;
}

/* Runs `which` with params and, when it returned a row, fills a database from it;
 * CAIRN_ENOTFOUND (set) when no row came back. */
static int database_statement(cairn_storage_database *out, cairn_storage *storage,
	enum pg_statement_id which, const pg_params *params, const char *id, const char *doing)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	int rc;

	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	result = cairn__pg_run(conn, which, params, &rc, doing);
	if (!result)
		goto cleanup;
	if (PQntuples(result) == 0)
		rc = which == PST_DB_INSERT ? cairn__error_set(CAIRN_EEXISTS, "Database with the "
			"requested ID already exists. Try again with a different ID or use ID.unique() "
			"to generate a unique ID.") : cairn__pg_database_missing(id);
	else
		rc = database_from_row(out, result, 0);
cleanup:
	PQclear(result);
	cairn__pg_release(storage, conn);
	return rc;
}

static int pg_database_create(cairn_storage_database *out, cairn_storage *storage,
	const char *id, const char *name, int enabled)
{
	pg_params params = { 0 };

	memset(out, 0, sizeof(*out));
	if (!id || !cairn__id_valid(id))
		return invalid_id("databaseId", id);
	cairn__pg_param_text(&params, id);
	cairn__pg_param_text(&params, name ? name : id);
	cairn__pg_param_int(&params, enabled ? 1 : 0);
	cairn__pg_param_int(&params, clock_next(storage));
	return database_statement(out, storage, PST_DB_INSERT, &params, id, "creating a database");
}

static int pg_database_get(cairn_storage_database *out, cairn_storage *storage, const char *id)
{
	pg_params params = { 0 };

	memset(out, 0, sizeof(*out));
	cairn__pg_param_text(&params, id ? id : "");
	return database_statement(out, storage, PST_DB_GET, &params, id, "reading a database");
}

static int pg_database_list(cairn_storage *storage,
	int (*each)(const cairn_storage_database *db, void *payload), void *payload)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	int rc;

	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	result = cairn__pg_run(conn, PST_DB_LIST, NULL, &rc, "listing databases");
	for (int row = 0; result && row < PQntuples(result); row++) {
		cairn_storage_database database;

		rc = database_from_row(&database, result, row);
		if (rc < 0)
			break;
		rc = each(&database, payload);
		cairn__storage_database_clear(&database);
		if (rc != 0)
			break;
	}
	PQclear(result);
	cairn__pg_release(storage, conn);
	return rc;
}

static int pg_database_update(cairn_storage_database *out, cairn_storage *storage,
	const char *id, const char *name, int enabled)
{
	pg_params params = { 0 };

	memset(out, 0, sizeof(*out));
	cairn__pg_param_text(&params, id ? id : "");
	cairn__pg_param_text(&params, name);
	cairn__pg_param_int(&params, enabled < 0 ? -1 : enabled ? 1 : 0);
	cairn__pg_param_int(&params, clock_next(storage));
	return database_statement(out, storage, PST_DB_UPDATE, &params, id, "updating a database");
}

/* Runs the delete statement `which` with $1 = a, $2 = b (when not NULL); *deleted gets the
 * number of rows. */
static int delete_where(pg_connection *conn, enum pg_statement_id which, const char *a,
	const char *b, long *deleted)
{
	pg_params params = { 0 };
	PGresult *result;
	int rc;

	cairn__pg_param_text(&params, a);
	if (b)
		cairn__pg_param_text(&params, b);
	result = cairn__pg_run(conn, which, &params, &rc, "deleting");
	if (result && deleted)
		*deleted = strtol(PQcmdTuples(result), NULL, 10);
	PQclear(result);
	return rc;
}

/* Takes database `id`'s write lock in the open transaction; CAIRN_ENOTFOUND if missing. */
static int database_lock(pg_connection *conn, const char *id)
{
	pg_params params = { 0 };
	PGresult *result;
	int rc;

	cairn__pg_param_text(&params, id);
	result = cairn__pg_run(conn, PST_DB_LOCK, &params, &rc, "locking a database");
	if (result && PQntuples(result) == 0)
		rc = cairn__pg_database_missing(id);
	PQclear(result);
	return rc;
}

static int pg_database_delete(cairn_storage *storage, const char *id)
{
	pg_connection *conn = NULL;
	int in_transaction = 0;
	int rc;

	if (!id)
		return cairn__pg_database_missing("");
	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = cairn__pg_command(conn, "BEGIN", "starting a transaction");
	if (rc < 0)
		goto cleanup;
	in_transaction = 1;
	/* Waits for writers of this database on other instances to finish. */
	if ((rc = database_lock(conn, id)) < 0 ||
		(rc = delete_where(conn, PST_DB_DELETE_DOCUMENTS, id, NULL, NULL)) < 0 ||
		(rc = delete_where(conn, PST_DB_DELETE_MUTATIONS, id, NULL, NULL)) < 0 ||
		(rc = delete_where(conn, PST_DB_DELETE, id, NULL, NULL)) < 0)
		goto cleanup;
	rc = cairn__pg_command(conn, "COMMIT", "committing");
	if (rc == 0)
		in_transaction = 0;
cleanup:
	if (in_transaction)
		cairn__pg_rollback(conn, rc);
	cairn__pg_release(storage, conn);
	return rc;
}

/* ---- collections ---- */

/* 0 if database `id` exists, CAIRN_ENOTFOUND (set) if not. */
static int database_exists(pg_connection *conn, const char *id)
{
	pg_params params = { 0 };
	PGresult *result;
	int rc;

	cairn__pg_param_text(&params, id ? id : "");
	result = cairn__pg_run(conn, PST_DB_EXISTS, &params, &rc, "reading a database");
	if (result && PQntuples(result) == 0)
		rc = cairn__pg_database_missing(id);
	PQclear(result);
	return rc;
}

/* Reads collection `id`; when it is missing, the message names the database if that is
 * what is missing. */
static int collection_read(cairn_storage_collection *out, pg_connection *conn,
	const char *database_id, const char *id)
{
	pg_params params = { 0 };
	PGresult *result;
	int rc;

	cairn__pg_param_text(&params, database_id ? database_id : "");
	cairn__pg_param_text(&params, id ? id : "");
	result = cairn__pg_run(conn, PST_COLL_GET, &params, &rc, "reading a collection");
	if (!result)
		return rc;
	if (PQntuples(result) > 0) {
		rc = collection_from_row(out, result, 0);
	} else {
		rc = database_exists(conn, database_id);
		if (rc == 0)
			rc = collection_missing(id);
	}
	PQclear(result);
	return rc;
}

static int permissions_check(json_object *permissions)
{
	if (permissions && !json_object_is_type(permissions, json_type_array))
		return cairn__error_set(CAIRN_EINVALID, "Invalid `permissions` param: Value must "
			"be an array of permission strings.");
	return 0;
}

static int pg_collection_create(cairn_storage_collection *out, cairn_storage *storage,
	const char *database_id, const char *id, const char *name, json_object *permissions,
	int document_security, int enabled)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	pg_params params = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	if (!id || !cairn__id_valid(id))
		return invalid_id("collectionId", id);
	rc = permissions_check(permissions);
	if (rc < 0)
		return rc;
	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = database_exists(conn, database_id);
	if (rc < 0)
		goto cleanup;
	cairn__pg_param_text(&params, database_id);
	cairn__pg_param_text(&params, id);
	cairn__pg_param_text(&params, name ? name : id);
	cairn__pg_param_int(&params, enabled ? 1 : 0);
	cairn__pg_param_int(&params, document_security ? 1 : 0);
	cairn__pg_param_text(&params, permissions ? cairn__json_text(permissions, NULL) : "[]");
	cairn__pg_param_int(&params, clock_next(storage));
	result = cairn__pg_run(conn, PST_COLL_INSERT, &params, &rc, "creating a collection");
	if (!result) {
		/* The database went away between the check and the insert. */
		if (strcmp(conn->sqlstate, "23503") == 0)
			rc = cairn__pg_database_missing(database_id);
		goto cleanup;
	}
	if (PQntuples(result) == 0)
		rc = cairn__error_set(CAIRN_EEXISTS, "Collection with the requested ID already "
			"exists. Try again with a different ID or use ID.unique() to generate a "
			"unique ID.");
	else
		rc = collection_from_row(out, result, 0);
cleanup:
	PQclear(result);
	cairn__pg_release(storage, conn);
	return rc;
}

static int pg_collection_get(cairn_storage_collection *out, cairn_storage *storage,
	const char *database_id, const char *id)
{
	pg_connection *conn = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = collection_read(out, conn, database_id, id);
	cairn__pg_release(storage, conn);
	return rc;
}

static int pg_collection_list(cairn_storage *storage, const char *database_id,
	int (*each)(const cairn_storage_collection *collection, void *payload), void *payload)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	pg_params params = { 0 };
	int rc;

	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = database_exists(conn, database_id);
	if (rc < 0)
		goto cleanup;
	cairn__pg_param_text(&params, database_id);
	result = cairn__pg_run(conn, PST_COLL_LIST, &params, &rc, "listing collections");
	for (int row = 0; result && row < PQntuples(result); row++) {
		cairn_storage_collection collection;

		rc = collection_from_row(&collection, result, row);
		if (rc < 0)
			break;
		rc = each(&collection, payload);
		cairn__storage_collection_clear(&collection);
		if (rc != 0)
			break;
	}
cleanup:
	PQclear(result);
	cairn__pg_release(storage, conn);
	return rc;
}

static int pg_collection_update(cairn_storage_collection *out, cairn_storage *storage,
	const char *database_id, const char *id, const char *name, json_object *permissions,
	int document_security, int enabled)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	pg_params params = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = permissions_check(permissions);
	if (rc < 0)
		return rc;
	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	cairn__pg_param_text(&params, database_id ? database_id : "");
	cairn__pg_param_text(&params, id ? id : "");
	cairn__pg_param_text(&params, name);
	cairn__pg_param_int(&params, enabled < 0 ? -1 : enabled ? 1 : 0);
	cairn__pg_param_int(&params, document_security < 0 ? -1 : document_security ? 1 : 0);
	cairn__pg_param_text(&params, permissions ? cairn__json_text(permissions, NULL) : NULL);
	cairn__pg_param_int(&params, clock_next(storage));
	result = cairn__pg_run(conn, PST_COLL_UPDATE, &params, &rc, "updating a collection");
	if (!result)
		goto cleanup;
	if (PQntuples(result) == 0) {
		rc = database_exists(conn, database_id);
		if (rc == 0)
			rc = collection_missing(id);
	} else {
		rc = collection_from_row(out, result, 0);
	}
cleanup:
	PQclear(result);
	cairn__pg_release(storage, conn);
	return rc;
}

static int pg_collection_delete(cairn_storage *storage, const char *database_id,
	const char *id)
{
	pg_connection *conn = NULL;
	int in_transaction = 0;
	long deleted = 0;
	int rc;

	if (!database_id || !id)
		return collection_missing(id);
	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = cairn__pg_command(conn, "BEGIN", "starting a transaction");
	if (rc < 0)
		goto cleanup;
	in_transaction = 1;
	if ((rc = database_lock(conn, database_id)) < 0 ||
		(rc = delete_where(conn, PST_COLL_DELETE, database_id, id, &deleted)) < 0)
		goto cleanup;
	if (deleted == 0) {
		rc = collection_missing(id);
		goto cleanup;
	}
	rc = delete_where(conn, PST_COLL_DELETE_DOCUMENTS, database_id, id, NULL);
	if (rc < 0)
		goto cleanup;
	rc = cairn__pg_command(conn, "COMMIT", "committing");
	if (rc == 0)
		in_transaction = 0;
cleanup:
	if (in_transaction)
		cairn__pg_rollback(conn, rc);
	cairn__pg_release(storage, conn);
	return rc;
}

/* ---- documents: reads ---- */

/* 0 when the collection exists; CAIRN_ENOTFOUND naming the database or the collection. */
static int collection_exists(pg_connection *conn, const char *database_id, const char *id)
{
	pg_params params = { 0 };
	PGresult *result;
	int rc;

	cairn__pg_param_text(&params, database_id ? database_id : "");
	cairn__pg_param_text(&params, id ? id : "");
	result = cairn__pg_run(conn, PST_COLL_SEQUENCE_GET, &params, &rc, "reading a collection");
	if (!result)
		return rc;
	if (PQntuples(result) == 0) {
		rc = database_exists(conn, database_id);
		if (rc == 0)
			rc = collection_missing(id);
	}
	PQclear(result);
	return rc;
}

static int pg_document_get(cairn_storage_record *out, cairn_storage *storage,
	const char *database_id, const char *collection_id, const char *id)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	pg_params params = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	cairn__pg_param_text(&params, database_id ? database_id : "");
	cairn__pg_param_text(&params, collection_id ? collection_id : "");
	cairn__pg_param_text(&params, id ? id : "");
	result = cairn__pg_run(conn, PST_DOC_GET, &params, &rc, "reading a document");
	if (!result)
		goto cleanup;
	if (PQntuples(result) > 0 && cairn__pg_int(result, 0, PDOC_DELETED) == 0) {
		rc = cairn__pg_record_from_row(out, result, 0, database_id, NULL);
	} else {
		rc = collection_exists(conn, database_id, collection_id);
		if (rc == 0)
			rc = document_missing(id);
	}
cleanup:
	PQclear(result);
	cairn__pg_release(storage, conn);
	return rc;
}

/* Hands each row of `result` to `each`, at most `limit`; *out_more (optional) is 1 if a
 * further row exists or the callback stopped. A record's `data_text` is borrowed from
 * `result` (the server printed it with cairn__json_text when it stored it); its `data` is
 * parsed only with `parse_data`. */
static int stream_records(const PGresult *result, const char *database_id, size_t limit,
	int parse_data, cairn_storage_record_cb each, void *payload, int *out_more)
{
	size_t rows = (size_t)PQntuples(result);
	int rc;

	for (size_t row = 0; row < rows; row++) {
		cairn_storage_record record;
		size_t approx_bytes = 0;

		if (row == limit) {
			if (out_more)
				*out_more = 1;
			return 0;
		}
		rc = record_fill(&record, result, (int)row, database_id, &approx_bytes, parse_data);
		if (rc < 0)
			return rc;
		if (!PQgetisnull(result, (int)row, PDOC_DATA)) {
			record.data_text = PQgetvalue(result, (int)row, PDOC_DATA);
			record.data_text_length = (size_t)PQgetlength(result, (int)row, PDOC_DATA);
		}
		rc = each(&record, approx_bytes, payload);
		cairn__storage_record_clear(&record);
		if (rc != 0) {
			if (out_more)
				*out_more = 1;
			return rc;
		}
	}
	return 0;
}

static int pg_document_scan(cairn_storage *storage, const char *database_id,
	const char *collection_id, cairn_storage_record_cb each, void *payload)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	pg_params params = { 0 };
	int rc;

	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	rc = collection_exists(conn, database_id, collection_id);
	if (rc < 0)
		goto cleanup;
	cairn__pg_param_text(&params, database_id);
	cairn__pg_param_text(&params, collection_id);
	result = cairn__pg_run(conn, PST_DOC_SCAN, &params, &rc, "reading documents");
	if (result)
		rc = stream_records(result, database_id, SIZE_MAX, 1, each, payload, NULL);
cleanup:
	PQclear(result);
	cairn__pg_release(storage, conn);
	return rc;
}

/* A PostgreSQL array literal of the collection names: {"a","b"}, quotes and backslashes
 * escaped (the names come from clients). Returns malloc'd text or NULL (ENOMEM set). */
static char *array_literal(const char *const *names, size_t count)
{
	size_t size = 3;
	char *text, *p;

	for (size_t i = 0; i < count; i++)
		size += 3 + 2 * strlen(names[i] ? names[i] : "");
	text = malloc(size);
	if (!text) {
		cairn__pg_oom();
		return NULL;
	}
	p = text;
	*p++ = '{';
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *c = names[i] ? names[i] : ""; *c; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return text;
}

/* The change feed. Writers of a database hold its row lock until commit and take the next
 * sequence number under it, so numbers become visible in order: this plain "version > since"
 * read never skips a change that commits later (docs/protocol.md). */
static int changes_read(cairn_storage *storage, const char *database_id, int64_t since,
	const char *const *collections, size_t collection_count, size_t limit, int parse_data,
	cairn_storage_record_cb each, void *payload, int *out_more)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	pg_params params = { 0 };
	char *filter = NULL;
	int rc;

	if (out_more)
		*out_more = 0;
	if (limit > (size_t)INT64_MAX - 1)
		limit = (size_t)INT64_MAX - 1;
	if (collections && collection_count > 0) {
		filter = array_literal(collections, collection_count);
		if (!filter)
			return CAIRN_ENOMEM;
	}
	rc = cairn__pg_acquire(&conn, storage);
	if (rc < 0)
		goto cleanup;
	rc = database_exists(conn, database_id);
	if (rc < 0)
		goto cleanup;
	cairn__pg_param_text(&params, database_id);
	cairn__pg_param_int(&params, since);
	/* One row past the limit tells whether more remain. */
	cairn__pg_param_int(&params, (int64_t)limit + 1);
	if (filter)
		cairn__pg_param_text(&params, filter);
	result = cairn__pg_run(conn, filter ? PST_CHANGES_FILTERED : PST_CHANGES_ALL, &params, &rc,
		"reading changes");
	if (result)
		rc = stream_records(result, database_id, limit, parse_data, each, payload, out_more);
cleanup:
	PQclear(result);
	cairn__pg_release(storage, conn);
	free(filter);
	return rc;
}

static int pg_changes(cairn_storage *storage, const char *database_id, int64_t since,
	const char *const *collections, size_t collection_count, size_t limit,
	cairn_storage_record_cb each, void *payload, int *out_more)
{
	return changes_read(storage, database_id, since, collections, collection_count, limit, 1,
		each, payload, out_more);
}

static int pg_changes_text(cairn_storage *storage, const char *database_id, int64_t since,
	const char *const *collections, size_t collection_count, size_t limit,
	cairn_storage_record_cb each, void *payload, int *out_more)
{
	return changes_read(storage, database_id, since, collections, collection_count, limit, 0,
		each, payload, out_more);
}

const cairn_storage_backend cairn__storage_postgres = {
	.version = CAIRN_STORAGE_BACKEND_VERSION,
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.setting_get = pg_setting_get,
	.setting_set = pg_setting_set,
	.database_create = pg_database_create,
	.database_get = pg_database_get,
	.database_list = pg_database_list,
	.database_update = pg_database_update,
	.database_delete = pg_database_delete,
	.collection_create = pg_collection_create,
	.collection_get = pg_collection_get,
	.collection_list = pg_collection_list,
	.collection_update = pg_collection_update,
	.collection_delete = pg_collection_delete,
	.document_get = pg_document_get,
	.document_scan = pg_document_scan,
	.write = cairn__pg_write,
	.changes = pg_changes,
	.changes_text = pg_changes_text,
	.user_create = cairn__pg_user_create,
	.user_get = cairn__pg_user_get,
	.user_get_by_email = cairn__pg_user_get_by_email,
	.session_create = cairn__pg_session_create,
	.session_get = cairn__pg_session_get,
	.session_find = cairn__pg_session_find,
	.session_list = cairn__pg_session_list,
	.session_delete = cairn__pg_session_delete,
	.session_delete_all = cairn__pg_session_delete_all,
	.watch = cairn__pg_watch,
};
