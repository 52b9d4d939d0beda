/* api_sync.c: the sync endpoints of docs/protocol.md: batched, idempotent push and
 * checkpointed, byte-budgeted pull, both answered as streamed JSON text. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_int.h"
#include "server/permissions.h"
#include "server/sync_scope.h"
#include "server/sync_text.h"
#include "util/error.h"
#include "util/hlc.h"
#include "util/id.h"
#include "util/time.h"
#include "util/json.h"

#define PULL_DEFAULT_LIMIT 1000
#define PULL_MAX_LIMIT 10000
#define PULL_DEFAULT_MAX_BYTES (4 * 1024 * 1024)
#define MUTATION_ID_MAX 128
#define PULL_MAX_COLLECTIONS 1000

static void respond_bad_field(cairn_api_request *ctx, const char *fmt, const char *field,
	size_t index)
{
	char where[64];

	snprintf(where, sizeof(where), "mutations[%zu]", index);
	cairn__http_respond_error(ctx->response, 400, "general_argument_invalid", fmt,
		index == (size_t)-1 ? "request" : where, field);
}

/* An optional non-negative int64 field; absent leaves *out. Returns -1 when present but not
 * a non-negative integer. */
static int optional_count(json_object *object, const char *key, int64_t *out)
{
	json_object *field = NULL;

	if (!json_object_object_get_ex(object, key, &field) || !field)
		return 0;
	if (!json_object_is_type(field, json_type_int) || json_object_get_int64(field) < 0)
		return -1;
	*out = json_object_get_int64(field);
	return 0;
}

/* Counters (docs/conflicts.md) travel to storage inside the write's data under these keys,
 * which REST never passes on ($ keys are stripped there); storage.h has no increment op. */
#define INCREMENT_KEY "$cairnIncrement"
#define COUNTERS_KEY "$cairnCounters"

/* The default bound on how far a mutation's HLC may run ahead of the server's clock. */
#define DEFAULT_MAX_CLOCK_SKEW_MS 60000

static int increment_valid(json_object *mutation)
{
	json_object *data = NULL;

	if (!json_object_object_get_ex(mutation, "data", &data) ||
		!json_object_is_type(data, json_type_object) || json_object_object_length(data) == 0)
		return 0;
	json_object_object_foreach(data, key, delta) {
		if (key[0] == '$' || !json_object_is_type(delta, json_type_int))
			return 0;
	}
	return 1;
}

static int names_valid(json_object *names)
{
	if (!json_object_is_type(names, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		json_object *name = json_object_array_get_idx(names, i);

		if (!json_object_is_type(name, json_type_string) ||
			json_object_get_string(name)[0] == '$')
			return 0;
	}
	return 1;
}

/* Mutation HLCs more than the bound ahead of the server's clock are clamped to the bound, so a
 * device whose clock runs fast cannot win every last-write-wins conflict (the write still
 * lands). The bound comes from CAIRN_MAX_CLOCK_SKEW_MS (cairn serve --max-clock-skew); it is
 * taken once per push. */
static int64_t hlc_bound(void)
{
	const char *setting = getenv("CAIRN_MAX_CLOCK_SKEW_MS");
	int64_t bound_ms = DEFAULT_MAX_CLOCK_SKEW_MS;

	if (setting && setting[0]) {
		char *end = NULL;
		long long value = strtoll(setting, &end, 10);
		if (end && !*end && value >= 0)
			bound_ms = value;
	}
	return cairn__hlc_from_ms(cairn__time_now_ms() + bound_ms);
}

static void respond_text(cairn_api_request *ctx, cairn_text *text)
{
	char *body = cairn__text_take(text);

	if (!body) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error",
			"Out of memory while writing the response.");
		return;
	}
	cairn__http_respond_json(ctx->response, 200, body);
}

/* ---- push ---------------------------------------------------------------------------- */

/* What became of one mutation before storage: rejected here, or handed to storage. */
typedef struct {
	const char *mutation_id;  /* borrowed from the body */
	int write_index;          /* index into writes, or -1 when rejected here */
	int code;                 /* rejected here: HTTP status */
	const char *type;         /* rejected here: Appwrite error type */
	char message[160];        /* rejected here */
	json_object *fields;      /* owned: the user fields handed to storage */
	json_object *permissions; /* owned: the permissions handed to storage (expanded) */
	json_object *parsed;      /* owned: a `data` text (dataAsText) that was not plain, parsed */
	int as_pushed;            /* a put whose stored user fields are exactly its `data` (no $
	                           * keys, no counters): a slim ack may leave them out */
} push_slot;

static void reject(push_slot *slot, int code, const char *type, const char *message)
{
	slot->write_index = -1;
	slot->code = code;
	slot->type = type;
	snprintf(slot->message, sizeof(slot->message), "%s", message);
}

/* The collections a push touches, loaded before its transaction for the permission guard. */
typedef struct {
	cairn_storage_collection *items;
	size_t count;
	size_t capacity;
} push_collections;

