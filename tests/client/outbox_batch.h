/* outbox_batch.h: a push batch read from the outbox, for the tests of push results. */
#ifndef CAIRN_TESTS_CLIENT_OUTBOX_BATCH_H
#define CAIRN_TESTS_CLIENT_OUTBOX_BATCH_H

#include "client/client_test.h"
#include "client/store_int.h"

typedef struct {
	cairn__mutation *mutations;
	size_t count;
} batch;

/* The first `limit` pending mutations, as a push reads them. */
static inline void load(batch *b, client_env *env, size_t limit)
{
	assert_int_equal(cairn__outbox_load_batch(&b->mutations, &b->count, env->store, limit), 0);
}

static inline void unload(batch *b)
{
	cairn__mutations_free(b->mutations, b->count);
	b->mutations = NULL;
	b->count = 0;
}

#endif
