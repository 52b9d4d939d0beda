/* storage.h: the server's storage interface, a versioned vtable that each backend implements. */
#ifndef CAIRN_STORAGE_STORAGE_H
#define CAIRN_STORAGE_STORAGE_H

/*
 * The server core talks to storage only through this header. A backend lives in one file
 * (src/storage/sqlite.c, later postgres.c) and exports one `cairn_storage_backend` value.
 *
 * Threading: a `cairn_storage` handle is shared by the server's worker threads; every
 * function may be called from any thread concurrently and the backend serialises what it
 * must. Writes are serialised so that, per database, change sequences and $updatedAt
 * values are strictly increasing in commit order.
 *
 * Ownership: strings passed in are borrowed for the call. Records returned are filled into
 * caller-provided structs and must be released with cairn__storage_record_clear() (or
 * _database_clear/_collection_clear). json_object values passed in are borrowed; those
 * returned in records are owned by the record.
 *
 * Errors: functions return 0 or a negative CAIRN_E* code with cairn__error_set() called:
 * CAIRN_ENOTFOUND (message names what: "database", "collection", "document"),
 * CAIRN_EEXISTS, CAIRN_EINVALID, CAIRN_EIO/CAIRN_ERROR for storage failures.
 */

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "cairn.h"

#define CAIRN_STORAGE_BACKEND_VERSION 1

typedef struct cairn_storage cairn_storage; /* a backend's open handle */

typedef struct {
	char *id;
	char *name;
	int enabled;
	int64_t created_at; /* unix ms */
	int64_t updated_at;
	int64_t last_sequence; /* the database's change sequence: the latest write's number */
} cairn_storage_database;

typedef struct {
	char *database_id;
	char *id;
	char *name;
	int enabled;
	int document_security;
	json_object *permissions; /* array of strings, owned */
	int64_t created_at;
	int64_t updated_at;
} cairn_storage_collection;

/* One document, live or a tombstone. */
typedef struct {
	char *database_id;
	char *collection_id;
	char *id;
	json_object *data;        /* user fields only, owned; NULL for a tombstone (and in the
	                           * applied outcome of a text-only write: see data_text) */
	json_object *permissions; /* array of permission strings, owned */
	int64_t created_at;       /* unix ms */
	int64_t updated_at;       /* unix ms, strictly increasing across all writes */
	int64_t version;          /* the database change sequence of the last write to it */
	int64_t sequence;         /* $sequence: per-collection number assigned at first insert */
	int64_t hlc;              /* hybrid logical clock of the last write */
	char *author;             /* client id of the last writer; "" for REST writes */
	char *last_mutation;      /* mutation id of the last write, "" for REST writes */
	int deleted;              /* 1 for a tombstone */
	const char *data_text;    /* NULL, or the stored JSON text of `data`, compact (as
	                           * cairn__json_text prints it, or a pushed text stored as it
	                           * came, see cairn_storage_write), borrowed: in a scan's record
	                           * until its callback returns, in an applied outcome while the
	                           * write's `data_text` lives. Printers splice it instead of
	                           * printing `data` again */
	size_t data_text_length;
} cairn_storage_record;

typedef enum {
	CAIRN_WRITE_CREATE = 1, /* insert; CAIRN_EEXISTS if a live document has the id */
	CAIRN_WRITE_REPLACE,    /* replace all user fields; create if missing */
	CAIRN_WRITE_PATCH,      /* merge top-level fields; CAIRN_ENOTFOUND if missing */
	CAIRN_WRITE_DELETE      /* leave a tombstone; CAIRN_ENOTFOUND if missing */
} cairn_write_op;

typedef enum {
	CAIRN_EXPECT_NONE = 0,     /* unconditional */
	CAIRN_EXPECT_EXISTS,       /* CAIRN_ENOTFOUND unless a live document exists (REST update) */
	CAIRN_EXPECT_VERSION,      /* sync push: current version == base_version, or the last write
	                            * was this client's `prev_mutation` (see docs/protocol.md);
	                            * otherwise CAIRN_ECONFLICT with `current` filled */
	CAIRN_EXPECT_UNMODIFIED_SINCE /* REST X-Appwrite-Timestamp: CAIRN_ECONFLICT when the stored
	                            * updated_at is later than `unmodified_since` */
} cairn_write_expect;

