/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Model-based test: fd, file-node and connection operations. */
#include "model.h"

/* ---- operations ------------------------------------------------------------
 */

/* Send @text from @a with @fds (python-qemu-qmp style: on a blank first). */
JsonNode *actor_send(Model *m, Actor *a, const int *fds, guint nfds,
                            bool on_blank, const char *text)
{
    JsonNode *r;

    m->n_cmds++;
    if (on_blank && nfds) {
        qtest_send_raw(a->c, " ", 1, fds, nfds);
        fds = NULL;
        nfds = 0;
    }
    qtest_send_raw(a->c, text, strlen(text), fds, nfds);
    r = qtest_recv_response(a->c, -1);
    if (!r) {
        model_fail(m, "no reply to %s", text);
    }
    return r;
}

void expect_ok(Model *m, JsonNode *r, const char *what)
{
    if (!json_object_has_member(json_node_get_object(r), "return")) {
        g_autofree char *t = json_to_string(r, FALSE);
        model_fail(m, "%s: expected success, got %s", what, t);
    }
}

/* An error whose desc is @desc (or starts with it, if @prefix). */
void expect_error(Model *m, JsonNode *r, const char *what,
                         const char *desc, bool prefix)
{
    const char *got = qtest_error_desc(r);

    m->n_errors++;
    if (!got || !g_str_equal(qtest_error_class(r), "GenericError") ||
        (prefix ? !g_str_has_prefix(got, desc) : !g_str_equal(got, desc))) {
        g_autofree char *t = json_to_string(r, FALSE);
        model_fail(m, "%s: expected error \"%s%s\", got %s", what, desc,
                   prefix ? "..." : "", t);
    }
}

Actor *pick_actor(Model *m)
{
    return g_ptr_array_index(m->actors, rnd(m, m->actors->len));
}

/* A set of the fd world (the images' sets are model-block.c's). */
MSet *pick_set(Model *m)
{
    g_autoptr(GPtrArray) mine = g_ptr_array_new();

    for (guint i = 0; i < m->sets->len; i++) {
        MSet *set = g_ptr_array_index(m->sets, i);
        if (!set->image) {
            g_ptr_array_add(mine, set);
        }
    }
    return mine->len ? g_ptr_array_index(mine, rnd(m, mine->len)) : NULL;
}

/* A random opaque: printable, quotes and backslashes included. */
char *random_opaque(Model *m)
{
    static const char chars[] = "abcXYZ019 -_:,'\"\\/";
    guint len = rnd(m, 12);
    char *s = g_malloc(len + 1);

    for (guint i = 0; i < len; i++) {
        s[i] = chars[rnd(m, sizeof(chars) - 1)];
    }
    s[len] = 0;
    return s;
}

int random_flags(Model *m)
{
    int r = rnd(m, 100);
    int flags = r < 42 ? O_RDONLY : r < 90 ? O_RDWR : O_WRONLY;

    if (m->direct_ok && chance(m, 10)) {
        flags |= O_DIRECT;
    }
    if (chance(m, 4)) {
        flags |= chance(m, 50) ? O_DSYNC : O_SYNC;
    }
    return flags;
}

/* add-fd: what the rules say it does, given the set chosen. */
const char *add_fd_refusal(Model *m, bool has_id, int64_t id, int file,
                                  bool *prefix)
{
    MSet *set = has_id ? set_find(m, id) : NULL;

    *prefix = true;
    if (has_id && id < 0) {
        *prefix = false;
        return "Parameter 'fdset-id' expects a non-negative value";
    }
    if (!set && m->cfg.max_sets && m->sets->len >= m->cfg.max_sets) {
        return "Cannot create fdset";
    }
    if (set && m->cfg.max_per_set && set->members->len >= m->cfg.max_per_set) {
        return "Cannot add fd";
    }
    if (m->cfg.max_total && total_members(m) >= m->cfg.max_total) {
        return "Cannot add fd";
    }
    if (m->cfg.strict_same_file && set && set->members->len &&
        desc_at(m, member_at(set, 0)->desc)->file != file) {
        return "Cannot add fd to fdset";
    }
    return NULL;
}

