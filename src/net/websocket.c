/* websocket.c: the client side of RFC 6455 over a plain TCP socket: the upgrade handshake,
 * masked text frames out, unmasked frames in (text, ping, pong, close). */
#include "net/websocket.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/error.h"
#include "util/time.h"

#define MAX_HANDSHAKE 8192
#define MAX_MESSAGE (64u * 1024u * 1024u) /* a document event is at most ~1 MiB of data */

struct cairn__ws {
	int fd;
	char *in;               /* received, not yet unframed */
	size_t in_length, in_capacity;
	char *message;          /* a fragmented message being collected */
	size_t message_length;
	int in_message;
};

static const char base64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_16(const unsigned char in[16], char out[25])
{
	size_t i, o = 0;

	for (i = 0; i < 15; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = base64_chars[(v >> 18) & 63];
		out[o++] = base64_chars[(v >> 12) & 63];
		out[o++] = base64_chars[(v >> 6) & 63];
		out[o++] = base64_chars[v & 63];
	}
	out[o++] = base64_chars[in[15] >> 2];
	out[o++] = base64_chars[(in[15] & 3) << 4];
	out[o++] = '=';
	out[o++] = '=';
	out[o] = '\0';
}

static void random_bytes(unsigned char *out, size_t length)
{
	if (getrandom(out, length, GRND_NONBLOCK) != (ssize_t)length) {
		size_t i;

		for (i = 0; i < length; i++)
			out[i] = (unsigned char)rand();
	}
}

/* Waits until fd is readable (POLLIN) or writable (POLLOUT) or the deadline passes. */
static int wait_for(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { fd, events, 0 };
		int64_t left = deadline - cairn__time_monotonic_ms();
		int n;

		if (left <= 0)
			return -1;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int send_all(int fd, const char *data, size_t length, int64_t deadline)
{
	while (length) {
		ssize_t n = send(fd, data, length, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_for(fd, POLLOUT, deadline) < 0)
				return -1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		length -= (size_t)n;
	}
	return 0;
}

/* Splits "http://HOST:PORT/PATH" (PATH without trailing slash). */
static int parse_url(char *host, size_t host_size, char *port, size_t port_size, char *path,
	size_t path_size, const char *url)
{
	const char *p, *slash, *colon;
	size_t length;

	if (strncasecmp(url, "http://", 7) != 0)
		return cairn__error_set(CAIRN_EINVALID, "realtime needs an http:// remote URL "
			"(got '%s'); wss:// is not supported yet", url);
	p = url + 7;
	slash = strchr(p, '/');
	length = slash ? (size_t)(slash - p) : strlen(p);
	if (p[0] == '[') {
		const char *close = memchr(p, ']', length);

		if (!close)
			return cairn__error_set(CAIRN_EINVALID, "bad host in remote URL '%s'", url);
		colon = close + 1 < p + length && close[1] == ':' ? close + 1 : NULL;
		snprintf(host, host_size, "%.*s", (int)(close - p - 1), p + 1);
	} else {
		colon = memchr(p, ':', length);
		snprintf(host, host_size, "%.*s", (int)(colon ? (size_t)(colon - p) : length), p);
	}
	if (colon)
		snprintf(port, port_size, "%.*s", (int)(p + length - colon - 1), colon + 1);
	else
		snprintf(port, port_size, "80");
	snprintf(path, path_size, "%s", slash ? slash : "");
	length = strlen(path);
	while (length && path[length - 1] == '/')
		path[--length] = '\0';
	return 0;
}

static int connect_to(const char *host, const char *port, int64_t deadline)
{
	struct addrinfo hints, *found = NULL, *a;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &found) != 0)
		return -1;
	for (a = found; a; a = a->ai_next) {
		int error = 0;
		socklen_t error_length = sizeof(error);

		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_for(fd, POLLOUT, deadline) == 0 &&
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_length) == 0 && error == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(found);
	return fd;
}

