/* transport.c: the server's HTTP/1.1 transport: libwebsockets raw sockets on one event-loop
 * thread, our own request parser, the worker pool, response writing (CORS, limits), and the
 * /v1/realtime upgrade check (the WebSocket itself is in transport_ws.c). */
#include "server/transport.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "server/realtime.h"
#include "util/error.h"

/*
 * Why raw sockets and our own parser rather than libwebsockets' HTTP server: its parser keeps
 * every header and every '&'-separated query argument in one fixed array of ~90 fragments
 * (a compile-time size), so a request with Appwrite's allowed 100 `queries[]` is dropped
 * without an answer. It also URL-decodes the query before we see it and turns '+' into a
 * space inside paths. HTTP/1.1 requests are simple to parse, and owning the parser gives
 * the API the raw query string and every header.
 */

#define PROTOCOL_NAME "cairn-http"
#define MAX_HEAD (128u * 1024u)            /* request line + headers (100 queries of 4 KiB
                                            * need about 1.2 MB URL-encoded: 431 above) */
#define MAX_PIPELINED (256u * 1024u)       /* buffered input while a request is handled */
#define RX_BUFFER_SIZE (64 * 1024)
#define KEEPALIVE_SECONDS 30               /* idle connection, or a request head, at most */
#define BODY_IDLE_SECONDS 30               /* between two pieces of a request body */
#define WRITE_IDLE_SECONDS 60              /* a client not reading its answer */

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

static const char *const known_methods[] = {
	"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"
};

#include "server/transport_int.h"

/* ---- jobs and connections (loop thread) ---- */

static void job_free(job *j)
{
	size_t i;

	if (!j)
		return;
	free((char *)j->request.path);
	free((char *)j->request.query);
	free((char *)j->request.peer);
	for (i = 0; i < j->request.header_count; i++) {
		free((char *)j->request.headers[i].name);
		free((char *)j->request.headers[i].value);
	}
	free(j->body);
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

static void conn_free(cairn_transport *t, conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	job_free(c->job);
	if (c->session && t->realtime)
		cairn__realtime_close(t->realtime, c->session);
	free(c->ws_out);
	free(c->ws_message);
	free(c->in);
	free(c->out_head);
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
	conn_free(t, c);
}

/* Drops the first `n` buffered input bytes. */
static void consume_input(conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_length - n);
	c->in_length -= n;
	c->scan_from = 0;
}

static int append_input(conn *c, const char *data, size_t length)
{
	if (c->in_length + length > c->in_capacity) {
		size_t capacity = c->in_capacity ? c->in_capacity : 4096;
		char *grown;

		while (capacity < c->in_length + length)
			capacity *= 2;
		grown = realloc(c->in, capacity + 1);
		if (!grown)
			return -1;
		c->in = grown;
		c->in_capacity = capacity;
	}
	memcpy(c->in + c->in_length, data, length);
	c->in_length += length;
	c->in[c->in_length] = '\0';
	return 0;
}

/* ---- responses (loop thread) ---- */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return status < 300 ? "OK" : status < 500 ? "Error" : "Server Error";
	}
}

static int header_value_ok(const char *text)
{
	return text && !strpbrk(text, "\r\n");
}

/* Serializes the status line and headers of c->job->response into c->out_head. */
static int build_head(conn *c)
{
	const cairn_http_response *response = &c->job->response;
	const char *origin = cairn__http_header(&c->job->request, "origin");
	int no_body = response->status == 204 || response->status == 304 ||
		response->status < 200;
	char *text = NULL;
	size_t length = 0, i;
	FILE *out = open_memstream(&text, &length);

	if (!out)
		return -1;
	fprintf(out, "HTTP/1.1 %d %s\r\n", response->status, reason_phrase(response->status));
	/* A 204 carries neither Content-Type nor Content-Length: RFC 9110 forbids the length,
	 * and the Appwrite SDKs JSON-parse any body whose type says JSON. */
	if (!no_body) {
		if (header_value_ok(response->content_type))
			fprintf(out, "Content-Type: %s\r\n", response->content_type);
		fprintf(out, "Content-Length: %zu\r\n", response->body_length);
	}
	if (header_value_ok(origin) && *origin)
		fprintf(out, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
	fprintf(out, "Access-Control-Allow-Credentials: true\r\n"
		"Access-Control-Expose-Headers: " CORS_EXPOSE_HEADERS "\r\n");
	for (i = 0; i < response->extra_header_count; i++) {
		const cairn_http_header *header = &response->extra_headers[i];

		if (header_value_ok(header->name) && !strchr(header->name, ':') &&
			header_value_ok(header->value))
			fprintf(out, "%s: %s\r\n", header->name, header->value);
	}
	if (c->close_after)
		fprintf(out, "Connection: close\r\n");
	else if (c->http10)
		fprintf(out, "Connection: keep-alive\r\n"); /* 1.0 closes unless told */
	fprintf(out, "\r\n");
	if (fclose(out) != 0 || !text) {
		free(text);
		return -1;
	}
	free(c->out_head);
	c->out_head = text;
	c->out_head_length = length;
	c->out_head_sent = 0;
	c->body_sent = 0;
	if (no_body || c->job->head_only || !response->body)
		c->job->response.body_length = 0;
	return 0;
}

/* Starts writing c->job->response. */
static int start_writing(conn *c)
{
	if (build_head(c) < 0)
		return -1;
	c->state = CONN_WRITING;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, WRITE_IDLE_SECONDS);
	lws_callback_on_writable(c->wsi);
	return 0;
}

