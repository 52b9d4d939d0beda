/* view.c: the local view of one document: folding pending mutations over the server copy,
 * loading and saving it, and shaping it as an Appwrite Document model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"
#include "util/json.h"

/* Stored JSON was validated on the way in; parse it back with room to spare on depth. */
static json_object *parse_stored(const char *text)
{
	json_tokener *tokener;
	json_object *value;

	if (!text)
		return NULL;
	tokener = json_tokener_new_ex(CAIRN_JSON_MAX_DEPTH + 8);
	if (!tokener)
		return NULL;
	value = json_tokener_parse_ex(tokener, text, (int)strlen(text) + 1);
	if (json_tokener_get_error(tokener) != json_tokener_success) {
		json_object_put(value);
		value = NULL;
	}
	json_tokener_free(tokener);
	return value;
}

int cairn__permissions_parse(json_object **out, const char *text)
{
	*out = NULL;
	if (!text)
		return 0;
	*out = parse_stored(text);
	if (!*out || !json_object_is_type(*out, json_type_array)) {
		json_object_put(*out);
		*out = NULL;
		return cairn__error_set(CAIRN_EIO, "the store holds unreadable permissions '%.60s'",
			text);
	}
	return 0;
}

void cairn__view_clear(cairn__view *view)
{
	json_object_put(view->data);
	json_object_put(view->permissions);
	memset(view, 0, sizeof(*view));
}

int cairn__view_apply(cairn__view *view, const char *op, json_object *payload,
	json_object *permissions, int64_t at_ms)
{
	json_object *data = NULL;
	json_object *rights = NULL;
	char at[CAIRN_TIME_TEXT_SIZE];

	cairn__time_format(at_ms, at);
	if (strcmp(op, "delete") == 0) {
		json_object_put(view->data);
		json_object_put(view->permissions);
		view->data = NULL;
		view->permissions = NULL;
		view->exists = 0;
		snprintf(view->updated_at, sizeof(view->updated_at), "%s", at);
		return 0;
	}
	if (strcmp(op, "patch") == 0 && !view->exists)
		return 0; /* nothing to patch: the server will reject it too */
	if (strcmp(op, "put") == 0)
		data = payload ? cairn__json_copy(payload) : json_object_new_object();
	else if (strcmp(op, "patch") == 0)
		data = cairn__json_merge_top(view->data, payload);
	else
		return cairn__error_set(CAIRN_EINVALID, "unknown outbox operation '%s'", op);
	if (!data)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a change");
	if (permissions)
		rights = cairn__json_copy(permissions);
	else if (view->exists && view->permissions)
		rights = json_object_get(view->permissions);
	else
		rights = json_object_new_array();
	if (!rights) {
		json_object_put(data);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a change");
	}
	if (!view->exists)
		snprintf(view->created_at, sizeof(view->created_at), "%s", at);
	json_object_put(view->data);
	json_object_put(view->permissions);
	view->data = data;
	view->permissions = rights;
	view->exists = 1;
	snprintf(view->updated_at, sizeof(view->updated_at), "%s", at);
	return 0;
}

int cairn__view_apply_put_shared(cairn__view *view, json_object *fields,
	json_object *permissions, int64_t at_ms)
{
	json_object *rights;
	char at[CAIRN_TIME_TEXT_SIZE];

	if (permissions)
		rights = json_object_get(permissions);
	else if (view->exists && view->permissions)
		rights = json_object_get(view->permissions);
	else
		rights = json_object_new_array();
	if (!rights)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a change");
	cairn__time_format(at_ms, at);
	if (!view->exists)
		snprintf(view->created_at, sizeof(view->created_at), "%s", at);
	json_object_put(view->data);
	json_object_put(view->permissions);
	view->data = fields ? json_object_get(fields) : NULL;
	view->permissions = rights;
	view->exists = 1;
	snprintf(view->updated_at, sizeof(view->updated_at), "%s", at);
	return 0;
}

static void copy_text(char *out, size_t size, const unsigned char *text)
{
	snprintf(out, size, "%s", text ? (const char *)text : "");
}

