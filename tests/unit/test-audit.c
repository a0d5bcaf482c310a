/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit trail: line format, escaping, a real trail file.
 */
#include <string.h>

#include "qemu/audit.h"
#include "qemu/error.h"
#include "qemu/fdset.h"
#include "unit-helpers.h"

/* 2026-11-25T10:00:00.123Z */
#define T0 (G_GINT64_CONSTANT(1795600800) * G_USEC_PER_SEC + 123456)

static void setup(void)
{
    fdset_init();
}

static void teardown(void)
{
    audit_close();
    fdset_shutdown();
}

static void expect_line(const FdSetEvent *ev, const char *want)
{
    g_autofree char *line = audit_format_event(ev, T0);

    ck_assert_str_eq(line, want);
}

START_TEST(test_format_each_kind)
{
    FdSetEvent add = {
        .kind = FDSET_EVENT_FD_ADDED, .fdset_id = 1, .fd = 5, .dup_fd = -1};
    FdSetEvent add2 = add;
    FdSetEvent rm = {.kind = FDSET_EVENT_FD_REMOVED,
                     .fdset_id = 1,
                     .fd = 5,
                     .dup_fd = -1,
                     .reason = FDSET_REASON_DISCONNECT};
    FdSetEvent dup = {.kind = FDSET_EVENT_DUP,
                      .fdset_id = 1,
                      .fd = 5,
                      .dup_fd = 9,
                      .flags = 0x4002};
    FdSetEvent rel = {
        .kind = FDSET_EVENT_RELEASE, .fdset_id = 1, .fd = -1, .dup_fd = 9};
    FdSetEvent fr = {
        .kind = FDSET_EVENT_FREED, .fdset_id = 1, .fd = -1, .dup_fd = -1};

    expect_line(&add, "fdsetd-audit: time=2026-11-25T10:00:00.123Z "
                      "event=add fdset=1 fd=5");
    add2.opaque = "image0:r";
    add2.other_file = true;
    expect_line(&add2,
                "fdsetd-audit: time=2026-11-25T10:00:00.123Z "
                "event=add fdset=1 fd=5 opaque=\"image0:r\" other-file=yes");
    expect_line(&rm, "fdsetd-audit: time=2026-11-25T10:00:00.123Z "
                     "event=remove fdset=1 fd=5 reason=disconnect");
    expect_line(&dup, "fdsetd-audit: time=2026-11-25T10:00:00.123Z "
                      "event=dup fdset=1 member=5 flags=0x4002 dup=9");
    expect_line(&rel, "fdsetd-audit: time=2026-11-25T10:00:00.123Z "
                      "event=release fdset=1 dup=9");
    expect_line(&fr, "fdsetd-audit: time=2026-11-25T10:00:00.123Z "
                     "event=free fdset=1");
}
END_TEST

START_TEST(test_opaque_cannot_forge_a_line)
{
    FdSetEvent add = {
        .kind = FDSET_EVENT_FD_ADDED,
        .fdset_id = 2,
        .fd = 7,
        .dup_fd = -1,
        .opaque = "x\" event=free\nfdsetd-audit: fake\\\t\xc3\xa9",
    };
    g_autofree char *line = audit_format_event(&add, T0);

    ck_assert_str_eq(line, "fdsetd-audit: time=2026-11-25T10:00:00.123Z "
                           "event=add fdset=2 fd=7 opaque=\"x\\\" event=free"
                           "\\x0afdsetd-audit: fake\\\\\\x09\\xc3\\xa9\"");
    ck_assert_ptr_null(strchr(line, '\n'));
}
END_TEST

static char **read_lines(const char *path)
{
    g_autofree char *text = NULL;

    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    ck_assert(g_str_has_suffix(text, "\n"));
    text[strlen(text) - 1] = '\0';
    return g_strsplit(text, "\n", -1);
}

/* The fd the trail writes to, found through /proc/self/fd. */
static int find_fd_of(const char *path)
{
    for (int fd = 3; fd < 1024; fd++) {
        g_autofree char *link = g_strdup_printf("/proc/self/fd/%d", fd);
        g_autofree char *target = g_file_read_link(link, NULL);

        if (target && g_str_equal(target, path)) {
            return fd;
        }
    }
    return -1;
}

