#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "harness/errors.h"
#include "harness/model/resnet.h"
#include "harness/model/weights.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {
const fs::path kFix = fs::path(USBENCH_SOURCE_DIR) / "tests" / "fixtures";

std::map<std::string, torch::Tensor> as_map(const StateDict& d) {
  std::map<std::string, torch::Tensor> m;
  for (const auto& [k, v] : d) m[k] = v;
  return m;
}
double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

ResNetSpec tiny(bool bottleneck) { return {bottleneck, {1, 1, 1, 1}, 4, 5}; }
}  // namespace

TEST_CASE("ResNet-18 and -50 have torchvision's parameter and buffer names, order and shapes", "[method][unit]") {
  std::ifstream in(kFix / "torchvision_keys.json");
  const auto ref = nlohmann::json::parse(in);
  for (const char* name : {"resnet18", "resnet50"}) {
    INFO(name);
    ResNet m(ResNetSpec::by_name(name));
    const auto sd = state_dict(*m);
    REQUIRE(sd.size() == ref[name].size());
    for (std::size_t i = 0; i < sd.size(); ++i) {
      INFO(i);
      CHECK(sd[i].first == ref[name][i][0].get<std::string>());
      CHECK(sd[i].second.sizes().vec() == ref[name][i][1].get<std::vector<std::int64_t>>());
    }
  }
}

TEST_CASE("random init follows torchvision: kaiming-normal fan_out convolutions, BN 1/0", "[method][unit]") {
  ResNet m(ResNetSpec::resnet18());
  torchvision_init(*m, 123);
  auto p = m->named_parameters();
  // layer3.0.conv2: 256 x 256 x 3 x 3, fan_out = 256 * 9 -> std sqrt(2 / 2304) = 0.02946
  const double std = p["layer3.0.conv2.weight"].std().item<double>();
  CHECK(std == Approx(std::sqrt(2.0 / 2304)).epsilon(0.02));
  CHECK(p["layer3.0.conv2.weight"].mean().item<double>() == Approx(0).margin(1e-3));
  CHECK(torch::equal(p["layer2.1.bn1.weight"], torch::ones({128})));
  CHECK(torch::equal(p["layer2.1.bn1.bias"], torch::zeros({128})));
  // fc: nn.Linear's default, uniform in +-1/sqrt(fan_in)
  CHECK(p["fc.weight"].abs().max().item<double>() <= 1 / std::sqrt(512.0) + 1e-7);
  ResNet again(ResNetSpec::resnet18());
  torchvision_init(*again, 123);
  CHECK(torch::equal(again->named_parameters()["conv1.weight"], p["conv1.weight"]));
}

TEST_CASE("torchvision state dicts load unmodified and the forward pass matches torchvision", "[method]") {
  for (const bool bottleneck : {false, true}) {
    const std::string name = bottleneck ? "tiny_bottleneck" : "tiny_basic";
    INFO(name);
    const auto weights = read_state_dict((kFix / (name + ".pth")).string());
    auto io = as_map(read_state_dict((kFix / (name + "_io.pth")).string()));
    ResNet m(tiny(bottleneck));
    const auto report = load_weights(*m, weights, name, /*with_fc=*/true);
    CHECK(report.layout == WeightLayout::Torchvision);
    CHECK(report.loaded == static_cast<int>(weights.size()));
    CHECK(m->named_buffers()["bn1.num_batches_tracked"].item<std::int64_t>() == 7);
    torch::NoGradGuard g;
    m->eval();
    CHECK(max_diff(m->features(io["x"]), io["eval_features"]) < 1e-5);
    CHECK(max_diff(m->forward(io["x"]), io["eval_logits"]) < 1e-5);
    m->train();
    // Training-mode BatchNorm over a batch of 2 amplifies the rounding of the CPU's kernels: PyTorch itself,
    // the same 1.13, gives 2.7e-5 against this fixture on an AMD EPYC (the fixture was written on a Xeon).
    CHECK(max_diff(m->forward(io["x"]), io["train_logits"]) < 1e-4);
    CHECK(max_diff(m->named_buffers()["bn1.running_mean"], io["train_bn1_running_mean"]) < 1e-6);
    CHECK(max_diff(m->named_buffers()["bn1.running_var"], io["train_bn1_running_var"]) < 1e-6);
  }
}

TEST_CASE("USCL's released layout loads into the backbone, dropping its heads", "[method]") {
  auto io = as_map(read_state_dict((kFix / "tiny_basic_io.pth").string()));
  ResNet m(tiny(false));
  const auto report = load_weights(*m, read_state_dict((kFix / "tiny_uscl_layout.pth").string()), "uscl", false);
  CHECK(report.layout == WeightLayout::Uscl);
  CHECK(report.ignored.size() == 6);  // l1, l2, fc weight + bias
  torch::NoGradGuard g;
  m->eval();
  CHECK(max_diff(m->features(io["x"]), io["eval_features"]) < 1e-5);
}

