/* documents.c: the document calls of the public API: put, patch and delete (each one
 * transaction with its outbox entry), get, and local queries over the view. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"
#include "util/id.h"
#include "util/json.h"
#include "util/query.h"

static int check_target(cairn_store *store, const char *collection, const char *id)
{
	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	if (!cairn__id_valid(collection))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a valid collection id (1 to 36 "
			"characters of a-z A-Z 0-9 . - _, not starting with . - or _)",
			collection ? collection : "(null)");
	if (!cairn__id_valid(id))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a valid document id (1 to 36 "
			"characters of a-z A-Z 0-9 . - _, not starting with . - or _)",
			id ? id : "(null)");
	return 0;
}

/* cairn__json_parse_object for a put's NUL-terminated text of `length` bytes, with the
 * handle's own parser: no copy of the text (the NUL the parser needs is there) and no parser
 * made and freed per write. Strict, UTF-8 checked, nested at most CAIRN_JSON_MAX_DEPTH. */
static json_object *parse_document(cairn_store *store, const char *json, size_t length)
{
	enum json_tokener_error err;
	json_object *value;
	size_t end;

	if (length == 0) {
		cairn__error_set(CAIRN_EINVALID, "invalid JSON: empty input");
		return NULL;
	}
	if (length > INT32_MAX - 1) {
		cairn__error_set(CAIRN_ETOOBIG, "the document JSON is %zu bytes", length);
		return NULL;
	}
	if (!store->tokener) {
		/* json-c's depth counts the outer container too, hence + 1. */
		store->tokener = json_tokener_new_ex(CAIRN_JSON_MAX_DEPTH + 1);
		if (!store->tokener) {
			cairn__error_set(CAIRN_ENOMEM, "out of memory creating a JSON parser");
			return NULL;
		}
		json_tokener_set_flags(store->tokener, JSON_TOKENER_STRICT |
			JSON_TOKENER_VALIDATE_UTF8);
	}
	json_tokener_reset(store->tokener);
	value = json_tokener_parse_ex(store->tokener, json, (int)length + 1);
	err = json_tokener_get_error(store->tokener);
	end = json_tokener_get_parse_end(store->tokener);
	if (err != json_tokener_success || !value) {
		if (err == json_tokener_error_depth)
			cairn__error_set(CAIRN_EINVALID, "invalid JSON: nested deeper than %d levels",
				CAIRN_JSON_MAX_DEPTH);
		else if (err == json_tokener_continue)
			cairn__error_set(CAIRN_EINVALID, "invalid JSON: unexpected end of input after "
				"%zu bytes", length);
		else
			cairn__error_set(CAIRN_EINVALID, "invalid JSON at byte %zu: %s", end,
				json_tokener_error_desc(err));
		json_object_put(value);
		return NULL;
	}
	for (size_t i = end; i < length; i++) {
		if (json[i] != ' ' && json[i] != '\t' && json[i] != '\n' && json[i] != '\r' &&
			json[i] != '\v' && json[i] != '\f') {
			cairn__error_set(CAIRN_EINVALID, "invalid JSON at byte %zu: unexpected data "
				"after the value", i);
			json_object_put(value);
			return NULL;
		}
	}
	if (!json_object_is_type(value, json_type_object)) {
		cairn__error_set(CAIRN_EINVALID, "expected a JSON object, got %s",
			json_type_to_name(json_object_get_type(value)));
		json_object_put(value);
		return NULL;
	}
	/* json-c counts a scalar inside the innermost container as a level but not an empty
	 * container, so its bound lets an empty one through one level too deep: the exact
	 * depth is checked on the tree (one walk, the only one). */
	if (cairn__json_depth(value) > CAIRN_JSON_MAX_DEPTH) {
		cairn__error_set(CAIRN_EINVALID, "invalid JSON: nested deeper than %d levels",
			CAIRN_JSON_MAX_DEPTH);
		json_object_put(value);
		return NULL;
	}
	return value;
}

