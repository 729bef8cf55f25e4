// USCL (Chen et al., MICCAI 2021): contrastive pretraining on ultrasound videos with positive pairs
// mixed around an anchor frame, plus a semi-supervised cross-entropy term on labelled clips.
// Recipe (reference code): head 512-512-256, NT-Xent at temperature 0.5, Beta(0.5, 0.5) mixup,
// CE weight 0.2, Adam 3e-4 / wd 1e-4, batch 32 clips, 300 epochs, cosine from epoch 10.
#include "methods/method.h"
#include "methods/pretrain_config.h"

namespace usbench::methods {

namespace {
struct UsclConfig {
  PretrainCommon common;
  double temperature = 0.5;
  double ce_weight = 0.2;
  double mixup_alpha = 0.5;   // lambda ~ Beta(alpha, alpha)
  int constant_epochs = 10;   // epochs at the base rate before cosine annealing starts
  int head_hidden = 512;
  int head_out = 256;
};

nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  UsclConfig c;
  c.common = read_pretrain_common(o, PretrainCommon{});
  c.temperature = o.optional<double>("temperature", c.temperature);
  if (!(c.temperature > 0)) o.fail("temperature", "must be > 0");
  c.ce_weight = o.optional<double>("ce_weight", c.ce_weight);
  if (!(c.ce_weight >= 0)) o.fail("ce_weight", "must be >= 0 (0 disables the semi-supervised term)");
  c.mixup_alpha = o.optional<double>("mixup_alpha", c.mixup_alpha);
  if (!(c.mixup_alpha > 0)) o.fail("mixup_alpha", "must be > 0");
  c.constant_epochs = o.optional<int>("constant_epochs", c.constant_epochs);
  if (c.constant_epochs < 0) o.fail("constant_epochs", "must be >= 0");
  c.head_hidden = o.optional<int>("head_hidden", c.head_hidden);
  c.head_out = o.optional<int>("head_out", c.head_out);
  if (c.head_hidden < 1 || c.head_out < 1) o.fail(c.head_hidden < 1 ? "head_hidden" : "head_out", "must be >= 1");
  o.finish();
  nlohmann::json j;
  write_pretrain_common(j, c.common);
  j["temperature"] = c.temperature;
  j["ce_weight"] = c.ce_weight;
  j["mixup_alpha"] = c.mixup_alpha;
  j["constant_epochs"] = c.constant_epochs;
  j["head_hidden"] = c.head_hidden;
  j["head_out"] = c.head_out;
  return j;
}
}  // namespace

MethodInfo uscl_method() {
  MethodInfo m;
  m.name = "uscl";
  m.version = 1;
  m.summary = "USCL: video contrastive pretraining with anchor-frame mixup and a semi-supervised CE term";
  m.pretrains = true;
  m.resolve = resolve;
  return m;
}

}  // namespace usbench::methods
