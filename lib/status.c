/*
 * status.c - the words for pt_task_status (args.h), defined here once for
 * the library, ptrun and the shipped plugins (which link libptools).
 */
#include <errno.h>
#include <string.h>

#include <ptools/args.h>

static const char *const names[PT_TASK_NSTATUS] = {
    [PT_TASK_OK] = "ok",
    [PT_TASK_FAILED] = "failed",
    [PT_TASK_CRASHED] = "crashed",
    [PT_TASK_TIMEOUT] = "timeout",
    [PT_TASK_CANCELLED] = "cancelled",
};

const char *pt_task_status_name(pt_task_status s)
{
    return (unsigned)s < PT_TASK_NSTATUS ? names[s] : "unknown";
}

int pt_task_status_parse(const char *name)
{
    for (int s = 0; name && s < PT_TASK_NSTATUS; s++)
        if (strcmp(name, names[s]) == 0)
            return s;
    return -EINVAL;
}
