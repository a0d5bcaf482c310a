/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * query-fdsets is 'gen': false: monitor/fds.c writes its reply straight
 * from the registry.  It must be byte for byte what the generated output
 * visitor writes for the same FdsetInfoList (QEMU's member order, QMP
 * layout): the reply is read into C with the generated input visitor and
 * written out again with the generated output visitor, for sets whose
 * members cover every access mode, flag, opaque and owner.
 */
#include <check.h>
#include <fcntl.h>
#include <unistd.h>

#include "qapi/qapi-visit.h"
#include "qemu/fdset.h"

bool qmp_marshal_query_fdsets(JsonObject *args, GString *out, GError **errp);

/* The hand-written reply, and the generated visitors' version of it. */
static void query_both(GString *fast, GString *typed)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(FdsetInfoList) list = NULL;

    ck_assert(qmp_marshal_query_fdsets(args, fast, &err));
    node = json_from_string(fast->str, &err);
    ck_assert_msg(node != NULL, "not JSON: %s", fast->str);
    list = qapi_in_FdsetInfoList(node);
    qapi_out_FdsetInfoList(typed, list);
}

static void add(int64_t set, const char *path, int flags, const char *opaque,
                uint64_t owner)
{
    g_autoptr(GError) err = NULL;
    int fd = open(path, flags | O_CLOEXEC);
    int64_t id;

    ck_assert_int_ge(fd, 0);
    /* fdset_add_fd takes ownership of @fd */
    ck_assert_msg(fdset_add_fd(true, set, fd, opaque, owner, &id, &err),
                  "%s", err ? err->message : "?");
}

START_TEST(test_empty)
{
    g_autoptr(GString) fast = g_string_new(NULL);
    g_autoptr(GString) typed = g_string_new(NULL);

    fdset_init();
    query_both(fast, typed);
    ck_assert_str_eq(fast->str, "[]");
    ck_assert_str_eq(typed->str, fast->str);
    fdset_shutdown();
}
END_TEST

START_TEST(test_every_kind_of_member)
{
    g_autoptr(GString) fast = g_string_new(NULL);
    g_autoptr(GString) typed = g_string_new(NULL);

    fdset_init();
    add(5, "/dev/null", O_RDONLY, NULL, FDSET_OWNER_PROCESS);
    add(5, "/dev/null", O_RDWR | O_APPEND | O_NONBLOCK, "rw \"x\" \u00e9\n",
        42);
    add(2, "/dev/null", O_WRONLY | O_DSYNC, "", 42);
    add(2, "/dev/null", O_RDWR | O_SYNC, "s", FDSET_OWNER_PROCESS);
    add(0, "/dev/null", O_RDONLY, "zero", 7);
    query_both(fast, typed);
    ck_assert_str_eq(typed->str, fast->str);
    ck_assert(strstr(fast->str, "\"flags\": [\"sync\"]"));
    ck_assert(strstr(fast->str, "\"flags\": [\"dsync\"]"));
    ck_assert(strstr(fast->str, "[\"append\", \"nonblock\"]"));
    fdset_shutdown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qmp-fastpath");
    TCase *tc = tcase_create("query-fdsets");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_every_kind_of_member);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
