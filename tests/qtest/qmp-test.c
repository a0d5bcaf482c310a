/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP protocol qtests: greeting, capabilities negotiation, framing, the
 * request-shape errors with QEMU 7.2's texts, argument validation, the
 * introspection commands, quit, and several monitors and clients at once.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libqtest.h"

#define NEED_CAPS "Expecting capabilities negotiation with 'qmp_capabilities'"

/* Every test ends here: no fd leaked, clean exit (sanitizers included). */
static void finish(QTestState *s, QTestConn *c)
{
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
}

static JsonObject *obj_member(JsonObject *o, const char *name)
{
    JsonNode *m = o ? json_object_get_member(o, name) : NULL;

    return m && JSON_NODE_HOLDS_OBJECT(m) ? json_node_get_object(m) : NULL;
}

static JsonNode *parse(const char *text)
{
    JsonNode *node = json_from_string(text, NULL);

    ck_assert(node);
    return node;
}

/* The {qemu: {major, minor, micro}, package} object of greeting/version. */
static void check_version(JsonObject *ver)
{
    JsonObject *q = obj_member(ver, "qemu");
    const char *pkg;

    ck_assert_msg(q, "version without qemu member");
    ck_assert_int_eq(json_object_get_int_member(q, "major"), 7);
    ck_assert_int_eq(json_object_get_int_member(q, "minor"), 2);
    ck_assert(json_object_has_member(q, "micro"));
    ck_assert_int_ge(json_object_get_int_member(q, "micro"), 0);
    pkg = json_object_get_string_member(ver, "package");
    ck_assert_msg(pkg && strstr(pkg, "fdsetd") && strstr(pkg, FDSETD_VERSION),
                  "package '%s' should name fdsetd " FDSETD_VERSION,
                  pkg ? pkg : "(none)");
}

START_TEST(test_greeting_shape)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect_raw(s, 0);
    JsonNode *g = parse(qtest_conn_greeting_text(c));
    JsonObject *root = json_node_get_object(g);
    JsonObject *qmp = obj_member(root, "QMP");
    JsonArray *caps;
    guint i;

    ck_assert_uint_eq(json_object_get_size(root), 1);
    check_version(obj_member(qmp, "version"));
    caps = json_object_get_array_member(qmp, "capabilities");
    for (i = 0; i < json_array_get_length(caps); i++) {
        JsonNode *n = json_array_get_element(caps, i);
        ck_assert(JSON_NODE_HOLDS_VALUE(n) &&
                  json_node_get_value_type(n) == G_TYPE_STRING);
    }
    json_node_unref(g);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'qmp_capabilities'}"));
    finish(s, c);
}
END_TEST

START_TEST(test_commands_before_capabilities)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect_raw(s, 0);

    qtest_assert_error(qtest_qmp(c, "{'execute': 'query-fdsets'}"),
                       "CommandNotFound", NEED_CAPS);
    qtest_assert_error(qtest_qmp(c, "{'execute': 'add-fd'}"), "CommandNotFound",
                       NEED_CAPS);
    qtest_assert_error(qtest_qmp(c, "{'execute': 'no-such-command'}"),
                       "CommandNotFound", NEED_CAPS);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'qmp_capabilities'}"));
    qtest_assert_success(qtest_qmp(c, "{'execute': 'query-fdsets'}"));
    finish(s, c);
}
END_TEST

START_TEST(test_second_capabilities_refused)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(
        qtest_qmp(c, "{'execute': 'qmp_capabilities'}"), "CommandNotFound",
        "Capabilities negotiation is already complete, command ignored");
    qtest_assert_success(qtest_qmp(c, "{'execute': 'query-fdsets'}"));
    finish(s, c);
}
END_TEST

START_TEST(test_unknown_command)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(qtest_qmp(c, "{'execute': 'foo'}"), "CommandNotFound",
                       "The command foo has not been found");
    qtest_assert_error(qtest_qmp(c, "{'execute': 'add_fd'}"), "CommandNotFound",
                       "The command add_fd has not been found");
    finish(s, c);
}
END_TEST

