/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What query-named-block-nodes shows of a qcow2 header: ImageInfo's
 * "cluster-size" and "format-specific" in QEMU 7.2's shape.
 */
#include "block/qcow2.h"

JsonObject *qcow2_get_specific_info(BlockDriverState *bs,
                                    int64_t *cluster_size)
{
    BDRVQcow2State *s = bs->opaque;
    const Qcow2Header *h = &s->hdr;
    JsonObject *spec = json_object_new();
    JsonObject *data = json_object_new();

    *cluster_size = s->cluster_size;
    json_object_set_string_member(spec, "type", "qcow2");
    if (h->version == 2) {
        json_object_set_string_member(data, "compat", "0.10");
        json_object_set_int_member(data, "refcount-bits", 16);
    } else {
        json_object_set_string_member(data, "compat", "1.1");
        json_object_set_string_member(
            data, "compression-type",
            h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION ? "zstd"
                                                                  : "zlib");
        json_object_set_boolean_member(data, "lazy-refcounts",
                                       h->compatible_features & 1);
        json_object_set_int_member(data, "refcount-bits",
                                   1 << h->refcount_order);
        json_object_set_boolean_member(
            data, "corrupt", h->incompatible_features & QCOW2_INCOMPAT_CORRUPT);
        json_object_set_boolean_member(
            data, "extended-l2", h->incompatible_features & QCOW2_INCOMPAT_EXTL2);
    }
    json_object_set_object_member(spec, "data", data);
    return spec;
}
