/* permissions.h: Appwrite's permission model on the server: the roles a caller holds, what a
 * collection's and a document's permissions grant, and the checks every write path shares. */
#ifndef CAIRN_SERVER_PERMISSIONS_H
#define CAIRN_SERVER_PERMISSIONS_H

/*
 * The model (appwrite-compat.md §5, docs/security.md "Permissions"):
 * - a permission is `action("role")`; actions read, create, update, delete and `write`,
 *   an alias for update + delete on a document and create + update + delete on a collection;
 * - read, update and delete are granted by the collection's permission of that action OR,
 *   when the collection has documentSecurity, by the document's own; create only by the
 *   collection's;
 * - an API key (CAIRN_CALLER_KEY) is allowed everything.
 * Nothing here touches storage or the network: callers pass the collection and document.
 * Every function is pure and thread-safe.
 */

#include <stddef.h>
#include <json-c/json.h>

#include "server/api_int.h"
#include "storage/storage.h"

typedef enum {
	CAIRN_PERMISSION_READ = 0,
	CAIRN_PERMISSION_CREATE,
	CAIRN_PERMISSION_UPDATE,
	CAIRN_PERMISSION_DELETE
} cairn_permission_action;

#define CAIRN_PERMISSIONS_MAX_ROLES 5
#define CAIRN_PERMISSIONS_ROLE_SIZE (CAIRN_ID_MAX + 20) /* "user:<id>/unverified" + NUL */

/* The roles a caller holds (§2.2). Guests: any, guests. Users (we have no email
 * verification, so every user is unverified): any, users, users/unverified, user:ID,
 * user:ID/unverified. A key holds none: it bypasses checks instead. */
typedef struct {
	size_t count;
	char roles[CAIRN_PERMISSIONS_MAX_ROLES][CAIRN_PERMISSIONS_ROLE_SIZE];
} cairn_permission_roles;

void cairn__permissions_roles(cairn_permission_roles *out, const cairn_api_caller *caller);
/* 1 when `caller` holds `role` (always 0 for a key). */
int cairn__permissions_holds(const cairn_api_caller *caller, const char *role);

/* Splits one permission string into its action (read/create/update/delete/write, NUL-ended
 * in `action`) and its role (in `role`). Returns 0, or -1 when it is not action("role"). */
int cairn__permission_split(const char *permission, char action[8],
	char role[CAIRN_PERMISSIONS_ROLE_SIZE]);

/* 1 when `permissions` (an array of strings; NULL = none) grants `action` to `caller`.
 * `on_collection` makes write() cover create as well. A key: always 1. */
int cairn__permissions_grants(const cairn_api_caller *caller, json_object *permissions,
	cairn_permission_action action, int on_collection);

/* The rule: may `caller` do `action` on `record` (a live document or tombstone; NULL for a
 * create or when there is no document) of `collection`? Create: the collection's create
 * only. Others: the collection's permission, or the document's when documentSecurity is on.
 * Returns 1 or 0. */
int cairn__permissions_allow(const cairn_api_caller *caller,
	const cairn_storage_collection *collection, const cairn_storage_record *record,
	cairn_permission_action action);

/* A new array: `permissions` with write() expanded (update + delete on a document) and
 * duplicates dropped, as Appwrite stores them. NULL on ENOMEM. */
json_object *cairn__permissions_expand_document(json_object *permissions);

/* "A non-key caller may only put roles it holds into permissions." Returns 0 when every
 * role of `permissions` (NULL = none) is held by `caller` (or caller is a key), else
 * CAIRN_EAUTH with Appwrite's message in `message`. */
int cairn__permissions_check_roles(const cairn_api_caller *caller, json_object *permissions,
	char *message, size_t size);

/* The permissions a document created by `caller` gets: `given` expanded when not NULL;
 * otherwise read, update and delete for user:ID when a user creates it, and none for a
 * guest or a key. A new array, NULL on ENOMEM. */
json_object *cairn__permissions_for_create(const cairn_api_caller *caller, json_object *given);

/* Who may read a document of `collection` whose permissions are `document_permissions`
 * (those it had before a delete): the collection's read roles, plus the document's when
 * documentSecurity is on. A new array of role strings ("any", "user:u1", ...), NULL on
 * ENOMEM. Realtime computes it once per event. */
json_object *cairn__permissions_read_roles(const cairn_storage_collection *collection,
	json_object *document_permissions);
/* 1 when `caller` is a key or holds one of `roles` (an array of role strings). */
int cairn__permissions_holds_any(const cairn_api_caller *caller, json_object *roles);

/* Appwrite's text for a refused action (401 user_unauthorized). */
#define CAIRN_PERMISSIONS_DENIED_MESSAGE "The current user is not authorized to perform the " \
	"requested action."

/* ---- the storage write guard ----
 * Permission checks for writes run inside the storage transaction (storage.h, `guard` of a
 * cairn_storage_write), against the document as it is at write time, so a concurrent
 * create or permission change cannot slip between check and write. The payload is one of
 * these; `collections` are the collections the writes may touch, loaded before the
 * transaction (a collection's permissions are admin-only and change rarely). */
typedef struct {
	const cairn_api_caller *caller;
	const cairn_storage_collection *collections; /* borrowed */
	size_t collection_count;
} cairn_permissions_guard;

/* A cairn_storage_write guard (see storage.h): decides create vs update from `live`
 * (whether a live document has the id now) and checks the caller's permission: create
 * (collection) for a create, or a replace of a missing document; update for a patch,
 * replace or increment of a live one; delete for a delete. A patch or delete of a missing
 * document passes (storage answers 404). Refusals set outcome to CAIRN_EAUTH
 * "user_unauthorized" and return CAIRN_EAUTH. */
int cairn__permissions_guard_write(cairn_storage_outcome *outcome,
	const cairn_storage_write *write, int live, json_object *current_permissions,
	void *payload);

#endif
