/* replicator.c: cairn_sync_once: ensure the remote database and collections exist, push the
 * outbox in batches, then pull changes page by page (docs/protocol.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/pull_prefetch.h"
#include "client/push_reply.h"
#include "client/replicator_rest_int.h"
#include "client/session_int.h"
#include "client/store_int.h"
#include "client/sync_scope.h"
#include "net/http_client.h"
#include "util/error.h"
#include "util/json.h"
#include "util/time.h"

#define PUSH_MAX_BATCH 1000          /* the server's limit per request */
#define PUSH_MAX_STALLED_ROUNDS 10   /* rounds in a row that settle nothing: give up for now */
#define PULL_MAX_LIMIT 10000
#define REPLY_MAX_DEPTH (CAIRN_JSON_MAX_DEPTH + 8) /* documents sit a few levels down */

typedef struct {
	cairn_store *store;
	cairn__http_client *http;
	cairn_sync_options options;
	char *url;
	json_object *fallback_urls; /* array of strings, or NULL: the instances after url */
	size_t url_count;           /* 1 + fallbacks */
	size_t active;              /* index of the URL in use: 0 = url, i = fallback i-1 */
	char *project;
	char *api_key;
	char *database;
	char *ca_file;              /* "" or NULL: the system's CAs */
	int push_text;              /* a push reply said the server takes dataAsText */
	cairn_sync_result result;
} sync_session;

int cairn_sync_options_init(cairn_sync_options *opts, unsigned int version)
{
	cairn_sync_options defaults = CAIRN_SYNC_OPTIONS_INIT;

	if (!opts)
		return cairn__error_set(CAIRN_EINVALID, "options must not be NULL");
	if (version != CAIRN_SYNC_OPTIONS_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "unsupported sync options version %u (this "
			"library knows %d)", version, CAIRN_SYNC_OPTIONS_VERSION);
	*opts = defaults;
	return 0;
}

/* ---- HTTP with JSON ---- */

/* Maps a status the caller did not expect to a code and message. */
static int unexpected(const cairn__http_response *response, const char *what)
{
	char message[300];

	cairn__http_error_message(response, message, sizeof(message));
	if (response->status == 401 || response->status == 403)
		return cairn__error_set(CAIRN_EAUTH, "the server refused the credentials while %s "
			"(HTTP %ld): %s", what, response->status, message);
	if (response->status == 404)
		return cairn__error_set(CAIRN_ENOTFOUND, "not found on the server while %s: %s",
			what, message);
	return cairn__error_set(CAIRN_ESERVER, "the server failed while %s (HTTP %ld): %s", what,
		response->status, message);
}

static const char *url_at(const sync_session *session, size_t index)
{
	if (index == 0)
		return session->url;
	return json_object_get_string(json_object_array_get_idx(session->fallback_urls,
		index - 1));
}

/* Points the session at URL `index` (a new HTTP client: its connection is to that host). */
static int use_url(sync_session *session, size_t index)
{
	cairn__http_client *http = NULL;
	const char *url = url_at(session, index);
	int rc;

	if (!url)
		return cairn__error_set(CAIRN_EIO, "stored fallback URL %zu is not a string: set "
			"the remote again", index);
	rc = cairn__http_client_new(&http, url, session->project, session->api_key,
		session->options.timeout_ms);
	if (rc == 0)
		rc = cairn__http_client_set_ca_file(http, session->ca_file);
	if (rc == 0) /* a signed-in user's X-Appwrite-Session (session.c) */
		rc = cairn__store_auth_headers(session->store, http);
	if (rc != 0) {
		cairn__http_client_free(http);
		return rc;
	}
	cairn__http_client_free(session->http);
	session->http = http;
	session->active = index;
	return 0;
}

/* An answer that says "this instance cannot serve you now", not "this request is wrong". */
static int instance_unavailable(int rc, long status)
{
	return rc == CAIRN_EOFFLINE || status == 502 || status == 503 || status == 504;
}

