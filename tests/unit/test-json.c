/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON nodes, objects and arrays (util/json.c) and their text
 * (util/json-write.c).  The expected behaviour is json-glib 1.6's, which
 * the tree was written against; the expected texts of json_to_string()
 * were produced by json-glib for the same trees.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "qemu/json.h"

static JsonNode *parse(const char *text)
{
    g_autoptr(GError) err = NULL;
    JsonNode *node = json_from_string(text, &err);

    ck_assert_msg(node, "'%s': %s", text, err ? err->message : "?");
    return node;
}

/* Names of @obj in order, through get_members and through the iterator
 * (which must agree), as "a b c". */
static char *member_names(JsonObject *obj)
{
    g_autoptr(GList) names = json_object_get_members(obj);
    g_autoptr(GString) out = g_string_new(NULL);
    JsonObjectIter it;
    const char *name;
    JsonNode *node;
    GList *l = names;

    json_object_iter_init_ordered(&it, obj);
    while (json_object_iter_next_ordered(&it, &name, &node)) {
        ck_assert_ptr_nonnull(l);
        ck_assert_str_eq(l->data, name);
        ck_assert_ptr_eq(node, json_object_get_member(obj, name));
        g_string_append_printf(out, "%s%s", out->len ? " " : "", name);
        l = l->next;
    }
    ck_assert_ptr_null(l);
    ck_assert_uint_eq(g_list_length(names), json_object_get_size(obj));
    return g_strdup(out->str);
}

#define ck_assert_names(obj, want)                                             \
    do {                                                                       \
        g_autofree char *got_ = member_names(obj);                             \
        ck_assert_str_eq(got_, want);                                          \
    } while (0)

START_TEST(test_refcounting)
{
    JsonObject *obj = json_object_new();
    JsonNode *a = json_node_init_object(json_node_alloc(), obj);
    JsonNode *b = json_node_copy(a);
    JsonNode *v = json_node_init_int(json_node_alloc(), 7);

    /* both nodes hold a reference; so does the caller */
    ck_assert_ptr_eq(json_node_get_object(b), obj);
    json_object_unref(obj);
    json_object_set_member(obj, "v", json_node_ref(v));
    json_node_unref(a);
    ck_assert_int_eq(json_object_get_int_member(obj, "v"), 7);
    json_node_unref(b); /* frees the object, not @v */
    ck_assert_int_eq(json_node_get_int(v), 7);
    json_node_unref(v);

    /* take_* takes the caller's reference, set_* adds one */
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o2 = json_object_new();
    json_node_take_object(n, json_object_new());
    json_node_set_object(n, o2);
    json_object_unref(o2);
    ck_assert_ptr_eq(json_node_get_object(n), o2);
    json_node_unref(n);

    JsonNode *arr = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(arr, json_array_sized_new(4));
    json_array_add_element(json_node_get_array(arr),
                           json_node_init_string(json_node_alloc(), "s"));
    ck_assert_uint_eq(json_array_get_length(json_node_get_array(arr)), 1);
    json_node_unref(arr);
}
END_TEST

START_TEST(test_insertion_order)
{
    g_autoptr(JsonObject) o = json_object_new();

    json_object_set_int_member(o, "c", 1);
    json_object_set_int_member(o, "a", 2);
    json_object_set_int_member(o, "b", 3);
    ck_assert_names(o, "c a b");
    ck_assert_uint_eq(json_object_get_size(o), 3);
}
END_TEST

/* As json-glib 1.6: a replaced member keeps its place, a removed one
 * leaves the others in order, and a re-added one goes last. */
