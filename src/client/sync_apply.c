/* sync_apply.c: the local half of a sync round: applying push results (applied / conflict by
 * last-write-wins / rejected) and pull pages, each in one transaction. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/push_reply.h"
#include "client/replicator_rest_int.h"
#include "client/store_int.h"
#include "client/sync_scope.h"
#include "util/error.h"
#include "util/hlc.h"
#include "util/id.h"
#include "util/json.h"
#include "util/time.h"

/* ---- the server copy ---- */

static int server_version(int64_t *version, int *known, cairn_store *store,
	const char *collection, const char *id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_SERVER_VERSION);
	int rc;

	*version = 0;
	*known = 0;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int64(stmt, 0);
		*known = 1;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cairn__store_error(store, rc, "reading the server copy");
	return 0;
}

/* The server-copy upsert that only moves a row forward: one statement instead of reading the
 * version and then writing. The store's statement cache is fixed by store_int.h, so the sync
 * passes prepare this once per batch or page and reuse it for every document in it. */
static const char guarded_upsert_sql[] =
	"INSERT INTO server_docs(collection, id, data, deleted, version, "
	"hlc, author, created_at, updated_at, permissions, sequence) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
	"ON CONFLICT(collection, id) DO UPDATE SET data = excluded.data, "
	"deleted = excluded.deleted, version = excluded.version, hlc = excluded.hlc, "
	"author = excluded.author, created_at = excluded.created_at, "
	"updated_at = excluded.updated_at, permissions = excluded.permissions, "
	"sequence = excluded.sequence WHERE server_docs.version < excluded.version";

static int guarded_prepare(sqlite3_stmt **out, cairn_store *store)
{
	int rc = sqlite3_prepare_v3(store->db, guarded_upsert_sql, -1, SQLITE_PREPARE_PERSISTENT,
		out, NULL);

	if (rc != SQLITE_OK) {
		sqlite3_finalize(*out);
		*out = NULL;
		return cairn__store_error(store, rc, "preparing the server-copy write");
	}
	return 0;
}

/* The parts of a reply's Document model that the store keeps, borrowing its values: the
 * view is only read (bound as text) while `document` is alive, so nothing is deep-copied. */
static int borrowed_view(cairn__view *view, json_object *document)
{
	json_object *permissions = NULL;
	const char *text = NULL;

	memset(view, 0, sizeof(*view));
	if (!document || !json_object_is_type(document, json_type_object))
		return 0;
	view->data = json_object_new_object();
	if (json_object_object_get_ex(document, "$permissions", &permissions) &&
		json_object_is_type(permissions, json_type_array))
		view->permissions = json_object_get(permissions);
	else
		view->permissions = json_object_new_array();
	if (!view->data || !view->permissions)
		goto oom;
	json_object_object_foreach(document, key, value) {
		if (key[0] == '$')
			continue;
		if (json_object_object_add(view->data, key, json_object_get(value)) != 0) {
			json_object_put(value);
			goto oom;
		}
	}
	if (cairn__json_get_string(document, "$createdAt", &text))
		snprintf(view->created_at, sizeof(view->created_at), "%s", text);
	if (cairn__json_get_string(document, "$updatedAt", &text))
		snprintf(view->updated_at, sizeof(view->updated_at), "%s", text);
	view->exists = 1;
	return 0;
oom:
	cairn__view_clear(view);
	return cairn__error_set(CAIRN_ENOMEM, "out of memory reading a server document");
}

/* A server document as the texts the store keeps: from a reply's Document model (printed
 * once) or from a pulled change's text form (dataAsText: stored as received, after SQLite
 * checked it is JSON). `data` NULL: a tombstone. */
typedef struct {
	cairn__view view;         /* exists, created_at, updated_at (and the model's objects) */
	const char *data;
	size_t data_length;
	const char *permissions;
	size_t permissions_length;
	const char *sequence;     /* NULL: none */
	int in_view;              /* `data` is already the view row's (an "asPushed" put) */
	int64_t doc_seq;          /* with in_view: the view row's seq if known, else 0 */
} server_texts;

static void server_texts_clear(server_texts *texts)
{
	cairn__view_clear(&texts->view);
	memset(texts, 0, sizeof(*texts));
}

/* From an Appwrite Document model, or NULL for a tombstone; borrows from `document`. */
static int texts_from_document(server_texts *texts, json_object *document)
{
	int rc;

	memset(texts, 0, sizeof(*texts));
	rc = borrowed_view(&texts->view, document);
	if (rc != 0 || !texts->view.exists)
		return rc;
	/* Both texts stay valid until their objects change or go. */
	texts->data = cairn__json_text(texts->view.data, &texts->data_length);
	texts->permissions = texts->data ?
		cairn__json_text(texts->view.permissions, &texts->permissions_length) : NULL;
	if (!texts->data || !texts->permissions) {
		server_texts_clear(texts);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory storing a server document");
	}
	cairn__json_get_string(document, "$sequence", &texts->sequence);
	return 0;
}

/* From an "asPushed" acknowledgement: the server stored the put's fields exactly as pushed,
 * so they are the mutation's payload; the reply's model (`$` attributes only) gives the rest.
 * Borrows from `document` and `payload`. */
static int texts_from_pushed(server_texts *texts, json_object *document,
	const cairn__mutation *m)
{
	const char *payload = m->payload;
	json_object *permissions = NULL;
	const char *text = NULL;

	memset(texts, 0, sizeof(*texts));
	if (!payload)
		return cairn__error_set(CAIRN_ESERVER, "the server acknowledged a put without "
			"fields as stored as pushed");
	if (!document || !json_object_is_type(document, json_type_object))
		return cairn__error_set(CAIRN_ESERVER, "the server's push reply is malformed: an "
			"acknowledgement \"asPushed\" without its document");
	/* As borrowed_view, without a fields object: the fields are the payload. */
	texts->view.exists = 1;
	if (cairn__json_get_string(document, "$createdAt", &text))
		snprintf(texts->view.created_at, sizeof(texts->view.created_at), "%s", text);
	if (cairn__json_get_string(document, "$updatedAt", &text))
		snprintf(texts->view.updated_at, sizeof(texts->view.updated_at), "%s", text);
	texts->data = payload;
	texts->data_length = strlen(payload);
	if (!json_object_object_get_ex(document, "$permissions", &permissions) ||
		!json_object_is_type(permissions, json_type_array) ||
		json_object_array_length(permissions) == 0) {
		texts->permissions = "[]"; /* most documents': no printing */
		texts->permissions_length = 2;
	} else {
		texts->view.permissions = json_object_get(permissions);
		texts->permissions = cairn__json_text(texts->view.permissions,
			&texts->permissions_length);
		if (!texts->permissions) {
			server_texts_clear(texts);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory storing a server "
				"document");
		}
	}
	cairn__json_get_string(document, "$sequence", &texts->sequence);
	texts->in_view = 1;
	texts->doc_seq = m->doc_seq;
	return 0;
}

