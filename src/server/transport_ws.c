/* transport_ws.c: the WebSocket side of the transport: the /v1/realtime upgrade, RFC 6455
 * framing on the raw connection, and the glue that hands messages to realtime.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/transport_int.h"

/*
 * Why the frames are handled here and not by libwebsockets' ws role: the connection was
 * accepted in lws's raw role (see the top of this file), and lws 4.1.6 has no way to move a
 * live raw wsi into another role. Adopting the socket again (lws_adopt_socket_vhost_readbuf)
 * needs a descriptor that no wsi owns, and closing the raw wsi to release it closes the
 * socket. lws still does the socket I/O and the SHA-1/base64 of the handshake; this section
 * only frames and unframes messages (docs/transport.md, "WebSocket").
 */

int cairn__transport_wants_websocket(const job *j)
{
	const char *upgrade = cairn__http_header(&j->request, "upgrade");

	return strcmp(j->request.method, "GET") == 0 && !j->head_only &&
		(strcmp(j->request.path, "/v1/realtime") == 0 ||
		strcmp(j->request.path, "/v1/realtime/") == 0) &&
		upgrade && cairn__transport_has_token(upgrade, "websocket");
}

/* An idle realtime connection keeps no buffers: with thousands of subscribers open, the
 * 4 KiB each of input and output would be most of the server's memory. */
static void ws_trim(conn *c)
{
	if (c->in_length == 0 && c->in) {
		free(c->in);
		c->in = NULL;
		c->in_capacity = 0;
	}
	if (c->ws_out_sent == c->ws_out_length && c->ws_out) {
		free(c->ws_out);
		c->ws_out = NULL;
		c->ws_out_capacity = c->ws_out_length = c->ws_out_sent = 0;
	}
}

static int ws_queue(conn *c, const char *bytes, size_t length)
{
	if (c->ws_out_length - c->ws_out_sent + length > WS_MAX_BACKLOG)
		return -1; /* the client stopped reading: it is dropped below */
	if (c->ws_out_sent && c->ws_out_sent == c->ws_out_length)
		c->ws_out_sent = c->ws_out_length = 0;
	if (c->ws_out_length + length > c->ws_out_capacity) {
		size_t capacity = c->ws_out_capacity ? c->ws_out_capacity : 4096;
		char *grown;

		while (capacity < c->ws_out_length + length)
			capacity *= 2;
		grown = realloc(c->ws_out, capacity);
		if (!grown)
			return -1;
		c->ws_out = grown;
		c->ws_out_capacity = capacity;
	}
	memcpy(c->ws_out + c->ws_out_length, bytes, length);
	c->ws_out_length += length;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* Queues one unmasked frame (server frames are never masked). */
static int ws_frame(conn *c, int opcode, const char *payload, size_t length)
{
	unsigned char head[10];
	size_t head_length = 2, i;

	head[0] = (unsigned char)(0x80 | opcode);
	if (length < 126) {
		head[1] = (unsigned char)length;
	} else if (length <= 0xffff) {
		head[1] = 126;
		head[2] = (unsigned char)(length >> 8);
		head[3] = (unsigned char)length;
		head_length = 4;
	} else {
		head[1] = 127;
		for (i = 0; i < 8; i++)
			head[2 + i] = (unsigned char)((uint64_t)length >> (56 - 8 * i));
		head_length = 10;
	}
	if (ws_queue(c, (const char *)head, head_length) < 0 ||
		(length && ws_queue(c, payload, length) < 0)) {
		if (c->wsi)
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
		return -1;
	}
	return 0;
}

static void ws_close_with(conn *c, int code)
{
	char payload[2];

	if (c->ws_closing)
		return;
	payload[0] = (char)((code >> 8) & 0xff);
	payload[1] = (char)(code & 0xff);
	ws_frame(c, 0x8, payload, 2);
	c->ws_closing = 1;
	if (c->wsi)
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, DRAIN_SECONDS);
}

/* realtime.c's view of a connection. */
static int ws_send_text(void *connection, const char *text, size_t length)
{
	conn *c = connection;

	if (c->ws_closing)
		return -1;
	return ws_frame(c, 0x1, text, length);
}

static void ws_close_io(void *connection, int code)
{
	ws_close_with(connection, code);
}

static void ws_wake(void *transport)
{
	cairn_transport *t = transport;

	lws_cancel_service(t->context);
}

