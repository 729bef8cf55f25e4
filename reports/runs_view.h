// Views of recorded runs, generated from the store only (README Design §1: reports never train).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/store/store.h"

namespace usbench::reports {

// How long a `running` run may go without a heartbeat before it is shown as stale: the claim's bound
// (a running process renews its heartbeat every kHeartbeatPeriodMs).
inline constexpr std::int64_t kStaleAfterMs = kStaleClaimMs;

// The one number a person scans a run list for, from the run's recorded metrics: a downstream run's test
// accuracy at the epoch its validation selection chose (the `selection/best_val` row records that epoch):
// "test 85.1% (val-selected, epoch 2)"; before its selection is recorded,
// at its last recorded epoch ("test 80.0% @ epoch 3"); a pretraining's best held-out contrastive loss and
// last kNN accuracy ("held-out 2.288 (best), kNN 0.627"). "-" when nothing is recorded yet.
std::string headline_metric(const RunRecord& run, const std::vector<MetricRow>& metrics);

// "1h02m", "12m34s", "45s"; "-" when the run never started. A run still running counts to `now`.
std::string run_duration(const RunRecord& run, std::int64_t now);

// A fixed-width text table for a person, one run per line: id (12 characters), experiment, method,
// protocol, stage, fold, seed, effective status (stale `running` runs shown as such), start time (UTC, to
// the minute), duration and headline metric (`headline`: run id -> headline_metric; missing ids show "-").
std::string runs_table(const std::vector<RunRecord>& runs, const std::map<std::string, std::string>& headline,
                       std::int64_t now);

// Every recorded field of a run, env and config parsed back into JSON, plus seeds and metrics.
nlohmann::json run_json(const RunRecord& run, const std::map<std::string, std::int64_t>& seeds,
                        const std::vector<MetricRow>& metrics, std::int64_t now);

// Human-readable detail view of one run.
std::string run_details(const RunRecord& run, const std::map<std::string, std::int64_t>& seeds,
                        const std::vector<MetricRow>& metrics, std::int64_t now);

}  // namespace usbench::reports