static void push_collections_clear(push_collections *collections)
{
	for (size_t i = 0; i < collections->count; i++)
		cairn__storage_collection_clear(&collections->items[i]);
	free(collections->items);
	memset(collections, 0, sizeof(*collections));
}

/* Loads collection `id` once (an unknown one is left out: storage rejects its writes with
 * collection_not_found before the guard runs). Returns 0 or a negative storage code. */
static int push_collection_load(cairn_api_request *ctx, push_collections *collections,
	const char *id)
{
	cairn_storage_collection loaded;
	int rc;

	for (size_t i = 0; i < collections->count; i++) {
		if (strcmp(collections->items[i].id, id) == 0)
			return 0;
	}
	memset(&loaded, 0, sizeof(loaded));
	rc = ctx->api->backend->collection_get(&loaded, ctx->api->storage, ctx->database_id, id);
	if (rc < 0) {
		cairn__storage_collection_clear(&loaded);
		return rc == CAIRN_ENOTFOUND ? 0 : rc;
	}
	if (collections->count == collections->capacity) {
		size_t capacity = collections->capacity ? collections->capacity * 2 : 4;
		cairn_storage_collection *grown = realloc(collections->items,
			capacity * sizeof(*grown));

		if (!grown) {
			cairn__storage_collection_clear(&loaded);
			return CAIRN_ENOMEM;
		}
		collections->items = grown;
		collections->capacity = capacity;
	}
	collections->items[collections->count++] = loaded;
	return 0;
}

/* The permission side of one prepared mutation (docs/security.md "Permissions"): roles it
 * names must be the caller's own (else the slot is rejected 401 user_unauthorized), write()
 * is expanded, a signed-in user's put that creates gets the user's defaults, and storage's
 * guard checks create/update/delete inside the transaction. Returns 0, or a negative
 * storage code. */
static int authorize_mutation(cairn_api_request *ctx, push_slot *slot,
	cairn_storage_write *write, push_collections *collections,
	cairn_permissions_guard *guard)
{
	char message[160];
	int rc;

	if (write->permissions) {
		if (cairn__permissions_check_roles(&ctx->caller, write->permissions, message,
			sizeof(message)) != 0) {
			reject(slot, 401, "user_unauthorized", message);
			return 0;
		}
		slot->permissions = cairn__permissions_expand_document(write->permissions);
		if (!slot->permissions) {
			reject(slot, 500, "general_server_error", "Out of memory.");
			return 0;
		}
		write->permissions = slot->permissions;
	} else if (write->op == CAIRN_WRITE_REPLACE && ctx->caller.kind == CAIRN_CALLER_USER) {
		/* A put that creates gets the user's defaults; one that replaces keeps the stored
		 * permissions. Should a concurrent create land in between, the guard checks
		 * update against it and the version precondition reports the conflict. */
		cairn_storage_record existing;

		memset(&existing, 0, sizeof(existing));
		rc = ctx->api->backend->document_get(&existing, ctx->api->storage, ctx->database_id,
			write->collection_id, write->id);
		cairn__storage_record_clear(&existing);
		if (rc < 0 && rc != CAIRN_ENOTFOUND)
			return rc;
		if (rc == CAIRN_ENOTFOUND) {
			slot->permissions = cairn__permissions_for_create(&ctx->caller, NULL);
			if (!slot->permissions) {
				reject(slot, 500, "general_server_error", "Out of memory.");
				return 0;
			}
			write->permissions = slot->permissions;
		}
	}
	if (ctx->caller.kind == CAIRN_CALLER_KEY)
		return 0;
	write->guard = cairn__permissions_guard_write;
	write->guard_payload = guard;
	return push_collection_load(ctx, collections, write->collection_id);
}

/* With "dataAsText", a field that is a string holding JSON text becomes the value it holds
 * when the text is needed as a tree anyway: an increment's `data` (the shape check reads it)
 * and `permissions` (checked, expanded and stored as an array). A text that does not parse
 * stays a string and is refused as a value of the wrong type would be. A put's or patch's
 * `data` text is left for prepare_mutation, which stores a plain one as it is. Returns 0, or
 * -1 after responding (out of memory). */
static int parse_text_fields(cairn_api_request *ctx, json_object *mutations)
{
	static const char *const keys[] = { "data", "permissions" };

	for (size_t i = 0; i < json_object_array_length(mutations); i++) {
		json_object *mutation = json_object_array_get_idx(mutations, i);
		const char *op = "";

		if (!json_object_is_type(mutation, json_type_object))
			continue;
		cairn__json_get_string(mutation, "op", &op);
		for (size_t k = strcmp(op, "increment") == 0 ? 0 : 1; k < 2; k++) {
			json_object *field = NULL;
			json_object *value;

			if (!json_object_object_get_ex(mutation, keys[k], &field) ||
				!json_object_is_type(field, json_type_string))
				continue;
			value = cairn__json_parse(json_object_get_string(field),
				(size_t)json_object_get_string_len(field), CAIRN_JSON_MAX_DEPTH);
			if (!value && cairn__error_code() == CAIRN_ENOMEM) {
				cairn__http_respond_error(ctx->response, 500, "general_server_error",
					"Out of memory.");
				return -1;
			}
			if (value && json_object_object_add(mutation, keys[k], value) != 0) {
				json_object_put(value);
				cairn__http_respond_error(ctx->response, 500, "general_server_error",
					"Out of memory.");
				return -1;
			}
		}
	}
	return 0;
}

