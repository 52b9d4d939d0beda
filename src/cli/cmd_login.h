/* cmd_login.h: `cairn login` and `cairn logout`: the store's user session. */
#ifndef CAIRN_CLI_CMD_LOGIN_H
#define CAIRN_CLI_CMD_LOGIN_H

#include "cli/cli_int.h"

/* `cairn login --email EMAIL`: reads the password from the terminal without echo, or from
 * the first line of stdin when stdin is not a terminal (never from an argument). */
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_login);
/* `cairn logout`: ends the session on the server and forgets it locally (even offline). */
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_logout);
/* Prints "session:    signed in as EMAIL" or "... not signed in" for `cairn status`. */
void cairn__cli_print_session(cairn_store *store);

#endif
