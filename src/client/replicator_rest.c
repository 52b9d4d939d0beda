/* replicator_rest.c: one sync round against a server that speaks only Appwrite's REST
 * documents API (remote mode CAIRN_REMOTE_APPWRITE_REST): its HTTP helpers, the push of the
 * outbox document by document with X-Appwrite-Timestamp preconditions, and the round; the
 * pull is in replicator_rest_pull.c (docs/rest-mode.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/replicator_rest_int.h"
#include "client/store_int.h"
#include "util/error.h"
#include "util/hlc.h"
#include "util/json.h"
#include "util/time.h"

#define REST_INCREMENT_ATTEMPTS 8     /* read-modify-write retries of one increment on 409 */
#define REST_MAX_STALLED 10           /* mutations in a row that settle nothing: stop pushing */
#define REPLY_MAX_DEPTH (CAIRN_JSON_MAX_DEPTH + 8) /* documents sit a few levels down */

/* ---- HTTP ---- */

int cairn__rest_call(json_object **reply, long *status, cairn__rest_session *s,
	const char *method, const char *path, const char *header, const char *body)
{
	cairn__http_response response;
	int rc;

	*reply = NULL;
	*status = 0;
	rc = cairn__http_request_with_header(&response, s->http, method, path, header, body,
		body ? strlen(body) : 0);
	if (rc != 0)
		return rc;
	*status = response.status;
	if (response.length > 0) {
		*reply = cairn__json_parse(response.body, response.length, REPLY_MAX_DEPTH);
		if (!*reply && response.status >= 200 && response.status < 300)
			rc = cairn__error_set(CAIRN_ESERVER, "the server answered %s %s with malformed "
				"JSON: %s", method, path, cairn_error_last());
	}
	cairn__http_client_response_clear(&response);
	return rc;
}

const char *cairn__rest_reply_string(json_object *reply, const char *key, const char *fallback)
{
	const char *text = NULL;

	if (reply && cairn__json_get_string(reply, key, &text))
		return text;
	return fallback;
}

/* The mutation at hand stays pending whatever this returns. */
int cairn__rest_round_stopper(long status, json_object *reply, const char *what)
{
	const char *type = cairn__rest_reply_string(reply, "type", "");
	const char *message = cairn__rest_reply_string(reply, "message", "no message");

	if (status == 401 || status == 403)
		return cairn__error_set(CAIRN_EAUTH, "the server refused the credentials while %s "
			"(HTTP %ld): %s", what, status, message);
	if (status == 404 && (strcmp(type, "collection_not_found") == 0 ||
		strcmp(type, "database_not_found") == 0 || strcmp(type, "general_route_not_found") == 0))
		return cairn__error_set(CAIRN_ENOTFOUND, "%s: %s (%s); in REST mode the database and "
			"its collections must exist on the server", what, message, type);
	if (status == 408 || status == 429 || status >= 500 || status < 200)
		return cairn__error_set(CAIRN_ESERVER, "the server failed while %s (HTTP %ld): %s",
			what, status, message);
	return 0;
}

/* ---- documents as sync-protocol values ---- */

int cairn__rest_document_version(int64_t *out, json_object *document)
{
	const char *text = NULL;

	if (!json_object_is_type(document, json_type_object) ||
		!cairn__json_get_string(document, "$updatedAt", &text) ||
		cairn__time_parse(text, out) != 0 || *out <= 0)
		return cairn__error_set(CAIRN_ESERVER, "the server sent a document without a valid "
			"$updatedAt");
	return 0;
}

/* {"results": [result]}: the one-mutation push reply that cairn__push_apply takes. */
static int apply_result(cairn__push_tally *tally, cairn__rest_session *s,
	const cairn__mutation *m, json_object *result)
{
	json_object *reply = json_object_new_object();
	json_object *results = json_object_new_array();
	int rc;

	if (!reply || !results || !result) {
		json_object_put(reply);
		json_object_put(results);
		json_object_put(result);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory applying a push result");
	}
	json_object_object_add(result, "mutationId", json_object_new_string(m->mutation_id));
	json_object_array_add(results, result);
	json_object_object_add(reply, "results", results);
	rc = cairn__push_apply(tally, s->store, m, 1, reply);
	json_object_put(reply);
	return rc;
}

