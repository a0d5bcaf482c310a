#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Block jobs in the graph, on fdsetd or QEMU 7.2 (qemu-system-x86_64
-machine none): for each job (non-active commit with and without
filter-node-name, active commit, stream, mirror, backup) started with a low
speed on a 3-layer chain passed as fdsets, print query-named-block-nodes,
x-debug-query-block-graph and query-block-jobs while it runs, normalised
(node ids and implicit node numbers dropped, lists sorted) for diff:

    job-graph-compare.py fdsetd build/fdsetd > a
    job-graph-compare.py qemu > b
    diff a b

Not run by meson (it needs QEMU 7.2).  Give scenario names after the
binary to run only those.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        for _ in range(200):
            try:
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.rfile = self.sock.makefile('r')
        self.rfile.readline()  # greeting
        self.cmd('qmp_capabilities')

    def cmd(self, _name, fds=None, **args):
        msg = {'execute': _name}
        if args:
            msg['arguments'] = args
        data = json.dumps(msg).encode()
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.sendall(data)
        while True:
            reply = json.loads(self.rfile.readline())
            if 'event' not in reply:
                return reply


def graph(reply):
    """x-debug-query-block-graph with node ids replaced by names."""
    g = reply['return']
    names = {n['id']: '%s:%s' % (n['type'], n['name']) for n in g['nodes']}
    nodes = sorted(names.values())
    edges = sorted('%s -(%s)-> %s perm=%s shared=%s' % (
        names[e['parent']], e['name'], names[e['child']],
        ','.join(sorted(e['perm'])), ','.join(sorted(e['shared-perm'])))
        for e in g['edges'])
    return {'nodes': nodes, 'edges': edges}


def nodes(reply):
    """One line per node: name drv ro file-name backing depth, chain."""
    out = []
    for n in reply['return']:
        chain = []
        img = n.get('image')
        while img:
            chain.append(img.get('filename'))
            img = img.get('backing-image')
        out.append('%s %s ro=%s file=%s backing_file=%s depth=%s chain=%s' % (
            n.get('node-name'), n.get('drv'), n.get('ro'), n.get('file'),
            n.get('backing_file'), n.get('backing_file_depth'),
            ' | '.join(str(c) for c in chain)))
    return sorted(out)


def jobs(reply):
    out = []
    for j in reply.get('return', []):
        out.append({k: j.get(k) for k in ('type', 'device', 'status', 'ready',
                                         'paused', 'speed', 'io-status')})
    return out


