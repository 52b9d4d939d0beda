/* commands.c: the local commands of `cairn` (documents, remote, sync, status, conflicts),
 * each a thin layer over the public API in cairn.h. */
#include "cli/cli_int.h"
#include "cli/cmd_login.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define JSON_HINT "the document must be a JSON object, e.g. '{\"title\":\"milk\"}' (or - to read stdin)"

/* ---- documents ------------------------------------------------------------------------ */

/* put and patch: write, then read back so the person sees what is stored now. */
static int write_document(const char *const *argv, int patch, const cairn__cli_args *args)
{
	const char *collection = argv[0];
	const char *id = argv[1];
	char unique_id[CAIRN_ID_MAX + 1];
	cairn_store *store = NULL;
	char *json = NULL, *document = NULL;
	int rc, status;

	if (!patch && strcmp(id, "unique()") == 0) {
		rc = cairn_id_unique(unique_id, sizeof(unique_id));
		if (rc < 0)
			return cairn__cli_fail(rc, NULL, "cannot generate a unique id");
		id = unique_id;
	}
	if (cairn__cli_read_input(&json, argv[2]) < 0)
		return CLI_EXIT_ERROR;
	status = cairn__cli_store_open(&store, args);
	if (status)
		goto cleanup;
	rc = patch ? cairn_doc_patch(store, collection, id, json)
		   : cairn_doc_put(store, collection, id, json);
	if (rc < 0) {
		status = cairn__cli_fail(rc, rc == CAIRN_EINVALID ? JSON_HINT : NULL,
			"cannot %s %s/%s", patch ? "patch" : "put", collection, id);
		goto cleanup;
	}
	rc = cairn_doc_get(&document, store, collection, id);
	if (rc < 0) {
		status = cairn__cli_fail(rc, NULL, "wrote %s/%s but cannot read it back",
			collection, id);
		goto cleanup;
	}
	cairn__cli_print_json(document);
	status = CLI_EXIT_OK;

cleanup:
	cairn_free(document);
	cairn_store_free(store);
	free(json);
	return status;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_put)
{
	(void)command;
	(void)argc;
	return write_document(argv, 0, args);
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_patch)
{
	(void)command;
	(void)argc;
	return write_document(argv, 1, args);
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_get)
{
	cairn_store *store = NULL;
	char *document = NULL;
	int rc, status;

	(void)command;
	(void)argc;
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	rc = cairn_doc_get(&document, store, argv[0], argv[1]);
	if (rc < 0) {
		status = cairn__cli_fail(rc, NULL, "cannot get %s/%s", argv[0], argv[1]);
		goto cleanup;
	}
	cairn__cli_print_json(document);
	status = CLI_EXIT_OK;

cleanup:
	cairn_free(document);
	cairn_store_free(store);
	return status;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_rm)
{
	cairn_store *store = NULL;
	int rc, status;

	(void)command;
	(void)argc;
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	rc = cairn_doc_delete(store, argv[0], argv[1]);
	if (rc < 0)
		status = cairn__cli_fail(rc, NULL, "cannot delete %s/%s", argv[0], argv[1]);
	cairn_store_free(store);
	return status;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_query)
{
	cairn_store *store = NULL;
	char *documents = NULL;
	int rc, status;

	(void)command;
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	rc = cairn_doc_query(&documents, store, argv[0], argv + 1, argc - 1);
	if (rc < 0) {
		status = cairn__cli_fail(rc, rc == CAIRN_EINVALID
				? "each query is one Appwrite query JSON, e.g. "
				  "'{\"method\":\"equal\",\"attribute\":\"done\",\"values\":[false]}'"
				: NULL,
			"cannot query %s", argv[0]);
		goto cleanup;
	}
	cairn__cli_print_json(documents);
	status = CLI_EXIT_OK;

cleanup:
	cairn_free(documents);
	cairn_store_free(store);
	return status;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_conflicts)
{
	cairn_store *store = NULL;
	char *conflicts = NULL;
	int rc, status;

	(void)command;
	(void)argv;
	(void)argc;
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	rc = cairn_conflicts_list(&conflicts, store);
	if (rc < 0) {
		status = cairn__cli_fail(rc, NULL, "cannot list conflicts");
		goto cleanup;
	}
	cairn__cli_print_json(conflicts);
	status = CLI_EXIT_OK;

cleanup:
	cairn_free(conflicts);
	cairn_store_free(store);
	return status;
}

