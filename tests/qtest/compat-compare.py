#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenarios where fdsetd follows QEMU 7.2's wire behaviour, run on either
daemon (images reached only through add-fd), printing what a client sees
so that the two runs can be diffed:

    compat-compare.py SCENARIO qemu > a
    compat-compare.py SCENARIO fdsetd [BINARY] > b
    diff a b

Not run by meson (it needs QEMU 7.2).  The recorded expectations in the
qtests come from the qemu runs.  Scenarios: see SCENARIOS below.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        for _ in range(200):
            try:
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.buf = b''
        self.trace = []        # replies and events, in arrival order
        self._read()           # greeting
        self.cmd('qmp_capabilities')

    def _read(self):
        while b'\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError('QMP connection closed')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        msg = json.loads(line)
        msg.pop('timestamp', None)
        return msg

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
            msg = self._read()
            self.trace.append(msg)
            if 'event' not in msg:
                return msg

    def events(self, wait=0.5):
        """Events that arrive within @wait seconds (also traced)."""
        out = []
        self.sock.settimeout(wait)
        try:
            while True:
                msg = self._read()
                self.trace.append(msg)
                out.append(msg)
        except socket.timeout:
            pass
        self.sock.settimeout(None)
        return out


class Daemon:
    def __init__(self, kind, binary=None):
        self.dir = tempfile.mkdtemp(prefix='compat-%s-' % kind)
        sock = self.path('qmp.sock')
        if kind == 'qemu':
            argv = [binary or 'qemu-system-x86_64', '-machine', 'none',
                    '-nodefaults', '-display', 'none']
        else:
            argv = [binary or os.path.join(HERE, '../../build/fdsetd')]
        argv += ['-qmp', 'unix:%s,server=on,wait=off' % sock]
        self.proc = subprocess.Popen(argv, cwd=self.dir,
                                     stdout=subprocess.DEVNULL)
        self.qmp = Qmp(sock)

    def path(self, name):
        return os.path.join(self.dir, name)

    def sh(self, cmd):
        return subprocess.run(cmd, shell=True, cwd=self.dir, text=True,
                              capture_output=True).stdout

    def cmd(self, _name, fds=None, **args):
        return self.qmp.cmd(_name, fds, **args)

    def add_fd(self, name, fdset, mode=os.O_RDWR):
        fd = os.open(self.path(name), mode | os.O_CLOEXEC)
        try:
            return self.cmd('add-fd', [fd], **{'fdset-id': fdset})
        finally:
            os.close(fd)

    def hmp(self, line):
        return self.cmd('human-monitor-command', **{'command-line': line})

    def nbd_start(self):
        return self.cmd('nbd-server-start', addr={
            'type': 'unix', 'data': {'path': self.path('nbd.sock')}})

    def quit(self):
        self.cmd('quit')
        self.proc.wait(10)


def pr(*args):
    print(*(a if isinstance(a, str) else json.dumps(a) for a in args))
    sys.stdout.flush()


def qcow2_node(d, name, size, fdset=1, args=''):
    d.sh('qemu-img create -q -f qcow2 %s %s.qcow2 %s' % (args, name, size))
    d.add_fd(name + '.qcow2', fdset)
    return d.cmd('blockdev-add', driver='qcow2', **{'node-name': name},
                 file={'driver': 'file', 'filename': '/dev/fdset/%d' % fdset})


# ---- 1. NBD meta context ids ----

def contexts(d):
    """pull-test.c's test_meta_contexts_as_qemu: pull-client.py contexts."""
    qcow2_node(d, 'disk', '4M')
    d.nbd_start()
    d.cmd('block-dirty-bitmap-add', node='disk', name='b', granularity=65536)
    d.cmd('block-dirty-bitmap-add', node='disk', name='c', granularity=4096)
    for w in ('write 0 512', 'write 196608 65536', 'write 262144 1',
              'write 1048576 200000', 'write 4190208 4096'):
        d.hmp('qemu-io disk "%s"' % w)
    for n in 'bc':
        d.cmd('block-dirty-bitmap-disable', node='disk', name=n)
    d.cmd('block-export-add', type='nbd', id='e0', **{'node-name': 'disk'},
          bitmaps=['b', 'c'], **{'allocation-depth': True})
    out = subprocess.run(['/usr/bin/python3', os.path.join(HERE,
                          'pull-client.py'), 'contexts', d.path('nbd.sock'),
                          'disk'], capture_output=True, text=True)
    sys.stdout.write(out.stdout)


