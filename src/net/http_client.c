/* http_client.c: blocking JSON-over-HTTP requests to a cairn server through libcurl. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_client.h"
#include "util/error.h"
#include "util/json.h"

/* A reply larger than this is refused rather than buffered: pull pages are bounded by
 * maxBytes (4 MiB by default) and push replies by the batch, so this is far above both. */
#define HTTP_MAX_REPLY (256u * 1024u * 1024u)

struct cairn__http_client {
	CURL *curl;                  /* reused across requests: keep-alive */
	struct curl_slist *headers;  /* project, key, content type */
	char *base_url;              /* without a trailing slash */
	char *ca_file;               /* PEM CA certificates for https://, or NULL: the system's */
	long timeout_ms;
	char curl_error[CURL_ERROR_SIZE];
};

typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	int too_big;
} reply_buffer;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_status = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t count, void *payload)
{
	reply_buffer *reply = payload;
	size_t bytes = size * count;

	if (reply->length + bytes > HTTP_MAX_REPLY) {
		reply->too_big = 1;
		return 0; /* aborts the transfer */
	}
	if (reply->length + bytes + 1 > reply->capacity) {
		size_t capacity = reply->capacity ? reply->capacity : 4096;
		char *grown;

		while (capacity < reply->length + bytes + 1)
			capacity *= 2;
		grown = realloc(reply->data, capacity);
		if (!grown)
			return 0;
		reply->data = grown;
		reply->capacity = capacity;
	}
	memcpy(reply->data + reply->length, data, bytes);
	reply->length += bytes;
	reply->data[reply->length] = '\0';
	return bytes;
}

static struct curl_slist *append_header(struct curl_slist *list, const char *name,
	const char *value, int *failed)
{
	char line[1024];
	struct curl_slist *grown;

	/* "Name:" with nothing after the colon tells curl to drop a header it would add. */
	snprintf(line, sizeof(line), value[0] ? "%s: %s" : "%s:", name, value);
	grown = curl_slist_append(list, line);
	if (!grown) {
		*failed = 1;
		return list;
	}
	return grown;
}

int cairn__http_client_new(cairn__http_client **out, const char *base_url, const char *project,
	const char *api_key, long timeout_ms)
{
	cairn__http_client *client = NULL;
	size_t length;
	int failed = 0;
	int rc = 0;

	*out = NULL;
	if (!base_url || !base_url[0])
		return cairn__error_set(CAIRN_EINVALID, "the remote has no URL");
	pthread_once(&global_once, global_init);
	if (global_status != CURLE_OK)
		return cairn__error_set(CAIRN_ERROR, "libcurl could not be initialised: %s",
			curl_easy_strerror(global_status));
	client = calloc(1, sizeof(*client));
	if (!client)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory creating an HTTP client");
	client->base_url = strdup(base_url);
	client->curl = curl_easy_init();
	if (!client->base_url || !client->curl) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory creating an HTTP client");
		goto cleanup;
	}
	length = strlen(client->base_url);
	while (length > 0 && client->base_url[length - 1] == '/')
		client->base_url[--length] = '\0';
	client->timeout_ms = timeout_ms;
	client->headers = append_header(client->headers, "Content-Type", "application/json",
		&failed);
	client->headers = append_header(client->headers, "Accept", "application/json", &failed);
	client->headers = append_header(client->headers, "X-Appwrite-Project",
		project ? project : "", &failed);
	if (api_key && api_key[0])
		client->headers = append_header(client->headers, "X-Appwrite-Key", api_key, &failed);
	/* curl adds "Expect: 100-continue" to large POSTs, costing a round trip; we never need it. */
	client->headers = append_header(client->headers, "Expect", "", &failed);
	if (failed) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory creating an HTTP client");
		goto cleanup;
	}
	/* libcurl's defaults, stated: https:// always verifies the chain and the host name. */
	curl_easy_setopt(client->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(client->curl, CURLOPT_SSL_VERIFYHOST, 2L);
cleanup:
	if (rc != 0) {
		cairn__http_client_free(client);
		return rc;
	}
	*out = client;
	return 0;
}

void cairn__http_client_free(cairn__http_client *client)
{
	if (!client)
		return;
	if (client->curl)
		curl_easy_cleanup(client->curl);
	curl_slist_free_all(client->headers);
	free(client->base_url);
	free(client->ca_file);
	free(client);
}

int cairn__http_client_add_header(cairn__http_client *client, const char *name,
	const char *value)
{
	int failed = 0;

	if (!name || !value || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n") ||
		strlen(name) + strlen(value) > 1000)
		return cairn__error_set(CAIRN_EINVALID, "a request header may not hold a line break "
			"or be that long");
	client->headers = append_header(client->headers, name, value, &failed);
	return failed ? cairn__error_set(CAIRN_ENOMEM, "out of memory adding a request header") : 0;
}

int cairn__http_client_response_header(char **out, cairn__http_client *client,
	const char *name, const char *prefix)
{
	struct curl_header *header = NULL;

	*out = NULL;
	for (size_t index = 0;; index++) {
		if (curl_easy_header(client->curl, name, index, CURLH_HEADER, -1, &header) !=
			CURLHE_OK)
			return 0;
		if (!prefix || strncmp(header->value, prefix, strlen(prefix)) == 0)
			break;
		if (index + 1 >= header->amount)
			return 0;
	}
	*out = strdup(header->value);
	return *out ? 1 : cairn__error_set(CAIRN_ENOMEM, "out of memory reading a header");
}

