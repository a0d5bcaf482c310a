# SPDX-License-Identifier: GPL-2.0-or-later
# Convenience wrapper around meson: the README's commands.
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build demo check check-quick check-asan conformance bench clean

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
bench: deps
	./scripts/install-deps.sh qemu-system-x86 coreutils || \
	    echo "bench: no QEMU to install; its column stays empty"
	test -f $(BUILD)/build.ninja || meson setup $(BUILD) >/dev/null
	ninja -C $(BUILD) fdsetd
	python3 bench/bench.py --fdsetd $(BUILD)/fdsetd $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
