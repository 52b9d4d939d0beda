/* replicator_thread.c: cairn_replicator_start/_stop: a thread that keeps one store file in
 * sync: pushes local commits, holds the realtime subscription, pulls on events and gaps,
 * and retries with backoff on every connectivity signal. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/session_int.h"
#include "client/store_int.h"
#include "client/sync_scope.h"
#include "net/websocket.h"
#include "util/error.h"
#include "util/json.h"
#include "util/time.h"

#define MIN_RETRY_MS 10       /* full jitter may draw 0: never retry faster than this */
#define MAX_WAIT_MS 1000      /* the loop wakes at least this often */
#define FALLBACK_PULL_MS 30000 /* without a realtime connection, pull at least this often */

struct cairn_replicator {
	pthread_t thread;
	int thread_started;
	cairn_replicator_options options;
	char *path;                  /* the store file */
	cairn_store_options store_options;
	int wake_pipe[2];            /* the API nudges the thread through this */

	pthread_mutex_t lock;        /* guards status and the requests below */
	cairn_replicator_status status;
	int reachable;               /* app hint: -1 unknown, 0 no, 1 yes */
	int kick;                    /* a sync round was asked for: reset the backoff */
	atomic_int stop;
	atomic_int committed;        /* a handle of this process committed to the file */
	cairn_store *own_store;      /* the thread's handle (its commits are not news); registry_lock */
	struct cairn_replicator *next_registered; /* registry_lock */
};

/* The replicators of this process, so that a commit through any handle of their file wakes
 * them at once instead of at their next PRAGMA data_version poll (which stays, for commits
 * by other processes). */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cairn_replicator *registry;
static atomic_int registry_count;

typedef struct {
	cairn_replicator *r;
	cairn_store *store;          /* the thread's own handle */
	char *url, *project, *database;
	char *ca_file;               /* the remote's CA file for wss://; NULL or "": system's */
	cairn__ws *ws;
	int netlink;
	uint64_t rng;
	int64_t data_version;

	int want_sync;               /* a round is due when next_sync_ms passes */
	int64_t next_sync_ms;
	unsigned failures;           /* failed rounds in a row */
	int64_t next_ws_ms;          /* next realtime connect attempt */
	unsigned ws_failures;
	int64_t ping_sent_ms;        /* 0: no ping outstanding */
	int64_t last_ping_ms;
	int64_t last_event_sequence; /* last $changeSequence seen, for gap detection */
	int64_t next_poll_ms;
	int64_t last_round_ms;       /* when the last successful round ended */
	int64_t scope_generation;    /* sync scopes last seen (sync_scope.c): a change syncs */
	int busy_recorded;           /* this round's "busy" is in the store (round_progress) */
} loop_state;

int cairn_replicator_options_init(cairn_replicator_options *opts, unsigned int version)
{
	cairn_replicator_options defaults = CAIRN_REPLICATOR_OPTIONS_INIT;

	if (!opts)
		return cairn__error_set(CAIRN_EINVALID, "options must not be NULL");
	if (version != CAIRN_REPLICATOR_OPTIONS_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "unsupported replicator options version %u "
			"(this library knows %d)", version, CAIRN_REPLICATOR_OPTIONS_VERSION);
	*opts = defaults;
	return 0;
}

const char *cairn_replicator_state_name(cairn_replicator_state state)
{
	switch (state) {
	case CAIRN_REPLICATOR_STOPPED: return "stopped";
	case CAIRN_REPLICATOR_OFFLINE: return "offline";
	case CAIRN_REPLICATOR_CONNECTING: return "connecting";
	case CAIRN_REPLICATOR_IDLE: return "idle";
	case CAIRN_REPLICATOR_BUSY: return "busy";
	case CAIRN_REPLICATOR_ERROR: return "error";
	}
	return "unknown";
}

/* ---- status ---- */

static int count_outbox(uint64_t *out, cairn_store *store, const char *state)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_COUNT);
	int rc;

	*out = 0;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, state, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW ? 0 : cairn__store_error(store, rc, "counting the outbox");
}

