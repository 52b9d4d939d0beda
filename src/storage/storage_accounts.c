/* storage_accounts.c: the backend-independent parts of account records (users, sessions):
 * checking them before they are stored and releasing those backends fill in. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "storage/storage.h"
#include "util/error.h"

int cairn__storage_user_check(const cairn_storage_user *user)
{
	if (!user || !user->id || !user->email || !user->name || !user->password_hash)
		return cairn__error_set(CAIRN_EINVALID, "storage: a user needs an id, an email, a "
			"name and a password hash");
	return 0;
}

int cairn__storage_session_check(const cairn_storage_session *session)
{
	if (!session || !session->id || !session->user_id || !session->secret_hash)
		return cairn__error_set(CAIRN_EINVALID, "storage: a session needs an id, a user "
			"and a secret hash");
	return 0;
}

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