/* ---- remote --------------------------------------------------------------------------- */

/* Appwrite endpoints end in /v1; people often paste just the origin. Returns a malloc'd
 * URL with /v1 added when there is no path at all, else a copy. NULL on ENOMEM. */
static char *normalise_url(const char *url)
{
	const char *host = strstr(url, "://");
	size_t length = strlen(url);
	char *out;

	host = host ? host + 3 : url;
	if (strchr(host, '/') && strcmp(strchr(host, '/'), "/") != 0)
		return strdup(url);
	out = malloc(length + 4);
	if (!out)
		return NULL;
	memcpy(out, url, length + 1);
	if (length && out[length - 1] == '/')
		out[--length] = '\0';
	strcpy(out + length, "/v1");
	return out;
}

static int show_remote(const cairn__cli_args *args)
{
	cairn_store *store = NULL;
	cairn_store_status status;
	int rc, exit_code;

	exit_code = cairn__cli_store_open(&store, args);
	if (exit_code)
		return exit_code;
	rc = cairn_store_status_get(&status, store);
	if (rc < 0) {
		exit_code = cairn__cli_fail(rc, NULL, "cannot read the remote");
		goto cleanup;
	}
	if (!status.remote_url[0]) {
		printf("no remote set\n");
		fprintf(stderr, "hint: %s\n",
			"set one with `cairn remote --server URL --project ID --api-key KEY --database DB`");
	} else {
		/* The public API hands back the URL, database and mode; the key is never shown. */
		printf("server:   %s\ndatabase: %s\n", status.remote_url, status.remote_database);
		if (status.remote_mode == CAIRN_REMOTE_APPWRITE_REST)
			printf("mode:     rest (Appwrite document routes only)\n");
	}

cleanup:
	cairn_store_free(store);
	return exit_code;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_remote)
{
	static const cairn__cli_option_id required[] = { CLI_OPT_SERVER, CLI_OPT_PROJECT,
		CLI_OPT_DATABASE };
	cairn_remote remote = { CAIRN_REMOTE_VERSION, NULL, NULL, NULL, NULL, NULL, 0, NULL, CAIRN_REMOTE_SYNC };
	cairn_store *store = NULL;
	char *url = NULL, *ca_file = NULL;
	char masked[32];
	int rc, status;

	(void)argv;
	(void)argc;
	if (!cairn__cli_args_has(args, CLI_OPT_SERVER) && !cairn__cli_args_has(args, CLI_OPT_PROJECT)
		&& !cairn__cli_args_has(args, CLI_OPT_API_KEY)
		&& !cairn__cli_args_has(args, CLI_OPT_DATABASE)
		&& !cairn__cli_args_has(args, CLI_OPT_MODE))
		return show_remote(args);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!cairn__cli_args_has(args, required[i]) || !*args->values[required[i]])
			return cairn__cli_usage_error(command, "setting a remote needs %s",
				cairn__cli_option_name(required[i]));
	}
	if (strncmp(args->values[CLI_OPT_SERVER], "http://", 7) != 0
		&& strncmp(args->values[CLI_OPT_SERVER], "https://", 8) != 0)
		return cairn__cli_usage_error(command, "--server must be an http:// or https:// URL, "
			"e.g. http://127.0.0.1:8080/v1");
	url = normalise_url(args->values[CLI_OPT_SERVER]);
	if (!url) {
		fprintf(stderr, "cairn: out of memory\n");
		return CLI_EXIT_ERROR;
	}
	remote.url = url;
	remote.project = args->values[CLI_OPT_PROJECT];
	remote.database = args->values[CLI_OPT_DATABASE];
	remote.api_key = cairn__cli_args_has(args, CLI_OPT_API_KEY) && *args->values[CLI_OPT_API_KEY]
		? args->values[CLI_OPT_API_KEY] : NULL;
	if (cairn__cli_args_has(args, CLI_OPT_MODE)) {
		if (strcmp(args->values[CLI_OPT_MODE], "rest") == 0) {
			remote.mode = CAIRN_REMOTE_APPWRITE_REST;
		} else if (strcmp(args->values[CLI_OPT_MODE], "sync") != 0) {
			status = cairn__cli_usage_error(command, "--mode must be sync or rest, got '%s'",
				args->values[CLI_OPT_MODE]);
			goto cleanup;
		}
	}
	if (cairn__cli_args_has(args, CLI_OPT_CA_FILE)) {
		/* Stored absolute: the store may be used from another directory later. */
		ca_file = realpath(args->values[CLI_OPT_CA_FILE], NULL);
		if (!ca_file) {
			status = cairn__cli_usage_error(command, "--ca-file %s: %s",
				args->values[CLI_OPT_CA_FILE], strerror(errno));
			goto cleanup;
		}
		remote.ca_file = ca_file;
	}
	status = cairn__cli_store_open(&store, args);
	if (status)
		goto cleanup;
	if (!cairn__cli_args_has(args, CLI_OPT_MODE)) {
		/* No --mode: keep the store's current mode (a change of mode forgets the server
		 * copies, so it must be asked for). */
		cairn_store_status current;

		rc = cairn_store_status_get(&current, store);
		if (rc < 0) {
			status = cairn__cli_fail(rc, NULL, "cannot read the remote");
			goto cleanup;
		}
		remote.mode = current.remote_mode;
	}
	rc = cairn_store_set_remote(store, &remote);
	if (rc < 0) {
		status = cairn__cli_fail(rc, NULL, "cannot set the remote");
		goto cleanup;
	}
	if (remote.api_key)
		cairn__cli_mask_secret(masked, sizeof(masked), remote.api_key);
	else
		snprintf(masked, sizeof(masked), "(none)");
	printf("server:   %s\nproject:  %s\ndatabase: %s\napi key:  %s\n", remote.url,
		remote.project, remote.database, masked);
	if (remote.ca_file)
		printf("ca file:  %s\n", remote.ca_file);
	if (remote.mode == CAIRN_REMOTE_APPWRITE_REST)
		printf("mode:     rest (Appwrite document routes only)\n");

