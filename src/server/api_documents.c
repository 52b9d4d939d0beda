/* api_documents.c: the Appwrite documents routes: list/query, create, get, update, upsert,
 * delete, X-Appwrite-Timestamp preconditions and the key-only bulk routes. */
#include <stdlib.h>
#include <string.h>

#include "server/api_int.h"
#include "server/permissions.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/query.h"
#include "util/time.h"

#define MAX_BULK_DOCUMENTS 1000 /* documents per bulk create/upsert request */

#define DOCUMENT_EXISTS_MESSAGE "Document with the requested ID already exists. Try again " \
	"with a different ID or use ID.unique() to generate a unique ID."
#define DOCUMENT_CONFLICT_MESSAGE "Remote document is newer than local."
#define MISSING_PAYLOAD_MESSAGE "The document data and permissions are missing. You must " \
	"provide either document data or permissions to be updated."

static void respond_out_of_memory(cairn_api_request *ctx)
{
	cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
}

static void respond_document_not_found(cairn_api_request *ctx, const char *id)
{
	cairn__http_respond_error(ctx->response, 404, "document_not_found",
		"Document with the requested ID '%s' could not be found.", id);
}

/* ---- permissions (server/permissions.h) ---- */

static void respond_unauthorized(cairn_api_request *ctx)
{
	cairn__http_respond_error(ctx->response, 401, "user_unauthorized", "%s",
		CAIRN_PERMISSIONS_DENIED_MESSAGE);
}

/* A non-key caller may only put roles it holds into permissions: else 401 and -1. */
static int check_roles(cairn_api_request *ctx, json_object *permissions)
{
	char message[256];

	if (cairn__permissions_check_roles(&ctx->caller, permissions, message,
		sizeof(message)) == 0)
		return 0;
	cairn__http_respond_error(ctx->response, 401, "user_unauthorized", "%s", message);
	return -1;
}

/* Makes storage check the caller's permission inside the write's transaction. */
static void guard_write(cairn_storage_write *write, cairn_permissions_guard *guard,
	cairn_api_request *ctx, const cairn_storage_collection *collection)
{
	guard->caller = &ctx->caller;
	guard->collections = collection;
	guard->collection_count = 1;
	write->guard = cairn__permissions_guard_write;
	write->guard_payload = guard;
}

/* Bulk routes are API-key only in Appwrite: 401 general_unauthorized_scope otherwise. */
static int require_key(cairn_api_request *ctx)
{
	if (ctx->caller.kind == CAIRN_CALLER_KEY)
		return 0;
	cairn__http_respond_error(ctx->response, 401, "general_unauthorized_scope",
		"User (role: %s) missing scopes ([\"documents.write\"]): bulk document routes "
		"need an API key.", ctx->caller.kind == CAIRN_CALLER_USER ? "users" : "guests");
	return -1;
}

/* Turns a `data` value (an object, or a string holding one, as Appwrite also accepts) into
 * its user fields ('$' keys dropped) checked against the size limit. `what` names the value
 * in messages. Returns the new object (caller owns) or NULL after responding. */
static json_object *user_fields_of(cairn_api_request *ctx, json_object *data, const char *what)
{
	json_object *parsed = NULL;
	json_object *fields = NULL;
	size_t length = 0;

	if (json_object_is_type(data, json_type_string)) {
		parsed = cairn__json_parse_object(json_object_get_string(data),
			(size_t)json_object_get_string_len(data), CAIRN_JSON_MAX_DEPTH);
		if (!parsed) {
			cairn__http_respond_error(ctx->response, 400, "document_invalid_structure",
				"Invalid document structure: %s is not a JSON object: %s", what,
				cairn_error_last());
			return NULL;
		}
		data = parsed;
	}
	if (!json_object_is_type(data, json_type_object)) {
		cairn__http_respond_error(ctx->response, 400, "document_invalid_structure",
			"Invalid document structure: %s must be a JSON object.", what);
		goto cleanup;
	}
	fields = cairn__json_user_fields(data);
	if (!fields || !cairn__json_text(fields, &length)) {
		json_object_put(fields);
		fields = NULL;
		respond_out_of_memory(ctx);
		goto cleanup;
	}
	if (cairn__json_depth(fields) > CAIRN_JSON_MAX_DEPTH) {
		cairn__http_respond_error(ctx->response, 400, "document_invalid_structure",
			"Invalid document structure: %s is nested deeper than %d levels.", what,
			CAIRN_JSON_MAX_DEPTH);
		json_object_put(fields);
		fields = NULL;
	} else if (length > CAIRN_API_MAX_DOCUMENT_BYTES) {
		cairn__http_respond_error(ctx->response, 400, "document_invalid_structure",
			"Invalid document structure: %s is %zu bytes of JSON; the limit is %u bytes.",
			what, length, CAIRN_API_MAX_DOCUMENT_BYTES);
		json_object_put(fields);
		fields = NULL;
	}
cleanup:
	json_object_put(parsed);
	return fields;
}

