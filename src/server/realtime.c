/* realtime.c: the realtime API's sessions: their subscriptions (all three Appwrite SDK
 * generations), messages, and who is connected (lookups on workers, log-outs, expiry);
 * events and their delivery are in realtime_feed.c. */
#include "server/realtime.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "server/api_int.h"
#include "server/models.h"
#include "server/permissions.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/query.h"
#include "util/time.h"

#include "server/realtime_int.h"


/* ---- small helpers ---- */

static void strings_free(char **strings, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(strings[i]);
	free(strings);
}

int cairn__realtime_strings_add(char ***strings, size_t *count, const char *value)
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

void cairn__realtime_event_free(event *e)
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

int cairn__realtime_send_text(cairn_realtime *realtime, cairn_realtime_session *session,
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
	cairn__realtime_send_text(realtime, session, frame);
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
	cairn__realtime_apply_ended(realtime, realtime->ended);
	for (e = realtime->queue_head; e;) {
		event *next = e->next;

		cairn__realtime_event_free(e);
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
int cairn__realtime_event_passes(event *e, const cairn_query *filter)
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
			if (*value && cairn__realtime_strings_add(&channels, &channel_count, value) < 0) {
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
						cairn__realtime_strings_add(&s->channels, &s->channel_count, key) < 0) {
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
			if (cairn__realtime_strings_add(&s->channels, &s->channel_count, channels[i]) < 0)
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

void cairn__realtime_append_strings(cairn_text *text, char **strings, size_t count)
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
	cairn__realtime_append_strings(text, s->channels, s->channel_count);
	cairn__text_append_cstr(text, ",\"queries\":");
	if (s->queries)
		cairn__text_append_json(text, s->queries);
	else
		cairn__text_append_cstr(text, "[]");
	cairn__text_append_cstr(text, "}");
}

/* ---- sessions (loop thread) ---- */

static int lookup_start(cairn_realtime *realtime, cairn_realtime_session *session,
	char *token, int upgrade);

/* Who opened the socket: an API key in X-Appwrite-Key, else the session of the upgrade's
 * cookie or headers (Appwrite's order, api_caller.c). A bad session token leaves a guest,
 * as Appwrite does; the client may still send `authentication`. Returns 1 when a session
 * token went to a worker (its answer sends `connected`), else 0 with the caller set (a key
 * is checked here: memory only). */
static int caller_from_upgrade(cairn_realtime *realtime, cairn_realtime_session *session,
	const cairn_http_request *request)
{
	const char *key = cairn__http_header(request, "x-appwrite-key");
	char *token = NULL;

	memset(&session->caller, 0, sizeof(session->caller));
	if (!realtime->api)
		return 0;
	if (key && cairn__api_key_accepted(realtime->api, key)) {
		session->caller.kind = CAIRN_CALLER_KEY;
		return 0;
	}
	if (cairn__api_session_token(&token, realtime->api, request) != 0 || !token)
		return 0;
	return lookup_start(realtime, session, token, 1);
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

static void send_connected(cairn_realtime *realtime, cairn_realtime_session *session);

cairn_realtime_session *cairn__realtime_open(cairn_realtime *realtime, void *connection,
	const cairn_http_request *request)
{
	cairn_realtime_session *session = calloc(1, sizeof(*session));
	char **projects = NULL;
	size_t project_count;
	const char *project;

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
	if (subscribe_from_url(session, request->query) < 0) {
		cairn__realtime_close(realtime, session);
		return NULL;
	}
	if (!caller_from_upgrade(realtime, session, request))
		send_connected(realtime, session);
	return session;
}

/* {"type":"connected","data":{channels, subscriptions, user}} once the caller is known. */
static void send_connected(cairn_realtime *realtime, cairn_realtime_session *session)
{
	cairn_text text = { 0 };
	char *frame;
	size_t i;

	cairn__text_append_cstr(&text, "{\"type\":\"connected\",\"data\":{\"channels\":[");
	{
		char **all = NULL;
		size_t all_count = 0, j;

		for (i = 0; i < session->subscription_count; i++) {
			for (j = 0; j < session->subscriptions[i].channel_count; j++)
				cairn__realtime_strings_add(&all, &all_count, session->subscriptions[i].channels[j]);
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
	cairn__realtime_send_text(realtime, session, frame);
	free(frame);
}

static void session_free(cairn_realtime_session *session);

void cairn__realtime_close(cairn_realtime *realtime, cairn_realtime_session *session)
{
	if (!session)
		return;
	if (session->prev)
		session->prev->next = session->next;
	else
		realtime->sessions = session->next;
	if (session->next)
		session->next->prev = session->prev;
	session->prev = session->next = NULL;
	atomic_fetch_sub(&realtime->session_count, 1);
	if (session->lookup) {
		session->closed = 1; /* lookup_done frees it */
		return;
	}
	session_free(session);
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
			cairn__realtime_strings_add(&s->channels, &s->channel_count,
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
	cairn__realtime_send_text(realtime, session, frame);
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
	cairn__realtime_send_text(realtime, session, frame);
	free(frame);
}

static void authenticated(cairn_realtime *realtime, cairn_realtime_session *session,
	const cairn_api_caller *caller);

/* {"type":"authentication","data":{"session":TOKEN}} (compat §7.4): the connection takes
 * the token's user from now on. Our own client may send {"key": API_KEY} instead (a cairn
 * extension: Appwrite has no realtime for keys; ours syncs with one). A bad token or key is
 * an error frame (1003) and leaves the caller as it was. The session is looked up on a
 * worker (lookup_start); a key is checked here. */
static void on_authentication(cairn_realtime *realtime, cairn_realtime_session *session,
	json_object *data)
{
	const char *token = NULL, *key = NULL;
	cairn_api_caller caller;
	char *copy;

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
		authenticated(realtime, session, &caller);
		return;
	}
	if (!realtime->api || !token[0] || !(copy = strdup(token))) {
		send_error(realtime, session, 1003, "Session is not valid.");
		return;
	}
	lookup_start(realtime, session, copy, 0);
}

/* The `authentication` answer: the connection takes `caller`, or (NULL) an error frame and
 * the caller stays as it was. */
static void authenticated(cairn_realtime *realtime, cairn_realtime_session *session,
	const cairn_api_caller *caller)
{
	cairn_text text = { 0 };
	char *frame;

	if (!caller) {
		send_error(realtime, session, 1003, "Session is not valid.");
		return;
	}
	session->caller = *caller;
	cairn__text_append_cstr(&text, "{\"type\":\"response\",\"data\":{\"to\":"
		"\"authentication\",\"success\":true,\"user\":");
	append_user(&text, session);
	cairn__text_append_cstr(&text, "}}");
	frame = cairn__text_take(&text);
	cairn__realtime_send_text(realtime, session, frame);
	free(frame);
}


static void handle_message(cairn_realtime *realtime, cairn_realtime_session *session,
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
	if (strcmp(type, "ping") == 0) {
		cairn__realtime_send_text(realtime, session, "{\"type\":\"pong\"}");
		cairn__realtime_maybe_sweep(realtime); /* SDKs ping every 20 s: a clock for the session check */
	} else if (strcmp(type, "subscribe") == 0)
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

/* ---- who is connected: session lookups on workers, log-outs, expiry (loop thread) ----
 *
 * Resolving a session token reads storage (a network round trip on PostgreSQL), so it runs
 * on a transport worker (io.defer) and the answer comes back to the loop. Meanwhile the
 * session's messages are held and then handled in the order they came. A session whose
 * user logs out (this instance's log-out routes, cairn__realtime_sessions_ended), whose
 * session expires (checked as events are delivered) or, with storage shared by several
 * instances, whose session is found gone by the periodic sweep, becomes a guest.
 */

typedef struct held_message {
	struct held_message *next;
	size_t length;
	char text[];
} held_message;

typedef struct lookup {
	cairn_realtime *realtime;
	cairn_realtime_session *session;
	char *token;               /* malloc'd; wiped when freed */
	int upgrade;               /* 1: the upgrade's session (sends `connected`); 0: authentication */
	unsigned long generation;  /* realtime->ended_generation when it was queued */
	int worked;                /* the worker ran it */
	int rc;
	cairn_api_caller caller;
} lookup;

typedef struct ended_session {
	struct ended_session *next;
	char user_id[CAIRN_ID_MAX + 1];
	char session_id[CAIRN_ID_MAX + 1]; /* "": every session of the user */
} ended_session;

static void session_free(cairn_realtime_session *session)
{
	size_t i;

	for (i = 0; i < session->subscription_count; i++)
		subscription_clear(&session->subscriptions[i]);
	free(session->subscriptions);
	while (session->held) {
		held_message *next = session->held->next;

		free(session->held);
		session->held = next;
	}
	free(session);
}

void cairn__realtime_become_guest(cairn_realtime_session *session)
{
	memset(&session->caller, 0, sizeof(session->caller));
	session->caller.kind = CAIRN_CALLER_GUEST;
}

static void lookup_free(lookup *l)
{
	if (l->token) {
		sodium_memzero(l->token, strlen(l->token));
		free(l->token);
	}
	free(l);
}

/* Worker thread. */
static void lookup_work(void *arg)
{
	lookup *l = arg;

	l->rc = cairn__api_caller_from_token(l->realtime->api, l->token, &l->caller);
	l->worked = 1;
}

static void lookup_done(void *arg);

static void lookup_queue(lookup *l)
{
	cairn_realtime *realtime = l->realtime;

	l->generation = realtime->ended_generation;
	l->worked = 0;
	l->session->lookup = l;
	if (!realtime->io.defer) { /* no transport (unit use): in place */
		lookup_work(l);
		lookup_done(l);
	} else if (realtime->io.defer(realtime->io.transport, lookup_work, lookup_done, l) < 0) {
		l->rc = CAIRN_ENOMEM; /* answered as an invalid session */
		l->worked = 1;
		lookup_done(l);
	}
}

/* Takes `token` (malloc'd). Returns 1 (the answer comes through lookup_done), or 0 when out
 * of memory (the caller stays as it is). */
static int lookup_start(cairn_realtime *realtime, cairn_realtime_session *session,
	char *token, int upgrade)
{
	lookup *l = calloc(1, sizeof(*l));

	if (!l) {
		free(token);
		if (!upgrade)
			authenticated(realtime, session, NULL);
		return 0;
	}
	l->realtime = realtime;
	l->session = session;
	l->token = token;
	l->upgrade = upgrade;
	session->connecting = upgrade;
	lookup_queue(l);
	return 1;
}

/* Messages that came while the lookup ran, in order, until one starts another lookup. */
static void replay_held(cairn_realtime *realtime, cairn_realtime_session *session)
{
	while (!session->lookup && session->held) {
		held_message *m = session->held;

		session->held = m->next;
		if (!session->held)
			session->held_tail = NULL;
		session->held_count--;
		handle_message(realtime, session, m->text, m->length);
		free(m);
	}
}

/* Loop thread (also at the transport's shutdown, when the work may not have run). */
static void lookup_done(void *arg)
{
	lookup *l = arg;
	cairn_realtime *realtime = l->realtime;
	cairn_realtime_session *session = l->session;
	int valid = l->worked && l->rc == 0 && l->caller.kind == CAIRN_CALLER_USER;

	session->lookup = NULL;
	if (session->closed) {
		lookup_free(l);
		session_free(session);
		return;
	}
	/* A log-out was applied while the worker read: it may have read the session just
	 * before it was deleted. Ask again (log-outs are rare). */
	if (valid && l->generation != realtime->ended_generation) {
		lookup_queue(l);
		return;
	}
	if (l->upgrade) {
		if (valid)
			session->caller = l->caller; /* else a guest, as Appwrite does */
		session->connecting = 0;
		send_connected(realtime, session);
	} else {
		authenticated(realtime, session, valid ? &l->caller : NULL);
	}
	lookup_free(l);
	replay_held(realtime, session);
}

void cairn__realtime_message(cairn_realtime *realtime, cairn_realtime_session *session,
	const char *text, size_t length)
{
	held_message *m;

	if (!session->lookup && !session->held) {
		handle_message(realtime, session, text, length);
		return;
	}
	if (session->held_count >= MAX_HELD || !(m = malloc(sizeof(*m) + length + 1))) {
		send_error(realtime, session, 1013, "Too many messages before the session was "
			"checked.");
		return;
	}
	m->next = NULL;
	m->length = length;
	memcpy(m->text, text, length);
	m->text[length] = '\0';
	if (session->held_tail)
		session->held_tail->next = m;
	else
		session->held = m;
	session->held_tail = m;
	session->held_count++;
}

/* Any thread: queued for the loop, which applies it before the next events. */
void cairn__realtime_sessions_ended(void *payload, const char *user_id,
	const char *session_id)
{
	cairn_realtime *realtime = payload;
	ended_session *e = calloc(1, sizeof(*e));

	if (!e || !user_id)
		goto failed;
	snprintf(e->user_id, sizeof(e->user_id), "%s", user_id);
	snprintf(e->session_id, sizeof(e->session_id), "%s", session_id ? session_id : "");
	pthread_mutex_lock(&realtime->queue_lock);
	e->next = realtime->ended;
	realtime->ended = e;
	pthread_mutex_unlock(&realtime->queue_lock);
	if (realtime->io.wake)
		realtime->io.wake(realtime->io.transport);
	return;
failed:
	free(e);
	/* Out of memory: the expiry check and the sweep remain; say nothing more here. */
}

/* Turns the connections of the ended sessions in `list` into guests; frees the list. */
void cairn__realtime_apply_ended(cairn_realtime *realtime, ended_session *list)
{
	if (!list)
		return;
	realtime->ended_generation++;
	while (list) {
		ended_session *e = list;
		cairn_realtime_session *session;

		list = e->next;
		for (session = realtime->sessions; session; session = session->next) {
			if (session->caller.kind == CAIRN_CALLER_USER &&
				strcmp(session->caller.user_id, e->user_id) == 0 &&
				(!e->session_id[0] || strcmp(session->caller.session_id, e->session_id) == 0))
				cairn__realtime_become_guest(session);
		}
		free(e);
	}
}

/* ---- the sweep: sessions ended on other instances (shared storage only) ---- */

typedef struct {
	cairn_realtime *realtime;
	ended_session *checked;    /* the sessions to check */
	ended_session *gone;       /* the worker moves the ended ones here */
	int64_t now;
} sweep;

static void sweep_work(void *arg)
{
	sweep *w = arg;
	const cairn_storage_backend *backend = w->realtime->backend;
	ended_session *e = w->checked, *keep = NULL;

	while (e) {
		ended_session *next = e->next;
		cairn_storage_session stored;
		int rc;

		memset(&stored, 0, sizeof(stored));
		rc = backend->session_get(&stored, w->realtime->storage, e->session_id);
		if (rc == CAIRN_ENOTFOUND || (rc == 0 && (strcmp(stored.user_id, e->user_id) != 0 ||
			stored.expires_at <= w->now))) {
			e->next = w->gone;
			w->gone = e;
		} else {
			e->next = keep; /* alive, or storage failed: checked again next time */
			keep = e;
		}
		cairn__storage_session_clear(&stored);
		e = next;
	}
	w->checked = keep;
}

static void sweep_done(void *arg)
{
	sweep *w = arg;

	w->realtime->sweeping = 0;
	cairn__realtime_apply_ended(w->realtime, w->gone);
	while (w->checked) {
		ended_session *next = w->checked->next;

		free(w->checked);
		w->checked = next;
	}
	free(w);
}

/* Every SWEEP_MS at most, when storage may be shared with other instances (the backend has
 * a watcher): checks every connected user's session on a worker. */
void cairn__realtime_maybe_sweep(cairn_realtime *realtime)
{
	int64_t now = cairn__time_now_ms();
	cairn_realtime_session *session;
	sweep *w;

	if (!realtime->backend->watch || !realtime->backend->session_get || !realtime->io.defer ||
		realtime->sweeping || now - realtime->last_sweep_ms < SWEEP_MS)
		return;
	realtime->last_sweep_ms = now;
	if (!(w = calloc(1, sizeof(*w))))
		return;
	w->realtime = realtime;
	w->now = now;
	for (session = realtime->sessions; session; session = session->next) {
		ended_session *e;

		if (session->caller.kind != CAIRN_CALLER_USER || !(e = calloc(1, sizeof(*e))))
			continue;
		snprintf(e->user_id, sizeof(e->user_id), "%s", session->caller.user_id);
		snprintf(e->session_id, sizeof(e->session_id), "%s", session->caller.session_id);
		e->next = w->checked;
		w->checked = e;
	}
	if (!w->checked || realtime->io.defer(realtime->io.transport, sweep_work, sweep_done,
		w) < 0) {
		sweep_done(w);
		return;
	}
	realtime->sweeping = 1;
}
