/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generated C side of the QAPI layer, on tests/unit/qapi-schema-test.json
 * (every construct: flat unions with inline and named bases and empty
 * branches, alternates with object, scalar, enum and null branches, lists,
 * every integer width, any, null, QType): requests go through the generated
 * command table exactly as the monitor sends them (qmp_find_command,
 * qmp_validate_args, the marshaller, the typed handler below), the handler
 * writes its typed arguments back out as JSON, and that must be the request
 * again, member for member (JSON -> C -> JSON).  Bad input is refused with
 * QEMU's text before any C value exists; return values and events come out
 * in QEMU's member order.
 */
#include <check.h>
#include <string.h>

#include "qapi/qmp-schema.h"
#include "qemu/error.h"
#include "testv-qapi-commands.h"
#include "testv-qapi-events.h"
#include "testv-qapi-visit.h"

static GString *echo;       /* what the last handler saw, as JSON */

/* ---------------------------------------------------------- handlers */

void qmp_test_add(TestOptions *arg, GError **errp)
{
    qapi_out_TestOptions(echo, arg);
}

void qmp_test_scalars(bool has_i8, int8_t i8, bool has_i16, int16_t i16,
                      bool has_i32, int32_t i32, bool has_i64, int64_t i64,
                      bool has_q_int, int64_t q_int, bool has_u8, uint8_t u8,
                      bool has_u16, uint16_t u16, bool has_u32, uint32_t u32,
                      bool has_u64, uint64_t u64, bool has_sz, uint64_t sz,
                      bool has_num, double num, bool has_any, JsonNode *any,
                      bool has_nul, JsonNode *nul, bool has_str,
                      const char *str, bool has_b, bool b, bool has_lst,
                      uint8List *lst, bool has_ib, TestIntOrBool *ib,
                      bool has_ne, TestNumOrEnum *ne, bool has_rn,
                      TestRefOrNull *rn, bool has_qt, QType qt, GError **errp)
{
    /* borrowed from the marshaller's copy: not freed here */
    TestScalars s = {
        has_i8, i8, has_i16, i16, has_i32, i32, has_i64, i64,
        has_q_int, q_int, has_u8, u8, has_u16, u16, has_u32, u32,
        has_u64, u64, has_sz, sz, has_num, num, has_any, any,
        has_nul, nul, has_str, (char *)str, has_b, b, has_lst, lst,
        has_ib, ib, has_ne, ne, has_rn, rn, has_qt, qt,
    };

    qapi_out_TestScalars(echo, &s);
}

void qmp_test_inline(TestInline *arg, GError **errp)
{
    if (arg->has_extra && arg->extra < 0) {
        error_setg(errp, "negative extra %" G_GINT64_FORMAT, arg->extra);
        return;
    }
    qapi_out_TestInline(echo, arg);
}

/* Two elements: @f, then @f with x + 1. */
TestFeaturesList *qmp_test_features(TestFeatures *f, GError **errp)
{
    TestFeaturesList *second = g_new0(TestFeaturesList, 1);
    TestFeaturesList *first = g_new0(TestFeaturesList, 1);

    qapi_out_TestFeatures(echo, f);
    second->value = g_new0(TestFeatures, 1);
    second->value->x = f->x + 1;
    first->value = g_new0(TestFeatures, 1);
    first->value->x = f->x;
    first->next = second;
    return first;
}

void qmp_test_empty(GError **errp)
{
    g_string_append(echo, "empty");
}

/* ----------------------------------------------------------- helpers */

static JsonNode *parse(const char *json)
{
    g_autoptr(GError) err = NULL;
    JsonNode *node = json_from_string(json, &err);

    ck_assert_msg(node != NULL, "bad test JSON %s: %s", json,
                  err ? err->message : "?");
    return node;
}

/*
 * Run command @name with arguments @json as the monitor does.  Returns the
 * reply's "return" text, or NULL with *@error the error message.
 */
