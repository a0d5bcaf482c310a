#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Block job benchmark: blockdev-mirror, block-stream and blockdev-backup
(full, and incremental after 10% changed) of a fully allocated qcow2, in
fdsetd and in QEMU 7.2 (images passed only by add-fd), with cp as the
floor.  Python standard library only; see bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Fdsetd, Qemu, QMPFailure, now_ns, rotate  # noqa: E402
from peers import (Unavailable, fdatasync_path, load,  # noqa: E402
                   make_qcow2_from, make_raw, print_table, ratio, sh)

ROWS = ["mirror", "stream", "backup-full", "backup-incremental",
        "backup-guest"]
LABELS = {
    "mirror": "blockdev-mirror sync=full qcow2 -> new qcow2",
    "stream": "block-stream (base qcow2 -> empty overlay)",
    "backup-full": "blockdev-backup sync=full -> new qcow2",
    "backup-incremental": "blockdev-backup incremental, 10% changed",
    "backup-guest": "guest 4k randwrite QD16 over NBD during "
                    "blockdev-backup sync=full",
}
# The guest row: fio against an NBD export of the source, alone, then
# while a full backup runs (its speed set so that it lasts 1.5x fio's
# runtime), then the backup's speed is lifted and it is waited for, then
# fio alone again.  "Alone" is the mean of the two runs around the backup,
# so that a change of the machine's load during the row weighs on both
# sides.  The guest's copy-before-writes count as progress, so the job may
# end before fio does: its length is reported next to the IOPS.  The
# result is (IOPS alone, IOPS during, job seconds).
GUEST_FIO = ["--rw=randwrite", "--bs=4k", "--iodepth=16", "--randrepeat=0"]
GUEST_BACKUP_STRETCH = 1.5
CHUNK = 1 << 20          # the incremental rows change 1 MiB of every 10
STRIDE = 10 << 20


def changed_ranges(size: int):
    return [(off, CHUNK) for off in range(0, size, STRIDE)]


class Session:
    """One server (fdsetd or QEMU) with one QMP connection, and the fds it
    was given (kept to fdatasync what a job wrote, closed at the end)."""

    def __init__(self, server, workdir):
        self.server = server
        self.workdir = workdir
        self.fds: list[int] = []
        self.next_set = 1
        server.start()
        try:
            self.c = server.client()
        except Exception:
            server.stop()
            raise

    def cmd(self, execute, args=None, fds=()):
        try:
            return self.c.cmd(execute, args, fds)
        except QMPFailure as e:
            if "CommandNotFound" in str(e):
                raise Unavailable(f"{self.server.kind} has no {execute}") \
                    from e
            raise

    def node(self, path, fmt, name, ro=False, backing=None) -> int:
        """@path as node @name, opened only through /dev/fdset/N."""
        fd = os.open(path, (os.O_RDONLY if ro else os.O_RDWR) | os.O_CLOEXEC)
        self.fds.append(fd)
        sid = self.next_set
        self.next_set += 1
        self.cmd("add-fd", {"fdset-id": sid}, [fd])
        opts = {"driver": fmt, "node-name": name, "read-only": ro,
                "file": {"driver": "file", "filename": f"/dev/fdset/{sid}"}}
        if backing is not None:
            opts["backing"] = backing
        self.cmd("blockdev-add", opts)
        return fd

    def wait_job(self, job, ready=False, timeout=900):
        if ready:
            ev = self.wait_any(("BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED"),
                               timeout)
            if ev["event"] == "BLOCK_JOB_COMPLETED":
                raise QMPFailure(f"{job} ended before READY: {ev['data']}")
            self.cmd("block-job-complete", {"device": job})
        ev = self.wait_any(("BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED"),
                           timeout)
        if ev["event"] != "BLOCK_JOB_COMPLETED" or \
                ev.get("data", {}).get("error"):
            raise QMPFailure(f"{job}: {ev}")
        return ev

    def wait_any(self, names, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.c.events):
                if ev.get("event") in names:
                    return self.c.events.pop(i)
            if time.monotonic() > deadline:
                raise QMPFailure(f"none of {names} within {timeout} s")
            msg = json.loads(self.c.line())
            if "event" in msg:
                self.c.events.append(msg)

    def close(self):
        try:
            self.c.close()
        finally:
            self.server.stop()
            for fd in self.fds:
                os.close(fd)
            self.fds = []