static int applied(cairn__push_tally *tally, cairn__rest_session *s, const cairn__mutation *m,
	json_object *document, int64_t version)
{
	json_object *result = json_object_new_object();

	if (result) {
		json_object_object_add(result, "status", json_object_new_string("applied"));
		json_object_object_add(result, "version", json_object_new_int64(version));
		if (document)
			json_object_object_add(result, "document", json_object_get(document));
	}
	return apply_result(tally, s, m, result);
}

/* A conflict with the server's current `document` (NULL: it does not exist). The server
 * copy's version is its $updatedAt and its clock that time with logical 0, so lww compares
 * the local edit's time with the server's last write time; a missing document has version 0
 * (the store forgets its copy) and clock 0. */
static int conflicted(cairn__push_tally *tally, cairn__rest_session *s,
	const cairn__mutation *m, json_object *document)
{
	json_object *result = json_object_new_object();
	json_object *current = json_object_new_object();
	int64_t version = 0;
	int rc;

	if (document && (rc = cairn__rest_document_version(&version, document)) != 0) {
		json_object_put(result);
		json_object_put(current);
		return rc;
	}
	if (result && current) {
		json_object_object_add(current, "version", json_object_new_int64(version));
		json_object_object_add(current, "hlc", json_object_new_int64(version ?
			cairn__hlc_from_ms(version) : 0));
		json_object_object_add(current, "author", json_object_new_string(""));
		json_object_object_add(current, "deleted", json_object_new_boolean(!document));
		if (document)
			json_object_object_add(current, "document", json_object_get(document));
		json_object_object_add(result, "status", json_object_new_string("conflict"));
		json_object_object_add(result, "current", current);
		current = NULL;
	}
	json_object_put(current);
	return apply_result(tally, s, m, result);
}

static int rejected(cairn__push_tally *tally, cairn__rest_session *s, const cairn__mutation *m,
	long status, json_object *reply, const char *fallback)
{
	char text[512];
	int rc;

	if (reply && cairn__rest_reply_string(reply, "message", NULL))
		snprintf(text, sizeof(text), "%s (%s, HTTP %ld)",
			cairn__rest_reply_string(reply, "message", ""),
			cairn__rest_reply_string(reply, "type", "no type"), status);
	else
		snprintf(text, sizeof(text), "%s (HTTP %ld)", fallback, status);
	rc = cairn__push_reject(s->store, m, text);
	if (rc == 0)
		tally->rejected = 1;
	return rc;
}

/* ---- push ---- */

void cairn__rest_document_path(char *out, size_t size, const cairn__rest_session *s,
	const char *collection, const char *id)
{
	if (id)
		snprintf(out, size, "/databases/%s/collections/%s/documents/%s", s->database,
			collection, id);
	else
		snprintf(out, size, "/databases/%s/collections/%s/documents", s->database, collection);
}

/* GET the server's current copy: 0 with *document (NULL when it does not exist), or a
 * code that stops the round. */
static int fetch_current(json_object **document, cairn__rest_session *s,
	const cairn__mutation *m)
{
	char path[256];
	long status = 0;
	int rc;

	*document = NULL;
	cairn__rest_document_path(path, sizeof(path), s, m->collection, m->doc_id);
	rc = cairn__rest_call(document, &status, s, "GET", path, NULL, NULL);
	if (rc != 0)
		return rc;
	if (status == 200 && *document)
		return 0;
	if (status == 404 && strcmp(cairn__rest_reply_string(*document, "type", ""),
		"document_not_found") == 0) {
		json_object_put(*document);
		*document = NULL;
		return 0;
	}
	rc = cairn__rest_round_stopper(status, *document, "reading a document after a conflict");
	json_object_put(*document);
	*document = NULL;
	return rc ? rc : cairn__error_set(CAIRN_ESERVER, "the server answered HTTP %ld to reading "
		"a document", status);
}

/* 1 when the server document holds exactly `fields` (keys the server added with null, as
 * Appwrite does for attributes never set, are ignored). */
static int holds_fields(json_object *document, json_object *fields)
{
	json_object_object_foreach(document, key, value) {
		json_object *mine = NULL;

		if (key[0] == '$')
			continue;
		if (!json_object_object_get_ex(fields, key, &mine)) {
			if (value)
				return 0;
			continue;
		}
		if (!cairn__json_equal(value, mine))
			return 0;
	}
	json_object_object_foreach(fields, field, given) {
		(void)given;
		if (!json_object_object_get_ex(document, field, NULL))
			return 0;
	}
	return 1;
}

