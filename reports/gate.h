// The regression gate (usbench check; README "Regression gate"): an exact record of what an experiment's
// gated runs produced, and the comparison of a store with that record in one of two tiers.
//
//  - Exact tier: on one platform (LibTorch version, device, CPU kernel set, threads; the GPU model on CUDA) usbench
//    is bit-reproducible, so every gated run must reproduce its record exactly: each epoch's metrics
//    (digested from their exact bits) and the test predictions of the selected epochs. Any difference
//    fails, naming the run, the first differing epoch and the first differing frames.
//  - Paired tier: on another platform results drift by rounding, so the new predictions are compared
//    with the recorded ones on the same test frames: per gated row and epoch selection, the frames one
//    model gets right and the other wrong, tested with a paired bootstrap over clips (one-sided: is the
//    new model worse?) at level alpha / (number of comparisons).
//
// Everything is read from the store and the expected file; nothing here trains or writes the store.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/store/store.h"

namespace usbench::reports {

// The platform results are bit-reproducible on, from a run's environment JSON: torch_version, device, the
// kernel set (harness/kernels.h: oneDNN's and ATen's instruction sets and the BLAS library), threads, and
// the GPU's name on CUDA. Runs recorded before the kernel set was have the older form (device_name = the
// CPU's model, cpu_capability), which never equals the new one: their records get the paired tier.
nlohmann::json platform_of(const nlohmann::json& env);
std::string describe_platform(const nlohmann::json& platform);

// What one gated (downstream) run produced, as the expected file records it.
struct GateRun {
  std::string method, protocol, run_id;
  std::int64_t seed = 0;
  int fold = 0;
  std::vector<std::string> epochs;      // per epoch, a digest of its train / val / test metrics' exact bits
  std::map<std::string, int> selected;  // "best_val", "last" -> epoch
  std::string frames;  // digest of the test frames (clip id, frame index), in (clip id, frame index) order
  std::string labels;  // true class per test frame, one digit each, in that order
  std::map<std::string, std::string> predicted;        // selection -> predicted class per test frame
  std::vector<std::pair<std::string, int>> frame_ids;  // (clip id, frame index) per frame; not written
};

struct ExpectedRecord {
  std::string experiment;
  int version = 0;
  nlohmann::json platform;
  nlohmann::json metrics = nlohmann::json::array();  // pooled accuracies per row and selection, for readers
  std::vector<GateRun> runs;
};

// The record of `experiment`'s current gated runs. UsageError when the experiment is unknown or a gated
// run is not done (a record of an incomplete grid would gate nothing).
ExpectedRecord record_expected(Store& store, const std::string& experiment);
// The expected file's text: one line per metric and per run, so that its diff is what a reviewer reads.
std::string dump_expected(const ExpectedRecord& record);
// Parses an expected file; UsageError naming `origin` and the key for anything malformed, and for the
// fold-spread format (1) this gate replaced.
ExpectedRecord parse_expected(const nlohmann::json& doc, const std::string& origin);

// Reads and parses the expected file at `path` (missing, unreadable, oversized, malformed: UsageError).
ExpectedRecord load_expected(const std::string& path);

// The record of one done gated run, read from the store.
GateRun gate_run(Store& store, const RunRecord& run);

// How one run differs from its record, "" when it reproduces it exactly: the first differing epoch, then
// the selected epochs, the frames, and the first differing predictions (up to three frames named).
std::string exact_difference(const GateRun& expected, const GateRun& observed);

enum class Tier { Auto, Exact, Paired };

struct GateOptions {
  Tier tier = Tier::Auto;
  double alpha = 0.01;    // paired tier: family-wise level over all comparisons (Bonferroni)
  int resamples = 10000;  // paired tier: bootstrap resamples
};

struct GateResult {
  bool passed = false;
  Tier tier = Tier::Exact;  // the tier applied
  std::string text;         // the full report, one line per comparison, ending with the verdict
  int failures = 0;
};

// Compares the experiment's current gated runs in `store` with `expected`. Auto: the exact tier when every
// gated run (and the pretraining they use) was recorded on the expected file's platform, else the paired
// tier; the text says which and why.
GateResult check_expected(Store& store, const ExpectedRecord& expected, const GateOptions& options);

}  // namespace usbench::reports
