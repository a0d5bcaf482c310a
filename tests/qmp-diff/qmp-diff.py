#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Send the same QMP messages to QEMU and to fdsetd and show where the
replies differ, byte for byte.

    python3 tests/qmp-diff/qmp-diff.py [--fdsetd build/fdsetd]
        [--qemu qemu-system-x86_64] [MESSAGES-FILE]

Each line of MESSAGES-FILE (default: messages.txt next to this script) is
sent as it is, followed by a newline, on a fresh connection that has done
qmp_capabilities; everything each server sends within 0.4 s is the reply.
Lines starting with '#' are skipped.  Replies that differ only by the
version triple and package of query-version count as the same.  Exit
status 1 when something differs.  Needs QEMU; not part of the test suite.
"""

import argparse
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = re.compile(rb'"qemu": \{"micro": \d+, "minor": \d+, "major": \d+\}, '
                     rb'"package": "[^"]*"')


def start(argv, sock):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        if time.monotonic() > deadline or proc.poll() is not None:
            sys.exit(f"qmp-diff: {argv[0]} did not create {sock}")
        time.sleep(0.02)
    return proc


def read_lines(s, buf, wait):
    out = []
    end = time.monotonic() + wait
    while True:
        ready, _, _ = select.select([s], [], [], max(0, end - time.monotonic()))
        if not ready:
            return out, buf
        data = s.recv(65536)
        if not data:
            return out, buf
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            out.append(line.rstrip(b"\r"))


def replies(sock, msg):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    buf = b""
    _, buf = read_lines(s, buf, 0.3)                       # greeting
    s.sendall(b'{"execute": "qmp_capabilities"}\n')
    _, buf = read_lines(s, buf, 0.3)
    s.sendall(msg + b"\n")
    out, _ = read_lines(s, buf, 0.4)
    s.close()
    return [VERSION.sub(b'"qemu": VERSION', line) for line in out]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fdsetd", default="build/fdsetd")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("messages", nargs="?",
                    default=os.path.join(HERE, "messages.txt"))
    args = ap.parse_args()
    with open(args.messages, "rb") as f:
        msgs = [l.rstrip(b"\n") for l in f
                if l.strip() and not l.startswith(b"#")]
    d = tempfile.mkdtemp(prefix="qmp-diff-")
    qsock, dsock = os.path.join(d, "qemu.sock"), os.path.join(d, "fdsetd.sock")
    qemu = start([args.qemu, "-machine", "none", "-nodefaults", "-display",
                  "none", "-qmp", f"unix:{qsock},server=on,wait=off"], qsock)
    fdsetd = start([args.fdsetd, "--qmp", f"unix:{dsock},server=on,wait=off"],
                   dsock)
    differ = 0
    try:
        for m in msgs:
            a, b = replies(qsock, m), replies(dsock, m)
            if a == b:
                print("same  ", m.decode(errors="replace"))
                continue
            differ += 1
            print("DIFFER", m.decode(errors="replace"))
            for line in a:
                print("  qemu  ", line.decode(errors="replace"))
            for line in b:
                print("  fdsetd", line.decode(errors="replace"))
    finally:
        for p in (qemu, fdsetd):
            p.kill()
            p.wait()
        for f in (qsock, dsock):
            if os.path.exists(f):
                os.unlink(f)
        os.rmdir(d)
    print(f"{len(msgs) - differ} same, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