/*
 * A put's text in canonical form is stored as it came: no json-c tree is built and nothing is
 * printed. Canonical is the exact text json-c prints (cairn__json_text) for the value it
 * parses from it: no whitespace, strings of printable ASCII without escapes, integers of at
 * most 18 digits without a sign on 0, true, false, null, no key twice in one object, nested
 * at most CAIRN_JSON_MAX_DEPTH levels, and no top-level "$" key (no "$permissions": the
 * fields are the whole text). Anything else (a fraction, an exponent, UTF-8, escapes,
 * spaces, a duplicate key, invalid JSON) goes to json-c, which decides and prints. What
 * JSON.stringify and json-c themselves write is canonical. Debug builds check every
 * canonical put against json-c (canonical_sanity).
 */
#define CANONICAL_MAX_KEYS 32   /* keys per object checked for duplicates; more: json-c */

static int scan_value(const char **at, const char *end, int depth);

static int scan_string(const char **at, const char *end, const char **start, size_t *length)
{
	const char *s = *at + 1;

	*start = s;
	while (s < end && *s != '"') {
		if (*s < 0x20 || *s > 0x7e || *s == '\\')
			return 0;
		s++;
	}
	if (s >= end)
		return 0;
	*length = (size_t)(s - *start);
	*at = s + 1;
	return 1;
}

static int scan_integer(const char **at, const char *end)
{
	const char *s = *at;
	size_t digits = 0;

	if (*s == '-')
		s++;
	if (s < end && *s == '0') {
		if (s != *at)
			return 0; /* "-0" prints as "0" */
		s++;
	} else {
		while (s < end && *s >= '0' && *s <= '9') {
			s++;
			digits++;
		}
		if (digits == 0 || digits > 18)
			return 0;
	}
	if (s < end && ((*s >= '0' && *s <= '9') || *s == '.' || *s == 'e' || *s == 'E'))
		return 0;
	*at = s;
	return 1;
}

static int scan_word(const char **at, const char *end, const char *word, size_t length)
{
	if ((size_t)(end - *at) < length || memcmp(*at, word, length) != 0)
		return 0;
	*at += length;
	return 1;
}

static int scan_array(const char **at, const char *end, int depth)
{
	const char *s = *at + 1;

	if (depth > CAIRN_JSON_MAX_DEPTH)
		return 0;
	if (s < end && *s == ']') {
		*at = s + 1;
		return 1;
	}
	for (;;) {
		if (!scan_value(&s, end, depth))
			return 0;
		if (s < end && *s == ',') {
			s++;
			continue;
		}
		if (s < end && *s == ']') {
			*at = s + 1;
			return 1;
		}
		return 0;
	}
}

static int scan_object(const char **at, const char *end, int depth)
{
	const char *keys[CANONICAL_MAX_KEYS];
	size_t lengths[CANONICAL_MAX_KEYS];
	size_t count = 0;
	const char *s = *at + 1;

	if (depth > CAIRN_JSON_MAX_DEPTH)
		return 0;
	if (s < end && *s == '}') {
		*at = s + 1;
		return 1;
	}
	for (;;) {
		const char *key;
		size_t length;

		if (s >= end || *s != '"' || !scan_string(&s, end, &key, &length))
			return 0;
		if ((depth == 1 && length > 0 && key[0] == '$') || count == CANONICAL_MAX_KEYS)
			return 0;
		for (size_t i = 0; i < count; i++) {
			if (lengths[i] == length && memcmp(keys[i], key, length) == 0)
				return 0;
		}
		keys[count] = key;
		lengths[count++] = length;
		if (s >= end || *s != ':')
			return 0;
		s++;
		if (!scan_value(&s, end, depth))
			return 0;
		if (s < end && *s == ',') {
			s++;
			continue;
		}
		if (s < end && *s == '}') {
			*at = s + 1;
			return 1;
		}
		return 0;
	}
}

/* One value inside a container at `depth` levels. */
static int scan_value(const char **at, const char *end, int depth)
{
	const char *key;
	size_t length;

	if (*at >= end)
		return 0;
	switch (**at) {
	case '{':
		return scan_object(at, end, depth + 1);
	case '[':
		return scan_array(at, end, depth + 1);
	case '"':
		return scan_string(at, end, &key, &length);
	case 't':
		return scan_word(at, end, "true", 4);
	case 'f':
		return scan_word(at, end, "false", 5);
	case 'n':
		return scan_word(at, end, "null", 4);
	default:
		return scan_integer(at, end);
	}
}