/* The reply's "id" is the request's, whatever JSON it is. */
static void check_id_echo(QTestConn *c, const char *cmd, const char *id)
{
    JsonNode *r = qtest_qmp(c, "{'execute': '%s', 'id': %s}", cmd, id);
    JsonObject *o = json_node_get_object(r);
    g_autoptr(JsonNode) want = parse(id);

    ck_assert_msg(json_object_has_member(o, "id"), "no id in reply to %s", cmd);
    ck_assert_msg(json_node_equal(json_object_get_member(o, "id"), want),
                  "id %s not echoed", id);
    json_node_unref(r);
}

START_TEST(test_id_echo)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    check_id_echo(c, "query-version", "\"abc\"");
    check_id_echo(c, "query-version", "42");
    check_id_echo(c, "query-version", "{\"a\": [1, \"b\", {\"c\": null}]}");
    check_id_echo(c, "no-such-command", "\"err-id\"");
    finish(s, c);
}
END_TEST

START_TEST(test_bad_json)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    JsonNode *r;

    qtest_send_raw(c, "{\"execute\": }", 13, NULL, 0);
    r = qtest_recv_response(c, -1);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(qtest_error_class(r), "GenericError");
    ck_assert_msg(g_str_has_prefix(qtest_error_desc(r), "JSON parse error, "),
                  "desc: %s", qtest_error_desc(r));
    json_node_unref(r);
    /* The session goes on. */
    qtest_assert_success(qtest_qmp(c, "{'execute': 'query-fdsets'}"));
    finish(s, c);
}
END_TEST

START_TEST(test_input_not_an_object)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(qtest_qmp(c, "[1, 2]"), "GenericError",
                       "QMP input must be a JSON object");
    qtest_assert_success(qtest_qmp(c, "{'execute': 'query-fdsets'}"));
    finish(s, c);
}
END_TEST

START_TEST(test_input_lacks_execute)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(qtest_qmp(c, "{'arguments': {}}"), "GenericError",
                       "QMP input lacks member 'execute'");
    finish(s, c);
}
END_TEST

START_TEST(test_input_unexpected_member)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(qtest_qmp(c, "{'execute': 'query-version', 'foo': 1}"),
                       "GenericError", "QMP input member 'foo' is unexpected");
    finish(s, c);
}
END_TEST

START_TEST(test_arguments_not_an_object)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(
        qtest_qmp(c, "{'execute': 'query-version', 'arguments': [1]}"),
        "GenericError", "QMP input member 'arguments' must be an object");
    finish(s, c);
}
END_TEST

START_TEST(test_execute_not_a_string)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(qtest_qmp(c, "{'execute': 1}"), "GenericError",
                       "QMP input member 'execute' must be a string");
    finish(s, c);
}
END_TEST

START_TEST(test_argument_wrong_type)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(qtest_qmp(c, "{'execute': 'remove-fd', 'arguments': "
                                    "{'fdset-id': 'x'}}"),
                       "GenericError",
                       "Invalid parameter type for 'fdset-id', "
                       "expected: integer");
    qtest_assert_error(
        qtest_qmp(c, "{'execute': 'closefd', 'arguments': {'fdname': 7}}"),
        "GenericError",
        "Invalid parameter type for 'fdname', "
        "expected: string");
    finish(s, c);
}
END_TEST

START_TEST(test_argument_unexpected)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(
        qtest_qmp(c, "{'execute': 'query-fdsets', 'arguments': {'bogus': 1}}"),
        "GenericError", "Parameter 'bogus' is unexpected");
    finish(s, c);
}
END_TEST

START_TEST(test_argument_missing)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(
        qtest_qmp(c, "{'execute': 'remove-fd', 'arguments': {}}"),
        "GenericError", "Parameter 'fdset-id' is missing");
    qtest_assert_error(qtest_qmp(c, "{'execute': 'closefd'}"), "GenericError",
                       "Parameter 'fdname' is missing");
    finish(s, c);
}
END_TEST

START_TEST(test_query_version)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-version'}");

    ck_assert_ptr_nonnull(qtest_return_object(r));
    check_version(qtest_return_object(r));
    json_node_unref(r);
    finish(s, c);
}
END_TEST

