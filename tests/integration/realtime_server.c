/* realtime_server.c: the server's /v1/realtime WebSocket against the real server: connected,
 * the three subscribe generations, events with change sequences, ping, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>

#include <setjmp.h>
#include <cmocka.h>

#include "net/websocket.h"
#include "support/integration.h"
#include "support/realtime_ws.h"
#include "util/json.h"

static void setup_collection(const cairn_it_env *env)
{
	long status;

	status = cairn_it_rest(NULL, env, "POST", "/databases",
		"{\"databaseId\":\"main\",\"name\":\"main\"}");
	assert_int_equal(status, 201);
	status = cairn_it_rest(NULL, env, "POST", "/databases/main/collections",
		"{\"collectionId\":\"items\",\"name\":\"items\",\"permissions\":"
		"[\"read(\\\"any\\\")\"],\"documentSecurity\":false}"); /* guests get events */
	assert_int_equal(status, 201);
}

static int array_has(json_object *array, const char *value)
{
	size_t i;

	for (i = 0; array && i < json_object_array_length(array); i++) {
		if (strcmp(json_object_get_string(json_object_array_get_idx(array, i)), value) == 0)
			return 1;
	}
	return 0;
}

static json_object *member(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(object));
	return value;
}

static void test_integration_realtime_server__message_subscribe_and_events(void **state)
{
	cairn_it_env *env = *state;
	cairn__ws *ws;
	json_object *message, *data, *payload;
	int64_t first, second;

	setup_collection(env);
	ws = cairn_it_ws_open(env, CAIRN_IT_PROJECT);
	data = cairn_it_ws_expect_type(&message, ws, "connected");
	assert_int_equal(json_object_array_length(member(data, "channels")), 0);
	assert_int_equal(json_object_array_length(member(data, "subscriptions")), 0);
	json_object_put(message);

	cairn_it_ws_send(ws, "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"s1\","
		"\"channels\":[\"databases.main.collections.items.documents\"]},{\"channels\":"
		"[\"databases.main.collections.other.documents\"]}]}");
	data = cairn_it_ws_expect_type(&message, ws, "response");
	assert_string_equal(json_object_get_string(member(data, "to")), "subscribe");
	assert_int_equal(json_object_array_length(member(data, "subscriptions")), 2);
	json_object_put(message);

	cairn_it_ws_send(ws, "{\"type\":\"ping\"}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "pong"), message));

	assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases/main/collections/items/"
		"documents", "{\"documentId\":\"d1\",\"data\":{\"title\":\"one\"}}"), 201);
	data = cairn_it_ws_expect_type(&message, ws, "event");
	assert_true(array_has(member(data, "events"),
		"databases.main.collections.items.documents.d1.create"));
	assert_true(array_has(member(data, "channels"), "databases.main.collections.items.documents"));
	assert_true(array_has(member(data, "subscriptions"), "s1"));
	assert_int_equal(json_object_array_length(member(data, "subscriptions")), 1);
	payload = member(data, "payload");
	assert_string_equal(json_object_get_string(member(payload, "$id")), "d1");
	assert_string_equal(json_object_get_string(member(payload, "title")), "one");
	assert_true(cairn__json_get_int64(data, "$changeSequence", &first));
	assert_true(first > 0);
	assert_non_null(member(data, "timestamp"));
	json_object_put(message);

	assert_int_equal(cairn_it_rest(NULL, env, "DELETE", "/databases/main/collections/items/"
		"documents/d1", NULL), 204);
	data = cairn_it_ws_expect_type(&message, ws, "event");
	assert_true(array_has(member(data, "events"),
		"databases.main.collections.items.documents.d1.delete"));
	assert_true(cairn__json_get_int64(data, "$changeSequence", &second));
	assert_true(second > first);
	{
		int64_t previous = -1;

		/* The gap detector: each event names the one before it. */
		assert_true(cairn__json_get_int64(data, "$previousChangeSequence", &previous));
		assert_int_equal(previous, first);
	}
	json_object_put(message);

	cairn_it_ws_send(ws, "{\"type\":\"unsubscribe\",\"data\":[{\"subscriptionId\":\"s1\"},"
		"{\"subscriptionId\":\"nope\"}]}");
	data = cairn_it_ws_expect_type(&message, ws, "response");
	assert_string_equal(json_object_get_string(member(data, "to")), "unsubscribe");
	assert_true(json_object_get_boolean(member(json_object_array_get_idx(
		member(data, "subscriptions"), 0), "removed")));
	assert_false(json_object_get_boolean(member(json_object_array_get_idx(
		member(data, "subscriptions"), 1), "removed")));
	json_object_put(message);

	/* Unsubscribed: the next write reaches nobody here; a ping still answers first. */
	assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases/main/collections/items/"
		"documents", "{\"documentId\":\"d2\",\"data\":{}}"), 201);
	cairn_it_ws_send(ws, "{\"type\":\"ping\"}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "pong"), message));
	cairn__ws_free(ws);
}

