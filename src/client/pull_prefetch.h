/* pull_prefetch.h: the next pull page, fetched on a helper thread. */
#ifndef CAIRN_CLIENT_PULL_PREFETCH_H
#define CAIRN_CLIENT_PULL_PREFETCH_H

#include <json-c/json.h>

#include "net/http_client.h"

typedef struct cairn__prefetch cairn__prefetch;

/* Starts POSTing `body` to `path` through `http` on a helper thread; the caller must not use
 * `http` until cairn__prefetch_finish. NULL when no thread could be started (fetch the page
 * the ordinary way then). The helper never touches a store handle. */
cairn__prefetch *cairn__prefetch_start(cairn__http_client *http, const char *path,
	const char *body, int max_depth);
/* Waits for the helper, parses its answer on the caller's thread and frees it: the parsed
 * reply when the server answered 200 with a JSON body (caller owns), else NULL (fetch the
 * page the ordinary way: that reports the error). NULL `prefetch` gives NULL. */
json_object *cairn__prefetch_finish(cairn__prefetch *prefetch);

#endif
