// Pretraining batches over clips (README Design §5). A batch item is a clip.
//  - Mix (USCL): draw 3 distinct frames f1 < f2 < f3 in time (f2, the middle one, is the anchor), augment
//    each, draw lambda ~ Beta(alpha, alpha) and build x1 = lambda f1 + (1 - lambda) f2,
//    x2 = lambda f3 + (1 - lambda) f2. A 2-frame clip gives its two frames unmixed, a 1-frame clip two
//    augmentations of its frame. Held-out batches (train = false) are never mixed: x1 = f1, x2 = f3.
//  - Pair (SimCLR, MoCo): one random frame, two augmentations.
// Every random choice comes from (seed, epoch, batch index): batches are identical whatever the number
// of loader threads and whether a run was resumed.
#pragma once
#include <vector>

#include "datasets/loader.h"

namespace usbench::methods {

enum class PairMode { Mix, Pair };

struct PairBatch {
  int index = 0;
  torch::Tensor x1, x2;    // float [B, 3, S, S], normalised
  torch::Tensor labels;    // int64 [B], -1 = unlabelled
  torch::Tensor lambda;    // float [B] (1 where unmixed)
  std::vector<int> clips;  // FrameSet clip positions
};

struct PairBatches {
  const datasets::FrameSet* set = nullptr;
  std::vector<int> order;  // clip positions in this epoch's order
  int batch_size = 32;
  datasets::AugmentConfig augment;
  PairMode mode = PairMode::Pair;
  double alpha = 0.5;
  bool train = true;
  std::uint64_t seed = 0;
  int epoch = 0;

  // Shuffles `clips` from (seed, epoch) when `shuffle`. Incomplete last batches are dropped when they
  // would hold fewer than 2 items (a contrastive loss needs negatives).
  static PairBatches make(const datasets::FrameSet& set, std::vector<int> clips, int batch_size, bool shuffle,
                          const datasets::AugmentConfig& augment, PairMode mode, double alpha, bool train,
                          std::uint64_t seed, int epoch);
  int num_batches() const;
  PairBatch batch(int b) const;
};

}  // namespace usbench::methods