/* texts_from_pushed from a reply read by cairn__push_reply_read (its permissions are []). */
static int texts_from_ack(server_texts *texts, const cairn__push_ack *ack,
	const cairn__mutation *m)
{
	memset(texts, 0, sizeof(*texts));
	if (!m->payload)
		return cairn__error_set(CAIRN_ESERVER, "the server acknowledged a put without "
			"fields as stored as pushed");
	texts->view.exists = 1;
	memcpy(texts->view.created_at, ack->created_at, sizeof(texts->view.created_at));
	memcpy(texts->view.updated_at, ack->updated_at, sizeof(texts->view.updated_at));
	texts->data = m->payload;
	texts->data_length = strlen(m->payload);
	texts->permissions = "[]";
	texts->permissions_length = 2;
	texts->sequence = ack->has_sequence ? ack->sequence : NULL;
	texts->in_view = 1;
	texts->doc_seq = m->doc_seq;
	return 0;
}

/* 1 when `text` (of `length` bytes) is JSON that opens with `open`, by SQLite's own parser. */
static int json_text_valid(sqlite3_stmt *valid, const char *text, size_t length, char open)
{
	int ok;

	/* SQLite's parser stops at a NUL: a text with one inside is refused whole. */
	if (!text || length < 2 || text[0] != open || length > INT32_MAX ||
		memchr(text, '\0', length))
		return 0;
	sqlite3_bind_text(valid, 1, text, (int)length, SQLITE_STATIC);
	ok = sqlite3_step(valid) == SQLITE_ROW && sqlite3_column_int(valid, 0) == 1;
	sqlite3_reset(valid);
	sqlite3_clear_bindings(valid);
	return ok;
}

/* From a live change in the text form; borrows from `change`. `valid` is a prepared
 * "SELECT json_valid(?1)". */
static int texts_from_change(server_texts *texts, sqlite3_stmt *valid, json_object *change)
{
	json_object *data = NULL;
	json_object *permissions = NULL;
	const char *created = NULL;
	const char *updated = NULL;

	memset(texts, 0, sizeof(*texts));
	json_object_object_get_ex(change, "data", &data);
	json_object_object_get_ex(change, "permissions", &permissions);
	if (!cairn__json_get_string(change, "createdAt", &created) ||
		!cairn__json_get_string(change, "updatedAt", &updated) ||
		!json_object_is_type(permissions, json_type_string) ||
		!json_object_is_type(data, json_type_string))
		return cairn__error_set(CAIRN_ESERVER, "the server's pull reply is malformed: a "
			"change in text form without createdAt, updatedAt, permissions and data");
	texts->data = json_object_get_string(data);
	texts->data_length = (size_t)json_object_get_string_len(data);
	texts->permissions = json_object_get_string(permissions);
	texts->permissions_length = (size_t)json_object_get_string_len(permissions);
	/* "[]" (most documents' permissions) needs no parser. */
	if (!json_text_valid(valid, texts->data, texts->data_length, '{') ||
		((texts->permissions_length != 2 || memcmp(texts->permissions, "[]", 2) != 0) &&
		!json_text_valid(valid, texts->permissions, texts->permissions_length, '[')))
		return cairn__error_set(CAIRN_ESERVER, "the server's pull reply is malformed: a "
			"change's data is not a JSON object or its permissions not a JSON array");
	cairn__json_get_string(change, "sequence", &texts->sequence);
	texts->view.exists = 1;
	snprintf(texts->view.created_at, sizeof(texts->view.created_at), "%s", created);
	snprintf(texts->view.updated_at, sizeof(texts->view.updated_at), "%s", updated);
	return 0;
}

/* The view row of a put acknowledged as stored as pushed, with nothing else pending: its
 * fields already are the pushed ones (the put was the newest change of the view), so only
 * the server's timestamps and permissions and the pending flag change; no data is rebound.
 * A row that is not there (or a local tombstone) is written whole. */
static int view_acked(cairn_store *store, const char *collection, const char *id,
	const server_texts *texts)
{
	/* By the row's seq when the batch read it: no lookup through the (collection, id) index. */
	sqlite3_stmt *stmt = cairn__store_stmt(store, texts->doc_seq > 0 ? STMT_DOC_ACKED_AT :
		STMT_DOC_ACKED);
	int rc;

	if (!stmt)
		return cairn__error_code();
	if (texts->doc_seq > 0)
		sqlite3_bind_int64(stmt, 6, texts->doc_seq);
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, texts->view.created_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, texts->view.updated_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, texts->permissions, (int)texts->permissions_length,
		SQLITE_STATIC);
	rc = cairn__store_step_done(store, stmt, "writing a document");
	if (rc != 0 || sqlite3_changes(store->db) > 0)
		return rc;
	return cairn__view_save_shared(store, collection, id, &texts->view, texts->data,
		texts->data_length, texts->permissions, texts->permissions_length);
}

/* Sets the local view of a document with nothing pending, which is its server copy, from the
 * texts just written to server_docs (the same row cairn__view_save writes, without printing
 * the fields a second time); the server copy shares this row's data. */
static int view_set_server(cairn_store *store, const char *collection, const char *id,
	const server_texts *texts)
{
	if (!texts->view.exists)
		return cairn__view_save(store, collection, id, &texts->view, 0); /* removes the row */
	if (texts->in_view)
		return view_acked(store, collection, id, texts);
	return cairn__view_save_shared(store, collection, id, &texts->view, texts->data,
		texts->data_length, texts->permissions, texts->permissions_length);
}

/* Writes the server copy from `texts`. With `guarded` (from guarded_prepare) the row is
 * written only when `version` is newer than the stored one; otherwise it is always written.
 * *written (may be NULL) says whether it was. `set_view` also sets the local view to this
 * copy when it was written: only for a document with nothing pending. */
