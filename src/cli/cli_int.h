/* cli_int.h: internals shared by the files of the `cairn` command (args, output, commands). */
#ifndef CAIRN_CLI_INT_H
#define CAIRN_CLI_INT_H

#include <stddef.h>

#include "cairn.h"

/* Exit codes: part of the command's contract (docs/cli.md), never renumber. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_NOTFOUND = 3,
	CLI_EXIT_OFFLINE = 5
};

/* Every option any command knows; a command lists the ones it accepts in a bit mask. */
typedef enum {
	CLI_OPT_HELP,
	CLI_OPT_VERSION,
	CLI_OPT_STORE,
	CLI_OPT_LISTEN,
	CLI_OPT_DATA,
	CLI_OPT_PROJECT,
	CLI_OPT_API_KEY,
	CLI_OPT_WORKERS,
	CLI_OPT_PORT_FILE,
	CLI_OPT_SERVER,
	CLI_OPT_DATABASE,
	CLI_OPT_JSON,
	CLI_OPT_POSTGRES,
	CLI_OPT_TLS_CERT,
	CLI_OPT_TLS_KEY,
	CLI_OPT_CA_FILE,
	CLI_OPT_API_KEYS_FILE,
	CLI_OPT_SESSION_LIFETIME,
	CLI_OPT_EMAIL,
	CLI_OPT_MODE,
	CLI_OPT_COUNT
} cairn__cli_option_id;

#define CLI_OPT_BIT(id) (1u << (id))

/* The result of parsing argv: options may appear anywhere (GNU style). */
typedef struct {
	const char *values[CLI_OPT_COUNT]; /* borrowed from argv; "" for a flag that is set */
	const char **positionals;          /* the command name first, then its arguments */
	size_t positional_count;
} cairn__cli_args;

/* Parses argv[1..argc). On a usage error prints "cairn: <message>" to stderr and returns
 * -1; else 0. positionals is malloc'd: release with cairn__cli_args_free. */
int cairn__cli_args_parse(cairn__cli_args *args, int argc, char **argv);
void cairn__cli_args_free(cairn__cli_args *args);
/* 1 if the option was given. */
int cairn__cli_args_has(const cairn__cli_args *args, cairn__cli_option_id id);
/* The spelling "--name" of an option (static storage). */
const char *cairn__cli_option_name(cairn__cli_option_id id);

/* One command of `cairn`. `args` positionals start at the command's first argument. */
typedef struct cairn__cli_command {
	const char *name;
	const char *usage;     /* one line, without the leading "usage: " */
	const char *summary;   /* one line for `cairn --help` */
	const char *details;   /* the rest of `cairn NAME --help`: options, notes, examples */
	unsigned options;      /* CLI_OPT_BIT mask of accepted options (--help always) */
	size_t min_args;       /* positional arguments after the name */
	size_t max_args;       /* (size_t)-1 for any number */
	int (*run)(const struct cairn__cli_command *command, const char *const *argv, size_t argc,
		const cairn__cli_args *args);
} cairn__cli_command;

/* Prints "usage: ..." for `command` to stderr and returns CLI_EXIT_USAGE. */
int cairn__cli_usage_error(const cairn__cli_command *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints "cairn: <what>: <cairn_error_last()>" and a hint for `code` (or `hint` if not
 * NULL) to stderr; returns the exit code for `code`. */
int cairn__cli_fail(int code, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The exit code for a CAIRN_E* code. */
int cairn__cli_exit_code(int code);

/* Prints JSON text to stdout: pretty when stdout is a terminal, one line otherwise. */
void cairn__cli_print_json(const char *json);
/* `arg` itself, or all of stdin when `arg` is "-". *out is malloc'd. Returns 0 or -1
 * (message printed). */
int cairn__cli_read_input(char **out, const char *arg);
/* Writes "2026-08-21T12:34:56.789Z" for unix milliseconds. */
void cairn__cli_format_time(char *out, size_t size, long long unix_ms);
/* Writes the key with all but its first 4 characters hidden. */
void cairn__cli_mask_secret(char *out, size_t size, const char *secret);

/* The replicator part of `cairn status` (status_replicator.c): a text line, or a JSON object
 * (caller owns). */
void cairn__cli_replicator_text(const cairn_store_replicator_status *replicator);
struct json_object *cairn__cli_replicator_json(const cairn_store_replicator_status *replicator);

/* Opens the store named by --store, $CAIRN_STORE or ./cairn.db; prints the error and
 * returns the exit code on failure, else 0. */
int cairn__cli_store_open(cairn_store **out, const cairn__cli_args *args);

/* The commands (commands.c). */
#define CAIRN__CLI_COMMAND_FN(name) \
	int name(const cairn__cli_command *command, const char *const *argv, size_t argc, \
		const cairn__cli_args *args)
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_put);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_patch);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_get);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_rm);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_query);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_remote);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_sync);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_status);
CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_conflicts);

#endif
