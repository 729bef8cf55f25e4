#include "methods/pretrainer.h"

#include <cmath>

#include "harness/errors.h"

namespace usbench::methods {

// Defined in the method files (one file per method).
std::unique_ptr<Pretrainer> make_uscl_pretrainer(const nlohmann::json& c, int n_classes, torch::Device d, std::uint64_t seed);
std::unique_ptr<Pretrainer> make_simclr_pretrainer(const nlohmann::json& c, torch::Device d, std::uint64_t seed);
std::unique_ptr<Pretrainer> make_moco_pretrainer(const nlohmann::json& c, torch::Device d, std::uint64_t seed);

std::unique_ptr<Pretrainer> make_pretrainer(const std::string& method, const nlohmann::json& config, int n_classes,
                                            torch::Device device, std::uint64_t init_seed) {
  if (method == "uscl") return make_uscl_pretrainer(config, config.at("ce_weight").get<double>() > 0 ? n_classes : 0, device, init_seed);
  if (method == "simclr") return make_simclr_pretrainer(config, device, init_seed);
  if (method == "moco") return make_moco_pretrainer(config, device, init_seed);
  throw UsageError("method '" + method + "' has no pretraining stage");
}

double cosine_after_constant(double base, int epoch, int epochs, int constant_epochs) {
  const int t = std::max(0, epoch - constant_epochs);
  return base * (1 + std::cos(M_PI * t / epochs)) / 2;
}

}  // namespace usbench::methods
