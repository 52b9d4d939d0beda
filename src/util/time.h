/* time.h: wall-clock milliseconds and Appwrite's timestamp format. */
#ifndef CAIRN_UTIL_TIME_H
#define CAIRN_UTIL_TIME_H

#include <stdint.h>

#define CAIRN_TIME_TEXT_SIZE 32

/* Unix time in milliseconds (CLOCK_REALTIME). */
int64_t cairn__time_now_ms(void);
/* Monotonic milliseconds (CLOCK_MONOTONIC), for timeouts and rates. */
int64_t cairn__time_monotonic_ms(void);
/* Writes e.g. "2026-08-21T12:34:56.789+00:00" (UTC, exactly 3 fraction digits). */
void cairn__time_format(int64_t unix_ms, char out[CAIRN_TIME_TEXT_SIZE]);
/* Parses ISO 8601 date-times: "YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)", also a space for 'T'
 * and a bare date "YYYY-MM-DD". Returns 0 and *out in unix ms, or CAIRN_EINVALID. */
int cairn__time_parse(const char *text, int64_t *out);

#endif
