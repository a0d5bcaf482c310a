/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdset lifetime qtests: who owns a member (the connection that added it,
 * or the process: persistent, --persistent-fds), what a disconnect closes,
 * several monitors on one registry, the FDSET_* events, and fdsetd's
 * limits (design decisions 2, 6, 7).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdset-qtest.h"
#include "libqtest.h"

static void blockdev_add_ro(QTestConn *c, const char *node, int set)
{
    qtest_assert_success(qtest_qmp(c,
                                   "{'execute': 'blockdev-add', "
                                   "'arguments': {'driver': 'file', "
                                   "'node-name': '%s', 'filename': "
                                   "'/dev/fdset/%d', 'read-only': true}}",
                                   node, set));
}

static void blockdev_del(QTestConn *c, const char *node)
{
    qtest_assert_success(qtest_qmp(c,
                                   "{'execute': 'blockdev-del', "
                                   "'arguments': {'node-name': '%s'}}",
                                   node));
}

/* -------------------------------------------------------- ownership */

/* fdsetd differs (p18): members belong to the connection that added them. */
START_TEST(test_disconnect_reaps_unused_sets)
{
    Fixture f = start(NULL);
    QTestConn *a = qtest_connect(f.s, 0);
    int fd0 = open_img(&f, "a.img", O_RDONLY);
    int fd1 = open_img(&f, "b.img", O_RDONLY);
    int m1;

    qtest_add_fd(a, fd0, 0, "unused", NULL);
    m1 = qtest_add_fd(a, fd1, 1, "used", NULL);
    close(fd0);
    close(fd1);
    blockdev_add_ro(a, "n1", 1);
    qtest_disconnect(a);
    /* Set 0 is gone; set 1 keeps its member while the node needs it. */
    qtest_wait_fdsets_summary(f.c, "1['used']", -1);
    ck_assert(daemon_fd_is(&f, m1, "b.img"));
    qtest_assert_file_fds(f.s, 2);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    /* The last dup goes: so does the orphaned member, and the set. */
    blockdev_del(f.c, "n1");
    assert_summary(f.c, "");
    qtest_assert_file_fds(f.s, 0);
    finish(&f, 0);
}
END_TEST

START_TEST(test_disconnect_keeps_other_connections_members)
{
    Fixture f = start(NULL);
    QTestConn *a = qtest_connect(f.s, 0);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_add_fd(a, fd, 0, "from-a", NULL);
    qtest_add_fd(f.c, fd, 0, "from-c", NULL);
    close(fd);
    qtest_disconnect(a);
    qtest_wait_fdsets_summary(f.c, "0['from-c']", -1);
    finish(&f, 0);
}
END_TEST

START_TEST(test_disconnect_keeps_persistent)
{
    Fixture f = start(NULL);
    QTestConn *a = qtest_connect(f.s, 0);
    int fd = open_img(&f, "a.img", O_RDONLY);
    JsonNode *r;
    JsonObject *m;
    int dfd;

    r = qtest_qmp_fds(a, &fd, 1,
                      "{'execute': 'add-fd', 'arguments': "
                      "{'fdset-id': 4, 'persistent': true}}");
    ck_assert_ptr_nonnull(qtest_return_object(r));
    dfd = json_object_get_int_member(qtest_return_object(r), "fd");
    json_node_unref(r);
    qtest_add_fd(a, fd, 5, NULL, NULL); /* not persistent: reaped */
    close(fd);
    qtest_disconnect(a);
    {
        g_autofree char *want = g_strdup_printf("4[#%d]", dfd);
        qtest_wait_fdsets_summary(f.c, want, -1);
    }
    r = query(f.c);
    m = qtest_fdsets_find_member(qtest_return_array(r), dfd, NULL);
    ck_assert(json_object_get_boolean_member(m, "persistent"));
    json_node_unref(r);
    finish(&f, 0);
}
END_TEST

START_TEST(test_persistent_fds_switch)
{
    Fixture f = start("--persistent-fds");
    QTestConn *a = qtest_connect(f.s, 0);
    int fd = open_img(&f, "a.img", O_RDONLY);
    JsonNode *r;
    int dfd;

    dfd = qtest_add_fd(a, fd, 0, "kept", NULL);
    close(fd);
    qtest_disconnect(a);
    /* Give a (wrong) reaping time to happen before looking. */
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'query-version'}"));
    g_usleep(100000);
    assert_summary(f.c, "0['kept']");
    r = query(f.c);
    ck_assert(json_object_get_boolean_member(
        qtest_fdsets_find_member(qtest_return_array(r), dfd, NULL),
        "persistent"));
    json_node_unref(r);
    finish(&f, 0);
}
END_TEST

