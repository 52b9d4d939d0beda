/* ledger.c: the public calls around conflicts: collection policies, resolving inbox entries
 * and restoring what a resolution overwrote (each one a new write that syncs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"

int cairn_policy_set(cairn_store *store, const char *collection, const char *strategy,
	const char *const *counters, size_t counter_count)
{
	cairn__strategy parsed;
	json_object *list = NULL;
	sqlite3_stmt *stmt = NULL;
	const char *text;
	int rc;

	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	if (!cairn__id_valid(collection))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a valid collection id",
			collection ? collection : "(null)");
	rc = cairn__strategy_parse(&parsed, strategy);
	if (rc != 0)
		return rc;
	if (counter_count > 0 && !counters)
		return cairn__error_set(CAIRN_EINVALID, "%zu counters announced but none given",
			counter_count);
	list = json_object_new_array();
	if (!list)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory setting a policy");
	for (size_t i = 0; i < counter_count; i++) {
		if (!counters[i] || !counters[i][0] || counters[i][0] == '$') {
			rc = cairn__error_set(CAIRN_EINVALID, "counter field names must be non-empty and "
				"must not start with '$'");
			goto cleanup;
		}
		if (!cairn__is_counter(list, counters[i]))
			json_object_array_add(list, json_object_new_string(counters[i]));
	}
	text = cairn__json_text(list, NULL);
	if (!text) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory setting a policy");
		goto cleanup;
	}
	rc = sqlite3_prepare_v2(store->db, "INSERT INTO policies(collection, strategy, counters) "
		"VALUES (?1, ?2, ?3) ON CONFLICT(collection) DO UPDATE SET strategy = excluded.strategy, "
		"counters = excluded.counters", -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		rc = cairn__store_error(store, rc, "setting a policy");
		goto cleanup;
	}
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, cairn__strategy_name(parsed), -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	rc = rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "setting a policy");
cleanup:
	sqlite3_finalize(stmt);
	json_object_put(list);
	return rc;
}

int cairn_policy_get(char **out_json, cairn_store *store, const char *collection)
{
	cairn__strategy strategy;
	json_object *counters = NULL;
	json_object *policy = NULL;
	int rc;

	if (!out_json || !store)
		return cairn__error_set(CAIRN_EINVALID, "cairn_policy_get needs an out pointer and a "
			"store");
	*out_json = NULL;
	if (!cairn__id_valid(collection))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a valid collection id",
			collection ? collection : "(null)");
	rc = cairn__policy_load(&strategy, &counters, store, collection);
	if (rc != 0)
		return rc;
	policy = json_object_new_object();
	if (!policy || json_object_object_add(policy, "collection",
		json_object_new_string(collection)) || json_object_object_add(policy, "strategy",
		json_object_new_string(cairn__strategy_name(strategy))) ||
		json_object_object_add(policy, "counters", json_object_get(counters)) ||
		!(*out_json = cairn__json_dump(policy)))
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory reading a policy");
	json_object_put(policy);
	json_object_put(counters);
	return rc;
}

/* Writes `document` (Document JSON text, or NULL for a delete) as a new local write. A
 * delete of a document that is already gone is no change, not an error. */
static int write_back(cairn_store *store, const char *collection, const char *id,
	const char *document)
{
	int rc;

	if (document)
		return cairn_doc_put(store, collection, id, document);
	rc = cairn_doc_delete(store, collection, id);
	if (rc == CAIRN_ENOTFOUND) {
		cairn__error_clear();
		rc = 0;
	}
	return rc;
}

static int close_entries(cairn_store *store, const char *collection, const char *id,
	const char *result)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store->db, "UPDATE conflicts SET state = 'resolved', "
		"result = ?3 WHERE state = 'open' AND collection = ?1 AND doc_id = ?2", -1, &stmt,
		NULL);

	if (rc != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return cairn__store_error(store, rc, "closing inbox entries");
	}
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	if (result)
		sqlite3_bind_text(stmt, 3, result, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "closing inbox entries");
}

