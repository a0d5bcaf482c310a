# SPDX-License-Identifier: GPL-2.0-or-later
"""qapi-commands.h / .c (typed handlers, marshallers, the command table)
and qapi-events.h / .c (qapi_event_send_<name>()).

A command 'foo-bar' with data { 'a': 'str', '*b': 'int' } returning 'T' is
served by

    T *qmp_foo_bar(const char *a, bool has_b, int64_t b, GError **errp);

('boxed': true: qmp_foo_bar(ArgType *arg, GError **errp)).  Its generated
marshaller converts the validated arguments, calls it, appends the return
value as QMP text to the reply and frees everything.  'gen': false leaves
the marshaller, qmp_marshal_foo_bar(), to be written by hand.
"""

from .common import (HEADER, c_name, c_param_type, c_string, c_type,
                     guard, include, wrap_call,
                     commands, events, free_call, type_c_name)
from .visit import out_stmt


def handler_name(cmd):
    return 'qmp_' + c_name(cmd.name, False)


def marshal_name(cmd):
    return 'qmp_marshal_' + c_name(cmd.name, False)


def _params(ent, errp=True):
    """The C parameters of a handler or event sender, as a list."""
    parts = []
    if ent.arg_type is not None and ent.arg_type.members is not None:
        if ent.expr.get('boxed'):
            parts.append('%s *arg' % c_name(ent.arg_type.name))
        else:
            for m in ent.arg_type.members:
                if m.optional:
                    parts.append('bool has_%s' % c_name(m.name))
                ctype = c_param_type(m.type)
                sep = '' if ctype.endswith('*') else ' '
                parts.append('%s%s%s' % (ctype, sep, c_name(m.name)))
    if errp:
        parts.append('GError **errp')
    return parts or ['void']


def _ret_c_type(cmd):
    return c_type(cmd.ret_type) if cmd.ret_type else 'void'


def _prototype(cmd, tail=''):
    ret = _ret_c_type(cmd)
    sep = '' if ret.endswith('*') else ' '
    return wrap_call('%s%s%s' % (ret, sep, handler_name(cmd)), _params(cmd),
                     tail)


def _args(ent, holder):
    """Arguments passing the members of @holder (a struct) along."""
    if ent.arg_type is None or ent.arg_type.members is None:
        return []
    if ent.expr.get('boxed'):
        return ['&' + holder]
    out = []
    for m in ent.arg_type.members:
        if m.optional:
            out.append('%s.has_%s' % (holder, c_name(m.name)))
        out.append('%s.%s' % (holder, c_name(m.name)))
    return out


def gen_commands_h(schema, source):
    out = [HEADER % source, '#ifndef %s' % guard('QAPI_QAPI_COMMANDS_H'),
           '#define %s' % guard('QAPI_QAPI_COMMANDS_H'), '',
           include('qapi-types.h'), '',
           '/* The typed QMP command handlers (see docs/devel-qapi.rst). */']
    for cmd in commands(schema):
        out.append(_prototype(cmd, ';'))
    out += ['', '#endif']
    return '\n'.join(out) + '\n'


def _has_args(cmd):
    return cmd.arg_type is not None


def _marshal(cmd):
    out = ['static bool %s(JsonObject *args, GString *out, GError **errp)'
           % marshal_name(cmd), '{', '    GError *err = NULL;']
    argt = cmd.arg_type
    if _has_args(cmd):
        out.append('    %s arg = { 0 };' % c_name(argt.name))
    ret = cmd.ret_type
    if ret:
        ctype = c_type(ret)
        sep = '' if ctype.endswith('*') else ' '
        out.append('    %s%sretval;' % (ctype, sep))
    out.append('')
    if _has_args(cmd):
        out.append('    qapi_in_members_%s(args, &arg);' % c_name(argt.name))
    else:
        out.append('    (void)args;')
    call = wrap_call('    %s%s' % ('retval = ' if ret else '',
                                     handler_name(cmd)),
                     _args(cmd, 'arg') + ['&err'], ';')
    out.append(call)
    out.append('    if (err) {')
    if ret and free_call(ret, 'retval'):
        out.append('        %s' % free_call(ret, 'retval'))
    out += ['        g_propagate_error(errp, err);']
    if _has_args(cmd):
        out.append('        qapi_free_members_%s(&arg);' % c_name(argt.name))
    out += ['        return false;', '    }']
    if ret is None:
        out.append('    qapi_out_lit(out, "{}", 2);')
    else:
        if ret.meta in ('object', 'alternate'):
            out.append('    g_assert(retval != NULL);')
        out.append(out_stmt(ret, 'retval', 4))
        if free_call(ret, 'retval'):
            out.append('    %s' % free_call(ret, 'retval'))
    if _has_args(cmd):
        out.append('    qapi_free_members_%s(&arg);' % c_name(argt.name))
    out += ['    return true;', '}', '']
    return out


