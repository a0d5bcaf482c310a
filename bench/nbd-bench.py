#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""NBD export benchmark: fio's nbd engine against fdsetd, qemu-storage-daemon
(aio=threads and aio=io_uring), nbdkit's file plugin and nbdkit's memory
plugin (the transport floor).  Python standard library only; see
bench/README.md."""

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
from benchlib import Client, QMPFailure, rotate  # noqa: E402
from peers import (Proc, Unavailable, load, make_qcow2_from,  # noqa: E402
                   make_raw, print_table, proc_cpu_s, ratio,
                   settle_page_cache, wait_unix)

EXPORT = "disk"

# (label, fio options).  Multi-conn rows: numjobs connections, each with
# its own queue (fio's nbd engine opens one libnbd handle per job).
JOBS = [
    ("4k randread QD16", {"rw": "randread", "bs": "4k", "iodepth": 16}),
    ("4k randwrite QD16", {"rw": "randwrite", "bs": "4k", "iodepth": 16}),
    ("4k randread QD1", {"rw": "randread", "bs": "4k", "iodepth": 1}),
    ("1M read QD4", {"rw": "read", "bs": "1M", "iodepth": 4}),
    ("1M write QD4", {"rw": "write", "bs": "1M", "iodepth": 4}),
]
MULTI_JOBS = [
    ("4k randread 4conn x QD4",
     {"rw": "randread", "bs": "4k", "iodepth": 4, "numjobs": 4}),
    ("4k randwrite 4conn x QD4",
     {"rw": "randwrite", "bs": "4k", "iodepth": 4, "numjobs": 4}),
]

TARGETS = ["fdsetd", "qsd-threads", "qsd-io_uring", "nbdkit-file",
           "nbdkit-memory"]
QSDS = ["qsd-threads", "qsd-io_uring"]
PEERS = ["qsd-threads", "qsd-io_uring", "nbdkit-file"]   # not the floor


# --------------------------------------------------------------------------
# Targets: start() serves @image (format @fmt) as export "disk" on a unix
# socket and returns its NBD URI; stop() ends every process it started.
# --------------------------------------------------------------------------

class Target:
    def __init__(self, name: str, workdir: str, args):
        self.name = name
        self.workdir = workdir
        self.args = args
        self.procs: list[Proc] = []
        self.seq = 0

    def path(self, suffix: str) -> str:
        return os.path.join(self.workdir, f"{self.name}-{self.seq}.{suffix}")

    def spawn(self, argv) -> Proc:
        p = Proc(argv, self.path("log"))
        self.procs.append(p)
        return p

    @property
    def pid(self) -> int:
        return self.procs[0].pid

    def start(self, image: str, fmt: str) -> str:
        self.seq += 1
        try:
            return self._start(image, fmt)
        except Unavailable as e:
            tail = self.procs[0].tail() if self.procs else ""
            self.stop()
            raise Unavailable(str(e) + (f" [{tail}]" if tail else "")) from e

    def uri(self, sock: str, name: str = EXPORT) -> str:
        return f"nbd+unix:///{name}?socket={sock}"

    def stop(self):
        for p in self.procs:
            p.stop()
        self.procs = []


class Fdsetd(Target):
    """The image passed by add-fd, opened via /dev/fdset/1, exported over
    QMP.  The QMP connection stays open: it owns the fdset's member."""

    def __init__(self, name, workdir, args, binary):
        super().__init__(name, workdir, args)
        self.binary = binary

    def _start(self, image, fmt):
        qmp = self.path("qmp")
        sock = self.path("nbd")
        p = self.spawn([self.binary, "--qmp",
                        f"unix:{qmp},server=on,wait=off"])
        wait_unix(qmp, p.p)
        try:
            self.qmp = Client(qmp).open(p.p)
            fd = os.open(image, os.O_RDWR | os.O_CLOEXEC)
            try:
                self.qmp.cmd("add-fd", {"fdset-id": 1}, [fd])
            finally:
                os.close(fd)
            self.qmp.cmd("blockdev-add", {
                "driver": fmt, "node-name": EXPORT,
                "file": {"driver": "file", "filename": "/dev/fdset/1"}})
            self.qmp.cmd("nbd-server-start", {
                "addr": {"type": "unix", "data": {"path": sock}}})
            self.qmp.cmd("block-export-add", {
                "type": "nbd", "id": "exp0", "node-name": EXPORT,
                "writable": True, "name": EXPORT})
        except QMPFailure as e:
            raise Unavailable(f"refused: {str(e)[:200]}") from e
        wait_unix(sock, p.p)
        return self.uri(sock)

    def stop(self):
        q = getattr(self, "qmp", None)
        if q is not None:
            q.close()
            self.qmp = None
        super().stop()


