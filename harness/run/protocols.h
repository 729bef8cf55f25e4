// Downstream protocols (README Design §6): the config they share (defaults, validation) and their registration.
// Each protocol is one file (protocol_*.cpp) and one registry entry that carries what it trains; the
// training loops that execute them (harness/run/finetune.cpp) ask the entry, never the name.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "harness/spec/registry.h"

namespace usbench {

// Typed config shared by the supervised downstream protocols.
struct DownstreamConfig {
  int epochs = 100;
  int batch_size = 32;
  double lr = 0.01;  // Adam
  double weight_decay = 1e-4;
  int input_size = 224;
  double val_fraction = 0.2;  // clips of the training folds held out for honest model selection
  // Ablations and the regression gate's injected faults (issue 14). Written into the resolved config only
  // when they differ from these defaults, so the identities of runs recorded before they existed hold.
  bool train_augment = true;                  // false: training frames get the test transform (no crop, no flip)
  double input_mean = 0.5, input_std = 0.25;  // normalisation of the network's input, every channel
  std::string label_noise_class;              // "" = none; else this fraction of that class's training frames
  double label_noise_fraction = 0;            // (chosen by the run's "label_noise" seed) get another class's label
  double c = 1.0;  // HeadFit::LogisticRegression: the inverse L2 strength ("C", scikit-learn's and linear_eval.py's 1)
};

// What a protocol's config may hold: a validation part's share only where it carves one; epochs, rate and
// batches only where the head is fitted by epochs; C only where it is fitted by logistic regression.
struct DownstreamShape {
  bool validation_part = true;
  HeadFit fit = HeadFit::Epochs;
};

DownstreamConfig parse_downstream_config(const nlohmann::json& user, const std::string& origin, const std::string& path,
                                         const DownstreamConfig& defaults, const DownstreamShape& shape = {});
nlohmann::json to_json(const DownstreamConfig& c, const DownstreamShape& shape = {});

// The typed config of a run of `protocol`, from its resolved (stored) config.
DownstreamConfig resolved_downstream_config(const nlohmann::json& resolved, const ProtocolInfo& protocol);

// A supervised downstream protocol's entry with its stage, summary, config defaults and shape; the
// protocol's own file (protocol_*.cpp) gives it its name and what it trains and reports.
ProtocolInfo downstream_protocol(Stage stage, std::string summary, DownstreamConfig defaults,
                                 DownstreamShape shape = {});

// Adds every built-in protocol; called once from main (no static registration).
void register_protocols(Registry<ProtocolInfo>& registry);

}  // namespace usbench
