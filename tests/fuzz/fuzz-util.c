/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz-util.h"

#include <dirent.h>
#include <glib.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

unsigned fuzz_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    unsigned n = 0;

    if (!d) {
        abort();
    }
    while ((de = readdir(d))) {
        n += de->d_name[0] != '.';
    }
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* What each fd of this process is, to tell which one leaked. */
static void print_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;

    while (d && (de = readdir(d))) {
        char path[64], target[256];
        ssize_t n;

        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        target[n < 0 ? 0 : n] = 0;
        fprintf(stderr, "  fd %s -> %s\n", de->d_name, target);
    }
    if (d) {
        closedir(d);
    }
}

void fuzz_check_fds(unsigned baseline, const char *what)
{
    unsigned now = fuzz_count_fds();

    if (now != baseline) {
        fprintf(stderr, "fd leak: %u fds after %s, %u before; now:\n", now,
                what, baseline);
        print_fds();
        abort();
    }
}

#define WRITE_ACCESS                                                           \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |           \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |           \
     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |               \
     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |             \
     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

static bool allow_beneath(int ruleset, const char *path, uint64_t access)
{
    struct landlock_path_beneath_attr pb = {.allowed_access = access};
    bool ok;

    pb.parent_fd = open(path, O_PATH | O_CLOEXEC);
    if (pb.parent_fd < 0) {
        fprintf(stderr, "fuzz: cannot open writable dir '%s': %s\n", path,
                strerror(errno));
        return false;
    }
    ok = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                 &pb, 0) == 0;
    close(pb.parent_fd);
    return ok;
}

static void unsandboxed(const char *why)
{
    const char *allow = getenv("FUZZ_ALLOW_UNSANDBOXED");

    fprintf(stderr, "fuzz: cannot restrict writes (%s): %s\n", why,
            strerror(errno));
    if (!allow || strcmp(allow, "1") != 0) {
        fprintf(stderr, "fuzz: refusing to run inputs that may name real "
                        "files; set FUZZ_ALLOW_UNSANDBOXED=1 to run anyway\n");
        exit(1);
    }
}

void fuzz_restrict_writes(void)
{
    struct landlock_ruleset_attr attr = {.handled_access_fs = WRITE_ACCESS};
    const char *dirs = getenv("FUZZ_WRITABLE");
    char *copy = strdup(dirs && *dirs ? dirs : ".");
    char *save = NULL;
    int ruleset;

    ruleset = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (ruleset < 0) {
        unsandboxed("landlock_create_ruleset");
        free(copy);
        return;
    }
    for (char *d = strtok_r(copy, ":", &save); d;
         d = strtok_r(NULL, ":", &save)) {
        if (!allow_beneath(ruleset, d, WRITE_ACCESS)) {
            unsandboxed(d);
        }
    }
    /* sanitizers and libFuzzer write reports to /dev/null and stdio */
    allow_beneath(ruleset, "/dev/null", LANDLOCK_ACCESS_FS_WRITE_FILE);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
        unsandboxed("landlock_restrict_self");
    }
    close(ruleset);
    free(copy);
}

uint8_t fuzz_byte(FuzzInput *in)
{
    uint8_t b;

    if (!in->len) {
        return 0;
    }
    b = in->data[0];
    in->data++;
    in->len--;
    return b;
}

uint32_t fuzz_u32(FuzzInput *in)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++) {
        v = v << 8 | fuzz_byte(in);
    }
    return v;
}

static void log_handler(const gchar *domain, GLogLevelFlags level,
                        const gchar *message, gpointer data)
{
    fprintf(stderr, "%s-%s: %s\n", domain ? domain : "glib",
            level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL) ? "FATAL"
                                                               : "message",
            message);
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        abort();
    }
}

void fuzz_fatal_criticals(void)
{
    g_log_set_default_handler(log_handler, NULL);
}
