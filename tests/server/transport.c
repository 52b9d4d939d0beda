/* tests/server/transport.c: cairn__server_run in a child process, driven over real HTTP. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "cairn.h"
#include "server/api.h"
#include "server/http.h"
#include "server/server.h"
#include "storage/storage.h"
#include "support/child.h"
#include "support/server_proc.h"

/*
 * These tests exercise the transport and cairn__server_run, not the API or storage: this file
 * links its own small cairn__api_* and cairn__storage_sqlite (a static library member is only
 * pulled in for symbols still undefined, so the real ones stay out). The stub API offers test
 * routes (echo, slow, no-content); the stub storage keeps settings in a file so that the
 * API-key logic of server.c is checked across restarts.
 */

/* ---- stub storage: settings only, one "key=value" line each in <dir>/settings ---- */

struct cairn_storage {
	char path[4096];
};

static int stub_open(cairn_storage **out, const char *location)
{
	cairn_storage *storage = calloc(1, sizeof(*storage));

	if (!storage)
		return CAIRN_ENOMEM;
	snprintf(storage->path, sizeof(storage->path), "%s/settings", location);
	*out = storage;
	return 0;
}

static void stub_close(cairn_storage *storage)
{
	free(storage);
}

static int stub_setting_get(char **out, cairn_storage *storage, const char *key)
{
	char line[1024];
	size_t key_len = strlen(key);
	FILE *file = fopen(storage->path, "r");

	*out = NULL;
	if (!file)
		return CAIRN_ENOTFOUND;
	while (fgets(line, sizeof(line), file)) {
		if (strncmp(line, key, key_len) == 0 && line[key_len] == '=') {
			line[strcspn(line, "\n")] = '\0';
			*out = strdup(line + key_len + 1);
			break;
		}
	}
	fclose(file);
	return *out ? 0 : CAIRN_ENOTFOUND;
}

static int stub_setting_set(cairn_storage *storage, const char *key, const char *value)
{
	FILE *file = fopen(storage->path, "a");

	if (!file)
		return CAIRN_EIO;
	fprintf(file, "%s=%s\n", key, value);
	fclose(file);
	return 0;
}

const cairn_storage_backend cairn__storage_sqlite = {
	.version = CAIRN_STORAGE_BACKEND_VERSION,
	.name = "stub",
	.open = stub_open,
	.close = stub_close,
	.setting_get = stub_setting_get,
	.setting_set = stub_setting_set,
};

/* ---- stub API ---- */

struct cairn_api {
	char project[64];
	char key[256];
};

int cairn__api_new(cairn_api **out, const cairn_storage_backend *backend, cairn_storage *storage,
	const char *project, const char *api_key)
{
	cairn_api *api = calloc(1, sizeof(*api));

	(void)backend;
	(void)storage;
	if (!api)
		return CAIRN_ENOMEM;
	snprintf(api->project, sizeof(api->project), "%s", project);
	snprintf(api->key, sizeof(api->key), "%s", api_key);
	*out = api;
	return 0;
}

void cairn__api_free(cairn_api *api)
{
	free(api);
}

void cairn__api_on_sessions_ended(cairn_api *api, cairn_api_sessions_ended callback,
	void *payload)
{
	(void)api;
	(void)callback;
	(void)payload;
}

static void respond_object(cairn_http_response *response, int status, json_object *object)
{
	cairn__http_respond_json(response, status,
		strdup(json_object_to_json_string_ext(object, JSON_C_TO_STRING_PLAIN)));
	json_object_put(object);
}

static void stub_echo(const cairn_http_request *request, cairn_http_response *response)
{
	json_object *object = json_object_new_object(), *headers = json_object_new_object();
	json_object *queries = json_object_new_array();
	char **values;
	size_t count, i;

	json_object_object_add(object, "method", json_object_new_string(request->method));
	json_object_object_add(object, "path", json_object_new_string(request->path));
	json_object_object_add(object, "query", json_object_new_string(request->query));
	json_object_object_add(object, "bodyLength",
		json_object_new_int64((int64_t)request->body_length));
	json_object_object_add(object, "peer", json_object_new_string(request->peer));
	json_object_object_add(object, "tls", json_object_new_boolean(request->tls));
	for (i = 0; i < request->header_count; i++)
		json_object_object_add(headers, request->headers[i].name,
			json_object_new_string(request->headers[i].value));
	json_object_object_add(object, "headers", headers);
	count = cairn__http_query_values(&values, request, "queries");
	for (i = 0; i < count; i++)
		json_object_array_add(queries, json_object_new_string(values[i]));
	cairn__http_values_free(values, count);
	json_object_object_add(object, "queries", queries);
	respond_object(response, 200, object);
}

void cairn__api_handle(cairn_api *api, const cairn_http_request *request,
	cairn_http_response *response)
{
	if (strcmp(request->path, "/v1/health/version") == 0) {
		cairn__http_respond_json(response, 200, strdup("{\"version\":\"1.9.6\"}"));
	} else if (strcmp(request->path, "/v1/test/key") == 0) {
		json_object *object = json_object_new_object();

		json_object_object_add(object, "key", json_object_new_string(api->key));
		json_object_object_add(object, "project", json_object_new_string(api->project));
		respond_object(response, 200, object);
	} else if (strncmp(request->path, "/v1/test/echo-body", 18) == 0) {
		char *copy = malloc(request->body_length + 1);

		memcpy(copy, request->body ? request->body : "", request->body_length);
		response->status = 200;
		response->content_type = strdup("application/octet-stream");
		response->body = copy;
		response->body_length = request->body_length;
	} else if (strncmp(request->path, "/v1/test/echo", 13) == 0) {
		stub_echo(request, response);
	} else if (strcmp(request->path, "/v1/test/nocontent") == 0) {
		cairn__http_respond_no_content(response);
		cairn__http_response_add_header(response, "X-Test", "kept");
	} else if (strcmp(request->path, "/v1/test/slow") == 0) {
		struct timespec delay = { 0, 300 * 1000 * 1000 };

		nanosleep(&delay, NULL);
		cairn__http_respond_json(response, 200, strdup("{\"slow\":true}"));
	} else {
		cairn__http_respond_error(response, 404, "general_route_not_found",
			"The requested route was not found.");
	}
}