/* The optional or required `data` field of the body. *out owned by the caller, NULL when
 * absent and optional. Returns 0, or -1 after responding. */
static int take_data(cairn_api_request *ctx, int required, json_object **out)
{
	json_object *data = NULL;

	*out = NULL;
	if (!json_object_object_get_ex(ctx->body, "data", &data) || !data) {
		if (!required)
			return 0;
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Param \"data\" is not optional.");
		return -1;
	}
	*out = user_fields_of(ctx, data, "`data`");
	return *out ? 0 : -1;
}

/* X-Appwrite-Timestamp: *present 1 and *out unix ms when sent. Returns -1 after a 400. */
static int take_unmodified_since(cairn_api_request *ctx, int *present, int64_t *out)
{
	const char *header = cairn__http_header(ctx->http, "x-appwrite-timestamp");

	*present = 0;
	if (!header)
		return 0;
	if (cairn__time_parse(header, out) != 0) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid X-Appwrite-Timestamp header: '%s' is not an ISO 8601 date-time.", header);
		return -1;
	}
	*present = 1;
	return 0;
}

static void init_write(cairn_storage_write *write, cairn_api_request *ctx, cairn_write_op op,
	const char *id)
{
	memset(write, 0, sizeof(*write));
	write->op = op;
	write->collection_id = ctx->collection_id;
	write->id = id;
	write->client_id = "";
}

/* Responds to one write's outcome: the document model on success (`status`), else the
 * Appwrite error for what went wrong. */
static void respond_outcome(cairn_api_request *ctx, const cairn_storage_write *write,
	const cairn_storage_outcome *outcome, int status)
{
	json_object *model;
	const char *message = outcome->error_message[0] ? outcome->error_message :
		"The write was refused.";

	switch (outcome->status) {
	case 0:
		model = cairn__model_document(&outcome->record);
		if (!model) {
			respond_out_of_memory(ctx);
			return;
		}
		cairn__api_respond_model(ctx, status, model);
		json_object_put(model);
		return;
	case CAIRN_ENOTFOUND:
		if (strcmp(outcome->error_type, "collection_not_found") == 0)
			cairn__http_respond_error(ctx->response, 404, "collection_not_found",
				"Collection with the requested ID '%s' could not be found.",
				ctx->collection_id);
		else
			respond_document_not_found(ctx, write->id);
		return;
	case CAIRN_EEXISTS:
		cairn__http_respond_error(ctx->response, 409, "document_already_exists", "%s",
			DOCUMENT_EXISTS_MESSAGE);
		return;
	case CAIRN_EAUTH:
		cairn__http_respond_error(ctx->response, 401, outcome->error_type[0] ?
			outcome->error_type : "user_unauthorized", "%s", message);
		return;
	case CAIRN_ECONFLICT:
		cairn__http_respond_error(ctx->response, 409, "document_update_conflict", "%s",
			DOCUMENT_CONFLICT_MESSAGE);
		return;
	case CAIRN_EINVALID:
	case CAIRN_ETOOBIG:
		cairn__http_respond_error(ctx->response, 400, outcome->error_type[0] ?
			outcome->error_type : "document_invalid_structure", "%s", message);
		return;
	default:
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Server Error");
		return;
	}
}

