/* outbox_ids.c: tests of mutation ids that carry their outbox row's seq (no index on the id),
 * their randomness (pooled per thread, fresh in a forked child), and the store upgrade from
 * schema 2 that drops the outbox's UNIQUE index while keeping every row and id. */
#include <sys/wait.h>

#include "client/client_test.h"
#include "client/store_int.h"
#include "support/child.h"
#include "util/id.h"

/* The mutation id of outbox row `seq` read on a separate connection (asserts it exists). */
static void outbox_id_at(char *out, size_t size, const char *path, int64_t seq)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT mutation_id FROM outbox WHERE seq = ?1",
		-1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, seq);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static void test_client_outbox_ids__parse(void **state)
{
	char id[CAIRN__MUTATION_ID_SIZE];

	(void)state;
	assert_int_equal(cairn__mutation_id(id, sizeof(id), 42), 0);
	assert_true(cairn_id_valid(id));
	assert_int_equal(strlen(id), CAIRN__ID_UNIQUE_LENGTH + 3);
	assert_string_equal(id + CAIRN__ID_UNIQUE_LENGTH, "-42");
	assert_int_equal(cairn__mutation_id_seq(id), 42);
	/* The largest seq still makes a valid id of at most 36 characters. */
	assert_int_equal(cairn__mutation_id(id, sizeof(id), CAIRN__MUTATION_SEQ_MAX), 0);
	assert_true(cairn_id_valid(id));
	assert_int_equal(strlen(id), CAIRN_ID_MAX);
	assert_true(cairn__mutation_id_seq(id) == CAIRN__MUTATION_SEQ_MAX);
	/* Beyond it, and for no seq, the id is a plain unique id that carries none. */
	assert_int_equal(cairn__mutation_id(id, sizeof(id), CAIRN__MUTATION_SEQ_MAX + 1), 0);
	assert_int_equal(strlen(id), CAIRN__ID_UNIQUE_LENGTH);
	assert_int_equal(cairn__mutation_id_seq(id), 0);
	assert_int_equal(cairn__mutation_id(id, sizeof(id), 0), 0);
	assert_int_equal(cairn__mutation_id_seq(id), 0);
	assert_int_equal(cairn__mutation_id(id, 21, 5), CAIRN_EINVALID);
	/* Ids of older stores and anything else carry no seq. */
	assert_int_equal(cairn__mutation_id_seq("65f0c1aa003e81b2c4d5"), 0);
	assert_int_equal(cairn__mutation_id_seq("m1"), 0);
	assert_int_equal(cairn__mutation_id_seq(""), 0);
	assert_int_equal(cairn__mutation_id_seq(NULL), 0);
	assert_int_equal(cairn__mutation_id_seq("65f0c1aa003e81b2c4d5-0"), 0);
	assert_int_equal(cairn__mutation_id_seq("65f0c1aa003e81b2c4d5-012"), 0);
	assert_int_equal(cairn__mutation_id_seq("65f0c1aa003e81b2c4d5-"), 0);
	assert_int_equal(cairn__mutation_id_seq("65f0c1aa003e81b2c4d5-1x"), 0);
	assert_int_equal(cairn__mutation_id_seq("65f0c1aa003e81b2c4d5-1234567890123456"), 0);
	assert_int_equal(cairn__mutation_id_seq("65F0C1AA003E81B2C4D5-7"), 0);
	assert_int_equal(cairn__mutation_id_seq("65f0c1aa003e81b2c4d-17"), 0);
	assert_int_equal(cairn__mutation_id_seq("65f0c1aa003e81b2c4d5-123456789012345"),
		123456789012345LL);
}