/* ---- a server in a child process ---- */

typedef struct {
	char root[64];      /* mkdtemp */
	char data_dir[128];
	char port_file[128];
	char stdout_path[128];
	char tls_cert[160]; /* "" = plain HTTP; else PEM files in root (and ca.pem) */
	char tls_key[160];
	pid_t pid;
	int port;
	char url[64];       /* http[s]://127.0.0.1:PORT/v1 */
} fixture;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Forks cairn__server_run; returns once the port file is there (asserts within ~10 s). */
static void server_start(fixture *f, const char *api_key)
{
	int attempts;
	FILE *file;

	unlink(f->port_file);
	fflush(stdout);
	fflush(stderr);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		cairn_server_config config;
		int rc;

		cairn_test_child_init();

		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
		if (!freopen(f->stdout_path, "a", stdout))
			_exit(100);
		memset(&config, 0, sizeof(config));
		config.listen = "127.0.0.1:0";
		config.data_dir = f->data_dir;
		config.project = "test";
		config.api_key = api_key;
		config.workers = 3;
		config.port_file = f->port_file;
		config.tls_cert = f->tls_cert[0] ? f->tls_cert : NULL;
		config.tls_key = f->tls_key[0] ? f->tls_key : NULL;
		rc = cairn__server_run(&config);
		if (rc != 0)
			fprintf(stderr, "cairn__server_run: %d %s\n", rc, cairn_error_last());
		fflush(stdout);
		_exit(rc == 0 ? 0 : 10);
	}
	for (attempts = 0; attempts < 1000; attempts++) {
		file = fopen(f->port_file, "r");
		if (file) {
			int ok = fscanf(file, "%d", &f->port) == 1;

			fclose(file);
			if (ok)
				break;
		}
		sleep_ms(10);
	}
	assert_true(f->port > 0);
	snprintf(f->url, sizeof(f->url), "%s://127.0.0.1:%d/v1", f->tls_cert[0] ? "https" : "http",
		f->port);
}

/* SIGTERM; returns the child's exit code (-1 when it died of a signal). */
static int server_stop(fixture *f, int signal_number)
{
	int status = 0;

	if (f->pid <= 0)
		return -1;
	kill(f->pid, signal_number);
	while (waitpid(f->pid, &status, 0) < 0 && errno == EINTR)
		;
	f->pid = 0;
	f->port = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/cairn-transport-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->data_dir, sizeof(f->data_dir), "%s/data/nested", f->root);
	snprintf(f->port_file, sizeof(f->port_file), "%s/port", f->root);
	snprintf(f->stdout_path, sizeof(f->stdout_path), "%s/stdout", f->root);
	*state = f;
	return 0;
}

static int setup_running(void **state)
{
	if (setup(state))
		return -1;
	server_start(*state, "secret-key");
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int rc = 0;

	if (f->pid > 0 && server_stop(f, SIGTERM) != 0)
		rc = -1; /* a server that does not exit 0 on SIGTERM fails the test */
	nftw(f->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

/* ---- an HTTP client that also keeps the response headers ---- */

typedef struct {
	long status;
	char *body;
	size_t body_length;
	char headers[8192];
	size_t headers_length;
} reply;

static size_t collect_body(char *data, size_t size, size_t count, void *user)
{
	reply *r = user;
	size_t n = size * count;
	char *grown = realloc(r->body, r->body_length + n + 1);

	if (!grown)
		return 0;
	r->body = grown;
	memcpy(r->body + r->body_length, data, n);
	r->body_length += n;
	r->body[r->body_length] = '\0';
	return n;
}

static size_t collect_header(char *data, size_t size, size_t count, void *user)
{
	reply *r = user;
	size_t n = size * count;

	if (r->headers_length + n < sizeof(r->headers)) {
		memcpy(r->headers + r->headers_length, data, n);
		r->headers_length += n;
		r->headers[r->headers_length] = '\0';
	}
	return n;
}

/* Performs one request on `curl` (reused for keep-alive tests). Returns the CURLcode. */
static CURLcode perform(CURL *curl, reply *r, const char *method, const char *url,
	struct curl_slist *headers, const char *body, size_t body_length)
{
	memset(r, 0, sizeof(*r));
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length);
	} else {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	}
	{
		CURLcode code = curl_easy_perform(curl);

		if (code == CURLE_OK)
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
		return code;
	}
}

