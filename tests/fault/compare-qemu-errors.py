#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Injected errors (blkdebug, errno ERRNO, default 28) seen by clients on
# QEMU 7.2 (qemu-system-x86_64 -machine none) and on fdsetd side by side:
# an NBD client's write (errno, and any BLOCK_IO_ERROR event), jobs
# (stream, mirror onto a failing target, blockdev-create) with their
# on-error policies: events and error texts.  Not CI: a measurement.
# Usage: tests/fault/compare-qemu-errors.py (FDSETD=path, ERRNO=n,
# ONLY_NBD=1); FULL=1 unshare -m ... : real ENOSPC on a 2 MiB tmpfs (root).
import json, os, socket, subprocess, sys, tempfile, time
sys.path.insert(0, '/usr/lib/python3/dist-packages')
import nbd

TMP = tempfile.mkdtemp(prefix='errors-cmp-')
FDSETD = os.environ.get('FDSETD', os.path.join(os.path.dirname(__file__),
                                               '../../build/fdsetd'))
ERRNO = int(os.environ.get('ERRNO', '28'))


class Session:
    def __init__(self, exe):
        self.path = os.path.join(TMP, 's.sock')
        if os.path.exists(self.path):
            os.unlink(self.path)
        qmp = 'unix:%s,server=on,wait=off' % self.path
        args = ([exe, '-machine', 'none', '-nodefaults', '-display', 'none',
                 '-qmp', qmp] if 'qemu' in exe else [exe, '--qmp', qmp])
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.s = socket.socket(socket.AF_UNIX)
        for _ in range(100):
            try:
                self.s.connect(self.path)
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile('rw')
        self.f.readline()
        self.events = []
        self.x('qmp_capabilities')

    def x(self, name, **args):
        self.f.write(json.dumps({'execute': name, 'arguments': args}) + '\n')
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if 'event' not in r:
                return r
            self.events.append(r)

    def settle(self, secs=0.5):
        end = time.time() + secs
        while time.time() < end:
            self.x('query-jobs')
            time.sleep(0.05)

    def names(self, keep=('BLOCK_JOB_ERROR', 'BLOCK_JOB_COMPLETED',
                          'BLOCK_IO_ERROR', 'BLOCK_JOB_READY')):
        out = []
        for e in self.events:
            if e['event'] in keep:
                d = dict(e.get('data', {}))
                for k in ('len', 'offset', 'speed', 'type'):
                    d.pop(k, None)
                out.append((e['event'], d))
        self.events = []
        return out

    def close(self):
        self.p.kill()
        self.p.wait()


def dbg(img, event, extra=None):
    rule = {'event': event, 'errno': ERRNO, 'once': True}
    rule.update(extra or {})
    return {'driver': 'blkdebug', 'inject-error': [rule],
            'image': {'driver': 'file', 'filename': img}}


def img(name, cmds=''):
    p = os.path.join(TMP, name)
    subprocess.run('rm -f %s && qemu-img create -q -f qcow2 %s 16M %s'
                   % (p, p, cmds), shell=True, check=True)
    return p


def flow_nbd(s, event='write_aio', op='pwrite'):
    a = img('a.qcow2', '&& qemu-io -f qcow2 -c "write 0 64k" ' + img('a.qcow2'))
    s.x('blockdev-add', driver='qcow2', **{'node-name': 'q'},
        file=dbg(a, event))
    sock = os.path.join(TMP, 'nbd.sock')
    s.x('nbd-server-start', addr={'type': 'unix', 'data': {'path': sock}})
    s.x('block-export-add', type='nbd', id='e0', writable=True,
        **{'node-name': 'q'})
    h = nbd.NBD()
    h.connect_uri('nbd+unix:///q?socket=' + sock)
    res = []
    for _ in range(2):
        try:
            if op == 'pwrite':
                h.pwrite(b'x' * 65536, 0)
            elif op == 'flush':
                h.pwrite(b'x' * 65536, 0)
                h.flush()
            else:
                h.pread(65536, 0)
            res.append('ok')
        except nbd.Error as e:
            res.append('%s: %s' % (e.errno, e.string))
            if not h.aio_is_ready():
                break
    try:
        h.shutdown()
    except nbd.Error as e:
        res.append('then: ' + e.string)
    s.settle(0.3)
    return res, s.names()


def flow_stream(s, policy):
    base = img('base.qcow2')
    subprocess.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 1 0 1M', base],
                   check=True, stdout=subprocess.DEVNULL)
    top = img('top.qcow2', '-b %s -F qcow2' % base)
    s.x('blockdev-add', driver='qcow2', **{'node-name': 'base'},
        file={'driver': 'file', 'filename': base})
    s.x('blockdev-add', driver='qcow2', **{'node-name': 'top'},
        backing='base', file=dbg(top, 'write_aio'))
    r = s.x('block-stream', **{'job-id': 'j', 'device': 'top',
                               'on-error': policy})
    s.settle()
    if policy == 'stop':
        s.x('block-job-resume', device='j')
        s.settle()
    return r, s.names()


def flow_mirror(s, policy):
    src = img('src.qcow2')
    subprocess.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 1 0 1M', src],
                   check=True, stdout=subprocess.DEVNULL)
    tgt = img('tgt.qcow2')
    s.x('blockdev-add', driver='qcow2', **{'node-name': 'src'},
        file={'driver': 'file', 'filename': src})
    s.x('blockdev-add', driver='qcow2', **{'node-name': 'tgt'},
        file=dbg(tgt, 'write_aio'))
    r = s.x('blockdev-mirror', **{'job-id': 'j', 'device': 'src',
                                  'target': 'tgt', 'sync': 'full',
                                  'on-target-error': policy})
    s.settle()
    if policy in ('stop', 'enospc'):
        s.x('block-job-resume', device='j')
        s.settle()
    s.x('block-job-cancel', device='j', force=True)
    s.settle()
    return r, s.names()


