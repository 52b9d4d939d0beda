/* session_int.h: the store's signed-in user session (session.c), for the replicator. */
#ifndef CAIRN_CLIENT_SESSION_INT_H
#define CAIRN_CLIENT_SESSION_INT_H

#include "cairn.h"
#include "net/http_client.h"

/* The stored session token as a malloc'd string in *out (free with cairn__session_token_free),
 * or *out NULL when signed out. 0 or a negative code. */
int cairn__store_session_token(char **out, cairn_store *store);
/* Wipes and frees a token from cairn__store_session_token. NULL is a no-op. */
void cairn__session_token_free(char *token);
/* Makes `http` send X-Appwrite-Session on every request when the store holds a session
 * (nothing otherwise). 0 or a negative code. */
int cairn__store_auth_headers(cairn_store *store, cairn__http_client *http);
/* Called by cairn_store_set_remote inside its transaction: forgets the session when the
 * new remote's URL or project differs from the stored one, so that a token is never sent
 * to a server other than the one that issued it. 0 or a negative code. */
int cairn__session_remote_changing(cairn_store *store, const char *url, const char *project);

#endif
