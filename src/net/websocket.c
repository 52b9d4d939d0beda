/* websocket.c: the realtime WebSocket client (ws:// and wss://) on libwebsockets' client
 * role: one lws context per connection, serviced only from the calling thread, with complete
 * text messages queued for cairn__ws_read. */
#include "net/websocket.h"

#include <errno.h>
#include <fcntl.h>
#include <curl/curl.h>
#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/error.h"
#include "util/time.h"

#define MAX_MESSAGE (64u * 1024u * 1024u) /* a document event is at most ~1 MiB of data */
#define SEND_TIMEOUT_MS 5000
#define SERVICE_STEP_MS 10

typedef struct ws_message {
	struct ws_message *next;
	size_t length;
	char *data; /* NUL-terminated */
} ws_message;

typedef struct ws_out {
	struct ws_out *next;
	size_t length;
	unsigned char *frame; /* LWS_PRE bytes of headroom, then the payload */
} ws_out;

struct cairn__ws {
	struct lws_context *context;
	SSL_CTX *ssl_ctx;           /* wss://: ours, given to lws; freed after the context */
	struct lws *wsi;            /* NULL once lws has dropped the connection */
	int fd;
	int established;
	int closed;                 /* the connection failed or closed: reads end offline */
	unsigned http_status;       /* a refused upgrade's status, when lws reports it */
	char error[160];            /* lws's reason for a failed connect */
	char cert_error[160];       /* why the server's certificate was refused, if it was */
	char *partial;              /* a fragmented message being collected */
	size_t partial_length;
	int partial_binary;
	ws_message *in_head, *in_tail;
	ws_out *out_head, *out_tail;
	const char *session;        /* X-Appwrite-Session for the upgrade (borrowed), or NULL */
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/*
 * lws 4.1.6 allocates new process-wide OpenSSL ex-data indexes each time a context is created
 * with LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT, and frees its client SSL_CTX only if it finds
 * its bookkeeping at the current index. With two wss:// connections alive at once (two
 * replicators), destroying the older context leaked its SSL_CTX and CA store (~700 KB,
 * measured under ASan). So the client SSL_CTX is ours (provided_client_ssl_ctx, which lws
 * never frees), and contexts are created and destroyed one at a time.
 */
static pthread_mutex_t context_lock = PTHREAD_MUTEX_INITIALIZER;

/* The client SSL_CTX for wss://, trusting only `ca_file`. lws sets peer verification and the
 * expected host name on each connection. */
static int make_ssl_ctx(SSL_CTX **out, const char *ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char reason[256] = "";

	*out = NULL;
	if (!ctx)
		return cairn__error_set(CAIRN_ENOMEM, "could not set up TLS for realtime");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return cairn__error_set(CAIRN_EINVALID, "cannot use the CA file %s for realtime: %s",
			ca_file, reason);
	}
	*out = ctx;
	return 0;
}

/* Errors only, and a NULL emitter keeps whatever emitter the in-process server installed
 * (the level is process-wide in lws). */
static void quiet_logs(void)
{
	lws_set_log_level(LLL_ERR, NULL);
}

static void mark_gone(cairn__ws *ws)
{
	ws->closed = 1;
	ws->wsi = NULL;
}

static int queue_message(cairn__ws *ws)
{
	ws_message *m = malloc(sizeof(*m));

	if (!m)
		return -1;
	m->next = NULL;
	m->length = ws->partial_length;
	m->data = ws->partial ? ws->partial : strdup("");
	if (!m->data) {
		free(m);
		return -1;
	}
	ws->partial = NULL;
	ws->partial_length = 0;
	if (ws->in_tail)
		ws->in_tail->next = m;
	else
		ws->in_head = m;
	ws->in_tail = m;
	return 0;
}

/* Appends one received chunk; a whole message goes on the queue. -1 drops the connection. */
static int on_receive(cairn__ws *ws, struct lws *wsi, const void *in, size_t length)
{
	char *grown;

	if (ws->partial_length == 0 && !ws->partial)
		ws->partial_binary = lws_frame_is_binary(wsi);
	if (ws->partial_length + length > MAX_MESSAGE)
		return -1;
	grown = realloc(ws->partial, ws->partial_length + length + 1);
	if (!grown)
		return -1;
	ws->partial = grown;
	if (length)
		memcpy(grown + ws->partial_length, in, length);
	ws->partial_length += length;
	grown[ws->partial_length] = '\0';
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	if (ws->partial_binary) { /* binary messages are not part of the protocol: ignored */
		free(ws->partial);
		ws->partial = NULL;
		ws->partial_length = 0;
		return 0;
	}
	return queue_message(ws);
}

