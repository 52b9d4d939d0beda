/* store_int.h: internals shared by the client files: the store handle, its cached SQL,
 * transactions, meta values and the local view of one document. */
#ifndef CAIRN_CLIENT_STORE_INT_H
#define CAIRN_CLIENT_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>
#include <json-c/json.h>

#include "cairn.h"
#include "util/time.h"

/* 3: a server copy with NULL data and deleted = 0 shares its data with the view row (docs) of
 * the same document (see view_detach in view.c). */
/* 4: the outbox_keeps_hlc trigger moves a leaving row's timestamp to meta only when it is the
 * newest row (older rows' timestamps are smaller; an acknowledged batch updated meta once
 * per row before). */
#define CAIRN__STORE_SCHEMA_VERSION 4

/* The payload of an outbox row, in SQL over a row of `outbox`. A pending put whose payload is
 * the text its view row (docs) holds stores it only there (payload NULL; a put always has a
 * payload otherwise): cairn__view_detach gives the row its own copy before the docs row
 * changes, and a rejected row gets its own when it is parked. */
#define CAIRN__OUTBOX_PAYLOAD_SQL "CASE WHEN payload IS NULL AND op = 'put' THEN (SELECT " \
	"data FROM docs WHERE docs.collection = outbox.collection AND docs.id = outbox.doc_id) " \
	"ELSE payload END"

/* Cached statements, prepared on first use and kept for the life of the handle. */
typedef enum {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_META_GET,
	STMT_META_SET,
	STMT_DOC_GET,
	STMT_DOC_UPSERT,
	STMT_DOC_ACKED,
	STMT_DOC_DELETE,
	STMT_DOCS_LIVE,
	STMT_SERVER_GET,
	STMT_SERVER_UPSERT,
	STMT_SERVER_DELETE,
	STMT_SERVER_VERSION,
	STMT_SERVER_DETACH,
	STMT_OUTBOX_LAST_PENDING,
	STMT_OUTBOX_INSERT,
	STMT_OUTBOX_DOC_PENDING,
	STMT_OUTBOX_GET,
	STMT_OUTBOX_DELETE,
	STMT_OUTBOX_REBASE,
	STMT_OUTBOX_REJECT,
	STMT_OUTBOX_SET_PREV,
	STMT_OUTBOX_BASE_ALL,
	STMT_OUTBOX_BATCH,
	STMT_OUTBOX_COUNT,
	STMT_OUTBOX_ANY_PENDING,
	STMT_CONFLICT_INSERT,
	STMT_POLICY_GET,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_OUTBOX_NEWEST_HLC,
	STMT_OUTBOX_HEAD,
	STMT_OUTBOX_DETACH,
	STMT_OUTBOX_PENDING_BEFORE,
	STMT_OUTBOX_DELETE_SEQS,
	STMT_OUTBOX_ROWS_AT,
	STMT_DOC_ACKED_AT,
	STMT_WRITE_READ,
	STMT_COUNT
} cairn__stmt_id;

struct cairn_store {
	sqlite3 *db;
	cairn_store_options options;
	char client_id[40];          /* "c-" + a unique id, made once per store file */
	char database[40];           /* the remote database, "" when none ($databaseId) */
	sqlite3_stmt *stmts[STMT_COUNT];
	int in_transaction;          /* 1 between cairn__store_begin and commit/rollback */
	struct cairn__batch *batch;  /* the open cairn_store_batch_begin (batch.c), or NULL */
	struct cairn__checkpointer *checkpointer; /* WAL checkpoints off this thread, or NULL */
	json_tokener *tokener;       /* parses the documents written through this handle
	                              * (documents.c), made on first use, or NULL */
};

/* A reset statement ready for binding, or NULL with the error set. */
sqlite3_stmt *cairn__store_stmt(cairn_store *store, cairn__stmt_id id);
/* Counts outbox rows in `state` ("pending" or "rejected") into *out. */
int cairn__store_count_outbox(uint64_t *out, cairn_store *store, const char *state);
/* Maps a SQLite result to a CAIRN_E* code with a message naming `what`; returns the code. */
int cairn__store_error(cairn_store *store, int sqlite_rc, const char *what);
/* Runs a statement without result rows; 0 or a code. Resets it afterwards. */
int cairn__store_step_done(cairn_store *store, sqlite3_stmt *stmt, const char *what);

