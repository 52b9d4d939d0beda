/* status_replicator.c: the background replicator's line of `cairn status` (text and JSON),
 * from what a replicator on the store's file (e.g. `cairn sync --watch`) last recorded. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cairn.h"
#include "cli/cli_int.h"

static long long seconds_since(long long then_ms)
{
	struct timespec now;
	long long seconds;

	clock_gettime(CLOCK_REALTIME, &now);
	seconds = ((long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - then_ms) / 1000;
	return seconds < 0 ? 0 : seconds;
}

void cairn__cli_replicator_text(const cairn_store_replicator_status *replicator)
{
	if (!replicator->recorded) {
		printf("replicator: not running (none has run on this store)\n");
		return;
	}
	if (!replicator->running) {
		printf("replicator: not running\n");
		return;
	}
	printf("replicator: %s (pid %ld, since %llds ago), %llu pending\n",
		cairn_replicator_state_name(replicator->state), replicator->pid,
		seconds_since(replicator->updated_ms), (unsigned long long)replicator->pending);
	if (replicator->last_error)
		printf("            last error: %s\n", replicator->last_error_message[0] ?
			replicator->last_error_message : cairn_strerror(replicator->last_error));
}

json_object *cairn__cli_replicator_json(const cairn_store_replicator_status *replicator)
{
	json_object *out = json_object_new_object();
	char when[48];

	if (!out)
		return NULL;
	json_object_object_add(out, "running", json_object_new_boolean(replicator->running));
	json_object_object_add(out, "state", json_object_new_string(
		cairn_replicator_state_name(replicator->state)));
	json_object_object_add(out, "pending", json_object_new_int64((int64_t)replicator->pending));
	json_object_object_add(out, "pid", replicator->recorded ?
		json_object_new_int64(replicator->pid) : NULL);
	if (replicator->updated_ms > 0) {
		cairn__cli_format_time(when, sizeof(when), (long long)replicator->updated_ms);
		json_object_object_add(out, "since", json_object_new_string(when));
	} else {
		json_object_object_add(out, "since", NULL);
	}
	if (replicator->last_error) {
		json_object *error = json_object_new_object();

		json_object_object_add(error, "code", json_object_new_int(replicator->last_error));
		json_object_object_add(error, "message",
			json_object_new_string(replicator->last_error_message));
		json_object_object_add(out, "lastError", error);
	} else {
		json_object_object_add(out, "lastError", NULL);
	}
	return out;
}
