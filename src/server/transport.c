/* transport.c: the libwebsockets HTTP/1.1 event loop, request assembly, the worker pool and
 * response writing (CORS, preflights, body limits). */
#include "server/transport.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "util/error.h"

#define WRITE_CHUNK (16 * 1024)        /* body bytes per writeable round */
#define HEADER_SPACE (16 * 1024)       /* response header bytes (cookies, CORS lists) */
#define MAX_REQUEST_HEADER_DATA (128u * 1024u) /* URL + headers: long queries[] lists fit */
#define KEEPALIVE_SECONDS 30

/* The request headers we copy out of libwebsockets. It only keeps headers it knows by token
 * and "custom" ones it saw; there is no way to list custom names, so they are named here. */
static const struct {
	enum lws_token_indexes token;
	const char *name;
} known_headers[] = {
	{ WSI_TOKEN_HTTP_CONTENT_TYPE, "content-type" },
	{ WSI_TOKEN_HTTP_CONTENT_LENGTH, "content-length" },
	{ WSI_TOKEN_ORIGIN, "origin" },
	{ WSI_TOKEN_HTTP_COOKIE, "cookie" },
	{ WSI_TOKEN_HTTP_AUTHORIZATION, "authorization" },
	{ WSI_TOKEN_HTTP_ACCEPT, "accept" },
	{ WSI_TOKEN_HOST, "host" },
	{ WSI_TOKEN_HTTP_USER_AGENT, "user-agent" },
	{ WSI_TOKEN_X_FORWARDED_FOR, "x-forwarded-for" },
};

static const char *const custom_headers[] = {
	"x-appwrite-project", "x-appwrite-key", "x-appwrite-session", "x-appwrite-jwt",
	"x-fallback-cookies", "x-appwrite-timestamp", "x-appwrite-response-format",
	"x-appwrite-locale", "x-sdk-name", "x-sdk-version", "x-sdk-platform", "x-sdk-language",
	"x-forwarded-user-agent", "x-appwrite-dev-key", "x-appwrite-mode", "x-requested-with",
};

static const struct {
	enum lws_token_indexes token;
	const char *method;
} method_tokens[] = {
	{ WSI_TOKEN_GET_URI, "GET" },
	{ WSI_TOKEN_POST_URI, "POST" },
	{ WSI_TOKEN_PUT_URI, "PUT" },
	{ WSI_TOKEN_PATCH_URI, "PATCH" },
	{ WSI_TOKEN_DELETE_URI, "DELETE" },
	{ WSI_TOKEN_OPTIONS_URI, "OPTIONS" },
	{ WSI_TOKEN_HEAD_URI, "HEAD" },
};

/* Appwrite's CORS allow-list (appwrite-compat.md §2.1). */
#define CORS_ALLOW_HEADERS "Accept, Origin, Cookie, Set-Cookie, Content-Type, Content-Range, " \
	"X-Appwrite-Project, X-Appwrite-Key, X-Appwrite-Dev-Key, X-Appwrite-Locale, " \
	"X-Appwrite-Mode, X-Appwrite-JWT, X-Appwrite-Organization, X-Appwrite-Response-Format, " \
	"X-Appwrite-Timeout, X-Appwrite-ID, X-Appwrite-Timestamp, X-Appwrite-Session, " \
	"X-Appwrite-Platform, X-Appwrite-Impersonate-User-Id, X-Appwrite-Impersonate-User-Email, " \
	"X-Appwrite-Impersonate-User-Phone, X-SDK-Version, X-SDK-Name, X-SDK-Language, " \
	"X-SDK-Platform, X-SDK-GraphQL, X-SDK-Profile, Range, Cache-Control, Expires, Pragma, " \
	"X-Fallback-Cookies, X-Requested-With, X-Forwarded-For, X-Forwarded-User-Agent"
#define CORS_ALLOW_METHODS "GET, POST, PUT, PATCH, DELETE"
#define CORS_EXPOSE_HEADERS "X-Appwrite-Session, X-Fallback-Cookies"

