/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Model-based test: the daemon's view against the model's. */
#include "model.h"

/* ---- comparing with the daemon ------------------------------------------- */

const char *mode_name(int flags)
{
    switch (flags & O_ACCMODE) {
    case O_RDONLY:
        return "read-only";
    case O_WRONLY:
        return "write-only";
    default:
        return "read-write";
    }
}

char *flag_names(int flags)
{
    GString *s = g_string_new("[");

    if (flags & O_DIRECT) {
        g_string_append(s, "direct,");
    }
    if ((flags & O_SYNC) == O_SYNC) {
        g_string_append(s, "sync,");
    } else if (flags & O_DSYNC) {
        g_string_append(s, "dsync,");
    }
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

gint cmp_set_desc(gconstpointer a, gconstpointer b)
{
    int64_t x = (*(MSet *const *)a)->id, y = (*(MSet *const *)b)->id;

    return x < y ? 1 : x > y ? -1 : 0;
}

void append_member(GString *s, int fd, const char *opaque,
                          const char *mode, const char *flags, guint64 dev,
                          guint64 ino, bool persistent)
{
    g_autofree char *op = opaque ? qtest_json_str(opaque) : g_strdup("-");

    g_string_append_printf(s,
                           " {fd=%d opaque=%s mode=%s flags=%s dev=%" PRIu64
                           " ino=%" PRIu64 " persistent=%d}",
                           fd, op, mode, flags, dev, ino, persistent);
}

/* query-fdsets as the model says it should be, in a canonical text. */
char *model_fdsets_text(Model *m)
{
    GString *s = g_string_new(NULL);

    g_ptr_array_sort(m->sets, cmp_set_desc);
    for (guint i = 0; i < m->sets->len; i++) {
        MSet *set = g_ptr_array_index(m->sets, i);

        g_string_append_printf(s, "set %" PRId64 " dups=%d:", set->id,
                               set->image ? block_world_dups(m, set->id)
                                          : set->dups);
        for (guint j = 0; j < set->members->len; j++) {
            MMember *mm = member_at(set, j);
            Desc *d = desc_at(m, mm->desc);
            g_autofree char *fl = flag_names(d->flags);

            append_member(s, mm->fd, mm->opaque, mode_name(d->flags), fl,
                          (guint32)m->file_st[d->file].st_dev,
                          m->file_st[d->file].st_ino,
                          mm->owner == OWNER_PROCESS);
        }
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}

/* The same text from the daemon's reply. */
char *daemon_fdsets_text(JsonArray *sets)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        JsonArray *fds = json_object_get_array_member(set, "fds");

        g_string_append_printf(s, "set %" PRId64 " dups=%" PRId64 ":",
                               json_object_get_int_member(set, "fdset-id"),
                               json_object_get_int_member(set, "dup-count"));
        for (guint j = 0; fds && j < json_array_get_length(fds); j++) {
            JsonObject *f = json_array_get_object_element(fds, j);
            JsonArray *fl = json_object_get_array_member(f, "flags");
            GString *fls = g_string_new("[");

            for (guint k = 0; fl && k < json_array_get_length(fl); k++) {
                g_string_append_printf(fls, "%s,",
                                       json_array_get_string_element(fl, k));
            }
            g_string_append_c(fls, ']');
            append_member(s, json_object_get_int_member(f, "fd"),
                          json_object_has_member(f, "opaque")
                              ? json_object_get_string_member(f, "opaque")
                              : NULL,
                          json_object_get_string_member(f, "access-mode"),
                          fls->str, json_object_get_int_member(f, "dev"),
                          json_object_get_int_member(f, "ino"),
                          json_object_get_boolean_member(f, "persistent"));
            g_string_free(fls, TRUE);
        }
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}

gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted lines "NAME ro=R direct=D". */
char *model_nodes_text(Model *m)
{
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < m->nodes->len; i++) {
        MNode *n = g_ptr_array_index(m->nodes, i);
        g_ptr_array_add(lines, g_strdup_printf("%s ro=%d direct=%d", n->name,
                                               n->ro, n->direct));
    }
    block_world_node_lines(m, lines);
    g_ptr_array_sort(lines, cmp_str);
    for (guint i = 0; i < lines->len; i++) {
        g_string_append_printf(s, "%s\n", (char *)lines->pdata[i]);
    }
    return g_string_free(s, FALSE);
}

