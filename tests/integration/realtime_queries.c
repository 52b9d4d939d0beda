/* realtime_queries.c: subscription queries on /v1/realtime filter events (SDK 22-24 URL slots
 * and SDK 25+ subscribe messages), against the real server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "net/websocket.h"
#include "support/integration.h"
#include "support/realtime_ws.h"
#include "util/json.h"

#define CHANNEL "databases.main.collections.items.documents"
#define OPEN_QUERY "{\"method\":\"equal\",\"attribute\":\"status\",\"values\":[\"open\"]}"

static void setup_collection(const cairn_it_env *env)
{
	assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases",
		"{\"databaseId\":\"main\",\"name\":\"main\"}"), 201);
	assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases/main/collections",
		"{\"collectionId\":\"items\",\"name\":\"items\","
		"\"permissions\":[\"read(\\\"any\\\")\"]}"), 201); /* guests get events */
}

static void write_doc(const cairn_it_env *env, const char *method, const char *id,
	const char *data)
{
	char path[128], body[256];

	if (strcmp(method, "POST") == 0) {
		snprintf(path, sizeof(path), "/databases/main/collections/items/documents");
		snprintf(body, sizeof(body), "{\"documentId\":\"%s\",\"data\":%s}", id, data);
	} else {
		snprintf(path, sizeof(path), "/databases/main/collections/items/documents/%s", id);
		snprintf(body, sizeof(body), "{\"data\":%s}", data);
	}
	assert_int_equal(cairn_it_rest(NULL, env, method, path, strcmp(method, "DELETE") == 0 ?
		NULL : body) / 100, 2);
}

/* The next event must be about document `id` and name exactly `subscriptions` ("a,b"). */
static void expect_event(cairn__ws *ws, const char *id, const char *subscriptions)
{
	json_object *message, *data, *ids, *payload;
	char joined[256] = "";
	const char *got = NULL;

	data = cairn_it_ws_expect_type(&message, ws, "event");
	assert_true(json_object_object_get_ex(data, "payload", &payload));
	assert_true(cairn__json_get_string(payload, "$id", &got));
	assert_string_equal(got, id);
	assert_true(json_object_object_get_ex(data, "subscriptions", &ids));
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		if (i)
			strcat(joined, ",");
		strncat(joined, json_object_get_string(json_object_array_get_idx(ids, i)),
			sizeof(joined) - strlen(joined) - 2);
	}
	assert_string_equal(joined, subscriptions);
	json_object_put(message);
}

