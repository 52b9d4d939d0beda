/* id.h: Appwrite-style ids: validation and offline time-ordered unique ids. */
#ifndef CAIRN_UTIL_ID_H
#define CAIRN_UTIL_ID_H

#include <stddef.h>
#include <stdint.h>

/* Length of a cairn__id_unique id. */
#define CAIRN__ID_UNIQUE_LENGTH 20
/* The largest outbox seq a mutation id carries (15 digits: the id stays within 36 chars). */
#define CAIRN__MUTATION_SEQ_MAX 999999999999999LL
/* Buffer size for a mutation id: 20 + '-' + 15 digits + NUL. */
#define CAIRN__MUTATION_ID_SIZE 37

/* 1 if `id` is 1..36 chars of [A-Za-z0-9._-] not starting with '.', '-' or '_'. */
int cairn__id_valid(const char *id);
/* 20 lower-case hex chars: 8 of unix seconds, 5 of milliseconds, 7 random (28 bits from a
 * per-thread pool filled by getrandom). */
int cairn__id_unique(char *out, size_t out_size);
/* A mutation id for the outbox row `seq`: a cairn__id_unique id, '-', then seq in decimal
 * ("65f0c1aa003e81b2c4d5-42"), so finding the row by its id is a lookup by seq. A seq outside
 * 1..CAIRN__MUTATION_SEQ_MAX gives the plain unique id (found by the slower path, like the ids
 * of stores older than schema 3). */
int cairn__mutation_id(char *out, size_t out_size, int64_t seq);
/* The outbox seq a mutation id carries, or 0 when it carries none (an older id). */
int64_t cairn__mutation_id_seq(const char *id);

#endif