struct cairn_storage_write;
struct cairn_storage_outcome;
/* A permission check the backend runs inside the write's transaction, after an idempotent
 * replay and the collection lookup, before the precondition: `live` says whether a live
 * document has the id now and `current_permissions` are its stored permissions (NULL when
 * not live; borrowed). Returns 0 to go on, or a negative code after filling the outcome's
 * status, error_type and error_message: the write is then rejected (and, for a push,
 * stored as rejected). See server/permissions.h. */
typedef int (*cairn_storage_guard_fn)(struct cairn_storage_outcome *outcome,
	const struct cairn_storage_write *write, int live, json_object *current_permissions,
	void *payload);

/* One write. For sync pushes `client_id` and `mutation_id` are set: the backend records the
 * outcome of applied and rejected mutations under (client_id, mutation_id) in the same
 * transaction and, when it sees the pair again, returns the stored outcome and writes nothing. */
typedef struct cairn_storage_write {
	cairn_write_op op;
	const char *collection_id;
	const char *id;
	json_object *data;          /* user fields (borrowed); NULL for delete */
	json_object *permissions;   /* array, or NULL to keep (replace/patch) / empty (create) */
	cairn_write_expect expect;
	int64_t base_version;       /* CAIRN_EXPECT_VERSION */
	const char *prev_mutation;  /* CAIRN_EXPECT_VERSION, may be NULL */
	int64_t unmodified_since;   /* CAIRN_EXPECT_UNMODIFIED_SINCE, unix ms */
	int64_t hlc;                /* 0: the backend uses the write's $updatedAt as HLC */
	const char *client_id;      /* "" or NULL for REST */
	const char *mutation_id;    /* NULL for REST */
	cairn_storage_guard_fn guard; /* NULL: no permission check (trusted callers) */
	void *guard_payload;
	const char *data_text;      /* optional: `data` as cairn__json_text printed it (borrowed,
	                             * valid while `data` is not printed again), so that a backend
	                             * storing `data` unchanged need not print it again; NULL: none.
	                             * A replace may also come with `data` NULL and only this text
	                             * (the push's dataAsText, checked by the API: a compact JSON
	                             * object, no $ key at its top): it is stored as it is and an
	                             * applied outcome's record has `data` NULL and this text */
	size_t data_text_length;
	int slim_ack;               /* 1: the caller acks a put whose stored fields are exactly
	                             * `data` without them (docs/protocol.md "Slim acks"), so the
	                             * stored outcome may leave them out (a replay then has
	                             * `fields_omitted`) */
} cairn_storage_write;

/* The outcome of one write. */
typedef struct cairn_storage_outcome {
	int status;                 /* 0 applied; CAIRN_ECONFLICT; or another negative code = rejected */
	int replayed;               /* 1 when this is a stored outcome of an earlier identical push */
	int fields_omitted;         /* replayed, applied: the outcome was stored without the user
	                             * fields (a slim ack): record.data is NULL on a live record */
	char error_type[48];        /* Appwrite error type when rejected, e.g. "document_not_found" */
	char error_message[256];
	cairn_storage_record record; /* applied: the document after the write (a tombstone for a
	                              * delete); conflict: the current document (or tombstone; a
	                              * never-existing document has version 0 and deleted = 1) */
} cairn_storage_outcome;

/* An account (src/storage/sqlite_accounts.c, postgres_accounts.c). Emails are unique
 * case-insensitively. */
typedef struct {
	char *id;
	char *email;
	char *name;
	char *password_hash;  /* libsodium argon2id string (crypto_pwhash_str) */
	int status;           /* 1 active, 0 blocked */
	int64_t created_at;   /* unix ms */
	int64_t updated_at;
	int64_t password_updated_at;
} cairn_storage_user;

