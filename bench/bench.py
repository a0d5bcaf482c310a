#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make bench: fdsetd against QEMU 7.2 and a do-nothing "floor" server.

Every figure drives the three servers with the same client code below, one
QMP connection per server, alternating servers run by run (the order rotates),
and reports the median of the runs.  See bench/README.md for how to read the
table and what each figure measures.

Python standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import (NOFILE, Client, Fdsetd, Floor, Qemu, QMPFailure,
                      Server, add_sets, anon_kib, build_floor, check_reply,
                      interleaved_run, now_ns, pct, req, rotate, settle,
                      tmpfile)

FIGURES = "abcdefg"


class Row:
    """One table row: values per server (None = n/a, str = note)."""

    def __init__(self, fig: str, label: str, unit: str, values: dict,
                 ratios: bool = True):
        self.fig = fig
        self.label = label
        self.unit = unit
        self.values = values
        self.ratios = ratios    # False for differences near zero


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.runs = args.runs or (3 if args.quick else 5)
        self.workdir = tempfile.mkdtemp(prefix="fdsetd-bench-",
                                        dir=args.workdir)
        self.rows: list[Row] = []
        self.goals: list[tuple[str, str, object, str]] = []
        self.notes: list[str] = []
        self.kinds = ["fdsetd", "qemu", "floor"]
        self.bins = {"fdsetd": args.fdsetd, "qemu": args.qemu,
                     "floor": args.floor}
        self.classes = {"fdsetd": Fdsetd, "qemu": Qemu, "floor": Floor}
        self.live: list[Server] = []
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        # every member is an fd in the server: leave room for sockets
        self.max_sets = (self.nofile - 512) // 1000 * 1000

    # ---- servers
    def servers(self, kinds=None, **kw) -> list[Server]:
        out = []
        for k in kinds or self.kinds:
            if self.bins.get(k) is None:
                continue
            s = self.classes[k](self.bins[k], self.workdir).start(**kw)
            self.live.append(s)
            out.append(s)
        return out

    def stop(self, servers):
        for s in servers:
            s.stop()
            if s in self.live:
                self.live.remove(s)

    def stop_all(self):
        self.stop(list(self.live))

    def row(self, fig, label, unit, values, ratios=True):
        r = Row(fig, label, unit, values, ratios)
        self.rows.append(r)
        return r

    def goal(self, fig: str, text: str, ok, detail: str):
        """ok: True/False, or None when it could not be evaluated."""
        self.goals.append((fig, text, ok, detail))

    def note(self, text: str):
        self.notes.append(text)

    def progress(self, text: str):
        print(f"  .. {text}", file=sys.stderr, flush=True)

    # ---- the figures
    def fig_a(self):
        n = 200 if self.quick else 2000
        slices = 10
        self.progress(f"(a) add-fd + remove-fd x {n}")
        srv = self.servers()
        path = tmpfile(self.workdir, "a.img")
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        add = req("add-fd", {"fdset-id": 7})
        rm = req("remove-fd", {"fdset-id": 7})
        wall = {s.kind: [] for s in srv}
        cpu = {s.kind: [] for s in srv}
        try:
            conns = {s.kind: s.client() for s in srv}

            def pairs(s):
                c = conns[s.kind]
                for _ in range(n // slices):
                    c.rt(add, [fd])
                    c.rt(rm)
                return []

            for s in srv:                       # warm up
                pairs(s)
            settle()
            for r in range(self.runs):
                for k, t in interleaved_run(rotate(srv, r), slices,
                                            pairs).items():
                    wall[k].append(t.wall_ns / n / 1000)
                    cpu[k].append(t.cpu_ns / n / 1000)
            left = conns["fdsetd"].cmd("query-fdsets") \
                if "fdsetd" in conns else []
            if left:
                self.note(f"(a) fdsetd still lists {len(left)} set(s) "
                          "after the remove-fd of every pair")
        finally:
            os.close(fd)
            self.stop(srv)
        vals = {k: statistics.median(v) for k, v in wall.items()}
        cvals = {k: statistics.median(v) for k, v in cpu.items()}
        self.row("a", f"add-fd+remove-fd pair ({n} pairs)", "us", vals)
        self.row("a", "  server CPU per pair", "us", cvals)
        self.goal_ratio("a", "add-fd+remove-fd <= 1.3x floor", vals, 1.3,
                        cvals)

    def fig_b(self):
        sizes = [1, 100, 1000] if self.quick else [1, 1000, 10000]
        queries = 20 if self.quick else 40
        self.progress(f"(b) query-fdsets at {sizes} sets")
        srv = self.servers(["fdsetd", "qemu"], limits=True)
        path = tmpfile(self.workdir, "b.img")
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        q = req("query-fdsets")
        top = sizes[-1]
        floor = None
        try:
            conns = {s.kind: s.client() for s in srv}
            have = 0
            for size in sizes:
                # ids top-1 downwards: each new set heads QEMU's sorted list
                ids = range(top - 1 - have, top - 1 - size, -1)
                for c in conns.values():
                    add_sets(c, ids, fd)
                have = size
                servers = list(srv)
                if "floor" in self.kinds and self.bins["floor"]:
                    sample = conns.get("fdsetd", conns.get("qemu")).rt(q)
                    rfile = os.path.join(self.workdir, f"reply-{size}.json")
                    with open(rfile, "wb") as f:
                        f.write(sample + b"\n")
                    floor = self.servers(["floor"], match="query-fdsets",
                                         reply_file=rfile)[0]
                    conns["floor"] = floor.client()
                    servers.append(floor)
                res = {s.kind: [] for s in servers}
                cpu = {s.kind: [] for s in servers}
                nbytes = {}
                for s in servers:     # warm up, and check the set count
                    ln = conns[s.kind].rt(q)
                    nbytes[s.kind] = len(ln)
                    got = len(json.loads(ln)["return"])
                    if s.kind != "floor" and got != size:
                        raise QMPFailure(f"{s.kind}: query-fdsets lists "
                                         f"{got} sets, expected {size}")
                settle()

                def queries_of(s, k=5):
                    c = conns[s.kind]
                    lat = []
                    for _ in range(k):
                        t0 = now_ns()
                        c.rt(q)
                        lat.append((now_ns() - t0) / 1000)
                    return lat

                for r in range(self.runs):
                    for k, t in interleaved_run(rotate(servers, r),
                                                queries // 5,
                                                queries_of).items():
                        res[k].append(statistics.median(t.samples))
                        cpu[k].append(t.cpu_ns / len(t.samples) / 1000)
                vals = {k: statistics.median(v) for k, v in res.items()}
                cvals = {k: statistics.median(v) for k, v in cpu.items()}
                self.row("b", f"query-fdsets, {size} sets", "us", vals)
                if size == top:
                    self.row("b", f"  server CPU per query, {size} sets",
                             "us", cvals)
                if size == top:
                    self.note(f"(b) reply size at {size} sets: " + ", ".join(
                        f"{k} {v} bytes" for k, v in nbytes.items()) +
                        " (the floor sends fdsetd's reply)")
                    self.goal_ratio("b", f"query-fdsets at {size} sets "
                                    "<= 1.3x floor", vals, 1.3, cvals)
                if floor is not None:
                    conns.pop("floor").close()
                    self.stop([floor])
                    floor = None
        finally:
            os.close(fd)
            self.stop(srv + ([floor] if floor else []))

    def fig_cd(self, do_c: bool, do_d: bool):
        """(c) and (d) share one setup: 1 set, then 10k, then 100k."""
        want = 10000 if self.quick else 100000
        mid = 1000 if self.quick else 10000
        big = min(want, self.max_sets)
        if big < want:
            self.note(f"(c)(d) {big} sets instead of {want}: every set holds "
                      f"one member fd and RLIMIT_NOFILE is capped at "
                      f"{self.nofile} (hard limit; raising it needs "
                      "CAP_SYS_RESOURCE)")
        pairs = 40 if self.quick else 300
        self.progress(f"({'c' if do_c else ''}{'d' if do_d else ''}) "
                      f"sets up to {big}")
        srv = self.servers(limits=True)
        path = tmpfile(self.workdir, "c.img")
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            conns = {s.kind: s.client() for s in srv}
            for c in conns.values():
                add_sets(c, [0], fd)

            def add_del(sid):
                return (req("blockdev-add", {
                            "driver": "file", "node-name": "bench-c",
                            "filename": f"/dev/fdset/{sid}",
                            "read-only": True}),
                        req("blockdev-del", {"node-name": "bench-c"}))

            def measure(sid_list):
                """add+del time per set id, alternating servers in short
                slices; the ids alternate too, so drift hits them alike.
                Returns the median times per id and the median paired
                difference last - first per server."""
                res = {(s.kind, sid): [] for s in srv for sid in sid_list}
                dif = {s.kind: [] for s in srv}
                cmds = [add_del(sid) for sid in sid_list]

                def pairs_of(s, k=10):
                    c = conns[s.kind]
                    out = []
                    for i in range(k):
                        lat = [0.0] * len(cmds)
                        order = range(len(cmds))
                        for j in (order if i % 2 else reversed(order)):
                            a, d = cmds[j]
                            t0 = now_ns()
                            c.rt(a)
                            c.rt(d)
                            lat[j] = (now_ns() - t0) / 1000
                        out.append(lat)
                    return out

                for s in srv:                     # warm up
                    pairs_of(s, 5)
                settle()
                for r in range(self.runs):
                    for k, t in interleaved_run(rotate(srv, r), pairs // 10,
                                                pairs_of).items():
                        for j, sid in enumerate(sid_list):
                            res[(k, sid)].append(statistics.median(
                                x[j] for x in t.samples))
                        if len(sid_list) == 2:
                            dif[k].append(statistics.median(
                                x[1] - x[0] for x in t.samples))
                times = {sid: {s.kind: statistics.median(res[(s.kind, sid)])
                               for s in srv} for sid in sid_list}
                diffs = {k: statistics.median(v) for k, v in dif.items()
                         if v}
                return times, diffs

            if do_c:
                one = measure([0])[0][0]
                self.row("c", "blockdev-add+del /dev/fdset/0, 1 set", "us",
                         one)
            base = {s.kind: anon_kib(s.pid) for s in srv}
            have = 1
            for target in (mid, big):
                ids = range(big - have, big - target, -1)
                for c in conns.values():
                    add_sets(c, ids, fd)
                have = target
                if do_d:
                    per = {s.kind: (anon_kib(s.pid) - base[s.kind]) * 1024 /
                           (target - 1) for s in srv}
                    self.row("d", f"heap growth per set, {target} sets",
                             "B", per)
                    self.goal("d", f"<= 64 B heap per set at {target} sets",
                              per.get("fdsetd", 1e9) <= 64
                              if "fdsetd" in per else None,
                              f"fdsetd {fmt(per.get('fdsetd'))} B/set")
            if do_c:
                last = big - 1
                m, diff = measure([0, last])
                self.row("c", f"blockdev-add+del, {big} sets, first id 0",
                         "us", m[0])
                self.row("c", f"blockdev-add+del, {big} sets, last id "
                         f"{last}", "us", m[last])
                self.row("c", f"last id - first id, {big} sets", "us", diff,
                         ratios=False)
                d = diff.get("fdsetd")
                self.goal("c", f"last-id minus first-id <= 2 us at {big} "
                          "sets", None if d is None else d <= 2,
                          f"fdsetd {fmt(d)} us")
        finally:
            os.close(fd)
            self.stop(srv)

    def fig_e(self):
        runs = max(self.runs, 5) * 4
        self.progress(f"(e) spawn to greeting x {runs}")
        kinds = [k for k in self.kinds if self.bins.get(k)]
        res = {k: [] for k in kinds}
        for r in range(runs):
            for k in rotate(kinds, r):
                s = self.classes[k](self.bins[k], self.workdir)
                self.live.append(s)
                try:
                    t0 = now_ns()
                    s.spawn()
                    c = Client(s.sock)
                    c.connect(time.monotonic() + 30, s.proc, poll=0.00005)
                    c.line()
                    res[k].append((now_ns() - t0) / 1e6)
                    c.close()
                finally:
                    self.stop([s])
        vals = {k: statistics.median(v) for k, v in res.items()}
        self.row("e", "spawn to QMP greeting", "ms", vals)
        self.goal_ratio("e", "spawn to greeting <= 1.5x floor", vals, 1.5)

    def fig_g(self):
        """One daemon with n-1 idle connections besides the measuring one,
        and a twin of the same binary with only the measuring one.  Blocks
        of queries alternate between the twins, so background noise hits
        the idle and the busy daemon alike."""
        n = 100 if self.quick else 1000
        per_run = 1000 if self.quick else 3000
        block = 50
        self.progress(f"(g) query-version with {n} connections")
        # The twins are compared with each other: a cross-CPU wake-up (tens
        # of us in a VM) that lands on one and not the other would decide
        # the ratio.  Client and servers share one CPU here (inherited).
        saved_cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(saved_cpus)})
        try:
            self._fig_g(n, per_run, block)
        finally:
            os.sched_setaffinity(0, saved_cpus)
        self.note(f"(g) client and daemons pinned to CPU {min(saved_cpus)}")

    def _fig_g(self, n, per_run, block):
        kinds = [k for k in ("fdsetd", "floor") if self.bins.get(k)]
        busy = self.servers(kinds, limits=True)
        idle = self.servers(kinds, limits=True)
        q = req("query-version")
        lat = {(s.kind, m): [] for s in busy for m in ("idle", "busy")}
        others = []
        try:
            conns = {}
            for s in busy:
                conns[(s.kind, "busy")] = s.client()
                extra = [Client(s.sock) for _ in range(n - 1)]
                for o in extra:
                    o.connect(time.monotonic() + 30, s.proc)
                for o in extra:          # each a live, negotiated session
                    o.greeting = o.line()
                    o.send(req("qmp_capabilities"))
                for o in extra:
                    check_reply(o, "qmp_capabilities")
                others += extra
            for s in idle:
                conns[(s.kind, "idle")] = s.client()
            order = list(conns)
            for c in conns.values():     # warm up
                for _ in range(200):
                    c.rt(q)
            settle()
            for r in range(self.runs * per_run // block):
                for key in rotate(order, r):
                    c = conns[key]
                    out = lat[key]
                    for _ in range(block):
                        t0 = now_ns()
                        c.rt(q)
                        out.append((now_ns() - t0) / 1000)
        finally:
            for o in others:
                o.close()
            self.stop(busy + idle)
        vals = {}
        for p in (50, 99):
            for mode in ("idle", "busy"):
                v = {k: pct(lat[(k, mode)], p) for k in kinds}
                v["qemu"] = "n/a"
                vals[(p, mode)] = v
                label = (f"query-version p{p}, {n} connections" if
                         mode == "busy" else f"query-version p{p}, idle")
                self.row("g", label, "us", v)
        self.note("(g) QEMU: n/a -- its monitor serves one client at a "
                  "time; the other connections wait without a greeting")
        self.note(f"(g) percentiles of {self.runs * per_run} queries per "
                  f"series, in blocks of {block} alternating between the "
                  "daemon with the idle connections and a twin without")
        if "fdsetd" in kinds:
            ratio = vals[(99, "busy")]["fdsetd"] / vals[(99, "idle")]["fdsetd"]
            self.goal("g", f"p99 with {n} connections within 2x of idle",
                      ratio <= 2, f"fdsetd {ratio:.2f}x idle")

    # ---- (f) block-commit
    def fig_f(self):
        size = (64 << 20) if self.quick else (1 << 30)
        runs = self.runs if self.quick else 3
        self.progress(f"(f) block-commit of {size >> 20} MiB x {runs}")
        for tool in ("qemu-img", "qemu-io"):
            if not shutil.which(tool):
                self.note(f"(f) skipped: {tool} is not installed")
                return
        d = self.workdir
        base = os.path.join(d, "base.raw")
        top = os.path.join(d, "top.qcow2")
        sh(["qemu-img", "create", "-q", "-f", "raw", base, str(size)])
        sh(["qemu-io", "-f", "raw", "-c", f"write -q -P 0x11 0 {size}",
            base])
        sh(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F",
            "raw", top, str(size)])
        sh(["qemu-io", "-f", "qcow2", "-c", f"write -q -P 0x5a 0 {size}",
            top])
        kinds = [k for k in ("fdsetd", "qemu") if self.bins.get(k)]
        kinds.append("cp")
        res = {k: [] for k in kinds}
        checked = False
        try:
            for r in range(runs):
                for k in rotate(kinds, r):
                    os.sync()
                    if k == "cp":
                        res[k].append(self.cp_once(base, size))
                        continue
                    res[k].append(self.commit_once(k, base, top))
                    if k == "fdsetd" and not checked:
                        self.check_commit(base, size)
                        checked = True
        finally:
            for p in (base, top, base + ".copy"):
                if os.path.exists(p):
                    os.unlink(p)
        vals = {k: statistics.median(v) for k, v in res.items()}
        mib = size >> 20
        self.row("f", f"block-commit {mib} MiB qcow2 -> raw (floor = cp)",
                 "s", {"fdsetd": vals.get("fdsetd"), "qemu": vals.get("qemu"),
                       "floor": vals.get("cp")})
        self.note("(f) " + ", ".join(f"{k} {mib / v:.0f} MiB/s"
                                     for k, v in vals.items()) +
                  "; page cache kept warm for all three (files just "
                  "written), sync before each run, and each timed run ends "
                  "with fdatasync of the written file")
        if "fdsetd" in vals:
            f = vals["fdsetd"]
            q = vals.get("qemu")
            ok_q = None if q is None else f <= q
            ok_cp = mib / f >= 0.7 * mib / vals["cp"]
            self.goal("f", "commit >= QEMU speed and >= 0.7x cp",
                      None if ok_q is None else (ok_q and ok_cp),
                      f"fdsetd {mib / f:.0f} MiB/s, QEMU "
                      f"{'n/a' if q is None else f'{mib / q:.0f}'} MiB/s, "
                      f"cp {mib / vals['cp']:.0f} MiB/s")

    def cp_once(self, base: str, size: int) -> float:
        dst = base + ".copy"
        t0 = now_ns()
        sh(["cp", base, dst])
        fd = os.open(dst, os.O_RDONLY)
        os.fdatasync(fd)
        os.close(fd)
        t = (now_ns() - t0) / 1e9
        os.unlink(dst)
        return t

    def commit_once(self, kind: str, base: str, top: str) -> float:
        s = self.servers([kind], limits=True)[0]
        fds = []
        try:
            c = s.client()
            base_ro = os.open(base, os.O_RDONLY | os.O_CLOEXEC)
            top_rw = os.open(top, os.O_RDWR | os.O_CLOEXEC)
            base_rw = os.open(base, os.O_RDWR | os.O_CLOEXEC)
            fds = [base_ro, top_rw, base_rw]
            c.cmd("add-fd", {"fdset-id": 1, "opaque": "base:ro"}, [base_ro])
            c.cmd("add-fd", {"fdset-id": 2, "opaque": "top:rw"}, [top_rw])
            c.cmd("blockdev-add", {
                "driver": "raw", "node-name": "base", "read-only": True,
                "file": {"driver": "file", "node-name": "base-file",
                         "filename": "/dev/fdset/1"}})
            c.cmd("blockdev-add", {
                "driver": "qcow2", "node-name": "top", "backing": "base",
                "file": {"driver": "file", "node-name": "top-file",
                         "filename": "/dev/fdset/2"}})
            c.cmd("add-fd", {"fdset-id": 1, "opaque": "base:rw"}, [base_rw])
            t0 = now_ns()
            c.cmd("block-commit", {"job-id": "bench-commit",
                                   "device": "top"})
            ev = c.wait_event("BLOCK_JOB_READY")
            c.cmd("block-job-complete", {"device": "bench-commit"})
            ev = c.wait_event("BLOCK_JOB_COMPLETED")
            os.fdatasync(base_rw)
            t = (now_ns() - t0) / 1e9
            if ev.get("data", {}).get("error"):
                raise QMPFailure(f"{kind}: commit failed: {ev['data']}")
            c.close()
            return t
        except Exception:
            print(s.log_tail(), file=sys.stderr)
            raise
        finally:
            for fd in fds:
                os.close(fd)
            self.stop([s])

    def check_commit(self, base: str, size: int):
        """fdsetd's commit must have left the top's data in the base."""
        p = subprocess.run(["qemu-io", "-f", "raw", "-r", "-c",
                            f"read -q -P 0x5a 0 {size}", base],
                           capture_output=True, text=True)
        if p.returncode != 0 or "Pattern verification failed" in p.stdout:
            raise QMPFailure("fdsetd's block-commit left wrong data in the "
                             "base: " + (p.stdout + p.stderr)[:300])

    # ---- goals helper
    def goal_ratio(self, fig, text, vals, limit, cpu=None):
        f, fl = vals.get("fdsetd"), vals.get("floor")
        if not isinstance(f, float) or not isinstance(fl, float):
            self.goal(fig, text, None, "not measured")
            return
        detail = f"fdsetd {f / fl:.2f}x floor"
        if cpu and cpu.get("floor"):
            detail += (f" (server CPU {cpu['fdsetd']:.1f} vs "
                       f"{cpu['floor']:.1f} us: "
                       f"{cpu['fdsetd'] / cpu['floor']:.1f}x)")
        self.goal(fig, text, f / fl <= limit, detail)


