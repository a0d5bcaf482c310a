#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run bench/io-bench.c on a 1 GiB raw file and a 1 GiB qcow2 image (fully
# allocated, so writes go in place), buffered and with O_DIRECT.
#   bench/io-bench.sh [BUILD_DIR] [SECONDS_PER_ROW]
set -e
build=${1:-build}
secs=${2:-3}
ninja -C "$build" tests/unit/io-bench >/dev/null
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/io-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
qemu-img create -q -f raw -o preallocation=full "$dir/disk.raw" 1G
qemu-img create -q -f qcow2 -o preallocation=full "$dir/disk.qcow2" 1G
"$build/tests/unit/io-bench" -t "$secs" "$dir/disk.raw" "$dir/disk.qcow2"
echo
"$build/tests/unit/io-bench" -d -t "$secs" "$dir/disk.raw" "$dir/disk.qcow2"
