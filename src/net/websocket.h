/* websocket.h: the realtime API's WebSocket client (ws:// and wss://), on libwebsockets' client role. */
#ifndef CAIRN_NET_WEBSOCKET_H
#define CAIRN_NET_WEBSOCKET_H

#include <stddef.h>

/*
 * One connection, used by one thread. Connecting blocks up to a timeout; afterwards the
 * caller polls cairn__ws_fd() for input and calls cairn__ws_read(), which never blocks.
 * Built on libwebsockets' client role (the project takes its protocols from Debian's
 * libraries): each connection has its own lws context, serviced only from the calling thread
 * and never blocking outside connect and send. lws answers pings and close frames itself.
 */

typedef struct cairn__ws cairn__ws;

/* Opens ws://HOST:PORT<path of base_url>/realtime?project=<project> for `base_url`
 * ("http://127.0.0.1:8080/v1"), or wss:// for an https:// base_url. CAIRN_EOFFLINE when the
 * server cannot be reached or does not switch protocols within `timeout_ms`; CAIRN_EINVALID
 * for a URL that is neither http:// nor https://. */
int cairn__ws_connect(cairn__ws **out, const char *base_url, const char *project,
	long timeout_ms);
/* The same, trusting the CA certificates in the PEM file `ca_file` for wss:// (NULL or "":
 * the system's, as libcurl uses). The certificate chain and host name are always verified;
 * a refused certificate is CAIRN_ESERVER ("the TLS certificate of URL was refused ..."). */
int cairn__ws_connect_ca(cairn__ws **out, const char *base_url, const char *project,
	const char *ca_file, long timeout_ms);
/* The same, sending `session` (an Appwrite session token; NULL or "": none) as the
 * X-Appwrite-Session header of the upgrade request. */
int cairn__ws_connect_session(cairn__ws **out, const char *base_url, const char *project,
	const char *ca_file, const char *session, long timeout_ms);
void cairn__ws_free(cairn__ws *ws);

/* The socket, for poll(). */
int cairn__ws_fd(const cairn__ws *ws);

/* Sends one text message (masked, as clients must). 0 or CAIRN_EOFFLINE. */
int cairn__ws_send_text(cairn__ws *ws, const char *text, size_t length);

/* Reads what has arrived without blocking. Returns 1 with *out (malloc'd, NUL-terminated;
 * free()) and *length for one complete text message; 0 when no complete message is
 * buffered (call again after poll); CAIRN_EOFFLINE when the connection closed or broke.
 * Pings are answered here. Call repeatedly until it returns 0: one read may hold several
 * messages. */
int cairn__ws_read(char **out, size_t *length, cairn__ws *ws);

#endif
