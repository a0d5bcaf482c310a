/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The set-up and graph form of tests/qtest/job-graph-compare.py, for the
 * qtests that pin what it measured on QEMU 7.2 (commit-filter-test.c,
 * job-graph-test.c): base.img (raw) <- mid.qcow2 <- top.qcow2 and an
 * empty tgt.qcow2, one O_RDWR member each (sets 0..3), file nodes f-NAME
 * and writable format nodes NAME; x-debug-query-block-graph as sorted
 * lines "PARENT -(EDGE)-> CHILD PERM/SHARED", block-driver nodes by name,
 * "job:ID", "backend" for a BlockBackend, "#block" for an implicit node,
 * permissions as letters c(onsistent-read) r(esize) w(rite)
 * u(write-unchanged), "-" for none.
 */
#ifndef GRAPH_QTEST_H
#define GRAPH_QTEST_H

#include "block-qtest.h"

/* 0x11 over base, 0x22 at 1M..5M in mid, 0x33 at 2M..2.5M in top;
 * expect-top.img is top's view, as raw. */
static inline void gq_make_images(BlockFixture *f)
{
    g_free(bq_sh(f, "qemu-img create -q -f raw base.img 8M && "
                    "qemu-io -f raw -c 'write -P 0x11 0 8M' base.img && "
                    "qemu-img create -q -f qcow2 -b base.img -F raw mid.qcow2 "
                    "&& qemu-io -f qcow2 -c 'write -P 0x22 1M 4M' mid.qcow2 && "
                    "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "
                    "top.qcow2 && qemu-io -f qcow2 -c 'write -P 0x33 2M 512k' "
                    "top.qcow2 && qemu-img create -q -f qcow2 tgt.qcow2 8M && "
                    "qemu-img convert -O raw top.qcow2 expect-top.img"));
}

static inline void gq_add_node(BlockFixture *f, int set, const char *node,
                               const char *image, const char *fmt,
                               const char *backing)
{
    g_autofree char *back =
        g_strdup_printf(", 'backing': %s%s%s", backing ? "'" : "",
                        backing ? backing : "null", backing ? "'" : "");

    bq_add_fd(f, f->c, image, O_RDWR, set);
    bq_ok(f->c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
          "'node-name': 'f-%s', 'filename': '/dev/fdset/%d'}}",
          node, set);
    bq_ok(f->c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': '%s', "
          "'node-name': '%s', 'file': 'f-%s'%s}}",
          fmt, node, node, g_str_equal(fmt, "qcow2") ? back : "");
}

static inline BlockFixture gq_start_chain(void)
{
    BlockFixture f = bq_start(NULL);

    gq_make_images(&f);
    gq_add_node(&f, 0, "base", "base.img", "raw", NULL);
    gq_add_node(&f, 1, "mid", "mid.qcow2", "qcow2", "base");
    gq_add_node(&f, 2, "top", "top.qcow2", "qcow2", "mid");
    gq_add_node(&f, 3, "tgt", "tgt.qcow2", "qcow2", NULL);
    return f;
}

static inline void gq_del_chain(BlockFixture *f)
{
    static const char *const nodes[] = {"top", "f-top", "mid", "f-mid",
                                        "base", "f-base", "tgt", "f-tgt"};

    for (guint i = 0; i < G_N_ELEMENTS(nodes); i++) {
        bq_ok(f->c,
              "{'execute': 'blockdev-del', 'arguments': {'node-name': '%s'}}",
              nodes[i]);
    }
}

static inline gint gq_cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline gint gq_cmp_char(gconstpointer a, gconstpointer b)
{
    return *(const char *)a - *(const char *)b;
}

/* A permission list as sorted letters, "-" when empty. */
static inline char *gq_perms(JsonArray *perms)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(perms); i++) {
        const char *p = json_array_get_string_element(perms, i);

        g_string_append_c(s, g_str_equal(p, "consistent-read")   ? 'c'
                             : g_str_equal(p, "resize")          ? 'r'
                             : g_str_equal(p, "write")           ? 'w'
                             : g_str_equal(p, "write-unchanged") ? 'u'
                                                                 : '?');
    }
    qsort(s->str, s->len, 1, gq_cmp_char);
    return s->len ? g_string_free(s, FALSE)
                  : (g_string_free(s, TRUE), g_strdup("-"));
}

static inline char *gq_vertex_name(JsonObject *n)
{
    const char *type = json_object_get_string_member(n, "type");
    const char *name = json_object_get_string_member(n, "name");

    if (g_str_equal(type, "block-backend")) {
        return g_strdup("backend");
    }
    if (g_str_equal(type, "block-job")) {
        return g_strdup_printf("job:%s", name);
    }
    return g_strdup(g_str_has_prefix(name, "#block") ? "#block" : name);
}

/* Sorted lines, joined by '\n' (new string); takes the array. */
static inline char *gq_join_sorted(GPtrArray *l)
{
    char *text;

    g_ptr_array_sort(l, gq_cmp_str);
    g_ptr_array_add(l, NULL);
    text = g_strjoinv("\n", (char **)l->pdata);
    g_ptr_array_free(l, TRUE);
    return text;
}

static inline char *gq_graph_text(QTestConn *c)
{
    g_autoptr(JsonNode) r =
        qtest_qmp(c, "{'execute': 'x-debug-query-block-graph'}");
    JsonObject *g = qtest_return_object(r);
    JsonArray *nodes = json_object_get_array_member(g, "nodes");
    JsonArray *edges = json_object_get_array_member(g, "edges");
    g_autoptr(GHashTable) names =
        g_hash_table_new_full(NULL, NULL, NULL, g_free);
    GPtrArray *l = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);

        g_hash_table_insert(
            names, GINT_TO_POINTER(json_object_get_int_member(n, "id")),
            gq_vertex_name(n));
    }
    for (guint i = 0; i < json_array_get_length(edges); i++) {
        JsonObject *e = json_array_get_object_element(edges, i);
        gint p = json_object_get_int_member(e, "parent");
        gint ch = json_object_get_int_member(e, "child");
        g_autofree char *perm =
            gq_perms(json_object_get_array_member(e, "perm"));
        g_autofree char *shared =
            gq_perms(json_object_get_array_member(e, "shared-perm"));

        g_ptr_array_add(
            l, g_strdup_printf(
                   "%s -(%s)-> %s %s/%s",
                   (char *)g_hash_table_lookup(names, GINT_TO_POINTER(p)),
                   json_object_get_string_member(e, "name"),
                   (char *)g_hash_table_lookup(names, GINT_TO_POINTER(ch)),
                   perm, shared));
    }
    return gq_join_sorted(l);
}

/* A NULL-terminated list of expected lines, in the same form. */
static inline char *gq_expected_text(const char *const *lines)
{
    GPtrArray *l = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; lines[i]; i++) {
        g_ptr_array_add(l, g_strdup(lines[i]));
    }
    return gq_join_sorted(l);
}

/* The graph must be QEMU's, edge for edge. */
static inline void gq_assert_graph(QTestConn *c, const char *const *qemu)
{
    g_autofree char *got = gq_graph_text(c);
    g_autofree char *want = gq_expected_text(qemu);

    ck_assert_msg(g_str_equal(got, want), "graph:\n%s\nQEMU 7.2's:\n%s", got,
                  want);
}

#endif
