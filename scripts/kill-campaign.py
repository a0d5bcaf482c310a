#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash-consistency campaign: kill -9 fdsetd at random moments of real
work on qcow2 images it reaches only through fds (--add-fd), then check.

The promise checked is QEMU's: a write acknowledged before a completed
flush (or written with FUA) reads back after any crash, unless written
again since; a write not flushed may have landed whole, in part or not at
all (qcow2 writes its metadata back at a flush), so each 4 KiB block must
hold its flushed value or one written since.

Modes (the iterations take them in turn):
  write     guest-like writes (one in ten of zeroes) of random 4 KiB-aligned
            extents with random flushes (qemu-io over HMP) on a fresh
            image; killed at a random moment.
  powercut  the same on a qcow2 node over blkdebug x-drop-unflushed; at a
            random moment blkdebug-power-cut drops every write since the
            last flush that reached it, then kill -9.
  reorder   the same cut, but half the writes since the last flush (picked
            at random) reach the disk anyway, as from a disk cache that
            writes back in its own order.
  commit    block-commit of mid into base while top takes writes; killed at
            a random moment.  Every image must pass, and the chain seen
            through top must hold every flushed write.
  stream    block-stream into top (base has the data) while top takes
            writes; the same checks.
  nbd       guest writes over an NBD export of the qcow2 node (libnbd:
            pwrite, FUA writes, zeroes, flushes on nbd+unix://): what was
            flushed (or written with FUA) reads back.
  mirror    blockdev-mirror (sync full) of src onto tgt while src takes
            writes; the kill lands before READY, after it, or once the job
            completed and tgt (flushed) takes the writes.  Every flushed
            write reads back from src, and from tgt once it was flushed
            there.
  snapshot  writes to base, then blockdev-snapshot or a transaction
            (blockdev-snapshot + a bitmap) puts ov over it, then writes to
            ov: the chain seen through ov holds every flushed write.
  create    blockdev-create of a qcow2 image on an fdset member (random
            size, cluster size and preallocation), then writes to it.  A
            file that has the qcow2 magic passes check; once the job
            concluded, flushed writes read back.
  X-pc      (X one of nbd, commit, stream, mirror, snapshot, create) the
            same with every image on blkdebug x-drop-unflushed and a power
            cut of all of them (one after the other, as separate disks)
            instead of the bare kill.

Each image must pass `qemu-img check` (exit 0, or 3: leaked clusters only,
as QEMU allows after a crash).  Figures are printed at the end; exit status
1 on any corruption or lost write.  CI runs a short campaign, one kill per
mode (tests/fault/meson.build); the long one is e.g.
  nice -n 10 scripts/kill-campaign.py --kills 1500 --fdsetd build/fdsetd
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

try:
    import nbd
except ImportError:  # libnbd's binding is Debian's, for /usr/bin/python3
    if sys.executable != '/usr/bin/python3' and \
            os.path.exists('/usr/bin/python3'):
        os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)
    raise

BLOCK = 4096
MODES = ['write', 'powercut', 'reorder', 'commit', 'stream', 'nbd', 'mirror',
         'snapshot', 'create', 'nbd-pc', 'commit-pc', 'stream-pc',
         'mirror-pc', 'snapshot-pc', 'create-pc']
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
        self.events = []
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
            self.events.append(r)

    def seen(self, event, job=None):
        return any(e['event'] == event and
                   (job is None or e.get('data', {}).get('device') == job or
                    e.get('data', {}).get('id') == job)
                   for e in self.events)

    def wait_for(self, stop, done, poll=0.02):
        """Until done() (it may send commands) or stop; events are read
        by the commands, so poll with a cheap one."""
        while not stop.is_set():
            if done():
                return True
            self.cmd('query-jobs')
            time.sleep(poll)
        return False

    def job_status(self, job):
        for j in self.cmd('query-jobs').get('return', []):
            if j['id'] == job:
                return j
        return None

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

    live = []  # started and not yet killed

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
        Daemon.live.append(self)
        self.qmp = Qmp(self.sock)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        if self in Daemon.live:
            Daemon.live.remove(self)


def file_node(set_id):
    """A file child that follows its parent's read-only (for reopens)."""
    return {'driver': 'file', 'filename': '/dev/fdset/%d' % set_id}


