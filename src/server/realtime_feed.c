/* realtime_feed.c: realtime events: built from the change feed after each write (and from
 * other instances' commits), queued, and delivered on the loop thread to the sessions whose
 * subscriptions match and whose caller may read the document. */
#include "server/realtime_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/models.h"
#include "server/permissions.h"
#include "util/error.h"
#include "util/time.h"

/* ---- events ---- */

static int subscription_matches(const subscription *s, event *e)
{
	size_t i, j;

	for (i = 0; i < s->channel_count; i++) {
		for (j = 0; j < e->channel_count; j++) {
			if (strcmp(s->channels[i], e->channels[j]) == 0)
				return cairn__realtime_event_passes(e, s->filter);
		}
	}
	return 0;
}

void cairn__realtime_dispatch(cairn_realtime *realtime)
{
	event *list;
	struct ended_session *ended;
	int64_t now = cairn__time_now_ms();

	pthread_mutex_lock(&realtime->queue_lock);
	list = realtime->queue_head;
	realtime->queue_head = realtime->queue_tail = NULL;
	ended = realtime->ended; /* log-outs committed before these events were read */
	realtime->ended = NULL;
	pthread_mutex_unlock(&realtime->queue_lock);
	cairn__realtime_apply_ended(realtime, ended);
	if (list)
		cairn__realtime_maybe_sweep(realtime);
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
			if (session->connecting)
				continue; /* `connected` comes first; events before it are not replayed */
			if (session->caller.kind == CAIRN_CALLER_USER && session->caller.expires_at <= now)
				cairn__realtime_become_guest(session); /* the session expired: what a guest may read */
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
			cairn__realtime_send_text(realtime, session, frame);
			free(frame);
		}
		cairn__realtime_event_free(e);
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
	if (cairn__realtime_strings_add(&e->channels, &e->channel_count, name) < 0)
		return -1;
	snprintf(name + n, sizeof(name) - (size_t)n, ".%s", action);
	return cairn__realtime_strings_add(&e->channels, &e->channel_count, name);
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
	cairn__realtime_append_strings(&text, e->channels, e->channel_count);
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
	cairn__realtime_event_free(e);
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

					cairn__realtime_event_free(e);
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
	/* Queued before the publish lock is let go: a publisher that read later changes (a
	 * worker, the watcher thread) cannot queue them ahead of these. */
	if (head) {
		pthread_mutex_lock(&realtime->queue_lock);
		if (realtime->queue_tail)
			realtime->queue_tail->next = head;
		else
			realtime->queue_head = head;
		realtime->queue_tail = tail;
		pthread_mutex_unlock(&realtime->queue_lock);
	}
	pthread_mutex_unlock(&realtime->publish_lock);
	free(list);
	if (head && realtime->io.wake)
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
