#include "datasets/decode.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "harness/canonical.h"
#include "harness/errors.h"

namespace usbench::datasets {

namespace fs = std::filesystem;

std::string SamplingRule::describe() const {
  if (fps > 0) return fmt::format("fps={}:max={}", fps, max_frames);
  return fmt::format("every={}:max={}", every_kth, max_frames);
}

std::string frame_geometry_problem(int width, int height) {
  if (width < kMinFrameSide || height < kMinFrameSide)
    return fmt::format(
        "a {}x{} frame: frames smaller than {} px on a side are not training data (refused, not upscaled)", width,
        height, kMinFrameSide);
  const double aspect = static_cast<double>(std::max(width, height)) / std::min(width, height);
  if (aspect > kMaxFrameAspect)
    return fmt::format("a {}x{} frame: more elongated than {}:1 (refused, not stretched)", width, height,
                       kMaxFrameAspect);
  return "";
}

void require_nonempty_file(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw ClipError(path, "unreadable (" + ec.message() + ")");
  if (size == 0) throw ClipError(path, "empty file (0 bytes)");
}

std::string clip_sha256(const ClipSource& clip) {
  try {
    if (clip.kind != ClipKind::FrameFolder) return sha256_file(clip.path);
    std::string listing;
    for (const auto& f : frame_files(clip.path))
      listing += fs::path(f).filename().string() + "\t" + sha256_file(f) + "\n";
    return sha256_hex(listing);
  } catch (const UsageError& e) {
    throw ClipError(clip.path, "unreadable");
  }
}

}  // namespace usbench::datasets