/* Checks the shape of every mutation: anything that makes the request itself malformed is a
 * 400 for the whole batch. Returns 0, or -1 after responding. */
static int check_push_shape(cairn_api_request *ctx, json_object *mutations)
{
	size_t count = json_object_array_length(mutations);

	for (size_t i = 0; i < count; i++) {
		json_object *mutation = json_object_array_get_idx(mutations, i);
		json_object *field = NULL;
		const char *text;
		int64_t number = 0;

		if (!json_object_is_type(mutation, json_type_object)) {
			respond_bad_field(ctx, "Invalid %s: must be an object%s.", "", i);
			return -1;
		}
		if (!cairn__json_get_string(mutation, "mutationId", &text) || !text[0] ||
			strlen(text) > MUTATION_ID_MAX) {
			respond_bad_field(ctx, "Invalid %s: `%s` must be a string of 1 to 128 "
				"characters.", "mutationId", i);
			return -1;
		}
		if (!cairn__json_get_string(mutation, "op", &text) ||
			(strcmp(text, "put") != 0 && strcmp(text, "patch") != 0 &&
			strcmp(text, "delete") != 0 && strcmp(text, "increment") != 0)) {
			respond_bad_field(ctx, "Invalid %s: `%s` must be \"put\", \"patch\", "
				"\"delete\" or \"increment\".", "op", i);
			return -1;
		}
		if (strcmp(text, "increment") == 0 && !increment_valid(mutation)) {
			respond_bad_field(ctx, "Invalid %s: `%s` of an increment must be an object of "
				"one or more field names (not starting with $) to integer deltas.", "data", i);
			return -1;
		}
		if (json_object_object_get_ex(mutation, "counters", &field) && field &&
			!names_valid(field)) {
			respond_bad_field(ctx, "Invalid %s: `%s` must be an array of field names.",
				"counters", i);
			return -1;
		}
		if (optional_count(mutation, "baseVersion", &number) != 0) {
			respond_bad_field(ctx, "Invalid %s: `%s` must be a non-negative integer.",
				"baseVersion", i);
			return -1;
		}
		if (optional_count(mutation, "hlc", &number) != 0) {
			respond_bad_field(ctx, "Invalid %s: `%s` must be a non-negative integer.",
				"hlc", i);
			return -1;
		}
		if (json_object_object_get_ex(mutation, "prevMutationId", &field) && field &&
			!json_object_is_type(field, json_type_string)) {
			respond_bad_field(ctx, "Invalid %s: `%s` must be a string or null.",
				"prevMutationId", i);
			return -1;
		}
	}
	return 0;
}

/* A put's or patch's `data` sent as text (dataAsText). Returns 1 when it is plain
 * (cairn__sync_text_plain) and may be stored as it is: *data stays the string. Else parses it
 * into slot->parsed and points *data there, so that the object path below judges it exactly
 * as if it had come as an object; returns 0, or -1 after rejecting the slot. */
static int data_from_text(push_slot *slot, json_object **data, int plain_allowed,
	cairn_sync_text_checker *checker)
{
	const char *text = json_object_get_string(*data);
	size_t length = (size_t)json_object_get_string_len(*data);
	size_t start = 0;
	char message[160];

	if (plain_allowed && cairn__sync_text_plain(checker, text, length,
		CAIRN_API_MAX_DOCUMENT_BYTES))
		return 1;
	while (start < length && (text[start] == ' ' || text[start] == '\t' ||
		text[start] == '\n' || text[start] == '\r'))
		start++;
	if (start == length || text[start] != '{') {
		/* As a `data` that is not an object (JSON's null among them, which json-c parses
		 * to NULL), whether the text is JSON or not. */
		reject(slot, 400, "document_invalid_structure",
			"Invalid document structure: `data` must be a JSON object.");
		return -1;
	}
	/* As deep as a `data` object inside a request body may be: the depth check below then
	 * refuses anything deeper than CAIRN_JSON_MAX_DEPTH with its usual message. */
	slot->parsed = cairn__json_parse(text, length, CAIRN_JSON_MAX_DEPTH +
		CAIRN_API_ENVELOPE_DEPTH);
	if (!slot->parsed) {
		if (cairn__error_code() == CAIRN_ENOMEM) {
			reject(slot, 500, "general_server_error", "Out of memory.");
			return -1;
		}
		if (strstr(cairn_error_last(), "nested deeper")) {
			reject(slot, 400, "document_invalid_structure", "Invalid document structure: "
				"`data` is nested deeper than " CAIRN_API_DEPTH_TEXT " levels.");
			return -1;
		}
		snprintf(message, sizeof(message), "Invalid document structure: `data` is not a "
			"JSON text: %s.", cairn_error_last());
		reject(slot, 400, "document_invalid_structure", message);
		return -1;
	}
	*data = slot->parsed;
	return 0;
}

