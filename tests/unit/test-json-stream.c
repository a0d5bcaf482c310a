/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP stream splitter: message boundaries whatever the read sizes,
 * limits that skip a bad message and keep the stream in sync.
 */
#include <check.h>
#include <string.h>

#include "monitor/json-stream.h"

typedef struct Seen {
    GPtrArray *texts;     /* "M:<text>", "STRAY", "LARGE", "DEEP" */
    GArray *ends;         /* end_offset of each */
    int stop_after;       /* return false after this many (-1: never) */
} Seen;

static bool collect(JsonStreamStatus status, const char *text, size_t len,
                    size_t end, void *opaque)
{
    Seen *seen = opaque;
    static const char *const names[] = { "M:", "STRAY", "LARGE", "DEEP" };

    ck_assert_uint_eq(strlen(text), len);
    g_ptr_array_add(seen->texts,
                    g_strdup_printf("%s%s", names[status],
                                    status == JSON_STREAM_MESSAGE ? text
                                                                  : ""));
    g_array_append_val(seen->ends, end);
    return seen->stop_after < 0 || (int)seen->texts->len < seen->stop_after;
}

static Seen *seen_new(void)
{
    Seen *seen = g_new0(Seen, 1);

    seen->texts = g_ptr_array_new_with_free_func(g_free);
    seen->ends = g_array_new(FALSE, FALSE, sizeof(size_t));
    seen->stop_after = -1;
    return seen;
}

static void seen_free(Seen *seen)
{
    g_ptr_array_unref(seen->texts);
    g_array_unref(seen->ends);
    g_free(seen);
}

/* Feed @input in pieces of @step bytes. */
static Seen *split(const char *input, size_t step, size_t max_size,
                   guint max_depth)
{
    JsonStream js;
    Seen *seen = seen_new();
    size_t len = strlen(input);

    json_stream_init(&js, max_size, max_depth);
    for (size_t off = 0; off < len; off += step) {
        size_t n = MIN(step, len - off);
        ck_assert_uint_eq(json_stream_feed(&js, input + off, n, collect,
                                           seen), n);
    }
    json_stream_destroy(&js);
    return seen;
}

static void assert_texts(Seen *seen, const char *const *expected)
{
    guint n = g_strv_length((char **)expected);

    ck_assert_uint_eq(seen->texts->len, n);
    for (guint i = 0; i < n; i++) {
        ck_assert_str_eq(g_ptr_array_index(seen->texts, i), expected[i]);
    }
}

static const char *const two_commands[] = {
    "M:{\"execute\": \"a\"}", "M:{\"execute\": \"b\", \"x\": [1, {}]}", NULL
};
static const char two_input[] =
    "{\"execute\": \"a\"}\r\n  {\"execute\": \"b\", \"x\": [1, {}]}\n";

START_TEST(test_several_messages_in_one_read)
{
    Seen *seen = split(two_input, sizeof(two_input), 4096, 64);
    assert_texts(seen, two_commands);
    seen_free(seen);
}
END_TEST

START_TEST(test_every_split_point)
{
    for (size_t step = 1; step < sizeof(two_input); step++) {
        Seen *seen = split(two_input, step, 4096, 64);
        assert_texts(seen, two_commands);
        seen_free(seen);
    }
}
END_TEST

START_TEST(test_braces_inside_strings)
{
    static const char *const want[] = {
        "M:{\"a\": \"}{][\\\"\\\\\"}", "M:{\"b\": 1}", NULL
    };
    Seen *seen = split("{\"a\": \"}{][\\\"\\\\\"}{\"b\": 1}", 1, 4096, 64);
    assert_texts(seen, want);
    seen_free(seen);
}
END_TEST

/* QEMU accepts single-quoted strings: their brackets and double quotes
 * do not count either, whatever the read sizes. */
START_TEST(test_single_quoted_strings)
{
    static const char in[] = "{'a': '}{\"][\\''}{\"b\": \"'\"}'x'";
    static const char *const want[] = {
        "M:{'a': '}{\"][\\''}", "M:{\"b\": \"'\"}", "M:'x'", NULL
    };

    for (size_t step = 1; step < sizeof(in); step++) {
        Seen *seen = split(in, step, 4096, 64);

        assert_texts(seen, want);
        seen_free(seen);
    }
}
END_TEST

/* A raw line break in a string: it was never closed.  The message ends
 * there (refused by the parser) and the next line is a message again. */
START_TEST(test_line_break_ends_unclosed_string)
{
    static const char in[] = "{\"a\": \"open\n{\"b\": 1}\n";
    static const char *const want[] = {
        "M:{\"a\": \"open\n", "M:{\"b\": 1}", NULL
    };

    for (size_t step = 1; step < sizeof(in); step++) {
        Seen *seen = split(in, step, 4096, 64);

        assert_texts(seen, want);
        seen_free(seen);
    }
}
END_TEST