/* Applies `change` to the status under the lock and reports it when anything moved. */
static void publish(loop_state *s, cairn_replicator_state state, int refresh_counts)
{
	cairn_replicator *r = s->r;
	cairn_replicator_status copy;
	uint64_t pending = 0, rejected = 0;
	int64_t checkpoint = 0;
	int changed;

	if (refresh_counts) {
		count_outbox(&pending, s->store, "pending");
		count_outbox(&rejected, s->store, "rejected");
		cairn__meta_get_int64(s->store, "checkpoint", &checkpoint);
	}
	pthread_mutex_lock(&r->lock);
	copy = r->status;
	r->status.state = state;
	if (refresh_counts) {
		r->status.pending = pending;
		r->status.rejected = rejected;
		r->status.checkpoint = checkpoint;
	}
	r->status.realtime = s->ws != NULL;
	r->status.retry_in_ms = (state == CAIRN_REPLICATOR_OFFLINE ||
		state == CAIRN_REPLICATOR_ERROR) && s->want_sync ?
		s->next_sync_ms - cairn__time_monotonic_ms() : 0;
	if (r->status.retry_in_ms < 0)
		r->status.retry_in_ms = 0;
	changed = memcmp(&copy, &r->status, sizeof(copy)) != 0;
	copy = r->status;
	pthread_mutex_unlock(&r->lock);
	/* For `cairn status` in other processes (replicator_state.c). Recording is a write to
	 * the store, so it stays off the path of a round about to run: a round that ends at
	 * once records its outcome (often the record as it was: no write at all), and a long
	 * one is recorded as busy from its progress (round_progress). */
	if (changed && state != CAIRN_REPLICATOR_BUSY &&
		!(s->want_sync && s->next_sync_ms <= cairn__time_monotonic_ms()))
		cairn__replicator_record(s->store, &copy);
	if (changed && r->options.on_status)
		r->options.on_status(&copy, r->options.payload);
}

static cairn_replicator_state current_state(cairn_replicator *r)
{
	cairn_replicator_state state;

	pthread_mutex_lock(&r->lock);
	state = r->status.state;
	pthread_mutex_unlock(&r->lock);
	return state;
}

/* ---- the realtime subscription ---- */

static void ws_drop(loop_state *s, int64_t now, int failed)
{
	cairn__ws_free(s->ws);
	s->ws = NULL;
	s->ping_sent_ms = 0;
	if (failed) {
		s->next_ws_ms = now + MIN_RETRY_MS + cairn__backoff_delay(
			s->r->options.backoff_initial_ms, s->r->options.backoff_max_ms,
			s->ws_failures++, &s->rng);
	} else {
		s->next_ws_ms = now;
	}
}

/* Sends {"type":"authentication","data":{"key":K}} when the remote has an API key. */
static int ws_send_key(loop_state *s)
{
	char *key = NULL;
	json_object *message = NULL, *data = NULL;
	const char *text;
	int rc = 0;

	if (cairn__meta_get_text(s->store, "remote_api_key", &key) <= 0 || !key || !key[0])
		goto cleanup;
	message = json_object_new_object();
	data = json_object_new_object();
	if (!message || !data || json_object_object_add(data, "key",
		json_object_new_string(key)) != 0) {
		json_object_put(data);
		rc = -1;
		goto cleanup;
	}
	json_object_object_add(message, "type", json_object_new_string("authentication"));
	json_object_object_add(message, "data", data);
	text = json_object_to_json_string_ext(message, JSON_C_TO_STRING_PLAIN);
	rc = text ? cairn__ws_send_text(s->ws, text, strlen(text)) : -1;
cleanup:
	json_object_put(message);
	free(key);
	return rc;
}