/*
 * One request, failing over: when the instance in use cannot be reached or answers
 * 502/503/504, the same request goes to the next URL in turn (each tried once), and the
 * session stays on the one that answered. Retrying is safe: pushes are idempotent by
 * mutation id and a checkpoint is valid on every instance sharing the database.
 */
static int send_with_failover(cairn__http_response *response, sync_session *session,
	const char *method, const char *path, const char *body, size_t length)
{
	size_t tried;
	int rc = 0;

	for (tried = 0; tried < session->url_count; tried++) {
		if (tried > 0) {
			rc = use_url(session, (session->active + 1) % session->url_count);
			if (rc != 0)
				return rc;
		}
		rc = cairn__http_request(response, session->http, method, path, body, length);
		if (!instance_unavailable(rc, rc == 0 ? response->status : 0))
			return rc;
		if (tried + 1 < session->url_count && rc == 0)
			cairn__http_client_response_clear(response);
	}
	return rc;
}

/* Sends a request; *reply is the parsed body when the status is 2xx (may be NULL for an
 * empty body). Other statuses are returned in *status with *reply NULL. */
static int request(json_object **reply, long *status, sync_session *session,
	const char *method, const char *path, const char *body, size_t length,
	cairn__http_response *keep)
{
	cairn__http_response response;
	int rc;

	*reply = NULL;
	*status = 0;
	rc = send_with_failover(&response, session, method, path, body, length);
	if (rc != 0)
		return rc;
	*status = response.status;
	if (response.status >= 200 && response.status < 300 && response.length > 0) {
		*reply = cairn__json_parse(response.body, response.length, REPLY_MAX_DEPTH);
		if (!*reply) {
			rc = cairn__error_set(CAIRN_ESERVER, "the server answered %s %s with malformed "
				"JSON: %s", method, path, cairn_error_last());
			goto cleanup;
		}
	}
cleanup:
	if (keep)
		*keep = response;
	else
		cairn__http_client_response_clear(&response);
	return rc;
}

/* ---- ensuring the database and collections ---- */

static int ensure(sync_session *session, const char *get_path, const char *create_path,
	const char *create_body, const char *what)
{
	cairn__http_response response = { 0 };
	json_object *reply = NULL;
	long status = 0;
	int rc;

	rc = request(&reply, &status, session, "GET", get_path, NULL, 0, &response);
	if (rc != 0 || status == 200)
		goto cleanup;
	if (status != 404) {
		rc = unexpected(&response, what);
		goto cleanup;
	}
	cairn__http_client_response_clear(&response);
	json_object_put(reply);
	rc = request(&reply, &status, session, "POST", create_path, create_body,
		strlen(create_body), &response);
	/* 409: someone else created it meanwhile, which is just as good. */
	if (rc == 0 && status != 201 && status != 200 && status != 409)
		rc = unexpected(&response, what);
cleanup:
	json_object_put(reply);
	cairn__http_client_response_clear(&response);
	return rc;
}

static int ensure_database(sync_session *session)
{
	char get_path[128];
	char body[160];
	char what[128];

	snprintf(get_path, sizeof(get_path), "/databases/%s", session->database);
	snprintf(body, sizeof(body), "{\"databaseId\":\"%s\",\"name\":\"%s\"}", session->database,
		session->database);
	snprintf(what, sizeof(what), "creating database '%s'", session->database);
	return ensure(session, get_path, "/databases", body, what);
}

