/* cmd_watch.c: `cairn sync --watch`: runs the replicator until interrupted and prints its
 * state changes and counts, one line each. */
#include "cli/cmd_watch.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_int.h"

int cairn__cli_watch_wanted(int argc, char **argv)
{
	int i;

	if (argc < 3 || strcmp(argv[1], "sync") != 0)
		return 0;
	for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--watch") == 0)
			return 1;
	}
	return 0;
}

/* Called on the replicator's thread; stdout is line-buffered so each line shows at once. */
static void on_status(const cairn_replicator_status *status, void *payload)
{
	cairn_replicator_state *last = payload;

	/* Counts change often while busy: print state changes, and counts when settled. */
	if (status->state == *last && status->state == CAIRN_REPLICATOR_BUSY)
		return;
	*last = status->state;
	printf("%-10s pending %llu, pushed %llu, pulled %llu, rejected %llu, realtime %s",
		cairn_replicator_state_name(status->state), (unsigned long long)status->pending,
		(unsigned long long)status->pushed, (unsigned long long)status->pulled,
		(unsigned long long)status->rejected, status->realtime ? "on" : "off");
	if (status->last_error && status->state != CAIRN_REPLICATOR_IDLE)
		printf(" (%s; retry in %lld ms)", status->last_error_message,
			(long long)status->retry_in_ms);
	printf("\n");
}

int cairn__cli_watch_main(int argc, char **argv)
{
	cairn_replicator_options options = CAIRN_REPLICATOR_OPTIONS_INIT;
	cairn_replicator_state last = CAIRN_REPLICATOR_STOPPED;
	cairn_replicator *replicator = NULL;
	sigset_t stop_signals, previous;
	int signal_number;
	cairn_store *store = NULL;
	cairn__cli_args args;
	char **kept;
	int count = 0, i, status, rc;

	kept = calloc((size_t)argc + 1, sizeof(*kept));
	if (!kept)
		return CLI_EXIT_ERROR;
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--watch") != 0)
			kept[count++] = argv[i];
	}
	if (cairn__cli_args_parse(&args, count, kept) < 0) {
		free(kept);
		fprintf(stderr, "usage: cairn sync --watch [--store FILE]\n");
		return CLI_EXIT_USAGE;
	}
	if (cairn__cli_args_has(&args, CLI_OPT_HELP)) {
		printf("usage: cairn sync --watch [--store FILE]\n\n"
			"Keeps the store in sync until Ctrl-C: pushes local changes (also those made by\n"
			"other `cairn` commands) within moments, follows the server's changes live, and\n"
			"retries with backoff while the server is unreachable. Prints one line per state\n"
			"change: offline, connecting, idle, busy or error, with the counts.\n");
		status = CLI_EXIT_OK;
		goto cleanup;
	}
	if (args.positional_count != 1) {
		fprintf(stderr, "cairn: `cairn sync --watch` takes no arguments\n");
		status = CLI_EXIT_USAGE;
		goto cleanup;
	}
	status = cairn__cli_store_open(&store, &args);
	if (status)
		goto cleanup;
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Blocked before the thread starts (it inherits the mask), then awaited here: the
	 * signal cannot land on the replicator's thread. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
	options.on_status = on_status;
	options.payload = &last;
	rc = cairn_replicator_start(&replicator, store, &options);
	if (rc < 0) {
		status = cairn__cli_fail(rc, NULL, "cannot start syncing");
	} else {
		sigwait(&stop_signals, &signal_number);
		cairn_replicator_stop(replicator);
		printf("stopped\n");
		status = CLI_EXIT_OK;
	}
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
cleanup:
	cairn_store_free(store);
	cairn__cli_args_free(&args);
	free(kept);
	return status;
}