/* BEGIN IMMEDIATE (waits busy_timeout_ms, then CAIRN_EBUSY), COMMIT, ROLLBACK. Rollback is
 * safe to call when no transaction is open. Inside a batch (batch.c) they are SAVEPOINT,
 * RELEASE and ROLLBACK TO: each write stays atomic and the batch commits them together. */
int cairn__store_begin(cairn_store *store);
int cairn__store_commit(cairn_store *store);
/* After a commit on `store`: wakes the replicators of this process that follow the same file
 * (replicator_thread.c), so a local write is pushed without waiting for their poll. */
void cairn__replicator_committed(cairn_store *store);
void cairn__store_rollback(cairn_store *store);

/* Meta values (key/value). get: 1 and the value if set, 0 if unset, or a negative code.
 * Text values are malloc'd (free()). */
int cairn__meta_get_int64(cairn_store *store, const char *key, int64_t *out);
int cairn__meta_get_text(cairn_store *store, const char *key, char **out);
int cairn__meta_set_int64(cairn_store *store, const char *key, int64_t value);
int cairn__meta_set_text(cairn_store *store, const char *key, const char *value);

/* Issues the next HLC timestamp from the persisted clock (call inside a transaction, and
 * stamp an outbox row written in it with the timestamp: that row is what persists it).
 * *next_seq (may be NULL) gets the seq that row will have, read in the same lookup of the
 * newest row (0: none left, SQLite picks one). */
int cairn__store_hlc_tick(cairn_store *store, int64_t *out, int64_t *next_seq);
/* cairn__store_hlc_tick from a row that already read the clock: columns `column` to
 * `column` + 2 hold meta's value, the newest outbox row's hlc and its seq (NULL: no row), as
 * STMT_WRITE_READ does (documents.c). */
void cairn__store_hlc_tick_row(int64_t *out, int64_t *next_seq, sqlite3_stmt *stmt,
	int column);
/* Absorbs a remote timestamp into the persisted clock (inside a transaction). */
int cairn__store_hlc_observe(cairn_store *store, int64_t remote);

/* ---- the view of one document (view.c) ---------------------------------------------- */

typedef struct {
	int exists;                 /* 0: missing or deleted */
	json_object *data;          /* user fields (owned), NULL when !exists */
	json_object *permissions;   /* array of strings (owned), NULL when !exists */
	char created_at[CAIRN_TIME_TEXT_SIZE];
	char updated_at[CAIRN_TIME_TEXT_SIZE];
	int in_docs;                /* cairn__view_load_local or _load_row found a docs row (live
	                             * or a pending delete); 0 otherwise and from other sources */
} cairn__view;

/* The server copy of a document as stored in server_docs. */
typedef struct {
	int known;                  /* 0: no row (never seen; version 0) */
	int64_t version;
	int64_t hlc;
	char author[64];
} cairn__server_meta;

void cairn__view_clear(cairn__view *view);

/* One step of the fold: applies a mutation (`op` "put", "patch" or "delete" with its user
 * fields `payload` and optional `permissions`, both borrowed) made at unix ms `at_ms` to
 * `view`. put replaces the fields (keeping $createdAt and, without new permissions, the
 * permissions of a live document); patch merges top-level fields into a live document and
 * leaves a missing one missing (the server rejects it); delete makes it missing. */
int cairn__view_apply(cairn__view *view, const char *op, json_object *payload,
	json_object *permissions, int64_t at_ms);

/* cairn__view_apply of a put that shares `fields` and `permissions` (borrowed; the view takes
 * a reference to each instead of a copy): the caller must not change them afterwards.
 * `fields` NULL: the caller holds the fields only as text (a canonical put, documents.c) and
 * the view stays without data. */
int cairn__view_apply_put_shared(cairn__view *view, json_object *fields,
	json_object *permissions, int64_t at_ms);

/* cairn__view_load_local from a row of `stmt` whose columns 0-6 are STMT_DOC_GET's (all NULL:
 * no docs row), as STMT_WRITE_READ reads them. The statement is not stepped or reset. */
int cairn__view_load_row(cairn__view *view, int *pending, sqlite3_stmt *stmt,
	const char *collection, const char *id, int with_data);
