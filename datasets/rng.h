// A small, platform-independent random stream (SplitMix64). std::normal_distribution and friends are
// implementation-defined, so data generation and augmentation sampling use this instead: the same seed
// gives the same numbers with every compiler and standard library.
#pragma once
#include <cmath>
#include <cstdint>
#include <utility>

namespace usbench::datasets {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return n ? next() % n : 0; }
  bool bernoulli(double p) { return uniform() < p; }
  double normal() {  // Box-Muller, one value per call
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Beta(a, a) via two gamma draws (Marsaglia-Tsang; a < 1 boosted).
  double gamma(double a) {
    if (a < 1) return gamma(a + 1) * std::pow(uniform() + 1e-300, 1.0 / a);
    const double d = a - 1.0 / 3, c = 1 / std::sqrt(9 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = uniform();
      if (u < 1 - 0.0331 * x * x * x * x || std::log(u + 1e-300) < 0.5 * x * x + d * (1 - v + std::log(v)))
        return d * v;
    }
  }
  double beta(double a, double b) {
    const double x = gamma(a), y = gamma(b);
    return x / (x + y);
  }
  // Fisher-Yates shuffle in place, drawing below(i) for i = n .. 2 (the order every caller relies on).
  template <class V>
  void shuffle(V& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
  // A child stream: independent of how much of this one is consumed later.
  Rng split(std::uint64_t salt) const { return Rng(Rng(state_ ^ (salt * 0xD1B54A32D192ED03ull)).next()); }

 private:
  std::uint64_t state_;
};

}  // namespace usbench::datasets
