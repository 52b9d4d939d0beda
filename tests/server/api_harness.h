/* api_harness.h: shared set-up for the API tests: a real SQLite storage in a temp dir, an
 * API over it, and hand-built requests whose JSON replies are parsed for assertions. */
#ifndef CAIRN_TESTS_SERVER_API_HARNESS_H
#define CAIRN_TESTS_SERVER_API_HARNESS_H

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

#include "server/api.h"
#include "server/http.h"
#include "storage/storage.h"
#include "util/json.h"

#define HARNESS_PROJECT "testproject"
#define HARNESS_KEY "secret-api-key-0123456789"
#define HARNESS_UNUSED __attribute__((unused))

typedef struct {
	char dir[64];
	cairn_storage *storage;
	cairn_api *api;
} harness;

typedef struct {
	int status;
	char *content_type; /* NULL when none */
	char *body;         /* NUL-terminated copy, NULL when none */
	json_object *json;  /* the parsed body when it is JSON, else NULL */
} api_reply;

static int harness_remove_entry(const char *path, const struct stat *info, int flag,
	struct FTW *ftw)
{
	(void)info;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static HARNESS_UNUSED harness *harness_open(void)
{
	harness *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	strcpy(h->dir, "/tmp/cairn-api-test-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	assert_int_equal(cairn__storage_sqlite.open(&h->storage, h->dir), 0);
	assert_int_equal(cairn__api_new(&h->api, &cairn__storage_sqlite, h->storage,
		HARNESS_PROJECT, HARNESS_KEY), 0);
	return h;
}

static HARNESS_UNUSED void harness_close(harness *h)
{
	cairn__api_free(h->api);
	cairn__storage_sqlite.close(h->storage);
	nftw(h->dir, harness_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(h);
}

static HARNESS_UNUSED void reply_free(api_reply *reply)
{
	free(reply->content_type);
	free(reply->body);
	json_object_put(reply->json);
	memset(reply, 0, sizeof(*reply));
}

/* Sends `method` `target` (path plus optional ?query) with `body` (may be NULL) and the
 * headers given as NULL-terminated name/value pairs (NULL for none). */
static HARNESS_UNUSED api_reply api_call_headers(harness *h, const char *method,
	const char *target, const char *body, const char *const *headers)
{
	cairn_http_request request;
	cairn_http_response response;
	api_reply reply;
	char *path = strdup(target);
	char *question;

	assert_non_null(path);
	memset(&request, 0, sizeof(request));
	memset(&response, 0, sizeof(response));
	memset(&reply, 0, sizeof(reply));
	question = strchr(path, '?');
	request.query = "";
	if (question) {
		*question = '\0';
		request.query = question + 1;
	}
	request.method = method;
	request.path = path;
	for (size_t i = 0; headers && headers[i] && request.header_count < CAIRN_HTTP_MAX_HEADERS;
		i += 2) {
		request.headers[request.header_count].name = headers[i];
		request.headers[request.header_count].value = headers[i + 1];
		request.header_count++;
	}
	request.body = body;
	request.body_length = body ? strlen(body) : 0;
	request.peer = "127.0.0.1";
	cairn__api_handle(h->api, &request, &response);
	reply.status = response.status;
	if (response.content_type)
		reply.content_type = strdup(response.content_type);
	if (response.body) {
		reply.body = strndup(response.body, response.body_length);
		if (response.content_type && strstr(response.content_type, "application/json"))
			reply.json = cairn__json_parse(response.body, response.body_length, 64);
	}
	cairn__http_response_clear(&response);
	free(path);
	return reply;
}

/* A request with the right project and key plus one optional extra header. */
static HARNESS_UNUSED api_reply api_call_with(harness *h, const char *method, const char *target,
	const char *body, const char *header, const char *value)
{
	const char *headers[] = { "x-appwrite-project", HARNESS_PROJECT, "x-appwrite-key",
		HARNESS_KEY, "content-type", "application/json", header, value, NULL };
	return api_call_headers(h, method, target, body, headers);
}

static HARNESS_UNUSED api_reply api_call(harness *h, const char *method, const char *target,
	const char *body)
{
	return api_call_with(h, method, target, body, NULL, NULL);
}

/* The string field `key` of a JSON object, or NULL. */
static HARNESS_UNUSED const char *json_str(json_object *object, const char *key)
{
	const char *out = NULL;

	if (!cairn__json_get_string(object, key, &out))
		return NULL;
	return out;
}

static HARNESS_UNUSED int64_t json_int(json_object *object, const char *key)
{
	int64_t out = INT64_MIN;

	cairn__json_get_int64(object, key, &out);
	return out;
}

static HARNESS_UNUSED json_object *json_get(json_object *object, const char *key)
{
	json_object *out = NULL;

	if (!object || !json_object_object_get_ex(object, key, &out))
		return NULL;
	return out;
}

/* Asserts the reply is an Appwrite error with this status and type. */
static HARNESS_UNUSED void assert_error(const api_reply *reply, int status, const char *type)
{
	if (reply->status != status || !reply->json || !json_str(reply->json, "type") ||
		strcmp(json_str(reply->json, "type"), type) != 0)
		print_error("expected %d %s, got %d %s\n", status, type, reply->status,
			reply->body ? reply->body : "(no body)");
	assert_int_equal(reply->status, status);
	assert_non_null(reply->json);
	assert_string_equal(json_str(reply->json, "type"), type);
	assert_int_equal(json_int(reply->json, "code"), status);
	assert_string_equal(json_str(reply->json, "version"), "1.9.6");
	assert_non_null(json_str(reply->json, "message"));
}

static HARNESS_UNUSED void assert_status(const api_reply *reply, int status)
{
	if (reply->status != status)
		print_error("expected %d, got %d %s\n", status, reply->status,
			reply->body ? reply->body : "(no body)");
	assert_int_equal(reply->status, status);
}

/* Sends and expects `status`; frees the reply. */
static HARNESS_UNUSED void api_expect(harness *h, const char *method, const char *target,
	const char *body, int status)
{
	api_reply reply = api_call(h, method, target, body);
	assert_status(&reply, status);
	reply_free(&reply);
}

/* Creates database `db` and collection `coll` in it. */
static HARNESS_UNUSED void make_collection(harness *h, const char *db, const char *coll)
{
	char body[256];
	char path[256];
	api_reply reply;

	snprintf(body, sizeof(body), "{\"databaseId\":\"%s\",\"name\":\"%s\"}", db, db);
	reply = api_call(h, "POST", "/v1/databases", body);
	if (reply.status != 409)
		assert_status(&reply, 201);
	reply_free(&reply);
	snprintf(path, sizeof(path), "/v1/databases/%s/collections", db);
	snprintf(body, sizeof(body), "{\"collectionId\":\"%s\",\"name\":\"%s\"}", coll, coll);
	api_expect(h, "POST", path, body, 201);
}

/* cmocka setup: *state becomes a harness with collections main/items and main/notes. */
static HARNESS_UNUSED int harness_setup_items_notes(void **state)
{
	harness *h = harness_open();

	make_collection(h, "main", "items");
	make_collection(h, "main", "notes");
	*state = h;
	return 0;
}

/* cmocka teardown: closes the harness in *state (also after a failed test). */
static HARNESS_UNUSED int harness_teardown(void **state)
{
	harness_close(*state);
	return 0;
}

/* A test entry with `setup` and harness_teardown, for the CMUnitTest array. */
#define HARNESS_TEST(f, setup) cmocka_unit_test_setup_teardown(f, setup, harness_teardown)

/* Percent-encodes `text` for a query string into a malloc'd string. */
static HARNESS_UNUSED char *url_encode(const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(text) * 3 + 1);
	size_t o = 0;

	assert_non_null(out);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '_' || *p == '.' || *p == '~') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return out;
}

#endif
