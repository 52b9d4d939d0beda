/* http.h: the server's thin request/response layer between libwebsockets and the API. */
#ifndef CAIRN_SERVER_HTTP_H
#define CAIRN_SERVER_HTTP_H

/*
 * The transport (transport.c, libwebsockets) assembles a complete cairn_http_request on its
 * event-loop thread, hands it to a worker thread that calls cairn__api_handle(), and writes
 * the cairn_http_response back on the event-loop thread. Nothing above this header knows
 * about libwebsockets, so the API is unit-tested by building requests by hand.
 */

#include <stddef.h>

#define CAIRN_HTTP_MAX_BODY (16u * 1024u * 1024u) /* larger bodies: 413 before buffering */
#define CAIRN_HTTP_MAX_HEADERS 32

typedef struct {
	const char *name;  /* lower-case */
	const char *value;
} cairn_http_header;

typedef struct {
	const char *method;      /* "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" */
	const char *path;        /* URL-decoded path, without the query string, e.g. "/v1/health" */
	const char *query;       /* raw query string after '?', not decoded; "" if none */
	cairn_http_header headers[CAIRN_HTTP_MAX_HEADERS]; /* lower-case names */
	size_t header_count;
	const char *body;        /* raw body bytes (not NUL-terminated necessarily); may be NULL */
	size_t body_length;
	const char *peer;        /* client address text, e.g. "127.0.0.1" */
	int tls;                 /* 1 when the request came over TLS (HTTPS, WSS) */
} cairn_http_request;

typedef struct {
	int status;              /* e.g. 200, 201, 204, 400 */
	char *content_type;      /* malloc'd, or NULL for none (204 must have none) */
	char *body;              /* malloc'd, or NULL */
	size_t body_length;
	cairn_http_header extra_headers[8]; /* malloc'd names and values (cast away const) */
	size_t extra_header_count;
} cairn_http_response;

/* The value of header `name` (case-insensitive), or NULL. Borrowed from the request. */
const char *cairn__http_header(const cairn_http_request *request, const char *name);

/* Every value of query parameter `name` in order, URL-decoded (spaces from '+'), accepting
 * `name`, `name[]` and `name[N]`; *out_values is a malloc'd array of malloc'd strings (free
 * with cairn__http_values_free). Returns the count. */
size_t cairn__http_query_values(char ***out_values, const cairn_http_request *request,
	const char *name);
void cairn__http_values_free(char **values, size_t count);

/* Fills a JSON response (takes ownership of `json_text`, a malloc'd string). */
void cairn__http_respond_json(cairn_http_response *response, int status, char *json_text);
/* An Appwrite error: {"message", "code": status, "type", "version"}. */
void cairn__http_respond_error(cairn_http_response *response, int status, const char *type,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* 204 with no body and no content-type. */
void cairn__http_respond_no_content(cairn_http_response *response);
int cairn__http_response_add_header(cairn_http_response *response, const char *name,
	const char *value);
void cairn__http_response_clear(cairn_http_response *response);

#endif
