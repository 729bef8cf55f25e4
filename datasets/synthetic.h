// Embedded synthetic lung ultrasound (README Design §3), so the quickstart and tests run with no download.
// A clip is a convex-probe fan with speckle, chest-wall layers, a rib shadow and a sliding pleural line;
// the class shows below the pleura as A-line reverberations (regular), B-line comet tails (COVID-like)
// or a hypoechoic consolidation with air bronchograms (pneumonia-like). Signal strength, gain, noise and
// geometry vary per clip, and some healthy clips carry an isolated B-line, so the task is learnable but
// not trivial. Everything is a function of (class, seed): same arguments, same bytes.
#pragma once
#include <cstdint>

#include "datasets/frame_cache.h"

namespace usbench::datasets {

// cls: 0 covid, 1 pneumonia, 2 regular (pocus_classes() order).
FrameBlock synthetic_clip(int cls, std::uint64_t seed, int frames, int size);

}  // namespace usbench::datasets
