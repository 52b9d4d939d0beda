/* query.c: Appwrite Query JSON parsing and in-memory evaluation (filter, order, cursor, page). */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/json.h"
#include "util/query.h"
#include "util/time.h"

/* and/or may nest; deeper nesting than this is refused (Appwrite also bounds it). */
#define QUERY_MAX_NESTING 8

typedef enum {
	METHOD_EQUAL,
	METHOD_NOT_EQUAL,
	METHOD_LESS_THAN,
	METHOD_LESS_THAN_EQUAL,
	METHOD_GREATER_THAN,
	METHOD_GREATER_THAN_EQUAL,
	METHOD_BETWEEN,
	METHOD_NOT_BETWEEN,
	METHOD_IS_NULL,
	METHOD_IS_NOT_NULL,
	METHOD_STARTS_WITH,
	METHOD_NOT_STARTS_WITH,
	METHOD_ENDS_WITH,
	METHOD_NOT_ENDS_WITH,
	METHOD_CONTAINS,
	METHOD_NOT_CONTAINS,
	METHOD_AND,
	METHOD_OR,
	METHOD_SELECT,
	METHOD_ORDER_ASC,
	METHOD_ORDER_DESC,
	METHOD_LIMIT,
	METHOD_OFFSET,
	METHOD_CURSOR_AFTER,
	METHOD_CURSOR_BEFORE
} query_method;

static const struct {
	const char *name;
	query_method method;
} method_names[] = {
	{"equal", METHOD_EQUAL},
	{"notEqual", METHOD_NOT_EQUAL},
	{"lessThan", METHOD_LESS_THAN},
	{"lessThanEqual", METHOD_LESS_THAN_EQUAL},
	{"greaterThan", METHOD_GREATER_THAN},
	{"greaterThanEqual", METHOD_GREATER_THAN_EQUAL},
	{"between", METHOD_BETWEEN},
	{"notBetween", METHOD_NOT_BETWEEN},
	{"isNull", METHOD_IS_NULL},
	{"isNotNull", METHOD_IS_NOT_NULL},
	{"startsWith", METHOD_STARTS_WITH},
	{"notStartsWith", METHOD_NOT_STARTS_WITH},
	{"endsWith", METHOD_ENDS_WITH},
	{"notEndsWith", METHOD_NOT_ENDS_WITH},
	{"contains", METHOD_CONTAINS},
	{"notContains", METHOD_NOT_CONTAINS},
	{"and", METHOD_AND},
	{"or", METHOD_OR},
	{"select", METHOD_SELECT},
	{"orderAsc", METHOD_ORDER_ASC},
	{"orderDesc", METHOD_ORDER_DESC},
	{"limit", METHOD_LIMIT},
	{"offset", METHOD_OFFSET},
	{"cursorAfter", METHOD_CURSOR_AFTER},
	{"cursorBefore", METHOD_CURSOR_BEFORE},
};

/* Methods Appwrite knows but we do not evaluate: named as unsupported, not unknown, so the
 * person reading the error knows the query is well-formed but needs another approach. */
static const char *const unsupported_methods[] = {
	"containsAny", "containsAll", "search", "notSearch", "regex", "exists", "notExists",
	"elemMatch", "crosses", "notCrosses", "intersects", "notIntersects", "overlaps",
	"notOverlaps", "touches", "notTouches", "distanceEqual", "distanceNotEqual",
	"distanceGreaterThan", "distanceLessThan", "vectorDot", "vectorCosine",
	"vectorEuclidean", "orderRandom",
};

/* How an attribute's values are read: system timestamps compare as instants, $sequence
 * (a JSON string of digits) numerically, everything else by JSON type. */
typedef enum { ATTRIBUTE_PLAIN, ATTRIBUTE_TIME, ATTRIBUTE_SEQUENCE } attribute_kind;

/* A value normalised for comparison. The enum order is also the sort rank across types,
 * so a column with mixed types still sorts totally: null < bool < number < string < other. */
typedef enum { KEY_NULL, KEY_BOOL, KEY_INT, KEY_DOUBLE, KEY_STRING, KEY_OTHER } key_kind;

typedef struct {
	key_kind kind;
	int64_t integer;    /* KEY_BOOL (0/1), KEY_INT */
	double real;        /* KEY_DOUBLE */
	const char *string; /* KEY_STRING, borrowed from the JSON value */
	size_t length;      /* KEY_STRING byte length */
	json_object *json;  /* KEY_OTHER (array or object), borrowed */
} query_key;

