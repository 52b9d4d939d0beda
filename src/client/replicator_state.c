/* replicator_state.c: the background replicator's state recorded in the store's meta, so that
 * any process on the file (`cairn status`) can see what `cairn sync --watch` is doing. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "client/store_int.h"
#include "util/error.h"
#include "util/json.h"
#include "util/time.h"

#define RECORD_KEY "replicator"
#define RECORD_BUSY_MS 100 /* a replicator never waits long on another writer for this */

static const char *const state_names[] = {
	[CAIRN_REPLICATOR_STOPPED] = "stopped",
	[CAIRN_REPLICATOR_OFFLINE] = "offline",
	[CAIRN_REPLICATOR_CONNECTING] = "connecting",
	[CAIRN_REPLICATOR_IDLE] = "idle",
	[CAIRN_REPLICATOR_BUSY] = "busy",
	[CAIRN_REPLICATOR_ERROR] = "error",
};

/* The record as JSON text (caller frees), without the time: two records that differ only in
 * when they were made are the same news. */
static char *record_text(const cairn_replicator_status *status, long pid, int64_t at_ms)
{
	json_object *record = json_object_new_object();
	char *text = NULL;

	if (!record)
		return NULL;
	json_object_object_add(record, "state", json_object_new_string(
		cairn_replicator_state_name(status->state)));
	json_object_object_add(record, "pending", json_object_new_int64((int64_t)status->pending));
	json_object_object_add(record, "error", json_object_new_int(status->last_error));
	json_object_object_add(record, "message", json_object_new_string(
		status->last_error ? status->last_error_message : ""));
	json_object_object_add(record, "pid", json_object_new_int64(pid));
	if (at_ms > 0)
		json_object_object_add(record, "at", json_object_new_int64(at_ms));
	text = cairn__json_dump(record);
	json_object_put(record);
	return text;
}

/* The stored record without its "at" member, for comparing (caller frees); NULL if none. */
static char *stored_without_time(cairn_store *store)
{
	char *stored = NULL;
	json_object *record;
	char *text = NULL;

	if (cairn__meta_get_text(store, RECORD_KEY, &stored) <= 0)
		return NULL;
	record = cairn__json_parse_object(stored, strlen(stored), 4);
	free(stored);
	if (!record)
		return NULL;
	json_object_object_del(record, "at");
	text = cairn__json_dump(record);
	json_object_put(record);
	return text;
}

void cairn__replicator_record(cairn_store *store, const cairn_replicator_status *status)
{
	long pid = (long)getpid();
	char *now_text = record_text(status, pid, 0);
	char *stored = NULL;
	char *full = NULL;

	if (!now_text)
		return;
	stored = stored_without_time(store);
	if (stored && strcmp(stored, now_text) == 0)
		goto cleanup; /* nothing new to tell */
	full = record_text(status, pid, cairn__time_now_ms());
	if (!full)
		goto cleanup;
	/* Best effort: a writer holding the store (a long batch) must not stall the replicator;
	 * the next change of state records again. */
	sqlite3_busy_timeout(store->db, RECORD_BUSY_MS);
	if (cairn__store_begin(store) == 0) {
		if (cairn__meta_set_text(store, RECORD_KEY, full) == 0)
			cairn__store_commit(store);
		cairn__store_rollback(store);
	}
	sqlite3_busy_timeout(store->db, store->options.busy_timeout_ms);
cleanup:
	free(now_text);
	free(stored);
	free(full);
}

static int process_alive(long pid)
{
	if (pid <= 0)
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int cairn_store_replicator_status_get(cairn_store_replicator_status *out, cairn_store *store)
{
	json_object *record = NULL;
	const char *text = NULL;
	char *stored = NULL;
	int64_t number = 0;
	int rc;

	if (!out || !store)
		return cairn__error_set(CAIRN_EINVALID, "cairn_store_replicator_status_get needs an "
			"out pointer and a store");
	memset(out, 0, sizeof(*out));
	out->state = CAIRN_REPLICATOR_STOPPED;
	rc = cairn__meta_get_text(store, RECORD_KEY, &stored);
	if (rc <= 0)
		return rc;
	record = cairn__json_parse_object(stored, strlen(stored), 4);
	free(stored);
	if (!record)
		return cairn__error_set(CAIRN_EIO, "the store holds an unreadable replicator record");
	out->recorded = 1;
	if (cairn__json_get_int64(record, "pid", &number))
		out->pid = (long)number;
	if (cairn__json_get_int64(record, "pending", &number) && number >= 0)
		out->pending = (uint64_t)number;
	if (cairn__json_get_int64(record, "error", &number))
		out->last_error = (int)number;
	if (cairn__json_get_int64(record, "at", &number))
		out->updated_ms = number;
	if (cairn__json_get_string(record, "message", &text))
		snprintf(out->last_error_message, sizeof(out->last_error_message), "%s", text);
	if (cairn__json_get_string(record, "state", &text)) {
		for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
			if (strcmp(text, state_names[i]) == 0)
				out->state = (cairn_replicator_state)i;
	}
	/* A process that died (killed, crashed) could not record that it stopped. */
	out->running = out->state != CAIRN_REPLICATOR_STOPPED && process_alive(out->pid);
	if (!out->running)
		out->state = CAIRN_REPLICATOR_STOPPED;
	json_object_put(record);
	return 0;
}