/* Debug builds: json-c parses a canonical text to user fields it prints back unchanged. */
static void canonical_sanity(const char *json, size_t length)
{
#ifndef NDEBUG
	json_object *value = cairn__json_parse_object(json, length, CAIRN_JSON_MAX_DEPTH);
	const char *printed;
	size_t printed_length = 0;

	assert(value);
	printed = cairn__json_text(value, &printed_length);
	assert(printed && printed_length == length && memcmp(printed, json, length) == 0);
	json_object_object_foreach(value, key, child) {
		(void)child;
		assert(key[0] != '$');
	}
	json_object_put(value);
#else
	(void)json;
	(void)length;
#endif
}

/* 1 when `json` is a canonical object (above); *length gets its length. */
static int canonical_object(const char *json, size_t *length)
{
	const char *at = json;

	*length = strlen(json);
	if (*length == 0 || json[0] != '{' || !scan_object(&at, json + *length, 1) ||
		at != json + *length)
		return 0;
	canonical_sanity(json, *length);
	return 1;
}

/* Splits the caller's JSON into user fields and the optional "$permissions" array. */
static int parse_input(json_object **out_fields, json_object **out_permissions,
	cairn_store *store, const char *json)
{
	json_object *input = NULL;
	json_object *permissions = NULL;
	size_t length;
	int rc = 0;

	*out_fields = NULL;
	*out_permissions = NULL;
	if (!json)
		return cairn__error_set(CAIRN_EINVALID, "the document JSON is NULL");
	length = strlen(json);
	/* Refuse absurd inputs before parsing them; whitespace may make a valid document's
	 * text larger than its stored form, so the exact check comes after parsing. */
	if (length / 8 > store->options.max_document_bytes)
		return cairn__error_set(CAIRN_ETOOBIG, "the document JSON is %zu bytes; the limit "
			"is %zu bytes", length, store->options.max_document_bytes);
	input = parse_document(store, json, length);
	if (!input)
		return cairn__error_code();
	if (json_object_object_get_ex(input, "$permissions", &permissions) && permissions) {
		size_t count;

		if (!json_object_is_type(permissions, json_type_array)) {
			rc = cairn__error_set(CAIRN_EINVALID, "\"$permissions\" must be an array of "
				"permission strings such as \"read(\\\"any\\\")\"");
			goto cleanup;
		}
		count = json_object_array_length(permissions);
		for (size_t i = 0; i < count; i++) {
			if (!json_object_is_type(json_object_array_get_idx(permissions, i),
				json_type_string)) {
				rc = cairn__error_set(CAIRN_EINVALID, "\"$permissions\"[%zu] is not a "
					"string", i);
				goto cleanup;
			}
		}
		*out_permissions = json_object_get(permissions);
	}
	/* The parsed input is ours: drop its system fields in place instead of copying the
	 * user fields out of it. */
	for (;;) {
		const char *system_key = NULL;

		json_object_object_foreach(input, key, value) {
			(void)value;
			if (key[0] == '$') {
				system_key = key;
				break;
			}
		}
		if (!system_key)
			break;
		json_object_object_del(input, system_key);
	}
	*out_fields = input;
	input = NULL;
cleanup:
	json_object_put(input);
	if (rc != 0) {
		json_object_put(*out_permissions);
		*out_permissions = NULL;
	}
	return rc;
}

/* Increments are not content writes and the server does not chain on them (docs/conflicts.md):
 * a new mutation's predecessor is the newest pending mutation that is not an increment. */
static int content_predecessor(char *prev, size_t prev_size, cairn_store *store,
	const char *collection, const char *id)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store->db, "SELECT mutation_id FROM outbox WHERE "
		"collection = ?1 AND doc_id = ?2 AND state = 'pending' AND op <> 'increment' "
		"ORDER BY seq DESC LIMIT 1", -1, &stmt, NULL);

	prev[0] = '\0';
	if (rc != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return cairn__store_error(store, rc, "reading the outbox");
	}
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		snprintf(prev, prev_size, "%s", sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
		cairn__store_error(store, rc, "reading the outbox");
}

/* cairn__outbox_insert with the payload already printed (`payload` NULL: none) as the row
 * `seq` (from cairn__store_hlc_tick, in this transaction). The mutation id carries the seq: the row is found by it without an index on the id
 * (cairn__mutation_id; unique among the rows present since seq is, and across time by its
 * time and random part, as the server's deduplication needs). */