class Qsd(Target):
    def __init__(self, name, workdir, args, aio):
        super().__init__(name, workdir, args)
        self.aio = aio

    def _start(self, image, fmt):
        sock = self.path("nbd")
        p = self.spawn([
            self.args.qsd,
            "--blockdev", f"driver=file,node-name=file0,filename={image},"
                          f"aio={self.aio}",
            "--blockdev", f"driver={fmt},node-name={EXPORT},file=file0",
            "--nbd-server", f"addr.type=unix,addr.path={sock}",
            "--export", f"type=nbd,id=exp0,node-name={EXPORT},"
                        f"name={EXPORT},writable=on"])
        wait_unix(sock, p.p)
        return self.uri(sock)


class Nbdkit(Target):
    def __init__(self, name, workdir, args, plugin):
        super().__init__(name, workdir, args)
        self.plugin = plugin

    def _start(self, image, fmt):
        if self.plugin == "file" and fmt != "raw":
            raise Unavailable("nbdkit 1.32's file plugin serves raw bytes "
                              "only (no qcow2 decoder)")
        sock = self.path("nbd")
        plug = ["file", f"file={image}"] if self.plugin == "file" else \
            ["memory", f"size={os.path.getsize(image)}"]
        p = self.spawn([self.args.nbdkit, "-f", "-U", sock] + plug)
        wait_unix(sock, p.p)
        return self.uri(sock, "")


def make_target(name, workdir, args) -> Target:
    if name == "fdsetd":
        return Fdsetd(name, workdir, args, args.fdsetd)
    if name == "fdsetd-base":
        return Fdsetd(name, workdir, args, args.baseline)
    if name.startswith("qsd-"):
        return Qsd(name, workdir, args, name[4:])
    return Nbdkit(name, workdir, args, name.split("-", 1)[1])


# --------------------------------------------------------------------------
# One fio run
# --------------------------------------------------------------------------

def run_fio(args, uri: str, size: int, opts: dict, out: str) -> dict:
    """Run one fio job against @uri; returns iops, MiB/s and the count of
    I/Os (for CPU per op)."""
    argv = [args.fio, "--name=bench", "--ioengine=nbd", f"--uri={uri}",
            f"--size={size}", "--time_based", f"--runtime={args.runtime}",
            "--group_reporting", "--output-format=json", f"--output={out}"]
    argv += [f"--{k}={v}" for k, v in opts.items()]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=args.runtime + 60)
    if p.returncode != 0:
        raise Unavailable("fio failed: " +
                          (p.stderr or p.stdout).strip()[-200:])
    with open(out) as f:
        job = json.load(f)["jobs"][0]
    if job.get("error"):
        raise Unavailable(f"fio job error {job['error']}")
    side = job["read"] if opts["rw"] in ("read", "randread") else \
        job["write"]
    return {"iops": side["iops"], "mibs": side["bw_bytes"] / (1 << 20),
            "ios": side["total_ios"]}


