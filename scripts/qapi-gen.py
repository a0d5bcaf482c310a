#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turn a QAPI schema (QEMU's schema language) into fdsetd's C code.

Usage: qapi-gen.py [--output-dir DIR] [--prefix P] [--unmask-non-abi-names]
                   [--stubs] SCHEMA

Outputs, in DIR (the C generators are in scripts/qapi/):
  <P>qapi-types.h/.c    C types, enum string tables, qapi_free_*()
  <P>qapi-visit.h/.c    JSON -> C (input) and C -> QMP text (output)
  <P>qapi-commands.h    the typed handlers qmp_<name>()
  <P>qapi-commands.c    their marshallers and qmp_command_table[]
  <P>qapi-events.h/.c   qapi_event_send_<name>()
  <P>qapi-introspect.c  the QapiSchema tables used to validate arguments
                        (qapi/qapi-schema-priv.h) and the query-qmp-schema
                        reply as a JSON string
  <P>qapi-stubs.c       (--stubs only) a failing definition of every
                        handler, for tests that link the command table

Python standard library only.  Doc comments ('##' blocks) are skipped;
'if' conditions are accepted and ignored (every definition is built).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qapi import commands, common, types, visit  # noqa: E402

c_string = common.c_string

BUILTINS = {
    # name: (C kind, json-type, introspection name)
    'str': ('QAPI_KIND_STR', 'string', 'str'),
    'int': ('QAPI_KIND_INT', 'int', 'int'),
    'int8': ('QAPI_KIND_INT8', 'int', 'int'),
    'int16': ('QAPI_KIND_INT16', 'int', 'int'),
    'int32': ('QAPI_KIND_INT32', 'int', 'int'),
    'int64': ('QAPI_KIND_INT', 'int', 'int'),
    'uint8': ('QAPI_KIND_UINT8', 'int', 'int'),
    'uint16': ('QAPI_KIND_UINT16', 'int', 'int'),
    'uint32': ('QAPI_KIND_UINT32', 'int', 'int'),
    'uint64': ('QAPI_KIND_UINT64', 'int', 'int'),
    'size': ('QAPI_KIND_UINT64', 'int', 'int'),
    'number': ('QAPI_KIND_NUMBER', 'number', 'number'),
    'bool': ('QAPI_KIND_BOOL', 'boolean', 'bool'),
    'null': ('QAPI_KIND_NULL', 'null', 'null'),
    'any': ('QAPI_KIND_ANY', 'value', 'any'),
}

QTYPE_VALUES = ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist',
                'qbool']

# How an alternate tells its branches apart: the JSON type each accepts.
ALT_JSON = {
    'QAPI_KIND_STR': 'string', 'QAPI_KIND_NUMBER': 'number',
    'QAPI_KIND_BOOL': 'boolean', 'QAPI_KIND_NULL': 'null',
}


class SchemaError(Exception):
    def __init__(self, info, msg):
        where = '%s:%d' % info if info else '<schema>'
        super().__init__('%s: %s' % (where, msg))


# --------------------------------------------------------------------------
# Reading the schema files