static int compare_ids(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Many ids in a row (many pool refills, many in one millisecond) are all different. */
static void test_client_outbox_ids__unique(void **state)
{
	enum { COUNT = 20000 };
	char (*ids)[32] = calloc(COUNT, sizeof(*ids));

	(void)state;
	assert_non_null(ids);
	for (int i = 0; i < COUNT; i++) {
		assert_int_equal(cairn_id_unique(ids[i], sizeof(ids[i])), 0);
		assert_true(cairn_id_valid(ids[i]));
	}
	qsort(ids, COUNT, sizeof(*ids), compare_ids);
	for (int i = 1; i < COUNT; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	free(ids);
}

/* The random part of the next `count` ids, concatenated. */
static void random_parts(char *out, size_t size, int count)
{
	out[0] = '\0';
	for (int i = 0; i < count; i++) {
		char id[32];

		assert_int_equal(cairn_id_unique(id, sizeof(id)), 0);
		strncat(out, id + 13, size - strlen(out) - 1);
	}
}

/* A forked child does not repeat the random bytes its parent will use next (a copy of the
 * parent's pool would make both issue the same ids in the same millisecond). */
static void test_client_outbox_ids__fork_fresh_random(void **state)
{
	char parent[8 * 8 + 1];
	char child[8 * 8 + 1] = "";
	int fds[2];
	pid_t pid;
	int status = 0;
	char first[32];

	(void)state;
	/* Fill this thread's pool so that the child inherits a partly used one. */
	assert_int_equal(cairn_id_unique(first, sizeof(first)), 0);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char mine[8 * 8 + 1];
		ssize_t written;

		cairn_test_child_init();
		close(fds[0]);
		random_parts(mine, sizeof(mine), 8);
		written = write(fds[1], mine, strlen(mine));
		_exit(written == (ssize_t)strlen(mine) ? 0 : 1);
	}
	close(fds[1]);
	random_parts(parent, sizeof(parent), 8);
	for (size_t used = 0; used < sizeof(child) - 1;) {
		ssize_t got = read(fds[0], child + used, sizeof(child) - 1 - used);

		assert_true(got >= 0);
		if (got == 0)
			break;
		used += (size_t)got;
		child[used] = '\0';
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(strlen(child), 8 * 7);
	assert_string_not_equal(parent, child);
}

/* Every local write's mutation id is a valid id that carries its row's seq; ids stay
 * different when seqs are reused after the outbox empties. */
static void test_client_outbox_ids__writes_carry_seq(void **state)
{
	client_env env;
	char first[64];
	char again[64];
	json_object *outbox;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"m\":2}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"n\":3}"), 0);
	assert_int_equal(cairn_doc_delete(env.store, "items", "b"), 0);
	outbox = client_outbox(env.store);
	assert_int_equal(json_object_array_length(outbox), 4);
	for (size_t i = 0; i < 4; i++) {
		const char *id = client_string(json_object_array_get_idx(outbox, i), "mutationId");
		char stored[64];

		assert_true(cairn_id_valid(id));
		assert_int_equal(cairn__mutation_id_seq(id), (int64_t)i + 1);
		outbox_id_at(stored, sizeof(stored), env.path, (int64_t)i + 1);
		assert_string_equal(stored, id);
	}
	json_object_put(outbox);
	/* The patch names the put before it as its predecessor. */
	outbox_id_at(first, sizeof(first), env.path, 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE seq = 2 "
		"AND prev_mutation = (SELECT mutation_id FROM outbox WHERE seq = 1)"), 1);
	/* No index on mutation_id is written for these rows. */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM pragma_index_list('outbox') "
		"WHERE \"unique\" = 1"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox "
		"INDEXED BY outbox_legacy_id WHERE instr(mutation_id, '-') = 0"), 0);
	/* Drained (as after a push): seq 1 comes back, its id does not. */
	cairn_store_free(env.store);
	env.store = NULL;
	client_sql_exec(env.path, "DELETE FROM outbox");
	client_reopen(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{\"n\":4}"), 0);
	outbox_id_at(again, sizeof(again), env.path, 1);
	assert_int_equal(cairn__mutation_id_seq(again), 1);
	assert_string_not_equal(again, first);
	client_env_free(&env);
}

/* The payloads of the pending batch, in order, as one string "p1|p2|..." ("-" for none). */
static void batch_payloads(char *out, size_t size, cairn_store *store)
{
	cairn__mutation *batch = NULL;
	size_t count = 0;

	out[0] = '\0';
	assert_int_equal(cairn__outbox_load_batch(&batch, &count, store, 100), 0);
	for (size_t i = 0; i < count; i++) {
		size_t used = strlen(out);

		snprintf(out + used, size - used, "%s%s", i ? "|" : "",
			batch[i].payload ? batch[i].payload : "-");
	}
	cairn__mutations_free(batch, count);
}

/* A put keeps its payload only in the view row; every later change of that row first gives
 * the put its own copy, so each pending write still pushes exactly what it wrote. */
