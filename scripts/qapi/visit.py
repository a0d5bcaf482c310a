# SPDX-License-Identifier: GPL-2.0-or-later
"""qapi-visit.h / qapi-visit.c: JSON -> C (input) and C -> JSON (output).

Input runs after qapi/qmp-validate.c accepted the value against the same
schema, with QEMU's error texts, so a conversion cannot fail: it only
reads.  Output writes QMP text straight into a GString, laid out as QEMU
lays it out ({"a": 1, "b": [2]}), each object's members in the order
QEMU's QDict gives them (common.qdict_order()).
"""

from .common import (HEADER, SIGNED, UNSIGNED, builtin_lists, c_name,
                     guard, include,
                     c_string, c_type, enum_const, qdict_order, type_c_name,
                     user_types)


# ---------------------------------------------------------------- input

def in_expr(t, node):
    """C expression converting validated JSON @node to a value of @t."""
    if t.meta == 'builtin':
        name = t.name
        if name == 'str':
            return 'g_strdup(json_node_get_string(%s))' % node
        if name in SIGNED or name in UNSIGNED:
            return '(%s)json_node_get_int(%s)' % (c_type(t), node)
        if name == 'number':
            return 'json_node_get_double(%s)' % node
        if name == 'bool':
            return 'json_node_get_boolean(%s)' % node
        return 'qapi_in_json(%s)' % node            # any, null
    if t.meta == 'enum':
        return '(%s)qapi_enum_parse(&%s_lookup, json_node_get_string(%s), 0)' \
            % (c_name(t.name), c_name(t.name), node)
    return 'qapi_in_%s(%s)' % (type_c_name(t), node)


def _in_members(t, obj):
    out = []
    for m in t.members:
        field = '%s%s' % (obj, c_name(m.name))
        get = 'json_object_get_member(o, %s)' % c_string(m.name)
        if m.optional:
            out += ['    if ((n = %s)) {' % get,
                    '        %shas_%s = true;' % (obj, c_name(m.name)),
                    '        %s = %s;' % (field, in_expr(m.type, 'n')),
                    '    }']
        else:
            out.append('    %s = %s;' % (field, in_expr(m.type, get)))
    if t.tag is not None:
        tag = next(m for m in t.members if m.name == t.tag)
        cases = []
        for case, branch in t.variants:
            if branch.name == 'q_empty':
                continue
            cases += ['    case %s:' % enum_const(tag.type, case),
                      '        qapi_in_members_%s(o, &%su.%s);'
                      % (c_name(branch.name), obj, c_name(case)),
                      '        break;']
        if cases:
            out += ['    switch (%s%s) {' % (obj, c_name(t.tag))] + cases + \
                   ['    default:', '        break;', '    }']
    return out


def _in_object(t):
    name = c_name(t.name)
    body = _in_members(t, 'obj->')
    decl = ['    JsonNode *n;'] if any(m.optional for m in t.members) else []
    if not body:
        body = ['    (void)o;', '    (void)obj;']
    return ['void qapi_in_members_%s(JsonObject *o, %s *obj)' % (name, name),
            '{'] + decl + body + ['}', '',
                                  '%s *qapi_in_%s(JsonNode *node)'
                                  % (name, name), '{',
                                  '    %s *obj = g_new0(%s, 1);'
                                  % (name, name), '',
                                  '    qapi_in_members_%s('
                                  'json_node_get_object(node), obj);' % name,
                                  '    return obj;', '}', '']


# Which alternate branch a validated JSON value goes to.
def _alt_test(branch):
    if branch.meta == 'object':
        return 'JSON_NODE_HOLDS_OBJECT(node)', 'QTYPE_QDICT'
    if branch.meta == 'array':
        return 'JSON_NODE_HOLDS_ARRAY(node)', 'QTYPE_QLIST'
    if branch.meta == 'builtin' and branch.name == 'null':
        return 'JSON_NODE_HOLDS_NULL(node)', 'QTYPE_QNULL'
    if branch.meta == 'enum' or branch.name == 'str':
        return 'qapi_node_is(node, G_TYPE_STRING)', 'QTYPE_QSTRING'
    if branch.name == 'bool':
        return 'qapi_node_is(node, G_TYPE_BOOLEAN)', 'QTYPE_QBOOL'
    if branch.name == 'number':
        return ('qapi_node_is(node, G_TYPE_INT64) || '
                'qapi_node_is(node, G_TYPE_DOUBLE)'), 'QTYPE_QNUM'
    return 'qapi_node_is(node, G_TYPE_INT64)', 'QTYPE_QNUM'


