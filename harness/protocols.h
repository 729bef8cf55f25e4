// Downstream protocol descriptors (DESIGN §6): defaults, validation and version of each protocol.
// The training loops that execute them land with the protocol issue (#5).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "harness/registry.h"

namespace usbench {

// Typed config shared by the supervised downstream protocols.
struct DownstreamConfig {
  int epochs = 100;
  int batch_size = 32;
  double lr = 0.01;            // Adam
  double weight_decay = 1e-4;
  int input_size = 224;
  double val_fraction = 0.2;   // clips of the training folds held out for honest model selection
};

DownstreamConfig parse_downstream_config(const nlohmann::json& user, const std::string& origin,
                                         const std::string& path, const DownstreamConfig& defaults);
nlohmann::json to_json(const DownstreamConfig& c);

void register_protocols(Registry<ProtocolInfo>& registry);

}  // namespace usbench