static int server_write_texts(int *written, sqlite3_stmt *guarded, cairn_store *store,
	const char *collection, const char *id, const server_texts *texts, int64_t version,
	int64_t hlc, const char *author, int set_view)
{
	sqlite3_stmt *stmt;
	int changed;
	int rc;

	if (written)
		*written = 0;
	if (guarded) {
		stmt = guarded;
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	} else {
		stmt = cairn__store_stmt(store, STMT_SERVER_UPSERT);
	}
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	if (texts->view.exists) {
		/* With the view set from it, the copy shares the view row's data (view.c). */
		if (!set_view)
			sqlite3_bind_text(stmt, 3, texts->data, (int)texts->data_length,
				SQLITE_STATIC);
		sqlite3_bind_text(stmt, 10, texts->permissions, (int)texts->permissions_length,
			SQLITE_STATIC);
		sqlite3_bind_text(stmt, 8, texts->view.created_at, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 9, texts->view.updated_at, -1, SQLITE_STATIC);
		if (texts->sequence)
			sqlite3_bind_text(stmt, 11, texts->sequence, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int(stmt, 4, texts->view.exists ? 0 : 1);
	sqlite3_bind_int64(stmt, 5, version);
	sqlite3_bind_int64(stmt, 6, hlc);
	sqlite3_bind_text(stmt, 7, author ? author : "", -1, SQLITE_STATIC);
	rc = cairn__store_step_done(store, stmt, "storing a server document");
	/* The statement is reset: drop its borrowed pointers before the texts can go. */
	sqlite3_clear_bindings(stmt);
	if (rc != 0)
		return rc;
	changed = !guarded || sqlite3_changes(store->db) > 0;
	if (written)
		*written = changed;
	if (changed && set_view)
		rc = view_set_server(store, collection, id, texts);
	return rc;
}

/* server_write_texts from a Document model: `document` NULL for a tombstone. */
static int server_write_with(int *written, sqlite3_stmt *guarded, cairn_store *store,
	const char *collection, const char *id, json_object *document, int64_t version,
	int64_t hlc, const char *author, int set_view)
{
	server_texts texts;
	int rc = texts_from_document(&texts, document);

	if (rc == 0)
		rc = server_write_texts(written, guarded, store, collection, id, &texts, version,
			hlc, author, set_view);
	server_texts_clear(&texts);
	return rc;
}

static int server_write(cairn_store *store, const char *collection, const char *id,
	json_object *document, int64_t version, int64_t hlc, const char *author)
{
	return server_write_with(NULL, NULL, store, collection, id, document, version, hlc,
		author, 0);
}

static int server_forget(cairn_store *store, const char *collection, const char *id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_SERVER_DELETE);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	return cairn__store_step_done(store, stmt, "forgetting a server document");
}

/* ---- outbox edits ---- */

/* *out 1 when the document has a pending mutation. */
static int has_pending(int *out, cairn_store *store, const char *collection, const char *id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_LAST_PENDING);
	int rc;

	*out = 0;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	*out = rc == SQLITE_ROW;
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cairn__store_error(store, rc, "reading the outbox");
	return 0;
}

/* The state and predecessor of an outbox row; *found 0 when it is gone. */
static int outbox_row(int *found, int *pending, char *prev, size_t prev_size,
	cairn_store *store, const char *mutation_id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_GET);
	int rc;

	*found = 0;
	*pending = 0;
	if (prev)
		prev[0] = '\0';
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, mutation_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*found = 1;
		*pending = strcmp((const char *)sqlite3_column_text(stmt, 0), "pending") == 0;
		if (prev && sqlite3_column_text(stmt, 1))
			snprintf(prev, prev_size, "%s", sqlite3_column_text(stmt, 1));
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cairn__store_error(store, rc, "reading the outbox");
	return 0;
}

/* `prev` if it names a mutation that is still pending, else "" (the chain starts anew). */
static int live_predecessor(char *out, size_t size, cairn_store *store, const char *prev)
{
	int found = 0;
	int pending = 0;
	int rc;

	out[0] = '\0';
	if (!prev[0])
		return 0;
	rc = outbox_row(&found, &pending, NULL, 0, store, prev);
	if (rc == 0 && found && pending)
		snprintf(out, size, "%s", prev);
	return rc;
}

static int bind_optional(sqlite3_stmt *stmt, int index, const char *text)
{
	if (text && text[0])
		return sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
	return sqlite3_bind_null(stmt, index);
}

/* Followers of `mutation_id` (pending mutations of the same document that named it as their
 * predecessor) now follow `replacement` ("" for none). */
static int relink_followers(cairn_store *store, const cairn__mutation *m,
	const char *replacement)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_SET_PREV);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, m->collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, m->doc_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, m->mutation_id, -1, SQLITE_STATIC);
	bind_optional(stmt, 4, replacement);
	return cairn__store_step_done(store, stmt, "relinking the outbox");
}

static int outbox_by_id(cairn_store *store, cairn__stmt_id id, const char *mutation_id,
	const char *text)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, id);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, mutation_id, -1, SQLITE_STATIC);
	if (text)
		sqlite3_bind_text(stmt, 2, text, -1, SQLITE_STATIC);
	return cairn__store_step_done(store, stmt, "updating the outbox");
}

static int rebase(cairn_store *store, const char *mutation_id, int64_t base, const char *prev)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_REBASE);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, mutation_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, base);
	bind_optional(stmt, 3, prev);
	return cairn__store_step_done(store, stmt, "rebasing the outbox");
}

static int rebase_document(cairn_store *store, const cairn__mutation *m, int64_t base)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_BASE_ALL);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, m->collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, m->doc_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, base);
	return cairn__store_step_done(store, stmt, "rebasing the outbox");
}

/* ---- push results ---- */

/* Outbox rows of acknowledged mutations taken out together, in one statement per batch
 * rather than one per row (apply_applied says which rows may wait). */
typedef struct {
	int64_t *seqs;
	size_t count;
} acked_rows;

static int acked_flush(cairn_store *store, acked_rows *acked)
{
	sqlite3_stmt *stmt;
	char *text;
	size_t used = 0;
	int rc;

	if (acked->count == 0)
		return 0;
	text = malloc(acked->count * 21 + 3);
	if (!text)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a push reply");
	text[used++] = '[';
	for (size_t i = 0; i < acked->count; i++)
		used += (size_t)sprintf(text + used, "%s%lld", i ? "," : "",
			(long long)acked->seqs[i]);
	text[used++] = ']';
	stmt = cairn__store_stmt(store, STMT_OUTBOX_DELETE_SEQS);
	if (!stmt) {
		free(text);
		return cairn__error_code();
	}
	sqlite3_bind_text(stmt, 1, text, (int)used, SQLITE_STATIC);
	rc = cairn__store_step_done(store, stmt, "updating the outbox");
	sqlite3_clear_bindings(stmt);
	free(text);
	/* Each row was read pending in this transaction and nothing else removes it. */
	if (rc == 0 && (size_t)sqlite3_changes(store->db) != acked->count)
		rc = cairn__error_set(CAIRN_ERROR, "acknowledged outbox rows went missing");
	acked->count = 0;
	return rc;
}

