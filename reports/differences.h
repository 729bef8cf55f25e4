// The differences between an experiment and the recipes it reproduces, generated from its resolved spec
// and the registry (README "Differences from the reference"): every setting whose resolved value differs
// from the reference's value that the method's or protocol's entry carries (with where in the authors'
// code that value comes from), and the structural differences each entry lists, which no config shows.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/spec/registry.h"

namespace usbench::reports {

struct SettingDifference {
  std::string component;  // the spec's label of the method or protocol
  std::string kind;       // "method" or "protocol"
  std::string key;
  nlohmann::json ours;       // the resolved value; null where the config has no such key
  nlohmann::json reference;  // the reference's value
  std::string source;        // where in the authors' code (or the method's paper) it comes from
};

struct StructuralDifference {
  std::string component;  // the method's label
  std::string text;
};

struct Differences {
  std::vector<SettingDifference> settings;
  std::vector<StructuralDifference> structural;
  int settings_checked = 0;  // reference settings compared, equal or not
};

// `spec` is a resolved experiment spec (as stored); components the registries do not know are skipped.
// Numbers are equal when they agree to a relative 1e-9 (0.0001 and 1e-4 are one value).
Differences declared_differences(const nlohmann::json& spec, const Registries& registries);

// The Markdown section every table ends with.
std::string differences_markdown(const Differences& d);
nlohmann::json to_json(const Differences& d);

}  // namespace usbench::reports
