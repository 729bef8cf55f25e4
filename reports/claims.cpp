#include "reports/claims.h"

#include <set>

#include <fmt/format.h>

namespace usbench::reports {

std::vector<Claim> claims_of_spec(const nlohmann::json& spec) {
  std::vector<Claim> out;
  if (!spec.contains("claims")) return out;
  for (const auto& j : spec.at("claims")) {
    Claim c;
    c.id = j.at("id");
    c.a = j.at("a");
    c.b = j.at("b");
    c.protocol = j.at("protocol");
    c.selection = j.at("selection");
    c.test = j.at("test");
    c.alpha = j.at("alpha");
    out.push_back(c);
  }
  return out;
}

ClaimOutcome test_claim(const Claim& claim, const FrameOutcomes& a, const FrameOutcomes& b,
                        const std::string& pending) {
  ClaimOutcome out;
  out.claim = claim;
  out.pending = pending;
  // Per seed, per (fold, clip): frames a gets right and b wrong (gained), the reverse (lost), and all frames.
  std::map<std::int64_t, std::map<std::pair<int, std::string>, ClipPair>> per_seed;
  long a_right = 0, b_right = 0, frames = 0;
  std::map<std::pair<int, std::string>, long> clip_balance;  // over every seed
  for (const auto& [key, right_a] : a) {
    const auto it = b.find(key);
    if (it == b.end()) continue;
    const bool right_b = it->second;
    auto& c = per_seed[std::get<0>(key)][{std::get<1>(key), std::get<2>(key)}];
    c.gained += right_a && !right_b;
    c.lost += right_b && !right_a;
    ++c.frames;
    a_right += right_a;
    b_right += right_b;
    ++frames;
    clip_balance[{std::get<1>(key), std::get<2>(key)}] += (right_a ? 1 : 0) - (right_b ? 1 : 0);
  }
  std::vector<std::vector<ClipPair>> seeds;
  for (const auto& [seed, clips] : per_seed) {
    seeds.emplace_back();
    for (const auto& [clip, pair] : clips) seeds.back().push_back(pair);
  }
  out.seeds = static_cast<int>(seeds.size());
  if (frames > 0) {
    out.a_accuracy = static_cast<double>(a_right) / static_cast<double>(frames);
    out.b_accuracy = static_cast<double>(b_right) / static_cast<double>(frames);
  }
  for (const auto& [clip, balance] : clip_balance) {
    out.clips_a_better += balance > 0;
    out.clips_b_better += balance < 0;
  }
  out.difference = paired_difference_two_level(seeds, kClaimResamples, kClaimBootstrapSeed);
  if (frames == 0 && out.pending.empty()) out.pending = "no test frames predicted by both";
  out.verdict = !out.pending.empty() ? "pending" : out.difference.p < claim.alpha ? "held" : "not held";
  return out;
}

std::string claim_statement(const Claim& c) {
  static const std::map<std::string, std::string> selection = {
      {"best_test", "best epoch on test"}, {"last", "last epoch"}, {"best_val", "best epoch on validation"}};
  const auto it = selection.find(c.selection);
  return fmt::format("{} above {} under {} ({})", c.a, c.b, c.protocol,
                     it == selection.end() ? c.selection : it->second);
}

std::string claims_markdown(const std::vector<ClaimOutcome>& claims, const std::string& claims_hash,
                            const std::string& first_run_started) {
  if (claims.empty()) return "";
  std::string out = fmt::format(
      "Pre-registered claims, as stored with the spec before its runs (claims SHA-256 {}; first run of the experiment "
      "started {}). Each is one-sided, tested on the test frames both methods predicted in the same (seed, fold) at "
      "the named epoch selection. Statistic: the difference in pooled accuracy (a - b) over every seed, with a 95% "
      "interval from a two-level paired bootstrap ({} resamples: seeds, then clips within each seed) and one-sided "
      "p = the share of resamples with a difference <= 0. Held: every run of both rows done and p < alpha; not held: "
      "every run done and p >= alpha; pending: runs missing. Clips better: a clip over every seed and frame as one "
      "unit (ties dropped).\n\n",
      claims_hash.substr(0, 16), first_run_started.empty() ? "— (no runs yet)" : first_run_started, kClaimResamples);
  out +=
      "| claim | statement | a | b | a - b | 95% CI (seeds, clips) | p (one-sided) | alpha | clips a better / b "
      "better | verdict |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& c : claims) {
    const auto& d = c.difference;
    if (d.frames == 0) {  // nothing to compute from yet: no number is printed
      out += fmt::format("| {} | {} | — | — | — | — | — | {:g} | — | **{}** ({}) |\n", c.claim.id,
                         claim_statement(c.claim), c.claim.alpha, c.verdict, c.pending);
      continue;
    }
    out += fmt::format(
        "| {} | {} | {:.2f}% | {:.2f}% | {:+.2f} points | [{:+.2f}, {:+.2f}] | {:.4f} | {:g} | {} / {} | "
        "**{}**{} |\n",
        c.claim.id, claim_statement(c.claim), 100 * c.a_accuracy, 100 * c.b_accuracy, 100 * d.estimate, 100 * d.ci.lo,
        100 * d.ci.hi, d.p, c.claim.alpha, c.clips_a_better, c.clips_b_better, c.verdict,
        c.pending.empty() ? "" : " (" + c.pending + ")");
  }
  return out + "\n";
}

nlohmann::json to_json(const ClaimOutcome& c) {
  return {{"id", c.claim.id},
          {"statement", claim_statement(c.claim)},
          {"a", c.claim.a},
          {"b", c.claim.b},
          {"protocol", c.claim.protocol},
          {"selection", c.claim.selection},
          {"test", c.claim.test},
          {"alpha", c.claim.alpha},
          {"a_accuracy", c.a_accuracy},
          {"b_accuracy", c.b_accuracy},
          {"difference", c.difference.estimate},
          {"ci95", {c.difference.ci.lo, c.difference.ci.hi}},
          {"p_one_sided", c.difference.p},
          {"frames", c.difference.frames},
          {"seeds", c.seeds},
          {"clips_a_better", c.clips_a_better},
          {"clips_b_better", c.clips_b_better},
          {"verdict", c.verdict},
          {"pending", c.pending}};
}

}  // namespace usbench::reports
