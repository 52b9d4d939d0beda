/* proxy.c: the test proxy: one poll() thread forwarding loopback TCP connections, with
 * refuse, stall and cut-mid-request/response faults. */
#include "support/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PAIRS 128

typedef struct {
	int client;           /* -1: free slot */
	int server;           /* -1 while stalled */
	int marked;           /* armed cut applies to this pair */
	size_t left;          /* bytes still allowed in the cut direction */
} pair;

struct cairn_test_proxy {
	int listen_fd;
	int port;
	int wake[2];
	pthread_t thread;
	pthread_mutex_t lock;      /* guards everything below */
	int target_port;
	cairn_proxy_mode mode;
	int cut_all;
	char match[64];            /* "" = no cut armed */
	cairn_proxy_direction direction;
	size_t bytes;
	atomic_int cuts;
	atomic_int accepted;
	int stopping;
	pair pairs[MAX_PAIRS];     /* proxy thread only */
};

static void pair_close(pair *p)
{
	if (p->client >= 0) {
		/* A reset, not a polite FIN: the client must see a broken connection. */
		struct linger hard = { 1, 0 };

		setsockopt(p->client, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
		close(p->client);
	}
	if (p->server >= 0)
		close(p->server);
	p->client = p->server = -1;
	p->marked = 0;
}

static int send_all(int fd, const char *data, size_t length)
{
	while (length) {
		ssize_t n = send(fd, data, length, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { fd, POLLOUT, 0 };

			poll(&p, 1, 1000);
			continue;
		}
		if (n <= 0)
			return -1;
		data += n;
		length -= (size_t)n;
	}
	return 0;
}

static int connect_target(int port)
{
	struct sockaddr_in address;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_port = htons((unsigned short)port);
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void on_accept(cairn_test_proxy *proxy)
{
	int fd = accept4(proxy->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	cairn_proxy_mode mode;
	int target, i;
	pair *p = NULL;

	if (fd < 0)
		return;
	atomic_fetch_add(&proxy->accepted, 1);
	pthread_mutex_lock(&proxy->lock);
	mode = proxy->mode;
	target = proxy->target_port;
	pthread_mutex_unlock(&proxy->lock);
	for (i = 0; i < MAX_PAIRS; i++) {
		if (proxy->pairs[i].client < 0) {
			p = &proxy->pairs[i];
			break;
		}
	}
	if (!p || mode == CAIRN_PROXY_REFUSE) {
		pair tmp = { fd, -1, 0, 0 };

		pair_close(&tmp);
		return;
	}
	p->client = fd;
	p->server = -1;
	p->marked = 0;
	if (mode == CAIRN_PROXY_STALL)
		return;
	p->server = connect_target(target);
	if (p->server < 0)
		pair_close(p); /* the server is down: the client sees a reset, as if refused */
}

/* Forwards one read from `from` to `to`; applies an armed cut. */
static void forward(cairn_test_proxy *proxy, pair *p, int to_server)
{
	char buffer[65536];
	int from = to_server ? p->client : p->server;
	int to = to_server ? p->server : p->client;
	ssize_t n = recv(from, buffer, sizeof(buffer), 0);
	size_t length;

	if (n <= 0) {
		pair_close(p);
		return;
	}
	length = (size_t)n;
	if (to_server && !p->marked) {
		pthread_mutex_lock(&proxy->lock);
		if (proxy->match[0] && memmem(buffer, length, proxy->match, strlen(proxy->match))) {
			p->marked = proxy->direction == CAIRN_PROXY_TO_SERVER ? 1 : 2;
			p->left = proxy->bytes;
			proxy->match[0] = '\0';
		}
		pthread_mutex_unlock(&proxy->lock);
	}
	if ((p->marked == 1 && to_server) || (p->marked == 2 && !to_server)) {
		if (length >= p->left) {
			send_all(to, buffer, p->left);
			atomic_fetch_add(&proxy->cuts, 1);
			pair_close(p);
			return;
		}
		p->left -= length;
	}
	if (send_all(to, buffer, length) < 0)
		pair_close(p);
}

static void *proxy_main(void *arg)
{
	cairn_test_proxy *proxy = arg;

	for (;;) {
		struct pollfd fds[2 + 2 * MAX_PAIRS];
		int owner[2 + 2 * MAX_PAIRS];
		int count = 0, i, stopping, cut_all;

		pthread_mutex_lock(&proxy->lock);
		stopping = proxy->stopping;
		cut_all = proxy->cut_all;
		proxy->cut_all = 0;
		pthread_mutex_unlock(&proxy->lock);
		if (stopping)
			break;
		if (cut_all) {
			for (i = 0; i < MAX_PAIRS; i++)
				pair_close(&proxy->pairs[i]);
		}
		fds[count].fd = proxy->wake[0];
		fds[count].events = POLLIN;
		owner[count++] = -1;
		fds[count].fd = proxy->listen_fd;
		fds[count].events = POLLIN;
		owner[count++] = -2;
		for (i = 0; i < MAX_PAIRS; i++) {
			pair *p = &proxy->pairs[i];

			if (p->client < 0 || p->server < 0)
				continue; /* stalled pairs are never read */
			fds[count].fd = p->client;
			fds[count].events = POLLIN;
			owner[count++] = i * 2;
			fds[count].fd = p->server;
			fds[count].events = POLLIN;
			owner[count++] = i * 2 + 1;
		}
		if (poll(fds, (nfds_t)count, 1000) <= 0)
			continue;
		if (fds[0].revents) {
			char drain[64];

			while (read(proxy->wake[0], drain, sizeof(drain)) > 0)
				;
		}
		if (fds[1].revents)
			on_accept(proxy);
		for (i = 2; i < count; i++) {
			pair *p = &proxy->pairs[owner[i] / 2];

			if (!fds[i].revents || p->client < 0 || p->server < 0)
				continue;
			forward(proxy, p, owner[i] % 2 == 0);
		}
	}
	for (int i = 0; i < MAX_PAIRS; i++)
		pair_close(&proxy->pairs[i]);
	return NULL;
}

static void wake(cairn_test_proxy *proxy)
{
	ssize_t ignored = write(proxy->wake[1], "x", 1);

	(void)ignored;
}

int cairn_test_proxy_start(cairn_test_proxy **out, int target_port)
{
	cairn_test_proxy *proxy = calloc(1, sizeof(*proxy));
	struct sockaddr_in address;
	socklen_t length = sizeof(address);
	int i;

	*out = NULL;
	if (!proxy)
		return -1;
	for (i = 0; i < MAX_PAIRS; i++)
		proxy->pairs[i].client = proxy->pairs[i].server = -1;
	proxy->target_port = target_port;
	pthread_mutex_init(&proxy->lock, NULL);
	proxy->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (proxy->listen_fd < 0 || bind(proxy->listen_fd, (struct sockaddr *)&address,
		sizeof(address)) != 0 || listen(proxy->listen_fd, 64) != 0 ||
		getsockname(proxy->listen_fd, (struct sockaddr *)&address, &length) != 0 ||
		pipe2(proxy->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		fprintf(stderr, "proxy: could not listen: %s\n", strerror(errno));
		if (proxy->listen_fd >= 0)
			close(proxy->listen_fd);
		free(proxy);
		return -1;
	}
	proxy->port = ntohs(address.sin_port);
	if (pthread_create(&proxy->thread, NULL, proxy_main, proxy) != 0) {
		close(proxy->listen_fd);
		close(proxy->wake[0]);
		close(proxy->wake[1]);
		free(proxy);
		return -1;
	}
	*out = proxy;
	return 0;
}

void cairn_test_proxy_stop(cairn_test_proxy *proxy)
{
	if (!proxy)
		return;
	pthread_mutex_lock(&proxy->lock);
	proxy->stopping = 1;
	pthread_mutex_unlock(&proxy->lock);
	wake(proxy);
	pthread_join(proxy->thread, NULL);
	close(proxy->listen_fd);
	close(proxy->wake[0]);
	close(proxy->wake[1]);
	pthread_mutex_destroy(&proxy->lock);
	free(proxy);
}

int cairn_test_proxy_port(const cairn_test_proxy *proxy)
{
	return proxy->port;
}

void cairn_test_proxy_url(const cairn_test_proxy *proxy, char *out, size_t size)
{
	snprintf(out, size, "http://127.0.0.1:%d/v1", proxy->port);
}

void cairn_test_proxy_set_target(cairn_test_proxy *proxy, int target_port)
{
	pthread_mutex_lock(&proxy->lock);
	proxy->target_port = target_port;
	pthread_mutex_unlock(&proxy->lock);
}

void cairn_test_proxy_set_mode(cairn_test_proxy *proxy, cairn_proxy_mode mode)
{
	pthread_mutex_lock(&proxy->lock);
	proxy->mode = mode;
	pthread_mutex_unlock(&proxy->lock);
	wake(proxy);
}

void cairn_test_proxy_cut_all(cairn_test_proxy *proxy)
{
	pthread_mutex_lock(&proxy->lock);
	proxy->cut_all = 1;
	pthread_mutex_unlock(&proxy->lock);
	wake(proxy);
}

void cairn_test_proxy_cut_on(cairn_test_proxy *proxy, const char *match,
	cairn_proxy_direction direction, size_t bytes)
{
	pthread_mutex_lock(&proxy->lock);
	snprintf(proxy->match, sizeof(proxy->match), "%s", match);
	proxy->direction = direction;
	proxy->bytes = bytes;
	pthread_mutex_unlock(&proxy->lock);
}

int cairn_test_proxy_cuts(const cairn_test_proxy *proxy)
{
	return atomic_load(&((cairn_test_proxy *)proxy)->cuts);
}

int cairn_test_proxy_accepted(const cairn_test_proxy *proxy)
{
	return atomic_load(&((cairn_test_proxy *)proxy)->accepted);
}