START_TEST(test_replace_remove)
{
    g_autoptr(JsonObject) o = json_object_new();
    JsonNode *old;

    json_object_set_int_member(o, "a", 1);
    json_object_set_int_member(o, "b", 2);
    json_object_set_int_member(o, "c", 3);
    old = json_node_ref(json_object_get_member(o, "a"));
    json_object_set_string_member(o, "a", "x");
    ck_assert_names(o, "a b c");
    ck_assert_str_eq(json_object_get_string_member(o, "a"), "x");
    ck_assert_int_eq(json_node_get_int(old), 1); /* a holder keeps it */
    json_node_unref(old);

    json_object_remove_member(o, "b");
    ck_assert_names(o, "a c");
    ck_assert(!json_object_has_member(o, "b"));
    json_object_remove_member(o, "nope");
    json_object_set_int_member(o, "b", 9);
    ck_assert_names(o, "a c b");
    json_object_set_member(o, "c", json_node_init_int(json_node_alloc(), 7));
    ck_assert_names(o, "a c b");
    ck_assert_int_eq(json_object_get_int_member(o, "c"), 7);
}
END_TEST

START_TEST(test_value_getters)
{
    g_autoptr(JsonNode) d = json_node_init_double(json_node_alloc(), -2.7);
    g_autoptr(JsonNode) b = json_node_init_boolean(json_node_alloc(), TRUE);
    g_autoptr(JsonNode) i = json_node_init_int(json_node_alloc(), 5);
    g_autoptr(JsonNode) s = json_node_init_string(json_node_alloc(), "12");
    g_autoptr(JsonNode) n = json_node_init_null(json_node_alloc());
    g_autoptr(JsonNode) big = json_node_init_double(json_node_alloc(), 1e30);

    ck_assert_uint_eq(json_node_get_value_type(i), G_TYPE_INT64);
    ck_assert_uint_eq(json_node_get_value_type(d), G_TYPE_DOUBLE);
    ck_assert_uint_eq(json_node_get_value_type(b), G_TYPE_BOOLEAN);
    ck_assert_uint_eq(json_node_get_value_type(s), G_TYPE_STRING);
    ck_assert_uint_eq(json_node_get_value_type(n), G_TYPE_INVALID);
    ck_assert(JSON_NODE_HOLDS_VALUE(i) && JSON_NODE_HOLDS_NULL(n));
    ck_assert_int_eq(JSON_NODE_TYPE(s), JSON_NODE_VALUE);

    ck_assert_int_eq(json_node_get_int(d), -2); /* truncated */
    ck_assert_int_eq(json_node_get_int(b), 1);
    ck_assert_int_eq(json_node_get_int(s), 0);
    ck_assert_int_eq(json_node_get_int(n), 0);
    ck_assert_int_eq(json_node_get_int(big), G_MAXINT64); /* clamped */
    ck_assert(json_node_get_double(i) == 5.0);
    ck_assert(json_node_get_double(b) == 1.0);
    ck_assert(json_node_get_double(s) == 0.0);
    ck_assert(json_node_get_boolean(i) && json_node_get_boolean(d));
    ck_assert(!json_node_get_boolean(s) && !json_node_get_boolean(n));
    ck_assert_str_eq(json_node_get_string(s), "12");
    ck_assert_ptr_null(json_node_get_string(i));
    ck_assert_ptr_null(json_node_get_string(n));
    ck_assert_ptr_null(json_node_get_object(n));
    ck_assert_ptr_null(json_node_get_array(i));

    /* re-initialising drops the old value */
    json_node_init_string(s, json_node_get_string(s));
    ck_assert_str_eq(json_node_get_string(s), "12");
    json_node_init_int(s, 3);
    ck_assert_int_eq(json_node_get_int(s), 3);
}
END_TEST

