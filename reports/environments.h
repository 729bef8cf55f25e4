// Where an experiment's counted runs were made, generated from the environment each run recorded when it
// started (README "Runs, seeds and the store"): runs that share a machine, device, CPU kernels, LibTorch,
// thread count and usbench commit form one group. The table ends with it, so a pasted report says which
// binary and machine produced every number, and when.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/store/store.h"

namespace usbench::reports {

struct EnvironmentGroup {
  std::string host, device, kernels, torch, threads, commit;  // as recorded; "?" where a run recorded none
  int pretraining_runs = 0, downstream_runs = 0;
  std::int64_t first_started_ms = 0, last_finished_ms = 0;  // 0 where no run of the group recorded one
};

// Groups `runs` (the counted ones) by recorded environment, in order of each group's first start; groups
// with no started run come last.
std::vector<EnvironmentGroup> environment_groups(const std::vector<RunRecord>& runs);

// The Markdown section; "" for no groups.
std::string environments_markdown(const std::vector<EnvironmentGroup>& groups);

nlohmann::json to_json(const EnvironmentGroup& g);

}  // namespace usbench::reports
