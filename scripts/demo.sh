#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The README's main job: build fdsetd, start it, and drive it the way a
# manager like libvirt does, showing each QMP exchange:
#
#   1. make a three-layer chain with qemu-img (base.raw <- mid.qcow2 <-
#      top.qcow2) and write data into each layer with qemu-io;
#   2. pass the images to fdsetd as fds (base and mid read-only, top
#      read-write) and attach the chain with blockdev-add through
#      /dev/fdset/N only;
#   3. add a read-write fd of the base and block-commit mid into base: the
#      base is reopened read-write through its fdset, mid's data copied down,
#      and the base reopened read-only again;
#   4. remove-fd the read-write member; query-fdsets shows what is held;
#   5. verify with qemu-img: the base holds what the chain showed, top still
#      reads the same through its new, shorter chain, and the images check
#      clean (no /dev/fdset name was written into a header).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
cd "$top"
./scripts/build.sh "$build" >/dev/null

fdsetd=$top/$build/fdsetd
fdpass=$top/$build/fdpass
dir=${FDSETD_DEMO_DIR:-/tmp/fdsetd-demo}
sock=$dir/qmp.sock
daemon_pid=

cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill "$daemon_pid"
        wait "$daemon_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }

# One QMP exchange: show the request, send it, show the return value.
qmp() {
    local req=$1
    shift
    printf '   -> %s\n' "$req"
    local out
    out=$("$fdpass" "$sock" qmp "$req" "$@")
    printf '   <- {"return": %s}\n' "$out"
}

# add-fd of one file, shown as the QMP request it is.
add_fd() {
    local file=$1 mode=$2 set=$3 opaque=$4
    printf '   -> {"execute": "add-fd", "arguments": {"fdset-id": %s, "opaque": "%s", "persistent": true}}   [SCM_RIGHTS: %s opened %s]\n' \
        "$set" "$opaque" "$(basename "$file")" "$mode"
    local out
    out=$("$fdpass" "$sock" add-fd --file "$file" --mode "$mode" \
          --fdset-id "$set" --opaque "$opaque")
    printf '   <- %s\n' "$out"
}

step "1. images, made and filled by qemu-img / qemu-io"
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
qemu-img create -q -f raw base.raw 64M
qemu-io -f raw -c 'write -q -P 0xaa 0 4M' base.raw
qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2
qemu-io -f qcow2 -c 'write -q -P 0xbb 2M 4M' mid.qcow2
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
qemu-io -f qcow2 -c 'write -q -P 0xcc 5M 1M' top.qcow2
qemu-img convert -O raw mid.qcow2 expect-base.raw   # base after the commit
qemu-img convert -O raw top.qcow2 expect-top.raw    # what the guest sees
say "base.raw <- mid.qcow2 <- top.qcow2 (64 MiB; 0xaa, 0xbb, 0xcc layers)"

step "2. start fdsetd"
"$fdsetd" --qmp "unix:$sock,server=on,wait=off" --audit "$dir/audit.log" \
    2>"$dir/fdsetd.stderr" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
say "$fdsetd --qmp unix:$sock,server=on,wait=off --audit $dir/audit.log"
qmp '{"execute": "query-version"}'

step "3. pass the images as fds (the daemon never opens these paths)"
add_fd "$dir/base.raw" ro 0 base:ro
add_fd "$dir/mid.qcow2" ro 1 mid:ro
add_fd "$dir/top.qcow2" rw 2 top:rw

step "4. attach the chain through /dev/fdset/N"
qmp '{"execute": "blockdev-add", "arguments": {"driver": "raw", "node-name": "base", "read-only": true, "file": {"driver": "file", "node-name": "base-file", "filename": "/dev/fdset/0"}}}'
qmp '{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "mid", "read-only": true, "backing": "base", "file": {"driver": "file", "node-name": "mid-file", "filename": "/dev/fdset/1"}}}'
qmp '{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "top", "backing": "mid", "file": {"driver": "file", "node-name": "top-file", "filename": "/dev/fdset/2"}}}'
qmp '{"execute": "query-fdsets"}'

