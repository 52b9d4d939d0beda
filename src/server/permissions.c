/* permissions.c: Appwrite's permission model: caller roles, grants, defaults, the role rule
 * and the write guard that storage runs inside its transaction. */
#include "server/permissions.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

void cairn__permissions_roles(cairn_permission_roles *out, const cairn_api_caller *caller)
{
	memset(out, 0, sizeof(*out));
	if (!caller || caller->kind == CAIRN_CALLER_KEY)
		return;
	snprintf(out->roles[out->count++], CAIRN_PERMISSIONS_ROLE_SIZE, "any");
	if (caller->kind == CAIRN_CALLER_GUEST || !caller->user_id[0]) {
		snprintf(out->roles[out->count++], CAIRN_PERMISSIONS_ROLE_SIZE, "guests");
		return;
	}
	/* No email verification exists here: every user is unverified. */
	snprintf(out->roles[out->count++], CAIRN_PERMISSIONS_ROLE_SIZE, "users");
	snprintf(out->roles[out->count++], CAIRN_PERMISSIONS_ROLE_SIZE, "users/unverified");
	snprintf(out->roles[out->count++], CAIRN_PERMISSIONS_ROLE_SIZE, "user:%s",
		caller->user_id);
	snprintf(out->roles[out->count++], CAIRN_PERMISSIONS_ROLE_SIZE, "user:%s/unverified",
		caller->user_id);
}

int cairn__permissions_holds(const cairn_api_caller *caller, const char *role)
{
	cairn_permission_roles roles;

	if (!role)
		return 0;
	cairn__permissions_roles(&roles, caller);
	for (size_t i = 0; i < roles.count; i++) {
		if (strcmp(roles.roles[i], role) == 0)
			return 1;
	}
	return 0;
}

int cairn__permission_split(const char *permission, char action[8],
	char role[CAIRN_PERMISSIONS_ROLE_SIZE])
{
	const char *open;
	size_t length, action_length, role_length;

	if (!permission)
		return -1;
	length = strlen(permission);
	open = strchr(permission, '(');
	if (!open || length < 4 || strcmp(permission + length - 2, "\")") != 0 || open[1] != '"')
		return -1;
	action_length = (size_t)(open - permission);
	role_length = length - action_length - 4;
	if (action_length == 0 || action_length >= 8 || role_length == 0 ||
		role_length >= CAIRN_PERMISSIONS_ROLE_SIZE || open + 2 > permission + length - 2)
		return -1;
	memcpy(action, permission, action_length);
	action[action_length] = '\0';
	memcpy(role, open + 2, role_length);
	role[role_length] = '\0';
	if (strchr(role, '"'))
		return -1;
	if (strcmp(action, "read") && strcmp(action, "create") && strcmp(action, "update") &&
		strcmp(action, "delete") && strcmp(action, "write"))
		return -1;
	return 0;
}

static const char *action_name(cairn_permission_action action)
{
	switch (action) {
	case CAIRN_PERMISSION_READ: return "read";
	case CAIRN_PERMISSION_CREATE: return "create";
	case CAIRN_PERMISSION_UPDATE: return "update";
	default: return "delete";
	}
}

/* 1 when the permission's action covers `action`: itself, or write() for update and delete
 * (and create on a collection). */
static int action_covers(const char *given, cairn_permission_action action, int on_collection)
{
	if (strcmp(given, action_name(action)) == 0)
		return 1;
	if (strcmp(given, "write") != 0)
		return 0;
	return action == CAIRN_PERMISSION_UPDATE || action == CAIRN_PERMISSION_DELETE ||
		(on_collection && action == CAIRN_PERMISSION_CREATE);
}

