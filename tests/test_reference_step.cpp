// Differential test of the USCL and SimCLR training steps against our own rewrite of the recipe in PyTorch
// (tests/fixtures/make_fixtures.py --contrastive-step; the comparison with the authors' code itself is
// tests/test_authors_reference.cpp): the same
// fixed weights and view batches, training mode. The reference calls the network once per view batch,
// so each view is normalised with its own BatchNorm statistics; a joint forward of both views fails
// this test (their statistics differ on purpose). Loss to 1e-5, backbone gradients to 1e-4, relative.
#include <catch2/catch.hpp>

#include <filesystem>

#include "harness/model/weights.h"
#include "methods/pretrainer.h"
#include "fixture_values.h"
#include "spec_fixture.h"

using namespace usbench;
using usbench::test::fixed_value;
using usbench::test::pattern;

namespace {

const std::filesystem::path kFix = std::filesystem::path(USBENCH_SOURCE_DIR) / "tests" / "fixtures";

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

TEST_CASE("USCL's training step equals our PyTorch rewrite of the recipe: per-view forwards, NT-Xent + 0.2 CE per view",
          "[method]") {
  check_step("uscl", 2, "uscl_step.pth");
}

TEST_CASE("SimCLR's training step equals our PyTorch rewrite of the recipe: per-view forwards, NT-Xent", "[method]") {
  check_step("simclr", 0, "simclr_step.pth");
}
