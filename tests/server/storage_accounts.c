/* storage_accounts.c: the account entries of both storage backends (sqlite_accounts.c,
 * postgres_accounts.c): users with case-insensitively unique emails, and sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>
#include <cmocka.h>

#include "storage/storage.h"
#include "support/postgres.h"
#include "util/error.h"

static cairn_test_pg *pg;   /* one PostgreSQL for the program, or NULL when not installed */
static int pg_counter;

typedef struct {
	const cairn_storage_backend *backend;
	cairn_storage *storage;
	char dir[64];           /* sqlite */
	char name[32];          /* postgres database */
	char conninfo[256];
} fixture;

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *ftw)
{
	(void)info;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int open_sqlite(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->backend = &cairn__storage_sqlite;
	strcpy(f->dir, "/tmp/cairn-accounts-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(f->backend->open(&f->storage, f->dir), 0);
	*state = f;
	return 0;
}

static int open_postgres(void **state)
{
	fixture *f;

	if (!pg)
		skip();
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->backend = &cairn__storage_postgres;
	snprintf(f->name, sizeof(f->name), "accounts_%d", ++pg_counter);
	assert_int_equal(cairn_test_pg_create_database(pg, f->name, f->conninfo,
		sizeof(f->conninfo)), 0);
	assert_int_equal(f->backend->open(&f->storage, f->conninfo), 0);
	*state = f;
	return 0;
}

static int close_fixture(void **state)
{
	fixture *f = *state;

	if (!f)
		return 0;
	f->backend->close(f->storage);
	if (f->dir[0])
		nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void make_user(fixture *f, const char *id, const char *email)
{
	cairn_storage_user user = { 0 };
	cairn_storage_user out;

	user.id = (char *)id;
	user.email = (char *)email;
	user.name = "Someone";
	user.password_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA";
	user.status = 1;
	user.created_at = user.updated_at = user.password_updated_at = 1700000000000;
	assert_int_equal(f->backend->user_create(&out, f->storage, &user), 0);
	assert_string_equal(out.id, id);
	assert_string_equal(out.email, email);
	assert_int_equal(out.status, 1);
	assert_int_equal(out.created_at, 1700000000000);
	cairn__storage_user_clear(&out);
}

static void make_session(fixture *f, const char *id, const char *user_id, const char *hash,
	int64_t created, int64_t expires)
{
	cairn_storage_session session = { 0 };

	session.id = (char *)id;
	session.user_id = (char *)user_id;
	session.secret_hash = (char *)hash;
	session.created_at = created;
	session.expires_at = expires;
	session.ip = "127.0.0.1";
	assert_int_equal(f->backend->session_create(f->storage, &session), 0);
}

static void test_storage_accounts__users(void **state)
{
	fixture *f = *state;
	cairn_storage_user user = { 0 };
	cairn_storage_user out;

	make_user(f, "ana", "ana@example.com");
	assert_int_equal(f->backend->user_get(&out, f->storage, "ana"), 0);
	assert_string_equal(out.email, "ana@example.com");
	assert_string_equal(out.name, "Someone");
	assert_non_null(strstr(out.password_hash, "$argon2id$"));
	cairn__storage_user_clear(&out);
	assert_int_equal(f->backend->user_get_by_email(&out, f->storage, "ANA@Example.com"), 0);
	assert_string_equal(out.id, "ana");
	cairn__storage_user_clear(&out);
	assert_int_equal(f->backend->user_get(&out, f->storage, "nobody"), CAIRN_ENOTFOUND);
	assert_int_equal(f->backend->user_get_by_email(&out, f->storage, "no@example.com"),
		CAIRN_ENOTFOUND);

	user.name = "x";
	user.password_hash = "h";
	user.status = 1;
	user.id = "ana2";
	user.email = "Ana@EXAMPLE.com";
	assert_int_equal(f->backend->user_create(NULL, f->storage, &user), CAIRN_EEXISTS);
	user.id = "ana";
	user.email = "other@example.com";
	assert_int_equal(f->backend->user_create(NULL, f->storage, &user), CAIRN_EEXISTS);
	user.id = NULL;
	assert_int_equal(f->backend->user_create(NULL, f->storage, &user), CAIRN_EINVALID);
}

typedef struct {
	int count;
	char ids[4][16];
} listed;

static int collect(const cairn_storage_session *session, void *payload)
{
	listed *l = payload;

	if (l->count < 4)
		snprintf(l->ids[l->count], sizeof(l->ids[0]), "%s", session->id);
	l->count++;
	return 0;
}

static void test_storage_accounts__sessions(void **state)
{
	fixture *f = *state;
	cairn_storage_session out;
	listed l;

	make_user(f, "ana", "ana@example.com");
	make_user(f, "bo", "bo@example.com");
	make_session(f, "s1", "ana", "hash1", 1000, 5000);
	make_session(f, "s2", "ana", "hash2", 2000, 9000000000000);
	make_session(f, "s3", "bo", "hash3", 3000, 9000000000000);

	assert_int_equal(f->backend->session_get(&out, f->storage, "s2"), 0);
	assert_string_equal(out.user_id, "ana");
	assert_string_equal(out.secret_hash, "hash2");
	assert_string_equal(out.ip, "127.0.0.1");
	assert_string_equal(out.user_agent, "");
	assert_int_equal(out.expires_at, 9000000000000);
	cairn__storage_session_clear(&out);
	assert_int_equal(f->backend->session_find(&out, f->storage, "hash3"), 0);
	assert_string_equal(out.id, "s3");
	cairn__storage_session_clear(&out);
	assert_int_equal(f->backend->session_find(&out, f->storage, "nope"), CAIRN_ENOTFOUND);

	memset(&l, 0, sizeof(l));
	assert_int_equal(f->backend->session_list(f->storage, "ana", collect, &l), 0);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.ids[0], "s1");
	assert_string_equal(l.ids[1], "s2");

	/* a new session drops its user's expired ones (s1 expired at 5000) */
	make_session(f, "s4", "ana", "hash4", 6000, 9000000000000);
	assert_int_equal(f->backend->session_get(&out, f->storage, "s1"), CAIRN_ENOTFOUND);
	/* the same secret hash twice is refused */
	{
		cairn_storage_session again = { "s5", "ana", "hash4", 7000, 8000, NULL, NULL };
		assert_true(f->backend->session_create(f->storage, &again) < 0);
	}
	/* a session without a secret hash, or none at all, is refused before any write */
	{
		cairn_storage_session partial = { "s6", "ana", NULL, 7000, 8000, NULL, NULL };
		assert_int_equal(f->backend->session_create(f->storage, &partial), CAIRN_EINVALID);
		assert_int_equal(f->backend->session_create(f->storage, NULL), CAIRN_EINVALID);
		assert_int_equal(f->backend->session_get(&out, f->storage, "s6"), CAIRN_ENOTFOUND);
	}

	/* deleting is per user */
	assert_int_equal(f->backend->session_delete(f->storage, "bo", "s2"), CAIRN_ENOTFOUND);
	assert_int_equal(f->backend->session_delete(f->storage, "ana", "s2"), 0);
	assert_int_equal(f->backend->session_delete(f->storage, "ana", "s2"), CAIRN_ENOTFOUND);
	assert_int_equal(f->backend->session_delete_all(f->storage, "ana"), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(f->backend->session_list(f->storage, "ana", collect, &l), 0);
	assert_int_equal(l.count, 0);
	assert_int_equal(f->backend->session_find(&out, f->storage, "hash3"), 0);
	cairn__storage_session_clear(&out);
	assert_int_equal(f->backend->session_delete_all(f->storage, "nobody"), 0);
}

static void test_storage_accounts__survive_reopen(void **state)
{
	fixture *f = *state;
	cairn_storage_session out;

	make_user(f, "ana", "ana@example.com");
	make_session(f, "s1", "ana", "hash1", 1000, 9000000000000);
	f->backend->close(f->storage);
	f->storage = NULL;
	assert_int_equal(f->backend->open(&f->storage, f->dir[0] ? f->dir : f->conninfo), 0);
	assert_int_equal(f->backend->session_find(&out, f->storage, "hash1"), 0);
	assert_string_equal(out.user_id, "ana");
	cairn__storage_session_clear(&out);
	if (f->backend == &cairn__storage_postgres) {
		long long version = 0;
		assert_int_equal(cairn_test_pg_query_int(pg, f->name, "SELECT value::int FROM "
			"cairn_meta WHERE key = 'schema_version'", &version), 0);
		assert_int_equal(version, 2);
	}
}

/* A PostgreSQL database at schema version 1 (before accounts) migrates to 2 on open. */
static void test_storage_accounts__postgres_migrates_from_1(void **state)
{
	fixture *f = *state;
	long long version = 0;

	f->backend->close(f->storage);
	f->storage = NULL;
	assert_int_equal(cairn_test_pg_sql(pg, f->name, "DROP TABLE sessions; DROP TABLE users; "
		"UPDATE cairn_meta SET value = '1' WHERE key = 'schema_version'"), 0);
	assert_int_equal(f->backend->open(&f->storage, f->conninfo), 0);
	assert_int_equal(cairn_test_pg_query_int(pg, f->name, "SELECT value::int FROM "
		"cairn_meta WHERE key = 'schema_version'", &version), 0);
	assert_int_equal(version, 2);
	make_user(f, "ana", "ana@example.com");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_storage_accounts__users, open_sqlite,
			close_fixture),
		cmocka_unit_test_setup_teardown(test_storage_accounts__sessions, open_sqlite,
			close_fixture),
		cmocka_unit_test_setup_teardown(test_storage_accounts__survive_reopen, open_sqlite,
			close_fixture),
		cmocka_unit_test_setup_teardown(test_storage_accounts__users, open_postgres,
			close_fixture),
		cmocka_unit_test_setup_teardown(test_storage_accounts__sessions, open_postgres,
			close_fixture),
		cmocka_unit_test_setup_teardown(test_storage_accounts__survive_reopen, open_postgres,
			close_fixture),
		cmocka_unit_test_setup_teardown(test_storage_accounts__postgres_migrates_from_1,
			open_postgres, close_fixture),
	};
	int failed;

	switch (cairn_test_pg_start(&pg)) {
	case 0: break;
	case 1: pg = NULL; break; /* not installed: the PostgreSQL cases skip */
	default: return 1;        /* installed but would not start: printed why */
	}
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	cairn_test_pg_stop(pg);
	return failed;
}
