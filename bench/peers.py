# SPDX-License-Identifier: GPL-2.0-or-later
"""Pieces shared by nbd-bench.py and job-bench.py: target processes that
may be missing or refuse, CPU time from /proc/PID/stat, images, a table
printer.  Python standard library only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Unavailable(Exception):
    """A target cannot do this: its cell shows n/a with this reason."""


def proc_cpu_s(pid: int) -> float:
    """utime + stime of process @pid (all its threads, also the ones that
    already exited), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_unix(path: str, proc: subprocess.Popen, timeout: float = 20):
    """Until @path accepts a connection; Unavailable if @proc dies."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise Unavailable(f"exited with {proc.returncode} before "
                              f"listening on {os.path.basename(path)}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return
        except OSError:
            pass
        finally:
            s.close()
        if time.monotonic() > deadline:
            raise Unavailable(f"not listening on {path} after {timeout} s")
        time.sleep(0.02)


class Proc:
    """A server process with its log in the workdir; stop() always kills."""

    def __init__(self, argv: list[str], log: str):
        self.log = log
        self.logf = open(log, "wb")
        try:
            self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      stdout=self.logf, stderr=self.logf,
                                      start_new_session=True)
        except OSError as e:
            self.logf.close()
            raise Unavailable(f"cannot run {argv[0]}: {e}") from e

    @property
    def pid(self) -> int:
        return self.p.pid

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()

    def tail(self, n: int = 300) -> str:
        try:
            with open(self.log, "rb") as f:
                return f.read()[-n:].decode(errors="replace").strip()
        except OSError:
            return ""


def sh(argv, **kw):
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, **kw)


def make_raw(path: str, size: int, pattern: int = 0x5a):
    """A fully written raw file of @size bytes (not sparse)."""
    sh(["qemu-img", "create", "-q", "-f", "raw", path, str(size)])
    sh(["qemu-io", "-f", "raw", "-c", f"write -q -P {pattern} 0 {size}",
        path])


def make_qcow2_from(raw: str, path: str):
    """A qcow2 with every cluster allocated: the raw file has no zeroes."""
    sh(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, path])


def fdatasync_path(path: str):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def settle_page_cache(path: str):
    """The same page cache state for every target: @path written back,
    dropped and read once in full (clean, all cached, as after it was
    made).  Without it the randwrite rows depend on the previous target's
    dirty pages and on the folios they left (kernel 6.18 ext4: a 4k write
    into a large folio walks all its buffer heads)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)


def print_table(header: list[str], rows: list[list[str]], out):
    widths = [max(len(str(r[i])) for r in [header] + rows)
              for i in range(len(header))]

    def line(cells):
        return " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                          for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header), file=out)
    print("-+-".join("-" * w for w in widths), file=out)
    for r in rows:
        print(line(r), file=out)


def ratio(a, b) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) \
            or not b:
        return "-"
    return f"{a / b:.2f}x"


def load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"