/* 1 when every field of `fields` has that value in the server document. */
static int contains_fields(json_object *document, json_object *fields)
{
	json_object_object_foreach(fields, field, value) {
		json_object *theirs = NULL;

		if (!json_object_object_get_ex(document, field, &theirs) ||
			!cairn__json_equal(theirs, value))
			return 0;
	}
	return 1;
}

/*
 * The `data` of a put. With no live server copy (never synced, or our delete of it was the
 * last thing we saw) a put is a create (*create 1). Otherwise it is an update that replaces
 * the document: the put's fields plus null for every other user field of the server copy,
 * except counters (a put keeps them). PATCH, not PUT: PUT is an upsert, and would bring back
 * a document deleted on the server instead of reporting the conflict.
 */
static int put_fields(json_object **out, int *create, cairn__rest_session *s,
	const cairn__mutation *m, json_object *fields)
{
	cairn__view server = { 0 };
	json_object *counters = NULL;
	cairn__strategy strategy;
	int rc;

	*out = json_object_get(fields);
	*create = 1;
	rc = cairn__policy_load(&strategy, &counters, s->store, m->collection);
	if (rc == 0 && m->base_version > 0)
		rc = cairn__view_load_server(&server, NULL, s->store, m->collection, m->doc_id);
	if (rc == 0 && server.exists && server.data) {
		*create = 0;
		json_object_object_foreach(server.data, key, value) {
			(void)value;
			if (json_object_object_get_ex(fields, key, NULL) || cairn__is_counter(counters, key))
				continue;
			json_object_object_add(fields, key, NULL);
		}
	}
	cairn__view_clear(&server);
	json_object_put(counters);
	if (rc != 0) {
		json_object_put(*out);
		*out = NULL;
	}
	return rc;
}

/* The request body: {"documentId"?, "data"?, "permissions"?}. */
static int write_body(char **out, const cairn__mutation *m, json_object *fields, int create)
{
	json_object *body = json_object_new_object();
	json_object *permissions = NULL;

	*out = NULL;
	if (!body)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory building a request");
	if (create)
		json_object_object_add(body, "documentId", json_object_new_string(m->doc_id));
	if (fields)
		json_object_object_add(body, "data", json_object_get(fields));
	if (m->permissions) {
		permissions = cairn__json_parse(m->permissions, strlen(m->permissions), 4);
		if (permissions)
			json_object_object_add(body, "permissions", permissions);
	}
	*out = cairn__json_dump(body);
	json_object_put(body);
	return *out ? 0 : cairn__error_set(CAIRN_ENOMEM, "out of memory building a request");
}

/* What a 409 or 404 to a put, patch or delete means, once the current copy is known. */
static int settle_refusal(cairn__push_tally *tally, cairn__rest_session *s,
	const cairn__mutation *m, long status, json_object *reply, json_object *fields, int create)
{
	json_object *current = NULL;
	int64_t version = 0;
	int rc;

	if (status == 404 && strcmp(cairn__rest_reply_string(reply, "type", ""),
		"document_not_found") != 0)
		return rejected(tally, s, m, status, reply, "the server refused this change");
	/* A patch of a document the server never had (base 0) cannot apply anywhere. */
	if (status == 404 && strcmp(m->op, "patch") == 0 && m->base_version == 0)
		return rejected(tally, s, m, status, reply, "the document does not exist");
	rc = fetch_current(&current, s, m);
	if (rc != 0)
		return rc;
	if (current)
		rc = cairn__rest_document_version(&version, current);
	if (rc != 0) {
		json_object_put(current);
		return rc;
	}
	/* A create whose reply was lost comes back as document_already_exists: it is ours when
	 * the server holds what we sent (docs/rest-mode.md: the residual risk). */
	if (create && current && holds_fields(current, fields))
		rc = applied(tally, s, m, current, version);
	else if (create && !current)
		rc = 0; /* deleted between our create and the read: try again next time */
	else if (!create && status == 409 && current && fields && (strcmp(m->op, "put") == 0 ?
		holds_fields(current, fields) : contains_fields(current, fields)))
		/* Our own write whose reply was lost (or the same values from elsewhere): the
		 * server already holds what this change asks for. */
		rc = applied(tally, s, m, current, version);
	else if (!create && status == 409 && current && version <= m->base_version)
		/* Nobody wrote since our base: the 409 is about the data (a unique index, say),
		 * not a concurrent change, and sending it again would meet it again. */
		rc = rejected(tally, s, m, status, reply, "the server refused this change");
	else
		rc = conflicted(tally, s, m, current);
	json_object_put(current);
	return rc;
}