static int ensure_collections(sync_session *session)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = sqlite3_prepare_v2(session->store->db, "SELECT DISTINCT collection FROM outbox "
		"WHERE state = 'pending'", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return cairn__store_error(session->store, rc, "reading the outbox");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *collection = (const char *)sqlite3_column_text(stmt, 0);
		char get_path[160];
		char create_path[128];
		char body[256];
		char what[128];

		snprintf(get_path, sizeof(get_path), "/databases/%s/collections/%s",
			session->database, collection);
		snprintf(create_path, sizeof(create_path), "/databases/%s/collections",
			session->database);
		snprintf(body, sizeof(body), "{\"collectionId\":\"%s\",\"name\":\"%s\","
			"\"permissions\":[],\"documentSecurity\":false}", collection, collection);
		snprintf(what, sizeof(what), "creating collection '%s'", collection);
		rc = ensure(session, get_path, create_path, body, what);
		if (rc != 0)
			goto cleanup;
	}
	rc = rc == SQLITE_DONE ? 0 : cairn__store_error(session->store, rc, "reading the outbox");
cleanup:
	sqlite3_finalize(stmt);
	return rc;
}

/* ---- push ---- */

static int report(sync_session *session, cairn_sync_phase phase, uint64_t done, uint64_t total,
	int64_t started_ms)
{
	cairn_sync_progress progress;
	int stop;

	if (!session->options.progress)
		return 0;
	progress.phase = phase;
	progress.done = done;
	progress.total = total > done || phase == CAIRN_SYNC_PHASE_PULL ? total : done;
	progress.elapsed_s = (double)(cairn__time_monotonic_ms() - started_ms) / 1000.0;
	stop = session->options.progress(&progress, session->options.payload);
	if (stop != 0)
		return cairn__error_set(CAIRN_EUSER, "the progress callback stopped the sync (%d); "
			"what was committed stays committed", stop);
	return 0;
}

/* Sends one batch and applies its reply. A request the server refuses as a whole (400, 413)
 * is retried one mutation at a time; a single mutation refused that way is parked as
 * rejected so it cannot block the outbox forever. */
/* The next push batch, already on its way on a helper thread (pull_prefetch.c). */
typedef struct {
	cairn__mutation *mutations;
	size_t count;
	cairn__prefetch *sending;   /* its request; session->http is the helper's until joined */
	/* The batch after it, loaded and printed while the server works on the one sent, to be
	 * sent the moment that one's reply says every mutation was applied. */
	cairn__mutation *prepared;
	size_t prepared_count;
	char *prepared_body;
	size_t prepared_length;
} push_ahead;

static void push_prepared_clear(push_ahead *ahead)
{
	cairn__mutations_free(ahead->prepared, ahead->prepared_count);
	free(ahead->prepared_body);
	ahead->prepared = NULL;
	ahead->prepared_count = 0;
	ahead->prepared_body = NULL;
	ahead->prepared_length = 0;
}

/* Forgets the batch in flight (joined, its reply dropped), keeping a prepared one. */
static void push_sent_clear(push_ahead *ahead)
{
	json_object_put(cairn__prefetch_finish(ahead->sending));
	cairn__mutations_free(ahead->mutations, ahead->count);
	ahead->sending = NULL;
	ahead->mutations = NULL;
	ahead->count = 0;
}

static void push_ahead_clear(push_ahead *ahead)
{
	push_sent_clear(ahead);
	push_prepared_clear(ahead);
}

/* Loads and prints the batch after `sent` (which `before` unapplied rows precede). */
static void push_prepare(push_ahead *ahead, sync_session *session, const cairn__mutation *sent,
	size_t sent_count, size_t before, size_t batch_size)
{
	push_prepared_clear(ahead);
	if (sent_count < batch_size || cairn__outbox_load_after(&ahead->prepared,
		&ahead->prepared_count, session->store, sent, sent_count, before, batch_size) != 0 ||
		ahead->prepared_count == 0 || cairn__push_body(&ahead->prepared_body,
		&ahead->prepared_length, session->store, ahead->prepared, ahead->prepared_count,
		session->push_text) != 0)
		push_prepared_clear(ahead);
}

