// The CUDA path (README Design §9, §11), run where a GPU is present (.ci/gpu-check); elsewhere each test says it
// skipped. What a GPU changes: where tensors live, cuDNN's kernels, autocast and loss scaling.
#include <catch2/catch.hpp>

#include "datasets/augment.h"
#include "harness/model/amp.h"
#include "harness/model/resnet.h"
#include "harness/run/step_sums.h"

using namespace usbench;

namespace {

bool have_cuda() {
  if (torch::cuda::is_available()) return true;
  WARN("SKIPPED: no CUDA device (this test runs in .ci/gpu-check on a GPU machine)");
  return false;
}

// TF32 off for the duration: the comparison is of fp32 against fp32.
struct NoTF32 {
  bool cudnn = at::globalContext().allowTF32CuDNN(), cublas = at::globalContext().allowTF32CuBLAS();
  NoTF32() {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  ~NoTF32() {
    at::globalContext().setAllowTF32CuDNN(cudnn);
    at::globalContext().setAllowTF32CuBLAS(cublas);
  }
};

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a.cpu().to(torch::kFloat64) - b.cpu().to(torch::kFloat64)).norm() /
          (b.cpu().to(torch::kFloat64).norm() + 1e-30))
      .item<double>();
}

}  // namespace

TEST_CASE("CUDA: a ResNet-18 training-mode forward and backward equal the CPU's", "[gpu]") {
  if (!have_cuda()) return;
  NoTF32 fp32;
  torch::manual_seed(3);
  ResNet cpu(ResNetSpec::by_name("resnet18"));
  ResNet gpu(ResNetSpec::by_name("resnet18"));
  {
    torch::NoGradGuard g;
    auto src = cpu->named_parameters();
    for (auto& p : gpu->named_parameters()) p.value().copy_(src[p.key()]);
  }
  gpu->to(torch::kCUDA);
  cpu->train();
  gpu->train();  // batch statistics: the mode the pretraining and uscl-paper use
  const auto x = torch::randn({6, 3, 64, 64});
  const auto y = torch::tensor({0, 1, 2, 0, 1, 2}, torch::kLong);
  const auto out_c = cpu->forward(x), out_g = gpu->forward(x.cuda());
  CHECK(rel(out_g, out_c) < 1e-4);
  torch::nn::functional::cross_entropy(out_c, y).backward();
  torch::nn::functional::cross_entropy(out_g, y.cuda()).backward();
  auto grads_c = cpu->named_parameters();
  for (const auto& p : gpu->named_parameters()) {
    INFO(p.key());
    CHECK(rel(p.value().grad(), grads_c[p.key()].grad()) < 1e-3);
  }
  // Running statistics moved the same way.
  auto buf_c = cpu->named_buffers();
  for (const auto& b : gpu->named_buffers())
    if (b.value().is_floating_point()) CHECK(rel(b.value(), buf_c[b.key()]) < 1e-4);
}

TEST_CASE("CUDA: augmentation on the device equals augmentation on the CPU", "[gpu]") {
  if (!have_cuda()) return;
  datasets::AugmentConfig cfg;
  cfg.out_size = 48;
  cfg.random_crop = cfg.flip = cfg.color_jitter = true;
  datasets::Rng rng(5);
  std::vector<datasets::ImageParams> params;
  for (int i = 0; i < 8; ++i) params.push_back(datasets::sample_params(rng, cfg, 64, 80));
  const auto frames = torch::randint(0, 256, {8, 64, 80, 3}, torch::kUInt8);
  const auto on_cpu = datasets::augment(frames, params, cfg);
  const auto on_gpu = datasets::augment(frames.cuda(), params, cfg);
  REQUIRE(on_gpu.is_cuda());
  CHECK((on_gpu.cpu() - on_cpu).abs().max().item<double>() < 1e-4);
}

TEST_CASE("CUDA: autocast runs float16, and the scaler skips an inf step and backs off", "[gpu]") {
  if (!have_cuda()) return;
  torch::manual_seed(0);
  torch::nn::Linear lin(4, 2);
  lin->to(torch::kCUDA);
  torch::optim::SGD opt(lin->parameters(), torch::optim::SGDOptions(0.1));
  GradScaler scaler(true, 1024.0, 2.0, 0.5, 2);
  const auto x = torch::randn({3, 4}).cuda();
  torch::Tensor out;
  {
    AutocastGuard autocast(true);
    out = lin(x);
  }
  CHECK(out.scalar_type() == torch::kHalf);
  CHECK_FALSE(lin(x).scalar_type() == torch::kHalf);  // the guard ended: float32 again

  // A finite step: gradients unscaled (the update equals plain SGD's), the step taken.
  const auto w0 = lin->weight.detach().clone();
  opt.zero_grad();
  scaler.scale(lin(x).sum()).backward();
  const auto scaled = lin->weight.grad().clone();
  CHECK(scaler.step(opt));
  CHECK(torch::allclose(lin->weight.detach(), w0 - 0.1 * scaled / 1024.0, 1e-5, 1e-6));

  // An inf gradient: no step, parameters unchanged, scale halved, growth counter reset.
  const auto w1 = lin->weight.detach().clone();
  opt.zero_grad();
  scaler.scale(lin(x).sum()).backward();
  lin->weight.mutable_grad()[0][0] = std::numeric_limits<float>::infinity();
  CHECK_FALSE(scaler.step(opt));
  CHECK(torch::equal(lin->weight.detach(), w1));
  CHECK(scaler.current_scale() == 512.0);
  CHECK(scaler.growth_tracker() == 0);

  // Two good steps in a row double it (growth_interval 2).
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    scaler.scale(lin(x).sum()).backward();
    CHECK(scaler.step(opt));
  }
  CHECK(scaler.current_scale() == 1024.0);
}

TEST_CASE("CUDA: step sums stay on the device and read back exactly", "[gpu]") {
  if (!have_cuda()) return;
  StepSums sums;
  double want = 0;
  for (int i = 0; i < 10; ++i) {
    const float v = 0.1f * static_cast<float>(i);
    sums.add("loss", torch::tensor(v).cuda());
    sums.add("correct", torch::tensor(static_cast<std::int64_t>(i)).cuda());
    want += static_cast<double>(v);
  }
  const auto got = sums.read();
  CHECK(got.at("loss") == want);
  CHECK(got.at("correct") == 45.0);
}
