/* pull_prefetch.c: fetches the next pull page on a helper thread while the caller's thread
 * applies the current one, so the server and the network work while SQLite does. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client/pull_prefetch.h"
#include "util/error.h"
#include "util/json.h"

struct cairn__prefetch {
	pthread_t thread;
	cairn__http_client *http;  /* borrowed: the caller does not touch it until finish */
	char *path;
	char *body;
	int max_depth;
	cairn__http_response response; /* the answer, when finish parses it */
	int answered;              /* 1: response holds a 200 reply with a body */
	int parse_here;            /* 1: the helper parses (into `parsed`) */
	json_object *parsed;
	json_object *dispose;      /* freed by the helper (cairn__prefetch_start_page) */
};

static void *fetch_main(void *arg)
{
	cairn__prefetch *p = arg;

	/* No failover and no error report here: whatever goes wrong, the caller fetches the
	 * page again the ordinary way, on its own thread, where failover and messages live. */
	json_object_put(p->dispose);
	p->dispose = NULL;
	p->answered = cairn__http_request(&p->response, p->http, "POST", p->path, p->body,
		strlen(p->body)) == 0 && p->response.status == 200 && p->response.length > 0;
	if (p->answered && p->parse_here) {
		p->parsed = cairn__json_parse(p->response.body, p->response.length, p->max_depth);
		cairn__http_client_response_clear(&p->response);
	}
	return NULL;
}

static cairn__prefetch *start(cairn__http_client *http, const char *path, const char *body,
	int max_depth, int parse_here, json_object **dispose)
{
	cairn__prefetch *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->http = http;
	p->max_depth = max_depth;
	p->parse_here = parse_here;
	p->path = strdup(path);
	p->body = strdup(body);
	p->dispose = dispose ? *dispose : NULL;
	if (!p->path || !p->body || pthread_create(&p->thread, NULL, fetch_main, p) != 0) {
		free(p->path);
		free(p->body);
		free(p);
		return NULL; /* *dispose stays the caller's */
	}
	if (dispose)
		*dispose = NULL;
	return p;
}

cairn__prefetch *cairn__prefetch_start(cairn__http_client *http, const char *path,
	const char *body, int max_depth)
{
	return start(http, path, body, max_depth, 0, NULL);
}

cairn__prefetch *cairn__prefetch_start_page(cairn__http_client *http, const char *path,
	const char *body, int max_depth, json_object **dispose)
{
	return start(http, path, body, max_depth, 1, dispose);
}

json_object *cairn__prefetch_finish(cairn__prefetch *p)
{
	json_object *reply;

	if (!p)
		return NULL;
	pthread_join(p->thread, NULL);
	if (p->parse_here)
		reply = p->parsed;
	else
		reply = p->answered ? cairn__json_parse(p->response.body, p->response.length,
			p->max_depth) : NULL;
	cairn__http_client_response_clear(&p->response);
	free(p->path);
	free(p->body);
	free(p);
	return reply;
}

char *cairn__prefetch_finish_body(cairn__prefetch *p, size_t *length)
{
	char *body = NULL;

	*length = 0;
	if (!p)
		return NULL;
	pthread_join(p->thread, NULL);
	if (p->answered && !p->parse_here) {
		body = p->response.body;
		*length = p->response.length;
		p->response.body = NULL;
	}
	json_object_put(p->parsed);
	cairn__http_client_response_clear(&p->response);
	free(p->path);
	free(p->body);
	free(p);
	return body;
}