/* Loads the local view from docs (with_data 0 skips parsing the fields). *pending is 1 when
 * the row says it has pending mutations (may be NULL). */
int cairn__view_load_local(cairn__view *view, int *pending, cairn_store *store,
	const char *collection, const char *id, int with_data);
/* Loads the server copy from server_docs; meta may be NULL. */
int cairn__view_load_server(cairn__view *view, cairn__server_meta *meta, cairn_store *store,
	const char *collection, const char *id);
/* Writes `view` to docs: a live row, a deleted row when `pending` (a pending delete), or
 * no row at all. */
int cairn__view_save(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, int pending);
/* Writes a live row to docs whose fields and permissions are already printed (`pending`
 * as in cairn__view_save): saves printing them a second time on hot paths. */
int cairn__view_save_text(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, const char *data, size_t data_length, const char *permissions,
	size_t permissions_length, int pending);
/* cairn__view_save_text for a document docs holds no row of (in_docs 0 as loaded, by
 * cairn__view_load_local or _load_row, in this transaction): no server copy or pending put
 * can share the data of a row that does not exist, so nothing is detached. */
int cairn__view_insert_text(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, const char *data, size_t data_length, const char *permissions,
	size_t permissions_length, int pending);
/* cairn__view_save_text for a document with nothing pending whose server copy was just
 * written without data (it shares this row's): the one docs write that must not detach. */
int cairn__view_save_shared(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, const char *data, size_t data_length, const char *permissions,
	size_t permissions_length);
/* Gives a server copy that shares the view row's data a copy of its own; every write to a
 * docs row calls it first (the save functions above do), so a shared copy never changes
 * under the server state it stands for. */
int cairn__view_detach(cairn_store *store, const char *collection, const char *id);
/* Recomputes docs for one document: server copy + every pending mutation folded in order. */
int cairn__view_recompute(cairn_store *store, const char *collection, const char *id);

/* The Appwrite Document model of a live view: $id, $collectionId, $databaseId, $createdAt,
 * $updatedAt, $permissions, then the user fields. `sequence` >= 0 adds "$sequence" (used
 * only to order local queries). Caller owns; NULL on ENOMEM. */
json_object *cairn__view_model(const cairn__view *view, const char *collection, const char *id,
	const char *database, int64_t sequence);
/* Fills a view from an Appwrite Document model (a server reply). */
int cairn__view_from_model(cairn__view *view, json_object *document);

/* Parses a permissions array column/payload; NULL text gives NULL. */
int cairn__permissions_parse(json_object **out, const char *text);

/* ---- sync internals (sync_apply.c), exposed for unit tests ---------------------------- */

/* One pending outbox row, as sent in a push. */
typedef struct {
	char mutation_id[64];
	char op[16];               /* "put", "patch", "delete" or "increment" */
	char collection[40];
	char doc_id[40];
	int64_t base_version;
	char prev_mutation[64];   /* "" when none */
	int64_t hlc;
	char *payload;            /* malloc'd JSON text or NULL */
	char *permissions;        /* malloc'd JSON text or NULL */
	int64_t doc_seq;          /* when read, the view row (docs.seq) of a put whose payload is
	                           * that row's data, else 0 (sync_apply.c view_acked) */
} cairn__mutation;

typedef struct {
	uint64_t applied;
	uint64_t conflicts;
	uint64_t rejected;
	uint64_t dropped;         /* conflicts the remote won: the mutation left the outbox */
	uint64_t requeued;        /* conflicts the local side won: rebased and still pending */
} cairn__push_tally;

/* Loads up to `limit` pending mutations in commit order into *out (free with
 * cairn__mutations_free). */
int cairn__outbox_load_batch(cairn__mutation **out, size_t *count, cairn_store *store,
	size_t limit);
/* The `limit` oldest pending mutations after the batch `current` (`count` of them, sent),
 * which `before` pending rows precede (an earlier batch not applied yet): *count 0 when the
 * pending outbox no longer starts with those (another handle settled or added some). Reads
 * only the rows it returns. */
int cairn__outbox_load_after(cairn__mutation **out, size_t *out_count, cairn_store *store,
	const cairn__mutation *current, size_t count, size_t before, size_t limit);
void cairn__mutations_free(cairn__mutation *mutations, size_t count);

