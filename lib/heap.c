/* heap.c - the task queue's intrusive indexed max-heap (see heap.h). */
#include <errno.h>
#include <stdlib.h>

#include "heap.h"
#include "heap_lane.h"
#include "internal.h"

#define MIN_CAP 16

static int before(const pt__heap_node *a, const pt__heap_node *b)
{
    if (a->prio != b->prio)
        return a->prio > b->prio;
    return a->seq < b->seq;
}

static inline int slot_before(const pt__heap_slot *a, const pt__heap_slot *b)
{
    if (a->prio != b->prio)
        return a->prio > b->prio;
    return a->seq < b->seq;
}

int pt__heap_before(const pt__heap_node *a, const pt__heap_node *b)
{
    return before(a, b);
}

static void place(pt__heap *h, pt__heap_slot x, size_t i)
{
    h->items[i] = x;
    x.node->index = i;
}

static pt__heap_slot slot_of(pt__heap_node *n)
{
    return (pt__heap_slot){n->prio, n->seq, n};
}

/*
 * Move x, which belongs at slot i or above, up to its place. Ancestors are
 * shifted down into the hole rather than swapped, one write per level.
 */
static void sift_up(pt__heap *h, pt__heap_slot x, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!slot_before(&x, &h->items[parent]))
            break;
        place(h, h->items[parent], i);
        i = parent;
    }
    place(h, x, i);
}

/* Move x, which belongs at slot i or below, down to its place. */
static void sift_down(pt__heap *h, pt__heap_slot x, size_t i)
{
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len &&
            slot_before(&h->items[child + 1], &h->items[child]))
            child++;
        if (!slot_before(&h->items[child], &x))
            break;
        place(h, h->items[child], i);
        i = child;
    }
    place(h, x, i);
}

/* Put x, just given a new key or slot i, where it belongs. */
static void fix(pt__heap *h, pt__heap_slot x, size_t i)
{
    if (i > 0 && slot_before(&x, &h->items[(i - 1) / 2]))
        sift_up(h, x, i);
    else
        sift_down(h, x, i);
}

void pt__heap_init(pt__heap *h)
{
    *h = (pt__heap){0};
}

void pt__heap_free(pt__heap *h)
{
    for (size_t i = 0; i < h->len; i++)
        h->items[i].node->index = SIZE_MAX;
    for (size_t p = h->lane_head; p != h->lane_tail; p++)
        if (h->lane[p & (h->lane_cap - 1)])
            h->lane[p & (h->lane_cap - 1)]->index = SIZE_MAX;
    free(h->items);
    free(h->lane);
    int no_lane = h->no_lane;
    pt__heap_init(h);
    h->no_lane = no_lane;
}

/* Grow the array geometrically to hold at least `need` nodes. */
static int grow(pt__heap *h, size_t need)
{
    size_t max = SIZE_MAX / sizeof(*h->items);
    if (need > max)
        return pt__err(-ENOMEM, "heap of %zu nodes is too large", need);
    size_t cap = h->cap ? h->cap : MIN_CAP;
    while (cap < need)
        cap = cap > max / 2 ? max : cap * 2;
    pt__heap_slot *items = realloc(h->items, cap * sizeof(*items));
    if (!items)
        return pt__err(-ENOMEM, "out of memory for a heap of %zu nodes", cap);
    h->items = items;
    h->cap = cap;
    return 0;
}

int pt__heap_reserve(pt__heap *h, size_t extra)
{
    size_t n = pt__heap_len(h);
    if (extra > SIZE_MAX / 2 - n)
        return pt__err(-ENOMEM, "heap of %zu + %zu nodes is too large", n,
                       extra);
    int rc = n + extra <= h->cap ? 0 : grow(h, n + extra);
    return rc < 0 || h->no_lane ? rc : pt__heap_lane_room(h, extra);
}

