# SPDX-License-Identifier: GPL-2.0-or-later
"""Strict-mode probes of fdsetd's NBD server with python3-libnbd.

Run by nbd-test as /usr/bin/python3 nbd-probe.py SOCKET, with exports
"disk0" (writable, 16 MiB) and "ro" (read-only) of the same node.  Each
probe sends what a compliant client would not and checks the protocol's
error and that the connection goes on.  Prints "probes ok".
"""
import errno
import socket
import struct
import sys

import nbd

SOCK = sys.argv[1]


def connect(name, structured=True):
    h = nbd.NBD()
    h.set_request_structured_replies(structured)
    h.add_meta_context("base:allocation")
    h.set_export_name(name)
    h.connect_unix(SOCK)
    h.set_strict_mode(0)  # send what strict mode would refuse locally
    return h


def expect_error(fn, want, what):
    try:
        fn()
    except nbd.Error as e:
        got = e.errno if isinstance(e.errno, int) else \
            getattr(errno, str(e.errno), e.errno)
        assert got == want, "%s: errno %s, not %s" % (what, e.errno, want)
        return
    raise AssertionError("%s: no error" % what)


def probe_rw():
    h = connect("disk0")
    size = h.get_size()
    assert size == 16 << 20
    assert h.can_multi_conn() and h.can_fua() and h.can_zero()
    expect_error(lambda: h.pread(4096, size - 512), errno.EINVAL,
                 "read past EOF")
    expect_error(lambda: h.pwrite(b"x" * 4096, size), errno.ENOSPC,
                 "write past EOF")
    expect_error(lambda: h.pread(33 * 1024 * 1024, 0), errno.EINVAL,
                 "oversize read")
    # the connection goes on after each error
    h.pwrite(b"\x77" * 65536, 8 << 20, nbd.CMD_FLAG_FUA)
    h.flush()
    assert h.pread(65536, 8 << 20) == b"\x77" * 65536
    h.zero(65536, 10 << 20, nbd.CMD_FLAG_NO_HOLE)
    assert h.pread(65536, 10 << 20) == bytes(65536)
    h.trim(4096, 11 << 20)
    h.cache(1 << 20, 0)
    ents = []
    h.block_status(1 << 20, 0,
                   lambda ctx, off, e, err: ents.append((ctx, e)))
    assert ents and ents[0][0] == "base:allocation", ents
    # hole chunks: a structured read of an unwritten range still reads 0
    assert h.pread(4096, 14 << 20) == bytes(4096)
    # reads of 64 KiB or more send a hole as a hole chunk; shorter ones
    # skip the block-status probe and send the zeroes as data
    seen = []

    def chunk(buf, off, status, err):
        seen.append((status, off, len(buf)))
        return 0
    h.pread_structured(1 << 20, 14 << 20, chunk)
    assert seen == [(nbd.READ_HOLE, 14 << 20, 1 << 20)], seen
    seen.clear()
    h.pread_structured(4096, 14 << 20, chunk)
    assert seen == [(nbd.READ_DATA, 14 << 20, 4096)], seen
    expect_error(lambda: h.pread(512, 0, 0x80), errno.EINVAL, "bad flags")
    h.shutdown()


def probe_ro():
    h = connect("ro", structured=False)
    assert h.is_read_only()
    expect_error(lambda: h.pwrite(b"y" * 512, 0), errno.EPERM,
                 "write to a read-only export")
    expect_error(lambda: h.trim(512, 0), errno.EPERM, "trim read-only")
    assert len(h.pread(512, 0)) == 512
    h.shutdown()


def probe_unknown_export():
    h = nbd.NBD()
    h.set_export_name("nope")
    try:
        h.connect_unix(SOCK)
    except nbd.Error:
        return
    raise AssertionError("connected to a missing export")


def probe_disconnect_mid_request():
    """A write header and half its payload, then the client goes."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    s.recv(18, socket.MSG_WAITALL)
    s.sendall(struct.pack(">I", 1))
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 1, 5) + b"disk0")
    s.recv(134, socket.MSG_WAITALL)
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 7, 0, 65536))
    s.sendall(b"z" * 1000)
    s.close()


def probe_unknown_option():
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    s.recv(18, socket.MSG_WAITALL)
    s.sendall(struct.pack(">I", 1))
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 99, 3) + b"abc")
    magic, opt, rep, ln = struct.unpack(">QIII", s.recv(20, socket.MSG_WAITALL))
    assert opt == 99 and rep == (1 << 31) + 1, rep  # NBD_REP_ERR_UNSUP
    s.recv(ln, socket.MSG_WAITALL)
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 2, 0))  # ABORT
    s.close()


def tagged(k):
    return struct.pack(">I", k) * 1024  # 4 KiB block k


def probe_pipelined_reads():
    """Reads in flight by the hundred, with structured and simple replies:
    those the page cache answers are served by the receiving thread and
    their replies sent together; each must carry its own data."""
    h = connect("disk0")
    base = 12 << 20
    h.pwrite(b"".join(tagged(k) for k in range(256)), base)
    h.shutdown()
    for structured in (True, False):
        h = connect("disk0", structured)
        reads = []
        for i in range(512):
            k = i * 97 % 256
            buf = nbd.Buffer(4096)
            reads.append((h.aio_pread(buf, base + k * 4096), buf, k))
        while h.aio_in_flight() > 0:
            h.poll(-1)
        for cookie, buf, k in reads:
            assert h.aio_command_completed(cookie)
            assert bytes(buf.to_bytearray()) == tagged(k), (structured, k)
        h.shutdown()


def raw_connect(name):
    """Fixed newstyle by hand, NBD_OPT_EXPORT_NAME: simple replies."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    s.recv(18, socket.MSG_WAITALL)
    s.sendall(struct.pack(">I", 1))
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 1, len(name)) +
              name.encode())
    s.recv(134, socket.MSG_WAITALL)
    return s