static void ws_try_connect(loop_state *s, int64_t now)
{
	char subscribe[256];
	char *session_token = NULL;
	int rc;

	/* Read at each connect: a login or logout since the last one takes effect. */
	(void)cairn__store_session_token(&session_token, s->store);
	rc = cairn__ws_connect_session(&s->ws, s->url, s->project, s->ca_file, session_token,
		s->r->options.request_timeout_ms);
	cairn__session_token_free(session_token);
	if (rc != 0) {
		s->ws = NULL;
		ws_drop(s, now, 1);
		return;
	}
	/* With an API key, realtime is told so first (a cairn extension of `authentication`):
	 * the server sends each client only the events it may read. */
	if (ws_send_key(s) != 0) {
		ws_drop(s, now, 1);
		return;
	}
	/* SDK 25+ style: subscribe by message after `connected` (which the server sends at
	 * once; the subscribe may follow it without waiting, the server reads in order). */
	snprintf(subscribe, sizeof(subscribe), "{\"type\":\"subscribe\",\"data\":[{"
		"\"subscriptionId\":\"cairn-replicator\",\"channels\":[\"documents\"]}]}");
	if (cairn__ws_send_text(s->ws, subscribe, strlen(subscribe)) != 0) {
		ws_drop(s, now, 1);
		return;
	}
	s->ws_failures = 0;
	s->last_ping_ms = now;
	s->last_event_sequence = -1;
	/* Events sent while we were not connected are lost: a catch-up pull closes the gap. */
	s->want_sync = 1;
	if (s->next_sync_ms > now && s->failures == 0)
		s->next_sync_ms = now;
}

/* One message from the server. */
static void ws_message(loop_state *s, const char *text, size_t length, int64_t now)
{
	json_object *message = cairn__json_parse_object(text, length, 0), *data = NULL, *payload;
	const char *type = NULL, *database = NULL;
	int64_t sequence = 0, previous = 0, checkpoint = 0;

	if (!message || !cairn__json_get_string(message, "type", &type))
		goto cleanup;
	if (strcmp(type, "pong") == 0) {
		s->ping_sent_ms = 0;
		goto cleanup;
	}
	if (strcmp(type, "event") != 0 || !json_object_object_get_ex(message, "data", &data))
		goto cleanup;
	if (json_object_object_get_ex(data, "payload", &payload) &&
		cairn__json_get_string(payload, "$databaseId", &database) &&
		strcmp(database, s->database) != 0)
		goto cleanup;
	/* Events are hints, never the data of record: a change we have not pulled yet, or a
	 * gap before it, makes us pull from our checkpoint. */
	if (!cairn__json_get_int64(data, "$changeSequence", &sequence) ||
		!cairn__json_get_int64(data, "$previousChangeSequence", &previous)) {
		s->want_sync = 1; /* not our server: every event is a reason to pull */
		goto cleanup;
	}
	cairn__meta_get_int64(s->store, "checkpoint", &checkpoint);
	if (sequence > checkpoint || (s->last_event_sequence >= 0 &&
		previous != s->last_event_sequence && previous > checkpoint)) {
		s->want_sync = 1;
		if (s->failures == 0)
			s->next_sync_ms = now;
	}
	s->last_event_sequence = sequence;
cleanup:
	json_object_put(message);
}

static void ws_service(loop_state *s, int64_t now)
{
	for (;;) {
		char *text = NULL;
		size_t length = 0;
		int rc = cairn__ws_read(&text, &length, s->ws);

		if (rc == 1) {
			ws_message(s, text, length, now);
			free(text);
			continue;
		}
		if (rc < 0) {
			/* The server went away: reconnect soon; the catch-up pull runs on reconnect. */
			ws_drop(s, now, 1);
			s->want_sync = 1;
		}
		return;
	}
}

static void ws_liveness(loop_state *s, int64_t now)
{
	const cairn_replicator_options *o = &s->r->options;

	if (!s->ws)
		return;
	if (s->ping_sent_ms && now - s->ping_sent_ms > o->ping_timeout_ms) {
		ws_drop(s, now, 1); /* no pong: the path is dead even if TCP has not noticed */
		s->want_sync = 1;
		return;
	}
	if (!s->ping_sent_ms && now - s->last_ping_ms >= o->ping_interval_ms) {
		if (cairn__ws_send_text(s->ws, "{\"type\":\"ping\"}", 15) != 0) {
			ws_drop(s, now, 1);
			return;
		}
		s->ping_sent_ms = now;
		s->last_ping_ms = now;
	}
}

