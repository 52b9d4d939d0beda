/* realtime_ws.h: a test's realtime WebSocket client of the real server (/v1/realtime):
 * connect, send, read the next message or one of a given type, subscribe to a channel. */
#ifndef CAIRN_TESTS_SUPPORT_REALTIME_WS_H
#define CAIRN_TESTS_SUPPORT_REALTIME_WS_H

/*
 * Every helper asserts with cmocka (run them in the test process only) unless its comment
 * says it returns NULL. Messages returned are owned by the caller (json_object_put).
 */

#include <json-c/json.h>

#include "net/websocket.h"
#include "support/integration.h"

/* The upper bound for "a message eventually comes"; never a timing assertion. */
#define CAIRN_IT_WS_WAIT_MS 20000

/* The next message within `timeout_ms`, or NULL when none came; fails if the connection
 * closed. */
json_object *cairn_it_ws_next(cairn__ws *ws, int timeout_ms);
/* The next message within CAIRN_IT_WS_WAIT_MS; asserts one came. */
json_object *cairn_it_ws_next_message(cairn__ws *ws);
/* The next message, which must have type `type`; *message gets it and the result is its
 * "data" (owned by *message; NULL when it has none). */
json_object *cairn_it_ws_expect_type(json_object **message, cairn__ws *ws, const char *type);
/* Connects to env's server with `project_and_query` ("PROJECT" or "PROJECT&channels[]=…"). */
cairn__ws *cairn_it_ws_open(const cairn_it_env *env, const char *project_and_query);
/* Sends one text frame. */
void cairn_it_ws_send(cairn__ws *ws, const char *text);
/* Connects to env's server for the test project, reads "connected", subscribes to `channel`
 * as subscription `subscription_id` (SDK 25+ message) and reads the "response". */
cairn__ws *cairn_it_ws_subscribe(const cairn_it_env *env, const char *subscription_id,
	const char *channel);

#endif