static int on_writable(cairn__ws *ws, struct lws *wsi)
{
	ws_out *o = ws->out_head;

	if (!o)
		return 0;
	/* lws keeps any part the kernel would not take and finishes it before the next
	 * writable callback, so a short count is not an error here. */
	if (lws_write(wsi, o->frame + LWS_PRE, o->length, LWS_WRITE_TEXT) < 0)
		return -1;
	ws->out_head = o->next;
	if (!ws->out_head)
		ws->out_tail = NULL;
	free(o->frame);
	free(o);
	if (ws->out_head)
		lws_callback_on_writable(wsi);
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	size_t length)
{
	struct lws_context *context = lws_get_context(wsi);
	cairn__ws *ws = context ? lws_context_user(context) : NULL;

	(void)user;
	if (!ws)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		/* OpenSSL's verdict on the server's certificate (length = preverify_ok); lws
		 * keeps it when we return 0. We only keep the reason, for the error message. */
		if (!length && user && !ws->cert_error[0])
			snprintf(ws->cert_error, sizeof(ws->cert_error), "%s",
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(user)));
		return 0;
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (ws->session && ws->session[0]) {
			unsigned char **cursor = (unsigned char **)in;

			if (lws_add_http_header_by_name(wsi,
				(const unsigned char *)"x-appwrite-session:",
				(const unsigned char *)ws->session, (int)strlen(ws->session), cursor,
				*cursor + length))
				return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (wsi == ws->wsi || !ws->established) {
			ws->http_status = lws_http_client_http_response(wsi);
			snprintf(ws->error, sizeof(ws->error), "%s",
				in ? (const char *)in : "connection failed");
			mark_gone(ws);
		}
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		ws->wsi = wsi;
		/* Our own descriptor of the socket for the caller's poll(): it stays valid (and
		 * reports the hang-up) after lws closes its descriptor, as the old client's did. */
		if (ws->fd < 0)
			ws->fd = fcntl((int)lws_get_socket_fd(wsi), F_DUPFD_CLOEXEC, 0);
		ws->established = 1;
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (on_receive(ws, wsi, in, length) < 0) {
			ws->closed = 1;
			return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (ws->closed)
			return -1;
		if (on_writable(ws, wsi) < 0) {
			ws->closed = 1;
			return -1;
		}
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		ws->closed = 1; /* lws answers the close frame itself */
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
	case LWS_CALLBACK_WSI_DESTROY:
		if (wsi == ws->wsi)
			mark_gone(ws);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "cairn-realtime", callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Splits "http[s]://HOST:PORT/PATH" (PATH without trailing slash); *tls for https. */
static int parse_url(char *host, size_t host_size, int *port, char *path, size_t path_size,
	int *tls, const char *url)
{
	const char *p, *slash, *colon;
	size_t length;
	char *end = NULL;
	long value;

	if (strncasecmp(url, "http://", 7) == 0) {
		*tls = 0;
		p = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		*tls = 1;
		p = url + 8;
	} else {
		return cairn__error_set(CAIRN_EINVALID, "realtime needs an http:// or https:// "
			"remote URL (got '%s')", url);
	}
	value = *tls ? 443 : 80;
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
	if (colon) {
		errno = 0;
		value = strtol(colon + 1, &end, 10);
		if (errno || end != p + length || value <= 0 || value > 65535)
			return cairn__error_set(CAIRN_EINVALID, "bad port in remote URL '%s'", url);
	}
	if (host[0] == '\0')
		return cairn__error_set(CAIRN_EINVALID, "no host in remote URL '%s'", url);
	*port = (int)value;
	snprintf(path, path_size, "%s", slash ? slash : "");
	length = strlen(path);
	while (length && path[length - 1] == '/')
		path[--length] = '\0';
	return 0;
}

/* Lets lws do all the work it can without blocking, including "forced service" for data it
 * already holds in its own buffers (which poll() on the socket would not report). */
static void service_now(cairn__ws *ws)
{
	int rounds;

	lws_service(ws->context, -1);
	for (rounds = 0; rounds < 64 && ws->context &&
		lws_service_adjust_timeout(ws->context, 1, 0) == 0; rounds++)
		lws_service(ws->context, -1);
}

/* Waits up to `ms` for the socket to have input (or any socket event while `want_out`), then
 * services. Before the socket exists it just sleeps. */
static void service_wait(cairn__ws *ws, int ms, int want_out)
{
	int fd = ws->wsi ? (int)lws_get_socket_fd(ws->wsi) : -1;
	struct pollfd p = { fd, (short)(POLLIN | (want_out ? POLLOUT : 0)), 0 };

	if (ms > 0)
		poll(fd >= 0 ? &p : NULL, fd >= 0 ? 1 : 0, ms);
	service_now(ws);
}

/* The CA bundle libcurl uses by default, so that https:// and wss:// trust the same CAs when
 * the remote names no CA file. */
static const char *system_ca_file(void)
{
	const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);

	if (info && info->age >= CURLVERSION_SEVENTH && info->cainfo && info->cainfo[0])
		return info->cainfo;
	return "/etc/ssl/certs/ca-certificates.crt";
}

int cairn__ws_connect(cairn__ws **out, const char *base_url, const char *project,
	long timeout_ms)
{
	return cairn__ws_connect_ca(out, base_url, project, NULL, timeout_ms);
}

int cairn__ws_connect_ca(cairn__ws **out, const char *base_url, const char *project,
	const char *ca_file, long timeout_ms)
{
	return cairn__ws_connect_session(out, base_url, project, ca_file, NULL, timeout_ms);
}

int cairn__ws_connect_session(cairn__ws **out, const char *base_url, const char *project,
	const char *ca_file, const char *session, long timeout_ms)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info connect;
	char host[256], host_header[300], path[512], request_path[1024];
	int64_t deadline = cairn__time_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
	cairn__ws *ws = NULL;
	int port = 80, tls = 0, n, rc;

	*out = NULL;
	rc = parse_url(host, sizeof(host), &port, path, sizeof(path), &tls, base_url);
	if (rc < 0)
		return rc;
	n = snprintf(request_path, sizeof(request_path), "%s/realtime?project=%s", path, project);
	if (n < 0 || (size_t)n >= sizeof(request_path))
		return cairn__error_set(CAIRN_EINVALID, "remote URL or project too long for realtime");
	snprintf(host_header, sizeof(host_header), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
		port);
	pthread_once(&log_once, quiet_logs);

	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	ws->fd = -1;
	ws->session = session; /* only read during the handshake, inside this call */
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = ws;
	info.gid = -1;
	info.uid = -1;
	/* A handful of fds (the connection and lws's wake pipe): without a limit lws sizes its
	 * fd table from the process ulimit, per connection. */
	info.fd_limit_per_thread = 16;
	info.connect_timeout_secs = (unsigned)((timeout_ms > 0 ? timeout_ms : 10000) / 1000 + 1);
	if (tls) {
		/* lws's OpenSSL client: chain and host name verified (no LCCSCF_ALLOW_* flags). */
		rc = make_ssl_ctx(&ws->ssl_ctx, ca_file && *ca_file ? ca_file : system_ca_file());
		if (rc < 0)
			goto cleanup;
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.provided_client_ssl_ctx = ws->ssl_ctx;
	}
	pthread_mutex_lock(&context_lock);
	ws->context = lws_create_context(&info);
	pthread_mutex_unlock(&context_lock);
	if (!ws->context) {
		rc = cairn__error_set(CAIRN_ENOMEM, "could not set up the realtime connection");
		goto cleanup;
	}
	memset(&connect, 0, sizeof(connect));
	connect.context = ws->context;
	connect.address = host;
	connect.port = port;
	connect.path = request_path;
	connect.host = host_header;
	connect.origin = host_header;
	connect.protocol = NULL; /* no subprotocol: the server offers none */
	connect.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
	connect.local_protocol_name = protocols[0].name;
	connect.pwsi = &ws->wsi;
	if (!lws_client_connect_via_info(&connect) || (!ws->wsi && !ws->closed)) {
		/* lws failed before any callback (or said why in one) */
		ws->closed = 1;
		ws->wsi = NULL;
	}
	while (!ws->established && !ws->closed && ws->wsi) {
		int64_t left = deadline - cairn__time_monotonic_ms();

		if (left <= 0)
			break;
		service_wait(ws, left < SERVICE_STEP_MS ? (int)left : SERVICE_STEP_MS, 0);
	}
	/* Established counts even if the server closed at once: its last messages (an error
	 * saying why) are queued for cairn__ws_read, which then reports the close. */
	if (!ws->established || ws->fd < 0) {
		if (ws->http_status && ws->http_status != 101 && ws->http_status < 500)
			rc = cairn__error_set(CAIRN_ESERVER, "the server refused the realtime "
				"connection: HTTP %u", ws->http_status);
		else if (tls && ws->cert_error[0])
			rc = cairn__error_set(CAIRN_ESERVER, "the TLS certificate of %s was refused "
				"for realtime: %s (trust its CA with the remote's CA file, `cairn remote "
				"--ca-file`)", base_url, ws->cert_error);
		else if (ws->error[0])
			rc = cairn__error_set(CAIRN_EOFFLINE, "cannot open realtime at %s: %s",
				base_url, ws->error);
		else
			rc = cairn__error_set(CAIRN_EOFFLINE, "no realtime handshake answer from %s",
				base_url);
		goto cleanup;
	}
	ws->session = NULL;
	*out = ws;
	ws = NULL;
	rc = 0;
cleanup:
	cairn__ws_free(ws);
	return rc;
}