class Run:
    def __init__(self, daemon, binary):
        self.dir = tempfile.mkdtemp(prefix='job-graph-')
        sock = os.path.join(self.dir, 'qmp.sock')
        argv = [binary or '/usr/bin/qemu-system-x86_64', '-machine', 'none',
                '-nodefaults', '-display', 'none'] if daemon == 'qemu' \
            else [binary or 'build/fdsetd']
        argv += ['-qmp', 'unix:%s,server=on,wait=off' % sock]
        self.proc = subprocess.Popen(argv)
        self.qmp = Qmp(sock)
        self.set = 0

    def sh(self, cmd):
        subprocess.run(cmd, shell=True, check=True, cwd=self.dir,
                       capture_output=True)

    def add(self, node, name, fmt, backing=None, rw=False):
        """A file node f-<node> on a new fdset, and a format node."""
        fd = os.open(os.path.join(self.dir, name),
                     os.O_RDWR if rw else os.O_RDONLY)
        r = self.qmp.cmd('add-fd', [fd], **{'fdset-id': self.set})
        os.close(fd)
        assert 'return' in r, r
        args = {'driver': 'file', 'node-name': 'f-' + node,
                'filename': '/dev/fdset/%d' % self.set, 'read-only': not rw}
        self.set += 1
        assert 'return' in self.qmp.cmd('blockdev-add', **args)
        args = {'driver': fmt, 'node-name': node, 'file': 'f-' + node,
                'read-only': not rw}
        if fmt == 'qcow2':
            args['backing'] = backing
        r = self.qmp.cmd('blockdev-add', **args)
        assert 'return' in r, r

    def chain(self):
        """base (raw) <- mid <- top, and tgt (empty), one O_RDWR member
        each."""
        self.sh("qemu-img create -q -f raw base.img 64M && "
                "qemu-io -f raw -c 'write -P 0x11 0 64M' base.img && "
                "qemu-img create -q -f qcow2 -b base.img -F raw mid.qcow2 && "
                "qemu-io -f qcow2 -c 'write -P 0x22 0 32M' mid.qcow2 && "
                "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 "
                "&& qemu-io -f qcow2 -c 'write -P 0x33 0 16M' top.qcow2 && "
                "qemu-img create -q -f qcow2 tgt.qcow2 64M")
        # writable backing nodes: QEMU 7.2's commit does not reopen a
        # read-only format node (libvirt blockdev-reopens it first)
        self.add('base', 'base.img', 'raw', rw=True)
        self.add('mid', 'mid.qcow2', 'qcow2', 'base', rw=True)
        self.add('top', 'top.qcow2', 'qcow2', 'mid', rw=True)
        self.add('tgt', 'tgt.qcow2', 'qcow2', None, rw=True)

    def show(self, title, start):
        print('==== %s' % title)
        print('start: %s' % json.dumps(start))
        out = {
            'nodes': nodes(self.qmp.cmd('query-named-block-nodes')),
            'flat-names': sorted(n['node-name'] for n in self.qmp.cmd(
                'query-named-block-nodes', flat=True)['return']),
            'graph': graph(self.qmp.cmd('x-debug-query-block-graph')),
            'jobs': jobs(self.qmp.cmd('query-block-jobs')),
        }
        # implicit node names are "#block" + a counter and a random number
        print(re.sub(r'#block[0-9]+', '#block',
                     json.dumps(out, indent=1, sort_keys=True)))

    def close(self):
        self.qmp.cmd('quit')
        self.proc.wait()
        self.sh('rm -rf %s' % self.dir)


SPEED = 1  # bytes/s: the first chunk, then the job waits

SCENARIOS = {
    'commit': ('block-commit', {'job-id': 'j', 'device': 'top',
                                'top-node': 'mid', 'base-node': 'base',
                                'speed': SPEED}),
    'commit-filter': ('block-commit', {'job-id': 'j', 'device': 'top',
                                       'top-node': 'mid', 'base-node': 'base',
                                       'filter-node-name': 'ct',
                                       'speed': SPEED}),
    'commit-active': ('block-commit', {'job-id': 'j', 'device': 'top',
                                       'base-node': 'mid', 'speed': SPEED}),
    'commit-active-filter': ('block-commit', {'job-id': 'j', 'device': 'top',
                                              'base-node': 'mid',
                                              'filter-node-name': 'mt',
                                              'speed': SPEED}),
    'stream': ('block-stream', {'job-id': 'j', 'device': 'top',
                                'base-node': 'base', 'speed': SPEED}),
    'stream-filter': ('block-stream', {'job-id': 'j', 'device': 'top',
                                       'base-node': 'base',
                                       'filter-node-name': 'cor',
                                       'speed': SPEED}),
    'mirror': ('blockdev-mirror', {'job-id': 'j', 'device': 'top',
                                   'target': 'tgt', 'sync': 'full',
                                   'speed': SPEED}),
    'mirror-filter': ('blockdev-mirror', {'job-id': 'j', 'device': 'top',
                                          'target': 'tgt', 'sync': 'full',
                                          'filter-node-name': 'mt',
                                          'speed': SPEED}),
    'backup': ('blockdev-backup', {'job-id': 'j', 'device': 'top',
                                   'target': 'tgt', 'sync': 'full',
                                   'speed': SPEED}),
    'backup-filter': ('blockdev-backup', {'job-id': 'j', 'device': 'top',
                                          'target': 'tgt', 'sync': 'full',
                                          'filter-node-name': 'cbw',
                                          'speed': SPEED}),
}


def main():
    daemon = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 and '/' in sys.argv[2] \
        else None
    wanted = [a for a in sys.argv[2:] if a in SCENARIOS] or list(SCENARIOS)
    for name in wanted:
        run = Run(daemon, binary)
        run.chain()
        cmd, args = SCENARIOS[name]
        reply = run.qmp.cmd(cmd, **args)
        time.sleep(0.3)
        run.show(name, reply)
        run.close()


if __name__ == '__main__':
    main()
