#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash-consistency campaign: kill -9 fdsetd at random moments of real
work on qcow2 images it reaches only through fds (--add-fd), then check.

Modes (each iteration picks one of --modes):
  write     guest-like writes (one in ten of zeroes) of random 4 KiB-aligned
            extents with random flushes (qemu-io over HMP) on a fresh image; killed at a random
            moment.  Every write acknowledged before the kill must read back
            (a kill loses no page cache), the one in flight may show or not,
            block by block.
  powercut  the same on a qcow2 node over blkdebug x-drop-unflushed; at a
            random moment blkdebug-power-cut drops every write since the
            last completed flush, then kill -9.  The image must hold exactly
            what was flushed.
  reorder   the same cut, but half the writes since the last flush (picked
            at random) reach the disk anyway, as from a disk cache that
            writes back in its own order: every block must hold its flushed
            value or one written since, and the image must pass.
  commit    block-commit of mid into base while top takes writes; killed at
            a random moment.  Every image must pass, and the chain seen
            through top must hold every flushed write.
  stream    block-stream into top (base has the data) while top takes
            writes; the same checks.

Each image must pass `qemu-img check` (exit 0, or 3: leaked clusters only,
as QEMU allows after a crash).  Figures are printed at the end; exit status
1 on any corruption or lost write.  CI runs a short campaign
(tests/fault/meson.build); the long one is e.g.
  scripts/kill-campaign.py --iterations 3000 --fdsetd build/fdsetd
"""
import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

BLOCK = 4096
VSIZE = 16 << 20  # guest size of every image


class Qmp:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        self.f = self.sock.makefile('rw')
        self.f.readline()
        self.cmd('qmp_capabilities')

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.f.write(json.dumps(msg) + '\n')
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError('daemon gone')
            r = json.loads(line)
            if 'event' not in r:
                return r

    def hmp_io(self, node, cmd):
        r = self.cmd('human-monitor-command',
                     **{'command-line': 'qemu-io %s "%s"' % (node, cmd)})
        if 'return' not in r:
            raise RuntimeError(str(r))
        return r['return']


def sh(cmd, cwd):
    subprocess.run(cmd, shell=True, check=True, cwd=cwd,
                   stdout=subprocess.DEVNULL)


class Daemon:
    """fdsetd with @files (name, flags, fdset id) passed with --add-fd and
    --blockdev @nodes (JSON objects)."""

    def __init__(self, exe, tmp, files, nodes):
        self.sock = os.path.join(tmp, 'qmp.sock')
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        fds, args = [], [exe, '--qmp', 'unix:%s,server=on,wait=off' %
                         self.sock]
        for name, flags, set_id in files:
            fd = os.open(os.path.join(tmp, name), flags)
            fds.append(fd)
            args += ['--add-fd', 'fd=%d,set=%d' % (fd, set_id)]
        for n in nodes:
            args += ['--blockdev', json.dumps(n)]
        self.proc = subprocess.Popen(args, pass_fds=fds,
                                     stderr=subprocess.DEVNULL)
        for fd in fds:
            os.close(fd)
        self.qmp = Qmp(self.sock)

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def file_node(set_id):
    """A file child that follows its parent's read-only (for reopens)."""
    return {'driver': 'file', 'filename': '/dev/fdset/%d' % set_id}


class Model:
    """What each 4 KiB block of the guest may hold: the value known to be
    there (durable) and the values that may or may not have landed."""

    def __init__(self, nblocks):
        self.sure = [0] * nblocks
        self.maybe = [set() for _ in range(nblocks)]
        self.writes = 0  # acknowledged before the kill
        self.flushes = 0

    def start(self, first, n, pat):
        for b in range(first, first + n):
            self.maybe[b].add(pat)

    def done(self, first, n, pat):
        for b in range(first, first + n):
            self.sure[b] = pat
            self.maybe[b] = set()
        self.writes += 1

    def check(self, raw, exact):
        bad = []
        for b, sure in enumerate(self.sure):
            blk = raw[b * BLOCK:(b + 1) * BLOCK]
            ok = {sure} | (set() if exact else self.maybe[b])
            got = blk[0]
            if blk != bytes([got]) * BLOCK or got not in ok:
                bad.append((b, got, sorted(ok)))
        return bad


class PowerModel(Model):
    """Power cut: what a completed flush covered survives; with survivors,
    any write since may have landed too."""

    def __init__(self, nblocks):
        super().__init__(nblocks)
        self.flushed = [0] * nblocks
        self.since = [set() for _ in range(nblocks)]

    def start(self, first, n, pat):
        Model.start(self, first, n, pat)
        for b in range(first, first + n):
            self.since[b].add(pat)

    def flush_done(self):
        self.flushed = list(self.sure)
        self.since = [set() for _ in self.since]

    def check(self, raw, exact=True):
        self.sure = self.flushed
        self.maybe = self.since
        return Model.check(self, raw, exact)


