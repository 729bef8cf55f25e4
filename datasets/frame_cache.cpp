#include "datasets/frame_cache.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "harness/canonical.h"

namespace usbench::datasets {

namespace fs = std::filesystem;

namespace {
constexpr char kMagic[8] = {'U', 'S', 'B', 'F', 'R', 'M', '0', '2'};

FrameBlock read_block(const std::string& path, bool with_pixels) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": frame cache entry missing");
  char magic[8];
  std::int32_t dims[4];
  in.read(magic, 8);
  in.read(reinterpret_cast<char*>(dims), sizeof dims);
  std::int32_t source_frames = 0;
  double source_fps = 0;
  in.read(reinterpret_cast<char*>(&source_frames), sizeof source_frames);
  in.read(reinterpret_cast<char*>(&source_fps), sizeof source_fps);
  if (!in || std::memcmp(magic, kMagic, 8) != 0) throw std::runtime_error(path + ": not a usbench frame cache entry");
  FrameBlock b;
  b.frames = dims[0];
  b.height = dims[1];
  b.width = dims[2];
  b.channels = dims[3];
  b.source_frames = source_frames;
  b.source_fps = source_fps;
  if (b.frames < 1 || b.height < 1 || b.width < 1 || (b.channels != 1 && b.channels != 3))
    throw std::runtime_error(path + ": corrupt frame cache header");
  b.source_index.resize(static_cast<std::size_t>(b.frames));
  in.read(reinterpret_cast<char*>(b.source_index.data()), static_cast<std::streamsize>(4 * b.source_index.size()));
  if (with_pixels) {
    b.pixels.resize(b.frame_bytes() * static_cast<std::size_t>(b.frames));
    in.read(reinterpret_cast<char*>(b.pixels.data()), static_cast<std::streamsize>(b.pixels.size()));
  }
  if (!in) throw std::runtime_error(path + ": truncated frame cache entry");
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
  fs::create_directories(final_path.parent_path());
  const std::string tmp = final_path.string() + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    const std::int32_t dims[4] = {b.frames, b.height, b.width, b.channels};
    out.write(kMagic, 8);
    out.write(reinterpret_cast<const char*>(dims), sizeof dims);
    const std::int32_t source_frames = b.source_frames;
    out.write(reinterpret_cast<const char*>(&source_frames), sizeof source_frames);
    out.write(reinterpret_cast<const char*>(&b.source_fps), sizeof b.source_fps);
    out.write(reinterpret_cast<const char*>(b.source_index.data()), static_cast<std::streamsize>(4 * b.source_index.size()));
    out.write(reinterpret_cast<const char*>(b.pixels.data()), static_cast<std::streamsize>(b.pixels.size()));
    if (!out) throw std::runtime_error(tmp + ": cannot write frame cache entry (disk full?)");
  }
  fs::rename(tmp, final_path);
}

FrameBlock FrameCache::get(const std::string& key) const { return read_block(path_of(key), true); }
FrameBlock FrameCache::header(const std::string& key) const { return read_block(path_of(key), false); }

}  // namespace usbench::datasets
