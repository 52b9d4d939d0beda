/* storage_accounts.c: releasing the account records (users, sessions) backends fill in. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "storage/storage.h"

void cairn__storage_user_clear(cairn_storage_user *user)
{
	if (!user)
		return;
	free(user->id);
	free(user->email);
	free(user->name);
	if (user->password_hash)
		sodium_memzero(user->password_hash, strlen(user->password_hash));
	free(user->password_hash);
	memset(user, 0, sizeof(*user));
}

void cairn__storage_session_clear(cairn_storage_session *session)
{
	if (!session)
		return;
	free(session->id);
	free(session->user_id);
	free(session->secret_hash);
	free(session->ip);
	free(session->user_agent);
	memset(session, 0, sizeof(session[0]));
}