/* Fills `view` from a docs row (STMT_DOC_GET's columns 0-5, the statement on that row). */
static int read_doc_row(cairn__view *view, int *pending, sqlite3_stmt *stmt,
	const char *collection, const char *id, int with_data)
{
	int rc;

	view->in_docs = 1;
	if (pending)
		*pending = sqlite3_column_int(stmt, 5) != 0;
	copy_text(view->created_at, sizeof(view->created_at), sqlite3_column_text(stmt, 2));
	copy_text(view->updated_at, sizeof(view->updated_at), sqlite3_column_text(stmt, 3));
	if (sqlite3_column_int(stmt, 1))
		return 0; /* a pending delete: not a live document */
	view->exists = 1;
	rc = cairn__permissions_parse(&view->permissions,
		(const char *)sqlite3_column_text(stmt, 4));
	if (rc != 0)
		return rc;
	if (with_data) {
		view->data = parse_stored((const char *)sqlite3_column_text(stmt, 0));
		if (!view->data)
			return cairn__error_set(CAIRN_EIO, "the store holds an unreadable document "
				"%s/%s", collection, id);
	}
	return 0;
}

int cairn__view_load_row(cairn__view *view, int *pending, sqlite3_stmt *stmt,
	const char *collection, const char *id, int with_data)
{
	int rc;

	memset(view, 0, sizeof(*view));
	if (pending)
		*pending = 0;
	if (sqlite3_column_type(stmt, 6) == SQLITE_NULL) /* docs.seq: never NULL in a row */
		return 0;
	rc = read_doc_row(view, pending, stmt, collection, id, with_data);
	if (rc != 0)
		cairn__view_clear(view);
	return rc;
}

int cairn__view_load_local(cairn__view *view, int *pending, cairn_store *store,
	const char *collection, const char *id, int with_data)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_DOC_GET);
	int rc;

	memset(view, 0, sizeof(*view));
	if (pending)
		*pending = 0;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = read_doc_row(view, pending, stmt, collection, id, with_data);
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = cairn__store_error(store, rc, "reading a document");
	sqlite3_reset(stmt);
	if (rc != 0)
		cairn__view_clear(view);
	return rc;
}

int cairn__view_load_server(cairn__view *view, cairn__server_meta *meta, cairn_store *store,
	const char *collection, const char *id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_SERVER_GET);
	int rc;

	memset(view, 0, sizeof(*view));
	if (meta)
		memset(meta, 0, sizeof(*meta));
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		rc = 0;
		goto cleanup;
	}
	if (rc != SQLITE_ROW) {
		rc = cairn__store_error(store, rc, "reading the server copy of a document");
		goto cleanup;
	}
	rc = 0;
	if (meta) {
		meta->known = 1;
		meta->version = sqlite3_column_int64(stmt, 2);
		meta->hlc = sqlite3_column_int64(stmt, 3);
		copy_text(meta->author, sizeof(meta->author), sqlite3_column_text(stmt, 4));
	}
	copy_text(view->created_at, sizeof(view->created_at), sqlite3_column_text(stmt, 5));
	copy_text(view->updated_at, sizeof(view->updated_at), sqlite3_column_text(stmt, 6));
	if (sqlite3_column_int(stmt, 1))
		goto cleanup; /* tombstone */
	view->exists = 1;
	rc = cairn__permissions_parse(&view->permissions,
		(const char *)sqlite3_column_text(stmt, 7));
	if (rc == 0 && !view->permissions && !(view->permissions = json_object_new_array()))
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
	if (rc != 0)
		goto cleanup;
	view->data = parse_stored((const char *)sqlite3_column_text(stmt, 0));
	if (!view->data)
		rc = cairn__error_set(CAIRN_EIO, "the store holds an unreadable server document "
			"%s/%s", collection, id);
cleanup:
	sqlite3_reset(stmt);
	if (rc != 0)
		cairn__view_clear(view);
	return rc;
}

/*
 * The server copy of a document with nothing pending is usually the view itself: pulls and
 * acknowledgements then store its data once, in docs, and leave server_docs.data NULL (a
 * ~300-byte text in a 1 KiB-page WITHOUT ROWID table would also spill into an overflow page
 * per row). Before anything else changes the docs row, the server copy gets its own copy.
 */
int cairn__view_detach(cairn_store *store, const char *collection, const char *id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_SERVER_DETACH);
	int rc;

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = cairn__store_step_done(store, stmt, "keeping the server copy of a document");
	/* A pending put may share the row's data too (documents.c). */
	return rc != 0 ? rc : cairn__outbox_detach(store, collection, id);
}

