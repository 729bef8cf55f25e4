// Downstream protocol descriptors (DESIGN §6): defaults, validation and version of each protocol.
// The training loops that execute them are in harness/run/finetune.cpp.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "harness/spec/registry.h"

namespace usbench {

// Typed config shared by the supervised downstream protocols.
struct DownstreamConfig {
  int epochs = 100;
  int batch_size = 32;
  double lr = 0.01;            // Adam
  double weight_decay = 1e-4;
  int input_size = 224;
  double val_fraction = 0.2;   // clips of the training folds held out for honest model selection
  // Ablations and the regression gate's injected faults (issue 14). Written into the resolved config only
  // when they differ from these defaults, so the identities of runs recorded before they existed hold.
  bool train_augment = true;   // false: training frames get the test transform (no crop, no flip)
  double input_mean = 0.5, input_std = 0.25;  // normalisation of the network's input, every channel
  std::string label_noise_class;  // "" = none; else this fraction of that class's training frames
  double label_noise_fraction = 0;  // (chosen by the run's "label_noise" seed) get another class's label
};

DownstreamConfig parse_downstream_config(const nlohmann::json& user, const std::string& origin,
                                         const std::string& path, const DownstreamConfig& defaults);
nlohmann::json to_json(const DownstreamConfig& c);

void register_protocols(Registry<ProtocolInfo>& registry);

}  // namespace usbench