int cairn__ws_connect(cairn__ws **out, const char *base_url, const char *project,
	long timeout_ms)
{
	char host[256], port[16], path[512], key[25], request[1024];
	char response[MAX_HANDSHAKE + 1];
	unsigned char nonce[16];
	int64_t deadline = cairn__time_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
	size_t received = 0;
	cairn__ws *ws = NULL;
	char *end = NULL;
	int fd = -1, rc, n;

	*out = NULL;
	rc = parse_url(host, sizeof(host), port, sizeof(port), path, sizeof(path), base_url);
	if (rc < 0)
		return rc;
	fd = connect_to(host, port, deadline);
	if (fd < 0)
		return cairn__error_set(CAIRN_EOFFLINE, "cannot reach %s for realtime: %s", base_url,
			strerror(errno ? errno : ECONNREFUSED));
	random_bytes(nonce, sizeof(nonce));
	base64_16(nonce, key);
	n = snprintf(request, sizeof(request), "GET %s/realtime?project=%s HTTP/1.1\r\n"
		"Host: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, project, host,
		port, key);
	if (n < 0 || (size_t)n >= sizeof(request)) {
		rc = cairn__error_set(CAIRN_EINVALID, "remote URL or project too long for realtime");
		goto cleanup;
	}
	if (send_all(fd, request, (size_t)n, deadline) < 0) {
		rc = cairn__error_set(CAIRN_EOFFLINE, "the realtime handshake with %s failed",
			base_url);
		goto cleanup;
	}
	/* Read byte-wise up to the blank line: frames may follow at once in the same packet. */
	while (!end) {
		ssize_t got;

		if (received >= MAX_HANDSHAKE || wait_for(fd, POLLIN, deadline) < 0) {
			rc = cairn__error_set(CAIRN_EOFFLINE, "no realtime handshake answer from %s",
				base_url);
			goto cleanup;
		}
		got = recv(fd, response + received, 1, 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0) {
			rc = cairn__error_set(CAIRN_EOFFLINE, "%s closed the realtime handshake",
				base_url);
			goto cleanup;
		}
		received++;
		response[received] = '\0';
		end = strstr(response, "\r\n\r\n");
	}
	if (strncmp(response, "HTTP/1.1 101", 12) != 0) {
		char *line_end = strstr(response, "\r\n");

		if (line_end)
			*line_end = '\0';
		rc = cairn__error_set(strstr(response, " 5") ? CAIRN_EOFFLINE : CAIRN_ESERVER,
			"the server refused the realtime connection: %s", response);
		goto cleanup;
	}
	ws = calloc(1, sizeof(*ws));
	if (!ws) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	ws->fd = fd;
	fd = -1;
	*out = ws;
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	return rc;
}

void cairn__ws_free(cairn__ws *ws)
{
	if (!ws)
		return;
	if (ws->fd >= 0)
		close(ws->fd);
	free(ws->in);
	free(ws->message);
	free(ws);
}

int cairn__ws_fd(const cairn__ws *ws)
{
	return ws->fd;
}

