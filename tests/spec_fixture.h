// A small valid experiment spec shared by the spec, plan and CLI tests.
#pragma once
#include <nlohmann/json.hpp>

#include "harness/cli/builtins.h"
#include "harness/spec/registry.h"

namespace usbench::test {

inline nlohmann::json minimal_spec() {
  return nlohmann::json::parse(R"({
    "schema_version": 1,
    "name": "tiny",
    "version": 1,
    "dataset": {"name": "synthetic", "config": {"clips_per_class": 4}},
    "pretrain_data": {"name": "synthetic", "config": {"seed": 1}},
    "folds": {"k": 3, "seed": 0},
    "seeds": [0, 1],
    "protocols": [{"name": "uscl-paper", "config": {"epochs": 2, "input_size": 64}}],
    "methods": [{"name": "uscl", "config": {"epochs": 1}}, "random"]
  })");
}

inline const Registries& builtin_registries() {
  static const Registries registries = [] {
    Registries r;
    cli::register_builtins(r);
    return r;
  }();
  return registries;
}

}  // namespace usbench::test
