// MoCo v2: query/key encoders, momentum 0.999, queue of negatives, MLP head 512-512-128, temperature
// 0.2, SGD (momentum 0.9, wd 1e-4) at lr = base_lr x batch / 256, cosine schedule. The queue defaults to
// 4096 (the original 65536 exceeds these data sets); no shuffle-BN on a single device.
#include "methods/method.h"
#include "methods/pretrain_config.h"

namespace usbench::methods {

namespace {
nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  PretrainCommon defaults;
  defaults.lr = 0.03;  // base rate; the effective rate is lr x batch_size / 256 (linear scaling)
  const PretrainCommon common = read_pretrain_common(o, defaults);
  const double momentum = o.optional<double>("momentum", 0.999);
  if (!(momentum >= 0 && momentum < 1)) o.fail("momentum", "must be in [0, 1)");
  const int queue_size = o.optional<int>("queue_size", 4096);
  if (queue_size < common.batch_size || queue_size % common.batch_size != 0)
    o.fail("queue_size", "must be a positive multiple of batch_size (" + std::to_string(common.batch_size) + ")");
  const double temperature = o.optional<double>("temperature", 0.2);
  if (!(temperature > 0)) o.fail("temperature", "must be > 0");
  const double sgd_momentum = o.optional<double>("sgd_momentum", 0.9);
  if (!(sgd_momentum >= 0 && sgd_momentum < 1)) o.fail("sgd_momentum", "must be in [0, 1)");
  const int head_hidden = o.optional<int>("head_hidden", 512);
  const int head_out = o.optional<int>("head_out", 128);
  if (head_hidden < 1 || head_out < 1) o.fail(head_hidden < 1 ? "head_hidden" : "head_out", "must be >= 1");
  o.finish();
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
}  // namespace

MethodInfo moco_method() {
  MethodInfo m;
  m.name = "moco";
  m.version = 1;
  m.summary = "MoCo v2: momentum encoder (0.999), queue 4096, t = 0.2, SGD lr 0.03 x batch/256, cosine";
  m.pretrains = true;
  m.resolve = resolve;
  return m;
}

}  // namespace usbench::methods