void op_add_fd(Model *m)
{
    Actor *a = pick_actor(m);
    MSet *target = pick_set(m);
    int r = rnd(m, 100), file, d, fds[4], nfds = 0, persistent = -1;
    bool has_id = true, on_blank = chance(m, 15), prefix, keep;
    int64_t id = 0, got_id;
    g_autofree char *opaque = chance(m, 50) ? random_opaque(m) : NULL;
    g_autofree char *q = opaque ? qtest_json_str(opaque) : NULL;
    GString *args = g_string_new(NULL);
    const char *refusal;
    JsonNode *reply;
    JsonObject *ret;

    if (r < 45 && target) {
        id = target->id;
    } else if (r < 82) {
        has_id = false;
    } else if (r < 96) {
        id = rnd(m, 40);
    } else if (r < 98) {
        id = -1 - rnd(m, 5);
    } else {
        id = G_GINT64_CONSTANT(1) << (31 + rnd(m, 20));
    }
    target = has_id ? set_find(m, id) : NULL;
    file =
        target && target->members->len && chance(m, 90)
            ? desc_at(m, member_at(target, 0)->desc)->file
            : (has_id ? (int)(id % NFILES + NFILES) % NFILES : rnd(m, NFILES));
    if (chance(m, 8)) {
        file = rnd(m, NFILES);
    }
    if (chance(m, 25)) {
        persistent = chance(m, 50);
    }
    if (has_id) {
        g_string_append_printf(args, "\"fdset-id\": %" PRId64 ", ", id);
    }
    if (q) {
        g_string_append_printf(args, "\"opaque\": %s, ", q);
    }
    if (persistent >= 0) {
        g_string_append_printf(args, "\"persistent\": %s, ",
                               persistent ? "true" : "false");
    }
    if (args->len) {
        g_string_truncate(args, args->len - 2);
    }
    g_autofree char *text = g_strdup_printf(
        "{\"execute\": \"add-fd\", \"arguments\": {%s}}", args->str);
    g_string_free(args, TRUE);

    if (chance(m, 3)) {
        model_log(m, "add-fd %s without an fd", text);
        reply = actor_send(m, a, NULL, 0, false, text);
        expect_error(m, reply, "add-fd without fd", NO_FD_MSG, false);
        json_node_unref(reply);
        return;
    }
    d = desc_new(m, file, random_flags(m));
    fds[nfds++] = desc_at(m, d)->tfd;
    for (int extra = chance(m, 12) ? 1 + rnd(m, 3) : 0; extra > 0; extra--) {
        fds[nfds++] =
            desc_at(m, desc_new(m, rnd(m, NFILES), random_flags(m)))->tfd;
    }
    model_log(m, "actor %d: %s fds=%d%s (file %d flags 0%o)", a->id, text, nfds,
              on_blank ? " on a blank" : "", file, desc_at(m, d)->flags);
    refusal = add_fd_refusal(m, has_id, id, file, &prefix);
    reply = actor_send(m, a, fds, nfds, on_blank, text);
    if (refusal) {
        m->n_limits += prefix;
        expect_error(m, reply, "add-fd", refusal, prefix);
        json_node_unref(reply);
        return;
    }
    expect_ok(m, reply, "add-fd");
    ret = qtest_return_object(reply);
    got_id = json_object_get_int_member(ret, "fdset-id");
    if (got_id != (has_id ? id : lowest_free_id(m))) {
        model_fail(m, "add-fd put the fd in set %" PRId64 ", expected %" PRId64,
                   got_id, has_id ? id : lowest_free_id(m));
    }
    target = set_find(m, got_id);
    if (!target) {
        target = g_new0(MSet, 1);
        target->id = got_id;
        target->members = g_array_new(FALSE, TRUE, sizeof(MMember));
        g_ptr_array_add(m->sets, target);
    }
    keep = persistent >= 0 ? persistent : m->cfg.persistent_default;
    MMember mm = {
        .fd = json_object_get_int_member(ret, "fd"),
        .desc = d,
        .opaque = g_strdup(opaque),
        .owner = keep ? OWNER_PROCESS : a->id,
    };
    bool other = target->members->len &&
                 desc_at(m, member_at(target, 0)->desc)->file != file;
    want_event(m, "FDSET_FD_ADDED fdset-id=%" PRId64 " fd=%d%s%s%s%s", got_id,
               mm.fd, q ? " opaque=" : "", q ? q : "",
               other ? " other-file=1" : "", "");
    g_array_append_val(target->members, mm);
    m->max_members = MAX(m->max_members, total_members(m));
    json_node_unref(reply);
}