static int push_write(cairn__push_tally *tally, cairn__rest_session *s,
	const cairn__mutation *m)
{
	json_object *fields = NULL;
	json_object *data = NULL;
	json_object *reply = NULL;
	char path[256];
	char header[96] = "";
	char *body = NULL;
	int is_delete = strcmp(m->op, "delete") == 0;
	int create = 0;
	const char *method;
	long status = 0;
	int rc = 0;

	if (!is_delete) {
		fields = cairn__json_parse_object(m->payload ? m->payload : "{}", (size_t)-1, 0);
		if (!fields)
			return cairn__error_set(CAIRN_EIO, "a stored outbox payload is not JSON: %s",
				cairn_error_last());
	}
	if (strcmp(m->op, "put") == 0)
		rc = put_fields(&data, &create, s, m, fields);
	else
		data = json_object_get(fields);
	method = is_delete ? "DELETE" : create ? "POST" : "PATCH";
	if (rc == 0 && m->base_version > 0 && !create) {
		char text[CAIRN_TIME_TEXT_SIZE];

		/* "Unmodified since" the copy this edit was made on: a newer write gives 409. */
		cairn__time_format(m->base_version, text);
		snprintf(header, sizeof(header), "X-Appwrite-Timestamp: %s", text);
	}
	if (rc == 0)
		rc = write_body(&body, m, data, create);
	cairn__rest_document_path(path, sizeof(path), s, m->collection, create ? NULL : m->doc_id);
	if (rc == 0)
		rc = cairn__rest_call(&reply, &status, s, method, path, header[0] ? header : NULL, body);
	if (rc != 0)
		goto cleanup;
	if (status >= 200 && status < 300) {
		int64_t version = m->base_version + 1; /* a delete's tombstone: just after the copy */

		if (!is_delete)
			rc = cairn__rest_document_version(&version, reply);
		if (rc == 0)
			rc = applied(tally, s, m, is_delete ? NULL : reply, version);
	} else if ((rc = cairn__rest_round_stopper(status, reply, "pushing a change")) != 0) {
		/* stays pending */
	} else if (status == 409 || status == 404) {
		rc = settle_refusal(tally, s, m, status, reply, fields, create);
	} else {
		rc = rejected(tally, s, m, status, reply, "the server refused this change");
	}
cleanup:
	json_object_put(reply);
	json_object_put(fields);
	json_object_put(data);
	free(body);
	return rc;
}

/* The new values of an increment's counters over the server copy `current`. NULL after
 * setting CAIRN_EINVALID when a field there is not a number. */
static json_object *incremented(json_object *current, json_object *deltas)
{
	json_object *data = json_object_new_object();

	if (!data) {
		cairn__error_set(CAIRN_ENOMEM, "out of memory building an increment");
		return NULL;
	}
	json_object_object_foreach(deltas, field, delta) {
		json_object *now = NULL;
		json_object *value;

		json_object_object_get_ex(current, field, &now);
		if (!now || json_object_is_type(now, json_type_null))
			value = json_object_new_int64(json_object_get_int64(delta));
		else if (json_object_is_type(now, json_type_int))
			value = json_object_new_int64(json_object_get_int64(now) +
				json_object_get_int64(delta));
		else if (json_object_is_type(now, json_type_double))
			value = json_object_new_double(json_object_get_double(now) +
				(double)json_object_get_int64(delta));
		else {
			json_object_put(data);
			cairn__error_set(CAIRN_EINVALID, "the server's '%s' is not a number", field);
			return NULL;
		}
		json_object_object_add(data, field, value);
	}
	return data;
}

/*
 * Plain REST has no exact counters: read the document, write value + delta with the read
 * $updatedAt as precondition, and on 409 (someone wrote in between) read again. Two writes
 * inside one millisecond still pass the check, and a lost reply to an applied write makes
 * the retry count the delta twice (docs/rest-mode.md).
 */
