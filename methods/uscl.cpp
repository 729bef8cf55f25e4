// USCL (Chen et al., MICCAI 2021): contrastive pretraining on ultrasound videos with positive pairs
// mixed around an anchor frame, plus a semi-supervised cross-entropy term on labelled clips.
// Recipe (reference code): head 512-512-256, NT-Xent at temperature 0.5, Beta(0.5, 0.5) mixup,
// CE weight 0.2, Adam 3e-4 / wd 1e-4, batch 32 clips, 300 epochs, cosine from epoch 10.
#include "harness/store/results_schema.h"
#include "methods/heads.h"
#include "methods/losses.h"
#include "methods/method.h"
#include "methods/pretrain_config.h"
#include "methods/pretrainer.h"

namespace usbench::methods {

namespace {
// The validated config, held by the pretrainer for the whole run; its JSON (to_json) is the stored form
// and part of the run identity.
struct UsclConfig {
  PretrainCommon common;
  double temperature = 0.5;
  double ce_weight = 0.2;    // 0 disables the semi-supervised term (the "USCL without labels" ablation)
  double mixup_alpha = 0.5;  // lambda ~ Beta(alpha, alpha)
  int constant_epochs = 10;  // epochs at the base rate before cosine annealing starts
  int head_hidden = 512;
  int head_out = 256;

  static UsclConfig parse(JsonObject& o) {
    UsclConfig c;
    c.common = read_pretrain_common(o, PretrainCommon{});
    c.temperature = o.optional<double>("temperature", c.temperature);
    if (!(c.temperature > 0)) o.fail("temperature", "must be > 0");
    c.ce_weight = o.optional<double>("ce_weight", c.ce_weight);
    if (!(c.ce_weight >= 0)) o.fail("ce_weight", "must be >= 0 (0 disables the semi-supervised term)");
    c.mixup_alpha = o.optional<double>("mixup_alpha", c.mixup_alpha);
    if (!(c.mixup_alpha > 0)) o.fail("mixup_alpha", "must be > 0");
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
    j["ce_weight"] = ce_weight;
    j["mixup_alpha"] = mixup_alpha;
    j["constant_epochs"] = constant_epochs;
    j["head_hidden"] = head_hidden;
    j["head_out"] = head_out;
    return j;
  }
};

nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  return UsclConfig::parse(o).to_json();
}

std::unique_ptr<Pretrainer> make(const PretrainerArgs& args);
}  // namespace

MethodInfo uscl_method() {
  MethodInfo m;
  m.name = "uscl";
  // 2: held-out loss in eval mode (running BatchNorm statistics), as the reference validates.
  // 3: one training-mode forward per view (BatchNorm statistics per view, as the reference), not one joint forward.
  m.version = 3;
  m.summary = "USCL: video contrastive pretraining with anchor-frame mixup and a semi-supervised CE term";
  m.resolve = resolve;
  m.make_pretrainer = make;
  m.paired_role = PairedRole::PaperMethod;
  // The authors' contrastive recipe, plus USCL's own two terms.
  m.reference = authors_contrastive_reference();
  m.reference.push_back({"ce_weight", 0.2, "train_USCL/run.py lumbda (default 0.2)"});
  m.reference.push_back(
      {"mixup_alpha", 0.5, "train_USCL/data_aug/dataset_wrapper_Ultrasound_Video_Mixup.py np.random.beta(0.5, 0.5)"});
  m.structural_differences = {
      "three frames of a clip are drawn and put in time order, the middle one the anchor; the reference draws three "
      "with random.sample and mixes towards the second drawn (any of the three)",
      "each view is forwarded once and serves both loss terms, where the reference forwards it twice: the same loss "
      "and "
      "gradients (tests/test_authors_reference.cpp), 2 instead of 4 BatchNorm running-statistics updates per step",
      "the held-out clips are drawn by group (patient), stratified by label; the reference holds out a random 20% of "
      "videos",
      "fp32 on the CPU (mixed precision only on CUDA); the reference trains under apex O2",
      "augmentation parameters come from usbench's seeded streams, not Python's and NumPy's global generators"};
  return m;
}

