// The synthetic data kind: embedded synthetic lung ultrasound (datasets/synthetic.h), clips_per_class clips
// of each POCUS class, generated, never decoded. Every table says the data are synthetic.
#include <fmt/format.h>

#include "datasets/clips.h"
#include "datasets/dataset_config.h"
#include "datasets/decode.h"
#include "harness/spec/json_reader.h"
#include "datasets/synthetic.h"
#include "harness/canonical.h"

namespace usbench::datasets {

namespace {
nlohmann::json resolve_synthetic(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  SyntheticConfig c;
  c.clips_per_class = o.optional<int>("clips_per_class", c.clips_per_class);
  // Bounds, refused at --plan with the allowed range: a typo of a few zeros must not reach the generator.
  if (c.clips_per_class < 2 || c.clips_per_class > 10000) o.fail("clips_per_class", "must be between 2 and 10000");
  c.frames_per_clip = o.optional<int>("frames_per_clip", c.frames_per_clip);
  if (c.frames_per_clip < 1 || c.frames_per_clip > 1000) o.fail("frames_per_clip", "must be between 1 and 1000");
  c.stored_size = read_stored_size(o, c.stored_size);
  c.seed = o.optional<std::int64_t>("seed", c.seed);
  // The generated set is held in memory at its stored size: at most 8 GiB of frames.
  const double bytes = 3.0 * c.clips_per_class * c.frames_per_clip * 3.0 * c.stored_size * c.stored_size;
  if (bytes > 8.0 * (1ull << 30))
    o.fail("clips_per_class",
           fmt::format("3 classes x {} clips x {} frames at {} px would be {:.1f} GiB of frames; at most 8 GiB "
                       "(fewer clips, frames or pixels)",
                       c.clips_per_class, c.frames_per_clip, c.stored_size, bytes / (1ull << 30)));
  o.finish();
  return {{"clips_per_class", c.clips_per_class},
          {"frames_per_clip", c.frames_per_clip},
          {"stored_size", c.stored_size},
          {"seed", c.seed}};
}

// The clips the config generates; a clip's content id is its generator's inputs hashed (the generator is
// deterministic: bump v1 with it).
Discovery discover_synthetic(const nlohmann::json& config) {
  const int per_class = config.at("clips_per_class").get<int>();
  const int frames = config.at("frames_per_clip").get<int>();
  const int stored = config.at("stored_size").get<int>();
  const auto seed = config.at("seed").get<std::int64_t>();
  Discovery d;
  for (int cls = 0; cls < 3; ++cls)
    for (int i = 0; i < per_class; ++i) {
      ClipSource c;
      c.clip_id = fmt::format("synthetic/{}_{:03d}", pocus_classes()[static_cast<std::size_t>(cls)], i);
      c.label = pocus_classes()[static_cast<std::size_t>(cls)];
      c.group = c.clip_id;
      c.kind = ClipKind::Generated;
      c.content_id = sha256_hex(fmt::format("usbench/synthetic/v1|{}|{}|{}|{}|{}", cls, seed, i, frames, stored));
      d.clips.push_back(std::move(c));
    }
  return d;
}

FrameBlock generate_synthetic(const ClipSource& clip, const nlohmann::json& config, int stored) {
  const int cls =
      static_cast<int>(std::find(pocus_classes().begin(), pocus_classes().end(), clip.label) - pocus_classes().begin());
  const auto seed = config.at("seed").get<std::int64_t>();
  const std::uint64_t clip_seed =
      std::stoull(clip.content_id.substr(0, 15), nullptr, 16) ^ static_cast<std::uint64_t>(seed);
  FrameBlock b = synthetic_clip(cls, clip_seed, config.at("frames_per_clip").get<int>(), stored);
  b.source_frames = b.frames;
  return b;
}
}  // namespace

DatasetInfo synthetic_kind() {
  DatasetInfo d;
  d.name = "synthetic";
  d.summary = "embedded synthetic lung ultrasound (A-lines / B-lines / consolidations)";
  d.resolve = resolve_synthetic;
  d.discover = discover_synthetic;
  d.sampling = [](const nlohmann::json&) { return SamplingRule{}; };  // every generated frame
  d.generate = generate_synthetic;
  d.table_name = "SYNTHETIC clips — shows the harness works, says nothing about ultrasound";
  d.synthetic = true;
  return d;
}

}  // namespace usbench::datasets
