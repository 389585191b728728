/* test_heap.c - the task queue's heap: order, FIFO, update, remove, scale. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "heap.h"
#include "internal.h"

static size_t rng_below(size_t n)
{
    return (size_t)(pt_test_rng() % n);
}

static void nodes_init(pt__heap_node *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pt__heap_node_init(&v[i]);
}

/* n nodes, each in no heap. */
static pt__heap_node *nodes_new(size_t n)
{
    pt__heap_node *v = malloc(n * sizeof(*v));
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    nodes_init(v, n);
    return v;
}

static void assert_valid(const pt__heap *h)
{
    int rc = pt__heap_check(h);
    if (rc < 0)
        fprintf(stderr, "heap check: %s\n", pt_errmsg());
    CU_ASSERT_EQUAL_FATAL(rc, 0);
}

/* Pop everything; 1 if each node came out after the one before it. */
static int drain_in_order(pt__heap *h, size_t *count)
{
    pt__heap_node *prev = NULL, *n;
    int ok = 1;
    *count = 0;
    while ((n = pt__heap_pop(h))) {
        if (prev && !pt__heap_before(prev, n))
            ok = 0;
        if (n->index != SIZE_MAX)
            ok = 0;
        prev = n;
        (*count)++;
    }
    return ok;
}

static const pt__heap_node *sort_base;

/* Higher prio first, then lower position: a stable sort by prio. */
static int by_prio_then_pos(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (sort_base[a].prio != sort_base[b].prio)
        return sort_base[a].prio > sort_base[b].prio ? -1 : 1;
    return a < b ? -1 : a > b;
}

static void test_fifo_order(void)
{
    enum { N = 1000 };
    pt__heap h;
    pt__heap_init(&h);
    pt__heap_node *v = nodes_new(N);
    size_t want[N];
    for (size_t i = 0; i < N; i++) {
        CU_ASSERT_EQUAL_FATAL(pt__heap_push(&h, &v[i], (int64_t)rng_below(10)),
                              0);
        CU_ASSERT_EQUAL(v[i].seq, i);
        want[i] = i;
    }
    assert_valid(&h);
    CU_ASSERT_EQUAL(pt__heap_len(&h), N);
    sort_base = v;
    qsort(want, N, sizeof(want[0]), by_prio_then_pos);
    for (size_t k = 0; k < N; k++) {
        CU_ASSERT_PTR_EQUAL(pt__heap_peek(&h), &v[want[k]]);
        pt__heap_node *n = pt__heap_pop(&h);
        CU_ASSERT_PTR_EQUAL_FATAL(n, &v[want[k]]);
        CU_ASSERT_EQUAL(n->index, SIZE_MAX);
    }
    CU_ASSERT_PTR_NULL(pt__heap_pop(&h));
    pt__heap_free(&h);
    free(v);
}

static void test_empty(void)
{
    pt__heap h;
    pt__heap_init(&h);
    pt__heap_node n;
    pt__heap_node_init(&n);
    CU_ASSERT_EQUAL(pt__heap_len(&h), 0);
    CU_ASSERT_PTR_NULL(pt__heap_peek(&h));
    CU_ASSERT_PTR_NULL(pt__heap_pop(&h));
    CU_ASSERT_FALSE(pt__heap_contains(&h, &n));
    CU_ASSERT_EQUAL(pt__heap_remove(&h, &n), -ENOENT);
    CU_ASSERT_EQUAL(pt__heap_update(&h, &n, 3), -ENOENT);
    assert_valid(&h);
    pt__heap_free(&h);

    CU_ASSERT_EQUAL(pt__heap_push(&h, &n, INT64_MIN), 0);
    CU_ASSERT_PTR_EQUAL(pt__heap_peek(&h), &n);
    CU_ASSERT_PTR_EQUAL(pt__heap_pop(&h), &n);
    CU_ASSERT_PTR_NULL(pt__heap_pop(&h));
    pt__heap_free(&h);
}

