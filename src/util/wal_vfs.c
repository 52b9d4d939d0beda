/* wal_vfs.c: the "cairn" SQLite VFS: the system's default VFS, except that the frames one
 * commit appends to a WAL file reach the kernel in one write instead of two per page. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/wal_vfs.h"

/*
 * SQLite writes each WAL frame as two writes (a 24-byte header, then the page), so a commit
 * of 5 pages costs 10 pwrite calls, and the kernel's per-call cost (locking the inode,
 * looking up the page cache) was a third of a single local put's time. This VFS keeps the
 * appends of a WAL file in a buffer while they follow each other, and writes the buffer
 * with one call:
 * - when the page of a commit frame (a header whose "database size after commit" field is
 *   not zero) has been appended: the commit is then in the file before SQLite goes on to
 *   publish it in the wal-index, exactly as without the buffer;
 * - before anything that reads, syncs, truncates or sizes the file, before a write that is
 *   not an append to the buffer (SQLite rewrites a frame in place), when the buffer would
 *   pass WAL_BUFFER_MAX (64 KiB), and on close.
 * Nothing is acknowledged to SQLite as durable that is not in the file: a process killed
 * with frames still buffered loses only an uncommitted transaction, which recovery ignores
 * anyway (frames after the last commit frame are never valid). A write error is reported
 * by the call that flushes.
 */

#define WAL_FRAME_HEADER 24
/* At most this much is held and written at once: the unix VFS writes no more than 128 KiB
 * per call (os_unix.c masks the length with 0x1ffff), and 64 KiB already makes the
 * per-call cost negligible for a bulk commit. */
#define WAL_BUFFER_MAX (64u * 1024u)

typedef struct {
	sqlite3_file base;       /* pMethods: wal_methods */
	sqlite3_file *real;      /* the default VFS's file, right after this struct */
	unsigned char *buffer;   /* appends not yet written */
	size_t length;
	sqlite3_int64 offset;    /* file offset of buffer[0] */
	int commit_pending;      /* the last append was a commit frame's header */
} wal_file;

static sqlite3_vfs cairn_vfs;
static sqlite3_vfs *default_vfs;
static uint64_t writes; /* to WAL files, by every connection (cairn__wal_vfs_writes) */

static int write_through(wal_file *file, const void *data, int amount, sqlite3_int64 offset)
{
	__atomic_add_fetch(&writes, 1, __ATOMIC_RELAXED);
	return file->real->pMethods->xWrite(file->real, data, amount, offset);
}

static int flush(wal_file *file)
{
	int rc;

	if (file->length == 0)
		return SQLITE_OK;
	rc = write_through(file, file->buffer, (int)file->length, file->offset);
	file->length = 0;
	file->commit_pending = 0;
	return rc;
}

/* The buffer is made on first need, at its largest size; 0 if there is no memory. */
static int reserve(wal_file *file)
{
	if (!file->buffer)
		file->buffer = malloc(WAL_BUFFER_MAX);
	return file->buffer != NULL;
}

