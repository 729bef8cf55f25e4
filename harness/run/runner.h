// The experiment runner (README Design §7, §9): ingest (cached), folds, the run grid with content ids, then
// every run not yet done: pretraining once per method and seed, downstream runs per protocol, fold and
// seed. Finished runs are skipped; an interrupted run resumes after its last checkpointed epoch (a
// checkpoint the store does not record with the same SHA-256 is discarded and the run starts again).
//
// Concurrency: several processes may run one spec on one store (a re-submitted Slurm array, a second
// terminal). Each run is claimed atomically in the store (Store::claim_run) before it executes, and its
// claim is kept alive by a heartbeat thread (RunLease). A downstream run held by a live process is left
// to it; a pretraining run held by one is waited for (its downstream runs need the backbone). A claim
// whose heartbeat is older than stale_claim_ms, or whose pid is dead on this host, is taken over.
#pragma once
#include <functional>
#include <string>

#include "harness/spec/registry.h"
#include "harness/spec/spec.h"
#include "harness/store/store.h"

namespace usbench {

struct RunnerOptions {
  std::string db = "usbench.db";
  std::string cache_dir;  // frame cache
  std::string work_dir;   // checkpoints and exported weights, one folder per run id
  int shard_index = 0, shard_count = 1;
  std::string imagenet_weights;  // used when the imagenet method's config names none
  std::function<void(const std::string&)> progress, log;
  // The signal (SIGINT, SIGTERM) that asks this process to stop, 0 while none. Checked between steps: the
  // current run is marked `interrupted` and run_experiment throws Interrupted.
  std::function<int()> interrupted;
  // Called after each downstream run of this shard is done (executed now, or found done), with the id of
  // the pretraining run it used ("" for none). It may throw to stop the grid: the run stays done, the
  // exception leaves run_experiment (the regression gate's fail-fast, `run --expected`).
  std::function<void(const RunRecord& run, const std::string& pretrain_run_id)> finished;
  std::int64_t stale_claim_ms = kStaleClaimMs;
  int heartbeat_period_ms = static_cast<int>(kHeartbeatPeriodMs);
};

struct RunnerSummary {
  int planned = 0, executed = 0, skipped_done = 0, failed = 0, not_run = 0;
  int held_elsewhere = 0;  // downstream runs left to the live process that holds them
};

// Throws UsageError for bad input (missing data, CUDA requested but absent); run failures are recorded
// on their runs and counted in the summary.
RunnerSummary run_experiment(const ExperimentSpec& spec, const Registries& registries, const RunnerOptions& options);

// What `run` refuses before anything is planned or recorded (and `run --plan` with it): device cuda
// without CUDA; ImageNet weights (the method's, else `imagenet_weights`) that are missing, not a regular
// file, unreadable, or do not fit the backbone. UsageError naming the file and the method.
void check_runnable(const ExperimentSpec& spec, const Registries& registries, const std::string& imagenet_weights);

// "I/N" -> (I, N) with 0 <= I < N, both whole decimal numbers; UsageError otherwise.
std::pair<int, int> parse_shard(const std::string& text);

}  // namespace usbench