// ---- Training -----------------------------------------------------------------------------------------

namespace {

class UsclNetImpl : public torch::nn::Module {
 public:
  UsclNetImpl(const UsclConfig& c, int n_classes) {
    encoder = register_module("encoder", Encoder(ResNetSpec::by_name(c.common.backbone), c.head_hidden, c.head_out));
    if (n_classes > 0) classifier = register_module("classifier", torch::nn::Linear(c.head_out, n_classes));
  }
  Encoder encoder{nullptr};
  torch::nn::Linear classifier{nullptr};
};
TORCH_MODULE(UsclNet);

class UsclPretrainer : public Pretrainer {
 public:
  UsclPretrainer(const UsclConfig& c, int n_classes, torch::Device device, std::uint64_t seed) : c_(c) {
    torch::manual_seed(seed);
    net_ = UsclNet(c, n_classes);
    net_->to(device);
    optimizer_ = std::make_unique<torch::optim::Adam>(
        trainable(*net_), torch::optim::AdamOptions(c.common.lr).weight_decay(c.common.weight_decay));
  }
  const PretrainCommon& common() const override { return c_.common; }
  double mixup_alpha() const override { return c_.mixup_alpha; }
  torch::nn::Module& state() override { return *net_; }
  ResNet backbone() override { return net_->encoder->backbone; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  double lr_for_epoch(int e) const override {
    return cosine_after_constant(c_.common.lr, e, c_.common.epochs, c_.constant_epochs);
  }
  PairMode pair_mode() const override { return PairMode::Mix; }
  StepLosses loss(const PairBatch& b, bool train) override {
    const auto device = net_->encoder->backbone->conv1->weight.device();
    // One forward per view, as the reference: in training mode every BatchNorm layer normalises each view
    // with that view's own batch statistics (a joint forward of both views would share them and change
    // the gradients; tests/test_reference_step.cpp). Each forward serves both loss terms, where the
    // reference forwards every view twice: the same loss and gradients, 2 instead of 4 updates of the
    // running statistics per step.
    const auto z1 = net_->encoder->forward(datasets::to_device(b.x1, device));
    const auto z2 = net_->encoder->forward(datasets::to_device(b.x2, device));
    StepLosses out;
    const auto nt = nt_xent(z1, z2, c_.temperature);
    out.total = nt;
    out.parts[results::metric::kContrastive] = nt.detach();
    torch::Tensor ce_value = torch::zeros({}, nt.options()).detach();
    if (net_->classifier) {
      // Which items are labelled is decided on the host copy of the labels: a nonzero() on the device would
      // make the host wait for the GPU at every step.
      const auto labelled_host = (b.labels.cpu() >= 0).nonzero().flatten();
      if (labelled_host.numel() > 0) {
        const auto labelled = datasets::to_device(labelled_host, device);
        const auto y = datasets::to_device(b.labels.cpu().index_select(0, labelled_host), device);
        const auto ce = torch::nn::functional::cross_entropy(net_->classifier(z1.index_select(0, labelled)), y) +
                        torch::nn::functional::cross_entropy(net_->classifier(z2.index_select(0, labelled)), y);
        out.total = out.total + c_.ce_weight * ce;
        ce_value = ce.detach();
      }
    }
    out.parts[results::metric::kCe] = ce_value;
    (void)train;
    return out;
  }

 private:
  UsclConfig c_;
  UsclNet net_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

}  // namespace

namespace {
std::unique_ptr<Pretrainer> make(const PretrainerArgs& args) {
  JsonObject o(args.config, "resolved config", "uscl");
  const UsclConfig c = UsclConfig::parse(o);
  // Without its labelled term USCL needs no classifier (and draws no weights for one).
  return std::make_unique<UsclPretrainer>(c, c.ce_weight > 0 ? args.n_classes : 0, args.device, args.init_seed);
}
}  // namespace

}  // namespace usbench::methods
