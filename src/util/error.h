/* error.h: the thread-local last-error message behind cairn_error_last(). */
#ifndef CAIRN_UTIL_ERROR_H
#define CAIRN_UTIL_ERROR_H

#include "cairn.h"

/* Records `code` and a printf-style message for the calling thread; returns `code`
 * so callers can write `return cairn__error_set(CAIRN_EINVALID, "bad id '%s'", id);`. */
int cairn__error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The code of the calling thread's last cairn__error_set (0 after cairn__error_clear). */
int cairn__error_code(void);
void cairn__error_clear(void);

#endif
