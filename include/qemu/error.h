/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One error idiom: GError in the QMP_ERROR domain, whose code is the QMP
 * error class, so the monitor turns any GError into a QMP error reply
 * without a lookup table.
 */
#ifndef QEMU_ERROR_H
#define QEMU_ERROR_H

#include <glib.h>

#define QMP_ERROR (qmp_error_quark())
GQuark qmp_error_quark(void);

typedef enum QmpErrorClass {
    QMP_ERROR_CLASS_GENERIC_ERROR = 0,
    QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
    QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE,
    QMP_ERROR_CLASS_DEVICE_NOT_FOUND,
    QMP_ERROR_CLASS_KVM_MISSING_CAP,
} QmpErrorClass;

/* Wire name of an error class ("GenericError"...); GenericError if unknown. */
const char *qmp_error_class_name(int code);

/* Report a GenericError. @errp may be NULL. */
void error_setg(GError **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Report an error of class @cls. */
void error_set(GError **errp, QmpErrorClass cls, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* Report a GenericError "<message>: <strerror(errnum)>". */
void error_setg_errno(GError **errp, int errnum, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* The class of @err for the wire: its code when in QMP_ERROR, else generic. */
QmpErrorClass error_get_class(const GError *err);

#endif