static const char *const must_have_commands[] = {
    "qmp_capabilities",
    "query-version",
    "query-commands",
    "query-qmp-schema",
    "quit",
    "add-fd",
    "remove-fd",
    "query-fdsets",
    "getfd",
    "closefd",
    "blockdev-add",
    "blockdev-del",
    "blockdev-reopen",
    "query-named-block-nodes",
    "human-monitor-command",
    "block-commit",
    "query-block-jobs",
    "block-job-cancel",
    "block-job-complete",
    "job-dismiss",
    NULL,
};

/* Names of the "command" entries of query-qmp-schema. */
static GHashTable *schema_commands(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-qmp-schema'}");
    JsonArray *a = qtest_return_array(r);
    GHashTable *names =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint i;

    ck_assert_ptr_nonnull(a);
    for (i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);
        if (g_str_equal(json_object_get_string_member(e, "meta-type"),
                        "command")) {
            g_hash_table_add(
                names, g_strdup(json_object_get_string_member(e, "name")));
        }
    }
    json_node_unref(r);
    return names;
}

START_TEST(test_query_commands_lists_every_command)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    g_autoptr(GHashTable) schema = schema_commands(c);
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-commands'}");
    JsonArray *a = qtest_return_array(r);
    g_autoptr(GHashTable) listed = g_hash_table_new(g_str_hash, g_str_equal);
    guint i;

    ck_assert_ptr_nonnull(a);
    for (i = 0; i < json_array_get_length(a); i++) {
        const char *name = json_object_get_string_member(
            json_array_get_object_element(a, i), "name");
        ck_assert_msg(g_hash_table_contains(schema, name),
                      "%s listed but not in the schema", name);
        ck_assert_msg(g_hash_table_add(listed, (char *)name), "%s listed twice",
                      name);
    }
    ck_assert_uint_eq(g_hash_table_size(listed), g_hash_table_size(schema));
    for (i = 0; must_have_commands[i]; i++) {
        ck_assert_msg(g_hash_table_contains(listed, must_have_commands[i]),
                      "query-commands lacks %s", must_have_commands[i]);
    }
    json_node_unref(r);
    finish(s, c);
}
END_TEST

static JsonObject *schema_entry(JsonArray *a, const char *name)
{
    guint i;

    for (i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);
        if (g_str_equal(json_object_get_string_member(e, "name"), name)) {
            return e;
        }
    }
    return NULL;
}

static bool has_member(JsonObject *type, const char *name)
{
    JsonArray *m = json_object_get_array_member(type, "members");
    guint i;

    for (i = 0; m && i < json_array_get_length(m); i++) {
        if (g_str_equal(json_object_get_string_member(
                            json_array_get_object_element(m, i), "name"),
                        name)) {
            return true;
        }
    }
    return false;
}

START_TEST(test_query_qmp_schema_has_add_fd)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-qmp-schema'}");
    JsonArray *a = qtest_return_array(r);
    JsonObject *cmd, *args, *ret;

    ck_assert_ptr_nonnull(a);
    cmd = schema_entry(a, "add-fd");
    ck_assert_ptr_nonnull(cmd);
    ck_assert_str_eq(json_object_get_string_member(cmd, "meta-type"),
                     "command");
    args = schema_entry(a, json_object_get_string_member(cmd, "arg-type"));
    ret = schema_entry(a, json_object_get_string_member(cmd, "ret-type"));
    ck_assert_ptr_nonnull(args);
    ck_assert_ptr_nonnull(ret);
    ck_assert(has_member(args, "fdset-id") && has_member(args, "opaque"));
    ck_assert(has_member(ret, "fdset-id") && has_member(ret, "fd"));
    ck_assert_ptr_nonnull(schema_entry(a, "SHUTDOWN"));
    json_node_unref(r);
    finish(s, c);
}
END_TEST

static void check_shutdown_event(JsonNode *ev)
{
    JsonObject *o, *data, *ts;

    ck_assert_msg(ev, "no SHUTDOWN event");
    o = json_node_get_object(ev);
    ts = obj_member(o, "timestamp");
    ck_assert(ts && json_object_has_member(ts, "seconds") &&
              json_object_has_member(ts, "microseconds"));
    data = obj_member(o, "data");
    ck_assert_ptr_nonnull(data);
    ck_assert(!json_object_get_boolean_member(data, "guest"));
    ck_assert_str_eq(json_object_get_string_member(data, "reason"),
                     "host-qmp-quit");
    json_node_unref(ev);
}

