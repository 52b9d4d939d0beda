/* integration.c: the end-to-end tests' shared helpers: env (temp dir + real server), REST
 * calls over libcurl, and comparing what a store and the server hold. */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "support/integration.h"

/* ---- temp dirs and the server ------------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void cairn_it_env_init(cairn_it_env *env)
{
	memset(env, 0, sizeof(*env));
	strcpy(env->root, "/tmp/cairn-it-XXXXXX");
	assert_non_null(mkdtemp(env->root));
	snprintf(env->data_dir, sizeof(env->data_dir), "%s/server", env->root);
	cairn_it_server_restart(env);
}

void cairn_it_env_free(cairn_it_env *env)
{
	int status = 0;

	if (env->server) {
		/* Exit code 0 also means the sanitizers (when built with them) found nothing. */
		status = cairn_test_server_stop(env->server);
		env->server = NULL;
	}
	if (env->root[0])
		nftw(env->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	env->root[0] = '\0';
	if (status != 0)
		fail_msg("the server did not shut down cleanly on SIGTERM (status %d)", status);
}

int cairn_it_setup(void **state)
{
	cairn_it_env *env = calloc(1, sizeof(*env));

	assert_non_null(env);
	*state = env;
	cairn_it_env_init(env);
	return 0;
}

int cairn_it_teardown(void **state)
{
	cairn_it_env *env = *state;

	*state = NULL;
	if (env) {
		cairn_it_env_free(env);
		free(env);
	}
	return 0;
}

void cairn_it_server_kill(cairn_it_env *env)
{
	assert_non_null(env->server);
	cairn_test_server_kill(env->server);
	env->server = NULL;
}

int cairn_it_server_pid(const cairn_it_env *env)
{
	assert_non_null(env->server);
	return (int)cairn_test_server_pid(env->server);
}

void cairn_it_server_restart(cairn_it_env *env)
{
	int rc;

	assert_null(env->server);
	rc = cairn_test_server_start(&env->server, env->data_dir, CAIRN_IT_PROJECT, CAIRN_IT_KEY);
	if (rc != 0)
		fail_msg("could not start the cairn server (%s) on %s: %d", CAIRN_BIN, env->data_dir, rc);
	snprintf(env->url, sizeof(env->url), "%s", cairn_test_server_url(env->server));
}

/* ---- stores ------------------------------------------------------------------------ */