/* Answers on the loop thread without a worker (preflights, malformed requests, limits).
 * The response must already be filled in c->job. */
static int answer_now(conn *c, int close_after)
{
	if (close_after)
		c->close_after = 1;
	return start_writing(c);
}

/* An Appwrite error answered by the transport itself, on a fresh or existing job. */
static int answer_error(conn *c, int status, const char *type, const char *message)
{
	if (!c->job && !(c->job = calloc(1, sizeof(*c->job))))
		return -1;
	c->job->conn = c;
	cairn__http_respond_error(&c->job->response, status, type, "%s", message);
	return answer_now(c, 1);
}

/* ---- request parsing (loop thread) ---- */

static int hex_digit(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Percent-decodes a path ('+' stays '+': that rule is for query strings only). NULL for a
 * malformed escape or an encoded NUL. */
static char *decode_path(const char *text, size_t length)
{
	char *out = malloc(length + 1);
	size_t i, o = 0;

	if (!out)
		return NULL;
	for (i = 0; i < length; i++) {
		if (text[i] != '%') {
			out[o++] = text[i];
			continue;
		}
		if (i + 2 >= length) {
			free(out);
			return NULL;
		}
		{
			int high = hex_digit((unsigned char)text[i + 1]);
			int low = high < 0 ? -1 : hex_digit((unsigned char)text[i + 2]);

			if (low < 0 || (high == 0 && low == 0)) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(high * 16 + low);
			i += 2;
		}
	}
	out[o] = '\0';
	return out;
}

/* Headers the API may read; when a request has more than CAIRN_HTTP_MAX_HEADERS, these
 * displace others. */
static int header_matters(const char *name)
{
	return strncmp(name, "x-appwrite-", 11) == 0 || strncmp(name, "content-", 8) == 0 ||
		strcmp(name, "cookie") == 0 || strcmp(name, "origin") == 0 ||
		strcmp(name, "authorization") == 0 || strcmp(name, "x-fallback-cookies") == 0 ||
		strcmp(name, "transfer-encoding") == 0 || strcmp(name, "connection") == 0 ||
		strcmp(name, "expect") == 0;
}

/* Adds or joins one header (repeats are joined with ", ", or "; " for cookies, RFC 9110). */
static int add_request_header(cairn_http_request *request, const char *name, size_t name_length,
	const char *value, size_t value_length)
{
	char *lower = malloc(name_length + 1), *copy;
	size_t i, slot = request->header_count;

	if (!lower)
		return -1;
	for (i = 0; i < name_length; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[name_length] = '\0';
	for (i = 0; i < request->header_count; i++) {
		if (strcmp(request->headers[i].name, lower) == 0) {
			const char *old = request->headers[i].value;
			const char *separator = strcmp(lower, "cookie") == 0 ? "; " : ", ";
			size_t old_length = strlen(old);

			free(lower);
			copy = malloc(old_length + 2 + value_length + 1);
			if (!copy)
				return -1;
			memcpy(copy, old, old_length);
			memcpy(copy + old_length, separator, 2);
			memcpy(copy + old_length + 2, value, value_length);
			copy[old_length + 2 + value_length] = '\0';
			free((char *)old);
			request->headers[i].value = copy;
			return 0;
		}
	}
	if (slot >= CAIRN_HTTP_MAX_HEADERS) {
		/* Full: an API-relevant header takes the place of one that is not. */
		if (!header_matters(lower)) {
			free(lower);
			return 0;
		}
		for (slot = 0; slot < CAIRN_HTTP_MAX_HEADERS; slot++) {
			if (!header_matters(request->headers[slot].name))
				break;
		}
		if (slot == CAIRN_HTTP_MAX_HEADERS) {
			free(lower);
			return 0;
		}
		free((char *)request->headers[slot].name);
		free((char *)request->headers[slot].value);
	} else {
		request->header_count++;
	}
	copy = malloc(value_length + 1);
	if (!copy) {
		free(lower);
		request->headers[slot].name = strdup("x-cairn-dropped");
		request->headers[slot].value = strdup("");
		return -1;
	}
	memcpy(copy, value, value_length);
	copy[value_length] = '\0';
	request->headers[slot].name = lower;
	request->headers[slot].value = copy;
	return 0;
}

typedef struct {
	int status;          /* 0 = parsed; else the HTTP status to answer with */
	const char *type;
	const char *message;
} parse_error;

static int fail(parse_error *error, int status, const char *type, const char *message)
{
	error->status = status;
	error->type = type;
	error->message = message;
	return -1;
}

static int is_token_char(int ch)
{
	return ch > 32 && ch < 127 && !strchr("()<>@,;:\\\"/[]?={}", ch);
}

/* Parses the request head text[0..length) (through its blank line) into c->job. */
static int parse_head(conn *c, const char *text, size_t length, parse_error *error)
{
	const char *line = text, *end = text + length, *line_end, *space, *target, *version;
	cairn_http_request *request = &c->job->request;
	size_t line_length, i, target_length;
	const char *path_end, *query_start, *fragment;

	/* The request line. */
	line_end = memchr(line, '\n', (size_t)(end - line));
	line_length = (size_t)(line_end - line);
	if (line_length > 0 && line[line_length - 1] == '\r')
		line_length--;
	space = memchr(line, ' ', line_length);
	if (!space)
		return fail(error, 400, "general_bad_request", "Malformed request line.");
	for (i = 0; i < sizeof(known_methods) / sizeof(known_methods[0]); i++) {
		if ((size_t)(space - line) == strlen(known_methods[i]) &&
			memcmp(line, known_methods[i], (size_t)(space - line)) == 0)
			request->method = known_methods[i];
	}
	target = space + 1;
	version = memchr(target, ' ', line_length - (size_t)(target - line));
	if (!version)
		return fail(error, 400, "general_bad_request", "Malformed request line.");
	target_length = (size_t)(version - target);
	version++;
	if ((size_t)(line + line_length - version) != 8 || memcmp(version, "HTTP/1.", 7) != 0 ||
		(version[7] != '0' && version[7] != '1'))
		return fail(error, 505, "general_bad_request",
			"Only HTTP/1.0 and HTTP/1.1 are supported.");
	c->keep_alive = version[7] == '1';
	c->http10 = version[7] == '0';
	if (!request->method) {
		request->method = "GET"; /* placeholder so the error answer has one */
		return fail(error, 405, "general_route_not_found",
			"The requested method is not supported.");
	}
	if (strcmp(request->method, "HEAD") == 0) {
		request->method = "GET";
		c->job->head_only = 1;
	}

	/* The target: origin form "/p?q", or absolute form "http://host/p?q" from proxies. */
	if (target_length > 7 && (strncasecmp(target, "http://", 7) == 0 ||
		strncasecmp(target, "https://", 8) == 0)) {
		const char *authority = memchr(target, '/', target_length) + 2;
		const char *slash = memchr(authority, '/', target_length - (size_t)(authority - target));

		if (!slash) {
			target = "/";
			target_length = 1;
		} else {
			target_length -= (size_t)(slash - target);
			target = slash;
		}
	}
	if (target_length == 1 && target[0] == '*' && strcmp(request->method, "OPTIONS") == 0) {
		request->path = strdup("*");
		request->query = strdup("");
	} else {
		if (target_length == 0 || target[0] != '/')
			return fail(error, 400, "general_bad_request", "Malformed request target.");
		fragment = memchr(target, '#', target_length);
		if (fragment)
			target_length = (size_t)(fragment - target);
		query_start = memchr(target, '?', target_length);
		path_end = query_start ? query_start : target + target_length;
		request->path = decode_path(target, (size_t)(path_end - target));
		if (!request->path)
			return fail(error, 400, "general_bad_request",
				"Malformed percent-encoding in the request path.");
		request->query = query_start ?
			strndup(query_start + 1, (size_t)(target + target_length - query_start - 1)) :
			strdup("");
	}
	if (!request->path || !request->query)
		return fail(error, 500, "general_server_error", "Out of memory.");

	/* Header lines, up to the blank line. */
	for (line = line_end + 1; line < end; line = line_end + 1) {
		const char *colon, *value, *value_end;

		line_end = memchr(line, '\n', (size_t)(end - line));
		if (!line_end)
			break;
		line_length = (size_t)(line_end - line);
		if (line_length > 0 && line[line_length - 1] == '\r')
			line_length--;
		if (line_length == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t')
			return fail(error, 400, "general_bad_request",
				"Folded header lines are not accepted.");
		colon = memchr(line, ':', line_length);
		if (!colon || colon == line)
			return fail(error, 400, "general_bad_request", "Malformed header line.");
		for (value = line; value < colon; value++) {
			if (!is_token_char((unsigned char)*value))
				return fail(error, 400, "general_bad_request", "Malformed header name.");
		}
		value = colon + 1;
		value_end = line + line_length;
		while (value < value_end && (*value == ' ' || *value == '\t'))
			value++;
		while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
			value_end--;
		if (add_request_header(request, line, (size_t)(colon - line), value,
			(size_t)(value_end - value)) < 0)
			return fail(error, 500, "general_server_error", "Out of memory.");
	}
	return 0;
}

/* 1 when the comma-separated header value holds `token` (case-insensitive). */
static int has_token(const char *value, const char *token)
{
	size_t token_length = strlen(token);

	while (value && *value) {
		while (*value == ' ' || *value == '\t' || *value == ',')
			value++;
		if (strncasecmp(value, token, token_length) == 0 &&
			(value[token_length] == '\0' || value[token_length] == ',' ||
			value[token_length] == ' ' || value[token_length] == ';'))
			return 1;
		value = strchr(value, ',');
	}
	return 0;
}

/* Reads framing headers after a successful parse. Returns 0, or -1 with `error` set. */
static int read_framing(conn *c, size_t *content_length, parse_error *error)
{
	const cairn_http_request *request = &c->job->request;
	const char *length_text = cairn__http_header(request, "content-length");
	const char *encoding = cairn__http_header(request, "transfer-encoding");
	const char *connection = cairn__http_header(request, "connection");
	const char *expect = cairn__http_header(request, "expect");
	const char *p;
	unsigned long long value = 0;

	if (connection && has_token(connection, "close"))
		c->keep_alive = 0;
	else if (connection && has_token(connection, "keep-alive"))
		c->keep_alive = 1;
	c->expect_continue = expect && strcasecmp(expect, "100-continue") == 0;
	*content_length = 0;
	c->chunked = 0;
	if (encoding) {
		/* Both framings at once is how requests get smuggled past proxies: refuse. */
		if (length_text)
			return fail(error, 400, "general_bad_request",
				"Both Content-Length and Transfer-Encoding were sent.");
		if (strcasecmp(encoding, "chunked") != 0)
			return fail(error, 501, "general_bad_request",
				"Only the chunked transfer coding is supported.");
		c->chunked = 1;
		return 0;
	}
	if (!length_text)
		return 0;
	if (!*length_text)
		return fail(error, 400, "general_bad_request", "Invalid Content-Length header.");
	for (p = length_text; *p; p++) {
		if (!isdigit((unsigned char)*p) || value > (ULLONG_MAX - 9) / 10)
			return fail(error, 400, "general_bad_request", "Invalid Content-Length header.");
		value = value * 10 + (unsigned long long)(*p - '0');
	}
	*content_length = value > SIZE_MAX ? SIZE_MAX : (size_t)value;
	return 0;
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
		if (j->work) {
			j->work(j->arg); /* a task (transport_ws.c): no request, no response */
		} else {
			t->handler(t->payload, &j->request, &j->response);
			if (j->response.status < 100 || j->response.status > 599)
				cairn__http_respond_error(&j->response, 500, "general_server_error",
					"The handler produced no response.");
			/* The write (if any) has committed: realtime reads the change feed from here,
			 * on this worker, so the loop never waits on the database. */
			if (t->realtime && strcmp(j->request.method, "GET") != 0 &&
				j->response.status < 300)
				cairn__realtime_publish(t->realtime);
		}

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
	/* A slow handler must not trip the idle timeouts; a client that goes away is still
	 * noticed by the close callback. */
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
		if (j->done) { /* a task: its result goes back to whoever queued it */
			j->done(j->arg);
			free(j);
			continue;
		}
		if (c->dead) {
			conn_free(t, c); /* frees j too: it is c->job */
			continue;
		}
		c->close_after = !c->keep_alive;
		if (start_writing(c) < 0)
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
	}
}

/* ---- input processing (loop thread) ---- */

static int send_raw(conn *c, const char *text, size_t length)
{
	unsigned char buffer[LWS_PRE + 64];

	if (length > 64)
		return -1;
	memcpy(buffer + LWS_PRE, text, length);
	return lws_write(c->wsi, buffer + LWS_PRE, length, LWS_WRITE_RAW) == (int)length ? 0 : -1;
}

static int body_append(job *j, const char *data, size_t length)
{
	if (j->request.body_length + length > j->body_capacity) {
		size_t capacity = j->body_capacity ? j->body_capacity * 2 : 16 * 1024;
		char *grown;

		while (capacity < j->request.body_length + length)
			capacity *= 2;
		grown = realloc(j->body, capacity + 1);
		if (!grown)
			return -1;
		j->body = grown;
		j->body_capacity = capacity;
	}
	memcpy(j->body + j->request.body_length, data, length);
	j->request.body_length += length;
	j->body[j->request.body_length] = '\0'; /* handy for handlers that parse text */
	return 0;
}

/* Body over the limit: answer 413 and close, dropping what is still on its way first (a
 * close with unread input makes the kernel reset the connection, and the client could lose
 * the answer). A client that waits for "100 Continue" sends nothing more. */
static int reject_too_large(conn *c, size_t length, size_t still_coming)
{
	char message[160];

	free(c->job->body);
	c->job->body = NULL;
	c->job->body_capacity = 0;
	c->job->request.body_length = 0;
	c->discard_remaining = c->expect_continue ? 0 : still_coming;
	snprintf(message, sizeof(message),
		"Request body of %zu bytes is larger than the limit of %u bytes.", length,
		CAIRN_HTTP_MAX_BODY);
	return answer_error(c, 413, "general_payload_too_large", message);
}

/* Decodes as much of a chunked body as is buffered. 1 when complete, 0 for more, -1 on a
 * fatal error already answered. */
static int take_chunked(conn *c)
{
	for (;;) {
		char *line_end;

		if (c->chunk_state == 1) {
			size_t n = c->in_length < c->body_remaining ? c->in_length : c->body_remaining;

			if (c->job->request.body_length + n > CAIRN_HTTP_MAX_BODY)
				return reject_too_large(c, c->job->request.body_length + n, 0) < 0 ? -1 : 2;
			if (n && body_append(c->job, c->in, n) < 0)
				return -1;
			consume_input(c, n);
			c->body_remaining -= n;
			if (c->body_remaining > 0)
				return 0;
			c->chunk_state = 2;
			continue;
		}
		line_end = c->in_length ? memchr(c->in, '\n', c->in_length) : NULL;
		if (!line_end) {
			if (c->in_length > 4096)
				return answer_error(c, 400, "general_bad_request",
					"Malformed chunked body.") < 0 ? -1 : 2;
			return 0;
		}
		if (c->chunk_state == 0) {
			char *end;
			unsigned long long size;

			errno = 0;
			size = strtoull(c->in, &end, 16);
			if (errno || end == c->in || !isxdigit((unsigned char)c->in[0]) ||
				(*end != ';' && *end != '\r' && *end != '\n'))
				return answer_error(c, 400, "general_bad_request",
					"Malformed chunk size.") < 0 ? -1 : 2;
			consume_input(c, (size_t)(line_end - c->in) + 1);
			if (size > CAIRN_HTTP_MAX_BODY)
				return reject_too_large(c, (size_t)size, 0) < 0 ? -1 : 2;
			c->body_remaining = (size_t)size;
			c->chunk_state = size ? 1 : 3;
		} else if (c->chunk_state == 2) {
			size_t n = (size_t)(line_end - c->in) + 1;

			if (n > 2 || (n == 2 && c->in[0] != '\r'))
				return answer_error(c, 400, "general_bad_request",
					"Malformed chunked body.") < 0 ? -1 : 2;
			consume_input(c, n);
			c->chunk_state = 0;
		} else {
			/* Trailers: skipped up to the blank line. */
			size_t n = (size_t)(line_end - c->in) + 1;
			int blank = n == 1 || (n == 2 && c->in[0] == '\r');

			consume_input(c, n);
			if (blank)
				return 1;
		}
	}
}

/* Parses and dispatches whatever complete requests the buffer holds. -1 closes. */
static int process_input(cairn_transport *t, conn *c)
{
	while (c->state == CONN_HEAD || c->state == CONN_BODY) {
		if (c->state == CONN_HEAD) {
			char *head_end = NULL;
			size_t head_length, content_length;
			parse_error error = { 0, NULL, NULL };
			char *p;

			/* Blank lines before a request line are allowed (RFC 9112 §2.2). */
			while (c->in_length && (c->in[0] == '\r' || c->in[0] == '\n'))
				consume_input(c, 1);
			/* Resume a little before where the last search stopped: the blank line may
			 * straddle two reads. */
			for (p = c->in_length ? c->in + (c->scan_from > 3 ? c->scan_from - 3 : 0) : NULL;
				p && (p = memchr(p, '\n', c->in_length - (size_t)(p - c->in))); p++) {
				if (p + 1 < c->in + c->in_length && p[1] == '\n') {
					head_end = p + 2;
					break;
				}
				if (p + 2 < c->in + c->in_length && p[1] == '\r' && p[2] == '\n') {
					head_end = p + 3;
					break;
				}
			}
			if (!head_end) {
				c->scan_from = c->in_length;
				if (c->in_length > MAX_HEAD)
					return answer_error(c, 431, "general_bad_request",
						"The request line and headers are too large.");
				return 0;
			}
			head_length = (size_t)(head_end - c->in);
			if (head_length > MAX_HEAD)
				return answer_error(c, 431, "general_bad_request",
					"The request line and headers are too large.");

			c->job = calloc(1, sizeof(*c->job));
			if (!c->job)
				return -1;
			c->job->conn = c;
			{
				char peer[128] = "";

				lws_get_peer_simple(c->wsi, peer, sizeof(peer));
				c->job->request.peer = strdup(peer);
				if (!c->job->request.peer)
					return -1;
			}
			c->job->request.tls = c->tls;
			c->close_after = 0;
			c->chunk_state = 0;
			c->body_remaining = 0;
			if (parse_head(c, c->in, head_length, &error) < 0 ||
				read_framing(c, &content_length, &error) < 0) {
				consume_input(c, head_length);
				return answer_error(c, error.status, error.type, error.message);
			}
			consume_input(c, head_length);

			if (t->realtime && cairn__transport_wants_websocket(c->job))
				return cairn__transport_ws_upgrade(t, c);
			if (!c->chunked && content_length > CAIRN_HTTP_MAX_BODY)
				return reject_too_large(c, content_length,
					content_length - (c->in_length < content_length ?
					c->in_length : content_length));
			if (strcmp(c->job->request.method, "OPTIONS") == 0) {
				cairn_http_response *response = &c->job->response;

				cairn__http_respond_no_content(response);
				if (cairn__http_response_add_header(response,
					"Access-Control-Allow-Methods", CORS_ALLOW_METHODS) ||
					cairn__http_response_add_header(response,
					"Access-Control-Allow-Headers", CORS_ALLOW_HEADERS) ||
					cairn__http_response_add_header(response,
					"Access-Control-Max-Age", "86400"))
					return -1;
				/* A preflight with a body is odd enough to not keep the connection. */
				if (c->chunked || content_length > 0) {
					c->discard_remaining = c->chunked ? 0 : content_length;
					return answer_now(c, 1);
				}
				return answer_now(c, !c->keep_alive);
			}
			if (!c->chunked && content_length == 0) {
				dispatch(t, c);
				return 0;
			}
			c->body_remaining = content_length;
			if (!c->chunked) {
				c->job->body = malloc(content_length + 1);
				if (!c->job->body)
					return -1;
				c->job->body_capacity = content_length;
			}
			/* curl-based clients wait a second for this before sending a large body. */
			if (c->expect_continue && c->in_length == 0 &&
				send_raw(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
				return -1;
			c->state = CONN_BODY;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, BODY_IDLE_SECONDS);
			continue;
		}

		/* CONN_BODY */
		if (c->chunked) {
			int done = take_chunked(c);

			if (done <= 0 || done == 2)
				return done < 0 ? -1 : 0;
		} else {
			size_t n = c->in_length < c->body_remaining ? c->in_length : c->body_remaining;

			if (n && body_append(c->job, c->in, n) < 0)
				return -1;
			consume_input(c, n);
			c->body_remaining -= n;
			if (c->body_remaining > 0) {
				lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, BODY_IDLE_SECONDS);
				return 0;
			}
		}
		dispatch(t, c);
		return 0;
	}
	return 0;
}

static int on_receive(cairn_transport *t, conn *c, const char *data, size_t length)
{
	if (c->state == CONN_WS) {
		if (c->ws_closing)
			return 0;
		if (append_input(c, data, length) < 0)
			return -1;
		return cairn__transport_ws_process(t, c);
	}
	/* Body bytes of a request answered early are dropped as they come. */
	if (c->discard_remaining) {
		size_t n = length < c->discard_remaining ? length : c->discard_remaining;

		c->discard_remaining -= n;
		data += n;
		length -= n;
		if (c->state == CONN_DRAIN && c->discard_remaining == 0)
			return -1;
	}
	if (c->state == CONN_DRAIN) {
		if (!c->discard_remaining)
			return -1;
		return 0;
	}
	if (length == 0)
		return 0;
	if (c->close_after && (c->state == CONN_WRITING))
		return 0; /* closing after this answer: whatever else comes is not read */
	if (append_input(c, data, length) < 0)
		return -1;
	if (c->state == CONN_WORKING || c->state == CONN_WRITING) {
		/* Pipelined: keep it for later, but do not let one client fill our memory. */
		if (c->in_length > MAX_PIPELINED && !c->rx_paused) {
			lws_rx_flow_control(c->wsi, 0);
			c->rx_paused = 1;
		}
		return 0;
	}
	return process_input(t, c);
}

/* ---- writing (loop thread) ---- */

static int on_writeable(cairn_transport *t, conn *c)
{
	unsigned char buffer[LWS_PRE + WRITE_CHUNK];
	const cairn_http_response *response;
	size_t left, chunk;
	const char *from;

	if (c->state == CONN_WS)
		return cairn__transport_ws_writeable(c);
	if (c->state != CONN_WRITING)
		return 0;
	response = &c->job->response;
	if (c->out_head_sent < c->out_head_length) {
		left = c->out_head_length - c->out_head_sent;
		from = c->out_head + c->out_head_sent;
	} else {
		left = response->body_length - c->body_sent;
		from = response->body + c->body_sent;
	}
	chunk = left < WRITE_CHUNK ? left : WRITE_CHUNK;
	if (chunk) {
		memcpy(buffer + LWS_PRE, from, chunk);
		if (lws_write(c->wsi, buffer + LWS_PRE, chunk, LWS_WRITE_RAW) != (int)chunk)
			return -1;
		if (c->out_head_sent < c->out_head_length)
			c->out_head_sent += chunk;
		else
			c->body_sent += chunk;
	}
	if (c->out_head_sent < c->out_head_length || c->body_sent < response->body_length) {
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, WRITE_IDLE_SECONDS);
		lws_callback_on_writable(c->wsi);
		return 0;
	}

	/* The exchange is over. */
	job_free(c->job);
	c->job = NULL;
	free(c->out_head);
	c->out_head = NULL;
	if (c->close_after) {
		if (!c->discard_remaining)
			return -1;
		c->state = CONN_DRAIN;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, DRAIN_SECONDS);
		return 0;
	}
	c->state = CONN_HEAD;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, KEEPALIVE_SECONDS);
	if (c->rx_paused) {
		lws_rx_flow_control(c->wsi, 1);
		c->rx_paused = 0;
	}
	return process_input(t, c); /* a pipelined request may be waiting */
}

