# SPDX-License-Identifier: GPL-2.0-or-later
# Convenience wrapper around meson: the README's commands.
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build demo check check-quick check-asan conformance bench bench-qmp bench-nbd bench-jobs bench-build clean

all: build

deps:
	./scripts/install-deps.sh

build:
	./scripts/build.sh $(BUILD)

# The main job: start the daemon and drive it as a manager would.
demo:
	./scripts/demo.sh

# Everything CI runs: unit tests, qtests, the same under ASan+UBSan, and the
# QEMU conformance suite.
check:
	./scripts/check.sh

# Just the normal build's tests.
check-quick: build
	meson test -C $(BUILD) --print-errorlogs

conformance: build
	python3 ../shared/conformance/conform.py --target fdsetd:$(BUILD)/fdsetd

# Only the daemon is needed (bench.py builds bench/floor.c itself).
# BENCH_ARGS: e.g. --quick, --only a,b
# bench = the QMP figures, then the NBD rows, then the job rows; each also
# runs alone.  BENCH_ARGS go to bench.py; NBD_BENCH_ARGS to nbd-bench.py and
# JOB_BENCH_ARGS to job-bench.py (both inherit a --quick from BENCH_ARGS).
NBD_BENCH_ARGS ?= $(filter --quick,$(BENCH_ARGS))
JOB_BENCH_ARGS ?= $(filter --quick,$(BENCH_ARGS))
bench: bench-qmp bench-nbd bench-jobs

bench-build: deps
	./scripts/install-deps.sh qemu-system-x86 coreutils || \
	    echo "bench: no QEMU to install; its column stays empty"
	test -f $(BUILD)/build.ninja || meson setup $(BUILD) >/dev/null
	ninja -C $(BUILD) fdsetd

bench-qmp: bench-build
	python3 bench/bench.py --fdsetd $(BUILD)/fdsetd $(BENCH_ARGS)

# fio (nbd engine) against fdsetd, qemu-storage-daemon, nbdkit file/memory.
bench-nbd: bench-build
	python3 bench/nbd-bench.py --fdsetd $(BUILD)/fdsetd $(NBD_BENCH_ARGS)

# blockdev-mirror, block-stream, blockdev-backup against QEMU 7.2 and cp.
bench-jobs: bench-build
	python3 bench/job-bench.py --fdsetd $(BUILD)/fdsetd $(JOB_BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
