/* realtime_ws.c: a test's realtime WebSocket client of the real server (see realtime_ws.h). */
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "support/realtime_ws.h"
#include "util/json.h"
#include "util/time.h"

json_object *cairn_it_ws_next(cairn__ws *ws, int timeout_ms)
{
	int64_t until = cairn__time_monotonic_ms() + timeout_ms;

	for (;;) {
		char *text = NULL;
		size_t length = 0;
		int rc = cairn__ws_read(&text, &length, ws);
		struct pollfd p = { cairn__ws_fd(ws), POLLIN, 0 };

		if (rc == 1) {
			json_object *message = cairn_it_parse(text);

			free(text);
			return message;
		}
		if (rc < 0)
			fail_msg("the realtime connection closed: %s", cairn_error_last());
		if (cairn__time_monotonic_ms() >= until)
			return NULL;
		poll(&p, 1, 100);
	}
}

json_object *cairn_it_ws_next_message(cairn__ws *ws)
{
	json_object *message = cairn_it_ws_next(ws, CAIRN_IT_WS_WAIT_MS);

	if (!message)
		fail_msg("no realtime message within %d ms", CAIRN_IT_WS_WAIT_MS);
	return message;
}

json_object *cairn_it_ws_expect_type(json_object **message, cairn__ws *ws, const char *type)
{
	json_object *data = NULL;
	const char *got = NULL;

	*message = cairn_it_ws_next_message(ws);
	assert_true(cairn__json_get_string(*message, "type", &got));
	if (strcmp(got, type) != 0)
		fail_msg("expected a %s message, got %s", type, json_object_to_json_string(*message));
	json_object_object_get_ex(*message, "data", &data);
	return data;
}

cairn__ws *cairn_it_ws_open(const cairn_it_env *env, const char *project_and_query)
{
	cairn__ws *ws = NULL;

	if (cairn__ws_connect(&ws, env->url, project_and_query, 10000) != 0)
		fail_msg("realtime connect: %s", cairn_error_last());
	return ws;
}

void cairn_it_ws_send(cairn__ws *ws, const char *text)
{
	assert_int_equal(cairn__ws_send_text(ws, text, strlen(text)), 0);
}

cairn__ws *cairn_it_ws_subscribe(const cairn_it_env *env, const char *subscription_id,
	const char *channel)
{
	cairn__ws *ws = cairn_it_ws_open(env, CAIRN_IT_PROJECT);
	json_object *message;
	char text[1024];

	json_object_put((cairn_it_ws_expect_type(&message, ws, "connected"), message));
	snprintf(text, sizeof(text), "{\"type\":\"subscribe\",\"data\":[{\"subscriptionId\":\"%s\","
		"\"channels\":[\"%s\"]}]}", subscription_id, channel);
	cairn_it_ws_send(ws, text);
	json_object_put((cairn_it_ws_expect_type(&message, ws, "response"), message));
	return ws;
}
