/* cairn_bench.c: the benchmark runner: local put latency, push and pull rates on loopback. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

typedef struct {
	const char *cairn_binary; /* path of the `cairn` executable (runs the server) */
	long documents;           /* N */
	const char *workdir;
} bench_config;

typedef struct {
	pid_t pid;
	int port;
	char url[128];
} bench_server;

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* A deterministic ~300-byte document, shaped like ../shared/bench/peers' docgen. */
static void make_document(char *out, size_t size, long i)
{
	snprintf(out, size,
		"{\"type\":\"sale\",\"seq\":%ld,\"store\":\"store-%03ld\",\"sku\":\"SKU-%08ld\","
		"\"qty\":%ld,\"price\":%ld.%02ld,\"customer\":\"customer-%06ld\",\"tags\":[\"t%ld\","
		"\"t%ld\"],\"note\":\"lorem ipsum dolor sit amet, consectetur adipiscing elit, "
		"sed do eiusmod tempor incididunt ut labore et dolore magna aliqua %ld\"}",
		i, i % 100, i * 7919 % 100000000, i % 9 + 1, i % 500, i % 100, i * 31 % 1000000,
		i % 10, i % 13, i);
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "cairn_bench: %s failed (%d): %s\n", what, rc, cairn_error_last());
	exit(1);
}

