/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GError in the QMP_ERROR domain: the code is the QMP error class.
 */
#include <errno.h>
#include <stdarg.h>

#include "qemu/error.h"

G_DEFINE_QUARK(qmp - error - quark, qmp_error)

static const char *const class_names[] = {
    [QMP_ERROR_CLASS_GENERIC_ERROR] = "GenericError",
    [QMP_ERROR_CLASS_COMMAND_NOT_FOUND] = "CommandNotFound",
    [QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [QMP_ERROR_CLASS_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [QMP_ERROR_CLASS_KVM_MISSING_CAP] = "KVMMissingCap",
};

const char *qmp_error_class_name(int code)
{
    if (code < 0 || code >= (int)G_N_ELEMENTS(class_names)) {
        return class_names[QMP_ERROR_CLASS_GENERIC_ERROR];
    }
    return class_names[code];
}

/* Takes ownership of @msg. */
static void error_set_owned(GError **errp, QmpErrorClass cls, char *msg)
{
    if (errp) {
        g_set_error_literal(errp, QMP_ERROR, cls, msg);
    }
    g_free(msg);
}

void error_setg(GError **errp, const char *fmt, ...)
{
    va_list ap;
    int saved_errno = errno;

    if (!errp) {
        return;
    }
    va_start(ap, fmt);
    error_set_owned(errp, QMP_ERROR_CLASS_GENERIC_ERROR,
                    g_strdup_vprintf(fmt, ap));
    va_end(ap);
    errno = saved_errno;
}

void error_set(GError **errp, QmpErrorClass cls, const char *fmt, ...)
{
    va_list ap;
    int saved_errno = errno;

    if (!errp) {
        return;
    }
    va_start(ap, fmt);
    error_set_owned(errp, cls, g_strdup_vprintf(fmt, ap));
    va_end(ap);
    errno = saved_errno;
}

void error_setg_errno(GError **errp, int errnum, const char *fmt, ...)
{
    va_list ap;
    int saved_errno = errno;
    g_autofree char *msg = NULL;

    if (!errp) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_set_owned(errp, QMP_ERROR_CLASS_GENERIC_ERROR,
                    g_strdup_printf("%s: %s", msg, g_strerror(errnum)));
    errno = saved_errno;
}

QmpErrorClass error_get_class(const GError *err)
{
    if (err && err->domain == QMP_ERROR && err->code >= 0 &&
        err->code < (int)G_N_ELEMENTS(class_names)) {
        return err->code;
    }
    return QMP_ERROR_CLASS_GENERIC_ERROR;
}