static void test_client_outbox_ids__put_payload_shared(void **state)
{
	client_env env;
	cairn__mutation *batch = NULL;
	size_t count = 0;
	char payloads[512];
	json_object *doc;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1}"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"payload IS NULL AND op = 'put'"), 1);
	batch_payloads(payloads, sizeof(payloads), env.store);
	assert_string_equal(payloads, "{\"n\":1}");
	/* A second put: the first gets its own copy, the second shares. */
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":2}"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE seq = 1 AND "
		"payload = '{\"n\":1}'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE seq = 2 AND "
		"payload IS NULL"), 1);
	/* A patch, then a delete, then a put of another document. */
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"m\":3}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "b", "{\"k\":4}"), 0);
	assert_int_equal(cairn_doc_delete(env.store, "items", "a"), 0);
	batch_payloads(payloads, sizeof(payloads), env.store);
	assert_string_equal(payloads, "{\"n\":1}|{\"n\":2}|{\"m\":3}|{\"k\":4}|-");
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"payload IS NULL AND op = 'put'"), 1); /* b's */
	/* The view folds them the same (a recompute reads the shared payloads too). */
	doc = client_get(env.store, "items", "b");
	assert_int_equal(client_int(doc, "k"), 4);
	json_object_put(doc);
	/* Parked by the server: the rejected row keeps its payload even when the view row goes. */
	assert_int_equal(cairn__outbox_load_batch(&batch, &count, env.store, 100), 0);
	assert_int_equal(count, 5);
	assert_string_equal(batch[3].doc_id, "b");
	assert_int_equal(cairn__push_reject(env.store, &batch[3], "no"), 0);
	cairn__mutations_free(batch, count);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"state = 'rejected' AND payload = '{\"k\":4}'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM docs WHERE id = 'b' AND "
		"deleted = 0"), 0);
	/* A put inside a batch that is rolled back leaves the earlier rows as they were. */
	assert_int_equal(cairn_store_batch_begin(env.store), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{\"c\":1}"), 0);
	assert_int_equal(cairn_doc_put(env.store, "items", "c", "{\"c\":2}"), 0);
	assert_int_equal(cairn_store_batch_rollback(env.store), 0);
	batch_payloads(payloads, sizeof(payloads), env.store);
	assert_string_equal(payloads, "{\"n\":1}|{\"n\":2}|{\"m\":3}|-");
	client_reopen(&env);
	batch_payloads(payloads, sizeof(payloads), env.store);
	assert_string_equal(payloads, "{\"n\":1}|{\"n\":2}|{\"m\":3}|-");
	client_env_free(&env);
}

/* Schema 2's outbox, exactly as it was (UNIQUE mutation ids without a seq in them). */
#define SCHEMA_2_OUTBOX \
	"DROP TRIGGER IF EXISTS outbox_keeps_hlc; DROP TABLE outbox;" \
	"CREATE TABLE outbox(" \
	" seq INTEGER PRIMARY KEY, mutation_id TEXT NOT NULL UNIQUE," \
	" op TEXT NOT NULL CHECK (op IN ('put', 'patch', 'delete', 'increment'))," \
	" collection TEXT NOT NULL, doc_id TEXT NOT NULL, base_version INTEGER NOT NULL," \
	" prev_mutation TEXT, hlc INTEGER NOT NULL, payload TEXT, permissions TEXT," \
	" state TEXT NOT NULL CHECK (state IN ('pending', 'rejected')), error TEXT," \
	" created_at INTEGER NOT NULL);" \
	"CREATE INDEX outbox_doc ON outbox(collection, doc_id, state, seq);" \
	"CREATE TRIGGER outbox_keeps_hlc AFTER DELETE ON outbox" \
	" WHEN OLD.hlc > (SELECT value FROM meta WHERE key = 'hlc')" \
	" BEGIN UPDATE meta SET value = OLD.hlc WHERE key = 'hlc'; END;" \
	"UPDATE meta SET value = 2 WHERE key = 'schema_version';"

