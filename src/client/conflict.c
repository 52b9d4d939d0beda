/* conflict.c: conflict resolution on push: the per-collection policy (strategy and counter
 * fields), the saved bases of pending edits, the three-way merge, the manual inbox, the
 * custom resolver and the ledger row every resolution writes. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"
#include "util/hlc.h"
#include "util/json.h"
#include "util/time.h"

static const char *const strategy_names[] = {
	[CAIRN__STRATEGY_LWW] = "lww",
	[CAIRN__STRATEGY_SERVER_WINS] = "server-wins",
	[CAIRN__STRATEGY_CLIENT_WINS] = "client-wins",
	[CAIRN__STRATEGY_MERGE] = "merge",
	[CAIRN__STRATEGY_MANUAL] = "manual",
	[CAIRN__STRATEGY_CUSTOM] = "custom",
};

const char *cairn__strategy_name(cairn__strategy strategy)
{
	return strategy_names[strategy];
}

int cairn__strategy_parse(cairn__strategy *out, const char *name)
{
	for (size_t i = 0; i < sizeof(strategy_names) / sizeof(strategy_names[0]); i++) {
		if (name && strcmp(name, strategy_names[i]) == 0) {
			*out = (cairn__strategy)i;
			return 0;
		}
	}
	return cairn__error_set(CAIRN_EINVALID, "unknown strategy '%s': use lww, server-wins, "
		"client-wins, merge, manual or custom", name ? name : "(null)");
}

/* Runs `sql` with text parameters ?1..?n; *row gets the prepared statement stepped once
 * (caller finalizes) or NULL when the caller does not want rows. */
static int prepare(sqlite3_stmt **out, cairn_store *store, const char *sql, const char *what)
{
	int rc = sqlite3_prepare_v2(store->db, sql, -1, out, NULL);

	if (rc != SQLITE_OK) {
		sqlite3_finalize(*out);
		*out = NULL;
		return cairn__store_error(store, rc, what);
	}
	return 0;
}

static int run_done(cairn_store *store, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return cairn__store_error(store, rc, what);
	return 0;
}

/* ---- policies ---- */

int cairn__policy_load(cairn__strategy *strategy, json_object **counters, cairn_store *store,
	const char *collection)
{
	/* A cached statement: every write reads the policy, and preparing the query each time
	 * was a seventh of a local put. Reading the row (not a copy in memory) keeps a change
	 * made by `cairn policy` through another handle or process visible at once. */
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_POLICY_GET);
	int rc;

	*strategy = CAIRN__STRATEGY_LWW;
	if (counters)
		*counters = NULL;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = cairn__policy_from_row(strategy, counters, stmt, 0, collection);
	else if (rc == SQLITE_DONE)
		rc = counters && !(*counters = json_object_new_array()) ?
			cairn__error_set(CAIRN_ENOMEM, "out of memory reading a policy") : 0;
	else
		rc = cairn__store_error(store, rc, "reading a collection's policy");
	sqlite3_reset(stmt);
	return rc;
}

int cairn__policy_from_row(cairn__strategy *strategy, json_object **counters,
	sqlite3_stmt *stmt, int column, const char *collection)
{
	const char *text;
	int rc;

	*strategy = CAIRN__STRATEGY_LWW;
	if (counters)
		*counters = NULL;
	if (sqlite3_column_type(stmt, column) != SQLITE_NULL) {
		rc = cairn__strategy_parse(strategy, (const char *)sqlite3_column_text(stmt, column));
		if (rc != 0)
			return rc;
		text = (const char *)sqlite3_column_text(stmt, column + 1);
		if (counters && text && strcmp(text, "[]") != 0) {
			*counters = cairn__json_parse(text, (size_t)-1, 4);
			if (!*counters || !json_object_is_type(*counters, json_type_array)) {
				json_object_put(*counters);
				*counters = NULL;
				return cairn__error_set(CAIRN_EIO, "the store holds unreadable counters "
					"for collection '%s'", collection);
			}
		}
	}
	if (counters && !*counters && !(*counters = json_object_new_array()))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory reading a policy");
	return 0;
}

