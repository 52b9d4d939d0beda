/* ratelimit.c: fixed-window hit counters per key in a mutex-guarded hash table. */
#include "server/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define BUCKETS 1024

typedef struct entry {
	char *key;
	int64_t window_start; /* unix ms of the window's first hit */
	unsigned hits;
	struct entry *next;
} entry;

struct cairn_ratelimit {
	pthread_mutex_t lock;  /* guards everything below */
	unsigned limit;
	int64_t window_ms;
	size_t count;
	entry *buckets[BUCKETS];
};

static size_t bucket_of(const char *key)
{
	uint64_t hash = 1469598103934665603ull; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		hash = (hash ^ *p) * 1099511628211ull;
	return (size_t)(hash % BUCKETS);
}

int cairn__ratelimit_new(cairn_ratelimit **out, unsigned limit, int64_t window_ms)
{
	cairn_ratelimit *limiter;

	*out = NULL;
	if (limit == 0 || window_ms <= 0)
		return cairn__error_set(CAIRN_EINVALID, "a rate limit needs a limit and a window");
	limiter = calloc(1, sizeof(*limiter));
	if (!limiter)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory creating a rate limiter");
	pthread_mutex_init(&limiter->lock, NULL);
	limiter->limit = limit;
	limiter->window_ms = window_ms;
	*out = limiter;
	return 0;
}

static void entry_free(entry *e)
{
	free(e->key);
	free(e);
}

void cairn__ratelimit_free(cairn_ratelimit *limiter)
{
	if (!limiter)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		entry *e = limiter->buckets[i];
		while (e) {
			entry *next = e->next;
			entry_free(e);
			e = next;
		}
	}
	pthread_mutex_destroy(&limiter->lock);
	free(limiter);
}

/* The entry of `key` with a current window, or NULL (an expired one is removed). */
static entry *find(cairn_ratelimit *limiter, const char *key, int64_t now_ms)
{
	entry **link = &limiter->buckets[bucket_of(key)];

	for (; *link; link = &(*link)->next) {
		entry *e = *link;
		if (strcmp(e->key, key) != 0)
			continue;
		if (now_ms - e->window_start < limiter->window_ms)
			return e;
		*link = e->next;
		entry_free(e);
		limiter->count--;
		return NULL;
	}
	return NULL;
}

/* Makes room: drops expired windows, and if none were, the oldest one. */
static void prune(cairn_ratelimit *limiter, int64_t now_ms)
{
	entry **oldest = NULL;

	for (size_t i = 0; i < BUCKETS; i++) {
		entry **link = &limiter->buckets[i];
		while (*link) {
			entry *e = *link;
			if (now_ms - e->window_start >= limiter->window_ms) {
				*link = e->next;
				entry_free(e);
				limiter->count--;
				continue;
			}
			if (!oldest || e->window_start < (*oldest)->window_start)
				oldest = link;
			link = &e->next;
		}
	}
	if (limiter->count >= CAIRN_RATELIMIT_MAX_KEYS && oldest) {
		entry *e = *oldest;
		*oldest = e->next;
		entry_free(e);
		limiter->count--;
	}
}

int cairn__ratelimit_blocked(cairn_ratelimit *limiter, const char *key, int64_t now_ms,
	int64_t *retry_ms)
{
	entry *e;
	int blocked = 0;

	if (retry_ms)
		*retry_ms = 0;
	if (!limiter || !key)
		return 0;
	pthread_mutex_lock(&limiter->lock);
	e = find(limiter, key, now_ms);
	if (e && e->hits >= limiter->limit) {
		blocked = 1;
		if (retry_ms)
			*retry_ms = e->window_start + limiter->window_ms - now_ms;
	}
	pthread_mutex_unlock(&limiter->lock);
	return blocked;
}

void cairn__ratelimit_hit(cairn_ratelimit *limiter, const char *key, int64_t now_ms)
{
	entry *e;

	if (!limiter || !key)
		return;
	pthread_mutex_lock(&limiter->lock);
	e = find(limiter, key, now_ms);
	if (!e) {
		if (limiter->count >= CAIRN_RATELIMIT_MAX_KEYS)
			prune(limiter, now_ms);
		e = calloc(1, sizeof(*e));
		if (e && !(e->key = strdup(key))) {
			free(e);
			e = NULL;
		}
		if (e) { /* out of memory: the hit is not counted */
			size_t bucket = bucket_of(key);
			e->window_start = now_ms;
			e->next = limiter->buckets[bucket];
			limiter->buckets[bucket] = e;
			limiter->count++;
		}
	}
	if (e && e->hits < limiter->limit)
		e->hits++;
	pthread_mutex_unlock(&limiter->lock);
}

void cairn__ratelimit_reset(cairn_ratelimit *limiter, const char *key)
{
	entry **link;

	if (!limiter || !key)
		return;
	pthread_mutex_lock(&limiter->lock);
	for (link = &limiter->buckets[bucket_of(key)]; *link; link = &(*link)->next) {
		entry *e = *link;
		if (strcmp(e->key, key) == 0) {
			*link = e->next;
			entry_free(e);
			limiter->count--;
			break;
		}
	}
	pthread_mutex_unlock(&limiter->lock);
}