def _in_alternate(t):
    name = c_name(t.name)
    out = ['%s *qapi_in_%s(JsonNode *node)' % (name, name), '{',
           '    %s *obj = g_new0(%s, 1);' % (name, name), '']
    for i, (case, branch) in enumerate(t.variants):
        test, qtype = _alt_test(branch)
        out.append('    %sif (%s) {' % ('' if i == 0 else '} else ', test))
        out.append('        obj->type = %s;' % qtype)
        field = 'obj->u.%s' % c_name(case)
        if branch.meta == 'object':
            out.append('        qapi_in_members_%s(json_node_get_object(node),'
                       ' &%s);' % (c_name(branch.name), field))
        else:
            out.append('        %s = %s;' % (field, in_expr(branch, 'node')))
    out += ['    }', '    return obj;', '}', '']
    return out


def _in_list(t):
    name = type_c_name(t)
    return ['%s *qapi_in_%s(JsonNode *node)' % (name, name), '{',
            '    JsonArray *arr = json_node_get_array(node);',
            '    guint len = json_array_get_length(arr);',
            '    %s *head = NULL, **tail = &head;' % name, '',
            '    for (guint i = 0; i < len; i++) {',
            '        JsonNode *n = json_array_get_element(arr, i);',
            '        %s *elt = g_new0(%s, 1);' % (name, name), '',
            '        elt->value = %s;' % in_expr(t.element, 'n'),
            '        *tail = elt;', '        tail = &elt->next;', '    }',
            '    return head;', '}', '']


# ---------------------------------------------------------------- output

def out_stmt(t, expr, indent):
    """C statement appending @expr (a value of @t) to 'out' as JSON."""
    pad = ' ' * indent
    if t.meta == 'builtin':
        name = t.name
        if name == 'str':
            return '%sjson_append_string_qmp(out, %s);' % (pad, expr)
        if name in SIGNED:
            return '%sqapi_out_int(out, %s);' % (pad, expr)
        if name in UNSIGNED:
            return '%sqapi_out_uint(out, %s);' % (pad, expr)
        if name == 'number':
            return '%sqapi_out_number(out, %s);' % (pad, expr)
        if name == 'bool':
            return '%sqapi_out_bool(out, %s);' % (pad, expr)
        if name == 'null':
            return '%sqapi_out_lit(out, "null", 4);' % pad
        return '%sjson_append_node(out, %s, JSON_LAYOUT_QMP);' % (pad, expr)
    if t.meta == 'enum':
        return '%sqapi_out_enum(out, &%s_lookup, %s);' % (pad, c_name(t.name),
                                                         expr)
    return '%sqapi_out_%s(out, %s);' % (pad, type_c_name(t), expr)


def _lit(text):
    return 'qapi_out_lit(out, %s, %d);' % (c_string(text),
                                           len(text.encode('utf-8')))


def _out_fields(fields, indent):
    """Members (member, value path, has_ path) in output order, then '}'."""
    pad = ' ' * indent
    out = []
    state = 'first'             # is this the first member: yes, no, unknown
    flag = False                # does the code need the 'first' variable
    for m, path, has in fields:
        key = '"%s": ' % m.name
        inner = pad + ('    ' if m.optional else '')
        body = []
        if state == 'first':
            body.append(inner + _lit(key))
        elif state == 'later':
            body.append(inner + _lit(', ' + key))
        else:
            body.append(inner + 'qapi_out_sep(out, &first);')
            body.append(inner + _lit(key))
        body.append(out_stmt(m.type, path, len(inner)))
        if not m.optional:
            out += body
            state = 'later'
            continue
        if state == 'first':
            body.append(inner + 'first = false;')
            flag = True
            state = 'unknown'
        out += ['%sif (%s) {' % (pad, has)] + body + ['%s}' % pad]
    out.append(pad + _lit('}'))
    if not any('qapi_out_sep' in line for line in out):
        out = [line for line in out if not line.endswith('first = false;')]
        flag = False
    if flag:
        out.insert(0, '%sbool first = true;' % pad)
        out.insert(1, '')
    return out