static int send_frame(cairn__ws *ws, int opcode, const char *payload, size_t length)
{
	unsigned char head[14], mask[4];
	size_t head_length = 2, i;
	char *frame;
	int rc;

	head[0] = (unsigned char)(0x80 | opcode);
	if (length < 126) {
		head[1] = (unsigned char)(0x80 | length);
	} else if (length <= 0xffff) {
		head[1] = 0x80 | 126;
		head[2] = (unsigned char)(length >> 8);
		head[3] = (unsigned char)length;
		head_length = 4;
	} else {
		head[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			head[2 + i] = (unsigned char)((uint64_t)length >> (56 - 8 * i));
		head_length = 10;
	}
	random_bytes(mask, sizeof(mask));
	memcpy(head + head_length, mask, 4);
	head_length += 4;
	frame = malloc(head_length + length);
	if (!frame)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	memcpy(frame, head, head_length);
	for (i = 0; i < length; i++)
		frame[head_length + i] = (char)(payload[i] ^ mask[i & 3]);
	rc = send_all(ws->fd, frame, head_length + length, cairn__time_monotonic_ms() + 5000);
	free(frame);
	return rc < 0 ? cairn__error_set(CAIRN_EOFFLINE, "the realtime connection broke") : 0;
}

int cairn__ws_send_text(cairn__ws *ws, const char *text, size_t length)
{
	return send_frame(ws, 0x1, text, length);
}

/* Takes one frame off ws->in. 1: a message is complete; 2: a frame was consumed (control or
 * fragment); 0: need more bytes; <0: closed. */
static int unframe(char **out, size_t *out_length, cairn__ws *ws)
{
	const unsigned char *in = (const unsigned char *)ws->in;
	uint64_t length;
	size_t head = 2, i;
	int opcode, fin, rc = 2; /* 2: a frame was consumed without completing a message */

	if (ws->in_length < 2)
		return 0;
	fin = in[0] & 0x80;
	opcode = in[0] & 0x0f;
	length = in[1] & 0x7f;
	if (in[1] & 0x80)
		return cairn__error_set(CAIRN_EOFFLINE, "the server sent a masked frame");
	if (length == 126) {
		if (ws->in_length < 4)
			return 0;
		length = (uint64_t)in[2] << 8 | in[3];
		head = 4;
	} else if (length == 127) {
		if (ws->in_length < 10)
			return 0;
		for (length = 0, i = 0; i < 8; i++)
			length = length << 8 | in[2 + i];
		head = 10;
	}
	if (length > MAX_MESSAGE || ws->message_length + length > MAX_MESSAGE)
		return cairn__error_set(CAIRN_EOFFLINE, "realtime message too large");
	if (ws->in_length < head + length)
		return 0;
	switch (opcode) {
	case 0x0:
	case 0x1: {
		char *grown = realloc(ws->message, ws->message_length + length + 1);

		if (!grown)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		ws->message = grown;
		memcpy(grown + ws->message_length, ws->in + head, (size_t)length);
		ws->message_length += length;
		grown[ws->message_length] = '\0';
		if (fin) {
			*out = ws->message;
			*out_length = ws->message_length;
			ws->message = NULL;
			ws->message_length = 0;
			rc = 1;
		}
		break;
	}
	case 0x8:
		rc = cairn__error_set(CAIRN_EOFFLINE, "the server closed the realtime connection");
		break;
	case 0x9:
		if (send_frame(ws, 0xA, ws->in + head, (size_t)length) < 0)
			rc = CAIRN_EOFFLINE;
		break;
	default:
		break; /* pong, binary: ignored */
	}
	memmove(ws->in, ws->in + head + length, ws->in_length - head - (size_t)length);
	ws->in_length -= head + (size_t)length;
	return rc;
}

int cairn__ws_read(char **out, size_t *length, cairn__ws *ws)
{
	*out = NULL;
	*length = 0;
	for (;;) {
		ssize_t n;
		int rc;

		/* Whole frames already buffered come first. */
		while ((rc = unframe(out, length, ws)) != 0) {
			if (rc < 0 || rc == 1)
				return rc;
		}
		/* rc == 0: no whole frame is buffered; read more. */
		if (ws->in_capacity - ws->in_length < 16384) {
			size_t capacity = ws->in_capacity ? ws->in_capacity * 2 : 65536;
			char *grown = realloc(ws->in, capacity);

			if (!grown)
				return cairn__error_set(CAIRN_ENOMEM, "out of memory");
			ws->in = grown;
			ws->in_capacity = capacity;
		}
		n = recv(ws->fd, ws->in + ws->in_length, ws->in_capacity - ws->in_length,
			MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cairn__error_set(CAIRN_EOFFLINE, "the realtime connection closed");
		ws->in_length += (size_t)n;
	}
}