cleanup:
	cairn_store_free(store);
	free(ca_file);
	free(url);
	return status;
}

/* ---- sync ----------------------------------------------------------------------------- */

typedef struct {
	int terminal;          /* stderr is a terminal: draw the progress line */
	int drawn;             /* a progress line is on screen and must be cleared */
	struct timespec last;  /* when it was last drawn */
} sync_progress_state;

/* Set by SIGINT: the next progress call stops the sync between batches, so what was
 * committed stays committed. SA_RESETHAND makes a second Ctrl-C kill at once. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int signal_number)
{
	(void)signal_number;
	interrupted = 1;
}

static double seconds_between(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

/* Redraws one line in place, at most ~10 times a second, and only once a phase has run for
 * a moment: a quick sync should print its summary and nothing else. */
static int on_sync_progress(const cairn_sync_progress *progress, void *payload)
{
	sync_progress_state *state = payload;
	struct timespec now;
	double rate;

	if (interrupted)
		return 1;
	if (!state->terminal || progress->elapsed_s < 0.3)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (state->drawn && seconds_between(&state->last, &now) < 0.1
		&& !(progress->total && progress->done == progress->total))
		return 0;
	state->last = now;
	rate = progress->elapsed_s > 0 ? (double)progress->done / progress->elapsed_s : 0;
	if (progress->phase == CAIRN_SYNC_PHASE_PUSH && progress->total)
		fprintf(stderr, "\r\033[Kpushing %llu/%llu (%.0f docs/s)",
			(unsigned long long)progress->done, (unsigned long long)progress->total, rate);
	else
		fprintf(stderr, "\r\033[K%s %llu (%.0f docs/s)",
			progress->phase == CAIRN_SYNC_PHASE_PUSH ? "pushing" : "pulling",
			(unsigned long long)progress->done, rate);
	fflush(stderr);
	state->drawn = 1;
	return 0;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_sync)
{
	cairn_sync_options options = CAIRN_SYNC_OPTIONS_INIT;
	sync_progress_state progress = { 0 };
	cairn_sync_result result = { 0 };
	cairn_store_status before;
	struct sigaction action, previous;
	cairn_store *store = NULL;
	int rc, status;

	(void)command;
	(void)argv;
	(void)argc;
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	/* Read before syncing: afterwards the error message must stay the sync's own. */
	memset(&before, 0, sizeof(before));
	if (cairn_store_status_get(&before, store) < 0)
		before.remote_url[0] = '\0';
	before.remote_url[sizeof(before.remote_url) - 1] = '\0';
	progress.terminal = isatty(STDERR_FILENO);
	options.progress = on_sync_progress;
	options.payload = &progress;
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_interrupt;
	action.sa_flags = SA_RESETHAND;
	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, &previous);
	rc = cairn_sync_once(&result, store, &options);
	sigaction(SIGINT, &previous, NULL);
	if (progress.drawn)
		fprintf(stderr, "\r\033[K");
	if (rc == CAIRN_EUSER && interrupted) {
		fprintf(stderr, "cairn: sync interrupted; what was already pushed or pulled is "
				"kept\nhint: run `cairn sync` again to finish\n");
		status = CLI_EXIT_ERROR;
		goto cleanup;
	}
	if (rc == CAIRN_EOFFLINE) {
		char hint[768];

		snprintf(hint, sizeof(hint), "is the server running at %s? Your local changes are "
			"kept; run `cairn sync` again when it is reachable",
			before.remote_url[0] ? before.remote_url : "the remote URL");
		status = cairn__cli_fail(rc, hint, "sync failed");
		goto cleanup;
	}
	if (rc == CAIRN_ESERVER && strstr(cairn_error_last(), "TLS certificate")) {
		status = cairn__cli_fail(rc, "trust the CA that signed the server's certificate: "
			"`cairn remote --server URL --project ID --database DB --ca-file CA.pem`; "
			"host names are always checked", "sync failed");
		goto cleanup;
	}
	if (rc < 0) {
		status = cairn__cli_fail(rc, NULL, "sync failed");
		goto cleanup;
	}
	printf("pushed %llu, pulled %llu, conflicts %llu, rejected %llu\n",
		(unsigned long long)result.pushed, (unsigned long long)result.pulled,
		(unsigned long long)result.conflicts, (unsigned long long)result.rejected);
	if (result.rejected)
		fprintf(stderr, "hint: the server refused %llu change(s); see `cairn status`\n",
			(unsigned long long)result.rejected);
	status = CLI_EXIT_OK;

