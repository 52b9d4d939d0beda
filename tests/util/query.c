/* tests/util/query.c: Appwrite query parsing, filters, ordering, cursors, paging and select. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/error.h"
#include "util/json.h"
#include "util/query.h"

#define MAX_DOCS 16

typedef struct {
	char dir[64];                 /* per-test temp dir (the suite's convention) */
	json_object *docs[MAX_DOCS];
	size_t count;
	char ids[512];                /* ids of the last page, comma separated */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-test-query-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	for (size_t i = 0; i < f->count; i++)
		json_object_put(f->docs[i]);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void add_doc(fixture *f, const char *json)
{
	json_object *doc = cairn__json_parse_object(json, (size_t)-1, 0);

	assert_non_null(doc);
	assert_true(f->count < MAX_DOCS);
	f->docs[f->count++] = doc;
}

/* Parses the given queries (NULL-terminated list); asserts success. */
static cairn_query *parse_list(const char *first, va_list args)
{
	const char *queries[32];
	size_t count = 0;
	cairn_query *query = NULL;

	for (const char *q = first; q; q = va_arg(args, const char *))
		queries[count++] = q;
	int rc = cairn__query_parse(&query, queries, count);
	if (rc != 0)
		fail_msg("parse failed: %s", cairn_error_last());
	return query;
}

/* Runs queries over the fixture's docs and returns the page's ids as "a,b,c". */
static const char *run(fixture *f, int64_t default_limit, int64_t *total, const char *first, ...)
{
	va_list args;
	cairn_query *query;
	json_object *page = NULL;

	va_start(args, first);
	query = first ? parse_list(first, args) : NULL;
	va_end(args);
	assert_int_equal(cairn__query_run(&page, total, query, f->docs, f->count, default_limit), 0);
	f->ids[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(page); i++) {
		const char *id = "?";
		cairn__json_get_string(json_object_array_get_idx(page, i), "$id", &id);
		if (i)
			strcat(f->ids, ",");
		strcat(f->ids, id);
	}
	json_object_put(page);
	cairn__query_free(query);
	return f->ids;
}

#define IDS(f, ...) run((f), -1, NULL, __VA_ARGS__, NULL)

/* Parses the queries expecting failure; returns the error message. */
static const char *parse_error(int expected, const char *first, ...)
{
	const char *queries[128];
	size_t count = 0;
	cairn_query *query = (cairn_query *)0x1;
	va_list args;

	va_start(args, first);
	for (const char *q = first; q; q = va_arg(args, const char *))
		queries[count++] = q;
	va_end(args);
	assert_int_equal(cairn__query_parse(&query, queries, count), expected);
	assert_null(query);
	return cairn_error_last();
}

static void numbers_fixture(fixture *f)
{
	add_doc(f, "{\"$id\":\"a\",\"$sequence\":\"1\",\"n\":1,\"s\":\"apple\",\"b\":true,"
		"\"tags\":[\"x\",\"y\"]}");
	add_doc(f, "{\"$id\":\"b\",\"$sequence\":\"2\",\"n\":2.5,\"s\":\"banana\",\"b\":false,"
		"\"tags\":[]}");
	add_doc(f, "{\"$id\":\"c\",\"$sequence\":\"3\",\"n\":3,\"s\":\"cherry\",\"b\":null,"
		"\"tags\":[\"y\",2]}");
	add_doc(f, "{\"$id\":\"d\",\"$sequence\":\"4\",\"n\":\"3\",\"s\":\"Apple pie\"}");
	add_doc(f, "{\"$id\":\"e\",\"$sequence\":\"5\",\"n\":null,\"s\":\"date\",\"b\":true}");
}