char *daemon_nodes_text(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-named-block-nodes', "
                               "'arguments': {'flat': true}}");
    JsonArray *a = qtest_return_array(r);
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    GString *s = g_string_new(NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        JsonObject *cache = json_object_get_object_member(o, "cache");

        g_ptr_array_add(
            lines,
            g_strdup_printf(
                "%s ro=%d direct=%d",
                model_shown_name(
                    json_object_get_string_member(o, "node-name")),
                json_object_get_boolean_member(o, "ro"),
                cache && json_object_get_boolean_member(cache, "direct")));
    }
    if (!a) {
        g_string_append(s, "query-named-block-nodes failed\n");
    }
    g_ptr_array_sort(lines, cmp_str);
    for (guint i = 0; i < lines->len; i++) {
        g_string_append_printf(s, "%s\n", (char *)lines->pdata[i]);
    }
    json_node_unref(r);
    return g_string_free(s, FALSE);
}

/* Is daemon fd @fd the same open file description as our @tfd? */
int same_description(Model *m, int tfd, int fd)
{
    long r = syscall(SYS_kcmp, getpid(), qtest_pid(m->s), KCMP_FILE, tfd, fd);

    return r == 0;
}

void proc_view(Model *m, ProcView *v)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)qtest_pid(m->s));
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    v->files = g_array_new(FALSE, FALSE, sizeof(int));
    v->sockets = v->other = 0;
    ck_assert_msg(d, "cannot list %s", dir);
    while ((name = g_dir_read_name(d))) {
        int fd = atoi(name);
        g_autofree char *p = g_strdup_printf("%s/%s", dir, name);
        g_autofree char *target = g_file_read_link(p, NULL);
        struct stat st;

        if (fd <= 2 || !target) {
            continue;
        }
        if (g_str_has_prefix(target, "socket:")) {
            v->sockets++;
        } else if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            g_array_append_val(v->files, fd);
        } else {
            v->other++;
        }
    }
    g_dir_close(d);
}

bool fd_in(GArray *fds, int fd)
{
    for (guint i = 0; i < fds->len; i++) {
        if (g_array_index(fds, int, i) == fd) {
            return true;
        }
    }
    return false;
}

/* The file-pool index daemon fd @fd points at, -1 if none. */
int fd_file(Model *m, int fd)
{
    g_autofree char *p =
        g_strdup_printf("/proc/%d/fd/%d", (int)qtest_pid(m->s), fd);
    struct stat st;

    if (stat(p, &st) < 0) {
        return -1;
    }
    for (int i = 0; i < NFILES; i++) {
        if (st.st_ino == m->file_st[i].st_ino &&
            st.st_dev == m->file_st[i].st_dev) {
            return i;
        }
    }
    return -1;
}

/*
 * Which description daemon fd @fd is, among @cands (desc indexes, one is
 * removed when found); -1 when none.
 */
int take_matching(Model *m, GArray *cands, int fd)
{
    int file = fd_file(m, fd);
    int flags = qtest_fd_flags(m->s, fd) & MATCH_FLAGS;

    for (guint i = 0; i < cands->len; i++) {
        int d = g_array_index(cands, int, i);
        Desc *dd = desc_at(m, d);
        bool same = m->kcmp_ok ? same_description(m, dd->tfd, fd)
                               : dd->file == file && dd->flags == flags;
        if (same) {
            g_array_remove_index_fast(cands, i);
            return d;
        }
    }
    return -1;
}

