#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's test command: install what is missing, build, run every test
# (unit, qtest, the same under ASan+UBSan, QEMU conformance, fuzz smoke).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/build.sh build
exec ./scripts/run-tests.sh build build-asan