START_TEST(test_member_getters)
{
    g_autoptr(JsonNode) root =
        parse("{\"i\": 3, \"d\": 2.5, \"t\": true, \"s\": \"x\", \"n\": null,"
              " \"o\": {\"k\": 1}, \"a\": [1, \"two\", null, {}]}");
    JsonObject *o = json_node_get_object(root);
    JsonArray *a = json_object_get_array_member(o, "a");

    ck_assert_int_eq(json_object_get_int_member(o, "i"), 3);
    ck_assert_int_eq(json_object_get_int_member(o, "d"), 2);
    ck_assert(json_object_get_double_member(o, "i") == 3.0);
    ck_assert(json_object_get_boolean_member(o, "t"));
    ck_assert_str_eq(json_object_get_string_member(o, "s"), "x");
    ck_assert_int_eq(
        json_object_get_int_member(json_object_get_object_member(o, "o"), "k"),
        1);

    /* absent, null or another type: the default, quietly */
    ck_assert_int_eq(json_object_get_int_member(o, "missing"), 0);
    ck_assert_ptr_null(json_object_get_string_member(o, "n"));
    ck_assert_ptr_null(json_object_get_string_member(o, "i"));
    ck_assert_ptr_null(json_object_get_object_member(o, "n"));
    ck_assert_ptr_null(json_object_get_array_member(o, "o"));
    ck_assert(!json_object_get_boolean_member(o, "missing"));
    ck_assert_ptr_null(json_object_get_member(o, "missing"));

    /* as json-glib: the default when absent or null, else the string */
    ck_assert_str_eq(json_object_get_string_member_with_default(o, "s", "D"),
                     "x");
    ck_assert_str_eq(json_object_get_string_member_with_default(o, "n", "D"),
                     "D");
    ck_assert_str_eq(
        json_object_get_string_member_with_default(o, "missing", "D"), "D");
    ck_assert_ptr_null(json_object_get_string_member_with_default(o, "i", "D"));

    ck_assert_uint_eq(json_array_get_length(a), 4);
    ck_assert_str_eq(json_array_get_string_element(a, 1), "two");
    ck_assert_ptr_null(json_array_get_string_element(a, 0));
    ck_assert(json_array_get_double_element(a, 0) == 1.0);
    ck_assert(json_array_get_boolean_element(a, 0));
    ck_assert(json_array_get_null_element(a, 2));
    ck_assert(!json_array_get_null_element(a, 3));
    ck_assert_ptr_nonnull(json_array_get_object_element(a, 3));
    ck_assert_ptr_null(json_array_get_object_element(a, 2));
}
END_TEST

/* NULL strings, objects and arrays become null members and elements. */
START_TEST(test_null_setters)
{
    g_autoptr(JsonObject) o = json_object_new();
    g_autoptr(JsonArray) a = json_array_new();

    json_object_set_string_member(o, "s", NULL);
    json_object_set_object_member(o, "o", NULL);
    json_object_set_array_member(o, "a", NULL);
    json_object_set_null_member(o, "n");
    for (const char *const *k = (const char *const[]){"s", "o", "a", "n", NULL};
         *k; k++) {
        ck_assert(JSON_NODE_HOLDS_NULL(json_object_get_member(o, *k)));
    }
    json_object_set_array_member(o, "a", json_array_new());
    ck_assert(JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "a")));

    json_array_add_string_element(a, NULL);
    json_array_add_object_element(a, NULL);
    json_array_add_object_element(a, json_object_new());
    ck_assert(json_array_get_null_element(a, 0));
    ck_assert(json_array_get_null_element(a, 1));
    ck_assert(!json_array_get_null_element(a, 2));
}
END_TEST

START_TEST(test_copy_equal)
{
    g_autoptr(JsonNode) tree = parse("{\"a\": [1, {\"b\": \"c\"}], \"d\": 2}");
    g_autoptr(JsonNode) copy = json_node_copy(tree);
    g_autoptr(JsonNode) reordered =
        parse("{\"d\": 2.0, \"a\": [1.0, {\"b\": \"c\"}]}");
    g_autoptr(JsonNode) swapped =
        parse("{\"a\": [{\"b\": \"c\"}, 1], \"d\": 2}");
    g_autoptr(JsonNode) smaller = parse("{\"a\": [1, {\"b\": \"c\"}]}");
    g_autoptr(JsonNode) s = json_node_init_string(json_node_alloc(), "x");
    g_autoptr(JsonNode) s2 = json_node_copy(s);

    /* containers are shared by a copy, values are not */
    ck_assert_ptr_eq(json_node_get_object(copy), json_node_get_object(tree));
    json_node_init_string(s, "y");
    ck_assert_str_eq(json_node_get_string(s2), "x");

    ck_assert(json_node_equal(tree, copy));
    ck_assert(json_node_equal(tree, reordered)); /* 2 == 2.0, any order */
    ck_assert(!json_node_equal(tree, swapped));  /* arrays: in order */
    ck_assert(!json_node_equal(tree, smaller));
    ck_assert(!json_node_equal(smaller, tree));
    ck_assert(!json_node_equal(s, s2));
}
END_TEST

