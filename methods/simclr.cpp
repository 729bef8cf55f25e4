// SimCLR on ultrasound clips: one random frame per clip, two augmentations as the positive pair,
// NT-Xent at temperature 0.5; head, optimiser and schedule as USCL's (README Design §5), no labels.
#include "harness/store/results_schema.h"
#include "methods/heads.h"
#include "methods/losses.h"
#include "methods/method.h"
#include "methods/pretrain_config.h"
#include "methods/pretrainer.h"

namespace usbench::methods {

namespace {
// The validated config, held by the pretrainer; its JSON is the stored form and part of the run identity.
struct SimclrConfig {
  PretrainCommon common;
  double temperature = 0.5;
  int constant_epochs = 10;
  int head_hidden = 512;
  int head_out = 256;

  static SimclrConfig parse(JsonObject& o) {
    SimclrConfig c;
    c.common = read_pretrain_common(o, PretrainCommon{});
    c.temperature = o.optional<double>("temperature", c.temperature);
    if (!(c.temperature > 0)) o.fail("temperature", "must be > 0");
    // Default: the reference's 10, or every epoch of a shorter run; a value must fit the schedule.
    c.constant_epochs = o.optional<int>("constant_epochs", std::min(c.constant_epochs, c.common.epochs));
    if (c.constant_epochs < 0 || c.constant_epochs > c.common.epochs)
      o.fail("constant_epochs", "must be between 0 and epochs (" + std::to_string(c.common.epochs) + ")");
    c.head_hidden = o.optional<int>("head_hidden", c.head_hidden);
    c.head_out = o.optional<int>("head_out", c.head_out);
    if (c.head_hidden < 1 || c.head_out < 1) o.fail(c.head_hidden < 1 ? "head_hidden" : "head_out", "must be >= 1");
    o.finish();
    return c;
  }
  nlohmann::json to_json() const {
    nlohmann::json j;
    write_pretrain_common(j, common);
    j["temperature"] = temperature;
    j["constant_epochs"] = constant_epochs;
    j["head_hidden"] = head_hidden;
    j["head_out"] = head_out;
    return j;
  }
};

nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  return SimclrConfig::parse(o).to_json();
}

std::unique_ptr<Pretrainer> make(const PretrainerArgs& args);
}  // namespace

MethodInfo simclr_method() {
  MethodInfo m;
  m.name = "simclr";
  // 2: held-out loss in eval mode (running BatchNorm statistics), as the reference validates.
  // 3: one training-mode forward per view (BatchNorm statistics per view), not one joint forward.
  m.version = 3;
  m.summary = "SimCLR: two augmentations of one frame per clip, NT-Xent (t = 0.5)";
  m.resolve = resolve;
  m.make_pretrainer = make;
  // The authors' code with its semi-supervised branch off (train_USCL/simclr.py "2-Self-supervised").
  m.reference = authors_contrastive_reference();
  m.structural_differences = {
      "a batch item is one random frame of a clip, augmented twice (the authors' SimCLR baseline is their code without "
      "mixing or labels)",
      "each view is forwarded once (the reference: twice): the same loss and gradients, fewer BatchNorm updates",
      "the held-out clips are drawn by group (patient), stratified by label; the reference holds out a random 20% of "
      "videos",
      "fp32 on the CPU (mixed precision only on CUDA); the reference trains under apex O2"};
  return m;
}

// ---- Training -----------------------------------------------------------------------------------------

namespace {

class SimclrPretrainer : public Pretrainer {
 public:
  SimclrPretrainer(const SimclrConfig& c, torch::Device device, std::uint64_t seed) : c_(c) {
    torch::manual_seed(seed);
    net_ = Encoder(ResNetSpec::by_name(c.common.backbone), c.head_hidden, c.head_out);
    net_->to(device);
    optimizer_ = std::make_unique<torch::optim::Adam>(
        trainable(*net_), torch::optim::AdamOptions(c.common.lr).weight_decay(c.common.weight_decay));
  }
  const PretrainCommon& common() const override { return c_.common; }
  torch::nn::Module& state() override { return *net_; }
  ResNet backbone() override { return net_->backbone; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  double lr_for_epoch(int e) const override {
    return cosine_after_constant(c_.common.lr, e, c_.common.epochs, c_.constant_epochs);
  }
  PairMode pair_mode() const override { return PairMode::Pair; }
  StepLosses loss(const PairBatch& b, bool) override {
    const auto device = net_->backbone->conv1->weight.device();
    // One forward per view: each view normalised with its own batch statistics in training mode, as USCL's
    // reference code (which SimCLR shares) does.
    const auto z1 = net_->forward(datasets::to_device(b.x1, device));
    const auto z2 = net_->forward(datasets::to_device(b.x2, device));
    StepLosses out;
    out.total = nt_xent(z1, z2, c_.temperature);
    out.parts[results::metric::kContrastive] = out.total.detach();
    return out;
  }

 private:
  SimclrConfig c_;
  Encoder net_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

}  // namespace

namespace {
std::unique_ptr<Pretrainer> make(const PretrainerArgs& args) {
  JsonObject o(args.config, "resolved config", "simclr");
  return std::make_unique<SimclrPretrainer>(SimclrConfig::parse(o), args.device, args.init_seed);
}
}  // namespace

}  // namespace usbench::methods
