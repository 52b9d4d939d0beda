/* sqlite_accounts.c: the SQLite backend's users and sessions (schema and vtable entries). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/sqlite_int.h"
#include "storage/storage.h"
#include "util/error.h"

/* Created with the rest of the schema (sqlite.c schema_prepare); IF NOT EXISTS lets it
 * join version-1 files made before accounts existed. Emails compare case-insensitively. */
const char cairn__sqlite_accounts_schema[] =
	"CREATE TABLE IF NOT EXISTS users ("
	"  id TEXT PRIMARY KEY, email TEXT NOT NULL COLLATE NOCASE UNIQUE, name TEXT NOT NULL,"
	"  password_hash TEXT NOT NULL, status INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  password_updated_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sessions ("
	"  id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
	"  secret_hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, created_at);";

#define USER_COLUMNS "id, email, name, password_hash, status, created_at, updated_at, " \
	"password_updated_at"
#define SESSION_COLUMNS "id, user_id, secret_hash, created_at, expires_at, ip, user_agent"

/* Account calls are rare next to document traffic: statements are prepared per call. */
static int prepare(sqlite3_stmt **out, connection *conn, const char *sql)
{
	int rc = sqlite3_prepare_v2(conn->db, sql, -1, out, NULL);

	if (rc != SQLITE_OK) {
		*out = NULL;
		return cairn__sqlite_fail(conn->db, rc, "preparing an account statement");
	}
	return 0;
}

static int user_from_row(void *row_out, sqlite3_stmt *stmt)
{
	cairn_storage_user *out = row_out;

	memset(out, 0, sizeof(*out));
	out->id = cairn__sqlite_column_dup(stmt, 0);
	out->email = cairn__sqlite_column_dup(stmt, 1);
	out->name = cairn__sqlite_column_dup(stmt, 2);
	out->password_hash = cairn__sqlite_column_dup(stmt, 3);
	out->status = sqlite3_column_int(stmt, 4);
	out->created_at = sqlite3_column_int64(stmt, 5);
	out->updated_at = sqlite3_column_int64(stmt, 6);
	out->password_updated_at = sqlite3_column_int64(stmt, 7);
	if (!out->id || !out->email || !out->name || !out->password_hash) {
		cairn__storage_user_clear(out);
		return cairn__sqlite_oom();
	}
	return 0;
}

static int session_from_row(void *row_out, sqlite3_stmt *stmt)
{
	cairn_storage_session *out = row_out;

	memset(out, 0, sizeof(*out));
	out->id = cairn__sqlite_column_dup(stmt, 0);
	out->user_id = cairn__sqlite_column_dup(stmt, 1);
	out->secret_hash = cairn__sqlite_column_dup(stmt, 2);
	out->created_at = sqlite3_column_int64(stmt, 3);
	out->expires_at = sqlite3_column_int64(stmt, 4);
	out->ip = cairn__sqlite_column_dup(stmt, 5);
	out->user_agent = cairn__sqlite_column_dup(stmt, 6);
	if (!out->id || !out->user_id || !out->secret_hash || !out->ip || !out->user_agent) {
		cairn__storage_session_clear(out);
		return cairn__sqlite_oom();
	}
	return 0;
}

/* Reads at most one row matching `sql` with `key` bound as ?1 into `out` (`size` bytes,
 * zeroed first) with `from_row`; no row is CAIRN_ENOTFOUND with `not_found`. */
static int row_read(void *out, size_t size, cairn_storage *storage, const char *sql,
	const char *key, int (*from_row)(void *out, sqlite3_stmt *stmt), const char *not_found,
	const char *what)
{
	connection *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc;

	memset(out, 0, size);
	rc = cairn__sqlite_reader_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	if ((rc = prepare(&stmt, conn, sql)) < 0)
		goto cleanup;
	cairn__sqlite_bind_text(stmt, 1, key);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = from_row(out, stmt);
	else if (rc == SQLITE_DONE)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "%s", not_found);
	else
		rc = cairn__sqlite_fail(conn->db, rc, what);
cleanup:
	sqlite3_finalize(stmt);
	cairn__sqlite_reader_release(storage, conn);
	return rc;
}

static int user_read(cairn_storage_user *out, cairn_storage *storage, const char *sql,
	const char *key)
{
	return row_read(out, sizeof(*out), storage, sql, key, user_from_row,
		"User with the requested ID could not be found.", "reading a user");
}

int cairn__sqlite_user_get(cairn_storage_user *out, cairn_storage *storage, const char *id)
{
	return user_read(out, storage, "SELECT " USER_COLUMNS " FROM users WHERE id = ?1", id);
}

int cairn__sqlite_user_get_by_email(cairn_storage_user *out, cairn_storage *storage,
	const char *email)
{
	return user_read(out, storage, "SELECT " USER_COLUMNS " FROM users WHERE email = ?1",
		email);
}

int cairn__sqlite_user_create(cairn_storage_user *out, cairn_storage *storage,
	const cairn_storage_user *user)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if ((rc = cairn__storage_user_check(user)) < 0)
		return rc;
	pthread_mutex_lock(&storage->write_lock);
	rc = prepare(&stmt, storage->writer, "INSERT INTO users (" USER_COLUMNS ") "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (rc < 0)
		goto cleanup;
	cairn__sqlite_bind_text(stmt, 1, user->id);
	cairn__sqlite_bind_text(stmt, 2, user->email);
	cairn__sqlite_bind_text(stmt, 3, user->name);
	cairn__sqlite_bind_text(stmt, 4, user->password_hash);
	sqlite3_bind_int(stmt, 5, user->status);
	sqlite3_bind_int64(stmt, 6, user->created_at);
	sqlite3_bind_int64(stmt, 7, user->updated_at);
	sqlite3_bind_int64(stmt, 8, user->password_updated_at);
	rc = sqlite3_step(stmt);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		rc = cairn__error_set(CAIRN_EEXISTS, "A user with the same id, email, or phone "
			"already exists in this project.");
	else if (rc != SQLITE_DONE)
		rc = cairn__sqlite_fail(storage->writer->db, rc, "creating a user");
	else
		rc = 0;
cleanup:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&storage->write_lock);
	if (rc == 0 && out)
		rc = cairn__sqlite_user_get(out, storage, user->id);
	return rc;
}

