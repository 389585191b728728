/*
 * cluster_msg.h - the messages between rank 0 and its agents (cluster.h), as
 * bytes: packed here, sent and received by cluster_mpi.c. Everything received
 * is checked before use (a bad message is -EBADMSG): counts, lengths and
 * offsets stay inside the message. Little-endian hosts of one build only:
 * every rank runs the same ptrun-mpi.
 */
#ifndef RN_CLUSTER_MSG_H
#define RN_CLUSTER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <ptools/buf.h>

enum {
    RN_TAG_HELLO = 1,
    RN_TAG_TASKS,
    RN_TAG_RESULTS,
    RN_TAG_CANCEL,
    RN_TAG_KILL,
    RN_TAG_STOP,
    RN_TAG_TAKE /* give back tasks not started (rank 0 -> agent) */
};

/* What an item of a results batch says about its task. */
enum {
    RN_RES_DONE = 0, /* the attempt ended (the fields below) */
    RN_RES_STARTED,  /* a worker started it: worker, start_ns */
    RN_RES_BACK      /* given back, never started (asked by a take) */
};

/* Flags of a results batch. */
#define RN_MSGF_STARVED                                                        \
    1u                    /* the agent had a free worker and nothing to run    \
                           */
#define RN_MSGF_ANSWER 2u /* it answers a take: every task given is in it */

/* One task for an agent: its args are an encoded map (value.h). */
typedef struct rn_msg_task {
    int64_t id;
    int32_t set, kernel, step;
    int32_t worker; /* pinned to this worker of the set, or -1 */
    uint32_t args_len;
    const uint8_t *args; /* into the message */
    int64_t priority;    /* in the agent's own queue */
} rn_msg_task;

/* One finished attempt, from an agent. Times are CLOCK_REALTIME. */
typedef struct rn_msg_result {
    int64_t id;
    int32_t status, worker, signal, exit_code;
    int64_t max_rss_kb, start_ns, end_ns;
    const char *error;      /* NUL-terminated, or NULL */
    const uint8_t *results; /* an encoded map, or NULL */
    uint32_t results_len;
    int32_t kind; /* RN_RES_* */
} rn_msg_result;

/*
 * A take (rank 0 -> agent): give back the tasks `ids` that no worker has
 * started, and `any` more of the agent's choice (not pinned ones). The
 * agent answers with one results batch flagged RN_MSGF_ANSWER.
 */
int rn_msg_take(pt_buf *b, int64_t stamp, int64_t any, const int64_t *ids,
                uint32_t n);
/* Read a take: 0 with *any, *ids (into the message, 8-aligned) and *n. */
int rn_msg_read_take(const void *p, size_t len, int64_t *any,
                     const int64_t **ids, uint32_t *n);

/* A batch being built: call begin, add items, then send b->data/len.
 * Its head also holds a stamp (tasks: rank 0's CLOCK_MONOTONIC when sent;
 * results: the stamp of the last tasks batch the agent read, once, so
 * rank 0 measures the round trip) and flags (RN_MSGF_*). */
void rn_msg_begin(pt_buf *b, uint32_t magic);
void rn_msg_set_head(pt_buf *b, int64_t stamp, uint32_t flags);
int rn_msg_add_task(pt_buf *b, const rn_msg_task *t);
int rn_msg_add_result(pt_buf *b, const rn_msg_result *r);
/* How many items the batch under construction holds. */
uint32_t rn_msg_count(const pt_buf *b);

/* Reading a received batch: open it, then next() until it returns 0. */
typedef struct rn_msg_reader {
    const uint8_t *p;
    size_t len, off;
    uint32_t left;
    int64_t stamp;
    uint32_t flags;
} rn_msg_reader;

#define RN_MSG_TASKS 0x42545450u   /* "PTTB" */
#define RN_MSG_RESULTS 0x42525450u /* "PTRB" */
#define RN_MSG_TAKE 0x424b5450u    /* "PTKB" */

int rn_msg_open(rn_msg_reader *r, const void *p, size_t len, uint32_t magic);
/* 1 with *t filled, 0 at the end, -EBADMSG. */
int rn_msg_next_task(rn_msg_reader *r, rn_msg_task *t);
int rn_msg_next_result(rn_msg_reader *r, rn_msg_result *out);

#endif
