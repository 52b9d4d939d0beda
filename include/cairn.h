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

/* Batched writes: between cairn_store_batch_begin and cairn_store_batch_commit, the
 * document writes made through this handle (put, patch, delete, increment) share one
 * transaction and one commit, which is far faster than a commit per write. Each write is
 * still atomic with its outbox entry: one that fails returns its error and leaves the batch
 * as it was before it, and the batch stays open. Reads through this handle see the batch;
 * other handles and processes see all of it or none of it, after the commit. While a batch
 * is open the handle holds the store's write lock (other writers wait up to their busy
 * timeout), cairn_sync_once on it fails with CAIRN_EINVALID, and change listeners hear the
 * batch's writes when it commits. begin: CAIRN_EINVALID when one is already open,
 * CAIRN_EBUSY when another writer holds the lock too long. commit/rollback: CAIRN_EINVALID
 * when none is open; a failed commit rolls the whole batch back. cairn_store_free rolls back
 * an open batch. */
int cairn_store_batch_begin(cairn_store *store);
int cairn_store_batch_commit(cairn_store *store);
int cairn_store_batch_rollback(cairn_store *store);

/* ---- the remote ---------------------------------------------------------------------- */

typedef enum {
	CAIRN_REMOTE_SYNC = 0,          /* a cairn server: /v1/sync/ push and pull (default) */
	CAIRN_REMOTE_APPWRITE_REST = 1  /* any Appwrite server: REST document routes only
	                                 * (see docs/rest-mode.md for what that mode cannot do) */
} cairn_remote_mode;

#define CAIRN_REMOTE_VERSION 3
typedef struct {
	unsigned int version; /* CAIRN_REMOTE_VERSION (1: the fields up to database only) */
	const char *url;      /* endpoint including /v1, e.g. "http://127.0.0.1:8080/v1" */
	const char *project;  /* X-Appwrite-Project */
	const char *api_key;  /* X-Appwrite-Key, or NULL */
	const char *database; /* the database this store syncs with */
	/* Version 2: more instances of the same server (one database behind them). A request
	 * that cannot reach its server or gets 502/503/504 is retried on the next URL, and sync
	 * stays on the one that answered. NULL/0: none. At most 16. */
	const char *const *fallback_urls;
	size_t fallback_url_count;
	/* Version 3. A PEM file of CA certificates trusted for https:// and wss:// (NULL: the
	 * system's). Certificates are always verified. */
	const char *ca_file;
	cairn_remote_mode mode;
} cairn_remote;

/* Remembers the server in the store (persisted, fallback URLs too). Strings are copied. */
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
 * resolving conflicts by each collection's strategy (default last-write-wins by hybrid
 * logical clock, ties by client id; see cairn_policy_set) and recording every resolution
 * in the ledger; then pulls every change after the stored checkpoint,
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
	cairn_remote_mode remote_mode; /* the remote's mode (CAIRN_REMOTE_SYNC when none is set) */
} cairn_store_status;

int cairn_store_status_get(cairn_store_status *out, cairn_store *store);

/* The conflict ledger as a JSON array, newest first: [{"id", "collection", "documentId",
 * "strategy", "winner" ("local"|"remote"|"merged"|"custom"), "local", "remote", "at",
 * "base", "result", "state" ("done"|"open"|"resolved")}] where base/local/remote/result
 * are versions (documents, or null for a delete or an unknown base). Free with cairn_free. */
int cairn_conflicts_list(char **out_json, cairn_store *store);

/* The outbox as a JSON array in commit order: [{"mutationId", "op", "collection",
 * "documentId", "baseVersion", "hlc", "state" ("pending"|"rejected"), "error"}].
 * Free with cairn_free. */
int cairn_outbox_list(char **out_json, cairn_store *store);

/* ---- conflict resolution (docs/conflicts.md) ------------------------------------------ *
 * Each collection has a strategy, persisted in the store and applied when a push meets a
 * newer server version: "lww" (default: higher hybrid logical clock wins, ties by client id),
 * "server-wins", "client-wins", "merge" (three-way, field by field, against the version the
 * local edits were made on; nested objects recursively, arrays whole, a field changed on both
 * sides by LWW), "manual" (the server version stays visible, the local one goes to the
 * inbox), "custom" (the resolver set with cairn_store_set_resolver; "manual" without one).
 * Every resolution is recorded in the ledger (cairn_conflicts_list), and whatever it
 * overwrote can be put back with cairn_conflict_restore. */

/* Sets the strategy of `collection` and its counter fields (numeric fields changed only by
 * cairn_doc_increment; put and patch leave them as they are). `counters` may be NULL when
 * `counter_count` is 0. Replaces the previous policy of the collection. */
int cairn_policy_set(cairn_store *store, const char *collection, const char *strategy,
	const char *const *counters, size_t counter_count);
