/* api_lookup.c: documents lists that only look documents up by id, as RxDB's push does: each
 * `or` of equal("$id") becomes one equal("$id", [...]), and the page holds every id named
 * rather than Appwrite's default 25 (appwrite-compat.md §9.4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_int.h"
#include "util/json.h"
#include "util/query.h"

/* The largest query string looked at: the HTTP head's bound, far above one query's limit,
 * so that a long `or` can still be folded below it. */
#define LOOKUP_MAX_TEXT (128u * 1024u)

/* The values array of `query` when it is equal on $id (borrowed), else NULL. */
static json_object *id_equal_values(json_object *query)
{
	const char *method = NULL;
	const char *attribute = NULL;
	json_object *values = NULL;

	if (!json_object_is_type(query, json_type_object) ||
		!cairn__json_get_string(query, "method", &method) || strcmp(method, "equal") != 0 ||
		!cairn__json_get_string(query, "attribute", &attribute) ||
		strcmp(attribute, "$id") != 0 ||
		!json_object_object_get_ex(query, "values", &values) ||
		!json_object_is_type(values, json_type_array))
		return NULL;
	return values;
}

/* One top-level query of an id lookup. */
typedef enum {
	LOOKUP_OTHER = 0, /* anything else (a limit included): the list is left alone */
	LOOKUP_SHAPE,     /* orderAsc, orderDesc, select: shapes the page, filters nothing */
	LOOKUP_EQUAL,     /* equal("$id", ids) */
	LOOKUP_OR         /* or([equal("$id", ids), ...]): *ids gets all their ids */
} lookup_kind;

/* Classifies `query`; for LOOKUP_EQUAL and LOOKUP_OR, *ids is a new array of the ids it
 * names (caller owns). */
static lookup_kind classify(json_object *query, json_object **ids)
{
	const char *method = NULL;
	json_object *children = NULL;
	json_object *values;

	*ids = NULL;
	if (!json_object_is_type(query, json_type_object) ||
		!cairn__json_get_string(query, "method", &method))
		return LOOKUP_OTHER;
	if (strcmp(method, "orderAsc") == 0 || strcmp(method, "orderDesc") == 0 ||
		strcmp(method, "select") == 0)
		return LOOKUP_SHAPE;
	if ((values = id_equal_values(query))) {
		*ids = json_object_get(values);
		return LOOKUP_EQUAL;
	}
	if (strcmp(method, "or") != 0 || !json_object_object_get_ex(query, "values", &children) ||
		!json_object_is_type(children, json_type_array) ||
		json_object_array_length(children) == 0 || !(*ids = json_object_new_array()))
		return LOOKUP_OTHER;
	for (size_t i = 0; i < json_object_array_length(children); i++) {
		values = id_equal_values(json_object_array_get_idx(children, i));
		for (size_t j = 0; values && j < json_object_array_length(values); j++)
			json_object_array_add(*ids, json_object_get(json_object_array_get_idx(values, j)));
		if (!values) {
			json_object_put(*ids);
			*ids = NULL;
			return LOOKUP_OTHER;
		}
	}
	return LOOKUP_OR;
}

/* The text of equal("$id", ids) (malloc'd), or NULL out of memory. */
static char *equal_text(json_object *ids)
{
	json_object *query = json_object_new_object();
	char *text = NULL;

	if (query && json_object_object_add(query, "method", json_object_new_string("equal")) == 0 &&
		json_object_object_add(query, "attribute", json_object_new_string("$id")) == 0 &&
		json_object_object_add(query, "values", json_object_get(ids)) == 0)
		text = strdup(json_object_to_json_string_ext(query, JSON_C_TO_STRING_PLAIN |
			JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(query);
	return text;
}

/* Replaces (*queries)[index] with `text` (taken). */
static void replace_query(char **queries, size_t index, char *text)
{
	free(queries[index]);
	queries[index] = text;
}

int cairn__api_id_lookup(char ***queries, size_t *count)
{
	json_object *parsed[CAIRN_QUERY_MAX_COUNT] = { NULL };
	json_object *ids[CAIRN_QUERY_MAX_COUNT] = { NULL };
	lookup_kind kinds[CAIRN_QUERY_MAX_COUNT];
	size_t total = 0;
	int rc = 0;

	/* Too many queries is the list's own 400; a limit query must still fit after them. */
	if (*count == 0 || *count >= CAIRN_QUERY_MAX_COUNT)
		return 0;
	for (size_t i = 0; i < *count; i++) {
		size_t length = strlen((*queries)[i]);

		kinds[i] = LOOKUP_OTHER;
		parsed[i] = length <= LOOKUP_MAX_TEXT ?
			cairn__json_parse_object((*queries)[i], length, CAIRN_JSON_MAX_DEPTH) : NULL;
		if (parsed[i])
			kinds[i] = classify(parsed[i], &ids[i]);
		if (kinds[i] == LOOKUP_OTHER)
			goto cleanup; /* not a lookup; a bad query is reported by the list itself */
		if (ids[i])
			total += json_object_array_length(ids[i]);
	}
	for (size_t i = 0; i < *count; i++) {
		char *text;

		if (kinds[i] != LOOKUP_OR)
			continue;
		if (!(text = equal_text(ids[i]))) {
			rc = -1;
			goto cleanup;
		}
		replace_query(*queries, i, text);
	}
	if (total > CAIRN_QUERY_DEFAULT_LIMIT_SERVER) {
		char **grown = realloc(*queries, (*count + 1) * sizeof(**queries));
		char *limit = malloc(64);

		if (grown)
			*queries = grown;
		if (!grown || !limit) {
			free(limit);
			rc = -1;
			goto cleanup;
		}
		snprintf(limit, 64, "{\"method\":\"limit\",\"values\":[%zu]}", total);
		grown[(*count)++] = limit;
	}
cleanup:
	for (size_t i = 0; i < CAIRN_QUERY_MAX_COUNT; i++) {
		json_object_put(ids[i]);
		json_object_put(parsed[i]);
	}
	return rc;
}