void op_remove_fd(Model *m)
{
    Actor *a = pick_actor(m);
    MSet *set = pick_set(m);
    int r = rnd(m, 100);
    int64_t id;
    int fd = -1;
    bool has_fd;
    g_autofree char *text = NULL, *err = NULL;
    JsonNode *reply;

    if (!set || r < 5) {
        id = 1000 + rnd(m, 100); /* no such set */
        set = NULL;
        has_fd = chance(m, 50);
        fd = 3 + rnd(m, 200);
    } else if (r < 10) {
        id = set->id;
        has_fd = true;
        fd = 100000 + rnd(m, 100); /* not a member */
    } else if (r < 35 || !set->members->len) {
        id = set->id;
        has_fd = false;
    } else {
        id = set->id;
        has_fd = true;
        fd = member_at(set, rnd(m, set->members->len))->fd;
    }
    text = has_fd
               ? g_strdup_printf("{\"execute\": \"remove-fd\", "
                                 "\"arguments\": {\"fdset-id\": %" PRId64
                                 ", \"fd\": %d}}",
                                 id, fd)
               : g_strdup_printf("{\"execute\": \"remove-fd\", "
                                 "\"arguments\": {\"fdset-id\": %" PRId64 "}}",
                                 id);
    model_log(m, "actor %d: %s", a->id, text);
    reply = actor_send(m, a, NULL, 0, false, text);
    if (has_fd) {
        guint i = 0;

        while (set && i < set->members->len && member_at(set, i)->fd != fd) {
            i++;
        }
        if (!set || i == set->members->len) {
            err = g_strdup_printf("File descriptor named 'fdset-id:%" PRId64
                                  ", fd:%d' not found",
                                  id, fd);
        } else {
            member_close(m, set, i, "remove-fd");
        }
    } else if (!set) {
        err = g_strdup_printf(
            "File descriptor named 'fdset-id:%" PRId64 "' not found", id);
    } else {
        while (set->members->len) {
            member_close(m, set, 0, "remove-fd");
        }
    }
    if (err) {
        expect_error(m, reply, "remove-fd", err, false);
    } else {
        expect_ok(m, reply, "remove-fd");
        set_maybe_free(m, set);
    }
    json_node_unref(reply);
}

int file_flags(bool ro, bool direct)
{
    return (ro ? O_RDONLY : O_RDWR) | (direct ? O_DIRECT : 0);
}

MNode *node_find(Model *m, const char *name)
{
    for (guint i = 0; i < m->nodes->len; i++) {
        MNode *n = g_ptr_array_index(m->nodes, i);
        if (g_str_equal(n->name, name)) {
            return n;
        }
    }
    return NULL;
}

char *dup_error(int64_t id, int flags, const char *why)
{
    return g_strdup_printf("Could not dup FD for /dev/fdset/%" PRId64
                           " flags %x: %s",
                           id, flags, why);
}