/* 1 when every one of the `count` results in `reply` is "applied". */
static int all_applied(json_object *reply, size_t count)
{
	json_object *results = NULL;
	const char *status = NULL;

	if (!json_object_object_get_ex(reply, "results", &results) ||
		!json_object_is_type(results, json_type_array) ||
		json_object_array_length(results) != count)
		return 0;
	for (size_t i = 0; i < count; i++) {
		if (!cairn__json_get_string(json_object_array_get_idx(results, i), "status",
			&status) || strcmp(status, "applied") != 0)
			return 0;
	}
	return 1;
}

/*
 * While this thread applies a full batch's reply whose every result is "applied", the next
 * batch is already sent, so the server's work overlaps the client's. The server sees what a
 * larger batch would have shown it: a follower of a mutation of this batch still names it
 * as prevMutationId, and the server accepts that chain. Anything else (a conflict or a
 * rejection to settle first, the outbox changed by another handle, a failed send) leaves
 * the next batch to the ordinary round.
 */
static void push_send_next(push_ahead *ahead, sync_session *session, const char *path,
	const cairn__mutation *current, size_t count, size_t batch_size, int every_applied)
{
	if (count < batch_size || !every_applied) {
		push_prepared_clear(ahead);
		return;
	}
	/* The next batch was prepared while the server worked on `current`; else now. */
	if (!ahead->prepared)
		push_prepare(ahead, session, current, count, 0, batch_size);
	if (!ahead->prepared)
		return;
	ahead->mutations = ahead->prepared;
	ahead->count = ahead->prepared_count;
	ahead->sending = cairn__prefetch_start(session->http, path, ahead->prepared_body,
		REPLY_MAX_DEPTH);
	free(ahead->prepared_body);
	ahead->prepared = NULL;
	ahead->prepared_count = 0;
	ahead->prepared_body = NULL;
	if (!ahead->sending) {
		push_sent_clear(ahead);
		return;
	}
	/* While the server works on it: the batch after it, behind `current` (not applied
	 * yet) and the one just sent. */
	push_prepare(ahead, session, ahead->mutations, ahead->count, count, batch_size);
}

/*
 * The reply to a batch sent ahead: read as slim acknowledgements when it is only those, for a
 * batch of puts whose ids it names in order (cairn__push_reply_read: no json-c tree for the
 * commonest reply), else parsed as before. Neither (no 200 reply, or not JSON): both NULL,
 * and the batch is sent again the ordinary way.
 */
static int pushed_ahead_reply(json_object **reply, cairn__push_ack **acks, size_t *ack_count,
	int *data_as_text, cairn__prefetch *sending, const cairn__mutation *mutations,
	size_t count)
{
	size_t length = 0;
	char *text = cairn__prefetch_finish_body(sending, &length);
	int rc = 0;

	*reply = NULL;
	*acks = NULL;
	*ack_count = 0;
	if (!text)
		return 0;
	rc = cairn__push_reply_read(acks, ack_count, data_as_text, text, length);
	if (rc == 1 && *ack_count == count) {
		for (size_t i = 0; i < count && rc == 1; i++)
			rc = strcmp(mutations[i].op, "put") == 0 &&
				strcmp((*acks)[i].mutation_id, mutations[i].mutation_id) == 0;
	}
	if (rc == 1 && *ack_count == count) {
		free(text);
		return 0;
	}
	free(*acks);
	*acks = NULL;
	*ack_count = 0;
	if (rc < 0) {
		free(text);
		return rc;
	}
	*reply = cairn__json_parse(text, length, REPLY_MAX_DEPTH);
	free(text);
	return 0;
}

