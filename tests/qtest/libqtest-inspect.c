/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libqtest, second half: reply helpers, test files, and what the daemon
 * holds (/proc/PID/fd, fdinfo) checked against query-fdsets.  Uses only the
 * public API of libqtest.c.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libqtest.h"

/* ------------------------------------------------------------- replies */

static JsonObject *member_object(JsonNode *n, const char *name)
{
    JsonObject *o =
        n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    JsonNode *m = o ? json_object_get_member(o, name) : NULL;

    return m && JSON_NODE_HOLDS_OBJECT(m) ? json_node_get_object(m) : NULL;
}

JsonObject *qtest_return_object(JsonNode *resp)
{
    return member_object(resp, "return");
}

JsonArray *qtest_return_array(JsonNode *resp)
{
    JsonObject *o = resp && JSON_NODE_HOLDS_OBJECT(resp)
                        ? json_node_get_object(resp)
                        : NULL;
    JsonNode *m = o ? json_object_get_member(o, "return") : NULL;

    return m && JSON_NODE_HOLDS_ARRAY(m) ? json_node_get_array(m) : NULL;
}

static const char *error_member(JsonNode *resp, const char *name)
{
    JsonObject *e = member_object(resp, "error");
    JsonNode *m = e ? json_object_get_member(e, name) : NULL;

    return m && JSON_NODE_HOLDS_VALUE(m) &&
                   json_node_get_value_type(m) == G_TYPE_STRING
               ? json_node_get_string(m)
               : NULL;
}

const char *qtest_error_class(JsonNode *resp)
{
    return error_member(resp, "class");
}

const char *qtest_error_desc(JsonNode *resp)
{
    return error_member(resp, "desc");
}

void qtest_assert_error(JsonNode *resp, const char *cls, const char *desc)
{
    g_autofree char *text = json_to_string(resp, FALSE);
    const char *got_cls = qtest_error_class(resp);
    const char *got_desc = qtest_error_desc(resp);

    ck_assert_msg(got_cls && got_desc && g_str_equal(got_cls, cls) &&
                      g_str_equal(got_desc, desc),
                  "expected error %s \"%s\", got %s", cls, desc, text);
    json_node_unref(resp);
}

void qtest_assert_success(JsonNode *resp)
{
    g_autofree char *text = json_to_string(resp, FALSE);
    JsonObject *o =
        JSON_NODE_HOLDS_OBJECT(resp) ? json_node_get_object(resp) : NULL;

    ck_assert_msg(o && json_object_has_member(o, "return"),
                  "expected success, got %s", text);
    json_node_unref(resp);
}

char *qtest_json_str(const char *s)
{
    JsonNode *n = json_node_init_string(json_node_alloc(), s);
    char *text = json_to_string(n, FALSE);

    json_node_unref(n);
    return text;
}

/* ---------------------------------------------------------- test files */

char *qtest_make_file(QTestState *s, const char *name, size_t size, int pattern)
{
    char *path = g_build_filename(qtest_tmpdir(s), name, NULL);
    g_autofree char *data = g_malloc(size ? size : 1);
    GError *err = NULL;

    memset(data, pattern, size);
    ck_assert_msg(g_file_set_contents(path, data, size, &err),
                  "cannot create %s: %s", path, err ? err->message : "?");
    return path;
}

int qtest_open_file(QTestState *s, const char *name, int flags)
{
    g_autofree char *path = g_path_is_absolute(name)
                                ? g_strdup(name)
                                : g_build_filename(qtest_tmpdir(s), name, NULL);
    int fd = open(path, flags | O_CLOEXEC);

    ck_assert_msg(fd >= 0, "open %s: %s", path, g_strerror(errno));
    return fd;
}

int qtest_add_fd(QTestConn *c, int fd, int64_t fdset_id, const char *opaque,
                 int64_t *out_set)
{
    g_autofree char *id =
        fdset_id >= 0
            ? g_strdup_printf("'fdset-id': %" G_GINT64_FORMAT, fdset_id)
            : NULL;
    g_autofree char *op = opaque ? qtest_json_str(opaque) : NULL;
    g_autofree char *opm = op ? g_strdup_printf("'opaque': %s", op) : NULL;
    JsonNode *r =
        qtest_qmp_fds(c, &fd, 1, "{'execute': 'add-fd', 'arguments': {%s%s%s}}",
                      id ? id : "", id && opm ? ", " : "", opm ? opm : "");
    JsonObject *ret = qtest_return_object(r);
    g_autofree char *text = json_to_string(r, FALSE);
    int dfd;

    ck_assert_msg(ret && json_object_has_member(ret, "fd") &&
                      json_object_has_member(ret, "fdset-id"),
                  "add-fd failed: %s", text);
    dfd = json_object_get_int_member(ret, "fd");
    if (out_set) {
        *out_set = json_object_get_int_member(ret, "fdset-id");
    }
    json_node_unref(r);
    return dfd;
}

