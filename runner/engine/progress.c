/* progress.c - the running step's progress on stderr (see progress.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <ptools/json.h>
#include <ptools/sys.h>

#include "engine/progress.h"
#include "events/rundir.h"

#define PERIOD_NS INT64_C(100000000) /* at most 10 redraws a second */

void rn_progress_init(rn_progress *p, rn_progress_mode mode, bool quiet)
{
    *p = (rn_progress){.mode = mode};
    if (mode == RN_PROGRESS_AUTO)
        p->mode = !quiet && isatty(STDERR_FILENO) ? RN_PROGRESS_TTY
                                                  : RN_PROGRESS_OFF;
}

void rn_progress_step_start(rn_progress *p, int64_t now_ns)
{
    p->step_start_ns = now_ns;
    p->last_ns = 0;
}

static int columns(void)
{
    struct winsize w;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col >= 20)
        return w.ws_col;
    return 80;
}

/* "1:02:03", "2:03" or "--" when unknown. */
static void clock_text(char *out, size_t size, double s)
{
    if (s < 0 || s > 360000) {
        snprintf(out, size, "--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, size, "%ld:%02ld", t / 60, t % 60);
}

/* Append to out[*n] what fits of the format (always NUL-terminated). */
static void add(char *out, size_t size, int *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *out, size_t size, int *n, const char *fmt, ...)
{
    if ((size_t)*n >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(out + *n, size - (size_t)*n, fmt, ap);
    va_end(ap);
    if (m > 0)
        *n = (size_t)(*n + m) < size ? *n + m : (int)size - 1;
}

/* What the line may leave out when it is too wide, first dropped first:
 * the bar (after shrinking to BAR_MIN), the rate, running, the step's
 * name. The ETA goes last: at the end of the line, it is kept when the
 * rest must be cut. */
enum { SHOW_RATE = 1, SHOW_RUNNING = 2, SHOW_NAME = 4, SHOW_ALL = 7 };
#define BAR_MIN 10
#define BAR_MAX 40

/* The line but its ETA. */
static int format_body(char *out, size_t size, const rn_progress_state *st,
                       double rate, int show)
{
    int n = 0;
    int pct = st->total ? (int)(100 * st->done / st->total) : 100;
    out[0] = '\0';
    add(out, size, &n, "step %d/%d", st->step + 1, st->nsteps);
    if (show & SHOW_NAME)
        add(out, size, &n, " %s", st->step_name);
    add(out, size, &n, ": %" PRId64 "/%" PRId64 " %3d%%", st->done, st->total,
        pct);
    if (show & SHOW_RUNNING)
        add(out, size, &n, "  running %" PRId64, st->running);
    add(out, size, &n, "  failed %" PRId64, st->failed);
    if (st->cancelled)
        add(out, size, &n, "  cancelled %" PRId64, st->cancelled);
    if (show & SHOW_RATE)
        add(out, size, &n, "  %.0f tasks/s", rate);
    if (st->paused)
        add(out, size, &n, "  [paused]");
    return n;
}

int rn_progress_format(const rn_progress_state *st, double rate, double eta,
                       bool final, int cols, char *out, size_t size)
{
    int width = cols - 1; /* never the last column: no wrap */
    char eta_s[32], tail[48];
    if (size == 0)
        return 0;
    clock_text(eta_s, sizeof eta_s, eta);
    int t = snprintf(tail, sizeof tail, "  %s %s", final ? "took" : "ETA",
                     eta_s);
    int n = format_body(out, size, st, rate, SHOW_ALL);
    int room = width - n - t - 3; /* " [" bar "]" */
    if (room >= BAR_MIN) {
        int w = room > BAR_MAX ? BAR_MAX : room;
        int fill = st->total ? (int)(w * st->done / st->total) : w;
        fill = fill > w ? w : fill;
        char bar[BAR_MAX + 1];
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(w - fill));
        bar[w] = '\0';
        add(out, size, &n, "%s [%s]", tail, bar);
        return n;
    }
    static const int drop[] = {SHOW_RATE, SHOW_RUNNING, SHOW_NAME};
    for (int i = 0, show = SHOW_ALL; i < 3 && n + t > width; i++) {
        show &= ~drop[i];
        n = format_body(out, size, st, rate, show);
    }
    if (n + t > width) { /* cut the rest, at a gap: keep the ETA */
        int cut = width > t ? width - t : 0;
        n = cut;
        while (n > 0 && !(out[n] == ' ' && out[n - 1] == ' '))
            n--;
        n = n > 0 ? n - 1 : cut;
    }
    out[n] = '\0';
    add(out, size, &n, "%s", tail);
    if (n > width) {
        n = width > 0 ? width : 0;
        out[n] = '\0';
    }
    return n;
}

static void show_tty(rn_progress *p, const rn_progress_state *st, double rate,
                     double eta, bool final)
{
    char line[512];
    int n = rn_progress_format(st, rate, eta, final, columns(), line,
                               sizeof line);
    char out[600];
    int m = snprintf(out, sizeof out, "\r%.*s\033[K%s", n, line,
                     final ? "\n" : "");
    if (m > 0)
        (void)pt_sys_write_full(STDERR_FILENO, out, /* best effort */
                                (size_t)m < sizeof out ? (size_t)m
                                                       : sizeof out - 1);
    p->shown = final ? 0 : n;
}

static void show_jsonl(const rn_progress_state *st, double rate, double eta,
                       bool final)
{
    pt_buf b = {0};
    pt_buf_printf(&b,
                  "{\"type\":\"progress\",\"step\":%d,\"nsteps\":%d,"
                  "\"step_name\":",
                  st->step, st->nsteps);
    pt_json_cstr(&b, st->step_name);
    pt_buf_printf(&b,
                  ",\"done\":%" PRId64 ",\"total\":%" PRId64
                  ",\"running\":%" PRId64 ",\"waiting\":%" PRId64
                  ",\"failed\":%" PRId64 ",\"cancelled\":%" PRId64
                  ",\"tasks_per_s\":%.3f,\"eta_s\":",
                  st->done, st->total, st->running, st->waiting, st->failed,
                  st->cancelled, rate);
    if (eta >= 0)
        pt_buf_printf(&b, "%.3f", eta);
    else
        pt_buf_printf(&b, "null");
    pt_buf_printf(&b, ",\"paused\":%s,\"final\":%s}\n",
                  st->paused ? "true" : "false", final ? "true" : "false");
    if (b.data)
        (void)pt_sys_write_full(STDERR_FILENO, b.data, b.len);
    pt_buf_free(&b);
}

void rn_progress_show(rn_progress *p, const rn_progress_state *st,
                      int64_t now_ns, bool final)
{
    if (p->mode == RN_PROGRESS_OFF ||
        (!final && p->last_ns && now_ns - p->last_ns < PERIOD_NS))
        return;
    p->last_ns = now_ns;
    double secs = (double)(now_ns - p->step_start_ns) * 1e-9;
    double rate = secs > 0 ? (double)st->done / secs : 0;
    double eta = final ? secs
                 : rate > 0 && secs >= 0.5 /* a rate worth the name */
                     ? (double)(st->total - st->done) / rate
                     : -1;
    if (p->mode == RN_PROGRESS_TTY)
        show_tty(p, st, rate, eta, final);
    else
        show_jsonl(st, rate, final ? 0 : eta, final);
}

void rn_progress_clear(rn_progress *p)
{
    if (p->mode != RN_PROGRESS_TTY || !p->shown)
        return;
    (void)pt_sys_write_full(STDERR_FILENO, "\r\033[K", 4);
    p->shown = 0;
    p->last_ns = 0; /* redraw at the next chance */
}

int rn_progress_timeout_ms(const rn_progress *p, int64_t now_ns)
{
    if (p->mode == RN_PROGRESS_OFF)
        return -1;
    int64_t left = p->last_ns + PERIOD_NS - now_ns;
    return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}