/* Applies one write and responds. */
static void write_and_respond(cairn_api_request *ctx, const cairn_storage_write *write,
	int status)
{
	cairn_storage_outcome outcome;
	int rc;

	memset(&outcome, 0, sizeof(outcome));
	rc = ctx->api->backend->write(&outcome, ctx->api->storage, ctx->database_id, write, 1);
	if (rc == CAIRN_ENOTFOUND) {
		cairn__http_respond_error(ctx->response, 404, "database_not_found",
			"Database with the requested ID '%s' could not be found.", ctx->database_id);
		return;
	}
	if (rc < 0) {
		cairn__api_respond_storage_error(ctx, rc, "document_not_found", NULL);
		return;
	}
	if (write->op == CAIRN_WRITE_DELETE && outcome.status == 0)
		cairn__http_respond_no_content(ctx->response);
	else
		respond_outcome(ctx, write, &outcome, status);
	cairn__storage_outcome_clear(&outcome);
}

/* ---- list and query ------------------------------------------------------------------- */

typedef struct {
	json_object *models;
	const cairn_api_caller *caller;             /* with `collection`: keep readable ones */
	const cairn_storage_collection *collection; /* NULL: keep all */
} collect_state;

static int collect_document(const cairn_storage_record *record, size_t approx_bytes,
	void *payload)
{
	collect_state *state = payload;
	json_object *model;

	(void)approx_bytes;
	if (record->deleted)
		return 0;
	if (state->collection && !cairn__permissions_allow(state->caller, state->collection,
		record, CAIRN_PERMISSION_READ))
		return 0;
	model = cairn__model_document(record);
	if (!model)
		return CAIRN_ENOMEM;
	json_object_array_add(state->models, model);
	return 0;
}

/* Every live document of ctx's collection as Document models (caller owns), or NULL after
 * responding. With `readable_in` only those the caller may read. */
static json_object *scan_documents(cairn_api_request *ctx,
	const cairn_storage_collection *readable_in)
{
	json_object *models = json_object_new_array();
	collect_state state;
	int rc;

	if (!models) {
		respond_out_of_memory(ctx);
		return NULL;
	}
	state.models = models;
	state.caller = &ctx->caller;
	state.collection = readable_in;
	rc = ctx->api->backend->document_scan(ctx->api->storage, ctx->database_id,
		ctx->collection_id, collect_document, &state);
	if (rc != 0) {
		if (rc == CAIRN_ENOMEM)
			respond_out_of_memory(ctx);
		else
			cairn__api_respond_storage_error(ctx, rc < 0 ? rc : CAIRN_ERROR,
				"collection_not_found", NULL);
		json_object_put(models);
		return NULL;
	}
	return models;
}

void cairn__api_documents_list(cairn_api_request *ctx)
{
	char **queries = NULL;
	size_t query_count = cairn__http_query_values(&queries, ctx->http, "queries");
	json_object *models = NULL;
	cairn_storage_collection collection;

	memset(&collection, 0, sizeof(collection));
	if (cairn__api_id_lookup(&queries, &query_count) != 0) {
		respond_out_of_memory(ctx);
		goto cleanup;
	}
	if (cairn__api_check_queries(ctx, queries, query_count) != 0)
		goto cleanup;
	if (cairn__api_load_collection(ctx, &collection) != 0)
		goto cleanup;
	/* Appwrite refuses a list outright when nothing could ever be readable. */
	if (!collection.document_security && !cairn__permissions_allow(&ctx->caller,
		&collection, NULL, CAIRN_PERMISSION_READ)) {
		respond_unauthorized(ctx);
		goto cleanup;
	}
	models = scan_documents(ctx, &collection);
	if (!models)
		goto cleanup;
	cairn__api_respond_list(ctx, models, queries, query_count, "documents");
cleanup:
	cairn__storage_collection_clear(&collection);
	json_object_put(models);
	cairn__http_values_free(queries, query_count);
}

/* The documents matching the body's `queries` (strings or query objects), unlimited unless
 * the queries say otherwise. Returns a new array of models (caller owns) or NULL after
 * responding. */