static int malformed(const char *what)
{
	return cairn__error_set(CAIRN_ESERVER, "the server's push reply is malformed: %s", what);
}

/*
 * The common case (no other pending edit of the document) takes a short path: one guarded
 * write of the server copy, and the view set straight from the reply's document, since with
 * nothing pending the view is the server copy; *view_set tells the caller no recompute is
 * needed. An increment, or a document with further pending edits, takes the general path.
 *
 * `newest_alone`: the mutation was a put sharing the view row's data (batch_read): every
 * write of a document rewrites its view row and first detaches such a put
 * (cairn__view_detach), so nothing was queued after it. No other mutation of this batch
 * names the document and nothing is pending before the batch, so nothing pending was
 * queued before it either (rows queued since the batch was read come after it: seq grows
 * past every row present).
 * Then nothing else is pending for the document without asking the outbox_doc index, and
 * nothing in this batch reads its outbox rows again: its row joins `acked` (removed by
 * acked_flush before anything else reads the outbox).
 */
static int apply_applied(int *view_set, sqlite3_stmt *guarded, cairn_store *store,
	const cairn__mutation *m, json_object *result, const cairn__push_ack *ack,
	int newest_alone, acked_rows *acked)
{
	json_object *document = NULL;
	int64_t version = 0;
	int64_t known_version = 0;
	int known = 0;
	int written = 0;
	int pending = 0;
	int as_pushed = 0;
	int rc;

	*view_set = 0;
	if (ack) {
		/* Read by cairn__push_reply_read: "applied", positive, "asPushed", of a put. */
		version = ack->version;
	} else if (!cairn__json_get_int64(result, "version", &version) || version <= 0) {
		return malformed("an applied result without a positive version");
	}
	if (!ack)
		json_object_object_get_ex(result, "document", &document);
	if (document && !json_object_is_type(document, json_type_object))
		return malformed("an applied result whose document is not an object");
	if (strcmp(m->op, "increment") == 0) {
		rc = server_version(&known_version, &known, store, m->collection, m->doc_id);
		if (rc != 0)
			return rc;
		/* A concurrent pull (another handle) may already hold a newer server version. */
		if (!known || known_version < version) {
			/* The pending edits behind an increment were made on the old copy. */
			if (known && (rc = cairn__base_save(store, m->collection, m->doc_id)) != 0)
				return rc;
			rc = server_write(store, m->collection, m->doc_id, document, version, m->hlc,
				store->client_id);
			if (rc != 0)
				return rc;
		}
		rc = outbox_by_id(store, STMT_OUTBOX_DELETE, m->mutation_id, NULL);
		if (rc == 0)
			rc = relink_followers(store, m, "");
		/* No rebase: an increment applies whatever the document holds (others' edits
		 * included), so later pending changes keep their own base. */
		return rc;
	}
	if (ack)
		as_pushed = 1;
	else
		cairn__json_get_bool(result, "asPushed", &as_pushed);
	if (as_pushed && strcmp(m->op, "put") != 0)
		return malformed("an acknowledgement \"asPushed\" of a mutation that is no put");
	if (newest_alone) {
		acked->seqs[acked->count++] = cairn__mutation_id_seq(m->mutation_id);
		rc = 0;
	} else {
		rc = outbox_by_id(store, STMT_OUTBOX_DELETE, m->mutation_id, NULL);
		if (rc == 0)
			rc = has_pending(&pending, store, m->collection, m->doc_id);
	}
	/* A concurrent pull (another handle) may already hold a newer server version: the
	 * guard leaves it, and then the view is not this reply's document (recomputed). */
	if (rc == 0 && as_pushed) {
		server_texts texts;

		rc = ack ? texts_from_ack(&texts, ack, m) : texts_from_pushed(&texts, document, m);
		if (rc == 0)
			rc = server_write_texts(&written, guarded, store, m->collection, m->doc_id,
				&texts, version, m->hlc, store->client_id, !pending);
		server_texts_clear(&texts);
	} else if (rc == 0) {
		rc = server_write_with(&written, guarded, store, m->collection, m->doc_id,
			document, version, m->hlc, store->client_id, !pending);
	}
	if (rc != 0 || !pending) {
		/* Nothing follows it: no followers to relink, nothing to rebase. */
		*view_set = rc == 0 && written;
		return rc;
	}
	rc = relink_followers(store, m, "");
	/* Every later pending change of this document was made on top of this one. */
	if (rc == 0)
		rc = rebase_document(store, m, version);
	return rc;
}

static char *local_model_text(cairn_store *store, const char *collection, const char *id)
{
	cairn__view view;
	json_object *model = NULL;
	char *text = NULL;

	if (cairn__view_load_local(&view, NULL, store, collection, id, 1) != 0)
		return NULL;
	if (view.exists) {
		model = cairn__view_model(&view, collection, id, store->database, -1);
		text = model ? cairn__json_dump(model) : NULL;
	}
	json_object_put(model);
	cairn__view_clear(&view);
	return text;
}

static int log_conflict(cairn_store *store, const cairn__mutation *m, cairn__strategy strategy,
	int local_wins, json_object *remote_document)
{
	char *local = local_model_text(store, m->collection, m->doc_id);
	const char *remote = remote_document ? cairn__json_text(remote_document, NULL) : NULL;
	int rc;

	rc = cairn__ledger_add(store, m->collection, m->doc_id, cairn__strategy_name(strategy),
		local_wins ? "local" : "remote", NULL, local, remote, local_wins ? local : remote,
		"done");
	free(local);
	return rc;
}

/*
 * A conflict is decided per mutation by last-write-wins: (mutation HLC, our client id)
 * against (current HLC, current author). Only the mutation at hand is rebased or dropped;
 * the document's other pending mutations keep their own base, so each of them meets the
 * server's current version and is judged by its own timestamp (a later local edit still
 * wins over a remote write that beat an earlier local one, and not otherwise).
 */