/* A frame header names the commit that ends with its page when bytes 4..7 are not zero. */
static int commit_header(const void *data, int amount)
{
	const unsigned char *bytes = data;

	return amount == WAL_FRAME_HEADER && (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

static int wal_write(sqlite3_file *base, const void *data, int amount, sqlite3_int64 offset)
{
	wal_file *file = (wal_file *)base;
	int appends = file->length > 0 && offset == file->offset + (sqlite3_int64)file->length;
	int rc;

	if (amount <= 0)
		return write_through(file, data, amount, offset);
	if (!appends && (rc = flush(file)) != SQLITE_OK)
		return rc;
	if (file->length + (size_t)amount > WAL_BUFFER_MAX || !reserve(file)) {
		/* Too much (or no memory) to hold: what is held goes first, then this. */
		if ((rc = flush(file)) != SQLITE_OK)
			return rc;
		return write_through(file, data, amount, offset);
	}
	if (file->length == 0)
		file->offset = offset;
	memcpy(file->buffer + file->length, data, (size_t)amount);
	file->length += (size_t)amount;
	if (file->commit_pending)
		return flush(file); /* the commit frame's page: the commit is complete */
	file->commit_pending = commit_header(data, amount);
	return SQLITE_OK;
}

static int wal_close(sqlite3_file *base)
{
	wal_file *file = (wal_file *)base;
	int rc = flush(file);
	int closed = file->real->pMethods ? file->real->pMethods->xClose(file->real) : SQLITE_OK;

	free(file->buffer);
	file->buffer = NULL;
	return rc != SQLITE_OK ? rc : closed;
}

static int wal_read(sqlite3_file *base, void *data, int amount, sqlite3_int64 offset)
{
	wal_file *file = (wal_file *)base;
	int rc = flush(file);

	return rc != SQLITE_OK ? rc : file->real->pMethods->xRead(file->real, data, amount,
		offset);
}

static int wal_truncate(sqlite3_file *base, sqlite3_int64 size)
{
	wal_file *file = (wal_file *)base;
	int rc = flush(file);

	return rc != SQLITE_OK ? rc : file->real->pMethods->xTruncate(file->real, size);
}

static int wal_sync(sqlite3_file *base, int flags)
{
	wal_file *file = (wal_file *)base;
	int rc = flush(file);

	return rc != SQLITE_OK ? rc : file->real->pMethods->xSync(file->real, flags);
}

static int wal_file_size(sqlite3_file *base, sqlite3_int64 *size)
{
	wal_file *file = (wal_file *)base;
	int rc = flush(file);

	return rc != SQLITE_OK ? rc : file->real->pMethods->xFileSize(file->real, size);
}

static int wal_lock(sqlite3_file *base, int level)
{
	wal_file *file = (wal_file *)base;

	return file->real->pMethods->xLock(file->real, level);
}

static int wal_unlock(sqlite3_file *base, int level)
{
	wal_file *file = (wal_file *)base;

	return file->real->pMethods->xUnlock(file->real, level);
}

static int wal_check_reserved(sqlite3_file *base, int *out)
{
	wal_file *file = (wal_file *)base;

	return file->real->pMethods->xCheckReservedLock(file->real, out);
}

static int wal_file_control(sqlite3_file *base, int op, void *arg)
{
	wal_file *file = (wal_file *)base;
	int rc = flush(file);

	return rc != SQLITE_OK ? rc : file->real->pMethods->xFileControl(file->real, op, arg);
}

static int wal_sector_size(sqlite3_file *base)
{
	wal_file *file = (wal_file *)base;

	return file->real->pMethods->xSectorSize(file->real);
}

static int wal_device_characteristics(sqlite3_file *base)
{
	wal_file *file = (wal_file *)base;

	return file->real->pMethods->xDeviceCharacteristics(file->real);
}

/* Version 1 methods: SQLite never maps or shares memory through a WAL file. */
static const sqlite3_io_methods wal_methods = {
	1,
	wal_close,
	wal_read,
	wal_write,
	wal_truncate,
	wal_sync,
	wal_file_size,
	wal_lock,
	wal_unlock,
	wal_check_reserved,
	wal_file_control,
	wal_sector_size,
	wal_device_characteristics,
	NULL, NULL, NULL, NULL, NULL, NULL,
};

/* A WAL file is wrapped; every other file is the default VFS's own, opened in place. */
static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *base, int flags,
	int *out_flags)
{
	wal_file *file = (wal_file *)base;
	int rc;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_WAL))
		return default_vfs->xOpen(default_vfs, name, base, flags, out_flags);
	memset(file, 0, sizeof(*file));
	file->real = (sqlite3_file *)(file + 1);
	rc = default_vfs->xOpen(default_vfs, name, file->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite calls xClose only when pMethods is set; the real file cleaned up. */
		file->base.pMethods = NULL;
		return rc;
	}
	file->base.pMethods = &wal_methods;
	return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return default_vfs->xDelete(default_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return default_vfs->xAccess(default_vfs, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out)
{
	(void)vfs;
	return default_vfs->xFullPathname(default_vfs, name, size, out);
}

static void *vfs_dl_open(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return default_vfs->xDlOpen(default_vfs, name);
}

static void vfs_dl_error(sqlite3_vfs *vfs, int size, char *out)
{
	(void)vfs;
	default_vfs->xDlError(default_vfs, size, out);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void)
{
	(void)vfs;
	return default_vfs->xDlSym(default_vfs, handle, symbol);
}

static void vfs_dl_close(sqlite3_vfs *vfs, void *handle)
{
	(void)vfs;
	default_vfs->xDlClose(default_vfs, handle);
}

static int vfs_randomness(sqlite3_vfs *vfs, int size, char *out)
{
	(void)vfs;
	return default_vfs->xRandomness(default_vfs, size, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int microseconds)
{
	(void)vfs;
	return default_vfs->xSleep(default_vfs, microseconds);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return default_vfs->xCurrentTime(default_vfs, out);
}

static int vfs_get_last_error(sqlite3_vfs *vfs, int size, char *out)
{
	(void)vfs;
	return default_vfs->xGetLastError ? default_vfs->xGetLastError(default_vfs, size, out) : 0;
}

static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return default_vfs->xCurrentTimeInt64(default_vfs, out);
}

static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;

static void register_vfs(void)
{
	default_vfs = sqlite3_vfs_find(NULL);
	if (!default_vfs || default_vfs->iVersion < 2 || !default_vfs->xCurrentTimeInt64)
		return;
	cairn_vfs.iVersion = 2;
	cairn_vfs.szOsFile = (int)sizeof(wal_file) + default_vfs->szOsFile;
	cairn_vfs.mxPathname = default_vfs->mxPathname;
	cairn_vfs.zName = CAIRN_WAL_VFS;
	cairn_vfs.xOpen = vfs_open;
	cairn_vfs.xDelete = vfs_delete;
	cairn_vfs.xAccess = vfs_access;
	cairn_vfs.xFullPathname = vfs_full_pathname;
	cairn_vfs.xDlOpen = vfs_dl_open;
	cairn_vfs.xDlError = vfs_dl_error;
	cairn_vfs.xDlSym = vfs_dl_sym;
	cairn_vfs.xDlClose = vfs_dl_close;
	cairn_vfs.xRandomness = vfs_randomness;
	cairn_vfs.xSleep = vfs_sleep;
	cairn_vfs.xCurrentTime = vfs_current_time;
	cairn_vfs.xGetLastError = vfs_get_last_error;
	cairn_vfs.xCurrentTimeInt64 = vfs_current_time_int64;
	register_rc = sqlite3_vfs_register(&cairn_vfs, 0);
}

const char *cairn__wal_vfs(void)
{
	pthread_once(&register_once, register_vfs);
	return register_rc == SQLITE_OK ? CAIRN_WAL_VFS : NULL;
}

uint64_t cairn__wal_vfs_writes(void)
{
	return __atomic_load_n(&writes, __ATOMIC_RELAXED);
}