typedef struct conn conn;

/* One request and its response. Owned by the loop thread, except while it sits in the
 * worker queue or is being handled (then conn->state == CONN_WORKING and only the worker
 * touches it until it lands in the done queue). */
typedef struct job {
	struct job *next;
	conn *conn;
	cairn_http_request request;
	cairn_http_response response;
	char *body;            /* request body being collected */
	size_t body_capacity;
	char *origin;          /* request Origin, echoed in CORS headers; NULL if none */
} job;

enum conn_state {
	CONN_IDLE = 0,   /* between requests */
	CONN_BODY,       /* collecting the request body */
	CONN_WORKING,    /* job handed to the workers */
	CONN_WRITING,    /* writing job->response */
	CONN_DISCARD     /* answered early (413): dropping the body still arriving; the
	                  * answer is written (job set) or already out (job NULL) */
};

/* Per-connection state, attached to the wsi as opaque user data. It outlives the wsi when
 * the connection closes while a worker has its job: the close callback then only marks it
 * dead, and the loop frees it when the job comes back. */
struct conn {
	conn *prev, *next;     /* transport->conns, for freeing leftovers at shutdown */
	struct lws *wsi;       /* NULL once closed */
	job *job;
	enum conn_state state;
	int dead;              /* the wsi closed while a worker had the job */
	int close_after;       /* close instead of keep-alive once the response is written */
	int body_pending;      /* lws is still delivering request body bytes */
	int headers_sent;
	size_t body_sent;
};

struct cairn_transport {
	struct lws_context *context;
	cairn_transport_handler handler;
	void *payload;
	int port;
	atomic_int stop;

	pthread_t *threads;
	int thread_count;
	pthread_mutex_t lock;  /* guards the two queues and `stopping` */
	pthread_cond_t wake;
	job *queue_head, *queue_tail; /* waiting for a worker */
	job *done_head, *done_tail;   /* answered, waiting for the loop */
	int stopping;

	conn *conns;           /* every live or dead-but-busy conn; loop thread only */
};

/* ---- jobs and connections (loop thread) ---- */

static void job_free(job *j)
{
	size_t i;

	if (!j)
		return;
	free((char *)j->request.path);
	free((char *)j->request.query);
	free((char *)j->request.peer);
	for (i = 0; i < j->request.header_count; i++)
		free((char *)j->request.headers[i].value);
	free(j->body);
	free(j->origin);
	cairn__http_response_clear(&j->response);
	free(j);
}

static conn *conn_new(cairn_transport *t, struct lws *wsi)
{
	conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->wsi = wsi;
	c->next = t->conns;
	if (t->conns)
		t->conns->prev = c;
	t->conns = c;
	lws_set_opaque_user_data(wsi, c);
	return c;
}

static void conn_unlink_free(cairn_transport *t, conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* The wsi is going away. A job owned by a worker keeps the conn alive (marked dead). */
static void conn_closed(cairn_transport *t, struct lws *wsi)
{
	conn *c = lws_get_opaque_user_data(wsi);

	if (!c)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	c->wsi = NULL;
	if (c->state == CONN_WORKING) {
		c->dead = 1;
		return;
	}
	job_free(c->job);
	conn_unlink_free(t, c);
}

/* Ends the current exchange on a live connection: next request, or close (-1). */
static int conn_finish(conn *c)
{
	int close_after = c->close_after;

	job_free(c->job);
	c->job = NULL;
	c->state = CONN_IDLE;
	c->headers_sent = 0;
	c->body_sent = 0;
	c->close_after = 0;
	if (close_after && c->body_pending) {
		/* Closing while the client still sends makes the kernel reset the connection,
		 * and the client may lose our answer. Read and drop the rest first; a client
		 * that stopped sending (it waited for 100-continue) is cut off by the timeout. */
		c->state = CONN_DISCARD;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, 10);
		return 0;
	}
	if (close_after)
		return -1;
	return lws_http_transaction_completed(c->wsi) ? -1 : 0;
}