def random_writer(q, node, model, rng, stop, pats, flush_model=None):
    nblocks = len(model.sure)
    while not stop.is_set():
        if rng.random() < 0.2:
            out = q.hmp_io(node, 'flush')
            if out:
                raise RuntimeError('flush failed: ' + out)
            model.flushes += 1
            if flush_model:
                flush_model.flush_done()
            continue
        n = rng.choice([1, 1, 2, 4, 16, 64])
        first = rng.randrange(0, nblocks - n)
        zero = rng.random() < 0.1  # write zeroes: qcow2 frees clusters
        pat = 0 if zero else next(pats)
        model.start(first, n, pat)
        out = q.hmp_io(node, 'write %s %d %d' % (
            '-z' if zero else '-P %d' % pat, first * BLOCK, n * BLOCK))
        if not out.startswith('wrote'):
            raise RuntimeError('write failed: ' + out)
        model.done(first, n, pat)


def patterns(rng):
    while True:
        yield rng.randrange(1, 256)


def check_image(tmp, name):
    r = subprocess.run(['qemu-img', 'check', '-q', name], cwd=tmp,
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def read_raw(tmp, name, fmt='qcow2'):
    out = os.path.join(tmp, 'view.raw')
    subprocess.run(['qemu-img', 'convert', '-f', fmt, '-O', 'raw', name, out],
                   cwd=tmp, check=True)
    with open(out, 'rb') as f:
        data = f.read()
    os.unlink(out)
    return data


def run_work(d, work, max_delay, rng):
    """Run @work(stop) in a thread; kill the daemon at a random moment."""
    stop = threading.Event()
    err = []

    def body():
        try:
            work(stop)
        except (ConnectionError, OSError, ValueError):
            pass  # the kill
        except Exception as e:  # a real failure before the kill
            err.append(e)

    t = threading.Thread(target=body)
    t.start()
    time.sleep(rng.uniform(0.0, max_delay))
    d.kill()
    t.join()
    if err:
        raise err[0]


def iter_write(exe, tmp, rng, max_delay):
    sh('qemu-img create -q -f qcow2 a.qcow2 %d' % VSIZE, tmp)
    d = Daemon(exe, tmp, [('a.qcow2', os.O_RDWR, 1)],
               [{'driver': 'qcow2', 'node-name': 'q', 'file': file_node(1)}])
    model = PowerModel(VSIZE // BLOCK)
    pats = patterns(rng)
    run_work(d, lambda stop: random_writer(d.qmp, 'q', model, rng, stop,
                                           pats, model), max_delay, rng)
    return [('a.qcow2', model, False)]


def iter_powercut(exe, tmp, rng, max_delay, survivors=0):
    sh('qemu-img create -q -f qcow2 a.qcow2 %d' % VSIZE, tmp)
    d = Daemon(exe, tmp, [('a.qcow2', os.O_RDWR, 1)],
               [{'driver': 'qcow2', 'node-name': 'q',
                 'file': {'driver': 'blkdebug', 'node-name': 'dbg',
                          'x-drop-unflushed': True, 'image': file_node(1)}}])
    model = PowerModel(VSIZE // BLOCK)
    pats = patterns(rng)
    q2 = Qmp(d.sock)
    stop = threading.Event()
    err = []

    def body():
        try:
            random_writer(d.qmp, 'q', model, rng, stop, pats, model)
        except (ConnectionError, OSError, ValueError):
            pass
        except RuntimeError as e:
            if 'Input/output error' not in str(e):  # the cut itself
                err.append(e)

    t = threading.Thread(target=body)
    t.start()
    time.sleep(rng.uniform(0.0, max_delay))
    r = q2.cmd('blkdebug-power-cut', **{'node-name': 'dbg',
                                        'survivors': survivors})
    if 'return' not in r:
        raise RuntimeError('power cut: %s' % r)
    stop.set()
    t.join()  # writes fail from the cut on: the writer stops there
    d.kill()
    if err:
        raise err[0]
    return [('a.qcow2', model, survivors == 0)]


def make_chain(tmp, base_pat):
    sh('qemu-img create -q -f qcow2 base.qcow2 %d && '
       'qemu-io -f qcow2 -c "write -P %d 0 4M" base.qcow2 && '
       'qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && '
       'qemu-io -f qcow2 -c "write -P %d 2M 4M" mid.qcow2 && '
       'qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2'
       % (VSIZE, base_pat, base_pat + 1), tmp)


def chain_model(base_pat):
    model = PowerModel(VSIZE // BLOCK)
    for b in range(0, (4 << 20) // BLOCK):
        model.sure[b] = base_pat
    for b in range((2 << 20) // BLOCK, (6 << 20) // BLOCK):
        model.sure[b] = base_pat + 1
    model.flush_done()
    return model


def iter_job(exe, tmp, rng, max_delay, job):
    base_pat = rng.randrange(1, 200)
    make_chain(tmp, base_pat)
    # base and mid: a read-only and a read-write member each (the job
    # reopens them)
    files = [('base.qcow2', os.O_RDONLY, 1), ('base.qcow2', os.O_RDWR, 1),
             ('mid.qcow2', os.O_RDONLY, 2), ('mid.qcow2', os.O_RDWR, 2),
             ('top.qcow2', os.O_RDWR, 3)]
    nodes = [{'driver': 'qcow2', 'node-name': 'base', 'read-only': True,
              'file': file_node(1)},
             {'driver': 'qcow2', 'node-name': 'mid', 'read-only': True,
              'backing': 'base', 'file': file_node(2)},
             {'driver': 'qcow2', 'node-name': 'top', 'backing': 'mid',
              'file': file_node(3)}]
    d = Daemon(exe, tmp, files, nodes)
    model = chain_model(base_pat)
    pats = patterns(rng)
    if job == 'commit':
        args = {'job-id': 'j', 'device': 'top', 'top-node': 'mid',
                'base-node': 'base'}
    else:
        args = {'job-id': 'j', 'device': 'top'}
    r = d.qmp.cmd('block-' + job, **args)
    if 'return' not in r:
        d.kill()
        raise RuntimeError('%s: %s' % (job, r))
    run_work(d, lambda stop: random_writer(d.qmp, 'top', model, rng, stop,
                                           pats, model), max_delay, rng)
    return [('base.qcow2', None, False), ('mid.qcow2', None, False),
            ('top.qcow2', model, False)]


def one(exe, tmp, rng, mode, max_delay):
    if mode == 'write':
        return iter_write(exe, tmp, rng, max_delay)
    if mode == 'powercut':
        return iter_powercut(exe, tmp, rng, max_delay)
    if mode == 'reorder':
        return iter_powercut(exe, tmp, rng, max_delay, survivors=50)
    return iter_job(exe, tmp, rng, max_delay, mode)


def verify(tmp, images, stats, keep, it):
    ok = True
    for name, model, exact in images:
        rc, out = check_image(tmp, name)
        stats['check_%d' % rc] = stats.get('check_%d' % rc, 0) + 1
        if rc not in (0, 3):
            ok = False
            print('iteration %d: %s: qemu-img check exit %d\n%s' %
                  (it, name, rc, out[:2000]), file=sys.stderr)
            continue
        if model is None:
            continue
        stats['writes'] = stats.get('writes', 0) + model.writes
        stats['flushes'] = stats.get('flushes', 0) + model.flushes
        bad = model.check(read_raw(tmp, name), exact)
        if bad:
            ok = False
            stats['lost'] = stats.get('lost', 0) + 1
            print('iteration %d: %s: %d blocks wrong, first %s' %
                  (it, name, len(bad), bad[:3]), file=sys.stderr)
    if not ok and keep:
        dst = os.path.join(keep, 'iter-%d' % it)
        shutil.copytree(tmp, dst, ignore=shutil.ignore_patterns('*.sock'))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--fdsetd', default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '../build/fdsetd'))
    ap.add_argument('--iterations', type=int, default=100)
    ap.add_argument('--modes', default='write,powercut,reorder,commit,stream')
    ap.add_argument('--max-delay', type=float, default=0.25,
                    help='kill within this many seconds of the start')
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--keep-failures', default=None,
                    help='copy the images of failed iterations here')
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    modes = a.modes.split(',')
    stats = {'iterations': 0, 'failed': 0}
    per_mode = {m: [0, 0] for m in modes}
    t0 = time.monotonic()
    for it in range(a.iterations):
        mode = modes[it % len(modes)]
        tmp = tempfile.mkdtemp(prefix='kill-campaign-')
        try:
            images = one(a.fdsetd, tmp, rng, mode, a.max_delay)
            ok = verify(tmp, images, stats, a.keep_failures, it)
        except Exception as e:
            print('iteration %d (%s): %r' % (it, mode, e), file=sys.stderr)
            ok = False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        stats['iterations'] += 1
        per_mode[mode][0] += 1
        if not ok:
            stats['failed'] += 1
            per_mode[mode][1] += 1
    dt = time.monotonic() - t0
    print('kill campaign: seed %d, %d kills in %.1f s (%.0f ms each)' %
          (seed, stats['iterations'], dt,
           1000 * dt / max(stats['iterations'], 1)))
    for m, (n, f) in per_mode.items():
        print('  %-8s %5d kills, %d failed' % (m, n, f))
    print('  qemu-img check: %d clean, %d with leaked clusters only, '
          '%d corrupt/other' % (stats.get('check_0', 0),
                                stats.get('check_3', 0),
                                sum(v for k, v in stats.items()
                                    if k.startswith('check_') and
                                    k not in ('check_0', 'check_3'))))
    print('  images with lost flushed or torn writes: %d' %
          stats.get('lost', 0))
    print('  guest writes acknowledged before the kills: %d (%d flushes)' %
          (stats.get('writes', 0), stats.get('flushes', 0)))
    return 1 if stats['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