START_TEST(test_trail_file)
{
    g_autofree char *path = g_build_filename(unit_tmpdir(), "audit.log", NULL);
    g_auto(GStrv) lines = NULL;
    int member = unit_open("a.img", O_RDONLY);
    int d, afd;

    ck_assert(audit_open(path, NULL));
    afd = find_fd_of(path);
    ck_assert_int_ge(afd, 0);
    ck_assert(fd_is_cloexec(afd));
    ck_assert(fdset_add_fd(true, 1, member, "ro", 1, NULL, NULL));
    d = fdset_dup_fd(1, O_RDONLY, NULL);
    ck_assert(fdset_remove_fd(1, false, 0, NULL));
    ck_assert(fdset_release_dup(d));
    audit_close();
    ck_assert(fd_is_closed(afd));
    ck_assert(fdset_add_fd(true, 2, unit_open("a.img", O_RDONLY), NULL, 1, NULL,
                           NULL)); /* not logged any more */

    lines = read_lines(path);
    ck_assert_uint_eq(g_strv_length(lines), 5);
    for (guint i = 0; i < 5; i++) {
        ck_assert(g_str_has_prefix(lines[i], "fdsetd-audit: time="));
        ck_assert(g_regex_match_simple("^fdsetd-audit: time=\\d{4}-\\d\\d-"
                                       "\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z "
                                       "event=",
                                       lines[i], 0, 0));
    }
    g_autofree char *w0 = g_strdup_printf("event=add fdset=1 fd=%d "
                                          "opaque=\"ro\"",
                                          member);
    g_autofree char *w1 = g_strdup_printf("event=dup fdset=1 member=%d "
                                          "flags=0x0 dup=%d",
                                          member, d);
    g_autofree char *w2 = g_strdup_printf("event=remove fdset=1 fd=%d "
                                          "reason=remove-fd",
                                          member);
    g_autofree char *w3 = g_strdup_printf("event=release fdset=1 dup=%d", d);
    ck_assert(g_str_has_suffix(lines[0], w0));
    ck_assert(g_str_has_suffix(lines[1], w1));
    ck_assert(g_str_has_suffix(lines[2], w2));
    ck_assert(g_str_has_suffix(lines[3], w3));
    ck_assert(g_str_has_suffix(lines[4], "event=free fdset=1"));
}
END_TEST

START_TEST(test_trail_appends)
{
    g_autofree char *path = g_build_filename(unit_tmpdir(), "audit2.log", NULL);
    g_auto(GStrv) lines = NULL;

    ck_assert(g_file_set_contents(path, "old line\n", -1, NULL));
    ck_assert(audit_open(path, NULL));
    ck_assert(fdset_add_fd(true, 3, unit_open("a.img", O_RDONLY), NULL, 1, NULL,
                           NULL));
    audit_close();
    lines = read_lines(path);
    ck_assert_uint_eq(g_strv_length(lines), 2);
    ck_assert_str_eq(lines[0], "old line");
    ck_assert_ptr_nonnull(strstr(lines[1], " event=add fdset=3 fd="));
}
END_TEST

START_TEST(test_trail_stderr)
{
    g_autofree char *path = g_build_filename(unit_tmpdir(), "stderr", NULL);
    g_auto(GStrv) lines = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    ck_assert(audit_open("-", NULL));
    ck_assert(fdset_add_fd(true, 4, unit_open("a.img", O_RDONLY), NULL, 1, NULL,
                           NULL));
    audit_close();
    ck_assert(!fd_is_closed(STDERR_FILENO)); /* stderr is not ours */
    lines = read_lines(path);
    ck_assert_uint_eq(g_strv_length(lines), 1);
    ck_assert_ptr_nonnull(strstr(lines[0], " event=add fdset=4 "));
}
END_TEST

START_TEST(test_open_error)
{
    g_autoptr(GError) err = NULL;

    ck_assert(!audit_open("/nonexistent-dir/audit.log", &err));
    ck_assert_str_eq(err->message,
                     "Could not open audit log "
                     "'/nonexistent-dir/audit.log': No such file or directory");
}
END_TEST

static Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("audit");

    tcase_add_checked_fixture(tc, setup, teardown);
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_format_each_kind);
    tcase_add_test(tc, test_opaque_cannot_forge_a_line);
    tcase_add_test(tc, test_trail_file);
    tcase_add_test(tc, test_trail_appends);
    tcase_add_test(tc, test_trail_stderr);
    tcase_add_test(tc, test_open_error);
    return s;
}

int main(void)
{
    return unit_run(audit_suite());
}