START_TEST(test_quit)
{
    QTestState *s = qtest_spawn_full(NULL, 2, NULL, 0);
    QTestConn *c = qtest_connect(s, 0);
    QTestConn *other = qtest_connect(s, 1);

    qtest_assert_fds_match_registry(s, c, 0);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'quit'}"));
    check_shutdown_event(qtest_event_wait(c, "SHUTDOWN", -1));
    check_shutdown_event(qtest_event_wait(other, "SHUTDOWN", -1));
    ck_assert(qtest_conn_eof(c, 10000));
    ck_assert(qtest_conn_eof(other, 10000));
    ck_assert_int_eq(qtest_wait_exit(s, -1), 0);
    ck_assert_int_eq(qtest_quit(s), 0);
}
END_TEST

START_TEST(test_split_reads)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    const char *cmd = "{\"execute\": \"query-fdsets\", \"id\": \"split\"}";
    JsonNode *r;
    size_t i;

    for (i = 0; cmd[i]; i++) {
        qtest_send_raw(c, cmd + i, 1, NULL, 0);
        /* Nothing may come back before the value is complete. */
        if (cmd[i + 1]) {
            g_usleep(500);
        }
    }
    r = qtest_recv_response(c, -1);
    ck_assert_ptr_nonnull(qtest_return_array(r));
    ck_assert_str_eq(
        json_object_get_string_member(json_node_get_object(r), "id"), "split");
    json_node_unref(r);
    finish(s, c);
}
END_TEST

START_TEST(test_several_messages_one_write)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    const char *batch = "{\"execute\": \"query-version\", \"id\": 1}"
                        "{\"execute\": \"foo\", \"id\": 2}\n"
                        "  {\"execute\": \"query-fdsets\", \"id\": 3}";
    int i;

    qtest_send_raw(c, batch, strlen(batch), NULL, 0);
    for (i = 1; i <= 3; i++) {
        JsonNode *r = qtest_recv_response(c, -1);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(
            json_object_get_int_member(json_node_get_object(r), "id"), i);
        ck_assert(i == 2 ? qtest_error_class(r) != NULL
                         : qtest_error_class(r) == NULL);
        json_node_unref(r);
    }
    finish(s, c);
}
END_TEST

START_TEST(test_two_monitors)
{
    QTestState *s = qtest_spawn_full(NULL, 2, NULL, 0);
    QTestConn *a = qtest_connect(s, 0);
    QTestConn *b = qtest_connect(s, 1);

    ck_assert_str_ne(qtest_socket_path(s, 0), qtest_socket_path(s, 1));
    qtest_assert_success(qtest_qmp(a, "{'execute': 'query-version'}"));
    qtest_assert_success(qtest_qmp(b, "{'execute': 'query-version'}"));
    qtest_assert_error(qtest_qmp(b, "{'execute': 'qmp_capabilities'}"),
                       "CommandNotFound",
                       "Capabilities negotiation is "
                       "already complete, command ignored");
    finish(s, a);
}
END_TEST

/* fdsetd differs from QEMU: every client is greeted and served at once. */
START_TEST(test_several_clients_one_socket)
{
    QTestState *s = qtest_spawn(NULL);
    const char *q = "{\"execute\": \"query-fdsets\", \"id\": 7}";
    QTestConn *c[3];
    int i;

    for (i = 0; i < 3; i++) {
        c[i] = qtest_connect_raw(s, 0); /* greeting read and checked */
    }
    for (i = 2; i >= 0; i--) {
        qtest_assert_success(qtest_qmp(c[i], "{'execute': "
                                             "'qmp_capabilities'}"));
    }
    /* Interleaved: each answers its own request. */
    for (i = 0; i < 3; i++) {
        qtest_send_raw(c[i], q, strlen(q), NULL, 0);
    }
    for (i = 0; i < 3; i++) {
        JsonNode *r = qtest_recv_response(c[i], -1);
        ck_assert_ptr_nonnull(qtest_return_array(r));
        json_node_unref(r);
    }
    qtest_disconnect(c[0]);
    qtest_assert_success(qtest_qmp(c[1], "{'execute': 'query-version'}"));
    finish(s, c[2]);
}
END_TEST

