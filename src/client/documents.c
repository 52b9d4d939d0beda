/* documents.c: the document calls of the public API: put, patch and delete (each one
 * transaction with its outbox entry), get, and local queries over the view. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/query.h"

static int check_target(cairn_store *store, const char *collection, const char *id)
{
	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	if (!cairn__id_valid(collection))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a valid collection id (1 to 36 "
			"characters of a-z A-Z 0-9 . - _, not starting with . - or _)",
			collection ? collection : "(null)");
	if (!cairn__id_valid(id))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a valid document id (1 to 36 "
			"characters of a-z A-Z 0-9 . - _, not starting with . - or _)",
			id ? id : "(null)");
	return 0;
}

/* Splits the caller's JSON into user fields and the optional "$permissions" array. */
static int parse_input(json_object **out_fields, json_object **out_permissions,
	cairn_store *store, const char *json)
{
	json_object *input = NULL;
	json_object *permissions = NULL;
	size_t length;
	int rc = 0;

	*out_fields = NULL;
	*out_permissions = NULL;
	if (!json)
		return cairn__error_set(CAIRN_EINVALID, "the document JSON is NULL");
	length = strlen(json);
	/* Refuse absurd inputs before parsing them; whitespace may make a valid document's
	 * text larger than its stored form, so the exact check comes after parsing. */
	if (length / 8 > store->options.max_document_bytes)
		return cairn__error_set(CAIRN_ETOOBIG, "the document JSON is %zu bytes; the limit "
			"is %zu bytes", length, store->options.max_document_bytes);
	input = cairn__json_parse_object(json, length, CAIRN_JSON_MAX_DEPTH);
	if (!input)
		return cairn__error_code();
	/* Checked here too: the parser's own bound lets one extra level through. */
	if (cairn__json_depth(input) > CAIRN_JSON_MAX_DEPTH) {
		rc = cairn__error_set(CAIRN_EINVALID, "invalid JSON: nested deeper than %d levels",
			CAIRN_JSON_MAX_DEPTH);
		goto cleanup;
	}
	if (json_object_object_get_ex(input, "$permissions", &permissions) && permissions) {
		size_t count;

		if (!json_object_is_type(permissions, json_type_array)) {
			rc = cairn__error_set(CAIRN_EINVALID, "\"$permissions\" must be an array of "
				"permission strings such as \"read(\\\"any\\\")\"");
			goto cleanup;
		}
		count = json_object_array_length(permissions);
		for (size_t i = 0; i < count; i++) {
			if (!json_object_is_type(json_object_array_get_idx(permissions, i),
				json_type_string)) {
				rc = cairn__error_set(CAIRN_EINVALID, "\"$permissions\"[%zu] is not a "
					"string", i);
				goto cleanup;
			}
		}
		*out_permissions = json_object_get(permissions);
	}
	/* The parsed input is ours: drop its system fields in place instead of copying the
	 * user fields out of it. */
	for (;;) {
		const char *system_key = NULL;

		json_object_object_foreach(input, key, value) {
			(void)value;
			if (key[0] == '$') {
				system_key = key;
				break;
			}
		}
		if (!system_key)
			break;
		json_object_object_del(input, system_key);
	}
	*out_fields = input;
	input = NULL;
cleanup:
	json_object_put(input);
	if (rc != 0) {
		json_object_put(*out_permissions);
		*out_permissions = NULL;
	}
	return rc;
}

/* Increments are not content writes and the server does not chain on them (docs/conflicts.md):
 * a new mutation's predecessor is the newest pending mutation that is not an increment. */
static int content_predecessor(char *prev, size_t prev_size, cairn_store *store,
	const char *collection, const char *id)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store->db, "SELECT mutation_id FROM outbox WHERE "
		"collection = ?1 AND doc_id = ?2 AND state = 'pending' AND op <> 'increment' "
		"ORDER BY seq DESC LIMIT 1", -1, &stmt, NULL);

	prev[0] = '\0';
	if (rc != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return cairn__store_error(store, rc, "reading the outbox");
	}
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		snprintf(prev, prev_size, "%s", sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
		cairn__store_error(store, rc, "reading the outbox");
}

/* The base of a new mutation: the same as the document's newest pending mutation (the chain
 * was made on that server version), else the server copy's version, else 0. */
static int find_base(int64_t *base, char *prev, size_t prev_size, cairn_store *store,
	const char *collection, const char *id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_LAST_PENDING);
	int rc;

	*base = 0;
	prev[0] = '\0';
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		int after_increment = strcmp((const char *)sqlite3_column_text(stmt, 2),
			"increment") == 0;

		snprintf(prev, prev_size, "%s", sqlite3_column_text(stmt, 0));
		*base = sqlite3_column_int64(stmt, 1);
		sqlite3_reset(stmt);
		return after_increment ? content_predecessor(prev, prev_size, store, collection, id) :
			0;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return cairn__store_error(store, rc, "reading the outbox");
	stmt = cairn__store_stmt(store, STMT_SERVER_VERSION);
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*base = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cairn__store_error(store, rc, "reading the server copy");
	return 0;
}

