/*
 * help.c - ptrun's own words (help.h): one table of commands, each with
 * its usage, help, examples and options, from which come `ptrun help`,
 * `ptrun COMMAND --help`, the usage after a mistake and the "did you mean"
 * for an unknown command or option.
 */
#include <errno.h>
#include <string.h>

#include "cli/help.h"
#include "spec/spec_check.h" /* rn_hint: "did you mean" */
#include "spec_reference.h"  /* docs/ptrun.yaml.5, embedded */

typedef struct option {
    const char *name;
    rn_opt_kind kind;
} option;

typedef struct command {
    const char *name;
    const char *usage; /* lines after "usage: " */
    const char *help;  /* description, options, examples */
    option opts[12];   /* ends with {NULL}; --help and -h are always known */
} command;

#define V RN_OPT_VALUE
#define F RN_OPT_FLAG

static const command commands[] = {
    {"run",
     "ptrun run JOB.yaml [--out DIR] [--set PATH=VALUE]...\n"
     "                 [--resume DIR [--force]] [--tee] [--trace FILE]\n"
     "                 [--progress auto|none|tty|jsonl] [-q]\n"
     "                 [--mpi-dedicated-root]   (under mpirun)\n",
     "Run a job: create its shared memory, start its worker sets, run its\n"
     "steps in order (each a barrier) and write the run folder: job.yaml,\n"
     "manifest.json, results.jsonl, output.log, shm/NAME.npy.\n\n"
     "OPTIONS\n"
     "  --out DIR          The run folder (default "
     "runs/NAME-yyyymmdd-HHMMSS);\n"
     "                     it must not exist, or be empty.\n"
     "  --set PATH=VALUE   Override a scalar of the spec by dotted path;\n"
     "                     list items by index (from 0) or by name.\n"
     "  --resume DIR       Finish an interrupted run: tasks whose latest\n"
     "                     line in DIR/results.jsonl is ok are not run\n"
     "                     again. Refused when the spec or a kernel differs\n"
     "                     from DIR/manifest.json's.\n"
     "  --force            Resume all the same.\n"
     "  --tee              Also echo what kernels print on stderr (it always\n"
     "                     goes to DIR/output.log).\n"
     "  --trace FILE       Also write a timeline of the run to FILE, for\n"
     "                     ui.perfetto.dev or chrome://tracing.\n"
     "  --progress MODE    auto (a line redrawn on a terminal), none, tty,\n"
     "                     or jsonl (one JSON object a line, for tools).\n"
     "  -q, --quiet        No summary and no progress line on stderr.\n"
     "  --mpi-dedicated-root  Under mpirun: rank 0 only plans, dispatches\n"
     "                     and records; the other ranks run every task.\n\n"
     "EXIT STATUS\n"
     "  0 all tasks ok; 1 some tasks not ok; 2 bad usage or bad spec;\n"
     "  3 runtime error; 130 interrupted.\n\n"
     "EXAMPLES\n"
     "  ptrun run configs/pi.yaml\n"
     "  ptrun run configs/pi.yaml --set seed=7 --set workersets.cpu.workers=4\n"
     "  ptrun run configs/pi.yaml --out runs/pi --resume runs/pi\n"
     "  ptrun run configs/pi.yaml --trace pi-trace.json -q\n",
     {{"--out", V},
      {"--set", V},
      {"--resume", V},
      {"--force", F},
      {"--tee", F},
      {"--trace", V},
      {"--progress", V},
      {"-q", F},
      {"--quiet", F},
      {"--mpi-dedicated-root", F},
      {NULL, F}}},
    {"check",
     "ptrun check JOB.yaml [--set PATH=VALUE]...\n",
     "Validate a job spec without running it, and print the expanded plan:\n"
     "every step (numbered from 1) and every task with its id, kernel,\n"
     "worker set, priority, seed and args. Kernel libraries are loaded in\n"
     "a child process to read their kernels and params. Errors read\n"
     "FILE:LINE:COL: message; exit 2.\n\n"
     "OPTIONS\n"
     "  --set PATH=VALUE   Override a scalar of the spec, as for run.\n\n"
     "EXAMPLES\n"
     "  ptrun check configs/pi.yaml\n"
     "  ptrun check configs/pi.yaml --set seed=7 | head\n",
     {{"--set", V}, {NULL, F}}},
    {"kernels",
     "ptrun kernels [NAME|LIB.so]...\n",
     "Without arguments, list the shipped kernels. With names (found as job\n"
     "specs find them) or LIB.so files, print each kernel's ABI, doc and\n"
     "declared params (type, default or required, doc). Each library is\n"
     "loaded in a child process, never in ptrun.\n\n"
     "EXAMPLES\n"
     "  ptrun kernels\n"
     "  ptrun kernels pi exec\n"
     "  ptrun kernels build/kernels/*.so\n",
     {{NULL, F}}},
    {"clean",
     "ptrun clean [--prefix P]\n",
     "Remove named shared memory segments (named: true) whose owning run is\n"
     "dead, and print how many.\n\n"
     "OPTIONS\n"
     "  --prefix P         Only segments of prefix P (shm.prefix).\n\n"
     "EXAMPLES\n"
     "  ptrun clean\n"
     "  ptrun clean --prefix pi\n",
     {{"--prefix", V}, {NULL, F}}},
    {"report",
     "ptrun report DIR [--out FILE] [-q]\n",
     "Write DIR/report.html (or FILE): the run folder DIR as one\n"
     "self-contained page (summary, timeline of every attempt, latency\n"
     "histograms) that loads nothing from anywhere.\n\n"
     "OPTIONS\n"
     "  --out FILE         The page (default DIR/report.html).\n"
     "  -q, --quiet        Do not say where it went.\n\n"
     "EXAMPLES\n"
     "  ptrun report runs/pi && xdg-open runs/pi/report.html\n",
     {{"--out", V}, {"-q", F}, {"--quiet", F}, {NULL, F}}},
    {"ctl",
     "ptrun ctl DIR status [--json]\n"
     "       ptrun ctl DIR pause | resume [--json]\n"
     "       ptrun ctl DIR priority TASK|kernel=K|tag=T PRIO [--json]\n"
     "       ptrun ctl DIR cancel TASK|kernel=K|tag=T [--json]\n",
     "Control the run that is live in the run folder DIR, through\n"
     "DIR/ctl.sock. status shows counts by status, the running tasks (worker,\n"
     "elapsed time), what is queued per worker set and the current step.\n"
     "pause and resume stop and restart dispatching. priority changes the\n"
     "priority of tasks not yet at a worker, cancel cancels them; a task is\n"
     "chosen by its id, by kernel=K or by tag=T (a task's tags: [T]).\n"
     "A run that holds DIR but has not opened its socket yet (it does 1 ms\n"
     "after its first tasks start) is waited for, up to 10 s.\n\n"
     "OPTIONS\n"
     "  --json             Print the run's reply as it came: one line of\n"
     "                     JSON (the machine form).\n\n"
     "EXIT STATUS\n"
     "  0 done; 1 the run refused (e.g. no task selected); 2 bad usage;\n"
     "  3 no run listens in DIR, or none answered within 10 s.\n\n"
     "EXAMPLES\n"
     "  ptrun ctl runs/pi status\n"
     "  ptrun ctl runs/pi status --json | jq .counts\n"
     "  ptrun ctl runs/pi priority kernel=pi 50\n"
     "  ptrun ctl runs/pi cancel tag=slow\n",
     {{"--json", F}, {NULL, F}}},
    {"help",
     "ptrun help [COMMAND | spec]\n",
     "Print the help of a command (also ptrun COMMAND --help), or with\n"
     "spec the reference of every key of a job spec (as man ptrun.yaml).\n\n"
     "EXAMPLES\n"
     "  ptrun help run\n"
     "  ptrun help spec | less\n",
     {{NULL, F}}},
};

