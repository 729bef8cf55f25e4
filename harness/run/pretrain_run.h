// The pretraining loop shared by USCL, SimCLR and MoCo (README Design §5, §7): held-out part by group,
// per-epoch rate from the recipe, a checkpoint every epoch written atomically, resume from the last
// checkpoint, the best checkpoint by held-out contrastive loss exported in torchvision format, every
// epoch's metrics in the store, progress with images/s. NaN/Inf losses stop the run naming the epoch.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "datasets/loader.h"
#include "harness/run/run_context.h"
#include "harness/spec/registry.h"

namespace usbench {

struct PretrainOutcome {
  std::string backbone_path;  // best backbone (torchvision state dict)
  int best_epoch = -1;
  double best_heldout = 0;
  int epochs_run = 0;  // epochs executed in this call (0 when resumed after the last one)
};

// `clips`: the pretraining FrameSet; the held-out part is drawn from its groups with the run's split
// stream. Throws RunFailure on a non-finite loss.
PretrainOutcome run_pretraining(RunContext& ctx, const MethodInfo& method, const nlohmann::json& config,
                                const datasets::FrameSet& clips, const std::vector<std::string>& groups);

// Group-aware held-out split: a fraction of the distinct groups (at least one, never all), drawn with
// `seed`, stratified by the groups' labels. Returns the positions (into `groups`) that are held out.
std::vector<int> held_out_positions(const std::vector<std::string>& groups, const std::vector<std::int64_t>& labels,
                                    double fraction, std::uint64_t seed);

// "1m05s", "2h03m", or "?" for a negative or unknown duration (progress lines).
std::string eta(double seconds);
// Seconds left when `done` of `total` units of work took `elapsed` seconds (NaN before any is done).
double remaining_seconds(double elapsed, double done, double total);

}  // namespace usbench
