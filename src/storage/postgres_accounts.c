/* postgres_accounts.c: the PostgreSQL backend's users and sessions (schema and vtable entries). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/postgres_int.h"
#include "storage/storage.h"
#include "util/error.h"

/* Schema version 2 adds these (postgres.c schema_prepare). Emails are unique by lower(). */
const char cairn__pg_accounts_schema[] =
	"CREATE TABLE IF NOT EXISTS users ("
	"  id text COLLATE \"C\" PRIMARY KEY, email text NOT NULL, name text NOT NULL,"
	"  password_hash text NOT NULL, status int NOT NULL,"
	"  created_at bigint NOT NULL, updated_at bigint NOT NULL,"
	"  password_updated_at bigint NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS users_by_email ON users (lower(email));"
	"CREATE TABLE IF NOT EXISTS sessions ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  user_id text COLLATE \"C\" NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
	"  secret_hash text NOT NULL UNIQUE, created_at bigint NOT NULL,"
	"  expires_at bigint NOT NULL, ip text NOT NULL, user_agent text NOT NULL);"
	"CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, created_at);";

#define USER_COLUMNS "id, email, name, password_hash, status, created_at, updated_at, " \
	"password_updated_at"
#define SESSION_COLUMNS "id, user_id, secret_hash, created_at, expires_at, ip, user_agent"

/* Runs `sql` with text parameters on a pooled connection. Returns the result (PQclear it)
 * or NULL with *rc set: CAIRN_EEXISTS for a unique violation, else CAIRN_EIO. */
static PGresult *run(cairn_storage *storage, const char *sql, const pg_params *params,
	int *rc, const char *doing)
{
	pg_connection *conn = NULL;
	PGresult *result = NULL;
	ExecStatusType status;
	const char *state;

	*rc = cairn__pg_acquire(&conn, storage);
	if (*rc < 0)
		return NULL;
	result = PQexecParams(conn->conn, sql, params->count, NULL, params->values, NULL, NULL,
		0);
	status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		const char *message = result ? PQresultErrorMessage(result) :
			PQerrorMessage(conn->conn);
		state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
		if (state && strcmp(state, "23505") == 0)
			*rc = cairn__error_set(CAIRN_EEXISTS, "storage: %s: already exists", doing);
		else if (state && strcmp(state, "23503") == 0)
			*rc = cairn__error_set(CAIRN_ENOTFOUND, "storage: %s: no such user", doing);
		else
			*rc = cairn__error_set(CAIRN_EIO, "storage: %s failed: %.*s", doing,
				(int)strcspn(message ? message : "", "\n"), message ? message : "");
		PQclear(result);
		result = NULL;
	}
	cairn__pg_release(storage, conn);
	return result;
}

static int user_from_row(void *row_out, const PGresult *result, int row)
{
	cairn_storage_user *out = row_out;

	memset(out, 0, sizeof(*out));
	out->id = cairn__pg_dup(result, row, 0);
	out->email = cairn__pg_dup(result, row, 1);
	out->name = cairn__pg_dup(result, row, 2);
	out->password_hash = cairn__pg_dup(result, row, 3);
	out->status = (int)cairn__pg_int(result, row, 4);
	out->created_at = cairn__pg_int(result, row, 5);
	out->updated_at = cairn__pg_int(result, row, 6);
	out->password_updated_at = cairn__pg_int(result, row, 7);
	if (!out->id || !out->email || !out->name || !out->password_hash) {
		cairn__storage_user_clear(out);
		return cairn__pg_oom();
	}
	return 0;
}

static int session_from_row(void *row_out, const PGresult *result, int row)
{
	cairn_storage_session *out = row_out;

	memset(out, 0, sizeof(*out));
	out->id = cairn__pg_dup(result, row, 0);
	out->user_id = cairn__pg_dup(result, row, 1);
	out->secret_hash = cairn__pg_dup(result, row, 2);
	out->created_at = cairn__pg_int(result, row, 3);
	out->expires_at = cairn__pg_int(result, row, 4);
	out->ip = cairn__pg_dup(result, row, 5);
	out->user_agent = cairn__pg_dup(result, row, 6);
	if (!out->id || !out->user_id || !out->secret_hash || !out->ip || !out->user_agent) {
		cairn__storage_session_clear(out);
		return cairn__pg_oom();
	}
	return 0;
}

/* Reads at most one row matching `sql` with `key` bound as $1 into `out` (`size` bytes,
 * zeroed first) with `from_row`; no row is CAIRN_ENOTFOUND with `not_found`. */
static int row_read(void *out, size_t size, cairn_storage *storage, const char *sql,
	const char *key, int (*from_row)(void *out, const PGresult *result, int row),
	const char *not_found, const char *what)
{
	pg_params params = { .count = 0 };
	PGresult *result;
	int rc;

	memset(out, 0, size);
	cairn__pg_param_text(&params, key ? key : "");
	result = run(storage, sql, &params, &rc, what);
	if (!result)
		return rc;
	if (PQntuples(result) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "%s", not_found);
	else
		rc = from_row(out, result, 0);
	PQclear(result);
	return rc;
}

static int user_read(cairn_storage_user *out, cairn_storage *storage, const char *sql,
	const char *key)
{
	return row_read(out, sizeof(*out), storage, sql, key, user_from_row,
		"User with the requested ID could not be found.", "reading a user");
}

int cairn__pg_user_get(cairn_storage_user *out, cairn_storage *storage, const char *id)
{
	return user_read(out, storage, "SELECT " USER_COLUMNS " FROM users WHERE id = $1::text",
		id);
}

