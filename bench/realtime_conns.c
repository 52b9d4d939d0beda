/* realtime_conns.c: the realtime scale workload: K WebSocket connections from one process to one
 * server, each subscribed, then one write whose event must reach every one (fan-out time). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "bench_util.h"

#define CONNS_DATABASE "conns"
#define CONNS_COLLECTION "items"
#define CONNS_IN_FLIGHT 256        /* handshakes at once: stay under the listen backlog */
#define CONNS_TIMEOUT_S 180.0      /* the whole workload gives up after this */

/*
 * The client side is deliberately minimal: raw non-blocking sockets on one epoll, the
 * RFC 6455 handshake written by hand (the server checks the key's presence and version, the
 * accept value is not verified here) and unmasked server frames parsed just enough to tell
 * `connected` from `event`. A libwebsockets client context per connection (what the
 * library's client does) would measure the client, not the server.
 */

enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_EVENT, C_FAILED };

typedef struct {
	int fd;
	int state;
	int headers_done;
	char *buffer;          /* bytes received and not yet parsed */
	size_t length, capacity;
	double event_at;       /* when its event arrived */
} conns_client;

static void conns_raise_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		setrlimit(RLIMIT_NOFILE, &limit);
	}
}

static long conns_fd_limit(void)
{
	struct rlimit limit;

	return getrlimit(RLIMIT_NOFILE, &limit) == 0 ? (long)limit.rlim_cur : 1024;
}

