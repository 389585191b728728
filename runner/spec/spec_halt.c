/*
 * spec_halt.c - `halt: {failed: N, how: soon|now}` of the job or of a
 * step (SPEC §4): after N tasks end not ok, nothing new is started.
 */
#include <stdint.h>
#include <string.h>

#include "spec/spec_check.h"

/* `how`: soon (the default: running tasks finish) or now (killed). */
static void get_how(rn_build *b, const rn_ynode *n, rn_halt *h)
{
    static const char *const hows[] = {"soon", "now"};
    const char *t;
    char hint[64];
    if (!rn_get_text(b, n, &t))
        return;
    if (strcmp(t, "soon") == 0 || strcmp(t, "now") == 0) {
        h->now = t[0] == 'n';
        return;
    }
    rn_hint(t, hows, 2, "one of", hint, sizeof hint);
    rn_diag_at(b->d, n, "halt: how must be soon or now, got '%s' (%s)", t,
               hint);
}

void rn_build_halt(rn_build *b, const rn_ynode *n, rn_halt *h)
{
    const rn_ynode *v;
    if (!n)
        return;
    h->pos = n->pos;
    if (n->kind != RN_Y_MAP) {
        rn_wrong_type(b, n, "a mapping {failed: N, how: soon|now}");
        return;
    }
    if (!rn_check_map(b, n, &rn_halt_schema))
        return;
    if ((v = rn_ymap_get(n, "failed")))
        rn_get_int(b, v, "halt: failed", 1, INT64_MAX, &h->failed);
    if ((v = rn_ymap_get(n, "how")))
        get_how(b, v, h);
}
