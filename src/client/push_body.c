/* push_body.c: the body of a push request, assembled as text from the outbox rows (the text
 * form for a server that takes it: docs/protocol.md "Push"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"
#include "util/json.h"

/* Makes *buffer (of *capacity bytes, grown as needed, the caller frees it) hold `need`. */
static int text_reserve(char **buffer, size_t *capacity, size_t need)
{
	char *grown;

	if (need <= *capacity)
		return 0;
	grown = realloc(*buffer, need);
	if (!grown)
		return CAIRN_ENOMEM;
	*buffer = grown;
	*capacity = need;
	return 0;
}

/* Writes the JSON text `json` to `stream` as a JSON string holding it (the push's dataAsText),
 * escaped in one pass into *buffer first so that the stream takes it in one write. Returns 0
 * or CAIRN_ENOMEM. */
static int put_text_string(FILE *stream, char **buffer, size_t *capacity, const char *json)
{
	static const char hex[] = "0123456789abcdef";
	size_t length = strlen(json);
	const unsigned char *p;
	char *out;

	/* Quotes and backslashes double: 2 * length + 2 always suffices for them. */
	if (text_reserve(buffer, capacity, 2 * length + 2) != 0)
		return CAIRN_ENOMEM;
	out = *buffer;
	*out++ = '"';
	for (p = (const unsigned char *)json; *p; p++) {
		size_t at;

		if (*p >= 0x20 && *p != '"' && *p != '\\') {
			*out++ = (char)*p;
			continue;
		}
		if (*p == '"' || *p == '\\') {
			*out++ = '\\';
			*out++ = (char)*p;
			continue;
		}
		/* A control character: never raw in a stored compact text, but stay valid. */
		at = (size_t)(out - *buffer);
		if (text_reserve(buffer, capacity, at + 6 + 2 * (length -
			(size_t)(p + 1 - (const unsigned char *)json)) + 1) != 0)
			return CAIRN_ENOMEM;
		out = *buffer + at;
		memcpy(out, "\\u00", 4);
		out[4] = hex[*p >> 4];
		out[5] = hex[*p & 15];
		out += 6;
	}
	*out++ = '"';
	fwrite(*buffer, 1, (size_t)(out - *buffer), stream);
	return 0;
}

int cairn__push_body(char **out, size_t *length, cairn_store *store,
	const cairn__mutation *mutations, size_t count, int as_text)
{
	FILE *stream;
	json_object *counters = NULL;
	char counters_of[40] = "";
	char *text = NULL;
	char *escaped = NULL; /* put_text_string's buffer */
	size_t escaped_capacity = 0;
	size_t size = 0;
	int rc;

	*out = NULL;
	*length = 0;
	/* Every string here is an id (validated on write) or hex, and the payloads are stored
	 * compact JSON, so the body is assembled as text rather than re-parsed and re-printed. */
	stream = open_memstream(&text, &size);
	if (!stream)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory building a push request");
	/* slimAcks: a put stored exactly as pushed is acknowledged without its fields.
	 * dataAsText: each `data` travels as a string holding its JSON text, which the server
	 * checks and stores without building a tree (docs/protocol.md "Push"). */
	fprintf(stream, "{\"clientId\":\"%s\",\"slimAcks\":true,%s\"mutations\":[",
		store->client_id, as_text ? "\"dataAsText\":true," : "");
	for (size_t i = 0; i < count; i++) {
		const cairn__mutation *m = &mutations[i];

		/* A put names the collection's counters: the server keeps their values. */
		if (strcmp(m->op, "put") == 0 && strcmp(counters_of, m->collection) != 0) {
			cairn__strategy strategy;

			json_object_put(counters);
			counters = NULL;
			rc = cairn__policy_load(&strategy, &counters, store, m->collection);
			if (rc != 0) {
				fclose(stream);
				free(text);
				free(escaped);
				return rc;
			}
			snprintf(counters_of, sizeof(counters_of), "%s", m->collection);
		}

		/* baseVersion 0 and a null prevMutationId are the server's defaults: left out, as
		 * every member is a cost on both sides for each document of a large push. */
		fprintf(stream, "%s{\"mutationId\":\"%s\",\"op\":\"%s\",\"collection\":\"%s\","
			"\"id\":\"%s\"", i ? "," : "", m->mutation_id, m->op, m->collection, m->doc_id);
		if (m->base_version != 0)
			fprintf(stream, ",\"baseVersion\":%lld", (long long)m->base_version);
		if (m->prev_mutation[0])
			fprintf(stream, ",\"prevMutationId\":\"%s\"", m->prev_mutation);
		fprintf(stream, ",\"hlc\":%lld", (long long)m->hlc);
		if (strcmp(m->op, "delete") != 0 && !as_text) {
			fprintf(stream, ",\"data\":%s", m->payload ? m->payload : "{}");
		} else if (strcmp(m->op, "delete") != 0) {
			fputs(",\"data\":", stream);
			if (put_text_string(stream, &escaped, &escaped_capacity,
				m->payload ? m->payload : "{}") != 0) {
				fclose(stream);
				free(text);
				free(escaped);
				json_object_put(counters);
				return cairn__error_set(CAIRN_ENOMEM, "out of memory building a push "
					"request");
			}
		}
		if (m->permissions)
			fprintf(stream, ",\"permissions\":%s", m->permissions);
		if (strcmp(m->op, "put") == 0 && counters && json_object_array_length(counters) > 0)
			fprintf(stream, ",\"counters\":%s", cairn__json_text(counters, NULL));
		fputc('}', stream);
	}
	json_object_put(counters);
	free(escaped);
	fputs("]}", stream);
	if (ferror(stream)) {
		fclose(stream);
		free(text);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory building a push request");
	}
	if (fclose(stream) != 0) {
		free(text);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory building a push request");
	}
	*out = text;
	*length = size;
	return 0;
}
