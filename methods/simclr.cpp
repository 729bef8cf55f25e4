// SimCLR on ultrasound clips: one random frame per clip, two augmentations as the positive pair,
// NT-Xent at temperature 0.5; head, optimiser and schedule as USCL's (DESIGN §5), no labels.
#include "methods/method.h"
#include "methods/pretrain_config.h"

namespace usbench::methods {

namespace {
nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  const PretrainCommon common = read_pretrain_common(o, PretrainCommon{});
  const double temperature = o.optional<double>("temperature", 0.5);
  if (!(temperature > 0)) o.fail("temperature", "must be > 0");
  const int constant_epochs = o.optional<int>("constant_epochs", 10);
  if (constant_epochs < 0) o.fail("constant_epochs", "must be >= 0");
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
  m.version = 1;
  m.summary = "SimCLR: two augmentations of one frame per clip, NT-Xent (t = 0.5)";
  m.pretrains = true;
  m.resolve = resolve;
  return m;
}

}  // namespace usbench::methods
