/*
 * ctor_hang.so - a library whose constructor forks a child, then both
 * sleep forever: the load time limit must end the load, and the kill of
 * the loading process's group must take the forked child too. When
 * $PT_TEST_PID_FILE is set, each of the two appends its pid and a newline
 * to that file (one write each) before it sleeps.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ptools/kernel.h>

/* Append "<pid>\n" to $PT_TEST_PID_FILE, when set. */
static void note_pid(void)
{
    const char *file = getenv("PT_TEST_PID_FILE");
    char line[32];
    if (!file)
        return;
    int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (write(fd, line, (size_t)n) != n)
        perror("ctor_hang: write");
    close(fd);
}

__attribute__((constructor)) static void hang_on_load(void)
{
    fork(); /* both the loader and its child hang; a failed fork: one */
    note_pid();
    for (;;)
        pause();
}

static int never_call(pt_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static const pt_kernel never = {.abi = PT_KERNEL_ABI,
                                .name = "never",
                                .doc = "not reached",
                                .call = never_call};
PT_KERNELS(&never);
