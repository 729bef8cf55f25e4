#include "datasets/loader.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "harness/errors.h"

namespace usbench::datasets {

std::vector<std::int64_t> FrameSet::frames_of_clips(const std::vector<int>& clips) const {
  std::vector<std::int64_t> out;
  for (int c : clips)
    for (int i = 0; i < clip_frames[static_cast<std::size_t>(c)]; ++i)
      out.push_back(clip_first[static_cast<std::size_t>(c)] + i);
  return out;
}

FrameSet FrameSet::load(const DatasetRecord& dataset, const FrameCache& cache, const std::vector<std::string>& classes,
                        const std::vector<std::string>& clip_ids) {
  std::vector<const ClipRecord*> chosen;
  if (clip_ids.empty()) {
    for (const auto& c : dataset.clips) chosen.push_back(&c);
  } else {
    std::map<std::string, const ClipRecord*> by_id;
    for (const auto& c : dataset.clips) by_id[c.clip_id] = &c;
    for (const auto& id : clip_ids) {
      auto it = by_id.find(id);
      if (it == by_id.end()) throw UsageError("data set '" + dataset.name + "' has no clip '" + id + "'");
      chosen.push_back(it->second);
    }
  }
  FrameSet s;
  s.classes = classes;
  std::int64_t total = 0;
  for (const auto* c : chosen) total += c->n_frames;
  std::vector<FrameBlock> blocks;
  int h = 0, w = 0;
  for (const auto* c : chosen) {
    const auto key = nlohmann::json::parse(c->sampling).at("cache_key").get<std::string>();
    FrameBlock b;
    try {
      b = cache.get(key);
    } catch (const std::exception& e) {
      throw UsageError(std::string(e.what()) + " (clip '" + c->clip_id + "' of data set '" + dataset.name +
                       "'; run usbench ingest again to rebuild the cache)");
    }
    if (b.frames != c->n_frames || b.channels != 3)
      throw UsageError(cache.path_of(key) + ": frame cache entry does not match the manifest of clip '" + c->clip_id +
                       "'");
    if (h == 0) {
      h = b.height;
      w = b.width;
    } else if (b.height != h || b.width != w) {
      throw UsageError("data set '" + dataset.name + "': clips cached at different sizes");
    }
    std::int64_t label = -1;
    if (!c->label.empty()) {
      auto it = std::find(classes.begin(), classes.end(), c->label);
      if (it == classes.end())
        throw UsageError("clip '" + c->clip_id + "' has label '" + c->label + "', not one of the task's classes");
      label = it - classes.begin();
    }
    s.clip_first.push_back(static_cast<int>(s.clip_of.size()));
    s.clip_frames.push_back(b.frames);
    for (int i = 0; i < b.frames; ++i) {
      s.clip_of.push_back(static_cast<int>(s.clip_ids.size()));
      s.frame_in_clip.push_back(i);
      s.label_of.push_back(label);
    }
    s.clip_ids.push_back(c->clip_id);
    blocks.push_back(std::move(b));
  }
  s.frames = torch::empty({total, h, w, 3}, torch::kUInt8);
  auto* dst = s.frames.data_ptr<std::uint8_t>();
  for (const auto& b : blocks) {
    std::memcpy(dst, b.pixels.data(), b.pixels.size());
    dst += b.pixels.size();
  }
  return s;
}

FrameBatches FrameBatches::make(const FrameSet& set, std::vector<std::int64_t> frames, int batch_size, bool shuffle,
                                const AugmentConfig& augment, std::uint64_t seed, int epoch) {
  FrameBatches fb;
  fb.set = &set;
  fb.batch_size = batch_size;
  fb.augment = augment;
  fb.seed = seed;
  fb.epoch = epoch;
  if (shuffle) {
    Rng rng = Rng(seed).split(0x5EED0000ull + static_cast<std::uint64_t>(epoch));
    rng.shuffle(frames);
  }
  fb.order = std::move(frames);
  return fb;
}

int FrameBatches::num_batches() const {
  return static_cast<int>((order.size() + static_cast<std::size_t>(batch_size) - 1) /
                          static_cast<std::size_t>(batch_size));
}

std::vector<ImageParams> FrameBatches::params(int b) const {
  Rng rng = Rng(seed).split((static_cast<std::uint64_t>(epoch) << 32) + static_cast<std::uint64_t>(b) + 1);
  const auto begin = static_cast<std::size_t>(b) * static_cast<std::size_t>(batch_size);
  const auto end = std::min(order.size(), begin + static_cast<std::size_t>(batch_size));
  std::vector<ImageParams> out;
  const int h = static_cast<int>(set->frames.size(1)), w = static_cast<int>(set->frames.size(2));
  for (std::size_t i = begin; i < end; ++i) out.push_back(sample_params(rng, augment, h, w));
  return out;
}

Batch FrameBatches::raw(int b) const {
  const auto begin = static_cast<std::size_t>(b) * static_cast<std::size_t>(batch_size);
  const auto end = std::min(order.size(), begin + static_cast<std::size_t>(batch_size));
  Batch out;
  out.index = b;
  out.frames.assign(order.begin() + static_cast<std::ptrdiff_t>(begin),
                    order.begin() + static_cast<std::ptrdiff_t>(end));
  std::vector<std::int64_t> labels;
  for (auto f : out.frames) labels.push_back(set->label_of[static_cast<std::size_t>(f)]);
  out.images = set->frames.index_select(0, to_device(torch::tensor(out.frames, torch::kInt64), set->frames.device()));
  out.labels = torch::tensor(labels, torch::kInt64);
  return out;
}

Batch FrameBatches::augmented(int b) const {
  Batch out = raw(b);
  out.images = datasets::augment(out.images, params(b), augment);
  return out;
}

}  // namespace usbench::datasets
