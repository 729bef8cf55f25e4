// The videos data kind: any folder of clips (COVID-BLUES, a user's own videos), labelled from an optional
// CSV by a group key taken from the file name; every k-th frame. Discovery: datasets/clips.cpp.
#include <regex>

#include "datasets/clips.h"
#include "datasets/dataset_config.h"
#include "datasets/decode.h"
#include "harness/spec/json_reader.h"

namespace usbench::datasets {

namespace {
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
  if (c.every_kth < 1 || c.every_kth > 100000) o.fail("every_kth", "must be between 1 and 100000");
  c.max_frames = o.optional<int>("max_frames", c.max_frames);
  if (c.max_frames < 0 || c.max_frames > 100000) o.fail("max_frames", "must be between 0 (all frames) and 100000");
  c.stored_size = read_stored_size(o, c.stored_size);
  o.finish();
  return {{"src", c.src},
          {"labels_csv", c.labels_csv},
          {"key_column", c.key_column},
          {"label_column", c.label_column},
          {"group_regex", c.group_regex},
          {"every_kth", c.every_kth},
          {"max_frames", c.max_frames},
          {"stored_size", c.stored_size}};
}

}  // namespace

DatasetInfo videos_kind() {
  DatasetInfo d;
  d.name = "videos";
  d.summary = "a folder of clips (videos, frame folders, images), labels from an optional CSV";
  d.resolve = resolve_videos;
  d.discover = discover_videos;
  d.sampling = [](const nlohmann::json& config) {
    SamplingRule r;
    r.every_kth = config.at("every_kth").get<int>();
    r.max_frames = config.at("max_frames").get<int>();
    return r;
  };
  return d;
}

}  // namespace usbench::datasets
