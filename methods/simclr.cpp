// SimCLR on ultrasound clips: one random frame per clip, two augmentations as the positive pair,
// NT-Xent at temperature 0.5; head, optimiser and schedule as USCL's (DESIGN §5), no labels.
#include "methods/heads.h"
#include "methods/losses.h"
#include "methods/method.h"
#include "methods/pretrain_config.h"
#include "methods/pretrainer.h"

namespace usbench::methods {

namespace {
nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  const PretrainCommon common = read_pretrain_common(o, PretrainCommon{});
  const double temperature = o.optional<double>("temperature", 0.5);
  if (!(temperature > 0)) o.fail("temperature", "must be > 0");
  // Default: the reference's 10, or every epoch of a shorter run; a value must fit the schedule.
  const int constant_epochs = o.optional<int>("constant_epochs", std::min(10, common.epochs));
  if (constant_epochs < 0 || constant_epochs > common.epochs)
    o.fail("constant_epochs", "must be between 0 and epochs (" + std::to_string(common.epochs) + ")");
  const int head_hidden = o.optional<int>("head_hidden", 512);
  const int head_out = o.optional<int>("head_out", 256);
  if (head_hidden < 1 || head_out < 1) o.fail(head_hidden < 1 ? "head_hidden" : "head_out", "must be >= 1");
  o.finish();
  nlohmann::json j;
  write_pretrain_common(j, common);
  j["temperature"] = temperature;
  j["constant_epochs"] = constant_epochs;
  j["head_hidden"] = head_hidden;
  j["head_out"] = head_out;
  return j;
}
}  // namespace

MethodInfo simclr_method() {
  MethodInfo m;
  m.name = "simclr";
  // 2: held-out loss in eval mode (running BatchNorm statistics), as the reference validates.
  // 3: one training-mode forward per view (BatchNorm statistics per view), not one joint forward.
  m.version = 3;
  m.summary = "SimCLR: two augmentations of one frame per clip, NT-Xent (t = 0.5)";
  m.pretrains = true;
  m.resolve = resolve;
  return m;
}

// ---- Training -----------------------------------------------------------------------------------------

namespace {

class SimclrPretrainer : public Pretrainer {
 public:
  SimclrPretrainer(const nlohmann::json& c, torch::Device device, std::uint64_t seed) : c_(c) {
    torch::manual_seed(seed);
    net_ = Encoder(ResNetSpec::by_name(c.at("backbone")), c.at("head_hidden"), c.at("head_out"));
    net_->to(device);
    optimizer_ = std::make_unique<torch::optim::Adam>(
        trainable(*net_), torch::optim::AdamOptions(c.at("lr").get<double>()).weight_decay(c.at("weight_decay").get<double>()));
  }
  torch::nn::Module& state() override { return *net_; }
  ResNet backbone() override { return net_->backbone; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  double lr_for_epoch(int e) const override {
    return cosine_after_constant(c_.at("lr"), e, c_.at("epochs"), c_.at("constant_epochs"));
  }
  PairMode pair_mode() const override { return PairMode::Pair; }
  StepLosses loss(const PairBatch& b, bool) override {
    const auto device = net_->backbone->conv1->weight.device();
    // One forward per view: each view normalised with its own batch statistics in training mode, as USCL's
    // reference code (which SimCLR shares) does.
    const auto z1 = net_->forward(datasets::to_device(b.x1, device));
    const auto z2 = net_->forward(datasets::to_device(b.x2, device));
    StepLosses out;
    out.total = nt_xent(z1, z2, c_.at("temperature"));
    out.parts["contrastive"] = out.total.detach();
    return out;
  }

 private:
  nlohmann::json c_;
  Encoder net_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

}  // namespace

std::unique_ptr<Pretrainer> make_simclr_pretrainer(const nlohmann::json& c, torch::Device d, std::uint64_t seed) {
  return std::make_unique<SimclrPretrainer>(c, d, seed);
}

}  // namespace usbench::methods