static void test_util_query__parse_errors(void **state)
{
	char long_query[CAIRN_QUERY_MAX_TEXT + 64];
	char many_values[CAIRN_QUERY_MAX_VALUES * 2 + 128];
	const char *queries[CAIRN_QUERY_MAX_COUNT + 1];
	cairn_query *query = NULL;
	size_t at;
	(void)state;

	assert_string_equal(parse_error(CAIRN_EINVALID, "{\"method\":\"limit\",\"values\":[1]}",
		"{\"method\":\"isNull\",\"attribute\":\"a\"}", "{\"method\":\"foo\"}", NULL),
		"Invalid query 2: unknown method 'foo'");
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, "{\"method\":", NULL),
		"Invalid query 0: not valid JSON"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, "[1,2]", NULL),
		"Invalid query 0: expected a JSON object"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, "{\"attribute\":\"a\"}", NULL),
		"'method' must be a string"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"search\",\"attribute\":\"a\",\"values\":[\"x\"]}", NULL),
		"method 'search' is not supported"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"equal\",\"attribute\":5,\"values\":[1]}", NULL),
		"'attribute' of 'equal' must be a string"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"equal\",\"attribute\":\"a\",\"values\":1}", NULL),
		"'values' of 'equal' must be an array"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"equal\",\"attribute\":\"a\"}", NULL), "needs at least 1 value"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"between\",\"attribute\":\"a\",\"values\":[1]}", NULL),
		"needs exactly 2 values, got 1"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"startsWith\",\"attribute\":\"a\",\"values\":[1]}", NULL),
		"needs a string value"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"equal\",\"values\":[1]}", NULL), "'equal' needs an attribute"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, "{\"method\":\"limit\",\"values\":[-1]}",
		NULL), "'limit' must be a non-negative integer"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"offset\",\"values\":[\"3\"]}", NULL),
		"'offset' must be a non-negative integer"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, "{\"method\":\"limit\",\"values\":[1.5]}",
		NULL), "'limit' must be a non-negative integer"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, "{\"method\":\"cursorAfter\"}", NULL),
		"needs exactly one value: a document id"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"and\",\"values\":[\"{\\\"method\\\":\\\"isNull\\\"}\"]}", NULL),
		"'and' values must be query objects"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"or\",\"values\":[{\"method\":\"limit\",\"values\":[1]}]}", NULL),
		"Invalid query 0: 'limit' is not allowed inside 'and'/'or'"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, "{\"method\":\"or\",\"values\":[]}", NULL),
		"'or' needs at least one nested query"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"lessThan\",\"attribute\":\"$createdAt\",\"values\":[\"yesterday\"]}",
		NULL), "ISO 8601"));
	assert_non_null(strstr(parse_error(CAIRN_EINVALID,
		"{\"method\":\"select\",\"values\":[1]}", NULL), "attribute names"));

	/* Too deep: and inside and, nine levels. */
	char deep[1024] = "";
	for (int i = 0; i < 9; i++)
		strcat(deep, "{\"method\":\"and\",\"values\":[");
	strcat(deep, "{\"method\":\"isNull\",\"attribute\":\"a\"}");
	for (int i = 0; i < 9; i++)
		strcat(deep, "]}");
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, deep, NULL), "nested deeper than"));

	/* Over the text limit. */
	at = (size_t)snprintf(long_query, sizeof(long_query),
		"{\"method\":\"equal\",\"attribute\":\"a\",\"values\":[\"");
	memset(long_query + at, 'x', CAIRN_QUERY_MAX_TEXT);
	strcpy(long_query + at + CAIRN_QUERY_MAX_TEXT, "\"]}");
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, "{\"method\":\"limit\",\"values\":[1]}",
		long_query, NULL), "Invalid query 1: longer than 4096 characters"));

	/* Over the values limit (501 values), and exactly at it (500) is fine. */
	at = (size_t)snprintf(many_values, sizeof(many_values),
		"{\"method\":\"equal\",\"attribute\":\"a\",\"values\":[0");
	for (int i = 1; i < CAIRN_QUERY_MAX_VALUES; i++)
		at += (size_t)snprintf(many_values + at, sizeof(many_values) - at, ",1");
	strcpy(many_values + at, "]}");
	queries[0] = many_values;
	assert_int_equal(cairn__query_parse(&query, queries, 1), 0);
	cairn__query_free(query);
	strcpy(many_values + at, ",1]}");
	assert_non_null(strstr(parse_error(CAIRN_EINVALID, many_values, NULL),
		"has 501 values; at most 500"));

	/* Over the query count limit. */
	for (size_t i = 0; i <= CAIRN_QUERY_MAX_COUNT; i++)
		queries[i] = "{\"method\":\"isNull\",\"attribute\":\"a\"}";
	query = (cairn_query *)0x1;
	assert_int_equal(cairn__query_parse(&query, queries, CAIRN_QUERY_MAX_COUNT + 1),
		CAIRN_EINVALID);
	assert_null(query);
	assert_non_null(strstr(cairn_error_last(), "at most 100"));
	assert_int_equal(cairn__query_parse(&query, queries, CAIRN_QUERY_MAX_COUNT), 0);
	cairn__query_free(query);
}