/* The policy of `collection` as {"collection", "strategy", "counters": [...]} (the default
 * {"strategy": "lww", "counters": []} when none was set). Free with cairn_free. */
int cairn_policy_get(char **out_json, cairn_store *store, const char *collection);

/* Adds `delta` to the counter `field` of a live document (a missing field counts as 0). The
 * local view shows the new value at once; the server adds the delta to its current value when
 * the increment is pushed, so increments from many clients never conflict and all count.
 * `field` must be declared a counter of the collection (cairn_policy_set), else
 * CAIRN_EINVALID; CAIRN_ENOTFOUND if the document does not exist. */
int cairn_doc_increment(cairn_store *store, const char *collection, const char *id,
	const char *field, int64_t delta);

/* The open inbox entries (conflicts of "manual" collections, or deferred by the resolver),
 * oldest first, in the shape of cairn_conflicts_list. Free with cairn_free. */
int cairn_conflicts_inbox(char **out_json, cairn_store *store);

typedef enum {
	CAIRN_RESOLVE_MINE = 1,   /* write the local version of the newest open entry again */
	CAIRN_RESOLVE_THEIRS = 2, /* keep the server version (already visible); no new write */
	CAIRN_RESOLVE_WITH = 3    /* write the given document (JSON object) */
} cairn_resolve_choice;

/* Closes every open inbox entry of the document. MINE and WITH are new writes (a put, or a
 * delete when the local version was a delete) that sync like any other. `json` is used only
 * with CAIRN_RESOLVE_WITH. CAIRN_ENOTFOUND when the document has no open entry. */
int cairn_conflict_resolve(cairn_store *store, const char *collection, const char *id,
	cairn_resolve_choice choice, const char *json);

/* Puts back the value that ledger entry `ledger_id` overwrote (the losing side; the local
 * version for merged, custom and inbox entries) as a new write: a put, or a delete when that
 * value was a delete. CAIRN_ENOTFOUND for an unknown entry. */
int cairn_conflict_restore(cairn_store *store, int64_t ledger_id);

/* A custom resolver. `base`, `local` and `remote` are Appwrite Document JSON or NULL (never
 * existed, or deleted). Return 0 with *out_json set to the merged document (a JSON object of
 * user fields, allocated with malloc; the library frees it) or left NULL to delete the
 * document; return CAIRN_RESOLVE_DEFER to send the pair to the inbox as "manual" does. Any
 * other value stops the sync with CAIRN_EUSER. Called on the thread running cairn_sync_once,
 * inside the store transaction that applies the push reply: it must not call the store. */
#define CAIRN_RESOLVE_DEFER 1
typedef int (*cairn_resolver_cb)(char **out_json, const char *collection, const char *id,
	const char *base, const char *local, const char *remote, void *payload);

/* Sets (or with NULL clears) the resolver used by "custom" collections for this handle. */
int cairn_store_set_resolver(cairn_store *store, cairn_resolver_cb resolver, void *payload);

/* ---- the background replicator (docs/api.md, "Staying in sync") ----------------------- *
 * cairn_replicator_start() runs sync on its own thread with its own handle on the store's
 * file: local writes (from any handle or process) are pushed within about 50 ms of their
 * commit, a realtime (WebSocket) subscription brings server changes, and a catch-up pull
 * runs at start, on every reconnect and whenever an event shows a gap. Failures back off
 * exponentially with full jitter up to `backoff_max_ms`; it never spins. */

typedef struct cairn_replicator cairn_replicator;

typedef enum {
	CAIRN_REPLICATOR_STOPPED = 0,    /* not running (after stop, or before the thread runs) */
	CAIRN_REPLICATOR_OFFLINE = 1,    /* the server cannot be reached; retrying with backoff */
	CAIRN_REPLICATOR_CONNECTING = 2, /* trying to reach the server */
	CAIRN_REPLICATOR_IDLE = 3,       /* in sync, waiting for local writes or server events */
	CAIRN_REPLICATOR_BUSY = 4,       /* pushing or pulling */
	CAIRN_REPLICATOR_ERROR = 5       /* a failure that is not the network (auth, server, store);
	                                  * retried with backoff, see last_error */
} cairn_replicator_state;

typedef struct {
	cairn_replicator_state state;
	uint64_t pending;          /* local mutations waiting to be pushed */
	uint64_t rejected;         /* mutations the server refused (parked) */
	uint64_t pushed;           /* mutations pushed since start */
	uint64_t pulled;           /* changes pulled since start */
	uint64_t syncs;            /* completed sync rounds since start */
	int64_t checkpoint;        /* last pulled change sequence */
	int realtime;              /* 1 while the realtime subscription is connected */
	int last_error;            /* code of the last failed round, 0 after a success */
	char last_error_message[256];
	int64_t retry_in_ms;       /* OFFLINE/ERROR: time until the next attempt; else 0 */
} cairn_replicator_status;