# --------------------------------------------------------------------------
# The run: per format, N rounds; in each round every target in turn
# (order rotating), each target started once per round and given every job.
# --------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.workdir = args.workdir or tempfile.mkdtemp(prefix="nbd-bench-")
        os.makedirs(self.workdir, exist_ok=True)
        self.jobs = JOBS + ([] if args.no_multi_conn else MULTI_JOBS)
        # res[fmt][job][target] = list of per-round dicts
        self.res: dict = {}
        self.why: dict = {}          # (fmt, target) -> reason for n/a
        self.job_why: dict = {}      # (fmt, job, target) -> reason
        self.notes: list[str] = []
        self.targets = [make_target(n, self.workdir, args)
                        for n in args.targets]

    def log(self, text):
        if not self.args.quiet:
            print(text, file=sys.stderr, flush=True)

    def images(self) -> dict:
        size = self.args.size
        raw = os.path.join(self.workdir, "disk.raw")
        qcow2 = os.path.join(self.workdir, "disk.qcow2")
        self.log(f"writing {size >> 20} MiB raw and qcow2 images in "
                 f"{self.workdir}")
        make_raw(raw, size)
        imgs = {"raw": raw}
        if "qcow2" in self.args.formats:
            make_qcow2_from(raw, qcow2)
            imgs["qcow2"] = qcow2
        return {f: imgs[f] for f in self.args.formats}

    def run(self):
        imgs = self.images()
        for fmt, image in imgs.items():
            for r in range(self.args.rounds):
                for t in rotate(self.targets, r):
                    self.one_round(t, fmt, image, r)

    def one_round(self, t: Target, fmt: str, image: str, r: int):
        if (fmt, t.name) in self.why:
            return
        if t.name == "nbdkit-memory" and fmt != self.args.formats[0]:
            return      # format-independent floor: measured once
        if t.name != "nbdkit-memory":
            settle_page_cache(image)
        try:
            uri = t.start(image, fmt)
        except Unavailable as e:
            self.why[(fmt, t.name)] = str(e)
            self.log(f"  {fmt} {t.name}: n/a: {e}")
            return
        try:
            for label, opts in self.jobs:
                if (fmt, label, t.name) in self.job_why:
                    continue
                try:
                    m = self.one_job(t, uri, opts)
                except (Unavailable, subprocess.TimeoutExpired, OSError,
                        ValueError, KeyError) as e:
                    why = f"{type(e).__name__}: {e}"[:300]
                    if t.procs and t.procs[0].p.poll() is not None:
                        self.why[(fmt, t.name)] = "server died: " + why
                        self.log(f"  {fmt} {t.name}: died: {e}")
                        return
                    self.job_why[(fmt, label, t.name)] = why
                    self.log(f"  {fmt} {t.name} {label}: failed: {e}")
                    continue
                self.res.setdefault(fmt, {}).setdefault(label, {}) \
                    .setdefault(t.name, []).append(m)
                self.log(f"  {fmt} round {r + 1} {t.name:13} {label:24} "
                         f"{m['iops']:9.0f} IOPS {m['mibs']:7.1f} MiB/s "
                         f"{m['cpu_us']:6.1f} us CPU/op")
        finally:
            t.stop()

    def one_job(self, t: Target, uri: str, opts: dict) -> dict:
        c0 = proc_cpu_s(t.pid)
        m = run_fio(self.args, uri, self.args.size, opts, t.path("fio.json"))
        m["cpu_us"] = (proc_cpu_s(t.pid) - c0) * 1e6 / max(m["ios"], 1)
        return m

    def stop_all(self):
        for t in self.targets:
            t.stop()

    # ---- results
    def median(self, fmt, label, target, key):
        runs = self.res.get(fmt, {}).get(label, {}).get(target)
        if not runs and target == "nbdkit-memory":
            runs = self.res.get(self.args.formats[0], {}).get(label, {}) \
                .get(target)
        if not runs:
            return None
        return statistics.median(m[key] for m in runs)

    def summary(self) -> list[dict]:
        rows = []
        for fmt in self.args.formats:
            for label, _ in self.jobs:
                row = {"job": label, "format": fmt, "targets": {}}
                for t in self.args.targets:
                    vals = {k: self.median(fmt, label, t, k)
                            for k in ("iops", "mibs", "cpu_us")}
                    if vals["iops"] is None:
                        vals = {"n/a": self.job_why.get(
                            (fmt, label, t), self.why.get((fmt, t),
                                                          "not run"))}
                    row["targets"][t] = vals
                f = row["targets"].get("fdsetd", {}).get("iops")
                peers = [row["targets"][p]["iops"] for p in PEERS
                         if row["targets"].get(p, {}).get("iops")]
                qsds = [row["targets"][p]["iops"] for p in QSDS
                        if row["targets"].get(p, {}).get("iops")]
                row["best_peer"] = max(peers) if peers else None
                row["better_qsd"] = max(qsds) if qsds else None
                row["fdsetd_vs_best_peer"] = (f / max(peers)) \
                    if f and peers else None
                row["fdsetd_vs_better_qsd"] = (f / max(qsds)) \
                    if f and qsds else None
                base = row["targets"].get("fdsetd-base", {}).get("iops")
                row["fdsetd_vs_base"] = f / base if f and base else None
                rows.append(row)
        return rows

    def print(self, rows, out=sys.stdout):
        a = self.args
        print(f"\nNBD bench: {a.size >> 20} MiB images, fio nbd engine, "
              f"{a.runtime} s per job, median of {a.rounds} round(s); "
              f"load {load()}", file=out)
        print("cells: IOPS / MiB/s; ratios are fdsetd's IOPS over the best "
              "peer (qsd x2, nbdkit-file) and over the better qsd\n", file=out)
        header = ["job", "fmt"] + a.targets + ["fdsetd/best", "fdsetd/qsd"]
        if a.baseline:
            header.append("fdsetd/base")
        body = []
        for row in rows:
            cells = [row["job"], row["format"]]
            for t in a.targets:
                v = row["targets"][t]
                cells.append("n/a" if "n/a" in v else
                             f"{fmt_iops(v['iops'])} / {v['mibs']:.0f}")
            cells.append(ratio(row["fdsetd_vs_best_peer"], 1))
            cells.append(ratio(row["fdsetd_vs_better_qsd"], 1))
            if a.baseline:
                cells.append(ratio(row["fdsetd_vs_base"], 1))
            body.append(cells)
        print_table(header, body, out)
        print("\nserver CPU per I/O (us, utime+stime from /proc/PID/stat)\n",
              file=out)
        body = []
        for row in rows:
            cells = [row["job"], row["format"]]
            for t in a.targets:
                v = row["targets"][t]
                cells.append("n/a" if "n/a" in v else f"{v['cpu_us']:.1f}")
            body.append(cells)
        print_table(["job", "fmt"] + a.targets, body, out)
        self.print_goals(rows, out)
        if self.why or self.job_why:
            print("\nn/a reasons:", file=out)
            for (fmt, t), why in sorted(self.why.items()):
                print(f"  {fmt} {t}: {why}", file=out)
            for (fmt, label, t), why in sorted(self.job_why.items()):
                print(f"  {fmt} {t} {label}: {why}", file=out)
        for n in self.notes:
            print(f"note: {n}", file=out)

    def print_goals(self, rows, out):
        """Issue 12: on every row >= the best peer and >= 1.3x the better
        qsd; on qcow2 >= 1.3x qsd's qcow2 (the better of the two)."""
        print("\ngoals (issue 12: >= best peer and >= 1.3x better qsd):",
              file=out)
        for row in rows:
            b, q = row["fdsetd_vs_best_peer"], row["fdsetd_vs_better_qsd"]
            if b is None and q is None:
                verdict = "n/a"
            else:
                ok = (b is None or b >= 1.0) and (q is None or q >= 1.3)
                verdict = "PASS" if ok else "MISS"
            print(f"  {verdict:4} {row['job']} {row['format']}: "
                  f"vs best peer {ratio(b, 1)}, vs better qsd {ratio(q, 1)}",
                  file=out)