/* The local and remote versions of the newest open entry of a document. */
static int newest_open(int *found, char **local, char **remote, cairn_store *store,
	const char *collection, const char *id)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store->db, "SELECT local, remote FROM conflicts WHERE "
		"state = 'open' AND collection = ?1 AND doc_id = ?2 ORDER BY id DESC LIMIT 1", -1,
		&stmt, NULL);

	*found = 0;
	*local = *remote = NULL;
	if (rc != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return cairn__store_error(store, rc, "reading the inbox");
	}
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*found = 1;
		if (sqlite3_column_text(stmt, 0))
			*local = strdup((const char *)sqlite3_column_text(stmt, 0));
		if (sqlite3_column_text(stmt, 1))
			*remote = strdup((const char *)sqlite3_column_text(stmt, 1));
		if ((sqlite3_column_text(stmt, 0) && !*local) ||
			(sqlite3_column_text(stmt, 1) && !*remote))
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory reading the inbox");
		else
			rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "reading the inbox");
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Resolution writes go through the public write calls (each its own transaction) before the
 * entries close: a crash in between leaves the entry open and resolving again is harmless. */
int cairn_conflict_resolve(cairn_store *store, const char *collection, const char *id,
	cairn_resolve_choice choice, const char *json)
{
	char *local = NULL;
	char *remote = NULL;
	char *result = NULL;
	int found = 0;
	int rc;

	if (!store || !cairn__id_valid(collection) || !cairn__id_valid(id))
		return cairn__error_set(CAIRN_EINVALID, "cairn_conflict_resolve needs a store, a "
			"collection id and a document id");
	if (choice != CAIRN_RESOLVE_MINE && choice != CAIRN_RESOLVE_THEIRS &&
		choice != CAIRN_RESOLVE_WITH)
		return cairn__error_set(CAIRN_EINVALID, "unknown resolve choice %d", (int)choice);
	if (choice == CAIRN_RESOLVE_WITH && !json)
		return cairn__error_set(CAIRN_EINVALID, "resolving with a document needs its JSON");
	rc = newest_open(&found, &local, &remote, store, collection, id);
	if (rc != 0)
		goto cleanup;
	if (!found) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "document '%s' of collection '%s' has no open "
			"conflict", id, collection);
		goto cleanup;
	}
	if (choice == CAIRN_RESOLVE_MINE)
		rc = write_back(store, collection, id, local);
	else if (choice == CAIRN_RESOLVE_WITH)
		rc = cairn_doc_put(store, collection, id, json);
	if (rc != 0)
		goto cleanup;
	rc = cairn_doc_get(&result, store, collection, id);
	if (rc == CAIRN_ENOTFOUND) {
		cairn__error_clear();
		rc = 0;
	}
	if (rc == 0)
		rc = close_entries(store, collection, id, result);
cleanup:
	free(local);
	free(remote);
	cairn_free(result);
	return rc;
}

int cairn_conflict_restore(cairn_store *store, int64_t ledger_id)
{
	sqlite3_stmt *stmt = NULL;
	char collection[64] = "";
	char id[64] = "";
	char *value = NULL;
	int rc;

	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	rc = sqlite3_prepare_v2(store->db, "SELECT collection, doc_id, CASE winner WHEN 'local' "
		"THEN remote ELSE local END FROM conflicts WHERE id = ?1", -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return cairn__store_error(store, rc, "reading the ledger");
	}
	sqlite3_bind_int64(stmt, 1, ledger_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		snprintf(collection, sizeof(collection), "%s", sqlite3_column_text(stmt, 0));
		snprintf(id, sizeof(id), "%s", sqlite3_column_text(stmt, 1));
		if (sqlite3_column_text(stmt, 2) &&
			!(value = strdup((const char *)sqlite3_column_text(stmt, 2))))
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory reading the ledger");
		else
			rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no ledger entry %lld (see cairn conflicts "
			"--all)", (long long)ledger_id);
	} else {
		rc = cairn__store_error(store, rc, "reading the ledger");
	}
	sqlite3_finalize(stmt);
	if (rc == 0)
		rc = write_back(store, collection, id, value);
	free(value);
	return rc;
}
