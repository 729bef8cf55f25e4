// Differential test of the USCL and SimCLR training steps against a reference computation written in
// PyTorch from the paper and the recipe (tests/fixtures/make_fixtures.py --contrastive-step): the same
// fixed weights and view batches, training mode. The reference calls the network once per view batch,
// so each view is normalised with its own BatchNorm statistics; a joint forward of both views fails
// this test (their statistics differ on purpose). Loss to 1e-5, backbone gradients to 1e-4, relative.
#include <catch2/catch.hpp>

#include <filesystem>

#include "harness/model/weights.h"
#include "methods/pretrainer.h"
#include "spec_fixture.h"

using namespace usbench;

namespace {

const std::filesystem::path kFix = std::filesystem::path(USBENCH_SOURCE_DIR) / "tests" / "fixtures";

// make_fixtures.py's pattern(): ((i * 2654435761 + c(name)) mod 2^32) / 2^32 - 0.5 in float64, with
// c(name) = sum over the name's bytes of (position + 1) * byte, mod 2^32.
torch::Tensor pattern(const std::string& name, torch::IntArrayRef shape) {
  const std::int64_t two32 = 4294967296, golden = 2654435761;
  std::int64_t c = 0;
  for (std::size_t j = 0; j < name.size(); ++j)
    c = (c + static_cast<std::int64_t>(j + 1) * static_cast<unsigned char>(name[j])) % two32;
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  const auto i = torch::arange(n, torch::kInt64);
  return (((i * golden + c) % two32).to(torch::kFloat64) / 4294967296.0 - 0.5).reshape(shape);
}

// make_fixtures.py's fixed_value().
torch::Tensor fixed_value(const std::string& name, torch::IntArrayRef shape) {
  auto v = pattern(name, shape);
  if (shape.size() == 4)
    v = v * std::sqrt(24.0 / static_cast<double>(v.numel() / shape[0]));
  else if (shape.size() == 2)
    v = v * std::sqrt(12.0 / static_cast<double>(shape[1]));
  else if (name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0)
    v = 1.0 + 0.2 * v;
  else
    v = 0.2 * v;
  return v.to(torch::kFloat32);
}

std::map<std::string, torch::Tensor> as_map(const StateDict& d) { return {d.begin(), d.end()}; }

// The reference's parameter name: ours without the "encoder." of USCL's wrapper module.
std::string reference_name(const std::string& ours) { return ours.rfind("encoder.", 0) == 0 ? ours.substr(8) : ours; }

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

void check_step(const std::string& method, int classes, const std::string& fixture) {
  const auto ref = as_map(read_state_dict((kFix / fixture).string()));
  const auto config =
      test::builtin_registries().methods.get(method).resolve({{"input_size", 64}, {"batch_size", 8}}, "test", method);
  auto m = methods::make_pretrainer(test::builtin_registries().methods.get(method), config, classes, torch::kCPU, 0);
  {
    torch::NoGradGuard g;
    for (auto& p : m->state().named_parameters()) {
      const auto name = reference_name(p.key());
      if (name.rfind("backbone.fc.", 0) == 0) continue;  // our backbone's unused classifier (the reference has none)
      p.value().copy_(fixed_value(name, p.value().sizes()));
      INFO(name);
      REQUIRE(ref.count("weight_sum." + name) == 1);  // the same set of parameters as the reference
      CHECK(p.value().to(torch::kFloat64).sum().item<double>() ==
            Approx(ref.at("weight_sum." + name).item<double>()).epsilon(1e-12));
    }
  }
  const std::vector<std::int64_t> shape{8, 3, 64, 64};
  methods::PairBatch batch;
  batch.x1 = (2 * pattern("x1", shape)).to(torch::kFloat32);
  batch.x2 = (3 * pattern("x2", shape) + 0.5).to(torch::kFloat32);
  batch.labels = torch::tensor(std::vector<std::int64_t>{0, 1, -1, 1, 0, -1, 1, 0});
  batch.lambda = torch::ones({8});
  CHECK((batch.x1.to(torch::kFloat64).sum() + batch.x2.to(torch::kFloat64).sum()).item<double>() ==
        Approx(ref.at("x_sum").item<double>()).epsilon(1e-12));

  m->state().train();
  const auto losses = m->loss(batch, true);
  losses.total.backward();
  INFO(method);
  CHECK(rel(losses.total.item<double>(), ref.at("loss").item<double>()) < 1e-5);
  int compared = 0;
  for (const auto& p : m->state().named_parameters()) {
    const auto name = reference_name(p.key());
    if (name.rfind("backbone.", 0) != 0 || name.rfind("backbone.fc.", 0) == 0) continue;
    INFO(name);
    const auto g = p.value().grad().to(torch::kFloat64);
    CHECK(rel(g.norm().item<double>(), ref.at("grad_norm." + name).item<double>()) < 1e-4);
    CHECK(rel((g * pattern("probe." + name, g.sizes())).sum().item<double>(),
              ref.at("grad_dot." + name).item<double>()) < 1e-4);
    if (ref.count("grad." + name)) {
      const auto want = ref.at("grad." + name).to(torch::kFloat64);
      CHECK(((g - want).norm() / want.norm()).item<double>() < 1e-4);
    }
    ++compared;
  }
  CHECK(compared == 60);  // every backbone parameter of ResNet-18
}

}  // namespace

TEST_CASE("USCL's training step equals the reference: per-view forwards, NT-Xent + 0.2 CE per view", "[method]") {
  check_step("uscl", 2, "uscl_step.pth");
}

TEST_CASE("SimCLR's training step equals the reference: per-view forwards, NT-Xent", "[method]") {
  check_step("simclr", 0, "simclr_step.pth");
}