int cairn__view_save(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, int pending)
{
	sqlite3_stmt *stmt;
	const char *text;
	size_t length = 0;
	int rc = cairn__view_detach(store, collection, id);

	if (rc != 0)
		return rc;
	if (!view->exists && !pending) {
		stmt = cairn__store_stmt(store, STMT_DOC_DELETE);
		if (!stmt)
			return cairn__error_code();
		sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
		return cairn__store_step_done(store, stmt, "removing a document");
	}
	stmt = cairn__store_stmt(store, STMT_DOC_UPSERT);
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	if (view->exists) {
		text = cairn__json_text(view->data, &length);
		if (!text)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory writing a document");
		/* SQLITE_TRANSIENT: the text buffer belongs to the object and changes with it. */
		sqlite3_bind_text(stmt, 3, text, (int)length, SQLITE_TRANSIENT);
		text = cairn__json_text(view->permissions, &length);
		if (!text)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory writing a document");
		sqlite3_bind_text(stmt, 7, text, (int)length, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(stmt, 3);
		sqlite3_bind_text(stmt, 7, "[]", 2, SQLITE_STATIC);
	}
	sqlite3_bind_int(stmt, 4, view->exists ? 0 : 1);
	sqlite3_bind_text(stmt, 5, view->created_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, view->updated_at, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 8, pending ? 1 : 0);
	return cairn__store_step_done(store, stmt, "writing a document");
}

static int upsert_text(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, const char *data, size_t data_length, const char *permissions,
	size_t permissions_length, int pending)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_DOC_UPSERT);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, data, (int)data_length, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, 0);
	sqlite3_bind_text(stmt, 5, view->created_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, view->updated_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, permissions, (int)permissions_length, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 8, pending ? 1 : 0);
	return cairn__store_step_done(store, stmt, "writing a document");
}

int cairn__view_save_text(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, const char *data, size_t data_length, const char *permissions,
	size_t permissions_length, int pending)
{
	int rc = cairn__view_detach(store, collection, id);

	return rc != 0 ? rc : upsert_text(store, collection, id, view, data, data_length,
		permissions, permissions_length, pending);
}

int cairn__view_insert_text(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, const char *data, size_t data_length, const char *permissions,
	size_t permissions_length, int pending)
{
	return upsert_text(store, collection, id, view, data, data_length, permissions,
		permissions_length, pending);
}

int cairn__view_save_shared(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, const char *data, size_t data_length, const char *permissions,
	size_t permissions_length)
{
	return upsert_text(store, collection, id, view, data, data_length, permissions,
		permissions_length, 0);
}

int cairn__view_apply_counted(cairn__view *view, const char *op, json_object *payload,
	json_object *permissions, int64_t at_ms, json_object *counters)
{
	json_object *kept = NULL;
	char at[CAIRN_TIME_TEXT_SIZE];
	int rc;

	if (strcmp(op, "increment") == 0) {
		if (!view->exists || !payload)
			return 0; /* the server rejects an increment of a missing document too */
		json_object_object_foreach(payload, field, delta) {
			json_object *current = NULL;
			json_object *sum;

			json_object_object_get_ex(view->data, field, &current);
			if (json_object_is_type(current, json_type_double) ||
				json_object_is_type(delta, json_type_double))
				sum = json_object_new_double(json_object_get_double(current) +
					json_object_get_double(delta));
			else
				sum = json_object_new_int64(json_object_get_int64(current) +
					json_object_get_int64(delta));
			if (!sum || json_object_object_add(view->data, field, sum) != 0) {
				json_object_put(sum);
				return cairn__error_set(CAIRN_ENOMEM, "out of memory applying an increment");
			}
		}
		cairn__time_format(at_ms, at);
		snprintf(view->updated_at, sizeof(view->updated_at), "%s", at);
		return 0;
	}
	if (strcmp(op, "put") == 0 && view->exists && counters &&
		json_object_array_length(counters) > 0) {
		kept = json_object_new_object();
		if (!kept)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a change");
		for (size_t i = 0; i < json_object_array_length(counters); i++) {
			const char *field = json_object_get_string(json_object_array_get_idx(counters, i));
			json_object *value = NULL;

			if (field && json_object_object_get_ex(view->data, field, &value))
				json_object_object_add(kept, field, json_object_get(value));
		}
	}
	rc = cairn__view_apply(view, op, payload, permissions, at_ms);
	if (rc == 0 && kept) {
		json_object_object_foreach(kept, field, value)
			json_object_object_add(view->data, field, json_object_get(value));
	}
	json_object_put(kept);
	return rc;
}