static int apply_conflict(cairn__push_tally *tally, cairn_store *store, const cairn__mutation *m,
	const char *prev, json_object *result)
{
	json_object *current = NULL;
	json_object *document = NULL;
	const char *author = "";
	int64_t version = 0;
	int64_t hlc = 0;
	int64_t known_version = 0;
	char live_prev[64];
	cairn__strategy strategy;
	int deleted = 0;
	int readable = 1; /* 0: the document exists but we may not read it (no data sent) */
	int known = 0;
	int agree;
	int counter_only = 0;
	int local_wins;
	int rc;

	if (!json_object_object_get_ex(result, "current", &current) ||
		!json_object_is_type(current, json_type_object))
		return malformed("a conflict without `current`");
	if (!cairn__json_get_int64(current, "version", &version) || version < 0)
		return malformed("a conflict whose current version is not an integer");
	cairn__json_get_int64(current, "hlc", &hlc);
	cairn__json_get_string(current, "author", &author);
	cairn__json_get_bool(current, "deleted", &deleted);
	cairn__json_get_bool(current, "readable", &readable);
	json_object_object_get_ex(current, "document", &document);
	if (document && !json_object_is_type(document, json_type_object))
		document = NULL;
	if (!document)
		deleted = 1;
	rc = cairn__policy_load(&strategy, NULL, store, m->collection);
	if (rc != 0)
		return rc;
	rc = cairn__conflict_counter_only(&counter_only, store, m, deleted ? NULL : document);
	if (rc != 0)
		return rc;
	if (strategy == CAIRN__STRATEGY_CLIENT_WINS || counter_only)
		local_wins = 1;
	else if (strategy == CAIRN__STRATEGY_SERVER_WINS)
		local_wins = 0;
	else
		local_wins = cairn__hlc_compare(m->hlc, store->client_id, hlc, author) > 0;
	/* A delete that meets a delete is no conflict: both sides agree the document is gone.
	 * One we may not read is kept like a deleted one, but it is not gone: no agreement. */
	agree = (deleted && readable && strcmp(m->op, "delete") == 0) || counter_only;
	rc = cairn__store_hlc_observe(store, hlc);
	if (rc == 0 && !agree && strategy <= CAIRN__STRATEGY_CLIENT_WINS)
		rc = log_conflict(store, m, strategy, local_wins, document);
	if (rc != 0)
		return rc;
	rc = server_version(&known_version, &known, store, m->collection, m->doc_id);
	if (rc != 0)
		return rc;
	/* The version the pending edits were made on may be needed as a merge base. */
	if (known && known_version < version)
		rc = cairn__base_save(store, m->collection, m->doc_id);
	if (rc != 0)
		return rc;
	if (version == 0 && known) {
		rc = server_forget(store, m->collection, m->doc_id);
	} else if (version > 0 && (!known || known_version < version)) {
		rc = server_write(store, m->collection, m->doc_id, deleted ? NULL : document,
			version, hlc, author);
	}
	if (rc != 0)
		return rc;
	if (!agree && strategy > CAIRN__STRATEGY_CLIENT_WINS)
		return cairn__conflict_resolve(tally, store, m, strategy, deleted ? NULL : document,
			version, hlc, author);
	rc = live_predecessor(live_prev, sizeof(live_prev), store, prev);
	if (rc != 0)
		return rc;
	if (!agree)
		tally->conflicts++;
	if (local_wins && (!agree || counter_only)) {
		tally->requeued++;
		return rebase(store, m->mutation_id, version, live_prev);
	}
	tally->dropped++;
	rc = outbox_by_id(store, STMT_OUTBOX_DELETE, m->mutation_id, NULL);
	if (rc == 0)
		rc = relink_followers(store, m, live_prev);
	return rc;
}

static int apply_rejected(cairn_store *store, const cairn__mutation *m, const char *prev,
	json_object *result)
{
	json_object *error = NULL;
	const char *message = NULL;
	const char *type = NULL;
	char text[512];
	char live_prev[64];
	int rc;

	if (json_object_object_get_ex(result, "error", &error) && error) {
		cairn__json_get_string(error, "message", &message);
		cairn__json_get_string(error, "type", &type);
	}
	if (!message)
		message = "the server refused this change";
	if (type)
		snprintf(text, sizeof(text), "%s (%s)", message, type);
	else
		snprintf(text, sizeof(text), "%s", message);
	rc = outbox_by_id(store, STMT_OUTBOX_REJECT, m->mutation_id, text);
	if (rc == 0)
		rc = live_predecessor(live_prev, sizeof(live_prev), store, prev);
	if (rc == 0)
		rc = relink_followers(store, m, live_prev);
	return rc;
}

static int compare_documents(const void *a, const void *b)
{
	const cairn__mutation *x = *(const cairn__mutation *const *)a;
	const cairn__mutation *y = *(const cairn__mutation *const *)b;
	int order = strcmp(x->collection, y->collection);

	return order ? order : strcmp(x->doc_id, y->doc_id);
}

/* What batch_read learns of each mutation's outbox row. */
enum {
	ROW_ALONE = 1,        /* no other mutation of the batch names the document, and nothing
	                       * is pending before the batch: it is the head of what is pending */
	ROW_FOUND = 2,        /* for an alone row: the row is there (the mutation id matches) */
	ROW_PENDING = 4,      /* ... and pending */
	ROW_SHARES_VIEW = 8   /* ... and a put whose payload is the view row's data */
};

/* Where `seq` is in the ascending `seqs`, or `count`. */
static size_t seq_index(const int64_t *seqs, size_t count, int64_t seq)
{
	size_t low = 0;
	size_t high = count;

	while (low < high) {
		size_t middle = low + (high - low) / 2;

		if (seqs[middle] < seq)
			low = middle + 1;
		else
			high = middle;
	}
	return low < count && seqs[low] == seq ? low : count;
}

/* Reads the state of the alone rows in one statement: a row of a document that no other
 * mutation of the batch names changes only when its own result is applied. */
static int read_alone_rows(unsigned char *rows, cairn_store *store,
	const cairn__mutation *mutations, const int64_t *seqs, size_t count)
{
	sqlite3_stmt *stmt;
	char *text = malloc(count * 21 + 3);
	size_t used = 0;
	int rc;

	if (!text)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a push reply");
	text[used++] = '[';
	for (size_t i = 0; i < count; i++) {
		if (rows[i] & ROW_ALONE)
			used += (size_t)sprintf(text + used, "%s%lld", used > 1 ? "," : "",
				(long long)seqs[i]);
	}
	text[used++] = ']';
	stmt = cairn__store_stmt(store, STMT_OUTBOX_ROWS_AT);
	if (!stmt) {
		free(text);
		return cairn__error_code();
	}
	sqlite3_bind_text(stmt, 1, text, (int)used, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		size_t i = seq_index(seqs, count, sqlite3_column_int64(stmt, 0));
		const char *id = (const char *)sqlite3_column_text(stmt, 1);

		if (i == count || !(rows[i] & ROW_ALONE) || !id ||
			strcmp(id, mutations[i].mutation_id) != 0)
			continue;
		rows[i] |= ROW_FOUND;
		if (sqlite3_column_int(stmt, 2))
			rows[i] |= ROW_PENDING;
		if (sqlite3_column_int(stmt, 3))
			rows[i] |= ROW_SHARES_VIEW;
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	free(text);
	return rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "reading the outbox");
}

