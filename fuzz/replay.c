/*
 * replay.c - a main() for a fuzz target without libFuzzer: feed every file
 * of the folders (or the files) named on the command line, in name order,
 * to LLVMFuzzerTestOneInput(). With no argument it replays FUZZ_REPLAY_PATH
 * (':'-separated, set by the build), so that a plain run of the program, as
 * scripts/valgrind-tests.sh does, replays the regressions too.
 *
 * Each input sits in a buffer of exactly its size, as under libFuzzer, so
 * that ASan or valgrind catch a read past its end. A crash is the target's
 * abort or a sanitizer's report; the file's name is printed first.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file: 0, or -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    int rc = -1;
    if (!f || fstat(fileno(f), &st) < 0)
        goto out;
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (data && fread(data, 1, size, f) == size) {
        fprintf(stderr, "replay: %s\n", path);
        LLVMFuzzerTestOneInput(data, size);
        rc = 0;
    }
    free(data);
out:
    if (rc < 0)
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
    if (f)
        fclose(f);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dot(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Run every regular file of `dir`: how many, or -1. */
static int replay_dir(const char *dir)
{
    struct dirent **names;
    char path[PATH_MAX];
    struct stat st;
    int n = scandir(dir, &names, skip_dot, by_name), done = 0;
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (done >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            done = replay_file(path) < 0 ? -1 : done + 1;
        free(names[i]);
    }
    free(names);
    return done;
}

/* A folder, or one file: the inputs run, or -1. */
static int replay(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path) < 0 ? -1 : 1;
    int n = replay_dir(path);
    if (n >= 0)
        printf("replay: %d inputs from %s\n", n, path);
    return n;
}

int main(int argc, char **argv)
{
    char defaults[] = FUZZ_REPLAY_PATH, *save = NULL;
    int status = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            status |= replay(argv[i]) < 0;
        return status;
    }
    for (char *d = strtok_r(defaults, ":", &save); d;
         d = strtok_r(NULL, ":", &save))
        status |= replay(d) < 0;
    return status;
}