def context_matrix(d):
    """SET_META_CONTEXT ids for exports with and without allocation-depth
    and bitmaps in either order."""
    import importlib
    client = importlib.import_module('pull-client')
    qcow2_node(d, 'disk', '4M')
    d.nbd_start()
    for n, g in (('b', 65536), ('c', 4096)):
        d.cmd('block-dirty-bitmap-add', node='disk', name=n, granularity=g)
        d.cmd('block-dirty-bitmap-disable', node='disk', name=n)
    configs = [{'bitmaps': ['b', 'c'], 'allocation-depth': True},
               {'bitmaps': ['c']},
               {'bitmaps': ['c', 'b'], 'allocation-depth': False},
               {'allocation-depth': True}, {}]
    queries = [['base:allocation'], ['qemu:allocation-depth'],
               ['qemu:dirty-bitmap:b'], ['qemu:dirty-bitmap:c'],
               ['qemu:dirty-bitmap:c', 'qemu:dirty-bitmap:b',
                'qemu:allocation-depth', 'base:allocation']]
    for k, extra in enumerate(configs):
        pr(extra, d.cmd('block-export-add', type='nbd', id='e%d' % k,
                        name='x', **{'node-name': 'disk'}, **extra))
        for q in queries:
            pr(q, client.set_contexts(d.path('nbd.sock'), 'x', q))
        time.sleep(0.5)  # let the server see the clients go
        pr(d.cmd('block-export-del', id='e%d' % k))
        d.qmp.events()


# ---- 2. BLOCK_EXPORT_DELETED and the reply ----

def nbd_client(d, export):
    """A client past NBD_OPT_GO on @export, left connected."""
    import importlib
    client = importlib.import_module('pull-client')
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.path('nbd.sock'))
    client.recv_exact(s, 18)
    s.sendall(b'\0\0\0\3')
    if not client.go(s, export):
        raise SystemExit('GO refused')
    return s


def trace_cmd(d, _name, **args):
    """@_name's reply and the events around it, in arrival order."""
    start = len(d.qmp.trace)
    d.cmd(_name, **args)
    d.qmp.events()
    for msg in d.qmp.trace[start:]:
        pr(' ', msg)


def export_deleted(d):
    qcow2_node(d, 'disk', '4M')
    pr('no server'); trace_cmd(d, 'nbd-server-stop')
    d.nbd_start()
    for mode in (None, 'safe', 'hard'):
        args = {'mode': mode} if mode else {}
        pr('del, no client', args)
        d.cmd('block-export-add', type='nbd', id='e0', **{'node-name': 'disk'})
        trace_cmd(d, 'block-export-del', id='e0', **args)
        trace_cmd(d, 'query-block-exports')
    for mode in ('safe', 'hard'):
        pr('del, a client attached', mode)
        d.cmd('block-export-add', type='nbd', id='e0', **{'node-name': 'disk'})
        s = nbd_client(d, 'disk')
        trace_cmd(d, 'block-export-del', id='e0', mode=mode)
        trace_cmd(d, 'block-export-del', id='e0', mode=mode)
        trace_cmd(d, 'query-block-exports')
        pr('client closes')
        s.close()
        d.qmp.events(1.0)
        trace_cmd(d, 'query-block-exports')
        if mode == 'safe':
            pr('del once the client is gone')
            trace_cmd(d, 'block-export-del', id='e0')
    pr('nbd-server-remove, no client')
    d.cmd('nbd-server-add', device='disk', name='n0')
    trace_cmd(d, 'nbd-server-remove', name='n0')
    pr('nbd-server-remove hard, a client')
    d.cmd('nbd-server-add', device='disk', name='n0')
    s = nbd_client(d, 'n0')
    trace_cmd(d, 'nbd-server-remove', name='n0')
    trace_cmd(d, 'nbd-server-remove', name='n0', mode='hard')
    s.close()
    d.qmp.events(1.0)
    pr('nbd-server-stop, two exports, no client')
    for i in (0, 1):
        d.cmd('block-export-add', type='nbd', id='e%d' % i,
              name='x%d' % i, **{'node-name': 'disk'})
    trace_cmd(d, 'nbd-server-stop')
    trace_cmd(d, 'query-block-exports')
    pr('nbd-server-stop, e0 with a client, e1 without')
    d.nbd_start()
    d.cmd('block-export-add', type='nbd', id='e0', **{'node-name': 'disk'})
    d.cmd('block-export-add', type='nbd', id='e1', name='x1',
          **{'node-name': 'disk'})
    s = nbd_client(d, 'disk')
    trace_cmd(d, 'nbd-server-stop')
    trace_cmd(d, 'query-block-exports')
    s.close()
    d.qmp.events(1.0)
    trace_cmd(d, 'query-block-exports')


