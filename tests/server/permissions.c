/* permissions.c: the permission model (roles, grants, write(), defaults, the role rule) and
 * the write guard run by real SQLite storage inside its transaction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "server/permissions.h"
#include "storage/storage.h"
#include "util/json.h"

static cairn_api_caller guest(void)
{
	cairn_api_caller caller;

	memset(&caller, 0, sizeof(caller));
	caller.kind = CAIRN_CALLER_GUEST;
	return caller;
}

static cairn_api_caller user(const char *id)
{
	cairn_api_caller caller;

	memset(&caller, 0, sizeof(caller));
	caller.kind = CAIRN_CALLER_USER;
	snprintf(caller.user_id, sizeof(caller.user_id), "%s", id);
	snprintf(caller.session_id, sizeof(caller.session_id), "s-%s", id);
	return caller;
}

static cairn_api_caller key(void)
{
	cairn_api_caller caller;

	memset(&caller, 0, sizeof(caller));
	caller.kind = CAIRN_CALLER_KEY;
	return caller;
}

static json_object *parse(const char *text)
{
	json_object *value = cairn__json_parse(text, strlen(text), 0);

	assert_non_null(value);
	return value;
}

static void assert_json(json_object *value, const char *expected)
{
	json_object *want = parse(expected);

	if (!json_object_equal(value, want))
		fail_msg("got %s, expected %s", json_object_to_json_string(value), expected);
	json_object_put(want);
}

static cairn_storage_collection collection_of(const char *permissions, int document_security)
{
	cairn_storage_collection collection;

	memset(&collection, 0, sizeof(collection));
	collection.id = strdup("items");
	collection.database_id = strdup("main");
	collection.name = strdup("items");
	collection.permissions = parse(permissions);
	collection.document_security = document_security;
	return collection;
}

static void test_server_permissions__roles(void **state)
{
	cairn_api_caller g = guest(), u = user("u1"), k = key();
	cairn_permission_roles roles;

	(void)state;
	cairn__permissions_roles(&roles, &g);
	assert_int_equal(roles.count, 2);
	assert_string_equal(roles.roles[0], "any");
	assert_string_equal(roles.roles[1], "guests");
	cairn__permissions_roles(&roles, &u);
	assert_int_equal(roles.count, 5);
	assert_true(cairn__permissions_holds(&u, "any"));
	assert_true(cairn__permissions_holds(&u, "users"));
	assert_true(cairn__permissions_holds(&u, "users/unverified"));
	assert_true(cairn__permissions_holds(&u, "user:u1"));
	assert_true(cairn__permissions_holds(&u, "user:u1/unverified"));
	assert_false(cairn__permissions_holds(&u, "guests"));
	assert_false(cairn__permissions_holds(&u, "users/verified"));
	assert_false(cairn__permissions_holds(&u, "user:u2"));
	assert_false(cairn__permissions_holds(&u, "user:u"));
	assert_false(cairn__permissions_holds(&u, "team:t1"));
	assert_false(cairn__permissions_holds(&g, "users"));
	cairn__permissions_roles(&roles, &k);
	assert_int_equal(roles.count, 0);
}

static void test_server_permissions__parse(void **state)
{
	char action[8], role[CAIRN_PERMISSIONS_ROLE_SIZE];

	(void)state;
	assert_int_equal(cairn__permission_split("read(\"any\")", action, role), 0);
	assert_string_equal(action, "read");
	assert_string_equal(role, "any");
	assert_int_equal(cairn__permission_split("write(\"user:a(b\")", action, role), 0);
	assert_string_equal(action, "write");
	assert_string_equal(role, "user:a(b");
	assert_int_equal(cairn__permission_split("read(\"\")", action, role), -1);
	assert_int_equal(cairn__permission_split("read(any)", action, role), -1);
	assert_int_equal(cairn__permission_split("own(\"any\")", action, role), -1);
	assert_int_equal(cairn__permission_split("read(\"a\"b\")", action, role), -1);
	assert_int_equal(cairn__permission_split("(\"any\")", action, role), -1);
	assert_int_equal(cairn__permission_split("", action, role), -1);
	assert_int_equal(cairn__permission_split(NULL, action, role), -1);
}

static void test_server_permissions__grants_and_write(void **state)
{
	cairn_api_caller u = user("u1"), g = guest(), k = key();
	json_object *perms = parse("[\"write(\\\"user:u1\\\")\",\"read(\\\"guests\\\")\"]");

	(void)state;
	/* write() = update + delete on a document, plus create on a collection. */
	assert_true(cairn__permissions_grants(&u, perms, CAIRN_PERMISSION_UPDATE, 0));
	assert_true(cairn__permissions_grants(&u, perms, CAIRN_PERMISSION_DELETE, 0));
	assert_false(cairn__permissions_grants(&u, perms, CAIRN_PERMISSION_CREATE, 0));
	assert_true(cairn__permissions_grants(&u, perms, CAIRN_PERMISSION_CREATE, 1));
	assert_false(cairn__permissions_grants(&u, perms, CAIRN_PERMISSION_READ, 1));
	assert_true(cairn__permissions_grants(&g, perms, CAIRN_PERMISSION_READ, 0));
	assert_false(cairn__permissions_grants(&g, perms, CAIRN_PERMISSION_UPDATE, 0));
	assert_true(cairn__permissions_grants(&k, NULL, CAIRN_PERMISSION_DELETE, 0));
	assert_false(cairn__permissions_grants(&u, NULL, CAIRN_PERMISSION_READ, 0));
	json_object_put(perms);
}