static void test_util_query__defaults_and_accessors(void **state)
{
	const char *queries[] = {
		"{\"method\":\"isNull\",\"attribute\":\"a\"}",
		"{\"method\":\"limit\",\"values\":[10]}",
		"{\"method\":\"limit\",\"values\":[99]}",
		"{\"method\":\"offset\",\"values\":[0]}",
		"{\"method\":\"cursorBefore\",\"values\":[\"doc1\"]}",
		"{\"method\":\"cursorAfter\",\"values\":[\"doc2\"]}",
		"{\"method\":\"orderAsc\"}",
	};
	cairn_query *query = NULL;
	int direction = 0;
	(void)state;

	assert_int_equal(cairn__query_parse(&query, queries, 7), 0);
	/* The first limit and cursor win, like Appwrite. */
	assert_int_equal(cairn__query_limit(query), 10);
	assert_int_equal(cairn__query_offset(query), 0);
	assert_string_equal(cairn__query_cursor(query, &direction), "doc1");
	assert_int_equal(direction, -1);
	cairn__query_free(query);

	assert_int_equal(cairn__query_parse(&query, NULL, 0), 0);
	assert_int_equal(cairn__query_limit(query), -1);
	assert_int_equal(cairn__query_offset(query), -1);
	assert_null(cairn__query_cursor(query, &direction));
	cairn__query_free(query);
	cairn__query_free(NULL);
	assert_int_equal(cairn__query_limit(NULL), -1);
}

static void test_util_query__equal_and_types(void **state)
{
	fixture *f = *state;

	numbers_fixture(f);
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"n\",\"values\":[3]}"), "c");
	/* int vs double compare numerically; string "3" never equals number 3. */
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"n\",\"values\":[3.0]}"), "c");
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"n\",\"values\":[\"3\"]}"),
		"d");
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"n\",\"values\":[1,2.5]}"),
		"a,b");
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"b\",\"values\":[true]}"),
		"a,e");
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"$id\","
		"\"values\":[\"b\",\"d\",\"zz\"]}"), "b,d");
	/* notEqual: none of the values; a null (or missing) attribute never matches. */
	assert_string_equal(IDS(f, "{\"method\":\"notEqual\",\"attribute\":\"n\",\"values\":[1,3]}"),
		"b,d");
	assert_string_equal(IDS(f, "{\"method\":\"notEqual\",\"attribute\":\"b\","
		"\"values\":[false]}"), "a,e");
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"missing\","
		"\"values\":[1]}"), "");
}

