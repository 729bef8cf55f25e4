#include "harness/model/amp.h"

#include "harness/torch_compat.h"

namespace usbench {

AutocastGuard::AutocastGuard(bool enabled) : enabled_(enabled) {
  if (!enabled_) return;
  previous_ = compat::cuda_autocast_enabled();
  compat::set_cuda_autocast(true, at::kHalf);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
  // As torch.autocast's __exit__: drop the cast-weight cache when leaving the outermost region.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  compat::set_cuda_autocast(previous_, at::kHalf);
}

GradScaler::GradScaler(bool enabled, double init_scale, double growth_factor, double backoff_factor,
                       int growth_interval)
    : enabled_(enabled),
      scale_(init_scale),
      growth_(growth_factor),
      backoff_(backoff_factor),
      interval_(growth_interval) {}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (!enabled_) {
    optimizer.step();
    return true;
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) grads.push_back(p.grad());
  bool finite = true;
  if (!grads.empty()) {
    std::vector<torch::Tensor> bad;
    for (auto& g : grads) bad.push_back(g.isfinite().logical_not().any());
    finite = !torch::stack(bad).any().item<bool>();  // the one host synchronisation per step, as in PyTorch
  }
  if (!finite) {
    scale_ *= backoff_;
    tracker_ = 0;
    return false;
  }
  const double inv = 1.0 / scale_;
  for (auto& g : grads) g.mul_(inv);
  optimizer.step();
  if (++tracker_ == interval_) {
    scale_ *= growth_;
    tracker_ = 0;
  }
  return true;
}

void GradScaler::save(torch::serialize::OutputArchive& archive) const {
  archive.write("amp_scale", torch::tensor(scale_, torch::kFloat64));
  archive.write("amp_growth_tracker", torch::tensor(static_cast<std::int64_t>(tracker_)));
}

void GradScaler::load(torch::serialize::InputArchive& archive) {
  torch::Tensor s, t;
  if (!archive.try_read("amp_scale", s) || !archive.try_read("amp_growth_tracker", t))
    return;  // a checkpoint without AMP
  scale_ = s.item<double>();
  tracker_ = static_cast<int>(t.item<std::int64_t>());
}

}  // namespace usbench
