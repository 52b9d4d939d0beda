/* error.c: the thread-local last error (code and message) and the public error calls. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/error.h"

#define ERROR_MESSAGE_SIZE 1024

static _Thread_local char error_message[ERROR_MESSAGE_SIZE];
static _Thread_local int error_code;

int cairn__error_set(int code, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(error_message, sizeof(error_message), fmt, args);
	va_end(args);
	error_code = code;
	return code;
}

int cairn__error_code(void)
{
	return error_code;
}

void cairn__error_clear(void)
{
	error_message[0] = '\0';
	error_code = 0;
}

const char *cairn_error_last(void)
{
	return error_message;
}

const char *cairn_strerror(int code)
{
	switch (code) {
	case CAIRN_OK: return "ok";
	case CAIRN_ERROR: return "error";
	case CAIRN_ENOTFOUND: return "not found";
	case CAIRN_EEXISTS: return "already exists";
	case CAIRN_EINVALID: return "invalid argument";
	case CAIRN_ECONFLICT: return "conflict";
	case CAIRN_EOFFLINE: return "server unreachable";
	case CAIRN_EAUTH: return "not authorised";
	case CAIRN_EBUSY: return "store busy";
	case CAIRN_ENOMEM: return "out of memory";
	case CAIRN_EIO: return "input/output error";
	case CAIRN_ESERVER: return "server error";
	case CAIRN_ETOOBIG: return "too big";
	case CAIRN_ENOREMOTE: return "no remote configured";
	case CAIRN_EUSER: return "stopped by callback";
	default: return "unknown error";
	}
}

void cairn_free(void *ptr)
{
	free(ptr);
}