typedef struct query_filter {
	query_method method;
	const char *attribute;          /* borrowed from the parsed JSON */
	attribute_kind kind;
	query_key *values;              /* owned array */
	size_t value_count;
	struct query_filter *children;  /* and/or: owned array */
	size_t child_count;
} query_filter;

typedef struct {
	const char *attribute; /* borrowed; "" means $sequence */
	attribute_kind kind;
	int direction;         /* +1 ascending, -1 descending */
} query_order;

struct cairn_query {
	json_object **roots;    /* the parsed query objects; every borrowed string lives here */
	size_t root_count;
	query_filter filter;    /* top level: an implicit and */
	query_order *orders;
	size_t order_count;
	const char **selected;  /* select names, borrowed */
	size_t selected_count;
	int select_all;         /* "*" was selected, or no select at all */
	int64_t limit;          /* -1 when none */
	int64_t offset;         /* -1 when none */
	const char *cursor;     /* borrowed; NULL when none */
	int cursor_direction;   /* +1 after, -1 before */
};

/* ---- errors ---- */

static int query_invalid(size_t index, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int query_invalid(size_t index, const char *fmt, ...)
{
	char reason[512];
	va_list args;

	va_start(args, fmt);
	vsnprintf(reason, sizeof(reason), fmt, args);
	va_end(args);
	return cairn__error_set(CAIRN_EINVALID, "Invalid query %zu: %s", index, reason);
}

/* ---- values ---- */

static attribute_kind attribute_kind_of(const char *attribute)
{
	if (strcmp(attribute, "$createdAt") == 0 || strcmp(attribute, "$updatedAt") == 0)
		return ATTRIBUTE_TIME;
	if (attribute[0] == '\0' || strcmp(attribute, "$sequence") == 0)
		return ATTRIBUTE_SEQUENCE;
	return ATTRIBUTE_PLAIN;
}

/* Reads a JSON string of decimal digits (what $sequence is) into *out. */
static int parse_digits(const char *text, size_t length, int64_t *out)
{
	int64_t value = 0;

	if (length == 0 || length > 19)
		return 0;
	for (size_t i = 0; i < length; i++) {
		if (text[i] < '0' || text[i] > '9')
			return 0;
		if (value > (INT64_MAX - (text[i] - '0')) / 10)
			return 0;
		value = value * 10 + (text[i] - '0');
	}
	*out = value;
	return 1;
}

static query_key normalise(attribute_kind kind, json_object *value)
{
	query_key key = {0};

	switch (value ? json_object_get_type(value) : json_type_null) {
	case json_type_null:
		key.kind = KEY_NULL;
		break;
	case json_type_boolean:
		key.kind = KEY_BOOL;
		key.integer = json_object_get_boolean(value) ? 1 : 0;
		break;
	case json_type_int:
		key.kind = KEY_INT;
		key.integer = json_object_get_int64(value);
		break;
	case json_type_double:
		key.kind = KEY_DOUBLE;
		key.real = json_object_get_double(value);
		break;
	case json_type_string:
		key.kind = KEY_STRING;
		key.string = json_object_get_string(value);
		key.length = (size_t)json_object_get_string_len(value);
		if (kind == ATTRIBUTE_SEQUENCE && parse_digits(key.string, key.length, &key.integer)) {
			key.kind = KEY_INT;
		} else if (kind == ATTRIBUTE_TIME && key.length < 64) {
			/* cairn__time_parse records an error on failure; the digit check keeps most
			 * stray non-date strings from overwriting the thread's last error. */
			int64_t ms;
			if (key.string[0] >= '0' && key.string[0] <= '9' &&
				cairn__time_parse(key.string, &ms) == 0) {
				key.kind = KEY_INT;
				key.integer = ms;
			}
		}
		break;
	default:
		key.kind = KEY_OTHER;
		key.json = value;
		break;
	}
	return key;
}

/* Exact comparison of an int64 with a finite double (a double cast would round). */
static int compare_int_double(int64_t integer, double real)
{
	double truncated;

	if (isnan(real))
		return -1;
	if (real >= 9223372036854775808.0)
		return -1;
	if (real < -9223372036854775808.0)
		return 1;
	truncated = trunc(real);
	if (integer != (int64_t)truncated)
		return integer < (int64_t)truncated ? -1 : 1;
	if (real > truncated)
		return -1;
	if (real < truncated)
		return 1;
	return 0;
}

static int sign_of(int value)
{
	return (value > 0) - (value < 0);
}

static int compare_strings(const query_key *a, const query_key *b)
{
	size_t shorter = a->length < b->length ? a->length : b->length;
	int order = memcmp(a->string, b->string, shorter);

	if (order != 0)
		return sign_of(order);
	return (a->length > b->length) - (a->length < b->length);
}

/* Compares two values of compatible types into *order; 0 when they cannot be compared
 * (mismatched types, or a null on either side). */
static int compare_keys(const query_key *a, const query_key *b, int *order)
{
	switch (a->kind) {
	case KEY_INT:
		if (b->kind == KEY_INT)
			*order = (a->integer > b->integer) - (a->integer < b->integer);
		else if (b->kind == KEY_DOUBLE)
			*order = compare_int_double(a->integer, b->real);
		else
			return 0;
		return 1;
	case KEY_DOUBLE:
		if (b->kind == KEY_DOUBLE)
			*order = (a->real > b->real) - (a->real < b->real);
		else if (b->kind == KEY_INT)
			*order = -compare_int_double(b->integer, a->real);
		else
			return 0;
		return 1;
	case KEY_STRING:
		if (b->kind != KEY_STRING)
			return 0;
		*order = compare_strings(a, b);
		return 1;
	case KEY_BOOL:
		if (b->kind != KEY_BOOL)
			return 0;
		*order = (a->integer > b->integer) - (a->integer < b->integer);
		return 1;
	default:
		return 0;
	}
}

static int keys_equal(const query_key *a, const query_key *b)
{
	int order;

	if (a->kind == KEY_OTHER && b->kind == KEY_OTHER)
		return cairn__json_equal(a->json, b->json);
	return compare_keys(a, b, &order) && order == 0;
}

/* A total order for sorting: types by rank, then by value within compatible types. */
static int sort_keys(const query_key *a, const query_key *b)
{
	int rank_a = a->kind == KEY_DOUBLE ? KEY_INT : (int)a->kind;
	int rank_b = b->kind == KEY_DOUBLE ? KEY_INT : (int)b->kind;
	int order;

	if (rank_a != rank_b)
		return rank_a < rank_b ? -1 : 1;
	if (compare_keys(a, b, &order))
		return order;
	return 0; /* nulls, and arrays/objects: equal here, the tie-breakers decide */
}

/* ---- parsing ---- */

static void filter_clear(query_filter *filter)
{
	for (size_t i = 0; i < filter->child_count; i++)
		filter_clear(&filter->children[i]);
	free(filter->children);
	free(filter->values);
	filter->children = NULL;
	filter->values = NULL;
	filter->child_count = 0;
	filter->value_count = 0;
}

static int is_filter_method(query_method method)
{
	return method <= METHOD_OR;
}

/* Splits one query object into method, attribute and values, applying Appwrite's defaults
 * (missing attribute = "", missing values = []). */
static int read_query_object(size_t index, json_object *object, query_method *method,
	const char **attribute, json_object **values)
{
	json_object *field;
	const char *name;

	if (!json_object_is_type(object, json_type_object))
		return query_invalid(index, "expected a JSON object, got %s",
			json_type_to_name(json_object_get_type(object)));
	if (!json_object_object_get_ex(object, "method", &field) ||
		!json_object_is_type(field, json_type_string))
		return query_invalid(index, "'method' must be a string");
	name = json_object_get_string(field);
	*method = (query_method)-1;
	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
		if (strcmp(name, method_names[i].name) == 0) {
			*method = method_names[i].method;
			break;
		}
	}
	if (*method == (query_method)-1) {
		for (size_t i = 0; i < sizeof(unsupported_methods) / sizeof(unsupported_methods[0]); i++)
			if (strcmp(name, unsupported_methods[i]) == 0)
				return query_invalid(index, "method '%.64s' is not supported by this server",
					name);
		return query_invalid(index, "unknown method '%.64s'", name);
	}
	*attribute = "";
	if (json_object_object_get_ex(object, "attribute", &field) && field) {
		if (!json_object_is_type(field, json_type_string))
			return query_invalid(index, "'attribute' of '%s' must be a string", name);
		*attribute = json_object_get_string(field);
	}
	*values = NULL;
	if (json_object_object_get_ex(object, "values", &field) && field) {
		if (!json_object_is_type(field, json_type_array))
			return query_invalid(index, "'values' of '%s' must be an array", name);
		if (json_object_array_length(field) > CAIRN_QUERY_MAX_VALUES)
			return query_invalid(index, "'%s' has %zu values; at most %d are allowed", name,
				json_object_array_length(field), CAIRN_QUERY_MAX_VALUES);
		*values = field;
	}
	return 0;
}

