/* batch.c: batched local writes: one transaction around many document writes, each still
 * atomic on its own, with their change listeners held back until the batch commits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"

/* A local change waiting for the commit, to be told to the listeners then. */
typedef struct {
	char op[16];
	char collection[CAIRN_ID_MAX + 1];
	char id[CAIRN_ID_MAX + 1];
} deferred_change;

struct cairn__batch {
	deferred_change *changes;  /* in write order */
	size_t count;
	size_t capacity;
};

static void batch_free(cairn_store *store)
{
	if (!store->batch)
		return;
	free(store->batch->changes);
	free(store->batch);
	store->batch = NULL;
}

int cairn_store_batch_begin(cairn_store *store)
{
	struct cairn__batch *batch;
	int rc;

	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	if (store->batch)
		return cairn__error_set(CAIRN_EINVALID, "a batch is already open on this store "
			"handle: commit or roll it back first");
	batch = calloc(1, sizeof(*batch));
	if (!batch)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory starting a batch");
	rc = cairn__store_begin(store);
	if (rc != 0) {
		free(batch);
		return rc;
	}
	/* The BEGIN belongs to the batch; each write inside runs in a savepoint. */
	store->in_transaction = 0;
	store->batch = batch;
	return 0;
}

static int no_batch(void)
{
	return cairn__error_set(CAIRN_EINVALID, "no batch is open on this store handle "
		"(cairn_store_batch_begin)");
}

int cairn_store_batch_commit(cairn_store *store)
{
	struct cairn__batch *batch;
	int rc;

	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	if (!store->batch)
		return no_batch();
	batch = store->batch;
	/* Detached first: begin/commit/rollback now mean the outer transaction again. */
	store->batch = NULL;
	store->in_transaction = 1;
	rc = cairn__store_commit(store);
	if (rc != 0) {
		cairn__store_rollback(store);
	} else {
		for (size_t i = 0; i < batch->count; i++)
			cairn__listeners_local(store, 0, batch->changes[i].op,
				batch->changes[i].collection, batch->changes[i].id);
	}
	free(batch->changes);
	free(batch);
	return rc;
}

int cairn_store_batch_rollback(cairn_store *store)
{
	if (!store)
		return cairn__error_set(CAIRN_EINVALID, "the store handle is NULL");
	if (!store->batch)
		return no_batch();
	cairn__batch_discard(store);
	return 0;
}

void cairn__batch_discard(cairn_store *store)
{
	if (!store->batch)
		return;
	batch_free(store);
	store->in_transaction = 1;
	cairn__store_rollback(store);
}

int cairn__batch_refuse(cairn_store *store, const char *what)
{
	if (store && store->batch)
		return cairn__error_set(CAIRN_EINVALID, "%s cannot run while a batch is open on "
			"this store handle: commit or roll it back first", what);
	return 0;
}

int cairn__batch_defer_change(cairn_store *store, const char *op, const char *collection,
	const char *id)
{
	struct cairn__batch *batch = store->batch;
	deferred_change *change;

	if (!batch)
		return 0;
	if (batch->count == batch->capacity) {
		size_t capacity = batch->capacity ? batch->capacity * 2 : 64;
		deferred_change *grown = realloc(batch->changes, capacity * sizeof(*grown));

		if (!grown)
			return 1; /* the write itself stands; only its notification is lost */
		batch->changes = grown;
		batch->capacity = capacity;
	}
	change = &batch->changes[batch->count++];
	snprintf(change->op, sizeof(change->op), "%s", op);
	snprintf(change->collection, sizeof(change->collection), "%s", collection);
	snprintf(change->id, sizeof(change->id), "%s", id);
	return 1;
}
