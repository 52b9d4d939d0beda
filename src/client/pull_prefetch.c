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
	cairn__http_response response; /* the answer, parsed by finish on the caller's thread */
	int answered;              /* 1: response holds a 200 reply with a body */
};

static void *fetch_main(void *arg)
{
	cairn__prefetch *p = arg;

	/* No failover and no error report here: whatever goes wrong, the caller fetches the
	 * page again the ordinary way, on its own thread, where failover and messages live. */
	p->answered = cairn__http_request(&p->response, p->http, "POST", p->path, p->body,
		strlen(p->body)) == 0 && p->response.status == 200 && p->response.length > 0;
	return NULL;
}

cairn__prefetch *cairn__prefetch_start(cairn__http_client *http, const char *path,
	const char *body, int max_depth)
{
	cairn__prefetch *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->http = http;
	p->max_depth = max_depth;
	p->path = strdup(path);
	p->body = strdup(body);
	if (!p->path || !p->body || pthread_create(&p->thread, NULL, fetch_main, p) != 0) {
		free(p->path);
		free(p->body);
		free(p);
		return NULL;
	}
	return p;
}

json_object *cairn__prefetch_finish(cairn__prefetch *p)
{
	json_object *reply;

	if (!p)
		return NULL;
	pthread_join(p->thread, NULL);
	/* Parsed here, not on the helper: the page's many small objects then come from the
	 * caller's malloc arena, not a second one that would stay as large (RSS). */
	reply = p->answered ? cairn__json_parse(p->response.body, p->response.length,
		p->max_depth) : NULL;
	cairn__http_client_response_clear(&p->response);
	free(p->path);
	free(p->body);
	free(p);
	return reply;
}
