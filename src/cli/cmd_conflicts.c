/* cmd_conflicts.c: `cairn policy`, `cairn incr`, `cairn conflicts`, `cairn resolve` and
 * `cairn restore`: collection strategies, counters, the conflict inbox and ledger. */
#include "cli/cmd_conflicts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COUNTERS 64

/* The options that the shared parser does not know (taken out of argv first). */
static struct {
	const char *counters[MAX_COUNTERS];
	size_t counter_count;
	int all;
	const char *keep;
	const char *with;
} extra;

/* 1 if argv[*i] is option `name`; *value gets its value (from "=..." or the next word). */
static int take(const char *name, int takes_value, int *i, int argc, char **argv,
	const char **value, int *bad)
{
	const char *arg = argv[*i];
	size_t length = strlen(name);

	if (strncmp(arg, name, length) != 0 || (arg[length] != '\0' && arg[length] != '='))
		return 0;
	if (!takes_value) {
		if (arg[length] == '=') {
			fprintf(stderr, "cairn: option '%s' takes no value\n", name);
			*bad = 1;
		}
		return 1;
	}
	if (arg[length] == '=') {
		*value = arg + length + 1;
	} else if (*i + 1 < argc) {
		*value = argv[++*i];
	} else {
		fprintf(stderr, "cairn: option '%s' needs a value\n", name);
		*bad = 1;
	}
	return 1;
}

static int negative_number(const char *arg)
{
	if (arg[0] != '-' || !arg[1])
		return 0;
	for (const char *c = arg + 1; *c; c++) {
		if (*c < '0' || *c > '9')
			return 0;
	}
	return 1;
}

/* The rewritten argument vector; static so that it lives as long as the process (the parser
 * borrows from it). */
static char **rewritten;

int cairn__cli_conflict_options(int *argc, char ***argv_inout)
{
	char **argv = *argv_inout;
	char **out;
	size_t negative_count = 0;
	int kept = 1;
	int bad = 0;
	int separator = 0;

	memset(&extra, 0, sizeof(extra));
	/* Room for every word, a `--` and the NULL. */
	out = calloc((size_t)*argc + 2, sizeof(*out));
	if (!out) {
		fprintf(stderr, "cairn: out of memory\n");
		return CLI_EXIT_ERROR;
	}
	out[0] = argv[0];
	for (int i = 1; i < *argc; i++) {
		const char *value = NULL;

		if (strcmp(argv[i], "--") == 0) {
			separator = 1;
			while (i < *argc)
				out[kept++] = argv[i++];
			break;
		}
		/* `cairn incr C ID F -3`: a negative DELTA is an argument, not an option. */
		if (negative_number(argv[i])) {
			negative_count++;
			continue;
		}
		if (take("--counter", 1, &i, *argc, argv, &value, &bad)) {
			if (value && extra.counter_count < MAX_COUNTERS)
				extra.counters[extra.counter_count++] = value;
		} else if (take("--all", 0, &i, *argc, argv, &value, &bad)) {
			extra.all = 1;
		} else if (take("--keep", 1, &i, *argc, argv, &value, &bad)) {
			extra.keep = value;
		} else if (take("--with", 1, &i, *argc, argv, &value, &bad)) {
			extra.with = value;
		} else if (take("--max-clock-skew", 1, &i, *argc, argv, &value, &bad)) {
			char *end = NULL;
			long long seconds;
			char ms[32];

			if (!value)
				continue;
			errno = 0;
			seconds = strtoll(value, &end, 10);
			if (errno || end == value || *end || seconds < 0 || seconds > 86400 * 365) {
				fprintf(stderr, "cairn: --max-clock-skew must be a number of seconds, not "
					"'%s'\n", value);
				bad = 1;
				continue;
			}
			snprintf(ms, sizeof(ms), "%lld", seconds * 1000);
			setenv("CAIRN_MAX_CLOCK_SKEW_MS", ms, 1);
		} else {
			out[kept++] = argv[i];
		}
	}
	/* Negative numbers go last, behind a `--` (DELTA is the last argument of `incr`). */
	if (negative_count) {
		if (!separator)
			out[kept++] = "--";
		for (int i = 1; i < *argc && strcmp(argv[i], "--") != 0; i++) {
			if (negative_number(argv[i]))
				out[kept++] = argv[i];
		}
	}
	out[kept] = NULL;
	free(rewritten);
	rewritten = out;
	*argc = kept;
	*argv_inout = out;
	return bad ? CLI_EXIT_USAGE : 0;
}

int cairn__cli_all_given(void)
{
	return extra.all;
}

/* Refuses the extra options a command does not take. */
static int only(const cairn__cli_command *command, int counters, int all, int keep_with)
{
	if ((!counters && extra.counter_count) || (!all && extra.all) ||
		(!keep_with && (extra.keep || extra.with)))
		return cairn__cli_usage_error(command, "`cairn %s` has no option %s", command->name,
			extra.counter_count && !counters ? "--counter" : extra.all && !all ? "--all" :
			extra.keep ? "--keep" : "--with");
	return 0;
}