/* Called on the replicator's own thread whenever the status changes (state or counts). It
 * must not block for long and must not call cairn_replicator_stop(). */
typedef void (*cairn_replicator_status_cb)(const cairn_replicator_status *status, void *payload);

#define CAIRN_REPLICATOR_OPTIONS_VERSION 1
typedef struct {
	unsigned int version;        /* CAIRN_REPLICATOR_OPTIONS_VERSION */
	long backoff_initial_ms;     /* first retry delay bound; default 250 */
	long backoff_max_ms;         /* cap of the retry delay; default 60000 */
	long push_delay_ms;          /* wait after a local commit before pushing; default 0 (at
	                              * once: commits made during a push go in the next one) */
	long poll_ms;                /* how often the store file is checked for commits; default 15 */
	long ping_interval_ms;       /* realtime ping period; default 15000 */
	long ping_timeout_ms;        /* no pong within this: the connection is dead; default 10000 */
	long request_timeout_ms;     /* per HTTP request and WebSocket handshake; default 15000 */
	int realtime;                /* 1 (default): hold a realtime subscription */
	int netlink;                 /* 1 (default): watch Linux link/route changes */
	cairn_replicator_status_cb on_status; /* optional */
	void *payload;               /* passed to on_status */
} cairn_replicator_options;
#define CAIRN_REPLICATOR_OPTIONS_INIT { CAIRN_REPLICATOR_OPTIONS_VERSION, 250, 60000, 0, 15, \
	15000, 10000, 15000, 1, 1, NULL, NULL }
int cairn_replicator_options_init(cairn_replicator_options *opts, unsigned int version);

/* Starts the replicator for the store's file (the remote must be set). `store` is only read
 * during the call: the replicator opens its own handle, so the app keeps using `store` from
 * its thread. `opts` may be NULL. Stop and free it with cairn_replicator_stop(). */
int cairn_replicator_start(cairn_replicator **out, cairn_store *store,
	const cairn_replicator_options *opts);
/* Stops the thread (an ongoing HTTP request is abandoned within its timeout), joins it and
 * frees the replicator. Nothing committed is lost. NULL is a no-op. */
void cairn_replicator_stop(cairn_replicator *replicator);
/* A snapshot of the status. Any thread. */
int cairn_replicator_status_get(cairn_replicator_status *out, cairn_replicator *replicator);
/* The app's reachability hint (as a mobile OS reports it): 0 = unreachable, do not try until
 * told otherwise; 1 = reachable, retry now (resets the backoff). Any thread. */
void cairn_replicator_set_reachable(cairn_replicator *replicator, int reachable);
/* Asks for a sync round now (push and pull), resetting the backoff. Any thread. */
void cairn_replicator_sync_now(cairn_replicator *replicator);
/* A short name for a state: "offline", "connecting", "idle", "busy", "stopped", "error". */
const char *cairn_replicator_state_name(cairn_replicator_state state);

/* What a replicator running on this store's file (in any process, e.g. `cairn sync --watch`)
 * last recorded in the store: it records its state, pending count and last error whenever
 * they change, and "stopped" when it stops. A sync round is recorded as "busy" only once it
 * has run for 100 ms (short rounds write nothing before they start: that write would delay
 * every push and pull), and its outcome when it ends. With several replicators on one file,
 * the last to record wins. */
typedef struct {
	int recorded;                 /* 0: no replicator has run on this file (the rest is 0) */
	int running;                  /* 1: it has not stopped and its process is alive */
	cairn_replicator_state state; /* its last state; CAIRN_REPLICATOR_STOPPED if not running */
	uint64_t pending;             /* its pending count when it recorded */
	int last_error;               /* code of its last failed round, 0 after a success */
	char last_error_message[256];
	int64_t updated_ms;           /* unix ms of the record */
	long pid;                     /* the process that recorded it */
} cairn_store_replicator_status;
int cairn_store_replicator_status_get(cairn_store_replicator_status *out, cairn_store *store);

/* ---- change listeners and live queries (docs/api.md, "Change listeners") ------------- *
 * A listener registered on a store hears every change committed to that store's file by any
 * handle in this process: local writes (cairn_doc_put/_patch/_delete/_increment, on the
 * thread that wrote, right after the commit) and changes pulled from the server (on the
 * thread running the sync: cairn_sync_once's caller or the replicator's thread, right after
 * each page commits). Writes by other processes are not heard (their pushes come back as
 * pulls only if this process syncs). */

