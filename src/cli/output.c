/* output.c: how the `cairn` command talks to people: errors with hints, exit codes, JSON
 * printing, input from stdin, times, masked secrets, and opening the store. */
#include "cli/cli_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define DEFAULT_STORE "cairn.db"

int cairn__cli_exit_code(int code)
{
	switch (code) {
	case CAIRN_OK:
		return CLI_EXIT_OK;
	case CAIRN_ENOTFOUND:
		return CLI_EXIT_NOTFOUND;
	case CAIRN_EOFFLINE:
		return CLI_EXIT_OFFLINE;
	default:
		return CLI_EXIT_ERROR;
	}
}

/* A next step for the person at the terminal, by error kind; NULL when none helps. */
static const char *default_hint(int code)
{
	switch (code) {
	case CAIRN_ENOREMOTE:
		return "run `cairn remote --server URL --project ID --api-key KEY --database DB` first";
	case CAIRN_EOFFLINE:
		return "is the server running? Check the URL with `cairn remote`; local data is "
		       "kept, run `cairn sync` again when the server is reachable";
	case CAIRN_EAUTH:
		return "check the project and API key: `cairn remote --server URL --project ID "
		       "--api-key KEY --database DB`";
	case CAIRN_EBUSY:
		return "another process is writing to the store; try again in a moment";
	case CAIRN_EIO:
		return "check that the store file (--store or $CAIRN_STORE) is readable and writable";
	case CAIRN_ETOOBIG:
		return "make the document smaller";
	case CAIRN_ESERVER:
		return "the server reported a problem; see its log";
	default:
		return NULL;
	}
}

int cairn__cli_fail(int code, const char *hint, const char *fmt, ...)
{
	const char *message = cairn_error_last();
	va_list ap;

	if (!message || !*message)
		message = cairn_strerror(code);
	fputs("cairn: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", message);
	if (!hint)
		hint = default_hint(code);
	if (hint)
		fprintf(stderr, "hint: %s\n", hint);
	return cairn__cli_exit_code(code);
}

int cairn__cli_usage_error(const cairn__cli_command *command, const char *fmt, ...)
{
	va_list ap;

	fputs("cairn: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (command)
		fprintf(stderr, "usage: %s\nRun `cairn %s --help` for details.\n", command->usage,
			command->name);
	else
		fprintf(stderr, "usage: cairn COMMAND [ARGS] [OPTIONS]\n"
				"Run `cairn --help` for the list of commands.\n");
	return CLI_EXIT_USAGE;
}

void cairn__cli_print_json(const char *json)
{
	json_tokener *tokener = json_tokener_new();
	json_object *value = NULL;
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE;

	if (isatty(STDOUT_FILENO))
		flags |= JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;
	else
		flags |= JSON_C_TO_STRING_PLAIN;
	if (tokener)
		value = json_tokener_parse_ex(tokener, json, (int)strlen(json));
	/* Re-printing only changes layout; if the library ever hands back text json-c cannot
	 * read, showing it as is beats hiding it. */
	if (value && json_tokener_get_error(tokener) == json_tokener_success)
		puts(json_object_to_json_string_ext(value, flags));
	else
		puts(json);
	json_object_put(value);
	if (tokener)
		json_tokener_free(tokener);
}

int cairn__cli_read_input(char **out, const char *arg)
{
	char *buffer = NULL;
	size_t length = 0, capacity = 0;

	*out = NULL;
	if (strcmp(arg, "-") != 0) {
		*out = strdup(arg);
		if (!*out) {
			fprintf(stderr, "cairn: out of memory\n");
			return -1;
		}
		return 0;
	}
	for (;;) {
		size_t got;

		if (capacity - length < 4096) {
			char *bigger = realloc(buffer, capacity ? capacity * 2 : 65536);

			if (!bigger) {
				fprintf(stderr, "cairn: out of memory reading stdin\n");
				free(buffer);
				return -1;
			}
			buffer = bigger;
			capacity = capacity ? capacity * 2 : 65536;
		}
		got = fread(buffer + length, 1, capacity - length - 1, stdin);
		length += got;
		if (got == 0)
			break;
	}
	if (ferror(stdin)) {
		fprintf(stderr, "cairn: cannot read stdin: %s\n", strerror(errno));
		free(buffer);
		return -1;
	}
	buffer[length] = '\0';
	if (strlen(buffer) != length) {
		fprintf(stderr, "cairn: stdin holds a NUL byte; JSON text was expected\n");
		free(buffer);
		return -1;
	}
	*out = buffer;
	return 0;
}

void cairn__cli_format_time(char *out, size_t size, long long unix_ms)
{
	time_t seconds = (time_t)(unix_ms / 1000);
	struct tm tm;
	char date[32];

	if (!gmtime_r(&seconds, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, size, "%lld", unix_ms);
		return;
	}
	snprintf(out, size, "%s.%03dZ", date, (int)(unix_ms % 1000));
}

void cairn__cli_mask_secret(char *out, size_t size, const char *secret)
{
	size_t length = strlen(secret);
	size_t shown = length > 8 ? 4 : 0; /* a short key would be half given away by 4 chars */

	snprintf(out, size, "%.*s%s", (int)shown, secret, "********");
}

int cairn__cli_store_open(cairn_store **out, const cairn__cli_args *args)
{
	const char *path = args->values[CLI_OPT_STORE];
	int rc;

	if (!path || !*path)
		path = getenv("CAIRN_STORE");
	if (!path || !*path)
		path = DEFAULT_STORE;
	rc = cairn_store_open(out, path, NULL);
	if (rc < 0)
		return cairn__cli_fail(rc, NULL, "cannot open store '%s'", path);
	return 0;
}
