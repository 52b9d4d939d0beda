/*
 * cairn.h: the public C API of libcairn, an offline-first document store that
 * syncs with a cairn (Appwrite-compatible) server.
 *
 * Conventions
 *  - Objects are opaque handles: _open creates, _free destroys, _free(NULL) is a no-op.
 *  - Fallible calls return int: 0 (CAIRN_OK) or a negative CAIRN_E* code. After a failure
 *    cairn_error_last() gives a message for the calling thread (valid until the thread's
 *    next cairn call). The code is the test, never the message.
 *  - Parameter order: out-params first, then the object, then inputs.
 *  - Strings returned through `char **out` are owned by the caller: free them with
 *    cairn_free(). Strings passed in are borrowed for the duration of the call.
 *  - Documents cross the API as JSON text. Input: a JSON object of user fields; keys that
 *    start with '$' are system fields and are ignored, except "$permissions" (an array of
 *    Appwrite permission strings). Output: Appwrite's Document model ($id, $collectionId,
 *    $databaseId, $createdAt, $updatedAt, $permissions, plus the user fields).
 *  - A cairn_store handle may be used from one thread at a time (serialise calls yourself);
 *    several handles, in one or more processes, may open the same file.
 *
 * This header is C99-clean and compiles alone with -std=c99 -pedantic.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_VERSION "0.1.0"

/* ---- errors ------------------------------------------------------------------------- */

typedef enum {
	CAIRN_OK = 0,
	CAIRN_ERROR = -1,      /* generic failure */
	CAIRN_ENOTFOUND = -2,  /* no such document, collection, database or entry */
	CAIRN_EEXISTS = -3,    /* already exists */
	CAIRN_EINVALID = -4,   /* invalid argument: bad id, malformed JSON, wrong type, bad query */
	CAIRN_ECONFLICT = -5,  /* a version precondition failed */
	CAIRN_EOFFLINE = -6,   /* the server could not be reached; local data is intact */
	CAIRN_EAUTH = -7,      /* the server refused the credentials */
	CAIRN_EBUSY = -8,      /* the store is locked by another writer for too long */
	CAIRN_ENOMEM = -9,     /* out of memory */
	CAIRN_EIO = -10,       /* the store file could not be read or written */
	CAIRN_ESERVER = -11,   /* the server answered with an error (5xx or unexpected reply) */
	CAIRN_ETOOBIG = -12,   /* a document or request exceeds a limit */
	CAIRN_ENOREMOTE = -13, /* sync was asked for but no remote is configured */
	CAIRN_EUSER = -14      /* a callback returned non-zero and stopped the operation */
} cairn_error_code;

/* The message of the calling thread's last failure ("" if none). Borrowed. */
const char *cairn_error_last(void);
/* A fixed description of a code, e.g. "not found". Static storage. */
const char *cairn_strerror(int code);

/* Frees memory that the library returned to the caller (JSON strings). NULL is a no-op. */
void cairn_free(void *ptr);

/* ---- ids ---------------------------------------------------------------------------- */

/* Ids: 1 to 36 characters of a-z A-Z 0-9 . - _, not starting with . - or _ (Appwrite). */
#define CAIRN_ID_MAX 36

/* 1 if `id` is a valid document/collection/database id, else 0. */
int cairn_id_valid(const char *id);

/* Writes a new 20-character, time-ordered unique id (Appwrite's ID.unique() shape:
 * 8 hex digits of unix seconds, 5 of milliseconds, 7 random) and a NUL into `out`,
 * which must hold at least 21 bytes. Works offline. */
int cairn_id_unique(char *out, size_t out_size);

/* ---- the store ---------------------------------------------------------------------- */

typedef struct cairn_store cairn_store;

#define CAIRN_STORE_OPTIONS_VERSION 1
typedef struct {
	unsigned int version;      /* CAIRN_STORE_OPTIONS_VERSION */
	int busy_timeout_ms;       /* how long to wait for another writer; default 5000 */
	size_t max_document_bytes; /* largest accepted document JSON; default 1 MiB */
} cairn_store_options;
#define CAIRN_STORE_OPTIONS_INIT { CAIRN_STORE_OPTIONS_VERSION, 5000, 1048576 }
int cairn_store_options_init(cairn_store_options *opts, unsigned int version);

/* Opens (creating if missing) the store at `path`, a SQLite file in WAL mode.
 * `opts` may be NULL for defaults. Free with cairn_store_free(). */
int cairn_store_open(cairn_store **out, const char *path, const cairn_store_options *opts);
void cairn_store_free(cairn_store *store);

/* ---- documents ---------------------------------------------------------------------- *
 * Every write commits in one SQLite transaction together with its outbox entry, so a
 * crash leaves both or neither. Reads show the local view: the last pulled server state
 * with the pending local mutations applied on top. */

