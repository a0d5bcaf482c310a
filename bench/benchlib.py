# SPDX-License-Identifier: GPL-2.0-or-later
"""Pieces of bench.py: a QMP client with SCM_RIGHTS, the three servers, and
measurement helpers.  Python standard library only."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NOFILE = 1 << 18        # fds for 100,000 sets plus 1,000 connections


# --------------------------------------------------------------------------
# QMP client (one connection).  Requests go out in one sendmsg each, with
# their fds as SCM_RIGHTS; replies are read as lines.  Timed paths send
# pre-encoded bytes and return the raw reply line (no JSON parsing in the
# timed section: that would be client cost, not server cost).
# --------------------------------------------------------------------------

class QMPFailure(Exception):
    pass


class Client:
    def __init__(self, path: str, timeout: float = 60.0):
        self.path = path
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.scan = 0           # no newline in buf[:scan]
        self.rbuf = bytearray(1 << 20)
        self.rview = memoryview(self.rbuf)
        self.events: list[dict] = []
        self.greeting: dict | None = None
        self.poller = None

    def connect(self, deadline: float, proc=None, poll: float = 0.0001):
        """Connect, retrying until the socket accepts (or @deadline)."""
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                self.sock = s
                return self
            except OSError as e:
                s.close()
                err = e
            if proc is not None and proc.poll() is not None:
                raise QMPFailure(f"server exited ({proc.returncode}) before "
                                 f"accepting on {self.path}")
            if time.monotonic() > deadline:
                raise QMPFailure(f"cannot connect to {self.path}: {err}")
            time.sleep(poll)

    def open(self, proc=None, negotiate: bool = True) -> "Client":
        self.connect(time.monotonic() + 30, proc)
        self.greeting = json.loads(self.line())
        if negotiate:
            self.cmd("qmp_capabilities")
        return self

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # ---- sending
    def send(self, data: bytes, fds=()):
        view = memoryview(data)
        if fds:
            n = socket.send_fds(self.sock, [view], list(fds))
            view = view[n:]
        while len(view):
            view = view[self.sock.send(view):]

    # ---- receiving
    def line(self) -> bytes:
        """Next line from the server, without its line end."""
        while True:
            nl = self.buf.find(b"\n", self.scan)
            if nl >= 0:
                out = bytes(self.buf[:nl])
                del self.buf[:nl + 1]
                self.scan = 0
                return out.rstrip(b"\r")
            self.scan = len(self.buf)
            if self.poller is None:    # poll(): fds may be above 1024
                self.poller = select.poll()
                self.poller.register(self.sock, select.POLLIN)
            if not self.poller.poll(self.timeout * 1000):
                raise QMPFailure(f"{self.path}: no reply within "
                                 f"{self.timeout} s")
            n = self.sock.recv_into(self.rbuf)
            if not n:
                raise QMPFailure(f"{self.path}: connection closed")
            self.buf += self.rview[:n]

    def reply(self) -> bytes:
        """Next line that is not an event (events go to self.events)."""
        while True:
            ln = self.line()
            if b'"event"' in ln:
                msg = json.loads(ln)
                if "event" in msg and "return" not in msg \
                        and "error" not in msg:
                    self.events.append(msg)
                    continue
            return ln

    def rt(self, req: bytes, fds=()) -> bytes:
        """Timed round trip: send, wait for the reply line, check success."""
        self.send(req, fds)
        ln = self.reply()
        if not ln.startswith(b'{"return"') and b'"return"' not in ln:
            raise QMPFailure(f"{req.decode().strip()} failed: "
                             f"{ln[:300].decode(errors='replace')}")
        return ln

    def cmd(self, execute: str, args: dict | None = None, fds=()) -> object:
        obj = {"execute": execute}
        if args is not None:
            obj["arguments"] = args
        self.send(json.dumps(obj).encode() + b"\n", fds)
        msg = json.loads(self.reply())
        if "return" not in msg:
            raise QMPFailure(f"{execute} {args}: {msg}")
        return msg["return"]

    def wait_event(self, name: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("event") == name:
                    return self.events.pop(i)
            if time.monotonic() > deadline:
                raise QMPFailure(f"no {name} event")
            ln = self.line()
            msg = json.loads(ln)
            if "event" in msg:
                self.events.append(msg)


def req(execute: str, args: dict | None = None) -> bytes:
    obj = {"execute": execute}
    if args is not None:
        obj["arguments"] = args
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def add_sets(c: Client, ids, fd: int, window: int = 64):
    """add-fd of @fd into each set id in @ids, pipelined @window deep."""
    pending = 0
    for i in ids:
        c.send(b'{"execute":"add-fd","arguments":{"fdset-id":%d}}\n' % i,
               [fd])
        pending += 1
        if pending >= window:
            check_reply(c, "add-fd")
            pending -= 1
    while pending:
        check_reply(c, "add-fd")
        pending -= 1


def check_reply(c: Client, what: str):
    ln = c.reply()
    if b'"return"' not in ln:
        raise QMPFailure(f"{what}: {ln[:300].decode(errors='replace')}")


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

class Server:
    """One server process listening on a unix socket in @workdir."""

    kind = "?"

    def __init__(self, binary: str, workdir: str):
        self.binary = binary
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.sock = ""
        self.seq = 0

    def argv(self, sock: str, **kw) -> list[str]:
        raise NotImplementedError

    def spawn(self, **kw) -> subprocess.Popen:
        self.seq += 1
        self.sock = os.path.join(self.workdir, f"{self.kind}-{self.seq}.sock")
        self.stderr = open(os.path.join(self.workdir,
                                        f"{self.kind}-{self.seq}.log"), "wb")
        self.proc = subprocess.Popen(self.argv(self.sock, **kw),
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr)
        return self.proc

    def start(self, **kw) -> "Server":
        self.spawn(**kw)
        return self

    def client(self, negotiate=True) -> Client:
        return Client(self.sock).open(self.proc, negotiate)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        try:
            os.unlink(self.sock)
        except OSError:
            pass
        self.proc = None

    def log_tail(self) -> str:
        try:
            with open(self.stderr.name, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""


class Fdsetd(Server):
    kind = "fdsetd"

    def argv(self, sock, limits=False):
        a = [self.binary, "--qmp", f"unix:{sock},server=on,wait=off"]
        if limits:  # room for the big figures; defaults otherwise
            n = str(NOFILE)
            a += ["--max-sets", n, "--max-fds-total", n,
                  "--max-connections", n]
        return a


class Qemu(Server):
    kind = "qemu"

    def argv(self, sock, limits=False):
        return [self.binary, "-machine", "none", "-nodefaults",
                "-display", "none",
                "-qmp", f"unix:{sock},server=on,wait=off"]


class Floor(Server):
    kind = "floor"

    def argv(self, sock, limits=False, match=None, reply_file=None):
        a = [self.binary, "-s", sock]
        if match:
            a += ["-m", match, "-r", reply_file]
        return a


def build_floor(out_dir: str) -> str:
    src = os.path.join(HERE, "floor.c")
    out = os.path.join(out_dir, "floor")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-Wall", "-o", out, src], check=True)
    return out


# --------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------

def rotate(items, r):
    r %= len(items)
    return items[r:] + items[:r]


def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def settle():
    """Let the machine calm down after a burst of setup work."""
    time.sleep(0.3)


def now_ns() -> int:
    return time.perf_counter_ns()


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of @pid so far, ns (schedstat)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass            # a thread that just exited
    return total


class Tally:
    """What one server did in one run: samples (us), wall and CPU time."""

    def __init__(self):
        self.samples: list[float] = []
        self.wall_ns = 0
        self.cpu_ns = 0


def interleaved_run(servers, slices: int, work) -> dict:
    """One run: @slices rounds; in each, every server does work(server)
    once, the order rotating.  Short slices spread background noise over
    all servers alike.  work() returns a list of samples (may be empty)."""
    out = {s.kind: Tally() for s in servers}
    for i in range(slices):
        for s in rotate(servers, i):
            t = out[s.kind]
            c0 = cpu_ns(s.pid)
            t0 = now_ns()
            t.samples += work(s)
            t.wall_ns += now_ns() - t0
            t.cpu_ns += cpu_ns(s.pid) - c0
    return out


def anon_kib(pid: int) -> int:
    """Anonymous memory ([heap] and anonymous mappings) of @pid, KiB."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for ln in f:
            if ln.startswith("Anonymous:"):
                return int(ln.split()[1])
    raise RuntimeError("no Anonymous: in smaps_rollup")


def tmpfile(workdir: str, name: str, size: int = 1 << 20) -> str:
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path
