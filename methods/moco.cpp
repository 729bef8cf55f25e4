// MoCo v2: query/key encoders, momentum 0.999, queue of negatives, MLP head 512-512-128, temperature
// 0.2, SGD (momentum 0.9, wd 1e-4) at lr = base_lr x batch / 256, cosine schedule. The queue defaults to
// 4096 (the original 65536 exceeds these data sets); no shuffle-BN on a single device.
#include <optional>

#include "harness/store/results_schema.h"
#include "methods/heads.h"
#include "methods/losses.h"
#include "methods/method.h"
#include "methods/pretrain_config.h"
#include "methods/pretrainer.h"

namespace usbench::methods {

namespace {
// The validated config, held by the pretrainer; its JSON is the stored form and part of the run identity.
struct MocoConfig {
  PretrainCommon common;  // lr is the base rate: the effective rate is lr x batch_size / 256 (linear scaling)
  double momentum = 0.999;
  int queue_size = 4096;
  double temperature = 0.2;
  double sgd_momentum = 0.9;
  int head_hidden = 512;
  int head_out = 128;

  static MocoConfig parse(JsonObject& o) {
    MocoConfig c;
    PretrainCommon defaults;
    defaults.lr = 0.03;
    // MoCo v2's augmentation ("aug-plus"): crop 0.2-1 at ratio 3/4-4/3, colour jitter (0.4, 0.4, 0.4, 0.1)
    // with probability 0.8, grey with 0.2, Gaussian blur (sigma 0.1-2) with 0.5, flip. A spec may declare
    // an ultrasound-specific change (any of these keys); the report lists it against this recipe.
    defaults.crop_scale = {0.2, 1.0};
    defaults.crop_ratio = {3.0 / 4.0, 4.0 / 3.0};
    defaults.color_jitter = {0.4, 0.4, 0.4, 0.1};
    defaults.jitter_p = 0.8;
    defaults.grayscale_p = 0.2;
    defaults.blur_p = 0.5;
    c.common = read_pretrain_common(o, defaults);
    c.momentum = o.optional<double>("momentum", c.momentum);
    if (!(c.momentum >= 0 && c.momentum < 1)) o.fail("momentum", "must be in [0, 1)");
    c.queue_size = o.optional<int>("queue_size", c.queue_size);
    if (c.queue_size < c.common.batch_size || c.queue_size % c.common.batch_size != 0)
      o.fail("queue_size", "must be a positive multiple of batch_size (" + std::to_string(c.common.batch_size) + ")");
    c.temperature = o.optional<double>("temperature", c.temperature);
    if (!(c.temperature > 0)) o.fail("temperature", "must be > 0");
    c.sgd_momentum = o.optional<double>("sgd_momentum", c.sgd_momentum);
    if (!(c.sgd_momentum >= 0 && c.sgd_momentum < 1)) o.fail("sgd_momentum", "must be in [0, 1)");
    c.head_hidden = o.optional<int>("head_hidden", c.head_hidden);
    c.head_out = o.optional<int>("head_out", c.head_out);
    if (c.head_hidden < 1 || c.head_out < 1) o.fail(c.head_hidden < 1 ? "head_hidden" : "head_out", "must be >= 1");
    o.finish();
    return c;
  }
  nlohmann::json to_json() const {
    nlohmann::json j;
    write_pretrain_common(j, common);
    j["momentum"] = momentum;
    j["queue_size"] = queue_size;
    j["temperature"] = temperature;
    j["sgd_momentum"] = sgd_momentum;
    j["head_hidden"] = head_hidden;
    j["head_out"] = head_out;
    return j;
  }
};

nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  return MocoConfig::parse(o).to_json();
}

std::unique_ptr<Pretrainer> make(const PretrainerArgs& args);
}  // namespace

