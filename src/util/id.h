/* id.h: Appwrite-style ids: validation and offline time-ordered unique ids. */
#ifndef CAIRN_UTIL_ID_H
#define CAIRN_UTIL_ID_H

#include <stddef.h>

/* 1 if `id` is 1..36 chars of [A-Za-z0-9._-] not starting with '.', '-' or '_'. */
int cairn__id_valid(const char *id);
/* 20 lower-case hex chars: 8 of unix seconds, 5 of milliseconds, 7 random (getrandom). */
int cairn__id_unique(char *out, size_t out_size);

#endif