def request(cmd, cookie, offset, length, flags=0):
    return struct.pack(">IHHQQI", 0x25609513, flags, cmd, cookie, offset,
                       length)


def probe_pipelined_mixed():
    """One burst of reads with a bad read, a write and a read of what it
    wrote among them: every cookie gets its one right answer."""
    s = raw_connect("disk0")
    base = 12 << 20
    burst = [request(0, k, base + k * 4096, 4096) for k in range(12)]
    burst.insert(5, request(0, 99, 1 << 40, 4096))       # past EOF
    burst.insert(8, request(1, 100, base + 300 * 4096, 4096) + tagged(300))
    s.sendall(b"".join(burst))
    want = {k: tagged(k) for k in range(12)}
    got = {}
    while len(got) < 14:
        magic, err, cookie = struct.unpack(">IIQ",
                                           s.recv(16, socket.MSG_WAITALL))
        assert magic == 0x67446698, hex(magic)
        if cookie in want and not err:
            got[cookie] = s.recv(4096, socket.MSG_WAITALL)
        else:
            got[cookie] = err
    assert got[99] == errno.EINVAL and got[100] == 0, got
    for k in range(12):
        assert got[k] == want[k], k
    s.sendall(request(0, 7, base + 300 * 4096, 4096))
    assert struct.unpack(">IIQ", s.recv(16, socket.MSG_WAITALL))[1:] == (0, 7)
    assert s.recv(4096, socket.MSG_WAITALL) == tagged(300)
    # a burst of reads, then the client goes without reading the replies
    s.sendall(b"".join(request(0, k, base, 65536) for k in range(16)))
    s.close()


def probe_pipelined_writes():
    """Writes in flight by the hundred (queued on the node's writer thread
    without the receiving thread waiting), among reads: each cookie gets
    exactly one reply, and after a flush the disk holds every write."""
    base = 13 << 20
    h = connect("disk0")  # allocated first: qcow2 then writes in place
    h.pwrite(b"\x55" * (320 * 4096), base)
    h.flush()
    h.shutdown()
    s = raw_connect("disk0")
    burst = []
    for k in range(200):
        burst.append(request(1, k, base + k * 4096, 4096) + tagged(k))
        if k % 10 == 9:
            burst.append(request(0, 1000 + k, base, 4096))
    burst.insert(50, request(1, 999, 1 << 40, 4096) + tagged(0))  # past EOF
    s.sendall(b"".join(burst))
    got = {}
    while len(got) < len(burst):
        magic, err, cookie = struct.unpack(">IIQ",
                                           s.recv(16, socket.MSG_WAITALL))
        assert magic == 0x67446698, hex(magic)
        assert cookie not in got, f"two replies for cookie {cookie}"
        if cookie >= 1000 and not err:
            s.recv(4096, socket.MSG_WAITALL)
        got[cookie] = err
    assert got.pop(999) == errno.ENOSPC, got
    assert not any(got.values()), got
    s.sendall(request(3, 5000, 0, 0))  # FLUSH
    assert struct.unpack(">IIQ", s.recv(16, socket.MSG_WAITALL))[1:] == \
        (0, 5000)
    # writes in flight when the client goes: the server finishes them
    s.sendall(b"".join(request(1, k, base + (256 + k) * 4096, 4096) +
                       tagged(256 + k) for k in range(64)))
    s.close()
    h = connect("disk0")
    data = h.pread(320 * 4096, base)
    for k in range(200):
        assert data[k * 4096:(k + 1) * 4096] == tagged(k), k
    h.shutdown()


probe_rw()
probe_ro()
probe_pipelined_reads()
probe_pipelined_mixed()
probe_pipelined_writes()
probe_unknown_export()
probe_disconnect_mid_request()
probe_unknown_option()
# the server still serves after all of the above
h = connect("disk0")
assert h.pread(65536, 8 << 20) == b"\x77" * 65536
h.shutdown()
print("probes ok")
