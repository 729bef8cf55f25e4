// Fine-tuning from a backbone file someone released or exported: the USCL authors' best_model.pth
// (`features.N.*` keys), a torchvision file, a usbench export — anything the weights reader takes
// (harness/model/weights.h). The user gives the row its label (e.g. "uscl-released"); `weights` is required.
// The file's SHA-256, not its path, joins the run identity (the runner adds `weights_sha256`), and the
// file is read and fitted to the backbone before anything is planned, so a bad file is refused up front.
#include "methods/method.h"
#include "methods/pretrain_config.h"

namespace usbench::methods {

namespace {
nlohmann::json resolve(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  const std::string backbone = read_backbone(o, "resnet18");
  const std::string weights = o.required<std::string>("weights");
  if (weights.empty())
    o.fail("weights", "give the backbone file to fine-tune from (e.g. \"weights\": \"best_model.pth\")");
  o.finish();
  return {{"backbone", backbone}, {"weights", weights}};
}
}  // namespace

MethodInfo checkpoint_method() {
  MethodInfo m;
  m.name = "checkpoint";
  m.version = 1;
  m.summary =
      "a released or exported backbone file (USCL best_model.pth, torchvision, usbench export), fine-tuned as given";
  m.resolve = resolve;
  m.weights = WeightsSource::GivenFile;
  return m;
}

}  // namespace usbench::methods