/* ---- request assembly (loop thread) ---- */

static char *copy_token(struct lws *wsi, enum lws_token_indexes token)
{
	int len = lws_hdr_total_length(wsi, token);
	/* Room for the separators lws puts between repeated headers (cookie fragments). */
	int size = len + 1 + 256;
	char *text;

	if (len < 0)
		return NULL;
	text = malloc((size_t)size);
	if (!text)
		return NULL;
	len = lws_hdr_copy(wsi, text, size, token);
	if (len < 0) {
		free(text);
		return NULL;
	}
	text[len] = '\0';
	return text;
}

static char *copy_custom(struct lws *wsi, const char *name)
{
	char key[64];
	int key_len = snprintf(key, sizeof(key), "%s:", name);
	int len = lws_hdr_custom_length(wsi, key, key_len);
	char *text;

	if (len < 0)
		return NULL;
	text = malloc((size_t)len + 1);
	if (!text)
		return NULL;
	if (lws_hdr_custom_copy(wsi, text, len + 1, key, key_len) < 0) {
		free(text);
		return NULL;
	}
	text[len] = '\0';
	return text;
}

static int add_request_header(job *j, const char *name, char *value)
{
	if (j->request.header_count >= CAIRN_HTTP_MAX_HEADERS) {
		free(value);
		return 0; /* more than we track; the API never needs them */
	}
	j->request.headers[j->request.header_count].name = name;
	j->request.headers[j->request.header_count].value = value;
	j->request.header_count++;
	return 0;
}

/* Appends `text` to `out`, percent-encoding everything but unreserved bytes and []. */
static void append_encoded(char **out, const char *text, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '[' || ch == ']') {
			*(*out)++ = (char)ch;
		} else {
			*(*out)++ = '%';
			*(*out)++ = hex[ch >> 4];
			*(*out)++ = hex[ch & 15];
		}
	}
}

/*
 * libwebsockets hands the query string over already URL-decoded ('+' and %xx), split at the
 * raw '&' into fragments "name=value". It never gives the raw bytes, so we re-encode each
 * fragment's name and value and join them: the result decodes (http.c) to exactly what the
 * client sent, including '&', '=' and '+' that were escaped inside a value.
 */
static char *rebuild_query(struct lws *wsi)
{
	int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
	char *fragment = NULL, *query = NULL, *out;
	int index;

	if (total <= 0)
		return strdup("");
	/* Each byte becomes at most 3, plus one '&' per (non-empty) fragment. */
	query = malloc((size_t)total * 4 + 16);
	fragment = malloc((size_t)total + 1);
	if (!query || !fragment)
		goto failed;
	out = query;
	for (index = 0;; index++) {
		int len = lws_hdr_copy_fragment(wsi, fragment, total + 1, WSI_TOKEN_HTTP_URI_ARGS,
			index);
		char *equals;

		if (len < 0)
			break; /* past the last fragment */
		if (len == 0)
			continue; /* "a&&b" */
		if (strcmp(fragment, "/") == 0)
			continue; /* what lws reports for a bare trailing '?' */
		if (out != query)
			*out++ = '&';
		equals = strchr(fragment, '=');
		if (equals) {
			append_encoded(&out, fragment, (size_t)(equals - fragment));
			*out++ = '=';
			append_encoded(&out, equals + 1, strlen(equals + 1));
		} else {
			append_encoded(&out, fragment, strlen(fragment));
		}
	}
	*out = '\0';
	free(fragment);
	return query;

failed:
	free(fragment);
	free(query);
	return NULL;
}