static json_object *select_by_body_queries(cairn_api_request *ctx)
{
	json_object *field = NULL;
	json_object *models = NULL;
	json_object *page = NULL;
	json_object **items = NULL;
	const char **texts = NULL;
	cairn_query *query = NULL;
	size_t query_count = 0;
	size_t count;
	int rc;

	if (json_object_object_get_ex(ctx->body, "queries", &field) && field) {
		if (!json_object_is_type(field, json_type_array)) {
			cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
				"Invalid `queries` param: must be an array of query strings.");
			goto cleanup;
		}
		query_count = json_object_array_length(field);
	}
	if (query_count > CAIRN_QUERY_MAX_COUNT) {
		cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
			"Invalid `queries` param: at most %d queries.", CAIRN_QUERY_MAX_COUNT);
		goto cleanup;
	}
	texts = calloc(query_count ? query_count : 1, sizeof(*texts));
	if (!texts) {
		respond_out_of_memory(ctx);
		goto cleanup;
	}
	for (size_t i = 0; i < query_count; i++) {
		json_object *entry = json_object_array_get_idx(field, i);
		size_t length = 0;
		/* A query object is accepted as well as its string form. */
		texts[i] = json_object_is_type(entry, json_type_string) ?
			json_object_get_string(entry) : cairn__json_text(entry, &length);
		if (!texts[i] || strlen(texts[i]) > CAIRN_QUERY_MAX_TEXT) {
			cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
				"Invalid query %zu: missing or longer than %d characters.", i,
				CAIRN_QUERY_MAX_TEXT);
			goto cleanup;
		}
	}
	if (cairn__query_parse(&query, texts, query_count) != 0) {
		cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
			"Invalid query: %s", cairn_error_last());
		goto cleanup;
	}
	models = scan_documents(ctx, NULL); /* bulk routes: API key only */
	if (!models)
		goto cleanup;
	count = json_object_array_length(models);
	items = malloc((count ? count : 1) * sizeof(*items));
	if (!items) {
		respond_out_of_memory(ctx);
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++)
		items[i] = json_object_array_get_idx(models, i);
	rc = cairn__query_run(&page, NULL, query, items, count, -1);
	if (rc != 0) {
		cairn__http_respond_error(ctx->response, 400, rc == CAIRN_ENOTFOUND ?
			"general_cursor_not_found" : "general_query_invalid", "Invalid query: %s",
			cairn_error_last());
		page = NULL;
	}
cleanup:
	free(items);
	free(texts);
	cairn__query_free(query);
	json_object_put(models);
	return page;
}

/* ---- single documents ----------------------------------------------------------------- */

static void create_many(cairn_api_request *ctx, json_object *documents, int upsert);

void cairn__api_document_create(cairn_api_request *ctx)
{
	cairn_storage_write write;
	cairn_storage_collection collection;
	cairn_permissions_guard guard;
	char id[CAIRN_ID_MAX + 1];
	json_object *fields = NULL;
	json_object *permissions = NULL;
	json_object *stored_permissions = NULL;
	json_object *documents = NULL;

	memset(&collection, 0, sizeof(collection));
	if (cairn__api_body_failed(ctx))
		return;
	if (json_object_object_get_ex(ctx->body, "documents", &documents)) {
		if (require_key(ctx) == 0)
			create_many(ctx, documents, 0);
		return;
	}
	if (cairn__api_take_id(ctx, ctx->body, "documentId", id) != 0 ||
		cairn__api_take_permissions(ctx, ctx->body, "permissions", &permissions) != 0)
		return;
	if (cairn__api_load_collection(ctx, &collection) != 0 || check_roles(ctx, permissions) != 0)
		goto cleanup;
	if (take_data(ctx, 1, &fields) != 0)
		goto cleanup;
	/* Given permissions with write() expanded, or a signed-in user's defaults. */
	stored_permissions = cairn__permissions_for_create(&ctx->caller, permissions);
	if (!stored_permissions) {
		respond_out_of_memory(ctx);
		goto cleanup;
	}
	init_write(&write, ctx, CAIRN_WRITE_CREATE, id);
	write.data = fields;
	write.permissions = stored_permissions;
	guard_write(&write, &guard, ctx, &collection);
	/* Privileged callers' $createdAt/$updatedAt in data are not honoured: stripped. */
	write_and_respond(ctx, &write, 201);
cleanup:
	json_object_put(stored_permissions);
	json_object_put(fields);
	cairn__storage_collection_clear(&collection);
}

