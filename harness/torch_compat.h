// The one place where usbench bridges LibTorch API differences between the versions it builds with:
// Debian's 1.13 (CPU, the CI platform) and 2.x (pip or archive LibTorch, with CUDA). Every other file
// calls these helpers and never tests the version itself. Checked by .ci/torch2-check, which compiles
// every translation unit against a 2.x LibTorch's headers with deprecations as errors.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#define USBENCH_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace usbench::compat {

// CUDA autocast state. LibTorch 2.4 replaced the CUDA-only calls (is_enabled, set_enabled,
// set_autocast_gpu_dtype) by device-typed ones and deprecated the old names.
inline bool cuda_autocast_enabled() {
#if USBENCH_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}

inline void set_cuda_autocast(bool enabled, at::ScalarType dtype) {
#if USBENCH_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
#else
  at::autocast::set_autocast_gpu_dtype(dtype);
  at::autocast::set_enabled(enabled);
#endif
}

}  // namespace usbench::compat
