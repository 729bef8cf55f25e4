// Sums of per-step scalars (losses, counts of correct predictions) kept on the device that computes
// them, so that a CUDA training loop never waits for the GPU after a step (README Design §11); read() brings
// every sum to the host in one transfer. On the CPU a read costs nothing, and the loops read every step.
#pragma once
#include <map>
#include <string>

#include "harness/torch_pch.h"

namespace usbench {

// How often a CUDA training loop reads its sums back (progress line, NaN check), in seconds.
inline constexpr double kStepSumReadSeconds = 2.0;

class StepSums {
 public:
  // Adds a 0-dim tensor (any floating or integer type; detached by the caller) to the sum called `name`.
  void add(const std::string& name, const torch::Tensor& value) {
    auto v = value.detach().to(torch::kFloat64);
    auto it = sums_.find(name);
    if (it == sums_.end())
      sums_.emplace(name, v.clone());
    else
      it->second.add_(v);
  }
  // Every sum, by name (one device-to-host copy; waits for the device's queued work).
  std::map<std::string, double> read() const {
    std::map<std::string, double> out;
    if (sums_.empty()) return out;
    std::vector<torch::Tensor> all;
    for (const auto& kv : sums_) all.push_back(kv.second.reshape({1}));
    const auto host = torch::cat(all).cpu();
    const double* p = host.data_ptr<double>();
    for (const auto& kv : sums_) out[kv.first] = *p++;
    return out;
  }

 private:
  std::map<std::string, torch::Tensor> sums_;
};

}  // namespace usbench
