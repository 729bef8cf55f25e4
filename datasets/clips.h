// Clip discovery: turning a data folder into a list of clips (README Design §3). A clip is a video file, a
// folder of frame images, or one still image; clips are the unit of grouping for folds.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace usbench::datasets {

enum class ClipKind { Video, FrameFolder, Image, Generated };
const char* to_string(ClipKind k);

struct ClipSource {
  std::string clip_id;  // path relative to the data set's src, '/'-separated; unique within the data set
  std::string path;     // absolute or as given
  ClipKind kind = ClipKind::Video;
  std::string label;  // class name, or "" when unlabelled
  std::string group;  // grouping key for folds (defaults to clip_id)
  // Generated clips (no file): the content id the data kind gives them (their generator's inputs hashed);
  // "" for clips read from files, whose content is hashed (clip_sha256).
  std::string content_id;
};

// A file or folder left out, and why (e.g. "class Vir is not part of the 3-class task").
struct Skipped {
  std::string path;
  std::string reason;
};

struct Discovery {
  std::vector<ClipSource> clips;        // sorted by clip_id
  std::vector<Skipped> skipped;         // expected exclusions (other probe, class outside the task), listed
  std::vector<std::string> unlabelled;  // clips whose group has no row in the label file (reported)
  std::vector<Skipped> problems;        // bad input (unknown prefix, non-media file, empty folder, ...): an
                                        // error unless the user asked to skip bad clips
};

bool is_video_extension(const std::string& ext_lower);
bool is_image_extension(const std::string& ext_lower);

// Image files of a frame folder in natural order ("frame2" before "frame10"); hidden files ignored.
std::vector<std::string> frame_files(const std::string& folder);

// Natural ("human") ordering: digit runs compare by value.
bool natural_less(const std::string& a, const std::string& b);

// The 3-class POCUS task's class names, in label-index order.
const std::vector<std::string>& pocus_classes();  // covid, pneumonia, regular

// POCUS layout under `src` (resolved "pocus" config). Class from the file-name prefix, case-insensitive:
// Cov -> covid, Pneu -> pneumonia, Reg -> regular; Vir is skipped (not in the 3-class task). Unknown
// prefixes, non-media files and empty frame folders become `problems`. A missing src is a UsageError.
Discovery discover_pocus(const nlohmann::json& config);

// Every clip under `src` (resolved "videos" config), labelled from the CSV when one is given.
Discovery discover_videos(const nlohmann::json& config);

}  // namespace usbench::datasets
