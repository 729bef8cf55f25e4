// Random initialisation: torchvision's default init (kaiming-normal fan_out convolutions, BN 1/0),
// no pretraining. Seeded from the run's "init" stream.
#include "methods/method.h"
#include "methods/pretrain_config.h"

namespace usbench::methods {

namespace {
nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  const std::string backbone = read_backbone(o, "resnet18");
  o.finish();
  return {{"backbone", backbone}};
}
}  // namespace

MethodInfo random_method() {
  MethodInfo m;
  m.name = "random";
  m.version = 1;
  m.summary = "random-init: torchvision default initialisation, no pretraining";
  m.resolve = resolve;
  m.paired_role = PairedRole::Baseline;  // the baseline every pretraining is tested against
  m.structural_differences = {
      "torchvision's initialisation drawn from usbench's seeded init stream (LibTorch's generator), "
      "not PyTorch's global one: the same distribution, other draws"};
  return m;
}

}  // namespace usbench::methods