/* Queues a task for the workers; drain_done (transport.c) runs `done` on the loop. */
static int ws_defer(void *transport, void (*work)(void *arg), void (*done)(void *arg),
	void *arg)
{
	cairn_transport *t = transport;
	job *j = calloc(1, sizeof(*j));

	if (!j)
		return -1;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&t->lock);
	if (t->queue_tail)
		t->queue_tail->next = j;
	else
		t->queue_head = j;
	t->queue_tail = j;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int cairn__transport_ws_upgrade(cairn_transport *t, conn *c)
{
	const char *key = cairn__http_header(&c->job->request, "sec-websocket-key");
	const char *version = cairn__http_header(&c->job->request, "sec-websocket-version");
	char joined[128], accept[64], head[256];
	unsigned char digest[20];
	int n;

	if (!key || strlen(key) > 64 || !version || strcmp(version, "13") != 0)
		return cairn__transport_answer_error(c, 400, "general_bad_request",
			"A WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13.");
	snprintf(joined, sizeof(joined), "%s" WS_GUID, key);
	lws_SHA1((const unsigned char *)joined, strlen(joined), digest);
	if (lws_b64_encode_string((const char *)digest, 20, accept, sizeof(accept)) < 0)
		return -1;
	n = snprintf(head, sizeof(head), "HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		accept);
	c->state = CONN_WS;
	if (ws_queue(c, head, (size_t)n) < 0)
		return -1;
	c->session = cairn__realtime_open(t->realtime, c, &c->job->request);
	cairn__transport_job_free(c->job);
	c->job = NULL;
	if (!c->session)
		return -1;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, WS_IDLE_SECONDS);
	return cairn__transport_ws_process(t, c); /* what followed the head; frees the rest */
}

/* Unframes what the buffer holds and hands complete text messages to realtime.c. */
int cairn__transport_ws_process(cairn_transport *t, conn *c)
{
	while (!c->ws_closing && c->in_length >= 2) {
		const unsigned char *in = (const unsigned char *)c->in;
		int fin = in[0] & 0x80, opcode = in[0] & 0x0f, masked = in[1] & 0x80;
		uint64_t length = in[1] & 0x7f;
		size_t head = 2, i;
		char *payload;

		if (length == 126) {
			if (c->in_length < 4)
				return 0;
			length = (uint64_t)in[2] << 8 | in[3];
			head = 4;
		} else if (length == 127) {
			if (c->in_length < 10)
				return 0;
			for (length = 0, i = 0; i < 8; i++)
				length = length << 8 | in[2 + i];
			head = 10;
		}
		if (!masked || (in[0] & 0x70)) {
			ws_close_with(c, 1002); /* clients must mask; no extensions were agreed */
			return 0;
		}
		if (length > WS_MAX_MESSAGE || c->ws_message_length + length > WS_MAX_MESSAGE) {
			ws_close_with(c, 1009);
			return 0;
		}
		if (c->in_length < head + 4 + length)
			return 0;
		payload = c->in + head + 4;
		for (i = 0; i < length; i++)
			payload[i] ^= (char)in[head + (i & 3)];
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, WS_IDLE_SECONDS);
		switch (opcode) {
		case 0x0: /* continuation */
		case 0x1: /* text */
			if ((opcode == 0x1) != (c->ws_message == NULL)) {
				ws_close_with(c, 1002);
				return 0;
			}
			if (fin && !c->ws_message) {
				cairn__realtime_message(t->realtime, c->session, payload, (size_t)length);
			} else {
				char *grown = realloc(c->ws_message, c->ws_message_length + length + 1);

				if (!grown)
					return -1;
				memcpy(grown + c->ws_message_length, payload, (size_t)length);
				c->ws_message = grown;
				c->ws_message_length += length;
				if (fin) {
					cairn__realtime_message(t->realtime, c->session, c->ws_message,
						c->ws_message_length);
					free(c->ws_message);
					c->ws_message = NULL;
					c->ws_message_length = 0;
				}
			}
			break;
		case 0x8: /* close: answer with the same code */
			if (length >= 2) {
				ws_close_with(c, ((unsigned char)payload[0] << 8) | (unsigned char)payload[1]);
			} else {
				ws_close_with(c, 1000);
			}
			break;
		case 0x9: /* ping */
			if (length > 125) {
				ws_close_with(c, 1002);
				return 0;
			}
			ws_frame(c, 0xA, payload, (size_t)length);
			break;
		case 0xA: /* pong */
			break;
		default: /* binary or reserved: realtime speaks JSON text */
			ws_close_with(c, 1003);
			return 0;
		}
		cairn__transport_consume_input(c, head + 4 + (size_t)length);
	}
	ws_trim(c);
	return 0;
}

int cairn__transport_ws_writeable(conn *c)
{
	unsigned char buffer[LWS_PRE + WRITE_CHUNK];
	size_t left = c->ws_out_length - c->ws_out_sent;
	size_t chunk = left < WRITE_CHUNK ? left : WRITE_CHUNK;

	if (chunk) {
		memcpy(buffer + LWS_PRE, c->ws_out + c->ws_out_sent, chunk);
		if (lws_write(c->wsi, buffer + LWS_PRE, chunk, LWS_WRITE_RAW) != (int)chunk)
			return -1;
		c->ws_out_sent += chunk;
	}
	if (c->ws_out_sent < c->ws_out_length) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	c->ws_out_sent = c->ws_out_length = 0;
	ws_trim(c);
	return c->ws_closing ? -1 : 0;
}

void cairn__transport_set_realtime(cairn_transport *transport, cairn_realtime *realtime)
{
	cairn_realtime_io io;

	io.send = ws_send_text;
	io.close = ws_close_io;
	io.wake = ws_wake;
	io.defer = ws_defer;
	io.transport = transport;
	cairn__realtime_set_io(realtime, &io);
	transport->realtime = realtime;
}
