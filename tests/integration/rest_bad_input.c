/* rest_bad_input.c: hostile and malformed REST requests against the real server: each gets
 * an Appwrite-shaped error, the server stays up, and stored documents stay unchanged. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/integration.h"

#define DOCS_PATH "/databases/bad/collections/items/documents"

static cairn_it_env env;
static json_object *kept[2]; /* the documents stored before the abuse, as the server sent them */

/* ---- helpers --------------------------------------------------------------------------- */

static void expect_error(const char *method, const char *path, const char *body,
	long status, const char *type)
{
	char *response = NULL;
	long got = cairn_it_rest(&response, &env, method, path, body);

	if (got != status)
		fail_msg("%s %.150s: expected %ld, got %ld: %.300s", method, path, status, got,
			response ? response : "");
	cairn_it_assert_error(got, response, status, type);
	free(response);
}

static void expect_status(const char *method, const char *path, const char *body, long status)
{
	char *response = NULL;
	long got = cairn_it_rest(&response, &env, method, path, body);

	if (got != status)
		fail_msg("%s %.150s: expected %ld, got %ld: %.300s", method, path, status, got,
			response ? response : "");
	free(response);
}

static void assert_server_up(void)
{
	char url[256], *body = NULL;
	long status;

	snprintf(url, sizeof(url), "%s/health/version", env.url);
	status = cairn_it_http(&body, "GET", url, NULL, NULL, NULL, NULL, 0);
	if (status != 200)
		fail_msg("server no longer answers /health/version: %ld", status);
	free(body);
}

static void assert_not_stored(const char *id)
{
	char path[256];

	snprintf(path, sizeof(path), DOCS_PATH "/%s", id);
	expect_error("GET", path, NULL, 404, "document_not_found");
}

/* A 17 MiB body of valid JSON shape, except that it is too big. */
static char *huge_body(size_t size)
{
	char *body = malloc(size + 1);
	size_t prefix;

	assert_non_null(body);
	prefix = (size_t)sprintf(body, "{\"documentId\":\"huge\",\"data\":{\"x\":\"");
	memset(body + prefix, 'a', size - prefix - 3);
	memcpy(body + size - 3, "\"}}", 3);
	body[size] = '\0';
	return body;
}

static int port_of_env(void)
{
	const char *colon = strrchr(env.url + strlen("http://"), ':');

	assert_non_null(colon);
	return atoi(colon + 1);
}

/* Sends `bytes` raw on a new loopback connection, then closes it without reading. */
static void send_raw_and_close(const char *bytes)
{
	struct sockaddr_in address;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t length = strlen(bytes), sent = 0;

	assert_true(fd >= 0);
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_port = htons((uint16_t)port_of_env());
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	while (sent < length) {
		ssize_t n = send(fd, bytes + sent, length - sent, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	cairn_it_sleep_ms(20); /* let the server read it before the connection goes */
	close(fd);
}

/* Sends `bytes` on a new connection and returns the status of the answer (0 if none). */
static int send_raw_for_status(const char *bytes)
{
	struct sockaddr_in address;
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;
	char reply[512];
	size_t length = strlen(bytes), got = 0;
	struct timeval timeout = { 10, 0 };

	assert_true(fd >= 0);
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_port = htons((uint16_t)port_of_env());
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	assert_int_equal(send(fd, bytes, length, MSG_NOSIGNAL), (ssize_t)length);
	while (got < sizeof(reply) - 1) {
		ssize_t n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
		reply[got] = '\0';
		if (strstr(reply, "\r\n"))
			break;
	}
	reply[got] = '\0';
	if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	close(fd);
	return status;
}

/* ---- setup: a database, a collection and two documents ------------------------------- */

static int setup(void **state)
{
	const char *ids[2] = { "keep1", "keep2" };
	char *body = NULL, path[256];
	int i;
	(void)state;

	cairn_it_env_init(&env);
	expect_status("POST", "/databases", "{\"databaseId\":\"bad\",\"name\":\"Bad\"}", 201);
	expect_status("POST", "/databases/bad/collections",
		"{\"collectionId\":\"items\",\"name\":\"Items\"}", 201);
	expect_status("POST", DOCS_PATH,
		"{\"documentId\":\"keep1\","
		"\"data\":{\"title\":\"first\",\"n\":1,\"nested\":{\"a\":[1,2]}}}", 201);
	expect_status("POST", DOCS_PATH,
		"{\"documentId\":\"keep2\",\"data\":{\"title\":\"second\",\"big\":9007199254740993}}", 201);
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), DOCS_PATH "/%s", ids[i]);
		assert_int_equal(cairn_it_rest(&body, &env, "GET", path, NULL), 200);
		kept[i] = cairn_it_parse(body);
		free(body);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	json_object_put(kept[0]);
	json_object_put(kept[1]);
	cairn_it_env_free(&env);
	return 0;
}

