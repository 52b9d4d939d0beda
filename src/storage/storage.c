/* storage.c: what every storage backend shares: releasing records, and the backend-independent
 * parts of a write (argument checks, user fields, counters, outcomes). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "storage/storage_int.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"

void cairn__storage_outcome_set(cairn_storage_outcome *outcome, int status, const char *type,
	const char *fmt, ...)
{
	va_list args;

	outcome->status = status;
	snprintf(outcome->error_type, sizeof(outcome->error_type), "%s", type);
	va_start(args, fmt);
	vsnprintf(outcome->error_message, sizeof(outcome->error_message), fmt, args);
	va_end(args);
}


void cairn__storage_record_clear(cairn_storage_record *record)
{
	if (!record)
		return;
	free(record->database_id);
	free(record->collection_id);
	free(record->id);
	json_object_put(record->data);
	json_object_put(record->permissions);
	free(record->author);
	free(record->last_mutation);
	memset(record, 0, sizeof(*record));
}

void cairn__storage_database_clear(cairn_storage_database *database)
{
	if (!database)
		return;
	free(database->id);
	free(database->name);
	memset(database, 0, sizeof(*database));
}

void cairn__storage_collection_clear(cairn_storage_collection *collection)
{
	if (!collection)
		return;
	free(collection->database_id);
	free(collection->id);
	free(collection->name);
	json_object_put(collection->permissions);
	memset(collection, 0, sizeof(*collection));
}

void cairn__storage_outcome_clear(cairn_storage_outcome *outcome)
{
	if (!outcome)
		return;
	cairn__storage_record_clear(&outcome->record);
	memset(outcome, 0, sizeof(*outcome));
}

/* A new reference to the user fields of `data` (NULL data gives {}). */
json_object *cairn__storage_user_fields(json_object *data)
{
	if (!data)
		return json_object_new_object();
	if (cairn__json_has_system_keys(data))
		return cairn__json_user_fields(data);
	/* Shared by reference: the record owns one reference, the caller keeps its own. */
	return json_object_get(data);
}

/* Sync pushes pass counters inside `data` (api_sync.c; storage.h has no increment op):
 * {CAIRN_STORAGE_INCREMENT_KEY: {field: delta}} in a patch adds the deltas to the stored values (a missing
 * or non-numeric field counts as 0), and {CAIRN_STORAGE_COUNTERS_KEY: [field...]} in a replace keeps those
 * fields' stored values. REST strips $ keys before they get here. */

json_object *cairn__storage_incremented(json_object *stored, json_object *deltas)
{
	json_object *data = stored ? cairn__json_copy(stored) : json_object_new_object();

	if (!data || !json_object_is_type(deltas, json_type_object))
		return data;
	json_object_object_foreach(deltas, field, delta) {
		json_object *current = NULL;
		json_object *sum;

		json_object_object_get_ex(data, field, &current);
		if (json_object_is_type(current, json_type_double))
			sum = json_object_new_double(json_object_get_double(current) +
				(double)json_object_get_int64(delta));
		else
			sum = json_object_new_int64((json_object_is_type(current, json_type_int) ?
				json_object_get_int64(current) : 0) + json_object_get_int64(delta));
		if (!sum || json_object_object_add(data, field, sum) != 0) {
			json_object_put(sum);
			json_object_put(data);
			return NULL;
		}
	}
	return data;
}

void cairn__storage_keep_counters(json_object **data, json_object *stored, json_object *names)
{
	json_object *copy;

	if (!json_object_is_type(names, json_type_array))
		return;
	/* user_fields may share the caller's object: write into a private copy. */
	copy = cairn__json_copy(*data);
	if (!copy)
		return;
	json_object_put(*data);
	*data = copy;
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		const char *field = json_object_get_string(json_object_array_get_idx(names, i));
		json_object *value = NULL;

		if (!field)
			continue;
		json_object_object_del(copy, field);
		if (json_object_object_get_ex(stored, field, &value))
			json_object_object_add(copy, field, json_object_get(value));
	}
}