static char *run(const char *name, const char *json, char **error)
{
    const QmpCommandDef *cmd = qmp_find_command(name);
    g_autoptr(JsonNode) node = parse(json);
    JsonObject *args = json_node_get_object(node);
    g_autoptr(GString) out = g_string_new(NULL);
    g_autoptr(GError) err = NULL;

    ck_assert_msg(cmd != NULL, "no command %s", name);
    g_string_truncate(echo, 0);
    *error = NULL;
    if (!qmp_validate_args(cmd, args, &err) ||
        !cmd->fn(args, out, &err)) {
        ck_assert_ptr_nonnull(err);
        ck_assert_uint_eq(out->len, 0);
        *error = g_strdup(err->message);
        return NULL;
    }
    return g_strdup(out->str);
}

/* @a and @b are the same JSON value (members in any order). */
static void ck_same_json(const char *a, const char *b)
{
    g_autoptr(JsonNode) na = parse(a);
    g_autoptr(JsonNode) nb = parse(b);

    ck_assert_msg(json_node_equal(na, nb), "%s\n  is not\n%s", a, b);
}

/* Command @name takes @json, and its handler saw exactly that. */
static void ck_round_trip(const char *name, const char *json)
{
    g_autofree char *error = NULL;
    g_autofree char *ret = run(name, json, &error);

    ck_assert_msg(ret != NULL, "%s %s: %s", name, json, error);
    ck_assert_str_eq(ret, "{}");
    ck_same_json(echo->str, json);
}

static void ck_refused(const char *name, const char *json,
                       const char *expected)
{
    g_autofree char *error = NULL;
    g_autofree char *ret = run(name, json, &error);

    ck_assert_msg(ret == NULL, "%s %s: accepted", name, json);
    ck_assert_str_eq(error, expected);
    ck_assert_uint_eq(echo->len, 0);    /* the handler never ran */
}

static void setup(void)
{
    echo = g_string_new(NULL);
}

static void teardown(void)
{
    g_string_free(echo, TRUE);
    qapi_event_set_sink(NULL);
}

/* ------------------------------------------------------- round trips */

START_TEST(test_union_branches)
{
    ck_round_trip("test-add",
                  "{\"driver\": \"file\", \"node-name\": \"n0\", "
                  "\"cache\": {\"direct\": true}, \"read-only\": false, "
                  "\"filename\": \"/dev/fdset/1\", \"aio\": \"native\"}");
    ck_round_trip("test-add", "{\"driver\": \"file\", \"filename\": \"f\"}");
    ck_round_trip("test-add", "{\"driver\": \"null\"}");   /* no branch */
    ck_round_trip("test-add",
                  "{\"driver\": \"quorum\", \"vote-threshold\": 2, "
                  "\"children\": [\"a\", {\"driver\": \"null\"}]}");
}
END_TEST

START_TEST(test_alternate_branches)
{
    ck_round_trip("test-add",
                  "{\"driver\": \"raw\", \"file\": \"ref0\", "
                  "\"backing\": null, \"offset\": 512}");
    ck_round_trip("test-add",
                  "{\"driver\": \"raw\", \"file\": {\"driver\": \"file\", "
                  "\"filename\": \"/dev/fdset/2\", \"cache\": {}}, "
                  "\"backing\": {\"driver\": \"raw\", \"file\": \"x\", "
                  "\"backing\": \"y\"}}");
}
END_TEST

