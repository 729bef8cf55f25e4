// The content-keyed frame cache (README Design §3): decoded, resized RGB frames of one clip per file, keyed by
// SHA-256(clip content hash, sampling rule, stored size, format version). Training reads only this
// cache and never decodes video.
//
// File format (little-endian): "USBFRM03", int32 frames, height, width, channels, int32 source frame
// count, float64 source fps, int32 source index per frame, then frames x height x width x channels uint8
// pixels (RGB, row-major, HWC), then the raw 32-byte SHA-256 of everything before it. Every read
// verifies size and checksum, so a bit-flipped or truncated entry is never used: ingest re-decodes it
// from its source clip, and the loader refuses it by name. (Entries of the older "USBFRM02" format fail
// the check and are rebuilt the same way.)
// Size: stored_size^2 x 3 bytes per frame (150,528 B at 224 px,
// 12,288 B at 64 px) plus 36 + 4 x frames bytes of header and 32 of checksum.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace usbench::datasets {

struct FrameBlock {
  int frames = 0, height = 0, width = 0, channels = 3;
  int source_frames = 0;             // frames in the source clip (as far as decoding went)
  double source_fps = 0;             // 0 when unknown (frame folders, images, generated clips)
  std::vector<int> source_index;     // index of each frame in the source clip
  std::vector<std::uint8_t> pixels;  // frames x height x width x channels
  std::size_t frame_bytes() const { return static_cast<std::size_t>(height) * width * channels; }
  const std::uint8_t* frame(int i) const { return pixels.data() + frame_bytes() * static_cast<std::size_t>(i); }
};

class FrameCache {
 public:
  explicit FrameCache(std::string dir);
  const std::string& dir() const { return dir_; }

  static std::string key(const std::string& clip_sha256, const std::string& sampling, int stored_size);
  std::string path_of(const std::string& key) const;
  bool contains(const std::string& key) const;
  // Writes atomically (temporary file + rename), so a killed ingest never leaves a torn entry. A cache
  // folder that cannot be created or written (permissions, a read-only mount, a full disk) is a
  // UsageError naming the folder and the reason.
  void put(const std::string& key, const FrameBlock& block) const;
  // Throws std::runtime_error naming the file when it is missing, truncated, fails its checksum or is
  // not a cache entry.
  FrameBlock get(const std::string& key) const;
  // get() without keeping the pixels (still read and verified).
  FrameBlock header(const std::string& key) const;

 private:
  std::string dir_;
};

}  // namespace usbench::datasets