static size_t values_length(json_object *values)
{
	return values ? json_object_array_length(values) : 0;
}

static int parse_filter(size_t index, json_object *object, int depth, query_filter *out);

/* Fills a filter's value list, checking the count each method needs. */
static int parse_filter_values(size_t index, const char *name, query_filter *filter,
	json_object *values)
{
	size_t count = values_length(values);
	size_t minimum = 1, maximum = CAIRN_QUERY_MAX_VALUES;
	int strings_only = 0;

	switch (filter->method) {
	case METHOD_IS_NULL:
	case METHOD_IS_NOT_NULL:
		return 0; /* values are ignored */
	case METHOD_LESS_THAN:
	case METHOD_LESS_THAN_EQUAL:
	case METHOD_GREATER_THAN:
	case METHOD_GREATER_THAN_EQUAL:
		maximum = 1;
		break;
	case METHOD_BETWEEN:
	case METHOD_NOT_BETWEEN:
		minimum = maximum = 2;
		break;
	case METHOD_STARTS_WITH:
	case METHOD_NOT_STARTS_WITH:
	case METHOD_ENDS_WITH:
	case METHOD_NOT_ENDS_WITH:
		maximum = 1;
		strings_only = 1;
		break;
	default:
		break;
	}
	if (count < minimum || count > maximum) {
		if (minimum == maximum)
			return query_invalid(index, "'%s' on '%.64s' needs exactly %zu value%s, got %zu",
				name, filter->attribute, minimum, minimum == 1 ? "" : "s", count);
		return query_invalid(index, "'%s' on '%.64s' needs at least %zu value, got %zu", name,
			filter->attribute, minimum, count);
	}
	filter->values = calloc(count, sizeof(*filter->values));
	if (!filter->values)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory parsing query %zu", index);
	filter->value_count = count;
	for (size_t i = 0; i < count; i++) {
		json_object *value = json_object_array_get_idx(values, i);
		query_key *key = &filter->values[i];

		*key = normalise(filter->kind, value);
		if (strings_only && key->kind != KEY_STRING)
			return query_invalid(index, "'%s' on '%.64s' needs a string value", name,
				filter->attribute);
		if (filter->kind == ATTRIBUTE_TIME && key->kind != KEY_INT)
			return query_invalid(index, "'%s' on '%s' needs ISO 8601 date-time values, e.g. "
				"2026-08-21T12:34:56.789+00:00; value %zu is not one", name,
				filter->attribute, i);
		if (filter->kind == ATTRIBUTE_SEQUENCE && key->kind != KEY_INT && !strings_only)
			return query_invalid(index, "'%s' on '$sequence' needs whole numbers; value %zu "
				"is not one", name, i);
	}
	return 0;
}