START_TEST(test_scalars)
{
    ck_round_trip("test-scalars",
                  "{\"i8\": -128, \"i16\": 32767, \"i32\": -2147483648, "
                  "\"i64\": -9223372036854775807, \"int\": 7, \"u8\": 255, "
                  "\"u16\": 65535, \"u32\": 4294967295, \"u64\": 1, "
                  "\"sz\": 4096, \"num\": 1.5, "
                  "\"any\": {\"k\": [1, \"x\", null, {\"d\": false}]}, "
                  "\"nul\": null, \"str\": \"\\u00e9\\\"\", \"b\": true, "
                  "\"lst\": [0, 1, 255], \"ib\": true, \"ne\": \"threads\", "
                  "\"rn\": null, \"qt\": \"qdict\"}");
    ck_round_trip("test-scalars",
                  "{\"ib\": -3, \"ne\": 2.5, \"rn\": \"r\", \"lst\": [], "
                  "\"any\": 3, \"num\": 2}");
    ck_round_trip("test-scalars",
                  "{\"rn\": {\"driver\": \"file\", \"filename\": \"z\"}}");
    ck_round_trip("test-scalars", "{}");
}
END_TEST

START_TEST(test_uint64_wraps_as_qemu)
{
    g_autofree char *error = NULL;
    g_autofree char *ret = run("test-scalars", "{\"u64\": -1}", &error);

    /* QEMU takes a negative uint64 as two's complement, and says so */
    ck_assert_str_eq(ret, "{}");
    ck_assert_str_eq(echo->str, "{\"u64\": 18446744073709551615}");
}
END_TEST

START_TEST(test_inline_base)
{
    ck_round_trip("test-inline",
                  "{\"kind\": \"threads\", \"extra\": 3, \"filename\": \"f\", "
                  "\"aio\": \"threads\"}");
    ck_round_trip("test-inline", "{\"kind\": \"native\"}");
}
END_TEST

/* ------------------------------------------------- what comes back out */

START_TEST(test_member_order_is_qemus)
{
    g_autofree char *error = NULL;
    g_autofree char *ret = NULL;

    /* QEMU's QDict order (checked against QEMU 7.2's replies to add-fd,
     * query-fdsets, query-version), whatever order the request used */
    ret = run("test-add", "{\"driver\": \"file\", \"filename\": \"f\", "
                          "\"node-name\": \"n\", \"read-only\": true, "
                          "\"aio\": \"threads\"}", &error);
    ck_assert_str_eq(echo->str, "{\"node-name\": \"n\", \"driver\": \"file\", "
                                "\"filename\": \"f\", \"read-only\": true, "
                                "\"aio\": \"threads\"}");
}
END_TEST

START_TEST(test_returns)
{
    g_autofree char *error = NULL;
    g_autofree char *ret = run("test-features", "{\"f\": {\"x\": 41}}",
                               &error);
    g_autofree char *empty = NULL;

    ck_assert_str_eq(ret, "[{\"x\": 41}, {\"x\": 42}]");
    ck_assert_str_eq(echo->str, "{\"x\": 41}");
    empty = run("test-empty", "{}", &error);
    ck_assert_str_eq(empty, "{}");
    ck_assert_str_eq(echo->str, "empty");
}
END_TEST

START_TEST(test_handler_error)
{
    ck_refused("test-inline", "{\"kind\": \"native\", \"extra\": -1}",
               "negative extra -1");
}
END_TEST

/* ------------------------------------------------------- bad input */

START_TEST(test_bad_input_never_reaches_c)
{
    ck_refused("test-add", "{\"driver\": \"file\"}",
               "Parameter 'filename' is missing");
    ck_refused("test-add", "{\"driver\": \"file\", \"filename\": \"f\", "
                           "\"bogus\": 1}",
               "Parameter 'bogus' is unexpected");
    ck_refused("test-add", "{\"driver\": \"nbd\"}",
               "Parameter 'driver' does not accept value 'nbd'");
    ck_refused("test-add", "{\"driver\": \"file\", \"filename\": 3}",
               "Invalid parameter type for 'filename', expected: string");
    ck_refused("test-scalars", "{\"i8\": 128}",
               "Parameter 'i8' expects int8_t");
    ck_refused("test-scalars", "{\"u8\": 256}",
               "Parameter 'u8' expects uint8_t");
    ck_refused("test-scalars", "{\"ib\": \"x\"}",
               "Invalid parameter type for 'ib', expected: TestIntOrBool");
    ck_refused("test-scalars", "{\"lst\": [1, \"x\"]}",
               "Parameter 'lst[1]' expects uint64");
    ck_refused("test-add", "{\"driver\": \"raw\", \"file\": "
                           "{\"driver\": \"file\"}}",
               "Parameter 'file.filename' is missing");
}
END_TEST

