/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The strict JSON parser (util/json-parse.c): what QEMU accepts passes,
 * everything a lenient parser (json-glib's, say) would let through is
 * refused, with QEMU's wording.
 */
#include <check.h>
#include <string.h>

#include "qemu/json-parse.h"

static char *check_error(const char *text)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) node = json_parse_strict(text, strlen(text), &err);

    if (node) {
        ck_assert_ptr_null(err);
        return NULL;
    }
    ck_assert_ptr_nonnull(err);
    return g_strdup(err->message);
}

static void assert_ok(const char *text)
{
    g_autofree char *err = check_error(text);

    ck_assert_msg(!err, "'%s' refused: %s", text, err);
}

static void assert_refused(const char *text, const char *want)
{
    g_autofree char *err = check_error(text);

    ck_assert_msg(err, "'%s' accepted", text);
    ck_assert_msg(strstr(err, want), "'%s': got '%s', want '%s'", text, err,
                  want);
    ck_assert(g_str_has_prefix(err, "JSON parse error, "));
}

START_TEST(test_valid_json_passes)
{
    assert_ok("{}");
    assert_ok(" {\"execute\": \"x\", \"arguments\": {\"a\": [1, -2, 3.5e-3, "
              "true, false, null, \"s\\n\\\"\\u00e9\\ud83d\\ude00\"]}} ");
    assert_ok("[]");
    assert_ok("0");
    assert_ok("-0.0E+5");
    assert_ok("\"\xc3\xa9\"");
    /* QEMU's extensions, which it accepts: single quotes, \' */
    assert_ok("{'execute': 'x', 'id': 'a\"b\\'c'}");
    assert_ok("{\"a\": \"it\\'s\"}");
}
END_TEST

START_TEST(test_lenient_forms_refused)
{
    assert_refused("/*c*/{}", "stray '/'");
    assert_refused("{\"a\": 01}", "leading zero");
    assert_refused("{\"a\": .5}", "stray '.'");
    assert_refused("{\"a\": 0x10}", "expected separator in dict");
    assert_refused("{\"a\": \"\\x41\"}", "invalid escape sequence in string");
    assert_refused("{\"a\": 1.}", "no digit after '.'");
    assert_refused("{\"a\": 1e}", "no digit in exponent");
    assert_refused("{\"a\": \"tab\there\"}", "stray '\"tab\t'");
    assert_refused("{\"a\": tru}", "invalid keyword 'tru'");
    assert_refused("{\"a\": NaN}", "invalid keyword 'NaN'");
    assert_refused("{a: 1}", "key is not a string");
    assert_refused("{\"a\" 1}", "missing : in object pair");
    assert_refused("[1 2]", "expected separator in list");
    assert_refused("{\"a\": 1,}", "expecting value");
    assert_refused("[1,]", "expecting value");
    assert_refused("{\"a\": \"open", "missing closing quote");
    assert_refused("\"\xff\"", "invalid UTF-8");
}
END_TEST

/* Texts as QEMU 7.2 gives them (recorded from it). */
START_TEST(test_qemu_refusals)
{
    assert_refused("{\"a\": 1, \"a\": 2}", "duplicate key");
    assert_refused("{\"a\": \"\\ud800\"}",
                   "\\ud800 is not a valid Unicode character");
    assert_refused("{\"a\": \"\\udc00x\"}",
                   "\\udc00 is not a valid Unicode character");
    assert_refused("{\"a\": \"\\ud800\\u0041\"}",
                   "\\ud800 is not a valid Unicode character");
    assert_refused("{\"a\": \"\\uZZZZ\"}",
                   "\\uZZZZ is not a valid Unicode character");
    assert_refused("{\"a\": \"\\u12\"}",
                   "\\u12\" is not a valid Unicode character");
    assert_refused("{\"a\": \"\\q\"}", "invalid escape sequence in string");
}
END_TEST

/* QEMU keeps U+0000 as modified UTF-8 (C0 80) and writes it back as
 * \u0000: the same here. */
