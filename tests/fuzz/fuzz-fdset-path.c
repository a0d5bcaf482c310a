/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /dev/fdset/N: qemu_parse_fdset_path() against a reference written from
 * docs/fdset.rst ("blanks before it, a + sign and leading zeros are
 * accepted ... must use the whole rest and lie in 0..2147483647"), and
 * qemu_open()/qemu_close() of such names against a registry whose sets
 * and members the harness knows: the result (dup or ENOENT/EACCES/EINVAL,
 * and the message) must be what the matching rules give, and no fd may
 * be left behind.
 *
 * Input: 1 byte open flags selector, 1 byte mode (bit 0: prefix the
 * input with "/dev/fdset/"), then the name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"

#define PREFIX "/dev/fdset/"

static void fail(const char *what, const char *name)
{
    fprintf(stderr, "fuzz-fdset-path: %s: '%s'\n", what, name);
    abort();
}

static bool ref_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

/* The documented syntax, by hand (no strtol). */
static bool ref_parse(const char *name, int64_t *out)
{
    const char *p;
    bool neg = false, digits = false;
    int64_t v = 0;

    if (strncmp(name, PREFIX, strlen(PREFIX)) != 0) {
        return false;
    }
    p = name + strlen(PREFIX);
    while (ref_is_blank(*p)) {
        p++;
    }
    if (*p == '+' || *p == '-') {
        neg = *p++ == '-';
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        digits = true;
        if (v <= (int64_t)INT_MAX + 1) {
            v = v * 10 + (*p - '0');
        }
    }
    if (!digits || *p || (neg && v != 0) || v > INT_MAX) {
        return false;
    }
    *out = v;
    return true;
}

/*
 * The registry each input sees: set 0 {ro}, set 1 {rw, ro}, set 2 with
 * no members (kept by a dup), set 3 {wo|sync}.
 */
static int set2_dup = -1;

static void add_member(int64_t set, int flags)
{
    int fd = memfd_create("fdset", MFD_CLOEXEC);
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", fd);
    int reopened = open(proc, flags | O_CLOEXEC);
    int64_t id;

    close(fd);
    if (reopened < 0 || !fdset_add_fd(true, set, reopened, NULL,
                                      FDSET_OWNER_PROCESS, &id, NULL)) {
        abort();
    }
}

static void make_registry(void)
{
    fdset_init();
    add_member(0, O_RDONLY);
    add_member(1, O_RDWR);
    add_member(1, O_RDONLY);
    add_member(2, O_RDONLY);
    set2_dup = fdset_dup_fd(2, O_RDONLY, NULL);
    if (set2_dup < 0 || !fdset_remove_fd(2, false, 0, NULL)) {
        abort();
    }
    add_member(3, O_WRONLY | O_SYNC);
}

/* Which errno the rules give for set @id and @flags (0: a dup). */
static int ref_open_errno(int64_t id, int flags)
{
    int want = flags & FDSET_MATCH_FLAGS;

    switch (id) {
    case 0:
        return want == O_RDONLY ? 0 : EACCES;
    case 1:
        return want == O_RDONLY || want == O_RDWR ? 0 : EACCES;
    case 2:
        return EACCES;
    case 3:
        return want == (O_WRONLY | O_SYNC) ? 0 : EACCES;
    default:
        return ENOENT;
    }
}

static const int flag_choices[] = {
    O_RDONLY,          O_WRONLY,           O_RDWR,
    O_RDWR | O_DIRECT, O_RDONLY | O_SYNC,  O_WRONLY | O_SYNC,
    O_RDWR | O_DSYNC,  O_RDWR | O_TRUNC,   O_RDONLY | O_NONBLOCK,
    O_RDWR | O_APPEND, O_WRONLY | O_DSYNC, O_RDONLY | O_NOATIME,
};

static void check_open(const char *name, int flags)
{
    int64_t id = -1;
    bool parsed = ref_parse(name, &id);
    g_autoptr(GError) err = NULL;
    int want, fd, e;
    g_autofree char *msg = NULL;

    errno = 0;
    fd = qemu_open(name, flags, &err);
    e = errno;
    want = parsed ? ref_open_errno(id, flags) : EINVAL;
    if (want == 0) {
        if (fd < 0) {
            fail("no dup where a member matches", name);
        }
        if ((fcntl(fd, F_GETFL) & O_ACCMODE) != (flags & O_ACCMODE) ||
            !(fcntl(fd, F_GETFD) & FD_CLOEXEC)) {
            fail("dup with another mode, or not CLOEXEC", name);
        }
        if (qemu_close(fd) != 0) {
            fail("qemu_close of a dup failed", name);
        }
        return;
    }
    if (fd >= 0 || e != want || !err) {
        fail("open gave another result than the rules", name);
    }
    msg = want == EINVAL
              ? g_strdup_printf("Could not parse fdset %s", name)
              : g_strdup_printf("Could not dup FD for %s flags %x: %s", name,
                                flags, g_strerror(want));
    if (strcmp(err->message, msg) != 0) {
        fail("unexpected message", err->message);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_fatal_criticals();
    make_registry();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = {data, size};
    int flags = flag_choices[fuzz_byte(&in) % G_N_ELEMENTS(flag_choices)];
    uint8_t mode = fuzz_byte(&in);
    g_autofree char *rest = g_strndup((const char *)in.data, in.len);
    g_autofree char *name =
        mode & 1 ? g_strconcat(PREFIX, rest, NULL) : g_strdup(rest);
    int64_t got = -7, want = -7;
    unsigned baseline_fds = fuzz_count_fds();
    bool ok = qemu_parse_fdset_path(name, &got);

    if (ok != ref_parse(name, &want) || (ok && got != want)) {
        fail("qemu_parse_fdset_path disagrees with the documented syntax",
             name);
    }
    /* only fdset names: anything else would open a real path */
    if (g_str_has_prefix(name, PREFIX) && !(flags & O_TRUNC)) {
        check_open(name, flags);
    }
    fuzz_check_fds(baseline_fds, name);
    return 0;
}
