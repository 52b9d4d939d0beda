/* realtime.c: the realtime API: sessions and their subscriptions (all three Appwrite SDK
 * generations), channel matching, and events built from the change feed after each write. */
#include "server/realtime.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_int.h"
#include "server/models.h"
#include "server/permissions.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/query.h"
#include "util/time.h"

#define MAX_SUBSCRIPTIONS 100     /* per session */
#define MAX_CHANNELS 100          /* per subscription */
#define MAX_MESSAGE_DEPTH 8
#define FEED_PAGE 1000
#define MAX_DATABASES 256         /* published positions kept; more are re-read from 0 */

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
};

/* ---- small helpers ---- */

static void strings_free(char **strings, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(strings[i]);
	free(strings);
}

static int strings_add(char ***strings, size_t *count, const char *value)
{
	char **grown;
	size_t i;

	for (i = 0; i < *count; i++) {
		if (strcmp((*strings)[i], value) == 0)
			return 0;
	}
	grown = realloc(*strings, (*count + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	*strings = grown;
	if (!(grown[*count] = strdup(value)))
		return -1;
	(*count)++;
	return 0;
}

static void event_free(event *e)
{
	if (!e)
		return;
	free(e->inner);
	strings_free(e->channels, e->channel_count);
	json_object_put(e->document);
	json_object_put(e->readers);
	free(e);
}

static void subscription_clear(subscription *s)
{
	strings_free(s->channels, s->channel_count);
	json_object_put(s->queries);
	cairn__query_free(s->filter);
	memset(s, 0, sizeof(*s));
}

static int send_text(cairn_realtime *realtime, cairn_realtime_session *session,
	const char *text)
{
	if (!realtime->io.send || !text)
		return -1;
	return realtime->io.send(session->connection, text, strlen(text));
}

/* {"type":"error","data":{"code":C,"message":M}}; 1008 also closes the socket. */
static void send_error(cairn_realtime *realtime, cairn_realtime_session *session, int code,
	const char *message)
{
	cairn_text text = { 0 };
	char *frame;

	cairn__text_appendf(&text, "{\"type\":\"error\",\"data\":{\"code\":%d,\"message\":", code);
	cairn__text_append_json_string(&text, message);
	cairn__text_append_cstr(&text, "}}");
	frame = cairn__text_take(&text);
	send_text(realtime, session, frame);
	free(frame);
	if (code == 1008 && realtime->io.close)
		realtime->io.close(session->connection, 1008);
}

/* ---- lifecycle ---- */

static int remember_database(const cairn_storage_database *database, void *payload)
{
	cairn_realtime *realtime = payload;
	position *p;

	if (realtime->position_count >= MAX_DATABASES)
		return 0;
	p = &realtime->positions[realtime->position_count++];
	snprintf(p->id, sizeof(p->id), "%s", database->id);
	p->sequence = database->last_sequence;
	return 0;
}

int cairn__realtime_new(cairn_realtime **out, const cairn_storage_backend *backend,
	cairn_storage *storage, const char *project)
{
	cairn_realtime *realtime;
	int rc;

	*out = NULL;
	realtime = calloc(1, sizeof(*realtime));
	if (!realtime || !(realtime->project = strdup(project ? project : ""))) {
		free(realtime);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory starting the realtime API");
	}
	realtime->backend = backend;
	realtime->storage = storage;
	pthread_mutex_init(&realtime->publish_lock, NULL);
	pthread_mutex_init(&realtime->queue_lock, NULL);
	/* A backend without a change feed (a test stub) serves realtime without events. */
	rc = backend->database_list ? backend->database_list(storage, remember_database,
		realtime) : 0;
	if (rc < 0) {
		cairn__realtime_free(realtime);
		return rc;
	}
	*out = realtime;
	return 0;
}

void cairn__realtime_free(cairn_realtime *realtime)
{
	event *e;

	if (!realtime)
		return;
	cairn__realtime_watch(realtime, 0);
	while (realtime->sessions)
		cairn__realtime_close(realtime, realtime->sessions);
	for (e = realtime->queue_head; e;) {
		event *next = e->next;

		event_free(e);
		e = next;
	}
	pthread_mutex_destroy(&realtime->publish_lock);
	pthread_mutex_destroy(&realtime->queue_lock);
	free(realtime->project);
	free(realtime);
}

void cairn__realtime_set_api(cairn_realtime *realtime, cairn_api *api)
{
	realtime->api = api;
}

void cairn__realtime_set_io(cairn_realtime *realtime, const cairn_realtime_io *io)
{
	realtime->io = *io;
}

/* ---- subscriptions ---- */

static subscription *subscription_find(cairn_realtime_session *session, const char *id)
{
	size_t i;

	for (i = 0; i < session->subscription_count; i++) {
		if (strcmp(session->subscriptions[i].id, id) == 0)
			return &session->subscriptions[i];
	}
	return NULL;
}

/* A new empty subscription (id made when `id` is NULL or empty), or NULL when full. */
static subscription *subscription_add(cairn_realtime_session *session, const char *id)
{
	subscription *grown, *s;

	if (session->subscription_count >= MAX_SUBSCRIPTIONS)
		return NULL;
	grown = realloc(session->subscriptions, (session->subscription_count + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	session->subscriptions = grown;
	s = &grown[session->subscription_count++];
	memset(s, 0, sizeof(*s));
	if (id && *id)
		snprintf(s->id, sizeof(s->id), "%s", id);
	else
		cairn_id_unique(s->id, sizeof(s->id));
	return s;
}

/* Parses a subscription's queries (an array of Appwrite Query JSON strings) into a filter.
 * 0 and *out (NULL for none), or CAIRN_EINVALID/ENOMEM with the message set. */
static int queries_parse(cairn_query **out, json_object *queries)
{
	const char **texts;
	size_t count, i;
	int rc;

	*out = NULL;
	count = queries ? json_object_array_length(queries) : 0;
	if (count == 0)
		return 0;
	if (count > CAIRN_QUERY_MAX_COUNT)
		return cairn__error_set(CAIRN_EINVALID, "Invalid queries: at most %d per "
			"subscription.", CAIRN_QUERY_MAX_COUNT);
	texts = calloc(count, sizeof(*texts));
	if (!texts)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < count; i++) {
		json_object *item = json_object_array_get_idx(queries, i);

		if (!json_object_is_type(item, json_type_string)) {
			free(texts);
			return cairn__error_set(CAIRN_EINVALID, "Invalid queries: each query must be a "
				"string.");
		}
		texts[i] = json_object_get_string(item);
	}
	rc = cairn__query_parse(out, texts, count);
	free(texts);
	return rc;
}

/* An event passes a subscription's queries when its document does. A delete's payload has
 * no fields left to test, so deletes pass (a client ignores a delete of a document it never
 * had). The payload is parsed once per event, on the loop thread, and only when needed. */
static int event_passes(event *e, const cairn_query *filter)
{
	if (!filter || e->deleted)
		return 1;
	if (!e->document && !e->document_failed) {
		e->document = cairn__json_parse_object(e->inner + e->payload_start, e->payload_length,
			64);
		e->document_failed = e->document == NULL;
	}
	return e->document && cairn__query_matches(filter, e->document);
}

static int hex_value(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* URL-decodes text[0..length) ('+' is a space) into a new string. */
static char *url_decode(const char *text, size_t length)
{
	char *out = malloc(length + 1);
	size_t i, o = 0;

	if (!out)
		return NULL;
	for (i = 0; i < length; i++) {
		if (text[i] == '+') {
			out[o++] = ' ';
		} else if (text[i] == '%' && i + 2 < length + 0 && hex_value(text[i + 1]) >= 0 &&
			hex_value(text[i + 2]) >= 0) {
			out[o++] = (char)(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
			i += 2;
		} else {
			out[o++] = text[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* Adds one query string of a URL slot (each of the slot's channels repeats it). */
static int url_query_add(subscription *s, const char *value)
{
	size_t i, count;
	json_object *text;

	if (!s->queries && !(s->queries = json_object_new_array()))
		return -1;
	count = json_object_array_length(s->queries);
	for (i = 0; i < count; i++) {
		if (strcmp(json_object_get_string(json_object_array_get_idx(s->queries, i)),
			value) == 0)
			return 0;
	}
	if (count >= CAIRN_QUERY_MAX_COUNT)
		return 0;
	text = json_object_new_string(value);
	if (!text || json_object_array_add(s->queries, text) != 0) {
		json_object_put(text);
		return -1;
	}
	return 0;
}

static int compare_slots(const void *a, const void *b)
{
	long x = strtol(((const subscription *)a)->id + 5, NULL, 10);
	long y = strtol(((const subscription *)b)->id + 5, NULL, 10);

	return (x > y) - (x < y);
}

/*
 * URL subscriptions (SDK <= 24): `channels[]=C` names every channel; SDK 22-24 add, per
 * subscription slot N, `C[N][]=<query>` for each of its channels. Without slot keys all the
 * channels form slot 0. Returns 0, or -1 on ENOMEM.
 */
static int subscribe_from_url(cairn_realtime_session *session, const char *query)
{
	char **channels = NULL;
	size_t channel_count = 0, i;
	int rc = -1;

	while (query && *query) {
		const char *end = strchr(query, '&');
		const char *equals;
		size_t length = end ? (size_t)(end - query) : strlen(query);
		char *key = NULL, *value = NULL;

		equals = memchr(query, '=', length);
		key = url_decode(query, equals ? (size_t)(equals - query) : length);
		value = equals ? url_decode(equals + 1, length - (size_t)(equals - query) - 1) :
			strdup("");
		if (!key || !value) {
			free(key);
			free(value);
			goto cleanup;
		}
		if (strcmp(key, "channels[]") == 0 || strcmp(key, "channels") == 0) {
			if (*value && strings_add(&channels, &channel_count, value) < 0) {
				free(key);
				free(value);
				goto cleanup;
			}
		} else {
			/* "<channel>[<slot>][]" */
			size_t key_length = strlen(key);
			char *open = key_length > 4 && strcmp(key + key_length - 3, "][]") == 0 ?
				strrchr(key, '[') : NULL;

			if (open && open > key) {
				char *slot_end;
				long slot;

				open = key + key_length - 3;
				while (open > key && isdigit((unsigned char)open[-1]))
					open--;
				if (open > key && open[-1] == '[' && open < key + key_length - 3) {
					char slot_id[32];
					subscription *s;

					slot = strtol(open, &slot_end, 10);
					open[-1] = '\0';
					snprintf(slot_id, sizeof(slot_id), "slot-%ld", slot);
					s = subscription_find(session, slot_id);
					if (!s && slot >= 0 && slot < MAX_SUBSCRIPTIONS)
						s = subscription_add(session, slot_id);
					if (s && s->channel_count < MAX_CHANNELS &&
						strings_add(&s->channels, &s->channel_count, key) < 0) {
						free(key);
						free(value);
						goto cleanup;
					}
					if (s && *value && url_query_add(s, value) < 0) {
						free(key);
						free(value);
						goto cleanup;
					}
				}
			}
		}
		free(key);
		free(value);
		query = end ? end + 1 : NULL;
	}
	if (session->subscription_count == 0 && channel_count > 0) {
		subscription *s = subscription_add(session, "slot-0");

		if (!s)
			goto cleanup;
		for (i = 0; i < channel_count && i < MAX_CHANNELS; i++) {
			if (strings_add(&s->channels, &s->channel_count, channels[i]) < 0)
				goto cleanup;
		}
	}
	/* The connected message lists ids by slot index: order them by slot. */
	if (session->subscription_count > 1)
		qsort(session->subscriptions, session->subscription_count, sizeof(subscription),
			compare_slots);
	/* Slots get real ids now that they are grouped. A slot's queries filter its events;
	 * ones that do not parse are ignored here (this generation has no way to answer). */
	for (i = 0; i < session->subscription_count; i++) {
		subscription *s = &session->subscriptions[i];

		cairn_id_unique(s->id, sizeof(s->id));
		if (queries_parse(&s->filter, s->queries) < 0)
			s->filter = NULL;
	}
	rc = 0;
cleanup:
	strings_free(channels, channel_count);
	return rc;
}

static void append_strings(cairn_text *text, char **strings, size_t count)
{
	size_t i;

	cairn__text_append_cstr(text, "[");
	for (i = 0; i < count; i++) {
		if (i)
			cairn__text_append_cstr(text, ",");
		cairn__text_append_json_string(text, strings[i]);
	}
	cairn__text_append_cstr(text, "]");
}

static void append_subscription(cairn_text *text, const subscription *s)
{
	cairn__text_append_cstr(text, "{\"subscriptionId\":");
	cairn__text_append_json_string(text, s->id);
	cairn__text_append_cstr(text, ",\"channels\":");
	append_strings(text, s->channels, s->channel_count);
	cairn__text_append_cstr(text, ",\"queries\":");
	if (s->queries)
		cairn__text_append_json(text, s->queries);
	else
		cairn__text_append_cstr(text, "[]");
	cairn__text_append_cstr(text, "}");
}

/* ---- sessions (loop thread) ---- */

/* Who opened the socket: an API key in X-Appwrite-Key, else the session of the upgrade's
 * cookie or headers (Appwrite's order, api_caller.c). A bad session token leaves a guest,
 * as Appwrite does; the client may still send `authentication`. */
static void caller_from_upgrade(cairn_realtime *realtime, cairn_realtime_session *session,
	const cairn_http_request *request)
{
	const char *key = cairn__http_header(request, "x-appwrite-key");

	memset(&session->caller, 0, sizeof(session->caller));
	if (!realtime->api)
		return;
	if (key && cairn__api_key_accepted(realtime->api, key)) {
		session->caller.kind = CAIRN_CALLER_KEY;
		return;
	}
	if (cairn__api_caller_from_headers(realtime->api, request, &session->caller) != 0)
		memset(&session->caller, 0, sizeof(session->caller));
}

/* The `user` of connected and authentication responses: null for a guest or a key. */
static void append_user(cairn_text *text, const cairn_realtime_session *session)
{
	if (session->caller.kind != CAIRN_CALLER_USER) {
		cairn__text_append_cstr(text, "null");
		return;
	}
	cairn__text_append_cstr(text, "{\"$id\":");
	cairn__text_append_json_string(text, session->caller.user_id);
	cairn__text_append_cstr(text, "}");
}

cairn_realtime_session *cairn__realtime_open(cairn_realtime *realtime, void *connection,
	const cairn_http_request *request)
{
	cairn_realtime_session *session = calloc(1, sizeof(*session));
	char **projects = NULL;
	size_t project_count, i;
	const char *project;
	cairn_text text = { 0 };
	char *frame;

	if (!session)
		return NULL;
	session->connection = connection;
	session->next = realtime->sessions;
	if (realtime->sessions)
		realtime->sessions->prev = session;
	realtime->sessions = session;
	atomic_fetch_add(&realtime->session_count, 1);

	project_count = cairn__http_query_values(&projects, request, "project");
	project = project_count ? projects[0] : cairn__http_header(request, "x-appwrite-project");
	/* Realtime is open to any client that names this project (docs/protocol.md): the
	 * Appwrite SDKs send no key here. Issue 5 narrows what each client receives. */
	if (!project || strcmp(project, realtime->project) != 0) {
		send_error(realtime, session, 1008, project ? "Project not found." :
			"Missing or unknown project ID");
		cairn__http_values_free(projects, project_count);
		return session;
	}
	cairn__http_values_free(projects, project_count);
	caller_from_upgrade(realtime, session, request);
	if (subscribe_from_url(session, request->query) < 0) {
		cairn__realtime_close(realtime, session);
		return NULL;
	}
	cairn__text_append_cstr(&text, "{\"type\":\"connected\",\"data\":{\"channels\":[");
	{
		char **all = NULL;
		size_t all_count = 0, j;

		for (i = 0; i < session->subscription_count; i++) {
			for (j = 0; j < session->subscriptions[i].channel_count; j++)
				strings_add(&all, &all_count, session->subscriptions[i].channels[j]);
		}
		for (j = 0; j < all_count; j++) {
			if (j)
				cairn__text_append_cstr(&text, ",");
			cairn__text_append_json_string(&text, all[j]);
		}
		strings_free(all, all_count);
	}
	cairn__text_append_cstr(&text, "],\"subscriptions\":[");
	for (i = 0; i < session->subscription_count; i++) {
		if (i)
			cairn__text_append_cstr(&text, ",");
		cairn__text_append_json_string(&text, session->subscriptions[i].id);
	}
	cairn__text_append_cstr(&text, "],\"user\":");
	append_user(&text, session);
	cairn__text_append_cstr(&text, "}}");
	frame = cairn__text_take(&text);
	send_text(realtime, session, frame);
	free(frame);
	return session;
}

void cairn__realtime_close(cairn_realtime *realtime, cairn_realtime_session *session)
{
	size_t i;

	if (!session)
		return;
	if (session->prev)
		session->prev->next = session->next;
	else
		realtime->sessions = session->next;
	if (session->next)
		session->next->prev = session->prev;
	atomic_fetch_sub(&realtime->session_count, 1);
	for (i = 0; i < session->subscription_count; i++)
		subscription_clear(&session->subscriptions[i]);
	free(session->subscriptions);
	free(session);
}

/* {"type":"subscribe","data":[{"subscriptionId"?, "channels": [...], "queries"?: [...]}]} */
static void on_subscribe(cairn_realtime *realtime, cairn_realtime_session *session,
	json_object *data)
{
	cairn_text text = { 0 };
	size_t i, n;
	char *frame;

	if (!json_object_is_type(data, json_type_array)) {
		send_error(realtime, session, 1003, "Payload is not valid: subscribe needs a list.");
		return;
	}
	n = json_object_array_length(data);
	/* Validate all first, so a bad entry changes nothing. */
	for (i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(data, i), *channels, *queries = NULL;
		const char *id = NULL;
		size_t j;

		if (!json_object_is_type(item, json_type_object) ||
			!json_object_object_get_ex(item, "channels", &channels) ||
			!json_object_is_type(channels, json_type_array) ||
			json_object_array_length(channels) == 0 ||
			json_object_array_length(channels) > MAX_CHANNELS ||
			(json_object_object_get_ex(item, "queries", &queries) && queries &&
			!json_object_is_type(queries, json_type_array)) ||
			(json_object_object_get_ex(item, "subscriptionId", NULL) &&
			!cairn__json_get_string(item, "subscriptionId", &id)) ||
			(id && strlen(id) >= sizeof(((subscription *)0)->id))) {
			send_error(realtime, session, 1003, "Payload is not valid: each subscription "
				"needs a non-empty channels list of strings.");
			return;
		}
		for (j = 0; j < json_object_array_length(channels); j++) {
			if (!json_object_is_type(json_object_array_get_idx(channels, j),
				json_type_string)) {
				send_error(realtime, session, 1003, "Payload is not valid: channels must "
					"be strings.");
				return;
			}
		}
		if (queries) {
			cairn_query *filter = NULL;

			if (queries_parse(&filter, queries) < 0) {
				send_error(realtime, session, 1003, cairn_error_last());
				return;
			}
			cairn__query_free(filter);
		}
	}
	cairn__text_append_cstr(&text, "{\"type\":\"response\",\"data\":{\"to\":\"subscribe\","
		"\"success\":true,\"subscriptions\":[");
	for (i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(data, i), *channels, *queries = NULL;
		const char *id = NULL;
		subscription *s;
		size_t j;

		cairn__json_get_string(item, "subscriptionId", &id);
		json_object_object_get_ex(item, "channels", &channels);
		json_object_object_get_ex(item, "queries", &queries);
		s = id && *id ? subscription_find(session, id) : NULL;
		if (s) {
			char keep[64];

			memcpy(keep, s->id, sizeof(keep));
			subscription_clear(s);
			memcpy(s->id, keep, sizeof(keep));
		} else if (!(s = subscription_add(session, id))) {
			cairn__text_clear(&text);
			send_error(realtime, session, 1003, "Too many subscriptions on one connection.");
			return;
		}
		for (j = 0; j < json_object_array_length(channels); j++)
			strings_add(&s->channels, &s->channel_count,
				json_object_get_string(json_object_array_get_idx(channels, j)));
		s->queries = queries ? json_object_get(queries) : NULL;
		if (queries_parse(&s->filter, s->queries) < 0) {
			cairn__text_clear(&text);
			send_error(realtime, session, 1003, cairn_error_last());
			return;
		}
		if (i)
			cairn__text_append_cstr(&text, ",");
		append_subscription(&text, s);
	}
	cairn__text_append_cstr(&text, "]}}");
	frame = cairn__text_take(&text);
	send_text(realtime, session, frame);
	free(frame);
}

static void on_unsubscribe(cairn_realtime *realtime, cairn_realtime_session *session,
	json_object *data)
{
	cairn_text text = { 0 };
	size_t i;
	char *frame;

	if (!json_object_is_type(data, json_type_array)) {
		send_error(realtime, session, 1003, "Payload is not valid: unsubscribe needs a list.");
		return;
	}
	cairn__text_append_cstr(&text, "{\"type\":\"response\",\"data\":{\"to\":\"unsubscribe\","
		"\"success\":true,\"subscriptions\":[");
	for (i = 0; i < json_object_array_length(data); i++) {
		const char *id = "";
		subscription *s;

		cairn__json_get_string(json_object_array_get_idx(data, i), "subscriptionId", &id);
		s = subscription_find(session, id);
		if (i)
			cairn__text_append_cstr(&text, ",");
		cairn__text_append_cstr(&text, "{\"subscriptionId\":");
		cairn__text_append_json_string(&text, id);
		cairn__text_appendf(&text, ",\"removed\":%s}", s ? "true" : "false");
		if (s) {
			size_t index = (size_t)(s - session->subscriptions);

			subscription_clear(s);
			memmove(s, s + 1, (session->subscription_count - index - 1) * sizeof(*s));
			session->subscription_count--;
		}
	}
	cairn__text_append_cstr(&text, "]}}");
	frame = cairn__text_take(&text);
	send_text(realtime, session, frame);
	free(frame);
}

/* {"type":"authentication","data":{"session":TOKEN}} (compat §7.4): the connection takes
 * the token's user from now on. Our own client may send {"key": API_KEY} instead (a cairn
 * extension: Appwrite has no realtime for keys; ours syncs with one). A bad token or key is
 * an error frame (1003) and leaves the caller as it was. */
static void on_authentication(cairn_realtime *realtime, cairn_realtime_session *session,
	json_object *data)
{
	const char *token = NULL, *key = NULL;
	cairn_api_caller caller;
	cairn_text text = { 0 };
	char *frame;

	memset(&caller, 0, sizeof(caller));
	if (!json_object_is_type(data, json_type_object) ||
		(!cairn__json_get_string(data, "session", &token) &&
		!cairn__json_get_string(data, "key", &key))) {
		send_error(realtime, session, 1003, "Payload is not valid.");
		return;
	}
	if (key) {
		if (!realtime->api || !cairn__api_key_accepted(realtime->api, key)) {
			send_error(realtime, session, 1003, "API key is not valid.");
			return;
		}
		caller.kind = CAIRN_CALLER_KEY;
	} else if (!realtime->api || cairn__api_caller_from_token(realtime->api, token,
		&caller) != 0 || caller.kind != CAIRN_CALLER_USER) {
		send_error(realtime, session, 1003, "Session is not valid.");
		return;
	}
	session->caller = caller;
	cairn__text_append_cstr(&text, "{\"type\":\"response\",\"data\":{\"to\":"
		"\"authentication\",\"success\":true,\"user\":");
	append_user(&text, session);
	cairn__text_append_cstr(&text, "}}");
	frame = cairn__text_take(&text);
	send_text(realtime, session, frame);
	free(frame);
}

void cairn__realtime_message(cairn_realtime *realtime, cairn_realtime_session *session,
	const char *text, size_t length)
{
	json_object *message = cairn__json_parse_object(text, length, MAX_MESSAGE_DEPTH);
	json_object *data = NULL;
	const char *type = NULL;

	if (!message || !cairn__json_get_string(message, "type", &type)) {
		send_error(realtime, session, 1003, "Message format is not valid.");
		goto cleanup;
	}
	json_object_object_get_ex(message, "data", &data);
	if (strcmp(type, "ping") == 0)
		send_text(realtime, session, "{\"type\":\"pong\"}");
	else if (strcmp(type, "subscribe") == 0)
		on_subscribe(realtime, session, data);
	else if (strcmp(type, "unsubscribe") == 0)
		on_unsubscribe(realtime, session, data);
	else if (strcmp(type, "authentication") == 0)
		on_authentication(realtime, session, data);
	else
		send_error(realtime, session, 1003, "Message type is not valid.");
cleanup:
	json_object_put(message);
}

/* ---- events ---- */

static int subscription_matches(const subscription *s, event *e)
{
	size_t i, j;

	for (i = 0; i < s->channel_count; i++) {
		for (j = 0; j < e->channel_count; j++) {
			if (strcmp(s->channels[i], e->channels[j]) == 0)
				return event_passes(e, s->filter);
		}
	}
	return 0;
}

void cairn__realtime_dispatch(cairn_realtime *realtime)
{
	event *list;

	pthread_mutex_lock(&realtime->queue_lock);
	list = realtime->queue_head;
	realtime->queue_head = realtime->queue_tail = NULL;
	pthread_mutex_unlock(&realtime->queue_lock);
	while (list) {
		event *e = list;
		cairn_realtime_session *session, *next;

		list = e->next;
		for (session = realtime->sessions; session; session = next) {
			cairn_text text = { 0 };
			int matched = 0;
			size_t i;
			char *frame;

			next = session->next;
			if (!cairn__permissions_holds_any(&session->caller, e->readers))
				continue;
			for (i = 0; i < session->subscription_count; i++) {
				if (!subscription_matches(&session->subscriptions[i], e))
					continue;
				if (!matched)
					cairn__text_append_cstr(&text, "{\"type\":\"event\",\"data\":{");
				cairn__text_append_cstr(&text, matched ? "," : "");
				if (!matched) {
					cairn__text_append_cstr(&text, e->inner);
					cairn__text_append_cstr(&text, ",\"subscriptions\":[");
				}
				cairn__text_append_json_string(&text, session->subscriptions[i].id);
				matched = 1;
			}
			if (!matched)
				continue;
			cairn__text_append_cstr(&text, "]}}");
			frame = cairn__text_take(&text);
			send_text(realtime, session, frame);
			free(frame);
		}
		event_free(e);
	}
}

typedef struct {
	cairn_realtime *realtime;
	const char *database;
	int64_t previous;      /* the change published before the next one */
	event *head, *tail;
	int failed;
	cairn_storage_collection collection; /* the last change's collection, for its readers */
	int collection_found;                /* 1 when `collection` holds it */
} feed_state;

/* Who may read the document of a change: its collection's read roles, plus its own when
 * the collection has documentSecurity (a tombstone keeps the permissions it had). A
 * collection that is gone: nobody but keys. Worker thread. */
static json_object *event_readers(feed_state *state, const cairn_storage_record *record)
{
	cairn_storage *storage = state->realtime->storage;

	if (!state->collection.id || strcmp(state->collection.id, record->collection_id) != 0) {
		cairn__storage_collection_clear(&state->collection);
		state->collection_found = state->realtime->backend->collection_get(
			&state->collection, storage, state->database, record->collection_id) == 0;
		if (!state->collection_found) {
			cairn__storage_collection_clear(&state->collection);
			/* Remember the miss by id so a run of its changes asks once. */
			state->collection.id = strdup(record->collection_id);
		}
	}
	if (!state->collection_found)
		return json_object_new_array();
	return cairn__permissions_read_roles(&state->collection, record->permissions);
}

static int add_channel(event *e, const char *fmt, const char *a, const char *b, const char *c,
	const char *action)
{
	char name[256];
	int n = snprintf(name, sizeof(name), fmt, a, b, c);

	if (n < 0 || (size_t)n >= sizeof(name) - 16)
		return 0;
	if (strings_add(&e->channels, &e->channel_count, name) < 0)
		return -1;
	snprintf(name + n, sizeof(name) - (size_t)n, ".%s", action);
	return strings_add(&e->channels, &e->channel_count, name);
}

/* Builds the event of one change (worker thread). */
static int feed_each(const cairn_storage_record *record, size_t approx_bytes, void *payload)
{
	feed_state *state = payload;
	const char *d = state->database, *c = record->collection_id, *id = record->id;
	const char *action = record->deleted ? "delete" :
		record->created_at == record->updated_at ? "create" : "update";
	cairn_text text = { 0 };
	char timestamp[CAIRN_TIME_TEXT_SIZE];
	event *e;
	size_t i;

	(void)approx_bytes;
	e = calloc(1, sizeof(*e));
	if (!e)
		goto failed;
	if (add_channel(e, "documents", "", "", "", action) < 0 ||
		add_channel(e, "databases.%s.collections.%s.documents", d, c, "", action) < 0 ||
		add_channel(e, "databases.%s.collections.%s.documents.%s", d, c, id, action) < 0 ||
		add_channel(e, "rows", "", "", "", action) < 0 ||
		add_channel(e, "databases.%s.tables.%s.rows", d, c, "", action) < 0 ||
		add_channel(e, "databases.%s.tables.%s.rows.%s", d, c, id, action) < 0 ||
		add_channel(e, "tablesdb.%s.tables.%s.rows", d, c, "", action) < 0 ||
		add_channel(e, "tablesdb.%s.tables.%s.rows.%s", d, c, id, action) < 0)
		goto failed;
	cairn__text_append_cstr(&text, "\"events\":[");
	{
		/* Appwrite's order: the full event, wildcard forms, then without the action, each
		 * followed by its tables/rows mirror. */
		const char *forms[][2] = {
			{ "databases.%1$s.collections.%2$s.documents.%3$s.%4$s",
			  "databases.%1$s.tables.%2$s.rows.%3$s.%4$s" },
			{ "databases.*.collections.*.documents.*.%4$s",
			  "databases.*.tables.*.rows.*.%4$s" },
			{ "databases.%1$s.collections.*.documents.*.%4$s",
			  "databases.%1$s.tables.*.rows.*.%4$s" },
			{ "databases.%1$s.collections.%2$s.documents.*.%4$s",
			  "databases.%1$s.tables.%2$s.rows.*.%4$s" },
			{ "databases.%1$s.collections.%2$s.documents.%3$s",
			  "databases.%1$s.tables.%2$s.rows.%3$s" },
			{ "databases.%1$s.collections.%2$s", "databases.%1$s.tables.%2$s" },
		};
		for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
			char name[256];
			int k;

			for (k = 0; k < 2; k++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
				snprintf(name, sizeof(name), forms[i][k], d, c, id, action);
#pragma GCC diagnostic pop
				if (i || k)
					cairn__text_append_cstr(&text, ",");
				cairn__text_append_json_string(&text, name);
			}
		}
		{
			char name[128];

			snprintf(name, sizeof(name), "databases.%s", d);
			cairn__text_append_cstr(&text, ",");
			cairn__text_append_json_string(&text, name);
		}
	}
	cairn__text_append_cstr(&text, "],\"channels\":");
	append_strings(&text, e->channels, e->channel_count);
	cairn__time_format(record->updated_at, timestamp);
	cairn__text_append_cstr(&text, ",\"timestamp\":");
	cairn__text_append_json_string(&text, timestamp);
	cairn__text_append_cstr(&text, ",\"payload\":");
	e->payload_start = text.length;
	cairn__text_append_document(&text, record);
	e->payload_length = text.length - e->payload_start;
	e->deleted = record->deleted;
	e->readers = event_readers(state, record);
	if (!e->readers)
		goto failed;
	/* Our client's gap detector: each event names the change published before it in the
	 * same database; a client that did not see that one pulls (docs/protocol.md). */
	cairn__text_appendf(&text, ",\"$changeSequence\":%lld,\"$previousChangeSequence\":%lld",
		(long long)record->version, (long long)state->previous);
	e->inner = cairn__text_take(&text);
	if (!e->inner)
		goto failed;
	state->previous = record->version;
	if (state->tail)
		state->tail->next = e;
	else
		state->head = e;
	state->tail = e;
	return 0;
failed:
	cairn__text_clear(&text);
	event_free(e);
	state->failed = 1;
	return 1;
}

typedef struct {
	char ids[MAX_DATABASES][64];
	int64_t sequences[MAX_DATABASES];
	size_t count;
} database_list;

static int list_database(const cairn_storage_database *database, void *payload)
{
	database_list *list = payload;

	if (list->count >= MAX_DATABASES)
		return 0;
	snprintf(list->ids[list->count], sizeof(list->ids[0]), "%s", database->id);
	list->sequences[list->count++] = database->last_sequence;
	return 0;
}

static position *position_of(cairn_realtime *realtime, const char *database)
{
	size_t i;

	for (i = 0; i < realtime->position_count; i++) {
		if (strcmp(realtime->positions[i].id, database) == 0)
			return &realtime->positions[i];
	}
	if (realtime->position_count >= MAX_DATABASES)
		return NULL;
	snprintf(realtime->positions[i].id, sizeof(realtime->positions[i].id), "%s", database);
	realtime->positions[i].sequence = 0; /* a new database: everything in it is news */
	realtime->position_count++;
	return &realtime->positions[i];
}

void cairn__realtime_publish(cairn_realtime *realtime)
{
	database_list *list = calloc(1, sizeof(*list));
	event *head = NULL, *tail = NULL;
	size_t i;

	if (!list)
		return;
	if (!realtime->backend->database_list || !realtime->backend->changes) {
		free(list);
		return;
	}
	pthread_mutex_lock(&realtime->publish_lock);
	if (realtime->backend->database_list(realtime->storage, list_database, list) < 0)
		goto cleanup;
	for (i = 0; i < list->count; i++) {
		position *p = position_of(realtime, list->ids[i]);
		int more = 1;

		/* Behind what we published: the database was deleted and made again. */
		if (p && list->sequences[i] < p->sequence)
			p->sequence = 0;
		if (!p || list->sequences[i] <= p->sequence)
			continue;
		/* Nobody to tell: skip building the events (during a bulk push they were a third
		 * of the server's work). A client that connects later pulls on connect, and an
		 * event whose $previousChangeSequence it has not seen makes it pull. */
		if (atomic_load(&realtime->session_count) == 0) {
			p->sequence = list->sequences[i];
			continue;
		}
		while (more) {
			feed_state state;

			memset(&state, 0, sizeof(state));
			state.realtime = realtime;
			state.database = list->ids[i];
			state.previous = p->sequence;
			more = 0;
			int feed_rc = realtime->backend->changes(realtime->storage, list->ids[i],
				p->sequence, NULL, 0, FEED_PAGE, feed_each, &state, &more);

			cairn__storage_collection_clear(&state.collection);
			if (feed_rc < 0 || state.failed) {
				event *e = state.head;

				while (e) {
					event *next = e->next;

					event_free(e);
					e = next;
				}
				more = 0;
				break;
			}
			if (!state.head)
				break;
			p->sequence = state.previous;
			if (tail)
				tail->next = state.head;
			else
				head = state.head;
			tail = state.tail;
		}
	}
cleanup:
	pthread_mutex_unlock(&realtime->publish_lock);
	free(list);
	if (!head)
		return;
	pthread_mutex_lock(&realtime->queue_lock);
	if (realtime->queue_tail)
		realtime->queue_tail->next = head;
	else
		realtime->queue_head = head;
	realtime->queue_tail = tail;
	pthread_mutex_unlock(&realtime->queue_lock);
	if (realtime->io.wake)
		realtime->io.wake(realtime->io.transport);
}

/* ---- other instances' commits (the backend's watcher thread) ---- */

static void on_storage_change(const char *database_id, int64_t sequence, void *payload)
{
	cairn_realtime *realtime = payload;

	if (database_id) {
		size_t i;
		int known = 0;

		/* Our own commits come back too: skip what a worker has already published. */
		pthread_mutex_lock(&realtime->publish_lock);
		for (i = 0; i < realtime->position_count; i++) {
			if (strcmp(realtime->positions[i].id, database_id) == 0) {
				known = realtime->positions[i].sequence >= sequence;
				break;
			}
		}
		pthread_mutex_unlock(&realtime->publish_lock);
		if (known)
			return;
	}
	cairn__realtime_publish(realtime);
}

int cairn__realtime_watch(cairn_realtime *realtime, int on)
{
	int rc;

	if (!realtime->backend->watch)
		return 0;
	if (!on) {
		if (realtime->watching)
			realtime->backend->watch(realtime->storage, NULL, NULL);
		realtime->watching = 0;
		return 0;
	}
	if (realtime->watching)
		return 0;
	rc = realtime->backend->watch(realtime->storage, on_storage_change, realtime);
	if (rc == 0)
		realtime->watching = 1;
	return rc;
}