static void reply_free(reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* The value of response header `name` (case-insensitive) copied to `out`, or NULL. */
static const char *header_value(const reply *r, const char *name, char *out, size_t out_size)
{
	const char *line = r->headers;
	size_t name_len = strlen(name);

	while (line && *line) {
		const char *end = strstr(line, "\r\n");
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (len > name_len && strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
			const char *value = line + name_len + 1;
			size_t value_len;

			while (*value == ' ')
				value++;
			value_len = len - (size_t)(value - line);
			if (value_len >= out_size)
				value_len = out_size - 1;
			memcpy(out, value, value_len);
			out[value_len] = '\0';
			return out;
		}
		line = end ? end + 2 : NULL;
	}
	return NULL;
}

static json_object *parse_body(const reply *r)
{
	json_object *object;

	assert_non_null(r->body);
	object = json_tokener_parse(r->body);
	assert_non_null(object);
	return object;
}

static const char *get_string(json_object *object, const char *key)
{
	json_object *field;

	assert_true(json_object_object_get_ex(object, key, &field));
	return json_object_get_string(field);
}

/* Asserts the server still answers. */
static void assert_alive(const fixture *f)
{
	char url[128];
	long status = 0;
	char *body = NULL;

	snprintf(url, sizeof(url), "%s/health/version", f->url);
	assert_int_equal(cairn_test_http(&status, &body, "GET", url, NULL, NULL, 0), 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(body, "\"version\""));
	free(body);
}

/* A raw TCP connection to the server. */
static int connect_raw(const fixture *f)
{
	struct sockaddr_in address;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_port = htons((uint16_t)f->port);
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	return fd;
}

static void send_all(int fd, const char *data, size_t length)
{
	while (length > 0) {
		ssize_t n = send(fd, data, length, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		data += n;
		length -= (size_t)n;
	}
}

static void send_text(int fd, const char *text)
{
	send_all(fd, text, strlen(text));
}

/* Reads one HTTP response (headers and Content-Length bytes of body) into `out`. */
static size_t read_response_ex(int fd, char *out, size_t size, int head_only)
{
	struct timeval timeout = { 20, 0 };
	size_t used = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	while (used + 1 < size) {
		ssize_t n = recv(fd, out + used, size - 1 - used, 0);
		const char *end;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		out[used] = '\0';
		end = strstr(out, "\r\n\r\n");
		if (end) {
			const char *length = strcasestr(out, "\r\ncontent-length:");
			size_t body = length && length < end && !head_only ?
				(size_t)atol(length + 17) : 0;

			if (used >= (size_t)(end + 4 - out) + body)
				break;
		}
	}
	out[used] = '\0';
	return used;
}

static size_t read_response(int fd, char *out, size_t size)
{
	return read_response_ex(fd, out, size, 0);
}

/* ---- tests ---- */

static void test_server_transport__health_version_json(void **state)
{
	fixture *f = *state;
	CURL *curl = curl_easy_init();
	reply r;
	char url[128], value[256];
	json_object *body;

	snprintf(url, sizeof(url), "%s/health/version", f->url);
	assert_int_equal(perform(curl, &r, "GET", url, NULL, NULL, 0), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(header_value(&r, "Content-Type", value, sizeof(value)));
	assert_non_null(strstr(value, "application/json"));
	assert_non_null(header_value(&r, "Content-Length", value, sizeof(value)));
	assert_int_equal(atoi(value), (int)r.body_length);
	body = parse_body(&r);
	assert_string_equal(get_string(body, "version"), "1.9.6");
	json_object_put(body);
	/* No Origin sent: nothing to echo, but credentials and exposed headers are always there. */
	assert_null(header_value(&r, "Access-Control-Allow-Origin", value, sizeof(value)));
	assert_non_null(header_value(&r, "Access-Control-Allow-Credentials", value, sizeof(value)));
	assert_string_equal(value, "true");
	reply_free(&r);

	/* An unknown route is an Appwrite error from the API, passed through as is. */
	snprintf(url, sizeof(url), "%s/nope", f->url);
	assert_int_equal(perform(curl, &r, "GET", url, NULL, NULL, 0), CURLE_OK);
	assert_int_equal(r.status, 404);
	body = parse_body(&r);
	assert_string_equal(get_string(body, "type"), "general_route_not_found");
	json_object_put(body);
	reply_free(&r);
	curl_easy_cleanup(curl);
}

static void test_server_transport__query_path_and_headers_arrive_intact(void **state)
{
	fixture *f = *state;
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	json_object *body, *queries, *request_headers;
	reply r;
	char url[1024];

	/* What the Appwrite SDKs send: URLSearchParams encoding, '+' for spaces, and values
	 * holding escaped '&', '=', '+' and '%' that must not split or change. */
	snprintf(url, sizeof(url), "%s/test/echo/a%%20b?queries%%5B0%%5D=%%7B%%22method%%22%%3A"
		"%%22equal%%22%%2C%%22values%%22%%3A%%5B%%22a%%26b%%3Dc+d%%2B%%25%%22%%5D%%7D"
		"&queries[1]=%%7B%%22method%%22%%3A%%22limit%%22%%7D&&total=false", f->url);
	headers = curl_slist_append(headers, "X-Appwrite-Project: test");
	headers = curl_slist_append(headers, "X-Appwrite-Key: secret-key");
	headers = curl_slist_append(headers, "x-appwrite-session: c2Vzc2lvbg==");
	headers = curl_slist_append(headers, "X-Fallback-Cookies: {\"a_session_test\":\"t\"}");
	headers = curl_slist_append(headers, "Cookie: a_session_test=abc; other=1");
	headers = curl_slist_append(headers, "X-Appwrite-Timestamp: 2026-01-01T00:00:00.000+00:00");
	headers = curl_slist_append(headers, "X-Appwrite-Response-Format: 1.9.5");
	headers = curl_slist_append(headers, "Authorization: Bearer xyz");
	headers = curl_slist_append(headers, "Origin: http://app.example");
	assert_int_equal(perform(curl, &r, "GET", url, headers, NULL, 0), CURLE_OK);
	assert_int_equal(r.status, 200);
	body = parse_body(&r);
	assert_string_equal(get_string(body, "method"), "GET");
	assert_string_equal(get_string(body, "path"), "/v1/test/echo/a b");
	assert_true(json_object_object_get_ex(body, "queries", &queries));
	assert_int_equal(json_object_array_length(queries), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(queries, 0)),
		"{\"method\":\"equal\",\"values\":[\"a&b=c d+%\"]}");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(queries, 1)),
		"{\"method\":\"limit\"}");
	/* The API gets the raw query string, byte for byte (http.c decodes it). */
	assert_string_equal(get_string(body, "query"), strchr(url, '?') + 1);
	assert_string_equal(get_string(body, "peer"), "127.0.0.1");
	{
		json_object *tls = NULL;

		assert_true(json_object_object_get_ex(body, "tls", &tls));
		assert_false(json_object_get_boolean(tls));
	}

	assert_true(json_object_object_get_ex(body, "headers", &request_headers));
	assert_string_equal(get_string(request_headers, "x-appwrite-project"), "test");
	assert_string_equal(get_string(request_headers, "x-appwrite-key"), "secret-key");
	assert_string_equal(get_string(request_headers, "x-appwrite-session"), "c2Vzc2lvbg==");
	assert_string_equal(get_string(request_headers, "x-fallback-cookies"),
		"{\"a_session_test\":\"t\"}");
	assert_non_null(strstr(get_string(request_headers, "cookie"), "a_session_test=abc"));
	assert_string_equal(get_string(request_headers, "x-appwrite-timestamp"),
		"2026-01-01T00:00:00.000+00:00");
	assert_string_equal(get_string(request_headers, "x-appwrite-response-format"), "1.9.5");
	assert_string_equal(get_string(request_headers, "authorization"), "Bearer xyz");
	assert_string_equal(get_string(request_headers, "origin"), "http://app.example");
	json_object_put(body);

	{
		char value[256];

		assert_non_null(header_value(&r, "Access-Control-Allow-Origin", value, sizeof(value)));
		assert_string_equal(value, "http://app.example");
		assert_non_null(header_value(&r, "Access-Control-Expose-Headers", value,
			sizeof(value)));
		assert_non_null(strstr(value, "X-Fallback-Cookies"));
		assert_non_null(strstr(value, "X-Appwrite-Session"));
	}
	reply_free(&r);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
}

