/* cairn_bench.c: the benchmark runner: local puts, push, pull, incremental sync, concurrent
 * clients and peak RSS on loopback, printed as `metric cairn.n<N>.<workload> VALUE UNIT`. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "docgen.h"

/* bench/live.c (the realtime engineer's) may define this; without it the symbol stays NULL. */
int cairn_bench_live(const char *cairn_binary, long writes) __attribute__((weak));
/* bench/realtime_conns.c: K realtime connections; runs only when asked for by --only. */
int cairn_bench_realtime_conns(const char *cairn_binary, long connections)
	__attribute__((weak));
/* bench/recovery.c: server-up to in-sync time; runs only when asked for by --only. */
int cairn_bench_recovery(const char *cairn_binary, int trials, double offline_s);
static long realtime_connections = 10000; /* --conns K */

typedef struct {
	const char *cairn_binary; /* path of the `cairn` executable (runs the server) */
	long documents;           /* N */
	long incremental;         /* changes in the incremental sync (1,000) */
	long single;              /* cap on the single-put count */
	int clients;              /* C, for the concurrent workload */
	long live_writes;         /* writes for the live latency workload */
	const char *only;         /* run one workload (for profiling), or NULL for all */
	const char *workdir;
	const char *postgres;     /* libpq conninfo without dbname: servers use PostgreSQL
	                           * database cairn_<server name> (made empty by bench/run.sh) */
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

/* Document i, version v, byte-identical to the peer's docgen minus its "_id" member: cairn
 * carries the id in the path, and a user field named _id would only add bytes. */
static const char *make_document(char *out, char *id, size_t id_size, long i, uint32_t version)
{
	char *comma;

	docgen_doc(out, (unsigned long)i, version);
	docgen_id(id, id_size, (unsigned long)i);
	comma = strchr(out, ',');
	*comma = '{';
	return comma;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "cairn_bench: %s failed (%d): %s\n", what, rc, cairn_error_last());
	exit(1);
}

static int wanted(const bench_config *config, const char *workload)
{
	return !config->only || strcmp(config->only, workload) == 0;
}

