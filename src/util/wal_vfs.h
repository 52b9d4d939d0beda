/* wal_vfs.h: the "cairn" SQLite VFS (one write per commit's WAL frames; wal_vfs.c). */
#ifndef CAIRN_UTIL_WAL_VFS_H
#define CAIRN_UTIL_WAL_VFS_H

#include <stdint.h>

#include <sqlite3.h>

#define CAIRN_WAL_VFS "cairn-wal"

/* Registers the VFS once (not as the default) and returns its name for sqlite3_open_v2, or
 * NULL if the system's default VFS cannot be wrapped: then open with the default (NULL). */
const char *cairn__wal_vfs(void);

/* How many writes reached WAL files through this VFS so far (all connections; for tests). */
uint64_t cairn__wal_vfs_writes(void);

#endif
