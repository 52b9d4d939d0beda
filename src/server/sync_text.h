/* sync_text.h: the text form of a pulled change (sync_text.c). */
#ifndef CAIRN_SERVER_SYNC_TEXT_H
#define CAIRN_SERVER_SYNC_TEXT_H

#include "server/models.h"
#include "storage/storage.h"

/* Appends `,"createdAt":…,"updatedAt":…,"sequence":"N","permissions":"[…]","data":"{…}"` for
 * a live record: the permissions and user fields as strings holding their compact JSON. Sets
 * text->failed when the record has no data object. */
void cairn__sync_text_fields(cairn_text *text, const cairn_storage_record *record);

#endif
