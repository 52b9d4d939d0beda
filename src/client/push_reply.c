/* push_reply.c: reads a push reply made only of slim acknowledgements without building a
 * json-c tree (the common reply to a push of plain puts); anything else is left to json-c. */
#include <stdlib.h>
#include <string.h>

#include "client/push_reply.h"
#include "util/error.h"

typedef struct {
	const char *at;
	const char *end;
} scanner;

static void skip_space(scanner *s)
{
	while (s->at < s->end && (*s->at == ' ' || *s->at == '\t' || *s->at == '\n' ||
		*s->at == '\r'))
		s->at++;
}

/* Consumes `c` (after white space): 1, else 0. */
static int take(scanner *s, char c)
{
	skip_space(s);
	if (s->at < s->end && *s->at == c) {
		s->at++;
		return 1;
	}
	return 0;
}

/* A string of printable ASCII without escapes into `out` (`size` bytes with its NUL): 1,
 * else 0 (an escape, a control or non-ASCII byte, too long: json-c's job). */
static int plain_string(scanner *s, char *out, size_t size)
{
	const char *start;

	if (!take(s, '"'))
		return 0;
	start = s->at;
	while (s->at < s->end && *s->at != '"') {
		unsigned char c = (unsigned char)*s->at;

		if (c < 0x20 || c > 0x7e || c == '\\')
			return 0;
		s->at++;
	}
	if (s->at == s->end || (size_t)(s->at - start) >= size)
		return 0;
	memcpy(out, start, (size_t)(s->at - start));
	out[s->at - start] = '\0';
	s->at++;
	return 1;
}

/* A JSON integer without fraction or exponent that fits int64: 1, else 0. */
static int integer(scanner *s, int64_t *out)
{
	int negative;
	uint64_t value = 0;
	const char *start;

	skip_space(s);
	negative = s->at < s->end && *s->at == '-';
	if (negative)
		s->at++;
	start = s->at;
	while (s->at < s->end && *s->at >= '0' && *s->at <= '9') {
		if (value > (uint64_t)INT64_MAX / 10)
			return 0;
		value = value * 10 + (uint64_t)(*s->at - '0');
		s->at++;
	}
	if (s->at == start || value > (uint64_t)INT64_MAX ||
		(*start == '0' && s->at - start > 1))
		return 0;
	if (s->at < s->end && (*s->at == '.' || *s->at == 'e' || *s->at == 'E'))
		return 0;
	*out = negative ? -(int64_t)value : (int64_t)value;
	return 1;
}

static int literal(scanner *s, const char *word)
{
	size_t length = strlen(word);

	skip_space(s);
	if ((size_t)(s->end - s->at) < length || memcmp(s->at, word, length) != 0)
		return 0;
	s->at += length;
	return 1;
}

/* The index of `key` in `keys` (NULL-terminated), or -1. */
static int key_index(const char *key, const char *const *keys)
{
	for (int i = 0; keys[i]; i++) {
		if (strcmp(key, keys[i]) == 0)
			return i;
	}
	return -1;
}

/* The `$` attributes of a slim acknowledgement's document, permissions [] only. */
static int document(scanner *s, cairn__push_ack *ack)
{
	static const char *const keys[] = { "$id", "$collectionId", "$databaseId",
		"$createdAt", "$updatedAt", "$sequence", "$permissions", "$version", NULL };
	char key[16];
	char ignored[64];
	int64_t number;
	unsigned seen = 0;

	if (!take(s, '{'))
		return 0;
	if (take(s, '}'))
		return 1;
	do {
		int index;

		if (!plain_string(s, key, sizeof(key)) || !take(s, ':') ||
			(index = key_index(key, keys)) < 0 || (seen & (1u << index)))
			return 0;
		seen |= 1u << index;
		switch (index) {
		case 3:
			if (!plain_string(s, ack->created_at, sizeof(ack->created_at)))
				return 0;
			break;
		case 4:
			if (!plain_string(s, ack->updated_at, sizeof(ack->updated_at)))
				return 0;
			break;
		case 5:
			if (!plain_string(s, ack->sequence, sizeof(ack->sequence)))
				return 0;
			ack->has_sequence = 1;
			break;
		case 6:
			if (!take(s, '[') || !take(s, ']'))
				return 0;
			break;
		case 7:
			if (!integer(s, &number))
				return 0;
			break;
		default:
			if (!plain_string(s, ignored, sizeof(ignored)))
				return 0;
		}
	} while (take(s, ','));
	return take(s, '}');
}