/*
 * rows[i] (ROW_*) for mutations[i]. ROW_ALONE needs the batch to be the head of the pending
 * outbox, as the push reads it: nothing pending before its first seq, and seqs ascending
 * (ids from before schema 3 carry none: nothing is alone). See apply_applied.
 */
static int batch_read(unsigned char *rows, cairn_store *store,
	const cairn__mutation *mutations, size_t count)
{
	const cairn__mutation **sorted = NULL;
	int64_t *seqs = NULL;
	sqlite3_stmt *stmt;
	size_t alone = 0;
	size_t group;
	int rc = 0;

	memset(rows, 0, count);
	if (count == 0)
		return 0;
	seqs = malloc(count * sizeof(*seqs));
	sorted = malloc(count * sizeof(*sorted));
	if (!seqs || !sorted) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory applying a push reply");
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		seqs[i] = cairn__mutation_id_seq(mutations[i].mutation_id);
		if (seqs[i] <= 0 || (i > 0 && seqs[i] <= seqs[i - 1]))
			goto cleanup;
	}
	stmt = cairn__store_stmt(store, STMT_OUTBOX_PENDING_BEFORE);
	if (!stmt) {
		rc = cairn__error_code();
		goto cleanup;
	}
	sqlite3_bind_int64(stmt, 1, seqs[0]);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		rc = rc == SQLITE_ROW ? 0 : cairn__store_error(store, rc, "reading the outbox");
		goto cleanup;
	}
	rc = 0;
	for (size_t i = 0; i < count; i++)
		sorted[i] = &mutations[i];
	qsort(sorted, count, sizeof(*sorted), compare_documents);
	for (size_t i = 0; i < count; i = group) {
		for (group = i + 1; group < count &&
			compare_documents(&sorted[i], &sorted[group]) == 0; group++)
			;
		if (group == i + 1) {
			rows[sorted[i] - mutations] = ROW_ALONE;
			alone++;
		}
	}
	if (alone > 0)
		rc = read_alone_rows(rows, store, mutations, seqs, count);
cleanup:
	free(seqs);
	free(sorted);
	return rc;
}

/* Recomputes the view of every document the batch touched, once each, except documents
 * whose every mutation here set the view directly (`view_set[i]` for mutations[i]). */
static int recompute_touched(cairn_store *store, const cairn__mutation *mutations, size_t count,
	const unsigned char *view_set)
{
	const cairn__mutation **sorted = malloc((count ? count : 1) * sizeof(*sorted));
	size_t group;
	int rc = 0;

	if (!sorted)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a push reply");
	for (size_t i = 0; i < count; i++)
		sorted[i] = &mutations[i];
	qsort(sorted, count, sizeof(*sorted), compare_documents);
	for (size_t i = 0; i < count && rc == 0; i = group) {
		int needed = 0;

		for (group = i; group < count &&
			compare_documents(&sorted[i], &sorted[group]) == 0; group++)
			needed |= !view_set[sorted[group] - mutations];
		if (needed)
			rc = cairn__view_recompute(store, sorted[i]->collection, sorted[i]->doc_id);
	}
	free(sorted);
	return rc;
}

/*
 * Versions are the database's change sequence. When every mutation of a batch was applied at
 * versions checkpoint + 1 … checkpoint + n, in order, those feed positions hold exactly these
 * writes, which the acknowledgements just stored: the checkpoint moves past them (in the
 * same transaction), so the next pull does not fetch this client's own writes back. Not
 * with sync scopes: a pull may purge one's own write that falls outside a scope.
 */
static int skip_own_changes(cairn_store *store, const int64_t *versions, size_t count)
{
	int64_t checkpoint = 0;
	int scoped = 0;
	int rc;

	if (count == 0)
		return 0;
	rc = cairn__meta_get_int64(store, "checkpoint", &checkpoint);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < count; i++) {
		if (versions[i] != checkpoint + 1 + (int64_t)i)
			return 0;
	}
	rc = cairn__scope_any(&scoped, store);
	if (rc != 0 || scoped)
		return rc;
	/* REST mode's versions are $updatedAt times, not positions in a feed. */
	if (cairn__rest_mode(store))
		return 0;
	return cairn__meta_set_int64(store, "checkpoint", versions[count - 1]);
}