static void test_util_query__comparisons(void **state)
{
	fixture *f = *state;

	numbers_fixture(f);
	assert_string_equal(IDS(f, "{\"method\":\"lessThan\",\"attribute\":\"n\",\"values\":[3]}"),
		"a,b");
	assert_string_equal(IDS(f, "{\"method\":\"lessThanEqual\",\"attribute\":\"n\","
		"\"values\":[3]}"), "a,b,c");
	assert_string_equal(IDS(f, "{\"method\":\"greaterThan\",\"attribute\":\"n\","
		"\"values\":[2.5]}"), "c");
	assert_string_equal(IDS(f, "{\"method\":\"greaterThanEqual\",\"attribute\":\"n\","
		"\"values\":[2.5]}"), "b,c");
	/* Strings compare by bytes: "Apple pie" < "apple" because 'A' < 'a'. */
	assert_string_equal(IDS(f, "{\"method\":\"lessThan\",\"attribute\":\"s\","
		"\"values\":[\"b\"]}"), "a,d");
	assert_string_equal(IDS(f, "{\"method\":\"greaterThan\",\"attribute\":\"s\","
		"\"values\":[\"apple\"]}"), "b,c,e");
	/* Booleans: false < true; a string "3" is not comparable with a number. */
	assert_string_equal(IDS(f, "{\"method\":\"lessThan\",\"attribute\":\"b\","
		"\"values\":[true]}"), "b");
	assert_string_equal(IDS(f, "{\"method\":\"greaterThan\",\"attribute\":\"n\","
		"\"values\":[\"0\"]}"), "d");
	/* between is inclusive; notBetween is its negation, and never matches null. */
	assert_string_equal(IDS(f, "{\"method\":\"between\",\"attribute\":\"n\","
		"\"values\":[1,2.5]}"), "a,b");
	assert_string_equal(IDS(f, "{\"method\":\"notBetween\",\"attribute\":\"n\","
		"\"values\":[1,2.5]}"), "c,d");
	assert_string_equal(IDS(f, "{\"method\":\"between\",\"attribute\":\"s\","
		"\"values\":[\"b\",\"cherry\"]}"), "b,c");
}

static void test_util_query__int64_exact(void **state)
{
	fixture *f = *state;

	add_doc(f, "{\"$id\":\"big\",\"v\":9007199254740993}");
	add_doc(f, "{\"$id\":\"max\",\"v\":9223372036854775807}");
	/* 9007199254740993 is not representable as a double: a double compare would say equal. */
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"v\","
		"\"values\":[9007199254740992]}"), "");
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"v\","
		"\"values\":[9007199254740993]}"), "big");
	assert_string_equal(IDS(f, "{\"method\":\"greaterThan\",\"attribute\":\"v\","
		"\"values\":[9007199254740992.0]}"), "big,max");
	assert_string_equal(IDS(f, "{\"method\":\"lessThan\",\"attribute\":\"v\","
		"\"values\":[9223372036854775807.0]}"), "big,max");
	assert_string_equal(IDS(f, "{\"method\":\"greaterThan\",\"attribute\":\"v\","
		"\"values\":[9007199254740993.5]}"), "max");
}

static void test_util_query__null_checks(void **state)
{
	fixture *f = *state;

	numbers_fixture(f);
	assert_string_equal(IDS(f, "{\"method\":\"isNull\",\"attribute\":\"b\"}"), "c,d");
	assert_string_equal(IDS(f, "{\"method\":\"isNotNull\",\"attribute\":\"b\"}"), "a,b,e");
	assert_string_equal(IDS(f, "{\"method\":\"isNull\",\"attribute\":\"n\",\"values\":[]}"), "e");
	assert_string_equal(IDS(f, "{\"method\":\"lessThan\",\"attribute\":\"b\","
		"\"values\":[null]}"), "");
}

static void test_util_query__strings(void **state)
{
	fixture *f = *state;

	numbers_fixture(f);
	assert_string_equal(IDS(f, "{\"method\":\"startsWith\",\"attribute\":\"s\","
		"\"values\":[\"app\"]}"), "a");
	assert_string_equal(IDS(f, "{\"method\":\"notStartsWith\",\"attribute\":\"s\","
		"\"values\":[\"app\"]}"), "b,c,d,e");
	assert_string_equal(IDS(f, "{\"method\":\"endsWith\",\"attribute\":\"s\","
		"\"values\":[\"e\"]}"), "a,d,e");
	assert_string_equal(IDS(f, "{\"method\":\"notEndsWith\",\"attribute\":\"s\","
		"\"values\":[\"e\"]}"), "b,c");
	assert_string_equal(IDS(f, "{\"method\":\"startsWith\",\"attribute\":\"s\","
		"\"values\":[\"\"]}"), "a,b,c,d,e");
	/* A number attribute is not a string: startsWith never matches it. */
	assert_string_equal(IDS(f, "{\"method\":\"startsWith\",\"attribute\":\"n\","
		"\"values\":[\"3\"]}"), "d");
	assert_string_equal(IDS(f, "{\"method\":\"endsWith\",\"attribute\":\"s\","
		"\"values\":[\"a very long suffix\"]}"), "");
}

