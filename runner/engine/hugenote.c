/*
 * hugenote.c - what backs each segment of a run (huge pages or not), for
 * the manifest's "hugepages", and the one note on stderr when a large
 * segment asked for huge pages (hugepages: auto) and the system's setting
 * denies them: what that costs, and the line that enables them.
 */
#include <inttypes.h>
#include <stdio.h>

#include <ptools/json.h>
#include <ptools/shm.h>

#include "engine/engine_internal.h"

/* A segment this large, denied huge pages, is worth a note. */
#define NOTE_BYTES ((uint64_t)64 << 20)

static const char *asked_name(int asked)
{
    return asked == PT_SHM_HUGE_ON    ? "on"
           : asked == PT_SHM_HUGE_OFF ? "off"
                                      : "auto";
}

/* One item of the manifest's "hugepages" array, for segment `name`. */
static void add_item(pt_buf *b, const char *name, uint64_t bytes,
                     const pt_shm_huge_info *hi)
{
    pt_buf_printf(b, "%s\n    {\"segment\": ", b->len ? "," : "");
    pt_json_cstr(b, name);
    pt_buf_printf(b,
                  ", \"bytes\": %" PRIu64 ", \"asked\": \"%s\", "
                  "\"huge\": %s, \"setting\": ",
                  bytes, asked_name(hi->hugepages),
                  hi->huge ? "true" : "false");
    if (hi->setting[0])
        pt_json_cstr(b, hi->setting);
    else
        pt_buf_printf(b, "null");
    pt_buf_printf(b, ", \"enable\": ");
    if (hi->enable[0] && hi->eligible)
        pt_json_cstr(b, hi->enable);
    else
        pt_buf_printf(b, "null");
    pt_buf_printf(b, "}");
}

void rn_eng_huge_note(engine *e, int i)
{
    const pt_shm_view *v = pt_shm_view_of(e->shm[i]);
    pt_shm_huge_info hi;
    pt_shm_hugepages(e->shm[i], &hi); /* unknown: nothing to say */
    add_item(&e->huge, v->name, v->nbytes, &hi);
    if (pt_buf_append(&e->huge, "", 1) == 0) /* kept a C string */
        e->huge.len--;
    if (e->huge_noted || !hi.eligible || hi.huge || !hi.enable[0] ||
        v->nbytes < NOTE_BYTES)
        return;
    e->huge_noted = true;
    fprintf(stderr,
            "ptrun: note: segment %s (%.0f MiB) is not in huge pages "
            "(%s): each worker's first pass over it takes a page fault every "
            "4 KiB (262144 per GiB) and runs several times below memory "
            "speed. To enable them, as root: %s (see the README, "
            "Performance)\n",
            v->name, (double)v->nbytes / (1 << 20), hi.setting, hi.enable);
}