/* The push request body for `mutations` (caller frees with free()); `as_text`: in the text
 * form (dataAsText, docs/protocol.md), for a server that said it takes it. */
int cairn__push_body(char **out, size_t *length, cairn_store *store,
	const cairn__mutation *mutations, size_t count, int as_text);

/* Applies a push reply ({"results": [...]}) for the batch `mutations` in one transaction. */
int cairn__push_apply(cairn__push_tally *tally, cairn_store *store,
	const cairn__mutation *mutations, size_t count, json_object *reply);
/* cairn__push_apply for a reply read by cairn__push_reply_read (push_reply.h): the same
 * outcome as its JSON form. Every mutation must be a put (else CAIRN_EINVALID, nothing done:
 * apply the JSON form). */
struct cairn__push_ack;
int cairn__push_apply_acks(cairn__push_tally *tally, cairn_store *store,
	const cairn__mutation *mutations, size_t count, const struct cairn__push_ack *acks);
/* Parks one mutation as rejected with `message` (one transaction). */
int cairn__push_reject(cairn_store *store, const cairn__mutation *mutation, const char *message);

/* Applies a pull page ({"changes", "checkpoint", "more"}) in one transaction that also
 * stores the checkpoint. *applied counts the changes written; *more and *checkpoint echo
 * the page. */
int cairn__pull_apply(uint64_t *applied, int *more, int64_t *checkpoint, cairn_store *store,
	json_object *page);
/* The same, storing the page's checkpoint only when `store_checkpoint` (a resync of one
 * collection pulls from 0 beside the store's checkpoint: sync_scope.c). A change marked
 * "purge" drops the local copy (cairn__scope_purge) instead of writing it. */
int cairn__pull_apply_page(uint64_t *applied, int *more, int64_t *checkpoint,
	cairn_store *store, json_object *page, int store_checkpoint);

/* ---- conflict resolution (conflict.c) -------------------------------------------------- */

typedef enum {
	CAIRN__STRATEGY_LWW,
	CAIRN__STRATEGY_SERVER_WINS,
	CAIRN__STRATEGY_CLIENT_WINS,
	CAIRN__STRATEGY_MERGE,
	CAIRN__STRATEGY_MANUAL,
	CAIRN__STRATEGY_CUSTOM
} cairn__strategy;

const char *cairn__strategy_name(cairn__strategy strategy);
int cairn__strategy_parse(cairn__strategy *out, const char *name);
/* The collection's strategy (lww when unset) and, when `counters` is not NULL, its counter
 * fields as a JSON array of strings (caller owns). */
int cairn__policy_load(cairn__strategy *strategy, json_object **counters, cairn_store *store,
	const char *collection);
/* cairn__policy_load's result from a row: the strategy in `column` (NULL: no policy row,
 * last-write-wins) and the counters in `column` + 1; `counters` may be NULL. */
int cairn__policy_from_row(cairn__strategy *strategy, json_object **counters,
	sqlite3_stmt *stmt, int column, const char *collection);
/* 1 when `field` is in the `counters` array (NULL = none). */
int cairn__is_counter(json_object *counters, const char *field);

/* One ledger row; the texts are Document JSON or NULL; `state` "done", "open" (inbox). */
int cairn__ledger_add(cairn_store *store, const char *collection, const char *id,
	const char *strategy, const char *winner, const char *base, const char *local,
	const char *remote, const char *result, const char *state);

/* Keeps the current server copy of a document as a base while local edits of it are pending
 * (call before overwriting the server copy); prune drops bases nothing pending needs. */
int cairn__base_save(cairn_store *store, const char *collection, const char *id);
int cairn__bases_prune(cairn_store *store);

/* Three-way merge of user-field objects (caller owns the result; NULL on ENOMEM). */
json_object *cairn__merge3(json_object *base, json_object *local, json_object *remote,
	int local_wins);

/* Resolves a push conflict of `m` under merge, manual or custom (inside the push-apply
 * transaction, after the server copy was updated to the remote version): writes the ledger
 * row, drops the document's pending writes and queues the resolution when it differs from
 * the server's version. */
int cairn__conflict_resolve(cairn__push_tally *tally, cairn_store *store,
	const cairn__mutation *m, cairn__strategy strategy, json_object *remote_document,
	int64_t version, int64_t remote_hlc, const char *author);
