/*
 * yaml_emit.c - write an rn_ynode tree back as YAML text, so that the
 * spec a run used (overrides applied) can be saved and run again. Every
 * scalar keeps its type: it is written plain when its text read plain has
 * the same meaning, quoted otherwise (a quoted "123" stays a string).
 */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "spec/yaml_tree.h"

typedef struct outbuf {
    char *p;
    size_t n, cap;
} outbuf;

/* libyaml's write handler: append to the buffer (1 ok, 0 failed). */
static int write_out(void *data, unsigned char *buf, size_t size)
{
    outbuf *o = data;
    if (o->n + size + 1 > o->cap) {
        size_t ncap = (o->n + size + 1) * 2;
        char *p = realloc(o->p, ncap);
        if (!p)
            return 0;
        o->p = p;
        o->cap = ncap;
    }
    memcpy(o->p + o->n, buf, size);
    o->n += size;
    o->p[o->n] = '\0';
    return 1;
}

/* Emit one scalar; `plain_ok` says whether it may be written unquoted. */
static int emit_text(yaml_emitter_t *em, const char *text, bool plain_ok)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text,
                                      (int)strlen(text), plain_ok, 1,
                                      YAML_ANY_SCALAR_STYLE))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

/* A quoted scalar may go plain only if its text reads as a string. */
static bool plain_ok(const rn_ynode *n)
{
    rn_value v;
    if (!n->quoted)
        return true;
    rn_yplain(n->text, &v);
    return v.type == RN_STR;
}

/* A mapping key: plain unless that would turn it into a merge key. */
static int emit_key(yaml_emitter_t *em, const char *key)
{
    return emit_text(em, key, strcmp(key, "<<") != 0);
}

static int emit_node(yaml_emitter_t *em, const rn_ynode *n)
{
    yaml_event_t ev;
    bool map = n->kind == RN_Y_MAP;
    if (n->kind == RN_Y_SCALAR)
        return emit_text(em, n->text, plain_ok(n));
    if (map ? !yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                   YAML_BLOCK_MAPPING_STYLE)
            : !yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                    YAML_BLOCK_SEQUENCE_STYLE))
        return -1;
    if (!yaml_emitter_emit(em, &ev))
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        if (map && emit_key(em, n->e[i].key) < 0)
            return -1;
        if (emit_node(em, n->e[i].val) < 0)
            return -1;
    }
    if (map ? !yaml_mapping_end_event_initialize(&ev)
            : !yaml_sequence_end_event_initialize(&ev))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

/* The stream around the root: stream start, one document, stream end. */
static int emit_stream(yaml_emitter_t *em, const rn_ynode *root)
{
    yaml_event_t ev;
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(em, &ev))
        return -1;
    if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(em, &ev))
        return -1;
    if (emit_node(em, root) < 0)
        return -1;
    if (!yaml_document_end_event_initialize(&ev, 1) ||
        !yaml_emitter_emit(em, &ev))
        return -1;
    if (!yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
        return -1;
    return yaml_emitter_flush(em) ? 0 : -1;
}

char *rn_yaml_emit(const rn_ynode *root)
{
    yaml_emitter_t em;
    outbuf o = {0};
    if (!yaml_emitter_initialize(&em))
        return NULL;
    yaml_emitter_set_output(&em, write_out, &o);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yaml_emitter_set_indent(&em, 2);
    if (emit_stream(&em, root) < 0) {
        free(o.p);
        o.p = NULL;
    }
    yaml_emitter_delete(&em);
    return o.p;
}
