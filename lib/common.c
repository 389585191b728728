/* common.c - version, error text and the per-thread detailed message. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_msg[512];

const char *pt_version(void)
{
    return PT_VERSION_STRING;
}

const char *pt_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err < 0)
        err = -err;
    return strerror(err);
}

const char *pt_errmsg(void)
{
    return last_msg;
}

int pt__err(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    return code;
}
