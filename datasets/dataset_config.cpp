#include "datasets/dataset_config.h"

#include <regex>

#include "harness/spec/json_reader.h"

namespace usbench::datasets {

namespace {

int read_stored_size(JsonObject& o, int fallback) {
  const int s = o.optional<int>("stored_size", fallback);
  if (s < 16 || s > 1024) o.fail("stored_size", "must be between 16 and 1024 pixels");
  return s;
}

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
  if (!(c.frames_per_second > 0)) o.fail("frames_per_second", "must be > 0");
  c.max_frames = o.optional<int>("max_frames", c.max_frames);
  if (c.max_frames < 1) o.fail("max_frames", "must be >= 1");
  c.stored_size = read_stored_size(o, c.stored_size);
  o.finish();
  return {{"src", c.src},
          {"probe", c.probe},
          {"include_images", c.include_images},
          {"frames_per_second", c.frames_per_second},
          {"max_frames", c.max_frames},
          {"stored_size", c.stored_size}};
}

nlohmann::json resolve_videos(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  VideosConfig c;
  c.src = o.required<std::string>("src");
  if (c.src.empty()) o.fail("src", "must name a folder of clips");
  c.labels_csv = o.optional<std::string>("labels_csv", "");
  c.key_column = o.optional<std::string>("key_column", "");
  c.label_column = o.optional<std::string>("label_column", "");
  if (!c.labels_csv.empty() && (c.key_column.empty() || c.label_column.empty()))
    o.fail(c.key_column.empty() ? "key_column" : "label_column", "is required when labels_csv is given");
  c.group_regex = o.optional<std::string>("group_regex", "");
  try {
    std::regex re(c.group_regex);
    if (!c.group_regex.empty() && re.mark_count() < 1) o.fail("group_regex", "needs one capture group (the group key)");
  } catch (const std::regex_error& e) {
    o.fail("group_regex", std::string("is not a valid regular expression: ") + e.what());
  }
  c.every_kth = o.optional<int>("every_kth", c.every_kth);
  if (c.every_kth < 1) o.fail("every_kth", "must be >= 1");
  c.max_frames = o.optional<int>("max_frames", c.max_frames);
  if (c.max_frames < 0) o.fail("max_frames", "must be >= 0 (0 = all frames)");
  c.stored_size = read_stored_size(o, c.stored_size);
  o.finish();
  return {{"src", c.src},           {"labels_csv", c.labels_csv},   {"key_column", c.key_column},
          {"label_column", c.label_column}, {"group_regex", c.group_regex}, {"every_kth", c.every_kth},
          {"max_frames", c.max_frames}, {"stored_size", c.stored_size}};
}

nlohmann::json resolve_synthetic(const nlohmann::json& user, const std::string& origin, const std::string& path) {
  JsonObject o(user, origin, path);
  SyntheticConfig c;
  c.clips_per_class = o.optional<int>("clips_per_class", c.clips_per_class);
  if (c.clips_per_class < 2) o.fail("clips_per_class", "must be >= 2");
  c.frames_per_clip = o.optional<int>("frames_per_clip", c.frames_per_clip);
  if (c.frames_per_clip < 1 || c.frames_per_clip > 1000) o.fail("frames_per_clip", "must be between 1 and 1000");
  c.stored_size = read_stored_size(o, c.stored_size);
  c.seed = o.optional<std::int64_t>("seed", c.seed);
  o.finish();
  return {{"clips_per_class", c.clips_per_class},
          {"frames_per_clip", c.frames_per_clip},
          {"stored_size", c.stored_size},
          {"seed", c.seed}};
}

DatasetInfo make(std::string name, std::string summary, ConfigResolver resolve) {
  DatasetInfo d;
  d.name = std::move(name);
  d.version = 1;
  d.summary = std::move(summary);
  d.resolve = std::move(resolve);
  return d;
}

}  // namespace

void register_datasets(Registry<DatasetInfo>& registry) {
  registry.add(make("pocus", "POCUS lung ultrasound (COVID-19 / pneumonia / regular), class from file-name prefix",
                    resolve_pocus));
  registry.add(make("videos", "a folder of clips (videos, frame folders, images), labels from an optional CSV",
                    resolve_videos));
  registry.add(make("synthetic", "embedded synthetic lung ultrasound (A-lines / B-lines / consolidations)",
                    resolve_synthetic));
}

}  // namespace usbench::datasets
