/* ratelimit.h: in-memory fixed-window failure counters by key (failed logins per email and
 * per client address). Thread-safe. */
#ifndef CAIRN_SERVER_RATELIMIT_H
#define CAIRN_SERVER_RATELIMIT_H

#include <stdint.h>

typedef struct cairn_ratelimit cairn_ratelimit;

#define CAIRN_RATELIMIT_MAX_KEYS 65536 /* beyond this, expired windows are dropped, then the
                                        * oldest window goes */

/* At most `limit` hits per key in each window of `window_ms` that starts at a key's first
 * hit. Returns 0 or CAIRN_ENOMEM / CAIRN_EINVALID (limit 0 or window <= 0). */
int cairn__ratelimit_new(cairn_ratelimit **out, unsigned limit, int64_t window_ms);
void cairn__ratelimit_free(cairn_ratelimit *limiter);

/* 1 when `key` already has `limit` hits in its current window (the caller refuses), else 0.
 * `*retry_ms` (optional) gets the time until the window ends. */
int cairn__ratelimit_blocked(cairn_ratelimit *limiter, const char *key, int64_t now_ms,
	int64_t *retry_ms);
/* Counts one hit (a failure) for `key`. */
void cairn__ratelimit_hit(cairn_ratelimit *limiter, const char *key, int64_t now_ms);
/* Forgets `key`'s hits (a successful login for that account). */
void cairn__ratelimit_reset(cairn_ratelimit *limiter, const char *key);

#endif
