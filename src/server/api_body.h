/* api_body.h: the JSON parse of a request body (api_body.c). */
#ifndef CAIRN_SERVER_API_BODY_H
#define CAIRN_SERVER_API_BODY_H

#include <stddef.h>

#include <json-c/json.h>

/* The request body `body` (`length` bytes, not necessarily NUL-terminated) parsed as a JSON
 * object at most `max_depth` levels deep: exactly what cairn__json_parse_object() returns for
 * it, the same value or NULL with the same error set. Returned and owned by the caller (free
 * it with json_object_put). */
json_object *cairn__api_body_parse(const char *body, size_t length, int max_depth);

#endif
