/* main.c: the `cairn` command's entry point: the command table, help, and `cairn serve`. */
#include "cli/cli_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_conflicts.h"
#include "cli/cmd_login.h"
#include "cli/cmd_scope.h"
#include "cli/cmd_watch.h"
#include "server/server.h"

#define STORE_OPTION_HELP \
	"  --store FILE   the local store (default: $CAIRN_STORE, else ./cairn.db)\n"
#define LOCAL (CLI_OPT_BIT(CLI_OPT_STORE))
#define ANY_COUNT ((size_t)-1)

static CAIRN__CLI_COMMAND_FN(cmd_serve);
static CAIRN__CLI_COMMAND_FN(cmd_help);

static const cairn__cli_command commands[] = {
	{ "serve", "cairn serve [--listen HOST:PORT] [--data DIR] [--project ID] [--api-key KEY] "
		   "[--workers N] [--port-file FILE] [--max-clock-skew SECONDS] [--postgres CONNINFO] "
		   "[--tls-cert FILE --tls-key FILE] [--api-keys-file FILE] [--session-lifetime SECONDS]",
		"run the sync server (Appwrite databases REST API plus sync endpoints)",
		"Runs until Ctrl-C or SIGTERM.\n\n"
		"Options:\n"
		"  --listen HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0 picks a free one)\n"
		"  --data DIR          where the server keeps its data (default ./cairn-data)\n"
		"  --project ID        the project id clients send (default \"cairn\")\n"
		"  --api-key KEY       the API key clients must send (default: the key stored in DIR,\n"
		"                      or a new one, printed once)\n"
		"  --workers N         database worker threads (default 4)\n"
		"  --port-file FILE    write the bound port to FILE once listening\n"
		"  --max-clock-skew S  clamp sync timestamps more than S seconds ahead (default 60)\n"
		"  --postgres CONNINFO store everything in PostgreSQL (a libpq connection string or\n"
		"                      postgresql:// URI) instead of DIR; several servers may share it\n"
		"  --tls-cert FILE     serve HTTPS and WSS (same port) with this PEM certificate chain\n"
		"  --tls-key FILE      the certificate's PEM private key (unencrypted); needs --tls-cert\n"
		"  --api-keys-file F   more API keys to accept, one per line ('#' starts a comment)\n"
		"  --session-lifetime S  seconds a user session lasts (default 31536000, one year)\n\n"
		"Example:\n  cairn serve --listen 0.0.0.0:8080 --data /var/lib/cairn\n",
		CLI_OPT_BIT(CLI_OPT_LISTEN) | CLI_OPT_BIT(CLI_OPT_DATA) | CLI_OPT_BIT(CLI_OPT_PROJECT)
			| CLI_OPT_BIT(CLI_OPT_API_KEY) | CLI_OPT_BIT(CLI_OPT_WORKERS)
			| CLI_OPT_BIT(CLI_OPT_PORT_FILE) | CLI_OPT_BIT(CLI_OPT_POSTGRES)
			| CLI_OPT_BIT(CLI_OPT_TLS_CERT) | CLI_OPT_BIT(CLI_OPT_TLS_KEY)
			| CLI_OPT_BIT(CLI_OPT_API_KEYS_FILE) | CLI_OPT_BIT(CLI_OPT_SESSION_LIFETIME),
		0, 0, cmd_serve },
	{ "remote", "cairn remote [--server URL --project ID --api-key KEY --database DB "
		"[--ca-file FILE] [--mode sync|rest]] [--store FILE]",
		"set or show the server this store syncs with",
		"With no options, prints the current remote. With options, sets it (--server,\n"
		"--project and --database are required; --api-key is optional). A URL without a\n"
		"path gets /v1 appended. The API key is never printed in full.\n\n"
		"Options:\n"
		"  --server URL     the server endpoint, e.g. http://127.0.0.1:8080/v1\n"
		"  --project ID     the Appwrite project id\n"
		"  --api-key KEY    the API key\n"
		"  --database DB    the database to sync with\n"
		"  --ca-file FILE   PEM CA certificates to trust for an https:// server (default: the\n"
		"                   system's); certificates and host names are always verified\n"
		"  --mode MODE      sync (default: a cairn server's /v1/sync/ routes) or rest (any\n"
		"                   Appwrite server, document routes only; see docs/rest-mode.md)\n"
		STORE_OPTION_HELP "\n"
		"Example:\n  cairn remote --server http://127.0.0.1:8080/v1 --project cairn "
		"--api-key KEY --database shop\n",
		LOCAL | CLI_OPT_BIT(CLI_OPT_SERVER) | CLI_OPT_BIT(CLI_OPT_PROJECT)
			| CLI_OPT_BIT(CLI_OPT_API_KEY) | CLI_OPT_BIT(CLI_OPT_DATABASE)
			| CLI_OPT_BIT(CLI_OPT_CA_FILE) | CLI_OPT_BIT(CLI_OPT_MODE),
		0, 0, cairn__cli_cmd_remote },
	{ "put", "cairn put COLLECTION ID JSON [--store FILE]",
		"create or replace a document",
		"JSON is a JSON object of fields, or - to read it from stdin. ID unique() makes a new\n"
		"unique id. Prints the stored document. Works offline; `cairn sync` sends it.\n\n"
		"Options:\n" STORE_OPTION_HELP "\n"
		"Examples:\n  cairn put tasks t1 '{\"title\":\"milk\",\"done\":false}'\n"
		"  echo '{\"title\":\"eggs\"}' | cairn put tasks 'unique()' -\n",
		LOCAL, 3, 3, cairn__cli_cmd_put },
	{ "patch", "cairn patch COLLECTION ID JSON [--store FILE]",
		"change some fields of a document",
		"Merges the top-level fields of JSON (or - for stdin) into the document; a null\n"
		"value stores null. Prints the resulting document. Exit code 3 if there is none.\n\n"
		"Options:\n" STORE_OPTION_HELP "\n"
		"Example:\n  cairn patch tasks t1 '{\"done\":true}'\n",
		LOCAL, 3, 3, cairn__cli_cmd_patch },
	{ "get", "cairn get COLLECTION ID [--store FILE]",
		"print a document",
		"Prints the document as JSON. Exit code 3 if there is none.\n\n"
		"Options:\n" STORE_OPTION_HELP "\n"
		"Example:\n  cairn get tasks t1\n",
		LOCAL, 2, 2, cairn__cli_cmd_get },
	{ "rm", "cairn rm COLLECTION ID [--store FILE]",
		"delete a document",
		"Deletes the document locally; `cairn sync` sends the deletion. Exit code 3 if\n"
		"there is none.\n\n"
		"Options:\n" STORE_OPTION_HELP "\n"
		"Example:\n  cairn rm tasks t1\n",
		LOCAL, 2, 2, cairn__cli_cmd_rm },
	{ "query", "cairn query COLLECTION [QUERY_JSON ...] [--store FILE]",
		"list the documents that match Appwrite queries",
		"Each QUERY_JSON is one Appwrite query, {\"method\":..., \"attribute\":..., \"values\":[...]}\n"
		"(equal, notEqual, lessThan, greaterThan, between, startsWith, contains, orderAsc,\n"
		"orderDesc, limit, offset, ...). All must match. With none, prints every document.\n"
		"Prints a JSON array.\n\n"
		"Options:\n" STORE_OPTION_HELP "\n"
		"Example:\n  cairn query tasks '{\"method\":\"equal\",\"attribute\":\"done\",\"values\":[false]}' \\\n"
		"    '{\"method\":\"limit\",\"values\":[10]}'\n",
		LOCAL, 1, ANY_COUNT, cairn__cli_cmd_query },
	{ "sync", "cairn sync [--store FILE]",
		"push local changes to the server, then pull the server's changes",
		"Prints \"pushed N, pulled M, conflicts C, rejected R\". Conflicts are resolved\n"
		"last-write-wins and logged (see `cairn conflicts`). Exit code 5 if the server cannot\n"
		"be reached: nothing is lost, run it again later.\n\n"
		"Options:\n" STORE_OPTION_HELP,
		LOCAL, 0, 0, cairn__cli_cmd_sync },
	{ "status", "cairn status [--json] [--store FILE]",
		"show pending changes, conflicts, the last sync and the remote",
		"Options:\n"
		"  --json         print a JSON object instead of text\n" STORE_OPTION_HELP,
		LOCAL | CLI_OPT_BIT(CLI_OPT_JSON), 0, 0, cairn__cli_cmd_status },
	{ "conflicts", "cairn conflicts [--all] [--store FILE]",
		"print the open conflict inbox, or with --all the whole ledger, as JSON",
		"Open entries are conflicts of `manual` collections waiting for `cairn resolve`.\n"
		"With --all, every conflict ever resolved (newest first): strategy, winner, base,\n"
		"local, remote, result and time; `cairn restore ID` puts back what one overwrote.\n\n"
		"Options:\n"
		"  --all          the whole ledger, not only the open inbox\n" STORE_OPTION_HELP,
		LOCAL, 0, 0, cairn__cli_cmd_ledger },
	{ "policy", "cairn policy COLLECTION [STRATEGY [--counter FIELD ...]] [--store FILE]",
		"show or set how a collection resolves conflicts, and its counters",
		"STRATEGY is lww (default), server-wins, client-wins, merge, manual or custom (see\n"
		"docs/conflicts.md). Each --counter FIELD declares a numeric field changed only by\n"
		"`cairn incr`. Setting replaces the collection's policy. Prints the policy.\n\n"
		"Options:\n"
		"  --counter FIELD  declare a counter field (repeatable)\n" STORE_OPTION_HELP "\n"
		"Example:\n  cairn policy stock lww --counter count\n",
		LOCAL, 1, 2, cairn__cli_cmd_policy },
	{ "incr", "cairn incr COLLECTION ID FIELD DELTA [--store FILE]",
		"add DELTA (may be negative) to a counter field",
		"Increments from every client add up on the server; they never conflict. FIELD must\n"
		"be declared with `cairn policy COLLECTION STRATEGY --counter FIELD`.\n\n"
		"Options:\n" STORE_OPTION_HELP "\n"
		"Example:\n  cairn incr stock pen count -3\n",
		LOCAL, 4, 4, cairn__cli_cmd_incr },
	{ "resolve", "cairn resolve COLLECTION ID (--keep mine|theirs | --with FILE) [--store FILE]",
		"settle an open conflict: keep yours, keep the server's, or write a merged document",
		"--keep mine writes your version again; --keep theirs keeps the server's version;\n"
		"--with FILE (or - for stdin) writes that JSON document. The write syncs like any\n"
		"other. Exit code 3 if the document has no open conflict.\n\n"
		"Options:\n"
		"  --keep mine|theirs  which version to keep\n"
		"  --with FILE         the merged document\n" STORE_OPTION_HELP,
		LOCAL, 2, 2, cairn__cli_cmd_resolve },
	{ "restore", "cairn restore LEDGER_ID [--store FILE]",
		"put back the value a conflict resolution overwrote, as a new write",
		"LEDGER_ID is an `id` from `cairn conflicts --all`.\n\n"
		"Options:\n" STORE_OPTION_HELP,
		LOCAL, 1, 1, cairn__cli_cmd_restore },
	{ "scope", "cairn scope COLLECTION [QUERY_JSON ... | --all] [--store FILE]",
		"show or set which documents of a collection this store syncs",
		"With QUERY_JSON arguments (Appwrite filter queries: equal, lessThan, between, and,\n"
		"or, ...; no select, order, limit, offset or cursor), the store pulls only the\n"
		"readable documents matching all of them; --all pulls every readable document.\n"
		"With neither, prints the scope. A change applies at the next sync: documents that\n"
		"no longer match are purged from this store (never from the server) and newly\n"
		"matching ones arrive. Prints the scope as a JSON array.\n\n"
		"Options:\n"
		"  --all          sync every document the remote's credentials may read\n"
		STORE_OPTION_HELP "\n"
		"Example:\n  cairn scope orders '{\"method\":\"equal\",\"attribute\":\"storeId\","
		"\"values\":[42]}'\n",
		LOCAL, 1, ANY_COUNT, cairn__cli_cmd_scope },
	{ "login", "cairn login --email EMAIL [--store FILE]",
		"sign the store in to its remote as a user (Appwrite email/password session)",
		"Reads the password from the terminal without echo, or the first line of stdin when\n"
		"stdin is not a terminal; never from the command line. The session token is kept in\n"
		"the store and sent with every sync and realtime request (X-Appwrite-Session).\n\n"
		"Options:\n"
		"  --email EMAIL  the account's email\n" STORE_OPTION_HELP "\n"
		"Example:\n  cairn login --email ana@example.com\n",
		LOCAL | CLI_OPT_BIT(CLI_OPT_EMAIL), 0, 0, cairn__cli_cmd_login },
	{ "logout", "cairn logout [--store FILE]",
		"end the store's user session on the server and forget it locally",
		"The local token is forgotten even when the server cannot be reached (a warning then\n"
		"says the session stays valid on the server until it expires).\n\n"
		"Options:\n" STORE_OPTION_HELP,
		LOCAL, 0, 0, cairn__cli_cmd_logout },
	{ "help", "cairn help [COMMAND]",
		"show help for a command",
		"",
		0, 0, 1, cmd_help },
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static const cairn__cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

static void print_overview(FILE *out)
{
	fprintf(out, "cairn %s: offline-first data sync\n\n"
		     "usage: cairn COMMAND [ARGS] [OPTIONS]\n\nCommands:\n", CAIRN_VERSION);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nOptions may come before or after arguments; -- ends options.\n"
		     "Run `cairn COMMAND --help` for a command's options.\n\n"
		     "Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 5 server unreachable.\n");
}