static void test_server_permissions__allow(void **state)
{
	cairn_api_caller u1 = user("u1"), u2 = user("u2"), g = guest(), k = key();
	cairn_storage_collection open_read = collection_of("[\"read(\\\"any\\\")\","
		"\"create(\\\"users\\\")\"]", 0);
	cairn_storage_collection secure = collection_of("[\"create(\\\"users\\\")\"]", 1);
	cairn_storage_record record;

	(void)state;
	memset(&record, 0, sizeof(record));
	record.permissions = parse("[\"read(\\\"user:u1\\\")\",\"update(\\\"user:u1\\\")\"]");
	/* Collection permissions alone; document ones ignored without documentSecurity. */
	assert_true(cairn__permissions_allow(&g, &open_read, &record, CAIRN_PERMISSION_READ));
	assert_false(cairn__permissions_allow(&u1, &open_read, &record, CAIRN_PERMISSION_UPDATE));
	assert_true(cairn__permissions_allow(&u1, &open_read, NULL, CAIRN_PERMISSION_CREATE));
	assert_false(cairn__permissions_allow(&g, &open_read, NULL, CAIRN_PERMISSION_CREATE));
	/* documentSecurity: the document's own permissions count too. */
	assert_true(cairn__permissions_allow(&u1, &secure, &record, CAIRN_PERMISSION_READ));
	assert_true(cairn__permissions_allow(&u1, &secure, &record, CAIRN_PERMISSION_UPDATE));
	assert_false(cairn__permissions_allow(&u1, &secure, &record, CAIRN_PERMISSION_DELETE));
	assert_false(cairn__permissions_allow(&u2, &secure, &record, CAIRN_PERMISSION_READ));
	assert_false(cairn__permissions_allow(&g, &secure, &record, CAIRN_PERMISSION_READ));
	assert_false(cairn__permissions_allow(&u1, &secure, NULL, CAIRN_PERMISSION_READ));
	/* Document-level create does not exist. */
	json_object_put(record.permissions);
	record.permissions = parse("[\"create(\\\"guests\\\")\"]");
	assert_false(cairn__permissions_allow(&g, &secure, &record, CAIRN_PERMISSION_CREATE));
	/* Keys: everything, even with no collection. */
	assert_true(cairn__permissions_allow(&k, &secure, &record, CAIRN_PERMISSION_DELETE));
	assert_true(cairn__permissions_allow(&k, NULL, NULL, CAIRN_PERMISSION_CREATE));
	assert_false(cairn__permissions_allow(&u1, NULL, NULL, CAIRN_PERMISSION_READ));
	json_object_put(record.permissions);
	cairn__storage_collection_clear(&open_read);
	cairn__storage_collection_clear(&secure);
}

