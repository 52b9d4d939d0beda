/* api.h: the server's request handlers: routing, auth, Appwrite REST and /v1/sync. */
#ifndef CAIRN_SERVER_API_H
#define CAIRN_SERVER_API_H

#include "server/http.h"
#include "storage/storage.h"

typedef struct cairn_api cairn_api; /* routing state shared by all worker threads */

/* Creates the API over an open storage handle (borrowed; must outlive the API). */
int cairn__api_new(cairn_api **out, const cairn_storage_backend *backend, cairn_storage *storage,
	const char *project, const char *api_key);
void cairn__api_free(cairn_api *api);

/* Handles one complete request; fills `response` (always: errors become Appwrite error
 * responses). Thread-safe: called concurrently from worker threads. */
void cairn__api_handle(cairn_api *api, const cairn_http_request *request,
	cairn_http_response *response);

#endif
