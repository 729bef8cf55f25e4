// The main of the Google Benchmark programs: the pinned CPU kernel set first (harness/kernels.h), as in
// every usbench binary, so that a benchmark measures the kernels runs use; then Google Benchmark's own flags.
#include <benchmark/benchmark.h>

#include <iostream>

#include "harness/kernels.h"

int main(int argc, char** argv) {
  const auto kernels = usbench::apply_kernel_set(usbench::CpuIsa::Avx2, argv);
  std::cerr << "CPU kernel set: " << usbench::to_string(kernels.requested)
            << (kernels.cpu_has_avx512 ? " (this CPU has AVX-512)" : "") << "\n";
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