def _fields(members, prefix):
    return [(m, prefix + c_name(m.name), prefix + 'has_' +
             c_name(m.name)) for m in members]


def _out_object(t):
    name = c_name(t.name)
    out = ['void qapi_out_%s(GString *out, const %s *obj)' % (name, name),
           '{', '    ' + _lit('{')]
    base = _fields(t.members, 'obj->')
    if t.tag is None:
        return out + _block(qdict_order(base, lambda f: f[0].name), 4) + \
            ['}', '']
    tag = next(m for m in t.members if m.name == t.tag)
    out.append('    switch (obj->%s) {' % c_name(t.tag))
    for case, branch in t.variants:
        fields = base + _fields(branch.members, 'obj->u.%s.' % c_name(case))
        out.append('    case %s: {' % enum_const(tag.type, case))
        out += _block(qdict_order(fields, lambda f: f[0].name), 8)
        out += ['        break;', '    }']
    out += ['    default:', '        g_assert_not_reached();', '    }', '}',
            '']
    return out


def _block(fields, indent):
    return _out_fields(fields, indent)


def _out_alternate(t):
    name = c_name(t.name)
    out = ['void qapi_out_%s(GString *out, const %s *obj)' % (name, name),
           '{', '    switch (obj->type) {']
    for case, branch in t.variants:
        _, qtype = _alt_test(branch)
        out.append('    case %s:' % qtype)
        field = 'obj->u.%s' % c_name(case)
        if branch.meta == 'object':
            out.append('        qapi_out_%s(out, &%s);'
                       % (c_name(branch.name), field))
        else:
            out.append(out_stmt(branch, field, 8))
        out.append('        break;')
    out += ['    default:', '        g_assert_not_reached();', '    }', '}',
            '']
    return out


def _out_list(t):
    name = type_c_name(t)
    return ['void qapi_out_%s(GString *out, const %s *list)' % (name, name),
            '{', '    g_string_append_c(out, \'[\');',
            '    for (const %s *l = list; l; l = l->next) {' % name,
            '        if (l != list) {',
            '            qapi_out_lit(out, ", ", 2);', '        }',
            out_stmt(t.element, 'l->value', 8), '    }',
            '    g_string_append_c(out, \']\');', '}', '']


# ---------------------------------------------------------------- files

def gen_visit_h(schema, source):
    out = [HEADER % source, '#ifndef %s' % guard('QAPI_QAPI_VISIT_H'),
           '#define %s' % guard('QAPI_QAPI_VISIT_H'), '',
           include('qapi-types.h'), '#include "qapi/visit-json.h"',
           '',
           '/*',
           ' * qapi_in_T(): a new T from a JSON value qapi/qmp-validate.c',
           ' * accepted for T (free with qapi_free_T()).  qapi_in_members_T():',
           ' * the same into an existing T (free with qapi_free_members_T()).',
           ' * qapi_out_T(): append T as QMP text.',
           ' */']
    for t in builtin_lists(schema) + user_types(schema):
        if t.meta == 'enum':
            continue
        name = type_c_name(t)
        ptr = 'list' if t.meta == 'array' else 'obj'
        if t.meta == 'object':
            out.append('void qapi_in_members_%s(JsonObject *o, %s *obj);'
                       % (name, name))
        out.append('%s *qapi_in_%s(JsonNode *node);' % (name, name))
        out.append('void qapi_out_%s(GString *out, const %s *%s);'
                   % (name, name, ptr))
    out += ['', '#endif']
    return '\n'.join(out) + '\n'


def gen_visit_c(schema, source):
    out = [HEADER % source, include('qapi-visit.h'), '']
    for t in builtin_lists(schema):
        out += _in_list(t) + _out_list(t)
    for t in user_types(schema):
        if t.meta == 'object':
            out += _in_object(t) + _out_object(t)
        elif t.meta == 'alternate':
            out += _in_alternate(t) + _out_alternate(t)
        elif t.meta == 'array':
            out += _in_list(t) + _out_list(t)
    return '\n'.join(out) + '\n'
