/*
 * ctl_request.c - one request line of live control (see ctl.h): read it as
 * strict JSON with jansson, check its command and members into an
 * rn_ctl_req, and apply it. The server (ctl.c) and the fuzzer
 * (fuzz/fuzz_json.c) call rn_ctl_request(); it never touches a socket.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <ptools/export.h>

#include "ctl/ctl.h"

enum { K_CMD, K_TASK, K_KERNEL, K_TAG, K_PRIORITY, K_COUNT };
static const char *const key_names[K_COUNT] = {"cmd", "task", "kernel", "tag",
                                               "priority"};
static const char *const cmd_names[] = {"status", "priority", "cancel", "pause",
                                        "resume"};

/* A request being read: its members as they come. */
typedef struct parsed {
    rn_ctl_req req;
    char *cmd, *kernel, *tag;
    unsigned seen; /* a bit per key_names entry */
    char why[RN_CTL_WHY];
} parsed;

PT_PRINTF(2, 3)
static int bad(parsed *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->why, sizeof q->why, fmt, ap);
    va_end(ap);
    return 1;
}

/* A JSON integer (jansson refuses those past int64_t). */
static bool json_int(const json_t *v, int64_t *out)
{
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

/* A non-empty JSON string, copied. */
static int json_name(parsed *q, const char *key, const json_t *v, char **out)
{
    if (!json_is_string(v) || !json_string_length(v))
        return bad(q, "\"%s\" must be a non-empty string", key);
    if (!(*out = strdup(json_string_value(v))))
        return bad(q, "out of memory");
    return 0;
}

static int take_member(parsed *q, const char *key, const json_t *v)
{
    int k = 0;
    while (k < K_COUNT && strcmp(key, key_names[k]) != 0)
        k++;
    if (k == K_COUNT)
        return bad(q, "unknown key \"%.40s\"", key);
    q->seen |= 1u << k;
    switch (k) {
    case K_CMD: return json_name(q, key, v, &q->cmd);
    case K_KERNEL: return json_name(q, key, v, &q->kernel);
    case K_TAG: return json_name(q, key, v, &q->tag);
    case K_TASK:
        if (!json_int(v, &q->req.task) || q->req.task < 0)
            return bad(q, "\"task\" must be a task id (an integer >= 0)");
        return 0;
    default:
        if (!json_int(v, &q->req.priority))
            return bad(q, "\"priority\" must be a 64-bit integer");
        return 0;
    }
}

/*
 * Read the request's JSON (strict: one object, valid UTF-8, no duplicate
 * keys, no \u0000) and take its members in order: 0 or 1 (q->why).
 */
static int parse_request(parsed *q, const char *line, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    const char *key;
    json_t *v;
    int rc = 0;
    if (!root)
        return bad(q, "bad JSON at offset %d: %s", je.position, je.text);
    if (!json_is_object(root))
        rc = bad(q, "bad JSON at offset 0: expected an object");
    else
        json_object_foreach(root, key, v)
        {
            if ((rc = take_member(q, key, v)) != 0)
                break;
        }
    json_decref(root);
    return rc;
}

/* The command and its members, once all are read: 0 or 1 (q->why). */
static int check_request(parsed *q)
{
    int cmd = 0, ncmds = (int)(sizeof cmd_names / sizeof cmd_names[0]);
    if (!q->cmd)
        return bad(q, "missing \"cmd\"");
    while (cmd < ncmds && strcmp(q->cmd, cmd_names[cmd]) != 0)
        cmd++;
    if (cmd == ncmds)
        return bad(q,
                   "unknown cmd \"%.40s\" (status, priority, cancel, "
                   "pause or resume)",
                   q->cmd);
    q->req.cmd = (rn_ctl_cmd)cmd;
    int selectors = !!(q->seen & 1u << K_TASK) + !!q->kernel + !!q->tag;
    bool prio = q->seen & 1u << K_PRIORITY;
    bool selects = cmd == RN_CTL_PRIORITY || cmd == RN_CTL_CANCEL;
    if (selects && selectors != 1)
        return bad(q, "%s needs exactly one of \"task\", \"kernel\", \"tag\"",
                   q->cmd);
    if (!selects && selectors)
        return bad(q, "%s takes no selector", q->cmd);
    if (cmd == RN_CTL_PRIORITY && !prio)
        return bad(q, "priority needs \"priority\"");
    if (cmd != RN_CTL_PRIORITY && prio)
        return bad(q, "%s takes no \"priority\"", q->cmd);
    q->req.kernel = q->kernel;
    q->req.tag = q->tag;
    return 0;
}
int rn_ctl_request(char *line, size_t len, rn_ctl_apply_fn fn, void *arg,
                   pt_buf *reply, char *why, size_t whylen)
{
    parsed q = {.req = {.task = -1, .json = line}};
    char err[sizeof q.why] = ""; /* as long: gcc -O0 checks the copies */
    int rc;
    if (len && line[len - 1] == '\r')
        line[--len] = '\0';
    if (memchr(line, '\0', len))
        rc = bad(&q, "a NUL byte in the request");
    else
        rc = parse_request(&q, line, len);
    if (rc == 0)
        rc = check_request(&q);
    if (rc != 0) {
        rc = -EINVAL;
    } else {
        pt_buf_reset(reply);
        rc = fn(arg, &q.req, reply, err, sizeof err);
        if (rc < 0)
            snprintf(q.why, sizeof q.why, "%s", err[0] ? err : strerror(-rc));
        rc = rc < 0 ? rc : 0;
    }
    if (rc < 0)
        snprintf(why, whylen, "%s", q.why);
    free(q.cmd);
    free(q.kernel);
    free(q.tag);
    return rc;
}
