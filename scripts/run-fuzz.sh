#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the libFuzzer targets (tests/fuzz) with clang, ASan+UBSan and
# coverage instrumentation in BUILD (default build-fuzz), and run each for
# the given time, starting from its seed corpus.
#
#   scripts/run-fuzz.sh [seconds-per-target] [target...]
#
# Default 20 s per target (the CI smoke run).  Work dirs, grown corpora and
# crash artifacts go to BUILD/fuzz-work/<target>/ (the seed corpora in the
# tree are not touched).  Inputs cannot write outside that work dir
# (Landlock, see tests/fuzz/fuzz-util.h).  Exits non-zero when a target
# crashed, leaked or timed out; a crash is replayed with
#   BUILD/tests/fuzz/<target> BUILD/fuzz-work/<target>/crash-...
set -uo pipefail

secs=${1:-20}
shift || true
build=${BUILD:-build-fuzz}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

all_targets=(fuzz-json-stream fuzz-json-check fuzz-qmp fuzz-keyval fuzz-fdset-path fuzz-qcow2)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" -Dfuzzing=true \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dbuildtype=debugoptimized \
        -Dc_args=-fsanitize=fuzzer-no-link >/dev/null || exit 1
fi
if ! ninja -C "$build" "${targets[@]/#/tests/fuzz/}" >"$build/fuzz-build.log" 2>&1
then
    tail -n 30 "$build/fuzz-build.log"
    exit 1
fi
build_abs=$(cd "$build" && pwd)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

max_len() {
    case $1 in
    fuzz-qcow2) echo 262144 ;;
    fuzz-qmp) echo 65536 ;;
    *) echo 8192 ;;
    esac
}

failed=0
for t in "${targets[@]}"; do
    work="$build_abs/fuzz-work/$t"
    mkdir -p "$work/corpus"
    cp -n tests/fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null || true
    dict=()
    case $t in
    fuzz-qmp) dict=(-dict="$top/tests/fuzz/qmp.dict") ;;
    fuzz-keyval) dict=(-dict="$top/tests/fuzz/keyval.dict") ;;
    esac
    before=$(ls "$work" | grep -c -E '^(crash|leak|timeout|oom)-' || true)
    log="$work/last-run.log"
    start=$(date +%s)
    (cd "$work" && FUZZ_WRITABLE="$work" \
        "$build_abs/tests/fuzz/$t" -max_total_time="$secs" \
        -max_len="$(max_len "$t")" -timeout=25 -rss_limit_mb=2560 \
        -artifact_prefix="$work/" -print_final_stats=1 "${dict[@]}" \
        "$work/corpus") >"$log" 2>&1
    status=$?
    took=$(($(date +%s) - start))
    after=$(ls "$work" | grep -c -E '^(crash|leak|timeout|oom)-' || true)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
           grep -o '[0-9]*$' | tail -1)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" |
            grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    corpus=$(ls "$work/corpus" | wc -l)
    echo "$t: ${runs:-?} execs in ${took}s (${speed:-?}/s), ${cov:-cov: ?}," \
         "corpus $corpus, new artifacts $((after - before)), exit $status"
    if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
        failed=1
        grep -E 'ERROR|SUMMARY|fd leak|fuzz-[a-z0-9-]+:|==[0-9]+==' "$log" |
            head -n 20
        ls -t "$work" | grep -E '^(crash|leak|timeout|oom)-' | head -n 3 |
            sed "s|^|  artifact: $work/|"
    fi
done
exit "$failed"
