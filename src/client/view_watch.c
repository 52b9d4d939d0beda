/* view_watch.c: notices which local views a push reply changed (a conflict the server won, a
 * rejected write undone, a merge or a resolver's result) so their listeners hear it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/store_int.h"
#include "util/error.h"

typedef struct {
	char collection[CAIRN_ID_MAX + 1];
	char id[CAIRN_ID_MAX + 1];
	char *before;    /* "deleted|permissions|data" of the docs row before, NULL: no row */
	int changed;     /* set by cairn__view_watch_after */
	int deleted;     /* the view is gone after the push */
} watched_view;

struct cairn__view_watch {
	watched_view *views;
	size_t count;
	size_t capacity;
};

/* The parts of a docs row a listener cares about, as one malloc'd text; NULL when no row.
 * *deleted is 1 when there is no live document. */
static int row_state(char **out, int *deleted, cairn_store *store, const char *collection,
	const char *id)
{
	sqlite3_stmt *stmt = cairn__store_stmt(store, STMT_DOC_GET);
	int rc;

	*out = NULL;
	*deleted = 1;
	if (!stmt)
		return cairn__error_code();
	sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const char *data = (const char *)sqlite3_column_text(stmt, 0);
		const char *permissions = (const char *)sqlite3_column_text(stmt, 4);
		int gone = sqlite3_column_int(stmt, 1) != 0;
		size_t size = (data ? strlen(data) : 0) + (permissions ? strlen(permissions) : 0) + 4;

		*deleted = gone;
		*out = malloc(size);
		if (*out)
			snprintf(*out, size, "%d|%s|%s", gone, permissions ? permissions : "",
				data ? data : "");
		rc = *out ? 0 : cairn__error_set(CAIRN_ENOMEM, "out of memory watching a document");
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = cairn__store_error(store, rc, "reading a document");
	}
	sqlite3_reset(stmt);
	return rc;
}

int cairn__view_watch_before(cairn__view_watch **watch, cairn_store *store,
	const char *collection, const char *id)
{
	cairn__view_watch *w = *watch;
	watched_view *view;
	int deleted;

	if (!w && !(w = *watch = calloc(1, sizeof(*w))))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory watching a document");
	for (size_t i = 0; i < w->count; i++)
		if (strcmp(w->views[i].collection, collection) == 0 &&
			strcmp(w->views[i].id, id) == 0)
			return 0; /* the first state in this reply is the one to compare with */
	if (w->count == w->capacity) {
		size_t capacity = w->capacity ? w->capacity * 2 : 8;
		watched_view *grown = realloc(w->views, capacity * sizeof(*grown));

		if (!grown)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory watching a document");
		w->views = grown;
		w->capacity = capacity;
	}
	view = &w->views[w->count];
	memset(view, 0, sizeof(*view));
	snprintf(view->collection, sizeof(view->collection), "%s", collection);
	snprintf(view->id, sizeof(view->id), "%s", id);
	w->count++;
	return row_state(&view->before, &deleted, store, collection, id);
}

int cairn__view_watch_after(cairn__view_watch *watch, cairn_store *store)
{
	int rc = 0;

	for (size_t i = 0; watch && i < watch->count && rc == 0; i++) {
		watched_view *view = &watch->views[i];
		char *after = NULL;

		rc = row_state(&after, &view->deleted, store, view->collection, view->id);
		if (rc == 0)
			view->changed = (after == NULL) != (view->before == NULL) ||
				(after && strcmp(after, view->before) != 0);
		free(after);
	}
	return rc;
}

void cairn__view_watch_finish(cairn__view_watch *watch, cairn_store *store, int rc)
{
	if (!watch)
		return;
	for (size_t i = 0; i < watch->count; i++) {
		if (rc == 0 && watch->views[i].changed)
			cairn__listeners_view(store, watch->views[i].collection, watch->views[i].id,
				watch->views[i].deleted, CAIRN_CHANGE_REMOTE);
		free(watch->views[i].before);
	}
	free(watch->views);
	free(watch);
}
