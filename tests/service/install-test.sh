#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# meson install --destdir: binaries, units and man pages land where a
# package wants them; the units pass systemd-analyze verify; the man pages
# render without warnings.  Usage: install-test.sh BUILDDIR PREFIX
set -euo pipefail
build=$1
prefix=$2
dest=$(mktemp -d /tmp/fdsetd-install-XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

meson install -C "$build" --destdir "$dest" --no-rebuild >"$dest.log" 2>&1 ||
    { cat "$dest.log" >&2; rm -f "$dest.log"; fail "meson install"; }
rm -f "$dest.log"
root=$dest$prefix
for f in bin/fdsetd bin/fdpass lib/systemd/system/fdsetd@.service \
         lib/systemd/system/fdsetd@.socket share/man/man8/fdsetd.8 \
         share/man/man1/fdpass.1; do
    [ -f "$root/$f" ] || fail "$prefix/$f not installed"
done
[ -x "$root/bin/fdsetd" ] && [ -x "$root/bin/fdpass" ] || fail "not executable"
grep -qx "ExecStart=$prefix/bin/fdsetd --sandbox on \$FDSETD_OPTS" \
    "$root/lib/systemd/system/fdsetd@.service" || fail "ExecStart path"
grep -qx "Type=notify" "$root/lib/systemd/system/fdsetd@.service" ||
    fail "Type=notify"
"$root/bin/fdsetd" --version | grep -q '^fdsetd ' || fail "fdsetd --version"

if command -v systemd-analyze >/dev/null; then
    # verify looks for ExecStart's binary: point it into the destdir
    units=$dest/units
    mkdir "$units"
    sed "s|^ExecStart=$prefix/bin/|ExecStart=$root/bin/|" \
        "$root/lib/systemd/system/fdsetd@.service" >"$units/fdsetd@.service"
    cp "$root/lib/systemd/system/fdsetd@.socket" "$units/"
    out=$(cd "$units" && systemd-analyze verify --man=no \
          "$units/fdsetd@vm1.socket" "$units/fdsetd@vm1.service" 2>&1) ||
        fail "systemd-analyze verify: $out"
    # verify prints problems it does not count as errors, too
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
    echo "units verified"
else
    echo "systemd-analyze not installed: units not verified"
fi

if command -v man >/dev/null; then
    for page in share/man/man8/fdsetd.8 share/man/man1/fdpass.1; do
        warn=$(MANWIDTH=80 man --warnings -l "$root/$page" 2>&1 >/dev/null)
        [ -z "$warn" ] || fail "$page: $warn"
        text=$(MANWIDTH=80 man -l "$root/$page" 2>/dev/null)
        # here-strings, not echo | grep -q: with pipefail, grep quitting at
        # its first match can kill echo with SIGPIPE and fail the check
        grep -q '^NAME' <<<"$text" || fail "$page does not render"
        grep -q '^SYNOPSIS' <<<"$text" || fail "$page has no SYNOPSIS"
        ! grep -q '@VERSION@' <<<"$text" || fail "$page: @VERSION@ left"
    done
    echo "man pages render"
else
    echo "man not installed: man pages not rendered"
fi
echo "install layout OK"
