// Expansion of an experiment into its grid of runs and their identities (README Design §7).
//
// A pretraining method pretrains once per root seed and that run is shared by all its folds and
// protocols; each (method, protocol, fold, seed) is one downstream run. A run id is the SHA-256 of the
// canonical JSON of its identity: experiment, stage, method (name, version, resolved config), protocol
// (name, version, resolved config), data (resolved config and manifest hash), fold and fold-assignment
// hash, root seed, and the id of the pretraining run it starts from. Device, threads, git commit and
// library versions are recorded with the run but are not part of the id.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/spec/spec.h"
#include "harness/store/store.h"

namespace usbench {

// Content hashes of the data a run consumes. Empty strings mean "not ingested yet": runs then get no id.
struct DataIdentity {
  std::string manifest_hash;           // downstream data set manifest
  std::string fold_hash;               // fold assignment of the downstream data set
  std::string pretrain_manifest_hash;  // pretraining clip set manifest
};

struct PlannedRun {
  RunRecord record;  // id empty when the data identity is incomplete
  std::map<std::string, std::int64_t> seeds;
  nlohmann::json identity;
  std::string pretrain_run_id;  // id of the pretraining run this one starts from ("" if none)
};

std::vector<PlannedRun> plan_runs(const ExperimentSpec& spec, const Registries& registries, const DataIdentity& data);

}  // namespace usbench