step "5. commit without a read-write base fd: refused, nothing changes"
printf '   -> %s\n' '{"execute": "block-commit", "arguments": {"job-id": "c0", "device": "top", "top-node": "mid", "base-node": "base"}}'
if "$fdpass" "$sock" qmp '{"execute": "block-commit", "arguments": {"job-id": "c0", "device": "top", "top-node": "mid", "base-node": "base"}}' 2>"$dir/err"; then
    say "unexpected success"; exit 1
fi
printf '   <- {"error": {"class": "GenericError", "desc": "%s"}}\n' \
    "$(sed 's/^fdpass: //' "$dir/err")"

step "6. add a read-write fd of the base, then commit mid into base"
add_fd "$dir/base.raw" rw 0 base:rw
qmp '{"execute": "block-commit", "arguments": {"job-id": "c1", "device": "top", "top-node": "mid", "base-node": "base"}}'
for _ in $(seq 600); do
    jobs=$("$fdpass" "$sock" qmp '{"execute": "query-jobs"}')
    case "$jobs" in *concluded*|'[]') break ;; esac
    sleep 0.05
done
qmp '{"execute": "query-jobs"}'
case "$jobs" in *'"error"'*) say "the commit failed"; exit 1 ;; esac
if [ "$jobs" != "[]" ]; then
    qmp '{"execute": "job-dismiss", "arguments": {"id": "c1"}}'
fi
base_ro=$("$fdpass" "$sock" qmp '{"execute": "query-named-block-nodes", "arguments": {"flat": true}}' |
          python3 -c 'import json,sys; print(json.dumps([n["ro"] for n in json.load(sys.stdin) if n["node-name"] == "base"][0]))')
say "query-named-block-nodes: base \"ro\": $base_ro (reopened read-only after the commit)"
[ "$base_ro" = "true" ]
say "the audit trail of set 0 during the commit (dup of the rw member,"
say "release of the ro dup, then back):"
grep -E 'event=(dup|release) fdset=0' "$dir/audit.log" | sed 's/^/     /'

step "7. the manager removes the read-write member; what is still held"
rw_fd=$("$fdpass" "$sock" query-fdsets --json |
        python3 -c 'import json,sys; print([f["fd"] for s in json.load(sys.stdin) if s["fdset-id"] == 0 for f in s["fds"] if f.get("opaque") == "base:rw"][0])')
qmp "{\"execute\": \"remove-fd\", \"arguments\": {\"fdset-id\": 0, \"fd\": $rw_fd}}"
qmp '{"execute": "query-fdsets"}'

step "8. detach and stop"
qmp '{"execute": "blockdev-del", "arguments": {"node-name": "top"}}'
qmp '{"execute": "blockdev-del", "arguments": {"node-name": "mid"}}'
qmp '{"execute": "blockdev-del", "arguments": {"node-name": "base"}}'
"$fdpass" "$sock" qmp '{"execute": "quit"}' >/dev/null
wait "$daemon_pid"
daemon_pid=

step "9. verify with qemu-img"
qemu-img compare -q -f raw -F raw base.raw expect-base.raw
say "qemu-img compare base.raw: holds base + mid's data        OK"
qemu-img compare -q top.qcow2 expect-top.raw
say "qemu-img compare top.qcow2: the guest's view is unchanged OK"
qemu-img check -q top.qcow2
say "qemu-img check top.qcow2: no errors                       OK"
backing=$(qemu-img info --output=json top.qcow2 |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["backing-filename"])')
say "top.qcow2's backing file is now '$backing' (never /dev/fdset/...)"
[ "$backing" = "base.raw" ]
say "audit trail: $(wc -l <"$dir/audit.log") lines in $dir/audit.log"
printf '\nDemo finished: every step checked.\n'