/* The user fields of a put or patch whose `data` is a tree (or absent from a patch), into
 * slot->fields and their printed text into write->data_text. Returns 0, or -1 after rejecting
 * the slot (not an object, nested too deep, too large). */
static int prepare_fields(push_slot *slot, cairn_storage_write *write, json_object *data,
	json_object *counters)
{
	size_t length = 0;

	if (!data && write->op == CAIRN_WRITE_PATCH) {
		slot->fields = json_object_new_object();
	} else if (!json_object_is_type(data, json_type_object)) {
		reject(slot, 400, "document_invalid_structure",
			"Invalid document structure: `data` must be a JSON object.");
		return -1;
	} else if (!counters && !cairn__json_has_system_keys(data)) {
		/* Shared with the body (or slot->parsed), which outlives the write: nobody changes
		 * it. */
		slot->fields = json_object_get(data);
		slot->as_pushed = write->op == CAIRN_WRITE_REPLACE;
	} else {
		slot->fields = cairn__json_user_fields(data);
	}
	if (slot->fields && counters)
		json_object_object_add(slot->fields, COUNTERS_KEY, cairn__json_copy(counters));
	if (!slot->fields || !(write->data_text = cairn__json_text(slot->fields, &length))) {
		reject(slot, 500, "general_server_error", "Out of memory.");
		return -1;
	}
	write->data_text_length = length;
	if (cairn__json_depth(slot->fields) > CAIRN_JSON_MAX_DEPTH) {
		reject(slot, 400, "document_invalid_structure", "Invalid document structure: `data` "
			"is nested deeper than " CAIRN_API_DEPTH_TEXT " levels.");
		return -1;
	}
	if (length > CAIRN_API_MAX_DOCUMENT_BYTES) {
		char message[160];
		snprintf(message, sizeof(message), "Invalid document structure: `data` is %zu bytes "
			"of JSON; the limit is %u bytes.", length, CAIRN_API_MAX_DOCUMENT_BYTES);
		reject(slot, 400, "document_invalid_structure", message);
		return -1;
	}
	return 0;
}

/* Fills `write` from a well-shaped mutation, or rejects the slot for bad content (invalid
 * ids, data that is not an object or too large, bad permissions): deterministic refusals that
 * need not be stored to stay idempotent. `checker` is set when the push said dataAsText: a
 * put's plain `data` text is then handed to storage as it is (storage.h data_text), with no
 * tree. */
static void prepare_mutation(push_slot *slot, cairn_storage_write *write, json_object *mutation,
	const char *client_id, int64_t max_hlc, cairn_sync_text_checker *checker)
{
	const char *op = "";
	const char *collection = NULL;
	const char *id = NULL;
	const char *prev = NULL;
	json_object *data = NULL;
	json_object *permissions = NULL;
	json_object *counters = NULL;
	int64_t base_version = 0;
	int64_t hlc = 0;
	int plain = 0; /* `data` is a plain text, stored as it came */

	cairn__json_get_string(mutation, "op", &op);
	optional_count(mutation, "baseVersion", &base_version);
	optional_count(mutation, "hlc", &hlc);
	cairn__json_get_string(mutation, "prevMutationId", &prev);
	if (!cairn__json_get_string(mutation, "collection", &collection) ||
		!cairn__id_valid(collection)) {
		reject(slot, 400, "general_argument_invalid", "Invalid `collection`: ids are 1 to 36 "
			"chars of a-z, A-Z, 0-9, period, hyphen and underscore, not starting with a "
			"special char.");
		return;
	}
	if (!cairn__json_get_string(mutation, "id", &id) || !cairn__id_valid(id)) {
		reject(slot, 400, "general_argument_invalid", "Invalid `id`: ids are 1 to 36 chars "
			"of a-z, A-Z, 0-9, period, hyphen and underscore, not starting with a special "
			"char.");
		return;
	}
	memset(write, 0, sizeof(*write));
	write->collection_id = collection;
	write->id = id;
	write->expect = CAIRN_EXPECT_VERSION;
	write->base_version = base_version;
	write->prev_mutation = prev;
	write->hlc = hlc > max_hlc ? max_hlc : hlc;
	write->client_id = client_id;
	write->mutation_id = slot->mutation_id;
	if (strcmp(op, "delete") == 0) {
		write->op = CAIRN_WRITE_DELETE;
		return;
	}
	write->op = strcmp(op, "put") == 0 ? CAIRN_WRITE_REPLACE : CAIRN_WRITE_PATCH;
	json_object_object_get_ex(mutation, "data", &data);
	if (strcmp(op, "increment") == 0) {
		/* Applied to whatever the document is now: increments commute, never conflict. */
		write->expect = CAIRN_EXPECT_EXISTS;
		slot->fields = json_object_new_object();
		if (!slot->fields || json_object_object_add(slot->fields, INCREMENT_KEY,
			cairn__json_copy(data)) != 0) {
			reject(slot, 500, "general_server_error", "Out of memory.");
			return;
		}
		write->data = slot->fields;
		return;
	}
	if (write->op == CAIRN_WRITE_REPLACE)
		json_object_object_get_ex(mutation, "counters", &counters);
	if (counters && json_object_array_length(counters) == 0)
		counters = NULL; /* keeps nothing */
	if (checker && json_object_is_type(data, json_type_string)) {
		plain = data_from_text(slot, &data, write->op == CAIRN_WRITE_REPLACE && !counters,
			checker);
		if (plain < 0)
			return;
	}
	if (plain) {
		/* No tree: storage stores the text, a slim ack needs none, a full one parses it. */
		write->data_text = json_object_get_string(data);
		write->data_text_length = (size_t)json_object_get_string_len(data);
		slot->as_pushed = 1;
	} else if (prepare_fields(slot, write, data, counters) != 0) {
		return;
	}
	if (json_object_object_get_ex(mutation, "permissions", &permissions) && permissions) {
		const char *problem = cairn__api_permissions_problem(permissions);
		if (problem) {
			char message[160];
			snprintf(message, sizeof(message), "Invalid `permissions`: %s.", problem);
			reject(slot, 400, "general_argument_invalid", message);
			return;
		}
		write->permissions = permissions;
	}
	write->data = slot->fields;
}