int cairn__is_counter(json_object *counters, const char *field)
{
	size_t count = counters ? json_object_array_length(counters) : 0;

	for (size_t i = 0; i < count; i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(counters, i));
		if (name && strcmp(name, field) == 0)
			return 1;
	}
	return 0;
}

/* ---- the resolver registry ---- */

/* Resolvers are per handle but cairn_store's layout is shared with other files, so they live
 * here, keyed by handle; cairn_store_free forgets the handle's entry. */
typedef struct resolver_entry {
	struct resolver_entry *next;
	const cairn_store *store;
	cairn_resolver_cb callback;
	void *payload;
} resolver_entry;

static pthread_mutex_t resolvers_lock = PTHREAD_MUTEX_INITIALIZER;
static resolver_entry *resolvers;

int cairn_store_set_resolver(cairn_store *store, cairn_resolver_cb resolver, void *payload)
{
	resolver_entry **link;
	resolver_entry *entry;

	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	pthread_mutex_lock(&resolvers_lock);
	for (link = &resolvers; *link && (*link)->store != store; link = &(*link)->next)
		;
	entry = *link;
	if (!resolver) {
		if (entry) {
			*link = entry->next;
			free(entry);
		}
		pthread_mutex_unlock(&resolvers_lock);
		return 0;
	}
	if (!entry) {
		entry = calloc(1, sizeof(*entry));
		if (!entry) {
			pthread_mutex_unlock(&resolvers_lock);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory setting a resolver");
		}
		entry->store = store;
		entry->next = resolvers;
		resolvers = entry;
	}
	entry->callback = resolver;
	entry->payload = payload;
	pthread_mutex_unlock(&resolvers_lock);
	return 0;
}

void cairn__resolver_forget(const cairn_store *store)
{
	cairn_store_set_resolver((cairn_store *)store, NULL, NULL);
}

static cairn_resolver_cb resolver_find(void **payload, const cairn_store *store)
{
	cairn_resolver_cb callback = NULL;

	pthread_mutex_lock(&resolvers_lock);
	for (resolver_entry *entry = resolvers; entry; entry = entry->next) {
		if (entry->store == store) {
			callback = entry->callback;
			*payload = entry->payload;
			break;
		}
	}
	pthread_mutex_unlock(&resolvers_lock);
	return callback;
}

/* ---- the ledger ---- */

int cairn__ledger_add(cairn_store *store, const char *collection, const char *id,
	const char *strategy, const char *winner, const char *base, const char *local,
	const char *remote, const char *result, const char *state)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_CONFLICT_INSERT);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, winner, -1, SQLITE_STATIC);
	if (local)
		sqlite3_bind_text(stmt, 4, local, -1, SQLITE_STATIC);
	if (remote)
		sqlite3_bind_text(stmt, 5, remote, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, cairn__time_now_ms());
	sqlite3_bind_text(stmt, 7, strategy, -1, SQLITE_STATIC);
	if (base)
		sqlite3_bind_text(stmt, 8, base, -1, SQLITE_STATIC);
	if (result)
		sqlite3_bind_text(stmt, 9, result, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 10, state, -1, SQLITE_STATIC);
	return cairn__store_step_done(store, stmt, "recording a conflict in the ledger");
}

/* ---- bases ---- */

static char *view_text(cairn_store *store, const cairn__view *view, const char *collection,
	const char *id)
{
	json_object *model;
	char *text;

	if (!view->exists)
		return NULL;
	model = cairn__view_model(view, collection, id, store->database, -1);
	text = model ? cairn__json_dump(model) : NULL;
	json_object_put(model);
	return text;
}

