/* listeners.c: change listeners per store file (collection, document or all), fired after
 * commits of local writes and pulled pages, and live queries built on them. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"
#include "util/json.h"

/*
 * The registry is process-wide and keyed by the store's file path, so a listener added on
 * the app's handle also hears the replicator thread's pulls (made on its own handle). One
 * recursive lock guards it and is held while callbacks run: a callback may add or remove
 * listeners on its own thread, and cairn_store_unlisten on another thread waits for a
 * running callback, so after it returns the payload may be freed.
 */

typedef struct listener {
	struct listener *next;
	uint64_t token;
	char *path;
	char *collection;          /* NULL: every collection */
	char *id;                  /* NULL: every document */
	cairn_change_cb callback;
	void *payload;
} listener;

static pthread_mutex_t registry_lock;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static listener *registry;
static uint64_t next_token = 1;
static atomic_int listener_count; /* lets writes skip the lock when nobody listens */

static void registry_init(void)
{
	pthread_mutexattr_t attributes;

	pthread_mutexattr_init(&attributes);
	pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&registry_lock, &attributes);
	pthread_mutexattr_destroy(&attributes);
}

static void lock(void)
{
	pthread_once(&registry_once, registry_init);
	pthread_mutex_lock(&registry_lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&registry_lock);
}

static const char *store_path(cairn_store *store)
{
	const char *path = store && store->db ? sqlite3_db_filename(store->db, "main") : NULL;

	return path ? path : "";
}

static void listener_free(listener *l)
{
	free(l->path);
	free(l->collection);
	free(l->id);
	free(l);
}

int cairn_store_listen(uint64_t *out_token, cairn_store *store, const char *collection,
	const char *id, cairn_change_cb callback, void *payload)
{
	listener *l;

	if (!out_token || !store || !callback)
		return cairn__error_set(CAIRN_EINVALID, "cairn_store_listen needs a token pointer, "
			"a store and a callback");
	if (id && !collection)
		return cairn__error_set(CAIRN_EINVALID, "a document listener needs its collection");
	l = calloc(1, sizeof(*l));
	if (!l || !(l->path = strdup(store_path(store))) ||
		(collection && !(l->collection = strdup(collection))) ||
		(id && !(l->id = strdup(id)))) {
		if (l)
			listener_free(l);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory adding a listener");
	}
	l->callback = callback;
	l->payload = payload;
	lock();
	l->token = next_token++;
	l->next = registry;
	registry = l;
	atomic_fetch_add(&listener_count, 1);
	*out_token = l->token;
	unlock();
	return 0;
}

int cairn_store_unlisten(cairn_store *store, uint64_t token)
{
	listener **at;

	(void)store;
	lock();
	for (at = &registry; *at; at = &(*at)->next) {
		if ((*at)->token == token) {
			listener *gone = *at;

			*at = gone->next;
			atomic_fetch_sub(&listener_count, 1);
			unlock();
			listener_free(gone);
			return 0;
		}
	}
	unlock();
	return cairn__error_set(CAIRN_ENOTFOUND, "no listener with token %llu",
		(unsigned long long)token);
}

/* Calls every listener of `path` that matches. Tokens are re-checked one by one, so a
 * callback that removes another listener (or itself) is safe. */
static void fire(const char *path, const cairn_change *change)
{
	uint64_t tokens[64];
	size_t count = 0, i;
	uint64_t high_water;
	listener *l;

	lock();
	high_water = next_token; /* listeners added by a callback wait for the next change */
	for (l = registry; l; l = l->next) {
		if (strcmp(l->path, path) != 0 ||
			(l->collection && strcmp(l->collection, change->collection) != 0) ||
			(l->id && strcmp(l->id, change->id) != 0))
			continue;
		if (count < sizeof(tokens) / sizeof(tokens[0]))
			tokens[count++] = l->token;
	}
	for (i = 0; i < count; i++) {
		for (l = registry; l && l->token != tokens[i]; l = l->next)
			;
		if (l && l->token < high_water)
			l->callback(change, l->payload);
	}
	unlock();
}

static int any_listener(const char *path)
{
	listener *l;
	int found = 0;

	lock();
	for (l = registry; l && !found; l = l->next)
		found = strcmp(l->path, path) == 0;
	unlock();
	return found;
}

