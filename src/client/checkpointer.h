/* checkpointer.h: WAL checkpoints on a helper thread (checkpointer.c). */
#ifndef CAIRN_CLIENT_CHECKPOINTER_H
#define CAIRN_CLIENT_CHECKPOINTER_H

#include <sqlite3.h>

typedef struct cairn__checkpointer cairn__checkpointer;

/* Takes over the WAL checkpoints of `db` (a store's connection to the file `path`): after a
 * commit leaves CAIRN__CHECKPOINT_WAKE_PAGES or more in the WAL, a helper thread (started on
 * first need, with its own connection) copies them back into the database file while `db`
 * goes on writing; past CAIRN__CHECKPOINT_BACKSTOP_PAGES, or when no thread can run (a
 * forked child), the committing thread checkpoints itself, as SQLite's autocheckpoint would.
 * NULL *out only on ENOMEM (the caller then keeps SQLite's autocheckpoint). */
int cairn__checkpointer_start(cairn__checkpointer **out, sqlite3 *db, const char *path);
/* Stops the helper (after a checkpoint in progress) and frees everything; NULL is fine.
 * Call before closing `db`. */
void cairn__checkpointer_stop(cairn__checkpointer *checkpointer);

#define CAIRN__CHECKPOINT_WAKE_PAGES 10000
#define CAIRN__CHECKPOINT_BACKSTOP_PAGES 40000
#define CAIRN__CHECKPOINT_BULK_PAGES 64

#endif
