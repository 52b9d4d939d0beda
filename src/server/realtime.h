/* realtime.h: Appwrite's realtime API (/v1/realtime): sessions, subscriptions, channels and
 * the fan-out of document events (docs/protocol.md, "Realtime"). */
#ifndef CAIRN_SERVER_REALTIME_H
#define CAIRN_SERVER_REALTIME_H

#include <stddef.h>

#include "server/http.h"
#include "storage/storage.h"

/*
 * Threads: sessions live on the transport's event-loop thread (open, message, close and
 * dispatch are called there and only there). cairn__realtime_publish() is called on worker
 * threads after a request that may have written: it reads the change feed (database work,
 * off the loop), queues the events and wakes the loop, which calls cairn__realtime_dispatch().
 */

typedef struct cairn_realtime cairn_realtime;
typedef struct cairn_realtime_session cairn_realtime_session;

/* How the realtime API reaches the transport. send/close: loop thread only; wake: any thread. */
typedef struct {
	int (*send)(void *connection, const char *text, size_t length); /* queue one text frame */
	void (*close)(void *connection, int code);  /* close frame after what is queued */
	void (*wake)(void *transport);              /* make the loop call _dispatch soon */
	/* Loop thread: runs work(arg) on a worker (database work never blocks the loop), then
	 * done(arg) on the loop. done runs exactly once, also when the transport shuts down
	 * first (then work may not have run). -1 out of memory (neither runs). NULL: realtime
	 * runs both in place. */
	int (*defer)(void *transport, void (*work)(void *arg), void (*done)(void *arg),
		void *arg);
	void *transport;
} cairn_realtime_io;

/* `storage` is borrowed and must outlive the realtime API. Events start after the changes
 * already stored (history is never replayed as events: clients pull it). */
int cairn__realtime_new(cairn_realtime **out, const cairn_storage_backend *backend,
	cairn_storage *storage, const char *project);
void cairn__realtime_free(cairn_realtime *realtime);
void cairn__realtime_set_io(cairn_realtime *realtime, const cairn_realtime_io *io);
/* The API whose sessions and keys identify realtime clients (borrowed; it must outlive the
 * realtime API). Without one every client is a guest. Each client receives only events of
 * documents it may read (docs/security.md "Permissions"). */
struct cairn_api;
void cairn__realtime_set_api(cairn_realtime *realtime, struct cairn_api *api);

/* A WebSocket to /v1/realtime was opened (`request` is its upgrade request, borrowed).
 * Sends `connected` (or an error and a close for a wrong project). NULL on ENOMEM. */
cairn_realtime_session *cairn__realtime_open(cairn_realtime *realtime, void *connection,
	const cairn_http_request *request);
/* One complete text message from the client. */
void cairn__realtime_message(cairn_realtime *realtime, cairn_realtime_session *session,
	const char *text, size_t length);
/* The connection is gone: frees the session. */
void cairn__realtime_close(cairn_realtime *realtime, cairn_realtime_session *session);
/* Sends queued events to matching sessions. */
void cairn__realtime_dispatch(cairn_realtime *realtime);

/* Any thread (a cairn_api_sessions_ended callback, api.h; `realtime` is the payload): the
 * session `session_id` of `user_id` (NULL: every session of the user) has ended. The loop
 * then turns their connections into guests (docs/security.md, "Realtime"). */
void cairn__realtime_sessions_ended(void *realtime, const char *user_id,
	const char *session_id);

/* Worker thread: publishes every change committed since the last call. */
void cairn__realtime_publish(cairn_realtime *realtime);

/* Follows commits of other server processes on the same storage (the backend's `watch`;
 * PostgreSQL LISTEN/NOTIFY): on 1, a backend thread publishes their changes exactly as for
 * local writes; on 0, stops it (call before the transport given to set_io goes away).
 * 0 with nothing to do when the backend has no watcher (SQLite: one process). */
int cairn__realtime_watch(cairn_realtime *realtime, int on);

#endif