static void test_integration_realtime_server__url_channel_generations(void **state)
{
	cairn_it_env *env = *state;
	cairn__ws *old_sdk, *slot_sdk;
	json_object *message, *data, *subscriptions;
	char query[512];
	const char *slot1;

	setup_collection(env);
	/* SDK <= 21: channels in the URL, events routed by channel. */
	snprintf(query, sizeof(query), "%s&channels[]=documents", CAIRN_IT_PROJECT);
	old_sdk = cairn_it_ws_open(env, query);
	data = cairn_it_ws_expect_type(&message, old_sdk, "connected");
	assert_true(array_has(member(data, "channels"), "documents"));
	assert_int_equal(json_object_array_length(member(data, "subscriptions")), 1);
	json_object_put(message);

	/* SDK 22-24: per-slot queries name which channels belong to which subscription. */
	snprintf(query, sizeof(query), "%s&channels[]=databases.main.collections.items.documents"
		"&channels[]=account&databases.main.collections.items.documents[1][]=%%7B%%7D"
		"&account[0][]=%%7B%%7D", CAIRN_IT_PROJECT);
	slot_sdk = cairn_it_ws_open(env, query);
	data = cairn_it_ws_expect_type(&message, slot_sdk, "connected");
	subscriptions = member(data, "subscriptions");
	assert_int_equal(json_object_array_length(subscriptions), 2);
	slot1 = json_object_get_string(json_object_array_get_idx(subscriptions, 1));
	{
		char expected_id[64];

		snprintf(expected_id, sizeof(expected_id), "%s", slot1);
		json_object_put(message);
		assert_int_equal(cairn_it_rest(NULL, env, "POST", "/databases/main/collections/items/"
			"documents", "{\"documentId\":\"d1\",\"data\":{}}"), 201);
		data = cairn_it_ws_expect_type(&message, slot_sdk, "event");
		subscriptions = member(data, "subscriptions");
		assert_int_equal(json_object_array_length(subscriptions), 1);
		assert_string_equal(json_object_get_string(json_object_array_get_idx(subscriptions, 0)),
			expected_id);
		json_object_put(message);
	}
	data = cairn_it_ws_expect_type(&message, old_sdk, "event");
	assert_true(array_has(member(data, "channels"), "documents"));
	json_object_put(message);
	cairn__ws_free(old_sdk);
	cairn__ws_free(slot_sdk);
}

static void test_integration_realtime_server__errors(void **state)
{
	cairn_it_env *env = *state;
	cairn__ws *ws;
	json_object *message, *data;
	char *text = NULL;
	size_t length;
	int rc, i;

	/* A wrong project: error 1008, then the socket closes. */
	ws = cairn_it_ws_open(env, "not-the-project");
	data = cairn_it_ws_expect_type(&message, ws, "error");
	assert_int_equal(json_object_get_int(member(data, "code")), 1008);
	json_object_put(message);
	for (i = 0, rc = 0; i < 100 && rc == 0; i++) {
		struct pollfd p = { cairn__ws_fd(ws), POLLIN, 0 };

		poll(&p, 1, 100);
		rc = cairn__ws_read(&text, &length, ws);
		free(text);
		text = NULL;
	}
	assert_true(rc < 0);
	cairn__ws_free(ws);

	/* Bad messages: error 1003, and the connection stays usable. */
	ws = cairn_it_ws_open(env, CAIRN_IT_PROJECT);
	json_object_put((cairn_it_ws_expect_type(&message, ws, "connected"), message));
	cairn_it_ws_send(ws, "not json");
	data = cairn_it_ws_expect_type(&message, ws, "error");
	assert_int_equal(json_object_get_int(member(data, "code")), 1003);
	json_object_put(message);
	cairn_it_ws_send(ws, "{\"type\":\"subscribe\",\"data\":[{\"channels\":[]}]}");
	data = cairn_it_ws_expect_type(&message, ws, "error");
	assert_int_equal(json_object_get_int(member(data, "code")), 1003);
	json_object_put(message);
	cairn_it_ws_send(ws, "{\"type\":\"dance\"}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "error"), message));
	cairn_it_ws_send(ws, "{\"type\":\"ping\"}");
	json_object_put((cairn_it_ws_expect_type(&message, ws, "pong"), message));
	cairn__ws_free(ws);

	/* Plain HTTP still works on the same port. */
	assert_int_equal(cairn_it_rest(NULL, env, "GET", "/health/version", NULL) > 0, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CAIRN_IT_TEST(test_integration_realtime_server__message_subscribe_and_events),
		CAIRN_IT_TEST(test_integration_realtime_server__url_channel_generations),
		CAIRN_IT_TEST(test_integration_realtime_server__errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
