/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Enum string tables and JSON values held by generated QAPI types.
 */
#include <string.h>

#include "qapi/util.h"

const char *qapi_enum_lookup(const QEnumLookup *lookup, int val)
{
    g_assert(val >= 0 && val < lookup->size);
    return lookup->array[val];
}

int qapi_enum_parse(const QEnumLookup *lookup, const char *name, int def)
{
    if (!name) {
        return def;
    }
    for (int i = 0; i < lookup->size; i++) {
        if (strcmp(lookup->array[i], name) == 0) {
            return i;
        }
    }
    return def;
}

void qapi_free_json(JsonNode *node)
{
    if (node) {
        json_node_unref(node);
    }
}
