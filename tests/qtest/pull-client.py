# SPDX-License-Identifier: GPL-2.0-or-later
"""The client side of pull-test.c, with python3-libnbd (run it with
/usr/bin/python3: the bindings belong to the system interpreter).

  pull-client.py incremental SOCKET EXPORT BITMAP RESTORE
      An incremental pull as a backup tool does it: walk the
      qemu:dirty-bitmap:BITMAP context of EXPORT, read only the dirty
      extents and write them at their offsets into the file RESTORE (a copy
      of the previous backup).  Prints one "dirty OFFSET LENGTH" line per
      extent, then "pulled BYTES".

  pull-client.py contexts SOCKET EXPORT
      NBD_OPT_LIST_META_CONTEXT for QEMU's query forms, then block status
      of every context at a few ranges, with and without REQ_ONE: one line
      each, to compare with what QEMU 7.2 answers.  Then
      NBD_OPT_SET_META_CONTEXT (by hand: libnbd 1.14 has no call for it)
      with the same forms: "SET queries [[id, name], ..., final, {status:
      [ids]}]", the replies in wire order, then the context ids of one
      BLOCK_STATUS's chunks in wire order (QEMU 7.2's ids are fixed per
      export: base:allocation 0, qemu:allocation-depth 1, bitmaps from 2).
"""

import json
import os
import socket
import struct
import sys

import nbd

# A request at most this long (the server's maximum is 32 MiB).
CHUNK = 4 * 1024 * 1024


def connect(sock, export, contexts):
    h = nbd.NBD()
    for c in contexts:
        h.add_meta_context(c)
    h.set_export_name(export)
    h.connect_unix(sock)
    return h


def dirty_extents(h, ctx):
    """(offset, length) of every dirty run, merged across requests."""
    size, off, runs = h.get_size(), 0, []

    while off < size:
        got = []

        def cb(meta, start, entries, err):
            if meta == ctx:
                got.extend(zip(entries[0::2], entries[1::2]))
            return 0

        h.block_status(min(CHUNK, size - off), off, cb)
        if not got:
            raise SystemExit(f"no {ctx} extents at {off}")
        for length, flags in got:
            if flags & 1:
                if runs and runs[-1][0] + runs[-1][1] == off:
                    runs[-1] = (runs[-1][0], runs[-1][1] + length)
                else:
                    runs.append((off, length))
            off += length
    return runs


def incremental(sock, export, bitmap, restore):
    ctx = "qemu:dirty-bitmap:" + bitmap
    h = connect(sock, export, [ctx])
    if not h.can_meta_context(ctx):
        raise SystemExit(f"{ctx} not negotiated")
    total = 0
    fd = os.open(restore, os.O_WRONLY)
    try:
        for off, length in dirty_extents(h, ctx):
            print(f"dirty {off} {length}")
            for pos in range(off, off + length, CHUNK):
                n = min(CHUNK, off + length - pos)
                os.pwrite(fd, h.pread(n, pos), pos)
                total += n
        os.fsync(fd)
    finally:
        os.close(fd)
    h.shutdown()
    print(f"pulled {total}")


def list_contexts(sock, export, queries):
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.set_export_name(export)
    h.connect_unix(sock)
    h.clear_meta_contexts()
    for q in queries:
        h.add_meta_context(q)
    names = []
    h.opt_list_meta_context(lambda name: names.append(name) or 0)
    h.opt_abort()
    return names