/* cairn__push_apply of the JSON `results` array, or of `acks` (then `results` is NULL). */
static int push_apply(cairn__push_tally *tally, cairn_store *store,
	const cairn__mutation *mutations, size_t count, json_object *results,
	const cairn__push_ack *acks)
{
	sqlite3_stmt *guarded = NULL;
	unsigned char *view_set = NULL;
	unsigned char *rows = NULL;      /* batch_read */
	acked_rows acked = { NULL, 0 };
	int64_t *versions = NULL;        /* of the applied results, in order */
	size_t applied_count = 0;
	cairn__view_watch *watch = NULL; /* views a conflict or rejection may change */
	int rc;

	memset(tally, 0, sizeof(*tally));
	view_set = calloc(count ? count : 1, 1);
	rows = calloc(count ? count : 1, 1);
	acked.seqs = calloc(count ? count : 1, sizeof(*acked.seqs));
	versions = calloc(count ? count : 1, sizeof(*versions));
	if (!view_set || !rows || !acked.seqs || !versions) {
		free(view_set);
		free(rows);
		free(acked.seqs);
		free(versions);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a push reply");
	}
	rc = guarded_prepare(&guarded, store);
	if (rc == 0) {
		rc = cairn__store_begin(store);
		if (rc != 0)
			sqlite3_finalize(guarded);
	}
	if (rc != 0) {
		free(view_set);
		free(rows);
		free(acked.seqs);
		free(versions);
		return rc;
	}
	rc = batch_read(rows, store, mutations, count);
	if (rc != 0)
		goto cleanup;
	for (size_t i = 0; i < count; i++) {
		const cairn__mutation *m = &mutations[i];
		json_object *result = acks ? NULL : json_object_array_get_idx(results, i);
		const char *mutation_id = acks ? acks[i].mutation_id : NULL;
		const char *status = acks ? "applied" : NULL;
		char prev[64];
		int found = 0;
		int pending = 0;
		int shares_view = 0;

		if ((!acks && !cairn__json_get_string(result, "mutationId", &mutation_id)) ||
			strcmp(mutation_id, m->mutation_id) != 0) {
			rc = malformed("results are not in the order of the mutations");
			goto cleanup;
		}
		if (!acks && !cairn__json_get_string(result, "status", &status)) {
			rc = malformed("a result without `status`");
			goto cleanup;
		}
		if ((rows[i] & ROW_ALONE) && strcmp(status, "applied") == 0) {
			found = (rows[i] & ROW_FOUND) != 0;
			pending = (rows[i] & ROW_PENDING) != 0;
			shares_view = (rows[i] & ROW_SHARES_VIEW) != 0;
		} else {
			rc = outbox_row(&found, &pending, prev, sizeof(prev), store,
				m->mutation_id);
			if (rc != 0)
				goto cleanup;
		}
		if (!found || !pending) {
			/* Another handle on this file already settled it: it counts as settled
			 * here too, so a sync racing another process never looks stalled. */
			tally->dropped++;
			continue;
		}
		/* Anything else may read the outbox: the rows acknowledged so far leave first. */
		if (!shares_view && (rc = acked_flush(store, &acked)) != 0)
			goto cleanup;
		if (strcmp(status, "applied") == 0) {
			int direct = 0;

			rc = apply_applied(&direct, guarded, store, m, result, acks ? &acks[i] : NULL,
				shares_view, &acked);
			view_set[i] = (unsigned char)direct;
			if (acks)
				versions[applied_count++] = acks[i].version;
			else
				cairn__json_get_int64(result, "version", &versions[applied_count++]);
			tally->applied++;
		} else if (strcmp(status, "conflict") == 0) {
			rc = cairn__view_watch_before(&watch, store, m->collection, m->doc_id);
			if (rc == 0)
				rc = apply_conflict(tally, store, m, prev, result);
		} else if (strcmp(status, "rejected") == 0) {
			rc = cairn__view_watch_before(&watch, store, m->collection, m->doc_id);
			if (rc == 0)
				rc = apply_rejected(store, m, prev, result);
			tally->rejected++;
		} else {
			rc = cairn__error_set(CAIRN_ESERVER, "the server's push reply has an unknown "
				"status '%s'", status);
		}
		if (rc != 0)
			goto cleanup;
	}
	rc = acked_flush(store, &acked);
	if (rc == 0)
		rc = recompute_touched(store, mutations, count, view_set);
	if (rc == 0 && applied_count == count)
		rc = skip_own_changes(store, versions, count);
	if (rc == 0)
		rc = cairn__bases_prune(store);
	if (rc == 0)
		rc = cairn__view_watch_after(watch, store);
	if (rc == 0)
		rc = cairn__store_commit(store);
cleanup:
	if (rc != 0) {
		cairn__store_rollback(store);
		memset(tally, 0, sizeof(*tally));
	}
	cairn__view_watch_finish(watch, store, rc);
	sqlite3_finalize(guarded);
	free(view_set);
	free(rows);
	free(acked.seqs);
	free(versions);
	return rc;
}

int cairn__push_apply(cairn__push_tally *tally, cairn_store *store,
	const cairn__mutation *mutations, size_t count, json_object *reply)
{
	json_object *results = NULL;

	memset(tally, 0, sizeof(*tally));
	if (!json_object_object_get_ex(reply, "results", &results) ||
		!json_object_is_type(results, json_type_array))
		return malformed("no `results` array");
	if (json_object_array_length(results) != count)
		return cairn__error_set(CAIRN_ESERVER, "the server answered %zu results for %zu "
			"mutations", json_object_array_length(results), count);
	return push_apply(tally, store, mutations, count, results, NULL);
}

int cairn__push_apply_acks(cairn__push_tally *tally, cairn_store *store,
	const cairn__mutation *mutations, size_t count, const cairn__push_ack *acks)
{
	memset(tally, 0, sizeof(*tally));
	/* "asPushed" of anything but a put is malformed: the JSON form reports it. */
	for (size_t i = 0; i < count; i++) {
		if (strcmp(mutations[i].op, "put") != 0)
			return cairn__error_set(CAIRN_EINVALID, "a slim reply for a batch that is not "
				"all puts");
	}
	return push_apply(tally, store, mutations, count, NULL, acks);
}

int cairn__push_reject(cairn_store *store, const cairn__mutation *m, const char *message)
{
	json_object *result = NULL;
	json_object *error = NULL;
	cairn__view_watch *watch = NULL;
	char prev[64];
	int found = 0;
	int pending = 0;
	int rc;

	rc = cairn__store_begin(store);
	if (rc != 0)
		return rc;
	rc = outbox_row(&found, &pending, prev, sizeof(prev), store, m->mutation_id);
	if (rc != 0 || !found || !pending)
		goto cleanup;
	rc = cairn__view_watch_before(&watch, store, m->collection, m->doc_id);
	if (rc != 0)
		goto cleanup;
	result = json_object_new_object();
	error = json_object_new_object();
	if (!result || !error) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory parking a mutation");
		goto cleanup;
	}
	json_object_object_add(error, "message", json_object_new_string(message));
	json_object_object_add(result, "error", error);
	error = NULL;
	rc = apply_rejected(store, m, prev, result);
	if (rc == 0)
		rc = cairn__view_recompute(store, m->collection, m->doc_id);
	if (rc == 0)
		rc = cairn__view_watch_after(watch, store);
cleanup:
	json_object_put(error);
	json_object_put(result);
	if (rc == 0)
		rc = cairn__store_commit(store);
	if (rc != 0)
		cairn__store_rollback(store);
	cairn__view_watch_finish(watch, store, rc);
	return rc;
}

/* ---- pull pages ---- */

/* The statements a pull page reuses for each of its changes. */
typedef struct {
	sqlite3_stmt *guarded;   /* guarded_prepare */
	sqlite3_stmt *valid;     /* SELECT json_valid(?1): checks changes in the text form */
	int none_pending;        /* the outbox had nothing pending when the page began */
} page_statements;

static void page_statements_clear(page_statements *statements)
{
	sqlite3_finalize(statements->guarded);
	sqlite3_finalize(statements->valid);
	memset(statements, 0, sizeof(*statements));
}