def flow_create(s):
    c = os.path.join(TMP, 'c.qcow2')
    open(c, 'w').close()
    s.x('blockdev-add', **{'node-name': 'f'}, **dbg(c, 'write_aio'))
    s.x('blockdev-add', **{'node-name': 'f2'},
        **dbg(c, 'write_aio', {'iotype': 'write'}))
    r = s.x('blockdev-create', **{'job-id': 'c', 'options': {
        'driver': 'qcow2', 'file': 'f', 'size': 1 << 24}})
    s.settle()
    jobs = s.x('query-jobs')['return']
    return r, [(j['id'], j['status'], j.get('error')) for j in jobs]


def full_disk():
    """A 2 MiB tmpfs at TMP/mnt (run as root under unshare -m)."""
    mnt = os.path.join(TMP, 'mnt')
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2M', 'tmpfs', mnt],
                   check=True)
    return mnt


def flow_full_hmp(s):
    a = os.path.join(full_disk(), 'a.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', a, '16M'],
                   check=True)
    s.x('blockdev-add', driver='qcow2', **{'node-name': 'q'},
        file={'driver': 'file', 'filename': a})
    out = []
    for c in ('write -P 1 0 4M', 'flush'):
        r = s.x('human-monitor-command',
                **{'command-line': 'qemu-io q "%s"' % c})
        out.append(r.get('return', r).strip())
    s.x('blockdev-del', **{'node-name': 'q'})
    subprocess.run(['umount', '-l', os.path.dirname(a)])
    return out


def flow_full_nbd(s):
    a = os.path.join(full_disk(), 'a.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', a, '16M'],
                   check=True)
    s.x('blockdev-add', driver='qcow2', **{'node-name': 'q'},
        file={'driver': 'file', 'filename': a})
    sock = os.path.join(TMP, 'nbd.sock')
    s.x('nbd-server-start', addr={'type': 'unix', 'data': {'path': sock}})
    s.x('block-export-add', type='nbd', id='e0', writable=True,
        **{'node-name': 'q'})
    h = nbd.NBD()
    h.connect_uri('nbd+unix:///q?socket=' + sock)
    res = []
    try:
        for i in range(8):
            h.pwrite(b'x' * (1 << 20), i << 20)
        h.flush()
        res.append('ok')
    except nbd.Error as e:
        res.append('%s: %s' % (e.errno, e.string))
    try:
        h.pread(4096, 0)
        res.append('read ok after')
    except nbd.Error as e:
        res.append('then: ' + e.string)
    s.settle(0.3)
    subprocess.run(['umount', '-l', os.path.dirname(a)])
    return res, s.names()


def flow_full_create(s, opts):
    c = os.path.join(full_disk(), 'c.qcow2')
    open(c, 'w').close()
    s.x('blockdev-add', driver='file', **{'node-name': 'f'}, filename=c)
    where = {'filename': c} if opts['driver'] == 'file' else {'file': 'f'}
    r = s.x('blockdev-create', **{'job-id': 'c',
                                  'options': dict(opts, **where)})
    s.settle()
    jobs = s.x('query-jobs')['return']
    subprocess.run(['umount', '-l', os.path.dirname(c)])
    return r, [(j['id'], j['status'], j.get('error')) for j in jobs]


FULL_FLOWS = [('full: qemu-io write, flush', flow_full_hmp),
              ('full: nbd write', flow_full_nbd),
              ] + [('full: create %s %s' % (drv, pre),
                    lambda s, o={'driver': drv, 'size': size,
                                 'preallocation': pre}:
                    flow_full_create(s, o))
                   for drv, pre, size in [
                       ('qcow2', 'full', 16 << 20),
                       ('qcow2', 'falloc', 16 << 20),
                       ('qcow2', 'metadata', 64 << 30),
                       ('qcow2', 'off', 1 << 50),
                       ('file', 'full', 16 << 20),
                       ('file', 'falloc', 16 << 20)]]
NBD_FLOWS = [('nbd write', flow_nbd),
             ('nbd flush', lambda s: flow_nbd(s, 'flush_to_disk', 'flush')),
             ('nbd read', lambda s: flow_nbd(s, 'read_aio', 'pread'))]
FLOWS = FULL_FLOWS if os.environ.get('FULL') else \
    NBD_FLOWS if os.environ.get('ONLY_NBD') else NBD_FLOWS + [
         ('stream on-error report', lambda s: flow_stream(s, 'report')),
         ('stream on-error stop', lambda s: flow_stream(s, 'stop')),
         ('mirror on-target-error report', lambda s: flow_mirror(s, 'report')),
         ('mirror on-target-error stop', lambda s: flow_mirror(s, 'stop')),
         ('mirror on-target-error enospc',
          lambda s: flow_mirror(s, 'enospc')),
         ('blockdev-create', flow_create)]

for name, flow in FLOWS:
    for exe in ('qemu-system-x86_64', FDSETD):
        s = Session(exe)
        try:
            out = flow(s)
        except Exception as e:
            out = repr(e)
        s.close()
        print('%-30s %-6s %s' % (name, 'qemu' if 'qemu' in exe else 'fdsetd',
                                 out))