static void test_server_transport__one_mib_body_round_trips(void **state)
{
	fixture *f = *state;
	size_t length = 1024 * 1024, i;
	char *payload = malloc(length);
	const char *const headers[] = { "Content-Type: application/octet-stream", NULL };
	char url[128], *body = NULL;
	long status = 0;

	assert_non_null(payload);
	/* Every byte value, NULs included, in a pattern that catches dropped or moved chunks. */
	for (i = 0; i < length; i++)
		payload[i] = (char)((i * 7 + i / 4096) & 0xff);
	snprintf(url, sizeof(url), "%s/test/echo-body", f->url);
	assert_int_equal(cairn_test_http(&status, &body, "POST", url, headers, payload, length), 0);
	assert_int_equal(status, 200);
	assert_non_null(body);
	assert_memory_equal(body, payload, length);
	free(body);

	/* Also with "Expect: 100-continue", as curl-based clients send for large bodies. */
	{
		const char *const expect[] = { "Expect: 100-continue", NULL };

		assert_int_equal(cairn_test_http(&status, &body, "PUT", url, expect, payload, length),
			0);
		assert_int_equal(status, 200);
		assert_memory_equal(body, payload, length);
		free(body);
	}
	free(payload);
}

/* The same transport over TLS: `tls` reaches the API, a 1 MiB body round-trips through
 * TLS records in both directions, keep-alive holds, and plain HTTP on the port gets a 400. Certificates from the openssl command. */
static void test_server_transport__tls_same_port(void **state)
{
	fixture *f = *state;
	CURL *curl = curl_easy_init();
	size_t length = 1024 * 1024, i;
	char *payload = malloc(length), url[256], command[1024], ca[160];
	long connects = -1, status = 0;
	json_object *body, *tls = NULL;
	reply r;

	assert_non_null(payload);
	snprintf(command, sizeof(command), "cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
		"ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out cert.pem -days 2 "
		"-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null", f->root);
	assert_int_equal(system(command), 0);
	snprintf(f->tls_cert, sizeof(f->tls_cert), "%s/cert.pem", f->root);
	snprintf(f->tls_key, sizeof(f->tls_key), "%s/key.pem", f->root);
	snprintf(ca, sizeof(ca), "%s", f->tls_cert); /* self-signed: its own CA */
	server_start(f, "secret-key");
	assert_true(strncmp(f->url, "https://", 8) == 0);
	curl_easy_setopt(curl, CURLOPT_CAINFO, ca);

	snprintf(url, sizeof(url), "%s/test/echo", f->url);
	assert_int_equal(perform(curl, &r, "GET", url, NULL, NULL, 0), CURLE_OK);
	assert_int_equal(r.status, 200);
	body = parse_body(&r);
	assert_true(json_object_object_get_ex(body, "tls", &tls));
	assert_true(json_object_get_boolean(tls));
	json_object_put(body);
	reply_free(&r);

	for (i = 0; i < length; i++)
		payload[i] = (char)((i * 7 + i / 4096) & 0xff);
	snprintf(url, sizeof(url), "%s/test/echo-body", f->url);
	assert_int_equal(perform(curl, &r, "POST", url, NULL, payload, length), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_length, length);
	assert_memory_equal(r.body, payload, length);
	curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
	assert_int_equal(connects, 0); /* the same TLS connection */
	reply_free(&r);

	/* Plain HTTP to the TLS port: a 400 in clear text, and the server goes on. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/health/version", f->port);
	assert_int_equal(cairn_test_http(&status, NULL, "GET", url, NULL, NULL, 0), 0);
	assert_int_equal(status, 400);
	snprintf(url, sizeof(url), "%s/health/version", f->url);
	assert_int_equal(perform(curl, &r, "GET", url, NULL, NULL, 0), CURLE_OK);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	curl_easy_cleanup(curl);
	free(payload);
	assert_int_equal(server_stop(f, SIGTERM), 0);
}

static void test_server_transport__body_over_limit_gets_413(void **state)
{
	fixture *f = *state;
	size_t length = CAIRN_HTTP_MAX_BODY + 1024;
	char *payload = calloc(1, length);
	char url[128], *body = NULL, raw[4096];
	long status = 0;
	json_object *error;
	int fd;

	assert_non_null(payload);
	memset(payload, 'x', length);
	snprintf(url, sizeof(url), "%s/test/echo-body", f->url);
	assert_int_equal(cairn_test_http(&status, &body, "POST", url, NULL, payload, length), 0);
	assert_int_equal(status, 413);
	error = json_tokener_parse(body);
	assert_non_null(error);
	assert_string_equal(get_string(error, "type"), "general_payload_too_large");
	json_object_put(error);
	free(body);
	free(payload);
	assert_alive(f);

	/* Announced but never sent: the answer comes from the Content-Length alone. */
	fd = connect_raw(f);
	snprintf(raw, sizeof(raw), "POST /v1/test/echo-body HTTP/1.1\r\nHost: x\r\n"
		"Content-Length: %u\r\n\r\n", CAIRN_HTTP_MAX_BODY * 4);
	send_all(fd, raw, strlen(raw));
	read_response(fd, raw, sizeof(raw));
	close(fd);
	assert_true(strncmp(raw, "HTTP/1.1 413", 12) == 0);
	assert_non_null(strstr(raw, "general_payload_too_large"));
	assert_alive(f);
}

