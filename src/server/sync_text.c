/* sync_text.c: the text form of sync data (docs/protocol.md, "dataAsText"): a pulled change's
 * user fields and permissions as JSON strings holding their compact JSON text, so a client
 * stores them without parsing them into objects, and the check that lets the server store a
 * pushed `data` text as it came. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "util/error.h"

#include "server/sync_text.h"
#include "util/json.h"
#include "util/time.h"

void cairn__sync_text_fields(cairn_text *text, const cairn_storage_record *record)
{
	char created[CAIRN_TIME_TEXT_SIZE];
	char updated[CAIRN_TIME_TEXT_SIZE];
	const char *json = NULL;
	size_t length = 0;

	cairn__time_format(record->created_at, created);
	cairn__time_format(record->updated_at, updated);
	cairn__text_appendf(text, ",\"createdAt\":\"%s\",\"updatedAt\":\"%s\",\"sequence\":\"%"
		PRId64 "\",\"permissions\":", created, updated, record->sequence);
	if (record->permissions && json_object_is_type(record->permissions, json_type_array))
		json = cairn__json_text(record->permissions, &length);
	cairn__text_append_json_string(text, json ? json : "[]");
	/* A text-only record (storage.h changes_text) carries the stored text as it is. */
	json = record->data_text ? record->data_text : record->data &&
		json_object_is_type(record->data, json_type_object) ?
		cairn__json_text(record->data, &length) : NULL;
	if (!json) {
		text->failed = 1;
		return;
	}
	cairn__text_append_cstr(text, ",\"data\":");
	cairn__text_append_json_string(text, json);
}

/* ---- pushed data texts ---- */

#define TEXT_MAX_KEYS 256 /* keys remembered at once along the open objects (more: not plain) */

struct cairn_sync_text_checker {
	sqlite3 *db;         /* private, in memory: only for json_valid() */
	sqlite3_stmt *valid; /* SELECT json_valid(?1) */
};

int cairn__sync_text_checker_open(cairn_sync_text_checker **out)
{
	cairn_sync_text_checker *checker = calloc(1, sizeof(*checker));

	*out = NULL;
	if (!checker)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory checking JSON texts");
	if (sqlite3_open_v2(":memory:", &checker->db, SQLITE_OPEN_READWRITE |
		SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
		sqlite3_prepare_v2(checker->db, "SELECT json_valid(?1)", -1, &checker->valid,
		NULL) != SQLITE_OK) {
		cairn__sync_text_checker_free(checker);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory checking JSON texts");
	}
	*out = checker;
	return 0;
}

void cairn__sync_text_checker_free(cairn_sync_text_checker *checker)
{
	if (!checker)
		return;
	sqlite3_finalize(checker->valid);
	sqlite3_close(checker->db);
	free(checker);
}

/* 1 when json_valid() says `text` is JSON. */
static int text_valid(cairn_sync_text_checker *checker, const char *text, size_t length)
{
	int valid;

	if (sqlite3_bind_text(checker->valid, 1, text, (int)length, SQLITE_STATIC) != SQLITE_OK)
		return 0;
	valid = sqlite3_step(checker->valid) == SQLITE_ROW &&
		sqlite3_column_int(checker->valid, 0) == 1;
	sqlite3_reset(checker->valid);
	sqlite3_clear_bindings(checker->valid);
	return valid;
}

/* The end of the string opening at text[start] (the index of its closing quote), and in
 * *escaped whether it holds a backslash. Only called on text json_valid() accepted. */
static size_t string_end(const char *text, size_t length, size_t start, int *escaped)
{
	size_t i = start + 1;

	*escaped = 0;
	while (i < length && text[i] != '"') {
		if (text[i] == '\\') {
			*escaped = 1;
			i++;
		}
		i++;
	}
	return i;
}

/* The shape half of cairn__sync_text_plain, on text json_valid() accepted: one pass that
 * tracks the open containers (depth as cairn__json_depth counts it: a container is one level
 * more than its deepest child) and the keys of every open object. It does not trust that
 * acceptance where SQLite 3.40 is lax (see the key check) and never reads out of bounds. */
static int text_shape_plain(const char *text, size_t length)
{
	struct { size_t start, length; } keys[TEXT_MAX_KEYS];
	size_t key_count = 0;
	size_t first_key[CAIRN_JSON_MAX_DEPTH + 1]; /* per open object: its first entry in keys */
	char open[CAIRN_JSON_MAX_DEPTH + 1];         /* '{' or '[' per open container */
	int depth = 0;
	int expect_key = 0;

	if (length == 0 || text[0] != '{')
		return 0;
	for (size_t i = 0; i < length; i++) {
		/* SQLite 3.40's json_valid() takes a container ending in a string as an object key
		 * ({["a"]:1}): where a key must come, only a string (or the end of {}) may. */
		if (expect_key && text[i] != '"' && text[i] != '}')
			return 0;
		switch (text[i]) {
		case '"': {
			int escaped;
			size_t end = string_end(text, length, i, &escaped);

			if (expect_key) {
				size_t key_length = end - i - 1;

				if (escaped || (depth == 1 && key_length > 0 && text[i + 1] == '$') ||
					key_count == TEXT_MAX_KEYS)
					return 0;
				for (size_t k = first_key[depth]; k < key_count; k++) {
					if (keys[k].length == key_length &&
						memcmp(text + keys[k].start, text + i + 1, key_length) == 0)
						return 0;
				}
				keys[key_count].start = i + 1;
				keys[key_count].length = key_length;
				key_count++;
			}
			expect_key = 0;
			i = end;
			break;
		}
		case '{':
		case '[':
			if (depth == CAIRN_JSON_MAX_DEPTH)
				return 0;
			depth++;
			open[depth] = text[i];
			first_key[depth] = key_count;
			expect_key = text[i] == '{';
			break;
		case '}':
		case ']':
			if (depth == 0)
				return 0;
			key_count = first_key[depth];
			depth--;
			expect_key = 0;
			break;
		case ',':
			if (depth == 0)
				return 0;
			expect_key = open[depth] == '{';
			break;
		case ' ': case '\t': case '\n': case '\r':
			return 0; /* stored texts are compact: let json-c print it */
		default: /* ':' and the characters of numbers and literals */
			expect_key = 0;
			break;
		}
	}
	return depth == 0;
}

int cairn__sync_text_plain(cairn_sync_text_checker *checker, const char *text, size_t length,
	size_t max_bytes)
{
	if (!checker || !text || length == 0 || length > max_bytes || text[0] != '{' ||
		memchr(text, '\0', length))
		return 0;
	return text_valid(checker, text, length) && text_shape_plain(text, length);
}