def image_node(set_id, dbg, cut):
    """The bytes under a qcow2 node: fdset @set_id's file, or, when @cut is
    a list (a power-cut iteration), a blkdebug x-drop-unflushed node @dbg
    over it, whose name goes into @cut."""
    if cut is None:
        return file_node(set_id)
    cut.append(dbg)
    return {'driver': 'blkdebug', 'node-name': dbg, 'x-drop-unflushed': True,
            'image': file_node(set_id)}


def count(st, key):
    st[key] = st.get(key, 0) + 1


def must(r, what):
    if 'return' not in r:
        raise RuntimeError('%s: %s' % (what, r))
    return r['return']


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

    def check(self, raw):
        bad = []
        for b, sure in enumerate(self.sure):
            blk = raw[b * BLOCK:(b + 1) * BLOCK]
            ok = {sure} | self.maybe[b]
            got = blk[0]
            if blk != bytes([got]) * BLOCK or got not in ok:
                bad.append((b, got, sorted(ok)))
        return bad


class PowerModel(Model):
    """Power cut: what a completed flush (or a write with FUA) covered
    survives, unless written again since.  Nothing is promised about the
    writes since the last flush: the driver flushes on its own too (qcow2's
    barriers when it writes metadata back), so a write not flushed may have
    landed whole, in part (a cluster whose data was but whose L2 entry was
    not) or not at all.  Each block must hold its flushed value or one
    written since."""

    def __init__(self, nblocks):
        super().__init__(nblocks)
        self.flushed = [0] * nblocks
        self.since = [set() for _ in range(nblocks)]
        self.log = []  # every request, for --keep-failures

    def start(self, first, n, pat):
        Model.start(self, first, n, pat)
        for b in range(first, first + n):
            self.since[b].add(pat)
        self.log.append([first, n, pat])

    def flush_done(self):
        self.log.append('flush')
        self.flushed = list(self.sure)
        self.since = [set() for _ in self.since]

    def fua_done(self, first, n, pat):
        """A write with FUA: durable on its own (nothing else is)."""
        self.log.append('fua')
        for b in range(first, first + n):
            self.flushed[b] = pat
            self.since[b] = set()

    def copy(self):
        """A fresh model whose durable content is what this one holds."""
        m = PowerModel(len(self.sure))
        m.sure = list(self.sure)
        m.flush_done()
        return m

    def check(self, raw):
        self.sure = self.flushed
        self.maybe = self.since
        return Model.check(self, raw)


def random_extent(rng, nblocks):
    n = rng.choice([1, 1, 2, 4, 16, 64])
    return rng.randrange(0, nblocks - n), n


def random_writer(q, node, model, rng, stop, pats, flush_model=None,
                  ops=None):
    """Writes (one in ten of zeroes: qcow2 frees clusters) and flushes on
    @node through HMP qemu-io until @stop, or @ops requests."""
    nblocks = len(model.sure)
    while not stop.is_set() and ops != 0:
        ops = None if ops is None else ops - 1
        if rng.random() < 0.2:
            out = q.hmp_io(node, 'flush')
            if out:
                raise RuntimeError('flush failed: ' + out)
            model.flushes += 1
            if flush_model:
                flush_model.flush_done()
            continue
        first, n = random_extent(rng, nblocks)
        zero = rng.random() < 0.1
        pat = 0 if zero else next(pats)
        model.start(first, n, pat)
        out = q.hmp_io(node, 'write %s %d %d' % (
            '-z' if zero else '-P %d' % pat, first * BLOCK, n * BLOCK))
        if not out.startswith('wrote'):
            raise RuntimeError('write failed: ' + out)
        model.done(first, n, pat)


def nbd_writer(h, model, rng, stop, pats):
    """A guest over NBD (libnbd): writes, some with FUA, zeroes (that may
    punch holes), flushes, until @stop."""
    nblocks = len(model.sure)
    while not stop.is_set():
        if rng.random() < 0.15:
            h.flush()
            model.flushes += 1
            model.flush_done()
            continue
        first, n = random_extent(rng, nblocks)
        zero = rng.random() < 0.1
        fua = rng.random() < 0.15
        pat = 0 if zero else next(pats)
        flags = nbd.CMD_FLAG_FUA if fua else 0
        model.start(first, n, pat)
        if zero:
            h.zero(n * BLOCK, first * BLOCK, flags)
        else:
            h.pwrite(bytes([pat]) * (n * BLOCK), first * BLOCK, flags)
        model.done(first, n, pat)
        if fua:
            model.fua_done(first, n, pat)