void cairn__api_document_get(cairn_api_request *ctx)
{
	cairn_storage_record record;
	char **queries = NULL;
	size_t query_count = cairn__http_query_values(&queries, ctx->http, "queries");
	cairn_query *query = NULL;
	json_object *model = NULL;
	json_object *page = NULL;
	cairn_storage_collection collection;
	int rc;

	memset(&record, 0, sizeof(record));
	memset(&collection, 0, sizeof(collection));
	if (cairn__api_check_queries(ctx, queries, query_count) != 0)
		goto cleanup;
	if (cairn__query_parse(&query, (const char *const *)queries, query_count) != 0) {
		cairn__http_respond_error(ctx->response, 400, "general_query_invalid",
			"Invalid query: %s", cairn_error_last());
		goto cleanup;
	}
	if (cairn__api_load_collection(ctx, &collection) != 0)
		goto cleanup;
	rc = ctx->api->backend->document_get(&record, ctx->api->storage, ctx->database_id,
		ctx->collection_id, ctx->document_id);
	/* Appwrite hides what the caller may not read: 404 as if it did not exist. */
	if (rc == CAIRN_ENOTFOUND || (rc == 0 && (record.deleted || !cairn__permissions_allow(
		&ctx->caller, &collection, &record, CAIRN_PERMISSION_READ)))) {
		respond_document_not_found(ctx, ctx->document_id);
		goto cleanup;
	}
	if (rc < 0) {
		cairn__api_respond_storage_error(ctx, rc, "document_not_found", NULL);
		goto cleanup;
	}
	model = cairn__model_document(&record);
	if (!model) {
		respond_out_of_memory(ctx);
		goto cleanup;
	}
	/* Only `select` means something here; run the queries to apply it. */
	if (query_count > 0 &&
		cairn__query_run(&page, NULL, query, &model, 1, -1) == 0 &&
		json_object_array_length(page) == 1) {
		cairn__api_respond_model(ctx, 200, json_object_array_get_idx(page, 0));
		goto cleanup;
	}
	cairn__api_respond_model(ctx, 200, model);
cleanup:
	json_object_put(page);
	json_object_put(model);
	cairn__query_free(query);
	cairn__storage_record_clear(&record);
	cairn__storage_collection_clear(&collection);
	cairn__http_values_free(queries, query_count);
}

/* The permissions an update stores: NULL keeps the document's; given ones (`permissions`,
 * validated) are checked against the caller's roles and expanded into *out (caller owns).
 * Returns 0, or -1 after responding. */
static int take_update_permissions(cairn_api_request *ctx, json_object *permissions,
	json_object **out)
{
	*out = NULL;
	if (check_roles(ctx, permissions) != 0)
		return -1;
	if (!permissions)
		return 0;
	*out = cairn__permissions_expand_document(permissions);
	if (!*out) {
		respond_out_of_memory(ctx);
		return -1;
	}
	return 0;
}

void cairn__api_document_update(cairn_api_request *ctx)
{
	cairn_storage_write write;
	cairn_storage_collection collection;
	cairn_permissions_guard guard;
	json_object *fields = NULL;
	json_object *given = NULL;
	json_object *permissions = NULL;
	int64_t since = 0;
	int has_since = 0;

	memset(&collection, 0, sizeof(collection));
	if (cairn__api_body_failed(ctx))
		return;
	if (cairn__api_take_permissions(ctx, ctx->body, "permissions", &given) != 0 ||
		take_unmodified_since(ctx, &has_since, &since) != 0)
		return;
	if (cairn__api_load_collection(ctx, &collection) != 0 ||
		take_update_permissions(ctx, given, &permissions) != 0)
		goto cleanup;
	if (take_data(ctx, 0, &fields) != 0)
		goto cleanup;
	if (!fields && !permissions) {
		cairn__http_respond_error(ctx->response, 400, "document_missing_payload", "%s",
			MISSING_PAYLOAD_MESSAGE);
		goto cleanup;
	}
	if (!fields) {
		fields = json_object_new_object();
		if (!fields) {
			respond_out_of_memory(ctx);
			goto cleanup;
		}
	}
	init_write(&write, ctx, CAIRN_WRITE_PATCH, ctx->document_id);
	write.data = fields;
	write.permissions = permissions;
	write.expect = has_since ? CAIRN_EXPECT_UNMODIFIED_SINCE : CAIRN_EXPECT_EXISTS;
	write.unmodified_since = since;
	guard_write(&write, &guard, ctx, &collection);
	write_and_respond(ctx, &write, 200);
cleanup:
	json_object_put(fields);
	json_object_put(permissions);
	cairn__storage_collection_clear(&collection);
}