/* ------------------------------------------------------ C side alone */

START_TEST(test_in_and_free)
{
    g_autoptr(JsonNode) node =
        parse("{\"driver\": \"raw\", \"file\": {\"driver\": \"quorum\", "
              "\"vote-threshold\": 1, \"children\": [\"a\", \"b\"]}, "
              "\"backing\": \"c\"}");
    g_autoptr(TestOptions) opts = qapi_in_TestOptions(node);
    TestQuorum *q;

    ck_assert_int_eq(opts->driver, TEST_DRIVER_RAW);
    ck_assert_int_eq(opts->u.raw.file->type, QTYPE_QDICT);
    q = &opts->u.raw.file->u.definition.u.quorum;
    ck_assert_int_eq(q->vote_threshold, 1);
    ck_assert_int_eq(q->children->value->type, QTYPE_QSTRING);
    ck_assert_str_eq(q->children->next->value->u.reference, "b");
    ck_assert_ptr_null(q->children->next->next);
    ck_assert(opts->u.raw.has_backing);
    ck_assert_str_eq(opts->u.raw.backing->u.reference, "c");
    ck_assert(!opts->u.raw.has_offset);
    /* freed by g_autoptr: the sanitizer run checks nothing leaks */
}
END_TEST

START_TEST(test_enum_tables)
{
    ck_assert_str_eq(TestAio_str(TEST_AIO_NATIVE), "native");
    ck_assert_int_eq(TEST_AIO__MAX, 2);
    ck_assert_int_eq(qapi_enum_parse(&TestDriver_lookup, "quorum", -1),
                     TEST_DRIVER_QUORUM);
    ck_assert_int_eq(qapi_enum_parse(&TestDriver_lookup, "Quorum", -1), -1);
    ck_assert_str_eq(QType_str(QTYPE_QDICT), "qdict");
}
END_TEST

/* ------------------------------------------------------------ events */

static GString *event_text;

static void sink(const char *name, const char *data)
{
    g_string_append_printf(event_text, "%s %s;", name, data ? data : "-");
}

START_TEST(test_events)
{
    strList b2 = { .next = NULL, .value = (char *)"y" };
    strList b1 = { .next = &b2, .value = (char *)"x" };

    g_main_context_acquire(NULL);
    event_text = g_string_new(NULL);
    qapi_event_set_sink(sink);
    qapi_event_send_test_event(1, true, &b1);
    qapi_event_send_test_event(2, false, NULL);
    qapi_event_send_test_bare_event();
    ck_assert_str_eq(event_text->str,
                     "TEST_EVENT {\"a\": 1, \"b\": [\"x\", \"y\"]};"
                     "TEST_EVENT {\"a\": 2};TEST_BARE_EVENT -;");
    g_string_free(event_text, TRUE);
    g_main_context_release(NULL);
}
END_TEST

static Suite *qapi_visit_suite(void)
{
    Suite *s = suite_create("qapi-visit");
    TCase *tc = tcase_create("round-trip");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_union_branches);
    tcase_add_test(tc, test_alternate_branches);
    tcase_add_test(tc, test_scalars);
    tcase_add_test(tc, test_uint64_wraps_as_qemu);
    tcase_add_test(tc, test_inline_base);
    tcase_add_test(tc, test_member_order_is_qemus);
    tcase_add_test(tc, test_returns);
    tcase_add_test(tc, test_handler_error);
    tcase_add_test(tc, test_bad_input_never_reaches_c);
    tcase_add_test(tc, test_in_and_free);
    tcase_add_test(tc, test_enum_tables);
    tcase_add_test(tc, test_events);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(qapi_visit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