/* Builds the request from the parsed headers; NULL on out-of-memory. */
static job *job_from_wsi(struct lws *wsi, const char *method, enum lws_token_indexes uri_token)
{
	job *j = calloc(1, sizeof(*j));
	char peer[128];
	size_t i;

	if (!j)
		return NULL;
	j->request.method = method;
	j->request.path = copy_token(wsi, uri_token);
	j->request.query = rebuild_query(wsi);
	peer[0] = '\0';
	lws_get_peer_simple(wsi, peer, sizeof(peer));
	j->request.peer = strdup(peer);
	if (!j->request.path || !j->request.query || !j->request.peer)
		goto failed;
	for (i = 0; i < sizeof(known_headers) / sizeof(known_headers[0]); i++) {
		char *value;

		if (lws_hdr_total_length(wsi, known_headers[i].token) <= 0)
			continue; /* absent (lws reports an empty header the same way) */
		value = copy_token(wsi, known_headers[i].token);
		if (value)
			add_request_header(j, known_headers[i].name, value);
	}
	for (i = 0; i < sizeof(custom_headers) / sizeof(custom_headers[0]); i++) {
		char *value = copy_custom(wsi, custom_headers[i]);

		if (value)
			add_request_header(j, custom_headers[i], value);
	}
	if (cairn__http_header(&j->request, "origin")) {
		j->origin = strdup(cairn__http_header(&j->request, "origin"));
		if (!j->origin)
			goto failed;
	}
	return j;

failed:
	job_free(j);
	return NULL;
}

/* ---- the worker pool ---- */

static void *worker_main(void *arg)
{
	cairn_transport *t = arg;

	for (;;) {
		job *j;

		pthread_mutex_lock(&t->lock);
		while (!t->queue_head && !t->stopping)
			pthread_cond_wait(&t->wake, &t->lock);
		if (t->stopping) {
			pthread_mutex_unlock(&t->lock);
			break;
		}
		j = t->queue_head;
		t->queue_head = j->next;
		if (!t->queue_head)
			t->queue_tail = NULL;
		pthread_mutex_unlock(&t->lock);

		j->next = NULL;
		t->handler(t->payload, &j->request, &j->response);
		if (j->response.status < 100 || j->response.status > 599)
			cairn__http_respond_error(&j->response, 500, "general_server_error",
				"The handler produced no response.");

		pthread_mutex_lock(&t->lock);
		if (t->done_tail)
			t->done_tail->next = j;
		else
			t->done_head = j;
		t->done_tail = j;
		pthread_mutex_unlock(&t->lock);
		lws_cancel_service(t->context);
	}
	return NULL;
}