static int outbox_insert_text(cairn_store *store, const char *op, const char *collection,
	const char *id, int64_t base, const char *prev, int64_t hlc, int64_t seq,
	const char *payload, size_t payload_length, json_object *permissions, int64_t now)
{
	char mutation_id[CAIRN__MUTATION_ID_SIZE];
	const char *rights = NULL;
	size_t rights_length = 0;
	sqlite3_stmt *stmt;
	int rc;

	if (permissions && !(rights = cairn__json_text(permissions, &rights_length)))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing the outbox");
	rc = cairn__mutation_id(mutation_id, sizeof(mutation_id), seq);
	if (rc != 0)
		return rc;
	stmt = cairn__store_stmt(store, STMT_OUTBOX_INSERT);
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, mutation_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, op, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, base);
	if (prev[0])
		sqlite3_bind_text(stmt, 6, prev, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 7, hlc);
	if (payload)
		sqlite3_bind_text(stmt, 8, payload, (int)payload_length, SQLITE_STATIC);
	if (rights)
		sqlite3_bind_text(stmt, 9, rights, (int)rights_length, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 10, now);
	/* Beyond the seqs an id can carry, SQLite picks the seq (the id then carries none). */
	if (seq > 0 && cairn__mutation_id_seq(mutation_id) == seq)
		sqlite3_bind_int64(stmt, 11, seq);
	return cairn__store_step_done(store, stmt, "writing the outbox");
}

int cairn__outbox_insert(cairn_store *store, const char *op, const char *collection,
	const char *id, int64_t base, const char *prev, int64_t hlc, int64_t seq,
	json_object *fields, json_object *permissions, int64_t now)
{
	const char *payload = NULL;
	size_t payload_length = 0;

	if (fields && !(payload = cairn__json_text(fields, &payload_length)))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing the outbox");
	/* A put without a payload would read as one sharing the view row's. */
	if (!payload && strcmp(op, "put") == 0) {
		payload = "{}";
		payload_length = 2;
	}
	return outbox_insert_text(store, op, collection, id, base, prev, hlc, seq, payload,
		payload_length, permissions, now);
}

int cairn__outbox_detach(cairn_store *store, const char *collection, const char *id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_OUTBOX_DETACH);

	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	return cairn__store_step_done(store, stmt, "keeping a pending write's payload");
}

/* Writes a live local view whose fields are already printed as `data` (the same row
 * cairn__view_save writes, without printing the fields again). */
static int view_save_text(cairn_store *store, const char *collection, const char *id,
	const cairn__view *view, const char *data, size_t data_length)
{
	size_t rights_length = 2;
	const char *rights = "[]"; /* what json-c prints for an empty array */

	if (!json_object_is_type(view->permissions, json_type_array) ||
		json_object_array_length(view->permissions) > 0)
		rights = cairn__json_text(view->permissions, &rights_length);
	if (!rights)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing a document");
	if (!view->in_docs)
		return cairn__view_insert_text(store, collection, id, view, data, data_length,
			rights, rights_length, 1);
	return cairn__view_save_text(store, collection, id, view, data, data_length, rights,
		rights_length, 1);
}

/* Prints the new view and the outbox payload once each (a put without counters has the same
 * text for both) and writes the view's row and the outbox row. */