void cairn__api_document_upsert(cairn_api_request *ctx)
{
	cairn_storage_write write;
	cairn_storage_record existing;
	cairn_storage_collection collection;
	cairn_permissions_guard guard;
	json_object *fields = NULL;
	json_object *given = NULL;
	json_object *permissions = NULL;
	int64_t since = 0;
	int has_since = 0;
	int rc;

	memset(&existing, 0, sizeof(existing));
	memset(&collection, 0, sizeof(collection));
	if (cairn__api_body_failed(ctx))
		return;
	if (!cairn__id_valid(ctx->document_id)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `documentId` param: Parameter must contain at most 36 chars. Valid chars "
			"are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special "
			"char");
		return;
	}
	if (cairn__api_take_permissions(ctx, ctx->body, "permissions", &given) != 0 ||
		take_unmodified_since(ctx, &has_since, &since) != 0)
		return;
	if (cairn__api_load_collection(ctx, &collection) != 0 ||
		take_update_permissions(ctx, given, &permissions) != 0)
		goto cleanup;
	if (take_data(ctx, 0, &fields) != 0)
		goto cleanup;
	init_write(&write, ctx, CAIRN_WRITE_REPLACE, ctx->document_id);
	if (!fields) {
		/* No data: keep the stored fields of an existing document (a permissions-only
		 * upsert), or create an empty one. */
		rc = ctx->api->backend->document_get(&existing, ctx->api->storage, ctx->database_id,
			ctx->collection_id, ctx->document_id);
		if (rc < 0 && rc != CAIRN_ENOTFOUND) {
			cairn__api_respond_storage_error(ctx, rc, "document_not_found", NULL);
			goto cleanup;
		}
		if (rc == 0 && !existing.deleted)
			write.op = CAIRN_WRITE_PATCH;
		cairn__storage_record_clear(&existing);
		fields = json_object_new_object();
		if (!fields) {
			respond_out_of_memory(ctx);
			goto cleanup;
		}
	}
	if (!permissions && write.op == CAIRN_WRITE_REPLACE) {
		/* Creating: a signed-in user's defaults apply; replacing keeps the document's
		 * (the guard decides create vs update at write time; a replace with NULL
		 * permissions keeps the stored ones, so defaults are only for a fresh one). */
		rc = ctx->api->backend->document_get(&existing, ctx->api->storage, ctx->database_id,
			ctx->collection_id, ctx->document_id);
		if (rc == CAIRN_ENOTFOUND || (rc == 0 && existing.deleted))
			permissions = cairn__permissions_for_create(&ctx->caller, NULL);
		cairn__storage_record_clear(&existing);
	}
	write.data = fields;
	write.permissions = permissions;
	write.expect = has_since ? CAIRN_EXPECT_UNMODIFIED_SINCE : CAIRN_EXPECT_NONE;
	write.unmodified_since = since;
	guard_write(&write, &guard, ctx, &collection);
	write_and_respond(ctx, &write, 201);
cleanup:
	json_object_put(fields);
	json_object_put(permissions);
	cairn__storage_collection_clear(&collection);
}

void cairn__api_document_delete(cairn_api_request *ctx)
{
	cairn_storage_write write;
	cairn_storage_collection collection;
	cairn_permissions_guard guard;
	int64_t since = 0;
	int has_since = 0;

	/* The body ({} or {transactionId}) carries nothing we use; a bad one is ignored. */
	memset(&collection, 0, sizeof(collection));
	if (take_unmodified_since(ctx, &has_since, &since) != 0)
		return;
	if (cairn__api_load_collection(ctx, &collection) == 0) {
		init_write(&write, ctx, CAIRN_WRITE_DELETE, ctx->document_id);
		write.expect = has_since ? CAIRN_EXPECT_UNMODIFIED_SINCE : CAIRN_EXPECT_NONE;
		write.unmodified_since = since;
		guard_write(&write, &guard, ctx, &collection);
		write_and_respond(ctx, &write, 204);
	}
	cairn__storage_collection_clear(&collection);
}

/* ---- bulk (API key only: require_key) ------------------------------------------------- */

/* Applies `count` writes in one transaction and responds `status` {total, documents} with
 * the written documents (or `listed` models when given, used by delete). The first failed
 * outcome becomes the error response instead; the writes before and after it in the batch
 * stay applied (storage has no all-or-nothing mode), so callers pre-check what they can. */