/* fdsetd offers fdset-events and no out-of-band execution. */
START_TEST(test_capabilities_offered)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect_raw(s, 0);
    JsonNode *g = parse(qtest_conn_greeting_text(c));
    JsonArray *caps = json_object_get_array_member(
        obj_member(json_node_get_object(g), "QMP"), "capabilities");

    ck_assert_uint_eq(json_array_get_length(caps), 1);
    ck_assert_str_eq(json_array_get_string_element(caps, 0), "fdset-events");
    json_node_unref(g);
    qtest_assert_error(qtest_qmp(c, "{'execute': 'qmp_capabilities', "
                                    "'arguments': {'enable': ['oob']}}"),
                       "GenericError", "Capability 'oob' not available");
    /* QEMU 7.2 names a list element 'null' in this message; so do we. */
    qtest_assert_error(qtest_qmp(c, "{'execute': 'qmp_capabilities', "
                                    "'arguments': {'enable': ['nope']}}"),
                       "GenericError",
                       "Parameter 'null' does not accept value 'nope'");
    /* Still not negotiated. */
    qtest_assert_error(qtest_qmp(c, "{'execute': 'query-version'}"),
                       "CommandNotFound", NEED_CAPS);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'qmp_capabilities', "
                                      "'arguments': {'enable': []}}"));
    finish(s, c);
}
END_TEST

/* fdsetd's limits: a message too large or too deep is refused, skipped up
 * to its end, and the connection goes on. */
START_TEST(test_message_size_limit)
{
    QTestState *s = qtest_spawn("--max-message-size 1024");
    QTestConn *c = qtest_connect(s, 0);
    GString *big = g_string_new("{\"execute\": \"query-version\", "
                                "\"id\": \"");
    JsonNode *r;

    while (big->len < 4096) {
        g_string_append(big, "xxxxxxxxxxxxxxxx");
    }
    g_string_append(big, "\"}");
    qtest_send_raw(c, big->str, big->len, NULL, 0);
    g_string_free(big, TRUE);
    r = qtest_recv_response(c, -1);
    ck_assert_ptr_nonnull(r);
    qtest_assert_error(r, "GenericError",
                       "JSON parse error, message too "
                       "large (limit 1024 bytes)");
    qtest_assert_success(qtest_qmp(c, "{'execute': 'query-version'}"));
    finish(s, c);
}
END_TEST

START_TEST(test_json_depth_limit)
{
    QTestState *s = qtest_spawn("--max-json-depth 4");
    QTestConn *c = qtest_connect(s, 0);

    qtest_assert_error(
        qtest_qmp(c, "{'execute': 'query-version', 'id': [[[[[1]]]]]}"),
        "GenericError", "JSON parse error, nesting too deep (limit 4)");
    qtest_assert_success(qtest_qmp(c, "{'execute': 'query-version', "
                                      "'id': [[1]]}"));
    finish(s, c);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("qmp");
    TCase *tc = tcase_create("qmp");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_greeting_shape);
    tcase_add_test(tc, test_commands_before_capabilities);
    tcase_add_test(tc, test_second_capabilities_refused);
    tcase_add_test(tc, test_unknown_command);
    tcase_add_test(tc, test_id_echo);
    tcase_add_test(tc, test_bad_json);
    tcase_add_test(tc, test_input_not_an_object);
    tcase_add_test(tc, test_input_lacks_execute);
    tcase_add_test(tc, test_input_unexpected_member);
    tcase_add_test(tc, test_arguments_not_an_object);
    tcase_add_test(tc, test_execute_not_a_string);
    tcase_add_test(tc, test_argument_wrong_type);
    tcase_add_test(tc, test_argument_unexpected);
    tcase_add_test(tc, test_argument_missing);
    tcase_add_test(tc, test_query_version);
    tcase_add_test(tc, test_query_commands_lists_every_command);
    tcase_add_test(tc, test_query_qmp_schema_has_add_fd);
    tcase_add_test(tc, test_quit);
    tcase_add_test(tc, test_split_reads);
    tcase_add_test(tc, test_several_messages_one_write);
    tcase_add_test(tc, test_two_monitors);
    tcase_add_test(tc, test_several_clients_one_socket);
    tcase_add_test(tc, test_capabilities_offered);
    tcase_add_test(tc, test_message_size_limit);
    tcase_add_test(tc, test_json_depth_limit);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
