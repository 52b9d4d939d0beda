/* checkpointer.c: moves a store's WAL checkpoints off the thread that writes. Copying the WAL
 * back into the database file was 9% of a single put's time and 16% of applying pulled pages
 * on the writing thread; a helper thread with its own connection does it beside the writer
 * (SQLite's PASSIVE checkpoint never blocks readers or writers). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/checkpointer.h"

struct cairn__checkpointer {
	sqlite3 *db;             /* the store's connection (borrowed) */
	char *path;
	pid_t owner;             /* the process whose thread this is: a forked child has none */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	int started;             /* the thread runs */
	int requested;           /* a checkpoint is wanted */
	int stopping;
	int failed;              /* the thread could not start or open: checkpoint inline */
	int last_pages;          /* the WAL's size after the previous commit */
};

/* The helper's own connection: checkpoints need no page cache. */
static sqlite3 *open_connection(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		SQLITE_OK) {
		sqlite3_close_v2(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 100);
	sqlite3_exec(db, "PRAGMA cache_size = 16", NULL, NULL, NULL);
	return db;
}

static void *checkpoint_main(void *arg)
{
	cairn__checkpointer *c = arg;
	sqlite3 *db = open_connection(c->path);

	pthread_mutex_lock(&c->lock);
	if (!db)
		c->failed = 1;
	while (db && !c->stopping) {
		while (!c->requested && !c->stopping)
			pthread_cond_wait(&c->wake, &c->lock);
		if (c->stopping)
			break;
		c->requested = 0;
		pthread_mutex_unlock(&c->lock);
		/* Busy (another connection checkpoints) or failed: the next commit asks again. */
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	sqlite3_close_v2(db);
	return NULL;
}

/* 1 when the helper took the request; 0: checkpoint on this thread. */
static int hand_over(cairn__checkpointer *c)
{
	int taken;

	if (getpid() != c->owner)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (!c->started && !c->failed) {
		if (pthread_create(&c->thread, NULL, checkpoint_main, c) == 0)
			c->started = 1;
		else
			c->failed = 1;
	}
	taken = c->started && !c->failed;
	if (taken) {
		c->requested = 1;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
	return taken;
}

/*
 * Only bulk commits (a pulled page, an acknowledged batch: many pages each) hand the copy to
 * the helper; a run of small commits (single puts) checkpoints inline, as SQLite would:
 * measured, a helper copying beside a stream of single puts made them 7% slower, while
 * beside pulled pages it made the pull 10% faster.
 */
static int wal_committed(void *arg, sqlite3 *db, const char *name, int pages)
{
	cairn__checkpointer *c = arg;
	int bulk = pages - c->last_pages >= CAIRN__CHECKPOINT_BULK_PAGES;

	c->last_pages = pages;
	if (pages < CAIRN__CHECKPOINT_WAKE_PAGES)
		return SQLITE_OK;
	if (pages >= CAIRN__CHECKPOINT_BACKSTOP_PAGES || !bulk || !hand_over(c))
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

int cairn__checkpointer_start(cairn__checkpointer **out, sqlite3 *db, const char *path)
{
	cairn__checkpointer *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c || !(c->path = strdup(path))) {
		free(c);
		return -1;
	}
	c->db = db;
	c->owner = getpid();
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	sqlite3_wal_hook(db, wal_committed, c);
	*out = c;
	return 0;
}

void cairn__checkpointer_stop(cairn__checkpointer *c)
{
	if (!c)
		return;
	sqlite3_wal_hook(c->db, NULL, NULL);
	if (getpid() == c->owner) {
		pthread_mutex_lock(&c->lock);
		c->stopping = 1;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		if (c->started)
			pthread_join(c->thread, NULL);
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
	}
	/* In a forked child the parent's thread does not exist and its lock may be held. */
	free(c->path);
	free(c);
}
