/* replicator_rest_int.h: the REST-only sync round (replicator_rest.c: HTTP, push, the round;
 * replicator_rest_pull.c: collections, scopes, pull, reconciliation scan), called by
 * cairn_sync_once (replicator.c) when the remote's mode is CAIRN_REMOTE_APPWRITE_REST. */
#ifndef CAIRN_CLIENT_REPLICATOR_REST_INT_H
#define CAIRN_CLIENT_REPLICATOR_REST_INT_H

#include <stdint.h>
#include <json-c/json.h>

#include "cairn.h"
#include "client/store_int.h"
#include "net/http_client.h"

/* Documents whose $updatedAt lies this far before a collection's checkpoint are read again
 * on every pull: a write that committed late, or on a server whose clock is behind, still
 * arrives (docs/rest-mode.md). */
#define CAIRN__REST_SAFETY_WINDOW_MS 5000
/* Every this many rounds the pull also lists every server id of each collection, purges
 * local copies of documents the server no longer has (hard deletes are invisible to a
 * $updatedAt pull) and fetches what the pull missed. */
#define CAIRN__REST_SCAN_EVERY 10

/* 1 when the store's remote is in REST mode (meta remote_mode), else 0. */
int cairn__rest_mode(cairn_store *store);

/* One push-then-pull round over Appwrite's REST documents routes with `http` (already
 * pointed at the remote) on `database`. Adds to *result (pushed, conflicts, rejected,
 * pulled) and reports progress through options->progress. Returns 0, CAIRN_ECONFLICT when
 * some changes still conflicted after retries (everything else was still pulled), or the
 * code that stopped the round (CAIRN_EOFFLINE, CAIRN_EAUTH, CAIRN_ESERVER, ...). */
int cairn__rest_sync_round(cairn_sync_result *result, cairn_store *store,
	cairn__http_client *http, const char *database, const cairn_sync_options *options);

/* ---- shared by the two files ---- */

typedef struct {
	cairn_store *store;
	cairn__http_client *http;
	const char *database;
	const cairn_sync_options *options;
	cairn_sync_result *result;
	int64_t sync_checkpoint;     /* the sync mode's checkpoint, passed through unchanged */
} cairn__rest_session;

/* One request. *reply is the parsed body whatever the status, when it is JSON (NULL for an
 * empty or non-JSON error body; caller owns); *status the HTTP status. A 2xx with a body
 * that is not JSON is an error. `header` is one extra header line or NULL. */
int cairn__rest_call(json_object **reply, long *status, cairn__rest_session *s,
	const char *method, const char *path, const char *header, const char *body);
/* reply[key] when it is a string (borrowed), else `fallback`. */
const char *cairn__rest_reply_string(json_object *reply, const char *key,
	const char *fallback);
/* The code for an answer that stops the round (auth, missing database or collection, rate
 * limit, 5xx), with its message set; 0 for an answer about the document itself. */
int cairn__rest_round_stopper(long status, json_object *reply, const char *what);

/* /databases/{db}/collections/{collection}/documents[/{id}] (id may be NULL). */
void cairn__rest_document_path(char *out, size_t size, const cairn__rest_session *s,
	const char *collection, const char *id);
/* $updatedAt of a Document model in unix ms: the version of that copy in this mode. */
int cairn__rest_document_version(int64_t *out, json_object *document);
/* Calls the sync's progress callback (CAIRN_EUSER when it says stop). */
int cairn__rest_report(cairn__rest_session *s, cairn_sync_phase phase, uint64_t done,
	uint64_t total, int64_t started_ms);

/* The pull half of a round (replicator_rest_pull.c). */
int cairn__rest_pull(cairn__rest_session *s);

#endif