int cairn__view_recompute(cairn_store *store, const char *collection, const char *id)
{
	cairn__view view;
	sqlite3_stmt *stmt;
	json_object *payload = NULL;
	json_object *permissions = NULL;
	json_object *counters = NULL;
	cairn__strategy strategy;
	int pending = 0;
	int rc;

	rc = cairn__policy_load(&strategy, &counters, store, collection);
	if (rc != 0)
		return rc;
	rc = cairn__view_load_server(&view, NULL, store, collection, id);
	if (rc != 0) {
		json_object_put(counters);
		return rc;
	}
	stmt = cairn__store_stmt(store, STMT_OUTBOX_DOC_PENDING);
	if (!stmt) {
		rc = cairn__error_code();
		goto cleanup;
	}
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *payload_text = (const char *)sqlite3_column_text(stmt, 1);

		pending++;
		payload = payload_text ? parse_stored(payload_text) : NULL;
		if (payload_text && !payload) {
			rc = cairn__error_set(CAIRN_EIO, "the outbox holds an unreadable change of "
				"%s/%s", collection, id);
			goto cleanup;
		}
		rc = cairn__permissions_parse(&permissions,
			(const char *)sqlite3_column_text(stmt, 2));
		if (rc != 0)
			goto cleanup;
		rc = cairn__view_apply_counted(&view, (const char *)sqlite3_column_text(stmt, 0),
			payload, permissions, sqlite3_column_int64(stmt, 3), counters);
		if (rc != 0)
			goto cleanup;
		json_object_put(payload);
		json_object_put(permissions);
		payload = permissions = NULL;
	}
	if (rc != SQLITE_DONE) {
		rc = cairn__store_error(store, rc, "reading the outbox");
		goto cleanup;
	}
	sqlite3_reset(stmt);
	rc = cairn__view_save(store, collection, id, &view, pending > 0);
cleanup:
	if (stmt)
		sqlite3_reset(stmt);
	json_object_put(counters);
	json_object_put(payload);
	json_object_put(permissions);
	cairn__view_clear(&view);
	return rc;
}

json_object *cairn__view_model(const cairn__view *view, const char *collection, const char *id,
	const char *database, int64_t sequence)
{
	json_object *model = json_object_new_object();
	int failed = 0;

	if (!model)
		return NULL;
	failed |= json_object_object_add(model, "$id", json_object_new_string(id));
	failed |= json_object_object_add(model, "$collectionId",
		json_object_new_string(collection));
	failed |= json_object_object_add(model, "$databaseId",
		json_object_new_string(database ? database : ""));
	failed |= json_object_object_add(model, "$createdAt",
		json_object_new_string(view->created_at));
	failed |= json_object_object_add(model, "$updatedAt",
		json_object_new_string(view->updated_at));
	failed |= json_object_object_add(model, "$permissions", view->permissions ?
		json_object_get(view->permissions) : json_object_new_array());
	if (sequence >= 0) {
		char text[24];

		snprintf(text, sizeof(text), "%lld", (long long)sequence);
		failed |= json_object_object_add(model, "$sequence", json_object_new_string(text));
	}
	if (view->data) {
		/* Shared, not copied: the model lives no longer than the caller's view. */
		json_object_object_foreach(view->data, key, value) {
			if (key[0] == '$')
				continue;
			failed |= json_object_object_add(model, key, json_object_get(value));
		}
	}
	if (failed) {
		json_object_put(model);
		return NULL;
	}
	return model;
}

int cairn__view_from_model(cairn__view *view, json_object *document)
{
	json_object *permissions = NULL;
	const char *text = NULL;

	memset(view, 0, sizeof(*view));
	if (!document || !json_object_is_type(document, json_type_object))
		return 0;
	view->data = cairn__json_user_fields(document);
	if (json_object_object_get_ex(document, "$permissions", &permissions) &&
		json_object_is_type(permissions, json_type_array))
		view->permissions = cairn__json_copy(permissions);
	else
		view->permissions = json_object_new_array();
	if (!view->data || !view->permissions) {
		cairn__view_clear(view);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory reading a server document");
	}
	if (cairn__json_get_string(document, "$createdAt", &text))
		snprintf(view->created_at, sizeof(view->created_at), "%s", text);
	if (cairn__json_get_string(document, "$updatedAt", &text))
		snprintf(view->updated_at, sizeof(view->updated_at), "%s", text);
	view->exists = 1;
	return 0;
}
