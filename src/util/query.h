/* query.h: Appwrite Query JSON: parsing, and evaluation over documents in memory. */
#ifndef CAIRN_UTIL_QUERY_H
#define CAIRN_UTIL_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define CAIRN_QUERY_MAX_COUNT 100          /* queries per request (Appwrite's limit) */
#define CAIRN_QUERY_MAX_TEXT 4096          /* characters per query string */
#define CAIRN_QUERY_MAX_VALUES 500         /* values in one query */
#define CAIRN_QUERY_DEFAULT_LIMIT_SERVER 25 /* Appwrite's default page size */

typedef struct cairn_query cairn_query; /* a parsed list of queries */

/* Parses `count` query strings, each Appwrite Query JSON
 * ({"method":..., "attribute":..., "values":[...]}). Supported methods: equal, notEqual,
 * lessThan, lessThanEqual, greaterThan, greaterThanEqual, between, notBetween, isNull,
 * isNotNull, startsWith, notStartsWith, endsWith, notEndsWith, contains, notContains,
 * and, or, select, orderAsc, orderDesc, limit, offset, cursorAfter, cursorBefore.
 * An unknown method, non-string attribute, non-array values or bad JSON: CAIRN_EINVALID with a
 * message naming the query. On success *out is owned by the caller (cairn__query_free). */
int cairn__query_parse(cairn_query **out, const char *const *queries, size_t count);
void cairn__query_free(cairn_query *query);

/* 1 if `document` (an Appwrite Document model: user fields plus $id, $createdAt, $updatedAt,
 * $sequence, ...) passes every filter of `query`, else 0. NULL query matches everything. */
int cairn__query_matches(const cairn_query *query, json_object *document);

/* 1 when `query` holds filters only (no select, order, limit, offset or cursor): what a sync
 * scope may use (docs/protocol.md, "Partial sync"). NULL counts as filters only. */
int cairn__query_filters_only(const cairn_query *query);

/* The explicit limit and offset, or -1 when the query has none. */
int64_t cairn__query_limit(const cairn_query *query);
int64_t cairn__query_offset(const cairn_query *query);
/* The cursor document id and direction (+1 after, -1 before), or NULL when none. */
const char *cairn__query_cursor(const cairn_query *query, int *direction);

/* Runs the whole query over `documents` (borrowed, any order): filter, order (orders in the
 * given order; ties broken by $sequence ascending, or following the first order's direction
 * when it is on $createdAt/$updatedAt; no order = $sequence order; documents without
 * $sequence fall back to $id), cursor, offset, limit (`default_limit` when the query has none;
 * -1 = unlimited), select (keeps the chosen fields plus every '$' key).
 * *out_page is a new JSON array (owned by the caller) holding references to the input
 * documents, or new objects when select is used. *out_total (may be NULL) counts every match
 * ignoring limit, offset and cursor.
 * Errors: CAIRN_ENOTFOUND when the cursor document is not among the matches' collection
 * (message "cursor document '<id>' not found"), CAIRN_EINVALID for bad values. */
int cairn__query_run(json_object **out_page, int64_t *out_total, const cairn_query *query,
	json_object *const *documents, size_t count, int64_t default_limit);

#endif