static int push_batch(cairn__push_tally *tally, size_t *batch_size, sync_session *session,
	const char *path, size_t configured_batch, push_ahead *ahead)
{
	cairn__mutation *mutations = NULL;
	cairn__http_response response = { 0 };
	json_object *reply = NULL;
	cairn__push_ack *acks = NULL;   /* the reply, when cairn__push_reply_read took it */
	size_t ack_count = 0;
	int data_as_text = 0;
	char *body = NULL;
	size_t length = 0;
	size_t count = 0;
	long status = 0;
	int rc = 0;

	memset(tally, 0, sizeof(*tally));
	if (ahead->count > 0) {
		/* Sent while the last reply was applied; NULL reply: send it the ordinary way. */
		mutations = ahead->mutations;
		count = ahead->count;
		rc = pushed_ahead_reply(&reply, &acks, &ack_count, &data_as_text, ahead->sending,
			mutations, count);
		ahead->sending = NULL;
		ahead->mutations = NULL;
		ahead->count = 0;
		if (rc != 0)
			goto cleanup;
		status = reply || acks ? 200 : 0;
	} else {
		rc = cairn__outbox_load_batch(&mutations, &count, session->store, *batch_size);
		if (rc != 0 || count == 0)
			goto cleanup;
	}
	if (!reply && !acks) {
		rc = cairn__push_body(&body, &length, session->store, mutations, count,
			session->push_text);
		if (rc != 0)
			goto cleanup;
		rc = request(&reply, &status, session, "POST", path, body, length, &response);
		if (rc != 0)
			goto cleanup;
	}
	/* The text form goes only to a server that said it takes it (an older one would
	 * reject every string `data`): bodies printed from now on use it. */
	if (status == 200 && reply)
		cairn__json_get_bool(reply, "dataAsText", &data_as_text);
	if (status == 200 && data_as_text)
		session->push_text = 1;
	if (status == 200 && acks) {
		/* Every result "applied" (cairn__push_reply_read). */
		push_send_next(ahead, session, path, mutations, count, *batch_size, 1);
		rc = cairn__push_apply_acks(tally, session->store, mutations, count, acks);
		if (rc == 0 && *batch_size == 1 && configured_batch > 1)
			*batch_size = configured_batch;
	} else if (status == 200) {
		if (reply)
			push_send_next(ahead, session, path, mutations, count, *batch_size,
				all_applied(reply, count));
		rc = reply ? cairn__push_apply(tally, session->store, mutations, count, reply) :
			cairn__error_set(CAIRN_ESERVER, "the server answered a push with an empty body");
		if (rc == 0 && *batch_size == 1 && configured_batch > 1)
			*batch_size = configured_batch;
	} else if ((status == 400 || status == 413) && count > 1) {
		*batch_size = 1;
		tally->requeued = count; /* nothing settled; the next round sends singles */
	} else if (status == 400 || status == 413) {
		char message[300];
		char text[400];

		snprintf(text, sizeof(text), "the server refused the request carrying this change "
			"(HTTP %ld): %s", status, cairn__http_error_message(&response, message,
			sizeof(message)));
		rc = cairn__push_reject(session->store, &mutations[0], text);
		if (rc == 0)
			tally->rejected = 1;
		*batch_size = configured_batch;
	} else {
		rc = unexpected(&response, "pushing changes");
	}
cleanup:
	json_object_put(reply);
	free(acks);
	cairn__http_client_response_clear(&response);
	free(body);
	cairn__mutations_free(mutations, count);
	if (rc == 0 && count == 0)
		return 1; /* nothing left to push */
	return rc;
}