static void append_error(cairn_text *text, int code, const char *type, const char *message)
{
	cairn__text_append_cstr(text, "\"error\":{\"message\":");
	cairn__text_append_json_string(text, message);
	cairn__text_appendf(text, ",\"code\":%d,\"type\":", code);
	cairn__text_append_json_string(text, type);
	cairn__text_append_cstr(text, "}");
}

/* The HTTP code of a storage rejection. */
static int rejection_code(const cairn_storage_outcome *outcome)
{
	int code = cairn__api_status_for_code(outcome->status);
	size_t length = strlen(outcome->error_type);

	if (length > 10 && strcmp(outcome->error_type + length - 10, "_not_found") == 0)
		return 404;
	if (length > 15 && strcmp(outcome->error_type + length - 15, "_already_exists") == 0)
		return 409;
	/* A refusal is the client's to fix; never report it as a server failure. */
	return code == 500 && outcome->error_type[0] ? 400 : code;
}

/* 1 when a conflict's current document must not be shown: the guard let the write through
 * (update or delete permission) but the caller may not read the document. */
static int conflict_hidden(cairn_api_request *ctx, const push_collections *collections,
	const cairn_storage_write *write, const cairn_storage_outcome *outcome)
{
	if (outcome->status != CAIRN_ECONFLICT || ctx->caller.kind == CAIRN_CALLER_KEY ||
		outcome->record.deleted || !outcome->record.data)
		return 0;
	for (size_t i = 0; i < collections->count; i++) {
		if (strcmp(collections->items[i].id, write->collection_id) == 0)
			return !cairn__permissions_allow(&ctx->caller, &collections->items[i],
				&outcome->record, CAIRN_PERMISSION_READ);
	}
	return 1;
}

/* The full Document of an applied write. A put stored from its plain text (dataAsText) has
 * only the text in its outcome (storage.h data_text): parsed here, for the printer, which
 * still splices the text itself. */
static void append_full_document(cairn_text *text, const cairn_storage_record *record)
{
	cairn_storage_record parsed = *record; /* shallow: borrowed, never cleared */

	if (record->data || !record->data_text) {
		cairn__text_append_document(text, record);
		return;
	}
	parsed.data = cairn__json_parse(record->data_text, record->data_text_length,
		CAIRN_JSON_MAX_DEPTH);
	if (!parsed.data) {
		text->failed = 1;
		return;
	}
	cairn__text_append_document(text, &parsed);
	json_object_put(parsed.data);
}

/* `hidden`: a conflict on a document the caller may not read carries its version, clock and
 * author (what the client needs to know it lost, and to rebase) but not the document:
 * "document" is null and "readable" false (docs/protocol.md, docs/security.md).
 * `slim`: an applied put whose stored user fields are exactly what was pushed is acked with
 * "asPushed": true and a document of the $ attributes only (the client has the fields). */