static void write_many(cairn_api_request *ctx, const cairn_storage_write *writes, size_t count,
	json_object *listed, int status)
{
	cairn_storage_outcome *outcomes = NULL;
	json_object *list = NULL;
	json_object *documents = NULL;
	size_t done = 0;
	int rc = 0;

	outcomes = calloc(count ? count : 1, sizeof(*outcomes));
	if (!outcomes) {
		respond_out_of_memory(ctx);
		return;
	}
	if (count > 0)
		rc = ctx->api->backend->write(outcomes, ctx->api->storage, ctx->database_id, writes,
			count);
	if (rc < 0) {
		if (rc == CAIRN_ENOTFOUND)
			cairn__http_respond_error(ctx->response, 404, "database_not_found",
				"Database with the requested ID '%s' could not be found.", ctx->database_id);
		else
			cairn__api_respond_storage_error(ctx, rc, "document_not_found", NULL);
		goto cleanup;
	}
	done = count;
	for (size_t i = 0; i < count; i++) {
		if (outcomes[i].status != 0) {
			respond_outcome(ctx, &writes[i], &outcomes[i], status);
			goto cleanup;
		}
	}
	list = json_object_new_object();
	documents = listed ? json_object_get(listed) : json_object_new_array();
	for (size_t i = 0; list && documents && !listed && i < count; i++) {
		json_object *model = cairn__model_document(&outcomes[i].record);
		if (!model || json_object_array_add(documents, model) != 0) {
			json_object_put(model);
			json_object_put(documents);
			documents = NULL;
		}
	}
	if (!list || !documents) {
		respond_out_of_memory(ctx);
		goto cleanup;
	}
	json_object_object_add(list, "total", json_object_new_int64((int64_t)count));
	json_object_object_add(list, "documents", documents);
	documents = NULL;
	cairn__api_respond_model(ctx, status, list);
cleanup:
	json_object_put(documents);
	json_object_put(list);
	for (size_t i = 0; i < done; i++)
		cairn__storage_outcome_clear(&outcomes[i]);
	free(outcomes);
}

/* Bulk create (POST `documents`) and bulk upsert (PUT `documents`): each entry is a
 * document object that may carry $id and $permissions. */
static void create_many(cairn_api_request *ctx, json_object *documents, int upsert)
{
	cairn_storage_write *writes = NULL;
	json_object **fields = NULL;
	char (*ids)[CAIRN_ID_MAX + 1] = NULL;
	size_t count = 0;
	size_t prepared = 0;

	if (!json_object_is_type(documents, json_type_array)) {
		cairn__http_respond_error(ctx->response, 400, "general_bad_request",
			"Invalid `documents` param: must be an array of document objects.");
		return;
	}
	count = json_object_array_length(documents);
	if (count == 0 || count > MAX_BULK_DOCUMENTS) {
		cairn__http_respond_error(ctx->response, 400, "general_bad_request",
			"Invalid `documents` param: send 1 to %d documents.", MAX_BULK_DOCUMENTS);
		return;
	}
	if (cairn__api_require_collection(ctx) != 0)
		return;
	writes = calloc(count, sizeof(*writes));
	fields = calloc(count, sizeof(*fields));
	ids = calloc(count, sizeof(*ids));
	if (!writes || !fields || !ids) {
		respond_out_of_memory(ctx);
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		json_object *entry = json_object_array_get_idx(documents, i);
		json_object *permissions = NULL;
		const char *given = NULL;

		if (!json_object_is_type(entry, json_type_object)) {
			cairn__http_respond_error(ctx->response, 400, "document_invalid_structure",
				"Invalid document structure: documents[%zu] must be a JSON object.", i);
			goto cleanup;
		}
		if (json_object_object_get_ex(entry, "$id", NULL) &&
			!cairn__json_get_string(entry, "$id", &given)) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `$id` in documents[%zu]: must be a string.", i);
			goto cleanup;
		}
		if (!given || strcmp(given, "unique()") == 0) {
			if (cairn__id_unique(ids[i], sizeof(ids[i])) != 0) {
				respond_out_of_memory(ctx);
				goto cleanup;
			}
		} else if (cairn__id_valid(given)) {
			strcpy(ids[i], given);
		} else {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `$id` in documents[%zu]: at most 36 chars of a-z, A-Z, 0-9, period, "
				"hyphen and underscore, not starting with a special char.", i);
			goto cleanup;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(ids[j], ids[i]) == 0) {
				cairn__http_respond_error(ctx->response, 409, "document_already_exists",
					"Document id '%s' appears twice in `documents`.", ids[i]);
				goto cleanup;
			}
		}
		if (cairn__api_take_permissions(ctx, entry, "$permissions", &permissions) != 0)
			goto cleanup;
		fields[i] = user_fields_of(ctx, entry, "a document");
		if (!fields[i])
			goto cleanup;
		prepared = i + 1;
		init_write(&writes[i], ctx, upsert ? CAIRN_WRITE_REPLACE : CAIRN_WRITE_CREATE,
			ids[i]);
		writes[i].data = fields[i];
		writes[i].permissions = permissions;
	}
	if (!upsert) {
		/* Appwrite creates all or nothing: refuse before writing if an id is taken. */
		for (size_t i = 0; i < count; i++) {
			cairn_storage_record record;
			int rc;

			memset(&record, 0, sizeof(record));
			rc = ctx->api->backend->document_get(&record, ctx->api->storage,
				ctx->database_id, ctx->collection_id, ids[i]);
			cairn__storage_record_clear(&record);
			if (rc == 0) {
				cairn__http_respond_error(ctx->response, 409, "document_already_exists",
					"%s", DOCUMENT_EXISTS_MESSAGE);
				goto cleanup;
			}
			if (rc != CAIRN_ENOTFOUND) {
				cairn__api_respond_storage_error(ctx, rc, "document_not_found", NULL);
				goto cleanup;
			}
		}
	}
	write_many(ctx, writes, count, NULL, 201);