def _bool(val):
    return 'true' if val else 'false'


def gen_commands_c(schema, source):
    cmds = commands(schema)
    out = [HEADER % source, include('qapi-commands.h'),
           include('qapi-visit.h'), '#include "qapi/qmp-schema.h"', '']
    for cmd in cmds:
        if cmd.expr.get('gen', True) is False:
            out.append('bool %s(JsonObject *args, GString *out, '
                       'GError **errp);' % marshal_name(cmd))
            out.append('')
        else:
            out += _marshal(cmd)
    out.append('const QmpCommandDef qmp_command_table[] = {')
    for cmd in cmds:
        arg = c_string(cmd.arg_type.name) if cmd.arg_type else 'NULL'
        out += ['    {', '        .name = %s,' % c_string(cmd.name),
                '        .fn = %s,' % marshal_name(cmd),
                '        .arg_type = %s,' % arg,
                '        .allow_preconfig = %s,'
                % _bool(cmd.expr.get('allow-preconfig')),
                '        .success_response = %s,'
                % _bool(cmd.expr.get('success-response', True)),
                '    },']
    if not cmds:
        out.append('    { .name = NULL },')
    out += ['};', '', 'const guint qmp_command_table_len = %d;' % len(cmds)]
    return '\n'.join(out) + '\n'


def gen_stubs(schema, source):
    """A failing definition of every typed handler (and of every 'gen':
    false marshaller), for tests that link the command table alone."""
    out = [HEADER % source, include('qapi-commands.h'),
           '#include "qapi/qmp-schema.h"', '#include "qemu/error.h"', '']
    for cmd in commands(schema):
        if cmd.expr.get('gen', True) is False:
            out += ['bool %s(JsonObject *args, GString *out, GError **errp)'
                    % marshal_name(cmd), '{',
                    '    g_set_error(errp, QMP_ERROR, 0, "stub: %s");'
                    % cmd.name, '    return false;', '}', '']
            continue
        out += ['%s' % _prototype(cmd), '{',
                '    g_set_error(errp, QMP_ERROR, 0, "stub: %s");' % cmd.name]
        if cmd.ret_type:
            ret = c_type(cmd.ret_type)
            out.append('    return %s;' % ('NULL' if ret.endswith('*')
                                            else '0'))
        out += ['}', '']
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------- events

def event_name(ev):
    return 'qapi_event_send_' + c_name(ev.name.lower(), False)


def gen_events_h(schema, source):
    out = [HEADER % source, '#ifndef %s' % guard('QAPI_QAPI_EVENTS_H'),
           '#define %s' % guard('QAPI_QAPI_EVENTS_H'), '',
           include('qapi-types.h'), '',
           '/* Any thread; the data is copied (see qapi/qmp-event.c). */']
    for ev in events(schema):
        out.append(wrap_call('void ' + event_name(ev), _params(ev, False),
                             ';'))
    out += ['', '#endif']
    return '\n'.join(out) + '\n'


def _event(ev):
    out = [wrap_call('void ' + event_name(ev), _params(ev, False)), '{']
    argt = ev.arg_type
    if argt is None or argt.members is None or \
            (not argt.members and argt.tag is None):
        out += ['    qapi_event_emit(%s, NULL);' % c_string(ev.name), '}', '']
        return out
    out.append('    GString *data = g_string_sized_new(64);')
    if ev.expr.get('boxed'):
        holder = 'arg'
    else:
        holder = '&param'
        out.append('    %s param = {' % c_name(argt.name))
        for m in argt.members:
            if m.optional:
                out.append('        .has_%s = has_%s,' % (
                    c_name(m.name), c_name(m.name)))
            cast = '(char *)' if m.type.name == 'str' else ''
            out.append('        .%s = %s%s,' % (c_name(m.name), cast,
                                                c_name(m.name)))
        out.append('    };')
    out += ['', '    qapi_out_%s(data, %s);' % (type_c_name(argt), holder),
            '    qapi_event_emit(%s, g_string_free(data, FALSE));'
            % c_string(ev.name), '}', '']
    return out


def gen_events_c(schema, source):
    out = [HEADER % source, include('qapi-events.h'),
           include('qapi-visit.h'), '#include "qapi/qmp.h"', '']
    for ev in events(schema):
        out += _event(ev)
    return '\n'.join(out) + '\n'
