/* proxy.h: a loopback TCP proxy for tests that refuses, stalls or cuts connections. */
#ifndef CAIRN_TESTS_SUPPORT_PROXY_H
#define CAIRN_TESTS_SUPPORT_PROXY_H

#include <stddef.h>

/*
 * The proxy runs on its own thread, listening on a free 127.0.0.1 port and forwarding each
 * accepted connection to 127.0.0.1:<target>. Every setter may be called from the test thread
 * while connections are flowing; none of them assert.
 */

typedef struct cairn_test_proxy cairn_test_proxy;

typedef enum {
	CAIRN_PROXY_PASS = 0,   /* forward new connections */
	CAIRN_PROXY_REFUSE,     /* accept new connections and reset them at once */
	CAIRN_PROXY_STALL       /* accept new connections and never forward a byte */
} cairn_proxy_mode;

typedef enum {
	CAIRN_PROXY_TO_SERVER = 0, /* cut inside the request */
	CAIRN_PROXY_TO_CLIENT      /* cut inside the response */
} cairn_proxy_direction;

/* 0 and *out, or -1. */
int cairn_test_proxy_start(cairn_test_proxy **out, int target_port);
/* Closes every connection, stops the thread and frees. NULL is a no-op. */
void cairn_test_proxy_stop(cairn_test_proxy *proxy);
/* The port clients should use. */
int cairn_test_proxy_port(const cairn_test_proxy *proxy);
/* "http://127.0.0.1:PORT/v1" in `out` (at least 64 bytes). */
void cairn_test_proxy_url(const cairn_test_proxy *proxy, char *out, size_t size);
/* Where new connections go (a restarted server may have a new port). */
void cairn_test_proxy_set_target(cairn_test_proxy *proxy, int target_port);
void cairn_test_proxy_set_mode(cairn_test_proxy *proxy, cairn_proxy_mode mode);
/* Closes every open connection now (both sides). */
void cairn_test_proxy_cut_all(cairn_test_proxy *proxy);
/* One shot: the next client bytes that contain `match` (e.g. "/push") mark their connection;
 * it is then cut after `bytes` more bytes in `direction` (counted from the start of that
 * read for TO_SERVER, from the first response byte for TO_CLIENT). */
void cairn_test_proxy_cut_on(cairn_test_proxy *proxy, const char *match,
	cairn_proxy_direction direction, size_t bytes);
/* How many cuts armed with cut_on have happened. */
int cairn_test_proxy_cuts(const cairn_test_proxy *proxy);
/* Connections accepted so far. */
int cairn_test_proxy_accepted(const cairn_test_proxy *proxy);

#endif