START_TEST(test_equal_values)
{
    static const struct {
        const char *a, *b;
        bool equal;
    } cases[] = {
        {"1", "1.0", true},
        {"1", "true", false},
        {"1", "1.5", false},
        {"null", "null", true},
        {"null", "0", false},
        {"\"x\"", "null", false},
        {"\"1\"", "1", false},
        {"false", "false", true},
        {"[]", "{}", false},
        {"9007199254740993", "9007199254740992.0", true}, /* as doubles */
        {"9007199254740993", "9007199254740992", false},  /* as integers */
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) a = parse(cases[i].a);
        g_autoptr(JsonNode) b = parse(cases[i].b);

        ck_assert_msg(json_node_equal(a, b) == cases[i].equal &&
                          json_node_equal(b, a) == cases[i].equal,
                      "%s vs %s", cases[i].a, cases[i].b);
    }
}
END_TEST

static const char nested[] = "{\"a\": [1, {\"b\": []}, {}, [2, [3]], \"x\"], "
                             "\"c\": {\"d\": null, \"e\": true}, \"f\": {}}";

START_TEST(test_nesting_layouts)
{
    g_autoptr(JsonNode) tree = parse(nested);
    g_autoptr(GString) qmp = g_string_new(NULL);
    g_autofree char *compact = json_to_string(tree, FALSE);
    g_autofree char *pretty = json_to_string(tree, TRUE);
    g_autoptr(JsonNode) arr = parse("[1, {\"a\": 2}, []]");
    g_autofree char *arr_pretty = json_to_string(arr, TRUE);
    JsonArray *a =
        json_object_get_array_member(json_node_get_object(tree), "a");

    ck_assert_int_eq(
        json_node_get_int(json_array_get_element(
            json_node_get_array(json_array_get_element(
                json_node_get_array(json_array_get_element(a, 3)), 1)),
            0)),
        3);
    json_append_node(qmp, tree, JSON_LAYOUT_QMP);
    ck_assert_str_eq(qmp->str, nested);
    /* json-glib 1.6's texts for the same trees */
    ck_assert_str_eq(compact, "{\"a\":[1,{\"b\":[]},{},[2,[3]],\"x\"],"
                              "\"c\":{\"d\":null,\"e\":true},\"f\":{}}");
    ck_assert_str_eq(pretty, "{\n"
                             "  \"a\" : [\n"
                             "    1,\n"
                             "    {\n"
                             "      \"b\" : []\n"
                             "    },\n"
                             "    {    },\n"
                             "    [\n"
                             "      2,\n"
                             "      [\n"
                             "        3\n"
                             "      ]\n"
                             "    ],\n"
                             "    \"x\"\n"
                             "  ],\n"
                             "  \"c\" : {\n"
                             "    \"d\" : null,\n"
                             "    \"e\" : true\n"
                             "  },\n"
                             "  \"f\" : {  }\n"
                             "}");
    ck_assert_str_eq(arr_pretty, "[\n  1,\n  {\n    \"a\" : 2\n  },\n  []\n]");
}
END_TEST