void cairn_it_store_set_remote(const cairn_it_env *env, cairn_store *store, const char *database)
{
	cairn_remote remote = { CAIRN_REMOTE_VERSION, env->url, CAIRN_IT_PROJECT, CAIRN_IT_KEY,
		database, NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	int rc = cairn_store_set_remote(store, &remote);

	if (rc != 0)
		fail_msg("cairn_store_set_remote: %d %s", rc, cairn_error_last());
}

cairn_store *cairn_it_store_open(const cairn_it_env *env, const char *name, const char *database)
{
	char path[512];
	cairn_store *store = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.db", env->root, name);
	rc = cairn_store_open(&store, path, NULL);
	if (rc != 0)
		fail_msg("cairn_store_open(%s): %d %s", path, rc, cairn_error_last());
	cairn_it_store_set_remote(env, store, database);
	return store;
}

void cairn_it_sync(cairn_sync_result *out, cairn_store *store, const cairn_sync_options *opts)
{
	int rc = cairn_sync_once(out, store, opts);

	if (rc != 0)
		fail_msg("cairn_sync_once: %d (%s) %s", rc, cairn_strerror(rc), cairn_error_last());
}

void cairn_it_assert_outbox_empty(cairn_store *store)
{
	cairn_store_status status;
	char *outbox = NULL;
	json_object *list;

	assert_int_equal(cairn_store_status_get(&status, store), 0);
	if (status.pending != 0 || status.rejected != 0) {
		cairn_outbox_list(&outbox, store);
		fail_msg("outbox not empty: pending %llu rejected %llu: %.2000s",
			(unsigned long long)status.pending, (unsigned long long)status.rejected,
			outbox ? outbox : "?");
	}
	assert_int_equal(cairn_outbox_list(&outbox, store), 0);
	list = cairn_it_parse(outbox);
	assert_true(json_object_is_type(list, json_type_array));
	assert_int_equal(json_object_array_length(list), 0);
	json_object_put(list);
	cairn_free(outbox);
}

json_object *cairn_it_conflicts(cairn_store *store)
{
	char *text = NULL;
	json_object *list;

	assert_int_equal(cairn_conflicts_list(&text, store), 0);
	list = cairn_it_parse(text);
	cairn_free(text);
	assert_true(json_object_is_type(list, json_type_array));
	return list;
}

json_object *cairn_it_parse(const char *text)
{
	json_tokener *tok;
	json_object *value;

	assert_non_null(text);
	tok = json_tokener_new_ex(128);
	assert_non_null(tok);
	value = json_tokener_parse_ex(tok, text, (int)strlen(text));
	if (json_tokener_get_error(tok) != json_tokener_success || !value)
		fail_msg("invalid JSON: %.500s", text);
	json_tokener_free(tok);
	return value;
}

void cairn_it_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- HTTP ---------------------------------------------------------------------------- */

typedef struct {
	char *data;
	size_t length;
	size_t capacity;
} buffer;

static size_t write_body(char *ptr, size_t size, size_t count, void *userdata)
{
	buffer *b = userdata;
	size_t n = size * count;

	if (b->length + n + 1 > b->capacity) {
		size_t capacity = b->capacity ? b->capacity : 4096;
		char *grown;

		while (capacity < b->length + n + 1)
			capacity *= 2;
		grown = realloc(b->data, capacity);
		if (!grown)
			return 0;
		b->data = grown;
		b->capacity = capacity;
	}
	memcpy(b->data + b->length, ptr, n);
	b->length += n;
	b->data[b->length] = '\0';
	return n;
}

long cairn_it_http(char **out_body, const char *method, const char *url, const char *project,
	const char *key, const char *extra_header, const char *body, size_t body_length)
{
	CURL *curl = NULL;
	struct curl_slist *headers = NULL;
	buffer response = { NULL, 0, 0 };
	char line[512];
	long status = -1;
	CURLcode code;

	if (out_body)
		*out_body = NULL;
	curl = curl_easy_init();
	if (!curl)
		goto cleanup;
	if (project) {
		snprintf(line, sizeof(line), "X-Appwrite-Project: %s", project);
		headers = curl_slist_append(headers, line);
	}
	if (key) {
		snprintf(line, sizeof(line), "X-Appwrite-Key: %s", key);
		headers = curl_slist_append(headers, line);
	}
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	/* No "Expect: 100-continue": the body goes at once, as SDKs send it. */
	headers = curl_slist_append(headers, "Expect:");
	if (extra_header)
		headers = curl_slist_append(headers, extra_header);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length);
	}
	code = curl_easy_perform(curl);
	if (code == CURLE_OK || code == CURLE_SEND_ERROR) {
		/* A server refusing an oversized body answers and closes while curl still sends:
		 * curl reports a send error but has read the status when one arrived. */
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		if (status == 0)
			status = -1;
	}
	if (out_body) {
		*out_body = response.data ? response.data : strdup("");
		response.data = NULL;
	}
cleanup:
	free(response.data);
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	return status;
}

long cairn_it_rest(char **out_body, const cairn_it_env *env, const char *method, const char *path,
	const char *body)
{
	char *url = NULL;
	long status;

	if (asprintf(&url, "%s%s", env->url, path) < 0)
		fail_msg("out of memory");
	status = cairn_it_http(out_body, method, url, CAIRN_IT_PROJECT, CAIRN_IT_KEY, NULL, body,
		body ? strlen(body) : 0);
	free(url);
	return status;
}