/* ---- the abuse --------------------------------------------------------------------------- */

static void test_integration_rest_bad_input__malformed_bodies(void **state)
{
	char deep[1024];
	size_t i, n = 0;
	(void)state;

	expect_error("POST", DOCS_PATH, "{\"documentId\":\"x1\",\"data\":{\"a\":", 400,
		"general_argument_invalid");
	expect_error("POST", DOCS_PATH, "{\"documentId\":\"x1\",\"data\":{}} trailing", 400,
		"general_argument_invalid");
	expect_error("POST", DOCS_PATH, "[1,2,3]", 400, "general_argument_invalid");
	expect_error("POST", DOCS_PATH, "\"just a string\"", 400, "general_argument_invalid");
	expect_error("POST", DOCS_PATH, "42", 400, "general_argument_invalid");
	expect_error("PATCH", DOCS_PATH "/keep1", "{\"data\":{\"title\":\"x\"", 400,
		"general_argument_invalid");
	/* 100 levels of nesting (the limit is 32) */
	n += (size_t)sprintf(deep + n, "{\"documentId\":\"deep\",\"data\":{\"x\":");
	for (i = 0; i < 100; i++)
		deep[n++] = '[';
	for (i = 0; i < 100; i++)
		deep[n++] = ']';
	strcpy(deep + n, "}}");
	expect_error("POST", DOCS_PATH, deep, 400, "general_argument_invalid");
	/* 100 levels of nested queries: and(and(and(...))) */
	{
		char query[8192] = "queries%5B0%5D=", path[8600];

		n = strlen(query);
		for (i = 0; i < 100; i++)
			n += (size_t)sprintf(query + n,
				"%%7B%%22method%%22%%3A%%22and%%22%%2C%%22values%%22%%3A%%5B");
		for (i = 0; i < 100; i++)
			n += (size_t)sprintf(query + n, "%%5D%%7D");
		assert_true(n < sizeof(query));
		snprintf(path, sizeof(path), DOCS_PATH "?%s", query);
		expect_error("GET", path, NULL, 400, "general_query_invalid");
	}
	/* An empty body where one is required. */
	expect_error("POST", DOCS_PATH, "", 400, "general_argument_invalid");
	assert_not_stored("x1");
	assert_not_stored("deep");
	assert_server_up();
}

static void test_integration_rest_bad_input__too_big(void **state)
{
	size_t size = 17u * 1024u * 1024u;
	char *body = huge_body(size), *response = NULL, url[256];
	long status;
	(void)state;

	snprintf(url, sizeof(url), "%s" DOCS_PATH, env.url);
	status = cairn_it_http(&response, "POST", url, CAIRN_IT_PROJECT, CAIRN_IT_KEY, NULL,
		body, size);
	cairn_it_assert_error(status, response, 413, "general_payload_too_large");
	free(response);
	free(body);
	assert_server_up();

	/* A 1.1 MiB document fits in a request but not in a document. */
	size = 1100u * 1024u;
	body = huge_body(size);
	memcpy(body + strlen("{\"documentId\":\""), "big1", 4);
	expect_error("POST", DOCS_PATH, body, 400, "document_invalid_structure");
	free(body);
	body = huge_body(size);
	/* the same as an update of an existing document */
	memcpy(body, "{\"xxxxxxxxxx\":\"huge\",\"data\"", strlen("{\"documentId\":\"huge\",\"data\""));
	expect_error("PATCH", DOCS_PATH "/keep1", body, 400, "document_invalid_structure");
	free(body);
	assert_not_stored("big1");
	assert_not_stored("huge");
	assert_server_up();
}

