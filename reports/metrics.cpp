#include "reports/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "datasets/rng.h"

namespace usbench::reports {

void Confusion::merge(const Confusion& o) {
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += o.counts[i];
}
long Confusion::total() const { return std::accumulate(counts.begin(), counts.end(), 0L); }
double Confusion::accuracy() const {
  long correct = 0;
  for (int c = 0; c < k; ++c) correct += at(c, c);
  return total() ? static_cast<double>(correct) / static_cast<double>(total()) : 0;
}
double Confusion::precision(int c) const {
  long col = 0;
  for (int t = 0; t < k; ++t) col += at(t, c);
  return col ? static_cast<double>(at(c, c)) / static_cast<double>(col) : 0;
}
double Confusion::recall(int c) const {
  long row = 0;
  for (int p = 0; p < k; ++p) row += at(c, p);
  return row ? static_cast<double>(at(c, c)) / static_cast<double>(row) : 0;
}
double Confusion::f1(int c) const {
  const double p = precision(c), r = recall(c);
  return p + r > 0 ? 2 * p * r / (p + r) : 0;
}
double Confusion::macro_f1() const {
  double s = 0;
  for (int c = 0; c < k; ++c) s += f1(c);
  return k ? s / k : 0;
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double sample_std(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

namespace {
// The equal-tailed percentile interval of sorted resamples, linear between order statistics.
Interval percentile_interval(std::vector<double> acc, double level) {
  std::sort(acc.begin(), acc.end());
  const double tail = (1 - level) / 2;
  auto q = [&](double p) {
    const double pos = p * static_cast<double>(acc.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(acc.size() - 1, lo + 1);
    return acc[lo] + (pos - static_cast<double>(lo)) * (acc[hi] - acc[lo]);
  };
  return {q(tail), q(1 - tail)};
}
}  // namespace

namespace {
// One resample of `clips` with replacement (as many draws as clips), its frames right and total added.
void add_clip_resample(const std::vector<std::pair<long, long>>& clips, datasets::Rng& rng, long& correct,
                       long& total) {
  for (std::size_t i = 0; i < clips.size(); ++i) {
    const auto& c = clips[rng.below(clips.size())];
    correct += c.first;
    total += c.second;
  }
}
}  // namespace

Interval bootstrap_accuracy_two_level(const std::vector<std::vector<std::pair<long, long>>>& seeds, int resamples,
                                      std::uint64_t seed, double level) {
  std::vector<const std::vector<std::pair<long, long>>*> nonempty;
  for (const auto& s : seeds)
    if (!s.empty()) nonempty.push_back(&s);
  if (nonempty.empty()) return {};
  if (nonempty.size() == 1) return bootstrap_accuracy(*nonempty.front(), resamples, seed, level);
  datasets::Rng rng(seed);
  std::vector<double> acc;
  acc.reserve(static_cast<std::size_t>(resamples));
  for (int r = 0; r < resamples; ++r) {
    long correct = 0, total = 0;
    for (std::size_t s = 0; s < nonempty.size(); ++s) {
      add_clip_resample(*nonempty[rng.below(nonempty.size())], rng, correct, total);  // a seed, then its clips
    }
    acc.push_back(total ? static_cast<double>(correct) / static_cast<double>(total) : 0);
  }
  return percentile_interval(std::move(acc), level);
}

Interval bootstrap_accuracy(const std::vector<std::pair<long, long>>& clips, int resamples, std::uint64_t seed,
                            double level) {
  if (clips.empty()) return {};
  datasets::Rng rng(seed);
  std::vector<double> acc;
  acc.reserve(static_cast<std::size_t>(resamples));
  for (int r = 0; r < resamples; ++r) {
    long correct = 0, total = 0;
    add_clip_resample(clips, rng, correct, total);
    acc.push_back(total ? static_cast<double>(correct) / static_cast<double>(total) : 0);
  }
  return percentile_interval(std::move(acc), level);
}

double mcnemar_exact_p(long b, long c) {
  const long n = b + c;
  if (n == 0) return 1.0;
  const long k = std::min(b, c);
  // P(X <= k) for X ~ Binomial(n, 1/2), in log space for large n.
  double tail = 0;
  for (long i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
                     std::lgamma(static_cast<double>(n - i) + 1) - static_cast<double>(n) * std::log(2.0));
  return std::min(1.0, 2 * tail);
}

double mcnemar_one_sided_p(long b, long c) {
  const long n = b + c;
  if (n == 0) return 1.0;
  double tail = 0;  // P(X >= b) = sum over i = b..n of C(n, i) / 2^n
  for (long i = b; i <= n; ++i)
    tail += std::exp(std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
                     std::lgamma(static_cast<double>(n - i) + 1) - static_cast<double>(n) * std::log(2.0));
  return std::min(1.0, tail);
}

PairedBootstrap paired_bootstrap_drop(const std::vector<ClipPair>& clips, int resamples, std::uint64_t seed) {
  const bool any = std::any_of(clips.begin(), clips.end(), [](const ClipPair& c) { return c.lost + c.gained > 0; });
  if (!any || resamples < 1) return {};
  datasets::Rng rng(seed);
  long at_least_zero = 0;
  double sum = 0, sum_sq = 0;
  for (int r = 0; r < resamples; ++r) {
    long diff = 0, frames = 0;
    for (std::size_t i = 0; i < clips.size(); ++i) {
      const auto& c = clips[rng.below(clips.size())];
      diff += c.gained - c.lost;
      frames += c.frames;
    }
    at_least_zero += diff >= 0;
    const double d = frames ? static_cast<double>(diff) / static_cast<double>(frames) : 0.0;
    sum += d;
    sum_sq += d * d;
  }
  const double n = static_cast<double>(resamples), mean = sum / n;
  return {static_cast<double>(1 + at_least_zero) / (1 + n), std::sqrt(std::max(0.0, sum_sq / n - mean * mean))};
}

double paired_bootstrap_drop_p(const std::vector<ClipPair>& clips, int resamples, std::uint64_t seed) {
  return paired_bootstrap_drop(clips, resamples, seed).p;
}

PairedDifference paired_difference_two_level(const std::vector<std::vector<ClipPair>>& seeds, int resamples,
                                             std::uint64_t seed, double level) {
  std::vector<const std::vector<ClipPair>*> nonempty;
  PairedDifference out;
  long diff = 0;
  bool any = false;
  for (const auto& s : seeds) {
    if (s.empty()) continue;
    nonempty.push_back(&s);
    for (const auto& c : s) {
      diff += c.gained - c.lost;
      out.frames += c.frames;
      any = any || c.lost + c.gained > 0;
    }
  }
  if (out.frames > 0) out.estimate = static_cast<double>(diff) / static_cast<double>(out.frames);
  if (!any || resamples < 1) {
    out.ci = {out.estimate, out.estimate};
    return out;
  }
  datasets::Rng rng(seed);
  std::vector<double> d;
  d.reserve(static_cast<std::size_t>(resamples));
  long not_above = 0;
  for (int r = 0; r < resamples; ++r) {
    long balance = 0, frames = 0;
    for (std::size_t s = 0; s < nonempty.size(); ++s) {
      const auto& clips = *nonempty[rng.below(nonempty.size())];  // a seed, then its clips
      for (std::size_t i = 0; i < clips.size(); ++i) {
        const auto& c = clips[rng.below(clips.size())];
        balance += c.gained - c.lost;
        frames += c.frames;
      }
    }
    not_above += balance <= 0;
    d.push_back(frames ? static_cast<double>(balance) / static_cast<double>(frames) : 0.0);
  }
  out.p = static_cast<double>(1 + not_above) / (1.0 + resamples);
  out.ci = percentile_interval(std::move(d), level);
  return out;
}

double detectable_drop(double sd, double level, double power) {
  // Standard normal quantile by bisection on Phi(z) = erfc(-z / sqrt 2) / 2 (monotone; 60 halvings).
  auto quantile = [](double q) {
    double lo = -10, hi = 10;
    for (int i = 0; i < 60; ++i) {
      const double mid = (lo + hi) / 2;
      (0.5 * std::erfc(-mid / std::sqrt(2.0)) < q ? lo : hi) = mid;
    }
    return (lo + hi) / 2;
  };
  return (quantile(1 - level) + quantile(power)) * sd;
}

}  // namespace usbench::reports
