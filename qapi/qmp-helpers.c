/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP text for the monitor: the writer in QEMU's layout.
 */
#include "qapi/qmp.h"

void qmp_json_append_string(GString *out, const char *s)
{
    json_append_string_qmp(out, s);
}

void qmp_json_append_node(GString *out, JsonNode *node)
{
    json_append_node(out, node, JSON_LAYOUT_QMP);
}