static void dispatch(cairn_transport *t, conn *c)
{
	job *j = c->job;

	j->request.body = j->body;
	c->state = CONN_WORKING;
	/* A slow handler must not trip libwebsockets' idle timeouts; a client that goes away
	 * is still noticed by the close callback. */
	lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
	pthread_mutex_lock(&t->lock);
	if (t->queue_tail)
		t->queue_tail->next = j;
	else
		t->queue_head = j;
	t->queue_tail = j;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

/* Takes answered jobs back onto the loop and schedules their writes. */
static void drain_done(cairn_transport *t)
{
	job *list;

	pthread_mutex_lock(&t->lock);
	list = t->done_head;
	t->done_head = t->done_tail = NULL;
	pthread_mutex_unlock(&t->lock);

	while (list) {
		job *j = list;
		conn *c = j->conn;

		list = j->next;
		j->next = NULL;
		if (c->dead) {
			job_free(j);
			conn_unlink_free(t, c);
			continue;
		}
		c->state = CONN_WRITING;
		lws_callback_on_writable(c->wsi);
	}
}

/* ---- responses (loop thread) ---- */

/* Answers on the loop thread without a worker (preflight, limits, unknown methods). */
static void answer_now(conn *c)
{
	c->state = CONN_WRITING;
	lws_callback_on_writable(c->wsi);
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
	unsigned char *end)
{
	char key[128];

	snprintf(key, sizeof(key), "%s:", name);
	return lws_add_http_header_by_name(wsi, (const unsigned char *)key,
		(const unsigned char *)value, (int)strlen(value), p, end);
}

static int write_headers(conn *c)
{
	unsigned char buffer[LWS_PRE + HEADER_SPACE];
	unsigned char *start = buffer + LWS_PRE, *p = start, *end = buffer + sizeof(buffer) - 1;
	const cairn_http_response *response = &c->job->response;
	size_t i;

	if (response->status == 204 || (response->status >= 100 && response->status < 200)) {
		/* No Content-Length nor Content-Type: RFC 9110 forbids them and the Appwrite SDKs
		 * would try to parse a JSON content type on an empty body. */
		if (lws_add_http_header_status(c->wsi, (unsigned int)response->status, &p, end))
			return -1;
	} else if (lws_add_http_common_headers(c->wsi, (unsigned int)response->status,
		response->content_type, (lws_filepos_t)response->body_length, &p, end)) {
		return -1;
	}
	if (c->job->origin && add_header(c->wsi, "Access-Control-Allow-Origin", c->job->origin,
		&p, end))
		return -1;
	if (add_header(c->wsi, "Access-Control-Allow-Credentials", "true", &p, end) ||
		add_header(c->wsi, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS, &p, end))
		return -1;
	if (c->job->origin && add_header(c->wsi, "Vary", "Origin", &p, end))
		return -1;
	for (i = 0; i < response->extra_header_count; i++) {
		if (add_header(c->wsi, response->extra_headers[i].name,
			response->extra_headers[i].value, &p, end))
			return -1;
	}
	if (c->close_after && add_header(c->wsi, "Connection", "close", &p, end))
		return -1;
	if (lws_finalize_write_http_header(c->wsi, start, &p, end))
		return -1;
	return 0;
}

static int on_writeable(conn *c)
{
	unsigned char buffer[LWS_PRE + WRITE_CHUNK];
	const cairn_http_response *response;
	size_t left, chunk;

	if (c->state != CONN_WRITING)
		return 0;
	response = &c->job->response;
	if (!response->body)
		c->job->response.body_length = 0; /* a handler that set a length but no bytes */
	if (!c->headers_sent) {
		if (write_headers(c))
			return -1;
		c->headers_sent = 1;
		if (response->status != 204 && response->body_length > 0) {
			lws_callback_on_writable(c->wsi);
			return 0;
		}
		return conn_finish(c);
	}
	left = response->body_length - c->body_sent;
	chunk = left < WRITE_CHUNK ? left : WRITE_CHUNK;
	memcpy(buffer + LWS_PRE, response->body + c->body_sent, chunk);
	if (lws_write(c->wsi, buffer + LWS_PRE, chunk,
		chunk == left ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)chunk)
		return -1;
	c->body_sent += chunk;
	if (c->body_sent < response->body_length) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	return conn_finish(c);
}

static void respond_too_large(conn *c, size_t length)
{
	cairn__http_respond_error(&c->job->response, 413, "general_payload_too_large",
		"Request body of %zu bytes is larger than the limit of %u bytes.", length,
		CAIRN_HTTP_MAX_BODY);
	/* The rest of the body may still be on its way: close rather than parse it as the
	 * next request. */
	c->close_after = 1;
	free(c->job->body);
	c->job->body = NULL;
	c->job->request.body_length = 0;
	c->job->body_capacity = 0;
}

/* ---- the libwebsockets callback ---- */

static int on_http(cairn_transport *t, struct lws *wsi)
{
	conn *c = lws_get_opaque_user_data(wsi);
	const char *method = NULL;
	enum lws_token_indexes uri_token = WSI_TOKEN_GET_URI;
	const char *length_text;
	unsigned long long content_length = 0;
	size_t i;

	if (!c && !(c = conn_new(t, wsi)))
		return -1;
	if (c->state != CONN_IDLE)
		return -1; /* a second request before the first was answered (pipelining) */
	for (i = 0; i < sizeof(method_tokens) / sizeof(method_tokens[0]); i++) {
		if (lws_hdr_total_length(wsi, method_tokens[i].token) > 0) {
			method = method_tokens[i].method;
			uri_token = method_tokens[i].token;
			break;
		}
	}
	if (!method)
		return -1;
	c->job = job_from_wsi(wsi, method, uri_token);
	if (!c->job)
		return -1;
	c->job->conn = c;

	length_text = cairn__http_header(&c->job->request, "content-length");
	if (length_text) {
		char *end;

		errno = 0;
		content_length = strtoull(length_text, &end, 10);
		if (errno || *end || end == length_text) {
			cairn__http_respond_error(&c->job->response, 400, "general_bad_request",
				"Invalid Content-Length header.");
			c->close_after = 1;
			answer_now(c);
			return 0;
		}
	}
	c->body_pending = content_length > 0;
	if (content_length > CAIRN_HTTP_MAX_BODY) {
		respond_too_large(c, (size_t)(content_length > SIZE_MAX ? SIZE_MAX : content_length));
		c->state = CONN_DISCARD;
		lws_callback_on_writable(wsi);
		return 0;
	}

	if (strcmp(method, "OPTIONS") == 0) {
		cairn__http_respond_no_content(&c->job->response);
		if (cairn__http_response_add_header(&c->job->response,
			"Access-Control-Allow-Methods", CORS_ALLOW_METHODS) ||
			cairn__http_response_add_header(&c->job->response,
			"Access-Control-Allow-Headers", CORS_ALLOW_HEADERS) ||
			cairn__http_response_add_header(&c->job->response,
			"Access-Control-Max-Age", "86400"))
			return -1;
		/* A body on a preflight is unusual; dropping the connection afterwards is simpler
		 * than reading it. */
		if (content_length > 0)
			c->close_after = 1;
		answer_now(c);
		return 0;
	}
	if (strcmp(method, "HEAD") == 0) {
		cairn__http_respond_error(&c->job->response, 405, "general_not_implemented",
			"HEAD is not supported; use GET.");
		c->job->response.body_length = 0; /* a HEAD answer never has a body */
		c->close_after = 1;
		answer_now(c);
		return 0;
	}

	if (content_length > 0) {
		/* curl-based clients wait a second for this before sending a large body. */
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_EXPECT) > 0) {
			char expect[32];

			if (lws_hdr_copy(wsi, expect, sizeof(expect), WSI_TOKEN_HTTP_EXPECT) > 0 &&
				strcasecmp(expect, "100-continue") == 0) {
				unsigned char line[LWS_PRE + 32];
				static const char text[] = "HTTP/1.1 100 Continue\r\n\r\n";

				memcpy(line + LWS_PRE, text, sizeof(text) - 1);
				if (lws_write(wsi, line + LWS_PRE, sizeof(text) - 1,
					LWS_WRITE_HTTP_HEADERS) != (int)sizeof(text) - 1)
					return -1;
			}
		}
		c->job->body = malloc((size_t)content_length + 1);
		if (!c->job->body)
			return -1;
		c->job->body_capacity = (size_t)content_length;
		c->state = CONN_BODY;
		return 0;
	}
	dispatch(t, c);
	return 0;
}

