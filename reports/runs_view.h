// Views of recorded runs, generated from the store only (DESIGN §1: reports never train).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/store.h"

namespace usbench::reports {

// How long a `running` run may go without a heartbeat before it is shown as stale: the claim's bound
// (a running process renews its heartbeat every kHeartbeatPeriodMs).
inline constexpr std::int64_t kStaleAfterMs = kStaleClaimMs;

// A fixed-width text table, one run per line (id shortened to 12 characters), with effective statuses.
std::string runs_table(const std::vector<RunRecord>& runs, std::int64_t now);

// Every recorded field of a run, env and config parsed back into JSON, plus seeds and metrics.
nlohmann::json run_json(const RunRecord& run, const std::map<std::string, std::int64_t>& seeds,
                        const std::vector<MetricRow>& metrics, std::int64_t now);

// Human-readable detail view of one run.
std::string run_details(const RunRecord& run, const std::map<std::string, std::int64_t>& seeds,
                        const std::vector<MetricRow>& metrics, std::int64_t now);

}  // namespace usbench::reports