int cairn__permissions_grants(const cairn_api_caller *caller, json_object *permissions,
	cairn_permission_action action, int on_collection)
{
	cairn_permission_roles roles;
	size_t count;

	if (caller && caller->kind == CAIRN_CALLER_KEY)
		return 1;
	if (!json_object_is_type(permissions, json_type_array))
		return 0;
	cairn__permissions_roles(&roles, caller);
	count = json_object_array_length(permissions);
	for (size_t i = 0; i < count; i++) {
		char given[8], role[CAIRN_PERMISSIONS_ROLE_SIZE];
		json_object *entry = json_object_array_get_idx(permissions, i);

		if (!json_object_is_type(entry, json_type_string) ||
			cairn__permission_split(json_object_get_string(entry), given, role) != 0 ||
			!action_covers(given, action, on_collection))
			continue;
		for (size_t r = 0; r < roles.count; r++) {
			if (strcmp(roles.roles[r], role) == 0)
				return 1;
		}
	}
	return 0;
}

int cairn__permissions_allow(const cairn_api_caller *caller,
	const cairn_storage_collection *collection, const cairn_storage_record *record,
	cairn_permission_action action)
{
	if (caller && caller->kind == CAIRN_CALLER_KEY)
		return 1;
	if (!collection)
		return 0;
	if (cairn__permissions_grants(caller, collection->permissions, action, 1))
		return 1;
	if (action == CAIRN_PERMISSION_CREATE || !collection->document_security || !record)
		return 0;
	return cairn__permissions_grants(caller, record->permissions, action, 0);
}

static int array_has_string(json_object *array, const char *value)
{
	for (size_t i = 0; i < json_object_array_length(array); i++) {
		if (strcmp(json_object_get_string(json_object_array_get_idx(array, i)), value) == 0)
			return 1;
	}
	return 0;
}

static int add_unique(json_object *array, const char *value)
{
	json_object *text;

	if (array_has_string(array, value))
		return 0;
	text = json_object_new_string(value);
	if (!text || json_object_array_add(array, text) != 0) {
		json_object_put(text);
		return -1;
	}
	return 0;
}

json_object *cairn__permissions_expand_document(json_object *permissions)
{
	json_object *out = json_object_new_array();

	if (!out)
		return NULL;
	for (size_t i = 0; json_object_is_type(permissions, json_type_array) &&
		i < json_object_array_length(permissions); i++) {
		const char *text = json_object_get_string(json_object_array_get_idx(permissions, i));
		char action[8], role[CAIRN_PERMISSIONS_ROLE_SIZE], one[CAIRN_PERMISSIONS_ROLE_SIZE + 12];
		int failed;

		if (cairn__permission_split(text, action, role) != 0) {
			failed = add_unique(out, text ? text : ""); /* validated earlier; kept as is */
		} else if (strcmp(action, "write") == 0) {
			snprintf(one, sizeof(one), "update(\"%s\")", role);
			failed = add_unique(out, one);
			snprintf(one, sizeof(one), "delete(\"%s\")", role);
			failed = failed || add_unique(out, one);
		} else if (strcmp(action, "create") == 0) {
			failed = 0; /* documents have no create permission (§5) */
		} else {
			failed = add_unique(out, text);
		}
		if (failed) {
			json_object_put(out);
			return NULL;
		}
	}
	return out;
}

int cairn__permissions_check_roles(const cairn_api_caller *caller, json_object *permissions,
	char *message, size_t size)
{
	cairn_permission_roles roles;

	if ((caller && caller->kind == CAIRN_CALLER_KEY) ||
		!json_object_is_type(permissions, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(permissions); i++) {
		char action[8], role[CAIRN_PERMISSIONS_ROLE_SIZE];
		const char *text = json_object_get_string(json_object_array_get_idx(permissions, i));
		size_t used;

		if (cairn__permission_split(text, action, role) == 0 &&
			cairn__permissions_holds(caller, role))
			continue;
		/* Appwrite's message lists the roles the caller may use. */
		cairn__permissions_roles(&roles, caller);
		used = (size_t)snprintf(message, size, "Permissions must be one of: (");
		for (size_t r = 0; r < roles.count && used < size; r++)
			used += (size_t)snprintf(message + used, size - used, "%s%s", r ? ", " : "",
				roles.roles[r]);
		if (used < size)
			snprintf(message + used, size - used, ")");
		return CAIRN_EAUTH;
	}
	return 0;
}

json_object *cairn__permissions_for_create(const cairn_api_caller *caller, json_object *given)
{
	json_object *out;
	char one[CAIRN_PERMISSIONS_ROLE_SIZE + 12];
	static const char *const actions[] = { "read", "update", "delete" };

	if (given)
		return cairn__permissions_expand_document(given);
	out = json_object_new_array();
	if (!out || !caller || caller->kind != CAIRN_CALLER_USER || !caller->user_id[0])
		return out;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		snprintf(one, sizeof(one), "%s(\"user:%s\")", actions[i], caller->user_id);
		if (add_unique(out, one) != 0) {
			json_object_put(out);
			return NULL;
		}
	}
	return out;
}