static void test_integration_rest_bad_input__invalid_ids(void **state)
{
	(void)state;
	expect_error("POST", DOCS_PATH,
		"{\"documentId\":\"a123456789012345678901234567890123456\",\"data\":{}}", 400,
		"general_argument_invalid");
	expect_error("POST", DOCS_PATH, "{\"documentId\":\"bad!id\",\"data\":{}}", 400,
		"general_argument_invalid");
	expect_error("POST", DOCS_PATH, "{\"documentId\":\"has space\",\"data\":{}}", 400,
		"general_argument_invalid");
	expect_error("POST", DOCS_PATH, "{\"documentId\":\"_leading\",\"data\":{}}", 400,
		"general_argument_invalid");
	expect_error("POST", DOCS_PATH, "{\"documentId\":\"\",\"data\":{}}", 400,
		"general_argument_invalid");
	expect_error("POST", DOCS_PATH, "{\"documentId\":17,\"data\":{}}", 400,
		"general_argument_invalid");
	expect_error("PUT", DOCS_PATH "/_leading", "{\"data\":{}}", 400, "general_argument_invalid");
	expect_error("POST", "/databases", "{\"databaseId\":\"-db\",\"name\":\"x\"}", 400,
		"general_argument_invalid");
	expect_error("POST", "/databases/bad/collections",
		"{\"collectionId\":\"a123456789012345678901234567890123456\",\"name\":\"x\"}", 400,
		"general_argument_invalid");
	assert_server_up();
}

static void test_integration_rest_bad_input__unknown_things(void **state)
{
	(void)state;
	expect_error("GET", "/databases/nope/collections/items/documents", NULL, 404,
		"database_not_found");
	expect_error("POST", "/databases/nope/collections/items/documents",
		"{\"documentId\":\"x\",\"data\":{}}", 404, "database_not_found");
	expect_error("GET", "/databases/bad/collections/nope/documents", NULL, 404,
		"collection_not_found");
	expect_error("POST", "/databases/bad/collections/nope/documents",
		"{\"documentId\":\"x\",\"data\":{}}", 404, "collection_not_found");
	expect_error("GET", DOCS_PATH "/nope", NULL, 404, "document_not_found");
	expect_error("PATCH", DOCS_PATH "/nope", "{\"data\":{\"a\":1}}", 404, "document_not_found");
	expect_error("DELETE", DOCS_PATH "/nope", "{}", 404, "document_not_found");
	expect_error("GET", "/databases/nope", NULL, 404, "database_not_found");
	expect_error("POST", "/sync/databases/nope/pull", "{\"checkpoint\":0}", 404,
		"database_not_found");
	expect_error("GET", "/no/such/route", NULL, 404, "general_route_not_found");
	assert_server_up();
}

static void test_integration_rest_bad_input__wrong_types(void **state)
{
	(void)state;
	expect_error("POST", DOCS_PATH, "{\"documentId\":\"t1\",\"data\":\"hello\"}", 400,
		"document_invalid_structure");
	expect_error("POST", DOCS_PATH, "{\"documentId\":\"t1\",\"data\":[1,2]}", 400,
		"document_invalid_structure");
	expect_error("POST", DOCS_PATH, "{\"documentId\":\"t1\",\"data\":{},\"permissions\":7}",
		400, NULL);
	/* queries[0]={"method":"limit","values":["ten"]} */
	expect_error("GET", DOCS_PATH "?queries%5B0%5D=%7B%22method%22%3A%22limit%22%2C"
		"%22values%22%3A%5B%22ten%22%5D%7D", NULL, 400, "general_query_invalid");
	/* 100 queries are allowed (Appwrite's limit, and what SDKs may send); 101 are not. */
	{
		char path[16384];
		size_t n = (size_t)snprintf(path, sizeof(path), DOCS_PATH "?");
		int q;

		for (q = 0; q < 101 && n < sizeof(path); q++) {
			if (q == 100) {
				assert_true(n < sizeof(path));
				expect_status("GET", path, NULL, 200);
			}
			n += (size_t)snprintf(path + n, sizeof(path) - n, "%squeries%%5B%d%%5D="
				"%%7B%%22method%%22%%3A%%22isNotNull%%22%%2C%%22attribute%%22%%3A%%22title%%22%%7D",
				q ? "&" : "", q);
		}
		assert_true(n < sizeof(path));
		expect_error("GET", path, NULL, 400, "general_query_invalid");
	}
	/* queries[0]=not json */
	expect_error("GET", DOCS_PATH "?queries%5B0%5D=not%20json", NULL, 400,
		"general_query_invalid");
	/* queries[0]={"method":"noSuchMethod"} */
	expect_error("GET", DOCS_PATH "?queries%5B0%5D=%7B%22method%22%3A%22noSuchMethod%22%7D",
		NULL, 400, "general_query_invalid");
	/* queries[0]={"method":"equal","attribute":"title","values":"first"} (not an array) */
	expect_error("GET", DOCS_PATH "?queries%5B0%5D=%7B%22method%22%3A%22equal%22%2C"
		"%22attribute%22%3A%22title%22%2C%22values%22%3A%22first%22%7D", NULL, 400,
		"general_query_invalid");
	expect_error("POST", "/sync/databases/bad/pull", "{\"checkpoint\":\"zero\"}", 400,
		"general_argument_invalid");
	expect_error("POST", "/sync/databases/bad/pull", "{\"limit\":0}", 400,
		"general_argument_invalid");
	expect_error("POST", "/sync/databases/bad/push", "{\"mutations\":[]}", 400,
		"general_argument_invalid");
	expect_error("POST", "/sync/databases/bad/push",
		"{\"clientId\":\"c1\",\"mutations\":[{\"mutationId\":\"m1\",\"op\":\"explode\","
		"\"collection\":\"items\",\"id\":\"keep1\",\"baseVersion\":0,\"hlc\":1}]}", 400,
		"general_argument_invalid");
	expect_error("POST", "/sync/databases/bad/push",
		"{\"clientId\":\"c1\",\"mutations\":[\"not an object\"]}", 400,
		"general_argument_invalid");
	assert_not_stored("t1");
	assert_server_up();
}

