/* sync_scope.h: partial sync in the client: the per-collection scopes kept in the store,
 * the pull request body that carries them, purges, and the resync of a collection whose
 * fingerprint changed (docs/protocol.md, "Partial sync"). */
#ifndef CAIRN_CLIENT_SYNC_SCOPE_H
#define CAIRN_CLIENT_SYNC_SCOPE_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "client/store_int.h"

/* How many times a scope was set in this store (any handle or process): the background
 * replicator syncs when it changes. Unreadable: *out is left as it is. */
void cairn__scope_generation(int64_t *out, cairn_store *store);

/* *out 1 when any collection of the store has a sync scope. */
int cairn__scope_any(int *out, cairn_store *store);

/* The body of one pull request: {"checkpoint", "limit", "maxBytes"} plus, for the store's
 * scoped collections, "scopes". `only` (may be NULL) asks for that one collection alone
 * ("collections": [only], and only its scope). *out is malloc'd (free()). */
int cairn__scope_pull_body(char **out, cairn_store *store, int64_t checkpoint, size_t limit,
	size_t max_bytes, const char *only);

/* Drops the local copy of one document that left this device's sync scope or became
 * unreadable: its server copy goes, and its view too unless local mutations are pending
 * (they stay in the outbox and stay applied; push settles them). Never writes the outbox.
 * Skipped when the stored server copy is newer than `version` (INT64_MAX: always).
 * *removed (may be NULL) is 1 when something was removed. Call inside a transaction. */
int cairn__scope_purge(int *removed, cairn_store *store, const char *collection,
	const char *id, int64_t version);

/* Follows the fingerprints of the pages of one pull: the first seen per collection, and
 * the collections whose fingerprint changed between pages. */
typedef struct {
	json_object *first;   /* {collection: fingerprint}, owned */
	json_object *changed; /* {collection: true}, owned */
} cairn__scope_tracker;

void cairn__scope_tracker_clear(cairn__scope_tracker *tracker);
/* Notes the "fingerprints" of a pull reply (absent: nothing to note). */
int cairn__scope_track(cairn__scope_tracker *tracker, json_object *reply);

/* Sends one pull request body and returns the parsed 200 reply (owned by the caller), or a
 * negative code with the error set. `session` is the caller's. */
typedef int (*cairn__pull_fetch_fn)(json_object **reply, void *session, const char *body,
	size_t length);

/*
 * After a pull has caught up: every collection whose fingerprint differs from the one stored
 * (or changed during the pull) is pulled again from 0 alone, and every local document of it
 * that the server did not send again is purged (mark and sweep; pending mutations are
 * kept). The new fingerprint is stored with the sweep, in one transaction, so a resync cut
 * short runs again next time. A collection with no stored fingerprint adopts the new one
 * when the pull started at checkpoint 0, the store already keeps fingerprints of other
 * collections (so the collection is new to it), or the store holds none of its documents.
 * *pulled counts the changes written.
 */
int cairn__scope_reconcile(uint64_t *pulled, cairn_store *store,
	const cairn__scope_tracker *tracker, int64_t start_checkpoint, size_t limit,
	size_t max_bytes, cairn__pull_fetch_fn fetch, void *session);

#endif