/*
 * Mostly ask for what some member of @set can serve (read-only or
 * read-write, with or without O_DIRECT), so that dups are made often.
 */
void choose_mode(Model *m, MSet *set, bool *ro, bool *direct)
{
    *ro = chance(m, 50);
    *direct = m->direct_ok && chance(m, 12);
    if (set && set->members->len && chance(m, 60)) {
        int fl =
            desc_at(m, member_at(set, rnd(m, set->members->len))->desc)->flags;
        if ((fl & O_ACCMODE) != O_WRONLY && !(fl & O_DSYNC)) {
            *ro = (fl & O_ACCMODE) == O_RDONLY;
            *direct = fl & O_DIRECT;
        }
    }
}

void op_blockdev_add(Model *m)
{
    Actor *a = pick_actor(m);
    MSet *set = pick_set(m);
    int r = rnd(m, 100), flags;
    int64_t id = set && r < 85 ? set->id
                 : r < 95      ? 40 + rnd(m, 10)
                               : (G_GINT64_CONSTANT(1) << 31) + rnd(m, 9);
    bool ro, direct, auto_ro;
    g_autofree char *name =
        m->nodes->len && chance(m, 5)
            ? g_strdup(((MNode *)m->nodes->pdata[rnd(m, m->nodes->len)])->name)
            : g_strdup_printf("n%d", m->next_node++);
    g_autofree char *text = NULL, *err = NULL;
    MMember *match = NULL;
    JsonNode *reply;

    set = set_find(m, id);
    choose_mode(m, set, &ro, &direct);
    auto_ro = !ro && chance(m, 25);
    text = g_strdup_printf(
        "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": "
        "\"file\", \"node-name\": \"%s\", \"filename\": \"/dev/fdset/%" PRId64
        "\", \"read-only\": %s%s%s}}",
        name, id, ro ? "true" : "false",
        auto_ro ? ", \"auto-read-only\": true" : "",
        direct ? ", \"cache\": {\"direct\": true}" : "");
    model_log(m, "actor %d: %s", a->id, text);
    reply = actor_send(m, a, NULL, 0, false, text);
    flags = file_flags(ro || auto_ro, direct);
    if (node_find(m, name)) {
        err = g_strdup_printf("Duplicate nodes with node-name='%s'", name);
    } else if (id > G_MAXINT32) {
        err = g_strdup_printf("Could not parse fdset /dev/fdset/%" PRId64, id);
    } else if (!set) {
        err = dup_error(id, flags, "No such file or directory");
    } else {
        match = set_match(m, set, flags);
    }
    if (!err && !match) {
        err = dup_error(id, flags, "Permission denied");
    }
    if (err) {
        expect_error(m, reply, "blockdev-add", err, false);
    } else {
        MNode *n = g_new0(MNode, 1);

        expect_ok(m, reply, "blockdev-add");
        n->name = g_steal_pointer(&name);
        n->set = id;
        n->desc = match->desc;
        n->ro = ro;
        n->fd_ro = ro || auto_ro;
        n->direct = direct;
        n->auto_ro = auto_ro;
        g_ptr_array_add(m->nodes, n);
        set->dups++;
        m->n_dups++;
        m->max_dups = MAX(m->max_dups, m->nodes->len);
    }
    json_node_unref(reply);
}

void node_free(MNode *n)
{
    g_free(n->name);
    g_free(n);
}

void op_blockdev_del(Model *m)
{
    Actor *a = pick_actor(m);
    MNode *n = m->nodes->len && chance(m, 93)
                   ? g_ptr_array_index(m->nodes, rnd(m, m->nodes->len))
                   : NULL;
    g_autofree char *name =
        n ? g_strdup(n->name) : g_strdup_printf("gone%d", rnd(m, 10));
    g_autofree char *text = g_strdup_printf(
        "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": "
        "\"%s\"}}",
        name);
    JsonNode *reply;

    model_log(m, "actor %d: %s", a->id, text);
    reply = actor_send(m, a, NULL, 0, false, text);
    if (!n) {
        g_autofree char *err =
            g_strdup_printf("Failed to find node with node-name='%s'", name);
        expect_error(m, reply, "blockdev-del", err, false);
    } else {
        MSet *set = set_find(m, n->set);

        expect_ok(m, reply, "blockdev-del");
        ck_assert_msg(set, "model: node %s without its set", n->name);
        g_ptr_array_remove(m->nodes, n); /* frees it */
        dup_released(m, set);
    }
    json_node_unref(reply);
}