int pt__heap_push_seq(pt__heap *h, pt__heap_node *n, int64_t prio, uint64_t seq)
{
    if (pt__heap_contains(h, n))
        return pt__err(-EEXIST, "node is already in this heap");
    if (pt__heap_len(h) == h->cap ||
        (!h->no_lane && h->lane_tail - h->lane_head == h->lane_cap)) {
        int rc = pt__heap_reserve(h, 1);
        if (rc < 0)
            return rc;
    }
    n->prio = prio;
    n->seq = seq;
    if (seq >= h->next_seq)
        h->next_seq = seq + 1;
    if (h->no_lane || !pt__heap_lane_push(h, n))
        sift_up(h, slot_of(n), h->len++);
    return 0;
}

int pt__heap_push(pt__heap *h, pt__heap_node *n, int64_t prio)
{
    return pt__heap_push_seq(h, n, prio, h->next_seq);
}

pt__heap_node *pt__heap_peek(const pt__heap *h)
{
    pt__heap_node *a = h->len ? h->items[0].node : NULL;
    pt__heap_node *b = pt__heap_lane_first(h);
    if (!a || !b)
        return a ? a : b;
    return slot_before(&h->items[0], &(pt__heap_slot){b->prio, b->seq, b}) ? a
                                                                           : b;
}

pt__heap_node *pt__heap_pop(pt__heap *h)
{
    pt__heap_node *top = pt__heap_peek(h);
    if (top)
        pt__heap_remove(h, top);
    return top;
}

/* The last node fills n's slot, then moves up or down to its place. */
int pt__heap_remove(pt__heap *h, pt__heap_node *n)
{
    if (!pt__heap_contains(h, n))
        return -ENOENT;
    if (n->index & PT__HEAP_LANE) {
        pt__heap_lane_remove(h, n);
        return 0;
    }
    size_t i = n->index;
    pt__heap_slot last = h->items[--h->len];
    if (last.node != n)
        fix(h, last, i);
    n->index = SIZE_MAX;
    return 0;
}

/* One in the lane moves to the binary heap, into its reserved slot. */
int pt__heap_update(pt__heap *h, pt__heap_node *n, int64_t prio)
{
    if (!pt__heap_contains(h, n))
        return -ENOENT;
    n->prio = prio;
    if (n->index & PT__HEAP_LANE) {
        pt__heap_lane_remove(h, n);
        sift_up(h, slot_of(n), h->len++);
    } else {
        fix(h, slot_of(n), n->index);
    }
    return 0;
}

/* The fault, if any, at slot i: its node, its index, its order. */
static int check_slot(const pt__heap *h, size_t i)
{
    const pt__heap_slot *x = &h->items[i];
    const pt__heap_node *n = x->node;
    if (!n)
        return pt__err(-EINVAL, "heap slot %zu is NULL", i);
    if (n->index != i)
        return pt__err(-EINVAL, "heap slot %zu: node index %zu", i, n->index);
    if (n->seq >= h->next_seq)
        return pt__err(-EINVAL, "heap slot %zu: seq %llu >= next_seq %llu", i,
                       (unsigned long long)n->seq,
                       (unsigned long long)h->next_seq);
    if (x->prio != n->prio || x->seq != n->seq)
        return pt__err(-EINVAL, "heap slot %zu: key differs from its node's",
                       i);
    if (i > 0 && slot_before(x, &h->items[(i - 1) / 2]))
        return pt__err(-EINVAL, "heap slot %zu: before its parent", i);
    return 0;
}

int pt__heap_check(const pt__heap *h)
{
    if (pt__heap_len(h) > h->cap || (h->cap && !h->items))
        return pt__err(-EINVAL, "heap of %zu + %zu nodes in %zu slots at %p",
                       h->len, h->lane_live, h->cap, (void *)h->items);
    for (size_t i = 0; i < h->len; i++) {
        int rc = check_slot(h, i);
        if (rc < 0)
            return rc;
    }
    return pt__heap_lane_check(h);
}
