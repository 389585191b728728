/*
 * man_text.c - man-page source as plain text (help.h), so that `ptrun help
 * spec` and ptrun.yaml(5) are one text: docs/ptrun.yaml.5 is embedded in
 * ptrun at build time and rendered here. Only the macros that page uses
 * are known (TH SH SS TP IP PP RS RE nf fi br, and the font macros B I BR
 * IR RB BI IB RI); paragraphs are filled to the width given.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cli/help.h"

#define LINE_MAX_LEN 1024
#define PARA_MAX 8192
#define RS_MAX 8

typedef struct man {
    FILE *out;
    int width;
    int base;   /* indent of tags and paragraphs in this section */
    int body;   /* indent of the paragraph being filled */
    bool tag;   /* the next text is a .TP tag */
    bool nf;    /* inside .nf ... .fi */
    bool blank; /* the last line out was blank (or nothing yet) */
    int rs[RS_MAX], nrs;
    char para[PARA_MAX];
    size_t len;
} man;

/* The text of `in` with escapes resolved and fonts dropped. */
static void unescape(const char *in, char *out, size_t size)
{
    static const char *const named[][2] = {
        {"(em", "--"}, {"(dq", "\""}, {"(aq", "'"}, {"(bu", "*"}};
    size_t o = 0;
    for (const char *p = in; *p && o + 3 < size; p++) {
        if (*p != '\\') {
            out[o++] = *p;
            continue;
        }
        p++;
        if (*p == 'f' && p[1]) { /* \fB \fI \fR \fP */
            p++;
            continue;
        }
        if (*p == '(') {
            for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
                if (strncmp(p, named[i][0], 3) == 0) {
                    o += (size_t)snprintf(out + o, size - o, "%s", named[i][1]);
                    break;
                }
            p += p[1] && p[2] ? 2 : 0;
            continue;
        }
        if (*p == 'e')
            out[o++] = '\\';
        else if (*p == '-' || *p == ' ')
            out[o++] = *p;
        else if (*p == '\0')
            break;
        /* \& \% and the rest: nothing */
    }
    out[o] = '\0';
}

/* The arguments of a macro line joined (with spaces for B and I, without
 * for the alternating BR, IR, ...), quotes removed. */
static void macro_text(const char *args, bool alternate, char *out, size_t size)
{
    char joined[LINE_MAX_LEN];
    size_t o = 0;
    bool quoted = false, first = true;
    for (const char *p = args; *p && o + 2 < sizeof joined; p++) {
        if (*p == '"') {
            quoted = !quoted;
        } else if (*p == ' ' && !quoted) {
            while (p[1] == ' ')
                p++;
            if (!alternate && !first && p[1])
                joined[o++] = ' ';
        } else {
            joined[o++] = *p;
            first = false;
        }
    }
    joined[o] = '\0';
    unescape(joined, out, size);
}

static void put_line(man *m, int indent, const char *text)
{
    fprintf(m->out, "%*s%s\n", text[0] ? indent : 0, "", text);
    m->blank = text[0] == '\0';
}

static void blank_line(man *m)
{
    if (!m->blank)
        put_line(m, 0, "");
}

/* Write the paragraph filled to the width, at m->body. */
static void flush(man *m)
{
    int room = m->width - m->body > 20 ? m->width - m->body : 20;
    char line[PARA_MAX];
    size_t n = 0;
    m->para[m->len] = '\0';
    for (char *w = strtok(m->para, " "); w; w = strtok(NULL, " ")) {
        size_t wl = strlen(w);
        if (n && n + 1 + wl > (size_t)room) {
            line[n] = '\0';
            put_line(m, m->body, line);
            n = 0;
        }
        n += (size_t)snprintf(line + n, sizeof line - n, "%s%s", n ? " " : "",
                              w);
    }
    if (n) {
        line[n] = '\0';
        put_line(m, m->body, line);
    }
    m->len = 0;
}

/* Text for the page: a .TP tag on its own line, else into the paragraph. */
static void text(man *m, const char *t)
{
    if (m->nf) {
        put_line(m, m->body, t);
    } else if (m->tag) {
        put_line(m, m->base, t);
        m->tag = false;
        m->body = m->base + 4;
    } else if (!t[0]) {
        flush(m);
        blank_line(m);
    } else if (m->len + strlen(t) + 2 < PARA_MAX) {
        m->len += (size_t)snprintf(m->para + m->len, PARA_MAX - m->len, "%s%s",
                                   m->len ? " " : "", t);
    }
}

static void section(man *m, const char *title, int indent)
{
    flush(m);
    blank_line(m);
    put_line(m, indent, title);
    m->nrs = 0;
    m->base = m->body = indent ? 4 : 2;
}

/* A macro line (without its leading '.'). */
static void macro(man *m, const char *name, const char *args)
{
    char t[LINE_MAX_LEN];
    bool font = !strcmp(name, "B") || !strcmp(name, "I");
    bool alt = strlen(name) == 2 && strchr("BIR", name[0]) &&
               strchr("BIR", name[1]) && name[0] != name[1];
    macro_text(args, alt, t, sizeof t);
    if (font || alt) {
        text(m, t);
        return;
    }
    if (!strcmp(name, "nf") || !strcmp(name, "fi") || !strcmp(name, "br"))
        flush(m);
    if (!strcmp(name, "SH") || !strcmp(name, "SS"))
        section(m, t, name[1] == 'S' ? 2 : 0);
    else if (!strcmp(name, "TP") || !strcmp(name, "IP") ||
             !strcmp(name, "PP") || !strcmp(name, "P")) {
        flush(m);
        blank_line(m);
        m->tag = name[0] == 'T';
        m->body = name[0] == 'I' ? m->base + 4 : m->base;
    } else if (!strcmp(name, "RS") && m->nrs < RS_MAX) {
        flush(m);
        m->rs[m->nrs++] = m->base;
        m->base = m->body = m->body + 2;
    } else if (!strcmp(name, "RE") && m->nrs > 0) {
        flush(m);
        m->base = m->body = m->rs[--m->nrs];
    } else if (!strcmp(name, "nf") || !strcmp(name, "fi")) {
        m->nf = name[0] == 'n';
    }
}

static void line(man *m, char *l)
{
    char t[LINE_MAX_LEN];
    if (l[0] != '.' && l[0] != '\'') {
        unescape(l, t, sizeof t);
        text(m, t);
        return;
    }
    if (l[1] == '\\' && l[2] == '"') /* a comment */
        return;
    char *name = l + 1, *args = name + strcspn(name, " ");
    if (*args)
        *args++ = '\0';
    macro(m, name, args);
}

int rn_man_text(const char *src, int width, FILE *out)
{
    man m = {.out = out, .width = width, .base = 2, .body = 2, .blank = true};
    char l[LINE_MAX_LEN];
    while (*src) {
        size_t n = strcspn(src, "\n");
        snprintf(l, sizeof l, "%.*s", (int)(n < sizeof l ? n : sizeof l - 1),
                 src);
        line(&m, l);
        src += n + (src[n] == '\n');
    }
    flush(&m);
    return ferror(out) ? -EIO : 0;
}
