/* sync_text.h: the text form of sync data: a pulled change's fields as JSON text, and the
 * check of a pushed `data` text (sync_text.c). */
#ifndef CAIRN_SERVER_SYNC_TEXT_H
#define CAIRN_SERVER_SYNC_TEXT_H

#include <stddef.h>

#include "server/models.h"
#include "storage/storage.h"

/* Appends `,"createdAt":…,"updatedAt":…,"sequence":"N","permissions":"[…]","data":"{…}"` for
 * a live record: the permissions and user fields as strings holding their compact JSON. Sets
 * text->failed when the record has no data object. */
void cairn__sync_text_fields(cairn_text *text, const cairn_storage_record *record);

/* Checks pushed `data` texts (a push with "dataAsText": true) without building a tree: SQLite's
 * json_valid() on a private in-memory connection, then one pass over the text. Opened per
 * push request; not shared between threads. */
typedef struct cairn_sync_text_checker cairn_sync_text_checker;

/* Opens a checker into *out. 0 or CAIRN_ENOMEM. */
int cairn__sync_text_checker_open(cairn_sync_text_checker **out);
/* Frees it. NULL: no-op. */
void cairn__sync_text_checker_free(cairn_sync_text_checker *checker);

/* 1 when `text` (`length` bytes) may be stored as it is for a put's user fields: valid JSON
 * (json_valid), a JSON object opening at its first byte, compact (no white space outside
 * strings), no key starting with '$' at its top, no key twice in one object and no key
 * with an escape in it, at most CAIRN_JSON_MAX_DEPTH levels deep, at most `max_bytes`
 * long, no NUL byte. 0 otherwise: the caller parses it (json-c) and treats the tree as it
 * treats an object `data`, so that every unusual text gets exactly the old handling and the
 * old errors. */
int cairn__sync_text_plain(cairn_sync_text_checker *checker, const char *text, size_t length,
	size_t max_bytes);

#endif
