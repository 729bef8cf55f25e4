#include "harness/run/logistic_regression.h"

#include <fmt/format.h>

#include "harness/errors.h"

namespace usbench {

torch::Tensor LogisticFit::raw_weight() const { return weight / scale.unsqueeze(0); }
torch::Tensor LogisticFit::raw_bias() const { return bias - (weight * (mean / scale).unsqueeze(0)).sum(1); }

LogisticFit fit_logistic_regression(const torch::Tensor& x_in, const torch::Tensor& y_in, int classes, double c,
                                    double tolerance) {
  torch::NoGradGuard outer;  // the caller's grad mode does not matter; the objective enables its own
  const auto x = x_in.to(torch::kCPU, torch::kFloat64);
  const auto y = y_in.to(torch::kCPU, torch::kInt64);
  const auto n = x.size(0), d = x.size(1);
  LogisticFit fit;
  fit.mean = x.mean(0);
  fit.scale = x.std(0, /*unbiased=*/false);
  // StandardScaler's _handle_zeros_in_scale: a (near) constant feature is left unscaled.
  fit.scale =
      torch::where(fit.scale < 10 * std::numeric_limits<double>::epsilon(), torch::ones_like(fit.scale), fit.scale);
  const auto z = (x - fit.mean) / fit.scale;
  auto w = torch::zeros({classes, d}, torch::kFloat64).requires_grad_(true);
  auto b = torch::zeros({classes}, torch::kFloat64).requires_grad_(true);
  torch::optim::LBFGS opt({w, b}, torch::optim::LBFGSOptions(1)
                                      .max_iter(20000)
                                      .max_eval(40000)
                                      .tolerance_grad(tolerance * static_cast<double>(n))
                                      .tolerance_change(0)
                                      .history_size(20)
                                      .line_search_fn("strong_wolfe"));
  auto objective = [&] {
    torch::AutoGradMode grad(true);
    const auto logits = torch::matmul(z, w.t()) + b;
    return c * torch::nn::functional::cross_entropy(
                   logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) +
           0.5 * (w * w).sum();
  };
  auto closure = [&] {
    opt.zero_grad();
    torch::AutoGradMode grad(true);
    auto f = objective();
    f.backward();
    return f;
  };
  for (int round = 0; round < 10; ++round) {
    ++fit.iterations;
    opt.step(closure);
    const auto f = closure();
    fit.objective = f.item<double>();
    fit.gradient_max = std::max(w.grad().abs().max().item<double>(), b.grad().abs().max().item<double>());
    if (fit.gradient_max <= tolerance * static_cast<double>(n)) break;
  }
  if (!(fit.gradient_max <= tolerance * static_cast<double>(n) * 100))
    throw RunFailure(fmt::format("logistic regression did not converge: largest gradient entry {:.3g} after L-BFGS",
                                 fit.gradient_max));
  fit.weight = w.detach().clone();
  fit.bias = b.detach().clone();
  return fit;
}

}  // namespace usbench
