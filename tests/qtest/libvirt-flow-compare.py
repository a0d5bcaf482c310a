#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The libvirt-like disk lifecycle of libvirt-flow-test.c, run on fdsetd or
on QEMU 7.2 (qemu-system-x86_64 -machine none), printing every reply and
event (timestamps and fd numbers dropped) so that the two runs can be
diffed:

    libvirt-flow-compare.py fdsetd build/fdsetd > a
    libvirt-flow-compare.py qemu > b
    diff a b

Not run by meson (it needs QEMU 7.2 and python3-libnbd).  The overlay and
the mirror target get one O_RDWR member each (with the two-member set
libvirt passes, QEMU 7.2's blockdev-create fails with 'Failed to get shared
"write" lock'); give --pairs to pass two members anyway.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import nbd

MiB = 1 << 20


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
        self.events = []
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
            self.events.append(reply)

    def wait(self, name, **match):
        """The first event @name whose data has @match (30 s at most)."""
        deadline = time.time() + 30
        while True:
            for i, ev in enumerate(self.events):
                data = ev.get('data', {})
                if ev['event'] == name and \
                        all(data.get(k) == v for k, v in match.items()):
                    return ev
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                self.events.append(json.loads(self.rfile.readline()))
            except socket.timeout:
                raise RuntimeError('no %s event' % name)
            finally:
                self.sock.settimeout(None)


class Flow:
    def __init__(self, daemon, binary, pairs):
        self.dir = tempfile.mkdtemp(prefix='libvirt-flow-')
        self.pairs = pairs
        self.log = []
        self.writes = 0
        sock = os.path.join(self.dir, 'qmp.sock')
        argv = [binary or '/usr/bin/qemu-system-x86_64', '-machine', 'none',
                '-nodefaults', '-display', 'none'] if daemon == 'qemu' \
            else [binary or 'build/fdsetd']
        argv += ['-qmp', 'unix:%s,server=on,wait=off' % sock]
        self.proc = subprocess.Popen(argv)
        self.qmp = Qmp(sock)
        self.nbd = None

    def path(self, name):
        return os.path.join(self.dir, name)

    def sh(self, cmd):
        return subprocess.run(cmd, shell=True, check=True, cwd=self.dir,
                              capture_output=True, text=True).stdout

    def cmd(self, _name, fds=None, **args):
        reply = self.qmp.cmd(_name, fds, **args)
        self.log.append(['reply', _name, reply])
        return reply

    def events(self):
        for ev in self.qmp.events:
            ev.pop('timestamp', None)
            self.log.append(['event', ev])
        self.qmp.events.clear()

    def wait(self, name, **match):
        ev = self.qmp.wait(name, **match)
        self.qmp.events.remove(ev)
        ev.pop('timestamp', None)
        self.log.append(['event', ev])

    def fd_count(self):
        return len(os.listdir('/proc/%d/fd' % self.proc.pid))

    def guest_write(self):
        """A write through the export, and the same on the reference."""
        n, self.writes = self.writes, self.writes + 1
        data, off = bytes([0x40 + n]) * 65536, n * 128 * 1024 + 4096
        self.nbd.pwrite(data, off)
        self.nbd.flush()
        with open(self.path('ref.raw'), 'r+b') as ref:
            ref.seek(off)
            ref.write(data)

    def attach_storage(self, image, fdset, node, pair=True):
        modes = [os.O_RDONLY, os.O_RDWR] if pair else [os.O_RDWR]
        for k, mode in enumerate(modes):
            fd = os.open(self.path(image), mode | os.O_CLOEXEC)
            self.cmd('add-fd', [fd], **{'fdset-id': fdset, 'opaque':
                                        'libvirt-%d-storage%d' % (fdset, k)})
            os.close(fd)
        ro = {'auto-read-only': True} if pair else {'read-only': False}
        self.cmd('blockdev-add', driver='file', discard='unmap',
                 filename='/dev/fdset/%d' % fdset, **{'node-name': node},
                 **ro)

    def attach_format(self, node, storage):
        self.cmd('blockdev-add', driver='qcow2', file=storage, backing=None,
                 **{'node-name': node, 'read-only': False})

    def detach(self, fmt, storage, fdset):
        self.cmd('blockdev-del', **{'node-name': fmt})
        self.cmd('blockdev-del', **{'node-name': storage})
        self.cmd('remove-fd', **{'fdset-id': fdset})

    def create_qcow2(self, storage, backing=None):
        job = 'create-' + storage
        opts = {'driver': 'qcow2', 'file': storage, 'size': 32 * MiB}
        if backing:
            opts.update({'backing-file': self.path(backing),
                         'backing-fmt': 'qcow2'})
        self.cmd('blockdev-create', options=opts, **{'job-id': job})
        self.finish_job(job)

    def finish_job(self, job):
        self.wait('JOB_STATUS_CHANGE', id=job, status='concluded')
        self.cmd('query-jobs')
        self.cmd('job-dismiss', id=job)
        self.events()

    def background_writer(self):
        """40 writes of 16 KiB from 8 MiB on, over their own connection."""
        h = nbd.NBD()
        h.connect_uri(self.uri)
        for i in range(40):
            h.pwrite(bytes([0x90 + i]) * 16384, 8 * MiB + i * 65536)
            time.sleep(0.01)
        h.flush()
        h.shutdown()
        with open(self.path('ref.raw'), 'r+b') as ref:
            for i in range(40):
                ref.seek(8 * MiB + i * 65536)
                ref.write(bytes([0x90 + i]) * 16384)

    def run(self):
        self.sh("qemu-img create -q -f qcow2 base.qcow2 32M && "
                "qemu-io -c 'write -P 0x11 0 6M' base.qcow2 >/dev/null && "
                "qemu-img convert -O raw base.qcow2 ref.raw && "
                ": > ov.qcow2 && : > new.qcow2")
        fds_before = self.fd_count()
        self.attach_storage('base.qcow2', 5, 'libvirt-1-storage')
        self.attach_format('libvirt-1-format', 'libvirt-1-storage')
        self.cmd('nbd-server-start', addr={'type': 'unix', 'data': {
            'path': self.path('nbd.sock')}})
        self.cmd('block-export-add', type='nbd', id='e0', writable=True,
                 **{'node-name': 'libvirt-1-format', 'name': 'disk'})
        self.uri = 'nbd+unix:///disk?socket=' + self.path('nbd.sock')
        self.nbd = nbd.NBD()
        self.nbd.connect_uri(self.uri)
        self.guest_write()

        self.attach_storage('ov.qcow2', 6, 'libvirt-2-storage', self.pairs)
        self.create_qcow2('libvirt-2-storage', 'base.qcow2')
        self.attach_format('libvirt-2-format', 'libvirt-2-storage')
        self.guest_write()
        self.cmd('transaction', actions=[
            {'type': 'blockdev-snapshot', 'data': {
                'node': 'libvirt-1-format', 'overlay': 'libvirt-2-format'}},
            {'type': 'block-dirty-bitmap-add', 'data': {
                'node': 'libvirt-2-format', 'name': 'snap1',
                'persistent': True}}])
        self.cmd('query-block-exports')
        self.guest_write()

        self.cmd('block-stream', device='libvirt-2-format', **{
            'job-id': 'stream0', 'auto-finalize': True,
            'auto-dismiss': False})
        self.guest_write()
        self.finish_job('stream0')
        self.guest_write()
        self.detach('libvirt-1-format', 'libvirt-1-storage', 5)

        self.attach_storage('new.qcow2', 7, 'libvirt-3-storage', self.pairs)
        self.create_qcow2('libvirt-3-storage')
        self.attach_format('libvirt-3-format', 'libvirt-3-storage')
        self.cmd('blockdev-mirror', device='libvirt-2-format',
                 target='libvirt-3-format', sync='full', **{
                     'job-id': 'mirror0', 'auto-finalize': True,
                     'auto-dismiss': False})
        self.guest_write()
        self.wait('BLOCK_JOB_READY')
        writer = threading.Thread(target=self.background_writer)
        writer.start()
        time.sleep(0.05)
        self.cmd('job-complete', id='mirror0')
        self.wait('JOB_STATUS_CHANGE', id='mirror0', status='concluded')
        writer.join()
        self.cmd('query-jobs')
        self.cmd('job-dismiss', id='mirror0')
        self.events()
        self.cmd('query-block-exports')
        self.guest_write()
        self.detach('libvirt-2-format', 'libvirt-2-storage', 6)

        self.cmd('block_resize', size=64 * MiB,
                 **{'node-name': 'libvirt-3-format'})
        self.guest_write()
        self.nbd.shutdown()
        self.cmd('block-export-del', id='e0')
        self.wait('BLOCK_EXPORT_DELETED', id='e0')
        self.cmd('nbd-server-stop')
        self.cmd('block_resize', size=64 * MiB,
                 **{'node-name': 'libvirt-3-format'})
        self.sh('qemu-img resize -q -f raw ref.raw 64M')
        self.detach('libvirt-3-format', 'libvirt-3-storage', 7)
        self.cmd('query-fdsets')
        self.events()
        time.sleep(0.5)
        self.log.append(['fds back to the count before add-fd',
                         self.fd_count() == fds_before])
        self.cmd('quit')
        self.proc.wait()
        self.log.append(['images', self.sh(
            'qemu-img check -q new.qcow2 && qemu-img check -q ov.qcow2 && '
            'qemu-img compare -q -f qcow2 -F raw new.qcow2 ref.raw && '
            'echo checked and equal; for i in new ov; do qemu-img info '
            '$i.qcow2 | grep -E "^(image|virtual size|backing file)"; '
            'done')])

    def print_log(self):
        for entry in self.log:
            text = json.dumps(entry, sort_keys=True)
            print(re.sub(r'"fd": \d+', '"fd": N', text))


def main():
    args = [a for a in sys.argv[1:] if a != '--pairs']
    if not args or args[0] not in ('fdsetd', 'qemu'):
        sys.exit(__doc__)
    flow = Flow(args[0], args[1] if len(args) > 1 else None,
                '--pairs' in sys.argv)
    try:
        flow.run()
    finally:
        flow.events()
        flow.print_log()
        if flow.proc.poll() is None:
            flow.proc.kill()
            flow.proc.wait()


if __name__ == '__main__':
    main()