typedef enum {
	CAIRN_CHANGE_LOCAL = 1,  /* a write made through this library in this process */
	CAIRN_CHANGE_REMOTE = 2, /* a change pulled from the server */
	CAIRN_CHANGE_PURGED = 3  /* the document left this device's sync scope or became
	                          * unreadable: the local copy is gone (deleted is 1), the
	                          * server's document is untouched (see cairn_sync_scope_set) */
} cairn_change_source;

typedef struct {
	const char *collection;      /* borrowed for the call */
	const char *id;
	int deleted;                 /* 1 when the document is now gone */
	cairn_change_source source;
} cairn_change;

/* Must not block for long. It may read the store through its own handle (not one in use by
 * the calling thread's writer) and may add or remove listeners. */
typedef void (*cairn_change_cb)(const cairn_change *change, void *payload);

/* Listens to changes of one document (`collection` and `id`), of one collection (`id` NULL)
 * or of everything (both NULL). *out_token identifies it for cairn_store_unlisten. The
 * listener is tied to the store's file, not the handle; remove it before `payload` dies. */
int cairn_store_listen(uint64_t *out_token, cairn_store *store, const char *collection,
	const char *id, cairn_change_cb callback, void *payload);
/* After it returns the callback is not running and will not be called again. CAIRN_ENOTFOUND
 * for an unknown token. */
int cairn_store_unlisten(cairn_store *store, uint64_t token);

typedef struct cairn_live_query cairn_live_query;
/* Receives the query's full result (a JSON array of documents, borrowed for the call): once
 * from cairn_live_query_start on the caller's thread, then after every change to the
 * collection on the thread that committed it. */
typedef void (*cairn_live_query_cb)(const char *results_json, void *payload);

/* Runs `queries` (as cairn_doc_query) on `collection` now and again whenever the collection
 * changes. It reads through its own handle on the store's file, so any thread may commit. */
int cairn_live_query_start(cairn_live_query **out, cairn_store *store, const char *collection,
	const char *const *queries, size_t query_count, cairn_live_query_cb callback, void *payload);
/* Stops and frees; after it returns the callback is not running. NULL is a no-op. */
void cairn_live_query_stop(cairn_live_query *query);

/* ---- partial sync (docs/api.md, "Partial sync"; docs/protocol.md) --------------------- *
 * A store pulls only the documents its caller may read. Per collection it may narrow that
 * further with a scope: Appwrite filter queries (equal, notEqual, lessThan, ..., and, or;
 * no select, order, limit, offset or cursor), evaluated by the server exactly as the local
 * cairn_doc_query would. A document that stops being readable or stops matching is purged
 * from the store (its local copy only; listeners hear CAIRN_CHANGE_PURGED); pending local
 * mutations of it are kept and pushed, and the push reports what the server makes of them.
 * A scope change takes effect at the next sync round (a running replicator starts one at
 * once): the collection is pulled again from the start and every local document of it the
 * server no longer sends is purged. */

/* Sets the scope of `collection` (persisted in the store): `query_count` Appwrite Query JSON
 * strings, all of which a document must match; 0 queries (queries may be NULL) = every
 * document the caller may read. CAIRN_EINVALID for a bad id or query, or one that is not a
 * filter. */
int cairn_sync_scope_set(cairn_store *store, const char *collection,
	const char *const *queries, size_t query_count);
/* The scope of `collection` as a JSON array of query strings ("[]": everything readable).
 * Free *out_json with cairn_free. */
int cairn_sync_scope_get(char **out_json, cairn_store *store, const char *collection);

/* ---- accounts: a signed-in user (docs/security.md, "Accounts and sessions") ----------- *
 * A store may sync as a user instead of (or besides) with an API key: cairn_store_login
 * creates an Appwrite email/password session on the store's remote and keeps its token in
 * the store file (never logged or printed). From then on every request of the store's
 * replicator, and its realtime connection, sends it as X-Appwrite-Session. */

/* Signs in: POST /account/sessions/email on the remote (set one first). `email` and
 * `password` are borrowed and not kept. CAIRN_EAUTH for wrong credentials, CAIRN_EBUSY
 * when the server is refusing logins for a while after too many failures, CAIRN_EOFFLINE,
 * CAIRN_ENOREMOTE. A session already stored is replaced (not ended on the server). */
int cairn_store_login(cairn_store *store, const char *email, const char *password);
/* Signs out: DELETE /account/sessions/current, then forgets the token locally in every case.
 * 0 when nothing was stored or the server ended the session (or no longer knew it); when
 * the server could not be told, the local token is gone anyway and the code says why
 * (CAIRN_EOFFLINE, CAIRN_ESERVER, CAIRN_ENOREMOTE). */
int cairn_store_logout(cairn_store *store);
/* 1 and the email the store signed in with (*out_email: free with cairn_free), or 0 and
 * NULL when signed out; or a negative code. */
int cairn_store_session_email(char **out_email, cairn_store *store);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
