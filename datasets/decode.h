// Decoding clips (videos, frame folders, still images) into sampled, resized RGB frames with OpenCV.
// Used only by ingest (and embed's image reader); training reads the frame cache. A build without
// OpenCV (-DUSBENCH_WITH_OPENCV=OFF) links decode_unavailable.cpp instead of decode_opencv.cpp: there
// decode_clip and load_image_rgb throw UsageError naming the option.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "datasets/clips.h"
#include "datasets/frame_cache.h"

namespace usbench::datasets {

// Which frames of a clip are kept.
struct SamplingRule {
  double fps = 0;      // > 0: keep every floor(source_fps / fps)-th frame (the POCUS convention, 3 fps)
  int every_kth = 1;   // used when fps == 0: keep every k-th frame
  int max_frames = 0;  // 0 = no limit
  // Canonical description, part of the frame cache key and of the manifest.
  std::string describe() const;
};

// A clip that cannot be used: the message names the file and the reason.
class ClipError : public std::runtime_error {
 public:
  ClipError(const std::string& path, const std::string& reason)
      : std::runtime_error(path + ": " + reason), path_(path), reason_(reason) {}
  const std::string& path() const { return path_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string path_, reason_;
};

// The smallest source frame usbench will scale into training data, and its most elongated shape: a frame
// narrower than kMinFrameSide pixels on either side, or whose long side is more than kMaxFrameAspect times
// its short side, is bad input (a thumbnail, a 1x1 tracking pixel, a strip), never upscaled. POCUS's
// smallest frames are 139 px and its most elongated 1.22:1 (README "Data").
inline constexpr int kMinFrameSide = 32;
inline constexpr double kMaxFrameAspect = 4.0;

// "" when a width x height frame is usable, else why not (the sizes and the limit).
std::string frame_geometry_problem(int width, int height);

// Frames at stored_size x stored_size RGB, with source_fps (0 when unknown) and source_frames (frames
// seen in the source: read to the end, or the container's count). Throws ClipError for zero-byte,
// unreadable, non-media, truncated or frameless input, and for a frame frame_geometry_problem refuses.
FrameBlock decode_clip(const ClipSource& clip, const SamplingRule& rule, int stored_size);

// An image file as RGB uint8 [size, size, 3], row-major, resized bilinearly when it is not size x size
// (embed's transform). Throws UsageError naming the file when it cannot be decoded or frame_geometry_problem
// refuses its size.
std::vector<std::uint8_t> load_image_rgb(const std::string& path, int size);

// Throws ClipError for a file that cannot be read or has 0 bytes (the first check of every decode, with
// or without OpenCV, so an empty clip is named as such in every build).
void require_nonempty_file(const std::string& path);

// Whether this build can decode media, and the OpenCV version it uses ("" without OpenCV).
bool media_decoding_available();
std::string opencv_version();

// Content hash of a clip: the file's SHA-256, or for a frame folder the SHA-256 over each frame file's
// name and hash in natural order. Throws ClipError when unreadable.
std::string clip_sha256(const ClipSource& clip);

}  // namespace usbench::datasets
