/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QemuOpts-style option strings.
 */
#include <stdint.h>

#include "qemu/error.h"
#include "qemu/keyval.h"
#include "unit-helpers.h"

/* "k=v|k=v|..." of every item in order, for compact assertions. */
static char *dump(const Keyval *kv)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < keyval_count(kv); i++) {
        g_string_append_printf(s, "%s%s=%s", i ? "|" : "", keyval_key(kv, i),
                               keyval_value(kv, i));
    }
    return g_string_free(s, FALSE);
}

static void expect(const char *str, const char *implied, const char *want)
{
    g_autoptr(Keyval) kv = keyval_parse(str, implied);
    g_autofree char *got = dump(kv);

    ck_assert_msg(g_str_equal(got, want), "'%s': got '%s', want '%s'", str, got,
                  want);
}

START_TEST(test_basic_order)
{
    expect("fd=3,set=1,opaque=ro", NULL, "fd=3|set=1|opaque=ro");
    expect("b=2,a=1", NULL, "b=2|a=1");
    expect("", NULL, "");
    expect("a=", NULL, "a=");
    expect("a=1,", NULL, "a=1");
    expect("a=b=c", NULL, "a=b=c");
}
END_TEST

START_TEST(test_double_comma)
{
    expect("opaque=a,,b,fd=3", NULL, "opaque=a,b|fd=3");
    expect("opaque=,,,,", NULL, "opaque=,,");
    expect("opaque=x,,,fd=1", NULL, "opaque=x,|fd=1");
    expect("a=1,,", NULL, "a=1,");
}
END_TEST

START_TEST(test_implied_key)
{
    expect("unix:/tmp/s,server=on,wait=off", "path",
           "path=unix:/tmp/s|server=on|wait=off");
    expect("unix:/tmp/a,,b,server=on", "path", "path=unix:/tmp/a,b|server=on");
    /* only the first item, and only without '=' */
    expect("path=/x,y", "path", "path=/x|y=on");
    expect("a=1,bare", "path", "a=1|bare=on");
    expect("if=none,file=x", "id", "if=none|file=x");
}
END_TEST

START_TEST(test_flags)
{
    expect("unix:/s,server,nowait", "path", "path=unix:/s|server=on|wait=off");
    expect("server", NULL, "server=on");
    expect("no", NULL, "=off");
    expect(",a=1", NULL, "=on|a=1");
}
END_TEST

START_TEST(test_duplicates_last_wins)
{
    g_autoptr(Keyval) kv = keyval_parse("fd=3,fd=4,set=1", NULL);

    ck_assert_uint_eq(keyval_count(kv), 3);
    ck_assert_str_eq(keyval_get(kv, "fd"), "4");
    ck_assert_str_eq(keyval_get(kv, "set"), "1");
    ck_assert_ptr_null(keyval_get(kv, "opaque"));
    ck_assert(keyval_has(kv, "fd"));
    ck_assert(!keyval_has(kv, "opaque"));
}
END_TEST

static void expect_number(const char *value, uint64_t want)
{
    g_autoptr(GError) err = NULL;
    uint64_t n = 0;

    ck_assert_msg(keyval_parse_number("fd", value, &n, &err), "'%s': %s", value,
                  err ? err->message : "");
    ck_assert_uint_eq(n, want);
}

static void expect_number_error(const char *value, const char *msg)
{
    g_autoptr(GError) err = NULL;
    uint64_t n = 7;

    ck_assert(!keyval_parse_number("fd", value, &n, &err));
    ck_assert_str_eq(err->message, msg);
    ck_assert_uint_eq(n, 7);
}

START_TEST(test_numbers)
{
    expect_number("3", 3);
    expect_number("0x10", 16);
    expect_number("010", 8);
    expect_number(" 5", 5);
    expect_number("+5", 5);
    expect_number("18446744073709551615", UINT64_MAX);
    expect_number("-1", UINT64_MAX); /* strtoull wraps, as QEMU */
    expect_number_error("", "Parameter 'fd' expects a number");
    expect_number_error("abc", "Parameter 'fd' expects a number");
    expect_number_error("5 ", "Parameter 'fd' expects a number");
    expect_number_error("3x", "Parameter 'fd' expects a number");
    expect_number_error("0x", "Parameter 'fd' expects a number");
    expect_number_error("08", "Parameter 'fd' expects a number");
    expect_number_error("99999999999999999999x",
                        "Parameter 'fd' expects a number");
    expect_number_error("18446744073709551616",
                        "Value '18446744073709551616' is too large for "
                        "parameter 'fd'");
    expect_number_error(NULL, "Parameter 'fd' expects a number");
}
END_TEST

