/* integration.h: helpers shared by the end-to-end tests in tests/integration/ only:
 * temp dirs, a real server per test, raw REST calls, and comparisons of store and server. */
#ifndef CAIRN_TESTS_SUPPORT_INTEGRATION_H
#define CAIRN_TESTS_SUPPORT_INTEGRATION_H

/*
 * Every helper asserts with cmocka (so it must run in the test process, never in a forked
 * child) unless its comment says it returns a code. JSON values returned are owned by the
 * caller (json_object_put); strings by the caller (free).
 */

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "cairn.h"
#include "support/server_proc.h"

#define CAIRN_IT_PROJECT "test"
#define CAIRN_IT_KEY "integration-test-key-5f0c2a9d41e7"

/* One test's world: a temp dir, and the real server started on a free loopback port with
 * its data in <root>/server. */
typedef struct {
	char root[256];             /* mkdtemp'd directory, removed by cairn_it_env_free */
	char data_dir[320];         /* <root>/server */
	char url[128];              /* "http://127.0.0.1:PORT/v1" of the running server */
	cairn_test_server *server;  /* NULL while stopped */
} cairn_it_env;

/* Makes the temp dir and starts the server. */
void cairn_it_env_init(cairn_it_env *env);
/* Stops the server (if running; asserts it exits 0 on SIGTERM) and removes the temp dir. */
void cairn_it_env_free(cairn_it_env *env);
/* cmocka per-test setup/teardown: *state becomes a malloc'd, initialised cairn_it_env, and
 * teardown frees it even when the test failed (so no server or temp dir is left behind). */
int cairn_it_setup(void **state);
int cairn_it_teardown(void **state);
/* A test entry with that setup and teardown, for the CMUnitTest array. */
#define CAIRN_IT_TEST(f) cmocka_unit_test_setup_teardown(f, cairn_it_setup, cairn_it_teardown)
/* SIGKILLs the server and reaps it; env->server becomes NULL. */
void cairn_it_server_kill(cairn_it_env *env);
/* The pid of the running server process. */
int cairn_it_server_pid(const cairn_it_env *env);
/* Starts the server again on the same data dir (new port: env->url changes). */
void cairn_it_server_restart(cairn_it_env *env);

/* Opens <root>/<name>.db and points it at env's server and `database`. */
cairn_store *cairn_it_store_open(const cairn_it_env *env, const char *name, const char *database);
/* Re-points `store` at env's current url (after a restart). */
void cairn_it_store_set_remote(const cairn_it_env *env, cairn_store *store, const char *database);

/* One HTTP request with libcurl. `url` is absolute. project/key: NULL = header not sent.
 * `extra_header` is one more "Name: value" line or NULL. Returns the status, or -1 when no
 * response arrived; *out_body (may be NULL) gets the NUL-terminated body (free it). */
long cairn_it_http(char **out_body, const char *method, const char *url, const char *project,
	const char *key, const char *extra_header, const char *body, size_t body_length);
/* The same against env->url + `path` with the test project and key. */
long cairn_it_rest(char **out_body, const cairn_it_env *env, const char *method, const char *path,
	const char *body);

/* cairn_it_rest, asserting the status is `expected` (prints the reply otherwise). */
void cairn_it_rest_expect(const cairn_it_env *env, const char *method, const char *path,
	const char *body, long expected);

/* Asserts `body` is an Appwrite error: {message (string), code == status, type (string,
 * equal to `type` unless NULL), version (string)}. */
void cairn_it_assert_error(long status, const char *body, long expected_status, const char *type);

/* Every live document of a collection on the server (REST list, pages of 1000), as a JSON
 * array; an empty array when the collection or database does not exist. */
json_object *cairn_it_server_docs(const cairn_it_env *env, const char *database,
	const char *collection);
/* Every document of a collection in the local view of `store`, as a JSON array. */
json_object *cairn_it_store_docs(cairn_store *store, const char *collection);
/* Asserts both arrays hold the same set of $id with equal user fields (non-'$' keys). */
void cairn_it_assert_same_docs(json_object *expected, json_object *actual, const char *what);
/* Asserts the server's and the store's view of `collection` are the same. */
void cairn_it_assert_store_matches_server(const cairn_it_env *env, cairn_store *store,
	const char *database, const char *collection);

/* Runs cairn_sync_once and asserts it returned 0 (prints cairn_error_last otherwise). */
void cairn_it_sync(cairn_sync_result *out, cairn_store *store, const cairn_sync_options *opts);
/* Asserts the store has nothing pending or rejected and an empty outbox. */
void cairn_it_assert_outbox_empty(cairn_store *store);

/* cairn_doc_put / _patch / _delete, asserting each returned 0 (prints the error otherwise). */
void cairn_it_put(cairn_store *store, const char *collection, const char *id, const char *json);
void cairn_it_patch(cairn_store *store, const char *collection, const char *id,
	const char *json);
void cairn_it_delete(cairn_store *store, const char *collection, const char *id);

/* A parsed cairn_conflicts_list. */
json_object *cairn_it_conflicts(cairn_store *store);

/* Parses JSON text, asserting it is valid. */
json_object *cairn_it_parse(const char *text);
/* `key` of `object`, failing the test when it has none. */
json_object *cairn_it_member(json_object *object, const char *key);
/* A new object of a document's user fields (keys not starting with '$'). */
json_object *cairn_it_user_fields(json_object *document);
/* POSTs `body` to env->url + `path`, asserts the status is `expected`, returns the parsed
 * reply. */
json_object *cairn_it_post(cairn_it_env *env, const char *path, const char *body,
	long expected);
/* cairn_it_setup, then database "main" with collection "items" (REST). */
int cairn_it_setup_items(void **state);

/* Sleeps `ms` milliseconds (ordering of clocks in tests; never a timing assertion). */
void cairn_it_sleep_ms(long ms);

/* Waits (20 ms between checks) until `condition` holds; fails naming `what` after `bound_ms`,
 * an upper bound for "eventually", never a timing assertion. Needs "util/time.h". */
#define CAIRN_IT_WAIT_FOR(condition, what, bound_ms) do { \
	int64_t cairn_it_wait_until_ = cairn__time_monotonic_ms() + (bound_ms); \
	while (!(condition)) { \
		if (cairn__time_monotonic_ms() > cairn_it_wait_until_) \
			fail_msg("gave up waiting for %s", what); \
		cairn_it_sleep_ms(20); \
	} \
} while (0)

#endif
