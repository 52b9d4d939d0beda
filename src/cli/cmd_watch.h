/* cmd_watch.h: `cairn sync --watch`: the background replicator in the foreground. */
#ifndef CAIRN_CLI_CMD_WATCH_H
#define CAIRN_CLI_CMD_WATCH_H

/* 1 when argv is `cairn sync ... --watch ...` (before any `--`). */
int cairn__cli_watch_wanted(int argc, char **argv);

/* Runs `cairn sync --watch [--store FILE]` until SIGINT or SIGTERM: prints one line per state
 * change with the counts. Returns the exit code. */
int cairn__cli_watch_main(int argc, char **argv);

#endif
