// The experiment runner (DESIGN §7, §9): ingest (cached), folds, the run grid with content ids, then
// every run not yet done: pretraining once per method and seed, downstream runs per protocol, fold and
// seed. Finished runs are skipped; an interrupted pretraining resumes from its last checkpoint; an
// interrupted downstream run restarts its fold (its metrics are rewritten idempotently).
#pragma once
#include <functional>
#include <string>

#include "harness/registry.h"
#include "harness/spec.h"

namespace usbench {

struct RunnerOptions {
  std::string db = "usbench.db";
  std::string cache_dir;         // frame cache
  std::string work_dir;          // checkpoints and exported weights, one folder per run id
  int shard_index = 0, shard_count = 1;
  std::string imagenet_weights;  // used when the imagenet method's config names none
  std::function<void(const std::string&)> progress, log;
};

struct RunnerSummary {
  int planned = 0, executed = 0, skipped_done = 0, failed = 0, not_run = 0;
};

// Throws UsageError for bad input (missing data, CUDA requested but absent); run failures are recorded
// on their runs and counted in the summary.
RunnerSummary run_experiment(const ExperimentSpec& spec, const Registries& registries, const RunnerOptions& options);

// "I/N" -> (I, N) with 0 <= I < N; UsageError otherwise.
std::pair<int, int> parse_shard(const std::string& text);

}  // namespace usbench