int cairn__http_client_set_ca_file(cairn__http_client *client, const char *ca_file)
{
	char *copy = NULL;

	if (ca_file && *ca_file && !(copy = strdup(ca_file)))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory setting the CA file");
	free(client->ca_file);
	client->ca_file = copy;
	/* NULL puts back libcurl's built-in default: the system's CA bundle. */
	curl_easy_setopt(client->curl, CURLOPT_CAINFO, copy);
	return 0;
}

void cairn__http_client_response_clear(cairn__http_response *response)
{
	if (!response)
		return;
	free(response->body);
	response->body = NULL;
	response->length = 0;
	response->status = 0;
}

int cairn__http_request(cairn__http_response *out, cairn__http_client *client,
	const char *method, const char *path, const char *body, size_t body_length)
{
	reply_buffer reply = { 0 };
	char *url = NULL;
	size_t url_length;
	CURLcode code;
	CURL *curl = client->curl;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	url_length = strlen(client->base_url) + strlen(path) + 1;
	url = malloc(url_length);
	if (!url)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory building a URL");
	snprintf(url, url_length, "%s%s", client->base_url, path);

	/* Options persist on the handle between requests, so set every one each time. */
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, client->headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, client->curl_error);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, client->timeout_ms > 0 ? client->timeout_ms : 0L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
		client->timeout_ms > 0 && client->timeout_ms < 10000 ? client->timeout_ms : 10000L);
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
			(curl_off_t)(body ? body_length : 0));
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL :
			method);
	}
	client->curl_error[0] = '\0';
	code = curl_easy_perform(curl);
	if (code != CURLE_OK) {
		const char *detail = client->curl_error[0] ? client->curl_error :
			curl_easy_strerror(code);

		if (reply.too_big)
			rc = cairn__error_set(CAIRN_ESERVER, "the reply from %s is larger than %u bytes",
				url, HTTP_MAX_REPLY);
		else if (code == CURLE_OUT_OF_MEMORY || (code == CURLE_WRITE_ERROR && !reply.too_big))
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory reading the reply from %s",
				url);
		else if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL)
			rc = cairn__error_set(CAIRN_EINVALID, "the remote URL %s is not usable: %s",
				url, detail);
		else if (code == CURLE_PEER_FAILED_VERIFICATION)
			/* Not "offline": trying again will not help until the certificate or the
			 * trusted CAs change. */
			rc = cairn__error_set(CAIRN_ESERVER, "the TLS certificate of %s was refused: %s "
				"(trust its CA with the remote's CA file, `cairn remote --ca-file`)", url,
				detail);
		else if (code == CURLE_SSL_CACERT_BADFILE)
			rc = cairn__error_set(CAIRN_EINVALID, "cannot use the CA file %s for %s: %s",
				client->ca_file ? client->ca_file : "(system default)", url, detail);
		else
			/* Refused, unresolvable, timed out, reset mid-reply: all mean the server is not
			 * reachable right now; the caller keeps its data and tries again later. */
			rc = cairn__error_set(CAIRN_EOFFLINE, "cannot reach %s: %s", url, detail);
		goto cleanup;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
	if (!reply.data) {
		reply.data = calloc(1, 1);
		if (!reply.data) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory reading the reply from %s",
				url);
			goto cleanup;
		}
	}
	out->body = reply.data;
	out->length = reply.length;
	reply.data = NULL;
cleanup:
	free(reply.data);
	free(url);
	return rc;
}

const char *cairn__http_error_message(const cairn__http_response *response, char *buffer,
	size_t size)
{
	json_object *reply = NULL;
	const char *message = NULL;

	if (size == 0)
		return "";
	buffer[0] = '\0';
	if (response->body && response->length > 0) {
		/* Parsing may set the thread's error; keep the caller's message intact. */
		reply = json_tokener_parse(response->body);
		if (reply && cairn__json_get_string(reply, "message", &message))
			snprintf(buffer, size, "%s", message);
		else
			snprintf(buffer, size, "%.200s", response->body);
	}
	json_object_put(reply);
	if (!buffer[0])
		snprintf(buffer, size, "HTTP %ld with an empty body", response->status);
	return buffer;
}

int cairn__http_request_with_header(cairn__http_response *out, cairn__http_client *client,
	const char *method, const char *path, const char *header, const char *body,
	size_t body_length)
{
	struct curl_slist *saved = client->headers;
	struct curl_slist *list = NULL;
	int rc;

	if (!header)
		return cairn__http_request(out, client, method, path, body, body_length);
	memset(out, 0, sizeof(*out));
	/* A copy of the client's headers plus this one, used for this request only. */
	for (struct curl_slist *node = saved; node; node = node->next) {
		struct curl_slist *grown = curl_slist_append(list, node->data);

		if (!grown) {
			curl_slist_free_all(list);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory building request headers");
		}
		list = grown;
	}
	{
		struct curl_slist *grown = curl_slist_append(list, header);

		if (!grown) {
			curl_slist_free_all(list);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory building request headers");
		}
		list = grown;
	}
	client->headers = list;
	rc = cairn__http_request(out, client, method, path, body, body_length);
	client->headers = saved;
	curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, saved);
	curl_slist_free_all(list);
	return rc;
}
