/* live.c: the live workload: A->B propagation latency through the real server on loopback,
 * with both stores running the background replicator (push on commit, realtime, pull). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "cairn.h"

#define LIVE_TIMEOUT_S 10.0  /* one write not seen on B by then: the run fails */

typedef struct {
	pthread_mutex_t lock;
	pthread_cond_t seen;
	char expected[40];   /* the id B waits for */
	double arrived;      /* monotonic seconds when B's listener heard it; 0 until then */
} live_state;

/* B's listener: runs on B's replicator thread right after a pulled page commits. */
static void on_change(const cairn_change *change, void *payload)
{
	live_state *state = payload;

	if (change->source != CAIRN_CHANGE_REMOTE)
		return;
	pthread_mutex_lock(&state->lock);
	if (strcmp(change->id, state->expected) == 0 && state->arrived == 0) {
		state->arrived = bench_util_now();
		pthread_cond_signal(&state->seen);
	}
	pthread_mutex_unlock(&state->lock);
}

static int live_open(cairn_store **store, const char *dir, const char *name, const char *url)
{
	cairn_remote remote = { CAIRN_REMOTE_VERSION, url, "bench", "bench-key", "live", NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.db", dir, name);
	if (cairn_store_open(store, path, NULL) != 0 || cairn_store_set_remote(*store, &remote) != 0)
		return -1;
	return 0;
}

int cairn_bench_live(const char *cairn_binary, long writes)
{
	char dir[] = "/tmp/cairn-bench-live-XXXXXX", url[128], command[600];
	cairn_store *a = NULL, *b = NULL;
	cairn_replicator *ra = NULL, *rb = NULL;
	live_state state;
	double *latencies = NULL;
	double *put_ms = NULL;      /* how long each local commit took beside the replicator */
	uint64_t token = 0;
	pid_t server = -1;
	long i, done = 0;
	int port = 0, rc = -1;

	if (writes < 200)
		writes = 200;
	memset(&state, 0, sizeof(state));
	pthread_mutex_init(&state.lock, NULL);
	pthread_cond_init(&state.seen, NULL);
	if (!mkdtemp(dir))
		return -1;
	latencies = calloc((size_t)writes, sizeof(*latencies));
	put_ms = calloc((size_t)writes, sizeof(*put_ms));
	server = bench_util_server_start(cairn_binary, dir, "127.0.0.1:0", &port);
	if (!latencies || !put_ms || server <= 0 || port <= 0) {
		fprintf(stderr, "cairn_bench: live: the server did not start\n");
		goto cleanup;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", port);
	if (live_open(&a, dir, "a", url) != 0 || live_open(&b, dir, "b", url) != 0)
		goto cleanup;
	/* The collection exists before timing starts: the first push creates it. */
	if (cairn_doc_put(a, "live", "warmup", "{\"n\":-1}") != 0 ||
		cairn_sync_once(NULL, a, NULL) != 0 || cairn_sync_once(NULL, b, NULL) != 0)
		goto cleanup;
	if (cairn_store_listen(&token, b, "live", NULL, on_change, &state) != 0 ||
		cairn_replicator_start(&ra, a, NULL) != 0 || cairn_replicator_start(&rb, b, NULL) != 0)
		goto cleanup;
	{
		/* Both subscriptions up before the first write. */
		cairn_replicator_status sa, sb;
		double until = bench_util_now() + LIVE_TIMEOUT_S;

		do {
			usleep(10000);
			cairn_replicator_status_get(&sa, ra);
			cairn_replicator_status_get(&sb, rb);
		} while ((!sa.realtime || !sb.realtime || sa.state != CAIRN_REPLICATOR_IDLE ||
			sb.state != CAIRN_REPLICATOR_IDLE) && bench_util_now() < until);
	}
	for (i = 0; i < writes; i++) {
		char id[40], json[64];
		double written;
		struct timespec deadline;

		snprintf(id, sizeof(id), "w%06ld", i);
		snprintf(json, sizeof(json), "{\"n\":%ld}", i);
		pthread_mutex_lock(&state.lock);
		snprintf(state.expected, sizeof(state.expected), "%s", id);
		state.arrived = 0;
		pthread_mutex_unlock(&state.lock);
		written = bench_util_now();
		if (cairn_doc_put(a, "live", id, json) != 0)
			goto cleanup;
		put_ms[i] = (bench_util_now() - written) * 1000.0;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += (time_t)LIVE_TIMEOUT_S;
		pthread_mutex_lock(&state.lock);
		while (state.arrived == 0) {
			if (pthread_cond_timedwait(&state.seen, &state.lock, &deadline) != 0)
				break;
		}
		latencies[i] = state.arrived ? (state.arrived - written) * 1000.0 : -1;
		pthread_mutex_unlock(&state.lock);
		if (latencies[i] < 0) {
			fprintf(stderr, "cairn_bench: live: write %ld did not reach B within %.0f s\n",
				i, LIVE_TIMEOUT_S);
			goto cleanup;
		}
		done++;
	}
	qsort(latencies, (size_t)done, sizeof(*latencies), bench_util_compare_doubles);
	printf("metric cairn.live.writes %ld writes\n", done);
	printf("metric cairn.live_p50 %.2f ms\n", latencies[done / 2]);
	printf("metric cairn.live_p99 %.2f ms\n", latencies[(size_t)((double)done * 0.99)]);
	printf("metric cairn.live_max %.2f ms\n", latencies[done - 1]);
	qsort(put_ms, (size_t)done, sizeof(*put_ms), bench_util_compare_doubles);
	printf("metric cairn.live_put_p50 %.2f ms\n", put_ms[done / 2]);
	printf("metric cairn.live_put_p99 %.2f ms\n", put_ms[(size_t)((double)done * 0.99)]);
	fflush(stdout);
	rc = 0;
cleanup:
	cairn_replicator_stop(ra);
	cairn_replicator_stop(rb);
	if (token)
		cairn_store_unlisten(b, token);
	cairn_store_free(a);
	cairn_store_free(b);
	bench_util_server_stop(server);
	free(latencies);
	free(put_ms);
	pthread_mutex_destroy(&state.lock);
	pthread_cond_destroy(&state.seen);
	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	if (system(command) != 0)
		fprintf(stderr, "cairn_bench: could not remove %s\n", dir);
	return rc;
}
