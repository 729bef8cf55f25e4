#include "methods/losses.h"

namespace usbench::methods {

namespace F = torch::nn::functional;

torch::Tensor nt_xent(const torch::Tensor& z1, const torch::Tensor& z2, double temperature) {
  TORCH_CHECK(z1.sizes() == z2.sizes() && z1.dim() == 2, "nt_xent: z1 and z2 must both be [N, D]");
  const auto n = z1.size(0);
  const auto z = F::normalize(torch::cat({z1, z2}, 0), F::NormalizeFuncOptions().dim(1));
  auto sim = torch::matmul(z, z.t()) / temperature;
  // A view is never its own negative.
  sim = sim.masked_fill(torch::eye(2 * n, torch::TensorOptions().dtype(torch::kBool).device(z.device())),
                        -std::numeric_limits<float>::infinity());
  const auto idx = torch::arange(2 * n, torch::TensorOptions().dtype(torch::kLong).device(z.device()));
  const auto positive = torch::cat({idx.slice(0, n), idx.slice(0, 0, n)});  // i <-> i + N
  return F::cross_entropy(sim, positive);
}

torch::Tensor moco_loss(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& queue, double temperature,
                        const torch::Tensor& excluded) {
  const auto qn = F::normalize(q, F::NormalizeFuncOptions().dim(1));
  const auto kn = F::normalize(k, F::NormalizeFuncOptions().dim(1));
  const auto pos = (qn * kn).sum(1, /*keepdim=*/true);
  auto neg = torch::matmul(qn, queue.t());
  // An excluded negative gets logit -inf: exp(-inf) = 0 in the softmax, and no gradient flows through it.
  if (excluded.defined()) neg = neg.masked_fill(excluded, -std::numeric_limits<float>::infinity());
  const auto logits = torch::cat({pos, neg}, 1) / temperature;
  const auto labels = torch::zeros({q.size(0)}, torch::TensorOptions().dtype(torch::kLong).device(q.device()));
  return F::cross_entropy(logits, labels);
}

}  // namespace usbench::methods