/* Checks a write's arguments; 0 if fine, else the outcome is set to rejected. */
int cairn__storage_write_arguments_ok(const cairn_storage_write *write, cairn_storage_outcome *outcome)
{
	if (write->op < CAIRN_WRITE_CREATE || write->op > CAIRN_WRITE_DELETE) {
		cairn__storage_outcome_set(outcome, CAIRN_EINVALID, "general_argument_invalid",
			"Unknown write operation %d.", (int)write->op);
		return 0;
	}
	if (!write->collection_id || !cairn__id_valid(write->collection_id)) {
		cairn__storage_outcome_set(outcome, CAIRN_EINVALID, "general_argument_invalid",
			"Invalid `collectionId` param: " CAIRN_STORAGE_ID_RULES);
		return 0;
	}
	if (!write->id || !cairn__id_valid(write->id)) {
		cairn__storage_outcome_set(outcome, CAIRN_EINVALID, "general_argument_invalid",
			"Invalid `documentId` param: " CAIRN_STORAGE_ID_RULES);
		return 0;
	}
	if (write->op != CAIRN_WRITE_DELETE && write->data &&
		!json_object_is_type(write->data, json_type_object)) {
		cairn__storage_outcome_set(outcome, CAIRN_EINVALID, "document_invalid_structure",
			"Invalid document structure: the data must be a JSON object.");
		return 0;
	}
	if (write->permissions && !json_object_is_type(write->permissions, json_type_array)) {
		cairn__storage_outcome_set(outcome, CAIRN_EINVALID, "general_argument_invalid",
			"Invalid `permissions` param: Value must be an array of permission strings.");
		return 0;
	}
	return 1;
}

int cairn__storage_record_empty(cairn_storage_record *record, const char *database_id,
	const char *collection_id, const char *id)
{
	memset(record, 0, sizeof(*record));
	record->database_id = strdup(database_id);
	record->collection_id = strdup(collection_id ? collection_id : "");
	record->id = strdup(id ? id : "");
	record->author = strdup("");
	record->last_mutation = strdup("");
	record->permissions = json_object_new_array();
	record->deleted = 1;
	if (!record->database_id || !record->collection_id || !record->id || !record->author ||
		!record->last_mutation || !record->permissions) {
		cairn__storage_record_clear(record);
		return cairn__error_set(CAIRN_ENOMEM, "storage: out of memory");
	}
	return 0;
}

int cairn__storage_record_set_string(char **field, const char *value)
{
	char *copy = strdup(value ? value : "");

	if (!copy)
		return cairn__error_set(CAIRN_ENOMEM, "storage: out of memory");
	free(*field);
	*field = copy;
	return 0;
}

json_object *cairn__storage_new_data(const cairn_storage_write *write, json_object *stored_data)
{
	json_object *special = NULL;
	json_object *data;

	if (write->op == CAIRN_WRITE_PATCH && write->data &&
		json_object_object_get_ex(write->data, CAIRN_STORAGE_INCREMENT_KEY, &special))
		return cairn__storage_incremented(stored_data, special);
	if (write->op == CAIRN_WRITE_PATCH) {
		json_object *patch = cairn__storage_user_fields(write->data);

		data = patch ? cairn__json_merge_top(stored_data, patch) : NULL;
		json_object_put(patch);
		return data;
	}
	data = cairn__storage_user_fields(write->data);
	if (data && stored_data && write->data &&
		json_object_object_get_ex(write->data, CAIRN_STORAGE_COUNTERS_KEY, &special))
		cairn__storage_keep_counters(&data, stored_data, special);
	return data;
}

int cairn__storage_guard_rejects(const cairn_storage_write *write, cairn_storage_outcome *outcome,
	int live, const char *permissions_text)
{
	json_object *permissions = NULL;
	int rc;

	if (!write->guard)
		return 0;
	if (live) {
		permissions = cairn__json_parse(permissions_text ? permissions_text : "[]", (size_t)-1,
			CAIRN_JSON_MAX_DEPTH);
		if (!permissions) {
			/* Unreadable stored permissions grant nothing. */
			permissions = json_object_new_array();
			if (!permissions)
				return cairn__error_set(CAIRN_ENOMEM, "storage: out of memory");
		}
	}
	rc = write->guard(outcome, write, live, permissions, write->guard_payload);
	json_object_put(permissions);
	if (rc == 0)
		return 0;
	if (outcome->status == 0)
		cairn__storage_outcome_set(outcome, rc < 0 ? rc : CAIRN_EAUTH, "user_unauthorized",
			"The current user is not authorized to perform the requested action.");
	return 1;
}