/* A session: the secret itself is never stored, only its hash. */
typedef struct {
	char *id;
	char *user_id;
	char *secret_hash;    /* lower-case hex SHA-256 of the secret */
	int64_t created_at;   /* unix ms */
	int64_t expires_at;   /* unix ms */
	char *ip;             /* "" when unknown */
	char *user_agent;     /* "" when unknown */
} cairn_storage_session;

/* Called once per item by scans; return non-zero to stop (that value is returned). The
 * record is borrowed for the call. */
typedef int (*cairn_storage_record_cb)(const cairn_storage_record *record, size_t approx_bytes,
	void *payload);

typedef struct cairn_storage_backend {
	unsigned int version; /* CAIRN_STORAGE_BACKEND_VERSION */
	const char *name;     /* "sqlite" */

	/* Opens storage at `location` (sqlite: a directory; the file is <dir>/cairn.db). */
	int (*open)(cairn_storage **out, const char *location);
	void (*close)(cairn_storage *storage);

	/* Server settings (key/value text), e.g. the generated API key. get: CAIRN_ENOTFOUND
	 * if unset; *out malloc'd. */
	int (*setting_get)(char **out, cairn_storage *storage, const char *key);
	int (*setting_set)(cairn_storage *storage, const char *key, const char *value);

	int (*database_create)(cairn_storage_database *out, cairn_storage *storage, const char *id,
		const char *name, int enabled);
	int (*database_get)(cairn_storage_database *out, cairn_storage *storage, const char *id);
	/* Calls `each` for every database in id order (borrowed record). */
	int (*database_list)(cairn_storage *storage,
		int (*each)(const cairn_storage_database *db, void *payload), void *payload);
	int (*database_update)(cairn_storage_database *out, cairn_storage *storage, const char *id,
		const char *name /* NULL keeps */, int enabled /* -1 keeps */);
	/* Deletes the database with its collections, documents and change feed. */
	int (*database_delete)(cairn_storage *storage, const char *id);

	int (*collection_create)(cairn_storage_collection *out, cairn_storage *storage,
		const char *database_id, const char *id, const char *name, json_object *permissions,
		int document_security, int enabled);
	int (*collection_get)(cairn_storage_collection *out, cairn_storage *storage,
		const char *database_id, const char *id);
	int (*collection_list)(cairn_storage *storage, const char *database_id,
		int (*each)(const cairn_storage_collection *collection, void *payload), void *payload);
	int (*collection_update)(cairn_storage_collection *out, cairn_storage *storage,
		const char *database_id, const char *id, const char *name, json_object *permissions,
		int document_security /* -1 keeps */, int enabled /* -1 keeps */);
	int (*collection_delete)(cairn_storage *storage, const char *database_id, const char *id);

	/* A live document (tombstones are CAIRN_ENOTFOUND). */
	int (*document_get)(cairn_storage_record *out, cairn_storage *storage,
		const char *database_id, const char *collection_id, const char *id);
	/* Every live document of a collection, in $sequence order. */
	int (*document_scan)(cairn_storage *storage, const char *database_id,
		const char *collection_id, cairn_storage_record_cb each, void *payload);

	/* Applies `count` writes in order in ONE transaction. Each write's outcome lands in
	 * outcomes[i]; a conflict or rejection of one write does not stop the others. Returns 0
	 * when the transaction committed (whatever the individual outcomes), or a negative code
	 * if nothing was committed (then outcomes are undefined). CAIRN_ENOTFOUND for an unknown
	 * database. A write to an unknown collection is rejected ("collection_not_found"). */
	int (*write)(cairn_storage_outcome *outcomes, cairn_storage *storage,
		const char *database_id, const cairn_storage_write *writes, size_t count);

	/* The change feed: documents and tombstones of `database_id` whose version is greater
	 * than `since`, in version order, limited to `collections` (NULL or count 0 = all), at
	 * most `limit` records. Calls `each` for each; the callback stops early by returning
	 * non-zero (used for the byte budget). *out_more is 1 when more changes remain after the
	 * last record delivered. */
	int (*changes)(cairn_storage *storage, const char *database_id, int64_t since,
		const char *const *collections, size_t collection_count, size_t limit,
		cairn_storage_record_cb each, void *payload, int *out_more);

	/* ---- accounts (users and sessions) ---- */
	/* Creates a user. CAIRN_EEXISTS when the id or (case-insensitively) the email is taken.
	 * `out` may be NULL. */
	int (*user_create)(cairn_storage_user *out, cairn_storage *storage,
		const cairn_storage_user *user);
	/* CAIRN_ENOTFOUND when missing. */
	int (*user_get)(cairn_storage_user *out, cairn_storage *storage, const char *id);
	int (*user_get_by_email)(cairn_storage_user *out, cairn_storage *storage,
		const char *email);
	/* Stores a session (all fields of `session` are read; NULL ip/user_agent mean ""),
	 * and drops that user's sessions that expired before it was created. */
	int (*session_create)(cairn_storage *storage, const cairn_storage_session *session);
	/* CAIRN_ENOTFOUND when missing (expired sessions are still returned: callers check). */
	int (*session_get)(cairn_storage_session *out, cairn_storage *storage, const char *id);
	/* The session whose secret hash is `secret_hash`; CAIRN_ENOTFOUND when none. */
	int (*session_find)(cairn_storage_session *out, cairn_storage *storage,
		const char *secret_hash);
	/* Every session of a user, oldest first (borrowed for the call). */
	int (*session_list)(cairn_storage *storage, const char *user_id,
		int (*each)(const cairn_storage_session *session, void *payload), void *payload);
	/* Deletes one session of `user_id`; CAIRN_ENOTFOUND when it has no such session. */
	int (*session_delete)(cairn_storage *storage, const char *user_id, const char *id);
	/* Deletes every session of `user_id` (0 also when there were none). */
	int (*session_delete_all)(cairn_storage *storage, const char *user_id);

	/* Changes committed by OTHER processes sharing the storage (several `cairn serve
	 * --postgres`). Starts a background watcher that calls `on_change` on its own thread
	 * after another process (or this one) commits writes to a database: `database_id` and
	 * the database's change sequence after that commit, or database_id NULL when the
	 * watcher may have missed notifications (it reconnected) and every database must be
	 * re-read from the feed. on_change NULL stops the watcher and waits for it: no call
	 * runs after that returns. NULL for a backend that only one process opens (sqlite);
	 * then the caller's own writes are all there is. */
	int (*watch)(cairn_storage *storage,
		void (*on_change)(const char *database_id, int64_t sequence, void *payload),
		void *payload);

	/* Optional (NULL: use `changes`): the same feed, except that a live record's `data` is
	 * NULL and only its stored text (`data_text`, unchecked) is set, for a caller that sends
	 * the text on without parsing it (the pull's dataAsText) and parses it only when it must
	 * look inside (a scope). */
	int (*changes_text)(cairn_storage *storage, const char *database_id, int64_t since,
		const char *const *collections, size_t collection_count, size_t limit,
		cairn_storage_record_cb each, void *payload, int *out_more);
} cairn_storage_backend;

extern const cairn_storage_backend cairn__storage_sqlite;
extern const cairn_storage_backend cairn__storage_postgres;

void cairn__storage_record_clear(cairn_storage_record *record);
void cairn__storage_database_clear(cairn_storage_database *database);
void cairn__storage_collection_clear(cairn_storage_collection *collection);
void cairn__storage_outcome_clear(cairn_storage_outcome *outcome);
void cairn__storage_user_clear(cairn_storage_user *user);
void cairn__storage_session_clear(cairn_storage_session *session);
/* Both backends' argument checks before storing an account record: 0, or CAIRN_EINVALID
 * with a message when a required field is missing. */
int cairn__storage_user_check(const cairn_storage_user *user);
int cairn__storage_session_check(const cairn_storage_session *session);

#endif
