// The loss scaler of CUDA mixed precision (harness/model/amp.h), checked on CPU with hand-computed updates.
#include <catch2/catch.hpp>

#include <limits>
#include <sstream>

#include "harness/model/amp.h"
#include "harness/run/step_sums.h"
#include "harness/torch_compat.h"

using namespace usbench;

namespace {
// w (2 values), loss = sum(w * x): the gradient is x, whatever w is.
struct Tiny {
  torch::Tensor w = torch::tensor({1.0f, -2.0f}).set_requires_grad(true);
  torch::optim::SGD opt{std::vector<torch::Tensor>{w}, torch::optim::SGDOptions(0.5)};
  torch::Tensor loss(const torch::Tensor& x) { return (w * x).sum(); }
};
}  // namespace

TEST_CASE("disabled, the scaler is the identity and always steps", "[amp][unit]") {
  Tiny t;
  GradScaler s(false);
  const auto l = t.loss(torch::tensor({3.0f, 4.0f}));
  CHECK(torch::equal(s.scale(l), l));
  s.scale(l).backward();
  CHECK(s.step(t.opt));
  CHECK(t.w[0].item<float>() == Approx(1.0 - 0.5 * 3));
  CHECK(t.w[1].item<float>() == Approx(-2.0 - 0.5 * 4));
}

TEST_CASE("enabled, the scaler unscales before the step, skips inf/NaN steps, backs off and grows", "[amp][unit]") {
  Tiny t;
  GradScaler s(true, /*init_scale=*/1024.0, /*growth_factor=*/2.0, /*backoff_factor=*/0.5, /*growth_interval=*/2);
  auto l = t.loss(torch::tensor({3.0f, 4.0f}));
  CHECK(s.scale(l).item<float>() == Approx(1024.0 * (3 - 8)));
  s.scale(l).backward();
  CHECK(t.w.grad()[0].item<float>() == Approx(3 * 1024.0));  // scaled until step()
  CHECK(s.step(t.opt));
  CHECK(t.w.grad()[0].item<float>() == Approx(3.0));     // unscaled
  CHECK(t.w[0].item<float>() == Approx(1.0 - 0.5 * 3));  // the same update as without scaling
  CHECK(t.w[1].item<float>() == Approx(-2.0 - 0.5 * 4));
  CHECK(s.current_scale() == 1024.0);
  CHECK(s.growth_tracker() == 1);

  // An infinite gradient: no step, the scale halves, the streak restarts.
  const auto before = t.w.detach().clone();
  t.opt.zero_grad();
  s.scale(t.loss(torch::tensor({std::numeric_limits<float>::infinity(), 1.0f}))).backward();
  CHECK_FALSE(s.step(t.opt));
  CHECK(torch::equal(t.w.detach(), before));
  CHECK(s.current_scale() == 512.0);
  CHECK(s.growth_tracker() == 0);
  // NaN likewise.
  t.opt.zero_grad();
  s.scale(t.loss(torch::tensor({std::nanf(""), 1.0f}))).backward();
  CHECK_FALSE(s.step(t.opt));
  CHECK(s.current_scale() == 256.0);

  // Two finite steps in a row: the scale doubles.
  for (int i = 0; i < 2; ++i) {
    t.opt.zero_grad();
    s.scale(t.loss(torch::tensor({1.0f, 1.0f}))).backward();
    CHECK(s.step(t.opt));
  }
  CHECK(s.current_scale() == 512.0);
  CHECK(s.growth_tracker() == 0);
}

TEST_CASE("the scaler's state survives a checkpoint, and an archive without it leaves the defaults", "[amp][unit]") {
  GradScaler a(true, 1024.0, 2.0, 0.5, 100);
  Tiny t;
  t.opt.zero_grad();
  a.scale(t.loss(torch::tensor({1.0f, 1.0f}))).backward();
  a.step(t.opt);
  torch::serialize::OutputArchive out;
  a.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  std::istringstream is(bytes.str());
  in.load_from(is);
  GradScaler b(true, 65536.0, 2.0, 0.5, 100);
  b.load(in);
  CHECK(b.current_scale() == 1024.0);
  CHECK(b.growth_tracker() == 1);

  torch::serialize::OutputArchive empty;
  empty.write("other", torch::zeros({1}));
  std::ostringstream eb;
  empty.save_to(eb);
  torch::serialize::InputArchive ein;
  std::istringstream eis(eb.str());
  ein.load_from(eis);
  GradScaler c(true, 65536.0);
  c.load(ein);
  CHECK(c.current_scale() == 65536.0);
}

TEST_CASE("autocast is off outside a guard, and a disabled guard changes nothing", "[amp][unit]") {
  CHECK_FALSE(compat::cuda_autocast_enabled());
  {
    AutocastGuard g(false);
    CHECK_FALSE(compat::cuda_autocast_enabled());
  }
  {
    AutocastGuard g(true);  // CUDA autocast state can be toggled without a GPU; no CUDA op runs here
    CHECK(compat::cuda_autocast_enabled());
    {
      AutocastGuard inner(true);
      CHECK(compat::cuda_autocast_enabled());
    }
    CHECK(compat::cuda_autocast_enabled());
  }
  CHECK_FALSE(compat::cuda_autocast_enabled());
}

TEST_CASE("step sums add in double precision in step order and read back every sum at once", "[unit]") {
  StepSums sums;
  double loss = 0;
  for (int i = 1; i <= 7; ++i) {
    const float v = 1.0f / static_cast<float>(i);
    sums.add("loss", torch::tensor(v).to(torch::kFloat64) * 32.0);
    sums.add("correct", torch::tensor(static_cast<std::int64_t>(i)));
    loss += static_cast<double>(v) * 32.0;  // what the loops summed on the host before
  }
  auto got = sums.read();
  CHECK(got.size() == 2);
  CHECK(got.at("loss") == loss);  // bit-identical, not approximately equal
  CHECK(got.at("correct") == 28.0);
  sums.add("loss", torch::tensor(std::numeric_limits<float>::quiet_NaN()));
  CHECK(std::isnan(sums.read().at("loss")));  // a NaN step poisons the sum: the loops' check sees it
  CHECK(StepSums().read().empty());
}