/* Pop all of h and compare with the nodes `want`, in that order. */
static void assert_pops(pt__heap *h, pt__heap_node *const *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_PTR_EQUAL(pt__heap_pop(h), want[i]);
    CU_ASSERT_PTR_NULL(pt__heap_pop(h));
}

static void test_update_up_down(void)
{
    pt__heap h;
    pt__heap_init(&h);
    /* Zeroed nodes (index 0) are as good as initialised ones. */
    pt__heap_node a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, x = {0}, y = {0};
    pt__heap_node *five[] = {&a, &b, &c, &d, &e};
    CU_ASSERT_EQUAL(pt__heap_push(&h, &x, 9), 0);
    for (size_t i = 0; i < PT_ARRAY_LEN(five); i++)
        CU_ASSERT_EQUAL(pt__heap_push(&h, five[i], 5), 0);
    CU_ASSERT_EQUAL(pt__heap_push(&h, &y, 1), 0);
    uint64_t c_seq = c.seq;

    CU_ASSERT_EQUAL(pt__heap_update(&h, &c, 10), 0); /* up, past x */
    assert_valid(&h);
    CU_ASSERT_PTR_EQUAL(pt__heap_peek(&h), &c);
    CU_ASSERT_EQUAL(pt__heap_update(&h, &c, 5), 0); /* back among equals */
    CU_ASSERT_EQUAL(c.seq, c_seq);
    CU_ASSERT_EQUAL(pt__heap_update(&h, &x, 0), 0); /* down, past y */
    CU_ASSERT_EQUAL(pt__heap_update(&h, &a, 5), 0); /* unchanged */
    CU_ASSERT_EQUAL(pt__heap_update(&h, &y, 5), 0); /* up, last of the 5s */
    assert_valid(&h);
    pt__heap_node *want[] = {&a, &b, &c, &d, &e, &y, &x};
    assert_pops(&h, want, PT_ARRAY_LEN(want));
    pt__heap_free(&h);
}

static void test_remove_first_middle_last(void)
{
    enum { N = 9 };
    pt__heap h;
    pt__heap_init(&h);
    h.no_lane = 1; /* slots of the binary heap */
    pt__heap_node v[N];
    nodes_init(v, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(pt__heap_push(&h, &v[i], 10 * (i % 4)), 0);
    /* All out in this order: 30s, 20s, 10s, 0s, FIFO within each. */
    static const int order[N] = {3, 7, 2, 6, 1, 5, 0, 4, 8};

    pt__heap_node *first = pt__heap_peek(&h);
    CU_ASSERT_PTR_EQUAL(first, &v[3]);
    CU_ASSERT_EQUAL(pt__heap_remove(&h, first), 0);
    CU_ASSERT_EQUAL(first->index, SIZE_MAX);
    assert_valid(&h);
    pt__heap_node *last = h.items[h.len - 1].node;
    CU_ASSERT_EQUAL(pt__heap_remove(&h, last), 0);
    assert_valid(&h);
    pt__heap_node *middle = h.items[h.len / 2].node;
    CU_ASSERT_EQUAL(pt__heap_remove(&h, middle), 0);
    assert_valid(&h);
    CU_ASSERT_EQUAL(pt__heap_len(&h), N - 3);

    pt__heap_node *want[N];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        pt__heap_node *o = &v[order[i]];
        if (o != first && o != last && o != middle)
            want[n++] = o;
    }
    CU_ASSERT_EQUAL(n, N - 3);
    assert_pops(&h, want, n);
    pt__heap_free(&h);
}

/*
 * The last node, moved into a removed node's slot in another subtree, can
 * belong above it: [100, 50, 90, 10, 20, 80, 85] minus 10 lifts 85 over 50.
 */