START_TEST(test_scalar_text)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"null", "null"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"1.0", "1.0"},
        {"100.0", "100.0"},
        {"0.1", "0.10000000000000001"},
        {"-0.0", "-0.0"},
        {"1e300", "1.0000000000000001e+300"},
        {"2.5e-300", "2.5e-300"},
        {"1e400", "1.7976931348623157e+308"}, /* the parser keeps it finite */
        {"18446744073709551616", "1.8446744073709552e+19"},
        /* beyond int64 but within uint64: exact, as QEMU echoes it */
        {"9223372036854775808", "9223372036854775808"},
        {"18446744073709551615", "18446744073709551615"},
        {"[12345678901234567890]", "[12345678901234567890]"},
        {"\"\\b\\f\\u001f\\u007f\\\"\\\\/\"", "\"\\u0008\\u000c\\u001f\x7f"
                                              "\\\"\\\\/\""},
        {"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
         "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""},
        {"{\"a\\nb\": 1}", "{\"a\\nb\":1}"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) n = parse(cases[i].in);
        g_autofree char *text = json_to_string(n, FALSE);

        ck_assert_str_eq(text, cases[i].out);
    }
}
END_TEST

/* QMP's layout writes doubles as QEMU does (%.17g, no ".0" added). */
START_TEST(test_qmp_layout_numbers)
{
    g_autoptr(JsonNode) n = parse("[100.0, -0.0, 1e300, 0.5, 1E2, 7, "
                                  "18446744073709551615]");
    g_autoptr(GString) out = g_string_new(NULL);

    json_append_node(out, n, JSON_LAYOUT_QMP);
    ck_assert_str_eq(out->str, "[100, -0, 1.0000000000000001e+300, 0.5, 100, "
                               "7, 18446744073709551615]");
}
END_TEST

/* An integer beyond int64 is a double (not an "int" argument, as for
 * QEMU) that remembers its exact value until it is given another. */
START_TEST(test_exact_uint64)
{
    g_autoptr(JsonNode) n = parse("18446744073709551615");
    guint64 u = 0;

    ck_assert(json_node_get_value_type(n) == G_TYPE_DOUBLE);
    ck_assert(json_node_get_exact_uint64(n, &u));
    ck_assert(u == G_MAXUINT64);
    ck_assert(json_node_get_double(n) == 18446744073709551615.0);
    ck_assert(json_node_get_int(n) == G_MAXINT64); /* clamped */
    {
        g_autoptr(JsonNode) copy = json_node_copy(n);

        ck_assert(json_node_get_exact_uint64(copy, &u) && u == G_MAXUINT64);
    }
    json_node_init_double(n, 2.5);
    ck_assert(!json_node_get_exact_uint64(n, &u));
    json_node_init_int(n, 7);
    ck_assert(!json_node_get_exact_uint64(n, &u));
}
END_TEST

/* Strings from outside JSON (image headers, the command line). */
START_TEST(test_text_always_json)
{
    g_autoptr(JsonNode) n =
        json_node_init_string(json_node_alloc(), "a\xff"
                                                 "b\xc3\x01");
    g_autoptr(JsonNode) inf =
        json_node_init_double(json_node_alloc(), INFINITY);
    g_autofree char *text = json_to_string(n, FALSE);
    g_autofree char *inf_text = json_to_string(inf, FALSE);
    g_autoptr(GString) s = g_string_new(NULL);

    ck_assert_str_eq(text, "\"a\xef\xbf\xbd"
                           "b\xef\xbf\xbd\\u0001\"");
    ck_assert_str_eq(inf_text, "null");
    json_append_string(s, "tab\there");
    ck_assert_str_eq(s->str, "\"tab\\there\"");
}
END_TEST

START_TEST(test_from_string_errors)
{
    static const char *const bad[] = {
        "", "{", "[1,]", "{a: 1}", "/* c */ 1", "{\"a\": 1, \"a\": 2}"};

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        JsonNode *n = json_from_string(bad[i], &err);

        ck_assert_msg(!n, "'%s' accepted", bad[i]);
        ck_assert(g_str_has_prefix(err->message, "JSON parse error, "));
    }
}
END_TEST

