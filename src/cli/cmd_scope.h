/* cmd_scope.h: `cairn scope`: show or set what a collection syncs (partial sync). */
#ifndef CAIRN_CLI_CMD_SCOPE_H
#define CAIRN_CLI_CMD_SCOPE_H

#include "cli/cli_int.h"

/* `cairn scope COLLECTION [QUERY_JSON ...] [--all]`: sets the scope from the queries, or to
 * everything readable with --all, or prints it with neither. */
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_scope);

#endif