def sh(argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def fmt(v, unit="") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}" if unit == "s" else f"{v:.2f}"


def ratio(a, b) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "-"
    if b == 0 or (abs(b) < 1e-9):
        return "-"
    if a < 0 or b < 0:
        return "-"
    return f"{a / b:.2f}x"


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
            f"{cpu}, Linux {platform.release()}, load "
            f"{os.getloadavg()[0]:.2f}")


def print_table(b: Bench):
    head = ["figure", "unit", "fdsetd", "QEMU", "floor", "fdsetd/QEMU",
            "fdsetd/floor"]
    lines = []
    for r in sorted(b.rows, key=lambda r: r.fig):
        v = r.values
        f, q, fl = v.get("fdsetd"), v.get("qemu"), v.get("floor")
        ratios = [ratio(f, q), ratio(f, fl)] if r.ratios else ["-", "-"]
        lines.append([f"({r.fig}) {r.label}", r.unit, fmt(f, r.unit),
                      fmt(q, r.unit), fmt(fl, r.unit)] + ratios)
    widths = [max(len(x[i]) for x in lines + [head]) for i in range(7)]

    def out(cols):
        print(" | ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                         for i, c in enumerate(cols)))
    out(head)
    print("-+-".join("-" * w for w in widths))
    for ln in lines:
        out(ln)
    print()
    print("Goals:")
    for fig, text, ok, detail in sorted(b.goals, key=lambda g: g[0]):
        mark = "PASS" if ok is True else "MISS" if ok is False else "n/a "
        print(f"  {mark}  ({fig}) {text}: {detail}")
    if b.notes:
        print()
        print("Notes:")
        for n in b.notes:
            print(f"  - {n}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fdsetd", required=True, help="fdsetd binary")
    ap.add_argument("--servers", default="fdsetd,qemu,floor",
                    help="servers to drive (default: fdsetd,qemu,floor)")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"),
                    help="QEMU binary (default: qemu-system-x86_64 on PATH)")
    ap.add_argument("--floor", help="floor binary (default: build "
                    "bench/floor.c next to the fdsetd binary)")
    ap.add_argument("--quick", action="store_true",
                    help="smaller counts, a few seconds")
    ap.add_argument("--only", default=FIGURES,
                    help="figures to run, e.g. a,b (default: all)")
    ap.add_argument("--runs", type=int, help="runs per figure (default 5, "
                    "3 with --quick; (f) uses 3)")
    ap.add_argument("--pin", type=int, metavar="CPU",
                    help="run the client and every server on this one CPU "
                    "(no cross-CPU wakeups: CPU cost alone)")
    ap.add_argument("--json", metavar="PATH",
                    help="also write the rows and goals as JSON")
    ap.add_argument("--workdir", default=None,
                    help="where sockets and images go (default: /tmp)")
    args = ap.parse_args()

    only = set(args.only.replace(",", "").lower())
    if not only <= set(FIGURES):
        ap.error(f"--only: figures are {','.join(FIGURES)}")
    servers = set(args.servers.split(","))
    if not servers <= {"fdsetd", "qemu", "floor"}:
        ap.error("--servers: choose from fdsetd,qemu,floor")
    if "fdsetd" in servers and not os.access(args.fdsetd, os.X_OK):
        ap.error(f"{args.fdsetd}: not an executable (build it first)")
    args.fdsetd = os.path.abspath(args.fdsetd)
    if args.floor is None:
        out_dir = os.path.join(os.path.dirname(args.fdsetd), "bench")
        os.makedirs(out_dir, exist_ok=True)
        args.floor = build_floor(out_dir)

    # fds for 100,000 sets and 1,000 connections, inherited by the servers
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, max(hard,
                                                                  NOFILE)))
    except (ValueError, OSError):   # no CAP_SYS_RESOURCE: the hard limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    if args.pin is not None:        # inherited by every server we start
        os.sched_setaffinity(0, {args.pin})
    b = Bench(args)
    for k in ("fdsetd", "qemu", "floor"):
        if k not in servers:
            b.bins[k] = None
    if not args.qemu:
        b.note("QEMU (qemu-system-x86_64) is not installed: its column is "
               "empty")
    print(f"fdsetd bench{' (quick)' if args.quick else ''}: {machine()}",
          flush=True)
    print(f"RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}, "
          f"{b.runs} runs per figure, median; servers alternate"
          + (f"; client and servers pinned to CPU {args.pin}"
             if args.pin is not None else "") + ".", flush=True)
    t_start = time.monotonic()
    failed = False
    try:
        for fig in FIGURES:
            if fig not in only or fig == "d" and "c" in only:
                continue
            try:
                if fig in "cd":
                    b.fig_cd("c" in only, "d" in only)
                else:
                    getattr(b, f"fig_{fig}")()
            except (QMPFailure, OSError, subprocess.CalledProcessError,
                    ValueError, KeyError) as e:
                failed = True
                b.note(f"({fig}) failed: {e}")
                for s in list(b.live):
                    tail = s.log_tail().strip()
                    if tail:
                        b.note(f"({fig}) {s.kind} log: {tail[-500:]}")
                b.stop_all()
    finally:
        b.stop_all()
        shutil.rmtree(b.workdir, ignore_errors=True)
    print()
    print_table(b)
    print(f"\n({time.monotonic() - t_start:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "quick": args.quick,
                       "runs": b.runs,
                       "rows": [{"figure": r.fig, "label": r.label,
                                 "unit": r.unit, "values": r.values}
                                for r in b.rows],
                       "goals": [{"figure": g[0], "goal": g[1],
                                  "met": g[2], "detail": g[3]}
                                 for g in b.goals],
                       "notes": b.notes}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
