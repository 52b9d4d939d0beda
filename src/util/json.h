/* json.h: JSON helpers over json-c: bounded parsing, compact dumping, typed getters. */
#ifndef CAIRN_UTIL_JSON_H
#define CAIRN_UTIL_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define CAIRN_JSON_MAX_DEPTH 32 /* deepest nesting accepted anywhere (requests, documents) */

/* Parses exactly one JSON value from text[0..len) (len may be (size_t)-1 for NUL-terminated)
 * with at most `max_depth` levels of nesting (0 = CAIRN_JSON_MAX_DEPTH). Trailing non-space
 * bytes are an error. On failure returns NULL and sets CAIRN_EINVALID with a message that
 * says what and where ("invalid JSON at byte 12: ..."). Caller owns the result (json_object_put). */
json_object *cairn__json_parse(const char *text, size_t len, int max_depth);

/* Like cairn__json_parse, and the value must be an object (else NULL + CAIRN_EINVALID). */
json_object *cairn__json_parse_object(const char *text, size_t len, int max_depth);

/* Compact text of `value` as a malloc'd string (caller frees with free()); NULL on ENOMEM.
 * Integers are printed exactly; never quoted. */
char *cairn__json_dump(json_object *value);
/* Borrowed compact text, valid until `value` is freed or changed. */
const char *cairn__json_text(json_object *value, size_t *len);

/* Typed getters: return 1 and fill *out if `key` exists with that type, else 0.
 * Borrowed strings are valid while `object` lives. */
int cairn__json_get_string(json_object *object, const char *key, const char **out);
int cairn__json_get_int64(json_object *object, const char *key, int64_t *out);
int cairn__json_get_bool(json_object *object, const char *key, int *out);

/* Deep equality (numbers: int64 compared exactly, doubles by value; object key order ignored). */
int cairn__json_equal(json_object *a, json_object *b);

/* A deep copy (caller owns); NULL on ENOMEM. */
json_object *cairn__json_copy(json_object *value);

/* Nesting depth of a value: a scalar is 0, [] or {} is 1, [[1]] is 2. */
int cairn__json_depth(json_object *value);

/* A new object with the top-level keys of `base` overwritten by those of `patch`
 * (values copied; a null in patch stores null). Caller owns. */
json_object *cairn__json_merge_top(json_object *base, json_object *patch);

/* A new object holding the keys of `object` that do not start with '$' (user fields). */
json_object *cairn__json_user_fields(json_object *object);
/* 1 when the object has a key starting with '$' (system keys, never stored as data). */
int cairn__json_has_system_keys(json_object *object);

#endif