def contexts(sock, export):
    for qs in ([], ["qemu:"], ["qemu:dirty-bitmap:"], ["base:"],
               ["qemu:dirty-bitmap:b"], ["qemu:dirty-bitmap:zz"],
               ["qemu:dirty-bitmap"]):
        print("LIST", json.dumps(qs), json.dumps(list_contexts(sock, export,
                                                               qs)))
    ctxs = ["qemu:dirty-bitmap:b", "qemu:dirty-bitmap:c", "base:allocation"]
    h = connect(sock, export, ctxs)
    for off, length in ((0, h.get_size()), (100, 1000), (196708, 300000),
                        (4190000, 4304)):
        for flags in (0, nbd.CMD_FLAG_REQ_ONE):
            res = {}

            def cb(meta, start, entries, err):
                res[meta] = list(zip(entries[0::2], entries[1::2]))
                return 0

            h.block_status(length, off, cb, flags)
            print("BS", off, length, flags,
                  json.dumps({c: res.get(c) for c in ctxs}))
    h.shutdown()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        got = s.recv(n - len(buf))
        if not got:
            raise SystemExit("server closed the connection")
        buf += got
    return buf


def send_option(s, opt, data):
    s.sendall(b"IHAVEOPT" + struct.pack(">II", opt, len(data)) + data)


def option_replies(s):
    """(type, data) of each reply up to the final one."""
    while True:
        _, _, rtype, length = struct.unpack(">QIII", recv_exact(s, 20))
        data = recv_exact(s, length)
        yield rtype, data
        if rtype != 4:  # NBD_REP_META_CONTEXT
            return


def go(s, export):
    """NBD_OPT_GO; False if the server refused it."""
    send_option(s, 7, struct.pack(">I", len(export)) + export.encode() +
                struct.pack(">H", 0))
    while True:
        _, _, rtype, length = struct.unpack(">QIII", recv_exact(s, 20))
        recv_exact(s, length)
        if rtype == 1:  # NBD_REP_ACK
            return True
        if rtype & 0x80000000:
            return False


def status_ids(s):
    """Context ids of the chunks of one BLOCK_STATUS, in wire order."""
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 7, 1, 0, 65536))
    ids = []
    while True:
        _, flags, ctype, _, length = struct.unpack(">IHHQI",
                                                   recv_exact(s, 20))
        data = recv_exact(s, length)
        if ctype == 5:  # NBD_REPLY_TYPE_BLOCK_STATUS
            ids.append(struct.unpack(">I", data[:4])[0])
        elif ctype:
            ids.append(hex(ctype))
        if flags & 1:  # NBD_REPLY_FLAG_DONE
            return ids


def set_contexts(sock, export, queries):
    """SET_META_CONTEXT after STRUCTURED_REPLY: [id, name]... and the
    final reply, in wire order; then GO and the ids of one block status."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    recv_exact(s, 18)
    s.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
    send_option(s, 8, b"")  # NBD_OPT_STRUCTURED_REPLY
    list(option_replies(s))
    data = struct.pack(">I", len(export)) + export.encode()
    data += struct.pack(">I", len(queries))
    for q in queries:
        data += struct.pack(">I", len(q)) + q.encode()
    send_option(s, 10, data)
    out = []
    for rtype, d in option_replies(s):
        out.append([struct.unpack(">I", d[:4])[0], d[4:].decode()]
                   if rtype == 4 else hex(rtype))
    if go(s, export):
        out.append({"status": status_ids(s)})
        s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 2, 0, 0))
    s.close()
    return out


def set_forms(sock, export):
    for qs in (["qemu:"], ["qemu:dirty-bitmap:"], ["base:"], [],
               ["qemu:dirty-bitmap:c", "base:allocation"],
               ["qemu:allocation-depth", "qemu:dirty-bitmap:b"],
               ["qemu:dirty-bitmap:c", "qemu:dirty-bitmap:b",
                "qemu:allocation-depth", "base:allocation"],
               ["qemu:dirty-bitmap:b", "qemu:dirty-bitmap:b"]):
        print("SET", json.dumps(qs), json.dumps(set_contexts(sock, export,
                                                             qs)))


if __name__ == "__main__":
    if sys.argv[1] == "incremental":
        incremental(*sys.argv[2:6])
    elif sys.argv[1] == "contexts":
        contexts(*sys.argv[2:4])
        set_forms(*sys.argv[2:4])
    else:
        raise SystemExit("usage: see the docstring")