static int push_increment(cairn__push_tally *tally, cairn__rest_session *s,
	const cairn__mutation *m)
{
	json_object *deltas = cairn__json_parse_object(m->payload ? m->payload : "{}",
		(size_t)-1, 0);
	char path[256];
	int rc = 0;

	if (!deltas)
		return cairn__error_set(CAIRN_EIO, "a stored increment is not JSON: %s",
			cairn_error_last());
	cairn__rest_document_path(path, sizeof(path), s, m->collection, m->doc_id);
	for (int attempt = 0; attempt < REST_INCREMENT_ATTEMPTS; attempt++) {
		json_object *current = NULL;
		json_object *data = NULL;
		json_object *reply = NULL;
		char header[96];
		char *body = NULL;
		long status = 0;
		int64_t version = 0;
		const char *updated_at = NULL;

		rc = fetch_current(&current, s, m);
		if (rc == 0 && !current) {
			rc = rejected(tally, s, m, 404, NULL, "the document no longer exists on the "
				"server");
			break;
		}
		if (rc == 0 && !cairn__json_get_string(current, "$updatedAt", &updated_at))
			rc = cairn__error_set(CAIRN_ESERVER, "the server sent a document without "
				"$updatedAt");
		if (rc == 0 && !(data = incremented(current, deltas))) {
			rc = rejected(tally, s, m, 400, NULL, cairn_error_last());
			json_object_put(current);
			break;
		}
		if (rc == 0) {
			snprintf(header, sizeof(header), "X-Appwrite-Timestamp: %s", updated_at);
			rc = write_body(&body, m, data, 0);
		}
		if (rc == 0)
			rc = cairn__rest_call(&reply, &status, s, "PATCH", path, header, body);
		if (rc == 0 && status >= 200 && status < 300) {
			rc = cairn__rest_document_version(&version, reply);
			if (rc == 0)
				rc = applied(tally, s, m, reply, version);
			status = -1; /* done */
		} else if (rc == 0 && status != 409 && status != 404) {
			rc = cairn__rest_round_stopper(status, reply, "pushing an increment");
			if (rc == 0)
				rc = rejected(tally, s, m, status, reply, "the server refused this increment");
			status = -1;
		}
		json_object_put(current);
		json_object_put(data);
		json_object_put(reply);
		free(body);
		if (rc != 0 || status == -1)
			break;
	}
	json_object_put(deltas);
	return rc; /* attempts used up: it stays pending (not settled) */
}

int cairn__rest_report(cairn__rest_session *s, cairn_sync_phase phase, uint64_t done,
	uint64_t total, int64_t started_ms)
{
	cairn_sync_progress progress;
	int stop;

	if (!s->options->progress)
		return 0;
	progress.phase = phase;
	progress.done = done;
	progress.total = total > done || phase == CAIRN_SYNC_PHASE_PULL ? total : done;
	progress.elapsed_s = (double)(cairn__time_monotonic_ms() - started_ms) / 1000.0;
	stop = s->options->progress(&progress, s->options->payload);
	if (stop != 0)
		return cairn__error_set(CAIRN_EUSER, "the progress callback stopped the sync (%d); "
			"what was committed stays committed", stop);
	return 0;
}

/* 1 when `collection` is in `blocked` (an array of strings). */
static int is_blocked(json_object *blocked, const char *collection)
{
	for (size_t i = 0; i < json_object_array_length(blocked); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(blocked, i)),
			collection) == 0)
			return 1;
	return 0;
}

/* The oldest pending mutation outside the blocked collections, at index *at of *batch
 * (free with cairn__mutations_free(*batch, *count)); *at == *count when there is none. */
static int next_mutation(cairn__mutation **batch, size_t *count, size_t *at,
	cairn__rest_session *s, json_object *blocked, size_t *window)
{
	for (;;) {
		int rc = cairn__outbox_load_batch(batch, count, s->store, *window);

		if (rc != 0)
			return rc;
		for (*at = 0; *at < *count && is_blocked(blocked, (*batch)[*at].collection); (*at)++)
			;
		if (*at < *count || *count < *window)
			return 0;
		/* Every row loaded belongs to a blocked collection: look further. */
		cairn__mutations_free(*batch, *count);
		*batch = NULL;
		*count = 0;
		*window *= 2;
	}
}

