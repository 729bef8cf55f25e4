#include "datasets/frame_cache.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "harness/canonical.h"
#include "harness/errors.h"
#include "harness/output_file.h"

namespace usbench::datasets {

namespace fs = std::filesystem;

namespace {
constexpr char kMagic[8] = {'U', 'S', 'B', 'F', 'R', 'M', '0', '3'};
constexpr std::size_t kHeaderBytes = 8 + 16 + 4 + 8;  // magic, dims, source frame count, source fps
constexpr std::size_t kDigestBytes = 32;              // SHA-256 of everything before it

std::string hex_to_bytes(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// Reads and verifies a whole entry: magic, header, size, then the checksum over all of it.
FrameBlock read_block(const std::string& path, bool with_pixels) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": frame cache entry missing");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error(path + ": read error in frame cache entry");
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw std::runtime_error(path + ": not a usbench frame cache entry (or one of an older format)");
  std::int32_t dims[4];
  std::memcpy(dims, bytes.data() + 8, sizeof dims);
  FrameBlock b;
  b.frames = dims[0];
  b.height = dims[1];
  b.width = dims[2];
  b.channels = dims[3];
  std::int32_t source_frames = 0;
  std::memcpy(&source_frames, bytes.data() + 24, 4);
  std::memcpy(&b.source_fps, bytes.data() + 28, 8);
  b.source_frames = source_frames;
  if (b.frames < 1 || b.height < 1 || b.width < 1 || b.height > 8192 || b.width > 8192 ||
      (b.channels != 1 && b.channels != 3))
    throw std::runtime_error(path + ": corrupt frame cache header");
  const std::size_t index_bytes = 4 * static_cast<std::size_t>(b.frames);
  const std::size_t pixel_bytes = b.frame_bytes() * static_cast<std::size_t>(b.frames);
  if (bytes.size() != kHeaderBytes + index_bytes + pixel_bytes + kDigestBytes)
    throw std::runtime_error(path + ": truncated frame cache entry (" + std::to_string(bytes.size()) +
                             " bytes, header says " +
                             std::to_string(kHeaderBytes + index_bytes + pixel_bytes + kDigestBytes) + ")");
  const std::size_t body = bytes.size() - kDigestBytes;
  if (hex_to_bytes(sha256_hex(bytes.substr(0, body))) != bytes.substr(body))
    throw std::runtime_error(path + ": frame cache entry fails its checksum (the file changed after it was written)");
  b.source_index.resize(static_cast<std::size_t>(b.frames));
  std::memcpy(b.source_index.data(), bytes.data() + kHeaderBytes, index_bytes);
  if (with_pixels)
    b.pixels.assign(bytes.begin() + static_cast<std::ptrdiff_t>(kHeaderBytes + index_bytes),
                    bytes.begin() + static_cast<std::ptrdiff_t>(body));
  return b;
}
}  // namespace

FrameCache::FrameCache(std::string dir) : dir_(std::move(dir)) {}

std::string FrameCache::key(const std::string& clip_sha256, const std::string& sampling, int stored_size) {
  return sha256_hex("usbench/frames/v1|" + clip_sha256 + "|" + sampling + "|" + std::to_string(stored_size));
}

std::string FrameCache::path_of(const std::string& key) const {
  return (fs::path(dir_) / key.substr(0, 2) / (key + ".frames")).string();
}

bool FrameCache::contains(const std::string& key) const {
  std::error_code ec;
  return fs::is_regular_file(path_of(key), ec);
}

void FrameCache::put(const std::string& key, const FrameBlock& b) const {
  if (b.pixels.size() != b.frame_bytes() * static_cast<std::size_t>(b.frames) ||
      b.source_index.size() != static_cast<std::size_t>(b.frames))
    throw std::logic_error("FrameCache::put: inconsistent frame block");
  const fs::path final_path = path_of(key);
  std::error_code ec;
  fs::create_directories(final_path.parent_path(), ec);
  if (ec)
    throw UsageError(dir_ + ": cannot write the frame cache here (" + ec.message() + " creating " +
                     final_path.parent_path().string() +
                     "); pass --cache DIR or set USBENCH_CACHE to a writable folder");
  std::string bytes(kMagic, 8);
  auto append = [&bytes](const void* p, std::size_t n) { bytes.append(static_cast<const char*>(p), n); };
  const std::int32_t dims[4] = {b.frames, b.height, b.width, b.channels};
  append(dims, sizeof dims);
  const std::int32_t source_frames = b.source_frames;
  append(&source_frames, sizeof source_frames);
  append(&b.source_fps, sizeof b.source_fps);
  append(b.source_index.data(), 4 * b.source_index.size());
  append(b.pixels.data(), b.pixels.size());
  bytes += hex_to_bytes(sha256_hex(bytes));
  write_file_atomically(final_path.string(), bytes);  // per-process temporary, checked writes, rename
}

FrameBlock FrameCache::get(const std::string& key) const { return read_block(path_of(key), true); }
FrameBlock FrameCache::header(const std::string& key) const { return read_block(path_of(key), false); }

}  // namespace usbench::datasets
