#include "harness/spec/suggest.h"

#include <algorithm>
#include <cctype>
#include <numeric>

namespace usbench {

namespace {
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::size_t edit_distance(const std::string& a, const std::string& b) {
  const std::size_t n = a.size(), m = b.size();
  // Optimal string alignment distance: three rolling rows suffice for the transposition term.
  std::vector<std::size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  std::iota(prev.begin(), prev.end(), 0);
  for (std::size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::vector<std::string> closest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       std::size_t max_results) {
  const std::string key = lower(name);
  const std::size_t limit = std::max<std::size_t>(2, key.size() / 3);
  std::vector<std::pair<std::size_t, std::size_t>> scored;  // (distance, index)
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const std::string cand = lower(candidates[i]);
    std::size_t d = edit_distance(key, cand);
    // A prefix match ("sim" for "simclr") is a plausible intent even when the distance is large.
    if (d > limit && !key.empty() && cand.rfind(key, 0) == 0) d = limit;
    if (d <= limit && cand != key) scored.emplace_back(d, i);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (const auto& s : scored) {
    if (out.size() == max_results) break;
    out.push_back(candidates[s.second]);
  }
  return out;
}

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  const auto best = closest_names(name, candidates);
  if (best.empty()) return "";
  std::string s = " (did you mean ";
  for (std::size_t i = 0; i < best.size(); ++i) {
    if (i) s += i + 1 == best.size() ? " or " : ", ";
    s += "'" + best[i] + "'";
  }
  return s + "?)";
}

}  // namespace usbench
