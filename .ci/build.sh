#!/usr/bin/env bash
# Configures (once) and builds usbench with Ninja and ccache into ./build. Extra arguments go to CMake
# at configure time, e.g. -DUSBENCH_BUILD_BENCHMARKS=ON or -DCMAKE_PREFIX_PATH=<CUDA LibTorch>.
# USBENCH_TARGETS (default: all) limits what is built, e.g. USBENCH_TARGETS=usbench for the CLI alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${USBENCH_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja "$@" >/dev/null
fi
# shellcheck disable=SC2086  # several targets are separated by spaces
cmake --build "$BUILD_DIR" -j"$(nproc)" --target ${USBENCH_TARGETS:-all}
