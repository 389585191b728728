/*
 * exec.h - the parts of the exec kernel (exec.c): running one program with
 * its output captured (exec_run.c) and reading the JSON object it printed
 * (exec_json.c). Private to the kernel; like every kernel it links nothing.
 */
#ifndef PT_KERNEL_EXEC_H
#define PT_KERNEL_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include <ptools/kernel.h>

/* Captured stdout beyond this fails the task. */
#define EXEC_STDOUT_MAX (16u << 20)

/* A growing byte buffer (NUL-terminated when not empty). */
typedef struct exec_buf {
    char *p;
    size_t len, cap;
} exec_buf;

/* Append n bytes: 0 or -ENOMEM. */
int exec_buf_add(exec_buf *b, const void *p, size_t n);
void exec_buf_free(exec_buf *b);

/* What to run and how. */
typedef struct exec_job {
    char *const *argv;  /* execvp'd: argv[0] is looked up in PATH */
    char *const *envp;  /* the child's whole environment */
    const char *cwd;    /* NULL: the worker's */
    const char *stdin_; /* NULL: /dev/null */
    bool capture;       /* stdout into `out`, else the worker's stdout */
} exec_job;

/* How it went. */
typedef struct exec_outcome {
    int status;    /* as waitpid gives it */
    exec_buf out;  /* stdout, when captured */
    bool too_much; /* stdout passed EXEC_STDOUT_MAX: the child was killed */
} exec_outcome;

/*
 * Run the job to its end (every pipe at EOF, the child reaped). 0, or a
 * negative errno with pt_fail called (the program could not be started:
 * "cannot run `x`: No such file or directory", or a system call failed).
 */
int exec_run(pt_ctx *ctx, const exec_job *job, exec_outcome *o);

/* Set a result for every member of the JSON object in `text`: 0, or -1
 * with pt_fail called naming what is wrong and where. */
int exec_json_results(pt_ctx *ctx, const char *text, size_t len);

#endif