/* Past the size where objects get a hash index, and back below it. */
START_TEST(test_big_object)
{
    g_autoptr(JsonObject) o = json_object_new();
    const guint n = 20000;
    char name[32];

    for (guint i = 0; i < n; i++) {
        g_snprintf(name, sizeof(name), "k%u", i);
        json_object_set_int_member(o, name, i);
    }
    ck_assert_uint_eq(json_object_get_size(o), n);
    g_snprintf(name, sizeof(name), "k%u", 5);
    json_object_set_string_member(o, name, "five"); /* in place */
    for (guint i = 0; i < n; i += 2) {
        g_snprintf(name, sizeof(name), "k%u", i);
        json_object_remove_member(o, name);
    }
    ck_assert_uint_eq(json_object_get_size(o), n / 2);
    ck_assert_str_eq(json_object_get_string_member(o, "k5"), "five");
    for (guint i = 1; i < n; i += 2) {
        g_snprintf(name, sizeof(name), "k%u", i);
        ck_assert(json_object_has_member(o, name));
        if (i != 5) {
            ck_assert_int_eq(json_object_get_int_member(o, name), i);
        }
        g_snprintf(name, sizeof(name), "k%u", i - 1);
        ck_assert(!json_object_has_member(o, name));
    }
    {
        g_autoptr(GList) names = json_object_get_members(o);
        guint i = 1;

        for (GList *l = names; l; l = l->next, i += 2) {
            g_snprintf(name, sizeof(name), "k%u", i);
            ck_assert_str_eq(l->data, name);
        }
    }
    for (guint i = 1; i < n - 4; i += 2) { /* down to 2 */
        g_snprintf(name, sizeof(name), "k%u", i);
        json_object_remove_member(o, name);
    }
    ck_assert_names(o, "k19997 k19999");
    json_object_set_int_member(o, "k1", 1);
    ck_assert_names(o, "k19997 k19999 k1");
}
END_TEST

START_TEST(test_big_array)
{
    g_autoptr(JsonArray) a = json_array_sized_new(16);
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(JsonNode) again = NULL;
    g_autofree char *text = NULL;
    const guint n = 100000;

    for (guint i = 0; i < n; i++) {
        if (i % 3 == 0) {
            json_array_add_int_element(a, i);
        } else if (i % 3 == 1) {
            g_autofree char *s = g_strdup_printf("s%u", i);
            json_array_add_string_element(a, s);
        } else {
            JsonObject *o = json_object_new();
            json_object_set_int_member(o, "i", i);
            json_array_add_object_element(a, o);
        }
    }
    json_array_remove_element(a, 0);
    ck_assert_uint_eq(json_array_get_length(a), n - 1);
    ck_assert_str_eq(json_array_get_string_element(a, 0), "s1");
    ck_assert_int_eq(
        json_object_get_int_member(json_array_get_object_element(a, 1), "i"),
        2);
    node = json_node_init_array(json_node_alloc(), a);
    text = json_to_string(node, FALSE);
    again = parse(text);
    ck_assert(json_node_equal(node, again));
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");

    tcase_add_test(tc, test_refcounting);
    tcase_add_test(tc, test_exact_uint64);
    tcase_add_test(tc, test_qmp_layout_numbers);
    tcase_add_test(tc, test_insertion_order);
    tcase_add_test(tc, test_replace_remove);
    tcase_add_test(tc, test_value_getters);
    tcase_add_test(tc, test_member_getters);
    tcase_add_test(tc, test_null_setters);
    tcase_add_test(tc, test_copy_equal);
    tcase_add_test(tc, test_equal_values);
    tcase_add_test(tc, test_nesting_layouts);
    tcase_add_test(tc, test_scalar_text);
    tcase_add_test(tc, test_text_always_json);
    tcase_add_test(tc, test_from_string_errors);
    tcase_add_test(tc, test_big_object);
    tcase_add_test(tc, test_big_array);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