START_TEST(test_bools)
{
    const char *yes[] = {"on", "yes", "true", "y"};
    const char *no[] = {"off", "no", "false", "n"};
    g_autoptr(GError) err = NULL;
    bool b;

    for (guint i = 0; i < 4; i++) {
        b = false;
        ck_assert(keyval_parse_bool("server", yes[i], &b, NULL));
        ck_assert(b);
        ck_assert(keyval_parse_bool("server", no[i], &b, NULL));
        ck_assert(!b);
    }
    ck_assert(!keyval_parse_bool("server", "On", &b, &err));
    ck_assert_str_eq(err->message, "Parameter 'server' expects 'on' or 'off'");
}
END_TEST

START_TEST(test_typed_get)
{
    g_autoptr(Keyval) kv = keyval_parse("a,b=0x20,c=maybe,d=x", NULL);
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    bool b = false;
    uint64_t n = 0;

    ck_assert(keyval_get_bool(kv, "a", false, &b, NULL));
    ck_assert(b);
    ck_assert(keyval_get_bool(kv, "zz", true, &b, NULL));
    ck_assert(b);
    ck_assert(keyval_get_number(kv, "b", 0, &n, NULL));
    ck_assert_uint_eq(n, 32);
    ck_assert(keyval_get_number(kv, "zz", 9, &n, NULL));
    ck_assert_uint_eq(n, 9);
    ck_assert(!keyval_get_bool(kv, "c", false, &b, &e1));
    ck_assert_str_eq(e1->message, "Parameter 'c' expects 'on' or 'off'");
    ck_assert(!keyval_get_number(kv, "d", 0, &n, &e2));
    ck_assert_str_eq(e2->message, "Parameter 'd' expects a number");
}
END_TEST

static const KeyvalDesc desc[] = {
    {"fd", KEYVAL_NUMBER},
    {"set", KEYVAL_NUMBER},
    {"server", KEYVAL_BOOL},
    {"opaque", KEYVAL_STRING},
    {NULL},
};

static void expect_validate(const char *str, const char *msg)
{
    g_autoptr(Keyval) kv = keyval_parse(str, NULL);
    g_autoptr(GError) err = NULL;
    bool ok = keyval_validate(kv, desc, &err);

    if (!msg) {
        ck_assert_msg(ok, "'%s': %s", str, err ? err->message : "");
        return;
    }
    ck_assert_msg(!ok, "'%s' validated", str);
    ck_assert_str_eq(err->message, msg);
    ck_assert_int_eq(error_get_class(err), QMP_ERROR_CLASS_GENERIC_ERROR);
}

START_TEST(test_validate)
{
    expect_validate("fd=3,set=0x1,server=on,opaque=x,,y", NULL);
    expect_validate("", NULL);
    expect_validate("foo=1", "Invalid parameter 'foo'");
    expect_validate("fd=3,foo", "Invalid parameter 'foo'");
    expect_validate("fd=abc", "Parameter 'fd' expects a number");
    /* in the order written: the first problem wins */
    expect_validate("set=x,foo=1", "Parameter 'set' expects a number");
    expect_validate("foo=1,set=x", "Invalid parameter 'foo'");
    /* every occurrence is checked, not just the last */
    expect_validate("fd=x,fd=3", "Parameter 'fd' expects a number");
    expect_validate("fd=99999999999999999999",
                    "Value '99999999999999999999' is too large for "
                    "parameter 'fd'");
    expect_validate("server=maybe", "Parameter 'server' expects 'on' or 'off'");
    expect_validate("noserver", NULL);
    expect_validate("=1", "Invalid parameter ''");
}
END_TEST

static Suite *keyval_suite(void)
{
    Suite *s = suite_create("keyval");
    TCase *tc = tcase_create("parse");

    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_basic_order);
    tcase_add_test(tc, test_double_comma);
    tcase_add_test(tc, test_implied_key);
    tcase_add_test(tc, test_flags);
    tcase_add_test(tc, test_duplicates_last_wins);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_bools);
    tcase_add_test(tc, test_typed_get);
    tcase_add_test(tc, test_validate);
    return s;
}

int main(void)
{
    return unit_run(keyval_suite());
}
