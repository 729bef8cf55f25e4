// Mixed precision for CUDA runs (README Design §9): autocast to float16 around forward passes and loss scaling
// with torch.cuda.amp.GradScaler's dynamic policy. LibTorch 1.13 has autocast but no GradScaler, so the
// scaler is ours; it uses only device-agnostic tensor ops, so its logic is tested on CPU.
#pragma once
#include "harness/torch_pch.h"

namespace usbench {

// Enables CUDA autocast (float16) for its lifetime when `enabled`; nothing otherwise.
class AutocastGuard {
 public:
  explicit AutocastGuard(bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_, previous_ = false;
};

// Dynamic loss scaling, as torch.cuda.amp.GradScaler: the loss is multiplied by the scale before
// backward; step() unscales the gradients and steps the optimiser only if all of them are finite; the
// scale halves (backoff) after a step with inf/NaN gradients, which is skipped, and doubles (growth)
// after `growth_interval` consecutive finite steps. Disabled, it is the identity and always steps.
class GradScaler {
 public:
  explicit GradScaler(bool enabled, double init_scale = 65536.0, double growth_factor = 2.0,
                      double backoff_factor = 0.5, int growth_interval = 2000);
  bool enabled() const { return enabled_; }
  torch::Tensor scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }
  // Unscales every gradient of the optimiser's parameters, steps unless one is inf/NaN, updates the
  // scale. Returns whether the optimiser stepped.
  bool step(torch::optim::Optimizer& optimizer);
  double current_scale() const { return scale_; }
  int growth_tracker() const { return tracker_; }
  // Scale and growth tracker, for checkpoints (a resumed run continues with the same scale).
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  bool enabled_;
  double scale_, growth_, backoff_;
  int interval_, tracker_ = 0;
};

}  // namespace usbench