void cairn__ws_free(cairn__ws *ws)
{
	if (!ws)
		return;
	/* Destroying the context closes the connection; its callbacks still see `ws`. */
	if (ws->context) {
		pthread_mutex_lock(&context_lock);
		lws_context_destroy(ws->context);
		pthread_mutex_unlock(&context_lock);
	}
	ws->context = NULL;
	SSL_CTX_free(ws->ssl_ctx);
	while (ws->in_head) {
		ws_message *m = ws->in_head;

		ws->in_head = m->next;
		free(m->data);
		free(m);
	}
	while (ws->out_head) {
		ws_out *o = ws->out_head;

		ws->out_head = o->next;
		free(o->frame);
		free(o);
	}
	free(ws->partial);
	if (ws->fd >= 0)
		close(ws->fd);
	free(ws);
}

int cairn__ws_fd(const cairn__ws *ws)
{
	return ws->fd;
}

int cairn__ws_send_text(cairn__ws *ws, const char *text, size_t length)
{
	int64_t deadline = cairn__time_monotonic_ms() + SEND_TIMEOUT_MS;
	ws_out *o;

	if (ws->closed || !ws->wsi)
		return cairn__error_set(CAIRN_EOFFLINE, "the realtime connection broke");
	o = calloc(1, sizeof(*o));
	if (!o || !(o->frame = malloc(LWS_PRE + length + 1))) {
		free(o);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	if (length)
		memcpy(o->frame + LWS_PRE, text, length);
	o->length = length;
	if (ws->out_tail)
		ws->out_tail->next = o;
	else
		ws->out_head = o;
	ws->out_tail = o;
	lws_callback_on_writable(ws->wsi);
	/* Blocking, as before: the message (and any part lws buffered) is on the wire. */
	while (!ws->closed && ws->wsi && (ws->out_head || lws_send_pipe_choked(ws->wsi))) {
		int64_t left = deadline - cairn__time_monotonic_ms();

		if (left <= 0)
			return cairn__error_set(CAIRN_EOFFLINE, "the realtime connection stalled");
		service_wait(ws, left < SERVICE_STEP_MS ? (int)left : SERVICE_STEP_MS, 1);
	}
	if (ws->closed || !ws->wsi)
		return cairn__error_set(CAIRN_EOFFLINE, "the realtime connection broke");
	return 0;
}

int cairn__ws_read(char **out, size_t *length, cairn__ws *ws)
{
	ws_message *m;

	*out = NULL;
	*length = 0;
	if (!ws->in_head && !ws->closed && ws->wsi)
		service_now(ws);
	m = ws->in_head;
	if (m) {
		/* Messages that arrived before a close are still delivered first. */
		ws->in_head = m->next;
		if (!ws->in_head)
			ws->in_tail = NULL;
		*out = m->data;
		*length = m->length;
		free(m);
		return 1;
	}
	if (ws->closed || !ws->wsi)
		return cairn__error_set(CAIRN_EOFFLINE, "the realtime connection closed");
	return 0;
}