static int print_document(cairn_store *store, const char *collection, const char *id)
{
	char *document = NULL;
	int rc = cairn_doc_get(&document, store, collection, id);

	if (rc == CAIRN_ENOTFOUND) {
		printf("%s/%s is deleted\n", collection, id);
		return CLI_EXIT_OK;
	}
	if (rc < 0)
		return cairn__cli_fail(rc, NULL, "cannot read %s/%s back", collection, id);
	cairn__cli_print_json(document);
	cairn_free(document);
	return CLI_EXIT_OK;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_policy)
{
	cairn_store *store = NULL;
	char *policy = NULL;
	int rc, status;

	if ((status = only(command, 1, 0, 0)) != 0)
		return status;
	if (argc < 2 && extra.counter_count)
		return cairn__cli_usage_error(command, "--counter needs a STRATEGY too");
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	if (argc == 2) {
		rc = cairn_policy_set(store, argv[0], argv[1], extra.counters, extra.counter_count);
		if (rc < 0) {
			status = cairn__cli_fail(rc, rc == CAIRN_EINVALID ? "strategies: lww, "
				"server-wins, client-wins, merge, manual, custom" : NULL,
				"cannot set the policy of %s", argv[0]);
			goto cleanup;
		}
	}
	rc = cairn_policy_get(&policy, store, argv[0]);
	if (rc < 0) {
		status = cairn__cli_fail(rc, NULL, "cannot read the policy of %s", argv[0]);
		goto cleanup;
	}
	cairn__cli_print_json(policy);
cleanup:
	cairn_free(policy);
	cairn_store_free(store);
	return status;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_incr)
{
	cairn_store *store = NULL;
	char *end = NULL;
	long long delta;
	int rc, status;

	(void)argc;
	if ((status = only(command, 0, 0, 0)) != 0)
		return status;
	errno = 0;
	delta = strtoll(argv[3], &end, 10);
	if (errno || end == argv[3] || *end)
		return cairn__cli_usage_error(command, "DELTA must be an integer, not '%s'", argv[3]);
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	rc = cairn_doc_increment(store, argv[0], argv[1], argv[2], (int64_t)delta);
	if (rc < 0)
		status = cairn__cli_fail(rc, rc == CAIRN_EINVALID ? "declare the counter first: "
			"cairn policy COLLECTION STRATEGY --counter FIELD" : NULL,
			"cannot increment %s/%s %s", argv[0], argv[1], argv[2]);
	else
		status = print_document(store, argv[0], argv[1]);
	cairn_store_free(store);
	return status;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_ledger)
{
	cairn_store *store = NULL;
	char *list = NULL;
	int rc, status;

	(void)argv;
	(void)argc;
	if ((status = only(command, 0, 1, 0)) != 0)
		return status;
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	rc = extra.all ? cairn_conflicts_list(&list, store) : cairn_conflicts_inbox(&list, store);
	if (rc < 0)
		status = cairn__cli_fail(rc, NULL, "cannot list conflicts");
	else
		cairn__cli_print_json(list);
	cairn_free(list);
	cairn_store_free(store);
	return status;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_resolve)
{
	cairn_store *store = NULL;
	cairn_resolve_choice choice;
	char *json = NULL;
	int rc, status;

	(void)argc;
	if ((status = only(command, 0, 0, 1)) != 0)
		return status;
	if (!!extra.keep == !!extra.with)
		return cairn__cli_usage_error(command, "give either --keep mine|theirs or --with FILE");
	if (extra.keep && strcmp(extra.keep, "mine") == 0)
		choice = CAIRN_RESOLVE_MINE;
	else if (extra.keep && strcmp(extra.keep, "theirs") == 0)
		choice = CAIRN_RESOLVE_THEIRS;
	else if (extra.keep)
		return cairn__cli_usage_error(command, "--keep takes mine or theirs, not '%s'",
			extra.keep);
	else
		choice = CAIRN_RESOLVE_WITH;
	if (extra.with) {
		FILE *file = strcmp(extra.with, "-") == 0 ? NULL : fopen(extra.with, "r");
		size_t size = 0;

		if (file) {
			/* The document comes from FILE; '-' reads stdin like the other commands. */
			char buffer[4096];
			size_t got;
			FILE *stream = open_memstream(&json, &size);

			while (stream && (got = fread(buffer, 1, sizeof(buffer), file)) > 0)
				fwrite(buffer, 1, got, stream);
			if (stream)
				fclose(stream);
			fclose(file);
			if (!json) {
				fprintf(stderr, "cairn: out of memory reading %s\n", extra.with);
				return CLI_EXIT_ERROR;
			}
		} else if (strcmp(extra.with, "-") == 0) {
			if (cairn__cli_read_input(&json, "-") != 0)
				return CLI_EXIT_ERROR;
		} else {
			fprintf(stderr, "cairn: cannot read %s: %s\n", extra.with, strerror(errno));
			return CLI_EXIT_ERROR;
		}
	}
	status = cairn__cli_store_open(&store, args);
	if (status)
		goto cleanup;
	rc = cairn_conflict_resolve(store, argv[0], argv[1], choice, json);
	if (rc < 0)
		status = cairn__cli_fail(rc, rc == CAIRN_ENOTFOUND ? "see the open conflicts with "
			"`cairn conflicts`" : NULL, "cannot resolve %s/%s", argv[0], argv[1]);
	else
		status = print_document(store, argv[0], argv[1]);
cleanup:
	free(json);
	cairn_store_free(store);
	return status;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_restore)
{
	cairn_store *store = NULL;
	char *end = NULL;
	long long id;
	int rc, status;

	(void)argc;
	if ((status = only(command, 0, 0, 0)) != 0)
		return status;
	errno = 0;
	id = strtoll(argv[0], &end, 10);
	if (errno || end == argv[0] || *end || id <= 0)
		return cairn__cli_usage_error(command, "LEDGER_ID must be a ledger entry's id (see "
			"`cairn conflicts --all`), not '%s'", argv[0]);
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	rc = cairn_conflict_restore(store, (int64_t)id);
	if (rc < 0)
		status = cairn__cli_fail(rc, NULL, "cannot restore ledger entry %lld", id);
	else
		printf("restored ledger entry %lld as a new write; `cairn sync` sends it\n", id);
	cairn_store_free(store);
	return status;
}