/* Plain HTTP on the TLS port: one 400 in clear text, whatever was sent, then close. */
static int refuse_plaintext(conn *c)
{
	if (c->plaintext)
		return 0; /* answered already: the rest is not read */
	c->plaintext = 1;
	if (c->job) {
		job_free(c->job);
		c->job = NULL;
	}
	return answer_error(c, 400, "general_protocol_unsupported", "This port serves HTTPS only: "
		"use an https:// (or wss://) URL.");
}

/* ---- shared with transport_ws.c (transport_int.h) ---- */

void cairn__transport_consume_input(conn *c, size_t n)
{
	consume_input(c, n);
}

int cairn__transport_answer_error(conn *c, int status, const char *type, const char *message)
{
	return answer_error(c, status, type, message);
}

int cairn__transport_has_token(const char *value, const char *token)
{
	return has_token(value, token);
}

void cairn__transport_job_free(job *j)
{
	job_free(j);
}

/* ---- the libwebsockets callback ---- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	size_t len)
{
	struct lws_context *context = wsi ? lws_get_context(wsi) : NULL;
	cairn_transport *t = context ? lws_context_user(context) : NULL;
	conn *c;

	if (!t)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		if (!conn_new(t, wsi))
			return -1;
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, KEEPALIVE_SECONDS);
		return 0;
	case LWS_CALLBACK_RAW_RX:
		c = lws_get_opaque_user_data(wsi);
		if (!c)
			return -1;
		/* On a TLS listener lws has done the handshake before the first RAW_RX and reads
		 * and writes through the session from then on; a client that sent no handshake
		 * (plain HTTP) arrives here with lws_is_ssl() == 0 and gets only a 400. */
		c->tls = lws_is_ssl(wsi);
		if (t->tls && !c->tls)
			return refuse_plaintext(c);
		return on_receive(t, c, in, len);
	case LWS_CALLBACK_RAW_WRITEABLE:
		c = lws_get_opaque_user_data(wsi);
		return c ? on_writeable(t, c) : 0;
	case LWS_CALLBACK_RAW_CLOSE:
	case LWS_CALLBACK_WSI_DESTROY:
		if (lws_get_opaque_user_data(wsi))
			conn_closed(t, wsi);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		drain_done(t);
		if (t->realtime)
			cairn__realtime_dispatch(t->realtime);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* One protocol on raw sockets. The realtime API (CAIRN_TRANSPORT_REALTIME_PROTOCOL) will
 * take over connections whose request asks for a WebSocket upgrade of /v1/realtime. */