void op_blockdev_reopen(Model *m)
{
    Actor *a = pick_actor(m);
    MNode *n;
    MSet *set;
    bool ro, direct, auto_ro;
    g_autofree char *text = NULL;
    MMember *match;
    JsonNode *reply;

    if (!m->nodes->len) {
        return;
    }
    n = g_ptr_array_index(m->nodes, rnd(m, m->nodes->len));
    choose_mode(m, set_find(m, n->set), &ro, &direct);
    if (chance(m, 70)) {
        direct = n->direct;
    }
    if (ro == n->ro && direct == n->direct && chance(m, 70)) {
        ro = !ro;
    }
    auto_ro = !ro && chance(m, 30);
    text = g_strdup_printf(
        "{\"execute\": \"blockdev-reopen\", \"arguments\": {\"options\": "
        "[{\"driver\": \"file\", \"node-name\": \"%s\", \"filename\": "
        "\"/dev/fdset/%" PRId64 "\", \"read-only\": %s, "
        "\"auto-read-only\": %s, \"cache\": {\"direct\": %s}}]}}",
        n->name, n->set, ro ? "true" : "false", auto_ro ? "true" : "false",
        direct ? "true" : "false");
    model_log(m, "actor %d: %s (now ro=%d direct=%d)", a->id, text, n->ro,
              n->direct);
    reply = actor_send(m, a, NULL, 0, false, text);
    set = set_find(m, n->set);
    /* dynamic auto-read-only: the fd stays read-only without a writer */
    if (file_flags(ro || auto_ro, direct) ==
        file_flags(n->fd_ro, n->direct)) {
        expect_ok(m, reply, "blockdev-reopen (same flags)");
    } else if ((match = set_match(m, set, file_flags(ro || auto_ro,
                                                     direct)))) {
        expect_ok(m, reply, "blockdev-reopen");
        n->desc = match->desc; /* new dup in, old dup out: count stays */
        m->n_reopened++;
    } else {
        g_autofree char *err = dup_error(
            n->set, file_flags(ro || auto_ro, direct), "Permission denied");
        expect_error(m, reply, "blockdev-reopen", err, false);
        json_node_unref(reply);
        return;
    }
    n->ro = ro;
    n->fd_ro = ro || auto_ro;
    n->direct = direct;
    n->auto_ro = auto_ro; /* a reopen sets every option it leaves out */
    json_node_unref(reply);
}

void op_getfd(Model *m)
{
    static const char *const names[] = {"a", "b", "c", "7x"};
    Actor *a = pick_actor(m);
    const char *name = names[rnd(m, G_N_ELEMENTS(names))];
    bool no_fd = chance(m, 4);
    int d = no_fd ? -1 : desc_new(m, rnd(m, NFILES), random_flags(m));
    g_autofree char *text = g_strdup_printf(
        "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"%s\"}}", name);
    JsonNode *reply;

    model_log(m, "actor %d: %s%s", a->id, text, no_fd ? " without fd" : "");
    reply = actor_send(m, a, no_fd ? NULL : &desc_at(m, d)->tfd, no_fd ? 0 : 1,
                       false, text);
    if (no_fd) {
        expect_error(m, reply, "getfd", NO_FD_MSG, false);
    } else if (g_ascii_isdigit(name[0])) {
        expect_error(m, reply, "getfd",
                     "Parameter 'fdname' expects a name "
                     "not starting with a digit",
                     false);
    } else {
        expect_ok(m, reply, "getfd");
        g_hash_table_insert(a->named, g_strdup(name), GINT_TO_POINTER(d));
    }
    json_node_unref(reply);
}