static void test_server_permissions__expand_and_defaults(void **state)
{
	cairn_api_caller u = user("u1"), g = guest(), k = key();
	json_object *given = parse("[\"read(\\\"any\\\")\",\"write(\\\"user:u1\\\")\","
		"\"update(\\\"user:u1\\\")\",\"create(\\\"users\\\")\"]");
	json_object *out;

	(void)state;
	out = cairn__permissions_expand_document(given);
	assert_json(out, "[\"read(\\\"any\\\")\",\"update(\\\"user:u1\\\")\","
		"\"delete(\\\"user:u1\\\")\"]");
	json_object_put(out);
	out = cairn__permissions_for_create(&u, NULL);
	assert_json(out, "[\"read(\\\"user:u1\\\")\",\"update(\\\"user:u1\\\")\","
		"\"delete(\\\"user:u1\\\")\"]");
	json_object_put(out);
	out = cairn__permissions_for_create(&g, NULL);
	assert_json(out, "[]");
	json_object_put(out);
	out = cairn__permissions_for_create(&k, NULL);
	assert_json(out, "[]");
	json_object_put(out);
	/* Given permissions win over the defaults, even an empty list. */
	json_object_put(given);
	given = parse("[]");
	out = cairn__permissions_for_create(&u, given);
	assert_json(out, "[]");
	json_object_put(out);
	json_object_put(given);
}

static void test_server_permissions__only_held_roles(void **state)
{
	cairn_api_caller u = user("u1"), g = guest(), k = key();
	json_object *own = parse("[\"read(\\\"user:u1\\\")\",\"write(\\\"user:u1/unverified\\\")\","
		"\"read(\\\"users\\\")\",\"read(\\\"any\\\")\"]");
	json_object *foreign = parse("[\"read(\\\"user:u1\\\")\",\"read(\\\"user:u2\\\")\"]");
	json_object *guests = parse("[\"read(\\\"guests\\\")\",\"read(\\\"any\\\")\"]");
	char message[256];

	(void)state;
	assert_int_equal(cairn__permissions_check_roles(&u, own, message, sizeof(message)), 0);
	assert_int_equal(cairn__permissions_check_roles(&u, NULL, message, sizeof(message)), 0);
	assert_int_equal(cairn__permissions_check_roles(&u, foreign, message, sizeof(message)),
		CAIRN_EAUTH);
	assert_string_equal(message, "Permissions must be one of: (any, users, users/unverified, "
		"user:u1, user:u1/unverified)");
	assert_int_equal(cairn__permissions_check_roles(&g, guests, message, sizeof(message)), 0);
	assert_int_equal(cairn__permissions_check_roles(&g, own, message, sizeof(message)),
		CAIRN_EAUTH);
	assert_string_equal(message, "Permissions must be one of: (any, guests)");
	assert_int_equal(cairn__permissions_check_roles(&u, guests, message, sizeof(message)),
		CAIRN_EAUTH);
	assert_int_equal(cairn__permissions_check_roles(&k, foreign, message, sizeof(message)), 0);
	json_object_put(own);
	json_object_put(foreign);
	json_object_put(guests);
}

