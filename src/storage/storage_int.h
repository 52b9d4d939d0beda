/* storage_int.h: internals shared by the storage backends in this folder (not the server core). */
#ifndef CAIRN_STORAGE_STORAGE_INT_H
#define CAIRN_STORAGE_STORAGE_INT_H

#include <json-c/json.h>

#include "storage/storage.h"

/* Sync pushes pass counters inside a write's `data` (storage.h has no increment op yet):
 * {CAIRN_STORAGE_INCREMENT_KEY: {field: delta}} in a patch adds the deltas to the stored
 * values, and {CAIRN_STORAGE_COUNTERS_KEY: [field...]} in a replace keeps those fields'
 * stored values. REST strips '$' keys before they get here. */
#define CAIRN_STORAGE_INCREMENT_KEY "$cairnIncrement"
#define CAIRN_STORAGE_COUNTERS_KEY "$cairnCounters"

#define CAIRN_STORAGE_ID_RULES "Parameter must contain at most 36 chars. Valid chars are " \
	"a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char"

/* Marks `outcome` rejected (or conflicting) with an Appwrite error type and message. */
void cairn__storage_outcome_set(cairn_storage_outcome *outcome, int status, const char *type,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* 1 if the write's op, ids, data and permissions are well-formed; else 0 and `outcome` says
 * why (rejected). */
int cairn__storage_write_arguments_ok(const cairn_storage_write *write,
	cairn_storage_outcome *outcome);
/* A new reference to the user fields of `data` ('$' keys dropped; NULL gives {}). It may be
 * `data` itself, shared: never change it in place. */
json_object *cairn__storage_user_fields(json_object *data);
/* A copy of `stored` with each {field: delta} of `deltas` added (missing or non-numeric = 0). */
json_object *cairn__storage_incremented(json_object *stored, json_object *deltas);
/* Replaces *data by a private copy whose fields named in `names` hold their `stored` values. */
void cairn__storage_keep_counters(json_object **data, json_object *stored, json_object *names);

/* The user fields a create, replace or patch leaves on a document whose stored fields are
 * `stored_data` (NULL if none): an increment adds its deltas, a patch merges, a replace keeps
 * the declared counters' stored values. A new reference (it may share `write->data`: never
 * change it in place); NULL when out of memory. */
json_object *cairn__storage_new_data(const cairn_storage_write *write, json_object *stored_data);
/* 1 for a put handed over as text only (storage.h data_text): no `data` tree; the text is
 * stored as it is. */
static inline int cairn__storage_write_text_only(const cairn_storage_write *write)
{
	return write->op == CAIRN_WRITE_REPLACE && !write->data && write->data_text;
}
/* Fills `record` as a document that never existed: version 0, a tombstone, no permissions. */
int cairn__storage_record_empty(cairn_storage_record *record, const char *database_id,
	const char *collection_id, const char *id);
/* Replaces the malloc'd string *field by a copy of `value` (NULL gives ""). */
int cairn__storage_record_set_string(char **field, const char *value);
/* Runs the write's permission guard (storage.h) when it has one, with the stored
 * permissions text of the current document (`live`). Returns 0 when the write may go on,
 * 1 when the guard rejected it (`outcome` says why), or a negative code (ENOMEM). */
int cairn__storage_guard_rejects(const cairn_storage_write *write, cairn_storage_outcome *outcome,
	int live, const char *permissions_text);

#endif
