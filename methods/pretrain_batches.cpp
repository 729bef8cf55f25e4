#include "methods/pretrain_batches.h"

#include <algorithm>

namespace usbench::methods {

using datasets::Rng;

PairBatches PairBatches::make(const datasets::FrameSet& set, std::vector<int> clips, int batch_size, bool shuffle,
                              const datasets::AugmentConfig& augment, PairMode mode, double alpha, bool train,
                              std::uint64_t seed, int epoch) {
  PairBatches p;
  p.set = &set;
  p.batch_size = batch_size;
  p.augment = augment;
  p.mode = mode;
  p.alpha = alpha;
  p.train = train;
  p.seed = seed;
  p.epoch = epoch;
  if (shuffle) {
    Rng rng = Rng(seed).split(0xC11B0000ull + static_cast<std::uint64_t>(epoch));
    rng.shuffle(clips);
  }
  p.order = std::move(clips);
  return p;
}

int PairBatches::num_batches() const {
  const int n = static_cast<int>(order.size());
  const int full = n / batch_size, rest = n % batch_size;
  return full + (rest >= 2 ? 1 : 0);
}

PairBatch PairBatches::batch(int b) const {
  Rng rng = Rng(seed).split((static_cast<std::uint64_t>(epoch) << 32) + static_cast<std::uint64_t>(b) + 0x77);
  const auto begin = static_cast<std::size_t>(b) * static_cast<std::size_t>(batch_size);
  const auto end = std::min(order.size(), begin + static_cast<std::size_t>(batch_size));
  const int h = static_cast<int>(set->frames.size(1)), w = static_cast<int>(set->frames.size(2));
  PairBatch out;
  out.index = b;
  // Views in one augment() call: [A (f1) x B | C (f3) x B | anchor f2 x B (Mix, train only)].
  std::vector<std::int64_t> fa, fc, fb;
  std::vector<float> lambda;
  std::vector<std::int64_t> labels;
  const bool mixing = mode == PairMode::Mix && train;
  for (std::size_t i = begin; i < end; ++i) {
    const int clip = order[i];
    out.clips.push_back(clip);
    const int first = set->clip_first[static_cast<std::size_t>(clip)];
    const int n = set->clip_frames[static_cast<std::size_t>(clip)];
    labels.push_back(set->label_of[static_cast<std::size_t>(first)]);
    if (mode == PairMode::Mix && n >= 3) {
      // Three distinct frames by partial Fisher-Yates, then in time order: f1 < f2 (anchor) < f3.
      std::vector<int> idx(static_cast<std::size_t>(n));
      for (int k = 0; k < n; ++k) idx[static_cast<std::size_t>(k)] = k;
      for (int k = 0; k < 3; ++k)
        std::swap(idx[static_cast<std::size_t>(k)],
                  idx[static_cast<std::size_t>(k) + rng.below(static_cast<std::uint64_t>(n - k))]);
      std::sort(idx.begin(), idx.begin() + 3);
      fa.push_back(first + idx[0]);
      fb.push_back(first + idx[1]);
      fc.push_back(first + idx[2]);
      const double l = rng.beta(alpha, alpha);
      lambda.push_back(mixing ? static_cast<float>(l) : 1.0f);
    } else if (mode == PairMode::Mix && n == 2) {
      fa.push_back(first);
      fb.push_back(first);
      fc.push_back(first + 1);
      lambda.push_back(1.0f);
    } else {
      const int f = first + static_cast<int>(mode == PairMode::Pair ? rng.below(static_cast<std::uint64_t>(n)) : 0);
      fa.push_back(f);
      fb.push_back(f);
      fc.push_back(f);
      lambda.push_back(1.0f);
    }
  }
  const auto bsz = static_cast<std::int64_t>(fa.size());
  std::vector<std::int64_t> all = fa;
  all.insert(all.end(), fc.begin(), fc.end());
  if (mixing) all.insert(all.end(), fb.begin(), fb.end());
  std::vector<datasets::ImageParams> params;
  for (std::size_t i = 0; i < all.size(); ++i) params.push_back(datasets::sample_params(rng, augment, h, w));
  const auto index = datasets::to_device(torch::tensor(all, torch::kInt64), set->frames.device());
  const auto views = datasets::augment(set->frames.index_select(0, index), params, augment);
  out.lambda = torch::tensor(lambda, torch::kFloat32);
  out.labels = torch::tensor(labels, torch::kInt64);
  out.x1 = views.slice(0, 0, bsz);
  out.x2 = views.slice(0, bsz, 2 * bsz);
  if (mixing) {
    const auto anchor = views.slice(0, 2 * bsz, 3 * bsz);
    out.x1 = datasets::mix(out.x1, anchor, out.lambda);
    out.x2 = datasets::mix(out.x2, anchor, out.lambda);
  }
  return out;
}

}  // namespace usbench::methods
