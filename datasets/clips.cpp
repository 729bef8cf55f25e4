#include "datasets/clips.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <regex>

#include "datasets/csv.h"
#include "harness/errors.h"
#include "harness/input_file.h"
#include "harness/utf8.h"

namespace usbench::datasets {

namespace fs = std::filesystem;

const char* to_string(ClipKind k) {
  switch (k) {
    case ClipKind::Video:
      return "video";
    case ClipKind::FrameFolder:
      return "frames";
    case ClipKind::Image:
      return "image";
    case ClipKind::Generated:
      return "generated";
  }
  return "?";
}

namespace {
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string ext_of(const fs::path& p) { return lower(p.extension().string()); }
bool hidden(const fs::path& p) { return !p.filename().empty() && p.filename().string()[0] == '.'; }

// Sorted directory entries (names), hidden ones dropped; UsageError when the folder is missing.
bool valid_utf8(const std::string& s) { return invalid_utf8_at(s) == std::string::npos; }

std::vector<fs::path> entries(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UsageError(escape_invalid_utf8(dir.string()) + ": no such folder");
  // Clip paths are stored as UTF-8 text (README Design §3): a folder (or working folder) whose name is not is
  // refused by name before anything is decoded.
  const auto absolute = fs::absolute(dir, ec).string();
  if (const auto at = invalid_utf8_at(absolute); at != std::string::npos)
    throw UsageError(escape_invalid_utf8(absolute) + ": folder path is not valid UTF-8 (byte " + std::to_string(at) +
                     "); the store keeps clip paths as UTF-8 text: rename the folder");
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!hidden(e.path())) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    return natural_less(a.filename().string(), b.filename().string());
  });
  return out;
}

// Classifies one entry as a clip kind, or records a problem. Returns false if it is not a clip.
bool clip_kind(const fs::path& p, ClipKind& kind, Discovery& d) {
  std::error_code ec;
  // The store keeps file names as UTF-8 text: a name that is not is refused by name, never mangled.
  if (!valid_utf8(p.filename().string())) {
    d.problems.push_back({p.string(), "file name is not valid UTF-8; rename it"});
    return false;
  }
  if (fs::is_directory(p, ec)) {
    std::vector<std::string> frames;
    try {
      frames = frame_files(p.string());
    } catch (const fs::filesystem_error& e) {
      d.problems.push_back({p.string(), "frame folder cannot be listed (" + e.code().message() + ")"});
      return false;
    }
    if (frames.empty()) {
      d.problems.push_back({p.string(), "empty folder: no frame images in it"});
      return false;
    }
    kind = ClipKind::FrameFolder;
    return true;
  }
  if (!fs::exists(p, ec)) {
    d.problems.push_back({p.string(), "unreadable: dangling link or vanished file"});
    return false;
  }
  // A FIFO would block the decoder forever and /dev/zero (say, behind a link) never ends.
  if (const auto what = describe_non_regular(p.string()); !what.empty()) {
    d.problems.push_back({p.string(), "not a regular file: this is " + what});
    return false;
  }
  const auto ext = ext_of(p);
  if (is_video_extension(ext)) {
    kind = ClipKind::Video;
    return true;
  }
  if (is_image_extension(ext)) {
    kind = ClipKind::Image;
    return true;
  }
  d.problems.push_back({p.string(), "not a video, image or frame folder (extension '" + ext + "')"});
  return false;
}

std::string rel(const fs::path& p, const fs::path& root) { return p.lexically_relative(root).generic_string(); }
}  // namespace

bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      std::string x = a.substr(i, i2 - i), y = b.substr(j, j2 - j);
      x.erase(0, std::min(x.find_first_not_of('0'), x.size()));
      y.erase(0, std::min(y.find_first_not_of('0'), y.size()));
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;  // equal under natural order ("01" vs "1"): fall back to bytes for a total order
}

bool is_video_extension(const std::string& e) {
  static const std::vector<std::string> kExt = {".mp4", ".mov",  ".avi", ".mpeg", ".mpg", ".gif",
                                                ".mkv", ".webm", ".m4v", ".wmv",  ".ogv"};
  return std::find(kExt.begin(), kExt.end(), e) != kExt.end();
}

bool is_image_extension(const std::string& e) {
  static const std::vector<std::string> kExt = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"};
  return std::find(kExt.begin(), kExt.end(), e) != kExt.end();
}

std::vector<std::string> frame_files(const std::string& folder) {
  std::vector<std::string> out;
  for (const auto& p : entries(folder))
    if (fs::is_regular_file(p) && is_image_extension(ext_of(p))) out.push_back(p.string());
  return out;
}

const std::vector<std::string>& pocus_classes() {
  static const std::vector<std::string> kClasses = {"covid", "pneumonia", "regular"};
  return kClasses;
}

