/* sync_text.c: the text form of a pulled change, whose user fields and permissions travel as
 * JSON strings holding their compact JSON text, so a client stores them without parsing them
 * into objects (docs/protocol.md, "dataAsText"). */
#include <inttypes.h>

#include "server/sync_text.h"
#include "util/json.h"
#include "util/time.h"

void cairn__sync_text_fields(cairn_text *text, const cairn_storage_record *record)
{
	char created[CAIRN_TIME_TEXT_SIZE];
	char updated[CAIRN_TIME_TEXT_SIZE];
	const char *json = NULL;
	size_t length = 0;

	cairn__time_format(record->created_at, created);
	cairn__time_format(record->updated_at, updated);
	cairn__text_appendf(text, ",\"createdAt\":\"%s\",\"updatedAt\":\"%s\",\"sequence\":\"%"
		PRId64 "\",\"permissions\":", created, updated, record->sequence);
	if (record->permissions && json_object_is_type(record->permissions, json_type_array))
		json = cairn__json_text(record->permissions, &length);
	cairn__text_append_json_string(text, json ? json : "[]");
	/* A text-only record (storage.h changes_text) carries the stored text as it is. */
	json = record->data_text ? record->data_text : record->data &&
		json_object_is_type(record->data, json_type_object) ?
		cairn__json_text(record->data, &length) : NULL;
	if (!json) {
		text->failed = 1;
		return;
	}
	cairn__text_append_cstr(text, ",\"data\":");
	cairn__text_append_json_string(text, json);
}
