#include "datasets/synthetic.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "datasets/rng.h"

namespace usbench::datasets {

namespace {
constexpr double kPi = 3.14159265358979323846;

struct BLine {
  double angle, width, strength;
};

// 3x3 box blur in place, to give speckle its granular look.
void blur(std::vector<float>& img, int s) {
  std::vector<float> tmp(img.size());
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x) {
      float acc = 0;
      int n = 0;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          const int yy = y + dy, xx = x + dx;
          if (yy < 0 || xx < 0 || yy >= s || xx >= s) continue;
          acc += img[static_cast<std::size_t>(yy * s + xx)];
          ++n;
        }
      tmp[static_cast<std::size_t>(y * s + x)] = acc / static_cast<float>(n);
    }
  img.swap(tmp);
}

std::vector<float> speckle(Rng& rng, int s) {
  std::vector<float> img(static_cast<std::size_t>(s) * s);
  for (auto& v : img) {
    const double re = rng.normal(), im = rng.normal();
    v = static_cast<float>(std::sqrt(re * re + im * im) / 1.25);  // Rayleigh, mean ~1
  }
  blur(img, s);
  return img;
}
}  // namespace

FrameBlock synthetic_clip(int cls, std::uint64_t seed, int frames, int size) {
  Rng rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(cls) + 1);
  const double s = size;
  // Probe geometry (pixels): apex above the image, fan of half-angle `half`.
  const double apex_y = -rng.uniform(0.15, 0.3) * s, cx = s / 2 + rng.uniform(-0.05, 0.05) * s;
  const double half = rng.uniform(0.5, 0.65);
  const double r0 = -apex_y + 0.02 * s, r1 = r0 + rng.uniform(0.95, 1.05) * s;
  const double pleura = r0 + rng.uniform(0.22, 0.32) * s;  // depth of the pleural line (radius)
  const double gain = rng.uniform(0.7, 1.2), noise = rng.uniform(0.25, 0.45);
  const double rib_angle = rng.uniform(-half, half) * 0.9, rib_width = rng.uniform(0.06, 0.12);
  const bool has_rib = rng.bernoulli(0.6);
  const double slide_speed = rng.uniform(0.01, 0.04);

  // Class signals.
  const double a_strength = cls == 2 ? rng.uniform(0.35, 0.8) : rng.uniform(0.0, 0.25);
  std::vector<BLine> blines;
  const int n_b = cls == 0 ? 1 + static_cast<int>(rng.below(3)) : (cls == 2 && rng.bernoulli(0.25) ? 1 : 0);
  for (int i = 0; i < n_b; ++i)
    blines.push_back({rng.uniform(-half, half) * 0.85, rng.uniform(0.015, 0.04),
                      cls == 0 ? rng.uniform(0.45, 1.0) : rng.uniform(0.2, 0.4)});
  const bool consolidation = cls == 1;
  const double c_angle = rng.uniform(-half, half) * 0.6, c_half = rng.uniform(0.12, 0.25);
  const double c_depth = rng.uniform(0.2, 0.45) * s;
  std::vector<std::pair<double, double>> bronchograms;  // (angle offset, depth offset) of bright dots
  if (consolidation)
    for (int i = 0; i < 6 + static_cast<int>(rng.below(6)); ++i)
      bronchograms.push_back({rng.uniform(-0.8, 0.8), rng.uniform(0.15, 0.85)});

  const std::vector<float> base = speckle(rng, size);  // tissue texture shared by all frames
  FrameBlock out;
  out.height = out.width = size;
  out.channels = 3;
  for (int f = 0; f < frames; ++f) {
    Rng frng = rng.split(static_cast<std::uint64_t>(f) + 1);
    const std::vector<float> fresh = speckle(frng, size);
    const double slide = slide_speed * f;                // lung sliding: texture below the pleura moves laterally
    const double breath = 0.01 * s * std::sin(0.9 * f);  // the pleura rises and falls slightly
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < size; ++x) {
        const double dx = x + 0.5 - cx, dy = y + 0.5 - apex_y;
        const double r = std::sqrt(dx * dx + dy * dy), a = std::atan2(dx, dy);
        double v = 0;
        if (r >= r0 && r <= r1 && std::fabs(a) <= half) {
          const std::size_t i = static_cast<std::size_t>(y * size + x);
          const double tex = 0.7 * base[i] + 0.3 * fresh[i];
          const double p = pleura + breath;
          if (r < p - 0.02 * s) {
            // Chest wall: soft tissue with a few horizontal fascia layers.
            v = 0.35 * tex + 0.12 * std::pow(std::sin((r - r0) / s * 40), 8);
          } else {
            // Pleural line: bright, with a sliding shimmer.
            const double dp = (r - p) / (0.012 * s);
            const double shimmer = 0.85 + 0.15 * std::sin(a * 60 + slide * 40);
            v += 0.9 * std::exp(-dp * dp) * shimmer;
            if (r > p) {
              const double depth = (r - p) / s;
              // Aerated lung below: dim speckle plus the class signal.
              v += 0.12 * tex * std::exp(-depth * 1.5);
              for (int k = 1; k <= 3; ++k) {  // A-lines: reverberations at multiples of the pleural depth
                const double ar = p + k * (p - r0);
                const double d = (r - ar) / (0.012 * s);
                v += a_strength * std::pow(0.6, k - 1) * std::exp(-d * d) * (0.8 + 0.2 * tex);
              }
              for (const auto& b : blines) {  // B-lines: laser-like vertical tails, erasing A-lines
                const double da = (a - b.angle - 0.2 * slide) / b.width;
                v += b.strength * std::exp(-da * da) * (0.75 + 0.25 * tex) * std::exp(-depth * 0.3);
              }
              if (consolidation) {
                const double da = (a - c_angle) / c_half;
                const double dd = (r - p) / c_depth;
                // Irregular (shred) lower border via a wobble of the normalised radius.
                const double wobble = 1 + 0.18 * std::sin(a * 23 + 1.7) + 0.1 * std::sin(a * 51);
                const double q = da * da + (dd * dd) / (wobble * wobble);
                if (q < 1) {
                  v = 0.25 + 0.3 * tex;  // tissue-like (hepatised) echo instead of aerated lung
                  for (const auto& [bo, bd] : bronchograms) {
                    const double ea = (da - bo) / 0.12, ed = (dd - bd) / 0.08;
                    v += 0.6 * std::exp(-(ea * ea + ed * ed));
                  }
                }
              }
            }
          }
          if (has_rib) {  // acoustic shadow below a rib
            const double da = (a - rib_angle) / rib_width;
            if (r > r0 + 0.05 * s) v *= 1 - 0.85 * std::exp(-da * da * da * da);
          }
          v = gain * v * (1 + noise * (fresh[i] - 1));
        }
        const auto byte = static_cast<std::uint8_t>(std::clamp(v * 200.0, 0.0, 255.0));
        out.pixels.push_back(byte);
        out.pixels.push_back(byte);
        out.pixels.push_back(byte);
      }
    }
    out.source_index.push_back(f);
    ++out.frames;
  }
  return out;
}

}  // namespace usbench::datasets