# ---- 3. block_resize of file and raw nodes ----

def node_sizes(d):
    r = d.cmd('query-named-block-nodes', flat=True)['return']
    return {n['node-name']: n['image']['virtual-size'] for n in r}


def export_size(d, node):
    d.nbd_start()
    d.cmd('block-export-add', type='nbd', id='e0', **{'node-name': node})
    out = d.sh("nbdinfo --size 'nbd+unix:///%s?socket=nbd.sock'" % node)
    d.cmd('block-export-del', id='e0')
    d.qmp.events()
    d.cmd('nbd-server-stop')
    return out.strip()


def resize(d):
    for k, (top, start) in enumerate((('file', 1048576), ('raw', 1048576),
                                      ('file', 1000000), ('raw', 1000000))):
        img = 'r%d.img' % k
        d.sh('truncate -s %d %s' % (start, img))
        d.add_fd(img, 10 + k)
        f, r = 'f%d' % k, 'r%d' % k
        d.cmd('blockdev-add', driver='file', **{'node-name': f},
              filename='/dev/fdset/%d' % (10 + k))
        if top == 'raw':
            d.cmd('blockdev-add', driver='raw', **{'node-name': r}, file=f)
        node = f if top == 'file' else r
        pr(top, 'start', start, node_sizes(d))
        for size in (1000000, 2000001, 2097152, 500000, 524288, 511, 1):
            pr(top, size, d.cmd('block_resize', **{'node-name': node},
                                size=size), node_sizes(d),
               os.stat(d.path(img)).st_size, export_size(d, node))
        d.cmd('block_resize', **{'node-name': node}, size=1000000)
        d.hmp('qemu-io %s "write -P 0x5a 999424 1024"' % node)
        d.nbd_start()
        d.cmd('block-export-add', type='nbd', id='e0', **{'node-name': node})
        uri = "'nbd+unix:///%s?socket=nbd.sock'" % node
        pr(top, 'map', d.sh('nbdinfo --map %s' % uri).split('\n'))
        pr(top, 'tail', d.sh('qemu-io -r -f raw -c "read -P 0x5a 999424 '
                             '1024" %s | head -1' % uri).strip(),
           os.stat(d.path(img)).st_size)
        d.cmd('block-export-del', id='e0')
        d.qmp.events()
        d.cmd('nbd-server-stop')
        pr(top, 'qemu-img info', json.loads(d.sh(
            'qemu-img info -U --output=json ' + img))['virtual-size'])
        if top == 'raw':
            d.cmd('blockdev-del', **{'node-name': r})
        d.cmd('blockdev-del', **{'node-name': f})


# ---- 5. backup sync=none, cancelled ----

def jobs(d):
    return [{k: j.get(k) for k in ('id', 'type', 'status', 'error',
                                   'current-progress', 'total-progress')}
            for j in d.cmd('query-jobs')['return']]


def backup_none_cancel(d):
    for write in (False, True):
        qcow2_node(d, 'src', '4M', 1)
        qcow2_node(d, 'tgt', '4M', 2)
        pr('write' if write else 'no write', d.cmd(
            'blockdev-backup', **{'job-id': 'j0'}, device='src', target='tgt',
            sync='none', **{'auto-dismiss': False}))
        d.qmp.events(0.3)
        if write:
            d.hmp('qemu-io src "write 0 64k"')
        pr(' ', jobs(d))
        start = len(d.qmp.trace)
        d.cmd('block-job-cancel', device='j0')
        d.qmp.events(1.0)
        for msg in d.qmp.trace[start:]:
            pr(' ', msg)
        pr(' ', jobs(d))
        d.cmd('job-dismiss', id='j0')
        d.qmp.events(0.3)
        for n in ('src', 'tgt'):
            d.cmd('blockdev-del', **{'node-name': n})
        for n in (1, 2):
            d.cmd('remove-fd', **{'fdset-id': n})


# ---- 6. qcow2 bitmap directory order ----

def bitmap_names(d, node):
    for n in d.cmd('query-named-block-nodes', flat=True)['return']:
        if n['node-name'] == node:
            return [b['name'] for b in n.get('dirty-bitmaps', [])]
    return None