static int page_statements_prepare(page_statements *statements, cairn_store *store)
{
	int rc;

	memset(statements, 0, sizeof(*statements));
	rc = guarded_prepare(&statements->guarded, store);
	if (rc != 0)
		return rc;
	rc = sqlite3_prepare_v3(store->db, "SELECT json_valid(?1)", -1,
		SQLITE_PREPARE_PERSISTENT, &statements->valid, NULL);
	if (rc != SQLITE_OK) {
		page_statements_clear(statements);
		return cairn__store_error(store, rc, "preparing the pull's JSON check");
	}
	return 0;
}

/* *out 1 when no outbox row is pending (inside the page's transaction). */
static int nothing_pending(int *out, cairn_store *store)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_ANY_PENDING);
	int rc;

	*out = 0;
	if (!stmt)
		return cairn__error_code();
	rc = sqlite3_step(stmt);
	*out = rc == SQLITE_DONE;
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
		cairn__store_error(store, rc, "reading the outbox");
}

/* The server document a change carries: its text form (dataAsText) when it has `data`, else
 * its Document model (`document`), or a tombstone. */
static int change_texts(server_texts *texts, const page_statements *statements,
	json_object *change, int deleted)
{
	json_object *document = NULL;

	if (!deleted && json_object_object_get_ex(change, "data", NULL))
		return texts_from_change(texts, statements->valid, change);
	json_object_object_get_ex(change, "document", &document);
	if (deleted || (document && !json_object_is_type(document, json_type_object)))
		document = NULL;
	return texts_from_document(texts, document);
}

static int apply_change(uint64_t *applied, int64_t *max_hlc,
	const page_statements *statements, cairn_store *store, json_object *change)
{
	server_texts texts;
	const char *collection = NULL;
	const char *id = NULL;
	const char *author = "";
	int64_t version = 0;
	int64_t hlc = 0;
	int64_t known_version = 0;
	int deleted = 0;
	int known = 0;
	int pending = 0;
	int written = 0;
	int purge = 0;
	int rc;

	if (!json_object_is_type(change, json_type_object) ||
		!cairn__json_get_string(change, "collection", &collection) ||
		!cairn__json_get_string(change, "id", &id) ||
		!cairn__id_valid(collection) || !cairn__id_valid(id) ||
		!cairn__json_get_int64(change, "version", &version) || version <= 0)
		return cairn__error_set(CAIRN_ESERVER, "the server's pull reply is malformed: a "
			"change without a valid collection, id and version");
	cairn__json_get_bool(change, "purge", &purge);
	if (purge) {
		/* Out of this device's scope or no longer readable: drop the local copy only. */
		rc = cairn__scope_purge(&written, store, collection, id, version);
		if (rc == 0 && written)
			(*applied)++;
		return rc;
	}
	cairn__json_get_int64(change, "hlc", &hlc);
	cairn__json_get_string(change, "author", &author);
	cairn__json_get_bool(change, "deleted", &deleted);
	if (hlc > *max_hlc)
		*max_hlc = hlc;
	/* Our own writes come back in every pull after a push, and we usually have them
	 * already: a version read is cheaper than reading the document for the guarded write. */
	if (strcmp(author, store->client_id) == 0) {
		rc = server_version(&known_version, &known, store, collection, id);
		if (rc != 0)
			return rc;
		if (known && known_version >= version)
			return 0; /* already have it (our own acknowledged write, or newer) */
	}
	rc = change_texts(&texts, statements, change, deleted);
	if (rc != 0)
		return rc;
	/* Nothing pending at the page's start stays so: applying a page queues nothing. */
	rc = statements->none_pending ? 0 : has_pending(&pending, store, collection, id);
	if (rc != 0)
		goto cleanup;
	if (!pending) {
		/* The common case: one guarded write (it skips what we already have), and the view
		 * is the server copy. No base is kept: nothing pending could need one. */
		rc = server_write_texts(&written, statements->guarded, store, collection, id,
			&texts, version, hlc, author, 1);
		goto cleanup;
	}
	rc = server_version(&known_version, &known, store, collection, id);
	if (rc != 0 || (known && known_version >= version))
		goto cleanup; /* already have it (our own acknowledged write, or newer) */
	if (known) {
		rc = cairn__base_save(store, collection, id);
		if (rc != 0)
			goto cleanup;
	}
	rc = server_write_texts(NULL, NULL, store, collection, id, &texts, version, hlc, author,
		0);
	written = 1;
	/* Pending local changes stay on top of the new server state. */
	if (rc == 0)
		rc = cairn__view_recompute(store, collection, id);
cleanup:
	server_texts_clear(&texts);
	if (rc == 0 && written)
		(*applied)++;
	return rc;
}

int cairn__pull_apply(uint64_t *applied, int *more, int64_t *checkpoint, cairn_store *store,
	json_object *page)
{
	return cairn__pull_apply_page(applied, more, checkpoint, store, page, 1);
}

int cairn__pull_apply_page(uint64_t *applied, int *more, int64_t *checkpoint,
	cairn_store *store, json_object *page, int store_checkpoint)
{
	json_object *changes = NULL;
	page_statements statements;
	int64_t max_hlc = 0;
	size_t count;
	int rc;

	*applied = 0;
	*more = 0;
	if (!json_object_object_get_ex(page, "changes", &changes) ||
		!json_object_is_type(changes, json_type_array) ||
		!cairn__json_get_int64(page, "checkpoint", checkpoint) || *checkpoint < 0)
		return cairn__error_set(CAIRN_ESERVER, "the server's pull reply is malformed: it "
			"needs `changes` and `checkpoint`");
	cairn__json_get_bool(page, "more", more);
	count = json_object_array_length(changes);
	rc = page_statements_prepare(&statements, store);
	if (rc != 0)
		return rc;
	rc = cairn__store_begin(store);
	if (rc != 0) {
		page_statements_clear(&statements);
		return rc;
	}
	rc = nothing_pending(&statements.none_pending, store);
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = apply_change(applied, &max_hlc, &statements, store,
			json_object_array_get_idx(changes, i));
	if (rc == 0 && max_hlc > 0)
		rc = cairn__store_hlc_observe(store, max_hlc);
	if (rc == 0 && store_checkpoint)
		rc = cairn__meta_set_int64(store, "checkpoint", *checkpoint);
	if (rc == 0)
		rc = cairn__store_commit(store);
	if (rc != 0) {
		cairn__store_rollback(store);
		*applied = 0;
	}
	page_statements_clear(&statements);
	cairn__listeners_pulled(store, rc, changes);
	return rc;
}