static int push(sync_session *session)
{
	cairn_sync_result *result = &session->result;
	size_t configured = session->options.push_batch;
	size_t batch_size;
	uint64_t total = 0;
	uint64_t done = 0;
	uint64_t batches = 0;
	uint64_t max_batches;
	int64_t started = cairn__time_monotonic_ms();
	push_ahead ahead = { 0 };
	int stalled = 0;
	char path[128];
	int rc;

	if (configured == 0)
		configured = 500;
	if (configured > PUSH_MAX_BATCH)
		configured = PUSH_MAX_BATCH;
	batch_size = configured;
	rc = cairn__store_count_outbox(&total, session->store, "pending");
	if (rc != 0 || total == 0)
		return rc;
	/* Writers on other handles may keep adding to the outbox while we push: stop after
	 * about what was there at the start (plus room for conflict retries); the rest goes
	 * next time. */
	max_batches = (total + configured - 1) / configured + 2 * PUSH_MAX_STALLED_ROUNDS + total;
	snprintf(path, sizeof(path), "/sync/databases/%s/push", session->database);
	while (batches++ < max_batches) {
		cairn__push_tally tally;
		uint64_t settled;

		rc = push_batch(&tally, &batch_size, session, path, configured, &ahead);
		if (rc == 1) {
			rc = 0;
			break;
		}
		if (rc != 0)
			break;
		settled = tally.applied + tally.rejected + tally.dropped;
		result->pushed += tally.applied;
		result->conflicts += tally.conflicts;
		result->rejected += tally.rejected;
		done += settled;
		rc = report(session, CAIRN_SYNC_PHASE_PUSH, done, total, started);
		if (rc != 0)
			break;
		stalled = settled ? 0 : stalled + 1;
		if (stalled >= PUSH_MAX_STALLED_ROUNDS) {
			rc = cairn__error_set(CAIRN_ECONFLICT, "some changes still conflicted after "
				"%d push rounds (another writer keeps changing the same documents); they "
				"stay in the outbox for the next sync", PUSH_MAX_STALLED_ROUNDS);
			break;
		}
	}
	/* A batch sent ahead and not applied stays pending: the next push resends it and the
	 * server answers with the outcomes it stored. */
	push_ahead_clear(&ahead);
	return rc;
}

/* ---- pull ---- */

/* One pull request: the parsed 200 reply (cairn__pull_fetch_fn, also used by a resync). */
static int pull_fetch(json_object **reply, void *payload, const char *body, size_t length)
{
	sync_session *session = payload;
	cairn__http_response response = { 0 };
	long status = 0;
	char path[128];
	int rc;

	snprintf(path, sizeof(path), "/sync/databases/%s/pull", session->database);
	rc = request(reply, &status, session, "POST", path, body, length, &response);
	if (rc == 0 && status != 200)
		rc = unexpected(&response, "pulling changes");
	else if (rc == 0 && !*reply)
		rc = cairn__error_set(CAIRN_ESERVER, "the server answered a pull with an empty "
			"body");
	if (rc != 0) {
		json_object_put(*reply);
		*reply = NULL;
	}
	cairn__http_client_response_clear(&response);
	return rc;
}

/* When `reply` says more changes follow, starts fetching the next page on a helper thread
 * (pull_prefetch.c) while this thread applies `reply`; *out NULL when none was started. */
static int prefetch_next(cairn__prefetch **out, sync_session *session, json_object *reply,
	int64_t checkpoint, size_t limit, size_t max_bytes, json_object **spent)
{
	char *body = NULL;
	char path[128];
	int64_t next = 0;
	int more = 0;
	int rc;

	*out = NULL;
	cairn__json_get_bool(reply, "more", &more);
	/* A malformed page is reported by the apply; nothing is fetched after it. */
	if (!more || !cairn__json_get_int64(reply, "checkpoint", &next) || next <= checkpoint)
		return 0;
	rc = cairn__scope_pull_body(&body, session->store, next, limit, max_bytes, NULL);
	if (rc != 0)
		return rc;
	snprintf(path, sizeof(path), "/sync/databases/%s/pull", session->database);
	*out = cairn__prefetch_start_page(session->http, path, body, REPLY_MAX_DEPTH, spent);
	free(body);
	return 0;
}

