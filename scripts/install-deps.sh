#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Install what fdsetd needs to build and test, on Debian 12, as root.
# Only calls apt-get when something is missing.  Extra package names given
# as arguments are installed too (e.g. qemu-system-x86 for benchmarks).
set -euo pipefail

packages=(gcc make meson ninja-build pkg-config python3
          libglib2.0-dev check libseccomp-dev
          qemu-utils clang libclang-rt-14-dev
          liburing-dev nbdkit libnbd-bin python3-libnbd fio
          qemu-system-x86 qemu-system-common systemd "$@")

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
