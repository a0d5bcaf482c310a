#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Long runs of the model-based fd accounting test (tests/qtest/model-test.c).
#
#   scripts/run-model.sh [steps-per-seed] [seeds] [first-seed]
#
# Defaults: 20000 steps, 20 seeds, first seed random (printed, so a run can
# be repeated).  Builds BUILD (default build-hard) and runs the model with
# FDSETD_BINARY from it; the test itself reports each seed's figures and,
# on a divergence, the exact command that replays it.
set -euo pipefail

steps=${1:-20000}
seeds=${2:-20}
first=${3:-$(( (RANDOM << 15 | RANDOM) % 1000000 + 1 ))}
build=${BUILD:-build-hard}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" >/dev/null
fi
ninja -C "$build" fdsetd tests/qtest/model-test >/dev/null

echo "model: $seeds seeds from $first, $steps steps each ($build)"
start=$(date +%s)
set +e
FDSETD_BINARY="$top/$build/fdsetd" MODEL_SEED="$first" MODEL_SEEDS="$seeds" \
    MODEL_STEPS="$steps" CK_DEFAULT_TIMEOUT=$((60 + steps / 20)) \
    "$build/tests/qtest/model-test" 2>&1 |
    grep --line-buffered -v '^--- fdsetd pid .* left behind\|^--- end ---'
status=${PIPESTATUS[0]}
set -e
end=$(date +%s)
echo "model: $((seeds * steps)) steps in $((end - start)) s, exit status $status"
exit "$status"