static void test_server_permissions__read_roles(void **state)
{
	cairn_api_caller u1 = user("u1"), u2 = user("u2"), g = guest(), k = key();
	cairn_storage_collection plain = collection_of("[\"read(\\\"users\\\")\","
		"\"update(\\\"any\\\")\"]", 0);
	cairn_storage_collection secure = collection_of("[\"read(\\\"users\\\")\"]", 1);
	json_object *doc = parse("[\"read(\\\"guests\\\")\",\"delete(\\\"any\\\")\"]");
	json_object *roles;

	(void)state;
	roles = cairn__permissions_read_roles(&plain, doc);
	assert_json(roles, "[\"users\"]");
	assert_true(cairn__permissions_holds_any(&u1, roles));
	assert_false(cairn__permissions_holds_any(&g, roles));
	json_object_put(roles);
	roles = cairn__permissions_read_roles(&secure, doc);
	assert_json(roles, "[\"users\",\"guests\"]");
	assert_true(cairn__permissions_holds_any(&g, roles));
	json_object_put(roles);
	cairn__storage_collection_clear(&secure);
	secure = collection_of("[]", 1);
	json_object_put(doc);
	doc = parse("[\"read(\\\"user:u1\\\")\"]");
	roles = cairn__permissions_read_roles(&secure, doc);
	assert_true(cairn__permissions_holds_any(&u1, roles));
	assert_false(cairn__permissions_holds_any(&u2, roles));
	assert_false(cairn__permissions_holds_any(&g, roles));
	assert_true(cairn__permissions_holds_any(&k, roles));
	json_object_put(roles);
	json_object_put(doc);
	cairn__storage_collection_clear(&plain);
	cairn__storage_collection_clear(&secure);
}

/* ---- the guard inside real SQLite storage ---- */

