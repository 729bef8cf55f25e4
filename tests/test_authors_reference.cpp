// Differential tests against the USCL authors' own code (../shared/reference/USCL, MIT): the numbers in
// tests/fixtures/authors_*.json and linear_eval.json were computed by importing the authors' classes and
// functions (tests/fixtures/make_reference_fixtures.py) on fixed weights and inputs; only the numbers are
// committed. Each test computes the same thing with usbench's code and compares:
//  - a USCL and a SimCLR training step (the authors' ResNetSimCLR, SimCLR._step, NTXentLoss, CE per view);
//  - the frame mixup formula of the authors' video data set, on the frames and lambda it drew;
//  - three epochs of uscl-paper's fine-tuning against eval_pretrained_model.py's main(): trainable set,
//    BatchNorm mode, rate and loss of every step, weights and BatchNorm statistics after the last;
//  - linear-eval's logistic regression against linear_eval.py's StandardScaler + LogisticRegression.
// A last test checks that the fixtures were made from the authors' files that ../shared holds (SHA-256),
// and skips with a message where ../shared is absent.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "harness/canonical.h"
#include "harness/run/finetune.h"
#include "harness/run/logistic_regression.h"
#include "datasets/augment.h"
#include "fixture_values.h"
#include "methods/pretrainer.h"
#include "spec_fixture.h"

using namespace usbench;
using test::fixed_value;
using test::pattern;
namespace fs = std::filesystem;

