/* server_proc.c: starts, stops and restarts the real `cairn serve` for tests; a libcurl helper. */
#include "server_proc.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "support/postgres.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000

static int perform(long *status, char **body, const char *method, const char *url,
	const char *ca_file, int verify, const char *const *headers, const char *body_in,
	size_t body_len);

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct cairn_test_server {
	pid_t pid;                  /* 0 when not running */
	int port;                   /* bound port; reused on restart */
	char data_dir[PATH_MAX];
	char port_file[PATH_MAX + 8]; /* <data_dir>.port */
	char project[128];
	char api_key[256];
	char url[64];               /* "http[s]://127.0.0.1:PORT/v1" */
	char conninfo[256];         /* PostgreSQL backend ("" = SQLite); kept across restarts */
	char tls_cert[PATH_MAX];    /* --tls-cert ("" = plain HTTP) */
	char tls_key[PATH_MAX];     /* --tls-key */
	char ca_file[PATH_MAX];     /* trusted when checking an HTTPS server is up ("": the
	                             * check does not verify the certificate) */
};

/*
 * CAIRN_TEST_POSTGRES set: every server runs on PostgreSQL. One private PostgreSQL per test
 * program (started on first use, stopped at exit by the process that started it, not by
 * forked children). A database belongs to a data directory, as the SQLite file does: the
 * first start on a data directory creates a fresh database (tests stay independent), a later
 * start on the same directory (a crash and a new start) finds the same data again.
 */
static cairn_test_pg *shared_pg;
static pid_t shared_pg_owner;
static struct {
	char data_dir[PATH_MAX];
	char conninfo[256];
} known_dirs[64];
static int known_dir_count;

static void stop_shared_pg(void)
{
	if (shared_pg && getpid() == shared_pg_owner) {
		cairn_test_pg_stop(shared_pg);
		shared_pg = NULL;
	}
}

/* Fills server->conninfo when the tests run on PostgreSQL. 0 or -1. */
static int prepare_backend(cairn_test_server *server)
{
	const char *wanted = getenv("CAIRN_TEST_POSTGRES");
	unsigned long hash = 5381;
	const char *c;
	char name[64];
	int i;

	server->conninfo[0] = '\0';
	if (!wanted || !*wanted || strcmp(wanted, "0") == 0)
		return 0;
	if (!shared_pg || shared_pg_owner != getpid()) {
		if (cairn_test_pg_start(&shared_pg) != 0) {
			fprintf(stderr, "server_proc: CAIRN_TEST_POSTGRES is set but no PostgreSQL "
				"could be started\n");
			shared_pg = NULL;
			return -1;
		}
		shared_pg_owner = getpid();
		known_dir_count = 0;
		atexit(stop_shared_pg);
	}
	for (c = server->data_dir; *c; c++)
		hash = hash * 33 + (unsigned char)*c;
	snprintf(name, sizeof(name), "cairn_it_%d_%lx", (int)getpid(), hash);
	for (i = 0; i < known_dir_count; i++) {
		if (strcmp(known_dirs[i].data_dir, server->data_dir) == 0) {
			memcpy(server->conninfo, known_dirs[i].conninfo, sizeof(server->conninfo));
			return 0;
		}
	}
	if (cairn_test_pg_create_database(shared_pg, name, server->conninfo,
		sizeof(server->conninfo)) < 0)
		return -1;
	if (known_dir_count < (int)(sizeof(known_dirs) / sizeof(known_dirs[0]))) {
		snprintf(known_dirs[known_dir_count].data_dir, PATH_MAX, "%s", server->data_dir);
		memcpy(known_dirs[known_dir_count].conninfo, server->conninfo,
			sizeof(server->conninfo));
		known_dir_count++;
	}
	return 0;
}

static int read_port_file(const char *path)
{
	FILE *file = fopen(path, "r");
	int port = 0;

	if (!file)
		return 0;
	if (fscanf(file, "%d", &port) != 1)
		port = 0;
	fclose(file);
	return port;
}

