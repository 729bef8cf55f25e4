#include <catch2/catch.hpp>

#include <cmath>

#include "methods/losses.h"
#include "methods/pretrainer.h"
#include "reports/metrics.h"

using namespace usbench;

TEST_CASE("NT-Xent equals the value computed by hand", "[method][unit]") {
  // Two items, 2-d embeddings: z1 = [(1,0), (0,1)], z2 = [(1,0), (1,1)/sqrt2 unnormalised (1,1)].
  const auto z1 = torch::tensor({1.0, 0.0, 0.0, 1.0}, torch::kFloat64).reshape({2, 2});
  const auto z2 = torch::tensor({1.0, 0.0, 1.0, 1.0}, torch::kFloat64).reshape({2, 2});
  const double t = 0.5, s = 1 / std::sqrt(2.0);
  // Views v0=(1,0) v1=(0,1) v2=(1,0) v3=(s,s). Cosines: c01=0 c02=1 c03=s c12=0 c13=s c23=s.
  // Positives: 0<->2, 1<->3. Row i: -log(exp(pos/t) / sum_{j != i} exp(c_ij / t)).
  auto row = [&](double pos, double a, double b) {
    return -std::log(std::exp(pos / t) / (std::exp(pos / t) + std::exp(a / t) + std::exp(b / t)));
  };
  const double l0 = row(1, 0, s);  // 0: pos c02, others c01, c03
  const double l1 = row(s, 0, 0);  // 1: pos c13, others c10, c12
  const double l2 = row(1, 0, s);  // 2: pos c20, others c21, c23
  const double l3 = row(s, s, s);  // 3: pos c31, others c30, c32
  const double expected = (l0 + l1 + l2 + l3) / 4;
  CHECK(methods::nt_xent(z1, z2, t).item<double>() == Approx(expected).margin(1e-9));
  // Scale invariance of the cosine: multiplying the embeddings changes nothing.
  CHECK(methods::nt_xent(3 * z1, 0.5 * z2, t).item<double>() == Approx(expected).margin(1e-9));
}

TEST_CASE("the MoCo loss equals the value computed by hand", "[method][unit]") {
  const auto q = torch::tensor({2.0, 0.0}, torch::kFloat64).reshape({1, 2});  // normalised: (1, 0)
  const auto k = torch::tensor({1.0, 1.0}, torch::kFloat64).reshape({1, 2});  // normalised: (s, s)
  const auto queue = torch::tensor({0.0, 1.0, -1.0, 0.0}, torch::kFloat64).reshape({2, 2});
  const double t = 0.2, s = 1 / std::sqrt(2.0);
  // logits = [q.k, q.n1, q.n2] / t = [s, 0, -1] / t; label 0.
  const double expected = -std::log(std::exp(s / t) / (std::exp(s / t) + std::exp(0.0) + std::exp(-1 / t)));
  CHECK(methods::moco_loss(q, k, queue, t).item<double>() == Approx(expected).margin(1e-9));
}

TEST_CASE("USCL's schedule: constant for the first epochs, then cosine", "[method][unit]") {
  using methods::cosine_after_constant;
  CHECK(cosine_after_constant(3e-4, 0, 300, 10) == 3e-4);
  CHECK(cosine_after_constant(3e-4, 10, 300, 10) == 3e-4);
  CHECK(cosine_after_constant(3e-4, 11, 300, 10) == Approx(3e-4 * (1 + std::cos(M_PI / 300)) / 2));
  CHECK(cosine_after_constant(1.0, 160, 300, 10) == Approx(0.5));  // 150 steps of a 300-step half period
  CHECK(cosine_after_constant(1.0, 5, 10, 0) == Approx(0.5));
}

TEST_CASE("confusion-matrix metrics, McNemar and the bootstrap on hand-made cases", "[unit]") {
  reports::Confusion c(2);
  c.add(0, 0);
  c.add(0, 0);
  c.add(0, 1);
  c.add(1, 1);
  CHECK(c.total() == 4);
  CHECK(c.accuracy() == 0.75);
  CHECK(c.precision(0) == 1.0);
  CHECK(c.recall(0) == Approx(2.0 / 3));
  CHECK(c.f1(0) == Approx(0.8));
  CHECK(c.precision(1) == 0.5);
  CHECK(c.f1(1) == Approx(2 * 0.5 / 1.5));
  CHECK(c.macro_f1() == Approx((0.8 + 2.0 / 3) / 2));
  CHECK(reports::mcnemar_exact_p(0, 5) == Approx(2.0 / 32));
  CHECK(reports::mcnemar_exact_p(3, 3) == 1.0);
  CHECK(reports::mcnemar_exact_p(0, 0) == 1.0);
  CHECK(reports::sample_std({1, 2, 3, 4}) == Approx(std::sqrt(5.0 / 3)));
  const auto all = reports::bootstrap_accuracy({{3, 3}, {5, 5}}, 200, 1);
  CHECK(all.lo == 1.0);
  CHECK(all.hi == 1.0);
  const auto mixed = reports::bootstrap_accuracy({{0, 4}, {4, 4}, {2, 4}, {3, 4}}, 2000, 1);
  CHECK(mixed.lo < 9.0 / 16);
  CHECK(mixed.hi > 9.0 / 16);
}