static void test_integration_rest_bad_input__project_and_key(void **state)
{
	char url[256], *body = NULL;
	long status;
	(void)state;

	snprintf(url, sizeof(url), "%s" DOCS_PATH, env.url);
	status = cairn_it_http(&body, "GET", url, "wrong-project", CAIRN_IT_KEY, NULL, NULL, 0);
	cairn_it_assert_error(status, body, 404, "project_not_found");
	free(body);
	status = cairn_it_http(&body, "GET", url, NULL, CAIRN_IT_KEY, NULL, NULL, 0);
	cairn_it_assert_error(status, body, 404, "project_not_found");
	free(body);
	status = cairn_it_http(&body, "GET", url, "", CAIRN_IT_KEY, NULL, NULL, 0);
	cairn_it_assert_error(status, body, 404, "project_not_found");
	free(body);
	status = cairn_it_http(&body, "GET", url, CAIRN_IT_PROJECT, NULL, NULL, NULL, 0);
	cairn_it_assert_error(status, body, 401, NULL);
	free(body);
	status = cairn_it_http(&body, "GET", url, CAIRN_IT_PROJECT, "not-the-key", NULL, NULL, 0);
	cairn_it_assert_error(status, body, 401, NULL);
	free(body);
	/* a key that only shares a prefix with the real one */
	status = cairn_it_http(&body, "GET", url, CAIRN_IT_PROJECT, "integration", NULL, NULL, 0);
	cairn_it_assert_error(status, body, 401, NULL);
	free(body);
	/* writes without the key change nothing */
	status = cairn_it_http(&body, "DELETE", url, CAIRN_IT_PROJECT, NULL, NULL, "{}", 2);
	cairn_it_assert_error(status, body, 401, NULL);
	free(body);
	snprintf(url, sizeof(url), "%s" DOCS_PATH "/keep1", env.url);
	status = cairn_it_http(&body, "DELETE", url, CAIRN_IT_PROJECT, "wrong", NULL, "{}", 2);
	cairn_it_assert_error(status, body, 401, NULL);
	free(body);
	/* A guest may pull, but receives no document it may not read (none here). */
	snprintf(url, sizeof(url), "%s/sync/databases/bad/pull", env.url);
	status = cairn_it_http(&body, "POST", url, CAIRN_IT_PROJECT, NULL, NULL, "{}", 2);
	assert_int_equal(status, 200);
	{
		json_object *reply = cairn_it_parse(body), *changes = NULL;

		assert_true(json_object_object_get_ex(reply, "changes", &changes));
		for (size_t i = 0; i < json_object_array_length(changes); i++) {
			json_object *document = NULL;

			json_object_object_get_ex(json_object_array_get_idx(changes, i), "document",
				&document);
			assert_null(document);
		}
		json_object_put(reply);
	}
	free(body);
	assert_server_up();
}

