// Experiment specs: JSON files in experiments/ parsed into typed, validated structs (README Design §7, §10).
//
// Contract: parse_spec either returns a fully resolved spec (every default filled by the component that
// owns it) or throws SpecError naming the key path; unknown keys are rejected with a suggestion. The
// resolved spec serialises canonically (to_json + canonical_json), and that is what the store keeps.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/spec/registry.h"

namespace usbench {

inline constexpr int kSpecSchemaVersion = 1;

// A method, data set or protocol chosen by name, with its resolved config. `label` names it in tables
// and run lists (defaults to `name`; must be unique within its list, so one method can appear twice
// with different configs).
struct ComponentRef {
  std::string name;
  std::string label;
  int version = 1;
  nlohmann::json config = nlohmann::json::object();
};

struct FoldsSpec {
  int k = 5;
  std::int64_t seed = 0;  // fold assignment seed; the same for every repetition so methods share folds
  std::string from_json;  // optional upstream split file (e.g. pocovid_cross_val.json); overrides k/seed
};

// A claim the experiment tests, stated in the spec before its runs (README Design §6): "method `a` is more
// accurate than method `b` under `protocol` at `selection`" (one-sided), tested on the same test frames of the
// same (seed, fold) by `test` at level `alpha`. Resolved: `selection` defaults to the protocol's headline,
// `id` to "C<n>" (1-based position). The report prints each with its statistic and verdict (reports/claims.h);
// `run` refuses a spec whose claims differ from those stored with the experiment's existing runs.
struct Claim {
  std::string id;
  std::string a, b;       // method labels of the spec
  std::string protocol;   // a protocol label of the spec
  std::string selection;  // "best_test" | "last" | "best_val", one the protocol reports
  std::string test = "paired";
  double alpha = 0.05;
};
inline const char* const kClaimTests[] = {"paired"};

struct ExperimentSpec {
  int schema_version = kSpecSchemaVersion;
  std::string name;
  int version = 1;  // the spec's own version: bump when a change can move results
  std::string description;
  ComponentRef dataset;                       // downstream data set
  std::optional<ComponentRef> pretrain_data;  // clip set for pretraining methods
  FoldsSpec folds;
  std::vector<std::int64_t> seeds{0};  // one root seed per repetition
  std::vector<ComponentRef> protocols;
  std::vector<ComponentRef> methods;
  std::vector<Claim> claims;  // pre-registered claims; empty = none (and then absent from to_json)
  // Execution settings: recorded with each run but not part of run identity.
  std::string device = "cpu";  // cpu | cuda
  int threads = 0;             // 0 = LibTorch's default
  // The CPU kernel set (harness/kernels.h): "avx2" (default: the same bits on every x86-64 machine with
  // AVX2) or "native" (the libraries choose by processor; faster on AVX-512). Not part of run identity; the
  // regression gate reads what each run recorded.
  std::string cpu_isa = "avx2";
  // auto | fp32 | amp. auto = amp on CUDA, fp32 on CPU. Mixed precision changes the arithmetic, so runs
  // under it get their own identity (an fp32 run is never reused for an AMP one, or the reverse).
  std::string precision = "auto";
  // Whether runs of this spec train under mixed precision (CUDA autocast float16 + loss scaling).
  bool amp() const { return device == "cuda" && precision != "fp32"; }
};

ExperimentSpec parse_spec(const nlohmann::json& doc, const std::string& origin, const Registries& registries);
nlohmann::json to_json(const ExperimentSpec& spec);  // "claims" only when there are some
// The resolved claims as stored in the spec ([] for none): what `run` compares with the stored spec's.
nlohmann::json claims_json(const std::vector<Claim>& claims);

// Reads `path`, applies `--set key.path=value` overrides (in order), parses. Missing files and JSON
// syntax errors are UsageErrors naming the file (and the line and column for syntax errors).
ExperimentSpec load_spec(const std::string& path, const std::vector<std::string>& overrides,
                         const Registries& registries);

// Applies one "key.path=value" override to a JSON document. Path segments index objects by key and
// arrays by position or by an element's "label"/"name" (so methods.uscl.config.epochs=5 works). The
// value is parsed as JSON when it parses (numbers, true/false, null, arrays, quoted strings) and taken
// as a bare string otherwise. Missing intermediate objects are created; the strict parser then rejects
// keys that do not exist. Throws UsageError on a malformed override.
void apply_override(nlohmann::json& doc, const std::string& assignment);

}  // namespace usbench