def bitmap_order(d):
    d.sh('qemu-img create -q -f qcow2 disk.qcow2 4M')
    d.add_fd('disk.qcow2', 1)

    def open_disk():
        d.cmd('blockdev-add', driver='qcow2', **{'node-name': 'disk'},
              file={'driver': 'file', 'filename': '/dev/fdset/1'})

    def close_disk():
        d.cmd('blockdev-del', **{'node-name': 'disk'})

    def on_disk():
        info = json.loads(d.sh('qemu-img info -U --output=json disk.qcow2'))
        return [b['name'] for b in info.get('format-specific', {})
                .get('data', {}).get('bitmaps', [])]

    open_disk()
    for name in ('a', 'b', 'c'):
        d.cmd('block-dirty-bitmap-add', node='disk', name=name,
              persistent=True)
    pr('added a b c', bitmap_names(d, 'disk'))
    close_disk()
    pr('on disk', on_disk())
    open_disk()
    pr('reopened', bitmap_names(d, 'disk'))
    d.cmd('block-dirty-bitmap-add', node='disk', name='d', persistent=True)
    d.cmd('block-dirty-bitmap-remove', node='disk', name='b')
    pr('+d -b', bitmap_names(d, 'disk'))
    close_disk()
    pr('on disk', on_disk())
    open_disk()
    pr('reopened', bitmap_names(d, 'disk'))
    close_disk()
    d.sh('qemu-img bitmap --add disk.qcow2 e')
    pr('qemu-img added e', on_disk())
    open_disk()
    pr('reopened', bitmap_names(d, 'disk'))
    close_disk()


# ---- 4. qcow2 shrink ----

def qcow2_header(d, img):
    import struct
    with open(d.path(img), 'rb') as f:
        h = f.read(72)
    size, = struct.unpack('>Q', h[24:32])
    l1_size, l1_off = struct.unpack('>IQ', h[36:48])
    rt_off, rt_clusters = struct.unpack('>QI', h[48:60])
    return {'size': size, 'l1_size': l1_size, 'l1_offset': l1_off,
            'refcount_table_offset': rt_off,
            'refcount_table_clusters': rt_clusters,
            'file': os.stat(d.path(img)).st_size}


def shrink_case(d, k, create, writes, size, extra=None):
    img = 's%d.qcow2' % k
    d.sh('qemu-img create -q -f qcow2 %s' % create.replace('x', img))
    for w in writes:
        d.sh("qemu-io -f qcow2 -c '%s' %s" % (w, img))
    if extra:
        d.sh(extra % img)
    d.add_fd(img, 20 + k)
    node = 's%d' % k
    d.cmd('blockdev-add', driver='qcow2', **{'node-name': node},
          file={'driver': 'file', 'filename': '/dev/fdset/%d' % (20 + k)})
    pr(k, create, writes, size)
    pr('  resize', d.cmd('block_resize', **{'node-name': node}, size=size))
    pr('  node', node_sizes(d).get(node), bitmap_names(d, node))
    d.cmd('blockdev-del', **{'node-name': node})
    pr('  header', qcow2_header(d, img))
    check = d.sh('qemu-img check %s 2>&1; echo rc=$?' % img)
    pr('  check', [l for l in check.split('\n') if l and
                   not l.startswith('Image end offset')])
    pr('  map', d.sh('qemu-img map --output=json %s' % img).split('\n'))


def shrink(d):
    data = ['write -P 0x11 0 1M', 'write -P 0x22 2G 64k',
            'write -P 0x33 4032M 1M']
    shrink_case(d, 0, '-o cluster_size=65536 x 4G', data, 1048576)
    shrink_case(d, 1, 'x 4G', data, 2147483648 + 32768)
    shrink_case(d, 2, 'x 4G', data, 1000448)
    shrink_case(d, 3, '-o cluster_size=512 x 64M',
                ['write -P 0x44 0 64M'], 1048576)
    shrink_case(d, 4, 'x 4G', data, 1048576,
                'qemu-img snapshot -c snap0 %s')
    shrink_case(d, 5, 'x 4G', data, 1048576,
                'qemu-img bitmap --add %s bm0')
    shrink_case(d, 6, 'x 4G', data, 1000)
    shrink_case(d, 7, '-o refcount_bits=1 x 4G', data, 1048576)
    shrink_case(d, 8, 'x 1M', ['write -P 0x55 0 1M'], 65536)


SCENARIOS = {
    'shrink': shrink,
    'bitmap-order': bitmap_order,
    'backup-none-cancel': backup_none_cancel,
    'resize': resize,
    'export-deleted': export_deleted,
    'contexts': contexts,
    'context-matrix': context_matrix,
}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in SCENARIOS:
        raise SystemExit('usage: compat-compare.py {%s} qemu|fdsetd '
                         '[BINARY]' % '|'.join(SCENARIOS))
    d = Daemon(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    try:
        SCENARIOS[sys.argv[1]](d)
    finally:
        d.quit()


if __name__ == '__main__':
    main()
