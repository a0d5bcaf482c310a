/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fdset registry: ids, ordering, removal, ownership, limits, matching,
 * events, threads.
 */
#include <malloc.h>
#include <string.h>
#include <sys/resource.h>

#include "qemu/error.h"
#include "qemu/fdset.h"
#include "unit-helpers.h"

#define OWNER_A 101
#define OWNER_B 102

/* ---- event recorder ---- */

typedef struct Rec {
    FdSetEventKind kind;
    gint64 fdset_id;
    int fd, dup_fd, flags;
    FdSetRemoveReason reason;
    char *opaque;
    bool other_file;
} Rec;

static GArray *events;

static void record(const FdSetEvent *ev, void *opaque)
{
    Rec r = {
        .kind = ev->kind,
        .fdset_id = ev->fdset_id,
        .fd = ev->fd,
        .dup_fd = ev->dup_fd,
        .flags = ev->flags,
        .reason = ev->reason,
        .opaque = g_strdup(ev->opaque),
        .other_file = ev->other_file,
    };

    g_array_append_val(events, r);
}

static Rec *ev_at(guint i)
{
    ck_assert_uint_lt(i, events->len);
    return &g_array_index(events, Rec, i);
}

static void setup(void)
{
    fdset_init();
    events = g_array_new(FALSE, TRUE, sizeof(Rec));
    fdset_add_listener(record, NULL);
}

static void teardown(void)
{
    fdset_remove_listener(record, NULL);
    fdset_shutdown();
    for (guint i = 0; i < events->len; i++) {
        g_free(ev_at(i)->opaque);
    }
    g_array_free(events, TRUE);
}

/* add-fd that must succeed; returns the set id */
static gint64 add(bool has_id, gint64 id, int fd, const char *opaque,
                  guint64 owner)
{
    g_autoptr(GError) err = NULL;
    gint64 out = -1;

    ck_assert_msg(fdset_add_fd(has_id, id, fd, opaque, owner, &out, &err),
                  "add failed: %s", err ? err->message : "?");
    ck_assert_ptr_null(err);
    return out;
}

static gint64 add_ro(bool has_id, gint64 id, const char *opaque)
{
    return add(has_id, id, unit_open("a.img", O_RDONLY), opaque, OWNER_A);
}

static bool set_exists(gint64 id)
{
    guint n;
    FdSetInfo *info = fdset_query(&n);
    bool found = false;

    for (guint i = 0; i < n; i++) {
        found |= info[i].fdset_id == id;
    }
    fdset_info_free(info, n);
    return found;
}

/* ---- ids ---- */

START_TEST(test_auto_ids_sequential)
{
    ck_assert_int_eq(add_ro(false, -1, NULL), 0);
    ck_assert_int_eq(add_ro(false, -1, NULL), 1);
    ck_assert_int_eq(add_ro(false, -1, NULL), 2);
    ck_assert_uint_eq(fdset_count_sets(), 3);
    ck_assert_uint_eq(fdset_count_members(), 3);
}
END_TEST

START_TEST(test_auto_id_fills_gaps)
{
    add_ro(true, 0, NULL);
    add_ro(true, 2, NULL);
    ck_assert_int_eq(add_ro(false, -1, NULL), 1);
    ck_assert_int_eq(add_ro(false, -1, NULL), 3);
    ck_assert(fdset_remove_fd(0, false, 0, NULL));
    ck_assert_int_eq(add_ro(false, -1, NULL), 0); /* freed id reused */
    ck_assert(fdset_remove_fd(2, false, 0, NULL));
    ck_assert(fdset_remove_fd(1, false, 0, NULL));
    ck_assert_int_eq(add_ro(false, -1, NULL), 1);
    ck_assert_int_eq(add_ro(false, -1, NULL), 2);
    ck_assert_int_eq(add_ro(false, -1, NULL), 4);
}
END_TEST

START_TEST(test_auto_id_zero_free)
{
    add_ro(true, 1, NULL);
    ck_assert_int_eq(add_ro(false, -1, NULL), 0);
    ck_assert_int_eq(add_ro(false, -1, NULL), 2);
}
END_TEST

START_TEST(test_auto_id_across_bitmap_words)
{
    /* explicit ids 0..199 except 150 and 70, then auto ids */
    for (gint64 id = 0; id < 200; id++) {
        if (id != 150 && id != 70) {
            add(true, id, unit_open("a.img", O_RDONLY), NULL, OWNER_A);
        }
    }
    ck_assert_int_eq(add_ro(false, -1, NULL), 70);
    ck_assert_int_eq(add_ro(false, -1, NULL), 150);
    ck_assert_int_eq(add_ro(false, -1, NULL), 200);
    ck_assert(fdset_remove_fd(3, false, 0, NULL));
    ck_assert_int_eq(add_ro(false, -1, NULL), 3);
}
END_TEST

START_TEST(test_explicit_large_id)
{
    gint64 big = (gint64)G_MAXINT + 10;

    ck_assert_int_eq(add_ro(true, big, NULL), big);
    ck_assert_int_eq(add_ro(true, G_MAXINT64, NULL), G_MAXINT64);
    ck_assert_int_eq(add_ro(false, -1, NULL), 0);
    ck_assert(set_exists(big));
}
END_TEST

START_TEST(test_negative_id_closes_fd)
{
    g_autoptr(GError) err = NULL;
    int fd = unit_open("a.img", O_RDONLY);
    gint64 out = 77;

    ck_assert(!fdset_add_fd(true, -1, fd, NULL, OWNER_A, &out, &err));
    ck_assert_str_eq(err->message,
                     "Parameter 'fdset-id' expects a non-negative value");
    ck_assert_int_eq(err->domain, QMP_ERROR);
    ck_assert_int_eq(err->code, QMP_ERROR_CLASS_GENERIC_ERROR);
    ck_assert(fd_is_closed(fd));
    ck_assert_int_eq(out, 77);
    ck_assert_uint_eq(fdset_count_sets(), 0);
    ck_assert_uint_eq(events->len, 0);
}
END_TEST

