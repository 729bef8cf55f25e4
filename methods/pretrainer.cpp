#include "methods/pretrainer.h"

#include <cmath>

#include "harness/errors.h"

namespace usbench::methods {

std::unique_ptr<Pretrainer> make_pretrainer(const MethodInfo& method, const nlohmann::json& config, int n_classes,
                                            torch::Device device, std::uint64_t init_seed) {
  if (!method.pretrains()) throw UsageError("method '" + method.name + "' has no pretraining stage");
  PretrainerArgs args;
  args.config = config;
  args.n_classes = n_classes;
  args.device = device;
  args.init_seed = init_seed;
  return method.make_pretrainer(args);
}

double cosine_after_constant(double base, int epoch, int epochs, int constant_epochs) {
  const int t = std::max(0, epoch - constant_epochs);
  return base * (1 + std::cos(M_PI * t / epochs)) / 2;
}

}  // namespace usbench::methods
