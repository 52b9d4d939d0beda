/* sync_scope.h: partial sync on the server: what one pull may send (the caller's read access
 * and the client's per-collection scope queries) and the per-collection fingerprints that
 * tell a client its readable set changed (docs/protocol.md, "Partial sync"). */
#ifndef CAIRN_SERVER_SYNC_SCOPE_H
#define CAIRN_SERVER_SYNC_SCOPE_H

#include <stddef.h>

#include "server/api_int.h"
#include "server/models.h"
#include "storage/storage.h"

#define CAIRN_SYNC_MAX_SCOPES 1000 /* collections named in one pull's `scopes` */

/* One pull's filter: the database's collections (permissions, document security) and the
 * scopes of the request body. Lives for one request on one thread. */
typedef struct cairn_sync_scope cairn_sync_scope;

/* Validates the optional `scopes` field of ctx->body ({collectionId: [query strings]}; only
 * filter methods, REST list limits) and loads the collections of ctx->database_id (call it
 * after cairn__api_require_database). On success *out is owned by the caller
 * (cairn__sync_scope_free). On failure it has responded (400 general_argument_invalid for
 * the shape, 400 general_query_invalid for a query, 500 for storage) and returns -1. */
int cairn__sync_scope_open(cairn_sync_scope **out, cairn_api_request *ctx);
void cairn__sync_scope_free(cairn_sync_scope *scope);

/* What the caller receives for `record`, a change of the feed. */
typedef enum {
	CAIRN_SYNC_PURGE = 0, /* a purge marker: it may not (or no longer) keep the document */
	CAIRN_SYNC_SEND = 1,  /* the change as it is */
	CAIRN_SYNC_SKIP = 2   /* nothing: it never could have held any version of it */
} cairn_sync_verdict;

/* The verdict for `record` (a tombstone is judged by the permissions it had), or
 * CAIRN_ENOMEM. SEND: readable and, when live, matching its collection's scope. PURGE:
 * readable but outside the scope, or unreadable in a collection with documentSecurity after
 * a write since its creation (an earlier version's own permissions may have let the caller
 * read it). SKIP: unreadable where nothing but the collection's permissions could ever have
 * let the caller read it — no documentSecurity, or a document never written since its
 * creation — (a change of those changes the fingerprint and the client resyncs), or a
 * collection that no longer exists. */
int cairn__sync_scope_visible(cairn_sync_scope *scope, const cairn_storage_record *record);

/* Appends `"fingerprints":{"<collectionId>":"<16 hex>",...}` for the collections of the
 * database, limited to `collections` when count > 0. A fingerprint hashes the caller's
 * identity, the collection's read rules and the request's scope of it: when it changes, the
 * set of documents this client may hold changed without a document changing. */
void cairn__sync_scope_append_fingerprints(cairn_text *text, const cairn_sync_scope *scope,
	const char *const *collections, size_t count);

#endif