static void append_outcome(cairn_text *text, const cairn_storage_outcome *outcome, int hidden,
	int slim)
{
	const cairn_storage_record *record = &outcome->record;

	if (outcome->status == 0) {
		cairn__text_appendf(text, "\"status\":\"applied\",\"version\":%" PRId64
			",%s\"document\":", record->version,
			slim && !record->deleted ? "\"asPushed\":true," : "");
		if (record->deleted) {
			cairn__text_append_cstr(text, "null");
		} else if (slim) {
			cairn_storage_record system_only = *record; /* shallow: borrowed, never cleared */

			system_only.data = NULL;
			cairn__text_append_document(text, &system_only);
		} else {
			append_full_document(text, record);
		}
	} else if (outcome->status == CAIRN_ECONFLICT) {
		cairn__text_appendf(text, "\"status\":\"conflict\",\"current\":{\"version\":%" PRId64
			",\"deleted\":%s,\"hlc\":%" PRId64 ",\"author\":", record->version,
			record->deleted ? "true" : "false", record->hlc);
		cairn__text_append_json_string(text, record->author ? record->author : "");
		cairn__text_append_cstr(text, ",\"document\":");
		if (hidden)
			cairn__text_append_cstr(text, "null,\"readable\":false");
		else if (record->deleted || !record->data)
			cairn__text_append_cstr(text, "null");
		else
			cairn__text_append_document(text, record);
		cairn__text_append_cstr(text, "}");
	} else {
		cairn__text_append_cstr(text, "\"status\":\"rejected\",");
		append_error(text, rejection_code(outcome), outcome->error_type[0] ?
			outcome->error_type : "general_argument_invalid", outcome->error_message[0] ?
			outcome->error_message : "The server refused this mutation.");
	}
}

void cairn__api_sync_push(cairn_api_request *ctx)
{
	json_object *mutations = NULL;
	json_object *slim_field = NULL;
	json_object *text_field = NULL;
	const char *client_id = NULL;
	int slim_acks = 0;
	int data_as_text = 0;
	cairn_sync_text_checker *checker = NULL; /* set when the push said dataAsText */
	push_slot *slots = NULL;
	push_collections collections = { 0 };
	cairn_permissions_guard guard;
	cairn_storage_write *writes = NULL;
	cairn_storage_outcome *outcomes = NULL;
	cairn_text text = { 0 };
	size_t count;
	size_t write_count = 0;
	size_t outcome_count = 0;
	int64_t max_hlc = hlc_bound();
	int rc;

	if (cairn__api_body_failed(ctx))
		return;
	if (!cairn__json_get_string(ctx->body, "clientId", &client_id) ||
		!cairn__id_valid(client_id)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `clientId` param: a valid id (1 to 36 chars of a-z, A-Z, 0-9, period, "
			"hyphen, underscore) is required.");
		return;
	}
	if (json_object_object_get_ex(ctx->body, "slimAcks", &slim_field) && slim_field) {
		if (!json_object_is_type(slim_field, json_type_boolean)) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `slimAcks` param: must be a boolean.");
			return;
		}
		slim_acks = json_object_get_boolean(slim_field);
	}
	if (json_object_object_get_ex(ctx->body, "dataAsText", &text_field) && text_field) {
		if (!json_object_is_type(text_field, json_type_boolean)) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `dataAsText` param: must be a boolean.");
			return;
		}
		data_as_text = json_object_get_boolean(text_field);
	}
	if (!json_object_object_get_ex(ctx->body, "mutations", &mutations) ||
		!json_object_is_type(mutations, json_type_array)) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `mutations` param: must be an array of 1 to %d mutations.",
			CAIRN_API_MAX_PUSH_MUTATIONS);
		return;
	}
	count = json_object_array_length(mutations);
	if (count == 0 || count > CAIRN_API_MAX_PUSH_MUTATIONS) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `mutations` param: %zu mutations; send 1 to %d per request.", count,
			CAIRN_API_MAX_PUSH_MUTATIONS);
		return;
	}
	if (data_as_text && parse_text_fields(ctx, mutations) != 0)
		return;
	if (check_push_shape(ctx, mutations) != 0)
		return;
	if (cairn__api_require_database(ctx) != 0)
		return;
	if (data_as_text && cairn__sync_text_checker_open(&checker) != 0) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		return;
	}
	slots = calloc(count, sizeof(*slots));
	writes = calloc(count, sizeof(*writes));
	outcomes = calloc(count, sizeof(*outcomes));
	if (!slots || !writes || !outcomes) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		json_object *mutation = json_object_array_get_idx(mutations, i);

		cairn__json_get_string(mutation, "mutationId", &slots[i].mutation_id);
		slots[i].write_index = (int)write_count;
		prepare_mutation(&slots[i], &writes[write_count], mutation, client_id, max_hlc,
			checker);
		writes[write_count].slim_ack = slim_acks && slots[i].as_pushed;
		if (slots[i].write_index >= 0) {
			rc = authorize_mutation(ctx, &slots[i], &writes[write_count], &collections,
				&guard);
			if (rc < 0) {
				cairn__api_respond_storage_error(ctx, rc, "collection_not_found", NULL);
				goto cleanup;
			}
		}
		if (slots[i].write_index >= 0)
			write_count++;
	}
	/* Set once all are loaded: the array may have moved while it grew. */
	guard.caller = &ctx->caller;
	guard.collections = collections.items;
	guard.collection_count = collections.count;
	if (write_count > 0) {
		rc = ctx->api->backend->write(outcomes, ctx->api->storage, ctx->database_id, writes,
			write_count);
		if (rc == CAIRN_ENOTFOUND) {
			cairn__http_respond_error(ctx->response, 404, "database_not_found",
				"Database with the requested ID '%s' could not be found.", ctx->database_id);
			goto cleanup;
		}
		if (rc < 0) {
			cairn__api_respond_storage_error(ctx, rc, "database_not_found", NULL);
			goto cleanup;
		}
		outcome_count = write_count;
	}
	/* dataAsText: this server takes the text form (a client sends it once it has seen this). */
	cairn__text_append_cstr(&text, "{\"dataAsText\":true,\"results\":[");
	for (size_t i = 0; i < count; i++) {
		cairn__text_append_cstr(&text, i ? ",{\"mutationId\":" : "{\"mutationId\":");
		cairn__text_append_json_string(&text, slots[i].mutation_id);
		cairn__text_append_cstr(&text, ",");
		if (slots[i].write_index < 0) {
			cairn__text_append_cstr(&text, "\"status\":\"rejected\",");
			append_error(&text, slots[i].code, slots[i].type, slots[i].message);
		} else {
			append_outcome(&text, &outcomes[slots[i].write_index],
				conflict_hidden(ctx, &collections, &writes[slots[i].write_index],
				&outcomes[slots[i].write_index]), (slim_acks && slots[i].as_pushed) ||
				outcomes[slots[i].write_index].fields_omitted);
		}
		cairn__text_append_cstr(&text, "}");
	}
	cairn__text_append_cstr(&text, "]}");
	respond_text(ctx, &text);