START_TEST(test_two_monitors_share_registry)
{
    QTestState *s = qtest_spawn_full(NULL, 2, NULL, 0);
    Fixture f = {s, qtest_connect(s, 0)};
    QTestConn *b = qtest_connect(s, 1);
    int rw;

    g_free(qtest_make_file(s, "a.img", 4096, 'a'));
    add_fd_ok(&f, "a.img", O_RDONLY, -1, "from-A", NULL);
    assert_summary(b, "0['from-A']");
    {
        int fd = open_img(&f, "a.img", O_RDWR);
        int64_t id;
        rw = qtest_add_fd(b, fd, -1, NULL, &id);
        ck_assert_int_eq(id, 1);
        close(fd);
    }
    {
        g_autofree char *want = g_strdup_printf("1[#%d] 0['from-A']", rw);
        assert_summary(f.c, want);
        qtest_assert_success(qtest_qmp(b, "{'execute': 'remove-fd', "
                                          "'arguments': {'fdset-id': 0}}"));
        g_free(want);
        want = g_strdup_printf("1[#%d]", rw);
        assert_summary(f.c, want);
    }
    finish(&f, 0);
}
END_TEST

/* ------------------------------------------------------------- events */

/* Next event, which must be @name for set @id (and member @fd if >= 0). */
static JsonObject *next_event(QTestConn *c, const char *name, int64_t id,
                              int fd, JsonNode **keep)
{
    JsonNode *ev = qtest_event_wait(c, NULL, -1);
    JsonObject *o, *data;

    ck_assert_msg(ev, "no event (expected %s)", name);
    o = json_node_get_object(ev);
    ck_assert_str_eq(json_object_get_string_member(o, "event"), name);
    ck_assert(json_object_has_member(o, "timestamp"));
    data = json_object_get_object_member(o, "data");
    ck_assert_int_eq(json_object_get_int_member(data, "fdset-id"), id);
    if (fd >= 0) {
        ck_assert_int_eq(json_object_get_int_member(data, "fd"), fd);
    }
    *keep = ev;
    return data;
}

static void expect_removed(QTestConn *c, int64_t id, int fd, const char *reason)
{
    JsonNode *ev;
    JsonObject *d = next_event(c, "FDSET_FD_REMOVED", id, fd, &ev);

    ck_assert_str_eq(json_object_get_string_member(d, "reason"), reason);
    json_node_unref(ev);
}

static void expect_simple(QTestConn *c, const char *name, int64_t id, int fd)
{
    JsonNode *ev;

    next_event(c, name, id, fd, &ev);
    json_node_unref(ev);
}

static QTestConn *connect_events(QTestState *s, guint monitor)
{
    QTestConn *c = qtest_connect_raw(s, monitor);

    qtest_assert_success(qtest_qmp(c, "{'execute': 'qmp_capabilities', "
                                      "'arguments': {'enable': "
                                      "['fdset-events']}}"));
    return c;
}

START_TEST(test_events_to_every_subscriber)
{
    QTestState *s = qtest_spawn_full(NULL, 2, NULL, 0);
    QTestConn *a = connect_events(s, 0);
    QTestConn *b = connect_events(s, 1);
    QTestConn *plain = qtest_connect(s, 0);
    Fixture f = {s, a};
    QTestConn *both[2] = {a, b};
    int m1, m2, i;

    g_free(qtest_make_file(s, "a.img", 4096, 'a'));
    m1 = add_fd_ok(&f, "a.img", O_RDONLY, 3, "one", NULL);
    m2 = add_fd_ok(&f, "a.img", O_RDWR, 3, NULL, NULL);
    qtest_assert_success(qtest_qmp(b,
                                   "{'execute': 'remove-fd', 'arguments':"
                                   " {'fdset-id': 3, 'fd': %d}}",
                                   m1));
    qtest_assert_success(qtest_qmp(b, "{'execute': 'remove-fd', "
                                      "'arguments': {'fdset-id': 3}}"));
    for (i = 0; i < 2; i++) {
        JsonNode *ev;
        JsonObject *d = next_event(both[i], "FDSET_FD_ADDED", 3, m1, &ev);
        ck_assert_str_eq(json_object_get_string_member(d, "opaque"), "one");
        json_node_unref(ev);
        d = next_event(both[i], "FDSET_FD_ADDED", 3, m2, &ev);
        ck_assert(!json_object_has_member(d, "opaque"));
        ck_assert(!json_object_has_member(d, "other-file") ||
                  !json_object_get_boolean_member(d, "other-file"));
        json_node_unref(ev);
        expect_removed(both[i], 3, m1, "remove-fd");
        expect_removed(both[i], 3, m2, "remove-fd");
        expect_simple(both[i], "FDSET_FREED", 3, -1);
    }
    /* A client that did not ask (QEMU's view) sees none. */
    qtest_assert_success(qtest_qmp(plain, "{'execute': 'query-version'}"));
    ck_assert_ptr_null(qtest_event_wait(plain, NULL, 200));
    finish(&f, 0);
}
END_TEST