static int on_body(conn *c, const char *data, size_t len)
{
	job *j;

	if (!c || c->state == CONN_DISCARD || c->state == CONN_WRITING)
		return 0; /* answered early; the rest of the body is dropped */
	if (c->state != CONN_BODY)
		return -1;
	j = c->job;
	if (j->request.body_length + len > CAIRN_HTTP_MAX_BODY) {
		/* Only reachable without a Content-Length (chunked upload). */
		respond_too_large(c, j->request.body_length + len);
		c->state = CONN_DISCARD;
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (j->request.body_length + len > j->body_capacity) {
		size_t capacity = j->body_capacity ? j->body_capacity * 2 : 64 * 1024;
		char *grown;

		while (capacity < j->request.body_length + len)
			capacity *= 2;
		if (capacity > CAIRN_HTTP_MAX_BODY)
			capacity = CAIRN_HTTP_MAX_BODY;
		grown = realloc(j->body, capacity + 1);
		if (!grown)
			return -1;
		j->body = grown;
		j->body_capacity = capacity;
	}
	memcpy(j->body + j->request.body_length, data, len);
	j->request.body_length += len;
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	size_t len)
{
	struct lws_context *context = wsi ? lws_get_context(wsi) : NULL;
	cairn_transport *t = context ? lws_context_user(context) : NULL;
	conn *c;

	if (!t)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(t, wsi);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(lws_get_opaque_user_data(wsi), in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		c = lws_get_opaque_user_data(wsi);
		if (!c)
			return -1;
		c->body_pending = 0;
		if (c->state == CONN_DISCARD && !c->job)
			return -1; /* the early answer is out and the body is drained: close */
		if (c->state != CONN_BODY)
			return 0;
		if (c->job->body)
			c->job->body[c->job->request.body_length] = '\0'; /* handy for debugging */
		dispatch(t, c);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		c = lws_get_opaque_user_data(wsi);
		if (!c)
			return 0;
		if (c->state == CONN_DISCARD && c->job)
			c->state = CONN_WRITING; /* send the early answer; body bytes are dropped */
		return on_writeable(c);
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		drain_done(t);
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_WSI_DESTROY:
		if (lws_get_opaque_user_data(wsi))
			conn_closed(t, wsi);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Protocol 0 serves HTTP. A second entry named CAIRN_TRANSPORT_REALTIME_PROTOCOL will carry
 * the realtime WebSocket once it exists. */
static const struct lws_protocols protocols[] = {
	{ "http", callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ---- lifecycle ---- */

/* Splits "HOST:PORT" / "[V6]:PORT" / ":PORT". */
static int parse_listen(char *host, size_t host_size, int *port, const char *listen)
{
	const char *colon, *host_start = listen;
	size_t host_len;
	char *end;
	long value;

	if (!listen || !*listen)
		return cairn__error_set(CAIRN_EINVALID, "empty listen address; use HOST:PORT");
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');

		if (!close || close[1] != ':')
			return cairn__error_set(CAIRN_EINVALID,
				"bad listen address '%s'; use [IPV6]:PORT", listen);
		host_start = listen + 1;
		host_len = (size_t)(close - host_start);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return cairn__error_set(CAIRN_EINVALID,
				"listen address '%s' has no port; use HOST:PORT", listen);
		host_len = (size_t)(colon - listen);
	}
	if (host_len >= host_size)
		return cairn__error_set(CAIRN_EINVALID, "listen host in '%s' is too long", listen);
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';
	errno = 0;
	value = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || value < 0 || value > 65535)
		return cairn__error_set(CAIRN_EINVALID,
			"bad port in listen address '%s'; use a number from 0 to 65535", listen);
	*port = (int)value;
	return 0;
}

/*
 * Binds the address once ourselves before libwebsockets does, to report a taken port with
 * the system's reason (libwebsockets only logs it, and leaks on that path). Port 0 always
 * binds. Names that are not numeric addresses are left to libwebsockets (interface names).
 */
static int check_bindable(const char *host, int port, const char *listen)
{
	struct addrinfo hints, *found = NULL;
	char service[16];
	int fd, one = 1, rc = 0;

	if (port == 0)
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, service, &hints,
		&found) != 0)
		return 0;
	fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		/* The same option libwebsockets sets, so TIME_WAIT leftovers do not count. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, found->ai_addr, found->ai_addrlen) != 0)
			rc = cairn__error_set(CAIRN_EIO, "could not listen on %s: %s", listen,
				strerror(errno));
		close(fd);
	}
	freeaddrinfo(found);
	return rc;
}

static void log_emit(int level, const char *line)
{
	(void)level;
	fprintf(stderr, "cairn: libwebsockets: %s", line);
}

int cairn__transport_new(cairn_transport **out, const char *listen, int workers,
	cairn_transport_handler handler, void *payload)
{
	struct lws_context_creation_info info;
	cairn_transport *t = NULL;
	char host[256];
	int port = 0, error, i;
	sigset_t all, previous;
	struct lws_vhost *vhost;

	*out = NULL;
	if ((error = parse_listen(host, sizeof(host), &port, listen)) < 0)
		return error;
	if (!handler)
		return cairn__error_set(CAIRN_EINVALID, "transport needs a request handler");
	if (workers <= 0)
		workers = CAIRN_TRANSPORT_DEFAULT_WORKERS;

	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if ((error = check_bindable(host, port, listen)) < 0)
		return error;

	t = calloc(1, sizeof(*t));
	if (!t)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory creating the HTTP transport");
	t->handler = handler;
	t->payload = payload;
	atomic_init(&t->stop, 0);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);

	lws_set_log_level(LLL_ERR, log_emit);
	memset(&info, 0, sizeof(info));
	info.port = port;
	info.protocols = protocols;
	info.user = t;
	info.max_http_header_data2 = MAX_REQUEST_HEADER_DATA;
	info.keepalive_timeout = KEEPALIVE_SECONDS;
	info.timeout_secs = 30;
	info.vhost_name = "default";
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0) {
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	} else if (strcmp(host, "::") == 0) {
		/* every interface, IPv6 and (dual-stack) IPv4 */
	} else {
		info.iface = host;
		if (!strchr(host, ':'))
			info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	}
	t->context = lws_create_context(&info);
	if (!t->context) {
		error = cairn__error_set(CAIRN_EIO,
			"could not listen on %s: the port is in use or the address is not local",
			listen);
		goto cleanup;
	}
	vhost = lws_get_vhost_by_name(t->context, "default");
	t->port = vhost ? lws_get_vhost_listen_port(vhost) : port;

	t->threads = calloc((size_t)workers, sizeof(*t->threads));
	if (!t->threads) {
		error = cairn__error_set(CAIRN_ENOMEM, "out of memory starting workers");
		goto cleanup;
	}
	/* Workers must not take SIGINT/SIGTERM: the loop thread has to see them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &previous);
	for (i = 0; i < workers; i++) {
		if (pthread_create(&t->threads[i], NULL, worker_main, t) != 0)
			break;
		t->thread_count++;
	}
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	if (t->thread_count != workers) {
		error = cairn__error_set(CAIRN_ERROR, "could not start %d worker threads", workers);
		goto cleanup;
	}
	*out = t;
	return 0;

cleanup:
	cairn__transport_free(t);
	return error;
}

int cairn__transport_port(const cairn_transport *transport)
{
	return transport->port;
}

int cairn__transport_run(cairn_transport *transport)
{
	while (!atomic_load(&transport->stop)) {
		if (lws_service(transport->context, 0) < 0)
			return cairn__error_set(CAIRN_ERROR, "the HTTP event loop failed");
	}
	return 0;
}

void cairn__transport_stop(cairn_transport *transport)
{
	if (!transport)
		return;
	atomic_store(&transport->stop, 1);
	if (transport->context)
		lws_cancel_service(transport->context);
}

static void free_job_list(job *list)
{
	while (list) {
		job *next = list->next;

		job_free(list);
		list = next;
	}
}

void cairn__transport_free(cairn_transport *transport)
{
	int i;

	if (!transport)
		return;
	pthread_mutex_lock(&transport->lock);
	transport->stopping = 1;
	pthread_cond_broadcast(&transport->wake);
	pthread_mutex_unlock(&transport->lock);
	for (i = 0; i < transport->thread_count; i++)
		pthread_join(transport->threads[i], NULL);
	free(transport->threads);

	/* Closing every connection runs the close callbacks: idle and writing conns are freed
	 * there, those whose job is still queued are only marked dead. */
	if (transport->context)
		lws_context_destroy(transport->context);
	free_job_list(transport->queue_head);
	free_job_list(transport->done_head);
	while (transport->conns)
		conn_unlink_free(transport, transport->conns);
	pthread_cond_destroy(&transport->wake);
	pthread_mutex_destroy(&transport->lock);
	free(transport);
}