/* cairn__outbox_insert with the payload already printed (`payload` NULL: none) as the row
 * `seq` (from cairn__store_hlc_tick, in this transaction). The mutation id carries the seq: the row is found by it without an index on the id
 * (cairn__mutation_id; unique among the rows present since seq is, and across time by its
 * time and random part, as the server's deduplication needs). */
static int outbox_insert_text(cairn_store *store, const char *op, const char *collection,
	const char *id, int64_t base, const char *prev, int64_t hlc, int64_t seq,
	const char *payload, size_t payload_length, json_object *permissions, int64_t now)
{
	char mutation_id[CAIRN__MUTATION_ID_SIZE];
	const char *rights = NULL;
	size_t rights_length = 0;
	sqlite3_stmt *stmt;
	int rc;

	if (permissions && !(rights = cairn__json_text(permissions, &rights_length)))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing the outbox");
	rc = cairn__mutation_id(mutation_id, sizeof(mutation_id), seq);
	if (rc != 0)
		return rc;
	stmt = cairn__store_stmt(store, STMT_OUTBOX_INSERT);
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, mutation_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, op, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, base);
	if (prev[0])
		sqlite3_bind_text(stmt, 6, prev, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 7, hlc);
	if (payload)
		sqlite3_bind_text(stmt, 8, payload, (int)payload_length, SQLITE_STATIC);
	if (rights)
		sqlite3_bind_text(stmt, 9, rights, (int)rights_length, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 10, now);
	/* Beyond the seqs an id can carry, SQLite picks the seq (the id then carries none). */
	if (seq > 0 && cairn__mutation_id_seq(mutation_id) == seq)
		sqlite3_bind_int64(stmt, 11, seq);
	return cairn__store_step_done(store, stmt, "writing the outbox");
}

int cairn__outbox_insert(cairn_store *store, const char *op, const char *collection,
	const char *id, int64_t base, const char *prev, int64_t hlc, int64_t seq,
	json_object *fields, json_object *permissions, int64_t now)
{
	const char *payload = NULL;
	size_t payload_length = 0;

	if (fields && !(payload = cairn__json_text(fields, &payload_length)))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing the outbox");
	/* A put without a payload would read as one sharing the view row's. */
	if (!payload && strcmp(op, "put") == 0) {
		payload = "{}";
		payload_length = 2;
	}
	return outbox_insert_text(store, op, collection, id, base, prev, hlc, seq, payload,
		payload_length, permissions, now);
}

int cairn__outbox_detach(cairn_store *store, const char *collection, const char *id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_DETACH);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	return cairn__store_step_done(store, stmt, "keeping a pending write's payload");
}

/* Writes a live local view whose fields are already printed as `data` (the same row
 * cairn__view_save writes, without printing the fields again). */
static int view_save_text(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, const char *data, size_t data_length)
{
	size_t rights_length = 0;
	const char *rights = cairn__json_text(view->permissions, &rights_length);

	if (!rights)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing a document");
	return cairn__view_save_text(store, collection, id, view, data, data_length, rights,
		rights_length, 1);
}

/* Prints the new view and the outbox payload once each (a put without counters has the same
 * text for both) and writes the view's row and the outbox row. */
static int save_write(cairn_store *store, const char *op, const char *collection,
	const char *id, int64_t base, const char *prev, int64_t hlc, int64_t seq,
	json_object *fields,
	json_object *permissions, int64_t now, const cairn__view *view, int same_text)
{
	const char *payload = NULL;
	const char *data = NULL;
	size_t payload_length = 0;
	size_t data_length = 0;
	int rc;

	if (fields && !(payload = cairn__json_text(fields, &payload_length)))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing the outbox");
	if (view->exists) {
		if (same_text) {
			data = payload;
			data_length = payload_length;
		} else if (!(data = cairn__json_text(view->data, &data_length))) {
			return cairn__error_set(CAIRN_ENOMEM, "out of memory writing a document");
		}
		if (data_length > store->options.max_document_bytes)
			return cairn__error_set(CAIRN_ETOOBIG, "document %s/%s would be %zu bytes of "
				"JSON; the limit is %zu bytes", collection, id, data_length,
				store->options.max_document_bytes);
	}
	/* The view row first: writing it detaches an earlier put that shares its text. */
	if (!view->exists)
		rc = cairn__view_save(store, collection, id, view, 1);
	else
		rc = view_save_text(store, collection, id, view, data, data_length);
	if (rc != 0)
		return rc;
	/* A put's payload is the text just written to the view row: kept there only
	 * (CAIRN__OUTBOX_PAYLOAD_SQL), a smaller outbox row and fewer pages per write. */
	if (same_text && view->exists)
		payload = NULL;
	return outbox_insert_text(store, op, collection, id, base, prev, hlc, seq, payload,
		payload_length, permissions, now);
}