cleanup:
	cairn_store_free(store);
	return status;
}

/* ---- status --------------------------------------------------------------------------- */

static void print_status_json(const cairn_store_status *status,
	const cairn_store_replicator_status *replicator)
{
	json_object *root = json_object_new_object();
	json_object *remote = NULL;
	char when[48];

	json_object_object_add(root, "clientId", json_object_new_string(status->client_id));
	json_object_object_add(root, "replicator", cairn__cli_replicator_json(replicator));
	json_object_object_add(root, "pending", json_object_new_int64((int64_t)status->pending));
	json_object_object_add(root, "rejected", json_object_new_int64((int64_t)status->rejected));
	json_object_object_add(root, "conflicts",
		json_object_new_int64((int64_t)status->conflicts));
	json_object_object_add(root, "checkpoint", json_object_new_int64(status->checkpoint));
	if (status->remote_url[0]) {
		remote = json_object_new_object();
		json_object_object_add(remote, "url", json_object_new_string(status->remote_url));
		json_object_object_add(remote, "database",
			json_object_new_string(status->remote_database));
	}
	json_object_object_add(root, "remote", remote);
	if (status->last_sync_ms > 0) {
		json_object *last = json_object_new_object();

		cairn__cli_format_time(when, sizeof(when), (long long)status->last_sync_ms);
		json_object_object_add(last, "at", json_object_new_string(when));
		json_object_object_add(last, "ok", json_object_new_boolean(status->last_sync_result == 0));
		json_object_object_add(last, "code", json_object_new_int(status->last_sync_result));
		json_object_object_add(last, "error", json_object_new_string(status->last_sync_error));
		json_object_object_add(root, "lastSync", last);
	} else {
		json_object_object_add(root, "lastSync", NULL);
	}
	cairn__cli_print_json(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
}

/* "3 min ago" style age, for a person glancing at the status. */
static void format_age(char *out, size_t size, long long then_ms)
{
	struct timespec now;
	long long seconds;

	clock_gettime(CLOCK_REALTIME, &now);
	seconds = ((long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - then_ms) / 1000;
	if (seconds < 0)
		seconds = 0;
	if (seconds < 60)
		snprintf(out, size, "%llds ago", seconds);
	else if (seconds < 3600)
		snprintf(out, size, "%lld min ago", seconds / 60);
	else if (seconds < 86400)
		snprintf(out, size, "%lld h ago", seconds / 3600);
	else
		snprintf(out, size, "%lld days ago", seconds / 86400);
}

static void print_status_text(const cairn_store_status *status)
{
	char when[48], age[32];

	printf("client id:  %s\n", status->client_id);
	if (status->remote_url[0])
		printf("remote:     %s (database %s)\n", status->remote_url, status->remote_database);
	else
		printf("remote:     none (set one with `cairn remote --server URL ...`)\n");
	printf("pending:    %llu\n", (unsigned long long)status->pending);
	printf("rejected:   %llu\n", (unsigned long long)status->rejected);
	printf("conflicts:  %llu\n", (unsigned long long)status->conflicts);
	printf("checkpoint: %lld\n", (long long)status->checkpoint);
	if (status->last_sync_ms <= 0) {
		printf("last sync:  never\n");
		return;
	}
	cairn__cli_format_time(when, sizeof(when), (long long)status->last_sync_ms);
	format_age(age, sizeof(age), (long long)status->last_sync_ms);
	if (status->last_sync_result == 0)
		printf("last sync:  %s (%s), ok\n", when, age);
	else
		printf("last sync:  %s (%s), failed: %s\n", when, age,
			status->last_sync_error[0] ? status->last_sync_error
						   : cairn_strerror(status->last_sync_result));
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_status)
{
	cairn_store_status status;
	cairn_store_replicator_status replicator;
	cairn_store *store = NULL;
	int rc, exit_code;

	(void)command;
	(void)argv;
	(void)argc;
	exit_code = cairn__cli_store_open(&store, args);
	if (exit_code)
		return exit_code;
	memset(&status, 0, sizeof(status));
	rc = cairn_store_status_get(&status, store);
	if (rc == 0)
		rc = cairn_store_replicator_status_get(&replicator, store);
	if (rc < 0) {
		exit_code = cairn__cli_fail(rc, NULL, "cannot read the store status");
		goto cleanup;
	}
	/* The struct's strings are fixed arrays; never trust them to be terminated. */
	status.last_sync_error[sizeof(status.last_sync_error) - 1] = '\0';
	status.client_id[sizeof(status.client_id) - 1] = '\0';
	status.remote_url[sizeof(status.remote_url) - 1] = '\0';
	status.remote_database[sizeof(status.remote_database) - 1] = '\0';
	replicator.last_error_message[sizeof(replicator.last_error_message) - 1] = '\0';
	if (cairn__cli_args_has(args, CLI_OPT_JSON)) {
		print_status_json(&status, &replicator);
	} else {
		print_status_text(&status);
		cairn__cli_replicator_text(&replicator);
		cairn__cli_print_session(store); /* cmd_login.c */
	}

cleanup:
	cairn_store_free(store);
	return exit_code;
}