static void print_command_help(const cairn__cli_command *command)
{
	printf("usage: %s\n\n%c%s.\n", command->usage, toupper((unsigned char)command->summary[0]),
		command->summary + 1);
	if (command->details[0])
		printf("\n%s", command->details);
}

static CAIRN__CLI_COMMAND_FN(cmd_help)
{
	const cairn__cli_command *topic;

	(void)args;
	if (argc == 0) {
		print_overview(stdout);
		return CLI_EXIT_OK;
	}
	topic = find_command(argv[0]);
	if (!topic)
		return cairn__cli_usage_error(command, "unknown command '%s'", argv[0]);
	print_command_help(topic);
	return CLI_EXIT_OK;
}

static CAIRN__CLI_COMMAND_FN(cmd_serve)
{
	cairn_server_config config = { 0 };
	int rc;

	(void)argv;
	(void)argc;
	config.listen = args->values[CLI_OPT_LISTEN] ? args->values[CLI_OPT_LISTEN] : "127.0.0.1:8080";
	config.data_dir = args->values[CLI_OPT_DATA] ? args->values[CLI_OPT_DATA] : "./cairn-data";
	config.project = args->values[CLI_OPT_PROJECT] ? args->values[CLI_OPT_PROJECT] : "cairn";
	config.api_key = args->values[CLI_OPT_API_KEY] && *args->values[CLI_OPT_API_KEY]
		? args->values[CLI_OPT_API_KEY] : NULL;
	config.port_file = args->values[CLI_OPT_PORT_FILE];
	config.postgres = args->values[CLI_OPT_POSTGRES];
	config.tls_cert = args->values[CLI_OPT_TLS_CERT];
	config.tls_key = args->values[CLI_OPT_TLS_KEY];
	config.api_keys_file = args->values[CLI_OPT_API_KEYS_FILE];
	if (args->values[CLI_OPT_SESSION_LIFETIME]) {
		const char *text = args->values[CLI_OPT_SESSION_LIFETIME];
		char *end = NULL;

		errno = 0;
		config.session_lifetime = strtoll(text, &end, 10);
		if (errno || end == text || *end || config.session_lifetime < 1 ||
			config.session_lifetime > 100LL * 365 * 24 * 3600)
			return cairn__cli_usage_error(command, "--session-lifetime must be a number of "
				"seconds from 1 to 3153600000, not '%s'", text);
	}
	if (!config.tls_cert != !config.tls_key)
		return cairn__cli_usage_error(command, "--tls-cert and --tls-key go together");
	if (args->values[CLI_OPT_WORKERS]) {
		const char *text = args->values[CLI_OPT_WORKERS];
		char *end = NULL;
		long workers;

		errno = 0;
		workers = strtol(text, &end, 10);
		if (errno || end == text || *end || workers < 1 || workers > 1024)
			return cairn__cli_usage_error(command, "--workers must be a number from 1 to "
				"1024, not '%s'", text);
		config.workers = (int)workers;
	}
	if (!strchr(config.listen, ':'))
		return cairn__cli_usage_error(command, "--listen must be HOST:PORT, e.g. "
			"127.0.0.1:8080, not '%s'", config.listen);
	/* The server prints its own "listening" line; make it visible at once to whoever
	 * watches our stdout through a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = cairn__server_run(&config);
	if (rc < 0)
		return cairn__cli_fail(rc, rc == CAIRN_EINVALID && config.tls_cert ? "--tls-cert "
			"needs a PEM certificate and --tls-key its unencrypted PEM private key" :
			config.postgres ? "is PostgreSQL running, and does the "
			"connection string name a database this user may use?" : "is another server "
			"using that port, and is the data directory writable?",
			"cannot start the server on %s", config.listen);
	return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	const cairn__cli_command *command;
	cairn__cli_args args;
	int status;

	if (cairn__cli_watch_wanted(argc, argv))
		return cairn__cli_watch_main(argc, argv);
	status = cairn__cli_conflict_options(&argc, &argv);
	if (status)
		return status;
	if (cairn__cli_args_parse(&args, argc, argv) < 0) {
		/* The parser said what was wrong; point at the help. */
		fprintf(stderr, "usage: cairn COMMAND [ARGS] [OPTIONS]\n"
				"Run `cairn --help` or `cairn COMMAND --help` for details.\n");
		return CLI_EXIT_USAGE;
	}
	if (cairn__cli_args_has(&args, CLI_OPT_VERSION)) {
		printf("cairn %s\n", CAIRN_VERSION);
		status = CLI_EXIT_OK;
		goto cleanup;
	}
	if (args.positional_count == 0) {
		if (cairn__cli_args_has(&args, CLI_OPT_HELP)) {
			print_overview(stdout);
			status = CLI_EXIT_OK;
		} else {
			print_overview(stderr);
			status = CLI_EXIT_USAGE;
		}
		goto cleanup;
	}
	command = find_command(args.positionals[0]);
	if (!command) {
		status = cairn__cli_usage_error(NULL, "unknown command '%s'", args.positionals[0]);
		goto cleanup;
	}
	if (cairn__cli_args_has(&args, CLI_OPT_HELP)) {
		print_command_help(command);
		status = CLI_EXIT_OK;
		goto cleanup;
	}
	for (int id = 0; id < CLI_OPT_COUNT; id++) {
		if (id == CLI_OPT_HELP || id == CLI_OPT_VERSION || !cairn__cli_args_has(&args, id))
			continue;
		if (!(command->options & CLI_OPT_BIT(id))) {
			status = cairn__cli_usage_error(command, "`cairn %s` has no option %s",
				command->name, cairn__cli_option_name(id));
			goto cleanup;
		}
	}
	if (args.positional_count - 1 < command->min_args) {
		status = cairn__cli_usage_error(command, "`cairn %s` needs more arguments",
			command->name);
		goto cleanup;
	}
	if (command->max_args != ANY_COUNT && args.positional_count - 1 > command->max_args) {
		status = cairn__cli_usage_error(command, "`cairn %s` got too many arguments "
			"(quote JSON so the shell keeps it in one piece)", command->name);
		goto cleanup;
	}
	status = command->run(command, args.positionals + 1, args.positional_count - 1, &args);
	fflush(stdout);
	if (ferror(stdout) && status == CLI_EXIT_OK) {
		fprintf(stderr, "cairn: cannot write to stdout\n");
		status = CLI_EXIT_ERROR;
	}

cleanup:
	cairn__cli_args_free(&args);
	return status;
}
