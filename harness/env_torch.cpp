#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include "harness/env.h"
#include "harness/kernels.h"
#include "harness/torch_pch.h"

#ifdef USBENCH_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace usbench {

std::int64_t cuda_free_bytes(int device_index) {
#ifdef USBENCH_WITH_CUDA
  if (torch::cuda::is_available() && device_index < static_cast<int>(torch::cuda::device_count())) {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_index));
    std::size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) return static_cast<std::int64_t>(free);
  }
#endif
  (void)device_index;
  return -1;
}

nlohmann::json capture_environment(const std::string& device) {
  nlohmann::json env = capture_host_environment();
  env["device"] = device;
  env["torch_version"] = TORCH_VERSION;
#ifdef USBENCH_OPENCV_VERSION
  env["opencv_version"] = USBENCH_OPENCV_VERSION;  // the OpenCV this binary decodes media with
#else
  env["opencv_version"] = "not built (-DUSBENCH_WITH_OPENCV=OFF)";
#endif
  env["threads"] = at::get_num_threads();
  // The vector instruction set ATen's CPU kernels dispatch to (DEFAULT, AVX2, AVX512): results differ
  // between them, so the regression gate's exact tier compares it. From show_config's
  // "CPU capability usage: AVX2" line; "unknown" where that line is absent.
  env["cpu_capability"] = "unknown";
  {
    const std::string config = at::show_config();
    const std::string key = "CPU capability usage: ";
    if (const auto at_key = config.find(key); at_key != std::string::npos) {
      const auto begin = at_key + key.size();
      env["cpu_capability"] = config.substr(begin, config.find('\n', begin) - begin);
    }
  }
  // The kernel set (harness/kernels.h): what oneDNN, ATen and the BLAS library run with. The gate's
  // platform is made of it, not of the CPU's model name.
  env["kernels"] = describe_kernel_set(env["cpu_capability"].get<std::string>());
  env["interop_threads"] = at::get_num_interop_threads();
  auto& ctx = at::globalContext();
  env["deterministic_algorithms"] = ctx.deterministicAlgorithms();
  env["cudnn_deterministic"] = ctx.deterministicCuDNN();
  env["cudnn_benchmark"] = ctx.benchmarkCuDNN();
  env["mkldnn_available"] = at::hasMKLDNN();
  const bool cuda = torch::cuda::is_available();
  env["cuda_available"] = cuda;
  env["cuda_device_count"] = cuda ? static_cast<int>(torch::cuda::device_count()) : 0;
  env["cuda_devices"] = nlohmann::json::array();
  env["cuda_version"] = nullptr;
  env["cudnn_version"] = nullptr;
  if (cuda) {
    const long cudnn = at::detail::getCUDAHooks().versionCuDNN();
    if (cudnn > 0) env["cudnn_version"] = cudnn;
#ifdef USBENCH_WITH_CUDA
    int runtime = 0;
    if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) env["cuda_version"] = runtime;
    for (int i = 0; i < static_cast<int>(torch::cuda::device_count()); ++i) {
      const auto* prop = at::cuda::getDeviceProperties(i);
      env["cuda_devices"].push_back({{"index", i},
                                     {"name", prop->name},
                                     {"memory_bytes", static_cast<std::int64_t>(prop->totalGlobalMem)},
                                     {"capability", std::to_string(prop->major) + "." + std::to_string(prop->minor)}});
    }
#endif
  }
  if (device == "cuda" && !env["cuda_devices"].empty())
    env["device_name"] = env["cuda_devices"][0]["name"];
  else
    env["device_name"] = env["cpu"];
  return env;
}

}  // namespace usbench
