/* api_increment.c: Appwrite's atomic increment/decrement of one numeric document field
 * (PATCH .../documents/{id}/{attribute}/increment|decrement, `value`, `max`/`min`), applied
 * as the server-side counter the sync push uses ($cairnIncrement, storage.c). */
#include <stdint.h>
#include <string.h>

#include "server/api_int.h"
#include "server/permissions.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"

/* The sync push's counter key (api_sync.c, storage.c): {field: delta} in a patch's data. */
#define INCREMENT_KEY "$cairnIncrement"
/* A bound check (or a fractional step) reads the value first; a write in between makes the
 * conditional write fail and the step is retried. Each failure means another write got
 * through, so this bounds the waiting of one call among that many concurrent ones. */
#define MAX_ATTEMPTS 100

typedef struct {
	double value;      /* > 0 */
	int has_bound;
	double bound;      /* max (increment) or min (decrement) */
	int decrement;
} step;

static int take_number(cairn_api_request *ctx, const char *key, int *present, double *out)
{
	json_object *field = NULL;

	*present = 0;
	if (!json_object_object_get_ex(ctx->body, key, &field) || !field)
		return 0;
	if (!json_object_is_type(field, json_type_int) &&
		!json_object_is_type(field, json_type_double)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `%s` param: Value must be a valid number.", key);
		return -1;
	}
	*out = json_object_get_double(field);
	*present = 1;
	return 0;
}

static int take_step(cairn_api_request *ctx, int decrement, step *out)
{
	int present = 0;

	memset(out, 0, sizeof(*out));
	out->decrement = decrement;
	out->value = 1;
	if (take_number(ctx, "value", &present, &out->value) != 0)
		return -1;
	if (present && !(out->value > 0)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `value` param: Value must be a number greater than 0.");
		return -1;
	}
	return take_number(ctx, decrement ? "min" : "max", &out->has_bound, &out->bound);
}

/* The attribute's current numeric value in `record` (absent or null counts as 0). Returns
 * 0, or -1 after a 400 when it holds something else. */
static int current_value(cairn_api_request *ctx, const cairn_storage_record *record,
	double *out)
{
	json_object *field = NULL;

	*out = 0;
	if (!record->data || !json_object_object_get_ex(record->data, ctx->attribute_id, &field) ||
		!field)
		return 0;
	if (json_object_is_type(field, json_type_int) ||
		json_object_is_type(field, json_type_double)) {
		*out = json_object_get_double(field);
		return 0;
	}
	cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
		"Attribute '%s' of document '%s' is not a number.", ctx->attribute_id,
		ctx->document_id);
	return -1;
}

/* The patch data: {$cairnIncrement: {attr: delta}} for a whole delta (the exact counter of
 * the sync push), else {attr: current +- value} (guarded by the unmodified-since check). */
static json_object *step_data(const char *attribute, const step *s, double current)
{
	json_object *data = json_object_new_object();
	json_object *inner = NULL;
	json_object *value;
	double delta = s->decrement ? -s->value : s->value;

	if (!data)
		return NULL;
	if (delta > -9007199254740992.0 && delta < 9007199254740992.0 &&
		delta == (double)(int64_t)delta) {
		inner = json_object_new_object();
		value = json_object_new_int64((int64_t)delta);
		if (!inner || !value || json_object_object_add(inner, attribute, value) != 0 ||
			json_object_object_add(data, INCREMENT_KEY, inner) != 0) {
			json_object_put(value);
			json_object_put(inner);
			json_object_put(data);
			return NULL;
		}
		return data;
	}
	value = json_object_new_double(current + delta);
	if (!value || json_object_object_add(data, attribute, value) != 0) {
		json_object_put(value);
		json_object_put(data);
		return NULL;
	}
	return data;
}

/* One attempt: read, check the bound, write on the condition that nothing changed since.
 * Returns 1 to retry (a concurrent write), 0 after having responded. */