int cairn__pg_user_get_by_email(cairn_storage_user *out, cairn_storage *storage,
	const char *email)
{
	return user_read(out, storage, "SELECT " USER_COLUMNS " FROM users "
		"WHERE lower(email) = lower($1::text)", email);
}

int cairn__pg_user_create(cairn_storage_user *out, cairn_storage *storage,
	const cairn_storage_user *user)
{
	pg_params params = { .count = 0 };
	int rc;

	if ((rc = cairn__storage_user_check(user)) < 0)
		return rc;
	cairn__pg_param_text(&params, user->id);
	cairn__pg_param_text(&params, user->email);
	cairn__pg_param_text(&params, user->name);
	cairn__pg_param_text(&params, user->password_hash);
	cairn__pg_param_int(&params, user->status);
	cairn__pg_param_int(&params, user->created_at);
	cairn__pg_param_int(&params, user->updated_at);
	cairn__pg_param_int(&params, user->password_updated_at);
	PQclear(run(storage, "INSERT INTO users (" USER_COLUMNS ") VALUES ($1::text, $2::text, "
		"$3::text, $4::text, $5::int, $6::bigint, $7::bigint, $8::bigint)", &params, &rc,
		"creating a user"));
	if (rc == CAIRN_EEXISTS)
		rc = cairn__error_set(CAIRN_EEXISTS, "A user with the same id, email, or phone "
			"already exists in this project.");
	if (rc == 0 && out)
		rc = cairn__pg_user_get(out, storage, user->id);
	return rc;
}

int cairn__pg_session_create(cairn_storage *storage, const cairn_storage_session *session)
{
	pg_params params = { .count = 0 };
	int rc;

	if ((rc = cairn__storage_session_check(session)) < 0)
		return rc;
	cairn__pg_param_text(&params, session->user_id);
	cairn__pg_param_int(&params, session->created_at);
	PQclear(run(storage, "DELETE FROM sessions WHERE user_id = $1::text AND "
		"expires_at < $2::bigint", &params, &rc, "dropping expired sessions"));
	if (rc < 0)
		return rc;
	params.count = 0;
	cairn__pg_param_text(&params, session->id);
	cairn__pg_param_text(&params, session->user_id);
	cairn__pg_param_text(&params, session->secret_hash);
	cairn__pg_param_int(&params, session->created_at);
	cairn__pg_param_int(&params, session->expires_at);
	cairn__pg_param_text(&params, session->ip ? session->ip : "");
	cairn__pg_param_text(&params, session->user_agent ? session->user_agent : "");
	PQclear(run(storage, "INSERT INTO sessions (" SESSION_COLUMNS ") VALUES ($1::text, "
		"$2::text, $3::text, $4::bigint, $5::bigint, $6::text, $7::text)", &params, &rc,
		"creating a session"));
	return rc;
}

static int session_read(cairn_storage_session *out, cairn_storage *storage, const char *sql,
	const char *key)
{
	return row_read(out, sizeof(*out), storage, sql, key, session_from_row,
		"The current user session could not be found.", "reading a session");
}

int cairn__pg_session_get(cairn_storage_session *out, cairn_storage *storage, const char *id)
{
	return session_read(out, storage, "SELECT " SESSION_COLUMNS " FROM sessions "
		"WHERE id = $1::text", id);
}

int cairn__pg_session_find(cairn_storage_session *out, cairn_storage *storage,
	const char *secret_hash)
{
	return session_read(out, storage, "SELECT " SESSION_COLUMNS " FROM sessions "
		"WHERE secret_hash = $1::text", secret_hash);
}

int cairn__pg_session_list(cairn_storage *storage, const char *user_id,
	int (*each)(const cairn_storage_session *session, void *payload), void *payload)
{
	pg_params params = { .count = 0 };
	PGresult *result;
	int rc;

	cairn__pg_param_text(&params, user_id ? user_id : "");
	result = run(storage, "SELECT " SESSION_COLUMNS " FROM sessions WHERE user_id = $1::text "
		"ORDER BY created_at, id", &params, &rc, "listing sessions");
	if (!result)
		return rc;
	for (int row = 0; row < PQntuples(result) && rc == 0; row++) {
		cairn_storage_session session;

		if ((rc = session_from_row(&session, result, row)) < 0)
			break;
		rc = each(&session, payload);
		cairn__storage_session_clear(&session);
	}
	PQclear(result);
	return rc;
}

int cairn__pg_session_delete(cairn_storage *storage, const char *user_id, const char *id)
{
	pg_params params = { .count = 0 };
	PGresult *result;
	int rc;

	cairn__pg_param_text(&params, id ? id : "");
	cairn__pg_param_text(&params, user_id ? user_id : "");
	result = run(storage, "DELETE FROM sessions WHERE id = $1::text AND user_id = $2::text",
		&params, &rc, "deleting a session");
	if (!result)
		return rc;
	if (strcmp(PQcmdTuples(result), "0") == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "The current user session could not be "
			"found.");
	PQclear(result);
	return rc;
}

int cairn__pg_session_delete_all(cairn_storage *storage, const char *user_id)
{
	pg_params params = { .count = 0 };
	int rc;

	cairn__pg_param_text(&params, user_id ? user_id : "");
	PQclear(run(storage, "DELETE FROM sessions WHERE user_id = $1::text", &params, &rc,
		"deleting sessions"));
	return rc;
}
