/* tls.c: `cairn serve --tls-cert/--tls-key` against real clients: stores trusting a test CA
 * sync over https:// and get realtime over wss://; untrusted, self-signed and wrong-host
 * certificates are refused unless trusted; plain HTTP on the TLS port and bad certificate
 * files at start-up never crash anything. The CA and certificates are made here with the
 * openssl command. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "net/websocket.h"
#include "support/cli_run.h"
#include "support/integration.h"
#include "support/realtime_ws.h"
#include "util/json.h"
#include "util/time.h"

#define DATABASE "secure"
#define WAIT_MS 60000 /* an upper bound for "eventually", never a timing assertion */

/* The certificates, made once for the whole program in `dir`. */
static struct {
	char dir[PATH_MAX];
} certs;

/* One test: a temp dir and a TLS server with the named certificate ("good", "self",
 * "wronghost"). */
typedef struct {
	char root[PATH_MAX];
	char data_dir[PATH_MAX + 16];
	cairn_test_server *server;
	char url[128];
} tls_env;

static void cert_path(char *out, size_t size, const char *name, const char *ext)
{
	snprintf(out, size, "%s/%s.%s", certs.dir, name, ext);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char command[4096];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(command, sizeof(command), fmt, ap);
	va_end(ap);
	status = system(command);
	if (status != 0)
		fprintf(stderr, "tls test: command failed (%d): %s\n", status, command);
	return status;
}

