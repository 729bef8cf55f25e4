// Settings shared by the contrastive pretraining methods (README Design §5): backbone, input size, optimiser
// schedule, augmentation ranges, held-out fraction. Each method reads these plus its own keys from the
// same JsonObject, so unknown-key detection covers both.
#pragma once
#include <array>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/spec/json_reader.h"
#include "harness/spec/registry.h"

namespace usbench::methods {

// The authors' contrastive pretraining (train_USCL/: config.yaml, simclr.py, the data wrapper, ResNetSimCLR)
// setting by setting, with where each value comes from: SimCLR's reference, and USCL's before its own terms.
std::vector<ReferenceSetting> authors_contrastive_reference();

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
  // MoCo v2's augmentations. Written into the resolved config only where they differ from these defaults
  // (no effect), so the identities of runs recorded before they existed hold.
  double jitter_p = 1;        // probability of the colour jitter
  double grayscale_p = 0;     // probability of a grey image
  double blur_p = 0;          // probability of a Gaussian blur (sigma 0.1-2.0)
  double val_fraction = 0.2;  // clips held out to select the checkpoint by contrastive loss
};

PretrainCommon read_pretrain_common(JsonObject& o, const PretrainCommon& defaults);
void write_pretrain_common(nlohmann::json& j, const PretrainCommon& c);

// "resnet18" or "resnet50"; the key path is named on error.
std::string read_backbone(JsonObject& o, const std::string& fallback);

}  // namespace usbench::methods
