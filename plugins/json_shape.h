/*
 * json_shape.h - an event's encoded map (args, result) written as JSON,
 * cheaply when it has the shape of the one before.
 *
 * The tasks of one `repeat` or `sweep` entry have args that differ only in
 * numbers (`rep`, an axis), and a kernel's results usually have the same
 * keys every time. A js_shape keeps the last encoding it wrote and its JSON
 * with the top-level numbers (INT, REAL) cut out. When the next encoding
 * has the same length and the same bytes outside those numbers, it is the
 * same map but for them: its JSON is the kept text with the new numbers
 * printed in, with no check, decode or iteration. Any other value (nested
 * containers, another shape) is written by pt_value_to_json() and kept
 * whole, for the next identical one. The text is byte for byte what
 * pt_value_to_json() writes.
 */
#ifndef PT_JSON_SHAPE_H
#define PT_JSON_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_mini.h"

#define JS_SLOTS 8        /* top-level numbers a shape can hold */
#define JS_MASK_BYTES 128 /* encodings compared word by word (below) */

typedef struct js_slot {
    uint32_t enc; /* offset of the number's 8 bytes in the encoding */
    uint32_t txt; /* where its text goes in `txt` */
    bool real;    /* REAL, else INT */
} js_slot;

typedef struct js_shape {
    uint8_t *enc; /* the last encoding written */
    size_t enc_len, enc_cap;
    jm_buf txt; /* its JSON without the slots' numbers */
    js_slot slot[JS_SLOTS];
    int nslots;
    bool valid; /* enc and txt describe a value that checked */
    /* A small encoding (8 to JS_MASK_BYTES bytes) is compared in 8-byte
     * words (the last one ending at its end, overlapping the one before):
     * mask[i] has the bytes of word i that are no slot's. nmask 0: none. */
    uint64_t mask[JS_MASK_BYTES / 8];
    uint32_t mask_at[JS_MASK_BYTES / 8]; /* where word i starts */
    int nmask;
    bool reals; /* a slot is REAL (js_shape_ready() says no) */
} js_shape;

/*
 * Append the encoded value (p, n) to b as JSON: "{}" when there is none,
 * `bad` when it does not decode. -1 and b->oom when memory runs out.
 */
int js_shape_write(js_shape *c, jm_buf *b, const void *p, size_t n,
                   const char *bad);
void js_shape_free(js_shape *c);

/*
 * The way in one pass, for a writer that reserves room once: is (p, n)
 * of c's kept shape, with integers only in its slots? Then js_shape_put()
 * writes the JSON js_shape_write() would, in at most js_shape_max(c)
 * bytes at `at`, and returns the end.
 */
bool js_shape_ready(const js_shape *c, const void *p, size_t n);
size_t js_shape_max(const js_shape *c);
char *js_shape_put(const js_shape *c, char *at, const void *p);

#endif