static void test_remove_sifts_up(void)
{
    static const int64_t prio[] = {100, 50, 90, 10, 20, 80, 85};
    pt__heap h;
    pt__heap_init(&h);
    h.no_lane = 1; /* the binary heap's shape */
    pt__heap_node v[7];
    nodes_init(v, 7);
    for (int i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(pt__heap_push(&h, &v[i], prio[i]), 0);
    for (size_t i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(v[i].index, i); /* pushed already in heap order */
    CU_ASSERT_EQUAL(pt__heap_remove(&h, &v[3]), 0);
    assert_valid(&h);
    CU_ASSERT_EQUAL(v[6].index, 1);
    pt__heap_node *want[] = {&v[0], &v[2], &v[6], &v[5], &v[1], &v[4]};
    assert_pops(&h, want, PT_ARRAY_LEN(want));
    pt__heap_free(&h);
}

/* The k-th node held: the binary heap's slots, then the lane's nodes. */
static pt__heap_node *nth_node(const pt__heap *h, size_t k)
{
    if (k < h->len)
        return h->items[k].node;
    k -= h->len;
    for (size_t p = h->lane_head; p != h->lane_tail; p++) {
        pt__heap_node *n = h->lane[p & (h->lane_cap - 1)];
        if (n && k-- == 0)
            return n;
    }
    return NULL;
}

/* Every slot of heaps of 1 to 40 nodes (in the binary heap and in the
 * lane), removed in turn, many times. */
static void test_remove_every_slot(void)
{
    enum { MAX = 40, ROUNDS = 20 };
    pt__heap h;
    pt__heap_init(&h);
    pt__heap_node v[MAX];
    nodes_init(v, MAX);
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t n = 1; n <= MAX; n++) {
            for (size_t k = 0; k < n; k++) {
                for (size_t i = 0; i < n; i++)
                    CU_ASSERT_EQUAL_FATAL(
                        pt__heap_push(&h, &v[i], (int64_t)rng_below(5)), 0);
                pt__heap_node *gone = nth_node(&h, k);
                CU_ASSERT_EQUAL_FATAL(pt__heap_remove(&h, gone), 0);
                CU_ASSERT_EQUAL(gone->index, SIZE_MAX);
                assert_valid(&h);
                size_t count;
                CU_ASSERT_TRUE(drain_in_order(&h, &count));
                CU_ASSERT_EQUAL(count, n - 1);
            }
        }
    }
    pt__heap_free(&h);
}

static void test_not_in_heap(void)
{
    pt__heap h, other;
    pt__heap_init(&h);
    pt__heap_init(&other);
    other.no_lane = 1; /* stranger at slot 0 of its binary heap */
    pt__heap_node v[4], stranger;
    nodes_init(v, 4);
    pt__heap_node_init(&stranger);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(pt__heap_push(&h, &v[i], i), 0);
    CU_ASSERT_EQUAL(pt__heap_push(&h, &v[1], 7), -EEXIST);
    CU_ASSERT_EQUAL(v[1].prio, 1); /* untouched */
    CU_ASSERT_EQUAL(pt__heap_len(&h), 4);
    assert_valid(&h);

    pt__heap_node *top = pt__heap_pop(&h);
    CU_ASSERT_PTR_EQUAL(top, &v[3]);
    CU_ASSERT_FALSE(pt__heap_contains(&h, top));
    CU_ASSERT_EQUAL(pt__heap_remove(&h, top), -ENOENT);
    CU_ASSERT_EQUAL(pt__heap_update(&h, top, 100), -ENOENT);
    CU_ASSERT_EQUAL(pt__heap_remove(&h, &v[0]), 0);
    CU_ASSERT_EQUAL(pt__heap_remove(&h, &v[0]), -ENOENT); /* twice */

    /* In another heap, at an index that is valid in h too. */
    CU_ASSERT_EQUAL(pt__heap_push(&other, &stranger, 50), 0);
    CU_ASSERT_EQUAL(stranger.index, 0);
    CU_ASSERT_FALSE(pt__heap_contains(&h, &stranger));
    CU_ASSERT_EQUAL(pt__heap_remove(&h, &stranger), -ENOENT);
    CU_ASSERT_EQUAL(pt__heap_update(&h, &stranger, 1), -ENOENT);
    CU_ASSERT_TRUE(pt__heap_contains(&other, &stranger));
    assert_valid(&h);
    assert_valid(&other);
    pt__heap_node *want[] = {&v[2], &v[1]};
    assert_pops(&h, want, PT_ARRAY_LEN(want));
    pt__heap_free(&h);
    pt__heap_free(&other);
}

