# SPDX-License-Identifier: GPL-2.0-or-later
"""qapi-types.h / qapi-types.c: C types, enum string tables, qapi_free_*.

Shapes follow QEMU 7.2: an optional member is 'bool has_x; T x;', a struct
holds its base's members first, a flat union adds 'union { ... } u;' with
one member per non-empty branch (embedded), an alternate is
'QType type; union { ... } u;', a list 'struct TList { TList *next;
T value; }'.
"""

from .common import (HEADER, builtin_lists, c_name, c_type, c_unboxed,
                     guard, include,
                     enum_const, enum_max, free_call, type_c_name,
                     user_types)


def _enum_decl(t):
    out = ['typedef enum %s {' % c_name(t.name)]
    for value, _ in t.values:
        out.append('    %s,' % enum_const(t, value))
    out.append('    %s,' % enum_max(t))
    out.append('} %s;' % c_name(t.name))
    out.append('')
    out.append('extern const QEnumLookup %s_lookup;' % c_name(t.name))
    out.append('#define %s_str(val) qapi_enum_lookup(&%s_lookup, (val))'
               % (c_name(t.name), c_name(t.name)))
    out.append('')
    return out


def _member_decls(members):
    out = []
    for m in members:
        if m.optional:
            out.append('    bool has_%s;' % c_name(m.name))
        out.append('    %s%s;' % (_spaced(c_type(m.type)), c_name(m.name)))
    return out


def _spaced(ctype):
    return ctype if ctype.endswith('*') else ctype + ' '


def _variant_decls(t, what):
    out = ['    union { /* %s */' % what]
    for case, branch in t.variants:
        if branch.name == 'q_empty':
            continue
        out.append('        %s%s;' % (_spaced(c_unboxed(branch)),
                                      c_name(case)))
    out.append('    } u;')
    return out


def _struct_decl(t):
    out = ['struct %s {' % c_name(t.name)]
    out += _member_decls(t.members)
    if t.tag is not None:
        out += _variant_decls(t, 'union tag is @%s' % c_name(t.tag))
    if len(out) == 1:
        out.append('    char qapi_dummy_for_empty_struct;')
    out.append('};')
    out.append('')
    return out


def _alternate_decl(t):
    out = ['struct %s {' % c_name(t.name), '    QType type;']
    out += _variant_decls(t, 'by the JSON type of the value')
    out.append('};')
    out.append('')
    return out


def _list_decl(t):
    name = type_c_name(t)
    return ['struct %s {' % name, '    %s *next;' % name,
            '    %svalue;' % _spaced(c_type(t.element)), '};', '']


def _embedded(t):
    """Types @t holds by value (they must be complete before it)."""
    if t.meta in ('object', 'alternate'):
        return [b for _, b in t.variants
                if b.meta in ('object', 'alternate') and b.name != 'q_empty']
    return []


def _ordered(types):
    done, out = set(), []

    def visit(t):
        if t.name in done:
            return
        done.add(t.name)
        for dep in _embedded(t):
            visit(dep)
        out.append(t)
    for t in types:
        visit(t)
    return out


def gen_types_h(schema, source):
    types = user_types(schema)
    lists = builtin_lists(schema)
    out = [HEADER % source, '#ifndef %s' % guard('QAPI_QAPI_TYPES_H'),
           '#define %s' % guard('QAPI_QAPI_TYPES_H'), '',
           '#include "qapi/util.h"', '']
    for t in lists + [t for t in types if t.meta != 'enum']:
        out.append('typedef struct %s %s;' % (type_c_name(t), type_c_name(t)))
    out.append('')
    for t in types:
        if t.meta == 'enum':
            out += _enum_decl(t)
    for t in lists:
        out += _list_decl(t)
    for t in _ordered([t for t in types if t.meta != 'enum']):
        if t.meta == 'object':
            out += _struct_decl(t)
        elif t.meta == 'alternate':
            out += _alternate_decl(t)
        else:
            out += _list_decl(t)
    for t in lists + [t for t in types if t.meta != 'enum']:
        name = type_c_name(t)
        out.append('void qapi_free_%s(%s *obj);' % (name, name))
        if t.meta in ('object', 'alternate'):
            out.append('void qapi_free_members_%s(%s *obj);' % (name, name))
        out.append('G_DEFINE_AUTOPTR_CLEANUP_FUNC(%s, qapi_free_%s)'
                   % (name, name))
    out += ['', '#endif']
    return '\n'.join(out) + '\n'