START_TEST(test_events_on_disconnect)
{
    Fixture f = start(NULL);
    QTestConn *ev = connect_events(f.s, 0);
    QTestConn *a = qtest_connect(f.s, 0);
    int fd = open_img(&f, "a.img", O_RDONLY);
    int m = qtest_add_fd(a, fd, 6, NULL, NULL);

    close(fd);
    expect_simple(ev, "FDSET_FD_ADDED", 6, m);
    qtest_disconnect(a);
    expect_removed(ev, 6, m, "disconnect");
    expect_simple(ev, "FDSET_FREED", 6, -1);
    finish(&f, 0);
}
END_TEST

START_TEST(test_events_switch_for_all)
{
    Fixture f = start("--fdset-events");
    QTestConn *raw = qtest_connect_raw(f.s, 0);
    int m = add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);

    expect_simple(f.c, "FDSET_FD_ADDED", 0, m);
    /* Not before negotiation, as for every QMP event. */
    ck_assert_ptr_null(qtest_event_wait(raw, NULL, 200));
    finish(&f, 0);
}
END_TEST

START_TEST(test_events_other_file)
{
    Fixture f = start(NULL);
    QTestConn *ev = connect_events(f.s, 0);
    JsonNode *n;
    JsonObject *d;
    int m;

    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    m = add_fd_ok(&f, "b.img", O_RDONLY, 0, NULL, NULL);
    expect_simple(ev, "FDSET_FD_ADDED", 0, -1);
    d = next_event(ev, "FDSET_FD_ADDED", 0, m, &n);
    ck_assert(json_object_get_boolean_member(d, "other-file"));
    json_node_unref(n);
    finish(&f, 0);
}
END_TEST

/* ------------------------------------------------ fdsetd's own limits */

START_TEST(test_strict_same_file_refuses)
{
    Fixture f = start("--strict-same-file");
    int fd = open_img(&f, "b.img", O_RDONLY);
    JsonNode *r;

    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    r = qtest_qmp_fds(f.c, &fd, 1,
                      "{'execute': 'add-fd', "
                      "'arguments': {'fdset-id': 0}}");
    close(fd);
    ck_assert_str_eq(qtest_error_class(r), "GenericError");
    fprintf(stderr, "strict same file: %s\n", qtest_error_desc(r));
    ck_assert_ptr_nonnull(strstr(qtest_error_desc(r), "same file"));
    json_node_unref(r);
    qtest_assert_file_fds(f.s, 1);
    finish(&f, 0);
}
END_TEST

START_TEST(test_limit_fds_per_set)
{
    Fixture f = start("--max-fds-per-set 2");
    int fd = open_img(&f, "a.img", O_RDONLY);
    JsonNode *r;

    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    r = qtest_qmp_fds(f.c, &fd, 1,
                      "{'execute': 'add-fd', "
                      "'arguments': {'fdset-id': 0}}");
    ck_assert_str_eq(qtest_error_class(r), "GenericError");
    fprintf(stderr, "per-set limit: %s\n", qtest_error_desc(r));
    ck_assert_ptr_nonnull(strstr(qtest_error_desc(r), "limit"));
    json_node_unref(r);
    qtest_assert_file_fds(f.s, 2);
    /* Another set still takes it. */
    qtest_add_fd(f.c, fd, 1, NULL, NULL);
    close(fd);
    finish(&f, 0);
}
END_TEST

START_TEST(test_limit_sets)
{
    Fixture f = start("--max-sets 1");
    int fd = open_img(&f, "a.img", O_RDONLY);
    JsonNode *r;

    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    r = qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'add-fd'}");
    close(fd);
    ck_assert_str_eq(qtest_error_class(r), "GenericError");
    fprintf(stderr, "set limit: %s\n", qtest_error_desc(r));
    ck_assert_ptr_nonnull(strstr(qtest_error_desc(r), "limit"));
    json_node_unref(r);
    qtest_assert_file_fds(f.s, 1);
    finish(&f, 0);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("fdset-lifetime");
    TCase *tc = tcase_create("fdset-lifetime");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_disconnect_reaps_unused_sets);
    tcase_add_test(tc, test_disconnect_keeps_other_connections_members);
    tcase_add_test(tc, test_disconnect_keeps_persistent);
    tcase_add_test(tc, test_persistent_fds_switch);
    tcase_add_test(tc, test_two_monitors_share_registry);
    tcase_add_test(tc, test_events_to_every_subscriber);
    tcase_add_test(tc, test_events_on_disconnect);
    tcase_add_test(tc, test_events_switch_for_all);
    tcase_add_test(tc, test_events_other_file);
    tcase_add_test(tc, test_strict_same_file_refuses);
    tcase_add_test(tc, test_limit_fds_per_set);
    tcase_add_test(tc, test_limit_sets);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
