/* ws_output.c - what workers print, line by line, to the set's output hook
 * (workerset.h: pt_output_fn). */
#include <string.h>

#include "internal.h"
#include "ws_impl.h"

/* Hand every whole line of buffer `b` to the set's output hook. */
static void emit_lines(pt_workerset *ws, slot *s, int64_t task, int stream,
                       pt_buf *b, int all)
{
    size_t start = 0;
    if (b->len && !ws->batch_opt) /* see learn() */
        ws->printed = 1, ws->batch = 1;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] != '\n')
            continue;
        ws->output_fn(ws->output_arg, s->index, task, stream + 1,
                      (const char *)b->data + start, i - start);
        start = i + 1;
    }
    if (all && start < b->len) { /* a last line without its newline */
        ws->output_fn(ws->output_arg, s->index, task, stream + 1,
                      (const char *)b->data + start, b->len - start);
        start = b->len;
    }
    if (start == 0)
        return;
    memmove(b->data, b->data + start, b->len - start);
    b->len -= start;
}

/*
 * Read what worker s printed so far. A line longer than 64 KiB is cut
 * into pieces rather than held without bound.
 */
void pt__ws_read_output(pt_workerset *ws, slot *s, int64_t task)
{
    s->out_ready = 0;
    for (int k = 0; k < 2; k++) {
        pt_buf *b = &s->line[k];
        while (s->out_fd[k] >= 0 && pt_buf_reserve(b, 4096) == 0) {
            ssize_t n = pt_sys_read_some(s->out_fd[k], b->data + b->len, 4096);
            if (n <= 0) {
                if (n == 0) { /* it closed its stdout or stderr */
                    pt_sys_close(s->out_fd[k]);
                    s->out_fd[k] = -1;
                }
                break;
            }
            b->len += (size_t)n;
            emit_lines(ws, s, task, k, b, b->len > 65536);
        }
    }
}

/* At a worker's death: read the rest and flush half lines. */
void pt__ws_close_output(pt_workerset *ws, slot *s, int64_t task)
{
    if (!ws->output_fn)
        return;
    pt__ws_read_output(ws, s, task);
    for (int k = 0; k < 2; k++) {
        emit_lines(ws, s, task, k, &s->line[k], 1);
        pt_buf_free(&s->line[k]);
        pt_sys_close(s->out_fd[k]);
        s->out_fd[k] = -1;
    }
}
