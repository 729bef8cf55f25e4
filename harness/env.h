// Environment capture (README Design §7): what produced a run, recorded with it but not part of its identity.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace usbench {

// Host facts that need no torch: git commit and dirty flag of the source tree this binary was built
// from, hostname, compiler, SQLite / fmt / nlohmann_json versions, CPU model, OS.
nlohmann::json capture_host_environment();

// Everything above plus LibTorch and OpenCV versions, thread count, CUDA / cuDNN availability, versions
// and devices, and the determinism flags. `device` is the device the run asked for ("cpu" or "cuda").
// Defined in env_torch.cpp (the only part that includes torch).
nlohmann::json capture_environment(const std::string& device);

// Free memory of CUDA device `device_index` in bytes; -1 without CUDA (a CPU build or machine).
std::int64_t cuda_free_bytes(int device_index = 0);

}  // namespace usbench