static void server_start(bench_server *server, const bench_config *config, const char *name)
{
	char data[512], port_file[512], port_text[32] = "";
	FILE *file;

	snprintf(data, sizeof(data), "%s/%s-data", config->workdir, name);
	snprintf(port_file, sizeof(port_file), "%s/%s.port", config->workdir, name);
	unlink(port_file);
	fflush(stdout);
	server->pid = fork();
	if (server->pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		/* a bench killed by a timeout must not leave its server running */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(devnull, 1);
		if (config->postgres) {
			char conninfo[1024];

			snprintf(conninfo, sizeof(conninfo), "%s dbname=cairn_%s", config->postgres, name);
			execl(config->cairn_binary, "cairn", "serve", "--listen", "127.0.0.1:0", "--data",
				data, "--project", "bench", "--api-key", "bench-key", "--port-file",
				port_file, "--postgres", conninfo, (char *)NULL);
		}
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

/* CPU seconds (user + system) that process `pid` has used so far, from /proc. */
static double process_cpu_seconds(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long user = 0, system_ticks = 0;
	FILE *file;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	file = fopen(path, "r");
	if (!file)
		return 0;
	if (!fgets(line, sizeof(line), file))
		line[0] = '\0';
	fclose(file);
	/* fields after the ")" that closes the command name: state is field 3, utime 14 */
	p = strrchr(line, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &user,
		&system_ticks) != 2)
		return 0;
	return (double)(user + system_ticks) / (double)sysconf(_SC_CLK_TCK);
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

/* Documents per batch in local_batch and in the set-up fills (the peer's bulk size). */
#define BENCH_BATCH 1000

/* Puts documents [from, from + count) with stride, version `version`, in batches of
 * BENCH_BATCH (each one transaction; every document still gets its own outbox entry). */
static void fill(cairn_store *store, long from, long count, long stride, uint32_t version)
{
	char doc[DOCGEN_MAX], id[32];
	int rc;

	for (long k = 0; k < count; k++) {
		long i = from + k * stride;
		const char *json = make_document(doc, id, sizeof(id), i, version);

		if (k % BENCH_BATCH == 0 && (rc = cairn_store_batch_begin(store)) != 0)
			die("cairn_store_batch_begin", rc);
		rc = cairn_doc_put(store, "sales", id, json);
		if (rc)
			die("cairn_doc_put", rc);
		if ((k % BENCH_BATCH == BENCH_BATCH - 1 || k == count - 1) &&
			(rc = cairn_store_batch_commit(store)) != 0)
			die("cairn_store_batch_commit", rc);
	}
}

/* N puts in batches of BENCH_BATCH (cairn_store_batch_begin/commit), as the peer's bulk
 * write does. */
static void bench_local_batch(const bench_config *config)
{
	cairn_store *store = open_store(config, "local_batch");
	double start = now_seconds();

	fill(store, 0, config->documents, 1, 0);
	printf("metric cairn.n%ld.local_batch %.0f docs/s\n", config->documents,
		(double)config->documents / (now_seconds() - start));
	cairn_store_free(store);
}

/* Single local puts, each its own transaction with its outbox entry. */
static void bench_local_put(const bench_config *config)
{
	long count = config->documents < config->single ? config->documents : config->single;
	double *latencies = malloc(sizeof(double) * (size_t)count);
	cairn_store *store = open_store(config, "local_put");
	char doc[DOCGEN_MAX], id[32];
	double start = now_seconds(), total;

	for (long i = 0; i < count; i++) {
		double t0 = now_seconds();
		const char *json = make_document(doc, id, sizeof(id), i, 0);
		int rc = cairn_doc_put(store, "sales", id, json);
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
	double push_end;  /* now_seconds() at the last push progress report */
	uint64_t pushed;
	uint64_t pulled;
} phase_times;

static int record_phases(const cairn_sync_progress *progress, void *payload)
{
	phase_times *times = payload;

	if (progress->phase == CAIRN_SYNC_PHASE_PUSH) {
		times->push_seconds = progress->elapsed_s;
		times->pushed = progress->done;
		times->push_end = now_seconds();
	} else {
		times->pull_seconds = progress->elapsed_s;
		times->pulled = progress->done;
	}
	return 0;
}

static void set_remote(cairn_store *store, const bench_server *server)
{
	cairn_remote remote = { CAIRN_REMOTE_VERSION, server->url, "bench", "bench-key", "bench", NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	int rc = cairn_store_set_remote(store, &remote);
	if (rc)
		die("cairn_store_set_remote", rc);
}

/* One sync round; returns the phase times (falls back to wall time if no progress came). */
static phase_times sync_timed(cairn_sync_result *result, cairn_store *store, const char *what)
{
	cairn_sync_options options = CAIRN_SYNC_OPTIONS_INIT;
	phase_times times = { 0 };
	double start = now_seconds();
	int rc;

	options.progress = record_phases;
	options.payload = &times;
	rc = cairn_sync_once(result, store, &options);
	if (rc)
		die(what, rc);
	if (times.push_seconds <= 0)
		times.push_seconds = now_seconds() - start;
	if (times.pull_seconds <= 0)
		times.pull_seconds = now_seconds() - start;
	return times;
}

/* The pulling client runs in its own process so that its peak RSS is the pull's alone:
 * initial pull, then (after the parent's incremental push) the incremental pull. */
static void puller(const bench_config *config, const bench_server *server, int go_fd,
	int ready_fd)
{
	cairn_store *reader = open_store(config, "pull");
	cairn_sync_result result;
	phase_times times;
	char byte = 0;
	double client_cpu = process_cpu_seconds(getpid());
	double server_cpu = process_cpu_seconds(server->pid);

	set_remote(reader, server);
	times = sync_timed(&result, reader, "cairn_sync_once (pull)");
	printf("metric cairn.n%ld.pull %.0f docs/s\n", config->documents,
		(double)result.pulled / times.pull_seconds);
	printf("metric cairn.n%ld.pull_s %.3f s\n", config->documents, times.pull_seconds);
	printf("metric cairn.n%ld.pull_cpu_client %.2f s\n", config->documents,
		process_cpu_seconds(getpid()) - client_cpu);
	printf("metric cairn.n%ld.pull_cpu_server %.2f s\n", config->documents,
		process_cpu_seconds(server->pid) - server_cpu);
	if ((long)result.pulled != config->documents)
		fprintf(stderr, "cairn_bench: pulled %llu of %ld documents\n",
			(unsigned long long)result.pulled, config->documents);
	fflush(stdout);
	if (write(ready_fd, &byte, 1) != 1 || read(go_fd, &byte, 1) != 1)
		_exit(1);
	times = sync_timed(&result, reader, "cairn_sync_once (incremental pull)");
	printf("metric cairn.n%ld.incr_pull %.0f docs/s\n", config->documents,
		(double)result.pulled / times.pull_seconds);
	if ((long)result.pulled != config->incremental)
		fprintf(stderr, "cairn_bench: incremental pull got %llu of %ld changes\n",
			(unsigned long long)result.pulled, config->incremental);
	fflush(stdout);
	cairn_store_free(reader);
	_exit(0);
}

/* Push N documents to an empty server, pull them into an empty store, then sync 1,000
 * changes both ways. */
static void bench_push_pull(const bench_config *config)
{
	bench_server server;
	cairn_store *writer = open_store(config, "push");
	cairn_sync_result result;
	phase_times times;
	int to_child[2], to_parent[2], status = 0;
	struct rusage usage;
	long stride = config->documents / config->incremental;
	double client_cpu, server_cpu;
	pid_t child;
	char byte = 0;

	fill(writer, 0, config->documents, 1, 0);
	server_start(&server, config, "push");
	set_remote(writer, &server);
	client_cpu = process_cpu_seconds(getpid());
	server_cpu = process_cpu_seconds(server.pid);
	times = sync_timed(&result, writer, "cairn_sync_once (push)");
	printf("metric cairn.n%ld.push %.0f docs/s\n", config->documents,
		(double)result.pushed / times.push_seconds);
	printf("metric cairn.n%ld.push_s %.3f s\n", config->documents, times.push_seconds);
	/* CPU of the whole round (push, then the pull of nothing new): where the time goes */
	printf("metric cairn.n%ld.push_cpu_client %.2f s\n", config->documents,
		process_cpu_seconds(getpid()) - client_cpu);
	printf("metric cairn.n%ld.push_cpu_server %.2f s\n", config->documents,
		process_cpu_seconds(server.pid) - server_cpu);
	fflush(stdout);
	if (!wanted(config, "pull") && config->only)
		goto done;

	if (pipe(to_child) || pipe(to_parent)) {
		perror("pipe");
		exit(1);
	}
	child = fork();
	if (child == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		puller(config, &server, to_child[0], to_parent[1]);
	}
	close(to_child[0]);
	close(to_parent[1]);
	if (read(to_parent[0], &byte, 1) != 1) {
		fprintf(stderr, "cairn_bench: the pulling client failed\n");
		exit(1);
	}
	/* incremental: change 1,000 documents spread over the key space, as the peer does */
	fill(writer, 0, config->incremental, stride > 0 ? stride : 1, 1);
	times = sync_timed(&result, writer, "cairn_sync_once (incremental push)");
	printf("metric cairn.n%ld.incr_push %.0f docs/s\n", config->documents,
		(double)result.pushed / times.push_seconds);
	fflush(stdout);
	if (write(to_child[1], &byte, 1) != 1 || wait4(child, &status, 0, &usage) < 0 ||
		!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "cairn_bench: the pulling client failed\n");
		exit(1);
	}
	close(to_child[1]);
	close(to_parent[0]);
	printf("metric cairn.n%ld.rss_server %.1f MiB\n", config->documents,
		(double)peak_rss_kib(server.pid) / 1024.0);
	printf("metric cairn.n%ld.rss_client %.1f MiB\n", config->documents,
		(double)usage.ru_maxrss / 1024.0);
done:
	cairn_store_free(writer);
	server_stop(&server);
}

typedef struct {
	const bench_config *config;
	const bench_server *server;
	pthread_barrier_t *barrier;
	int index;
	cairn_store *store;
	phase_times round1;
	uint64_t pushed;
	uint64_t pulled;
} concurrent_client;

static void *concurrent_run(void *arg)
{
	concurrent_client *client = arg;
	cairn_sync_result result;
	phase_times times;

	pthread_barrier_wait(client->barrier);
	client->round1 = sync_timed(&result, client->store, "cairn_sync_once (concurrent)");
	client->pushed += result.pushed;
	client->pulled += result.pulled;
	pthread_barrier_wait(client->barrier);
	/* round two: every client catches up with what the others pushed after its pull */
	times = sync_timed(&result, client->store, "cairn_sync_once (concurrent catch-up)");
	(void)times;
	client->pushed += result.pushed;
	client->pulled += result.pulled;
	return NULL;
}

/* C clients, each with its own store holding N/C documents, push and pull against one
 * server at the same time (threads, one store handle each). */
static void bench_concurrent(const bench_config *config)
{
	int count = config->clients;
	concurrent_client *clients = calloc((size_t)count, sizeof(*clients));
	pthread_t *threads = calloc((size_t)count, sizeof(*threads));
	pthread_barrier_t barrier;
	bench_server server;
	long share = config->documents / count;
	uint64_t pushed = 0, pulled = 0;
	double start, push_end = 0, end;

	server_start(&server, config, "concurrent");
	pthread_barrier_init(&barrier, NULL, (unsigned)count + 1);
	for (int i = 0; i < count; i++) {
		char name[32];
		snprintf(name, sizeof(name), "concurrent%d", i);
		memset(&clients[i], 0, sizeof(clients[i]));
		clients[i].config = config;
		clients[i].server = &server;
		clients[i].barrier = &barrier;
		clients[i].index = i;
		clients[i].store = open_store(config, name);
		fill(clients[i].store, share * i, share, 1, 0);
		set_remote(clients[i].store, &server);
		pthread_create(&threads[i], NULL, concurrent_run, &clients[i]);
	}
	start = now_seconds();
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < count; i++) {
		pthread_join(threads[i], NULL);
		pushed += clients[i].pushed;
		pulled += clients[i].pulled;
		if (clients[i].round1.push_end > push_end)
			push_end = clients[i].round1.push_end;
	}
	end = now_seconds();
	printf("metric cairn.n%ld.concurrent_c%d_push %.0f docs/s\n", config->documents, count,
		push_end > start ? (double)pushed / (push_end - start) : 0.0);
	printf("metric cairn.n%ld.concurrent_c%d_sync %.0f docs/s\n", config->documents, count,
		(double)(pushed + pulled) / (end - start));
	printf("# concurrent: %d clients, %llu pushed, %llu pulled in %.2f s\n", count,
		(unsigned long long)pushed, (unsigned long long)pulled, end - start);
	for (int i = 0; i < count; i++)
		cairn_store_free(clients[i].store);
	pthread_barrier_destroy(&barrier);
	server_stop(&server);
	free(threads);
	free(clients);
}

static void usage(void)
{
	fprintf(stderr, "usage: cairn_bench --cairn PATH [-n DOCUMENTS] [-c CLIENTS] [--incr K]\n"
		"                   [--single K] [--live-writes K] [--only local_put|local_batch|"
		"push|pull|concurrent|live|realtime_conns|recovery] [--conns K]\n"
		"                   [--postgres CONNINFO]  (servers on PostgreSQL databases "
		"cairn_push, cairn_concurrent)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bench_config config = { NULL, 10000, 1000, 20000, 4, 500, NULL, NULL, NULL };
	char workdir[] = "/tmp/cairn-bench-XXXXXX";

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--cairn") == 0)
			config.cairn_binary = argv[++i];
		else if (strcmp(argv[i], "-n") == 0)
			config.documents = atol(argv[++i]);
		else if (strcmp(argv[i], "-c") == 0)
			config.clients = atoi(argv[++i]);
		else if (strcmp(argv[i], "--incr") == 0)
			config.incremental = atol(argv[++i]);
		else if (strcmp(argv[i], "--single") == 0)
			config.single = atol(argv[++i]);
		else if (strcmp(argv[i], "--live-writes") == 0)
			config.live_writes = atol(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0)
			config.only = argv[++i];
		else if (strcmp(argv[i], "--conns") == 0)
			realtime_connections = atol(argv[++i]);
		else if (strcmp(argv[i], "--postgres") == 0)
			config.postgres = argv[++i];
		else
			usage();
	}
	if (!config.cairn_binary || config.documents <= 0 || config.clients <= 0 ||
		config.incremental <= 0 || config.single <= 0)
		usage();
	if (config.incremental > config.documents)
		config.incremental = config.documents;
	if (!mkdtemp(workdir)) {
		perror("mkdtemp");
		return 1;
	}
	config.workdir = workdir;
	if (config.only && strcmp(config.only, "realtime_conns") == 0 &&
		cairn_bench_realtime_conns) {
		int failed = cairn_bench_realtime_conns(config.cairn_binary, realtime_connections);

		rmdir(workdir);
		return failed ? 1 : 0;
	}
	if (config.only && strcmp(config.only, "recovery") == 0) {
		int failed = cairn_bench_recovery(config.cairn_binary, 5, 5.0);

		rmdir(workdir);
		return failed ? 1 : 0;
	}
	if (wanted(&config, "local_put"))
		bench_local_put(&config);
	if (wanted(&config, "local_batch"))
		bench_local_batch(&config);
	if (wanted(&config, "push") || wanted(&config, "pull"))
		bench_push_pull(&config);
	if (wanted(&config, "concurrent"))
		bench_concurrent(&config);
	fflush(stdout);
	if (wanted(&config, "live")) {
		if (cairn_bench_live) {
			if (cairn_bench_live(config.cairn_binary, config.live_writes) != 0)
				fprintf(stderr, "cairn_bench: the live workload failed\n");
		} else {
			printf("# live_p50/live_p99: not measured, bench/live.c is not built yet\n");
		}
	}
	{
		char command[600];
		snprintf(command, sizeof(command), "rm -rf '%s'", workdir);
		if (system(command) != 0)
			fprintf(stderr, "cairn_bench: could not remove %s\n", workdir);
	}
	return 0;
}