static int save_write(cairn_store *store, const char *op, const char *collection,
	const char *id, int64_t base, const char *prev, int64_t hlc, int64_t seq,
	json_object *fields, const char *text, size_t text_length,
	json_object *permissions, int64_t now, const cairn__view *view, int same_text)
{
	const char *payload = text; /* a put's canonical text: the fields, already printed */
	const char *data = NULL;
	size_t payload_length = text_length;
	size_t data_length = 0;
	int rc;

	if (!text && fields && !(payload = cairn__json_text(fields, &payload_length)))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing the outbox");
	if (view->exists) {
		if (same_text) {
			data = payload;
			data_length = payload_length;
		} else if (!(data = cairn__json_text(view->data, &data_length))) {
			return cairn__error_set(CAIRN_ENOMEM, "out of memory writing a document");
		}
		if (data_length > store->options.max_document_bytes)
			return cairn__error_set(CAIRN_ETOOBIG, "document %s/%s would be %zu bytes of "
				"JSON; the limit is %zu bytes", collection, id, data_length,
				store->options.max_document_bytes);
	}
	/* The view row first: writing it detaches an earlier put that shares its text. */
	if (!view->exists)
		rc = cairn__view_save(store, collection, id, view, 1);
	else
		rc = view_save_text(store, collection, id, view, data, data_length);
	if (rc != 0)
		return rc;
	/* A put's payload is the text just written to the view row: kept there only
	 * (CAIRN__OUTBOX_PAYLOAD_SQL), a smaller outbox row and fewer pages per write. */
	if (same_text && view->exists)
		payload = NULL;
	return outbox_insert_text(store, op, collection, id, base, prev, hlc, seq, payload,
		payload_length, permissions, now);
}

/* The base of a new mutation, from STMT_WRITE_READ's columns 7-10: the same as the
 * document's newest pending mutation (the chain was made on that server version), else the
 * server copy's version, else 0. *after_increment: that mutation is an increment, and the
 * predecessor is content_predecessor's (a lookup of its own). */
static int base_from_row(int64_t *base, char *prev, size_t prev_size, int *after_increment,
	sqlite3_stmt *stmt)
{
	*base = 0;
	prev[0] = '\0';
	*after_increment = 0;
	if (sqlite3_column_type(stmt, 7) == SQLITE_NULL) {
		*base = sqlite3_column_int64(stmt, 10); /* NULL (no server copy): 0 */
		return 0;
	}
	snprintf(prev, prev_size, "%s", sqlite3_column_text(stmt, 7));
	*base = sqlite3_column_int64(stmt, 8);
	*after_increment = strcmp((const char *)sqlite3_column_text(stmt, 9), "increment") == 0;
	return 0;
}