/* Forks and execs `cairn serve` listening on `port` (0 = any). */
static int spawn(cairn_test_server *server, int port)
{
	char listen[64];
	const char *argv[24];
	int argc = 0;
	pid_t pid;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	argv[argc++] = CAIRN_BIN;
	argv[argc++] = "serve";
	argv[argc++] = "--listen";
	argv[argc++] = listen;
	argv[argc++] = "--data";
	argv[argc++] = server->data_dir;
	argv[argc++] = "--project";
	argv[argc++] = server->project;
	argv[argc++] = "--api-key";
	argv[argc++] = server->api_key;
	argv[argc++] = "--port-file";
	argv[argc++] = server->port_file;
	if (server->conninfo[0]) {
		argv[argc++] = "--postgres";
		argv[argc++] = server->conninfo;
	}
	if (server->tls_cert[0]) {
		argv[argc++] = "--tls-cert";
		argv[argc++] = server->tls_cert;
		argv[argc++] = "--tls-key";
		argv[argc++] = server->tls_key;
	}
	argv[argc] = NULL;
	unlink(server->port_file);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "server_proc: fork failed: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Never outlive the test that started us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(CAIRN_BIN, (char *const *)argv);
		fprintf(stderr, "server_proc: exec %s failed: %s\n", CAIRN_BIN, strerror(errno));
		_exit(127);
	}
	server->pid = pid;
	return 0;
}

static void reap_killed(cairn_test_server *server)
{
	int status;

	if (server->pid <= 0)
		return;
	kill(server->pid, SIGKILL);
	while (waitpid(server->pid, &status, 0) < 0 && errno == EINTR)
		;
	server->pid = 0;
	unlink(server->port_file);
}

/* Waits for the port file and a first HTTP answer; on failure nothing is left running. */
static int wait_ready(cairn_test_server *server)
{
	long deadline = monotonic_ms() + START_TIMEOUT_MS;
	int status;

	while (monotonic_ms() < deadline) {
		int port;

		if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
			fprintf(stderr, "server_proc: cairn serve exited early (%s %d)\n",
				WIFEXITED(status) ? "status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			server->pid = 0;
			return -1;
		}
		port = read_port_file(server->port_file);
		if (port > 0) {
			const char *scheme = server->tls_cert[0] ? "https" : "http";
			char url[128];
			long http_status = 0;

			snprintf(url, sizeof(url), "%s://127.0.0.1:%d/v1/health/version", scheme, port);
			if (perform(&http_status, NULL, "GET", url, server->ca_file,
				server->ca_file[0] != '\0', NULL, NULL, 0) == 0) {
				server->port = port;
				snprintf(server->url, sizeof(server->url), "%s://127.0.0.1:%d/v1", scheme,
					port);
				return 0;
			}
		}
		sleep_ms(20);
	}
	fprintf(stderr, "server_proc: cairn serve did not answer within %d ms\n",
		START_TIMEOUT_MS);
	reap_killed(server);
	return -1;
}

int cairn_test_server_start(cairn_test_server **out, const char *data_dir, const char *project,
	const char *api_key)
{
	return cairn_test_server_start_tls(out, data_dir, project, api_key, NULL, NULL, NULL);
}

int cairn_test_server_start_tls(cairn_test_server **out, const char *data_dir,
	const char *project, const char *api_key, const char *cert_file, const char *key_file,
	const char *ca_file)
{
	cairn_test_server *server = calloc(1, sizeof(*server));

	*out = NULL;
	if (!server)
		return -1;
	if (cert_file && key_file) {
		snprintf(server->tls_cert, sizeof(server->tls_cert), "%s", cert_file);
		snprintf(server->tls_key, sizeof(server->tls_key), "%s", key_file);
		snprintf(server->ca_file, sizeof(server->ca_file), "%s", ca_file ? ca_file : "");
	}
	snprintf(server->data_dir, sizeof(server->data_dir), "%s", data_dir);
	snprintf(server->port_file, sizeof(server->port_file), "%s.port", data_dir);
	snprintf(server->project, sizeof(server->project), "%s", project ? project : "test");
	snprintf(server->api_key, sizeof(server->api_key), "%s", api_key ? api_key : "test-key");
	if (prepare_backend(server) < 0 || spawn(server, 0) < 0 || wait_ready(server) < 0) {
		free(server);
		return -1;
	}
	*out = server;
	return 0;
}