MethodInfo moco_method() {
  MethodInfo m;
  m.name = "moco";
  // 2: held-out loss in eval mode against in-batch keys (was: against the moving queue).
  // 3: MoCo v2 proper: the query's own clip never among its negatives (queue entries masked by clip), and
  //    MoCo v2's augmentations by default (was: USCL's crop 0.8-1 and jitter).
  m.version = 3;
  m.summary =
      "MoCo v2: momentum encoder (0.999), queue 4096 without the query's own clip, t = 0.2, SGD lr 0.03 x batch/256, "
      "cosine, MoCo v2 augmentations";
  m.resolve = resolve;
  m.make_pretrainer = make;
  const std::string src =
      "MoCo v2 (Chen et al. 2020, arXiv:2003.04297; facebookresearch/moco main_moco.py --mlp --aug-plus --cos)";
  m.reference = {{"lr", 0.03, src + " lr 0.03 at batch 256"},
                 {"batch_size", 256, src},
                 {"epochs", 200, src},
                 {"weight_decay", 1e-4, src},
                 {"sgd_momentum", 0.9, src},
                 {"momentum", 0.999, src + " moco-m"},
                 {"queue_size", 65536, src + " moco-k"},
                 {"temperature", 0.2, src + " moco-t"},
                 {"head_out", 128, src + " moco-dim"},
                 {"input_size", 224, src},
                 {"crop_scale", {0.2, 1.0}, src + " RandomResizedCrop(scale=(0.2, 1.0))"},
                 {"color_jitter", {0.4, 0.4, 0.4, 0.1}, src + " ColorJitter(0.4, 0.4, 0.4, 0.1)"},
                 {"jitter_p", 0.8, src + " RandomApply(ColorJitter, p=0.8)"},
                 {"grayscale_p", 0.2, src + " RandomGrayscale(p=0.2)"},
                 {"blur_p", 0.5, src + " RandomApply(GaussianBlur([0.1, 2.0]), p=0.5)"}};
  m.structural_differences = {
      "one device: no shuffling BatchNorm across GPUs (MoCo's guard against BatchNorm leaking which key is positive)",
      "the queue holds clip ids beside the keys, and a query's own clip is masked out of its negatives (MoCo assumes "
      "every other image is a negative; a video data set breaks that)",
      "a batch item is one random frame of a clip, augmented twice; the two MLP layers are 512-512-128 (ResNet-18), "
      "not 2048-2048-128",
      "the Gaussian blur is applied to tensors with a kernel of about 10% of the image size (torchvision's), where "
      "MoCo v2 blurs PIL images by radius sigma"};
  return m;
}

// ---- Training -----------------------------------------------------------------------------------------