int cairn__base_save(cairn_store *store, const char *collection, const char *id)
{
	cairn__view view;
	cairn__server_meta meta;
	sqlite3_stmt *stmt = NULL;
	char *text = NULL;
	int rc;

	rc = cairn__view_load_server(&view, &meta, store, collection, id);
	if (rc != 0 || !meta.known)
		goto cleanup;
	text = view_text(store, &view, collection, id);
	if (view.exists && !text) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory saving a base version");
		goto cleanup;
	}
	/* Only while local edits are pending: they are what may later need this base. */
	rc = prepare(&stmt, store, "INSERT OR IGNORE INTO bases(collection, doc_id, version, data) "
		"SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM outbox WHERE collection = ?1 "
		"AND doc_id = ?2 AND state = 'pending')", "saving a base version");
	if (rc != 0)
		goto cleanup;
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, meta.version);
	if (text)
		sqlite3_bind_text(stmt, 4, text, -1, SQLITE_STATIC);
	rc = run_done(store, stmt, "saving a base version");
cleanup:
	free(text);
	cairn__view_clear(&view);
	return rc;
}

int cairn__bases_prune(cairn_store *store)
{
	sqlite3_stmt *stmt = NULL;
	int rc = prepare(&stmt, store, "DELETE FROM bases WHERE NOT EXISTS (SELECT 1 FROM outbox "
		"WHERE outbox.collection = bases.collection AND outbox.doc_id = bases.doc_id AND "
		"outbox.state = 'pending')", "pruning base versions");

	return rc != 0 ? rc : run_done(store, stmt, "pruning base versions");
}

/* The server version `version` of a document as a view: from bases, or the server copy when
 * it still is that version. *found 0 when neither holds it (version 0 = never existed is
 * found, as a missing document). */
static int base_load(cairn__view *view, int *found, cairn_store *store, const char *collection,
	const char *id, int64_t version)
{
	cairn__server_meta meta;
	sqlite3_stmt *stmt = NULL;
	int rc;

	memset(view, 0, sizeof(*view));
	*found = version == 0;
	if (version == 0)
		return 0;
	rc = prepare(&stmt, store, "SELECT data FROM bases WHERE collection = ?1 AND doc_id = ?2 "
		"AND version = ?3", "reading a base version");
	if (rc != 0)
		return rc;
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, version);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(stmt, 0);
		json_object *model = text ? cairn__json_parse(text, (size_t)-1,
			CAIRN_JSON_MAX_DEPTH + 8) : NULL;

		*found = 1;
		rc = text && !model ? cairn__error_set(CAIRN_EIO, "unreadable base version") :
			cairn__view_from_model(view, model);
		json_object_put(model);
		sqlite3_finalize(stmt);
		return rc;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return cairn__store_error(store, rc, "reading a base version");
	rc = cairn__view_load_server(view, &meta, store, collection, id);
	if (rc == 0 && meta.known && meta.version == version)
		*found = 1;
	else
		cairn__view_clear(view);
	return rc;
}

/* Folds the document's pending mutations (in commit order) onto `view`; *last_hlc gets the
 * newest mutation's timestamp. */
static int fold_pending(cairn__view *view, int64_t *last_hlc, cairn_store *store,
	const char *collection, const char *id, json_object *counters)
{
	sqlite3_stmt *stmt = NULL;
	int rc = prepare(&stmt, store, "SELECT op, " CAIRN__OUTBOX_PAYLOAD_SQL ", permissions, "
		"created_at, hlc FROM outbox WHERE collection = ?1 AND doc_id = ?2 "
		"AND state = 'pending' ORDER BY seq",
		"reading the outbox");

	if (rc != 0)
		return rc;
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *payload_text = (const char *)sqlite3_column_text(stmt, 1);
		json_object *payload = payload_text ? cairn__json_parse(payload_text, (size_t)-1,
			CAIRN_JSON_MAX_DEPTH + 8) : NULL;
		json_object *permissions = NULL;

		rc = cairn__permissions_parse(&permissions,
			(const char *)sqlite3_column_text(stmt, 2));
		if (rc == 0)
			rc = cairn__view_apply_counted(view, (const char *)sqlite3_column_text(stmt, 0),
				payload, permissions, sqlite3_column_int64(stmt, 3), counters);
		json_object_put(payload);
		json_object_put(permissions);
		if (*last_hlc < sqlite3_column_int64(stmt, 4))
			*last_hlc = sqlite3_column_int64(stmt, 4);
		if (rc != 0)
			break;
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = cairn__store_error(store, rc, "reading the outbox");
	sqlite3_finalize(stmt);
	return rc;
}