/* /proc against the model; NULL when they agree. */
char *check_proc(Model *m)
{
    ProcView v;
    g_autoptr(GArray) rest = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GArray) want = g_array_new(FALSE, FALSE, sizeof(int));
    GString *why = g_string_new(NULL);
    guint want_sockets =
        m->cfg.n_monitors + 1 + m->actors->len + block_world_sockets(m);

    proc_view(m, &v);
    for (guint i = 0; i < m->sets->len; i++) {
        MSet *set = g_ptr_array_index(m->sets, i);
        for (guint j = 0; j < set->members->len; j++) {
            MMember *mm = member_at(set, j);
            Desc *d = desc_at(m, mm->desc);
            int fl = qtest_fd_flags(m->s, mm->fd);

            if (!fd_in(v.files, mm->fd)) {
                g_string_append_printf(
                    why, "member %d of set %" PRId64 " is not an open file\n",
                    mm->fd, set->id);
            } else if (m->kcmp_ok && !same_description(m, d->tfd, mm->fd)) {
                g_string_append_printf(why,
                                       "member %d of set %" PRId64
                                       " is not the description passed\n",
                                       mm->fd, set->id);
            } else if ((fl & MATCH_FLAGS) != d->flags) {
                g_string_append_printf(why,
                                       "member %d: fdinfo flags 0%o, "
                                       "passed 0%o\n",
                                       mm->fd, fl & MATCH_FLAGS, d->flags);
            }
        }
    }
    for (guint i = 0; i < v.files->len; i++) {
        int fd = g_array_index(v.files, int, i);
        bool member = false;

        for (guint k = 0; k < m->sets->len && !member; k++) {
            MSet *set = g_ptr_array_index(m->sets, k);
            for (guint j = 0; j < set->members->len && !member; j++) {
                member = member_at(set, j)->fd == fd;
            }
        }
        if (!member) {
            g_array_append_val(rest, fd);
        }
    }
    /* the rest: one per block node (its dup) and per named fd */
    for (guint i = 0; i < m->nodes->len; i++) {
        g_array_append_val(want, ((MNode *)m->nodes->pdata[i])->desc);
    }
    block_world_want_fds(m, want);
    for (guint i = 0; i < m->cfg.n_monitors; i++) {
        GHashTableIter it;
        gpointer val;

        g_hash_table_iter_init(&it, m->named[i]);
        while (g_hash_table_iter_next(&it, NULL, &val)) {
            int d = GPOINTER_TO_INT(val);
            g_array_append_val(want, d);
        }
    }
    for (guint i = 0; i < rest->len; i++) {
        int fd = g_array_index(rest, int, i);
        int d = take_matching(m, want, fd);

        if (d < 0) {
            g_autofree char *p =
                g_strdup_printf("/proc/%d/fd/%d", (int)qtest_pid(m->s), fd);
            g_autofree char *t = g_file_read_link(p, NULL);
            g_string_append_printf(why,
                                   "daemon fd %d (%s, flags 0%o) is "
                                   "no member, dup or named fd\n",
                                   fd, t ? t : "?", qtest_fd_flags(m->s, fd));
        }
    }
    for (guint i = 0; i < want->len; i++) {
        Desc *d = desc_at(m, g_array_index(want, int, i));
        g_string_append_printf(why,
                               "a dup or named fd of %s (0%o) is "
                               "missing\n",
                               m->files[d->file], d->flags);
    }
    if (v.sockets != want_sockets) {
        g_string_append_printf(why, "%u sockets, expected %u\n", v.sockets,
                               want_sockets);
    }
    if (v.other != m->other_fds) {
        g_string_append_printf(why, "%u other fds, expected %u\n", v.other,
                               m->other_fds);
    }
    g_array_unref(v.files);
    if (!why->len) {
        g_string_free(why, TRUE);
        return NULL;
    }
    return g_string_free(why, FALSE);
}

