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
/* Like cairn__prefetch_start for a pull page, which the helper also parses: a page's many
 * small objects are then made, and freed, by helpers only (malloc arenas shared between
 * threads contend). The helper first frees *dispose (an applied page made by an earlier
 * helper, or NULL) and *dispose becomes NULL; when no thread starts, NULL is returned and
 * *dispose stays the caller's. */
cairn__prefetch *cairn__prefetch_start_page(cairn__http_client *http, const char *path,
	const char *body, int max_depth, json_object **dispose);
/* Waits for the helper, parses its answer on the caller's thread (unless the helper did) and
 * frees it: the parsed
 * reply when the server answered 200 with a JSON body (caller owns), else NULL (fetch the
 * page the ordinary way: that reports the error). NULL `prefetch` gives NULL. */
json_object *cairn__prefetch_finish(cairn__prefetch *prefetch);
/* Like cairn__prefetch_finish for a cairn__prefetch_start request, unparsed: the 200 reply's
 * body (caller frees; *length its bytes), else NULL. */
char *cairn__prefetch_finish_body(cairn__prefetch *prefetch, size_t *length);

#endif