void op_closefd(Model *m)
{
    static const char *const names[] = {"a", "b", "c", "zz"};
    Actor *a = pick_actor(m);
    const char *name = names[rnd(m, G_N_ELEMENTS(names))];
    g_autofree char *text = g_strdup_printf(
        "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"%s\"}}",
        name);
    JsonNode *reply;

    model_log(m, "actor %d: %s", a->id, text);
    reply = actor_send(m, a, NULL, 0, false, text);
    if (g_hash_table_remove(a->named, name)) {
        expect_ok(m, reply, "closefd");
    } else {
        g_autofree char *err =
            g_strdup_printf("File descriptor named '%s' not found", name);
        expect_error(m, reply, "closefd", err, false);
    }
    json_node_unref(reply);
}

/* fds with a command that takes none: closed after it. */
void op_stray_fds(Model *m)
{
    static const char *const cmds[] = {
        "{\"execute\": \"query-version\"}",
        "{\"execute\": \"query-fdsets\"}",
        "{\"execute\": \"remove-fd\", \"arguments\": {\"fdset-id\": 999}}",
        "{\"execute\": \"no-such-command\"}",
    };
    Actor *a = pick_actor(m);
    int fds[4], n = 1 + rnd(m, 4), which = rnd(m, G_N_ELEMENTS(cmds));
    bool on_blank = chance(m, 30);
    JsonNode *reply;

    for (int i = 0; i < n; i++) {
        fds[i] = desc_at(m, desc_new(m, rnd(m, NFILES), random_flags(m)))->tfd;
    }
    model_log(m, "actor %d: %s with %d stray fds%s", a->id, cmds[which], n,
              on_blank ? " on a blank" : "");
    reply = actor_send(m, a, fds, n, on_blank, cmds[which]);
    if (which < 2) {
        expect_ok(m, reply, "command with stray fds");
    } else {
        ck_assert_msg(qtest_error_desc(reply), "%s succeeded", cmds[which]);
    }
    json_node_unref(reply);
}

Actor *actor_new(Model *m, guint monitor)
{
    Actor *a = g_new0(Actor, 1);

    a->id = ++m->next_actor;
    a->monitor = monitor;
    a->c = qtest_connect(m->s, monitor);
    a->named = m->named[monitor];
    g_ptr_array_add(m->actors, a);
    return a;
}

void op_connect(Model *m)
{
    guint mon = rnd(m, m->cfg.n_monitors);

    if (m->actors->len >= MAX_ACTORS) {
        return;
    }
    model_log(m, "connect actor %d to monitor %u", m->next_actor + 1, mon);
    actor_new(m, mon);
}

/* The connection goes: the rules of "Ownership and lifetime". */
void op_disconnect(Model *m)
{
    Actor *a = pick_actor(m);

    model_log(m, "disconnect actor %d (its monitor keeps %u named fds)",
              a->id, g_hash_table_size(a->named));
    qtest_disconnect(a->c);
    for (guint i = 0; i < m->sets->len;) {
        MSet *set = g_ptr_array_index(m->sets, i);

        for (guint j = 0; j < set->members->len;) {
            MMember *mm = member_at(set, j);
            if (mm->owner != a->id) {
                j++;
            } else if (set->dups) {
                mm->owner = OWNER_ORPHAN; /* closed with the last dup */
                m->n_orphaned++;
                j++;
            } else {
                member_close(m, set, j, "disconnect");
            }
        }
        if (!set->members->len && !set->dups) {
            set_maybe_free(m, set);
        } else {
            i++;
        }
    }
    g_ptr_array_remove(m->actors, a);
    g_free(a);
    m->events_unordered = true;
}