static int write_document(cairn_store *store, const char *op, const char *collection,
	const char *id, const char *json, json_object *increment)
{
	json_object *counters = NULL;
	cairn__strategy strategy;
	sqlite3_stmt *read = NULL;
	int after_increment = 0;
	json_object *fields = NULL;
	const char *text = NULL;     /* a put's canonical text, written as it came (no fields) */
	size_t text_length = 0;
	json_object *permissions = NULL;
	cairn__view view = { 0 };
	char prev[64];
	int64_t base = 0;
	int64_t hlc = 0;
	int64_t seq = 0;
	int64_t now;
	int rc;

	rc = check_target(store, collection, id);
	if (rc != 0)
		return rc;
	if (increment) {
		fields = json_object_get(increment);
	} else if (strcmp(op, "put") == 0 && json && canonical_object(json, &text_length)) {
		text = json;
	} else if (strcmp(op, "delete") != 0) {
		rc = parse_input(&fields, &permissions, store, json);
		if (rc != 0)
			return rc;
	}
	rc = cairn__store_begin(store);
	if (rc != 0)
		goto cleanup;
	/* One statement reads what the write needs (policy, docs row, base, clock); the
	 * checks below keep the order of the lookups it replaces. */
	read = cairn__store_stmt(store, STMT_WRITE_READ);
	if (!read) {
		rc = cairn__error_code();
		goto cleanup;
	}
	sqlite3_bind_text(read, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(read, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(read);
	if (rc != SQLITE_ROW) {
		rc = cairn__store_error(store, rc == SQLITE_DONE ? SQLITE_ERROR : rc,
			"reading a document");
		goto cleanup;
	}
	rc = cairn__policy_from_row(&strategy, &counters, read, 11, collection);
	if (rc != 0)
		goto cleanup;
	if (text && json_object_array_length(counters) > 0) {
		/* A put drops the collection's counters from its fields: that takes the tree. */
		rc = parse_input(&fields, &permissions, store, json);
		if (rc != 0)
			goto cleanup;
		text = NULL;
	}
	if (increment) {
		json_object_object_foreach(increment, field, delta) {
			(void)delta;
			if (!cairn__is_counter(counters, field)) {
				rc = cairn__error_set(CAIRN_EINVALID, "'%s' is not a counter of collection "
					"'%s': declare it first (cairn policy %s STRATEGY --counter %s)", field,
					collection, collection, field);
				goto cleanup;
			}
		}
	} else if (fields) {
		/* Counter fields change only through increments: a put keeps their value and a
		 * patch leaves them alone (docs/conflicts.md). */
		for (size_t i = 0; i < json_object_array_length(counters); i++)
			json_object_object_del(fields, json_object_get_string(
				json_object_array_get_idx(counters, i)));
	}
	/* A put reads the old fields only to carry its counters over. */
	rc = cairn__view_load_row(&view, NULL, read, collection, id, strcmp(op, "patch") == 0 ||
		strcmp(op, "increment") == 0 || (strcmp(op, "put") == 0 &&
		json_object_array_length(counters) > 0));
	if (rc != 0)
		goto cleanup;
	if (!view.exists && strcmp(op, "put") != 0) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "document '%s' not found in collection '%s'",
			id, collection);
		goto cleanup;
	}
	rc = base_from_row(&base, prev, sizeof(prev), &after_increment, read);
	if (rc != 0)
		goto cleanup;
	cairn__store_hlc_tick_row(&hlc, &seq, read, 13);
	sqlite3_reset(read);
	read = NULL;
	if (after_increment) {
		rc = content_predecessor(prev, sizeof(prev), store, collection, id);
		if (rc != 0)
			goto cleanup;
	}
	now = cairn__time_now_ms();
	/* A put without counters hands its fields to the view rather than copying them: nothing
	 * changes either afterwards, and save_write prints them once for both rows. */
	if (strcmp(op, "put") == 0 && json_object_array_length(counters) == 0)
		rc = cairn__view_apply_put_shared(&view, fields, permissions, now);
	else
		rc = cairn__view_apply_counted(&view, op, fields, permissions, now, counters);
	if (rc != 0)
		goto cleanup;
	/* The size limit applies to the new view (for a put: the stored fields). */
	rc = save_write(store, op, collection, id, base, prev, hlc, seq, fields, text,
		text_length, permissions, now, &view, strcmp(op, "put") == 0 && json_object_array_length(counters) == 0);
	if (rc != 0)
		goto cleanup;
	rc = cairn__store_commit(store);
cleanup:
	if (read)
		sqlite3_reset(read);
	if (rc != 0)
		cairn__store_rollback(store);
	cairn__listeners_local(store, rc, op, collection, id);
	cairn__view_clear(&view);
	json_object_put(counters);
	json_object_put(fields);
	json_object_put(permissions);
	return rc;
}

int cairn_doc_put(cairn_store *store, const char *collection, const char *id, const char *json)
{
	return write_document(store, "put", collection, id, json, NULL);
}

int cairn_doc_patch(cairn_store *store, const char *collection, const char *id,
	const char *json)
{
	return write_document(store, "patch", collection, id, json, NULL);
}

int cairn_doc_delete(cairn_store *store, const char *collection, const char *id)
{
	return write_document(store, "delete", collection, id, NULL, NULL);
}

int cairn_doc_increment(cairn_store *store, const char *collection, const char *id,
	const char *field, int64_t delta)
{
	json_object *increment;
	int rc;

	if (!field || !field[0] || field[0] == '$')
		return cairn__error_set(CAIRN_EINVALID, "a counter needs a field name that does not "
			"start with '$'");
	increment = json_object_new_object();
	if (!increment || json_object_object_add(increment, field,
		json_object_new_int64(delta)) != 0) {
		json_object_put(increment);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory recording an increment");
	}
	rc = write_document(store, "increment", collection, id, NULL, increment);
	json_object_put(increment);
	return rc;
}

static int dump_to(char **out, json_object *value)
{
	*out = cairn__json_dump(value);
	if (!*out)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory writing JSON");
	return 0;
}

int cairn_doc_get(char **out_json, cairn_store *store, const char *collection, const char *id)
{
	cairn__view view = { 0 };
	json_object *model = NULL;
	int rc;

	if (!out_json)
		return cairn__error_set(CAIRN_EINVALID, "cairn_doc_get needs an out pointer");
	*out_json = NULL;
	rc = check_target(store, collection, id);
	if (rc != 0)
		return rc;
	rc = cairn__view_load_local(&view, NULL, store, collection, id, 1);
	if (rc != 0)
		return rc;
	if (!view.exists) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "document '%s' not found in collection '%s'",
			id, collection);
		goto cleanup;
	}
	model = cairn__view_model(&view, collection, id, store->database, -1);
	if (!model) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory building a document");
		goto cleanup;
	}
	rc = dump_to(out_json, model);
