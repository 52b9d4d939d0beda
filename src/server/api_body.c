/* api_body.c: the JSON parse of a request body, with a cheaper path for a body of plain
 * ASCII that parses cleanly (a push of 500 mutations is ~200 KB of such text). */
#include <stdint.h>
#include <string.h>

#include "server/api_body.h"
#include "util/json.h"

/* 1 when every byte of text is in 0x01..0x7f: no NUL, nothing UTF-8 validation could refuse. */
static int plain_ascii(const char *text, size_t length)
{
	const uint64_t ones = 0x0101010101010101u;
	const uint64_t highs = 0x8080808080808080u;
	size_t i = 0;

	for (; i + 8 <= length; i += 8) {
		uint64_t word;

		memcpy(&word, text + i, sizeof(word));
		/* A high bit set, or a zero byte (the classic has-zero test). */
		if ((word & highs) || ((word - ones) & ~word & highs))
			return 0;
	}
	for (; i < length; i++) {
		if (text[i] == '\0' || (unsigned char)text[i] >= 0x80)
			return 0;
	}
	return 1;
}

/*
 * The fast path only ever answers success. cairn__json_parse() parses a NUL-terminated copy
 * with JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8; on text of bytes 0x01..0x7f the UTF-8
 * check never fires (json-c checks raw input bytes only, and every such byte is a whole
 * character), so STRICT alone yields the same value. It parses the body in place (an object
 * ends at its '}', so the terminating NUL the copy adds for a trailing number is not needed)
 * and keeps every other check (object, depth, nothing but white space after it). Any failure,
 * and any other body, goes to cairn__json_parse_object(), whose error the caller reports.
 */
static json_object *parse_plain(const char *body, size_t length, int max_depth)
{
	json_tokener *tokener;
	json_object *value;
	size_t end;

	if (length == 0 || length > (size_t)INT32_MAX || max_depth <= 0)
		return NULL;
	tokener = json_tokener_new_ex(max_depth + 1); /* json-c counts the outer container too */
	if (!tokener)
		return NULL;
	json_tokener_set_flags(tokener, JSON_TOKENER_STRICT);
	value = json_tokener_parse_ex(tokener, body, (int)length);
	if (json_tokener_get_error(tokener) != json_tokener_success || !value ||
		!json_object_is_type(value, json_type_object) ||
		cairn__json_depth(value) > max_depth) {
		json_object_put(value);
		json_tokener_free(tokener);
		return NULL;
	}
	end = json_tokener_get_parse_end(tokener);
	json_tokener_free(tokener);
	for (size_t i = end; i < length; i++) {
		if (body[i] != ' ' && body[i] != '\t' && body[i] != '\n' && body[i] != '\r' &&
			body[i] != '\v' && body[i] != '\f') {
			json_object_put(value);
			return NULL;
		}
	}
	return value;
}

json_object *cairn__api_body_parse(const char *body, size_t length, int max_depth)
{
	json_object *value = NULL;

	if (body && plain_ascii(body, length))
		value = parse_plain(body, length, max_depth);
	return value ? value : cairn__json_parse_object(body, length, max_depth);
}