START_TEST(test_escaped_nul_kept)
{
    g_autoptr(GError) err = NULL;
    const char *in = "{\"a\": \"x\\u0000y\"}";
    g_autoptr(JsonNode) node = json_parse_strict(in, strlen(in), &err);
    g_autoptr(GString) out = g_string_new(NULL);

    ck_assert_ptr_nonnull(node);
    ck_assert_str_eq(
        json_object_get_string_member(json_node_get_object(node), "a"),
        "x\xc0\x80y");
    json_append_node(out, node, JSON_LAYOUT_QMP);
    ck_assert_str_eq(out->str, "{\"a\": \"x\\u0000y\"}");
}
END_TEST

START_TEST(test_duplicates_in_big_objects)
{
    g_autoptr(GString) obj = g_string_new("{");

    for (int i = 0; i < 100; i++) {
        g_string_append_printf(obj, "%s\"k%d\": %d", i ? ", " : "", i, i);
    }
    g_string_append(obj, "}");
    assert_ok(obj->str);
    g_string_truncate(obj, obj->len - 1);
    g_string_append(obj, ", \"k57\": 0}");
    assert_refused(obj->str, "duplicate key");
}
END_TEST

START_TEST(test_values_are_built)
{
    g_autoptr(GError) err = NULL;
    const char *in = "{\"a\": 99999999999999999999, \"b\": 9223372036854775807,"
                     " \"c\": -1e999, \"d\": \"x\\u00e9\\ud83d\\ude00\\n\","
                     " \"e\": [true, null, 2.5], \"f\": {}}";
    g_autoptr(JsonNode) node = json_parse_strict(in, strlen(in), &err);
    JsonObject *o;
    JsonArray *e;

    ck_assert_ptr_nonnull(node);
    o = json_node_get_object(node);
    /* beyond int64: floating point, as QEMU reads it */
    ck_assert_uint_eq(json_node_get_value_type(json_object_get_member(o, "a")),
                      G_TYPE_DOUBLE);
    ck_assert_int_eq(json_object_get_int_member(o, "b"), G_MAXINT64);
    ck_assert(json_object_get_double_member(o, "c") == -G_MAXDOUBLE);
    ck_assert_str_eq(json_object_get_string_member(o, "d"),
                     "x\xc3\xa9\xf0\x9f\x98\x80\n");
    e = json_object_get_array_member(o, "e");
    ck_assert_uint_eq(json_array_get_length(e), 3);
    ck_assert(json_array_get_boolean_element(e, 0));
    ck_assert(json_array_get_null_element(e, 1));
    ck_assert(json_array_get_double_element(e, 2) == 2.5);
    ck_assert_uint_eq(json_object_get_size(json_object_get_object_member(o,
                                                                         "f")),
                      0);
}
END_TEST

START_TEST(test_depth_bound)
{
    g_autofree char *open = g_strnfill(JSON_CHECK_MAX_DEPTH + 1, '[');
    g_autofree char *close = g_strnfill(JSON_CHECK_MAX_DEPTH + 1, ']');
    g_autofree char *deep = g_strconcat(open, close, NULL);

    g_autofree char *at_limit = g_strndup(deep + 1, 2 * JSON_CHECK_MAX_DEPTH);

    assert_refused(deep, "nesting too deep");
    assert_ok(at_limit);
}
END_TEST

static Suite *json_check_suite(void)
{
    Suite *s = suite_create("json-check");
    TCase *tc = tcase_create("check");

    tcase_add_test(tc, test_valid_json_passes);
    tcase_add_test(tc, test_lenient_forms_refused);
    tcase_add_test(tc, test_qemu_refusals);
    tcase_add_test(tc, test_escaped_nul_kept);
    tcase_add_test(tc, test_duplicates_in_big_objects);
    tcase_add_test(tc, test_values_are_built);
    tcase_add_test(tc, test_depth_bound);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_check_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