void cairn__listeners_local(cairn_store *store, int rc, const char *op, const char *collection,
	const char *id)
{
	cairn_change change;
	const char *path;

	if (rc != 0 || atomic_load(&listener_count) == 0)
		return;
	if (cairn__batch_defer_change(store, op, collection, id))
		return; /* told when the batch commits */
	path = store_path(store);
	if (!any_listener(path))
		return;
	change.collection = collection;
	change.id = id;
	change.deleted = strcmp(op, "delete") == 0;
	change.source = CAIRN_CHANGE_LOCAL;
	fire(path, &change);
}

void cairn__listeners_view(cairn_store *store, const char *collection, const char *id,
	int deleted, cairn_change_source source)
{
	cairn_change change;
	const char *path;

	if (atomic_load(&listener_count) == 0)
		return;
	path = store_path(store);
	if (!any_listener(path))
		return;
	change.collection = collection;
	change.id = id;
	change.deleted = deleted;
	change.source = source;
	fire(path, &change);
}

void cairn__listeners_pulled(cairn_store *store, int rc, json_object *changes)
{
	const char *path;
	size_t i;

	if (rc != 0 || atomic_load(&listener_count) == 0 || !changes)
		return;
	path = store_path(store);
	if (!any_listener(path))
		return;
	for (i = 0; i < json_object_array_length(changes); i++) {
		json_object *item = json_object_array_get_idx(changes, i);
		cairn_change change;
		int purge = 0;

		change.source = CAIRN_CHANGE_REMOTE;
		change.deleted = 0;
		if (!cairn__json_get_string(item, "collection", &change.collection) ||
			!cairn__json_get_string(item, "id", &change.id))
			continue;
		cairn__json_get_bool(item, "deleted", &change.deleted);
		cairn__json_get_bool(item, "purge", &purge);
		if (purge) {
			change.source = CAIRN_CHANGE_PURGED;
			change.deleted = 1;
		}
		fire(path, &change);
	}
}

/* ---- live queries ---- */

struct cairn_live_query {
	cairn_store *store;        /* its own handle on the file */
	char *collection;
	char **queries;
	size_t query_count;
	cairn_live_query_cb callback;
	void *payload;
	uint64_t token;
	pthread_mutex_t lock;      /* the handle is used by one thread at a time */
};

static void live_run(cairn_live_query *query)
{
	char *results = NULL;

	pthread_mutex_lock(&query->lock);
	if (cairn_doc_query(&results, query->store, query->collection,
		(const char *const *)query->queries, query->query_count) == 0)
		query->callback(results, query->payload);
	cairn_free(results);
	pthread_mutex_unlock(&query->lock);
}

static void live_changed(const cairn_change *change, void *payload)
{
	(void)change;
	live_run(payload);
}

void cairn_live_query_stop(cairn_live_query *query)
{
	size_t i;

	if (!query)
		return;
	if (query->token)
		cairn_store_unlisten(query->store, query->token);
	cairn_store_free(query->store);
	for (i = 0; i < query->query_count; i++)
		free(query->queries[i]);
	free(query->queries);
	free(query->collection);
	pthread_mutex_destroy(&query->lock);
	free(query);
}

int cairn_live_query_start(cairn_live_query **out, cairn_store *store, const char *collection,
	const char *const *queries, size_t query_count, cairn_live_query_cb callback, void *payload)
{
	cairn_live_query *query;
	size_t i;
	int rc;

	if (!out || !store || !collection || !callback || (query_count && !queries))
		return cairn__error_set(CAIRN_EINVALID, "cairn_live_query_start needs an out pointer, "
			"a store, a collection and a callback");
	*out = NULL;
	query = calloc(1, sizeof(*query));
	if (!query)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	pthread_mutex_init(&query->lock, NULL);
	query->callback = callback;
	query->payload = payload;
	query->collection = strdup(collection);
	query->queries = query_count ? calloc(query_count, sizeof(char *)) : NULL;
	if (!query->collection || (query_count && !query->queries)) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto failed;
	}
	for (i = 0; i < query_count; i++) {
		if (!(query->queries[i] = strdup(queries[i]))) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			goto failed;
		}
		query->query_count++;
	}
	rc = cairn_store_open(&query->store, store_path(store), &store->options);
	if (rc != 0)
		goto failed;
	/* A bad query fails here, not later on another thread. */
	{
		char *results = NULL;

		rc = cairn_doc_query(&results, query->store, collection,
			(const char *const *)query->queries, query->query_count);
		cairn_free(results);
		if (rc != 0)
			goto failed;
	}
	rc = cairn_store_listen(&query->token, store, collection, NULL, live_changed, query);
	if (rc != 0)
		goto failed;
	live_run(query);
	*out = query;
	return 0;
failed:
	cairn_live_query_stop(query);
	return rc;
}
