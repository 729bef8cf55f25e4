// The Catch2 main for every test binary. The suite is hermetic about ImageNet weights: a user's torch hub
// cache, USBENCH_IMAGENET_WEIGHTS or USBENCH_HUB_FILES must not change what a test (or the usbench
// commands it starts, which inherit this environment) sees; a test that needs them sets its own.
// Every test binary computes with the pinned CPU kernel set (harness/kernels.h), so that the committed
// reference numbers hold on AVX-512 and AVX2 machines alike; it says so before the tests run.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>

#include "harness/kernels.h"

int main(int argc, char* argv[]) {
  const auto kernels = usbench::apply_kernel_set(usbench::CpuIsa::Avx2, argv);
  std::cerr << "usbench tests: CPU kernel set " << usbench::to_string(kernels.requested)
            << (kernels.cpu_has_avx2 ? "" : " requested, but this CPU lacks AVX2 + FMA: the libraries choose")
            << (kernels.cpu_has_avx512 ? " (this CPU has AVX-512; pinned below it)" : "") << "\n";
  ::setenv("TORCH_HOME", "/nonexistent/usbench-tests/torch-home", 1);
  ::unsetenv("USBENCH_IMAGENET_WEIGHTS");
  ::unsetenv("USBENCH_HUB_FILES");
  return Catch::Session().run(argc, argv);
}