/* ---- sync rounds ---- */

static int is_network_failure(int rc)
{
	return rc == CAIRN_EOFFLINE || rc == CAIRN_ESERVER || rc == CAIRN_EBUSY;
}

#define BUSY_RECORD_S 0.1 /* a round running this long is recorded as busy */

/* Progress of the replicator's own round: records "busy" once the round has run a while. */
static int round_progress(const cairn_sync_progress *progress, void *payload)
{
	loop_state *s = payload;
	cairn_replicator_status copy;

	if (s->busy_recorded || progress->elapsed_s < BUSY_RECORD_S)
		return 0;
	s->busy_recorded = 1;
	pthread_mutex_lock(&s->r->lock);
	copy = s->r->status;
	pthread_mutex_unlock(&s->r->lock);
	cairn__replicator_record(s->store, &copy); /* between the round's transactions */
	return 0;
}

static void sync_round(loop_state *s, int64_t now)
{
	cairn_replicator *r = s->r;
	cairn_sync_options options = CAIRN_SYNC_OPTIONS_INIT;
	cairn_sync_result result;
	int rc;

	options.timeout_ms = r->options.request_timeout_ms;
	options.progress = round_progress;
	options.payload = s;
	s->busy_recorded = 0;
	publish(s, s->failures ? CAIRN_REPLICATOR_CONNECTING : CAIRN_REPLICATOR_BUSY, 0);
	rc = cairn_sync_once(&result, s->store, &options);
	now = cairn__time_monotonic_ms();
	pthread_mutex_lock(&r->lock);
	r->status.pushed += result.pushed;
	r->status.pulled += result.pulled;
	if (rc == 0 || rc == CAIRN_ECONFLICT)
		r->status.syncs++;
	r->status.last_error = rc;
	snprintf(r->status.last_error_message, sizeof(r->status.last_error_message), "%s",
		rc ? cairn_error_last() : "");
	pthread_mutex_unlock(&r->lock);
	if (rc == 0 || rc == CAIRN_ECONFLICT) {
		/* Conflicts that keep coming back are retried on the next commit or event. */
		s->failures = 0;
		s->want_sync = 0;
		s->last_round_ms = now;
		publish(s, CAIRN_REPLICATOR_IDLE, 1);
		return;
	}
	s->next_sync_ms = now + MIN_RETRY_MS + cairn__backoff_delay(r->options.backoff_initial_ms,
		r->options.backoff_max_ms, s->failures++, &s->rng);
	publish(s, is_network_failure(rc) && rc != CAIRN_ESERVER ? CAIRN_REPLICATOR_OFFLINE :
		CAIRN_REPLICATOR_ERROR, 1);
}

/* A commit by any handle or process changes the file's data_version for us. */
static void check_commits(loop_state *s, int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int64_t version = s->data_version;

	if (sqlite3_prepare_v2(s->store->db, "PRAGMA data_version", -1, &stmt, NULL) == SQLITE_OK &&
		sqlite3_step(stmt) == SQLITE_ROW)
		version = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	if (version == s->data_version)
		return;
	s->data_version = version;
	{
		uint64_t pending = 0;
		int64_t scopes = s->scope_generation;

		count_outbox(&pending, s->store, "pending");
		/* A new sync scope takes effect with a round (its resync), as a write would. */
		cairn__scope_generation(&scopes, s->store);
		if (scopes != s->scope_generation)
			pending++;
		s->scope_generation = scopes;
		if (pending && !s->want_sync) {
			/* Coalesce a burst: wait a moment for the rest of it. */
			s->want_sync = 1;
			s->next_sync_ms = now + s->r->options.push_delay_ms;
		}
	}
	publish(s, current_state(s->r), 1);
}

