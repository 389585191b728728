/*
 * help.h - what ptrun says about itself: the overview, each command's
 * usage and help (`ptrun help COMMAND`, `ptrun COMMAND --help`), the job
 * spec reference (`ptrun help spec`, rendered from docs/ptrun.yaml.5), and
 * the messages for an unknown command or option, with a "did you mean".
 */
#ifndef RN_HELP_H
#define RN_HELP_H

#include <stdbool.h>
#include <stdio.h>

#define RN_EXIT_USAGE 2

/* How an option of a command is used. */
typedef enum rn_opt_kind {
    RN_OPT_UNKNOWN, /* not an option of that command (message printed) */
    RN_OPT_FLAG,    /* no value */
    RN_OPT_VALUE,   /* takes the next argument, or --opt=VALUE */
} rn_opt_kind;

/* Is `cmd` one of ptrun's commands (run, check, ..., help)? */
bool rn_help_is_command(const char *cmd);

/*
 * `ptrun help [TOPIC]`: the overview (topic NULL), a command's help, or
 * the spec reference (topic "spec") on out: 0; an unknown topic is named
 * on err: RN_EXIT_USAGE.
 */
int rn_help(const char *topic, FILE *out, FILE *err);

/* "ptrun: unknown command 'rnu' (did you mean 'run'?)" and the usage on
 * err: RN_EXIT_USAGE. */
int rn_help_unknown_command(const char *cmd, FILE *err);

/*
 * The kind of option `opt` (its name, up to a '=') of command cmd; for an
 * unknown one, "ptrun CMD: unknown option '--quite' (did you mean
 * '--quiet'?)" and the command's usage are printed on err first.
 */
rn_opt_kind rn_help_option(const char *cmd, const char *opt, FILE *err);

/* "ptrun CMD: WHY" (when why) and the command's usage on err (the
 * overview's usage when cmd is NULL): RN_EXIT_USAGE. */
int rn_help_usage(const char *cmd, const char *why, FILE *err);

/*
 * Print man-page source (the few macros docs/ptrun.yaml.5 uses) as plain
 * text, filled to `width` columns: 0 or -EIO (man_text.c).
 */
int rn_man_text(const char *src, int width, FILE *out);

#endif
