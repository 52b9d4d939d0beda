/* args.c: GNU-style parsing of the `cairn` command line (options anywhere, --opt=value, --). */
#include "cli/cli_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *name; /* long name, without "--" */
	char short_name;  /* 0 if none */
	int takes_value;
} option_spec;

/* Indexed by cairn__cli_option_id. One table for every command, so that options can come
 * before the command name too: whether an option eats the next word never depends on the
 * command. Which command accepts which option is checked after parsing (main.c). */
static const option_spec options[CLI_OPT_COUNT] = {
	[CLI_OPT_HELP] = { "help", 'h', 0 },
	[CLI_OPT_VERSION] = { "version", 0, 0 },
	[CLI_OPT_STORE] = { "store", 0, 1 },
	[CLI_OPT_LISTEN] = { "listen", 0, 1 },
	[CLI_OPT_DATA] = { "data", 0, 1 },
	[CLI_OPT_PROJECT] = { "project", 0, 1 },
	[CLI_OPT_API_KEY] = { "api-key", 0, 1 },
	[CLI_OPT_WORKERS] = { "workers", 0, 1 },
	[CLI_OPT_PORT_FILE] = { "port-file", 0, 1 },
	[CLI_OPT_SERVER] = { "server", 0, 1 },
	[CLI_OPT_DATABASE] = { "database", 0, 1 },
	[CLI_OPT_JSON] = { "json", 0, 0 },
	[CLI_OPT_POSTGRES] = { "postgres", 0, 1 },
	[CLI_OPT_TLS_CERT] = { "tls-cert", 0, 1 },
	[CLI_OPT_TLS_KEY] = { "tls-key", 0, 1 },
	[CLI_OPT_CA_FILE] = { "ca-file", 0, 1 },
	[CLI_OPT_API_KEYS_FILE] = { "api-keys-file", 0, 1 },
	[CLI_OPT_SESSION_LIFETIME] = { "session-lifetime", 0, 1 },
	[CLI_OPT_EMAIL] = { "email", 0, 1 },
	[CLI_OPT_MODE] = { "mode", 0, 1 },
};

static const char *const option_names[CLI_OPT_COUNT] = {
	[CLI_OPT_HELP] = "--help",
	[CLI_OPT_VERSION] = "--version",
	[CLI_OPT_STORE] = "--store",
	[CLI_OPT_LISTEN] = "--listen",
	[CLI_OPT_DATA] = "--data",
	[CLI_OPT_PROJECT] = "--project",
	[CLI_OPT_API_KEY] = "--api-key",
	[CLI_OPT_WORKERS] = "--workers",
	[CLI_OPT_PORT_FILE] = "--port-file",
	[CLI_OPT_SERVER] = "--server",
	[CLI_OPT_DATABASE] = "--database",
	[CLI_OPT_JSON] = "--json",
	[CLI_OPT_POSTGRES] = "--postgres",
	[CLI_OPT_TLS_CERT] = "--tls-cert",
	[CLI_OPT_TLS_KEY] = "--tls-key",
	[CLI_OPT_CA_FILE] = "--ca-file",
	[CLI_OPT_API_KEYS_FILE] = "--api-keys-file",
	[CLI_OPT_SESSION_LIFETIME] = "--session-lifetime",
	[CLI_OPT_EMAIL] = "--email",
	[CLI_OPT_MODE] = "--mode",
};

const char *cairn__cli_option_name(cairn__cli_option_id id)
{
	return option_names[id];
}

static int find_long(const char *name, size_t length)
{
	for (int id = 0; id < CLI_OPT_COUNT; id++) {
		if (strlen(options[id].name) == length && memcmp(options[id].name, name, length) == 0)
			return id;
	}
	return -1;
}

static int find_short(char name)
{
	for (int id = 0; id < CLI_OPT_COUNT; id++) {
		if (options[id].short_name && options[id].short_name == name)
			return id;
	}
	return -1;
}

int cairn__cli_args_has(const cairn__cli_args *args, cairn__cli_option_id id)
{
	return args->values[id] != NULL;
}

void cairn__cli_args_free(cairn__cli_args *args)
{
	if (!args)
		return;
	free(args->positionals);
	args->positionals = NULL;
	args->positional_count = 0;
}

int cairn__cli_args_parse(cairn__cli_args *args, int argc, char **argv)
{
	int only_positionals = 0;

	memset(args, 0, sizeof(*args));
	args->positionals = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*args->positionals));
	if (!args->positionals) {
		fprintf(stderr, "cairn: out of memory\n");
		return -1;
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = NULL;
		const char *name;
		size_t name_length;
		int id;

		/* "-" is the usual spelling of stdin, so it is an argument, never an option. */
		if (only_positionals || arg[0] != '-' || arg[1] == '\0') {
			args->positionals[args->positional_count++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positionals = 1;
			continue;
		}
		if (arg[1] == '-') {
			const char *equals = strchr(arg + 2, '=');

			name = arg + 2;
			name_length = equals ? (size_t)(equals - name) : strlen(name);
			if (equals)
				value = equals + 1;
			id = find_long(name, name_length);
			if (id < 0) {
				fprintf(stderr, "cairn: unknown option '--%.*s'\n", (int)name_length, name);
				goto fail;
			}
		} else {
			if (arg[2] != '\0' || (id = find_short(arg[1])) < 0) {
				fprintf(stderr, "cairn: unknown option '%s'\n", arg);
				goto fail;
			}
		}
		if (options[id].takes_value && !value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "cairn: option '%s' needs a value\n", option_names[id]);
				goto fail;
			}
			value = argv[++i];
		} else if (!options[id].takes_value && value) {
			fprintf(stderr, "cairn: option '%s' takes no value\n", option_names[id]);
			goto fail;
		}
		args->values[id] = value ? value : "";
	}
	return 0;

fail:
	cairn__cli_args_free(args);
	return -1;
}