static void server_start(bench_server *server, const bench_config *config, const char *name)
{
	char data[512], port_file[512], port_text[32] = "";
	FILE *file;

	snprintf(data, sizeof(data), "%s/%s-data", config->workdir, name);
	snprintf(port_file, sizeof(port_file), "%s/%s.port", config->workdir, name);
	unlink(port_file);
	server->pid = fork();
	if (server->pid == 0) {
		int devnull = open("/dev/null", 1);
		dup2(devnull, 1);
		execl(config->cairn_binary, "cairn", "serve", "--listen", "127.0.0.1:0", "--data", data,
			"--project", "bench", "--api-key", "bench-key", "--port-file", port_file,
			(char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		file = fopen(port_file, "r");
		if (file) {
			if (fgets(port_text, sizeof(port_text), file) && atoi(port_text) > 0) {
				fclose(file);
				break;
			}
			fclose(file);
		}
		usleep(10000);
	}
	server->port = atoi(port_text);
	if (server->port <= 0) {
		fprintf(stderr, "cairn_bench: the server did not start\n");
		exit(1);
	}
	snprintf(server->url, sizeof(server->url), "http://127.0.0.1:%d/v1", server->port);
}

static void server_stop(bench_server *server)
{
	kill(server->pid, SIGTERM);
	waitpid(server->pid, NULL, 0);
}

static long peak_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long value = -1;
	FILE *file;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	file = fopen(path, "r");
	if (!file)
		return -1;
	while (fgets(line, sizeof(line), file))
		if (strncmp(line, "VmHWM:", 6) == 0)
			value = atol(line + 6);
	fclose(file);
	return value;
}

static cairn_store *open_store(const bench_config *config, const char *name)
{
	char path[512];
	cairn_store *store = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.db", config->workdir, name);
	unlink(path);
	rc = cairn_store_open(&store, path, NULL);
	if (rc)
		die("cairn_store_open", rc);
	return store;
}

/* Single local puts, each its own transaction with its outbox entry. */
static void bench_local_put(const bench_config *config)
{
	long count = config->documents < 20000 ? config->documents : 20000;
	double *latencies = malloc(sizeof(double) * (size_t)count);
	cairn_store *store = open_store(config, "local_put");
	char doc[512], id[32];
	double start = now_seconds(), total;

	for (long i = 0; i < count; i++) {
		double t0 = now_seconds();
		int rc;
		make_document(doc, sizeof(doc), i);
		snprintf(id, sizeof(id), "doc%ld", i);
		rc = cairn_doc_put(store, "sales", id, doc);
		if (rc)
			die("cairn_doc_put", rc);
		latencies[i] = now_seconds() - t0;
	}
	total = now_seconds() - start;
	qsort(latencies, (size_t)count, sizeof(double), compare_doubles);
	printf("metric cairn.n%ld.local_put %.0f ops/s\n", config->documents, (double)count / total);
	printf("metric cairn.n%ld.local_put_p50 %.1f us\n", config->documents,
		latencies[count / 2] * 1e6);
	printf("metric cairn.n%ld.local_put_p99 %.1f us\n", config->documents,
		latencies[count * 99 / 100] * 1e6);
	cairn_store_free(store);
	free(latencies);
}

typedef struct {
	double push_seconds;
	double pull_seconds;
	uint64_t pushed;
	uint64_t pulled;
} phase_times;

static int record_phases(const cairn_sync_progress *progress, void *payload)
{
	phase_times *times = payload;

	if (progress->phase == CAIRN_SYNC_PHASE_PUSH) {
		times->push_seconds = progress->elapsed_s;
		times->pushed = progress->done;
	} else {
		times->pull_seconds = progress->elapsed_s;
		times->pulled = progress->done;
	}
	return 0;
}

static void set_remote(cairn_store *store, const bench_server *server)
{
	cairn_remote remote = { CAIRN_REMOTE_VERSION, server->url, "bench", "bench-key", "bench" };
	int rc = cairn_store_set_remote(store, &remote);
	if (rc)
		die("cairn_store_set_remote", rc);
}

/* Push N documents to an empty server, then pull them into an empty store. */
static void bench_push_pull(const bench_config *config)
{
	bench_server server;
	cairn_store *writer = open_store(config, "push"), *reader;
	cairn_sync_options options = CAIRN_SYNC_OPTIONS_INIT;
	phase_times times = { 0 };
	cairn_sync_result result;
	char doc[512], id[32];
	double start;
	int rc;

	for (long i = 0; i < config->documents; i++) {
		make_document(doc, sizeof(doc), i);
		snprintf(id, sizeof(id), "doc%ld", i);
		rc = cairn_doc_put(writer, "sales", id, doc);
		if (rc)
			die("cairn_doc_put", rc);
	}
	server_start(&server, config, "push");
	set_remote(writer, &server);
	options.progress = record_phases;
	options.payload = &times;
	start = now_seconds();
	rc = cairn_sync_once(&result, writer, &options);
	if (rc)
		die("cairn_sync_once (push)", rc);
	if (times.push_seconds <= 0)
		times.push_seconds = now_seconds() - start;
	printf("metric cairn.n%ld.push %.0f docs/s\n", config->documents,
		(double)result.pushed / times.push_seconds);

	reader = open_store(config, "pull");
	set_remote(reader, &server);
	memset(&times, 0, sizeof(times));
	start = now_seconds();
	rc = cairn_sync_once(&result, reader, &options);
	if (rc)
		die("cairn_sync_once (pull)", rc);
	if (times.pull_seconds <= 0)
		times.pull_seconds = now_seconds() - start;
	printf("metric cairn.n%ld.pull %.0f docs/s\n", config->documents,
		(double)result.pulled / times.pull_seconds);
	if ((long)result.pulled != config->documents)
		fprintf(stderr, "cairn_bench: pulled %llu of %ld documents\n",
			(unsigned long long)result.pulled, config->documents);
	printf("metric cairn.n%ld.rss_server %.1f MiB\n", config->documents,
		(double)peak_rss_kib(server.pid) / 1024.0);
	printf("metric cairn.n%ld.rss_client %.1f MiB\n", config->documents,
		(double)peak_rss_kib(getpid()) / 1024.0);
	cairn_store_free(reader);
	cairn_store_free(writer);
	server_stop(&server);
}

int main(int argc, char **argv)
{
	bench_config config = { NULL, 10000, NULL };
	char workdir[] = "/tmp/cairn-bench-XXXXXX";

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cairn") == 0 && i + 1 < argc)
			config.cairn_binary = argv[++i];
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			config.documents = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: cairn_bench --cairn PATH [-n DOCUMENTS]\n");
			return 2;
		}
	}
	if (!config.cairn_binary || config.documents <= 0) {
		fprintf(stderr, "usage: cairn_bench --cairn PATH [-n DOCUMENTS]\n");
		return 2;
	}
	if (!mkdtemp(workdir)) {
		perror("mkdtemp");
		return 1;
	}
	config.workdir = workdir;
	bench_local_put(&config);
	bench_push_pull(&config);
	{
		char command[600];
		snprintf(command, sizeof(command), "rm -rf '%s'", workdir);
		if (system(command) != 0)
			fprintf(stderr, "cairn_bench: could not remove %s\n", workdir);
	}
	return 0;
}
