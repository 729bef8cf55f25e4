// Pre-registered claims tested on the store's runs (README Design §6): each claim of a spec ("method a is
// more accurate than method b under a protocol, at an epoch selection") is tested on the test frames both
// rows predicted in the same (seed, fold), and reported with its statistic and a verdict.
//
// Contract: the claims come from the spec stored with the experiment (which `run` never lets change once the
// experiment has runs); the statistic is the difference in pooled accuracy a - b over every seed, a
// two-level paired bootstrap (seeds, then clips within each seed) gives its 95% interval and the one-sided
// p; a claim is "held" when both rows have every run and p < alpha, "not held" when they have every run and
// p >= alpha, and "pending" until then (its statistic, on the runs so far, is still shown).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/spec/spec.h"
#include "reports/metrics.h"

namespace usbench::reports {

using FrameKey = std::tuple<std::int64_t, int, std::string, int>;  // seed, fold, clip, frame
using FrameOutcomes = std::map<FrameKey, bool>;                    // whether each test frame is predicted right

inline constexpr int kClaimResamples = 10000;
inline constexpr std::uint64_t kClaimBootstrapSeed = 20211001;

struct ClaimOutcome {
  Claim claim;
  std::string verdict;                    // "held" | "not held" | "pending"
  std::string pending;                    // why it is not decided yet ("uscl: 10 of 15 runs done"); "" when decided
  double a_accuracy = 0, b_accuracy = 0;  // pooled over the paired frames of every seed
  PairedDifference difference;            // a minus b
  long clips_a_better = 0, clips_b_better = 0;  // a clip over every seed and frame as one unit; ties dropped
  int seeds = 0;                                // seeds with paired frames
};

// The resolved claims stored in a spec ("claims" absent: none).
std::vector<Claim> claims_of_spec(const nlohmann::json& spec);

// Tests `claim` on the frames both outcomes hold. `pending`: "" when both rows have all their runs, otherwise
// why not (the verdict is then "pending").
ClaimOutcome test_claim(const Claim& claim, const FrameOutcomes& a, const FrameOutcomes& b, const std::string& pending);

// "uscl above random under linear-eval (last epoch)".
std::string claim_statement(const Claim& c);
std::string claims_markdown(const std::vector<ClaimOutcome>& claims, const std::string& claims_hash,
                            const std::string& first_run_started);
nlohmann::json to_json(const ClaimOutcome& c);

}  // namespace usbench::reports