static int conns_socket(int port, int nonblocking)
{
	struct sockaddr_in address;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_port = htons((uint16_t)port);
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0 &&
		errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends one REST request (Connection: close) on a blocking socket; the socket or -1. */
static int conns_rest_send(int port, const char *method, const char *path, const char *body)
{
	char request[2048];
	int fd = conns_socket(port, 0), n;

	if (fd < 0)
		return -1;
	n = snprintf(request, sizeof(request), "%s /v1%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		"X-Appwrite-Project: bench\r\nX-Appwrite-Key: bench-key\r\n"
		"Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
		method, path, strlen(body), body);
	if (n <= 0 || (size_t)n >= sizeof(request) || write(fd, request, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the answer of conns_rest_send to the end and closes; the HTTP status or -1. */
static int conns_rest_status(int fd)
{
	char reply[4096];
	size_t length = 0;

	if (fd < 0)
		return -1;
	while (length < sizeof(reply) - 1) {
		ssize_t got = read(fd, reply + length, sizeof(reply) - 1 - length);

		if (got <= 0)
			break;
		length += (size_t)got;
	}
	close(fd);
	reply[length] = '\0';
	return strncmp(reply, "HTTP/1.1 ", 9) == 0 ? atoi(reply + 9) : -1;
}

static int conns_rest(int port, const char *method, const char *path, const char *body)
{
	return conns_rest_status(conns_rest_send(port, method, path, body));
}

static int conns_send_handshake(conns_client *c)
{
	static const char request[] = "GET /v1/realtime?project=bench&channels%5B%5D=databases."
		CONNS_DATABASE ".collections." CONNS_COLLECTION ".documents HTTP/1.1\r\n"
		"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

	return write(c->fd, request, sizeof(request) - 1) == (ssize_t)(sizeof(request) - 1) ?
		0 : -1;
}

/* Parses what arrived: the 101 response, then frames. Moves the client's state on. */
static void conns_parse(conns_client *c, double now)
{
	size_t used = 0;

	if (!c->headers_done) {
		char *end;

		if (c->length < 12)
			return;
		if (strncmp(c->buffer, "HTTP/1.1 101", 12) != 0) {
			c->state = C_FAILED;
			return;
		}
		end = memmem(c->buffer, c->length, "\r\n\r\n", 4);
		if (!end)
			return;
		c->headers_done = 1;
		used = (size_t)(end - c->buffer) + 4;
	}
	for (;;) {
		const unsigned char *frame = (const unsigned char *)c->buffer + used;
		size_t left = c->length - used, head = 2;
		unsigned long long length;

		if (left < 2)
			break;
		length = frame[1] & 0x7f;
		if (length == 126) {
			if (left < 4)
				break;
			length = (unsigned long long)frame[2] << 8 | frame[3];
			head = 4;
		} else if (length == 127) {
			if (left < 10)
				break;
			length = 0;
			for (int i = 0; i < 8; i++)
				length = length << 8 | frame[2 + i];
			head = 10;
		}
		if (left < head + length)
			break;
		if ((frame[0] & 0x0f) == 0x1) {
			const char *text = (const char *)frame + head;

			if (length >= 17 && strncmp(text, "{\"type\":\"event\"", 15) == 0) {
				if (c->state != C_EVENT) {
					c->state = C_EVENT;
					c->event_at = now;
				}
			} else if (length >= 19 && strncmp(text, "{\"type\":\"connected\"", 19) == 0) {
				if (c->state == C_HANDSHAKE)
					c->state = C_OPEN;
			} else if (length >= 15 && strncmp(text, "{\"type\":\"error\"", 15) == 0) {
				c->state = C_FAILED;
			}
		} else if ((frame[0] & 0x0f) == 0x8) {
			c->state = C_FAILED;
		}
		used += head + (size_t)length;
	}
	memmove(c->buffer, c->buffer + used, c->length - used);
	c->length -= used;
}

/* Reads everything available; -1 when the connection is gone. */
static int conns_read(conns_client *c, double now)
{
	for (;;) {
		ssize_t got;

		if (c->capacity - c->length < 4096) {
			size_t capacity = c->capacity ? c->capacity * 2 : 8192;
			char *grown = realloc(c->buffer, capacity);

			if (!grown)
				return -1;
			c->buffer = grown;
			c->capacity = capacity;
		}
		got = read(c->fd, c->buffer + c->length, c->capacity - c->length);
		if (got > 0) {
			c->length += (size_t)got;
			continue;
		}
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return -1;
	}
	conns_parse(c, now);
	return c->state == C_FAILED ? -1 : 0;
}

/* Services the sockets for up to `ms`; returns how many clients changed state. */
static int conns_service(int epoll, conns_client *clients, int ms, long *open, long *events,
	long *failed)
{
	struct epoll_event ready[512];
	int n = epoll_wait(epoll, ready, 512, ms), changed = 0;
	double now = bench_util_now();

	for (int i = 0; i < n; i++) {
		conns_client *c = &clients[ready[i].data.u32];
		int before = c->state;

		if (c->state == C_CONNECTING) {
			int error = 0;
			socklen_t size = sizeof(error);

			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error ||
				conns_send_handshake(c) != 0) {
				c->state = C_FAILED;
			} else {
				struct epoll_event event = { EPOLLIN, { .u32 = ready[i].data.u32 } };

				c->state = C_HANDSHAKE;
				epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd, &event);
				continue;
			}
		} else if (conns_read(c, now) != 0) {
			c->state = C_FAILED;
		}
		if (c->state == before)
			continue;
		changed++;
		if (c->state == C_OPEN)
			(*open)++;
		if (c->state == C_EVENT)
			(*events)++;
		if (c->state == C_FAILED) {
			(*failed)++;
			if (before == C_OPEN || before == C_EVENT)
				(*open)--;
			epoll_ctl(epoll, EPOLL_CTL_DEL, c->fd, NULL);
		}
	}
	return changed;
}

int cairn_bench_realtime_conns(const char *cairn_binary, long connections)
{
	char dir[] = "/tmp/cairn-bench-conns-XXXXXX", command[600];
	conns_client *clients = NULL;
	double *arrivals = NULL, started, until, written = 0, connected_at;
	long open = 0, events = 0, failed = 0, started_count = 0, rss_before, rss_after;
	pid_t server = -1;
	int port = 0, epoll = -1, writer, rc = -1;

	conns_raise_limit();
	if (connections > conns_fd_limit() - 64) {
		fprintf(stderr, "cairn_bench: realtime_conns: %ld connections need more descriptors "
			"than the limit of %ld allows; using %ld\n", connections, conns_fd_limit(),
			conns_fd_limit() - 64);
		connections = conns_fd_limit() - 64;
	}
	if (connections < 1 || !mkdtemp(dir))
		return -1;
	clients = calloc((size_t)connections, sizeof(*clients));
	arrivals = calloc((size_t)connections, sizeof(*arrivals));
	epoll = epoll_create1(EPOLL_CLOEXEC);
	server = bench_util_server_start(cairn_binary, dir, "127.0.0.1:0", &port);
	if (!clients || !arrivals || epoll < 0 || server <= 0 || port <= 0) {
		fprintf(stderr, "cairn_bench: realtime_conns: the server did not start\n");
		goto cleanup;
	}
	/* Readable by guests (realtime clients send no key), so every client may get events. */
	if (conns_rest(port, "POST", "/databases", "{\"databaseId\":\"" CONNS_DATABASE "\","
		"\"name\":\"conns\"}") != 201 ||
		conns_rest(port, "POST", "/databases/" CONNS_DATABASE "/collections",
		"{\"collectionId\":\"" CONNS_COLLECTION "\",\"name\":\"items\","
		"\"permissions\":[\"read(\\\"any\\\")\"]}") != 201) {
		fprintf(stderr, "cairn_bench: realtime_conns: could not create the collection\n");
		goto cleanup;
	}
	rss_before = bench_util_rss_kib(server);

	started = bench_util_now();
	until = started + CONNS_TIMEOUT_S;
	while (open + failed < connections && bench_util_now() < until) {
		/* Keep a bounded number of handshakes in flight. */
		while (started_count < connections &&
			started_count - open - failed < CONNS_IN_FLIGHT) {
			conns_client *c = &clients[started_count];
			struct epoll_event event = { EPOLLOUT, { .u32 = (uint32_t)started_count } };

			c->fd = conns_socket(port, 1);
			c->state = C_CONNECTING;
			if (c->fd < 0 || epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &event) != 0) {
				c->state = C_FAILED;
				failed++;
			}
			started_count++;
		}
		conns_service(epoll, clients, 100, &open, &events, &failed);
	}
	connected_at = bench_util_now();
	rss_after = bench_util_rss_kib(server);
	printf("metric cairn.realtime_connections %ld conns\n", open);
	printf("metric cairn.realtime_connect_s %.2f s\n", connected_at - started);
	if (rss_after > 0) {
		printf("metric cairn.realtime_rss_server %.1f MB\n", (double)rss_after / 1024.0);
		if (rss_before > 0 && open > 0)
			printf("metric cairn.realtime_rss_per_conn %.1f KB\n",
				(double)(rss_after - rss_before) / (double)open);
	}
	if (failed)
		fprintf(stderr, "cairn_bench: realtime_conns: %ld of %ld connections failed\n",
			failed, connections);
	if (open == 0)
		goto cleanup;

	/* One write: its event must reach every open connection. The answer is read after the
	 * events, so that arrivals are timed as they come. */
	written = bench_util_now();
	writer = conns_rest_send(port, "POST", "/databases/" CONNS_DATABASE "/collections/"
		CONNS_COLLECTION "/documents", "{\"documentId\":\"fanout\",\"data\":{\"n\":1}}");
	until = bench_util_now() + 60.0;
	while (writer >= 0 && events < open && bench_util_now() < until)
		conns_service(epoll, clients, 100, &open, &events, &failed);
	if (conns_rest_status(writer) != 201) {
		fprintf(stderr, "cairn_bench: realtime_conns: the write failed\n");
		goto cleanup;
	}
	{
		long count = 0;

		for (long i = 0; i < connections; i++) {
			if (clients[i].state == C_EVENT)
				arrivals[count++] = (clients[i].event_at - written) * 1000.0;
		}
		qsort(arrivals, (size_t)count, sizeof(*arrivals), bench_util_compare_doubles);
		printf("metric cairn.realtime_events_delivered %ld conns\n", count);
		if (count > 0) {
			printf("metric cairn.realtime_fanout_first %.1f ms\n", arrivals[0]);
			printf("metric cairn.realtime_fanout_p50 %.1f ms\n", arrivals[count / 2]);
			printf("metric cairn.realtime_fanout_all %.1f ms\n", arrivals[count - 1]);
		}
		if (count < open)
			fprintf(stderr, "cairn_bench: realtime_conns: %ld of %ld open connections got "
				"no event within 60 s\n", open - count, open);
		rc = count == open && open == connections ? 0 : -1;
	}
	fflush(stdout);
cleanup:
	for (long i = 0; clients && i < connections; i++) {
		if (clients[i].fd > 0)
			close(clients[i].fd);
		free(clients[i].buffer);
	}
	if (epoll >= 0)
		close(epoll);
	bench_util_server_stop(server);
	free(clients);
	free(arrivals);
	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	if (system(command) != 0)
		fprintf(stderr, "cairn_bench: could not remove %s\n", dir);
	return rc;
}