static int attempt(cairn_api_request *ctx, const cairn_storage_collection *collection,
	const step *s)
{
	cairn_storage_record record;
	cairn_storage_write write;
	cairn_storage_outcome outcome;
	cairn_permissions_guard guard;
	json_object *data = NULL;
	double current = 0;
	double next;
	int retry = 0;
	int rc;

	memset(&record, 0, sizeof(record));
	memset(&outcome, 0, sizeof(outcome));
	rc = ctx->api->backend->document_get(&record, ctx->api->storage, ctx->database_id,
		ctx->collection_id, ctx->document_id);
	/* As a get: what the caller may not read does not exist for it. */
	if (rc == CAIRN_ENOTFOUND || (rc == 0 && (record.deleted ||
		!cairn__permissions_allow(&ctx->caller, collection, &record, CAIRN_PERMISSION_READ)))) {
		cairn__http_respond_error(ctx->response, 404, "document_not_found",
			"Document with the requested ID '%s' could not be found.", ctx->document_id);
		goto cleanup;
	}
	if (rc < 0) {
		cairn__api_respond_storage_error(ctx, rc, "document_not_found", NULL);
		goto cleanup;
	}
	if (current_value(ctx, &record, &current) != 0)
		goto cleanup;
	next = s->decrement ? current - s->value : current + s->value;
	if (s->has_bound && (s->decrement ? next < s->bound : next > s->bound)) {
		cairn__http_respond_error(ctx->response, 400, "attribute_value_invalid",
			"Attribute '%s' would be %g, %s the %s of %g.", ctx->attribute_id, next,
			s->decrement ? "below" : "above", s->decrement ? "min" : "max", s->bound);
		goto cleanup;
	}
	data = step_data(ctx->attribute_id, s, current);
	if (!data) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error",
			"Out of memory.");
		goto cleanup;
	}
	memset(&write, 0, sizeof(write));
	write.op = CAIRN_WRITE_PATCH;
	write.collection_id = ctx->collection_id;
	write.id = ctx->document_id;
	write.client_id = "";
	write.data = data;
	/* A whole step with no bound is the commutative counter itself (as a sync push's):
	 * it needs no condition. Otherwise nothing may have changed since the read. */
	if (s->has_bound || !json_object_object_get_ex(data, INCREMENT_KEY, NULL)) {
		write.expect = CAIRN_EXPECT_UNMODIFIED_SINCE;
		write.unmodified_since = record.updated_at;
	} else {
		write.expect = CAIRN_EXPECT_EXISTS;
	}
	guard.caller = &ctx->caller;
	guard.collections = collection;
	guard.collection_count = 1;
	write.guard = cairn__permissions_guard_write;
	write.guard_payload = &guard;
	rc = ctx->api->backend->write(&outcome, ctx->api->storage, ctx->database_id, &write, 1);
	if (rc < 0)
		cairn__api_respond_storage_error(ctx, rc, "document_not_found", NULL);
	else if (outcome.status == CAIRN_ECONFLICT)
		retry = 1;
	else
		cairn__api_respond_outcome(ctx, &write, &outcome, 200);
	cairn__storage_outcome_clear(&outcome);
cleanup:
	json_object_put(data);
	cairn__storage_record_clear(&record);
	return retry;
}

static void change(cairn_api_request *ctx, int decrement)
{
	cairn_storage_collection collection;
	step s;
	int rc;

	memset(&collection, 0, sizeof(collection));
	if (cairn__api_body_failed(ctx) || take_step(ctx, decrement, &s) != 0)
		return;
	if (!ctx->attribute_id || ctx->attribute_id[0] == '$' ||
		!cairn__id_valid(ctx->attribute_id)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `attribute` param: an attribute key of at most 36 chars of a-z, A-Z, "
			"0-9, period, hyphen and underscore, not starting with a special char.");
		return;
	}
	rc = cairn__api_load_collection(ctx, &collection);
	for (int i = 0; rc == 0 && i < MAX_ATTEMPTS; i++) {
		if (!attempt(ctx, &collection, &s))
			goto cleanup;
	}
	if (rc == 0)
		cairn__http_respond_error(ctx->response, 409, "document_update_conflict",
			"The document kept changing while it was being incremented; try again.");
cleanup:
	cairn__storage_collection_clear(&collection);
}

void cairn__api_document_increment(cairn_api_request *ctx)
{
	change(ctx, 0);
}

void cairn__api_document_decrement(cairn_api_request *ctx)
{
	change(ctx, 1);
}