static void test_util_query__contains(void **state)
{
	fixture *f = *state;

	numbers_fixture(f);
	/* Substring on strings (any of the values). */
	assert_string_equal(IDS(f, "{\"method\":\"contains\",\"attribute\":\"s\","
		"\"values\":[\"an\",\"err\"]}"), "b,c");
	/* Element membership on arrays, with numeric equality across int/double. */
	assert_string_equal(IDS(f, "{\"method\":\"contains\",\"attribute\":\"tags\","
		"\"values\":[\"y\"]}"), "a,c");
	assert_string_equal(IDS(f, "{\"method\":\"contains\",\"attribute\":\"tags\","
		"\"values\":[2.0,\"zz\"]}"), "c");
	assert_string_equal(IDS(f, "{\"method\":\"notContains\",\"attribute\":\"tags\","
		"\"values\":[\"x\"]}"), "b,c");
	assert_string_equal(IDS(f, "{\"method\":\"notContains\",\"attribute\":\"s\","
		"\"values\":[\"a\"]}"), "c,d");
}

static void test_util_query__and_or(void **state)
{
	fixture *f = *state;

	numbers_fixture(f);
	assert_string_equal(IDS(f, "{\"method\":\"or\",\"values\":["
		"{\"method\":\"equal\",\"attribute\":\"n\",\"values\":[1]},"
		"{\"method\":\"startsWith\",\"attribute\":\"s\",\"values\":[\"d\"]}]}"), "a,e");
	assert_string_equal(IDS(f, "{\"method\":\"and\",\"values\":["
		"{\"method\":\"greaterThan\",\"attribute\":\"n\",\"values\":[1]},"
		"{\"method\":\"isNotNull\",\"attribute\":\"b\"}]}"), "b");
	/* Nested: (b = true) and ((n < 2) or (s ends with "te")); top-level queries AND too. */
	assert_string_equal(IDS(f, "{\"method\":\"and\",\"values\":["
		"{\"method\":\"equal\",\"attribute\":\"b\",\"values\":[true]},"
		"{\"method\":\"or\",\"values\":["
		"{\"method\":\"lessThan\",\"attribute\":\"n\",\"values\":[2]},"
		"{\"method\":\"endsWith\",\"attribute\":\"s\",\"values\":[\"te\"]}]}]}"), "a,e");
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"b\",\"values\":[true]}",
		"{\"method\":\"or\",\"values\":["
		"{\"method\":\"lessThan\",\"attribute\":\"n\",\"values\":[2]}]}"), "a");
}