void cairn__resolver_forget(const cairn_store *store);
/* *out 1 when the server version differs from the mutation's base only in counter fields
 * (increments moved it): no conflict, the mutation is simply rebased. */
int cairn__conflict_counter_only(int *out, cairn_store *store, const cairn__mutation *m,
	json_object *remote_document);

/* cairn__view_apply that also knows counters: "increment" adds its payload's numbers, and a
 * put keeps the counter fields of the document it replaces. */
int cairn__view_apply_counted(cairn__view *view, const char *op, json_object *payload,
	json_object *permissions, int64_t at_ms, json_object *counters);

/* Gives a pending put of collection/id that shares its payload with the docs row (see
 * CAIRN__OUTBOX_PAYLOAD_SQL) a copy of its own; called by cairn__view_detach. */
int cairn__outbox_detach(cairn_store *store, const char *collection, const char *id);

/* Appends one pending mutation to the outbox as row `seq` (documents.c; `hlc` and `seq` from
 * cairn__store_hlc_tick in the same transaction). */
int cairn__outbox_insert(cairn_store *store, const char *op, const char *collection,
	const char *id, int64_t base, const char *prev, int64_t hlc, int64_t seq,
	json_object *fields, json_object *permissions, int64_t now);

/* ---- connectivity signals (connectivity.c), used by the replicator thread ------------- */

/* A non-blocking NETLINK_ROUTE socket subscribed to link, address and route changes, or -1
 * where that is unavailable (not Linux, sandboxed). */
int cairn__netlink_open(void);
/* Reads every pending message; 1 when one of them was a link/address/route change. */
int cairn__netlink_drain(int fd);
/* Exponential backoff with full jitter: a uniform delay in [0, min(max_ms, initial_ms <<
 * attempt)] ms, from the xorshift state *rng (seed it non-zero). attempt 0 is the first retry. */
int64_t cairn__backoff_delay(long initial_ms, long max_ms, unsigned attempt, uint64_t *rng);

/* ---- change listeners (listeners.c): the hooks that fire them after a commit ---------- */

/* ---- batches (batch.c) ----------------------------------------------------------------- */

/* CAIRN_EINVALID naming `what` when a batch is open on the handle (calls that must not run
 * inside one, such as a sync round), else 0. */
int cairn__batch_refuse(cairn_store *store, const char *what);
/* Inside a batch: keeps a local change for the listeners until the batch commits (called
 * only while someone listens; a listener added during a batch hears the writes made after
 * it). 1 when the change was taken, 0 when no batch is open. */
int cairn__batch_defer_change(cairn_store *store, const char *op, const char *collection,
	const char *id);
/* Rolls back and frees an open batch (cairn_store_free). */
void cairn__batch_discard(cairn_store *store);

/* After a local write of `op` on collection/id; does nothing unless rc == 0. */
void cairn__listeners_local(cairn_store *store, int rc, const char *op, const char *collection,
	const char *id);
/* After a pull page (`changes`, the page's array) committed; does nothing unless rc == 0. */
void cairn__listeners_pulled(cairn_store *store, int rc, json_object *changes);
/* After a commit that changed the local view of collection/id for a reason other than a
 * local write (e.g. a push conflict the server won). */
void cairn__listeners_view(cairn_store *store, const char *collection, const char *id,
	int deleted, cairn_change_source source);

/* Records the replicator's status in meta when its state, pending count or error changed
 * (replicator_state.c; best effort, on the replicator thread's own handle). */
void cairn__replicator_record(cairn_store *store, const cairn_replicator_status *status);

/* ---- views a push reply changed (view_watch.c) ---------------------------------------- */

typedef struct cairn__view_watch cairn__view_watch;
/* Remembers the view of collection/id before the push reply touches it (inside the
 * transaction; *watch is created on first use and starts NULL). */
int cairn__view_watch_before(cairn__view_watch **watch, cairn_store *store,
	const char *collection, const char *id);
/* Compares every remembered view with the view now (before the commit). */
int cairn__view_watch_after(cairn__view_watch *watch, cairn_store *store);
/* After the commit (rc 0): tells the listeners of every view that changed; then frees. */
void cairn__view_watch_finish(cairn__view_watch *watch, cairn_store *store, int rc);

#endif