def _enum_table(t):
    name = c_name(t.name)
    out = ['static const char *const %s_names[] = {' % name]
    for value, _ in t.values:
        out.append('    [%s] = "%s",' % (enum_const(t, value), value))
    out += ['};', '',
            'const QEnumLookup %s_lookup = {' % name,
            '    .array = %s_names,' % name,
            '    .size = %s,' % enum_max(t), '};', '']
    return out


def _free_members(members, prefix):
    out = []
    for m in members:
        call = free_call(m.type, '%s%s' % (prefix, c_name(m.name)))
        if call:
            out.append('    %s' % call)
    return out


def _free_object(t):
    name = c_name(t.name)
    body = _free_members(t.members, 'obj->')
    if t.tag is not None:
        tag = next(m for m in t.members if m.name == t.tag)
        cases = []
        for case, branch in t.variants:
            if branch.name == 'q_empty':
                continue
            cases += ['    case %s:' % enum_const(tag.type, case),
                      '        qapi_free_members_%s(&obj->u.%s);'
                      % (c_name(branch.name), c_name(case)),
                      '        break;']
        if cases:
            body += ['    switch (obj->%s) {' % c_name(t.tag)] + cases + \
                    ['    default:', '        break;', '    }']
    return _free_pair(name, body)


def _alt_qtype(branch):
    if branch.meta == 'object':
        return 'QTYPE_QDICT'
    if branch.meta == 'array':
        return 'QTYPE_QLIST'
    if branch.meta == 'enum':
        return 'QTYPE_QSTRING'
    return {'str': 'QTYPE_QSTRING', 'bool': 'QTYPE_QBOOL',
            'null': 'QTYPE_QNULL'}.get(branch.name, 'QTYPE_QNUM')


def _free_alternate(t):
    body = ['    switch (obj->type) {']
    for case, branch in t.variants:
        body.append('    case %s:' % _alt_qtype(branch))
        if branch.meta == 'object':
            body.append('        qapi_free_members_%s(&obj->u.%s);'
                        % (c_name(branch.name), c_name(case)))
        else:
            call = free_call(branch, 'obj->u.%s' % c_name(case))
            if call:
                body.append('        %s' % call)
        body.append('        break;')
    body += ['    default:', '        break;', '    }']
    return _free_pair(c_name(t.name), body)


def _free_pair(name, body):
    return ['void qapi_free_members_%s(%s *obj)' % (name, name), '{'] + \
        (body or ['    (void)obj;']) + ['}', '',
                                        'void qapi_free_%s(%s *obj)'
                                        % (name, name), '{',
                                        '    if (obj) {',
                                        '        qapi_free_members_%s(obj);'
                                        % name,
                                        '        g_free(obj);', '    }',
                                        '}', '']


def _free_list(t):
    name = type_c_name(t)
    call = free_call(t.element, 'obj->value')
    out = ['void qapi_free_%s(%s *obj)' % (name, name), '{',
           '    while (obj) {', '        %s *next = obj->next;' % name, '']
    if call:
        out.append('        %s' % call)
    out += ['        g_free(obj);', '        obj = next;', '    }', '}', '']
    return out


def gen_types_c(schema, source):
    out = [HEADER % source, include('qapi-types.h'), '']
    for t in builtin_lists(schema):
        out += _free_list(t)
    for t in user_types(schema):
        if t.meta == 'enum':
            out += _enum_table(t)
        elif t.meta == 'object':
            out += _free_object(t)
        elif t.meta == 'alternate':
            out += _free_alternate(t)
        else:
            out += _free_list(t)
    return '\n'.join(out) + '\n'
