#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every test suite: the normal build, then an ASan+UBSan build, then the
# QEMU conformance suite when ../shared/conformance is there, then a short
# run of each fuzz target.  Ends with one
# "N passed, N failed" line over all of them; exits non-zero on any failure.
set -uo pipefail

build=${1:-build}
asan=${2:-build-asan}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

passed=0
failed=0

# Count a meson test run from its JSON log.
count_meson() {
    local log=$1/meson-logs/testlog.json
    [ -f "$log" ] || return
    local p f
    p=$(grep -c '"result": "OK"' "$log" || true)
    f=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
    passed=$((passed + p))
    failed=$((failed + f))
}

echo "== unit and qtest suites ($build)"
meson test -C "$build" --print-errorlogs --num-processes 2
count_meson "$build"

echo "== the same under AddressSanitizer + UndefinedBehaviorSanitizer ($asan)"
# A smaller quarantine keeps memory-growth assertions (a client that never
# reads must not make the daemon grow) meaningful under ASan.
if [ ! -f "$asan/build.ninja" ]; then
    meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false \
        -Dbuildtype=debug >/dev/null
fi
ninja -C "$asan" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:quarantine_size_mb=64 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C "$asan" --print-errorlogs --num-processes 2 \
    --timeout-multiplier 3
count_meson "$asan"

conform="$top/../shared/conformance/conform.py"
if [ -f "$conform" ]; then
    echo "== QEMU 7.2 conformance suite"
    out=$(python3 "$conform" --target "fdsetd:$build/fdsetd" 2>&1)
    echo "$out" | tail -n 40
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed*}
        passed=$((passed + p))
        failed=$((failed + f))
    else
        echo "conformance suite gave no result" >&2
        failed=$((failed + 1))
    fi
fi

echo "== fuzz smoke: each libFuzzer target for ${FUZZ_SECONDS:-15} s (clang, ASan+UBSan)"
if command -v clang >/dev/null 2>&1; then
    if ./scripts/run-fuzz.sh "${FUZZ_SECONDS:-15}"; then
        passed=$((passed + 1))
    else
        echo "fuzz smoke FAILED" >&2
        failed=$((failed + 1))
    fi
else
    echo "clang not installed: fuzz smoke skipped" >&2
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