/* One result: "applied", "asPushed": true, a positive version, a slim document. */
static int result(scanner *s, cairn__push_ack *ack)
{
	static const char *const keys[] = { "mutationId", "status", "version", "asPushed",
		"document", NULL };
	char key[16];
	char status[16];
	unsigned seen = 0;

	memset(ack, 0, sizeof(*ack));
	if (!take(s, '{'))
		return 0;
	do {
		int index;

		if (!plain_string(s, key, sizeof(key)) || !take(s, ':') ||
			(index = key_index(key, keys)) < 0 || (seen & (1u << index)))
			return 0;
		seen |= 1u << index;
		switch (index) {
		case 0:
			if (!plain_string(s, ack->mutation_id, sizeof(ack->mutation_id)))
				return 0;
			break;
		case 1:
			if (!plain_string(s, status, sizeof(status)) ||
				strcmp(status, "applied") != 0)
				return 0;
			break;
		case 2:
			if (!integer(s, &ack->version) || ack->version <= 0)
				return 0;
			break;
		case 3:
			if (!literal(s, "true"))
				return 0;
			break;
		default:
			if (!document(s, ack))
				return 0;
		}
	} while (take(s, ','));
	return take(s, '}') && seen == 0x1f;
}

/* Doubles *acks (freed on failure). */
static int grow(cairn__push_ack **acks, size_t *capacity)
{
	size_t grown = *capacity ? *capacity * 2 : 512;
	cairn__push_ack *bigger = realloc(*acks, grown * sizeof(**acks));

	if (!bigger) {
		free(*acks);
		*acks = NULL;
		return cairn__error_set(CAIRN_ENOMEM, "out of memory reading a push reply");
	}
	*acks = bigger;
	*capacity = grown;
	return 0;
}

/* The results array: 1 and *acks (*used of them), else 0 (nothing left allocated). */
static int results(scanner *s, cairn__push_ack **acks, size_t *used)
{
	size_t capacity = 0;

	if (!take(s, '['))
		return 0;
	if (take(s, ']'))
		return 1;
	do {
		if (*used == capacity && grow(acks, &capacity) != 0)
			return cairn__error_code();
		if (!result(s, &(*acks)[(*used)++]))
			goto refuse;
	} while (take(s, ','));
	if (take(s, ']'))
		return 1;
refuse:
	free(*acks);
	*acks = NULL;
	*used = 0;
	return 0;
}

int cairn__push_reply_read(cairn__push_ack **out, size_t *count, int *data_as_text,
	const char *text, size_t length)
{
	scanner s = { text, text + length };
	cairn__push_ack *acks = NULL;
	size_t used = 0;
	int seen_results = 0;
	int seen_text = 0;
	char key[16];
	int rc;

	*out = NULL;
	*count = 0;
	*data_as_text = 0;
	if (!text || !take(&s, '{'))
		return 0;
	/* "results", and "dataAsText" (a push that sent its data as text, protocol.md) */
	do {
		if (!plain_string(&s, key, sizeof(key)) || !take(&s, ':'))
			goto refuse;
		if (strcmp(key, "results") == 0 && !seen_results) {
			seen_results = 1;
			rc = results(&s, &acks, &used);
			if (rc != 1)
				return rc;
		} else if (strcmp(key, "dataAsText") == 0 && !seen_text) {
			seen_text = 1;
			if (literal(&s, "true"))
				*data_as_text = 1;
			else if (!literal(&s, "false"))
				goto refuse;
		} else {
			goto refuse;
		}
	} while (take(&s, ','));
	if (!take(&s, '}'))
		goto refuse;
	skip_space(&s);
	if (s.at != s.end || used == 0)
		goto refuse;
	*out = acks;
	*count = used;
	return 1;
refuse:
	free(acks);
	*data_as_text = 0;
	return 0;
}