/* Nothing (no filtered-out event) is queued before the pong. */
static void expect_quiet(cairn__ws *ws)
{
	json_object *message;

	cairn_it_ws_send(ws, "{\"type\":\"ping\"}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "pong"), message));
}

/* SDK 25+: each subscription gets only the events its queries accept; the queries are
 * echoed; a subscription update replaces them. */
static void test_integration_realtime_queries__message_subscriptions(void **state)
{
	cairn_it_env *env = *state;
	cairn__ws *ws;
	json_object *message, *data, *echoed;

	setup_collection(env);
	ws = cairn_it_ws_open(env, CAIRN_IT_PROJECT);
	json_object_put((cairn_it_ws_expect_type(&message, ws, "connected"), message));
	cairn_it_ws_send(ws, "{\"type\":\"subscribe\",\"data\":["
		"{\"subscriptionId\":\"open\",\"channels\":[\"" CHANNEL "\"],\"queries\":[" "\""
		"{\\\"method\\\":\\\"equal\\\",\\\"attribute\\\":\\\"status\\\",\\\"values\\\":"
		"[\\\"open\\\"]}\"]},"
		"{\"subscriptionId\":\"big\",\"channels\":[\"documents\"],\"queries\":[\""
		"{\\\"method\\\":\\\"greaterThan\\\",\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[10]}"
		"\",\"{\\\"method\\\":\\\"select\\\",\\\"values\\\":[\\\"*\\\"]}\"]},"
		"{\"subscriptionId\":\"all\",\"channels\":[\"" CHANNEL "\"]}]}");
	data = cairn_it_ws_expect_type(&message, ws, "response");
	assert_true(json_object_object_get_ex(data, "subscriptions", &echoed));
	assert_int_equal(json_object_array_length(echoed), 3);
	{
		json_object *first = json_object_array_get_idx(echoed, 0), *queries;

		assert_true(json_object_object_get_ex(first, "queries", &queries));
		assert_int_equal(json_object_array_length(queries), 1);
		assert_string_equal(json_object_get_string(json_object_array_get_idx(queries, 0)),
			OPEN_QUERY);
	}
	json_object_put(message);

	write_doc(env, "POST", "d1", "{\"status\":\"open\",\"n\":1}");
	expect_event(ws, "d1", "open,all");
	write_doc(env, "POST", "d2", "{\"status\":\"closed\",\"n\":20}");
	expect_event(ws, "d2", "big,all");
	write_doc(env, "PATCH", "d2", "{\"status\":\"open\"}");
	expect_event(ws, "d2", "open,big,all");
	write_doc(env, "PATCH", "d1", "{\"status\":\"closed\"}");
	expect_event(ws, "d1", "all");
	/* A delete has no fields left to test: it reaches every subscription of its channels. */
	write_doc(env, "DELETE", "d1", NULL);
	expect_event(ws, "d1", "open,big,all");
	expect_quiet(ws);

	/* Replacing "all" with a filter that nothing passes: a non-matching write reaches
	 * nobody on this connection at all. */
	cairn_it_ws_send(ws, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"all\","
		"\"channels\":[\"" CHANNEL "\"],\"queries\":[\"" "{\\\"method\\\":\\\"isNull\\\","
		"\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[]}\"]}]}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "response"), message));
	write_doc(env, "POST", "d3", "{\"status\":\"closed\",\"n\":2}");
	expect_quiet(ws);
	write_doc(env, "POST", "d4", "{\"status\":\"closed\"}");
	expect_event(ws, "d4", "all");
	cairn__ws_free(ws);
}

/* Bad queries are refused with error 1003; nothing changes and the connection stays. */
static void test_integration_realtime_queries__bad_queries(void **state)
{
	cairn_it_env *env = *state;
	cairn__ws *ws;
	json_object *message, *data;
	const char *bad[] = {
		"{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"documents\"],\"queries\":[1]}]}",
		"{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"documents\"],"
			"\"queries\":[\"not json\"]}]}",
		"{\"type\":\"subscribe\",\"data\":[{\"channels\":[\"documents\"],\"queries\":[\""
			"{\\\"method\\\":\\\"dance\\\",\\\"attribute\\\":\\\"n\\\",\\\"values\\\":[1]}"
			"\"]}]}",
		"{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"ok\",\"channels\":"
			"[\"documents\"]},{\"channels\":[\"documents\"],\"queries\":\"x\"}]}",
	};

	setup_collection(env);
	ws = cairn_it_ws_open(env, CAIRN_IT_PROJECT);
	json_object_put((cairn_it_ws_expect_type(&message, ws, "connected"), message));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cairn_it_ws_send(ws, bad[i]);
		data = cairn_it_ws_expect_type(&message, ws, "error");
		assert_int_equal(json_object_get_int(json_object_object_get(data, "code")), 1003);
		json_object_put(message);
	}
	/* None of them subscribed anything (not even the valid half of the last one). */
	write_doc(env, "POST", "d1", "{\"n\":1}");
	expect_quiet(ws);
	cairn__ws_free(ws);
}

/* SDK 22-24: a slot's queries travel in the URL as <channel>[<slot>][]=<query>. */
static void test_integration_realtime_queries__url_slots(void **state)
{
	cairn_it_env *env = *state;
	cairn__ws *filtered, *plain;
	json_object *message, *data, *subscriptions;
	char url[512], slot0[64], slot1[64];

	setup_collection(env);
	/* Slot 0: open items only; slot 1: everything of the collection (select(*) is what the
	 * SDK sends for "no queries"). Query JSON is URL-encoded as the SDK does. */
	snprintf(url, sizeof(url), "%s&channels[]=" CHANNEL "&" CHANNEL "[0][]="
		"%%7B%%22method%%22%%3A%%22equal%%22%%2C%%22attribute%%22%%3A%%22status%%22%%2C"
		"%%22values%%22%%3A%%5B%%22open%%22%%5D%%7D&documents[1][]="
		"%%7B%%22method%%22%%3A%%22select%%22%%2C%%22values%%22%%3A%%5B%%22*%%22%%5D%%7D",
		CAIRN_IT_PROJECT);
	filtered = cairn_it_ws_open(env, url);
	data = cairn_it_ws_expect_type(&message, filtered, "connected");
	assert_true(json_object_object_get_ex(data, "subscriptions", &subscriptions));
	assert_int_equal(json_object_array_length(subscriptions), 2);
	snprintf(slot0, sizeof(slot0), "%s",
		json_object_get_string(json_object_array_get_idx(subscriptions, 0)));
	snprintf(slot1, sizeof(slot1), "%s",
		json_object_get_string(json_object_array_get_idx(subscriptions, 1)));
	json_object_put(message);
	plain = cairn_it_ws_open(env, CAIRN_IT_PROJECT "&channels[]=" CHANNEL);
	json_object_put((cairn_it_ws_expect_type(&message, plain, "connected"), message));

	write_doc(env, "POST", "d1", "{\"status\":\"closed\"}");
	write_doc(env, "POST", "d2", "{\"status\":\"open\"}");
	{
		char both[140];

		expect_event(filtered, "d1", slot1);
		snprintf(both, sizeof(both), "%s,%s", slot0, slot1);
		expect_event(filtered, "d2", both);
	}
	/* The unfiltered client saw both writes: the filter, not a lost event, made d1 skip
	 * slot 0. */
	data = cairn_it_ws_expect_type(&message, plain, "event");
	json_object_put(message);
	data = cairn_it_ws_expect_type(&message, plain, "event");
	(void)data;
	json_object_put(message);
	expect_quiet(filtered);
	cairn__ws_free(filtered);
	cairn__ws_free(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_realtime_queries__message_subscriptions),
		CAIRN_IT_TEST(test_integration_realtime_queries__bad_queries),
		CAIRN_IT_TEST(test_integration_realtime_queries__url_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
