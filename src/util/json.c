/* json.c: bounded, strict JSON parsing and small json-c conveniences. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/json.h"

json_object *cairn__json_parse(const char *text, size_t len, int max_depth)
{
	json_tokener *tokener = NULL;
	json_object *value = NULL;
	char *copy = NULL;
	enum json_tokener_error err;
	size_t end;

	if (!text)
		goto empty;
	if (len == (size_t)-1)
		len = strlen(text);
	if (len == 0)
		goto empty;
	if (max_depth <= 0)
		max_depth = CAIRN_JSON_MAX_DEPTH;
	/* json-c needs the terminating NUL to finish a trailing number, so parse a copy. */
	copy = malloc(len + 1);
	if (!copy) {
		cairn__error_set(CAIRN_ENOMEM, "out of memory parsing %zu bytes of JSON", len);
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (strlen(copy) != len) {
		cairn__error_set(CAIRN_EINVALID, "invalid JSON: NUL byte at offset %zu", strlen(copy));
		goto cleanup;
	}
	/* json-c's depth counts the outer container too, hence + 1. */
	tokener = json_tokener_new_ex(max_depth + 1);
	if (!tokener) {
		cairn__error_set(CAIRN_ENOMEM, "out of memory creating a JSON parser");
		goto cleanup;
	}
	json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	value = json_tokener_parse_ex(tokener, copy, (int)len + 1);
	err = json_tokener_get_error(tokener);
	end = json_tokener_get_parse_end(tokener);
	if (err != json_tokener_success || !value) {
		if (err == json_tokener_error_depth)
			cairn__error_set(CAIRN_EINVALID, "invalid JSON: nested deeper than %d levels",
				max_depth);
		else if (err == json_tokener_continue)
			cairn__error_set(CAIRN_EINVALID, "invalid JSON: unexpected end of input after "
				"%zu bytes", len);
		else
			cairn__error_set(CAIRN_EINVALID, "invalid JSON at byte %zu: %s", end,
				json_tokener_error_desc(err));
		json_object_put(value);
		value = NULL;
		goto cleanup;
	}
	/* json-c counts a scalar inside the innermost container as a level but not an empty
	 * container, so its limit is one off either way: check the exact depth here. */
	if (cairn__json_depth(value) > max_depth) {
		cairn__error_set(CAIRN_EINVALID, "invalid JSON: nested deeper than %d levels",
			max_depth);
		json_object_put(value);
		value = NULL;
		goto cleanup;
	}
	for (size_t i = end; i < len; i++) {
		if (!isspace((unsigned char)copy[i])) {
			cairn__error_set(CAIRN_EINVALID, "invalid JSON at byte %zu: unexpected data "
				"after the value", i);
			json_object_put(value);
			value = NULL;
			goto cleanup;
		}
	}
cleanup:
	if (tokener) /* json-c 0.16 crashes on NULL */
		json_tokener_free(tokener);
	free(copy);
	return value;
empty:
	cairn__error_set(CAIRN_EINVALID, "invalid JSON: empty input");
	return NULL;
}

json_object *cairn__json_parse_object(const char *text, size_t len, int max_depth)
{
	json_object *value = cairn__json_parse(text, len, max_depth);

	if (value && !json_object_is_type(value, json_type_object)) {
		cairn__error_set(CAIRN_EINVALID, "expected a JSON object, got %s",
			json_type_to_name(json_object_get_type(value)));
		json_object_put(value);
		return NULL;
	}
	return value;
}

const char *cairn__json_text(json_object *value, size_t *len)
{
	const char *text = json_object_to_json_string_length(value,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
	return text;
}

char *cairn__json_dump(json_object *value)
{
	size_t len = 0;
	const char *text = cairn__json_text(value, &len);
	char *copy;

	if (!text)
		return NULL;
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, text, len + 1);
	return copy;
}

int cairn__json_get_string(json_object *object, const char *key, const char **out)
{
	json_object *field;

	if (!object || !json_object_object_get_ex(object, key, &field) ||
		!json_object_is_type(field, json_type_string))
		return 0;
	*out = json_object_get_string(field);
	return 1;
}

int cairn__json_get_int64(json_object *object, const char *key, int64_t *out)
{
	json_object *field;

	if (!object || !json_object_object_get_ex(object, key, &field) ||
		!json_object_is_type(field, json_type_int))
		return 0;
	*out = json_object_get_int64(field);
	return 1;
}

int cairn__json_get_bool(json_object *object, const char *key, int *out)
{
	json_object *field;

	if (!object || !json_object_object_get_ex(object, key, &field) ||
		!json_object_is_type(field, json_type_boolean))
		return 0;
	*out = json_object_get_boolean(field) ? 1 : 0;
	return 1;
}

int cairn__json_equal(json_object *a, json_object *b)
{
	return json_object_equal(a, b);
}

json_object *cairn__json_copy(json_object *value)
{
	json_object *copy = NULL;

	if (!value)
		return NULL;
	if (json_object_deep_copy(value, &copy, NULL) != 0)
		return NULL;
	return copy;
}

int cairn__json_depth(json_object *value)
{
	int deepest = 0;

	if (json_object_is_type(value, json_type_object)) {
		json_object_object_foreach(value, key, child) {
			int depth = cairn__json_depth(child);
			(void)key;
			if (depth > deepest)
				deepest = depth;
		}
		return deepest + 1;
	}
	if (json_object_is_type(value, json_type_array)) {
		size_t count = json_object_array_length(value);
		for (size_t i = 0; i < count; i++) {
			int depth = cairn__json_depth(json_object_array_get_idx(value, i));
			if (depth > deepest)
				deepest = depth;
		}
		return deepest + 1;
	}
	return 0;
}

json_object *cairn__json_merge_top(json_object *base, json_object *patch)
{
	json_object *merged = base ? cairn__json_copy(base) : json_object_new_object();

	if (!merged)
		return NULL;
	if (patch && json_object_is_type(patch, json_type_object)) {
		json_object_object_foreach(patch, key, value) {
			json_object *copy = value ? cairn__json_copy(value) : NULL;
			if (value && !copy) {
				json_object_put(merged);
				return NULL;
			}
			json_object_object_add(merged, key, copy);
		}
	}
	return merged;
}

json_object *cairn__json_user_fields(json_object *object)
{
	json_object *fields = json_object_new_object();

	if (!fields)
		return NULL;
	if (object && json_object_is_type(object, json_type_object)) {
		json_object_object_foreach(object, key, value) {
			if (key[0] == '$')
				continue;
			json_object_object_add(fields, key, value ? cairn__json_copy(value) : NULL);
		}
	}
	return fields;
}

int cairn__json_has_system_keys(json_object *object)
{
	if (!object || !json_object_is_type(object, json_type_object))
		return 0;
	json_object_object_foreach(object, key, value) {
		(void)value;
		if (key[0] == '$')
			return 1;
	}
	return 0;
}