void cairn_it_assert_error(long status, const char *body, long expected_status, const char *type)
{
	json_object *error, *field;

	if (status != expected_status)
		fail_msg("expected HTTP %ld, got %ld: %.500s", expected_status, status,
			body ? body : "(no body)");
	error = cairn_it_parse(body);
	if (!json_object_is_type(error, json_type_object))
		fail_msg("error body is not an object: %.500s", body);
	if (!json_object_object_get_ex(error, "message", &field) ||
		!json_object_is_type(field, json_type_string))
		fail_msg("error body has no string message: %.500s", body);
	if (!json_object_object_get_ex(error, "code", &field) ||
		!json_object_is_type(field, json_type_int) || json_object_get_int64(field) != status)
		fail_msg("error body code is not %ld: %.500s", status, body);
	if (!json_object_object_get_ex(error, "type", &field) ||
		!json_object_is_type(field, json_type_string) || !json_object_get_string_len(field))
		fail_msg("error body has no type: %.500s", body);
	if (type && strcmp(json_object_get_string(field), type) != 0)
		fail_msg("expected error type %s: %.500s", type, body);
	if (!json_object_object_get_ex(error, "version", &field) ||
		!json_object_is_type(field, json_type_string))
		fail_msg("error body has no string version: %.500s", body);
	json_object_put(error);
}

/* ---- comparing documents ------------------------------------------------------------- */

json_object *cairn_it_server_docs(const cairn_it_env *env, const char *database,
	const char *collection)
{
	json_object *all = json_object_new_array();
	size_t offset = 0;

	for (;;) {
		char path[1024];
		char *body = NULL;
		json_object *page, *documents;
		long status;
		size_t i, count;

		/* queries[0]={"method":"limit","values":[1000]}, queries[1]={"method":"offset",...} */
		snprintf(path, sizeof(path), "/databases/%s/collections/%s/documents"
			"?queries%%5B0%%5D=%%7B%%22method%%22%%3A%%22limit%%22%%2C"
			"%%22values%%22%%3A%%5B1000%%5D%%7D"
			"&queries%%5B1%%5D=%%7B%%22method%%22%%3A%%22offset%%22%%2C"
			"%%22values%%22%%3A%%5B%zu%%5D%%7D",
			database, collection, offset);
		status = cairn_it_rest(&body, env, "GET", path, NULL);
		if (status == 404) {
			free(body);
			break;
		}
		if (status != 200)
			fail_msg("GET %s: %ld %.500s", path, status, body ? body : "");
		page = cairn_it_parse(body);
		free(body);
		if (!json_object_object_get_ex(page, "documents", &documents) ||
			!json_object_is_type(documents, json_type_array))
			fail_msg("document list without documents[]");
		count = json_object_array_length(documents);
		for (i = 0; i < count; i++)
			json_object_array_add(all, json_object_get(json_object_array_get_idx(documents, i)));
		json_object_put(page);
		if (count < 1000)
			break;
		offset += count;
	}
	return all;
}

json_object *cairn_it_store_docs(cairn_store *store, const char *collection)
{
	char *text = NULL;
	json_object *list;
	int rc = cairn_doc_query(&text, store, collection, NULL, 0);

	if (rc == CAIRN_ENOTFOUND)
		return json_object_new_array();
	if (rc != 0)
		fail_msg("cairn_doc_query(%s): %d %s", collection, rc, cairn_error_last());
	list = cairn_it_parse(text);
	cairn_free(text);
	assert_true(json_object_is_type(list, json_type_array));
	return list;
}

json_object *cairn_it_user_fields(json_object *document)
{
	json_object *fields = json_object_new_object();

	json_object_object_foreach(document, key, value) {
		if (key[0] != '$')
			json_object_object_add(fields, key, json_object_get(value));
	}
	return fields;
}

static json_object *find_by_id(json_object *list, const char *id)
{
	size_t i, count = json_object_array_length(list);

	for (i = 0; i < count; i++) {
		json_object *document = json_object_array_get_idx(list, i), *field;

		if (json_object_object_get_ex(document, "$id", &field) &&
			strcmp(json_object_get_string(field), id) == 0)
			return document;
	}
	return NULL;
}