static void test_util_query__system_attributes(void **state)
{
	fixture *f = *state;

	add_doc(f, "{\"$id\":\"x\",\"$sequence\":\"9\","
		"\"$createdAt\":\"2026-08-21T12:00:00.000+00:00\","
		"\"$updatedAt\":\"2026-08-21T12:00:00.500+00:00\"}");
	add_doc(f, "{\"$id\":\"y\",\"$sequence\":\"10\","
		"\"$createdAt\":\"2026-08-21T13:00:00.000+00:00\","
		"\"$updatedAt\":\"2026-08-21T12:00:00.001+00:00\"}");
	/* $sequence is numeric, so "10" > "9" although it sorts first as text. */
	assert_string_equal(IDS(f, "{\"method\":\"greaterThan\",\"attribute\":\"$sequence\","
		"\"values\":[\"9\"]}"), "y");
	assert_string_equal(IDS(f, "{\"method\":\"lessThan\",\"attribute\":\"$sequence\","
		"\"values\":[10]}"), "x");
	/* Instants: 14:00+02:00 is 12:00Z. */
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"$createdAt\","
		"\"values\":[\"2026-08-21T14:00:00+02:00\"]}"), "x");
	assert_string_equal(IDS(f, "{\"method\":\"greaterThan\",\"attribute\":\"$createdAt\","
		"\"values\":[\"2026-08-21T12:30:00Z\"]}"), "y");
	assert_string_equal(IDS(f, "{\"method\":\"lessThan\",\"attribute\":\"$updatedAt\","
		"\"values\":[\"2026-08-21T07:00:00.100-05:00\"]}"), "y");
	assert_string_equal(IDS(f, "{\"method\":\"between\",\"attribute\":\"$createdAt\","
		"\"values\":[\"2026-08-21T12:00:00Z\",\"2026-08-21T12:59:59.999Z\"]}"), "x");
	/* No order: $sequence order, numerically. */
	assert_string_equal(IDS(f, "{\"method\":\"orderDesc\",\"attribute\":\"$sequence\"}"),
		"y,x");
	assert_string_equal(run(f, -1, NULL, NULL), "x,y");
	assert_string_equal(IDS(f, "{\"method\":\"orderAsc\",\"attribute\":\"$updatedAt\"}"),
		"y,x");
}

static void test_util_query__order_ties(void **state)
{
	fixture *f = *state;

	/* Input order is scrambled on purpose; $sequence decides ties. */
	add_doc(f, "{\"$id\":\"d\",\"$sequence\":\"4\",\"g\":1,\"h\":\"b\","
		"\"$updatedAt\":\"2026-01-01T00:00:00.000+00:00\"}");
	add_doc(f, "{\"$id\":\"a\",\"$sequence\":\"10\",\"g\":2,\"h\":\"a\","
		"\"$updatedAt\":\"2026-01-01T00:00:00.000+00:00\"}");
	add_doc(f, "{\"$id\":\"c\",\"$sequence\":\"3\",\"g\":1,\"h\":\"a\","
		"\"$updatedAt\":\"2026-01-02T00:00:00.000+00:00\"}");
	add_doc(f, "{\"$id\":\"b\",\"$sequence\":\"2\",\"h\":\"c\","
		"\"$updatedAt\":\"2026-01-01T00:00:00.000+00:00\"}");
	add_doc(f, "{\"$id\":\"e\",\"$sequence\":\"5\",\"g\":null,\"h\":\"a\","
		"\"$updatedAt\":\"2026-01-02T00:00:00.000+00:00\"}");

	/* Null/missing first ascending, ties by $sequence ascending. */
	assert_string_equal(IDS(f, "{\"method\":\"orderAsc\",\"attribute\":\"g\"}"), "b,e,c,d,a");
	/* Descending on a user attribute: ties still by $sequence ascending; nulls last. */
	assert_string_equal(IDS(f, "{\"method\":\"orderDesc\",\"attribute\":\"g\"}"), "a,c,d,b,e");
	/* Two orders. */
	assert_string_equal(IDS(f, "{\"method\":\"orderAsc\",\"attribute\":\"h\"}",
		"{\"method\":\"orderDesc\",\"attribute\":\"g\"}"), "a,c,e,d,b");
	/* First order on a timestamp: the tie-breaker follows its direction. */
	assert_string_equal(IDS(f, "{\"method\":\"orderDesc\",\"attribute\":\"$updatedAt\"}"),
		"e,c,a,d,b");
	assert_string_equal(IDS(f, "{\"method\":\"orderAsc\",\"attribute\":\"$updatedAt\"}"),
		"b,d,a,c,e");
	assert_string_equal(IDS(f, "{\"method\":\"orderAsc\",\"attribute\":\"$id\"}"), "a,b,c,d,e");
	assert_string_equal(run(f, -1, NULL, NULL), "b,c,d,e,a");
}