namespace {

class MocoNetImpl : public torch::nn::Module {
 public:
  explicit MocoNetImpl(const MocoConfig& c) {
    const auto spec = ResNetSpec::by_name(c.common.backbone);
    query = register_module("query", Encoder(spec, c.head_hidden, c.head_out));
    key = register_module("key", Encoder(spec, c.head_hidden, c.head_out));
    torch::NoGradGuard g;
    auto qp = query->named_parameters(), kp = key->named_parameters();
    for (auto& p : kp) {
      p.value().copy_(qp[p.key()]);
      p.value().set_requires_grad(false);  // the key encoder follows by momentum only
    }
    auto qb = query->named_buffers();
    for (auto& b : key->named_buffers()) b.value().copy_(qb[b.key()]);
    queue = register_buffer("queue",
                            torch::nn::functional::normalize(torch::randn({c.queue_size, c.head_out}),
                                                             torch::nn::functional::NormalizeFuncOptions().dim(1)));
    queue_ptr = register_buffer("queue_ptr", torch::zeros({1}, torch::kLong));
    // The clip each queued key came from (-1: an initial random key, of no clip).
    queue_clip = register_buffer("queue_clip", torch::full({c.queue_size}, -1, torch::kLong));
  }
  Encoder query{nullptr}, key{nullptr};
  torch::Tensor queue, queue_ptr, queue_clip;
};
TORCH_MODULE(MocoNet);

class MocoPretrainer : public Pretrainer {
 public:
  MocoPretrainer(const MocoConfig& c, torch::Device device, std::uint64_t seed) : c_(c) {
    torch::manual_seed(seed);
    net_ = MocoNet(c);
    net_->to(device);
    optimizer_ = std::make_unique<torch::optim::SGD>(
        trainable(*net_),
        torch::optim::SGDOptions(base_lr()).momentum(c.sgd_momentum).weight_decay(c.common.weight_decay));
  }
  const PretrainCommon& common() const override { return c_.common; }
  // Linear scaling rule: lr = base x batch / 256.
  double base_lr() const { return c_.common.lr * c_.common.batch_size / 256.0; }
  torch::nn::Module& state() override { return *net_; }
  ResNet backbone() override { return net_->query->backbone; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  // MoCo v2: cosine over all epochs, set at the start of each epoch.
  double lr_for_epoch(int e) const override { return cosine_after_constant(base_lr(), e, c_.common.epochs, 0); }
  PairMode pair_mode() const override { return PairMode::Pair; }
  StepLosses loss(const PairBatch& b, bool train) override {
    const auto device = net_->queue.device();
    const auto q = net_->query->forward(datasets::to_device(b.x1, device));
    StepLosses out;
    if (!train) {
      // Held-out: the queue changes from step to step, so a loss against it is not comparable across
      // epochs. Score the held-out pairs against each other instead: InfoNCE of q(x1) against the key
      // encoder's k(x2), with the other held-out keys as negatives.
      namespace F = torch::nn::functional;
      const auto q1 = F::normalize(q, F::NormalizeFuncOptions().dim(1));
      const auto k2 =
          F::normalize(net_->key->forward(datasets::to_device(b.x2, device)), F::NormalizeFuncOptions().dim(1));
      const auto logits = torch::matmul(q1, k2.t()) / c_.temperature;
      out.total =
          F::cross_entropy(logits, torch::arange(q.size(0), torch::TensorOptions().dtype(torch::kLong).device(device)));
      out.parts[results::metric::kContrastive] = out.total.detach();
      return out;
    }
    torch::Tensor k;
    {
      torch::NoGradGuard g;
      k = torch::nn::functional::normalize(net_->key->forward(datasets::to_device(b.x2, device)),
                                           torch::nn::functional::NormalizeFuncOptions().dim(1));
    }
    last_keys_ = k;
    // The query's own clip is never its negative: its frames are the same scene (MoCo v2 proper on videos).
    last_clips_ = torch::tensor(std::vector<std::int64_t>(b.clips.begin(), b.clips.end()), torch::kLong).to(device);
    const auto own_clip = last_clips_.unsqueeze(1).eq(net_->queue_clip.unsqueeze(0));
    out.total = moco_loss(q, k, net_->queue, c_.temperature, own_clip);
    out.parts[results::metric::kContrastive] = out.total.detach();
    return out;
  }
  void after_step(const PairBatch&) override {
    torch::NoGradGuard g;
    const double m = c_.momentum;
    auto qp = net_->query->named_parameters();
    for (auto& p : net_->key->named_parameters()) p.value().mul_(m).add_(qp[p.key()].detach(), 1 - m);
    // Enqueue the newest keys, overwriting the oldest (the queue is a ring of queue_size rows).
    const auto K = net_->queue.size(0), n = last_keys_.size(0);
    // The write position is mirrored on the host (read from the buffer once, after a checkpoint may have
    // been loaded into it) so that a CUDA step does not wait for the device to learn it.
    if (!queue_ptr_) queue_ptr_ = net_->queue_ptr.item<std::int64_t>();
    const auto ptr = *queue_ptr_;
    const auto idx =
        torch::arange(ptr, ptr + n, torch::TensorOptions().dtype(torch::kLong).device(net_->queue.device()))
            .remainder(K);
    net_->queue.index_copy_(0, idx, last_keys_);
    net_->queue_clip.index_copy_(0, idx, last_clips_);
    queue_ptr_ = (ptr + n) % K;
    net_->queue_ptr.fill_(*queue_ptr_);
  }

 private:
  MocoConfig c_;
  MocoNet net_{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer_;
  torch::Tensor last_keys_, last_clips_;
  std::optional<std::int64_t> queue_ptr_;  // host mirror of net_->queue_ptr
};

}  // namespace

namespace {
std::unique_ptr<Pretrainer> make(const PretrainerArgs& args) {
  JsonObject o(args.config, "resolved config", "moco");
  return std::make_unique<MocoPretrainer>(MocoConfig::parse(o), args.device, args.init_seed);
}
}  // namespace

}  // namespace usbench::methods