/* ---------------------------------------------------------------- /proc */

static GArray *list_fds(QTestState *s)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)qtest_pid(s));
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    DIR *d = opendir(dir);
    struct dirent *de;

    ck_assert_msg(d, "opendir %s: %s", dir, g_strerror(errno));
    while ((de = readdir(d))) {
        if (g_ascii_isdigit(de->d_name[0])) {
            int fd = atoi(de->d_name);
            g_array_append_val(fds, fd);
        }
    }
    closedir(d);
    return fds;
}

guint qtest_count_fds(QTestState *s)
{
    g_autoptr(GArray) fds = list_fds(s);

    return fds->len;
}

bool qtest_fd_stat(QTestState *s, int fd, struct stat *st)
{
    g_autofree char *p =
        g_strdup_printf("/proc/%d/fd/%d", (int)qtest_pid(s), fd);

    return stat(p, st) == 0;
}

/* Regular-file fds above stdio (stderr itself is a file in the scratch dir) */
guint qtest_count_file_fds(QTestState *s)
{
    g_autoptr(GArray) fds = list_fds(s);
    guint i, n = 0;
    struct stat st;

    for (i = 0; i < fds->len; i++) {
        int fd = g_array_index(fds, int, i);
        if (fd > 2 && qtest_fd_stat(s, fd, &st) && S_ISREG(st.st_mode)) {
            n++;
        }
    }
    return n;
}

void qtest_assert_file_fds(QTestState *s, guint expected)
{
    gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    guint n;

    /* The daemon may close an fd just after its reply: settle briefly. */
    while ((n = qtest_count_file_fds(s)) != expected &&
           g_get_monotonic_time() < deadline) {
        g_usleep(5000);
    }
    ck_assert_msg(n == expected, "daemon holds %u regular files, expected %u",
                  n, expected);
}

const char *qtest_fd_mode(QTestState *s, int fd)
{
    g_autofree char *p =
        g_strdup_printf("/proc/%d/fdinfo/%d", (int)qtest_pid(s), fd);
    g_autofree char *text = NULL;
    const char *f;

    if (!g_file_get_contents(p, &text, NULL, NULL)) {
        return NULL;
    }
    f = strstr(text, "flags:");
    if (!f) {
        return NULL;
    }
    switch (strtol(f + 6, NULL, 8) & O_ACCMODE) {
    case O_RDONLY:
        return "ro";
    case O_WRONLY:
        return "wo";
    case O_RDWR:
        return "rw";
    }
    return "?";
}

int qtest_fd_flags(QTestState *s, int fd)
{
    g_autofree char *p =
        g_strdup_printf("/proc/%d/fdinfo/%d", (int)qtest_pid(s), fd);
    g_autofree char *text = NULL;
    const char *f;

    if (!g_file_get_contents(p, &text, NULL, NULL) ||
        !(f = strstr(text, "flags:"))) {
        return -1;
    }
    return (int)strtol(f + 6, NULL, 8);
}

/* What the daemon holds, for failure messages: "fd -> target" lines. */
static char *describe_fds(QTestState *s)
{
    g_autoptr(GArray) fds = list_fds(s);
    GString *out = g_string_new(NULL);
    guint i;

    for (i = 0; i < fds->len; i++) {
        int fd = g_array_index(fds, int, i);
        g_autofree char *p =
            g_strdup_printf("/proc/%d/fd/%d", (int)qtest_pid(s), fd);
        g_autofree char *t = g_file_read_link(p, NULL);
        const char *mode = qtest_fd_mode(s, fd);
        g_string_append_printf(out, "  %d -> %s (%s)\n", fd, t ? t : "?",
                               mode ? mode : "?");
    }
    return g_string_free(out, FALSE);
}

/*
 * One comparison of query-fdsets against /proc; NULL when they agree, else
 * what is wrong.
 */