static int write_document(cairn_store *store, const char *op, const char *collection,
	const char *id, const char *json, json_object *increment)
{
	json_object *counters = NULL;
	cairn__strategy strategy;
	json_object *fields = NULL;
	json_object *permissions = NULL;
	cairn__view view = { 0 };
	char prev[64];
	int64_t base = 0;
	int64_t hlc = 0;
	int64_t seq = 0;
	int64_t now;
	int rc;

	rc = check_target(store, collection, id);
	if (rc != 0)
		return rc;
	if (increment) {
		fields = json_object_get(increment);
	} else if (strcmp(op, "delete") != 0) {
		rc = parse_input(&fields, &permissions, store, json);
		if (rc != 0)
			return rc;
	}
	rc = cairn__store_begin(store);
	if (rc != 0)
		goto cleanup;
	rc = cairn__policy_load(&strategy, &counters, store, collection);
	if (rc != 0)
		goto cleanup;
	if (increment) {
		json_object_object_foreach(increment, field, delta) {
			(void)delta;
			if (!cairn__is_counter(counters, field)) {
				rc = cairn__error_set(CAIRN_EINVALID, "'%s' is not a counter of collection "
					"'%s': declare it first (cairn policy %s STRATEGY --counter %s)", field,
					collection, collection, field);
				goto cleanup;
			}
		}
	} else if (fields) {
		/* Counter fields change only through increments: a put keeps their value and a
		 * patch leaves them alone (docs/conflicts.md). */
		for (size_t i = 0; i < json_object_array_length(counters); i++)
			json_object_object_del(fields, json_object_get_string(
				json_object_array_get_idx(counters, i)));
	}
	/* A put reads the old fields only to carry its counters over. */
	rc = cairn__view_load_local(&view, NULL, store, collection, id, strcmp(op, "patch") == 0 ||
		strcmp(op, "increment") == 0 || (strcmp(op, "put") == 0 &&
		json_object_array_length(counters) > 0));
	if (rc != 0)
		goto cleanup;
	if (!view.exists && strcmp(op, "put") != 0) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "document '%s' not found in collection '%s'",
			id, collection);
		goto cleanup;
	}
	rc = find_base(&base, prev, sizeof(prev), store, collection, id);
	if (rc != 0)
		goto cleanup;
	rc = cairn__store_hlc_tick(store, &hlc, &seq);
	if (rc != 0)
		goto cleanup;
	now = cairn__time_now_ms();
	rc = cairn__view_apply_counted(&view, op, fields, permissions, now, counters);
	if (rc != 0)
		goto cleanup;
	/* The size limit applies to the new view (for a put: the stored fields). */
	rc = save_write(store, op, collection, id, base, prev, hlc, seq, fields, permissions, now,
		&view, strcmp(op, "put") == 0 && json_object_array_length(counters) == 0);
	if (rc != 0)
		goto cleanup;
	rc = cairn__store_commit(store);
cleanup:
	if (rc != 0)
		cairn__store_rollback(store);
	cairn__listeners_local(store, rc, op, collection, id);
	cairn__view_clear(&view);
	json_object_put(counters);
	json_object_put(fields);
	json_object_put(permissions);
	return rc;
}

int cairn_doc_put(cairn_store *store, const char *collection, const char *id, const char *json)
{
	return write_document(store, "put", collection, id, json, NULL);
}

int cairn_doc_patch(cairn_store *store, const char *collection, const char *id,
	const char *json)
{
	return write_document(store, "patch", collection, id, json, NULL);
}

int cairn_doc_delete(cairn_store *store, const char *collection, const char *id)
{
	return write_document(store, "delete", collection, id, NULL, NULL);
}

int cairn_doc_increment(cairn_store *store, const char *collection, const char *id,
	const char *field, int64_t delta)
{
	json_object *increment;
	int rc;

	if (!field || !field[0] || field[0] == '$')
		return cairn__error_set(CAIRN_EINVALID, "a counter needs a field name that does not "
			"start with '$'");
	increment = json_object_new_object();
	if (!increment || json_object_object_add(increment, field,
		json_object_new_int64(delta)) != 0) {
		json_object_put(increment);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory recording an increment");
	}
	rc = write_document(store, "increment", collection, id, NULL, increment);
	json_object_put(increment);
	return rc;
}