def fmt_iops(v: float) -> str:
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def parse_args(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_fdsetd = os.path.join(os.path.dirname(here), "build", "fdsetd")
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fdsetd", default=default_fdsetd)
    ap.add_argument("--baseline", metavar="FDSETD",
                    help="another fdsetd binary (e.g. main's) measured in "
                    "the same rounds as column fdsetd-base; not in the goals")
    ap.add_argument("--qsd", default=shutil.which("qemu-storage-daemon")
                    or "qemu-storage-daemon")
    ap.add_argument("--nbdkit", default=shutil.which("nbdkit") or "nbdkit")
    ap.add_argument("--fio", default=shutil.which("fio") or "fio")
    ap.add_argument("--quick", action="store_true",
                    help="1 round, 1 s per job, 128 MiB, no multi-conn")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--runtime", type=int, help="seconds per fio job")
    ap.add_argument("--size-mib", type=int)
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--formats", default="raw,qcow2")
    ap.add_argument("--jobs", help="comma-separated substrings of job "
                    "labels to keep, e.g. 'randread QD16,1M read'")
    ap.add_argument("--no-multi-conn", action="store_true")
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true",
                    help="keep the workdir (images, logs)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    q = a.quick
    a.rounds = a.rounds or (1 if q else 3)
    a.runtime = a.runtime or (1 if q else 10)
    a.size = (a.size_mib or (128 if q else 1024)) << 20
    a.no_multi_conn = a.no_multi_conn or q
    a.targets = [t for t in a.targets.split(",") if t]
    a.formats = [f for f in a.formats.split(",") if f]
    if a.baseline and "fdsetd-base" not in a.targets:
        a.targets.insert(a.targets.index("fdsetd") + 1
                         if "fdsetd" in a.targets else 0, "fdsetd-base")
    for t in a.targets:
        if t == "fdsetd-base" and not a.baseline:
            ap.error("target fdsetd-base needs --baseline FDSETD")
        if t not in TARGETS + ["fdsetd-base"]:
            ap.error(f"unknown target {t}; known: {','.join(TARGETS)}")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    for tool in ("qemu-img", "qemu-io"):
        if not shutil.which(tool):
            print(f"nbd-bench: {tool} is needed to write the images",
                  file=sys.stderr)
            return 2
    if not shutil.which(a.fio):
        print("nbd-bench: fio is not installed", file=sys.stderr)
        return 2
    b = Bench(a)
    if a.jobs:
        keep = a.jobs.split(",")
        b.jobs = [j for j in b.jobs if any(k in j[0] for k in keep)]
    t0 = time.monotonic()
    try:
        b.run()
    except KeyboardInterrupt:
        b.notes.append("interrupted: partial results")
    finally:
        b.stop_all()
        if not a.keep and not a.workdir:
            shutil.rmtree(b.workdir, ignore_errors=True)
    rows = b.summary()
    b.print(rows)
    print(f"\n(total {time.monotonic() - t0:.0f} s)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"bench": "nbd", "size": a.size, "runtime": a.runtime,
                       "rounds": a.rounds, "load": load(), "rows": rows,
                       "notes": b.notes}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