static const struct lws_protocols protocols[] = {
	{ PROTOCOL_NAME, callback, 0, RX_BUFFER_SIZE, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ---- lifecycle ---- */

/* Splits "HOST:PORT" / "[V6]:PORT" / ":PORT". */
static int parse_listen(char *host, size_t host_size, int *port, const char *listen)
{
	const char *colon, *host_start = listen;
	size_t host_length;
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
		host_length = (size_t)(close - host_start);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return cairn__error_set(CAIRN_EINVALID,
				"listen address '%s' has no port; use HOST:PORT", listen);
		host_length = (size_t)(colon - listen);
	}
	if (host_length >= host_size)
		return cairn__error_set(CAIRN_EINVALID, "listen host in '%s' is too long", listen);
	memcpy(host, host_start, host_length);
	host[host_length] = '\0';
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

/* The last OpenSSL error as text ("" if none); clears the queue. */
static const char *openssl_reason(char *buffer, size_t size)
{
	unsigned long code = ERR_peek_last_error();

	buffer[0] = '\0';
	if (code)
		ERR_error_string_n(code, buffer, size);
	ERR_clear_error();
	return buffer;
}

/*
 * Reads the certificate and key ourselves before libwebsockets does, to refuse bad files with
 * a message that names the file and the problem (libwebsockets only logs, then fails to
 * create the context). Checks: both readable, PEM, and the key belongs to the certificate.
 */
static int check_tls_files(const cairn_transport_tls *tls)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	FILE *file;
	char reason[256];
	int rc = 0;

	if (!tls->cert_file || !*tls->cert_file || !tls->key_file || !*tls->key_file)
		return cairn__error_set(CAIRN_EINVALID, "TLS needs both a certificate file and a "
			"private key file");
	if (!(file = fopen(tls->cert_file, "r")))
		return cairn__error_set(CAIRN_EINVALID, "cannot read the TLS certificate %s: %s",
			tls->cert_file, strerror(errno));
	cert = PEM_read_X509(file, NULL, NULL, NULL);
	fclose(file);
	if (!cert) {
		rc = cairn__error_set(CAIRN_EINVALID, "the TLS certificate %s holds no PEM "
			"certificate (%s)", tls->cert_file, openssl_reason(reason, sizeof(reason)));
		goto done;
	}
	if (!(file = fopen(tls->key_file, "r"))) {
		rc = cairn__error_set(CAIRN_EINVALID, "cannot read the TLS private key %s: %s",
			tls->key_file, strerror(errno));
		goto done;
	}
	/* No passphrase callback: an encrypted key fails here instead of prompting. */
	key = PEM_read_PrivateKey(file, NULL, NULL, (void *)"");
	fclose(file);
	if (!key) {
		rc = cairn__error_set(CAIRN_EINVALID, "the TLS private key %s holds no unencrypted "
			"PEM private key (%s)", tls->key_file, openssl_reason(reason, sizeof(reason)));
		goto done;
	}
	if (X509_check_private_key(cert, key) != 1)
		rc = cairn__error_set(CAIRN_EINVALID, "the TLS private key %s does not belong to "
			"the certificate %s", tls->key_file, tls->cert_file);
done:
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int cairn__transport_check_tls(const cairn_transport_tls *tls)
{
	return check_tls_files(tls);
}

static void log_emit(int level, const char *line)
{
	(void)level;
	fprintf(stderr, "cairn: libwebsockets: %s", line);
}

int cairn__transport_new(cairn_transport **out, const char *listen, int workers,
	cairn_transport_handler handler, void *payload)
{
	return cairn__transport_new_tls(out, listen, workers, NULL, handler, payload);
}

int cairn__transport_new_tls(cairn_transport **out, const char *listen, int workers,
	const cairn_transport_tls *tls, cairn_transport_handler handler, void *payload)
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
	if (tls && (error = check_tls_files(tls)) < 0)
		return error;
	if ((error = check_bindable(host, port, listen)) < 0)
		return error;

	t = calloc(1, sizeof(*t));
	if (!t)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory creating the HTTP transport");
	t->handler = handler;
	t->payload = payload;
	t->tls = tls != NULL;
	atomic_init(&t->stop, 0);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);

	lws_set_log_level(LLL_ERR, log_emit);
	memset(&info, 0, sizeof(info));
	info.port = port;
	info.protocols = protocols;
	info.user = t;
	info.vhost_name = "default";
	info.options = LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
	info.listen_accept_role = "raw-skt";
	info.listen_accept_protocol = PROTOCOL_NAME;
	info.pt_serv_buf_size = RX_BUFFER_SIZE;
	if (tls) {
		/* Raw adopted sockets get lws's TLS when the vhost has a certificate. ALPN must
		 * not offer h2 (lws would by default): our parser speaks HTTP/1.x only. */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		/* Lets a client that starts with plain bytes instead of a TLS handshake reach the
		 * callback unencrypted, only so that it gets a 400 (refuse_plaintext) rather than
		 * a reset: nothing is ever served without TLS on this port. */
		info.options |= LWS_SERVER_OPTION_ALLOW_NON_SSL_ON_SSL_PORT |
			LWS_SERVER_OPTION_ALLOW_HTTP_ON_HTTPS_LISTENER;
		info.ssl_cert_filepath = tls->cert_file;
		info.ssl_private_key_filepath = tls->key_file;
		info.alpn = "http/1.1";
	}
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
	if (!t->context && tls) {
		error = cairn__error_set(CAIRN_EINVALID, "could not set up TLS on %s with the "
			"certificate %s and key %s (see the libwebsockets message above)", listen,
			tls->cert_file, tls->key_file);
		goto cleanup;
	}
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

		if (list->done) /* a task's owner frees its part (the work may not have run) */
			list->done(list->arg);
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

	/* Closing every connection runs the close callbacks: conns are freed there, except
	 * those whose job sits in a queue (marked dead). The queued jobs are freed here, then
	 * those conns, whose c->job must no longer point at them. */
	if (transport->context)
		lws_context_destroy(transport->context);
	free_job_list(transport->queue_head);
	free_job_list(transport->done_head);
	while (transport->conns) {
		transport->conns->job = NULL;
		conn_free(transport, transport->conns);
	}
	pthread_cond_destroy(&transport->wake);
	pthread_mutex_destroy(&transport->lock);
	free(transport);
}