static void test_util_query__id_tie_break(void **state)
{
	fixture *f = *state;

	/* Without $sequence, equal keys fall back to $id. */
	add_doc(f, "{\"$id\":\"q\",\"k\":1}");
	add_doc(f, "{\"$id\":\"m\",\"k\":1}");
	add_doc(f, "{\"$id\":\"z\",\"k\":0}");
	assert_string_equal(IDS(f, "{\"method\":\"orderAsc\",\"attribute\":\"k\"}"), "z,m,q");
	assert_string_equal(run(f, -1, NULL, NULL), "m,q,z");
}

static void ten_docs(fixture *f)
{
	char json[128];

	/* Ids j0..j9, $sequence 1..10, even ones have kind "even". */
	for (int i = 0; i < 10; i++) {
		snprintf(json, sizeof(json), "{\"$id\":\"j%d\",\"$sequence\":\"%d\",\"kind\":\"%s\"}",
			i, i + 1, i % 2 ? "odd" : "even");
		add_doc(f, json);
	}
}

static void test_util_query__paging(void **state)
{
	fixture *f = *state;
	int64_t total = -1;

	ten_docs(f);
	/* default_limit applies when there is no limit; total ignores paging. */
	assert_string_equal(run(f, 3, &total, "{\"method\":\"equal\",\"attribute\":\"kind\","
		"\"values\":[\"odd\"]}", NULL), "j1,j3,j5");
	assert_int_equal(total, 5);
	assert_string_equal(run(f, 3, &total, "{\"method\":\"limit\",\"values\":[0]}", NULL), "");
	assert_int_equal(total, 10);
	assert_string_equal(run(f, 3, NULL, "{\"method\":\"offset\",\"values\":[8]}", NULL), "j8,j9");
	assert_string_equal(run(f, 3, NULL, "{\"method\":\"offset\",\"values\":[50]}", NULL), "");
	assert_string_equal(run(f, -1, NULL, "{\"method\":\"offset\",\"values\":[2]}",
		"{\"method\":\"limit\",\"values\":[2]}", NULL), "j2,j3");
	assert_string_equal(run(f, -1, NULL, NULL), "j0,j1,j2,j3,j4,j5,j6,j7,j8,j9");
}

static void test_util_query__cursors(void **state)
{
	fixture *f = *state;
	int64_t total = -1;

	ten_docs(f);
	assert_string_equal(IDS(f, "{\"method\":\"cursorAfter\",\"values\":[\"j3\"]}",
		"{\"method\":\"limit\",\"values\":[3]}"), "j4,j5,j6");
	assert_string_equal(IDS(f, "{\"method\":\"cursorAfter\",\"values\":[\"j3\"]}",
		"{\"method\":\"offset\",\"values\":[1]}", "{\"method\":\"limit\",\"values\":[2]}"),
		"j5,j6");
	/* cursorBefore: the last `limit` before the cursor, still in the query's order. */
	assert_string_equal(run(f, -1, &total, "{\"method\":\"cursorBefore\",\"values\":[\"j7\"]}",
		"{\"method\":\"limit\",\"values\":[3]}", NULL), "j4,j5,j6");
	assert_int_equal(total, 10);
	assert_string_equal(IDS(f, "{\"method\":\"cursorBefore\",\"values\":[\"j7\"]}",
		"{\"method\":\"offset\",\"values\":[1]}", "{\"method\":\"limit\",\"values\":[2]}"),
		"j4,j5");
	assert_string_equal(IDS(f, "{\"method\":\"cursorBefore\",\"values\":[\"j1\"]}",
		"{\"method\":\"limit\",\"values\":[5]}"), "j0");
	assert_string_equal(IDS(f, "{\"method\":\"cursorAfter\",\"values\":[\"j9\"]}"), "");
	/* Under a descending order, "after" follows that order. */
	assert_string_equal(IDS(f, "{\"method\":\"orderDesc\",\"attribute\":\"$sequence\"}",
		"{\"method\":\"cursorAfter\",\"values\":[\"j3\"]}"), "j2,j1,j0");
	assert_string_equal(IDS(f, "{\"method\":\"orderDesc\",\"attribute\":\"$sequence\"}",
		"{\"method\":\"cursorBefore\",\"values\":[\"j3\"]}",
		"{\"method\":\"limit\",\"values\":[2]}"), "j5,j4");
	/* The cursor document is filtered out, but it still marks a position. */
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"kind\","
		"\"values\":[\"even\"]}", "{\"method\":\"cursorAfter\",\"values\":[\"j3\"]}"),
		"j4,j6,j8");
	assert_string_equal(IDS(f, "{\"method\":\"equal\",\"attribute\":\"kind\","
		"\"values\":[\"even\"]}", "{\"method\":\"cursorBefore\",\"values\":[\"j3\"]}"),
		"j0,j2");
}

