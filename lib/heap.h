/*
 * heap.h - the task queue's intrusive indexed binary max-heap (private).
 *
 * The node lives inside the task (as in libuv's heap-inl.h); the heap owns
 * only arrays of node pointers, and each node stores its position in them.
 * So a waiting task costs 24 bytes in its struct plus one 24-byte slot of
 * the binary heap (reserved even while it sits in the lane, below: up to
 * two while the array has room to grow) and one 8-byte lane slot, and the
 * queue can reprioritise or cancel a task from the middle in O(log n)
 * without searching for it.
 *
 * The lane: a push whose key comes after the last node pushed into the
 * lane goes to the end of the lane, a FIFO ring kept in order, rather than
 * into the binary heap; the next node out is the better of the heap's top
 * and the lane's first. So runs of equal priorities in submission order
 * (the common case) and falling priorities push and pop in O(1), touching
 * no other node. A node removed from the lane leaves a hole, skipped at
 * its ends and squeezed out when the ring is full; one updated moves to
 * the binary heap (never allocating: its slot there is reserved).
 *
 * Order: higher `prio` first; among equal prio, lower `seq` first. Push
 * assigns seq from the heap's counter, so equal priorities come out in
 * submission order (FIFO); update keeps a node's seq, so a reprioritised task
 * keeps its place among its new equals. Nodes with equal prio and seq (only
 * possible through pt__heap_push_seq) come out in no particular order.
 *
 * Memory: the array grows geometrically on push (0 or -ENOMEM) and is never
 * allocated or shrunk by peek, pop, remove or update, which cannot fail on
 * a node in the heap; reserve first where a push must not fail (a task that
 * moves between heaps). -ENOENT from remove or update is routine (the task
 * has already left) and leaves no message in pt_errmsg().
 *
 * A node out of every heap has index SIZE_MAX, so "is it still waiting?" is
 * one comparison. A node is in at most one heap at a time; nothing here
 * locks: the caller serialises access to a heap.
 */
#ifndef PT_HEAP_H
#define PT_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pt__heap_node {
    int64_t prio; /* higher first */
    uint64_t seq; /* lower first among equal prio; set by push */
    size_t index; /* position in the heap array, or PT__HEAP_LANE | position
                     in the lane; SIZE_MAX when not in a heap */
} pt__heap_node;

/* A slot of the heap's array: the key beside the node, so that sifting
 * compares without touching (cache-missing) the nodes themselves. */
typedef struct pt__heap_slot {
    int64_t prio;
    uint64_t seq;
    pt__heap_node *node;
} pt__heap_slot;

/* A node's index in the lane: this bit, and its position in the ring. */
#define PT__HEAP_LANE (((size_t)-1 >> 1) + 1)

typedef struct pt__heap {
    pt__heap_slot *items; /* the binary heap */
    size_t len, cap;      /* cap >= len + lane_live: room for the lane's */
    uint64_t next_seq;    /* above every seq pushed so far */
    pt__heap_node **lane; /* the lane: a ring of lane_cap (a power of 2) */
    size_t lane_cap;
    size_t lane_head, lane_tail; /* positions (not wrapped) of its ends:
                                    both ends hold nodes, holes between */
    size_t lane_live;            /* nodes in it */
    int no_lane;                 /* tests of the binary heap: every push
                                    goes to it */
} pt__heap;

/* Mark a node that was never pushed as in no heap (index SIZE_MAX). */
static inline void pt__heap_node_init(pt__heap_node *n)
{
    n->index = SIZE_MAX;
}

/* An empty heap; allocates nothing. */
void pt__heap_init(pt__heap *h);
/*
 * Free the array, not the nodes: any node still in the heap gets index
 * SIZE_MAX. The heap is left empty and may be used again.
 */
void pt__heap_free(pt__heap *h);
/* Make room for `extra` more pushes, which then cannot fail: 0 or -ENOMEM. */
int pt__heap_reserve(pt__heap *h, size_t extra);

/*
 * Insert n with `prio` and the next seq: 0, -ENOMEM, or -EEXIST if n is in h
 * already. That check reads n->index, so a node's index must be defined
 * before its first push: pt__heap_node_init() it, or zero its memory.
 */
int pt__heap_push(pt__heap *h, pt__heap_node *n, int64_t prio);
/*
 * Insert n with an explicit seq, e.g. when a task moves from a worker's heap
 * to the shared one and must keep its FIFO position. Heaps that trade nodes
 * should draw their seqs from one counter. Raises h->next_seq above `seq` so
 * that later pushes still come after n among equals (so seq < UINT64_MAX).
 * Returns as pt__heap_push.
 */
int pt__heap_push_seq(pt__heap *h, pt__heap_node *n, int64_t prio,
                      uint64_t seq);
/* The node that comes out next, left in place; NULL if empty. */
pt__heap_node *pt__heap_peek(const pt__heap *h);
/* Take out the node that comes out next; NULL if empty. */
pt__heap_node *pt__heap_pop(pt__heap *h);
/* Take n out from anywhere in h: 0, or -ENOENT if n is not in h. */
int pt__heap_remove(pt__heap *h, pt__heap_node *n);
/* Give n a new prio, keeping its seq: 0, or -ENOENT if n is not in h. */
int pt__heap_update(pt__heap *h, pt__heap_node *n, int64_t prio);

/* 1 if a comes out before b (higher prio, or equal prio and lower seq). */
int pt__heap_before(const pt__heap_node *a, const pt__heap_node *b);
/*
 * For tests and debugging, O(n): 0 if every node's index matches its slot,
 * no parent comes after its child, the lane is in order and has no hole at
 * its ends, its count and the reserved room are right, and every seq is
 * below next_seq; else
 * -EINVAL with the first fault in pt_errmsg().
 */
int pt__heap_check(const pt__heap *h);

/* 1 if n is in h (a node in another heap, or in none, gives 0). */
static inline int pt__heap_contains(const pt__heap *h, const pt__heap_node *n)
{
    size_t i = n->index;
    if (i < h->len)
        return h->items[i].node == n;
    if (i == SIZE_MAX || !(i & PT__HEAP_LANE))
        return 0;
    i &= ~PT__HEAP_LANE;
    return i - h->lane_head < h->lane_tail - h->lane_head &&
           h->lane[i & (h->lane_cap - 1)] == n;
}

/* The node k places behind the first of the lane, if there is one there
 * (a hint of what comes out soon, for prefetching), else NULL. */
static inline pt__heap_node *pt__heap_lane_at(const pt__heap *h, size_t k)
{
    return k < h->lane_tail - h->lane_head
               ? h->lane[(h->lane_head + k) & (h->lane_cap - 1)]
               : NULL;
}

/* Nodes in h, in the binary heap and in the lane. */
static inline size_t pt__heap_len(const pt__heap *h)
{
    return h->len + h->lane_live;
}

#endif