/* Something says the network may be back: retry everything now. */
static void network_changed(loop_state *s, int64_t now)
{
	s->failures = 0;
	s->ws_failures = 0;
	s->next_ws_ms = now;
	if (s->want_sync || current_state(s->r) != CAIRN_REPLICATOR_IDLE) {
		s->want_sync = 1;
		s->next_sync_ms = now;
	}
	if (s->ws && !s->ping_sent_ms) {
		/* The old path may be gone: prove the connection alive. */
		if (cairn__ws_send_text(s->ws, "{\"type\":\"ping\"}", 15) != 0)
			ws_drop(s, now, 0);
		else
			s->ping_sent_ms = s->last_ping_ms = now;
	}
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void *replicator_main(void *arg)
{
	cairn_replicator *r = arg;
	loop_state s;
	int64_t now;

	memset(&s, 0, sizeof(s));
	s.r = r;
	s.netlink = -1;
	s.rng = (uint64_t)cairn__time_now_ms() ^ ((uint64_t)(uintptr_t)r << 17) ^ 0x5851f42d4c957f2dull;
	if (cairn_store_open(&s.store, r->path, &r->store_options) != 0 ||
		cairn__meta_get_text(s.store, "remote_url", &s.url) <= 0 ||
		cairn__meta_get_text(s.store, "remote_project", &s.project) < 0 ||
		cairn__meta_get_text(s.store, "remote_database", &s.database) <= 0 ||
		cairn__meta_get_text(s.store, "remote_ca_file", &s.ca_file) < 0) {
		pthread_mutex_lock(&r->lock);
		r->status.state = CAIRN_REPLICATOR_ERROR;
		r->status.last_error = cairn__error_code() ? cairn__error_code() : CAIRN_ENOREMOTE;
		snprintf(r->status.last_error_message, sizeof(r->status.last_error_message), "%s",
			cairn_error_last()[0] ? cairn_error_last() : "no remote is configured");
		pthread_mutex_unlock(&r->lock);
		goto cleanup;
	}
	if (!s.project && !(s.project = strdup("")))
		goto cleanup;
	pthread_mutex_lock(&registry_lock);
	r->own_store = s.store;
	pthread_mutex_unlock(&registry_lock);
	if (r->options.netlink)
		s.netlink = cairn__netlink_open();
	now = cairn__time_monotonic_ms();
	s.want_sync = 1; /* a start is a reason to catch up */
	s.next_sync_ms = now;
	s.next_ws_ms = now;
	s.data_version = -1;
	publish(&s, CAIRN_REPLICATOR_CONNECTING, 1);

	while (!atomic_load(&r->stop)) {
		struct pollfd fds[3];
		int count = 0, reachable, kick, timeout;
		int64_t deadline;

		now = cairn__time_monotonic_ms();
		pthread_mutex_lock(&r->lock);
		reachable = r->reachable;
		kick = r->kick;
		r->kick = 0;
		pthread_mutex_unlock(&r->lock);
		if (kick) {
			network_changed(&s, now);
			s.want_sync = 1;
			s.next_sync_ms = now;
		}
		if (now >= s.next_poll_ms || atomic_exchange(&r->committed, 0)) {
			check_commits(&s, now);
			s.next_poll_ms = now + r->options.poll_ms;
		}
		if (reachable == 0) {
			if (s.ws)
				ws_drop(&s, now, 0);
			publish(&s, CAIRN_REPLICATOR_OFFLINE, 0);
		} else {
			if (r->options.realtime && !s.ws && now >= s.next_ws_ms)
				ws_try_connect(&s, now);
			ws_liveness(&s, now);
			/* No events to tell us about server changes: look now and then. */
			if (!s.ws && !s.want_sync && now - s.last_round_ms >= FALLBACK_PULL_MS) {
				s.want_sync = 1;
				s.next_sync_ms = now;
			}
			if (s.want_sync && now >= s.next_sync_ms && !atomic_load(&r->stop))
				sync_round(&s, now);
		}

		now = cairn__time_monotonic_ms();
		deadline = min64(s.next_poll_ms, now + MAX_WAIT_MS);
		if (reachable != 0) {
			if (s.want_sync)
				deadline = min64(deadline, s.next_sync_ms);
			if (r->options.realtime && !s.ws)
				deadline = min64(deadline, s.next_ws_ms);
			if (s.ws)
				deadline = min64(deadline, s.ping_sent_ms ?
					s.ping_sent_ms + r->options.ping_timeout_ms :
					s.last_ping_ms + r->options.ping_interval_ms);
		}
		timeout = deadline > now ? (int)(deadline - now) : 0;
		fds[count].fd = r->wake_pipe[0];
		fds[count++].events = POLLIN;
		if (s.ws) {
			fds[count].fd = cairn__ws_fd(s.ws);
			fds[count++].events = POLLIN;
		}
		if (s.netlink >= 0) {
			fds[count].fd = s.netlink;
			fds[count++].events = POLLIN;
		}
		if (poll(fds, (nfds_t)count, timeout) <= 0)
			continue;
		now = cairn__time_monotonic_ms();
		if (fds[0].revents) {
			char drain[64];

			while (read(r->wake_pipe[0], drain, sizeof(drain)) > 0)
				;
		}
		if (s.ws && fds[1].revents)
			ws_service(&s, now);
		if (s.netlink >= 0 && fds[count - 1].fd == s.netlink && fds[count - 1].revents &&
			cairn__netlink_drain(s.netlink))
			network_changed(&s, now);
	}

cleanup:
	cairn__ws_free(s.ws);
	s.ws = NULL;
	if (s.netlink >= 0)
		close(s.netlink);
	if (s.store) {
		cairn_replicator_status last;

		pthread_mutex_lock(&r->lock);
		r->status.state = CAIRN_REPLICATOR_STOPPED;
		r->status.realtime = 0;
		last = r->status;
		pthread_mutex_unlock(&r->lock);
		cairn__replicator_record(s.store, &last);
	}
	pthread_mutex_lock(&registry_lock);
	r->own_store = NULL;
	pthread_mutex_unlock(&registry_lock);
	cairn_store_free(s.store);
	free(s.url);
	free(s.project);
	free(s.database);
	free(s.ca_file);
	return NULL;
}

/* ---- the API ---- */

static void nudge(cairn_replicator *r)
{
	ssize_t ignored = write(r->wake_pipe[1], "x", 1);

	(void)ignored; /* a full pipe already means "wake up" */
}

void cairn__replicator_committed(cairn_store *store)
{
	cairn_replicator *r;
	const char *path;

	if (atomic_load(&registry_count) == 0)
		return;
	path = sqlite3_db_filename(store->db, "main");
	if (!path)
		return;
	pthread_mutex_lock(&registry_lock);
	for (r = registry; r; r = r->next_registered) {
		if (r->own_store != store && strcmp(r->path, path) == 0) {
			atomic_store(&r->committed, 1);
			nudge(r);
		}
	}
	pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(cairn_replicator *r)
{
	cairn_replicator **link;

	pthread_mutex_lock(&registry_lock);
	for (link = &registry; *link; link = &(*link)->next_registered) {
		if (*link == r) {
			*link = r->next_registered;
			atomic_fetch_sub(&registry_count, 1);
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
}

int cairn_replicator_start(cairn_replicator **out, cairn_store *store,
	const cairn_replicator_options *opts)
{
	cairn_replicator_options defaults = CAIRN_REPLICATOR_OPTIONS_INIT;
	cairn_replicator *r;
	const char *path;
	char *url = NULL;
	int rc;

	if (!out || !store)
		return cairn__error_set(CAIRN_EINVALID, "cairn_replicator_start needs an out pointer "
			"and a store");
	*out = NULL;
	if (opts && opts->version != CAIRN_REPLICATOR_OPTIONS_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "unsupported replicator options version %u "
			"(this library knows %d)", opts->version, CAIRN_REPLICATOR_OPTIONS_VERSION);
	rc = cairn__meta_get_text(store, "remote_url", &url);
	free(url);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return cairn__error_set(CAIRN_ENOREMOTE, "no remote is configured: call "
			"cairn_store_set_remote() before starting the replicator");
	path = sqlite3_db_filename(store->db, "main");
	if (!path || !*path)
		return cairn__error_set(CAIRN_EINVALID, "the replicator needs a store backed by a "
			"file");
	r = calloc(1, sizeof(*r));
	if (!r || !(r->path = strdup(path))) {
		free(r);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory starting the replicator");
	}
	r->options = opts ? *opts : defaults;
	if (r->options.backoff_initial_ms <= 0)
		r->options.backoff_initial_ms = defaults.backoff_initial_ms;
	if (r->options.backoff_max_ms <= 0)
		r->options.backoff_max_ms = defaults.backoff_max_ms;
	if (r->options.push_delay_ms < 0)
		r->options.push_delay_ms = 0;
	if (r->options.poll_ms <= 0)
		r->options.poll_ms = defaults.poll_ms;
	if (r->options.ping_interval_ms <= 0)
		r->options.ping_interval_ms = defaults.ping_interval_ms;
	if (r->options.ping_timeout_ms <= 0)
		r->options.ping_timeout_ms = defaults.ping_timeout_ms;
	if (r->options.request_timeout_ms <= 0)
		r->options.request_timeout_ms = defaults.request_timeout_ms;
	r->store_options = store->options;
	r->reachable = -1;
	atomic_init(&r->stop, 0);
	r->wake_pipe[0] = r->wake_pipe[1] = -1;
	pthread_mutex_init(&r->lock, NULL);
	if (pipe2(r->wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		rc = cairn__error_set(CAIRN_ERROR, "could not create the replicator's wake pipe: %s",
			strerror(errno));
		goto failed;
	}
	r->status.state = CAIRN_REPLICATOR_CONNECTING;
	atomic_init(&r->committed, 0);
	pthread_mutex_lock(&registry_lock);
	r->next_registered = registry;
	registry = r;
	atomic_fetch_add(&registry_count, 1);
	pthread_mutex_unlock(&registry_lock);
	if (pthread_create(&r->thread, NULL, replicator_main, r) != 0) {
		rc = cairn__error_set(CAIRN_ERROR, "could not start the replicator thread");
		goto failed;
	}
	r->thread_started = 1;
	*out = r;
	return 0;
failed:
	cairn_replicator_stop(r);
	return rc;
}

void cairn_replicator_stop(cairn_replicator *replicator)
{
	if (!replicator)
		return;
	registry_remove(replicator);
	atomic_store(&replicator->stop, 1);
	if (replicator->wake_pipe[1] >= 0)
		nudge(replicator);
	if (replicator->thread_started)
		pthread_join(replicator->thread, NULL);
	if (replicator->wake_pipe[0] >= 0)
		close(replicator->wake_pipe[0]);
	if (replicator->wake_pipe[1] >= 0)
		close(replicator->wake_pipe[1]);
	pthread_mutex_destroy(&replicator->lock);
	free(replicator->path);
	free(replicator);
}

int cairn_replicator_status_get(cairn_replicator_status *out, cairn_replicator *replicator)
{
	if (!out || !replicator)
		return cairn__error_set(CAIRN_EINVALID, "status needs an out pointer and a replicator");
	pthread_mutex_lock(&replicator->lock);
	*out = replicator->status;
	pthread_mutex_unlock(&replicator->lock);
	return 0;
}

void cairn_replicator_set_reachable(cairn_replicator *replicator, int reachable)
{
	if (!replicator)
		return;
	pthread_mutex_lock(&replicator->lock);
	replicator->reachable = reachable ? 1 : 0;
	if (reachable)
		replicator->kick = 1;
	pthread_mutex_unlock(&replicator->lock);
	nudge(replicator);
}

void cairn_replicator_sync_now(cairn_replicator *replicator)
{
	if (!replicator)
		return;
	pthread_mutex_lock(&replicator->lock);
	replicator->kick = 1;
	pthread_mutex_unlock(&replicator->lock);
	nudge(replicator);
}