cleanup:
	cairn__text_clear(&text);
	for (size_t i = 0; outcomes && i < outcome_count; i++)
		cairn__storage_outcome_clear(&outcomes[i]);
	for (size_t i = 0; slots && i < count; i++) {
		json_object_put(slots[i].fields);
		json_object_put(slots[i].permissions);
		json_object_put(slots[i].parsed);
	}
	cairn__sync_text_checker_free(checker);
	push_collections_clear(&collections);
	free(outcomes);
	free(writes);
	free(slots);
}

/* ---- pull ---------------------------------------------------------------------------- */

typedef struct {
	cairn_text *text;       /* the response being built */
	cairn_text scratch;     /* one change's text */
	size_t max_bytes;
	size_t changes_bytes;   /* bytes of change text appended so far */
	size_t count;
	int64_t last_version;
	int over_budget;        /* 1 when a change was left for the next page */
	int data_as_text;       /* the request's dataAsText: fields as JSON text (sync_text.c) */
	cairn_sync_scope *scope; /* what the caller may receive (sync_scope.c) */
} pull_state;

static int append_change(const cairn_storage_record *record, size_t approx_bytes, void *payload)
{
	pull_state *state = payload;
	cairn_text *scratch = &state->scratch;
	int visible = cairn__sync_scope_visible(state->scope, record);

	(void)approx_bytes;
	if (visible < 0)
		return visible;
	if (visible == CAIRN_SYNC_SKIP) {
		/* Nothing to send, but the checkpoint moves past it. */
		state->last_version = record->version;
		return 0;
	}
	scratch->length = 0;
	cairn__text_append_cstr(scratch, "{\"collection\":");
	cairn__text_append_json_string(scratch, record->collection_id);
	cairn__text_append_cstr(scratch, ",\"id\":");
	cairn__text_append_json_string(scratch, record->id);
	if (visible == CAIRN_SYNC_PURGE) {
		/* A purge marker: the client drops its copy. No data, permissions, clock or
		 * author; the version keeps the checkpoint moving past it. */
		cairn__text_appendf(scratch, ",\"version\":%" PRId64 ",\"deleted\":false,"
			"\"purge\":true,\"document\":null}", record->version);
	} else {
		cairn__text_appendf(scratch, ",\"version\":%" PRId64 ",\"deleted\":%s,\"hlc\":%"
			PRId64 ",\"author\":", record->version, record->deleted ? "true" : "false",
			record->hlc);
		cairn__text_append_json_string(scratch, record->author ? record->author : "");
		if (state->data_as_text && !record->deleted && (record->data || record->data_text)) {
			cairn__sync_text_fields(scratch, record);
		} else {
			cairn__text_append_cstr(scratch, ",\"document\":");
			if (record->deleted || !record->data)
				cairn__text_append_cstr(scratch, "null");
			else
				cairn__text_append_document(scratch, record);
		}
		cairn__text_append_cstr(scratch, "}");
	}
	if (scratch->failed)
		return CAIRN_ENOMEM;
	/* The budget is soft: a page always carries at least one change. */
	if (state->count > 0 && state->changes_bytes + scratch->length + 1 > state->max_bytes) {
		state->over_budget = 1;
		return 1;
	}
	if (state->count > 0)
		cairn__text_append(state->text, ",", 1);
	cairn__text_append(state->text, scratch->data, scratch->length);
	if (state->text->failed)
		return CAIRN_ENOMEM;
	state->changes_bytes += scratch->length + 1;
	state->count++;
	state->last_version = record->version;
	return 0;
}