static void test_server_transport__hundred_queries_and_raw_path(void **state)
{
	fixture *f = *state;
	size_t size = 200 * 1024, used, i;
	char *url = malloc(size), *body = NULL;
	long status = 0;
	json_object *object, *queries;
	const char *const headers[] = { "X-Appwrite-Project: test", NULL };

	assert_non_null(url);
	/* Appwrite accepts 100 queries; each is a fragment of the query string. Send 150. */
	used = (size_t)snprintf(url, size, "%s/test/echo/a+b%%2Bc?", f->url);
	for (i = 0; i < 150; i++)
		used += (size_t)snprintf(url + used, size - used, "%squeries%%5B%zu%%5D=%%7B%%22m%%22"
			"%%3A%%22equal%%22%%2C%%22i%%22%%3A%zu%%7D", i ? "&" : "", i, i);
	assert_int_equal(cairn_test_http(&status, &body, "GET", url, headers, NULL, 0), 0);
	assert_int_equal(status, 200);
	object = json_tokener_parse(body);
	assert_non_null(object);
	/* '+' in a path is a plus; only query strings use it for a space. */
	assert_string_equal(get_string(object, "path"), "/v1/test/echo/a+b+c");
	assert_true(json_object_object_get_ex(object, "queries", &queries));
	assert_int_equal(json_object_array_length(queries), 150);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(queries, 149)),
		"{\"m\":\"equal\",\"i\":149}");
	json_object_put(object);
	free(body);
	free(url);
}