/*
 * A worker's heap and the shared heap draw seqs from one counter; moving the
 * worker's tasks over keeps every task's place in submission order.
 */
static void test_push_seq_move(void)
{
    pt__heap own, shared;
    pt__heap_init(&own);
    pt__heap_init(&shared);
    pt__heap_node t[8], late;
    nodes_init(t, 8);
    pt__heap_node_init(&late);
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++) {
        pt__heap *to = i % 3 ? &shared : &own;
        CU_ASSERT_EQUAL(pt__heap_push_seq(to, &t[i], i % 2, seq++), 0);
    }
    CU_ASSERT_EQUAL(pt__heap_reserve(&shared, pt__heap_len(&own)), 0);
    pt__heap_node *n;
    while ((n = pt__heap_pop(&own)))
        CU_ASSERT_EQUAL(pt__heap_push_seq(&shared, n, n->prio, n->seq), 0);
    assert_valid(&shared);
    CU_ASSERT_EQUAL(shared.next_seq, 8);

    /* A plain push afterwards comes after all of its equals. */
    CU_ASSERT_EQUAL(pt__heap_push(&shared, &late, 1), 0);
    CU_ASSERT_EQUAL(late.seq, 8);
    pt__heap_node *want[] = {&t[1], &t[3], &t[5], &t[7], &late,
                             &t[0], &t[2], &t[4], &t[6]};
    assert_pops(&shared, want, PT_ARRAY_LEN(want));

    /* An explicit seq beyond the counter raises it. */
    CU_ASSERT_EQUAL(pt__heap_push_seq(&own, &t[0], 0, 100), 0);
    CU_ASSERT_EQUAL(pt__heap_push(&own, &t[1], 0), 0);
    CU_ASSERT_EQUAL(t[1].seq, 101);
    pt__heap_free(&own);
    pt__heap_free(&shared);
}