/* Creates or replaces document `id` in `collection` with the JSON object `json`. */
int cairn_doc_put(cairn_store *store, const char *collection, const char *id, const char *json);
/* Merges the top-level fields of `json` into the existing document (CAIRN_ENOTFOUND if none). */
int cairn_doc_patch(cairn_store *store, const char *collection, const char *id, const char *json);
/* Deletes the document (CAIRN_ENOTFOUND if none). */
int cairn_doc_delete(cairn_store *store, const char *collection, const char *id);
/* Reads one document as Appwrite Document JSON into *out_json (free with cairn_free). */
int cairn_doc_get(char **out_json, cairn_store *store, const char *collection, const char *id);
/* Runs Appwrite Query JSON strings (equal, notEqual, lessThan, lessThanEqual, greaterThan,
 * greaterThanEqual, between, isNull, isNotNull, startsWith, endsWith, contains, orderAsc,
 * orderDesc, limit, offset, cursorAfter, cursorBefore, select, and, or) against the local
 * view of `collection`. *out_json is a JSON array of documents (free with cairn_free).
 * With no limit query, every match is returned. */
int cairn_doc_query(char **out_json, cairn_store *store, const char *collection,
	const char *const *queries, size_t query_count);

/* ---- the remote ---------------------------------------------------------------------- */

#define CAIRN_REMOTE_VERSION 1
typedef struct {
	unsigned int version; /* CAIRN_REMOTE_VERSION */
	const char *url;      /* endpoint including /v1, e.g. "http://127.0.0.1:8080/v1" */
	const char *project;  /* X-Appwrite-Project */
	const char *api_key;  /* X-Appwrite-Key, or NULL */
	const char *database; /* the database this store syncs with */
} cairn_remote;

/* Remembers the server in the store (persisted). Strings are copied. */
int cairn_store_set_remote(cairn_store *store, const cairn_remote *remote);

/* ---- sync ---------------------------------------------------------------------------- */

typedef enum {
	CAIRN_SYNC_PHASE_PUSH = 1,
	CAIRN_SYNC_PHASE_PULL = 2
} cairn_sync_phase;

typedef struct {
	cairn_sync_phase phase;
	uint64_t done;        /* mutations pushed or changes pulled so far in this phase */
	uint64_t total;       /* mutations to push; 0 when unknown (pull) */
	double elapsed_s;     /* since the phase started */
} cairn_sync_progress;

/* Called on the thread that runs cairn_sync_once, after each batch or page.
 * A non-zero return stops the sync (CAIRN_EUSER); what was committed stays committed. */
typedef int (*cairn_sync_progress_cb)(const cairn_sync_progress *progress, void *payload);

#define CAIRN_SYNC_OPTIONS_VERSION 1
typedef struct {
	unsigned int version;        /* CAIRN_SYNC_OPTIONS_VERSION */
	size_t push_batch;           /* mutations per push request; default 500 */
	size_t pull_limit;           /* changes per pull page; default 1000 */
	size_t pull_max_bytes;       /* bytes per pull page; default 4 MiB */
	long timeout_ms;             /* per HTTP request; default 30000 */
	cairn_sync_progress_cb progress; /* optional */
	void *payload;               /* passed to progress */
} cairn_sync_options;
#define CAIRN_SYNC_OPTIONS_INIT { CAIRN_SYNC_OPTIONS_VERSION, 500, 1000, 4194304, 30000, NULL, NULL }
int cairn_sync_options_init(cairn_sync_options *opts, unsigned int version);

typedef struct {
	uint64_t pushed;    /* mutations sent and acknowledged (applied) */
	uint64_t conflicts; /* conflicts resolved (each recorded in the conflict log) */
	uint64_t rejected;  /* mutations the server refused (parked, see cairn_store_status) */
	uint64_t pulled;    /* changes applied from the server */
	int64_t checkpoint; /* the pull checkpoint after this sync */
} cairn_sync_result;

/* One push-then-pull round with the configured remote. Pushes the outbox in batches,
 * resolving conflicts last-write-wins by hybrid logical clock (ties by client id) and
 * logging every overwritten version; then pulls every change after the stored checkpoint,
 * each page applied in one transaction that also advances the checkpoint.
 * `out` and `opts` may be NULL. Returns CAIRN_EOFFLINE if the server is unreachable
 * (nothing is lost; run it again later), CAIRN_ENOREMOTE if no remote is set. */
int cairn_sync_once(cairn_sync_result *out, cairn_store *store, const cairn_sync_options *opts);

/* ---- status and logs ------------------------------------------------------------------ */

typedef struct {
	uint64_t pending;         /* mutations waiting to be pushed */
	uint64_t rejected;        /* mutations the server refused */
	uint64_t conflicts;       /* entries in the conflict log */
	int64_t checkpoint;       /* last pulled change sequence */
	int64_t last_sync_ms;     /* unix ms of the last sync attempt, 0 if never */
	int last_sync_result;     /* its result code (0 = ok) */
	char last_sync_error[256];/* its message, "" if ok */
	char client_id[40];       /* this store's client id */
	char remote_url[512];     /* "" if no remote */
	char remote_database[40];
} cairn_store_status;

int cairn_store_status_get(cairn_store_status *out, cairn_store *store);

/* The conflict log as a JSON array, newest first: [{"id", "collection", "documentId",
 * "strategy", "winner" ("local"|"remote"), "local", "remote", "at"}] where local/remote
 * are the two versions (documents, or null for a delete). Free with cairn_free. */
int cairn_conflicts_list(char **out_json, cairn_store *store);

/* The outbox as a JSON array in commit order: [{"mutationId", "op", "collection",
 * "documentId", "baseVersion", "hlc", "state" ("pending"|"rejected"), "error"}].
 * Free with cairn_free. */
int cairn_outbox_list(char **out_json, cairn_store *store);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
