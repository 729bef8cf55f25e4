// ImageNet initialisation: torchvision ImageNet weights from a user-supplied file. With no file the
// method is reported as "not run: weights not supplied" — never silently replaced by random weights.
// The weights path is resolved at run time (spec, --weights, or USBENCH_IMAGENET_WEIGHTS); the file's
// SHA-256, not its path, joins the run identity when it is read.
#include "methods/method.h"
#include "methods/pretrain_config.h"

namespace usbench::methods {

namespace {
nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  const std::string backbone = read_backbone(o, "resnet18");
  const std::string weights = o.optional<std::string>("weights", "");
  o.finish();
  return {{"backbone", backbone}, {"weights", weights}};
}
}  // namespace

MethodInfo imagenet_method() {
  MethodInfo m;
  m.name = "imagenet";
  m.version = 1;
  m.summary = "ImageNet-init: torchvision ImageNet weights from a user-supplied file";
  m.resolve = resolve;
  m.weights = WeightsSource::ImagenetFile;
  m.structural_differences = {
      "the paper's ImageNet row fine-tunes torchvision's ImageNet weights under its evaluation; "
      "usbench uses the file it is given (its SHA-256 is listed with the table)"};
  return m;
}

}  // namespace usbench::methods