START_TEST(test_top_level_scalars)
{
    static const char *const want[] = {
        "M:123", "M:foo", "M:\"s}\"", "M:[1]", "M:null", NULL
    };
    Seen *seen = split("123 foo\"s}\"[1]null\n", 1, 4096, 64);
    assert_texts(seen, want);
    seen_free(seen);
}
END_TEST

START_TEST(test_stray_close)
{
    static const char *const want[] = { "STRAY", "M:{}", "STRAY", NULL };
    Seen *seen = split("} {}]", 2, 4096, 64);
    assert_texts(seen, want);
    seen_free(seen);
}
END_TEST

START_TEST(test_too_large_skipped_then_in_sync)
{
    g_autoptr(GString) in = g_string_new("{\"a\": \"");
    static const char *const want[] = { "LARGE", "M:{\"b\": 2}", NULL };

    for (int i = 0; i < 1000; i++) {
        g_string_append(in, "x}{");
    }
    g_string_append(in, "\"} {\"b\": 2}");
    Seen *seen = split(in->str, 7, 100, 64);
    assert_texts(seen, want);
    seen_free(seen);
}
END_TEST

START_TEST(test_too_deep_skipped_then_in_sync)
{
    g_autoptr(GString) in = g_string_new("");
    static const char *const want[] = { "DEEP", "M:[[1]]", NULL };

    for (int i = 0; i < 100; i++) {
        g_string_append(in, "[");
    }
    for (int i = 0; i < 100; i++) {
        g_string_append(in, "]");
    }
    g_string_append(in, "[[1]]");
    Seen *seen = split(in->str, 3, 4096, 10);
    assert_texts(seen, want);
    seen_free(seen);
}
END_TEST

START_TEST(test_depth_at_limit_is_fine)
{
    static const char *const want[] = { "M:[[[]]]", NULL };
    Seen *seen = split("[[[]]]", 1, 4096, 3);
    assert_texts(seen, want);
    seen_free(seen);
}
END_TEST

START_TEST(test_huge_bare_token_skipped)
{
    g_autoptr(GString) in = g_string_new("");
    static const char *const want[] = { "LARGE", "M:{}", NULL };

    for (int i = 0; i < 500; i++) {
        g_string_append_c(in, 'z');
    }
    g_string_append(in, " {}");
    Seen *seen = split(in->str, 64, 100, 10);
    assert_texts(seen, want);
    seen_free(seen);
}
END_TEST

START_TEST(test_end_offsets_and_stop)
{
    JsonStream js;
    Seen *seen = seen_new();
    const char *in = "{} {\"a\":1}  {}";

    seen->stop_after = 1;
    json_stream_init(&js, 4096, 64);
    /* Stops after the first message; the caller feeds the rest later. */
    ck_assert_uint_eq(json_stream_feed(&js, in, strlen(in), collect, seen),
                      2);
    seen->stop_after = -1;
    ck_assert_uint_eq(json_stream_feed(&js, in + 2, strlen(in) - 2, collect,
                                       seen), strlen(in) - 2);
    ck_assert_uint_eq(seen->texts->len, 3);
    ck_assert_uint_eq(g_array_index(seen->ends, size_t, 0), 2);
    ck_assert_uint_eq(g_array_index(seen->ends, size_t, 1), 8);
    ck_assert_uint_eq(g_array_index(seen->ends, size_t, 2), 12);
    ck_assert(!json_stream_in_message(&js));
    json_stream_feed(&js, "{\"x\"", 4, collect, seen);
    ck_assert(json_stream_in_message(&js));
    json_stream_destroy(&js);
    seen_free(seen);
}
END_TEST

static Suite *json_stream_suite(void)
{
    Suite *s = suite_create("json-stream");
    TCase *tc = tcase_create("split");

    tcase_add_test(tc, test_several_messages_in_one_read);
    tcase_add_test(tc, test_every_split_point);
    tcase_add_test(tc, test_braces_inside_strings);
    tcase_add_test(tc, test_single_quoted_strings);
    tcase_add_test(tc, test_line_break_ends_unclosed_string);
    tcase_add_test(tc, test_top_level_scalars);
    tcase_add_test(tc, test_stray_close);
    tcase_add_test(tc, test_too_large_skipped_then_in_sync);
    tcase_add_test(tc, test_too_deep_skipped_then_in_sync);
    tcase_add_test(tc, test_depth_at_limit_is_fine);
    tcase_add_test(tc, test_huge_bare_token_skipped);
    tcase_add_test(tc, test_end_offsets_and_stop);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_stream_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