TEST_CASE("weights that do not fit are refused with the keys listed", "[method]") {
  const auto weights = read_state_dict((kFix / "tiny_basic.pth").string());
  ResNet big(ResNetSpec::resnet18());
  CHECK_THROWS_WITH(load_weights(*big, weights, "tiny.pth", true),
                    Contains("tiny.pth") && Contains("shape mismatches:") &&
                        Contains("conv1.weight (file [4, 3, 7, 7], model [64, 3, 7, 7])"));
  auto dropped = weights;
  dropped.erase(dropped.begin() + 1);  // bn1.weight
  ResNet m(tiny(false));
  CHECK_THROWS_WITH(load_weights(*m, dropped, "x", true), Contains("missing keys: bn1.weight"));
  auto extra = weights;
  extra.emplace_back("head.weight", torch::zeros({2}));
  CHECK_THROWS_WITH(load_weights(*m, extra, "x", true), Contains("unexpected keys: head.weight"));
}

TEST_CASE("exported weights round-trip and bad files are named", "[method]") {
  TempDir dir;
  ResNet m(tiny(false));
  load_weights(*m, read_state_dict((kFix / "tiny_basic.pth").string()), "t", true);
  const auto out = (dir / "export.pth").string();
  save_state_dict(state_dict(*m), out);
  const auto back = read_state_dict(out);
  const auto orig = state_dict(*m);
  REQUIRE(back.size() == orig.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i].first == orig[i].first);
    CHECK(torch::equal(back[i].second, orig[i].second));
  }
  write_bytes(dir / "notes.pth", "not a checkpoint");
  CHECK_THROWS_WITH(read_state_dict((dir / "notes.pth").string()),
                    Contains("notes.pth") && Contains("not a PyTorch checkpoint"));
  CHECK_THROWS_WITH(read_state_dict((dir / "none.pth").string()), Contains("none.pth") && Contains("not found"));
  const auto bytes = read_bytes(out);
  write_bytes(dir / "cut.pth", bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_AS(read_state_dict((dir / "cut.pth").string()), UsageError);
}

TEST_CASE("the legacy (pre-1.6) torch.save format reads to the same tensors as the zip format", "[method]") {
  // tiny_basic_legacy.pth = torch.save(torch.load("tiny_basic.pth"), f, _use_new_zipfile_serialization=False)
  const auto zip = read_state_dict((kFix / "tiny_basic.pth").string());
  const auto legacy = read_state_dict((kFix / "tiny_basic_legacy.pth").string());
  REQUIRE(legacy.size() == zip.size());
  for (std::size_t i = 0; i < zip.size(); ++i) {
    INFO(zip[i].first);
    CHECK(legacy[i].first == zip[i].first);
    CHECK(legacy[i].second.dtype() == zip[i].second.dtype());
    CHECK(torch::equal(legacy[i].second, zip[i].second));
  }
  ResNet m(tiny(false));
  CHECK_NOTHROW(load_weights(*m, legacy, "legacy", true));
  // Cut short, it is refused with the file named.
  TempDir dir;
  const auto bytes = read_bytes(kFix / "tiny_basic_legacy.pth");
  for (std::size_t cut : {bytes.size() - 100, bytes.size() / 2, std::size_t{40}}) {
    INFO("cut at " << cut);
    write_bytes(dir / "cut.pth", bytes.substr(0, cut));
    CHECK_THROWS_WITH(read_state_dict((dir / "cut.pth").string()), Contains("cut.pth"));
  }
}

TEST_CASE("weights with NaN values or an integer dtype are refused by tensor name", "[method]") {
  TempDir dir;
  ResNet m(tiny(false));
  auto dict = state_dict(*m);
  auto with = [&](const std::string& name, const torch::Tensor& t) {
    auto d = dict;
    for (auto& [k, v] : d)
      if (k == name) v = t;
    const auto path = (dir / (name + ".pth")).string();
    save_state_dict(d, path);
    return read_state_dict(path);
  };
  ResNet target(tiny(false));
  const auto conv = dict[0].second;
  REQUIRE(dict[0].first == "conv1.weight");
  CHECK_THROWS_WITH(load_weights(*target, with("conv1.weight", torch::full_like(conv, std::nan(""))), "nan.pth", true),
                    Contains("nan.pth") && Contains("conv1.weight (NaN or infinite values)"));
  CHECK_THROWS_WITH(load_weights(*target, with("bn1.weight", torch::ones({4}, torch::kInt64)), "int.pth", true),
                    Contains("int.pth") && Contains("bn1.weight (dtype Long, expected floating point)"));
  // num_batches_tracked is an integer buffer in torchvision files: still accepted.
  CHECK_NOTHROW(load_weights(*target, dict, "ok.pth", true));
}
