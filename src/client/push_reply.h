/* push_reply.h: a push reply made only of slim acknowledgements, read without json-c. */
#ifndef CAIRN_CLIENT_PUSH_REPLY_H
#define CAIRN_CLIENT_PUSH_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "util/time.h"

/* One "applied" result with "asPushed": true and a document of `$` attributes whose
 * permissions are [] (protocol.md, "Slim acks"). Empty strings: attributes that were absent. */
typedef struct cairn__push_ack {
	char mutation_id[64];
	int64_t version;
	char created_at[CAIRN_TIME_TEXT_SIZE];
	char updated_at[CAIRN_TIME_TEXT_SIZE];
	char sequence[32];
	int has_sequence;          /* 0: no "$sequence" */
} cairn__push_ack;

/*
 * Reads `text` (`length` bytes) when it is exactly {"results":[...]} of such results, each
 * string plain printable ASCII without escapes, each key once: 1 and *out (caller frees) with
 * *count results, and *data_as_text 1 when the reply says "dataAsText": true. 0 (nothing allocated) for anything else, which the caller parses with
 * json-c as before: this reader only takes the common reply faster, it never decides what a
 * reply means. CAIRN_ENOMEM when out of memory.
 */
int cairn__push_reply_read(cairn__push_ack **out, size_t *count, int *data_as_text,
	const char *text, size_t length);

#endif