def patterns(rng):
    while True:
        yield rng.randrange(1, 256)


def check_image(tmp, name):
    r = subprocess.run(['qemu-img', 'check', '-q', name], cwd=tmp,
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def read_raw(tmp, name, fmt='qcow2'):
    """The first VSIZE bytes the guest sees through @name (and its
    backing chain)."""
    out = os.path.join(tmp, 'view.raw')
    subprocess.run(['qemu-img', 'dd', '-f', fmt, '-O', 'raw', 'bs=65536',
                    'count=%d' % (VSIZE // 65536), 'if=' + name,
                    'of=view.raw'], cwd=tmp, check=True,
                   stdout=subprocess.DEVNULL)
    with open(out, 'rb') as f:
        data = f.read()
    os.unlink(out)
    return data


def run_work(d, work, max_delay, rng, cut=None, survivors=0):
    """Run @work(stop) in a thread; at a random moment kill the daemon, or
    first cut the power of every blkdebug node in @cut (then the work stops
    at its first failing request and is joined, so that every
    acknowledgement sent before the cut is counted).  Errors of the work
    from then on are the kill's; before, they are real failures."""
    stop = threading.Event()
    ending = threading.Event()
    err = []
    q2 = Qmp(d.sock) if cut else None

    def body():
        try:
            work(stop)
        except Exception as e:
            if not ending.is_set():
                err.append(e)

    t = threading.Thread(target=body)
    t.start()
    t.join(rng.uniform(0.0, max_delay))
    ending.set()
    try:
        for node in cut or []:
            must(q2.cmd('blkdebug-power-cut', **{'node-name': node,
                                                 'survivors': survivors}),
                 'power cut')
        if cut:
            stop.set()
            t.join(60)
    finally:
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
    return [('a.qcow2', model)]


def iter_powercut(exe, tmp, rng, max_delay, survivors=0):
    sh('qemu-img create -q -f qcow2 a.qcow2 %d' % VSIZE, tmp)
    cut = []
    d = Daemon(exe, tmp, [('a.qcow2', os.O_RDWR, 1)],
               [{'driver': 'qcow2', 'node-name': 'q',
                 'file': image_node(1, 'dbg', cut)}])
    model = PowerModel(VSIZE // BLOCK)
    pats = patterns(rng)
    run_work(d, lambda stop: random_writer(d.qmp, 'q', model, rng, stop,
                                           pats, model), max_delay, rng,
             cut, survivors)
    return [('a.qcow2', model)]


def iter_nbd(exe, tmp, rng, max_delay, cut):
    sh('qemu-img create -q -f qcow2 a.qcow2 %d' % VSIZE, tmp)
    d = Daemon(exe, tmp, [('a.qcow2', os.O_RDWR, 1)],
               [{'driver': 'qcow2', 'node-name': 'q',
                 'file': image_node(1, 'dbg', cut)}])
    path = os.path.join(tmp, 'nbd.sock')
    must(d.qmp.cmd('nbd-server-start',
                   addr={'type': 'unix', 'data': {'path': path}}), 'nbd')
    must(d.qmp.cmd('block-export-add', type='nbd', id='e0', writable=True,
                   **{'node-name': 'q'}), 'export')
    h = nbd.NBD()
    h.connect_uri('nbd+unix:///q?socket=' + path)
    model = PowerModel(VSIZE // BLOCK)
    pats = patterns(rng)
    run_work(d, lambda stop: nbd_writer(h, model, rng, stop, pats),
             max_delay, rng, cut)
    del h  # the kill closed its socket
    return [('a.qcow2', model)]


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


def iter_job(exe, tmp, rng, max_delay, job, cut):
    base_pat = rng.randrange(1, 200)
    make_chain(tmp, base_pat)
    # base and mid: a read-only and a read-write member each (the job
    # reopens them)
    files = [('base.qcow2', os.O_RDONLY, 1), ('base.qcow2', os.O_RDWR, 1),
             ('mid.qcow2', os.O_RDONLY, 2), ('mid.qcow2', os.O_RDWR, 2),
             ('top.qcow2', os.O_RDWR, 3)]
    nodes = [{'driver': 'qcow2', 'node-name': 'base', 'read-only': True,
              'file': image_node(1, 'dbg-base', cut)},
             {'driver': 'qcow2', 'node-name': 'mid', 'read-only': True,
              'backing': 'base', 'file': image_node(2, 'dbg-mid', cut)},
             {'driver': 'qcow2', 'node-name': 'top', 'backing': 'mid',
              'file': image_node(3, 'dbg-top', cut)}]
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
                                           pats, model), max_delay, rng, cut)
    return [('base.qcow2', None), ('mid.qcow2', None), ('top.qcow2', model)]


def iter_mirror(exe, tmp, rng, max_delay, cut, st):
    """src (data at 0-4M and 8-10M) mirrored onto an empty tgt."""
    pat = rng.randrange(1, 200)
    sh('qemu-img create -q -f qcow2 src.qcow2 %d && '
       'qemu-io -f qcow2 -c "write -P %d 0 4M" -c "write -P %d 8M 2M" '
       'src.qcow2 && qemu-img create -q -f qcow2 tgt.qcow2 %d'
       % (VSIZE, pat, pat + 1, VSIZE), tmp)
    d = Daemon(exe, tmp, [('src.qcow2', os.O_RDWR, 1),
                          ('tgt.qcow2', os.O_RDWR, 2)],
               [{'driver': 'qcow2', 'node-name': 'src',
                 'file': image_node(1, 'dbg-src', cut)},
                {'driver': 'qcow2', 'node-name': 'tgt',
                 'file': image_node(2, 'dbg-tgt', cut)}])
    model = PowerModel(VSIZE // BLOCK)
    for b in range(0, (4 << 20) // BLOCK):
        model.sure[b] = pat
    for b in range((8 << 20) // BLOCK, (10 << 20) // BLOCK):
        model.sure[b] = pat + 1
    model.flush_done()
    pats = patterns(rng)
    pivoted = []
    phase = ['before READY']
    q = d.qmp

    def work(stop):
        must(q.cmd('blockdev-mirror', **{'job-id': 'm', 'device': 'src',
                                         'target': 'tgt', 'sync': 'full'}),
             'mirror')
        while not stop.is_set() and not q.seen('BLOCK_JOB_READY', 'm'):
            random_writer(q, 'src', model, rng, stop, pats, model, ops=1)
        phase.append('after READY')
        # a third of the runs stay READY (writes mirrored) until the kill
        random_writer(q, 'src', model, rng, stop, pats, model,
                      ops=None if rng.random() < 0.33 else
                      rng.randrange(0, 60))
        if stop.is_set():
            return
        must(q.cmd('job-complete', id='m'), 'job-complete')
        q.wait_for(stop, lambda: q.seen('BLOCK_JOB_COMPLETED', 'm'))
        done = [e for e in q.events if e['event'] == 'BLOCK_JOB_COMPLETED']
        if done and 'error' in done[0]['data']:
            raise RuntimeError('mirror: %s' % done[0])
        # every write src acknowledged is in tgt now; durable once flushed
        out = q.hmp_io('tgt', 'flush')
        if out:
            raise RuntimeError('flush failed: ' + out)
        tm = model.copy()
        pivoted.append(tm)
        phase.append('after completion')
        random_writer(q, 'tgt', tm, rng, stop, pats, tm)

    run_work(d, work, max_delay, rng, cut)
    count(st, 'killed ' + phase[-1])
    return [('src.qcow2', model),
            ('tgt.qcow2', pivoted[0] if pivoted else None)]


def iter_snapshot(exe, tmp, rng, max_delay, cut, st):
    """Writes to base, flush, an overlay over it (blockdev-snapshot, or a
    transaction that also adds a bitmap), writes to the overlay."""
    sh('qemu-img create -q -f qcow2 base.qcow2 %d && '
       'qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2'
       % VSIZE, tmp)
    d = Daemon(exe, tmp, [('base.qcow2', os.O_RDWR, 1),
                          ('ov.qcow2', os.O_RDWR, 2)],
               [{'driver': 'qcow2', 'node-name': 'base',
                 'file': image_node(1, 'dbg-base', cut)},
                {'driver': 'qcow2', 'node-name': 'ov', 'backing': None,
                 'file': image_node(2, 'dbg-ov', cut)}])
    model = PowerModel(VSIZE // BLOCK)
    pats = patterns(rng)
    q = d.qmp
    snap = {'node': 'base', 'overlay': 'ov'}
    phase = ['before the snapshot']

    def work(stop):
        random_writer(q, 'base', model, rng, stop, pats, model,
                      ops=rng.randrange(0, 200))
        # what the guest wrote to base is durable before base becomes a
        # backing file (flushes of ov do not reach it)
        random_writer(q, 'base', model, rng, stop, pats, model, ops=0)
        out = q.hmp_io('base', 'flush')
        if out:
            raise RuntimeError('flush failed: ' + out)
        model.flush_done()
        if rng.random() < 0.5:
            must(q.cmd('blockdev-snapshot', **snap), 'snapshot')
            phase.append('after blockdev-snapshot')
        else:
            must(q.cmd('transaction', actions=[
                {'type': 'blockdev-snapshot', 'data': snap},
                {'type': 'block-dirty-bitmap-add',
                 'data': {'node': 'ov', 'name': 'b0'}}]), 'transaction')
            phase.append('after transaction')
        random_writer(q, 'ov', model, rng, stop, pats, model)

    run_work(d, work, max_delay, rng, cut)
    count(st, 'killed ' + phase[-1])
    return [('base.qcow2', None), ('ov.qcow2', model)]


def create_options(rng, cut):
    """(falloc needs the file driver: not over blkdebug)"""
    size = rng.choice([VSIZE, 64 << 20, 256 << 20])
    cluster = rng.choice([4096, 65536] + ([512] if size == VSIZE else []))
    prealloc = rng.choice(['off', 'off', 'metadata'] +
                          (['full'] if size == VSIZE else []) +
                          (['falloc'] if size == VSIZE and not cut else []))
    return {'driver': 'qcow2', 'file': 'f', 'size': size,
            'cluster-size': cluster, 'preallocation': prealloc}


def iter_create(exe, tmp, rng, max_delay, cut, stats):
    """blockdev-create of a qcow2 image on an fdset member, then writes."""
    open(os.path.join(tmp, 'c.qcow2'), 'wb').close()
    if cut is None:
        fnode = dict(file_node(1), **{'node-name': 'f'})
    else:
        fnode = image_node(1, 'f', cut)
    d = Daemon(exe, tmp, [('c.qcow2', os.O_RDWR, 1)], [fnode])
    model = PowerModel(VSIZE // BLOCK)
    pats = patterns(rng)
    q = d.qmp
    created = []

    def concluded():
        j = q.job_status('c')
        return j is not None and j['status'] == 'concluded'

    def work(stop):
        must(q.cmd('blockdev-create', **{'job-id': 'c',
                                         'options': create_options(rng, cut)}),
             'blockdev-create')
        if not q.wait_for(stop, concluded):
            return
        j = q.job_status('c')
        if 'error' in j:
            raise RuntimeError('blockdev-create: %s' % j['error'])
        created.append(True)
        must(q.cmd('job-dismiss', id='c'), 'job-dismiss')
        must(q.cmd('blockdev-add', **{'driver': 'qcow2', 'node-name': 'q',
                                      'file': 'f'}), 'blockdev-add')
        random_writer(q, 'q', model, rng, stop, pats, model)

    # a third of the kills early, most likely while the job runs
    run_work(d, work, max_delay if rng.random() < 0.67 else max_delay / 30,
             rng, cut)
    with open(os.path.join(tmp, 'c.qcow2'), 'rb') as f:
        magic = f.read(4) == b'QFI\xfb'
    if not magic and not created:
        # killed before the header (written last) was: not an image yet
        count(stats, 'killed before the header was written')
        return []
    count(stats, 'killed after the job concluded' if created else
          'killed after the header, before the job concluded')
    return [('c.qcow2', model)]


def one(exe, tmp, rng, mode, max_delay, stats):
    cut = [] if mode.endswith('-pc') else None
    base = mode[:-3] if cut is not None else mode
    if base == 'write':
        return iter_write(exe, tmp, rng, max_delay)
    if base == 'powercut':
        return iter_powercut(exe, tmp, rng, max_delay)
    if base == 'reorder':
        return iter_powercut(exe, tmp, rng, max_delay, survivors=50)
    if base == 'nbd':
        return iter_nbd(exe, tmp, rng, max_delay, cut)
    if base == 'mirror':
        return iter_mirror(exe, tmp, rng, 4 * max_delay, cut, stats)
    if base == 'snapshot':
        return iter_snapshot(exe, tmp, rng, 3 * max_delay, cut, stats)
    if base == 'create':
        return iter_create(exe, tmp, rng, 3 * max_delay, cut, stats)
    if base in ('commit', 'stream'):
        return iter_job(exe, tmp, rng, max_delay, base, cut)
    raise ValueError('unknown mode %s' % mode)


def verify(tmp, images, st, keep, it):
    ok = True
    for name, model in images:
        rc, out = check_image(tmp, name)
        key = {0: 'clean', 3: 'leaks'}.get(rc, 'corrupt')
        st[key] = st.get(key, 0) + 1
        if rc not in (0, 3):
            ok = False
            print('iteration %d: %s: qemu-img check exit %d\n%s' %
                  (it, name, rc, out[:2000]), file=sys.stderr)
            continue
        if model is None:
            continue
        st['writes'] = st.get('writes', 0) + model.writes
        st['flushes'] = st.get('flushes', 0) + model.flushes
        bad = model.check(read_raw(tmp, name))
        if bad:
            ok = False
            st['lost'] = st.get('lost', 0) + 1
            print('iteration %d: %s: %d blocks wrong, first %s' %
                  (it, name, len(bad), bad[:3]), file=sys.stderr)
    if not ok and keep:
        dst = os.path.join(keep, 'iter-%d' % it)
        shutil.copytree(tmp, dst, ignore=shutil.ignore_patterns('*.sock'))
        for name, model in images:
            if isinstance(model, PowerModel):
                with open(os.path.join(dst, name + '.model'), 'w') as f:
                    json.dump({'flushed': model.flushed, 'log': model.log},
                              f)
    return ok


def report(seed, per_mode, dt):
    total = {}
    for st in per_mode.values():
        for k, v in st.items():
            total[k] = total.get(k, 0) + v
    print('kill campaign: seed %d, %d kills in %.1f s (%.0f ms each)' %
          (seed, total['kills'], dt, 1000 * dt / max(total['kills'], 1)))
    cols = ['kills', 'failed', 'clean', 'leaks', 'corrupt', 'lost', 'writes',
            'flushes']
    print('  %-12s' % 'mode' + ''.join('%9s' % c for c in cols))
    for m, st in list(per_mode.items()) + [('total', total)]:
        print('  %-12s' % m + ''.join('%9d' % st.get(c, 0) for c in cols))
    print('  (clean/leaks/corrupt: qemu-img check exit 0 / 3 / other, per '
          'image; lost: images with a lost flushed or torn write; writes: '
          'acknowledged before the kills)')
    for m, st in per_mode.items():
        phases = ['%s %d' % (k[7:], v) for k, v in sorted(st.items())
                  if k.startswith('killed ')]
        if phases:
            print('  %s killed: %s' % (m, ', '.join(phases)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--fdsetd', default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '../build/fdsetd'))
    ap.add_argument('--kills', '--iterations', type=int, default=100,
                    dest='kills', help='kills in all (modes in turn)')
    ap.add_argument('--modes', default=','.join(MODES))
    ap.add_argument('--max-delay', type=float, default=0.25,
                    help='kill within this many seconds of the start '
                    '(mirror, snapshot, create: 3-4 times that)')
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--keep-failures', default=None,
                    help='copy the images of failed iterations here')
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    print('kill campaign: seed %d' % seed, flush=True)
    rng = random.Random(seed)
    modes = a.modes.split(',')
    per_mode = {m: {'kills': 0, 'failed': 0} for m in modes}
    failed = 0
    t0 = time.monotonic()
    for it in range(a.kills):
        mode = modes[it % len(modes)]
        st = per_mode[mode]
        tmp = tempfile.mkdtemp(prefix='kill-campaign-')
        try:
            images = one(a.fdsetd, tmp, rng, mode, a.max_delay, st)
            ok = verify(tmp, images, st, a.keep_failures, it)
        except Exception as e:
            print('iteration %d (%s): %r' % (it, mode, e), file=sys.stderr)
            ok = False
        finally:
            for d in list(Daemon.live):
                d.kill()
            shutil.rmtree(tmp, ignore_errors=True)
        st['kills'] += 1
        if not ok:
            st['failed'] += 1
            failed += 1
        if (it + 1) % 100 == 0:
            print('  ... %d kills, %d failed, %.0f s' %
                  (it + 1, failed, time.monotonic() - t0), flush=True)
    report(seed, per_mode, time.monotonic() - t0)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
