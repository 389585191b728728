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
    RN_TAG_STOP
};

/* One task for an agent: its args are an encoded map (value.h). */
typedef struct rn_msg_task {
    int64_t id;
    int32_t set, kernel, step;
    int32_t worker; /* pinned to this worker of the set, or -1 */
    uint32_t args_len;
    const uint8_t *args; /* into the message */
} rn_msg_task;

/* One finished attempt, from an agent. Times are CLOCK_REALTIME. */
typedef struct rn_msg_result {
    int64_t id;
    int32_t status, worker, signal, exit_code;
    int64_t max_rss_kb, start_ns, end_ns;
    const char *error;      /* NUL-terminated, or NULL */
    const uint8_t *results; /* an encoded map, or NULL */
    uint32_t results_len;
} rn_msg_result;

/* A batch being built: call begin, add items, then send b->data/len. */
void rn_msg_begin(pt_buf *b, uint32_t magic);
int rn_msg_add_task(pt_buf *b, const rn_msg_task *t);
int rn_msg_add_result(pt_buf *b, const rn_msg_result *r);
/* How many items the batch under construction holds. */
uint32_t rn_msg_count(const pt_buf *b);

/* Reading a received batch: open it, then next() until it returns 0. */
typedef struct rn_msg_reader {
    const uint8_t *p;
    size_t len, off;
    uint32_t left;
} rn_msg_reader;

#define RN_MSG_TASKS 0x42545450u   /* "PTTB" */
#define RN_MSG_RESULTS 0x42525450u /* "PTRB" */

int rn_msg_open(rn_msg_reader *r, const void *p, size_t len, uint32_t magic);
/* 1 with *t filled, 0 at the end, -EBADMSG. */
int rn_msg_next_task(rn_msg_reader *r, rn_msg_task *t);
int rn_msg_next_result(rn_msg_reader *r, rn_msg_result *out);

#endif