namespace {

const fs::path kFix = fs::path(USBENCH_SOURCE_DIR) / "tests" / "fixtures";
const fs::path kAuthors = fs::path(USBENCH_SOURCE_DIR) / ".." / "shared" / "reference" / "USCL";

nlohmann::json fixture(const std::string& name) {
  std::ifstream in(kFix / name);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

torch::Tensor tensor(const nlohmann::json& values) {
  return torch::tensor(values.get<std::vector<double>>(), torch::kFloat64);
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

// The authors' parameter names as the generator wrote them: usbench's own, less USCL's "encoder." wrapper.
std::string authors_name(const std::string& ours) { return ours.rfind("encoder.", 0) == 0 ? ours.substr(8) : ours; }

// Norm, probe dot product and (for small tensors) every entry of `t` against the fixture's `prefix`.
void check_tensor(const nlohmann::json& ref, const std::string& prefix, const std::string& name, const torch::Tensor& t,
                  double tolerance) {
  INFO(prefix << " " << name);
  const auto g = t.to(torch::kFloat64);
  REQUIRE(ref.contains(prefix + "_norm." + name));
  CHECK(rel(g.norm().item<double>(), ref.at(prefix + "_norm." + name).get<double>()) < tolerance);
  // The probe's dot product cancels (entries of both signs): its error is measured against |g| |probe|.
  const auto probe = pattern("probe." + name, g.sizes());
  CHECK(std::abs((g * probe).sum().item<double>() - ref.at(prefix + "_dot." + name).get<double>()) /
            std::max(g.norm().item<double>() * probe.norm().item<double>(), 1e-30) <
        tolerance);
  if (ref.contains(prefix + "." + name)) {
    const auto want = tensor(ref.at(prefix + "." + name)).reshape(g.sizes());
    CHECK(((g - want).norm() / want.norm().clamp_min(1e-12)).item<double>() < tolerance);
  }
}

void check_contrastive_step(const std::string& method, int classes, const std::string& file) {
  const auto ref = fixture(file);
  const auto& info = test::builtin_registries().methods.get(method);
  const auto config = info.resolve({{"input_size", 64}, {"batch_size", 8}}, "test", method);
  auto m = methods::make_pretrainer(info, config, classes, torch::kCPU, 0);
  std::set<std::string> ours;
  {
    torch::NoGradGuard g;
    for (auto& p : m->state().named_parameters()) {
      const auto name = authors_name(p.key());
      if (name.rfind("backbone.fc.", 0) == 0) continue;  // our backbone's unused classifier (theirs has none)
      p.value().copy_(fixed_value(name, p.value().sizes()));
      ours.insert(name);
    }
  }
  // The same parameters as the authors' network (their unused fc1 / fc2 "Mixup" heads aside).
  const auto theirs = ref.at("parameters").get<std::set<std::string>>();
  CHECK(ours == theirs);
  const std::vector<std::int64_t> shape{8, 3, 64, 64};
  methods::PairBatch batch;
  batch.x1 = (2 * pattern("x1", shape)).to(torch::kFloat32);
  batch.x2 = (3 * pattern("x2", shape) + 0.5).to(torch::kFloat32);
  batch.labels = torch::tensor(std::vector<std::int64_t>{0, 1, -1, 1, 0, -1, 1, 0});
  batch.lambda = torch::ones({8});
  CHECK((batch.x1.to(torch::kFloat64).sum() + batch.x2.to(torch::kFloat64).sum()).item<double>() ==
        Approx(ref.at("x_sum").get<double>()).epsilon(1e-12));
  m->state().train();
  const auto losses = m->loss(batch, true);
  losses.total.backward();
  CHECK(rel(losses.total.item<double>(), ref.at("loss").get<double>()) < 1e-5);
  int compared = 0;
  for (const auto& p : m->state().named_parameters()) {
    const auto name = authors_name(p.key());
    if (name.rfind("backbone.", 0) != 0 || name.rfind("backbone.fc.", 0) == 0) continue;
    check_tensor(ref, "grad", name, p.value().grad(), 1e-4);
    ++compared;
  }
  CHECK(compared == 60);  // every backbone parameter of ResNet-18
}

}  // namespace

TEST_CASE("USCL's training step equals the reference's (the authors' ResNetSimCLR, NTXentLoss and CE terms)",
          "[method][reference]") {
  check_contrastive_step("uscl", 2, "authors_uscl_step.json");
}

TEST_CASE("SimCLR's training step equals the reference's (the authors' ResNetSimCLR and NTXentLoss)",
          "[method][reference]") {
  check_contrastive_step("simclr", 0, "authors_simclr_step.json");
}

TEST_CASE("USCL's frame mixup equals the reference's on the frames and lambda it drew", "[method][reference]") {
  const auto ref = fixture("authors_mixup.json");
  const auto drawn = ref.at("frames").get<std::vector<int>>();
  const auto values = ref.at("frame_values").get<std::vector<double>>();
  const double lam = ref.at("lambda").get<double>();
  auto frame = [&](int k) {
    return torch::full({1, 3, 8, 8}, values[static_cast<std::size_t>(k)] / 255.0, torch::kFloat32);
  };
  const auto lambda = torch::full({1}, lam, torch::kFloat32);
  // The authors mix the first and third drawn frames towards the second (their anchor).
  const auto x1 = datasets::mix(frame(drawn[0]), frame(drawn[1]), lambda).to(torch::kFloat64).flatten();
  const auto x2 = datasets::mix(frame(drawn[2]), frame(drawn[1]), lambda).to(torch::kFloat64).flatten();
  CHECK((x1 - tensor(ref.at("x1"))).abs().max().item<double>() < 1e-6);
  CHECK((x2 - tensor(ref.at("x2"))).abs().max().item<double>() < 1e-6);
}

TEST_CASE("uscl-paper's fine-tuning equals the reference's eval_pretrained_model.py step for step",
          "[protocol][reference]") {
  const auto ref = fixture("authors_finetune.json");
  const int epochs = ref.at("epochs"), steps = ref.at("steps_per_epoch"), batch = ref.at("batch"),
            size = ref.at("size");
  const auto& protocol = test::builtin_registries().protocols.get("uscl-paper");
  auto net = build_downstream_net(protocol, "resnet18", 3, BackboneSource{}, 0, torch::kCPU);
  {
    torch::NoGradGuard g;
    for (auto& [name, p] : net.named_parameters()) p.copy_(fixed_value(name, p.sizes()));
  }
  // The trainable set: layer4.1 and the head, nothing else. main() also makes a Linear(3, 3) as net.fc
  // ("head2" in the fixture) with requires_grad, but ResNetUSCL.forward never calls it: it never gets a
  // gradient, and after training it still holds its initial values - so usbench has no such layer.
  std::set<std::string> trainable, theirs;
  for (const auto& [name, p] : net.named_parameters())
    if (p.requires_grad()) trainable.insert(name);
  for (const auto& name : ref.at("trainable").get<std::set<std::string>>())
    if (name.rfind("head2.", 0) == 0) {
      INFO(name);
      const auto initial =
          fixed_value(name, name == "head2.weight" ? std::vector<std::int64_t>{3, 3} : std::vector<std::int64_t>{3});
      CHECK(rel(initial.to(torch::kFloat64).norm().item<double>(), ref.at("weight_norm." + name).get<double>()) < 1e-7);
    } else {
      theirs.insert(name);
    }
  CHECK(trainable == theirs);
  // The authors' Adam (L2 weight decay 1e-4) at 0.01, cosine over the epochs, stepped per epoch.
  const auto config = resolved_downstream_config(protocol.resolve(nlohmann::json::object(), "test", "p"), protocol);
  CHECK(config.lr == 0.01);
  CHECK(config.weight_decay == 1e-4);
  torch::optim::Adam opt(net.trainable(), torch::optim::AdamOptions(config.lr).weight_decay(config.weight_decay));
  const auto labels = ref.at("labels").get<std::vector<std::vector<std::int64_t>>>();
  std::vector<double> lrs, loss;
  int bn_training = 0, bn_forwards = 0;
  for (int e = 0; e < epochs; ++e) {
    const double lr = downstream_lr(config.lr, e, epochs);
    for (auto& g : opt.param_groups()) g.options().set_lr(lr);
    net.train(true);  // as the runs: BatchNorm in training mode everywhere, frozen layers too
    for (int b = 0; b < steps; ++b) {
      for (const auto& m : net.model->modules(false))
        if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
          ++bn_forwards;
          bn_training += bn->is_training();
        }
      const auto x = (2 * pattern("ft.x" + std::to_string(b), {batch, 3, size, size})).to(torch::kFloat32);
      const auto y = torch::tensor(labels[static_cast<std::size_t>(b)]);
      opt.zero_grad();
      const auto l = torch::nn::functional::cross_entropy(net.train_logits(x), y);
      l.backward();
      lrs.push_back(lr);
      loss.push_back(l.item<double>());
      opt.step();
    }
  }
  CHECK(bn_forwards == ref.at("bn_forwards").get<int>());
  CHECK(bn_training == ref.at("bn_forwards_in_training_mode").get<int>());
  const auto want_lr = ref.at("lr").get<std::vector<double>>();
  const auto want_loss = ref.at("loss").get<std::vector<double>>();
  REQUIRE(lrs.size() == want_lr.size());
  for (std::size_t i = 0; i < lrs.size(); ++i) {
    INFO("step " << i);
    CHECK(lrs[i] == Approx(want_lr[i]).epsilon(1e-12));
    CHECK(rel(loss[i], want_loss[i]) < 1e-4);
  }
  // The weights that trained, and every BatchNorm layer's running statistics (frozen layers included:
  // in training mode they move).
  for (const auto& [name, p] : net.named_parameters())
    if (p.requires_grad()) check_tensor(ref, "weight", name, p.detach(), 1e-4);
  int buffers = 0;
  for (const auto& b : net.model->named_buffers()) {
    const auto& name = b.key();
    if (name.find("running_mean") == std::string::npos && name.find("running_var") == std::string::npos) continue;
    check_tensor(ref, "buffer", name, b.value(), 1e-4);
    ++buffers;
  }
  CHECK(buffers == 40);  // 20 BatchNorm layers x (mean, var)
}

TEST_CASE("linear-eval's logistic regression equals the reference's StandardScaler + LogisticRegression (C = 1)",
          "[protocol][reference]") {
  const auto ref = fixture("linear_eval.json");
  const int n_train = ref.at("n_train"), n_test = ref.at("n_test"), dim = ref.at("dim");
  const auto x = tensor(ref.at("x")).reshape({n_train + n_test, dim});
  const auto y = torch::tensor(ref.at("y").get<std::vector<std::int64_t>>());
  const auto& protocol = test::builtin_registries().protocols.get("linear-eval");
  const auto config = resolved_downstream_config(protocol.resolve(nlohmann::json::object(), "test", "p"), protocol);
  CHECK(config.c == 1.0);
  const auto fit = fit_logistic_regression(x.slice(0, 0, n_train), y.slice(0, 0, n_train), 3, config.c);
  CHECK((fit.mean - tensor(ref.at("scaler_mean"))).abs().max().item<double>() < 1e-12);
  CHECK((fit.scale - tensor(ref.at("scaler_scale"))).abs().max().item<double>() < 1e-12);
  // scikit-learn's lbfgs stops at its own tolerance (gtol 1e-4 on a scaled objective); the optimum is
  // unique, so the two answers agree to that tolerance, not to the last bit.
  const auto coef = tensor(ref.at("coef")).reshape({3, dim});
  CHECK(((fit.weight - coef).norm() / coef.norm()).item<double>() < 1e-3);
  CHECK((fit.bias - tensor(ref.at("intercept"))).abs().max().item<double>() < 1e-3);
  const auto logits = x.slice(0, n_train).matmul(fit.raw_weight().t()) + fit.raw_bias();
  const auto proba = torch::softmax(logits, 1).flatten();
  CHECK((proba - tensor(ref.at("test_proba"))).abs().max().item<double>() < 1e-4);
  const double accuracy = logits.argmax(1).eq(y.slice(0, n_train)).to(torch::kFloat64).mean().item<double>();
  CHECK(accuracy == Approx(ref.at("test_accuracy").get<double>()));
}

TEST_CASE("the reference fixtures were made from the authors' files in ../shared/reference/USCL", "[reference]") {
  if (!fs::exists(kAuthors / "train_USCL")) {
    WARN("SKIPPED: " << kAuthors.string()
                     << " not found: the fixtures' numbers are still checked above, but not which code made them");
    return;
  }
  int files = 0;
  for (const char* f : {"authors_uscl_step.json", "authors_simclr_step.json", "authors_mixup.json",
                        "authors_finetune.json", "linear_eval.json"}) {
    const auto sources = fixture(f).at("sources");
    for (const auto& [path, sha] : sources.items()) {
      INFO(f << ": " << path);
      CHECK(sha256_file((kAuthors / path).string()) == sha.get<std::string>());
      ++files;
    }
  }
  CHECK(files == 9);
}
