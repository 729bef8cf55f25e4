// The pocus data kind: the POCUS layout (pocus_videos/, pocus_images/; class from the file-name prefix),
// sampled the upstream way (about 3 frames per second, at most 30 per clip). Discovery: datasets/clips.cpp.
#include "datasets/clips.h"
#include "datasets/dataset_config.h"
#include "datasets/decode.h"
#include "harness/spec/json_reader.h"

namespace usbench::datasets {

namespace {
nlohmann::json resolve_pocus(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  PocusConfig c;
  c.src = o.required<std::string>("src");
  if (c.src.empty()) o.fail("src", "must name the POCUS data folder");
  c.probe = o.optional<std::string>("probe", c.probe);
  if (c.probe != "convex" && c.probe != "linear" && c.probe != "both")
    o.fail("probe", "must be \"convex\", \"linear\" or \"both\", got \"" + c.probe + "\"");
  c.include_images = o.optional<bool>("include_images", c.include_images);
  c.frames_per_second = o.optional<double>("frames_per_second", c.frames_per_second);
  if (!(c.frames_per_second > 0 && c.frames_per_second <= 1000))
    o.fail("frames_per_second", "must be > 0 and at most 1000");
  c.max_frames = o.optional<int>("max_frames", c.max_frames);
  if (c.max_frames < 1 || c.max_frames > 100000) o.fail("max_frames", "must be between 1 and 100000");
  c.stored_size = read_stored_size(o, c.stored_size);
  o.finish();
  return {{"src", c.src},
          {"probe", c.probe},
          {"include_images", c.include_images},
          {"frames_per_second", c.frames_per_second},
          {"max_frames", c.max_frames},
          {"stored_size", c.stored_size}};
}

}  // namespace

DatasetInfo pocus_kind() {
  DatasetInfo d;
  d.name = "pocus";
  d.summary = "POCUS lung ultrasound (COVID-19 / pneumonia / regular), class from file-name prefix";
  d.resolve = resolve_pocus;
  d.discover = discover_pocus;
  d.sampling = [](const nlohmann::json& config) {
    SamplingRule r;
    r.fps = config.at("frames_per_second").get<double>();
    r.max_frames = config.at("max_frames").get<int>();
    return r;
  };
  d.table_name = "POCUS (public subset)";
  return d;
}

}  // namespace usbench::datasets
