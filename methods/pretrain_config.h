// Settings shared by the contrastive pretraining methods (DESIGN §5): backbone, input size, optimiser
// schedule, augmentation ranges, held-out fraction. Each method reads these plus its own keys from the
// same JsonObject, so unknown-key detection covers both.
#pragma once
#include <array>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/spec/json_reader.h"

namespace usbench::methods {

struct PretrainCommon {
  std::string backbone = "resnet18";
  int input_size = 224;
  int epochs = 300;
  int batch_size = 32;
  double lr = 3e-4;
  double weight_decay = 1e-4;
  std::array<double, 2> crop_scale{0.8, 1.0};
  std::array<double, 2> crop_ratio{0.8, 1.25};
  std::array<double, 4> color_jitter{0.8, 0.8, 0.8, 0.2};  // brightness, contrast, saturation, hue
  double val_fraction = 0.2;  // clips held out to select the checkpoint by contrastive loss
};

PretrainCommon read_pretrain_common(JsonObject& o, const PretrainCommon& defaults);
void write_pretrain_common(nlohmann::json& j, const PretrainCommon& c);

// "resnet18" or "resnet50"; the key path is named on error.
std::string read_backbone(JsonObject& o, const std::string& fallback);

}  // namespace usbench::methods
