/* transport_int.h: the transport's connection and job state, shared by transport.c (HTTP)
 * and transport_ws.c (WebSocket framing of /v1/realtime). Loop thread only, unless a
 * comment says otherwise. */
#ifndef CAIRN_SERVER_TRANSPORT_INT_H
#define CAIRN_SERVER_TRANSPORT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <libwebsockets.h>

#include "server/http.h"
#include "server/realtime.h"
#include "server/transport.h"

#define WRITE_CHUNK (16 * 1024)            /* response bytes per writeable round */
#define DRAIN_SECONDS 10                   /* dropping an unwanted body before closing */
#define WS_IDLE_SECONDS 90                 /* a WebSocket with no frame (SDKs ping every 20 s) */
#define WS_MAX_MESSAGE (1024u * 1024u)     /* larger client messages: close 1009 */
#define WS_MAX_BACKLOG (16u * 1024u * 1024u) /* queued output of a client that stopped reading */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef struct conn conn;

/* One request and its response. Owned by the loop thread, except while it is queued for or
 * handled by a worker (then conn->state == CONN_WORKING and only that worker touches it,
 * until it lands in the done queue). */
typedef struct job {
	struct job *next;
	conn *conn;
	cairn_http_request request; /* every string in it is malloc'd, except method */
	cairn_http_response response;
	char *body;                 /* request body being collected */
	size_t body_capacity;
	int head_only;              /* HEAD: answered as GET, without the body */
	/* A task instead of a request (conn NULL): realtime's database work (realtime.h,
	 * cairn_realtime_io.defer). `work` runs on a worker, then `done` on the loop. */
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
} job;

enum conn_state {
	CONN_HEAD = 0,  /* waiting for (more of) a request head */
	CONN_BODY,      /* collecting the request body */
	CONN_WORKING,   /* job handed to the workers */
	CONN_WRITING,   /* writing job->response */
	CONN_DRAIN,     /* answered and closing: dropping the rest of an unwanted body first */
	CONN_WS         /* upgraded to a WebSocket (/v1/realtime) */
};

/* Per-connection state, attached to the wsi as opaque user data. It outlives the wsi when
 * the connection closes while a worker has its job: the close callback then only marks it
 * dead, and the loop frees it when the job comes back. */
struct conn {
	conn *prev, *next;       /* transport->conns, for freeing leftovers at shutdown */
	struct lws *wsi;         /* NULL once closed */
	int tls;                 /* the connection is TLS (HTTPS / WSS) */
	int plaintext;           /* plain HTTP on a TLS listener: answered 400, then closed */
	enum conn_state state;
	int dead;                /* the wsi closed while a worker had the job */
	job *job;

	char *in;                /* received, not yet consumed bytes */
	size_t in_length, in_capacity;
	size_t scan_from;        /* where to resume looking for the end of the head */
	int rx_paused;           /* lws_rx_flow_control(0) while too much is buffered */

	int keep_alive;          /* keep the connection after this exchange */
	int http10;              /* the request was HTTP/1.0 */
	int close_after;         /* close once the response is written */
	int chunked;             /* body in chunked transfer coding */
	size_t body_remaining;   /* Content-Length bytes still to come; chunk bytes left */
	int chunk_state;         /* chunked decoder: 0 size line, 1 data, 2 CRLF, 3 trailers */
	int expect_continue;     /* the client waits for "100 Continue" */
	size_t discard_remaining;/* body bytes of an early-answered request still to drop */

	char *out_head;          /* serialized status line and headers */
	size_t out_head_length, out_head_sent, body_sent;

	cairn_realtime_session *session; /* CONN_WS: the realtime session */
	char *ws_out;            /* CONN_WS: frames queued for writing */
	size_t ws_out_length, ws_out_sent, ws_out_capacity;
	int ws_closing;          /* a close frame is queued: close once it is written */
	char *ws_message;        /* a fragmented text message being collected */
	size_t ws_message_length;
};

struct cairn_transport {
	struct lws_context *context;
	cairn_transport_handler handler;
	void *payload;
	int port;
	atomic_int stop;

	pthread_t *threads;
	int thread_count;
	pthread_mutex_t lock;    /* guards the two queues and `stopping` */
	pthread_cond_t wake;
	job *queue_head, *queue_tail; /* waiting for a worker */
	job *done_head, *done_tail;   /* answered, waiting for the loop */
	int stopping;

	conn *conns;             /* every live or dead-but-busy conn; loop thread only */
	cairn_realtime *realtime; /* NULL: /v1/realtime is an ordinary (404) route */
	int tls;                 /* the listener does TLS: plaintext connections are refused */
};

/* transport.c helpers the WebSocket code uses. */
void cairn__transport_consume_input(conn *c, size_t n);
int cairn__transport_answer_error(conn *c, int status, const char *type, const char *message);
int cairn__transport_has_token(const char *value, const char *token);
void cairn__transport_job_free(job *j);

/* transport_ws.c: 1 when the request asks to upgrade /v1/realtime to a WebSocket. */
int cairn__transport_wants_websocket(const job *j);
/* Answers 101 and turns the connection into a realtime session. -1 closes. */
int cairn__transport_ws_upgrade(cairn_transport *t, conn *c);
/* Unframes buffered input and hands whole messages to realtime.c. -1 closes. */
int cairn__transport_ws_process(cairn_transport *t, conn *c);
/* Writes queued frames; -1 closes (after a close frame went out). */
int cairn__transport_ws_writeable(conn *c);

#endif