/* Runs a statement binding `count` texts from `texts` and, when `int64_value` is set,
 * that integer as ?(count+1). Returns the number of changed rows or a negative code. */
static int write_run(cairn_storage *storage, const char *sql, const char *const *texts,
	int count, const int64_t *int64_value)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	pthread_mutex_lock(&storage->write_lock);
	rc = prepare(&stmt, storage->writer, sql);
	if (rc < 0)
		goto cleanup;
	for (int i = 0; i < count; i++)
		cairn__sqlite_bind_text(stmt, i + 1, texts[i]);
	if (int64_value)
		sqlite3_bind_int64(stmt, count + 1, *int64_value);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(storage->writer->db);
	else if ((rc & 0xff) == SQLITE_CONSTRAINT)
		rc = cairn__error_set(CAIRN_EEXISTS, "storage: the session exists already");
	else
		rc = cairn__sqlite_fail(storage->writer->db, rc, "writing a session");
cleanup:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&storage->write_lock);
	return rc;
}

int cairn__sqlite_session_create(cairn_storage *storage, const cairn_storage_session *session)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if ((rc = cairn__storage_session_check(session)) < 0)
		return rc;
	{
		const char *texts[1] = { session->user_id };
		rc = write_run(storage, "DELETE FROM sessions WHERE user_id = ?1 AND expires_at < ?2",
			texts, 1, &session->created_at);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&storage->write_lock);
	rc = prepare(&stmt, storage->writer, "INSERT INTO sessions (" SESSION_COLUMNS ") "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (rc < 0)
		goto cleanup;
	cairn__sqlite_bind_text(stmt, 1, session->id);
	cairn__sqlite_bind_text(stmt, 2, session->user_id);
	cairn__sqlite_bind_text(stmt, 3, session->secret_hash);
	sqlite3_bind_int64(stmt, 4, session->created_at);
	sqlite3_bind_int64(stmt, 5, session->expires_at);
	cairn__sqlite_bind_text(stmt, 6, session->ip ? session->ip : "");
	cairn__sqlite_bind_text(stmt, 7, session->user_agent ? session->user_agent : "");
	rc = sqlite3_step(stmt);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		rc = cairn__error_set(CAIRN_EEXISTS, "storage: the session exists already or its "
			"user does not");
	else if (rc != SQLITE_DONE)
		rc = cairn__sqlite_fail(storage->writer->db, rc, "creating a session");
	else
		rc = 0;
cleanup:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&storage->write_lock);
	return rc;
}

static int session_read(cairn_storage_session *out, cairn_storage *storage, const char *sql,
	const char *key)
{
	return row_read(out, sizeof(*out), storage, sql, key, session_from_row,
		"The current user session could not be found.", "reading a session");
}

int cairn__sqlite_session_get(cairn_storage_session *out, cairn_storage *storage,
	const char *id)
{
	return session_read(out, storage, "SELECT " SESSION_COLUMNS " FROM sessions "
		"WHERE id = ?1", id);
}

int cairn__sqlite_session_find(cairn_storage_session *out, cairn_storage *storage,
	const char *secret_hash)
{
	return session_read(out, storage, "SELECT " SESSION_COLUMNS " FROM sessions "
		"WHERE secret_hash = ?1", secret_hash);
}

int cairn__sqlite_session_list(cairn_storage *storage, const char *user_id,
	int (*each)(const cairn_storage_session *session, void *payload), void *payload)
{
	connection *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = cairn__sqlite_reader_acquire(&conn, storage);
	if (rc < 0)
		return rc;
	if ((rc = prepare(&stmt, conn, "SELECT " SESSION_COLUMNS " FROM sessions "
		"WHERE user_id = ?1 ORDER BY created_at, id")) < 0)
		goto cleanup;
	cairn__sqlite_bind_text(stmt, 1, user_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		cairn_storage_session session;
		int stop;

		if ((rc = session_from_row(&session, stmt)) < 0)
			goto cleanup;
		stop = each(&session, payload);
		cairn__storage_session_clear(&session);
		if (stop) {
			rc = stop;
			goto cleanup;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : cairn__sqlite_fail(conn->db, rc, "listing sessions");
cleanup:
	sqlite3_finalize(stmt);
	cairn__sqlite_reader_release(storage, conn);
	return rc;
}

int cairn__sqlite_session_delete(cairn_storage *storage, const char *user_id, const char *id)
{
	const char *texts[2] = { id, user_id };
	int rc = write_run(storage, "DELETE FROM sessions WHERE id = ?1 AND user_id = ?2", texts,
		2, NULL);

	if (rc == 0)
		return cairn__error_set(CAIRN_ENOTFOUND, "The current user session could not be "
			"found.");
	return rc < 0 ? rc : 0;
}

int cairn__sqlite_session_delete_all(cairn_storage *storage, const char *user_id)
{
	const char *texts[1] = { user_id };
	int rc = write_run(storage, "DELETE FROM sessions WHERE user_id = ?1", texts, 1, NULL);

	return rc < 0 ? rc : 0;
}