class Bench:
    def __init__(self, args):
        self.args = args
        self.workdir = args.workdir or tempfile.mkdtemp(prefix="job-bench-")
        os.makedirs(self.workdir, exist_ok=True)
        self.size = args.size
        self.res = {r: {} for r in args.rows}     # row -> target -> [s]
        self.why: dict = {}                       # (row, target) -> text
        self.checked: set = set()
        self.notes: list[str] = []
        self.bins = {"fdsetd": args.fdsetd, "qemu": args.qemu}

    def log(self, text):
        if not self.args.quiet:
            print(text, file=sys.stderr, flush=True)

    def p(self, name):
        return os.path.join(self.workdir, name)

    def images(self):
        self.log(f"writing a {self.size >> 20} MiB qcow2 in {self.workdir}")
        make_raw(self.p("src.raw"), self.size)
        make_qcow2_from(self.p("src.raw"), self.p("src.qcow2"))
        os.unlink(self.p("src.raw"))

    def new_qcow2(self, name, backing=None) -> str:
        path = self.p(name)
        if os.path.exists(path):
            os.unlink(path)
        argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
        if backing:
            argv += ["-b", backing, "-F", "qcow2"]
        sh(argv + [path, str(self.size)])
        return path

    # ---- the flows; each returns seconds, from the command to the end
    # of the job plus an fdatasync of what it wrote
    def mirror(self, s: Session) -> float:
        s.node(self.p("src.qcow2"), "qcow2", "src")
        tfd = s.node(self.new_qcow2("tgt.qcow2"), "qcow2", "tgt")
        t0 = now_ns()
        s.cmd("blockdev-mirror", {"job-id": "m0", "device": "src",
                                  "target": "tgt", "sync": "full"})
        s.wait_job("m0", ready=True)
        os.fdatasync(tfd)
        return (now_ns() - t0) / 1e9

    def stream(self, s: Session) -> float:
        s.node(self.p("src.qcow2"), "qcow2", "base", ro=True)
        top = self.new_qcow2("top.qcow2", backing=self.p("src.qcow2"))
        tfd = s.node(top, "qcow2", "top", backing="base")
        t0 = now_ns()
        s.cmd("block-stream", {"job-id": "s0", "device": "top"})
        s.wait_job("s0")
        os.fdatasync(tfd)
        return (now_ns() - t0) / 1e9

    def backup(self, s: Session, incremental: bool) -> float:
        s.node(self.p("src.qcow2"), "qcow2", "src")
        tfd = s.node(self.new_qcow2("tgt.qcow2"), "qcow2", "tgt")
        if incremental:
            s.cmd("block-dirty-bitmap-add", {"node": "src", "name": "bm0"})
        t0 = now_ns()
        s.cmd("blockdev-backup", {"job-id": "b0", "device": "src",
                                  "target": "tgt", "sync": "full"})
        s.wait_job("b0")
        os.fdatasync(tfd)
        t = (now_ns() - t0) / 1e9
        if not incremental:
            return t
        self.guest_writes(s)
        t2fd = s.node(self.new_qcow2("tgt2.qcow2"), "qcow2", "tgt2")
        t0 = now_ns()
        s.cmd("blockdev-backup", {"job-id": "b1", "device": "src",
                                  "target": "tgt2", "sync": "incremental",
                                  "bitmap": "bm0"})
        s.wait_job("b1")
        os.fdatasync(t2fd)
        return (now_ns() - t0) / 1e9

    def export_source(self, s: Session) -> str:
        sock = self.p(f"{s.server.kind}-guest.nbd")
        s.cmd("nbd-server-start",
              {"addr": {"type": "unix", "data": {"path": sock}}})
        s.cmd("block-export-add", {"type": "nbd", "id": "g0",
                                   "node-name": "src", "writable": True,
                                   "name": "src"})
        return f"nbd+unix:///src?socket={sock}"

    def guest_fio(self, uri: str, seconds: int) -> float:
        out = self.p("guest-fio.json")
        argv = [self.args.fio, "--name=guest", "--ioengine=nbd",
                f"--uri={uri}", f"--size={self.size}", "--time_based",
                f"--runtime={seconds}", "--output-format=json",
                f"--output={out}"] + GUEST_FIO
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True,
                           timeout=seconds + 120)
        if p.returncode != 0:
            raise Unavailable("fio failed: " +
                              (p.stderr or p.stdout).strip()[-200:])
        with open(out) as f:
            job = json.load(f)["jobs"][0]
        if job.get("error"):
            raise Unavailable(f"fio job error {job['error']}")
        return job["write"]["iops"]

    def backup_guest(self, s: Session):
        """(IOPS alone, IOPS during a full backup, the backup's seconds)
        of the guest's fio; alone is the mean of a run before and one
        after the backup."""
        if not shutil.which(self.args.fio):
            raise Unavailable("fio is not installed")
        s.node(self.p("src.qcow2"), "qcow2", "src")
        tfd = s.node(self.new_qcow2("tgt.qcow2"), "qcow2", "tgt")
        uri = self.export_source(s)
        t = self.args.guest_runtime
        alone = self.guest_fio(uri, t)
        speed = int(self.size / (GUEST_BACKUP_STRETCH * t))
        t0 = time.time()
        s.cmd("blockdev-backup", {"job-id": "b0", "device": "src",
                                  "target": "tgt", "sync": "full",
                                  "speed": speed})
        during = self.guest_fio(uri, t)
        try:
            s.cmd("block-job-set-speed", {"device": "b0", "speed": 0})
        except QMPFailure as e:
            if "not found" not in str(e):
                raise  # else the backup ended already (guest copies count)
        ts = s.wait_job("b0")["timestamp"]
        os.fdatasync(tfd)
        job = ts["seconds"] + ts["microseconds"] / 1e6 - t0
        after = self.guest_fio(uri, t)
        return ((alone + after) / 2, during, job)

    def guest_writes(self, s: Session):
        """Change 10% of the disk through the server (an NBD export of the
        source), so its dirty bitmap sees the writes."""
        argv = ["qemu-io", "-f", "raw", self.export_source(s)]
        for off, n in changed_ranges(self.size):
            argv += ["-c", f"write -q -P 0x33 {off} {n}"]
        sh(argv)

    # ---- the floor
    def cp_once(self, row) -> float:
        src = self.p("src.qcow2")
        dst = self.p("cp.copy")
        t0 = now_ns()
        if row == "backup-incremental":
            # copy just as many bytes as changed, from the same places
            with open(src, "rb") as fi, open(dst, "wb") as fo:
                for off, n in changed_ranges(self.size):
                    os.copy_file_range(fi.fileno(), fo.fileno(), n, off)
        else:
            sh(["cp", src, dst])
        fdatasync_path(dst)
        t = (now_ns() - t0) / 1e9
        os.unlink(dst)
        return t

    # ---- checks (first run of each server per row): the copy must read
    # back as its source
    def check(self, row, kind):
        if (row, kind) in self.checked or row == "backup-incremental":
            return
        if row == "backup-guest":
            # the source moved under fio: the copy is only checked sane
            p = subprocess.run(["qemu-img", "check", "-q",
                                self.p("tgt.qcow2")],
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise QMPFailure(f"{row}: qemu-img check: "
                                 f"{(p.stdout + p.stderr).strip()[:200]}")
            return
        self.checked.add((row, kind))
        a, b = (self.p("top.qcow2"), self.p("src.qcow2")) \
            if row == "stream" else (self.p("tgt.qcow2"), self.p("src.qcow2"))
        p = subprocess.run(["qemu-img", "compare", "-q", a, b],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise QMPFailure(f"{row}: copy differs from the source "
                             f"(qemu-img compare {p.returncode}) "
                             f"{p.stderr.strip()[:200]}")
        p = subprocess.run(["qemu-img", "check", "-q", a],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise QMPFailure(f"{row}: qemu-img check: "
                             f"{(p.stdout + p.stderr).strip()[:200]}")

    def once(self, row, kind) -> float:
        if kind == "cp":
            return self.cp_once(row)
        server = (Fdsetd if kind == "fdsetd" else Qemu)(self.bins[kind],
                                                        self.workdir)
        s = Session(server, self.workdir)
        try:
            if row == "mirror":
                t = self.mirror(s)
            elif row == "stream":
                t = self.stream(s)
            elif row == "backup-guest":
                t = self.backup_guest(s)
            else:
                t = self.backup(s, row == "backup-incremental")
        except (QMPFailure, OSError, subprocess.CalledProcessError):
            self.log(f"    {kind} log: {server.log_tail()[-300:]}")
            raise
        finally:
            s.close()
        self.check(row, kind)
        return t

    def run(self):
        self.images()
        servers = [k for k in ("fdsetd", "qemu") if self.bins.get(k)]
        for row in self.args.rows:
            kinds = servers + ([] if row == "backup-guest" else ["cp"])
            for r in range(self.args.rounds):
                for k in rotate(kinds, r):
                    if (row, k) in self.why:
                        continue
                    os.sync()
                    try:
                        t = self.once(row, k)
                    except (Unavailable, QMPFailure, OSError,
                            subprocess.CalledProcessError) as e:
                        self.why[(row, k)] = f"{e}"[:300]
                        self.log(f"  {row} {k}: n/a: {e}")
                        continue
                    self.res[row].setdefault(k, []).append(t)
                    if row == "backup-guest":
                        self.log(f"  {row} round {r + 1} {k:6} guest "
                                 f"{t[0]:7.0f} IOPS alone, {t[1]:7.0f} "
                                 f"during the backup ({t[1] / t[0]:.2f}x; "
                                 f"the job took {t[2]:.1f} s)")
                        continue
                    self.log(f"  {row} round {r + 1} {k:6} {t:7.2f} s "
                             f"{self.mib(row) / t:7.0f} MiB/s")

    def mib(self, row) -> float:
        if row == "backup-incremental":
            return len(changed_ranges(self.size)) * CHUNK / (1 << 20)
        return self.size / (1 << 20)

    def guest_summary(self):
        """The guest row: per server, median IOPS alone / during and the
        ratio of the medians."""
        d = {"row": "backup-guest", "label": LABELS["backup-guest"],
             "targets": {}}
        for k in ("fdsetd", "qemu"):
            v = self.res["backup-guest"].get(k)
            if not v:
                d["targets"][k] = {"n/a": self.why.get(("backup-guest", k),
                                                       "not run")}
                continue
            alone = statistics.median(x[0] for x in v)
            during = statistics.median(x[1] for x in v)
            d["targets"][k] = {"iops_alone": alone, "iops_during": during,
                               "ratio": during / alone if alone else None,
                               "ratio_per_run": statistics.median(
                                   x[1] / x[0] for x in v if x[0]),
                               "job_s": statistics.median(x[2] for x in v),
                               "runs": v}
        return d

    def print_guest(self, d, out):
        print(f"\n{d['label']} (fio {' '.join(GUEST_FIO)}, "
              f"{self.args.guest_runtime} s each; backup speed set to last "
              f"{GUEST_BACKUP_STRETCH}x that; alone = mean of the runs "
              f"before and after)\n", file=out)
        body = []
        for k in ("fdsetd", "qemu"):
            v = d["targets"][k]
            if "n/a" in v:
                body.append([k, "n/a", "n/a", "-", "-", "-"])
                continue
            body.append([k, f"{v['iops_alone']:.0f}",
                         f"{v['iops_during']:.0f}", ratio(v["ratio"], 1),
                         ratio(v["ratio_per_run"], 1), f"{v['job_s']:.1f}"])
        print_table(["server", "IOPS alone", "IOPS during backup",
                     "during/alone", "median per run", "job s"], body, out)
        r = d["targets"]["fdsetd"].get("ratio")
        verdict = "n/a" if r is None else ("PASS" if r >= 0.8 else "MISS")
        print(f"  {verdict:4} issue 14: guest during backup >= 0.8x its "
              f"speed alone: {ratio(r, 1)}", file=out)

    def summary(self):
        rows = []
        for row in self.args.rows:
            if row == "backup-guest":
                rows.append(self.guest_summary())
                continue
            d = {"row": row, "label": LABELS[row], "mib": self.mib(row),
                 "targets": {}}
            for k in ("fdsetd", "qemu", "cp"):
                v = self.res[row].get(k)
                if v:
                    t = statistics.median(v)
                    d["targets"][k] = {"s": t, "mibs": self.mib(row) / t,
                                       "runs": v}
                else:
                    d["targets"][k] = {"n/a": self.why.get((row, k),
                                                           "not run")}
            sp = {k: v.get("mibs") for k, v in d["targets"].items()}
            d["fdsetd_vs_qemu"] = sp["fdsetd"] / sp["qemu"] \
                if sp["fdsetd"] and sp["qemu"] else None
            d["fdsetd_vs_cp"] = sp["fdsetd"] / sp["cp"] \
                if sp["fdsetd"] and sp["cp"] else None
            rows.append(d)
        return rows

    def print(self, rows, out=sys.stdout):
        a = self.args
        print(f"\njob bench: {a.size >> 20} MiB fully allocated qcow2, "
              f"median of {a.rounds} run(s), page cache warm, sync before "
              f"each run, fdatasync of the copy inside the time; "
              f"load {load()}", file=out)
        print("cells: seconds / MiB/s (from the command to the job's end; "
              "mirror: READY + block-job-complete + COMPLETED)\n", file=out)
        body = []
        guest = [d for d in rows if d["row"] == "backup-guest"]
        rows = [d for d in rows if d["row"] != "backup-guest"]
        for d in rows:
            cells = [d["label"], f"{d['mib']:.0f}"]
            for k in ("fdsetd", "qemu", "cp"):
                v = d["targets"][k]
                cells.append("n/a" if "n/a" in v else
                             f"{v['s']:.2f} / {v['mibs']:.0f}")
            cells += [ratio(d["fdsetd_vs_qemu"], 1),
                      ratio(d["fdsetd_vs_cp"], 1)]
            body.append(cells)
        print_table(["job", "MiB", "fdsetd", "QEMU 7.2", "cp (floor)",
                     "fdsetd/QEMU speed", "fdsetd/cp speed"], body, out)
        print("\ngoals (issues 13, 14: >= 1.2x QEMU's speed and >= 0.9x cp):",
              file=out)
        for d in rows:
            q, c = d["fdsetd_vs_qemu"], d["fdsetd_vs_cp"]
            verdict = "n/a" if q is None and c is None else (
                "PASS" if (q is None or q >= 1.2) and (c is None or c >= 0.9)
                else "MISS")
            print(f"  {verdict:4} {d['label']}: vs QEMU {ratio(q, 1)}, "
                  f"vs cp {ratio(c, 1)}", file=out)
        for d in guest:
            self.print_guest(d, out)
        if self.why:
            print("\nn/a reasons:", file=out)
            for (row, k), why in sorted(self.why.items()):
                print(f"  {row} {k}: {why}", file=out)
        for n in self.notes:
            print(f"note: {n}", file=out)


def parse_args(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fdsetd", default=os.path.join(os.path.dirname(here),
                                                      "build", "fdsetd"))
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    ap.add_argument("--quick", action="store_true",
                    help="64 MiB, 1 run per server and row")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--size-mib", type=int)
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--fio", default=shutil.which("fio") or "fio")
    ap.add_argument("--guest-runtime", type=int,
                    help="seconds of each fio run of the guest row")
    ap.add_argument("--workdir")
    ap.add_argument("--json")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.size = (a.size_mib or (64 if a.quick else 1024)) << 20
    a.guest_runtime = a.guest_runtime or (2 if a.quick else 5)
    a.rows = [r for r in a.rows.split(",") if r]
    for r in a.rows:
        if r not in ROWS:
            ap.error(f"unknown row {r}; known: {','.join(ROWS)}")
    if a.fdsetd and not os.path.exists(a.fdsetd):
        a.fdsetd = None
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    for tool in ("qemu-img", "qemu-io", "cp"):
        if not shutil.which(tool):
            print(f"job-bench: {tool} is needed", file=sys.stderr)
            return 2
    b = Bench(a)
    if not a.qemu:
        b.notes.append("qemu-system-x86_64 not installed: QEMU column n/a")
    if not a.fdsetd:
        b.notes.append("no fdsetd binary: its column is n/a")
    t0 = time.monotonic()
    try:
        b.run()
    except KeyboardInterrupt:
        b.notes.append("interrupted: partial results")
    finally:
        if not a.workdir:
            shutil.rmtree(b.workdir, ignore_errors=True)
    rows = b.summary()
    b.print(rows)
    print(f"\n(total {time.monotonic() - t0:.0f} s)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"bench": "jobs", "size": a.size, "rounds": a.rounds,
                       "load": load(), "rows": rows, "notes": b.notes},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