static int dump_to(char **out, json_object *value)
{
	*out = cairn__json_dump(value);
	if (!*out)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing JSON");
	return 0;
}

int cairn_doc_get(char **out_json, cairn_store *store, const char *collection, const char *id)
{
	cairn__view view = { 0 };
	json_object *model = NULL;
	int rc;

	if (!out_json)
		return cairn__error_set(CAIRN_EINVALID, "cairn_doc_get needs an out pointer");
	*out_json = NULL;
	rc = check_target(store, collection, id);
	if (rc != 0)
		return rc;
	rc = cairn__view_load_local(&view, NULL, store, collection, id, 1);
	if (rc != 0)
		return rc;
	if (!view.exists) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "document '%s' not found in collection '%s'",
			id, collection);
		goto cleanup;
	}
	model = cairn__view_model(&view, collection, id, store->database, -1);
	if (!model) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory building a document");
		goto cleanup;
	}
	rc = dump_to(out_json, model);
cleanup:
	json_object_put(model);
	cairn__view_clear(&view);
	return rc;
}

/* Every live document of `collection` as a model carrying "$sequence" (its local order). */
static int load_collection(json_object ***out, size_t *count, cairn_store *store,
	const char *collection)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_DOCS_LIVE);
	json_object **models = NULL;
	size_t capacity = 0;
	size_t used = 0;
	int rc = 0;

	*out = NULL;
	*count = 0;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		cairn__view view = { .exists = 1 };
		const char *data = (const char *)sqlite3_column_text(stmt, 1);
		const char *id = (const char *)sqlite3_column_text(stmt, 0);
		json_object *model;

		if (used == capacity) {
			size_t grown_capacity = capacity ? capacity * 2 : 64;
			json_object **grown = realloc(models, grown_capacity * sizeof(*models));
			if (!grown) {
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory loading documents");
				goto cleanup;
			}
			models = grown;
			capacity = grown_capacity;
		}
		view.data = data ? json_tokener_parse(data) : NULL;
		if (!view.data) {
			/* json_tokener_parse stops at its default depth; retry the strict way. */
			view.data = data ? cairn__json_parse(data, (size_t)-1, CAIRN_JSON_MAX_DEPTH + 8) :
				NULL;
		}
		rc = cairn__permissions_parse(&view.permissions,
			(const char *)sqlite3_column_text(stmt, 4));
		snprintf(view.created_at, sizeof(view.created_at), "%s",
			(const char *)sqlite3_column_text(stmt, 2));
		snprintf(view.updated_at, sizeof(view.updated_at), "%s",
			(const char *)sqlite3_column_text(stmt, 3));
		if (rc == 0 && !view.data)
			rc = cairn__error_set(CAIRN_EIO, "the store holds an unreadable document "
				"%s/%s", collection, id);
		model = rc == 0 ? cairn__view_model(&view, collection, id, store->database,
			sqlite3_column_int64(stmt, 5)) : NULL;
		cairn__view_clear(&view);
		if (rc != 0)
			goto cleanup;
		if (!model) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory loading documents");
			goto cleanup;
		}
		models[used++] = model;
	}
	rc = rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "reading documents");
cleanup:
	sqlite3_reset(stmt);
	if (rc != 0) {
		for (size_t i = 0; i < used; i++)
			json_object_put(models[i]);
		free(models);
		return rc;
	}
	*out = models;
	*count = used;
	return 0;
}

int cairn_doc_query(char **out_json, cairn_store *store, const char *collection,
	const char *const *queries, size_t query_count)
{
	cairn_query *query = NULL;
	json_object **models = NULL;
	json_object *page = NULL;
	size_t count = 0;
	int rc;

	if (!out_json)
		return cairn__error_set(CAIRN_EINVALID, "cairn_doc_query needs an out pointer");
	*out_json = NULL;
	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	if (!cairn__id_valid(collection))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a valid collection id",
			collection ? collection : "(null)");
	if (query_count > 0 && !queries)
		return cairn__error_set(CAIRN_EINVALID, "%zu queries announced but none given",
			query_count);
	rc = cairn__query_parse(&query, queries, query_count);
	if (rc != 0)
		return rc;
	rc = load_collection(&models, &count, store, collection);
	if (rc != 0)
		goto cleanup;
	rc = cairn__query_run(&page, NULL, query, models, count, -1);
	if (rc != 0)
		goto cleanup;
	/* $sequence only orders the local view; it is not part of a local document. */
	for (size_t i = 0; i < json_object_array_length(page); i++)
		json_object_object_del(json_object_array_get_idx(page, i), "$sequence");
	rc = dump_to(out_json, page);
cleanup:
	json_object_put(page);
	for (size_t i = 0; i < count; i++)
		json_object_put(models[i]);
	free(models);
	cairn__query_free(query);
	return rc;
}