void cairn__api_sync_pull(cairn_api_request *ctx)
{
	json_object *field = NULL;
	const char **collections = NULL;
	size_t collection_count = 0;
	int64_t checkpoint = 0;
	int64_t limit = PULL_DEFAULT_LIMIT;
	int64_t max_bytes = PULL_DEFAULT_MAX_BYTES;
	cairn_text text = { 0 };
	pull_state state;
	int more = 0;
	int rc;

	memset(&state, 0, sizeof(state));
	if (cairn__api_body_failed(ctx))
		return;
	if (optional_count(ctx->body, "checkpoint", &checkpoint) != 0) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `checkpoint` param: must be a non-negative integer.");
		return;
	}
	if (optional_count(ctx->body, "limit", &limit) != 0 || limit < 1 ||
		limit > PULL_MAX_LIMIT) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `limit` param: must be an integer from 1 to %d.", PULL_MAX_LIMIT);
		return;
	}
	if (optional_count(ctx->body, "maxBytes", &max_bytes) != 0 || max_bytes < 1) {
		cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
			"Invalid `maxBytes` param: must be a positive integer.");
		return;
	}
	if (json_object_object_get_ex(ctx->body, "dataAsText", &field) && field) {
		if (!json_object_is_type(field, json_type_boolean)) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `dataAsText` param: must be a boolean.");
			return;
		}
		state.data_as_text = json_object_get_boolean(field);
	}
	field = NULL;
	if (json_object_object_get_ex(ctx->body, "collections", &field) && field) {
		if (!json_object_is_type(field, json_type_array) ||
			json_object_array_length(field) > PULL_MAX_COLLECTIONS) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `collections` param: must be an array of at most %d collection ids.",
				PULL_MAX_COLLECTIONS);
			return;
		}
		collection_count = json_object_array_length(field);
	}
	if (cairn__api_require_database(ctx) != 0)
		return;
	if (cairn__sync_scope_open(&state.scope, ctx) != 0)
		return;
	collections = calloc(collection_count ? collection_count : 1, sizeof(*collections));
	if (!collections) {
		cairn__http_respond_error(ctx->response, 500, "general_server_error", "Out of memory.");
		goto cleanup;
	}
	for (size_t i = 0; i < collection_count; i++) {
		json_object *entry = json_object_array_get_idx(field, i);
		if (!json_object_is_type(entry, json_type_string) ||
			!cairn__id_valid(json_object_get_string(entry))) {
			cairn__http_respond_error(ctx->response, 400, "general_argument_invalid",
				"Invalid `collections` param: entry %zu is not a valid collection id.", i);
			goto cleanup;
		}
		collections[i] = json_object_get_string(entry);
	}
	state.text = &text;
	state.max_bytes = (size_t)max_bytes;
	cairn__text_append_cstr(&text, "{\"changes\":[");
	/* Text that goes out as text need not be parsed (storage.h changes_text). */
	rc = (state.data_as_text && ctx->api->backend->changes_text ?
		ctx->api->backend->changes_text : ctx->api->backend->changes)(ctx->api->storage,
		ctx->database_id, checkpoint, collection_count ? collections : NULL,
		collection_count, (size_t)limit, append_change, &state, &more);
	if (rc < 0) {
		if (rc == CAIRN_ENOTFOUND)
			cairn__http_respond_error(ctx->response, 404, "database_not_found",
				"Database with the requested ID '%s' could not be found.", ctx->database_id);
		else if (rc == CAIRN_ENOMEM)
			cairn__http_respond_error(ctx->response, 500, "general_server_error",
				"Out of memory.");
		else
			cairn__api_respond_storage_error(ctx, rc, "database_not_found", NULL);
		goto cleanup;
	}
	if (state.over_budget)
		more = 1;
	cairn__text_appendf(&text, "],\"checkpoint\":%" PRId64 ",\"more\":%s,",
		state.last_version ? state.last_version : checkpoint, more ? "true" : "false");
	cairn__sync_scope_append_fingerprints(&text, state.scope, collections, collection_count);
	cairn__text_append_cstr(&text, "}");
	respond_text(ctx, &text);
cleanup:
	cairn__sync_scope_free(state.scope);
	cairn__text_clear(&state.scratch);
	cairn__text_clear(&text);
	free(collections);
}
