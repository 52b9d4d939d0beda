/* http_client.h: a small blocking HTTP client over one reused libcurl easy handle. */
#ifndef CAIRN_NET_HTTP_CLIENT_H
#define CAIRN_NET_HTTP_CLIENT_H

#include <stddef.h>

typedef struct cairn__http_client cairn__http_client;

typedef struct {
	long status;   /* HTTP status, e.g. 200 */
	char *body;    /* malloc'd and NUL-terminated (possibly ""), owned by the response */
	size_t length; /* bytes in body, without the NUL */
} cairn__http_response;

/* A client for `base_url` (e.g. "http://127.0.0.1:8080/v1", no trailing slash needed) that
 * sends X-Appwrite-Project `project` and, when not NULL, X-Appwrite-Key `api_key` on every
 * request. `timeout_ms` bounds each request (0: none). Strings are copied. The one easy handle
 * is reused, so consecutive requests share a keep-alive connection. Free with
 * cairn__http_client_free(). */
int cairn__http_client_new(cairn__http_client **out, const char *base_url, const char *project,
	const char *api_key, long timeout_ms);
void cairn__http_client_free(cairn__http_client *client);
/* Sends the header `name`: `value` on every later request of this client too (e.g.
 * X-Appwrite-Session). CAIRN_EINVALID for a line break in it; CAIRN_ENOMEM. */
int cairn__http_client_add_header(cairn__http_client *client, const char *name,
	const char *value);
/* Trusts the CA certificates in the PEM file `ca_file` for https:// (NULL: the system's
 * CAs again). Certificate chain and host name are always verified; a refused certificate
 * makes requests fail with CAIRN_ESERVER ("the TLS certificate of URL was refused: ..."),
 * an unreadable CA file with CAIRN_EINVALID. 0 or CAIRN_ENOMEM. */
int cairn__http_client_set_ca_file(cairn__http_client *client, const char *ca_file);

/* Sends `method` `base_url` + `path` with an optional JSON `body` (NULL: none) and fills *out
 * (clear it with cairn__http_client_response_clear). Returns 0 whenever the server
 * answered, whatever the status; CAIRN_EOFFLINE when it could not be reached or the connection broke
 * ("cannot reach http://...: Connection refused"); CAIRN_ENOMEM; CAIRN_ESERVER for a reply
 * too large to hold. */
int cairn__http_request(cairn__http_response *out, cairn__http_client *client,
	const char *method, const char *path, const char *body, size_t body_length);
/* cairn__http_request with one more header line ("Name: value", e.g. X-Appwrite-Timestamp)
 * for this request only; NULL `header` is a plain cairn__http_request. */
int cairn__http_request_with_header(cairn__http_response *out, cairn__http_client *client,
	const char *method, const char *path, const char *header, const char *body,
	size_t body_length);
void cairn__http_client_response_clear(cairn__http_response *response);
/* The value of the last response's header `name` (case-insensitive; the first of several
 * whose value starts with `prefix`, or the first when `prefix` is NULL) as a malloc'd copy
 * in *out. Returns 1 found, 0 not found (*out NULL), or CAIRN_ENOMEM. */
int cairn__http_client_response_header(char **out, cairn__http_client *client,
	const char *name, const char *prefix);

/* The "message" of an Appwrite error body, or a short excerpt of the body; never NULL.
 * Writes into `buffer`. */
const char *cairn__http_error_message(const cairn__http_response *response, char *buffer,
	size_t size);

#endif