static int parse_logical(size_t index, const char *name, query_filter *filter,
	json_object *values, int depth)
{
	size_t count = values_length(values);

	if (depth >= QUERY_MAX_NESTING)
		return query_invalid(index, "'%s' nested deeper than %d levels", name,
			QUERY_MAX_NESTING);
	if (count == 0)
		return query_invalid(index, "'%s' needs at least one nested query in 'values'", name);
	filter->children = calloc(count, sizeof(*filter->children));
	if (!filter->children)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory parsing query %zu", index);
	filter->child_count = count;
	for (size_t i = 0; i < count; i++) {
		json_object *child = json_object_array_get_idx(values, i);
		int rc;

		if (!json_object_is_type(child, json_type_object))
			return query_invalid(index, "'%s' values must be query objects, value %zu is %s",
				name, i, json_type_to_name(json_object_get_type(child)));
		rc = parse_filter(index, child, depth + 1, &filter->children[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Parses a filter (or and/or) query object; anything else is refused inside and/or. */
static int parse_filter(size_t index, json_object *object, int depth, query_filter *out)
{
	const char *attribute, *name;
	json_object *values, *field;
	int rc;

	rc = read_query_object(index, object, &out->method, &attribute, &values);
	if (rc < 0)
		return rc;
	json_object_object_get_ex(object, "method", &field);
	name = json_object_get_string(field);
	if (!is_filter_method(out->method))
		return query_invalid(index, "'%s' is not allowed inside 'and'/'or'", name);
	out->attribute = attribute;
	out->kind = attribute_kind_of(attribute);
	if (out->method == METHOD_AND || out->method == METHOD_OR)
		return parse_logical(index, name, out, values, depth);
	if (attribute[0] == '\0')
		return query_invalid(index, "'%s' needs an attribute", name);
	return parse_filter_values(index, name, out, values);
}

static int parse_count(size_t index, const char *name, json_object *values, int64_t *out)
{
	json_object *value;

	if (values_length(values) != 1)
		return query_invalid(index, "'%s' needs exactly one value", name);
	value = json_object_array_get_idx(values, 0);
	if (!json_object_is_type(value, json_type_int) || json_object_get_int64(value) < 0)
		return query_invalid(index, "'%s' must be a non-negative integer", name);
	*out = json_object_get_int64(value);
	return 0;
}

static int append_filter(query_filter *parent, size_t index, query_filter *child)
{
	query_filter *grown = realloc(parent->children,
		(parent->child_count + 1) * sizeof(*parent->children));

	if (!grown)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory parsing query %zu", index);
	parent->children = grown;
	parent->children[parent->child_count++] = *child;
	return 0;
}

static int parse_one(cairn_query *query, size_t index, json_object *object)
{
	query_filter filter = {0};
	query_method method;
	const char *attribute;
	json_object *values, *field;
	const char *name;
	size_t count;
	int rc;

	rc = read_query_object(index, object, &method, &attribute, &values);
	if (rc < 0)
		return rc;
	json_object_object_get_ex(object, "method", &field);
	name = json_object_get_string(field);
	count = values_length(values);

	if (is_filter_method(method)) {
		rc = parse_filter(index, object, 0, &filter);
		if (rc == 0)
			rc = append_filter(&query->filter, index, &filter);
		if (rc < 0)
			filter_clear(&filter);
		return rc;
	}
	switch (method) {
	case METHOD_SELECT: {
		const char **grown;
		if (count == 0)
			return query_invalid(index, "'select' needs at least one attribute name");
		grown = realloc(query->selected, (query->selected_count + count) * sizeof(*grown));
		if (!grown)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory parsing query %zu", index);
		query->selected = grown;
		for (size_t i = 0; i < count; i++) {
			json_object *value = json_object_array_get_idx(values, i);
			if (!json_object_is_type(value, json_type_string))
				return query_invalid(index, "'select' values must be attribute names "
					"(strings); value %zu is not", i);
			if (strcmp(json_object_get_string(value), "*") == 0)
				query->select_all = 1;
			query->selected[query->selected_count++] = json_object_get_string(value);
		}
		return 0;
	}
	case METHOD_ORDER_ASC:
	case METHOD_ORDER_DESC: {
		query_order *grown = realloc(query->orders,
			(query->order_count + 1) * sizeof(*grown));
		if (!grown)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory parsing query %zu", index);
		query->orders = grown;
		grown[query->order_count].attribute = attribute;
		grown[query->order_count].kind = attribute_kind_of(attribute);
		grown[query->order_count].direction = method == METHOD_ORDER_ASC ? 1 : -1;
		query->order_count++;
		return 0;
	}
	case METHOD_LIMIT:
	case METHOD_OFFSET: {
		/* Appwrite keeps the first limit, offset and cursor and ignores repeats. */
		int64_t *slot = method == METHOD_LIMIT ? &query->limit : &query->offset;
		int64_t value = 0;
		rc = parse_count(index, name, values, &value);
		if (rc < 0)
			return rc;
		if (*slot < 0)
			*slot = value;
		return 0;
	}
	case METHOD_CURSOR_AFTER:
	case METHOD_CURSOR_BEFORE: {
		json_object *value = count == 1 ? json_object_array_get_idx(values, 0) : NULL;
		if (!json_object_is_type(value, json_type_string) ||
			json_object_get_string_len(value) == 0)
			return query_invalid(index, "'%s' needs exactly one value: a document id", name);
		if (!query->cursor) {
			query->cursor = json_object_get_string(value);
			query->cursor_direction = method == METHOD_CURSOR_AFTER ? 1 : -1;
		}
		return 0;
	}
	default:
		return query_invalid(index, "method '%s' cannot be used here", name);
	}
}

/* Appwrite limits query strings in characters, so count UTF-8 code points, not bytes. */
static size_t utf8_length(const char *text)
{
	size_t count = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if ((*p & 0xc0) != 0x80)
			count++;
	return count;
}

int cairn__query_parse(cairn_query **out, const char *const *queries, size_t count)
{
	cairn_query *query = NULL;
	int rc = 0;

	*out = NULL;
	if (count > CAIRN_QUERY_MAX_COUNT)
		return cairn__error_set(CAIRN_EINVALID, "Invalid queries: %zu given, at most %d are "
			"allowed", count, CAIRN_QUERY_MAX_COUNT);
	query = calloc(1, sizeof(*query));
	if (!query)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory parsing queries");
	query->filter.method = METHOD_AND;
	query->filter.attribute = "";
	query->limit = -1;
	query->offset = -1;
	if (count > 0) {
		query->roots = calloc(count, sizeof(*query->roots));
		if (!query->roots) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory parsing queries");
			goto cleanup;
		}
	}
	for (size_t i = 0; i < count; i++) {
		json_object *root;

		if (!queries[i]) {
			rc = query_invalid(i, "missing (NULL) query string");
			goto cleanup;
		}
		if (utf8_length(queries[i]) > CAIRN_QUERY_MAX_TEXT) {
			rc = query_invalid(i, "longer than %d characters", CAIRN_QUERY_MAX_TEXT);
			goto cleanup;
		}
		root = cairn__json_parse(queries[i], (size_t)-1, 0);
		if (!root) {
			char reason[256];
			snprintf(reason, sizeof(reason), "%s", cairn_error_last());
			rc = query_invalid(i, "not valid JSON (%s)", reason);
			goto cleanup;
		}
		query->roots[query->root_count++] = root;
		rc = parse_one(query, i, root);
		if (rc < 0)
			goto cleanup;
	}
	if (query->selected_count == 0)
		query->select_all = 1;
	*out = query;
	query = NULL;
cleanup:
	cairn__query_free(query);
	return rc;
}

void cairn__query_free(cairn_query *query)
{
	if (!query)
		return;
	filter_clear(&query->filter);
	for (size_t i = 0; i < query->root_count; i++)
		json_object_put(query->roots[i]);
	free(query->roots);
	free(query->orders);
	free(query->selected);
	free(query);
}

/* ---- matching ---- */

static int any_value_equal(const query_filter *filter, const query_key *key)
{
	for (size_t i = 0; i < filter->value_count; i++)
		if (keys_equal(key, &filter->values[i]))
			return 1;
	return 0;
}

static int affix_matches(const query_filter *filter, const query_key *key, int at_end)
{
	const query_key *affix = &filter->values[0];

	if (key->kind != KEY_STRING || affix->length > key->length)
		return 0;
	if (at_end)
		return memcmp(key->string + key->length - affix->length, affix->string,
			affix->length) == 0;
	return memcmp(key->string, affix->string, affix->length) == 0;
}

/* contains: a substring of a string attribute, or an element of an array attribute. */
static int contains_matches(const query_filter *filter, const query_key *key)
{
	if (key->kind == KEY_STRING) {
		for (size_t i = 0; i < filter->value_count; i++) {
			const query_key *needle = &filter->values[i];
			if (needle->kind == KEY_STRING &&
				memmem(key->string, key->length, needle->string, needle->length))
				return 1;
		}
		return 0;
	}
	if (key->kind == KEY_OTHER && json_object_is_type(key->json, json_type_array)) {
		size_t count = json_object_array_length(key->json);
		for (size_t i = 0; i < count; i++) {
			query_key element = normalise(ATTRIBUTE_PLAIN,
				json_object_array_get_idx(key->json, i));
			if (any_value_equal(filter, &element))
				return 1;
		}
	}
	return 0;
}

static int between_matches(const query_filter *filter, const query_key *key)
{
	int low, high;

	return compare_keys(key, &filter->values[0], &low) && low >= 0 &&
		compare_keys(key, &filter->values[1], &high) && high <= 0;
}

static int filter_matches(const query_filter *filter, json_object *document)
{
	json_object *value = NULL;
	query_key key;
	int order;

	if (filter->method == METHOD_AND) {
		for (size_t i = 0; i < filter->child_count; i++)
			if (!filter_matches(&filter->children[i], document))
				return 0;
		return 1;
	}
	if (filter->method == METHOD_OR) {
		for (size_t i = 0; i < filter->child_count; i++)
			if (filter_matches(&filter->children[i], document))
				return 1;
		return 0;
	}
	json_object_object_get_ex(document, filter->attribute, &value);
	key = normalise(filter->kind, value);
	if (filter->method == METHOD_IS_NULL)
		return key.kind == KEY_NULL;
	if (filter->method == METHOD_IS_NOT_NULL)
		return key.kind != KEY_NULL;
	/* Like SQL: every other filter, negated ones included, is false on a null. */
	if (key.kind == KEY_NULL)
		return 0;
	switch (filter->method) {
	case METHOD_EQUAL:
		return any_value_equal(filter, &key);
	case METHOD_NOT_EQUAL:
		return !any_value_equal(filter, &key);
	case METHOD_LESS_THAN:
		return compare_keys(&key, &filter->values[0], &order) && order < 0;
	case METHOD_LESS_THAN_EQUAL:
		return compare_keys(&key, &filter->values[0], &order) && order <= 0;
	case METHOD_GREATER_THAN:
		return compare_keys(&key, &filter->values[0], &order) && order > 0;
	case METHOD_GREATER_THAN_EQUAL:
		return compare_keys(&key, &filter->values[0], &order) && order >= 0;
	case METHOD_BETWEEN:
		return between_matches(filter, &key);
	case METHOD_NOT_BETWEEN:
		return !between_matches(filter, &key);
	case METHOD_STARTS_WITH:
		return affix_matches(filter, &key, 0);
	case METHOD_NOT_STARTS_WITH:
		return !affix_matches(filter, &key, 0);
	case METHOD_ENDS_WITH:
		return affix_matches(filter, &key, 1);
	case METHOD_NOT_ENDS_WITH:
		return !affix_matches(filter, &key, 1);
	case METHOD_CONTAINS:
		return contains_matches(filter, &key);
	case METHOD_NOT_CONTAINS:
		return !contains_matches(filter, &key);
	default:
		return 0;
	}
}

int cairn__query_matches(const cairn_query *query, json_object *document)
{
	if (!json_object_is_type(document, json_type_object))
		return 0;
	if (!query)
		return 1;
	return filter_matches(&query->filter, document);
}

int cairn__query_filters_only(const cairn_query *query)
{
	if (!query)
		return 1;
	return query->selected_count == 0 && query->order_count == 0 && query->limit < 0 &&
		query->offset < 0 && !query->cursor;
}

int64_t cairn__query_limit(const cairn_query *query)
{
	return query ? query->limit : -1;
}

int64_t cairn__query_offset(const cairn_query *query)
{
	return query ? query->offset : -1;
}

const char *cairn__query_cursor(const cairn_query *query, int *direction)
{
	if (!query || !query->cursor)
		return NULL;
	if (direction)
		*direction = query->cursor_direction;
	return query->cursor;
}

/* ---- running ---- */

typedef struct run_context run_context;

/* One document with its sort keys extracted once, so qsort compares without re-parsing. */
typedef struct {
	json_object *document;    /* borrowed */
	const char *id;           /* "" when the document has no $id */
	query_key *keys;          /* one per order, inside run_context.keys */
	query_key sequence;
	size_t index;             /* position in the input: the last tie-breaker */
	const run_context *context;
} run_item;

struct run_context {
	const cairn_query *query;
	int tie_direction; /* direction of the $sequence/$id tie-breakers */
};

static void item_init(run_item *item, const run_context *context, json_object *document,
	size_t index, query_key *keys)
{
	const cairn_query *query = context->query;
	json_object *value = NULL;

	item->document = document;
	item->index = index;
	item->keys = keys;
	item->context = context;
	item->id = "";
	cairn__json_get_string(document, "$id", &item->id);
	json_object_object_get_ex(document, "$sequence", &value);
	item->sequence = normalise(ATTRIBUTE_SEQUENCE, value);
	for (size_t i = 0; query && i < query->order_count; i++) {
		const query_order *order = &query->orders[i];
		const char *attribute = order->attribute[0] ? order->attribute : "$sequence";
		value = NULL;
		json_object_object_get_ex(document, attribute, &value);
		keys[i] = normalise(order->kind, value);
	}
}

static int item_compare(const run_item *a, const run_item *b)
{
	const run_context *context = a->context;
	const cairn_query *query = context->query;
	int order;

	for (size_t i = 0; query && i < query->order_count; i++) {
		order = sort_keys(&a->keys[i], &b->keys[i]);
		if (order != 0)
			return order * query->orders[i].direction;
	}
	order = sort_keys(&a->sequence, &b->sequence);
	if (order == 0)
		order = sign_of(strcmp(a->id, b->id));
	if (order != 0)
		return order * context->tie_direction;
	return (a->index > b->index) - (a->index < b->index);
}

static int item_qsort_compare(const void *a, const void *b)
{
	return item_compare(a, b);
}

static json_object *select_fields(const cairn_query *query, json_object *document)
{
	json_object *selected = json_object_new_object();

	if (!selected)
		return NULL;
	json_object_object_foreach(document, key, value) {
		int keep = key[0] == '$';
		for (size_t i = 0; !keep && i < query->selected_count; i++)
			keep = strcmp(query->selected[i], key) == 0;
		if (keep && json_object_object_add(selected, key, json_object_get(value)) != 0) {
			json_object_put(value);
			json_object_put(selected);
			return NULL;
		}
	}
	return selected;
}

int cairn__query_run(json_object **out_page, int64_t *out_total, const cairn_query *query,
	json_object *const *documents, size_t count, int64_t default_limit)
{
	run_context context = {query, 1};
	run_item *items = NULL, cursor_item;
	query_key *keys = NULL, *cursor_keys = NULL;
	size_t order_count = query ? query->order_count : 0, matched = 0, start, end;
	json_object *page = NULL;
	int64_t limit, offset;
	int rc = 0;

	*out_page = NULL;
	if (out_total)
		*out_total = 0;
	/* Appwrite: the implicit $sequence tie-breaker follows the first order's direction
	 * when that order is on a timestamp, so "newest first" pages stay newest first. */
	if (order_count > 0 && query->orders[0].kind == ATTRIBUTE_TIME)
		context.tie_direction = query->orders[0].direction;
	if (count > 0) {
		items = calloc(count, sizeof(*items));
		keys = calloc(count * order_count + 1, sizeof(*keys));
		cursor_keys = calloc(order_count + 1, sizeof(*keys));
		if (!items || !keys || !cursor_keys) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory running a query over %zu "
				"documents", count);
			goto cleanup;
		}
	}
	for (size_t i = 0; i < count; i++) {
		if (!cairn__query_matches(query, documents[i]))
			continue;
		item_init(&items[matched], &context, documents[i], i, keys + matched * order_count);
		matched++;
	}
	if (matched > 1)
		qsort(items, matched, sizeof(*items), item_qsort_compare);
	if (out_total)
		*out_total = (int64_t)matched;

	start = 0;
	end = matched;
	if (query && query->cursor) {
		const run_item *found = NULL;
		for (size_t i = 0; i < matched && !found; i++)
			if (strcmp(items[i].id, query->cursor) == 0)
				found = &items[i];
		if (found) {
			cursor_item = *found;
		} else {
			/* A cursor that no longer matches still marks a position in the order. */
			for (size_t i = 0; i < count && !found; i++) {
				const char *id;
				if (json_object_is_type(documents[i], json_type_object) &&
					cairn__json_get_string(documents[i], "$id", &id) &&
					strcmp(id, query->cursor) == 0) {
					item_init(&cursor_item, &context, documents[i], i, cursor_keys);
					found = &cursor_item;
				}
			}
		}
		if (!found) {
			rc = cairn__error_set(CAIRN_ENOTFOUND, "cursor document '%.64s' not found",
				query->cursor);
			goto cleanup;
		}
		/* The matches are sorted, so the ones after (or before) the cursor are a run. */
		if (query->cursor_direction > 0) {
			while (start < end && item_compare(&items[start], &cursor_item) <= 0)
				start++;
		} else {
			while (end > start && item_compare(&items[end - 1], &cursor_item) >= 0)
				end--;
		}
	}

	offset = query && query->offset > 0 ? query->offset : 0;
	limit = query && query->limit >= 0 ? query->limit : default_limit;
	if (query && query->cursor && query->cursor_direction < 0) {
		/* cursorBefore pages backwards from the cursor: offset and limit count from it. */
		end = (uint64_t)offset >= end - start ? start : end - (size_t)offset;
		if (limit >= 0 && (uint64_t)limit < end - start)
			start = end - (size_t)limit;
	} else {
		start = (uint64_t)offset >= end - start ? end : start + (size_t)offset;
		if (limit >= 0 && (uint64_t)limit < end - start)
			end = start + (size_t)limit;
	}

	page = json_object_new_array();
	if (!page) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory building a query page");
		goto cleanup;
	}
	for (size_t i = start; i < end; i++) {
		json_object *entry = query && !query->select_all ?
			select_fields(query, items[i].document) : json_object_get(items[i].document);
		if (!entry || json_object_array_add(page, entry) != 0) {
			json_object_put(entry);
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory building a query page");
			goto cleanup;
		}
	}
	*out_page = page;
	page = NULL;
cleanup:
	json_object_put(page);
	free(items);
	free(keys);
	free(cursor_keys);
	return rc;
}
