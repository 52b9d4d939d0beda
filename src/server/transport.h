/* transport.h: the server's HTTP/1.1 (and HTTPS) listener on libwebsockets with a worker-thread pool. */
#ifndef CAIRN_SERVER_TRANSPORT_H
#define CAIRN_SERVER_TRANSPORT_H

/*
 * Threads: one event-loop thread (the caller of cairn__transport_run) owns every socket and
 * all libwebsockets state. Complete requests go to `workers` threads that call the handler;
 * the finished response is queued back to the loop, which writes it. The handler never sees
 * libwebsockets.
 *
 * HTTP/1.1 is parsed here on libwebsockets raw sockets (keep-alive, pipelining, chunked
 * request bodies, "Expect: 100-continue"): the request's path is percent-decoded, its query
 * string is passed on raw, and every header reaches the handler with a lower-case name (at
 * most CAIRN_HTTP_MAX_HEADERS; Appwrite and framing headers win when there are more; repeats
 * are joined with ", ", cookies with "; "). HEAD is handled as GET without the body.
 *
 * The transport itself answers, without calling the handler: CORS preflights (OPTIONS, 204),
 * bodies over CAIRN_HTTP_MAX_BODY (413 general_payload_too_large), request heads over 128 KiB
 * (431), malformed requests (400), unknown methods (405) and other HTTP versions (505); these
 * close the connection except the preflight. Every response carries the CORS headers
 * (Access-Control-Allow-Origin echoes the request's Origin).
 */

#include "server/http.h"

/* Name reserved for the WebSocket protocol of the realtime API (/v1/realtime, later). */
#define CAIRN_TRANSPORT_REALTIME_PROTOCOL "realtime"
#define CAIRN_TRANSPORT_DEFAULT_WORKERS 4

typedef struct cairn_transport cairn_transport;

/* Called on a worker thread, concurrently with other calls; must fill `response`
 * (a status of 0 is turned into 500). `request` is borrowed for the call. */
typedef void (*cairn_transport_handler)(void *payload, const cairn_http_request *request,
	cairn_http_response *response);

/* Binds `listen` ("HOST:PORT"; "[::1]:PORT" for IPv6; port 0 picks a free port; an empty
 * host or "0.0.0.0" means every IPv4 interface) and starts `workers` threads (0 = default).
 * CAIRN_EINVALID for a malformed address, CAIRN_EIO when the port cannot be bound. */
int cairn__transport_new(cairn_transport **out, const char *listen, int workers,
	cairn_transport_handler handler, void *payload);

/* TLS for the listener: PEM files of the server certificate (chain, leaf first) and of its
 * unencrypted private key. */
typedef struct {
	const char *cert_file;
	const char *key_file;
} cairn_transport_tls;

/* cairn__transport_new serving HTTPS (and WSS on /v1/realtime) when `tls` is not NULL: TLS
 * is done by libwebsockets' OpenSSL backend on the same raw connections, ALPN offers only
 * http/1.1, and a client that does not start a TLS handshake (plain HTTP) gets a 400
 * (general_protocol_unsupported) in clear text and is disconnected. CAIRN_EINVALID with a message naming the file when the certificate or key cannot be read,
 * is not PEM, or the key does not belong to the certificate. */
int cairn__transport_new_tls(cairn_transport **out, const char *listen, int workers,
	const cairn_transport_tls *tls, cairn_transport_handler handler, void *payload);

/* The file checks of cairn__transport_new_tls alone (before a server creates its data). */
int cairn__transport_check_tls(const cairn_transport_tls *tls);

/* Serves Appwrite's realtime API on /v1/realtime (WebSocket upgrades) through `realtime`,
 * which must outlive the transport. Call before cairn__transport_run. Without it
 * /v1/realtime is an ordinary route. */
struct cairn_realtime;
void cairn__transport_set_realtime(cairn_transport *transport, struct cairn_realtime *realtime);

/* The TCP port actually bound (useful after asking for port 0). */
int cairn__transport_port(const cairn_transport *transport);

/* Serves on the calling thread until cairn__transport_stop(). Returns 0, or CAIRN_ERROR if
 * the event loop failed. */
int cairn__transport_run(cairn_transport *transport);

/* Makes cairn__transport_run return soon. Safe from any thread and from a signal handler. */
void cairn__transport_stop(cairn_transport *transport);

/* Joins the workers (waiting for requests being handled), closes every connection and frees.
 * Call after cairn__transport_run has returned (or instead of it). NULL is a no-op. */
void cairn__transport_free(cairn_transport *transport);

#endif