class Lexer:
    """Tokens of one schema file: punctuation, 'strings', true, false."""

    def __init__(self, fname, text):
        self.fname = fname
        self.text = text
        self.pos = 0
        self.line = 1
        self.tok = None
        self.val = None
        self.advance()

    def info(self):
        return (self.fname, self.line)

    def _skip_blank(self):
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == '\n':
                self.line += 1
                self.pos += 1
            elif ch in ' \t\r\f':
                self.pos += 1
            elif ch == '#':
                end = text.find('\n', self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return

    def advance(self):
        self._skip_blank()
        text = self.text
        if self.pos >= len(text):
            self.tok = None
            return
        ch = text[self.pos]
        if ch in '{}[],:':
            self.tok = ch
            self.pos += 1
        elif ch == "'":
            self.tok = "'"
            self.val = self._string()
        elif text.startswith('true', self.pos):
            self.tok, self.val = 'bool', True
            self.pos += 4
        elif text.startswith('false', self.pos):
            self.tok, self.val = 'bool', False
            self.pos += 5
        else:
            raise SchemaError(self.info(), "stray '%s'" % ch)

    def _string(self):
        out = []
        self.pos += 1
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == '\n':
                raise SchemaError(self.info(), 'missing terminating quote')
            ch = self.text[self.pos]
            self.pos += 1
            if ch == "'":
                return ''.join(out)
            if ch == '\\':
                esc = self.text[self.pos:self.pos + 1]
                if esc not in ('\\', "'", '"'):
                    raise SchemaError(self.info(),
                                      "unknown escape \\%s" % esc)
                self.pos += 1
                ch = esc
            out.append(ch)

    def expect(self, tok):
        if self.tok != tok:
            raise SchemaError(self.info(), "expected '%s'" % tok)
        self.advance()

    def value(self):
        tok = self.tok
        if tok == '{':
            return self._dict()
        if tok == '[':
            return self._list()
        if tok in ("'", 'bool'):
            val = self.val
            self.advance()
            return val
        raise SchemaError(self.info(), 'expected a value')

    def _dict(self):
        out = {}
        self.expect('{')
        if self.tok == '}':
            self.advance()
            return out
        while True:
            if self.tok != "'":
                raise SchemaError(self.info(), 'expected a string key')
            key = self.val
            if key in out:
                raise SchemaError(self.info(), "duplicate key '%s'" % key)
            self.advance()
            self.expect(':')
            out[key] = self.value()
            if self.tok == '}':
                self.advance()
                return out
            self.expect(',')

    def _list(self):
        out = []
        self.expect('[')
        if self.tok == ']':
            self.advance()
            return out
        while True:
            out.append(self.value())
            if self.tok == ']':
                self.advance()
                return out
            self.expect(',')


def read_schema(fname, seen=None, included_at=None):
    """All top-level expressions of @fname and its includes, in order."""
    if seen is None:
        seen = set()
    fname = os.path.normpath(fname)
    if fname in seen:
        return []
    seen.add(fname)
    try:
        with open(fname, encoding='utf-8') as f:
            text = f.read()
    except OSError as e:
        raise SchemaError(included_at, "can't read '%s': %s"
                          % (fname, e.strerror))
    lex = Lexer(fname, text)
    exprs = []
    while lex.tok is not None:
        info = lex.info()
        expr = lex.value()
        if not isinstance(expr, dict):
            raise SchemaError(info, 'top-level expression must be an object')
        if 'include' in expr:
            if len(expr) != 1 or not isinstance(expr['include'], str):
                raise SchemaError(info, "invalid 'include'")
            inc = os.path.join(os.path.dirname(fname), expr['include'])
            exprs.extend(read_schema(inc, seen, info))
        elif 'pragma' in expr:
            continue
        else:
            exprs.append((expr, info))
    return exprs


# --------------------------------------------------------------------------
# The model

class Member:
    def __init__(self, name, typeref, optional, features, info):
        self.name = name
        self.typeref = typeref     # 'T' or ['T'] as written
        self.type = None           # resolved Type
        self.optional = optional
        self.features = features
        self.info = info


class Type:
    """enum, object, array, alternate or builtin."""

    def __init__(self, name, meta, info=None):
        self.name = name
        self.meta = meta           # builtin/enum/object/array/alternate
        self.info = info
        self.features = []
        self.values = []           # enum: [(name, features)]
        self.local_members = []    # object: own members
        self.base_ref = None
        self.base = None
        self.members = None        # object: flattened, base first
        self.tag = None            # object: discriminator name
        self.variant_refs = []     # object/alternate: [(case, typeref)]
        self.variants = []         # object: [(case, Type)], enum order
        self.element = None        # array
        self.kind = None           # builtin: C kind
        self.prefix = None         # enum: C constant prefix


class Entity:
    """A command or an event."""

    def __init__(self, name, meta, expr, info):
        self.name = name
        self.meta = meta
        self.expr = expr
        self.info = info
        self.arg_ref = None
        self.arg_type = None
        self.ret_ref = None
        self.ret_type = None
        self.features = []


def _features(raw, info):
    out = []
    for feat in raw or []:
        if isinstance(feat, dict):
            feat = feat.get('name')
        if not isinstance(feat, str):
            raise SchemaError(info, 'invalid feature')
        out.append(feat)
    return out


def _members(data, info, what):
    if not isinstance(data, dict):
        raise SchemaError(info, "%s: 'data' must be an object" % what)
    out = []
    for key, val in data.items():
        optional = key.startswith('*')
        name = key[1:] if optional else key
        features = []
        if isinstance(val, dict):
            features = _features(val.get('features'), info)
            if 'type' not in val:
                raise SchemaError(info, "%s: member '%s' has no type"
                                  % (what, name))
            val = val['type']
        _check_typeref(val, info, '%s member %s' % (what, name))
        out.append(Member(name, val, optional, features, info))
    return out


def _check_typeref(ref, info, what):
    if isinstance(ref, list):
        if len(ref) != 1 or not isinstance(ref[0], str):
            raise SchemaError(info, '%s: an array type needs exactly one '
                              'element type name' % what)
    elif not isinstance(ref, str):
        raise SchemaError(info, '%s: invalid type' % what)


class Schema:
    def __init__(self, exprs):
        self.types = {}
        self.entities = []
        self._implicit = 0
        for name, (kind, _, _) in BUILTINS.items():
            t = Type(name, 'builtin')
            t.kind = kind
            self.types[name] = t
        qtype = Type('QType', 'enum')
        qtype.values = [(v, []) for v in QTYPE_VALUES]
        qtype.prefix = 'QTYPE'
        self.types['QType'] = qtype
        self.empty = Type('q_empty', 'object')
        self.empty.members = []
        self.types['q_empty'] = self.empty
        for expr, info in exprs:
            self._define(expr, info)
        for t in list(self.types.values()):
            self._resolve_type(t)
        for t in list(self.types.values()):
            self._flatten(t, [])
        for t in list(self.types.values()):
            self._check_variants(t)
        for ent in self.entities:
            self._resolve_entity(ent)

    # -- definitions

    def _add_type(self, t):
        if t.name in self.types:
            raise SchemaError(t.info, "'%s' is already defined" % t.name)
        self.types[t.name] = t
        return t

    def _define(self, expr, info):
        metas = [m for m in ('enum', 'struct', 'union', 'alternate',
                             'command', 'event') if m in expr]
        if len(metas) != 1:
            raise SchemaError(info, 'expression must define exactly one of '
                              'enum, struct, union, alternate, command, '
                              'event')
        meta = metas[0]
        name = expr[meta]
        if not isinstance(name, str) or not name:
            raise SchemaError(info, "'%s' needs a name" % meta)
        getattr(self, '_define_' + meta)(name, expr, info)

    def _define_enum(self, name, expr, info):
        t = Type(name, 'enum', info)
        t.features = _features(expr.get('features'), info)
        t.prefix = expr.get('prefix')
        seen = set()
        for val in expr.get('data', []):
            features = []
            if isinstance(val, dict):
                features = _features(val.get('features'), info)
                val = val.get('name')
            if not isinstance(val, str) or val in seen:
                raise SchemaError(info, "enum '%s': bad or duplicate value"
                                  % name)
            seen.add(val)
            t.values.append((val, features))
        self._add_type(t)

    def _define_struct(self, name, expr, info):
        t = Type(name, 'object', info)
        t.features = _features(expr.get('features'), info)
        t.local_members = _members(expr.get('data', {}), info, name)
        t.base_ref = expr.get('base')
        if t.base_ref is not None and not isinstance(t.base_ref, str):
            raise SchemaError(info, "struct '%s': 'base' must be a type name"
                              % name)
        self._add_type(t)

    def _define_union(self, name, expr, info):
        t = Type(name, 'object', info)
        t.features = _features(expr.get('features'), info)
        base = expr.get('base')
        if isinstance(base, dict):
            implicit = Type('q_obj_%s-base' % name, 'object', info)
            implicit.local_members = _members(base, info, name + ' base')
            self._add_type(implicit)
            base = implicit.name
        if not isinstance(base, str):
            raise SchemaError(info, "union '%s' needs a 'base'" % name)
        t.base_ref = base
        t.tag = expr.get('discriminator')
        if not isinstance(t.tag, str):
            raise SchemaError(info, "union '%s' needs a 'discriminator'"
                              % name)
        t.variant_refs = self._branches(expr.get('data'), info, name)
        self._add_type(t)

    def _define_alternate(self, name, expr, info):
        t = Type(name, 'alternate', info)
        t.features = _features(expr.get('features'), info)
        t.variant_refs = self._branches(expr.get('data'), info, name)
        if not t.variant_refs:
            raise SchemaError(info, "alternate '%s' has no branches" % name)
        self._add_type(t)

    @staticmethod
    def _branches(data, info, name):
        if not isinstance(data, dict):
            raise SchemaError(info, "'%s': 'data' must be an object" % name)
        out = []
        for case, ref in data.items():
            if isinstance(ref, dict):
                ref = ref.get('type')
            _check_typeref(ref, info, '%s branch %s' % (name, case))
            out.append((case, ref))
        return out

    def _define_command(self, name, expr, info):
        ent = Entity(name, 'command', expr, info)
        ent.arg_ref = self._entity_data(ent, expr)
        ent.ret_ref = expr.get('returns')
        if ent.ret_ref is not None:
            _check_typeref(ent.ret_ref, info, name + ' returns')
        self.entities.append(ent)

    def _define_event(self, name, expr, info):
        ent = Entity(name, 'event', expr, info)
        ent.arg_ref = self._entity_data(ent, expr)
        self.entities.append(ent)

    def _entity_data(self, ent, expr):
        ent.features = _features(expr.get('features'), ent.info)
        data = expr.get('data')
        if data is None or isinstance(data, str):
            return data
        if expr.get('boxed'):
            raise SchemaError(ent.info, "'%s': 'boxed' needs a type name"
                              % ent.name)
        members = _members(data, ent.info, ent.name)
        if not members:
            return None
        implicit = Type('q_obj_%s-arg' % ent.name, 'object', ent.info)
        implicit.local_members = members
        self._add_type(implicit)
        return implicit.name

    # -- resolution and checks

    def lookup(self, ref, info, what):
        if isinstance(ref, list):
            elem = self.lookup(ref[0], info, what)
            name = '[%s]' % elem.name
            if name not in self.types:
                arr = Type(name, 'array', info)
                arr.element = elem
                self.types[name] = arr
            return self.types[name]
        if ref not in self.types:
            raise SchemaError(info, "%s uses unknown type '%s'" % (what, ref))
        return self.types[ref]

    def _resolve_type(self, t):
        for m in t.local_members:
            m.type = self.lookup(m.typeref, m.info,
                                 "'%s' member '%s'" % (t.name, m.name))
        if t.base_ref is not None:
            t.base = self.lookup(t.base_ref, t.info, "'%s' base" % t.name)
            if t.base.meta != 'object' or t.base.tag is not None:
                raise SchemaError(t.info, "'%s': base '%s' must be a struct"
                                  % (t.name, t.base.name))
        t.variants = [(case, self.lookup(ref, t.info, "'%s' branch '%s'"
                                         % (t.name, case)))
                      for case, ref in t.variant_refs]

    def _flatten(self, t, stack):
        if t.meta != 'object' or t.members is not None:
            return
        if t in stack:
            raise SchemaError(t.info, "'%s' is its own base" % t.name)
        members = []
        if t.base:
            self._flatten(t.base, stack + [t])
            members.extend(t.base.members)
        members.extend(t.local_members)
        names = set()
        for m in members:
            if m.name in names:
                raise SchemaError(t.info, "'%s': member '%s' is defined "
                                  "twice" % (t.name, m.name))
            names.add(m.name)
        t.members = members

    def _check_variants(self, t):
        if t.meta == 'alternate':
            self._check_alternate(t)
        elif t.meta == 'object' and t.tag is not None:
            self._check_union(t)

    def _check_union(self, t):
        tag = next((m for m in t.members if m.name == t.tag), None)
        if tag is None or tag.optional or tag.type.meta != 'enum':
            raise SchemaError(t.info, "union '%s': discriminator '%s' must "
                              "be a required enum member of the base"
                              % (t.name, t.tag))
        cases = dict(t.variants)
        values = [v for v, _ in tag.type.values]
        for case, branch in t.variants:
            if case not in values:
                raise SchemaError(t.info, "union '%s': '%s' is not a value "
                                  "of '%s'" % (t.name, case,
                                               tag.type.name))
            self._flatten(branch, [])
            if branch.meta != 'object' or branch.tag is not None:
                raise SchemaError(t.info, "union '%s': branch '%s' must be "
                                  "a struct" % (t.name, case))
            for m in branch.members:
                if any(b.name == m.name for b in t.members):
                    raise SchemaError(t.info, "union '%s': branch '%s' "
                                      "redefines member '%s'"
                                      % (t.name, case, m.name))
        # Like QEMU, a value with no branch gets the empty one.
        t.variants = [(v, cases.get(v, self.empty)) for v in values]

    def _check_alternate(self, t):
        seen = {}
        for case, branch in t.variants:
            jt = alternate_json_type(branch)
            if jt is None:
                raise SchemaError(t.info, "alternate '%s': branch '%s' "
                                  "cannot be told apart" % (t.name, case))
            if jt in seen:
                raise SchemaError(t.info, "alternate '%s': branches '%s' "
                                  "and '%s' take the same JSON type"
                                  % (t.name, seen[jt], case))
            seen[jt] = case

    def _resolve_entity(self, ent):
        what = "%s '%s'" % (ent.meta, ent.name)
        if ent.arg_ref is not None:
            ent.arg_type = self.lookup(ent.arg_ref, ent.info, what)
            if ent.arg_type.meta != 'object':
                raise SchemaError(ent.info, "%s: 'data' must name a struct "
                                  "or union" % what)
            if ent.arg_type.tag is not None and not ent.expr.get('boxed'):
                raise SchemaError(ent.info, "%s: a union 'data' needs "
                                  "'boxed': true" % what)
        if ent.ret_ref is not None:
            ent.ret_type = self.lookup(ent.ret_ref, ent.info, what)


def alternate_json_type(t):
    if t.meta == 'builtin':
        if t.kind in ('QAPI_KIND_INT', 'QAPI_KIND_INT8', 'QAPI_KIND_INT16',
                      'QAPI_KIND_INT32', 'QAPI_KIND_UINT8',
                      'QAPI_KIND_UINT16', 'QAPI_KIND_UINT32',
                      'QAPI_KIND_UINT64'):
            return 'number'
        return ALT_JSON.get(t.kind)
    if t.meta == 'enum':
        return 'string'
    if t.meta == 'object':
        return 'object'
    if t.meta == 'array':
        return 'array'
    return None


# --------------------------------------------------------------------------
# Introspection (query-qmp-schema), QEMU's SchemaInfo shapes

class Introspection:
    def __init__(self, schema, unmask):
        self.schema = schema
        self.unmask = unmask
        self.names = {}
        self.used = []
        self.trees = []

    def _name(self, t):
        if t.meta == 'builtin':
            return BUILTINS[t.name][2]
        if t.meta == 'array':
            return '[%s]' % self._name(t.element)
        if self.unmask:
            return t.name
        if t.name not in self.names:
            self.names[t.name] = str(len(self.names))
        return self.names[t.name]

    def _use(self, t):
        if t.meta == 'builtin':
            t = self.schema.types[BUILTINS[t.name][2]]
        elif t.meta == 'array':
            if t.element.meta == 'builtin':
                # [int8] and [size] are [int] on the wire
                t = self.schema.lookup([BUILTINS[t.element.name][2]],
                                       None, 'array')
            self._use(t.element)
        if t not in self.used:
            self.used.append(t)
        return self._name(t)

    @staticmethod
    def _with_features(tree, features):
        if features:
            tree['features'] = list(features)
        return tree

    def build(self):
        empty = self.schema.empty
        for ent in self.schema.entities:
            tree = {'name': ent.name, 'meta-type': ent.meta,
                    'arg-type': self._use(ent.arg_type or empty)}
            if ent.meta == 'command':
                tree['ret-type'] = self._use(ent.ret_type or empty)
                if ent.expr.get('allow-oob'):
                    tree['allow-oob'] = True
            self.trees.append(self._with_features(tree, ent.features))
        i = 0
        while i < len(self.used):      # grows while we walk it
            self.trees.append(self._type_tree(self.used[i]))
            i += 1
        return self.trees

    def _type_tree(self, t):
        tree = {'name': self._name(t), 'meta-type': t.meta}
        if t.meta == 'builtin':
            tree['json-type'] = BUILTINS[t.name][1]
        elif t.meta == 'enum':
            tree['members'] = [self._with_features({'name': v}, f)
                               for v, f in t.values]
            tree['values'] = [v for v, _ in t.values]
        elif t.meta == 'array':
            tree['element-type'] = self._use(t.element)
        elif t.meta == 'alternate':
            tree['members'] = [{'type': self._use(b)} for _, b in t.variants]
        else:
            tree['members'] = [self._member(m) for m in t.members]
            if t.tag is not None:
                tree['tag'] = t.tag
                tree['variants'] = [{'case': c, 'type': self._use(b)}
                                    for c, b in t.variants]
        return self._with_features(tree, t.features)

    def _member(self, m):
        tree = {'name': m.name, 'type': self._use(m.type)}
        if m.optional:
            tree['default'] = None
        return self._with_features(tree, m.features)


# --------------------------------------------------------------------------
# C output

HEADER = common.HEADER


class TableWriter:
    """Emits the QapiSchema tables for the validator."""

    def __init__(self, schema):
        self.schema = schema
        self.order = []
        self.index = {}

    def _reach(self, t):
        if t.name in self.index:
            return
        self.index[t.name] = len(self.order)
        self.order.append(t)
        if t.meta == 'array':
            self._reach(t.element)
        for m in t.members or []:
            self._reach(m.type)
        for _, b in t.variants:
            self._reach(b)

    def gen(self, sym, introspection_json):
        self._reach(self.schema.empty)
        for ent in self.schema.entities:
            for t in (ent.arg_type, ent.ret_type):
                if t is not None:
                    self._reach(t)
        out = []
        for i, t in enumerate(self.order):
            out.extend(self._arrays(i, t))
        out.append('static const QapiType types[] = {')
        for i, t in enumerate(self.order):
            out.append(self._type(i, t))
        out.append('};')
        out.append('')
        events = [e for e in self.schema.entities if e.meta == 'event']
        out.append('static const char *const events[] = {')
        out.extend('    %s,' % c_string(e.name) for e in events)
        out.append('    NULL')
        out.append('};')
        out.append('')
        out.append('static const char introspection[] =')
        text = introspection_json
        for i in range(0, len(text), 70):
            out.append('    %s' % c_string(text[i:i + 70]))
        out.append('    ;')
        out.append('')
        out.append('static gsize cache;')
        out.append('')
        out.append('const QapiSchema %s = {' % sym)
        out.append('    .types = types,')
        out.append('    .n_types = G_N_ELEMENTS(types),')
        out.append('    .events = events,')
        out.append('    .n_events = %d,' % len(events))
        out.append('    .introspection = introspection,')
        out.append('    .cache = &cache,')
        out.append('};')
        return out

    def _arrays(self, i, t):
        out = []
        if t.meta == 'enum':
            out.append('static const char *const values_%d[] = {' % i)
            out.extend('    %s,' % c_string(v) for v, _ in t.values)
            out.append('};')
        elif t.meta == 'object' and t.members:
            out.append('static const QapiMember members_%d[] = {' % i)
            for m in t.members:
                out.append('    { %s, %d, %s },' % (
                    c_string(m.name), self.index[m.type.name],
                    'true' if m.optional else 'false'))
            out.append('};')
        if t.variants:
            out.append('static const uint32_t variants_%d[] = {' % i)
            out.append('    ' + ', '.join(str(self.index[b.name])
                                          for _, b in t.variants))
            out.append('};')
        if out:
            out.append('')
        return out

    def _type(self, i, t):
        fields = ['.name = %s' % c_string(t.name)]
        if t.meta == 'builtin':
            fields.append('.kind = %s' % t.kind)
        elif t.meta == 'enum':
            fields += ['.kind = QAPI_KIND_ENUM', '.values = values_%d' % i,
                       '.n_values = %d' % len(t.values)]
        elif t.meta == 'array':
            fields += ['.kind = QAPI_KIND_ARRAY',
                       '.element = %d' % self.index[t.element.name]]
        elif t.meta == 'alternate':
            fields += ['.kind = QAPI_KIND_ALTERNATE',
                       '.variants = variants_%d' % i,
                       '.n_variants = %d' % len(t.variants)]
        else:
            fields.append('.kind = QAPI_KIND_OBJECT')
            if t.members:
                fields += ['.members = members_%d' % i,
                           '.n_members = %d' % len(t.members)]
            if t.tag is not None:
                tag = [m.name for m in t.members].index(t.tag)
                fields += ['.tag = %d' % tag,
                           '.variants = variants_%d' % i,
                           '.n_variants = %d' % len(t.variants)]
            else:
                fields.append('.tag = -1')
        body = ''.join('        %s,\n' % f for f in fields)
        return '    [%d] = {\n%s    },' % (i, body)


def gen_introspect(schema, source, symbol, unmask):
    trees = Introspection(schema, unmask).build()
    text = json.dumps(trees, separators=(',', ':'))
    out = [HEADER % source, '#include "qapi/qapi-schema-priv.h"', '']
    out += TableWriter(schema).gen(symbol, text)
    return '\n'.join(out) + '\n'


def write_file(path, text):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description='fdsetd QAPI generator')
    ap.add_argument('schema')
    ap.add_argument('-o', '--output-dir', default='.')
    ap.add_argument('-p', '--prefix', default='',
                    help='prefix for output files and the schema symbol')
    ap.add_argument('-u', '--unmask-non-abi-names', action='store_true',
                    help='keep type names in query-qmp-schema')
    ap.add_argument('--schema-symbol', default=None,
                    help='C name of the QapiSchema (default: from --prefix)')
    ap.add_argument('--stubs', action='store_true',
                    help='also write failing handler stubs')
    args = ap.parse_args()
    try:
        schema = Schema(read_schema(args.schema))
    except SchemaError as e:
        print('qapi-gen: %s' % e, file=sys.stderr)
        return 1
    source = os.path.basename(args.schema)
    outdir = args.output_dir
    os.makedirs(outdir, exist_ok=True)
    pre = args.prefix
    common.PREFIX = pre
    symbol = args.schema_symbol or pre.replace('-', '_') + 'qapi_schema'
    outputs = {
        'qapi-types.h': types.gen_types_h,
        'qapi-types.c': types.gen_types_c,
        'qapi-visit.h': visit.gen_visit_h,
        'qapi-visit.c': visit.gen_visit_c,
        'qapi-commands.h': commands.gen_commands_h,
        'qapi-commands.c': commands.gen_commands_c,
        'qapi-events.h': commands.gen_events_h,
        'qapi-events.c': commands.gen_events_c,
    }
    if args.stubs:
        outputs['qapi-stubs.c'] = commands.gen_stubs
    for name, gen in outputs.items():
        write_file(os.path.join(outdir, pre + name), gen(schema, source))
    write_file(os.path.join(outdir, pre + 'qapi-introspect.c'),
               gen_introspect(schema, source, symbol,
                              args.unmask_non_abi_names))
    return 0


if __name__ == '__main__':
    sys.exit(main())