static void test_server_transport__raw_protocol_details(void **state)
{
	fixture *f = *state;
	char reply_text[65536], *request = malloc(300 * 1024);
	const char *second;
	int fd, i;
	size_t used;

	assert_non_null(request);
	/* Two pipelined requests in one write: two answers, in order. A POST with an empty
	 * body and a HEAD (headers of the GET, no body). */
	fd = connect_raw(f);
	send_text(fd, "POST /v1/test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
		"HEAD /v1/health/version HTTP/1.1\r\nHost: x\r\n\r\n");
	{
		/* Both answers may come in one read: collect until the second head is complete. */
		struct timeval timeout = { 20, 0 };
		size_t got = 0;
		char *second_head;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
		for (;;) {
			ssize_t n = recv(fd, reply_text + got, sizeof(reply_text) - 1 - got, 0);

			assert_true(n > 0);
			got += (size_t)n;
			reply_text[got] = '\0';
			second_head = strstr(reply_text + 1, "HTTP/1.1 ");
			if (second_head && strstr(second_head, "\r\n\r\n"))
				break;
		}
		assert_true(strncmp(reply_text, "HTTP/1.1 200", 12) == 0);
		assert_true(strstr(reply_text, "\"method\":\"POST\"") < second_head);
		assert_true(strncmp(second_head, "HTTP/1.1 200", 12) == 0);
		assert_non_null(strcasestr(second_head, "content-length: 19"));
		/* HEAD: the GET's headers and no body. */
		assert_string_equal(strstr(second_head, "\r\n\r\n"), "\r\n\r\n");
	}
	close(fd);

	/* A request trickling in one byte per write (head and body split everywhere). */
	{
		const char *text = "POST /v1/test/echo-body HTTP/1.1\r\nHost: x\r\n"
			"Content-Length: 5\r\n\r\nabcde";
		int one = 1;
		size_t k;

		fd = connect_raw(f);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		for (k = 0; text[k]; k++) {
			send_all(fd, text + k, 1);
			if (k % 7 == 0)
				sleep_ms(1);
		}
		read_response(fd, reply_text, sizeof(reply_text));
		assert_true(strncmp(reply_text, "HTTP/1.1 200", 12) == 0);
		assert_string_equal(strstr(reply_text, "\r\n\r\n") + 4, "abcde");
		close(fd);
	}

	/* A chunked request body is decoded. */
	fd = connect_raw(f);
	send_text(fd, "POST /v1/test/echo-body HTTP/1.1\r\nHost: x\r\n"
		"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n"
		"Trailer: x\r\n\r\n");
	read_response(fd, reply_text, sizeof(reply_text));
	assert_true(strncmp(reply_text, "HTTP/1.1 200", 12) == 0);
	second = strstr(reply_text, "\r\n\r\n");
	assert_non_null(second);
	assert_string_equal(second + 4, "hello, world");
	close(fd);

	/* HTTP/1.0 without keep-alive: answered, then closed. */
	fd = connect_raw(f);
	send_text(fd, "GET /v1/health/version HTTP/1.0\r\n\r\n");
	read_response(fd, reply_text, sizeof(reply_text));
	assert_true(strncmp(reply_text, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(reply_text, "Connection: close"));
	assert_int_equal(recv(fd, reply_text, 1, 0), 0);
	close(fd);
	/* HTTP/1.0 asking for keep-alive: told so, and the connection serves a second request. */
	fd = connect_raw(f);
	send_text(fd, "GET /v1/health/version HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	read_response(fd, reply_text, sizeof(reply_text));
	assert_non_null(strstr(reply_text, "Connection: keep-alive"));
	send_text(fd, "GET /v1/health/version HTTP/1.1\r\n\r\n");
	read_response(fd, reply_text, sizeof(reply_text));
	assert_true(strncmp(reply_text, "HTTP/1.1 200", 12) == 0);
	close(fd);

	/* Malformed heads get Appwrite errors, then the connection closes. */
	{
		static const struct {
			const char *text;
			const char *status;
		} bad[] = {
			{ "GET\r\n\r\n", "HTTP/1.1 400" },
			{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 505" },
			{ "BREW /v1/pot HTTP/1.1\r\n\r\n", "HTTP/1.1 405" },
			{ "GET /v1/a%zz HTTP/1.1\r\n\r\n", "HTTP/1.1 400" },
			{ "GET /v1/a%00 HTTP/1.1\r\n\r\n", "HTTP/1.1 400" },
			{ "GET /v1/a HTTP/1.1\r\nBad Header: x\r\n\r\n", "HTTP/1.1 400" },
			{ "POST /v1/a HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", "HTTP/1.1 400" },
			{ "POST /v1/a HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
				"HTTP/1.1 400" },
			{ "POST /v1/a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501" },
		};
		size_t b;

		for (b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			fd = connect_raw(f);
			send_all(fd, bad[b].text, strlen(bad[b].text));
			read_response(fd, reply_text, sizeof(reply_text));
			if (strncmp(reply_text, bad[b].status, 12) != 0)
				fail_msg("%s: got %.60s", bad[b].text, reply_text);
			assert_non_null(strstr(reply_text, "\"type\":"));
			close(fd);
		}
	}

	/* A head over the limit: 431. */
	fd = connect_raw(f);
	used = (size_t)sprintf(request, "GET /v1/health/version HTTP/1.1\r\n");
	for (i = 0; used < 200 * 1024; i++)
		used += (size_t)sprintf(request + used, "X-Filler-%d: %0100d\r\n", i, 0);
	memcpy(request + used, "\r\n", 2);
	send_all(fd, request, used + 2);
	read_response(fd, reply_text, sizeof(reply_text));
	assert_true(strncmp(reply_text, "HTTP/1.1 431", 12) == 0);
	close(fd);

	/* 60 headers: the ones the API needs survive even past the first 32. */
	fd = connect_raw(f);
	used = (size_t)sprintf(request, "GET /v1/test/echo HTTP/1.1\r\n");
	for (i = 0; i < 60; i++)
		used += (size_t)sprintf(request + used, "X-Filler-%d: %d\r\n", i, i);
	used += (size_t)sprintf(request + used, "X-Appwrite-Key: late\r\nCookie: a=1\r\n"
		"Cookie: b=2\r\n\r\n");
	send_all(fd, request, used);
	read_response(fd, reply_text, sizeof(reply_text));
	assert_true(strncmp(reply_text, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(reply_text, "\"x-appwrite-key\":\"late\""));
	assert_non_null(strstr(reply_text, "\"cookie\":\"a=1; b=2\""));
	close(fd);
	free(request);
	assert_alive(f);
}

static void test_server_transport__cut_connections_do_not_crash(void **state)
{
	fixture *f = *state;
	char chunk[4096], url[128];
	const char *head = "POST /v1/test/echo-body HTTP/1.1\r\nHost: x\r\n"
		"Content-Length: 100000\r\n\r\n";
	int fd, round;

	memset(chunk, 'y', sizeof(chunk));
	for (round = 0; round < 3; round++) {
		/* Mid-body. */
		fd = connect_raw(f);
		send_all(fd, head, strlen(head));
		send_all(fd, chunk, sizeof(chunk));
		close(fd);
		/* Mid-headers. */
		fd = connect_raw(f);
		send_text(fd, "GET /v1/health/vers");
		close(fd);
		/* Gone while a worker handles the request: the answer must be dropped safely. */
		fd = connect_raw(f);
		send_text(fd, "GET /v1/test/slow HTTP/1.1\r\nHost: x\r\n\r\n");
		close(fd);
		/* Garbage. */
		fd = connect_raw(f);
		send_text(fd, "\x01\x02\x03 nonsense\r\n\r\n");
		close(fd);
	}
	/* A slow request after those proves the workers are still there and free. */
	snprintf(url, sizeof(url), "%s/test/slow", f->url);
	{
		long status = 0;

		assert_int_equal(cairn_test_http(&status, NULL, "GET", url, NULL, NULL, 0), 0);
		assert_int_equal(status, 200);
	}
	assert_alive(f);
}

static void test_server_transport__keep_alive_reuses_connection(void **state)
{
	fixture *f = *state;
	CURL *curl = curl_easy_init();
	long connects = -1;
	char url[128];
	reply r;

	snprintf(url, sizeof(url), "%s/health/version", f->url);
	assert_int_equal(perform(curl, &r, "GET", url, NULL, NULL, 0), CURLE_OK);
	assert_int_equal(r.status, 200);
	reply_free(&r);

	/* After a 200, a 204, an error and a POST with a body, still the first connection. */
	snprintf(url, sizeof(url), "%s/test/nocontent", f->url);
	assert_int_equal(perform(curl, &r, "DELETE", url, NULL, "{}", 2), CURLE_OK);
	assert_int_equal(r.status, 204);
	curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
	assert_int_equal(connects, 0);
	reply_free(&r);

	snprintf(url, sizeof(url), "%s/missing", f->url);
	assert_int_equal(perform(curl, &r, "GET", url, NULL, NULL, 0), CURLE_OK);
	assert_int_equal(r.status, 404);
	curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
	assert_int_equal(connects, 0);
	reply_free(&r);

	snprintf(url, sizeof(url), "%s/test/echo", f->url);
	assert_int_equal(perform(curl, &r, "POST", url, NULL, "{\"a\":1}", 7), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"bodyLength\":7"));
	assert_non_null(strstr(r.body, "\"method\":\"POST\""));
	curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
	assert_int_equal(connects, 0);
	reply_free(&r);

	assert_int_equal(perform(curl, &r, "PATCH", url, NULL, "{}", 2), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"method\":\"PATCH\""));
	curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
	assert_int_equal(connects, 0);
	reply_free(&r);

	snprintf(url, sizeof(url), "%s/health/version", f->url);
	assert_int_equal(perform(curl, &r, "GET", url, NULL, NULL, 0), CURLE_OK);
	assert_int_equal(r.status, 200);
	curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
	assert_int_equal(connects, 0);
	reply_free(&r);
	curl_easy_cleanup(curl);
}

static void test_server_transport__options_preflight(void **state)
{
	fixture *f = *state;
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	char url[128], value[2048];
	reply r;

	headers = curl_slist_append(headers, "Origin: http://localhost:5173");
	headers = curl_slist_append(headers, "Access-Control-Request-Method: PATCH");
	headers = curl_slist_append(headers,
		"Access-Control-Request-Headers: content-type,x-appwrite-project");
	snprintf(url, sizeof(url), "%s/databases/db/collections/c/documents/d", f->url);
	assert_int_equal(perform(curl, &r, "OPTIONS", url, headers, NULL, 0), CURLE_OK);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.body_length, 0);
	assert_null(header_value(&r, "Content-Type", value, sizeof(value)));
	assert_non_null(header_value(&r, "Access-Control-Allow-Origin", value, sizeof(value)));
	assert_string_equal(value, "http://localhost:5173");
	assert_non_null(header_value(&r, "Access-Control-Allow-Credentials", value, sizeof(value)));
	assert_string_equal(value, "true");
	assert_non_null(header_value(&r, "Access-Control-Allow-Methods", value, sizeof(value)));
	assert_non_null(strstr(value, "GET"));
	assert_non_null(strstr(value, "POST"));
	assert_non_null(strstr(value, "PUT"));
	assert_non_null(strstr(value, "PATCH"));
	assert_non_null(strstr(value, "DELETE"));
	assert_non_null(header_value(&r, "Access-Control-Allow-Headers", value, sizeof(value)));
	assert_non_null(strstr(value, "X-Appwrite-Project"));
	assert_non_null(strstr(value, "X-Appwrite-Key"));
	assert_non_null(strstr(value, "X-Appwrite-Session"));
	assert_non_null(strstr(value, "X-Appwrite-JWT"));
	assert_non_null(strstr(value, "X-Fallback-Cookies"));
	assert_non_null(strstr(value, "Content-Type"));
	reply_free(&r);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
}

static void test_server_transport__no_content_has_no_content_type(void **state)
{
	fixture *f = *state;
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	char url[128], value[256];
	reply r;

	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Origin: https://app.example");
	snprintf(url, sizeof(url), "%s/test/nocontent", f->url);
	assert_int_equal(perform(curl, &r, "DELETE", url, headers, "{}", 2), CURLE_OK);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.body_length, 0);
	assert_null(header_value(&r, "Content-Type", value, sizeof(value)));
	assert_null(header_value(&r, "Content-Length", value, sizeof(value)));
	assert_non_null(header_value(&r, "X-Test", value, sizeof(value)));
	assert_string_equal(value, "kept");
	assert_non_null(header_value(&r, "Access-Control-Allow-Origin", value, sizeof(value)));
	assert_string_equal(value, "https://app.example");
	reply_free(&r);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
}