static void test_integration_rest_bad_input__truncated_requests(void **state)
{
	(void)state;
	/* Content-Length promises 1000 bytes; 20 arrive; the socket closes. */
	send_raw_and_close("POST /v1" DOCS_PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		"X-Appwrite-Project: " CAIRN_IT_PROJECT "\r\nX-Appwrite-Key: " CAIRN_IT_KEY "\r\n"
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
		"{\"documentId\":\"trun");
	/* Headers cut in the middle. */
	send_raw_and_close("POST /v1" DOCS_PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Appwr");
	/* Only a request line, then nothing. */
	send_raw_and_close("GET /v1/health/version HTTP/1.1\r\n");
	/* Not HTTP at all. */
	send_raw_and_close("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n");
	/* A Content-Length far over the limit is refused before any body is read. */
	assert_int_equal(send_raw_for_status("POST /v1" DOCS_PATH " HTTP/1.1\r\n"
		"Host: 127.0.0.1\r\nX-Appwrite-Project: " CAIRN_IT_PROJECT "\r\n"
		"X-Appwrite-Key: " CAIRN_IT_KEY "\r\nContent-Type: application/json\r\n"
		"Content-Length: 99999999999\r\n\r\n{"), 413);
	/* A body bigger than the Content-Length says, then close. */
	send_raw_and_close("POST /v1" DOCS_PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		"X-Appwrite-Project: " CAIRN_IT_PROJECT "\r\nX-Appwrite-Key: " CAIRN_IT_KEY "\r\n"
		"Content-Type: application/json\r\nContent-Length: 5\r\n\r\n"
		"{\"documentId\":\"over\",\"data\":{}}");
	assert_server_up();
	assert_not_stored("trun");
	assert_not_stored("over");
}

static void test_integration_rest_bad_input__push_too_many(void **state)
{
	size_t count = 1001, i, length = 0, capacity = count * 160 + 128;
	char *body = malloc(capacity);
	(void)state;

	assert_non_null(body);
	length += (size_t)snprintf(body + length, capacity - length,
		"{\"clientId\":\"c-too-many\",\"mutations\":[");
	for (i = 0; i < count; i++)
		length += (size_t)snprintf(body + length, capacity - length,
			"%s{\"mutationId\":\"m%05zu\",\"op\":\"put\",\"collection\":\"items\","
			"\"id\":\"many%05zu\",\"baseVersion\":0,\"hlc\":%zu,\"data\":{\"i\":%zu}}",
			i ? "," : "", i, i, 1000000 + i, i);
	snprintf(body + length, capacity - length, "]}");
	expect_error("POST", "/sync/databases/bad/push", body, 400, "general_argument_invalid");
	free(body);
	assert_not_stored("many00000");
	assert_not_stored("many01000");
	assert_server_up();
}

/* Runs last: after everything above, the stored documents are exactly as they were. */
static void test_integration_rest_bad_input__stored_documents_unchanged(void **state)
{
	const char *ids[2] = { "keep1", "keep2" };
	char path[256], *body = NULL;
	json_object *list, *documents;
	int i;
	(void)state;

	for (i = 0; i < 2; i++) {
		json_object *now;

		snprintf(path, sizeof(path), DOCS_PATH "/%s", ids[i]);
		assert_int_equal(cairn_it_rest(&body, &env, "GET", path, NULL), 200);
		now = cairn_it_parse(body);
		free(body);
		if (!json_object_equal(now, kept[i]))
			fail_msg("%s changed: was %s, now %s", ids[i], json_object_to_json_string(kept[i]),
				json_object_to_json_string(now));
		json_object_put(now);
	}
	assert_int_equal(cairn_it_rest(&body, &env, "GET", DOCS_PATH, NULL), 200);
	list = cairn_it_parse(body);
	free(body);
	assert_true(json_object_object_get_ex(list, "documents", &documents));
	assert_int_equal(json_object_array_length(documents), 2);
	json_object_put(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integration_rest_bad_input__malformed_bodies),
		cmocka_unit_test(test_integration_rest_bad_input__too_big),
		cmocka_unit_test(test_integration_rest_bad_input__invalid_ids),
		cmocka_unit_test(test_integration_rest_bad_input__unknown_things),
		cmocka_unit_test(test_integration_rest_bad_input__wrong_types),
		cmocka_unit_test(test_integration_rest_bad_input__project_and_key),
		cmocka_unit_test(test_integration_rest_bad_input__truncated_requests),
		cmocka_unit_test(test_integration_rest_bad_input__push_too_many),
		cmocka_unit_test(test_integration_rest_bad_input__stored_documents_unchanged),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