cleanup:
	for (size_t i = 0; fields && i < prepared; i++)
		json_object_put(fields[i]);
	free(fields);
	free(ids);
	free(writes);
}

void cairn__api_documents_bulk_upsert(cairn_api_request *ctx)
{
	json_object *documents = NULL;

	if (cairn__api_body_failed(ctx) || require_key(ctx) != 0)
		return;
	if (!json_object_object_get_ex(ctx->body, "documents", &documents)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Param \"documents\" is not optional.");
		return;
	}
	create_many(ctx, documents, 1);
}

/* Bulk update (PATCH) and bulk delete (DELETE) over the documents the queries select. */
static void change_selected(cairn_api_request *ctx, int delete)
{
	cairn_storage_write *writes = NULL;
	json_object *fields = NULL;
	json_object *selected = NULL;
	size_t count;

	if (cairn__api_body_failed(ctx) || require_key(ctx) != 0)
		return;
	if (cairn__api_require_collection(ctx) != 0)
		return;
	if (!delete) {
		if (take_data(ctx, 0, &fields) != 0)
			return;
		if (!fields) {
			fields = json_object_new_object();
			if (!fields) {
				respond_out_of_memory(ctx);
				return;
			}
		}
	}
	selected = select_by_body_queries(ctx);
	if (!selected)
		goto cleanup;
	count = json_object_array_length(selected);
	writes = calloc(count ? count : 1, sizeof(*writes));
	if (!writes) {
		respond_out_of_memory(ctx);
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		const char *id = "";
		cairn__json_get_string(json_object_array_get_idx(selected, i), "$id", &id);
		init_write(&writes[i], ctx, delete ? CAIRN_WRITE_DELETE : CAIRN_WRITE_PATCH, id);
		writes[i].data = fields;
		writes[i].expect = delete ? CAIRN_EXPECT_NONE : CAIRN_EXPECT_EXISTS;
	}
	/* Delete answers with the documents as they were before. */
	write_many(ctx, writes, count, delete ? selected : NULL, 200);
cleanup:
	free(writes);
	json_object_put(selected);
	json_object_put(fields);
}

void cairn__api_documents_bulk_update(cairn_api_request *ctx)
{
	change_selected(ctx, 0);
}

void cairn__api_documents_bulk_delete(cairn_api_request *ctx)
{
	change_selected(ctx, 1);
}

/* Shared with api_increment.c (api_int.h). */
void cairn__api_respond_outcome(cairn_api_request *ctx, const cairn_storage_write *write,
	const cairn_storage_outcome *outcome, int status)
{
	respond_outcome(ctx, write, outcome, status);
}