/* Adds the roles that `permissions` grants read to. */
static int add_read_roles(json_object *roles, json_object *permissions)
{
	for (size_t i = 0; json_object_is_type(permissions, json_type_array) &&
		i < json_object_array_length(permissions); i++) {
		char action[8], role[CAIRN_PERMISSIONS_ROLE_SIZE];
		const char *text = json_object_get_string(json_object_array_get_idx(permissions, i));

		if (cairn__permission_split(text, action, role) == 0 &&
			strcmp(action, "read") == 0 && add_unique(roles, role) != 0)
			return -1;
	}
	return 0;
}

json_object *cairn__permissions_read_roles(const cairn_storage_collection *collection,
	json_object *document_permissions)
{
	json_object *roles = json_object_new_array();

	if (!roles)
		return NULL;
	if (collection && (add_read_roles(roles, collection->permissions) != 0 ||
		(collection->document_security &&
		add_read_roles(roles, document_permissions) != 0))) {
		json_object_put(roles);
		return NULL;
	}
	return roles;
}

int cairn__permissions_holds_any(const cairn_api_caller *caller, json_object *roles)
{
	if (caller && caller->kind == CAIRN_CALLER_KEY)
		return 1;
	for (size_t i = 0; json_object_is_type(roles, json_type_array) &&
		i < json_object_array_length(roles); i++) {
		if (cairn__permissions_holds(caller,
			json_object_get_string(json_object_array_get_idx(roles, i))))
			return 1;
	}
	return 0;
}

static const cairn_storage_collection *guard_collection(const cairn_permissions_guard *guard,
	const char *id)
{
	for (size_t i = 0; id && i < guard->collection_count; i++) {
		if (guard->collections[i].id && strcmp(guard->collections[i].id, id) == 0)
			return &guard->collections[i];
	}
	return NULL;
}

int cairn__permissions_guard_write(cairn_storage_outcome *outcome,
	const cairn_storage_write *write, int live, json_object *current_permissions,
	void *payload)
{
	const cairn_permissions_guard *guard = payload;
	const cairn_storage_collection *collection;
	cairn_storage_record current;
	cairn_permission_action action;

	if (!guard || (guard->caller && guard->caller->kind == CAIRN_CALLER_KEY))
		return 0;
	switch (write->op) {
	case CAIRN_WRITE_CREATE:
		action = CAIRN_PERMISSION_CREATE;
		break;
	case CAIRN_WRITE_REPLACE:
		action = live ? CAIRN_PERMISSION_UPDATE : CAIRN_PERMISSION_CREATE;
		break;
	case CAIRN_WRITE_PATCH:
		if (!live)
			return 0;
		action = CAIRN_PERMISSION_UPDATE;
		break;
	default:
		if (!live)
			return 0;
		action = CAIRN_PERMISSION_DELETE;
		break;
	}
	collection = guard_collection(guard, write->collection_id);
	memset(&current, 0, sizeof(current));
	current.permissions = current_permissions;
	if (collection && cairn__permissions_allow(guard->caller, collection,
		live ? &current : NULL, action))
		return 0;
	outcome->status = CAIRN_EAUTH;
	snprintf(outcome->error_type, sizeof(outcome->error_type), "user_unauthorized");
	snprintf(outcome->error_message, sizeof(outcome->error_message), "%s",
		CAIRN_PERMISSIONS_DENIED_MESSAGE);
	return CAIRN_EAUTH;
}