START_TEST(test_bad_fd_refused)
{
    g_autoptr(GError) err = NULL;

    ck_assert(!fdset_add_fd(true, 1, 999, NULL, OWNER_A, NULL, &err));
    ck_assert_str_eq(err->message,
                     "Cannot add fd 999 to an fdset: Bad file descriptor");
    ck_assert_uint_eq(fdset_count_sets(), 0);
}
END_TEST

/* ---- query ---- */

START_TEST(test_query_order_and_opaque)
{
    int fds[5];
    const char *opq[5] = {"image0:r", "image1:w+", "", NULL, "image4:r"};
    gint64 ids[5] = {1, 1, 0, 2, 2};
    FdSetInfo *info;
    guint n;

    for (int i = 0; i < 5; i++) {
        g_autofree char *name = g_strdup_printf("img%d", i);

        fds[i] = unit_open(name, i == 1 ? O_RDWR : O_RDONLY);
        add(true, ids[i], fds[i], opq[i], OWNER_A);
    }
    info = fdset_query(&n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(info[0].fdset_id, 2);
    ck_assert_int_eq(info[1].fdset_id, 1);
    ck_assert_int_eq(info[2].fdset_id, 0);
    ck_assert_uint_eq(info[0].n_members, 2);
    ck_assert_int_eq(info[0].members[0].fd, fds[3]);
    ck_assert_ptr_null(info[0].members[0].opaque);
    ck_assert_int_eq(info[0].members[1].fd, fds[4]);
    ck_assert_str_eq(info[0].members[1].opaque, "image4:r");
    ck_assert_int_eq(info[1].members[0].fd, fds[0]);
    ck_assert_int_eq(info[1].members[1].fd, fds[1]);
    ck_assert_int_eq(info[1].members[1].flags & O_ACCMODE, O_RDWR);
    ck_assert_int_eq(info[1].members[0].flags & O_ACCMODE, O_RDONLY);
    ck_assert_str_eq(info[2].members[0].opaque, ""); /* "" is kept */
    ck_assert_uint_eq(info[2].members[0].ino, fd_ino(fds[2]));
    ck_assert(!info[2].members[0].persistent);
    ck_assert_uint_eq(info[2].dup_count, 0);
    fdset_info_free(info, n);
}
END_TEST

START_TEST(test_query_empty)
{
    guint n = 99;
    FdSetInfo *info = fdset_query(&n);

    ck_assert_uint_eq(n, 0);
    fdset_info_free(info, n);
}
END_TEST

/* Ids of the sets a query lists, in its order, as "3 1 0". */
static char *query_ids(void)
{
    GString *ids = g_string_new(NULL);
    guint n;
    FdSetInfo *info = fdset_query(&n);

    for (guint i = 0; i < n; i++) {
        g_string_append_printf(ids,
                               i ? " %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT,
                               info[i].fdset_id);
    }
    fdset_info_free(info, n);
    return g_string_free(ids, FALSE);
}

/* The order a query keeps between queries follows every set created or
 * freed, an id freed and taken again included. */
START_TEST(test_query_order_follows_changes)
{
    g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

    add_ro(true, 5, NULL);
    add_ro(true, 1, NULL);
    a = query_ids();
    ck_assert_str_eq(a, "5 1");
    add_ro(true, 9, NULL);
    b = query_ids();
    ck_assert_str_eq(b, "9 5 1");
    ck_assert(fdset_remove_fd(5, false, 0, NULL));
    c = query_ids();
    ck_assert_str_eq(c, "9 1");
    ck_assert(fdset_remove_fd(1, false, 0, NULL));
    add_ro(true, 1, NULL);
    add_ro(true, 7, NULL);
    d = query_ids();
    ck_assert_str_eq(d, "9 7 1");
}
END_TEST

/* Flags are read at add, and again whenever an open looks for a match. */
START_TEST(test_query_reports_flags_last_seen)
{
    int fd = unit_open("a.img", O_RDONLY);
    FdSetInfo *info;
    guint n;
    int d;

    add(true, 1, fd, NULL, OWNER_A);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    info = fdset_query(&n);
    ck_assert(!(info[0].members[0].flags & O_NONBLOCK));
    fdset_info_free(info, n);

    d = fdset_dup_fd(1, O_RDONLY, NULL);
    ck_assert_int_ge(d, 0);
    info = fdset_query(&n);
    ck_assert(info[0].members[0].flags & O_NONBLOCK);
    fdset_info_free(info, n);
    ck_assert(fdset_release_dup(d));
    close(d);
}
END_TEST

/* ---- remove ---- */

START_TEST(test_remove_whole_set)
{
    int a = unit_open("a.img", O_RDONLY), b = unit_open("a.img", O_RDWR);

    add(true, 2, a, NULL, OWNER_A);
    add(true, 2, b, NULL, OWNER_A);
    add_ro(true, 1, NULL);
    ck_assert(fdset_remove_fd(2, false, 0, NULL));
    ck_assert(fd_is_closed(a));
    ck_assert(fd_is_closed(b));
    ck_assert(!set_exists(2));
    ck_assert(set_exists(1));
    ck_assert_uint_eq(fdset_count_members(), 1);
}
END_TEST

START_TEST(test_remove_one_fd)
{
    int a = unit_open("a.img", O_RDONLY), b = unit_open("a.img", O_RDWR);
    int c = unit_open("a.img", O_RDONLY);
    FdSetInfo *info;
    guint n;

    add(true, 2, a, NULL, OWNER_A);
    add(true, 2, b, "b", OWNER_A);
    add(true, 2, c, "c", OWNER_A);
    ck_assert(fdset_remove_fd(2, true, a, NULL)); /* the inline one */
    ck_assert(fd_is_closed(a));
    ck_assert(!fd_is_closed(b));
    ck_assert(fdset_remove_fd(2, true, c, NULL));
    ck_assert(fd_is_closed(c));
    info = fdset_query(&n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(info[0].n_members, 1);
    ck_assert_int_eq(info[0].members[0].fd, b);
    ck_assert_str_eq(info[0].members[0].opaque, "b");
    fdset_info_free(info, n);
    ck_assert(fdset_remove_fd(2, true, b, NULL));
    ck_assert(!set_exists(2));
}
END_TEST

START_TEST(test_remove_errors)
{
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_autoptr(GError) e3 = NULL;
    int a = unit_open("a.img", O_RDONLY);

    add(true, 2, a, NULL, OWNER_A);
    ck_assert(!fdset_remove_fd(4, false, 0, &e1));
    ck_assert_str_eq(e1->message,
                     "File descriptor named 'fdset-id:4' not found");
    ck_assert(!fdset_remove_fd(3, true, a, &e2));
    g_autofree char *want = g_strdup_printf(
        "File descriptor named 'fdset-id:3, fd:%d' not found", a);
    ck_assert_str_eq(e2->message, want);
    ck_assert(!fdset_remove_fd(2, true, 999, &e3));
    ck_assert_str_eq(e3->message,
                     "File descriptor named 'fdset-id:2, fd:999' not found");
    ck_assert(!fd_is_closed(a));
    ck_assert_uint_eq(fdset_count_members(), 1);
}
END_TEST

START_TEST(test_remove_while_dups_exist)
{
    int a = unit_open("a.img", O_RDONLY);
    int d;
    FdSetInfo *info;
    guint n;

    add(true, 1, a, NULL, OWNER_A);
    d = fdset_dup_fd(1, O_RDONLY, NULL);
    ck_assert_int_ge(d, 3);
    ck_assert(fdset_remove_fd(1, false, 0, NULL));
    ck_assert(fd_is_closed(a)); /* at once */
    ck_assert(!fd_is_closed(d));
    info = fdset_query(&n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(info[0].fdset_id, 1);
    ck_assert_uint_eq(info[0].n_members, 0);
    ck_assert_uint_eq(info[0].dup_count, 1);
    fdset_info_free(info, n);
    /* no fd, only dups: success, nothing changes */
    ck_assert(fdset_remove_fd(1, false, 0, NULL));
    ck_assert(set_exists(1));
    /* auto ids skip it */
    ck_assert_int_eq(add_ro(false, -1, NULL), 0);
    ck_assert_int_eq(add_ro(false, -1, NULL), 2);
    ck_assert(fdset_release_dup(d));
    close(d);
    ck_assert(!set_exists(1));
    ck_assert(!fdset_release_dup(d));
    ck_assert_uint_eq(fdset_count_dups(), 0);
}
END_TEST

/* ---- ownership ---- */

START_TEST(test_release_owner_without_dups)
{
    int a = unit_open("a.img", O_RDONLY), b = unit_open("a.img", O_RDWR);
    int p = unit_open("a.img", O_RDONLY), c = unit_open("b.img", O_RDONLY);

    add(true, 1, a, NULL, OWNER_A);
    add(true, 1, b, NULL, OWNER_B);
    add(true, 1, p, NULL, FDSET_OWNER_PROCESS);
    add(true, 2, c, NULL, OWNER_A);
    g_array_set_size(events, 0);
    fdset_release_owner(OWNER_A);
    ck_assert(fd_is_closed(a));
    ck_assert(fd_is_closed(c));
    ck_assert(!fd_is_closed(b));
    ck_assert(!fd_is_closed(p));
    ck_assert(set_exists(1));
    ck_assert(!set_exists(2));
    ck_assert_uint_eq(events->len, 3);
    for (guint i = 0; i < events->len; i++) {
        if (ev_at(i)->kind == FDSET_EVENT_FD_REMOVED) {
            ck_assert_int_eq(ev_at(i)->reason, FDSET_REASON_DISCONNECT);
        }
    }
    fdset_release_owner(OWNER_B);
    ck_assert(fd_is_closed(b));
    fdset_release_owner(FDSET_OWNER_PROCESS); /* never reaped */
    fdset_release_owner(12345);               /* unknown: nothing */
    ck_assert(!fd_is_closed(p));
    ck_assert_uint_eq(fdset_count_members(), 1);
}
END_TEST

START_TEST(test_release_owner_with_dups_orphans)
{
    int a = unit_open("a.img", O_RDONLY), b = unit_open("a.img", O_RDWR);
    int p = unit_open("a.img", O_RDONLY);
    int d1, d2;
    FdSetInfo *info;
    guint n;

    add(true, 1, a, NULL, OWNER_A);
    add(true, 1, b, NULL, OWNER_A);
    add(true, 1, p, NULL, FDSET_OWNER_PROCESS);
    d1 = fdset_dup_fd(1, O_RDONLY, NULL);
    d2 = fdset_dup_fd(1, O_RDWR, NULL);
    ck_assert_int_ge(d1, 0);
    ck_assert_int_ge(d2, 0);
    fdset_release_owner(OWNER_A);
    ck_assert(!fd_is_closed(a)); /* a reopen may need them */
    ck_assert(!fd_is_closed(b));
    info = fdset_query(&n);
    ck_assert_uint_eq(info[0].n_members, 3);
    ck_assert(!info[0].members[0].persistent); /* orphaned, not persistent */
    ck_assert(info[0].members[2].persistent);
    fdset_info_free(info, n);
    /* the owner is gone: releasing it again must not touch the orphans */
    fdset_release_owner(OWNER_A);
    ck_assert(!fd_is_closed(a));
    /* still usable */
    int d3 = fdset_dup_fd(1, O_RDWR, NULL);
    ck_assert_int_ge(d3, 0);
    ck_assert(fdset_release_dup(d3));
    close(d3);
    ck_assert(!fd_is_closed(b));
    ck_assert(fdset_release_dup(d1));
    close(d1);
    ck_assert(!fd_is_closed(a));
    g_array_set_size(events, 0);
    ck_assert(fdset_release_dup(d2)); /* the last dup */
    close(d2);
    ck_assert(fd_is_closed(a));
    ck_assert(fd_is_closed(b));
    ck_assert(!fd_is_closed(p));
    ck_assert(set_exists(1));
    ck_assert_uint_eq(events->len, 3);
    ck_assert_int_eq(ev_at(0)->kind, FDSET_EVENT_RELEASE);
    ck_assert_int_eq(ev_at(1)->kind, FDSET_EVENT_FD_REMOVED);
    ck_assert_int_eq(ev_at(1)->reason, FDSET_REASON_DISCONNECT);
    ck_assert_int_eq(ev_at(1)->fd, a);
    ck_assert_int_eq(ev_at(2)->fd, b);
}
END_TEST

START_TEST(test_orphans_only_set_freed_at_last_release)
{
    int a = unit_open("a.img", O_RDONLY);
    int d;

    add(true, 5, a, NULL, OWNER_A);
    d = fdset_dup_fd(5, O_RDONLY, NULL);
    fdset_release_owner(OWNER_A);
    ck_assert(!fd_is_closed(a));
    g_array_set_size(events, 0);
    ck_assert(fdset_release_dup(d));
    close(d);
    ck_assert(fd_is_closed(a));
    ck_assert(!set_exists(5));
    ck_assert_uint_eq(events->len, 3);
    ck_assert_int_eq(ev_at(2)->kind, FDSET_EVENT_FREED);
    ck_assert_int_eq(ev_at(2)->fdset_id, 5);
}
END_TEST

START_TEST(test_shutdown_closes_everything)
{
    int a = unit_open("a.img", O_RDONLY), b = unit_open("a.img", O_RDONLY);
    int d;

    add(true, 1, a, NULL, OWNER_A);
    add(true, 2, b, NULL, FDSET_OWNER_PROCESS);
    d = fdset_dup_fd(1, O_RDONLY, NULL);
    g_array_set_size(events, 0);
    fdset_shutdown();
    ck_assert(fd_is_closed(a));
    ck_assert(fd_is_closed(b));
    ck_assert(!fd_is_closed(d)); /* dups belong to their holders */
    ck_assert_uint_eq(fdset_count_sets(), 0);
    ck_assert_uint_eq(fdset_count_dups(), 0);
    ck_assert(!fdset_release_dup(d));
    close(d);
    ck_assert_uint_eq(events->len, 4);
    ck_assert_int_eq(ev_at(0)->reason, FDSET_REASON_SHUTDOWN);
    ck_assert_int_eq(ev_at(1)->kind, FDSET_EVENT_FREED);
    /* usable again */
    ck_assert_int_eq(add_ro(false, -1, NULL), 0);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_default_limits)
{
    FdSetLimits lim;
    struct rlimit rl;
    rlim_t want;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    want = rl.rlim_cur - MAX(rl.rlim_cur / 4, 64);
    fdset_get_limits(&lim);
    ck_assert_uint_eq(lim.max_sets, 65536);
    ck_assert_uint_eq(lim.max_fds_per_set, 64);
    ck_assert_uint_eq(lim.max_fds_total, want);
    ck_assert(!lim.strict_same_file);
}
END_TEST

START_TEST(test_limit_max_sets)
{
    FdSetLimits lim;
    g_autoptr(GError) err = NULL;
    int fd = unit_open("a.img", O_RDONLY);

    fdset_get_limits(&lim);
    lim.max_sets = 2;
    fdset_set_limits(&lim);
    add_ro(false, -1, NULL);
    add_ro(false, -1, NULL);
    add_ro(true, 1, NULL); /* existing set: fine */
    ck_assert(!fdset_add_fd(false, -1, fd, NULL, OWNER_A, NULL, &err));
    ck_assert_str_eq(err->message,
                     "Cannot create fdset: 2 fdsets exist (limit max-sets=2)");
    ck_assert(fd_is_closed(fd));
    ck_assert_uint_eq(fdset_count_sets(), 2);
}
END_TEST

START_TEST(test_limit_max_fds_per_set)
{
    FdSetLimits lim;
    g_autoptr(GError) err = NULL;
    int fd = unit_open("a.img", O_RDONLY);

    fdset_get_limits(&lim);
    lim.max_fds_per_set = 3;
    fdset_set_limits(&lim);
    for (int i = 0; i < 3; i++) {
        add_ro(true, 7, NULL);
    }
    ck_assert(!fdset_add_fd(true, 7, fd, NULL, OWNER_A, NULL, &err));
    ck_assert_str_eq(err->message, "Cannot add fd to fdset 7: it has 3 fds "
                                   "(limit max-fds-per-set=3)");
    ck_assert(fd_is_closed(fd));
    ck_assert_uint_eq(fdset_count_members(), 3);
    add_ro(true, 8, NULL);
}
END_TEST

START_TEST(test_limit_max_fds_total)
{
    FdSetLimits lim;
    g_autoptr(GError) err = NULL;
    int fd = unit_open("a.img", O_RDONLY);

    fdset_get_limits(&lim);
    lim.max_fds_total = 4;
    fdset_set_limits(&lim);
    add_ro(true, 1, NULL);
    add_ro(true, 1, NULL);
    add_ro(true, 2, NULL);
    add_ro(false, -1, NULL);
    ck_assert(!fdset_add_fd(true, 1, fd, NULL, OWNER_A, NULL, &err));
    ck_assert_str_eq(err->message, "Cannot add fd: 4 fds are held in fdsets "
                                   "(limit max-fds-total=4)");
    ck_assert(fd_is_closed(fd));
    ck_assert_uint_eq(fdset_count_sets(), 3);
    /* removing one makes room */
    ck_assert(fdset_remove_fd(2, false, 0, NULL));
    add_ro(false, -1, NULL);
}
END_TEST

/* ---- same file ---- */

START_TEST(test_same_file_event_flag)
{
    add(true, 1, unit_open("a.img", O_RDONLY), NULL, OWNER_A);
    add(true, 1, unit_open("a.img", O_RDWR), NULL, OWNER_A);
    add(true, 1, unit_open("b.img", O_RDONLY), "other", OWNER_A);
    ck_assert_uint_eq(events->len, 3);
    ck_assert(!ev_at(0)->other_file);
    ck_assert(!ev_at(1)->other_file);
    ck_assert(ev_at(2)->other_file);
    ck_assert_str_eq(ev_at(2)->opaque, "other");
    ck_assert_uint_eq(fdset_count_members(), 3);
}
END_TEST

START_TEST(test_same_file_strict)
{
    FdSetLimits lim;
    g_autoptr(GError) err = NULL;
    int fd = unit_open("b.img", O_RDONLY);

    fdset_get_limits(&lim);
    lim.strict_same_file = TRUE;
    fdset_set_limits(&lim);
    add(true, 3, unit_open("a.img", O_RDONLY), NULL, OWNER_A);
    add(true, 3, unit_open("a.img", O_RDWR), NULL, OWNER_A);
    ck_assert(!fdset_add_fd(true, 3, fd, NULL, OWNER_A, NULL, &err));
    ck_assert_str_eq(err->message, "Cannot add fd to fdset 3: it is not the "
                                   "same file as the fdset's members");
    ck_assert(fd_is_closed(fd));
    ck_assert_uint_eq(fdset_count_members(), 2);
    ck_assert_uint_eq(events->len, 2);
    /* another set may hold another file */
    add(true, 4, unit_open("b.img", O_RDONLY), NULL, OWNER_A);
}
END_TEST

/* ---- dup and matching ---- */

START_TEST(test_dup_access_modes)
{
    int ro = unit_open("a.img", O_RDONLY), wo = unit_open("a.img", O_WRONLY);
    int rw = unit_open("a.img", O_RDWR);
    int modes[3] = {O_RDONLY, O_WRONLY, O_RDWR};

    add(true, 1, ro, NULL, OWNER_A);
    add(true, 1, wo, NULL, OWNER_A);
    add(true, 1, rw, NULL, OWNER_A);
    g_array_set_size(events, 0);
    for (int i = 0; i < 3; i++) {
        int d = fdset_dup_fd(1, modes[i], NULL);

        ck_assert_int_ge(d, 3);
        ck_assert_int_eq(fcntl(d, F_GETFL) & O_ACCMODE, modes[i]);
        ck_assert_int_eq(ev_at(i)->kind, FDSET_EVENT_DUP);
        ck_assert_int_eq(ev_at(i)->fd, i == 0 ? ro : i == 1 ? wo : rw);
        ck_assert_int_eq(ev_at(i)->dup_fd, d);
        ck_assert_int_eq(ev_at(i)->flags, modes[i]);
    }
    ck_assert_uint_eq(fdset_count_dups(), 3);
}
END_TEST

START_TEST(test_dup_errno_enoent_eacces)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) err2 = NULL;
    int d;

    errno = 0;
    ck_assert_int_eq(fdset_dup_fd(9, O_RDONLY, &err), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_str_eq(err->message, "Failed to find fdset 9");
    add_ro(true, 1, NULL);
    errno = 0;
    ck_assert_int_eq(fdset_dup_fd(1, O_RDWR, &err2), -1);
    ck_assert_int_eq(errno, EACCES);
    ck_assert_str_eq(err2->message, "Failed to find file descriptor in "
                                    "fdset 1 with matching flags=0x2");
    /* a set alive only through dups has no members: EACCES */
    d = fdset_dup_fd(1, O_RDONLY, NULL);
    ck_assert(fdset_remove_fd(1, false, 0, NULL));
    errno = 0;
    ck_assert_int_eq(fdset_dup_fd(1, O_RDONLY, NULL), -1);
    ck_assert_int_eq(errno, EACCES);
    fdset_release_dup(d);
    close(d);
    ck_assert_uint_eq(fdset_count_dups(), 0);
}
END_TEST

START_TEST(test_dup_newest_match_wins)
{
    int old = unit_open("a.img", O_RDONLY), mid = unit_open("b.img", O_RDWR);
    int newest = unit_open("c.img", O_RDONLY);
    int d;

    add(true, 1, old, NULL, OWNER_A);
    add(true, 1, mid, NULL, OWNER_A);
    add(true, 1, newest, NULL, OWNER_A);
    d = fdset_dup_fd(1, O_RDONLY, NULL);
    ck_assert_uint_eq(fd_ino(d), fd_ino(newest));
    ck_assert(fdset_remove_fd(1, true, newest, NULL));
    d = fdset_dup_fd(1, O_RDONLY, NULL);
    ck_assert_uint_eq(fd_ino(d), fd_ino(old));
}
END_TEST

static int open_direct(const char *name, int flags)
{
    g_autofree char *path = unit_file(name, "data");

    return open(path, flags | O_DIRECT);
}

START_TEST(test_dup_o_direct)
{
    int plain = unit_open("a.img", O_RDONLY);
    int direct = open_direct("a.img", O_RDONLY);
    int d;

    if (direct < 0) {
        ck_assert_int_eq(errno, EINVAL); /* fs without O_DIRECT */
        return;
    }
    add(true, 1, plain, NULL, OWNER_A);
    errno = 0;
    ck_assert_int_eq(fdset_dup_fd(1, O_RDONLY | O_DIRECT, NULL), -1);
    ck_assert_int_eq(errno, EACCES);
    add(true, 1, direct, NULL, OWNER_A);
    d = fdset_dup_fd(1, O_RDONLY, NULL); /* skips the newer O_DIRECT one */
    ck_assert(!(fcntl(d, F_GETFL) & O_DIRECT));
    d = fdset_dup_fd(1, O_RDONLY | O_DIRECT, NULL);
    ck_assert(fcntl(d, F_GETFL) & O_DIRECT);
    ck_assert(!(fcntl(plain, F_GETFL) & O_DIRECT));
}
END_TEST

START_TEST(test_dup_o_sync_dsync)
{
    int plain = unit_open("a.img", O_RDWR);
    int dsync = unit_open("a.img", O_RDWR | O_DSYNC);
    int sync = unit_open("a.img", O_RDWR | O_SYNC);
    int d;

    add(true, 1, plain, NULL, OWNER_A);
    errno = 0;
    ck_assert_int_eq(fdset_dup_fd(1, O_RDWR | O_DSYNC, NULL), -1);
    ck_assert_int_eq(errno, EACCES);
    ck_assert_int_eq(fdset_dup_fd(1, O_RDWR | O_SYNC, NULL), -1);
    add(true, 1, dsync, NULL, OWNER_A);
    ck_assert_int_eq(fdset_dup_fd(1, O_RDWR | O_SYNC, NULL), -1);
    d = fdset_dup_fd(1, O_RDWR | O_DSYNC, NULL);
    ck_assert_int_ge(d, 0);
    ck_assert_int_eq(ev_at(events->len - 1)->fd, dsync);
    add(true, 1, sync, NULL, OWNER_A);
    d = fdset_dup_fd(1, O_RDWR | O_SYNC, NULL);
    ck_assert_int_eq(ev_at(events->len - 1)->fd, sync);
    d = fdset_dup_fd(1, O_RDWR | O_DSYNC, NULL); /* not the O_SYNC one */
    ck_assert_int_eq(ev_at(events->len - 1)->fd, dsync);
    d = fdset_dup_fd(1, O_RDWR, NULL);
    ck_assert_int_eq(ev_at(events->len - 1)->fd, plain);
}
END_TEST

START_TEST(test_dup_ignores_other_status_flags)
{
    int rw = unit_open("a.img", O_RDWR);
    int before = fcntl(rw, F_GETFL);
    int d;

    add(true, 1, rw, NULL, OWNER_A);
    d = fdset_dup_fd(1, O_RDWR | O_APPEND | O_NONBLOCK | O_NOATIME, NULL);
    ck_assert_int_ge(d, 3);
    ck_assert(fd_is_cloexec(d));
    /* never F_SETFL'd: the member's shared flags are unchanged */
    ck_assert_int_eq(fcntl(rw, F_GETFL), before);
    ck_assert_int_eq(fcntl(d, F_GETFL), before);
}
END_TEST

START_TEST(test_dup_is_at_least_3)
{
    int d;

    add_ro(true, 1, NULL);
    close(0); /* the test runs in its own process */
    d = fdset_dup_fd(1, O_RDONLY, NULL);
    ck_assert_int_ge(d, 3);
    ck_assert(fd_is_closed(0));
}
END_TEST

START_TEST(test_dup_truncates)
{
    g_autofree char *path = unit_file("t.img", NULL);
    int rw, d;

    ck_assert(g_file_set_contents(path, "0123456789", -1, NULL));
    rw = open(path, O_RDWR);
    add(true, 1, rw, NULL, OWNER_A);
    d = fdset_dup_fd(1, O_RDWR, NULL);
    ck_assert_int_eq(fd_size(d), 10);
    d = fdset_dup_fd(1, O_RDWR | O_CREAT, NULL);
    ck_assert_int_eq(fd_size(d), 10); /* O_CREAT alone: kept */
    d = fdset_dup_fd(1, O_RDWR | O_EXCL, NULL);
    ck_assert_int_eq(fd_size(d), 10); /* O_EXCL alone: kept */
    d = fdset_dup_fd(1, O_RDWR | O_TRUNC, NULL);
    ck_assert_int_eq(fd_size(d), 0);
    ck_assert_int_eq(pwrite(rw, "abc", 3, 0), 3);
    d = fdset_dup_fd(1, O_RDWR | O_CREAT | O_EXCL, NULL); /* no EEXIST */
    ck_assert_int_ge(d, 0);
    ck_assert_int_eq(fd_size(rw), 0);
}
END_TEST

START_TEST(test_dup_truncate_failure_untracked)
{
    int ro = unit_open("a.img", O_RDONLY);
    off_t size = fd_size(ro);

    add(true, 1, ro, NULL, OWNER_A);
    errno = 0;
    ck_assert_int_eq(fdset_dup_fd(1, O_RDONLY | O_TRUNC, NULL), -1);
    ck_assert(errno == EINVAL || errno == EBADF);
    ck_assert_uint_eq(fdset_count_dups(), 0);
    ck_assert_int_eq(fd_size(ro), size);
}
END_TEST

START_TEST(test_dup_emfile)
{
    struct rlimit saved, rl;
    int fd, d;

    add_ro(true, 1, NULL);
    fd = unit_open("a.img", O_RDONLY); /* every lower fd is in use */
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = (struct rlimit){.rlim_cur = fd + 1, .rlim_max = saved.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    errno = 0;
    d = fdset_dup_fd(1, O_RDONLY, NULL);
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ck_assert_int_eq(d, -1);
    ck_assert_uint_eq(fdset_count_dups(), 0);
}
END_TEST

START_TEST(test_stale_dup_record_dropped)
{
    int d1, d2;

    add_ro(true, 1, NULL);
    d1 = fdset_dup_fd(1, O_RDONLY, NULL);
    close(d1); /* not released: stale */
    d2 = fdset_dup_fd(1, O_RDONLY, NULL);
    ck_assert_int_eq(d2, d1);
    ck_assert_uint_eq(fdset_count_dups(), 1);
    ck_assert(fdset_release_dup(d2));
    ck_assert_uint_eq(fdset_count_dups(), 0);
}
END_TEST

START_TEST(test_release_untracked)
{
    ck_assert(!fdset_release_dup(-1));
    ck_assert(!fdset_release_dup(5000));
    ck_assert(!fdset_release_dup(0));
}
END_TEST

/* ---- events ---- */

START_TEST(test_events_in_order)
{
    int a = unit_open("a.img", O_RDONLY);
    int d;
    FdSetEventKind want[] = {
        FDSET_EVENT_FD_ADDED, FDSET_EVENT_DUP,   FDSET_EVENT_FD_REMOVED,
        FDSET_EVENT_RELEASE,  FDSET_EVENT_FREED,
    };

    add(true, 6, a, "op", OWNER_A);
    d = fdset_dup_fd(6, O_RDONLY, NULL);
    ck_assert(fdset_remove_fd(6, true, a, NULL));
    ck_assert(fdset_release_dup(d));
    ck_assert_uint_eq(events->len, G_N_ELEMENTS(want));
    for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
        ck_assert_int_eq(ev_at(i)->kind, want[i]);
        ck_assert_int_eq(ev_at(i)->fdset_id, 6);
    }
    ck_assert_str_eq(ev_at(0)->opaque, "op");
    ck_assert_int_eq(ev_at(0)->fd, a);
    ck_assert_int_eq(ev_at(0)->dup_fd, -1);
    ck_assert_int_eq(ev_at(1)->dup_fd, d);
    ck_assert_int_eq(ev_at(2)->reason, FDSET_REASON_REMOVE_FD);
    ck_assert_int_eq(ev_at(3)->dup_fd, d);
    ck_assert_int_eq(ev_at(4)->fd, -1);
    ck_assert_str_eq(fdset_reason_name(FDSET_REASON_REMOVE_FD), "remove-fd");
    ck_assert_str_eq(fdset_reason_name(FDSET_REASON_DISCONNECT), "disconnect");
    ck_assert_str_eq(fdset_reason_name(FDSET_REASON_SHUTDOWN), "shutdown");
}
END_TEST

/* An inactive listener hears nothing; active again, it hears what follows. */
START_TEST(test_events_inactive_listener)
{
    fdset_set_listener_active(record, NULL, false);
    add_ro(true, 1, "quiet");
    ck_assert(fdset_remove_fd(1, false, 0, NULL));
    ck_assert_uint_eq(events->len, 0);

    fdset_set_listener_active(record, NULL, true);
    add_ro(true, 2, "heard");
    ck_assert_uint_eq(events->len, 1);
    ck_assert_int_eq(ev_at(0)->kind, FDSET_EVENT_FD_ADDED);
    ck_assert_str_eq(ev_at(0)->opaque, "heard");
}
END_TEST

/* A listener that calls back into the registry: its events come after. */
static void reentrant(const FdSetEvent *ev, void *opaque)
{
    if (ev->kind == FDSET_EVENT_FD_ADDED && ev->fdset_id == 1) {
        fdset_remove_fd(1, false, 0, NULL);
    }
}

START_TEST(test_events_reentrant_listener_order)
{
    fdset_add_listener(reentrant, NULL);
    add_ro(true, 1, NULL);
    fdset_remove_listener(reentrant, NULL);
    ck_assert_uint_eq(events->len, 3);
    ck_assert_int_eq(ev_at(0)->kind, FDSET_EVENT_FD_ADDED);
    ck_assert_int_eq(ev_at(1)->kind, FDSET_EVENT_FD_REMOVED);
    ck_assert_int_eq(ev_at(2)->kind, FDSET_EVENT_FREED);
    ck_assert(!set_exists(1));
}
END_TEST

/* The listener sees the opaque even if the member is gone by then. */
static void check_opaque(const FdSetEvent *ev, void *opaque)
{
    if (ev->kind == FDSET_EVENT_FD_ADDED) {
        ck_assert_str_eq(ev->opaque, "kept");
    }
}

START_TEST(test_event_opaque_is_a_copy)
{
    fdset_add_listener(reentrant, NULL);
    fdset_add_listener(check_opaque, NULL);
    add_ro(true, 1, "kept");
    fdset_remove_listener(reentrant, NULL);
    fdset_remove_listener(check_opaque, NULL);
    ck_assert_str_eq(ev_at(0)->opaque, "kept");
}
END_TEST

/* ---- threads ---- */

static GMutex count_lock;
static guint thread_events;

static void count_events(const FdSetEvent *ev, void *opaque)
{
    g_mutex_lock(&count_lock);
    thread_events++;
    g_mutex_unlock(&count_lock);
}

static gpointer worker(gpointer data)
{
    gint64 id = GPOINTER_TO_INT(data) + 1000000;

    for (int i = 0; i < 300; i++) {
        int fd = unit_open("a.img", O_RDONLY);
        int d;
        guint n;

        ck_assert(fdset_add_fd(true, id, fd, "w", id, NULL, NULL));
        ck_assert(fdset_add_fd(false, -1, unit_open("a.img", O_RDONLY), NULL,
                               id, NULL, NULL));
        d = fdset_dup_fd(id, O_RDONLY, NULL);
        ck_assert_int_ge(d, 0);
        FdSetInfo *info = fdset_query(&n);

        fdset_info_free(info, n);
        ck_assert(fdset_remove_fd(id, true, fd, NULL));
        ck_assert(fdset_release_dup(d));
        close(d);
        fdset_release_owner(id);
    }
    return NULL;
}

START_TEST(test_threads_smoke)
{
    GThread *th[4];

    g_free(unit_file("a.img", "data")); /* before the threads race */
    fdset_remove_listener(record, NULL);
    fdset_add_listener(count_events, NULL);
    for (int i = 0; i < 4; i++) {
        th[i] = g_thread_new("w", worker, GINT_TO_POINTER(i));
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(th[i]);
    }
    fdset_remove_listener(count_events, NULL);
    fdset_add_listener(record, NULL);
    ck_assert_uint_eq(fdset_count_sets(), 0);
    ck_assert_uint_eq(fdset_count_members(), 0);
    ck_assert_uint_eq(fdset_count_dups(), 0);
    /* per round: 2 added, dup, removed, release, freed, removed, freed */
    ck_assert_uint_eq(thread_events, 4 * 300 * 8);
}
END_TEST

/* ---- scale and memory ---- */

static void raise_limits(guint sets)
{
    FdSetLimits lim;

    fdset_get_limits(&lim);
    lim.max_sets = sets + 1;
    lim.max_fds_total = sets + 1;
    fdset_set_limits(&lim);
}

/*
 * Members are a few real fds added to many sets each (RLIMIT_NOFILE is too
 * small for one fd per set); forget them without closing.
 */
START_TEST(test_many_sets_fast)
{
    const guint n = 100000;
    int fd = unit_open("a.img", O_RDONLY);
    gint64 t0 = g_get_monotonic_time();

    raise_limits(n);
    for (guint i = 0; i < n; i++) {
        ck_assert(fdset_add_fd(i % 3 == 0, i, fd, NULL, OWNER_A, NULL, NULL));
    }
    ck_assert_uint_eq(fdset_count_sets(), n);
    /* free a low id, then fill it again, many times */
    for (guint i = 0; i < 2000; i++) {
        gint64 id = (i * 7919) % n;
        gint64 out;

        ck_assert(fdset_remove_fd(id, false, 0, NULL));
        fd = unit_open("a.img", O_RDONLY);
        ck_assert(fdset_add_fd(false, -1, fd, NULL, OWNER_A, &out, NULL));
        ck_assert_int_eq(out, id);
    }
    /*
     * Not a speed test (the bench is): a bound a loaded CI machine under
     * ASan never reaches, that quadratic id search (~10^10 steps) would.
     */
    ck_assert_int_lt(g_get_monotonic_time() - t0, 60 * G_USEC_PER_SEC);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

START_TEST(test_heap_per_set)
{
#ifndef UNDER_ASAN
    const guint n = 10000;
    int fd = unit_open("a.img", O_RDONLY);
    size_t before;
    double per_set;

    raise_limits(n);
    fdset_add_fd(true, 0, fd, NULL, OWNER_A, NULL, NULL); /* warm up */
    fdset_remove_fd(0, false, 0, NULL);
    fd = unit_open("a.img", O_RDONLY);
    before = mallinfo2().uordblks + mallinfo2().hblkhd;
    for (guint i = 0; i < n; i++) {
        ck_assert(fdset_add_fd(false, -1, fd, NULL, OWNER_A, NULL, NULL));
    }
    per_set = (double)(mallinfo2().uordblks + mallinfo2().hblkhd - before) / n;
    ck_assert_msg(per_set < 200, "%.1f bytes per set", per_set);
#endif
}
END_TEST

static Suite *fdset_suite(void)
{
    Suite *s = suite_create("fdset");
    TCase *ids = tcase_create("ids");
    TCase *query = tcase_create("query");
    TCase *rm = tcase_create("remove");
    TCase *own = tcase_create("ownership");
    TCase *lim = tcase_create("limits");
    TCase *dup = tcase_create("dup");
    TCase *ev = tcase_create("events");
    TCase *scale = tcase_create("scale");
    TCase *all[] = {ids, query, rm, own, lim, dup, ev, scale};

    for (guint i = 0; i < G_N_ELEMENTS(all); i++) {
        tcase_add_checked_fixture(all[i], setup, teardown);
        suite_add_tcase(s, all[i]);
    }
    tcase_add_test(ids, test_auto_ids_sequential);
    tcase_add_test(ids, test_auto_id_fills_gaps);
    tcase_add_test(ids, test_auto_id_zero_free);
    tcase_add_test(ids, test_auto_id_across_bitmap_words);
    tcase_add_test(ids, test_explicit_large_id);
    tcase_add_test(ids, test_negative_id_closes_fd);
    tcase_add_test(ids, test_bad_fd_refused);
    tcase_add_test(query, test_query_order_and_opaque);
    tcase_add_test(query, test_query_empty);
    tcase_add_test(query, test_query_reports_flags_last_seen);
    tcase_add_test(query, test_query_order_follows_changes);
    tcase_add_test(rm, test_remove_whole_set);
    tcase_add_test(rm, test_remove_one_fd);
    tcase_add_test(rm, test_remove_errors);
    tcase_add_test(rm, test_remove_while_dups_exist);
    tcase_add_test(own, test_release_owner_without_dups);
    tcase_add_test(own, test_release_owner_with_dups_orphans);
    tcase_add_test(own, test_orphans_only_set_freed_at_last_release);
    tcase_add_test(own, test_shutdown_closes_everything);
    tcase_add_test(lim, test_default_limits);
    tcase_add_test(lim, test_limit_max_sets);
    tcase_add_test(lim, test_limit_max_fds_per_set);
    tcase_add_test(lim, test_limit_max_fds_total);
    tcase_add_test(lim, test_same_file_event_flag);
    tcase_add_test(lim, test_same_file_strict);
    tcase_add_test(dup, test_dup_access_modes);
    tcase_add_test(dup, test_dup_errno_enoent_eacces);
    tcase_add_test(dup, test_dup_newest_match_wins);
    tcase_add_test(dup, test_dup_o_direct);
    tcase_add_test(dup, test_dup_o_sync_dsync);
    tcase_add_test(dup, test_dup_ignores_other_status_flags);
    tcase_add_test(dup, test_dup_is_at_least_3);
    tcase_add_test(dup, test_dup_truncates);
    tcase_add_test(dup, test_dup_truncate_failure_untracked);
    tcase_add_test(dup, test_dup_emfile);
    tcase_add_test(dup, test_stale_dup_record_dropped);
    tcase_add_test(dup, test_release_untracked);
    tcase_add_test(ev, test_events_in_order);
    tcase_add_test(ev, test_events_reentrant_listener_order);
    tcase_add_test(ev, test_events_inactive_listener);
    tcase_add_test(ev, test_event_opaque_is_a_copy);
    tcase_add_test(ev, test_threads_smoke);
    tcase_set_timeout(ev, 60);
    tcase_add_test(scale, test_many_sets_fast);
    tcase_add_test(scale, test_heap_per_set);
    tcase_set_timeout(scale, 60);
    return s;
}

int main(void)
{
    return unit_run(fdset_suite());
}
