/* postgres_watch.c: the PostgreSQL backend's change watcher: a thread with its own LISTEN
 * connection that reports the commits of every instance sharing the database. */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/postgres_int.h"
#include "util/error.h"
#include "util/time.h"

#define RETRY_FIRST_MS 50     /* first reconnect delay after the connection is lost */
#define RETRY_MAX_MS 2000     /* reconnect delays double up to this */
#define STABLE_MS 1000        /* a session that lived this long resets the delay */
#define WATCH_APPLICATION "cairn-listen"

/*
 * Why a thread with its own connection: a LISTEN session must stay open between
 * notifications, and the pool's connections are lent out per call. The thread sleeps in
 * poll() on the connection's socket and a stop pipe, so it costs nothing while idle and
 * never touches the server's event loop. Notifications come from the write batch's
 * PST_DB_SEQUENCE_SET ("<sequence> <database id>"), delivered by PostgreSQL at commit, in
 * commit order, to every listening instance including the writer's own.
 *
 * A lost connection (PostgreSQL restarted, the backend terminated, the network cut) is
 * reopened with a growing delay; after every successful LISTEN the thread reports
 * database_id NULL, so the caller re-reads every database's feed from where it stopped and
 * nothing committed while nobody listened is lost.
 */

typedef struct pg_watcher {
	pthread_t thread;
	int stop_pipe[2];
	atomic_int stop;
	char *conninfo;
	void (*on_change)(const char *database_id, int64_t sequence, void *payload);
	void *payload;
} pg_watcher;

/* Sleeps up to `ms`, or less when asked to stop. 1 when stopping. */
static int watcher_wait(pg_watcher *w, int ms)
{
	struct pollfd p = { w->stop_pipe[0], POLLIN, 0 };

	if (atomic_load(&w->stop))
		return 1;
	poll(&p, 1, ms);
	return atomic_load(&w->stop);
}

/* libpq prints a lost connection's FATAL notice on stderr; reconnecting is our answer. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* A new LISTEN session, or NULL. Keepalives notice a silently dead path. */
static PGconn *watcher_connect(pg_watcher *w)
{
	const char *keys[] = { "dbname", "application_name", "connect_timeout", "keepalives_idle",
		"keepalives_interval", "keepalives_count", NULL };
	const char *values[] = { w->conninfo, WATCH_APPLICATION, "5", "10", "5", "3", NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	PGresult *result;

	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, quiet_notice, NULL);
	result = PQexec(conn, "LISTEN " PG_NOTIFY_CHANNEL);
	if (!result || PQresultStatus(result) != PGRES_COMMAND_OK ||
		PQsetnonblocking(conn, 1) != 0) {
		PQclear(result);
		PQfinish(conn);
		return NULL;
	}
	PQclear(result);
	return conn;
}

/* Reports every notification that has arrived. */
static void watcher_drain(pg_watcher *w, PGconn *conn)
{
	PGnotify *notice;

	while ((notice = PQnotifies(conn)) != NULL) {
		char *end = NULL;
		long long sequence = strtoll(notice->extra ? notice->extra : "", &end, 10);

		if (end && *end == ' ' && end[1] && sequence > 0)
			w->on_change(end + 1, (int64_t)sequence, w->payload);
		else
			w->on_change(NULL, 0, w->payload); /* not ours to parse: re-read everything */
		PQfreemem(notice);
	}
}

/* The session broke: close it and wait before the next one. A session that lived for a
 * while is retried after the first delay; one that keeps dying at once backs off. */
static int watcher_lost(pg_watcher *w, PGconn **conn, int *delay, int64_t connected_ms)
{
	PQfinish(*conn);
	*conn = NULL;
	if (cairn__time_monotonic_ms() - connected_ms >= STABLE_MS)
		*delay = RETRY_FIRST_MS;
	if (watcher_wait(w, *delay))
		return 1;
	*delay = *delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : *delay * 2;
	return 0;
}

static void *watcher_main(void *arg)
{
	pg_watcher *w = arg;
	PGconn *conn = NULL;
	int delay = RETRY_FIRST_MS;
	int64_t connected_ms = 0;

	while (!atomic_load(&w->stop)) {
		struct pollfd fds[2];

		if (!conn) {
			conn = watcher_connect(w);
			if (!conn) {
				if (watcher_wait(w, delay))
					break;
				delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
				continue;
			}
			connected_ms = cairn__time_monotonic_ms();
			/* Commits since the last notification we saw (or since the caller's start)
			 * may have gone unnoticed: catch up from the feed. */
			w->on_change(NULL, 0, w->payload);
		}
		fds[0].fd = PQsocket(conn);
		if (fds[0].fd < 0) { /* no socket: the connection is gone */
			if (watcher_lost(w, &conn, &delay, connected_ms))
				break;
			continue;
		}
		fds[0].events = POLLIN;
		fds[0].revents = 0;
		fds[1].fd = w->stop_pipe[0];
		fds[1].events = POLLIN;
		fds[1].revents = 0;
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (atomic_load(&w->stop))
			break;
		if (!fds[0].revents)
			continue;
		if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
			if (watcher_lost(w, &conn, &delay, connected_ms))
				break;
			continue;
		}
		watcher_drain(w, conn);
	}
	PQfinish(conn);
	return NULL;
}

static void watcher_stop(pg_watcher *w)
{
	ssize_t ignored;

	atomic_store(&w->stop, 1);
	ignored = write(w->stop_pipe[1], "x", 1);
	(void)ignored; /* a full pipe already wakes the thread */
	pthread_join(w->thread, NULL);
	close(w->stop_pipe[0]);
	close(w->stop_pipe[1]);
	free(w->conninfo);
	free(w);
}

int cairn__pg_watch(cairn_storage *storage,
	void (*on_change)(const char *database_id, int64_t sequence, void *payload), void *payload)
{
	pg_watcher *w;

	if (storage->watcher) {
		watcher_stop(storage->watcher);
		storage->watcher = NULL;
	}
	if (!on_change)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return cairn__pg_oom();
	w->on_change = on_change;
	w->payload = payload;
	atomic_init(&w->stop, 0);
	if (!(w->conninfo = strdup(storage->conninfo))) {
		free(w);
		return cairn__pg_oom();
	}
	if (pipe2(w->stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		free(w->conninfo);
		free(w);
		return cairn__error_set(CAIRN_EIO, "storage: could not create the change watcher's "
			"pipe: %s", strerror(errno));
	}
	if (pthread_create(&w->thread, NULL, watcher_main, w) != 0) {
		close(w->stop_pipe[0]);
		close(w->stop_pipe[1]);
		free(w->conninfo);
		free(w);
		return cairn__error_set(CAIRN_EIO, "storage: could not start the change watcher");
	}
	storage->watcher = w;
	return 0;
}