static int pull(sync_session *session)
{
	cairn__prefetch *prefetch = NULL; /* the next page, on its way */
	json_object *ahead = NULL;        /* the next page, fetched while this one was applied */
	json_object *spent = NULL;        /* an applied page, for the next helper to free */
	int64_t checkpoint = 0;
	int64_t start_checkpoint;
	int64_t started = cairn__time_monotonic_ms();
	size_t limit = session->options.pull_limit;
	size_t max_bytes = session->options.pull_max_bytes;
	uint64_t done = 0;
	uint64_t resynced = 0;
	cairn__scope_tracker tracker = { 0 };
	int rc;

	if (limit == 0)
		limit = 1000;
	if (limit > PULL_MAX_LIMIT)
		limit = PULL_MAX_LIMIT;
	if (max_bytes == 0)
		max_bytes = 4194304;
	rc = cairn__meta_get_int64(session->store, "checkpoint", &checkpoint);
	if (rc < 0)
		return rc;
	start_checkpoint = checkpoint;
	for (;;) {
		json_object *reply = NULL;
		char *body = NULL;
		uint64_t applied = 0;
		int64_t next = 0;
		int more = 0;

		if (ahead) {
			reply = ahead;
			ahead = NULL;
		} else {
			/* The body carries the store's sync scopes (sync_scope.c). */
			rc = cairn__scope_pull_body(&body, session->store, checkpoint, limit, max_bytes,
				NULL);
			if (rc == 0)
				rc = pull_fetch(&reply, session, body, strlen(body));
			free(body);
		}
		if (rc == 0)
			rc = prefetch_next(&prefetch, session, reply, checkpoint, limit, max_bytes,
				&spent);
		if (rc == 0)
			rc = cairn__pull_apply(&applied, &more, &next, session->store, reply);
		if (rc == 0)
			rc = cairn__scope_track(&tracker, reply);
		json_object_put(spent); /* no helper took it */
		spent = reply;
		/* NULL when it failed: the next turn fetches that page again, reporting why. */
		ahead = cairn__prefetch_finish(prefetch);
		prefetch = NULL;
		if (rc != 0)
			goto cleanup;
		session->result.pulled += applied;
		done += applied;
		rc = report(session, CAIRN_SYNC_PHASE_PULL, done, 0, started);
		if (rc != 0)
			goto cleanup;
		if (more && next <= checkpoint) {
			rc = cairn__error_set(CAIRN_ESERVER, "the server said more changes follow "
				"checkpoint %lld but sent none", (long long)checkpoint);
			goto cleanup;
		}
		checkpoint = next;
		if (!more)
			break;
	}
	/* Caught up: collections whose readable set changed without a document changing (a
	 * scope, permissions, another user) are pulled again and swept. */
	rc = cairn__scope_reconcile(&resynced, session->store, &tracker, start_checkpoint, limit,
		max_bytes, pull_fetch, session);
	session->result.pulled += resynced;
cleanup:
	json_object_put(ahead);
	json_object_put(spent);
	cairn__scope_tracker_clear(&tracker);
	return rc;
}

/* ---- the round ---- */

/* The fallback URLs and the one that worked last (remote_active_url). */
static int load_fallbacks(sync_session *session)
{
	char *text = NULL;
	int64_t active = 0;
	int rc;

	session->url_count = 1;
	rc = cairn__meta_get_text(session->store, "remote_fallback_urls", &text);
	if (rc < 0)
		return rc;
	if (rc == 1 && text[0]) {
		session->fallback_urls = cairn__json_parse(text, strlen(text), 4);
		if (!json_object_is_type(session->fallback_urls, json_type_array)) {
			free(text);
			return cairn__error_set(CAIRN_EIO, "the stored fallback URLs are not a "
				"JSON array: set the remote again");
		}
		session->url_count += json_object_array_length(session->fallback_urls);
	}
	free(text);
	if (cairn__meta_get_int64(session->store, "remote_active_url", &active) < 0)
		active = 0;
	session->active = active > 0 && (size_t)active < session->url_count ? (size_t)active : 0;
	return 0;
}

