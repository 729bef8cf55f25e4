#!/usr/bin/env bash
# Configures (once) and builds usbench with Ninja and ccache into ./build. Extra arguments go to CMake
# at configure time, e.g. -DUSBENCH_BUILD_BENCHMARKS=ON or -DCMAKE_PREFIX_PATH=<CUDA LibTorch>.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${USBENCH_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja "$@" >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$(nproc)"
