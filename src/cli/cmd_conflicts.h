/* cmd_conflicts.h: the conflict commands of `cairn` (policy, incr, conflicts, resolve,
 * restore) and the options only they use, which the shared parser does not know. */
#ifndef CAIRN_CLI_CMD_CONFLICTS_H
#define CAIRN_CLI_CMD_CONFLICTS_H

#include "cli/cli_int.h"

/* Takes --counter FIELD (repeatable), --all, --keep mine|theirs, --with FILE and
 * --max-clock-skew SECONDS out of argv (before `--`), remembering them for the commands below
 * (--max-clock-skew sets CAIRN_MAX_CLOCK_SKEW_MS for `cairn serve`), and moves negative
 * numbers behind a `--` so they stay arguments. *argv is replaced by a vector that lives as
 * long as the process. Returns 0, or an exit code after printing what was wrong. */
int cairn__cli_conflict_options(int *argc, char ***argv);

/* 1 when --all was taken out of argv (also used by `cairn scope`, cmd_scope.c). */
int cairn__cli_all_given(void);

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_policy);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_incr);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_ledger);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_resolve);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_restore);

#endif
