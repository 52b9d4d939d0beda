/* id.c: Appwrite id rules and offline, time-ordered unique ids (and the outbox's mutation
 * ids, which also carry their row's seq). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util/error.h"
#include "util/id.h"
#include "util/time.h"

/* Random bytes come from a per-thread pool refilled 256 bytes at a time: one getrandom per
 * 64 ids instead of one per id (a local write issues one). A forked child gets a copy of the
 * forking thread's pool, so it throws that away (atfork) rather than repeat its parent's
 * bytes. */
#define RANDOM_POOL_SIZE 256

static _Thread_local unsigned char random_pool[RANDOM_POOL_SIZE];
static _Thread_local size_t random_left;
static pthread_once_t random_once = PTHREAD_ONCE_INIT;
/* The last id's millisecond and low bits on this thread: ids of one millisecond count up from
 * a random start, so a burst of ids (thousands fit in a millisecond) never repeats one,
 * where 28 fresh random bits each would (about a 5% chance among 5,000). */
static _Thread_local int64_t last_ms = -1;
static _Thread_local uint32_t last_bits;

static void random_forget(void)
{
	memset(random_pool, 0, sizeof(random_pool));
	random_left = 0;
	last_ms = -1;
}

static void random_register_atfork(void)
{
	pthread_atfork(NULL, NULL, random_forget);
}

static int random_refill(void)
{
	size_t filled = 0;

	while (filled < sizeof(random_pool)) {
		ssize_t got = getrandom(random_pool + filled, sizeof(random_pool) - filled, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return cairn__error_set(CAIRN_ERROR, "getrandom failed: %s", strerror(errno));
		}
		filled += (size_t)got;
	}
	random_left = sizeof(random_pool);
	return 0;
}

/* `size` (<= RANDOM_POOL_SIZE) fresh random bytes; each pool byte is handed out once. */
static int random_take(void *out, size_t size)
{
	int rc;

	pthread_once(&random_once, random_register_atfork);
	if (random_left < size && (rc = random_refill()) != 0)
		return rc;
	memcpy(out, random_pool + sizeof(random_pool) - random_left, size);
	memset(random_pool + sizeof(random_pool) - random_left, 0, size);
	random_left -= size;
	return 0;
}

int cairn__id_valid(const char *id)
{
	size_t length;

	if (!id)
		return 0;
	length = strlen(id);
	if (length == 0 || length > CAIRN_ID_MAX)
		return 0;
	if (id[0] == '.' || id[0] == '-' || id[0] == '_')
		return 0;
	for (size_t i = 0; i < length; i++) {
		char c = id[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '-' || c == '_';
		if (!ok)
			return 0;
	}
	return 1;
}

int cairn__id_unique(char *out, size_t out_size)
{
	int64_t now = cairn__time_now_ms();
	uint32_t random_bits;
	int rc;

	if (!out || out_size < 21)
		return cairn__error_set(CAIRN_EINVALID, "id buffer must hold at least 21 bytes");
	pthread_once(&random_once, random_register_atfork);
	if (now == last_ms) {
		random_bits = (last_bits + 1) & 0xfffffffu;
	} else {
		rc = random_take(&random_bits, sizeof(random_bits));
		if (rc != 0)
			return rc;
		last_ms = now;
	}
	last_bits = random_bits;
	snprintf(out, out_size, "%08llx%05x%07x", (unsigned long long)(now / 1000) & 0xffffffffULL,
		(unsigned)(now % 1000), random_bits & 0xfffffffu);
	return 0;
}

int cairn__mutation_id(char *out, size_t out_size, int64_t seq)
{
	int rc;

	if (!out || out_size < CAIRN__MUTATION_ID_SIZE)
		return cairn__error_set(CAIRN_EINVALID, "a mutation id buffer must hold at least %d "
			"bytes", CAIRN__MUTATION_ID_SIZE);
	rc = cairn__id_unique(out, out_size);
	if (rc != 0 || seq <= 0 || seq > CAIRN__MUTATION_SEQ_MAX)
		return rc;
	snprintf(out + CAIRN__ID_UNIQUE_LENGTH, out_size - CAIRN__ID_UNIQUE_LENGTH, "-%lld",
		(long long)seq);
	return 0;
}

int64_t cairn__mutation_id_seq(const char *id)
{
	int64_t seq = 0;
	size_t digits;

	if (!id)
		return 0;
	for (size_t i = 0; i < CAIRN__ID_UNIQUE_LENGTH; i++) {
		char c = id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	id += CAIRN__ID_UNIQUE_LENGTH;
	if (id[0] != '-' || id[1] < '1' || id[1] > '9')
		return 0;
	for (digits = 1; id[digits]; digits++) {
		if (id[digits] < '0' || id[digits] > '9' || digits > 15)
			return 0;
		seq = seq * 10 + (id[digits] - '0');
	}
	return seq;
}

int cairn_id_valid(const char *id)
{
	return cairn__id_valid(id);
}

int cairn_id_unique(char *out, size_t out_size)
{
	return cairn__id_unique(out, out_size);
}
