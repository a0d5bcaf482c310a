#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fdpass qmp ... --wait and job-wait: a block-commit followed to its end
# (plain lines when stdout is not a terminal, exit 0, the data committed),
# an unknown job (exit 1), --wait on a command without a job (exit 2).
# Usage: job-wait-test.sh FDSETD FDPASS
set -uo pipefail
fdsetd=$1
fdpass=$2
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null ||
    { echo "qemu-img/qemu-io not installed"; exit 77; }
dir=$(mktemp -d /tmp/fdsetd-jobwait-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$dir"
qemu-img create -q -f raw base.img 8M
qemu-io -f raw -c 'write -P 0x11 0 8M' base.img >/dev/null
qemu-img create -q -f qcow2 -b base.img -F raw mid.qcow2
qemu-io -f qcow2 -c 'write -P 0x22 1M 4M' mid.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
qemu-img convert -O raw top.qcow2 expect.img
"$fdsetd" --qmp "unix:$dir/q,server=on,wait=off" 2>"$dir/err" &
pid=$!
for _ in $(seq 200); do [ -S "$dir/q" ] && break; sleep 0.05; done
cat >session.txt <<'EOT'
add-fd --file base.img --mode ro --fdset-id 0
add-fd --file base.img --mode rw --fdset-id 0
add-fd --file mid.qcow2 --mode ro --fdset-id 1
add-fd --file top.qcow2 --mode rw --fdset-id 2
{"execute": "blockdev-add", "arguments": {"driver": "raw", "node-name": "base", "read-only": true, "file": {"driver": "file", "filename": "/dev/fdset/0"}}}
{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "mid", "read-only": true, "backing": "base", "file": {"driver": "file", "filename": "/dev/fdset/1"}}}
{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "top", "backing": "mid", "file": {"driver": "file", "filename": "/dev/fdset/2"}}}
qmp '{"execute": "block-commit", "arguments": {"job-id": "c0", "device": "top", "top-node": "mid", "base-node": "base", "speed": 16777216}}' --wait
EOT
out=$("$fdpass" "$dir/q" session <session.txt) || fail "commit --wait: $out"
grep -q '^job c0: running ' <<<"$out" || fail "no progress line: $out"
[ "$(echo "$out" | tail -n 1)" = "job c0: concluded" ] || fail "end: $out"
if grep -q $'\r' <<<"$out"; then fail "a bar without a terminal"; fi

err=$("$fdpass" "$dir/q" job-wait c0 2>&1 >/dev/null)
[ $? -eq 1 ] && [ "$err" = "fdpass: no job 'c0'" ] || fail "gone job: $err"
err=$("$fdpass" "$dir/q" qmp '{"execute": "query-jobs"}' --wait 2>&1)
[ $? -eq 2 ] || fail "--wait without job: $err"
grep -q 'has no job-id' <<<"$err" || fail "--wait text: $err"

"$fdpass" "$dir/q" qmp '{"execute": "quit"}' >/dev/null
wait "$pid"; pid=
qemu-img compare -q -f raw -F qcow2 expect.img top.qcow2 ||
    fail "data after the commit"
echo "job-wait OK"