static char *registry_mismatch(QTestState *s, QTestConn *c, guint extra)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsets'}");
    JsonArray *sets = qtest_return_array(r);
    g_autofree char *text = json_to_string(r, FALSE);
    guint i, j, members = 0, dups = 0, files;
    bool reference = false; /* QEMU: dups unknown */
    char *why = NULL;

    if (!sets) {
        why = g_strdup_printf("query-fdsets failed: %s", text);
    }
    for (i = 0; !why && i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        JsonArray *fds = json_object_get_array_member(set, "fds");

        if (json_object_has_member(set, "dup-count")) {
            dups += json_object_get_int_member(set, "dup-count");
        } else if (g_getenv("QTEST_REFERENCE_QEMU")) {
            reference = true;
        } else {
            why = g_strdup_printf("set without dup-count: %s", text);
            break;
        }
        for (j = 0; !why && j < json_array_get_length(fds); j++) {
            JsonObject *m = json_array_get_object_element(fds, j);
            int fd = json_object_get_int_member(m, "fd");
            struct stat st;

            members++;
            if (!qtest_fd_stat(s, fd, &st) || !S_ISREG(st.st_mode)) {
                why = g_strdup_printf("member fd %d is not an open regular "
                                      "file in the daemon",
                                      fd);
            } else if (json_object_has_member(m, "ino") &&
                       (guint64)json_object_get_int_member(m, "ino") !=
                           (guint64)st.st_ino) {
                why = g_strdup_printf("member fd %d: ino differs", fd);
            }
        }
    }
    files = qtest_count_file_fds(s);
    if (!why && !reference && files != members + dups + extra) {
        why = g_strdup_printf("daemon holds %u regular files, registry says "
                              "%u members + %u dups + %u extra",
                              files, members, dups, extra);
    }
    if (why) {
        g_autofree char *held = describe_fds(s);
        char *all = g_strdup_printf("%s\nquery-fdsets: %s\ndaemon fds:\n%s",
                                    why, text, held);
        g_free(why);
        why = all;
    }
    json_node_unref(r);
    return why;
}

void qtest_assert_fds_match_registry(QTestState *s, QTestConn *c, guint extra)
{
    gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    char *why;

    /* A disconnect elsewhere may still be in flight: settle briefly. */
    while ((why = registry_mismatch(s, c, extra)) &&
           g_get_monotonic_time() < deadline) {
        g_free(why);
        g_usleep(20000);
    }
    if (why) {
        fprintf(stderr, "registry leak check: %s\n", why);
        ck_abort_msg("fds do not match the registry: %s", why);
    }
}

/* ------------------------------------------------------------- fdsets */

JsonNode *qtest_query_fdsets(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsets'}");
    g_autofree char *text = json_to_string(r, FALSE);

    ck_assert_msg(qtest_return_array(r), "query-fdsets failed: %s", text);
    return r;
}

static void summary_member(GString *out, JsonObject *m)
{
    if (json_object_has_member(m, "opaque")) {
        g_string_append_printf(out, "'%s'",
                               json_object_get_string_member(m, "opaque"));
    } else {
        g_string_append_printf(out, "#%" G_GINT64_FORMAT,
                               json_object_get_int_member(m, "fd"));
    }
}

char *qtest_fdsets_summary(QTestConn *c)
{
    JsonNode *r = qtest_query_fdsets(c);
    JsonArray *sets = qtest_return_array(r);
    GString *out = g_string_new(NULL);
    guint i, j;

    for (i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        JsonArray *fds = json_object_get_array_member(set, "fds");

        g_string_append_printf(out, "%s%" G_GINT64_FORMAT "[", i ? " " : "",
                               json_object_get_int_member(set, "fdset-id"));
        for (j = 0; j < json_array_get_length(fds); j++) {
            if (j) {
                g_string_append_c(out, ' ');
            }
            summary_member(out, json_array_get_object_element(fds, j));
        }
        g_string_append_c(out, ']');
    }
    json_node_unref(r);
    return g_string_free(out, FALSE);
}

void qtest_wait_fdsets_summary(QTestConn *c, const char *want, int timeout_ms)
{
    gint64 deadline =
        g_get_monotonic_time() + (timeout_ms < 0 ? 10000 : timeout_ms) * 1000LL;

    for (;;) {
        g_autofree char *got = qtest_fdsets_summary(c);
        if (g_str_equal(got, want)) {
            return;
        }
        ck_assert_msg(g_get_monotonic_time() < deadline,
                      "query-fdsets stays %s, expected %s", got, want);
        g_usleep(10000);
    }
}

int64_t qtest_fdset_dup_count(QTestConn *c, int64_t fdset_id)
{
    JsonNode *r = qtest_query_fdsets(c);
    JsonArray *sets = qtest_return_array(r);
    int64_t n = -1;
    guint i;

    for (i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        if (json_object_get_int_member(set, "fdset-id") == fdset_id) {
            ck_assert_msg(json_object_has_member(set, "dup-count"),
                          "set %" G_GINT64_FORMAT " has no dup-count",
                          fdset_id);
            n = json_object_get_int_member(set, "dup-count");
        }
    }
    json_node_unref(r);
    return n;
}

JsonObject *qtest_fdsets_find_member(JsonArray *sets, int fd, int64_t *fdset_id)
{
    guint i, j;

    for (i = 0; sets && i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        JsonArray *fds = json_object_get_array_member(set, "fds");
        for (j = 0; j < json_array_get_length(fds); j++) {
            JsonObject *m = json_array_get_object_element(fds, j);
            if (json_object_get_int_member(m, "fd") == fd) {
                if (fdset_id) {
                    *fdset_id = json_object_get_int_member(set, "fdset-id");
                }
                return m;
            }
        }
    }
    return NULL;
}