/* "NAME k=v ..." for an FDSET_* event, keys in a fixed order. */
char *event_text(JsonNode *ev)
{
    JsonObject *o = json_node_get_object(ev);
    JsonObject *data = json_object_get_object_member(o, "data");
    GString *s = g_string_new(json_object_get_string_member(o, "event"));

    g_string_append_printf(s, " fdset-id=%" PRId64,
                           json_object_get_int_member(data, "fdset-id"));
    if (json_object_has_member(data, "fd")) {
        g_string_append_printf(s, " fd=%" PRId64,
                               json_object_get_int_member(data, "fd"));
    }
    if (json_object_has_member(data, "opaque")) {
        g_autofree char *q =
            qtest_json_str(json_object_get_string_member(data, "opaque"));
        g_string_append_printf(s, " opaque=%s", q);
    }
    if (json_object_has_member(data, "other-file")) {
        g_string_append_printf(
            s, " other-file=%d",
            json_object_get_boolean_member(data, "other-file"));
    }
    if (json_object_has_member(data, "reason")) {
        g_string_append_printf(s, " reason=%s",
                               json_object_get_string_member(data, "reason"));
    }
    return g_string_free(s, FALSE);
}

/*
 * The observer's FDSET_* events against the expected ones (taken from
 * m->want_events as they match).  NULL when all came; "wait" when some
 * have not arrived yet; else what is wrong.
 */
char *check_events(Model *m, GPtrArray *got)
{
    JsonNode *ev;

    while ((ev = qtest_event_wait(m->obs, NULL, 0))) {
        const char *name =
            json_object_get_string_member(json_node_get_object(ev), "event");
        if (g_str_has_prefix(name, "FDSET_")) {
            g_ptr_array_add(got, event_text(ev));
        }
        json_node_unref(ev);
    }
    while (got->len) {
        GList *l = m->want_events.head;
        const char *first = got->pdata[0];

        if (m->events_unordered) {
            while (l && strcmp(l->data, first) != 0) {
                l = l->next;
            }
        }
        if (!l || strcmp(l->data, first) != 0) {
            return g_strdup_printf("event '%s', expected %s", first,
                                   l ? (char *)l->data
                                   : m->want_events.head
                                       ? (char *)m->want_events.head->data
                                       : "none");
        }
        g_free(l->data);
        g_queue_delete_link(&m->want_events, l);
        g_ptr_array_remove_index(got, 0);
    }
    return g_queue_is_empty(&m->want_events) ? NULL : g_strdup("wait");
}

/* Everything the daemon shows against the model; @settle: allow time for
 * a disconnect to be processed. */
void verify(Model *m, bool settle)
{
    gint64 deadline = g_get_monotonic_time() + (settle ? SETTLE_US : 0);
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);

    for (;;) {
        JsonNode *r = qtest_qmp(m->obs, "{'execute': 'query-fdsets'}");
        JsonArray *sets = qtest_return_array(r);
        g_autofree char *want = model_fdsets_text(m);
        g_autofree char *have =
            sets ? daemon_fdsets_text(sets) : g_strdup("query-fdsets failed");
        g_autofree char *want_nodes = model_nodes_text(m);
        g_autofree char *have_nodes = daemon_nodes_text(m->obs);
        g_autofree char *proc = NULL, *events = NULL;
        g_autofree char *block = block_world_check(m);
        bool same = g_str_equal(want, have) &&
                    g_str_equal(want_nodes, have_nodes) && !block;

        json_node_unref(r);
        proc = same ? check_proc(m) : NULL;
        events = check_events(m, got);
        if (same && !proc && !events) {
            break;
        }
        if (g_get_monotonic_time() >= deadline &&
            (!events || g_str_equal(events, "wait"))) {
            model_fail(m,
                       "query-fdsets:\n  model:\n%s  daemon:\n%s"
                       "nodes:\n  model:\n%s  daemon:\n%s%s/proc: %s\n"
                       "events: %s",
                       want, have, want_nodes, have_nodes, block ? block : "",
                       proc ? proc : (same ? "ok" : "not checked"),
                       events ? events : "ok");
        }
        if (events && !g_str_equal(events, "wait")) {
            model_fail(m, "%s", events);
        }
        g_usleep(10000);
    }
    m->events_unordered = false;
    descs_collect(m);
}