static json_object *without_counters(json_object *data, json_object *counters);

/* ---- three-way merge ---- */

static json_object *pick(json_object *object, const char *key, int *present)
{
	json_object *value = NULL;

	*present = object ? json_object_object_get_ex(object, key, &value) : 0;
	return value;
}

static int same(int a_present, json_object *a, int b_present, json_object *b)
{
	if (a_present != b_present)
		return 0;
	return !a_present || cairn__json_equal(a, b);
}

static int add_key(json_object *result, const char *key, json_object *value)
{
	return json_object_object_add(result, key, value ? cairn__json_copy(value) : NULL);
}

/* A field changed on one side only takes that side's value; both changed (to different
 * values) is decided for that field by `local_wins`; objects changed on both sides merge
 * recursively; arrays and scalars are replaced whole. `base` may be NULL (no common base:
 * every differing field counts as changed on both sides). */
json_object *cairn__merge3(json_object *base, json_object *local, json_object *remote,
	int local_wins)
{
	json_object *result = json_object_new_object();
	json_object *sides[3] = { local, remote, base };
	int failed = 0;

	if (!result)
		return NULL;
	for (int s = 0; s < 3 && !failed; s++) {
		if (!sides[s])
			continue;
		json_object_object_foreach(sides[s], key, unused) {
			int b_in, l_in, r_in, done_in;
			json_object *b = pick(base, key, &b_in);
			json_object *l = pick(local, key, &l_in);
			json_object *r = pick(remote, key, &r_in);

			(void)unused;
			pick(result, key, &done_in);
			if (done_in || failed)
				continue;
			if (same(l_in, l, r_in, r) || same(r_in, r, b_in, b)) {
				if (l_in)
					failed |= add_key(result, key, l);
			} else if (same(l_in, l, b_in, b)) {
				if (r_in)
					failed |= add_key(result, key, r);
			} else if (l_in && r_in && json_object_is_type(l, json_type_object) &&
				json_object_is_type(r, json_type_object)) {
				json_object *nested = cairn__merge3(b_in && json_object_is_type(b,
					json_type_object) ? b : NULL, l, r, local_wins);
				failed |= !nested || json_object_object_add(result, key, nested);
			} else if (local_wins ? l_in : r_in) {
				failed |= add_key(result, key, local_wins ? l : r);
			}
		}
	}
	if (failed) {
		json_object_put(result);
		return NULL;
	}
	return result;
}

int cairn__conflict_counter_only(int *out, cairn_store *store, const cairn__mutation *m,
	json_object *remote_document)
{
	cairn__view base = { 0 };
	cairn__view remote = { 0 };
	json_object *counters = NULL;
	json_object *a = NULL;
	json_object *b = NULL;
	cairn__strategy strategy;
	int found = 0;
	int rc;

	*out = 0;
	if (!remote_document)
		return 0;
	rc = cairn__policy_load(&strategy, &counters, store, m->collection);
	if (rc != 0 || json_object_array_length(counters) == 0)
		goto cleanup;
	rc = base_load(&base, &found, store, m->collection, m->doc_id, m->base_version);
	if (rc != 0 || !found || !base.exists)
		goto cleanup;
	rc = cairn__view_from_model(&remote, remote_document);
	if (rc != 0)
		goto cleanup;
	a = without_counters(base.data, counters);
	b = without_counters(remote.data, counters);
	if (!a || !b) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory comparing versions");
		goto cleanup;
	}
	*out = cairn__json_equal(a, b) && cairn__json_equal(base.permissions, remote.permissions);
cleanup:
	json_object_put(a);
	json_object_put(b);
	json_object_put(counters);
	cairn__view_clear(&base);
	cairn__view_clear(&remote);
	return rc;
}