cleanup:
	json_object_put(model);
	cairn__view_clear(&view);
	return rc;
}

/* Every live document of `collection` as a model carrying "$sequence" (its local order). */
static int load_collection(json_object ***out, size_t *count, cairn_store *store,
	const char *collection)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_DOCS_LIVE);
	json_object **models = NULL;
	size_t capacity = 0;
	size_t used = 0;
	int rc = 0;

	*out = NULL;
	*count = 0;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		cairn__view view = { .exists = 1 };
		const char *data = (const char *)sqlite3_column_text(stmt, 1);
		const char *id = (const char *)sqlite3_column_text(stmt, 0);
		json_object *model;

		if (used == capacity) {
			size_t grown_capacity = capacity ? capacity * 2 : 64;
			json_object **grown = realloc(models, grown_capacity * sizeof(*models));
			if (!grown) {
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory loading documents");
				goto cleanup;
			}
			models = grown;
			capacity = grown_capacity;
		}
		view.data = data ? json_tokener_parse(data) : NULL;
		if (!view.data) {
			/* json_tokener_parse stops at its default depth; retry the strict way. */
			view.data = data ? cairn__json_parse(data, (size_t)-1, CAIRN_JSON_MAX_DEPTH + 8) :
				NULL;
		}
		rc = cairn__permissions_parse(&view.permissions,
			(const char *)sqlite3_column_text(stmt, 4));
		snprintf(view.created_at, sizeof(view.created_at), "%s",
			(const char *)sqlite3_column_text(stmt, 2));
		snprintf(view.updated_at, sizeof(view.updated_at), "%s",
			(const char *)sqlite3_column_text(stmt, 3));
		if (rc == 0 && !view.data)
			rc = cairn__error_set(CAIRN_EIO, "the store holds an unreadable document "
				"%s/%s", collection, id);
		model = rc == 0 ? cairn__view_model(&view, collection, id, store->database,
			sqlite3_column_int64(stmt, 5)) : NULL;
		cairn__view_clear(&view);
		if (rc != 0)
			goto cleanup;
		if (!model) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory loading documents");
			goto cleanup;
		}
		models[used++] = model;
	}
	rc = rc == SQLITE_DONE ? 0 : cairn__store_error(store, rc, "reading documents");
cleanup:
	sqlite3_reset(stmt);
	if (rc != 0) {
		for (size_t i = 0; i < used; i++)
			json_object_put(models[i]);
		free(models);
		return rc;
	}
	*out = models;
	*count = used;
	return 0;
}

int cairn_doc_query(char **out_json, cairn_store *store, const char *collection,
	const char *const *queries, size_t query_count)
{
	cairn_query *query = NULL;
	json_object **models = NULL;
	json_object *page = NULL;
	size_t count = 0;
	int rc;

	if (!out_json)
		return cairn__error_set(CAIRN_EINVALID, "cairn_doc_query needs an out pointer");
	*out_json = NULL;
	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	if (!cairn__id_valid(collection))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a valid collection id",
			collection ? collection : "(null)");
	if (query_count > 0 && !queries)
		return cairn__error_set(CAIRN_EINVALID, "%zu queries announced but none given",
			query_count);
	rc = cairn__query_parse(&query, queries, query_count);
	if (rc != 0)
		return rc;
	rc = load_collection(&models, &count, store, collection);
	if (rc != 0)
		goto cleanup;
	rc = cairn__query_run(&page, NULL, query, models, count, -1);
	if (rc != 0)
		goto cleanup;
	/* $sequence only orders the local view; it is not part of a local document. */
	for (size_t i = 0; i < json_object_array_length(page); i++)
		json_object_object_del(json_object_array_get_idx(page, i), "$sequence");
	rc = dump_to(out_json, page);
cleanup:
	json_object_put(page);
	for (size_t i = 0; i < count; i++)
		json_object_put(models[i]);
	free(models);
	cairn__query_free(query);
	return rc;
}
