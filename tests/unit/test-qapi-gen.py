#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/qapi-gen.py: what it accepts, and what it refuses with a message
that names the file and line.  Usage: test-qapi-gen.py PATH-TO-qapi-gen.py
"""

import os
import subprocess
import sys
import tempfile
import unittest

GEN = None


def run(files, *extra):
    """Write @files (name -> text) to a temp dir; run the generator on the
    first one.  Returns (returncode, stderr, {output name: text})."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            path = os.path.join(tmp, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)
        out = os.path.join(tmp, 'out')
        first = os.path.join(tmp, next(iter(files)))
        proc = subprocess.run([sys.executable, GEN, '-o', out, *extra, first],
                              capture_output=True, text=True, check=False)
        outputs = {}
        if os.path.isdir(out):
            for name in os.listdir(out):
                with open(os.path.join(out, name), encoding='utf-8') as f:
                    outputs[name] = f.read()
        return proc.returncode, proc.stderr, outputs


class Accepts(unittest.TestCase):
    def test_placeholder_modules(self):
        rc, err, out = run({
            'top.json': "{ 'include': 'a.json' }\n{ 'include': 'b.json' }\n",
            'a.json': '# -*- Mode: Python -*-\n',
            'b.json': '',
        })
        self.assertEqual(rc, 0, err)
        self.assertIn('qmp_command_table_len = 0;',
                      out['qapi-commands.c'])
        self.assertIn('const QapiSchema qapi_schema', out['qapi-introspect.c'])

    def test_include_once_relative(self):
        rc, err, out = run({
            'top.json': "{ 'include': 'sub/a.json' }\n"
                        "{ 'include': 'b.json' }\n",
            'sub/a.json': "{ 'include': '../b.json' }\n"
                          "{ 'command': 'x-a', 'data': { 'e': 'E' } }\n",
            'b.json': "{ 'enum': 'E', 'data': [ 'one' ] }\n",
        })
        self.assertEqual(rc, 0, err)
        self.assertIn('qmp_x_a(E e, GError **errp)', out['qapi-commands.h'])

    def test_language_features(self):
        rc, err, out = run({'s.json': """
##
# @E: doc comments are skipped
##
{ 'enum': 'E', 'prefix': 'PFX',
  'data': [ 'a', { 'name': 'b', 'if': 'CONFIG_B',
                   'features': [ { 'name': 'deprecated', 'if': 'X' } ] } ] }
{ 'struct': 'S', 'data': { 'k': 'E', '*l': { 'type': [ 'str' ],
                                              'if': { 'not': 'Y' } } },
  'features': [ 'unstable' ] }
{ 'union': 'U', 'base': { 'k': 'E' }, 'discriminator': 'k',
  'data': { 'a': { 'type': 'S2', 'if': { 'all': [ 'P', 'Q' ] } } } }
{ 'struct': 'S2', 'base': 'S3', 'data': { 'z': 'int' } }
{ 'struct': 'S3', 'data': { 'w': 'bool' } }
{ 'alternate': 'A', 'data': { 'u': 'U', 's': 'str', 'n': 'null' } }
{ 'command': 'c-1.x', 'data': 'U', 'boxed': true, 'coroutine': true,
  'allow-oob': true, 'allow-preconfig': true, 'returns': [ 'A' ] }
{ 'command': 'quiet', 'success-response': false, 'gen': false }
{ 'event': 'EV', 'data': 'S', 'boxed': true }
{ 'pragma': { 'doc-required': true } }
"""}, '--stubs')
        self.assertEqual(rc, 0, err)
        cmds = out['qapi-commands.c']
        self.assertIn('.fn = qmp_marshal_c_1_x,', cmds)
        self.assertIn('.arg_type = "U",', cmds)
        self.assertIn('.allow_preconfig = true,', cmds)
        self.assertIn('.success_response = false,', cmds)
        self.assertIn('bool qmp_marshal_quiet(', out['qapi-stubs.c'])
        self.assertIn('AList *qmp_c_1_x(U *arg, GError **errp)',
                      out['qapi-commands.h'])
        self.assertIn('void qapi_event_send_ev(S *arg);',
                      out['qapi-events.h'])

    def test_escapes(self):
        rc, err, out = run({'s.json': "{ 'enum': 'E', 'data': [ 'it\\'s' ] }"
                                      "\n{ 'command': 'c', 'data': "
                                      "{ 'e': 'E' } }\n"}, '-u')
        self.assertEqual(rc, 0, err)
        self.assertIn("it's", out['qapi-introspect.c'])


class Refuses(unittest.TestCase):
    def refused(self, text, message, line=1):
        rc, err, _ = run({'bad.json': text})
        self.assertEqual(rc, 1)
        self.assertIn('bad.json:%d: ' % line, err)
        self.assertIn(message, err)

    def test_unknown_type(self):
        self.refused("{ 'struct': 'A', 'data': { 'x': 'Nope' } }",
                     "unknown type 'Nope'")

    def test_redefinition(self):
        self.refused("{ 'enum': 'A', 'data': [] }\n"
                     "{ 'struct': 'A', 'data': {} }", "already defined", 2)

    def test_syntax(self):
        self.refused("{ 'struct': 'A',\n  'data': { 'x': 'int' }\n",
                     "expected ','", 3)
        self.refused("{ 'struct': \"A\" }", 'stray')
        self.refused("{ 'enum': 'A', 'data': [ 'a\n' ] }", 'quote')
        self.refused("[ 'x' ]", 'must be an object')
        self.refused("{ 'struct': 'A', 'struct': 'B' }", 'duplicate key')

    def test_bad_discriminator(self):
        self.refused("{ 'union': 'U', 'base': { 'k': 'str' },"
                     " 'discriminator': 'k', 'data': {} }",
                     'must be a required enum member')

    def test_branch_not_enum_value(self):
        self.refused("{ 'enum': 'E', 'data': [ 'a' ] }\n"
                     "{ 'struct': 'S', 'data': {} }\n"
                     "{ 'union': 'U', 'base': { 'k': 'E' },"
                     " 'discriminator': 'k', 'data': { 'b': 'S' } }",
                     "'b' is not a value of 'E'", 3)

    def test_ambiguous_alternate(self):
        self.refused("{ 'alternate': 'A', 'data': { 'a': 'int',"
                     " 'b': 'number' } }", 'same JSON type')

    def test_member_twice(self):
        self.refused("{ 'struct': 'A', 'data': { 'x': 'int' } }\n"
                     "{ 'struct': 'B', 'base': 'A', 'data': { 'x': 'int' } }",
                     "member 'x' is defined twice", 2)

    def test_own_base(self):
        self.refused("{ 'struct': 'A', 'base': 'A', 'data': {} }",
                     'its own base')

    def test_union_needs_boxed(self):
        self.refused("{ 'enum': 'E', 'data': [ 'a' ] }\n"
                     "{ 'union': 'U', 'base': { 'k': 'E' },"
                     " 'discriminator': 'k', 'data': {} }\n"
                     "{ 'command': 'c', 'data': 'U' }", "needs 'boxed'", 3)

    def test_missing_include(self):
        self.refused("\n{ 'include': 'nope.json' }", "can't read", 2)


if __name__ == '__main__':
    GEN = sys.argv.pop(1)
    unittest.main(verbosity=1)