static void test_util_query__cursor_not_found(void **state)
{
	fixture *f = *state;
	const char *queries[] = {"{\"method\":\"cursorAfter\",\"values\":[\"nope\"]}"};
	cairn_query *query = NULL;
	json_object *page = (json_object *)0x1;
	int64_t total = -1;

	ten_docs(f);
	assert_int_equal(cairn__query_parse(&query, queries, 1), 0);
	assert_int_equal(cairn__query_run(&page, &total, query, f->docs, f->count, 25),
		CAIRN_ENOTFOUND);
	assert_null(page);
	assert_string_equal(cairn_error_last(), "cursor document 'nope' not found");
	cairn__query_free(query);
}

static void test_util_query__select(void **state)
{
	fixture *f = *state;
	const char *queries[] = {
		"{\"method\":\"select\",\"values\":[\"title\",\"missing\"]}",
		"{\"method\":\"select\",\"values\":[\"n\"]}",
	};
	const char *all[] = {"{\"method\":\"select\",\"values\":[\"*\"]}"};
	cairn_query *query = NULL;
	json_object *page = NULL, *entry;

	add_doc(f, "{\"$id\":\"s1\",\"$sequence\":\"1\",\"$permissions\":[],\"title\":\"t\","
		"\"n\":1,\"other\":true}");
	assert_int_equal(cairn__query_parse(&query, queries, 2), 0);
	assert_int_equal(cairn__query_run(&page, NULL, query, f->docs, f->count, 25), 0);
	assert_int_equal(json_object_array_length(page), 1);
	entry = json_object_array_get_idx(page, 0);
	assert_ptr_not_equal(entry, f->docs[0]);
	assert_string_equal(cairn__json_text(entry, NULL),
		"{\"$id\":\"s1\",\"$sequence\":\"1\",\"$permissions\":[],\"title\":\"t\",\"n\":1}");
	/* The input document is untouched. */
	assert_true(json_object_object_get_ex(f->docs[0], "other", NULL));
	json_object_put(page);
	cairn__query_free(query);

	assert_int_equal(cairn__query_parse(&query, all, 1), 0);
	assert_int_equal(cairn__query_run(&page, NULL, query, f->docs, f->count, 25), 0);
	assert_ptr_equal(json_object_array_get_idx(page, 0), f->docs[0]);
	json_object_put(page);
	cairn__query_free(query);
}

static void test_util_query__matches(void **state)
{
	fixture *f = *state;
	const char *queries[] = {
		"{\"method\":\"greaterThan\",\"attribute\":\"n\",\"values\":[1]}",
		"{\"method\":\"limit\",\"values\":[0]}",
	};
	cairn_query *query = NULL;

	numbers_fixture(f);
	assert_int_equal(cairn__query_parse(&query, queries, 2), 0);
	/* Only filters count: limit 0 does not stop a single document from matching. */
	assert_false(cairn__query_matches(query, f->docs[0]));
	assert_true(cairn__query_matches(query, f->docs[1]));
	assert_true(cairn__query_matches(NULL, f->docs[0]));
	cairn__query_free(query);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_util_query__parse_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__defaults_and_accessors, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_util_query__equal_and_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__comparisons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__int64_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__null_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__contains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__and_or, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__system_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__order_ties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__id_tie_break, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__cursors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__cursor_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__select, setup, teardown),
		cmocka_unit_test_setup_teardown(test_util_query__matches, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