/* A schema 2 store with two pending writes of "a" (a chain) and a rejected one of "b". */
static void make_schema_2_store(client_env *env)
{
	client_env_init(env);
	cairn_store_free(env->store);
	env->store = NULL;
	client_sql_exec(env->path, SCHEMA_2_OUTBOX
		"INSERT INTO outbox(seq, mutation_id, op, collection, doc_id, base_version,"
		" prev_mutation, hlc, payload, state, error, created_at) VALUES"
		" (3, '65f0c1aa003e81b2c4d5', 'put', 'items', 'a', 0, NULL, 1000, '{\"n\":1}',"
		"  'pending', NULL, 1),"
		" (5, '65f0c1aa003e81b2c4d6', 'patch', 'items', 'a', 0, '65f0c1aa003e81b2c4d5',"
		"  1001, '{\"m\":2}', 'pending', NULL, 2),"
		" (9, '65f0c1aa003e81b2c4d7', 'put', 'items', 'b', 0, NULL, 1002, '{\"x\":1}',"
		"  'rejected', 'no', 3);"
		"INSERT INTO docs(collection, id, data, created_at, updated_at, pending) VALUES"
		" ('items', 'a', '{\"n\":1,\"m\":2}', 'x', 'x', 1);");
	assert_int_equal(client_sql_int(env->path, "SELECT count(*) FROM pragma_index_list('outbox') "
		"WHERE \"unique\" = 1"), 1);
}

static void test_client_outbox_ids__schema_2_upgrade(void **state)
{
	client_env env;
	cairn__mutation *batch = NULL;
	size_t count = 0;

	(void)state;
	make_schema_2_store(&env);
	client_reopen(&env);
	assert_int_equal(client_sql_int(env.path, "SELECT value FROM meta WHERE key = "
		"'schema_version'"), CAIRN__STORE_SCHEMA_VERSION);
	/* Every row kept with its seq, id, chain and state; the UNIQUE index is gone. */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 3);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"(seq = 3 AND mutation_id = '65f0c1aa003e81b2c4d5' AND prev_mutation IS NULL AND "
		"payload = '{\"n\":1}' AND hlc = 1000) OR (seq = 5 AND mutation_id = "
		"'65f0c1aa003e81b2c4d6' AND prev_mutation = '65f0c1aa003e81b2c4d5' AND op = 'patch') "
		"OR (seq = 9 AND state = 'rejected' AND error = 'no')"), 3);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM pragma_index_list('outbox') "
		"WHERE \"unique\" = 1"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox "
		"INDEXED BY outbox_legacy_id WHERE instr(mutation_id, '-') = 0"), 3);
	/* The clock's trigger came along: a row leaving hands its timestamp to meta. */
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM sqlite_master WHERE "
		"type = 'trigger' AND name = 'outbox_keeps_hlc' AND tbl_name = 'outbox' AND "
		"instr(sql, 'NOT EXISTS') > 0"), 1);
	/* A new write chains on the old ids and gets a new-style id after the newest seq. */
	assert_int_equal(cairn_doc_patch(env.store, "items", "a", "{\"k\":3}"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE seq = 10 AND "
		"prev_mutation = '65f0c1aa003e81b2c4d6' AND mutation_id LIKE '%-10'"), 1);
	/* Rows with old ids are found by id: reject the first pending one. */
	assert_int_equal(cairn__outbox_load_batch(&batch, &count, env.store, 10), 0);
	assert_int_equal(count, 3);
	assert_string_equal(batch[0].mutation_id, "65f0c1aa003e81b2c4d5");
	assert_int_equal(cairn__push_reject(env.store, &batch[0], "refused"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE seq = 3 AND "
		"state = 'rejected' AND error = 'refused'"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE "
		"state = 'pending'"), 2);
	/* And a new-style id too. */
	assert_int_equal(cairn__push_reject(env.store, &batch[2], "refused too"), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox WHERE seq = 10 AND "
		"state = 'rejected' AND error = 'refused too'"), 1);
	cairn__mutations_free(batch, count);
	/* Opening again changes nothing. */
	client_reopen(&env);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 4);
	client_env_free(&env);
}

/* The pushed-ahead batch reads only the rows after the batch in flight, and none at all when
 * that batch is no longer exactly the head of the pending outbox. */