/* ---- resolving one document ---- */

/* Removes the document's pending mutations except increments (which never conflict and stay
 * queued), and returns in `last` the id of the newest mutation left ("" when none). */
static int drop_pending_writes(cairn_store *store, const char *collection, const char *id,
	char *last, size_t last_size)
{
	sqlite3_stmt *stmt = NULL;
	int rc = prepare(&stmt, store, "DELETE FROM outbox WHERE collection = ?1 AND doc_id = ?2 "
		"AND state = 'pending' AND op <> 'increment'", "dropping resolved mutations");

	last[0] = '\0';
	if (rc != 0)
		return rc;
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = run_done(store, stmt, "dropping resolved mutations");
	if (rc != 0)
		return rc;
	rc = prepare(&stmt, store, "SELECT mutation_id FROM outbox WHERE collection = ?1 AND "
		"doc_id = ?2 AND state = 'pending' ORDER BY seq DESC LIMIT 1", "reading the outbox");
	if (rc != 0)
		return rc;
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		snprintf(last, last_size, "%s", sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
		cairn__store_error(store, rc, "reading the outbox");
}

/* A copy of `data` without the counter fields (they change only through increments). */
static json_object *without_counters(json_object *data, json_object *counters)
{
	json_object *copy = cairn__json_copy(data);

	if (!copy)
		return NULL;
	for (size_t i = 0; i < json_object_array_length(counters); i++)
		json_object_object_del(copy, json_object_get_string(
			json_object_array_get_idx(counters, i)));
	return copy;
}

int cairn__conflict_resolve(cairn__push_tally *tally, cairn_store *store,
	const cairn__mutation *m, cairn__strategy strategy, json_object *remote_document,
	int64_t version, int64_t remote_hlc, const char *author)
{
	cairn__view base = { 0 };
	cairn__view local = { 0 };
	cairn__view remote = { 0 };
	json_object *counters = NULL;
	json_object *result = NULL;   /* user fields of the resolution; NULL = delete */
	char *base_text = NULL, *local_text = NULL, *remote_text = NULL, *result_text = NULL;
	const char *winner = "merged";
	const char *state = "done";
	char last[64];
	int64_t local_hlc = m->hlc;
	int base_found = 0;
	int write_result = 0;  /* 1: the resolution differs from the server and is pushed */
	int rc;

	rc = cairn__policy_load(&strategy, &counters, store, m->collection);
	if (rc != 0)
		goto cleanup;
	rc = base_load(&base, &base_found, store, m->collection, m->doc_id, m->base_version);
	if (rc != 0)
		goto cleanup;
	/* The local version: the user's pending edits replayed on the version they were made
	 * on (the current server copy when that base is unknown). */
	if (base_found) {
		local = base;
		if (base.exists && (!(local.data = cairn__json_copy(base.data)) ||
			!(local.permissions = cairn__json_copy(base.permissions)))) {
			local.permissions = NULL;
			cairn__view_clear(&local);
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory resolving a conflict");
			goto cleanup;
		}
	} else {
		rc = cairn__view_load_server(&local, NULL, store, m->collection, m->doc_id);
		if (rc != 0)
			goto cleanup;
	}
	rc = fold_pending(&local, &local_hlc, store, m->collection, m->doc_id, counters);
	if (rc == 0)
		rc = cairn__view_from_model(&remote, remote_document);
	if (rc != 0)
		goto cleanup;
	base_text = view_text(store, &base, m->collection, m->doc_id);
	local_text = view_text(store, &local, m->collection, m->doc_id);
	remote_text = remote_document ? cairn__json_dump(remote_document) : NULL;

	if (strategy == CAIRN__STRATEGY_CUSTOM) {
		void *payload = NULL;
		cairn_resolver_cb callback = resolver_find(&payload, store);
		char *merged = NULL;
		int answer;

		if (!callback) {
			strategy = CAIRN__STRATEGY_MANUAL;
		} else if ((answer = callback(&merged, m->collection, m->doc_id, base_text,
			local_text, remote_text, payload)) == CAIRN_RESOLVE_DEFER) {
			free(merged);
			strategy = CAIRN__STRATEGY_MANUAL;
		} else if (answer != 0) {
			free(merged);
			rc = cairn__error_set(CAIRN_EUSER, "the custom resolver stopped the sync (it "
				"returned %d for %s/%s)", answer, m->collection, m->doc_id);
			goto cleanup;
		} else {
			winner = "custom";
			if (merged) {
				json_object *parsed = cairn__json_parse_object(merged, strlen(merged),
					CAIRN_JSON_MAX_DEPTH);
				free(merged);
				if (!parsed) {
					rc = cairn__error_set(CAIRN_EINVALID, "the custom resolver returned "
						"invalid JSON for %s/%s", m->collection, m->doc_id);
					goto cleanup;
				}
				result = cairn__json_user_fields(parsed);
				json_object_put(parsed);
				if (!result) {
					rc = cairn__error_set(CAIRN_ENOMEM, "out of memory resolving");
					goto cleanup;
				}
			}
			write_result = 1;
		}
	}
	if (strategy == CAIRN__STRATEGY_MANUAL) {
		winner = "remote";
		state = "open";
	} else if (strategy == CAIRN__STRATEGY_MERGE) {
		if (local.exists && remote.exists) {
			int local_wins = cairn__hlc_compare(local_hlc, store->client_id, remote_hlc,
				author) > 0;
			result = cairn__merge3(base.exists ? base.data : NULL, local.data, remote.data,
				local_wins);
			if (!result) {
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory merging a document");
				goto cleanup;
			}
			write_result = !cairn__json_equal(result, remote.data);
		} else if (local.exists) {
			/* Edited here, deleted there: the edit survives (a delete is never merged
			 * over data someone changed). */
			result = json_object_get(local.data);
			write_result = 1;
			winner = "local";
		} else {
			/* Deleted here (or both deleted): the server's version stays. */
			winner = "remote";
		}
	}
	if (write_result && result) {
		json_object *stripped = without_counters(result, counters);

		json_object_put(result);
		result = stripped;
		if (!result) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory resolving a conflict");
			goto cleanup;
		}
	}
	rc = drop_pending_writes(store, m->collection, m->doc_id, last, sizeof(last));
	if (rc != 0)
		goto cleanup;
	if (write_result && (result || remote.exists)) {
		int64_t hlc = 0;
		int64_t seq = 0;

		rc = cairn__store_hlc_tick(store, &hlc, &seq);
		if (rc == 0)
			rc = cairn__outbox_insert(store, result ? "put" : "delete", m->collection,
				m->doc_id, version, last, hlc, seq, result,
				result && local.exists ? local.permissions : NULL, cairn__time_now_ms());
		if (rc != 0)
			goto cleanup;
		tally->requeued++;
	} else {
		tally->dropped++;
	}
	if (strcmp(state, "open") == 0 || !write_result) {
		result_text = remote_text ? strdup(remote_text) : NULL;
	} else if (result) {
		cairn__view shown = { .exists = 1, .data = result,
			.permissions = local.exists ? local.permissions : remote.permissions };
		snprintf(shown.created_at, sizeof(shown.created_at), "%s", local.exists ?
			local.created_at : remote.created_at);
		snprintf(shown.updated_at, sizeof(shown.updated_at), "%s", local.updated_at);
		result_text = view_text(store, &shown, m->collection, m->doc_id);
	}
	tally->conflicts++;
	rc = cairn__ledger_add(store, m->collection, m->doc_id, cairn__strategy_name(strategy),
		winner, base_text, local_text, remote_text, result_text, state);
cleanup:
	json_object_put(result);
	json_object_put(counters);
	free(base_text);
	free(local_text);
	free(remote_text);
	free(result_text);
	cairn__view_clear(&base);
	cairn__view_clear(&local);
	cairn__view_clear(&remote);
	return rc;
}