typedef struct {
	char dir[64];
	cairn_storage *storage;
	cairn_storage_collection collection;
} world;

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *ftw)
{
	(void)info;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int world_setup(void **state)
{
	world *w = calloc(1, sizeof(*w));
	cairn_storage_database database;
	json_object *perms = parse("[\"create(\\\"users\\\")\",\"read(\\\"users\\\")\"]");

	assert_non_null(w);
	strcpy(w->dir, "/tmp/cairn-perms-test-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	assert_int_equal(cairn__storage_sqlite.open(&w->storage, w->dir), 0);
	assert_int_equal(cairn__storage_sqlite.database_create(&database, w->storage, "main",
		"main", 1), 0);
	cairn__storage_database_clear(&database);
	assert_int_equal(cairn__storage_sqlite.collection_create(&w->collection, w->storage,
		"main", "items", "items", perms, 1, 1), 0);
	json_object_put(perms);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	world *w = *state;

	cairn__storage_collection_clear(&w->collection);
	cairn__storage_sqlite.close(w->storage);
	nftw(w->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(w);
	return 0;
}

/* One guarded write as `caller`; returns the outcome status (the outcome is cleared). */
static int guarded(world *w, const cairn_api_caller *caller, cairn_write_op op,
	const char *id, const char *data, const char *permissions, const char *mutation_id,
	char type_out[48])
{
	cairn_permissions_guard guard = { caller, &w->collection, 1 };
	cairn_storage_write write;
	cairn_storage_outcome outcome;
	json_object *fields = data ? parse(data) : NULL;
	json_object *perms = permissions ? parse(permissions) : NULL;
	int status;

	memset(&write, 0, sizeof(write));
	write.op = op;
	write.collection_id = "items";
	write.id = id;
	write.data = fields;
	write.permissions = perms;
	write.client_id = mutation_id ? "client-1" : "";
	write.mutation_id = mutation_id;
	write.guard = cairn__permissions_guard_write;
	write.guard_payload = &guard;
	assert_int_equal(cairn__storage_sqlite.write(&outcome, w->storage, "main", &write, 1), 0);
	status = outcome.status;
	if (type_out)
		snprintf(type_out, 48, "%s", outcome.error_type);
	cairn__storage_outcome_clear(&outcome);
	json_object_put(fields);
	json_object_put(perms);
	return status;
}

static void test_server_permissions__guard_in_storage(void **state)
{
	world *w = *state;
	cairn_api_caller u1 = user("u1"), u2 = user("u2"), g = guest(), k = key();
	const char *mine = "[\"read(\\\"user:u1\\\")\",\"update(\\\"user:u1\\\")\","
		"\"delete(\\\"user:u1\\\")\"]";
	cairn_storage_record record;
	char type[48];

	/* Create needs the collection's create: users yes, guests no. */
	assert_int_equal(guarded(w, &g, CAIRN_WRITE_CREATE, "d1", "{\"n\":1}", NULL, NULL, type),
		CAIRN_EAUTH);
	assert_string_equal(type, "user_unauthorized");
	assert_int_equal(cairn__storage_sqlite.document_get(&record, w->storage, "main", "items",
		"d1"), CAIRN_ENOTFOUND);
	cairn__storage_record_clear(&record);
	assert_int_equal(guarded(w, &u1, CAIRN_WRITE_CREATE, "d1", "{\"n\":1}", mine, NULL, type),
		0);
	/* A replace of a live document is an update: u2 lacks it, u1 has it. */
	assert_int_equal(guarded(w, &u2, CAIRN_WRITE_REPLACE, "d1", "{\"n\":2}", NULL, NULL,
		type), CAIRN_EAUTH);
	assert_int_equal(guarded(w, &u2, CAIRN_WRITE_PATCH, "d1", "{\"n\":2}", NULL, NULL, type),
		CAIRN_EAUTH);
	assert_int_equal(guarded(w, &u2, CAIRN_WRITE_DELETE, "d1", NULL, NULL, NULL, type),
		CAIRN_EAUTH);
	assert_int_equal(guarded(w, &u1, CAIRN_WRITE_PATCH, "d1", "{\"n\":3}", NULL, NULL, type),
		0);
	assert_int_equal(cairn__storage_sqlite.document_get(&record, w->storage, "main", "items",
		"d1"), 0);
	assert_int_equal(json_object_get_int(json_object_object_get(record.data, "n")), 3);
	cairn__storage_record_clear(&record);
	/* A replace of a missing document is a create; a patch of one is storage's 404. */
	assert_int_equal(guarded(w, &u2, CAIRN_WRITE_REPLACE, "d2", "{\"n\":1}", NULL, NULL,
		type), 0);
	assert_int_equal(guarded(w, &g, CAIRN_WRITE_PATCH, "nope", "{\"n\":1}", NULL, NULL, type),
		CAIRN_ENOTFOUND);
	/* A rejected push mutation is stored: its replay gives the same refusal and writes
	 * nothing, even for the caller that could have done it. */
	assert_int_equal(guarded(w, &u2, CAIRN_WRITE_DELETE, "d1", NULL, NULL, "m1", type),
		CAIRN_EAUTH);
	assert_int_equal(guarded(w, &u1, CAIRN_WRITE_DELETE, "d1", NULL, NULL, "m1", type),
		CAIRN_EAUTH);
	assert_string_equal(type, "user_unauthorized");
	assert_int_equal(cairn__storage_sqlite.document_get(&record, w->storage, "main", "items",
		"d1"), 0);
	cairn__storage_record_clear(&record);
	/* Keys pass; the owner may delete. */
	assert_int_equal(guarded(w, &k, CAIRN_WRITE_PATCH, "d1", "{\"k\":1}", NULL, NULL, type),
		0);
	assert_int_equal(guarded(w, &u1, CAIRN_WRITE_DELETE, "d1", NULL, NULL, "m2", type), 0);
	assert_int_equal(cairn__storage_sqlite.document_get(&record, w->storage, "main", "items",
		"d1"), CAIRN_ENOTFOUND);
	cairn__storage_record_clear(&record);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_permissions__roles),
		cmocka_unit_test(test_server_permissions__parse),
		cmocka_unit_test(test_server_permissions__grants_and_write),
		cmocka_unit_test(test_server_permissions__allow),
		cmocka_unit_test(test_server_permissions__expand_and_defaults),
		cmocka_unit_test(test_server_permissions__only_held_roles),
		cmocka_unit_test(test_server_permissions__read_roles),
		cmocka_unit_test_setup_teardown(test_server_permissions__guard_in_storage,
			world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