/*
 * Pushes pending mutations one at a time, oldest first. Each is loaded fresh: applying one
 * rebases the later edits of its document onto the new server copy. A collection the server
 * does not have (CAIRN_ENOTFOUND) is skipped for the rest of the round, its changes left
 * pending, so the other collections still sync; *missing then holds that error.
 */
static int push(int *missing, cairn__rest_session *s)
{
	json_object *blocked = json_object_new_array();
	char message[1024] = "";
	uint64_t total = 0;
	uint64_t done = 0;
	uint64_t rounds = 0;
	int64_t started = cairn__time_monotonic_ms();
	size_t window = 1;
	int stalled = 0;
	int rc;

	*missing = 0;
	if (!blocked)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory pushing changes");
	rc = cairn__store_count_outbox(&total, s->store, "pending");
	while (rc == 0 && total > 0 && rounds++ < 2 * total + 2 * REST_MAX_STALLED) {
		cairn__mutation *batch = NULL;
		cairn__push_tally tally;
		size_t count = 0;
		size_t at = 0;
		uint64_t settled;

		memset(&tally, 0, sizeof(tally));
		rc = next_mutation(&batch, &count, &at, s, blocked, &window);
		if (rc == 0 && at == count) {
			cairn__mutations_free(batch, count);
			break;
		}
		if (rc == 0 && strcmp(batch[at].op, "increment") == 0)
			rc = push_increment(&tally, s, &batch[at]);
		else if (rc == 0)
			rc = push_write(&tally, s, &batch[at]);
		if (rc == CAIRN_ENOTFOUND) {
			snprintf(message, sizeof(message), "%s", cairn_error_last());
			*missing = 1;
			rc = json_object_array_add(blocked, json_object_new_string(batch[at].collection)) ?
				cairn__error_set(CAIRN_ENOMEM, "out of memory pushing changes") : 0;
			window++;
		}
		cairn__mutations_free(batch, count);
		if (rc != 0)
			break;
		settled = tally.applied + tally.rejected + tally.dropped;
		s->result->pushed += tally.applied;
		s->result->conflicts += tally.conflicts;
		s->result->rejected += tally.rejected;
		done += settled;
		rc = cairn__rest_report(s, CAIRN_SYNC_PHASE_PUSH, done, total, started);
		if (rc != 0)
			break;
		stalled = settled || *missing ? 0 : stalled + 1;
		if (stalled >= REST_MAX_STALLED)
			rc = cairn__error_set(CAIRN_ECONFLICT, "some changes still conflicted after %d "
				"attempts (another writer keeps changing the same documents); they stay in "
				"the outbox for the next sync", REST_MAX_STALLED);
	}
	json_object_put(blocked);
	if (rc == 0 && *missing)
		cairn__error_set(CAIRN_ENOTFOUND, "%s", message);
	return rc;
}

/* ---- the round ---- */

int cairn__rest_mode(cairn_store *store)
{
	int64_t mode = CAIRN_REMOTE_SYNC;

	return cairn__meta_get_int64(store, "remote_mode", &mode) == 1 &&
		mode == CAIRN_REMOTE_APPWRITE_REST;
}

int cairn__rest_sync_round(cairn_sync_result *result, cairn_store *store,
	cairn__http_client *http, const char *database, const cairn_sync_options *options)
{
	cairn__rest_session s;
	char message[1024];
	int missing = 0;
	int push_rc;
	int rc;

	memset(&s, 0, sizeof(s));
	s.store = store;
	s.http = http;
	s.database = database;
	s.options = options;
	s.result = result;
	rc = cairn__meta_get_int64(store, "checkpoint", &s.sync_checkpoint);
	if (rc < 0)
		return rc;
	push_rc = push(&missing, &s);
	if (push_rc == 0 && missing)
		push_rc = CAIRN_ENOTFOUND;
	/* Changes that keep conflicting, or whose collection is missing, must not stop us from
	 * receiving everyone else's. */
	if (push_rc != 0 && push_rc != CAIRN_ECONFLICT && push_rc != CAIRN_ENOTFOUND)
		return push_rc;
	snprintf(message, sizeof(message), "%s", cairn_error_last());
	rc = cairn__rest_pull(&s);
	if (rc == 0 && push_rc) {
		rc = push_rc;
		cairn__error_set(rc, "%s", message);
	}
	return rc;
}
