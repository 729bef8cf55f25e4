// Classification metrics computed from stored per-frame predictions (README Design §6): confusion matrix,
// accuracy, per-class precision / recall / F1, macro-F1, a clip-level bootstrap interval and McNemar's
// exact test for paired predictions.
#pragma once
#include <cstdint>
#include <vector>

namespace usbench::reports {

struct Confusion {
  explicit Confusion(int classes = 0) : k(classes), counts(static_cast<std::size_t>(classes * classes), 0) {}
  int k;
  std::vector<long> counts;  // row = true class, column = predicted
  void add(int truth, int predicted) { ++counts[static_cast<std::size_t>(truth * k + predicted)]; }
  void merge(const Confusion& o);
  long at(int truth, int predicted) const { return counts[static_cast<std::size_t>(truth * k + predicted)]; }
  long total() const;
  double accuracy() const;
  // 0 where undefined (no predictions / no instances of the class).
  double precision(int c) const;
  double recall(int c) const;
  double f1(int c) const;
  double macro_f1() const;
};

double mean(const std::vector<double>& v);
double sample_std(const std::vector<double>& v);  // n - 1 denominator; 0 for fewer than 2 values

struct Interval {
  double lo = 0, hi = 0;
};
// Percentile bootstrap of pooled accuracy, resampling clips (each with its correct / total frames).
Interval bootstrap_accuracy(const std::vector<std::pair<long, long>>& clips, int resamples, std::uint64_t seed,
                            double level = 0.95);

// Two-level percentile bootstrap of pooled accuracy over repetitions: each resample draws as many seeds as
// there are, with replacement (retraining varies), then within each drawn seed its clips with replacement
// (test sampling varies). `seeds`: per seed, its clips' (correct, total). With one seed it is exactly
// bootstrap_accuracy; with several, seed-to-seed variation widens the interval as it should.
Interval bootstrap_accuracy_two_level(const std::vector<std::vector<std::pair<long, long>>>& seeds, int resamples,
                                      std::uint64_t seed, double level = 0.95);

// Two-sided exact McNemar p-value from the discordant counts b and c (binomial, p = 0.5).
double mcnemar_exact_p(long b, long c);

// One-sided exact McNemar p-value for "b exceeds c": P(X >= b), X ~ Binomial(b + c, 1/2); 1 when b + c = 0.
double mcnemar_one_sided_p(long b, long c);

// One clip's paired outcome between a recorded model and a new one on the same frames: `lost` frames the
// recorded one gets right and the new one wrong, `gained` the reverse, of `frames`.
struct ClipPair {
  long lost = 0, gained = 0, frames = 0;
};
// Paired bootstrap over clips of the accuracy difference d = (gained - lost) / frames (new minus recorded):
// `resamples` resamples of the clips with replacement (seeded, so the same input gives the same answer),
// p = (1 + #{d* >= 0}) / (1 + resamples), the one-sided evidence that the new model is worse (1 when no
// frame differs), and sd, the standard deviation of d* (the noise a drop must stand out of). Frames of one
// clip move together, so clips, not frames, are the resampled unit.
struct PairedBootstrap {
  double p = 1, sd = 0;
};
PairedBootstrap paired_bootstrap_drop(const std::vector<ClipPair>& clips, int resamples, std::uint64_t seed);
double paired_bootstrap_drop_p(const std::vector<ClipPair>& clips, int resamples, std::uint64_t seed);

// Paired two-level bootstrap of the accuracy difference d = sum(gained - lost) / sum(frames) (new minus
// recorded, e.g. method a minus method b on the same frames) over repetitions: each resample draws as many
// seeds as there are, with replacement (retraining varies), then within each drawn seed its clips with
// replacement (test sampling varies); a seed's clips are paired across the two models, so both move together.
// `estimate`: d on the data as they are; `ci`: the equal-tailed percentile interval at `level`; `p`:
// (1 + #{d* <= 0}) / (1 + resamples), the one-sided evidence against "new is more accurate" (1 when no frame
// differs). Seeded: the same input gives the same answer. Empty seeds are ignored.
struct PairedDifference {
  double estimate = 0, p = 1;
  Interval ci;
  long frames = 0;
};
PairedDifference paired_difference_two_level(const std::vector<std::vector<ClipPair>>& seeds, int resamples,
                                             std::uint64_t seed, double level = 0.95);

// The drop in accuracy a one-sided test at `level` detects with probability `power` when its estimate has
// standard deviation `sd`, in the normal approximation: (z_{1-level} + z_{power}) x sd.
double detectable_drop(double sd, double level, double power = 0.8);

}  // namespace usbench::reports
