/* api_sessions_ended.c: who the API tells when log-outs end sessions (realtime), set apart
 * so that a test linking its own small cairn__api_* can link its own of this too. */
#include "server/api_int.h"

void cairn__api_on_sessions_ended(cairn_api *api, cairn_api_sessions_ended callback,
	void *payload)
{
	api->sessions_ended = callback;
	api->sessions_ended_payload = payload;
}