Discovery discover_pocus(const nlohmann::json& config) {
  const fs::path src = config.at("src").get<std::string>();
  const std::string probe = config.at("probe").get<std::string>();
  const bool images = config.at("include_images").get<bool>();
  std::error_code ec;
  if (!fs::is_directory(src, ec)) throw UsageError(src.string() + ": POCUS data folder not found");
  if (!fs::is_directory(src / "pocus_videos", ec))
    throw UsageError(src.string() + ": not a POCUS data folder (no pocus_videos/ inside)");

  Discovery d;
  std::vector<std::string> probes;
  for (const char* p : {"convex", "linear"}) {
    const bool present = fs::is_directory(src / "pocus_videos" / p, ec);
    if (probe == "both" || probe == p)
      probes.push_back(p);
    else if (present)  // a folder this copy lacks is not "left out"
      d.skipped.push_back({(src / "pocus_videos" / p).string(), "probe '" + std::string(p) + "' not selected"});
  }
  std::vector<fs::path> roots;
  for (const auto& p : probes) {
    roots.push_back(src / "pocus_videos" / p);
    if (images && fs::is_directory(src / "pocus_images" / p, ec)) roots.push_back(src / "pocus_images" / p);
  }
  for (const auto& root : roots) {
    if (!fs::is_directory(root, ec)) continue;  // a copy may lack linear/ or pocus_images/
    for (const auto& p : entries(root)) {
      ClipKind kind;
      const std::string name = p.filename().string();
      const std::string lname = lower(name);
      std::string label;
      if (lname.rfind("cov", 0) == 0)
        label = "covid";
      else if (lname.rfind("pneu", 0) == 0)
        label = "pneumonia";
      else if (lname.rfind("reg", 0) == 0)
        label = "regular";
      else if (lname.rfind("vir", 0) == 0) {
        d.skipped.push_back({p.string(), "class Vir (other viral pneumonia) is not part of the 3-class task"});
        continue;
      } else {
        d.problems.push_back({p.string(), "unknown class prefix (expected Cov, Pneu, Reg or Vir)"});
        continue;
      }
      if (!clip_kind(p, kind, d)) continue;
      const std::string id = rel(p, src);
      d.clips.push_back({id, p.string(), kind, label, id});
    }
  }
  std::sort(d.clips.begin(), d.clips.end(), [](const auto& a, const auto& b) { return a.clip_id < b.clip_id; });
  return d;
}

namespace {
// "05" and "5" name the same patient; other keys are compared as written.
std::string canonical_key(const std::string& k) {
  if (k.empty() || k.find_first_not_of("0123456789") != std::string::npos) return k;
  const auto nz = k.find_first_not_of('0');
  return nz == std::string::npos ? "0" : k.substr(nz);
}
}  // namespace

Discovery discover_videos(const nlohmann::json& config) {
  const fs::path src = config.at("src").get<std::string>();
  const std::string csv = config.at("labels_csv").get<std::string>();
  const std::string group_regex = config.at("group_regex").get<std::string>();
  std::map<std::string, std::string> labels;  // group key -> label
  if (!csv.empty()) {
    const CsvTable t = read_csv(csv);
    const auto key = t.column(config.at("key_column").get<std::string>(), csv);
    const auto lab = t.column(config.at("label_column").get<std::string>(), csv);
    if (t.rows.empty()) throw UsageError(csv + ": no rows under the header, so no clip would get a label");
    for (const auto& row : t.rows) {
      // Keys are compared as trimmed text, and a key of digits also by value ("05" is patient 5), as
      // spreadsheets pad and strip numbers at will.
      const std::string k = canonical_key(trim(row[key])), l = trim(row[lab]);
      if (l.empty()) continue;  // an unlabelled row leaves the group unlabelled
      auto [it, fresh] = labels.emplace(k, l);
      if (!fresh && it->second != l)
        throw UsageError(csv + ": key '" + k + "' has two labels ('" + it->second + "' and '" + l + "')");
    }
  }
  const std::regex re(group_regex.empty() ? "(.*)" : group_regex);
  Discovery d;
  for (const auto& p : entries(src)) {
    ClipKind kind;
    if (!clip_kind(p, kind, d)) continue;
    const std::string id = rel(p, src);
    std::string group = id;
    if (!group_regex.empty()) {
      std::smatch m;
      const std::string name = p.filename().string();
      if (!std::regex_search(name, m, re) || m.size() < 2) {
        d.problems.push_back({p.string(), "file name does not match group_regex '" + group_regex + "'"});
        continue;
      }
      group = m[1].str();
    }
    std::string label;
    if (!csv.empty()) {
      auto it = labels.find(canonical_key(group));
      if (it != labels.end())
        label = it->second;
      else
        d.unlabelled.push_back(id);
    }
    d.clips.push_back({id, p.string(), kind, label, group});
  }
  if (d.clips.empty() && d.problems.empty()) d.problems.push_back({src.string(), "empty folder: no clips in it"});
  if (!csv.empty() && !d.clips.empty() && d.unlabelled.size() == d.clips.size())
    throw UsageError(csv + ": no clip got a label: none of the " + std::to_string(d.clips.size()) +
                     " clips' group keys (e.g. '" + d.clips.front().group + "') is a key in column '" +
                     config.at("key_column").get<std::string>() + "'");
  std::sort(d.clips.begin(), d.clips.end(), [](const auto& a, const auto& b) { return a.clip_id < b.clip_id; });
  return d;
}

}  // namespace usbench::datasets