static void test_free_and_reserve(void)
{
    pt__heap h;
    pt__heap_init(&h);
    pt__heap_node v[5];
    nodes_init(v, 5);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(pt__heap_push(&h, &v[i], i), 0);
    pt__heap_free(&h);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(v[i].index, SIZE_MAX);
    CU_ASSERT_PTR_NULL(h.items);
    CU_ASSERT_EQUAL(h.len + h.cap, 0);

    /* Room reserved is room kept: no reallocation while filling it. */
    enum { N = 1000 };
    pt__heap_node *w = nodes_new(N);
    CU_ASSERT_EQUAL(pt__heap_reserve(&h, N), 0);
    CU_ASSERT_TRUE(h.cap >= N);
    pt__heap_slot *items = h.items;
    for (size_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL(pt__heap_push(&h, &w[i], 0), 0);
    CU_ASSERT_PTR_EQUAL(h.items, items);
    CU_ASSERT_EQUAL(pt__heap_reserve(&h, 0), 0);

    /* Sizes that overflow fail before anything is allocated. */
    CU_ASSERT_EQUAL(pt__heap_reserve(&h, SIZE_MAX), -ENOMEM);
    CU_ASSERT_EQUAL(pt__heap_reserve(&h, SIZE_MAX / sizeof(void *)), -ENOMEM);
    CU_ASSERT_PTR_EQUAL(h.items, items);
    assert_valid(&h);
    pt__heap_free(&h);
    free(w);
}

/* The validator sees each kind of damage, and a repaired heap passes. */
static void test_check_detects(void)
{
    pt__heap h;
    pt__heap_init(&h);
    pt__heap_node v[3];
    nodes_init(v, 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(pt__heap_push(&h, &v[i], 3 - i), 0);
    assert_valid(&h);
    size_t index = v[1].index; /* in the lane: falling priorities */
    CU_ASSERT_EQUAL(index, PT__HEAP_LANE | 1);
    v[1].index = index ^ 3; /* wrong index */
    CU_ASSERT_EQUAL(pt__heap_check(&h), -EINVAL);
    v[1].index = index;
    v[2].prio = 10; /* child before its parent */
    CU_ASSERT_EQUAL(pt__heap_check(&h), -EINVAL);
    v[2].prio = 1;
    v[0].seq = h.next_seq; /* a seq that later pushes would not follow */
    CU_ASSERT_EQUAL(pt__heap_check(&h), -EINVAL);
    v[0].seq = 0;
    assert_valid(&h);
    pt__heap_free(&h);

    /* The same damage in the binary heap. */
    h.no_lane = 1;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(pt__heap_push(&h, &v[i], 3 - i), 0);
    CU_ASSERT_EQUAL(v[1].index, 1);
    v[1].index = 2;
    CU_ASSERT_EQUAL(pt__heap_check(&h), -EINVAL);
    v[1].index = 1;
    v[2].prio = 10;
    CU_ASSERT_EQUAL(pt__heap_check(&h), -EINVAL);
    v[2].prio = 1;
    assert_valid(&h);
    pt__heap_free(&h);
}

/*
 * The lane: runs of equal priorities (and falling ones) go to a FIFO ring
 * in order, the binary heap stays empty; a node updated from the lane moves
 * to the binary heap without allocating; holes left by removals are
 * skipped at the ends and squeezed out when the ring fills.
 */
static void test_lane(void)
{
    enum { N = 100, MORE = 300 };
    pt__heap h;
    pt__heap_init(&h);
    pt__heap_node *v = nodes_new(N + MORE + 2);
    for (size_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL(pt__heap_push(&h, &v[i], 0), 0);
    CU_ASSERT_EQUAL(h.len, 0);
    CU_ASSERT_EQUAL(h.lane_live, N);
    CU_ASSERT_EQUAL(v[7].index, PT__HEAP_LANE | 7);
    CU_ASSERT_TRUE(h.cap >= N); /* room reserved for all of them */
    CU_ASSERT_EQUAL(pt__heap_push(&h, &v[N], 5), 0); /* before the last */
    CU_ASSERT_EQUAL(h.len, 1);
    CU_ASSERT_PTR_EQUAL(pt__heap_peek(&h), &v[N]);
    CU_ASSERT_EQUAL(pt__heap_push(&h, &v[N + 1], -1), 0); /* after it */
    CU_ASSERT_EQUAL(h.lane_live, N + 1);
    assert_valid(&h);

    /* Holes: the first (the next is first then), every third. */
    CU_ASSERT_EQUAL(pt__heap_remove(&h, &v[0]), 0);
    CU_ASSERT_EQUAL(h.lane_head, 1);
    for (size_t i = 3; i < N; i += 3)
        CU_ASSERT_EQUAL(pt__heap_remove(&h, &v[i]), 0);
    CU_ASSERT_EQUAL(pt__heap_remove(&h, &v[N + 1]), 0); /* the last */
    CU_ASSERT_EQUAL(h.lane_tail, N - 1); /* and the hole of v[99] before */
    assert_valid(&h);

    /* Updated out of the lane: into the reserved slot, up front. */
    pt__heap_slot *items = h.items;
    CU_ASSERT_EQUAL(pt__heap_update(&h, &v[50], 10), 0);
    CU_ASSERT_PTR_EQUAL(h.items, items);
    CU_ASSERT_EQUAL(v[50].index, 0);
    CU_ASSERT_PTR_EQUAL(pt__heap_peek(&h), &v[50]);
    assert_valid(&h);

    /* More than the ring holds: squeezed or grown, still in order. */
    for (size_t i = N + 2; i < N + MORE + 2; i++) {
        CU_ASSERT_EQUAL_FATAL(pt__heap_push(&h, &v[i], -2), 0);
        if (i % 7 == 0)
            CU_ASSERT_EQUAL_FATAL(pt__heap_remove(&h, &v[i - 3]), 0);
        if (i % 16 == 0)
            assert_valid(&h);
    }
    assert_valid(&h);
    size_t want = pt__heap_len(&h), count;
    CU_ASSERT_PTR_EQUAL(pt__heap_pop(&h), &v[50]);
    CU_ASSERT_PTR_EQUAL(pt__heap_pop(&h), &v[N]);
    CU_ASSERT_PTR_EQUAL(pt__heap_pop(&h), &v[1]);
    CU_ASSERT_TRUE(drain_in_order(&h, &count));
    CU_ASSERT_EQUAL(count + 3, want);
    CU_ASSERT_EQUAL(h.lane_head, h.lane_tail);
    pt__heap_free(&h);
    free(v);
}

/* Randomized, against a reference model. */

enum { POOL = 512, OPS = 100000 };

typedef struct model {
    int in[POOL];
    int64_t prio[POOL];
    uint64_t seq[POOL];
    uint64_t next_seq;
    size_t len;
} model;

/* The pool index the model says comes out next, or -1 if empty. */
static int model_best(const model *m)
{
    int best = -1;
    for (int i = 0; i < POOL; i++) {
        if (!m->in[i])
            continue;
        if (best < 0 || m->prio[i] > m->prio[best] ||
            (m->prio[i] == m->prio[best] && m->seq[i] < m->seq[best]))
            best = i;
    }
    return best;
}

/* Mostly a few values, for many ties; now and then an extreme. */
static int64_t random_prio(void)
{
    size_t r = rng_below(50);
    if (r == 0)
        return INT64_MIN;
    if (r == 1)
        return INT64_MAX;
    return (int64_t)rng_below(8) - 4;
}

static void op_push(pt__heap *h, pt__heap_node *v, model *m)
{
    int i = (int)rng_below(POOL);
    int64_t p = random_prio();
    int explicit = rng_below(10) == 0;
    uint64_t seq = explicit ? m->next_seq + rng_below(3) : m->next_seq;
    int rc = explicit ? pt__heap_push_seq(h, &v[i], p, seq)
                      : pt__heap_push(h, &v[i], p);
    if (m->in[i]) {
        CU_ASSERT_EQUAL_FATAL(rc, -EEXIST);
        return;
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(v[i].seq, seq);
    m->in[i] = 1;
    m->prio[i] = p;
    m->seq[i] = seq;
    m->next_seq = seq + 1;
    m->len++;
}

static void op_pop(pt__heap *h, pt__heap_node *v, model *m, int peek)
{
    int best = model_best(m);
    pt__heap_node *want = best < 0 ? NULL : &v[best];
    CU_ASSERT_PTR_EQUAL_FATAL(pt__heap_peek(h), want);
    if (peek)
        return;
    CU_ASSERT_PTR_EQUAL_FATAL(pt__heap_pop(h), want);
    if (want) {
        CU_ASSERT_EQUAL_FATAL(want->index, SIZE_MAX);
        m->in[best] = 0;
        m->len--;
    }
}

static void op_update(pt__heap *h, pt__heap_node *v, model *m)
{
    int i = (int)rng_below(POOL);
    int64_t p = random_prio();
    int rc = pt__heap_update(h, &v[i], p);
    CU_ASSERT_EQUAL_FATAL(rc, m->in[i] ? 0 : -ENOENT);
    if (m->in[i]) {
        CU_ASSERT_EQUAL_FATAL(v[i].seq, m->seq[i]);
        m->prio[i] = p;
    }
}

static void op_remove(pt__heap *h, pt__heap_node *v, model *m)
{
    int i = (int)rng_below(POOL);
    int rc = pt__heap_remove(h, &v[i]);
    CU_ASSERT_EQUAL_FATAL(rc, m->in[i] ? 0 : -ENOENT);
    CU_ASSERT_EQUAL_FATAL(v[i].index, SIZE_MAX);
    if (m->in[i]) {
        m->in[i] = 0;
        m->len--;
    }
}

/* One random operation; a heap that should `grow` gets more pushes. */
static void random_op(pt__heap *h, pt__heap_node *v, model *m, int grow)
{
    size_t r = rng_below(100);
    if (r < (grow ? 50u : 20u))
        op_push(h, v, m);
    else if (r < 60)
        op_pop(h, v, m, 0);
    else if (r < 80)
        op_update(h, v, m);
    else if (r < 95)
        op_remove(h, v, m);
    else
        op_pop(h, v, m, 1);
}

static void test_random_vs_model(void)
{
    pt__heap h;
    pt__heap_init(&h);
    pt__heap_node *v = nodes_new(POOL);
    model *m = calloc(1, sizeof(*m));
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    size_t max_len = 0;
    for (int k = 0; k < OPS; k++) {
        random_op(&h, v, m, k / 5000 % 2 == 0);
        CU_ASSERT_EQUAL_FATAL(pt__heap_len(&h), m->len);
        if (m->len > max_len)
            max_len = m->len;
        if (k % 4 == 0)
            assert_valid(&h);
    }
    printf("\n    %d operations, up to %zu nodes in the heap\n", OPS, max_len);
    while (m->len)
        op_pop(&h, v, m, 0);
    CU_ASSERT_PTR_NULL(pt__heap_pop(&h));
    pt__heap_free(&h);
    free(m);
    free(v);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_million(void)
{
    enum { N = 1000000 };
    pt__heap h;
    pt__heap_init(&h);
    pt__heap_node *v = nodes_new(N);
    double t0 = now_s();
    for (size_t i = 0; i < N; i++)
        if (pt__heap_push(&h, &v[i], (int64_t)rng_below(1000)) != 0)
            CU_FAIL_FATAL("push failed");
    double t1 = now_s();
    assert_valid(&h);
    double t2 = now_s();
    for (size_t i = 0; i < N; i++)
        pt__heap_update(&h, &v[rng_below(N)], (int64_t)rng_below(1000));
    double t3 = now_s();
    size_t count;
    CU_ASSERT_TRUE(drain_in_order(&h, &count));
    double t4 = now_s();
    CU_ASSERT_EQUAL(count, N);
    printf("\n    10^6 nodes: push %.0f ns, update %.0f ns, pop %.0f ns each; "
           "%zu slots of %zu bytes\n",
           (t1 - t0) * 1e9 / N, (t3 - t2) * 1e9 / N, (t4 - t3) * 1e9 / N, h.cap,
           sizeof(*h.items));
    pt__heap_free(&h);
    free(v);
}

static const pt_test_case cases[] = {
    {"fifo_order", test_fifo_order, 0},
    {"empty", test_empty, 0},
    {"update_up_down", test_update_up_down, 0},
    {"remove_first_middle_last", test_remove_first_middle_last, 0},
    {"remove_sifts_up", test_remove_sifts_up, 0},
    {"remove_every_slot", test_remove_every_slot, 0},
    {"not_in_heap", test_not_in_heap, 0},
    {"push_seq_move", test_push_seq_move, 0},
    {"free_and_reserve", test_free_and_reserve, 0},
    {"check_detects", test_check_detects, 0},
    {"lane", test_lane, 0},
    {"random_vs_model", test_random_vs_model, 120},
    {"million", test_million, 300},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("heap", cases, argc, argv);
}