static int load_remote(sync_session *session)
{
	int rc;

	rc = cairn__meta_get_text(session->store, "remote_url", &session->url);
	if (rc < 0)
		return rc;
	if (rc == 0 || !session->url[0])
		return cairn__error_set(CAIRN_ENOREMOTE, "no remote is configured: call "
			"cairn_store_set_remote() first");
	if ((rc = cairn__meta_get_text(session->store, "remote_project", &session->project)) < 0)
		return rc;
	if ((rc = cairn__meta_get_text(session->store, "remote_api_key", &session->api_key)) < 0)
		return rc;
	if ((rc = cairn__meta_get_text(session->store, "remote_database", &session->database)) < 0)
		return rc;
	if (rc == 0)
		return cairn__error_set(CAIRN_ENOREMOTE, "the remote has no database");
	if ((rc = cairn__meta_get_text(session->store, "remote_ca_file", &session->ca_file)) < 0)
		return rc;
	return load_fallbacks(session);
}

/* Records the outcome in meta; keeps the caller's error message intact. */
static void record_outcome(cairn_store *store, int code, int64_t active_url)
{
	char message[1024];

	snprintf(message, sizeof(message), "%s", code ? cairn_error_last() : "");
	if (cairn__store_begin(store) == 0) {
		int rc = cairn__meta_set_int64(store, "last_sync_ms", cairn__time_now_ms());
		if (rc == 0)
			rc = cairn__meta_set_int64(store, "last_sync_result", code);
		if (rc == 0)
			rc = cairn__meta_set_text(store, "last_sync_error", message);
		/* The next round starts on the instance that answered this one. */
		if (rc == 0)
			rc = cairn__meta_set_int64(store, "remote_active_url", active_url);
		if (rc == 0)
			rc = cairn__store_commit(store);
		if (rc != 0)
			cairn__store_rollback(store);
	}
	if (code)
		cairn__error_set(code, "%s", message);
}

int cairn_sync_once(cairn_sync_result *out, cairn_store *store, const cairn_sync_options *opts)
{
	cairn_sync_options defaults = CAIRN_SYNC_OPTIONS_INIT;
	sync_session session;
	int push_rc = 0;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	if ((rc = cairn__batch_refuse(store, "cairn_sync_once")) != 0)
		return rc;
	if (opts && opts->version != CAIRN_SYNC_OPTIONS_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "unsupported sync options version %u (this "
			"library knows %d)", opts->version, CAIRN_SYNC_OPTIONS_VERSION);
	memset(&session, 0, sizeof(session));
	session.store = store;
	session.options = opts ? *opts : defaults;
	rc = load_remote(&session);
	if (rc != 0)
		goto cleanup;
	rc = use_url(&session, session.active);
	/* A REST-only remote (docs/rest-mode.md) has its own round: no /v1/sync/, no schema. */
	if (rc == 0 && cairn__rest_mode(store)) {
		rc = cairn__rest_sync_round(&session.result, store, session.http, session.database,
			&session.options);
		goto outcome;
	}
	/* Creating the database and collections takes the API key; a user session alone
	 * syncs with what exists (a missing one comes back as a clear 404). */
	if (rc == 0 && session.api_key && session.api_key[0])
		rc = ensure_database(&session);
	if (rc == 0 && session.api_key && session.api_key[0])
		rc = ensure_collections(&session);
	if (rc == 0) {
		rc = push(&session);
		/* Changes that keep conflicting must not stop us from receiving everyone else's. */
		if (rc == CAIRN_ECONFLICT) {
			push_rc = rc;
			rc = 0;
		}
	}
	if (rc == 0) {
		char message[1024];

		snprintf(message, sizeof(message), "%s", cairn_error_last());
		rc = pull(&session);
		if (rc == 0 && push_rc) {
			rc = push_rc;
			cairn__error_set(rc, "%s", message);
		}
	}
outcome:
	if (cairn__meta_get_int64(store, "checkpoint", &session.result.checkpoint) < 0)
		session.result.checkpoint = 0;
	record_outcome(store, rc, (int64_t)session.active);
cleanup:
	if (out)
		*out = session.result;
	cairn__http_client_free(session.http);
	free(session.url);
	json_object_put(session.fallback_urls);
	free(session.project);
	free(session.api_key);
	free(session.database);
	free(session.ca_file);
	return rc;
}
