/* connectivity.c: the replicator's network signals: a Linux netlink link/route monitor and
 * exponential backoff with full jitter. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif

#include "client/store_int.h"

int cairn__netlink_open(void)
{
#ifdef __linux__
	struct sockaddr_nl address;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	memset(&address, 0, sizeof(address));
	address.nl_family = AF_NETLINK;
	/* Links going up or down, addresses coming and going, default routes changing: each
	 * can turn "offline" into "online" (or the reverse) without any request failing. */
	address.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
		RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
#else
	return -1;
#endif
}

int cairn__netlink_drain(int fd)
{
	int changed = 0;

#ifdef __linux__
	char buffer[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));

	for (;;) {
		ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
		struct nlmsghdr *h;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			changed = 1; /* we missed some: assume something changed */
			continue;
		}
		if (n <= 0)
			break;
		for (h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (unsigned int)n);
			h = NLMSG_NEXT(h, n)) {
			switch (h->nlmsg_type) {
			case RTM_NEWLINK: case RTM_DELLINK:
			case RTM_NEWADDR: case RTM_DELADDR:
			case RTM_NEWROUTE: case RTM_DELROUTE:
				changed = 1;
				break;
			default:
				break;
			}
		}
	}
#else
	(void)fd;
#endif
	return changed;
}

int64_t cairn__backoff_delay(long initial_ms, long max_ms, unsigned attempt, uint64_t *rng)
{
	int64_t bound = initial_ms > 0 ? initial_ms : 1;
	uint64_t x = *rng ? *rng : 0x9e3779b97f4a7c15ull;

	while (attempt-- > 0 && bound < max_ms)
		bound *= 2;
	if (max_ms > 0 && bound > max_ms)
		bound = max_ms;
	/* xorshift64: good enough to spread clients apart, no shared state between threads. */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*rng = x;
	return (int64_t)(x % (uint64_t)(bound + 1));
}