/* SIGTERM and wait up to STOP_TIMEOUT_MS; returns the exit status, or -1 (then killed). */
static int terminate(cairn_test_server *server)
{
	long deadline = monotonic_ms() + STOP_TIMEOUT_MS;
	int status;

	if (server->pid <= 0)
		return -1;
	kill(server->pid, SIGTERM);
	for (;;) {
		pid_t done = waitpid(server->pid, &status, WNOHANG);

		if (done == server->pid)
			break;
		if (done < 0 && errno != EINTR) {
			server->pid = 0;
			return -1;
		}
		if (monotonic_ms() >= deadline) {
			fprintf(stderr, "server_proc: cairn serve ignored SIGTERM; killing it\n");
			reap_killed(server);
			return -1;
		}
		sleep_ms(10);
	}
	server->pid = 0;
	unlink(server->port_file);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "server_proc: cairn serve died of signal %d\n", WTERMSIG(status));
	return -1;
}

int cairn_test_server_stop(cairn_test_server *server)
{
	int status;

	if (!server)
		return -1;
	status = terminate(server);
	free(server);
	return status;
}

void cairn_test_server_kill(cairn_test_server *server)
{
	if (!server)
		return;
	reap_killed(server);
	free(server);
}

void cairn_test_server_crash(cairn_test_server *server)
{
	if (server)
		reap_killed(server);
}

int cairn_test_server_restart(cairn_test_server *server)
{
	int attempt;

	if (server->pid > 0 && terminate(server) != 0)
		fprintf(stderr, "server_proc: restart: the old server did not stop cleanly\n");
	/* The same port keeps clients' URLs valid; it can be briefly unavailable, so retry,
	 * then settle for any free port. */
	for (attempt = 0; attempt < 5 && server->port > 0; attempt++) {
		if (spawn(server, server->port) < 0)
			return -1;
		if (wait_ready(server) == 0)
			return 0;
		sleep_ms(100);
	}
	if (spawn(server, 0) < 0)
		return -1;
	return wait_ready(server);
}

pid_t cairn_test_server_pid(const cairn_test_server *server)
{
	return server ? server->pid : 0;
}

const char *cairn_test_server_url(const cairn_test_server *server)
{
	return server ? server->url : "";
}

int cairn_test_server_port(const cairn_test_server *server)
{
	return server ? server->port : 0;
}

/* ---- HTTP ---- */

typedef struct {
	char *data;
	size_t length;
} buffer;

static size_t collect(char *data, size_t size, size_t count, void *user)
{
	buffer *b = user;
	size_t n = size * count;
	char *grown = realloc(b->data, b->length + n + 1);

	if (!grown)
		return 0;
	b->data = grown;
	memcpy(b->data + b->length, data, n);
	b->length += n;
	b->data[b->length] = '\0';
	return n;
}

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cairn_test_http(long *status, char **body, const char *method, const char *url,
	const char *const *headers, const char *body_in, size_t body_len)
{
	return cairn_test_http_ca(status, body, method, url, NULL, headers, body_in, body_len);
}

int cairn_test_http_ca(long *status, char **body, const char *method, const char *url,
	const char *ca_file, const char *const *headers, const char *body_in, size_t body_len)
{
	return perform(status, body, method, url, ca_file, 1, headers, body_in, body_len);
}

/* One request; `verify` 0 skips checking an https:// certificate (readiness probes only). */
static int perform(long *status, char **body, const char *method, const char *url,
	const char *ca_file, int verify, const char *const *headers, const char *body_in,
	size_t body_len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct curl_slist *list = NULL;
	buffer response = { NULL, 0 };
	int has_expect = 0, result = -1;
	CURLcode code;
	CURL *curl;

	pthread_once(&once, curl_init_once);
	if (status)
		*status = 0;
	if (body)
		*body = NULL;
	curl = curl_easy_init();
	if (!curl)
		return -1;
	for (; headers && *headers; headers++) {
		if (strncasecmp(*headers, "expect:", 7) == 0)
			has_expect = 1;
		list = curl_slist_append(list, *headers);
	}
	if (!has_expect)
		list = curl_slist_append(list, "Expect:");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (ca_file && *ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
	if (!verify) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (body_in) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_in);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	}
	code = curl_easy_perform(curl);
	if (code == CURLE_OK) {
		if (status)
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
		if (body) {
			*body = response.data ? response.data : strdup("");
			response.data = NULL;
		}
		result = 0;
	}
	free(response.data);
	curl_slist_free_all(list);
	curl_easy_cleanup(curl);
	return result;
}