#undef V
#undef F

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char overview[] =
    "ptrun - run a batch of tasks described in YAML on forked workers\n\n"
    "COMMANDS\n"
    "  run      Run a job and write its run folder.\n"
    "  check    Validate a job spec and print the expanded plan.\n"
    "  kernels  List kernels, their docs and params.\n"
    "  clean    Remove shared memory segments whose run is dead.\n"
    "  report   Write a run folder as one HTML page.\n"
    "  ctl      Control a live run: status, pause, resume, priority, cancel.\n"
    "  help     Help on a command, or on the job spec (help spec).\n\n"
    "Run ptrun help COMMAND (or ptrun COMMAND --help) for its options and\n"
    "examples, ptrun help spec for every key of a job spec.\n\n"
    "EXIT STATUS\n"
    "  0 all tasks ok; 1 some tasks not ok; 2 bad usage or bad spec;\n"
    "  3 runtime error; 130 interrupted.\n\n"
    "EXAMPLES\n"
    "  ptrun check configs/pi.yaml\n"
    "  ptrun run configs/pi.yaml --set seed=7\n"
    "  jq -c '{task, status, result}' runs/latest/results.jsonl\n";

static const command *find(const char *name)
{
    for (size_t i = 0; name && i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

bool rn_help_is_command(const char *cmd)
{
    return find(cmd) != NULL;
}

/* Every command's usage, as the overview gives it. */
static void all_usages(FILE *f)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "%s%s", i ? "       " : "usage: ", commands[i].usage);
    fputs("       ptrun --version | --help\n", f);
}

