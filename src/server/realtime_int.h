/* realtime_int.h: what realtime.c (sessions, subscriptions, who is connected) and
 * realtime_feed.c (events from the change feed, delivery) share. */
#ifndef CAIRN_SERVER_REALTIME_INT_H
#define CAIRN_SERVER_REALTIME_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "server/api_int.h"
#include "server/realtime.h"
#include "util/json.h"
#include "util/query.h"

#define MAX_SUBSCRIPTIONS 100     /* per session */
#define MAX_CHANNELS 100          /* per subscription */
#define MAX_MESSAGE_DEPTH 8
#define FEED_PAGE 1000
#define MAX_DATABASES 256         /* published positions kept; more are re-read from 0 */
#define MAX_HELD 64               /* messages waiting for a session lookup, per session */
#define SWEEP_MS 30000            /* re-checking live sessions against shared storage */

/* One document event, built on a worker; shared by every session that matches it. */
typedef struct event {
	struct event *next;
	char *inner;           /* the data object's members except "subscriptions" */
	char **channels;
	size_t channel_count;
	size_t payload_start;  /* the payload's JSON text: inner[payload_start, +payload_length) */
	size_t payload_length;
	int deleted;           /* a tombstone: its payload has no fields to filter on */
	json_object *document; /* the payload parsed, on the loop thread, once a filter needs it */
	int document_failed;
	json_object *readers;  /* roles that may read the document (permissions.c); a delete's
	                        * are those it had. NULL: nobody but keys */
} event;

typedef struct {
	char id[64];
	char **channels;
	size_t channel_count;
	json_object *queries;  /* array of Query strings (kept and echoed) */
	cairn_query *filter;   /* the queries parsed: events must pass them (NULL: all pass) */
} subscription;

struct cairn_realtime_session {
	cairn_realtime_session *prev, *next;
	void *connection;
	subscription *subscriptions;
	size_t subscription_count;
	cairn_api_caller caller;   /* who is connected: events are those it may read */
	/* Who is connected is looked up on a worker (docs/security.md, "Realtime"); messages
	 * that arrive meanwhile are held and handled in order once the answer is back. */
	struct lookup *lookup;     /* the lookup in flight, or NULL */
	struct held_message *held, *held_tail;
	size_t held_count;
	int connecting;            /* `connected` waits for the upgrade's lookup: no events yet */
	int closed;                /* the connection is gone: freed when the lookup returns */
};

typedef struct {
	char id[64];
	int64_t sequence;      /* the last change published */
} position;

struct cairn_realtime {
	const cairn_storage_backend *backend;
	cairn_storage *storage;
	char *project;
	cairn_realtime_io io;

	pthread_mutex_t publish_lock; /* one publisher reads the feed at a time */
	position positions[MAX_DATABASES];
	size_t position_count;

	pthread_mutex_t queue_lock;   /* guards the event queue */
	event *queue_head, *queue_tail;

	cairn_realtime_session *sessions; /* loop thread only */
	atomic_int session_count;     /* the length of `sessions`, read by publishers */
	cairn_api *api;               /* resolves sessions and keys; NULL: all are guests */
	int watching;                 /* the backend's watcher calls on_storage_change */
	struct ended_session *ended;  /* log-outs waiting for the loop (under queue_lock) */
	unsigned long ended_generation; /* loop: bumped whenever log-outs are applied */
	int64_t last_sweep_ms;        /* loop: the last cross-instance session check */
	int sweeping;                 /* loop: a check is on a worker */
};

/* ---- shared by the two files (realtime.c unless said otherwise) ---- */

/* Appends a copy of `value` to a malloc'd array of strings; 0 or CAIRN_ENOMEM. */
int cairn__realtime_strings_add(char ***strings, size_t *count, const char *value);
void cairn__realtime_event_free(event *e);
/* 1 when the event passes a subscription's parsed queries (NULL passes everything). */
int cairn__realtime_event_passes(event *e, const cairn_query *filter);
/* Sends one text message to a session's connection (loop thread); 0 or a negative code. */
int cairn__realtime_send_text(cairn_realtime *realtime, cairn_realtime_session *session,
	const char *text);
/* Appends `strings` as a JSON array. */
void cairn__realtime_append_strings(cairn_text *text, char **strings, size_t count);
/* Forgets who a session was: it receives what guests may read. */
void cairn__realtime_become_guest(cairn_realtime_session *session);
/* Applies log-outs queued for the loop (frees `list`). */
void cairn__realtime_apply_ended(cairn_realtime *realtime, struct ended_session *list);
/* Starts a cross-instance session check on a worker when one is due (loop thread). */
void cairn__realtime_maybe_sweep(cairn_realtime *realtime);

#endif