typedef struct {
	const fixture *f;
	int index;
	int failures;
} client_arg;

static void *client_thread(void *argument)
{
	client_arg *arg = argument;
	CURL *curl = curl_easy_init();
	char url[128], payload[256];
	int i;

	snprintf(url, sizeof(url), "%s/test/echo-body", arg->f->url);
	for (i = 0; i < 25; i++) {
		reply r;
		int length = snprintf(payload, sizeof(payload), "client %d request %d", arg->index, i);

		if (perform(curl, &r, "POST", url, NULL, payload, (size_t)length) != CURLE_OK ||
			r.status != 200 || r.body_length != (size_t)length ||
			memcmp(r.body, payload, (size_t)length) != 0)
			arg->failures++;
		reply_free(&r);
	}
	curl_easy_cleanup(curl);
	return NULL;
}

static void test_server_transport__concurrent_clients_get_their_own_answers(void **state)
{
	fixture *f = *state;
	pthread_t threads[6];
	client_arg args[6];
	int i;

	for (i = 0; i < 6; i++) {
		args[i].f = f;
		args[i].index = i;
		args[i].failures = 0;
		assert_int_equal(pthread_create(&threads[i], NULL, client_thread, &args[i]), 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
}

static char *read_file(const char *path)
{
	FILE *file = fopen(path, "r");
	char *text = calloc(1, 65536);

	assert_non_null(text);
	if (file) {
		size_t n = fread(text, 1, 65535, file);

		text[n] = '\0';
		fclose(file);
	}
	return text;
}

static json_object *get_key(const fixture *f)
{
	char url[128], *body = NULL;
	long status = 0;
	json_object *object;

	snprintf(url, sizeof(url), "%s/test/key", f->url);
	assert_int_equal(cairn_test_http(&status, &body, "GET", url, NULL, NULL, 0), 0);
	assert_int_equal(status, 200);
	object = json_tokener_parse(body);
	assert_non_null(object);
	free(body);
	return object;
}

static void test_server_transport__api_key_generated_once_and_kept(void **state)
{
	fixture *f = *state;
	json_object *first, *second;
	char expected[512], *out, key[65];
	const char *marker;
	size_t i;

	server_start(f, NULL);
	out = read_file(f->stdout_path);
	snprintf(expected, sizeof(expected), "cairn server listening on http://127.0.0.1:%d/v1 "
		"(project test)\n", f->port);
	assert_non_null(strstr(out, expected));
	snprintf(expected, sizeof(expected), "Generated API key (stored in %s, shown once): ",
		f->data_dir);
	marker = strstr(out, expected);
	assert_non_null(marker);
	marker += strlen(expected);
	for (i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", marker[i]));
	assert_int_equal(marker[64], '\n');
	memcpy(key, marker, 64);
	key[64] = '\0';
	free(out);
	first = get_key(f);
	assert_string_equal(get_string(first, "key"), key);
	assert_string_equal(get_string(first, "project"), "test");
	assert_int_equal(server_stop(f, SIGINT), 0);

	/* Second start on the same data dir: the stored key, and not printed again. */
	assert_int_equal(truncate(f->stdout_path, 0), 0);
	server_start(f, NULL);
	second = get_key(f);
	assert_string_equal(get_string(second, "key"), key);
	out = read_file(f->stdout_path);
	assert_null(strstr(out, "Generated API key"));
	assert_non_null(strstr(out, "cairn server listening on"));
	free(out);
	assert_int_equal(server_stop(f, SIGTERM), 0);

	/* A configured key wins over the stored one. */
	server_start(f, "from-config");
	json_object_put(second);
	second = get_key(f);
	assert_string_equal(get_string(second, "key"), "from-config");
	json_object_put(first);
	json_object_put(second);
	assert_int_equal(server_stop(f, SIGTERM), 0);
}

static void test_server_transport__sigterm_exits_zero(void **state)
{
	fixture *f = *state;
	struct stat st;

	assert_alive(f);
	assert_int_equal(stat(f->data_dir, &st), 0); /* created with its parents */
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(server_stop(f, SIGTERM), 0);
	/* Stopped while a request is being handled: still a clean exit. */
	server_start(f, "k");
	{
		int fd = connect_raw(f);

		send_text(fd, "GET /v1/test/slow HTTP/1.1\r\nHost: x\r\n\r\n");
		sleep_ms(50);
		assert_int_equal(server_stop(f, SIGTERM), 0);
		close(fd);
	}
}

static void test_server_transport__start_errors(void **state)
{
	fixture *f = *state;
	cairn_server_config config;
	char listen[64], bad_dir[256];
	int rc;

	/* Port in use (by a running server). */
	server_start(f, "k");
	memset(&config, 0, sizeof(config));
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->port);
	config.listen = listen;
	config.data_dir = f->data_dir;
	config.api_key = "k";
	rc = cairn__server_run(&config);
	assert_int_equal(rc, CAIRN_EIO);
	assert_non_null(strstr(cairn_error_last(), listen));
	assert_alive(f);

	/* Malformed listen address. */
	config.listen = "127.0.0.1";
	assert_int_equal(cairn__server_run(&config), CAIRN_EINVALID);
	config.listen = "127.0.0.1:99999";
	assert_int_equal(cairn__server_run(&config), CAIRN_EINVALID);

	/* A data dir that cannot be created (a regular file is in the way). */
	snprintf(bad_dir, sizeof(bad_dir), "%s/file/data", f->root);
	{
		char file_path[256];
		FILE *file;

		snprintf(file_path, sizeof(file_path), "%s/file", f->root);
		file = fopen(file_path, "w");
		assert_non_null(file);
		fclose(file);
	}
	config.listen = "127.0.0.1:0";
	config.data_dir = bad_dir;
	assert_int_equal(cairn__server_run(&config), CAIRN_EIO);
	assert_non_null(strstr(cairn_error_last(), "data directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_transport__health_version_json,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(
			test_server_transport__query_path_and_headers_arrive_intact, setup_running,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__one_mib_body_round_trips,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__body_over_limit_gets_413,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__hundred_queries_and_raw_path,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__raw_protocol_details,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__cut_connections_do_not_crash,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__keep_alive_reuses_connection,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__options_preflight,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__no_content_has_no_content_type,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(
			test_server_transport__concurrent_clients_get_their_own_answers, setup_running,
			teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__api_key_generated_once_and_kept,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__sigterm_exits_zero,
			setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__start_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_transport__tls_same_port, setup, teardown),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