int rn_help_usage(const char *cmd, const char *why, FILE *err)
{
    const command *c = find(cmd);
    if (why)
        fprintf(err, "ptrun%s%s: %s\n", c ? " " : "", c ? c->name : "", why);
    if (c)
        fprintf(err, "usage: %s", c->usage);
    else
        all_usages(err);
    return RN_EXIT_USAGE;
}

static void command_names(const char **names, bool with_spec)
{
    size_t i;
    for (i = 0; i < NCOMMANDS; i++)
        names[i] = commands[i].name;
    if (with_spec)
        names[i] = "spec";
}

int rn_help_unknown_command(const char *cmd, FILE *err)
{
    const char *names[NCOMMANDS];
    char h[256];
    command_names(names, false);
    rn_hint(cmd, names, NCOMMANDS, "commands", h, sizeof h);
    fprintf(err, "ptrun: unknown command '%s' (%s)\n", cmd, h);
    fputs("Run 'ptrun help' for the commands.\n", err);
    return RN_EXIT_USAGE;
}

/* ptrun's own options, before a command. */
static const command top = {
    NULL, NULL, NULL, {{"--help", RN_OPT_FLAG}, {"--version", RN_OPT_FLAG}}};

rn_opt_kind rn_help_option(const char *cmd, const char *opt, FILE *err)
{
    const command *c = cmd ? find(cmd) : &top;
    const char *names[16];
    size_t n = 0, len = strcspn(opt, "=");
    char h[512], name[128];
    snprintf(name, sizeof name, "%.*s", (int)len, opt);
    for (const option *o = c ? c->opts : NULL; o && o->name; o++) {
        if (strcmp(o->name, name) == 0 &&
            (o->kind == RN_OPT_VALUE || opt[len] == '\0'))
            return o->kind;
        names[n++] = o->name;
    }
    if (n == 0)
        snprintf(h, sizeof h, "it takes none");
    else
        rn_hint(name, names, n, "options", h, sizeof h);
    fprintf(err, "ptrun%s%s: unknown option '%s' (%s)\n", cmd ? " " : "",
            cmd ? cmd : "", opt, h);
    rn_help_usage(cmd, NULL, err);
    return RN_OPT_UNKNOWN;
}

int rn_help(const char *topic, FILE *out, FILE *err)
{
    const command *c = find(topic);
    if (!topic) {
        fputs(overview, out);
        fputc('\n', out);
        all_usages(out);
    } else if (c) {
        fprintf(out, "usage: %s\n%s", c->usage, c->help);
    } else if (strcmp(topic, "spec") == 0) {
        if (rn_man_text((const char *)spec_reference, 79, out) < 0)
            return 3;
    } else {
        const char *names[NCOMMANDS + 1];
        char h[256];
        command_names(names, true);
        rn_hint(topic, names, NCOMMANDS + 1, "topics", h, sizeof h);
        fprintf(err, "ptrun help: no help on '%s' (%s)\n", topic, h);
        return RN_EXIT_USAGE;
    }
    return fflush(out) == 0 ? 0 : 3;
}