void cairn_it_assert_same_docs(json_object *expected, json_object *actual, const char *what)
{
	size_t i, count = json_object_array_length(expected);

	if (count != json_object_array_length(actual))
		fail_msg("%s: %zu documents expected, %zu found", what, count,
			json_object_array_length(actual));
	for (i = 0; i < count; i++) {
		json_object *want = json_object_array_get_idx(expected, i), *id, *got;
		json_object *want_fields, *got_fields;
		int equal;

		if (!json_object_object_get_ex(want, "$id", &id))
			fail_msg("%s: a document without $id", what);
		got = find_by_id(actual, json_object_get_string(id));
		if (!got)
			fail_msg("%s: document %s missing", what, json_object_get_string(id));
		want_fields = cairn_it_user_fields(want);
		got_fields = cairn_it_user_fields(got);
		equal = json_object_equal(want_fields, got_fields);
		if (!equal)
			fail_msg("%s: document %s differs: expected %s, found %s", what,
				json_object_get_string(id), json_object_to_json_string(want_fields),
				json_object_to_json_string(got_fields));
		json_object_put(want_fields);
		json_object_put(got_fields);
	}
}

void cairn_it_assert_store_matches_server(const cairn_it_env *env, cairn_store *store,
	const char *database, const char *collection)
{
	json_object *server = cairn_it_server_docs(env, database, collection);
	json_object *local = cairn_it_store_docs(store, collection);
	char what[256];

	snprintf(what, sizeof(what), "%s/%s store vs server", database, collection);
	cairn_it_assert_same_docs(server, local, what);
	json_object_put(server);
	json_object_put(local);
}

void cairn_it_put(cairn_store *store, const char *collection, const char *id, const char *json)
{
	int rc = cairn_doc_put(store, collection, id, json);

	if (rc != 0)
		fail_msg("put %s/%s: %d %s", collection, id, rc, cairn_error_last());
}

void cairn_it_patch(cairn_store *store, const char *collection, const char *id,
	const char *json)
{
	int rc = cairn_doc_patch(store, collection, id, json);

	if (rc != 0)
		fail_msg("patch %s/%s: %d %s", collection, id, rc, cairn_error_last());
}

void cairn_it_delete(cairn_store *store, const char *collection, const char *id)
{
	int rc = cairn_doc_delete(store, collection, id);

	if (rc != 0)
		fail_msg("delete %s/%s: %d %s", collection, id, rc, cairn_error_last());
}

void cairn_it_rest_expect(const cairn_it_env *env, const char *method, const char *path,
	const char *body, long expected)
{
	char *reply = NULL;
	long status = cairn_it_rest(&reply, env, method, path, body);

	if (status != expected)
		fail_msg("%s %s: HTTP %ld, expected %ld: %.400s", method, path, status, expected,
			reply ? reply : "");
	free(reply);
}

json_object *cairn_it_post(cairn_it_env *env, const char *path, const char *body,
	long expected)
{
	char *text = NULL;
	long status = cairn_it_rest(&text, env, "POST", path, body);
	json_object *reply;

	if (status != expected)
		fail_msg("POST %s: status %ld, expected %ld: %.500s", path, status, expected,
			text ? text : "");
	reply = cairn_it_parse(text);
	free(text);
	return reply;
}

int cairn_it_setup_items(void **state)
{
	cairn_it_env *env;

	if (cairn_it_setup(state) != 0)
		return -1;
	env = *state;
	json_object_put(cairn_it_post(env, "/databases", "{\"databaseId\":\"main\","
		"\"name\":\"main\"}", 201));
	json_object_put(cairn_it_post(env, "/databases/main/collections", "{\"collectionId\":"
		"\"items\",\"name\":\"items\"}", 201));
	return 0;
}

json_object *cairn_it_member(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(object));
	return value;
}
