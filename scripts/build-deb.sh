#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the Debian package from a clean export of the committed tree
# (git archive HEAD), as `dpkg-buildpackage -us -uc -b` would on a fresh
# checkout, then check it: lintian reports no errors, and the .deb holds the
# binaries, the units and the man pages.  Slow (a full build): not part of
# the test suite.  Usage: scripts/build-deb.sh [OUTDIR]   (default: build-deb)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$top/build-deb}")
cd "$top"
./scripts/install-deps.sh dpkg-dev debhelper lintian man-db systemd
rm -rf "$out"
mkdir -p "$out/src"
git archive --format=tar HEAD | tar -x -C "$out/src"
(cd "$out/src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
    exit 1
}
deb=$(ls "$out"/fdsetd_*.deb)
changes=$(ls "$out"/fdsetd_*.changes)
echo "built $deb"

fail() { echo "build-deb: FAIL: $*" >&2; exit 1; }
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/fdsetd ./usr/bin/fdpass \
         ./lib/systemd/system/fdsetd@.service \
         ./lib/systemd/system/fdsetd@.socket \
         ./usr/share/man/man8/fdsetd.8.gz ./usr/share/man/man1/fdpass.1.gz \
         ./usr/share/doc/fdsetd/copyright ./etc/default/fdsetd; do
    echo "$contents" | grep -q " $f\$" || fail "$f missing from the .deb"
done
if echo "$contents" | grep -q '/usr/include/'; then
    fail "headers in the .deb"
fi
# what it installs runs: unpack and start the binary
root=$out/root
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/fdsetd" --version
grep -qx 'ExecStart=/usr/bin/fdsetd --sandbox on $FDSETD_OPTS' \
    "$root/lib/systemd/system/fdsetd@.service" || fail "ExecStart"

lintian --fail-on error --tag-display-limit 0 "$changes" | tee "$out/lintian.txt"
echo "lintian: no errors ($(grep -c '^W:' "$out/lintian.txt" || true) warnings)"