static void test_client_outbox_ids__load_after(void **state)
{
	client_env env;
	cairn__mutation *first = NULL;
	cairn__mutation *next = NULL;
	size_t first_count = 0;
	size_t next_count = 0;

	(void)state;
	client_env_init(&env);
	for (int i = 0; i < 5; i++) {
		char id[8];

		snprintf(id, sizeof(id), "d%d", i);
		assert_int_equal(cairn_doc_put(env.store, "items", id, "{\"n\":1}"), 0);
	}
	assert_int_equal(cairn__outbox_load_batch(&first, &first_count, env.store, 2), 0);
	assert_int_equal(first_count, 2);
	assert_int_equal(cairn__outbox_load_after(&next, &next_count, env.store, first, 2, 0, 2), 0);
	assert_int_equal(next_count, 2);
	assert_string_equal(next[0].doc_id, "d2");
	assert_string_equal(next[1].doc_id, "d3");
	assert_non_null(next[0].payload);
	/* the batch after that one, prepared while the first is not applied yet */
	{
		cairn__mutation *third = NULL;
		size_t third_count = 0;

		assert_int_equal(cairn__outbox_load_after(&third, &third_count, env.store, next, 2,
			2, 2), 0);
		assert_int_equal(third_count, 1);
		assert_string_equal(third[0].doc_id, "d4");
		cairn__mutations_free(third, third_count);
		assert_int_equal(cairn__outbox_load_after(&third, &third_count, env.store, next, 2,
			1, 2), 0);
		assert_int_equal(third_count, 0);
	}
	cairn__mutations_free(next, next_count);
	/* another handle settled the first row meanwhile: nothing is read ahead */
	client_sql_exec(env.path, "DELETE FROM outbox WHERE doc_id = 'd0'");
	assert_int_equal(cairn__outbox_load_after(&next, &next_count, env.store, first, 2, 0, 2), 0);
	assert_int_equal(next_count, 0);
	assert_null(next);
	/* ... or a row of the batch is no longer what was sent */
	cairn__mutations_free(first, first_count);
	assert_int_equal(cairn__outbox_load_batch(&first, &first_count, env.store, 2), 0);
	memcpy(first[1].mutation_id, first[0].mutation_id, sizeof(first[1].mutation_id));
	assert_int_equal(cairn__outbox_load_after(&next, &next_count, env.store, first, 2, 0, 2), 0);
	assert_int_equal(next_count, 0);
	cairn__mutations_free(first, first_count);
	client_env_free(&env);
}

/* Schema 3 to 4 replaces the clock's trigger with the one that fires for the newest row. */
static void test_client_outbox_ids__schema_3_upgrade(void **state)
{
	client_env env;

	(void)state;
	client_env_init(&env);
	assert_int_equal(cairn_doc_put(env.store, "items", "a", "{\"n\":1}"), 0);
	cairn_store_free(env.store);
	env.store = NULL;
	client_sql_exec(env.path, "DROP TRIGGER outbox_keeps_hlc;"
		"CREATE TRIGGER outbox_keeps_hlc AFTER DELETE ON outbox"
		" WHEN OLD.hlc > (SELECT value FROM meta WHERE key = 'hlc')"
		" BEGIN UPDATE meta SET value = OLD.hlc WHERE key = 'hlc'; END;"
		"UPDATE meta SET value = 3 WHERE key = 'schema_version';");
	assert_int_equal(cairn_store_open(&env.store, env.path, NULL), 0);
	assert_int_equal(client_sql_int(env.path, "SELECT value FROM meta WHERE key = "
		"'schema_version'"), CAIRN__STORE_SCHEMA_VERSION);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM sqlite_master WHERE "
		"type = 'trigger' AND name = 'outbox_keeps_hlc' AND instr(sql, 'NOT EXISTS') > 0"), 1);
	assert_int_equal(client_sql_int(env.path, "SELECT count(*) FROM outbox"), 1);
	client_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_outbox_ids__parse),
		cmocka_unit_test(test_client_outbox_ids__unique),
		cmocka_unit_test(test_client_outbox_ids__fork_fresh_random),
		cmocka_unit_test(test_client_outbox_ids__writes_carry_seq),
		cmocka_unit_test(test_client_outbox_ids__schema_2_upgrade),
		cmocka_unit_test(test_client_outbox_ids__put_payload_shared),
		cmocka_unit_test(test_client_outbox_ids__load_after),
		cmocka_unit_test(test_client_outbox_ids__schema_3_upgrade),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