/* A key and a certificate for `san` signed by the test CA. */
static int make_signed(const char *name, const char *san)
{
	const char *d = certs.dir;

	return run("cd '%s' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
		"-nodes -keyout %s.key -out %s.csr -subj '/CN=%s' 2>/dev/null && "
		"printf 'subjectAltName=%s\\n' > %s.ext && "
		"openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		"-out %s.pem -days 2 -extfile %s.ext 2>/dev/null", d, name, name, name, san, name,
		name, name, name);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(certs.dir, sizeof(certs.dir), "/tmp/cairn-tls-XXXXXX");
	if (!mkdtemp(certs.dir))
		return -1;
	/* The test CA, a server certificate for 127.0.0.1 and localhost, one for another
	 * host name, a self-signed one, and a key that belongs to none of them. */
	if (run("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
		"-nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=cairn test CA' 2>/dev/null",
		certs.dir) != 0 ||
		make_signed("good", "DNS:localhost,IP:127.0.0.1") != 0 ||
		make_signed("wronghost", "DNS:wrong.example") != 0 ||
		run("cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
		"ec_paramgen_curve:prime256v1 -nodes -keyout self.key -out self.pem -days 2 "
		"-subj '/CN=localhost' -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' "
		"2>/dev/null && openssl genpkey -algorithm ec -pkeyopt "
		"ec_paramgen_curve:prime256v1 -out other.key 2>/dev/null && "
		"echo 'not a certificate' > garbage.pem", certs.dir) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cairn_cli_rmtree(certs.dir);
	return 0;
}

/* Starts a TLS server with certificate `name`; its readiness is checked trusting `trust`
 * (NULL: without verifying the certificate). */
static void env_start(tls_env *env, const char *name, const char *trust)
{
	char cert[PATH_MAX + 32], key[PATH_MAX + 32], ca[PATH_MAX + 32];

	memset(env, 0, sizeof(*env));
	snprintf(env->root, sizeof(env->root), "/tmp/cairn-tls-env-XXXXXX");
	assert_non_null(mkdtemp(env->root));
	snprintf(env->data_dir, sizeof(env->data_dir), "%s/server", env->root);
	cert_path(cert, sizeof(cert), name, "pem");
	cert_path(key, sizeof(key), name, "key");
	if (trust)
		cert_path(ca, sizeof(ca), trust, "pem");
	if (cairn_test_server_start_tls(&env->server, env->data_dir, CAIRN_IT_PROJECT,
		CAIRN_IT_KEY, cert, key, trust ? ca : NULL) != 0)
		fail_msg("the TLS server with %s.pem did not start", name);
	snprintf(env->url, sizeof(env->url), "%s", cairn_test_server_url(env->server));
	assert_true(strncmp(env->url, "https://", 8) == 0);
}

static void env_free(tls_env *env)
{
	if (env->server)
		assert_int_equal(cairn_test_server_stop(env->server), 0);
	env->server = NULL;
	cairn_cli_rmtree(env->root);
}

/* A store at <root>/<name>.db whose remote is the TLS server, trusting `trust` (NULL: the
 * system's CAs). */
static cairn_store *open_store(const tls_env *env, const char *name, const char *trust)
{
	char path[PATH_MAX + 64], ca[PATH_MAX + 32];
	cairn_remote remote = { CAIRN_REMOTE_VERSION, env->url, CAIRN_IT_PROJECT, CAIRN_IT_KEY,
		DATABASE, NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	cairn_store *store = NULL;

	snprintf(path, sizeof(path), "%s/%s.db", env->root, name);
	if (cairn_store_open(&store, path, NULL) != 0)
		fail_msg("cairn_store_open: %s", cairn_error_last());
	if (trust) {
		cert_path(ca, sizeof(ca), trust, "pem");
		remote.ca_file = ca;
	}
	if (cairn_store_set_remote(store, &remote) != 0)
		fail_msg("cairn_store_set_remote: %s", cairn_error_last());
	return store;
}

static void put(cairn_store *store, const char *id, int n)
{
	char json[128];

	snprintf(json, sizeof(json), "{\"n\":%d}", n);
	if (cairn_doc_put(store, "items", id, json) != 0)
		fail_msg("put %s: %s", id, cairn_error_last());
}

static int has_doc(cairn_store *store, const char *id, int n)
{
	char *json = NULL, needle[32];
	int found;

	if (cairn_doc_get(&json, store, "items", id) != 0)
		return 0;
	snprintf(needle, sizeof(needle), "\"n\":%d", n);
	found = strstr(json, needle) != NULL;
	cairn_free(json);
	return found;
}

/* GET of one document on the server over https trusting `trust`; the HTTP status. */
static long server_get(const tls_env *env, const char *trust, const char *id, char **body)
{
	char url[512], ca[PATH_MAX + 32];
	const char *headers[] = { "X-Appwrite-Project: " CAIRN_IT_PROJECT,
		"X-Appwrite-Key: " CAIRN_IT_KEY, NULL };
	long status = 0;

	cert_path(ca, sizeof(ca), trust, "pem");
	snprintf(url, sizeof(url), "%s/databases/" DATABASE "/collections/items/documents/%s",
		env->url, id);
	if (cairn_test_http_ca(&status, body, "GET", url, ca, headers, NULL, 0) != 0)
		return -1;
	return status;
}

/* POST of JSON over https trusting `trust`; the HTTP status. */
static long server_post(const tls_env *env, const char *trust, const char *path,
	const char *json)
{
	char url[512], ca[PATH_MAX + 32];
	const char *headers[] = { "X-Appwrite-Project: " CAIRN_IT_PROJECT,
		"X-Appwrite-Key: " CAIRN_IT_KEY, "Content-Type: application/json", NULL };
	long status = 0;

	cert_path(ca, sizeof(ca), trust, "pem");
	snprintf(url, sizeof(url), "%s%s", env->url, path);
	if (cairn_test_http_ca(&status, NULL, "POST", url, ca, headers, json, strlen(json)) != 0)
		return -1;
	return status;
}

static cairn_replicator_status status_of(cairn_replicator *replicator)
{
	cairn_replicator_status status;

	assert_int_equal(cairn_replicator_status_get(&status, replicator), 0);
	return status;
}

static cairn_replicator *start(cairn_store *store)
{
	cairn_replicator_options options = CAIRN_REPLICATOR_OPTIONS_INIT;
	cairn_replicator *replicator = NULL;

	options.backoff_initial_ms = 50;
	options.backoff_max_ms = 500;
	options.request_timeout_ms = 5000;
	options.netlink = 0;
	if (cairn_replicator_start(&replicator, store, &options) != 0)
		fail_msg("replicator start: %s", cairn_error_last());
	return replicator;
}

#define WAIT_FOR(condition, what) CAIRN_IT_WAIT_FOR(condition, what, WAIT_MS)

/* Reads messages until one of type `type` (others, like "response", are skipped). */
static json_object *ws_expect(cairn__ws *ws, const char *type)
{
	int i;

	for (i = 0; i < 20; i++) {
		json_object *message = cairn_it_ws_next(ws, 10000);
		const char *got = NULL;

		if (!message)
			fail_msg("no realtime %s message within 10 s", type);
		if (cairn__json_get_string(message, "type", &got) && strcmp(got, type) == 0)
			return message;
		json_object_put(message);
	}
	fail_msg("no realtime %s message among 20", type);
	return NULL;
}

/* Asserts that `rc` is a refused certificate with a message saying so. */
static void assert_refused(int rc, const char *what)
{
	const char *message = cairn_error_last();

	if (rc != CAIRN_ESERVER)
		fail_msg("%s: expected CAIRN_ESERVER, got %d (%s): %s", what, rc,
			cairn_strerror(rc), message);
	if (!strstr(message, "certificate"))
		fail_msg("%s: the message does not mention the certificate: %s", what, message);
}

static void test_integration_tls__https_sync_and_wss_realtime(void **state)
{
	tls_env env;
	cairn_store *a, *b;
	cairn_replicator *ra, *rb;
	cairn_sync_result result;
	cairn__ws *ws = NULL;
	json_object *message;
	char ca[PATH_MAX + 32], *body = NULL;
	static const char subscribe[] = "{\"type\":\"subscribe\",\"data\":[{"
		"\"subscriptionId\":\"s\",\"channels\":[\"documents\"]}]}";

	(void)state;
	env_start(&env, "good", "ca");
	cert_path(ca, sizeof(ca), "ca", "pem");
	/* Over https: a collection guests may read, so realtime guests get its events. */
	assert_int_equal(server_post(&env, "ca", "/databases",
		"{\"databaseId\":\"" DATABASE "\",\"name\":\"" DATABASE "\"}"), 201);
	assert_int_equal(server_post(&env, "ca", "/databases/" DATABASE "/collections",
		"{\"collectionId\":\"items\",\"name\":\"items\",\"permissions\":"
		"[\"read(\\\"any\\\")\"],\"documentSecurity\":false}"), 201);

	/* One sync over https, checked on the server over https. */
	a = open_store(&env, "a", "ca");
	put(a, "first", 1);
	cairn_it_sync(&result, a, NULL);
	assert_int_equal(result.pushed, 1);
	assert_int_equal(server_get(&env, "ca", "first", &body), 200);
	assert_non_null(strstr(body, "\"n\":1"));
	free(body);

	/* The realtime API over wss: connected, subscribed, and an event for a write. */
	if (cairn__ws_connect_ca(&ws, env.url, CAIRN_IT_PROJECT, ca, 10000) != 0)
		fail_msg("wss connect: %s", cairn_error_last());
	json_object_put(ws_expect(ws, "connected"));
	assert_int_equal(cairn__ws_send_text(ws, subscribe, strlen(subscribe)), 0);
	json_object_put(ws_expect(ws, "response"));
	put(a, "second", 2);
	cairn_it_sync(&result, a, NULL);
	message = ws_expect(ws, "event");
	assert_non_null(strstr(json_object_to_json_string(message), "second"));
	json_object_put(message);
	cairn__ws_free(ws);

	/* Two stores with replicators: both hold a wss subscription, and a write on one
	 * reaches the other. */
	b = open_store(&env, "b", "ca");
	ra = start(a);
	rb = start(b);
	WAIT_FOR(status_of(ra).realtime && status_of(rb).realtime, "both wss subscriptions");
	WAIT_FOR(has_doc(b, "second", 2), "the existing documents on B");
	put(a, "live", 3);
	WAIT_FOR(has_doc(b, "live", 3), "A's write on B");
	assert_int_equal(status_of(rb).last_error, 0);
	cairn_replicator_stop(ra);
	cairn_replicator_stop(rb);
	cairn_store_free(a);
	cairn_store_free(b);
	env_free(&env);
}

static void test_integration_tls__self_signed_refused_unless_trusted(void **state)
{
	tls_env env;
	cairn_store *store;
	cairn_sync_result result;
	cairn__ws *ws = NULL;
	char self[PATH_MAX + 32], ca[PATH_MAX + 32];

	(void)state;
	env_start(&env, "self", "self");
	cert_path(self, sizeof(self), "self", "pem");
	cert_path(ca, sizeof(ca), "ca", "pem");

	/* The system's CAs, and a CA that did not sign it: refused, nothing sent. */
	store = open_store(&env, "system", NULL);
	put(store, "x", 1);
	assert_refused(cairn_sync_once(&result, store, NULL), "sync with the system's CAs");
	cairn_store_free(store);
	store = open_store(&env, "otherca", "ca");
	put(store, "x", 1);
	assert_refused(cairn_sync_once(&result, store, NULL), "sync trusting another CA");
	cairn_store_free(store);
	assert_int_equal(server_get(&env, "self", "x", NULL), 404);
	assert_refused(cairn__ws_connect(&ws, env.url, CAIRN_IT_PROJECT, 10000),
		"wss with the system's CAs");
	assert_null(ws);
	assert_refused(cairn__ws_connect_ca(&ws, env.url, CAIRN_IT_PROJECT, ca, 10000),
		"wss trusting another CA");
	assert_null(ws);

	/* Trusted explicitly: works. */
	store = open_store(&env, "trusting", "self");
	put(store, "x", 1);
	cairn_it_sync(&result, store, NULL);
	assert_int_equal(result.pushed, 1);
	cairn_store_free(store);
	if (cairn__ws_connect_ca(&ws, env.url, CAIRN_IT_PROJECT, self, 10000) != 0)
		fail_msg("wss trusting the self-signed certificate: %s", cairn_error_last());
	json_object_put(ws_expect(ws, "connected"));
	cairn__ws_free(ws);
	env_free(&env);
}

static void test_integration_tls__wrong_host_refused(void **state)
{
	tls_env env;
	cairn_store *store;
	cairn_sync_result result;
	cairn__ws *ws = NULL;
	char ca[PATH_MAX + 32];
	int rc;

	(void)state;
	/* Signed by the trusted CA, but for wrong.example, not 127.0.0.1 (the readiness probe
	 * does not verify, or it would refuse it too). */
	env_start(&env, "wronghost", NULL);
	cert_path(ca, sizeof(ca), "ca", "pem");
	store = open_store(&env, "s", "ca");
	put(store, "x", 1);
	rc = cairn_sync_once(&result, store, NULL);
	assert_refused(rc, "sync to a certificate for another host");
	cairn_store_free(store);
	assert_refused(cairn__ws_connect_ca(&ws, env.url, CAIRN_IT_PROJECT, ca, 10000),
		"wss to a certificate for another host");
	assert_null(ws);
	env_free(&env);
}

/* Connects to 127.0.0.1:port, sends `data`, reads until the server closes or 5 s pass.
 * Returns the bytes read (0 for a close without an answer), -1 if it could not connect. */
static long raw_exchange(int port, const char *data, size_t length, char *reply, size_t size)
{
	struct sockaddr_in address;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t got = 0;

	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_port = htons((uint16_t)port);
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (length)
		(void)!write(fd, data, length);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0 || got + 1 >= size)
			break;
		n = read(fd, reply + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	reply[got] = '\0';
	close(fd);
	return (long)got;
}

static void test_integration_tls__plain_http_on_the_tls_port(void **state)
{
	static const char hello[] = "\x16\x03\x01\x00\x05garbage";
	tls_env env;
	char url[256], reply[4096], *body = NULL;
	long status = 0;
	int i;

	(void)state;
	env_start(&env, "good", "ca");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/health/version",
		cairn_test_server_port(env.server));
	for (i = 0; i < 3; i++) {
		/* Plain HTTP gets an Appwrite 400 in clear text, and nothing is served. */
		assert_int_equal(cairn_test_http(&status, &body, "GET", url, NULL, NULL, 0), 0);
		cairn_it_assert_error(status, body, 400, "general_protocol_unsupported");
		assert_non_null(strstr(body, "https://"));
		free(body);
		assert_true(raw_exchange(cairn_test_server_port(env.server),
			"GET /v1/health/version HTTP/1.1\r\n\r\n", 34, reply, sizeof(reply)) > 0);
		assert_true(strncmp(reply, "HTTP/1.1 400 ", 13) == 0);
		assert_non_null(strstr(reply, "general_protocol_unsupported"));
		/* A broken ClientHello, a silent connection closed at once, a cut request. */
		assert_true(raw_exchange(cairn_test_server_port(env.server), hello,
			sizeof(hello) - 1, reply, sizeof(reply)) >= 0);
		assert_null(strstr(reply, "HTTP/1.1 200"));
		assert_true(raw_exchange(cairn_test_server_port(env.server), "", 0, reply, 1) >= 0);
		assert_true(raw_exchange(cairn_test_server_port(env.server), "GET /v1", 7, reply,
			sizeof(reply)) >= 0);
	}
	/* The server is still there and serving https. */
	assert_int_equal(server_get(&env, "ca", "nothing", NULL), 404);
	assert_true(kill(cairn_test_server_pid(env.server), 0) == 0);
	env_free(&env); /* asserts a clean exit on SIGTERM */
}

/* `cairn remote --ca-file` and `cairn sync` against the TLS server. */
static void test_integration_tls__cli_ca_file(void **state)
{
	tls_env env;
	cairn_cli_result result;
	char store[PATH_MAX + 32], ca[PATH_MAX + 32], relative[PATH_MAX + 32];

	(void)state;
	env_start(&env, "good", "ca");
	snprintf(store, sizeof(store), "%s/cli.db", env.root);
	cert_path(ca, sizeof(ca), "ca", "pem");
	assert_int_equal(cairn_cli_runl(&result, NULL, NULL, NULL, "--store", store, "put",
		"items", "c1", "{\"n\":7}", (char *)NULL), 0);
	assert_int_equal(result.status, 0);
	cairn_cli_result_free(&result);

	/* Without the CA: refused, exit 1, the reason and a hint. */
	assert_int_equal(cairn_cli_runl(&result, NULL, NULL, NULL, "--store", store, "remote",
		"--server", env.url, "--project", CAIRN_IT_PROJECT, "--api-key", CAIRN_IT_KEY,
		"--database", DATABASE, (char *)NULL), 0);
	assert_int_equal(result.status, 0);
	cairn_cli_result_free(&result);
	assert_int_equal(cairn_cli_runl(&result, NULL, NULL, NULL, "--store", store, "sync",
		(char *)NULL), 0);
	assert_int_equal(result.status, 1);
	assert_non_null(strstr(result.err, "TLS certificate"));
	assert_non_null(strstr(result.err, "--ca-file"));
	cairn_cli_result_free(&result);

	/* A missing CA file is a usage error; a relative one is stored absolute. */
	assert_int_equal(cairn_cli_runl(&result, NULL, NULL, NULL, "--store", store, "remote",
		"--server", env.url, "--project", CAIRN_IT_PROJECT, "--api-key", CAIRN_IT_KEY,
		"--database", DATABASE, "--ca-file", "/nonexistent/ca.pem", (char *)NULL), 0);
	assert_int_equal(result.status, 2);
	cairn_cli_result_free(&result);
	snprintf(relative, sizeof(relative), "ca.pem");
	assert_int_equal(cairn_cli_runl(&result, certs.dir, NULL, NULL, "--store", store,
		"remote", "--server", env.url, "--project", CAIRN_IT_PROJECT, "--api-key",
		CAIRN_IT_KEY, "--database", DATABASE, "--ca-file", relative, (char *)NULL), 0);
	assert_int_equal(result.status, 0);
	assert_non_null(strstr(result.out, ca));
	cairn_cli_result_free(&result);
	assert_int_equal(cairn_cli_runl(&result, NULL, NULL, NULL, "--store", store, "sync",
		(char *)NULL), 0);
	if (result.status != 0)
		fail_msg("cairn sync with --ca-file: %s", result.err);
	assert_non_null(strstr(result.out, "pushed 1"));
	cairn_cli_result_free(&result);
	assert_int_equal(server_get(&env, "ca", "c1", NULL), 200);
	env_free(&env);
}

/* `cairn serve` with unusable certificate files: a message naming the problem, a non-zero
 * exit, and never a listening server. */
static void serve_fails(const char *cert, const char *key, const char *expected)
{
	char cert_file[PATH_MAX + 32], key_file[PATH_MAX + 32], data[PATH_MAX + 16];
	cairn_cli_result result;

	cert_path(cert_file, sizeof(cert_file), cert, "pem");
	snprintf(key_file, sizeof(key_file), "%s/%s", certs.dir, key);
	snprintf(data, sizeof(data), "%s/data", certs.dir);
	assert_int_equal(cairn_cli_runl(&result, NULL, NULL, NULL, "serve", "--listen",
		"127.0.0.1:0", "--data", data, "--api-key", "k", "--tls-cert", cert_file,
		"--tls-key", key_file, (char *)NULL), 0);
	if (result.status == 0 || result.status == -1)
		fail_msg("serve with %s/%s exited %d", cert, key, result.status);
	if (!strstr(result.err, expected))
		fail_msg("serve with %s/%s: expected '%s' in: %s", cert, key, expected, result.err);
	assert_null(strstr(result.out, "listening"));
	assert_null(strstr(result.out, "API key")); /* refused before a key was made */
	assert_int_equal(access(data, F_OK), -1);   /* nor was the data directory */
	cairn_cli_result_free(&result);
}

static void test_integration_tls__bad_certificate_files(void **state)
{
	(void)state;
	serve_fails("missing", "good.key", "cannot read the TLS certificate");
	serve_fails("garbage", "good.key", "holds no PEM certificate");
	serve_fails("good", "missing.key", "cannot read the TLS private key");
	serve_fails("good", "garbage.pem", "holds no unencrypted PEM private key");
	serve_fails("good", "other.key", "does not belong to the certificate");
	serve_fails("good", "self.key", "does not belong to the certificate");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integration_tls__https_sync_and_wss_realtime),
		cmocka_unit_test(test_integration_tls__self_signed_refused_unless_trusted),
		cmocka_unit_test(test_integration_tls__wrong_host_refused),
		cmocka_unit_test(test_integration_tls__plain_http_on_the_tls_port),
		cmocka_unit_test(test_integration_tls__bad_certificate_files),
		cmocka_unit_test(test_integration_tls__cli_ca_file),
	};

	if (getenv("CAIRN_TLS_TEST_FILTER")) /* e.g. "*wrong_host*" when debugging one case */
		cmocka_set_test_filter(getenv("CAIRN_TLS_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
