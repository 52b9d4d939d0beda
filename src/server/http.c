/* http.c: request helpers (header lookup, query-string decoding) and Appwrite-shaped responses. */
#include "server/http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "util/error.h"

/* The Appwrite server version our error bodies claim; SDKs print it, none compares it. */
#define HTTP_APPWRITE_VERSION "1.9.6"

const char *cairn__http_header(const cairn_http_request *request, const char *name)
{
	size_t i;

	if (!request || !name)
		return NULL;
	for (i = 0; i < request->header_count && i < CAIRN_HTTP_MAX_HEADERS; i++) {
		if (request->headers[i].name && strcasecmp(request->headers[i].name, name) == 0)
			return request->headers[i].value;
	}
	return NULL;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes text[0..len) as application/x-www-form-urlencoded: '+' is a space, %xx a byte.
 * A '%' not followed by two hex digits stays literal, as browsers and PHP do. */
static char *form_decode(const char *text, size_t len)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;

	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		if (text[i] == '+') {
			out[o++] = ' ';
		} else if (text[i] == '%' && i + 2 < len &&
			hex_value((unsigned char)text[i + 1]) >= 0 &&
			hex_value((unsigned char)text[i + 2]) >= 0) {
			out[o++] = (char)(hex_value((unsigned char)text[i + 1]) * 16 +
				hex_value((unsigned char)text[i + 2]));
			i += 2;
		} else {
			out[o++] = text[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* 1 when the decoded key is `name`, `name[]` or `name[N]` (N decimal digits). */
static int key_matches(const char *key, const char *name)
{
	size_t name_len = strlen(name);
	const char *rest;

	if (strncmp(key, name, name_len) != 0)
		return 0;
	rest = key + name_len;
	if (*rest == '\0')
		return 1;
	if (*rest != '[')
		return 0;
	rest++;
	while (isdigit((unsigned char)*rest))
		rest++;
	return rest[0] == ']' && rest[1] == '\0';
}

size_t cairn__http_query_values(char ***out_values, const cairn_http_request *request,
	const char *name)
{
	char **values = NULL;
	size_t count = 0, capacity = 0;
	const char *cursor;

	*out_values = NULL;
	if (!request || !request->query || !name)
		return 0;
	cursor = request->query;
	while (*cursor) {
		const char *end = strchr(cursor, '&');
		const char *equals;
		size_t pair_len = end ? (size_t)(end - cursor) : strlen(cursor);
		char *key, *value;

		equals = memchr(cursor, '=', pair_len);
		if (pair_len == 0)
			goto next;
		key = form_decode(cursor, equals ? (size_t)(equals - cursor) : pair_len);
		if (!key)
			goto failed;
		if (!key_matches(key, name)) {
			free(key);
			goto next;
		}
		free(key);
		value = equals ? form_decode(equals + 1, pair_len - (size_t)(equals + 1 - cursor))
			: strdup("");
		if (!value)
			goto failed;
		if (count == capacity) {
			size_t new_capacity = capacity ? capacity * 2 : 4;
			char **grown = realloc(values, new_capacity * sizeof(*grown));

			if (!grown) {
				free(value);
				goto failed;
			}
			values = grown;
			capacity = new_capacity;
		}
		values[count++] = value;
next:
		if (!end)
			break;
		cursor = end + 1;
	}
	*out_values = values;
	return count;

failed:
	/* Out of memory: report nothing rather than a silently shortened list. */
	cairn__http_values_free(values, count);
	cairn__error_set(CAIRN_ENOMEM, "out of memory decoding the query string");
	return 0;
}

void cairn__http_values_free(char **values, size_t count)
{
	size_t i;

	if (!values)
		return;
	for (i = 0; i < count; i++)
		free(values[i]);
	free(values);
}

/* Drops the body and content type, keeping extra headers (cookies set before an error). */
static void response_reset_body(cairn_http_response *response)
{
	free(response->content_type);
	free(response->body);
	response->content_type = NULL;
	response->body = NULL;
	response->body_length = 0;
}

void cairn__http_respond_json(cairn_http_response *response, int status, char *json_text)
{
	response_reset_body(response);
	if (!json_text) {
		/* The caller ran out of memory building the body; say so without allocating. */
		response->status = 500;
		return;
	}
	response->status = status;
	response->content_type = strdup("application/json");
	if (!response->content_type) {
		free(json_text);
		response->status = 500;
		return;
	}
	response->body = json_text;
	response->body_length = strlen(json_text);
}

void cairn__http_respond_error(cairn_http_response *response, int status, const char *type,
	const char *fmt, ...)
{
	char message[1024];
	json_object *object;
	char *text = NULL;
	va_list args;

	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);

	object = json_object_new_object();
	if (object) {
		json_object_object_add(object, "message", json_object_new_string(message));
		json_object_object_add(object, "code", json_object_new_int(status));
		json_object_object_add(object, "type", json_object_new_string(type ? type : ""));
		json_object_object_add(object, "version",
			json_object_new_string(HTTP_APPWRITE_VERSION));
		text = strdup(json_object_to_json_string_ext(object,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(object);
	}
	cairn__http_respond_json(response, status, text);
	if (!text)
		response->status = status; /* keep the status even with no body to send */
}

void cairn__http_respond_no_content(cairn_http_response *response)
{
	response_reset_body(response);
	response->status = 204;
}

int cairn__http_response_add_header(cairn_http_response *response, const char *name,
	const char *value)
{
	char *name_copy, *value_copy;
	size_t capacity = sizeof(response->extra_headers) / sizeof(response->extra_headers[0]);

	if (response->extra_header_count >= capacity)
		return cairn__error_set(CAIRN_ETOOBIG, "too many response headers (at most %zu)",
			capacity);
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return cairn__error_set(CAIRN_EINVALID,
			"response header '%s' contains a line break or a bad name", name);
	name_copy = strdup(name);
	value_copy = strdup(value);
	if (!name_copy || !value_copy) {
		free(name_copy);
		free(value_copy);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory adding a response header");
	}
	response->extra_headers[response->extra_header_count].name = name_copy;
	response->extra_headers[response->extra_header_count].value = value_copy;
	response->extra_header_count++;
	return 0;
}

void cairn__http_response_clear(cairn_http_response *response)
{
	size_t i;

	if (!response)
		return;
	response_reset_body(response);
	for (i = 0; i < response->extra_header_count; i++) {
		free((char *)response->extra_headers[i].name);
		free((char *)response->extra_headers[i].value);
	}
	memset(response, 0, sizeof(*response));
}
