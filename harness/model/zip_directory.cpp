#include "harness/model/zip_directory.h"

#include <array>
#include <cstdio>

#include <algorithm>
#include <fstream>

namespace usbench {

namespace {

std::uint64_t le(const std::string& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

class File {
 public:
  explicit File(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw UsageError(path + ": cannot open the weights file");
    in_.seekg(0, std::ios::end);
    size_ = static_cast<std::uint64_t>(in_.tellg());
  }
  std::uint64_t size() const { return size_; }
  // Exactly `n` bytes at `offset`, or UsageError naming what was being read.
  std::string read(std::uint64_t offset, std::uint64_t n, const std::string& what) {
    if (offset > size_ || n > size_ - offset)
      throw UsageError(path_ + ": damaged ZIP archive (" + what + " runs past the end of the file)");
    std::string b(static_cast<std::size_t>(n), '\0');
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(b.data(), static_cast<std::streamsize>(n));
    if (!in_) throw UsageError(path_ + ": cannot read " + what);
    return b;
  }

 private:
  std::string path_;
  std::ifstream in_;
  std::uint64_t size_ = 0;
};

}  // namespace

std::vector<ZipMember> read_zip_directory(const std::string& path) {
  File f(path);
  // End of central directory: 22 bytes plus a comment of at most 65535, at the end of the file.
  const std::uint64_t tail_len = std::min<std::uint64_t>(f.size(), 22 + 65535);
  if (tail_len < 22) throw NotZipArchive(path + ": not a ZIP archive (too short)");
  const std::string tail = f.read(f.size() - tail_len, tail_len, "the end of the archive");
  std::size_t eocd = std::string::npos;
  for (std::size_t i = tail.size() - 22 + 1; i-- > 0;)
    if (le(tail, i, 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) throw NotZipArchive(path + ": not a ZIP archive (no end-of-central-directory record)");
  std::uint64_t entries = le(tail, eocd + 10, 2), cd_size = le(tail, eocd + 12, 4), cd_offset = le(tail, eocd + 16, 4);
  const std::uint64_t eocd_pos = f.size() - tail_len + eocd;
  if (eocd_pos >= 20) {
    // A ZIP64 locator right before it points at the ZIP64 record with the 64-bit counts.
    const std::string loc = f.read(eocd_pos - 20, 20, "the ZIP64 locator");
    if (le(loc, 0, 4) == 0x07064b50) {
      const std::string z = f.read(le(loc, 8, 8), 56, "the ZIP64 end-of-central-directory record");
      if (le(z, 0, 4) != 0x06064b50)
        throw UsageError(path + ": damaged ZIP archive (bad ZIP64 end-of-central-directory record)");
      entries = le(z, 32, 8);
      cd_size = le(z, 40, 8);
      cd_offset = le(z, 48, 8);
    }
  }
  const std::string cd = f.read(cd_offset, cd_size, "the central directory");
  std::vector<ZipMember> out;
  std::size_t p = 0;
  for (std::uint64_t e = 0; e < entries; ++e) {
    if (p + 46 > cd.size() || le(cd, p, 4) != 0x02014b50)
      throw UsageError(path + ": damaged ZIP archive (central directory entry " + std::to_string(e) + " is malformed)");
    ZipMember m;
    m.method = static_cast<std::uint16_t>(le(cd, p + 10, 2));
    m.crc32 = static_cast<std::uint32_t>(le(cd, p + 16, 4));
    m.compressed = le(cd, p + 20, 4);
    m.uncompressed = le(cd, p + 24, 4);
    const std::size_t name_len = le(cd, p + 28, 2), extra_len = le(cd, p + 30, 2), comment_len = le(cd, p + 32, 2);
    if (p + 46 + name_len + extra_len + comment_len > cd.size())
      throw UsageError(path + ": damaged ZIP archive (central directory entry " + std::to_string(e) +
                       " runs past the directory)");
    m.name = cd.substr(p + 46, name_len);
    // ZIP64 extended information (id 1): 64-bit values for the 32-bit fields that read 0xFFFFFFFF, in order.
    for (std::size_t x = p + 46 + name_len, end = x + extra_len; x + 4 <= end;) {
      const auto id = le(cd, x, 2), len = le(cd, x + 2, 2);
      if (x + 4 + len > end) break;
      if (id == 1) {
        std::size_t q = x + 4;
        auto take = [&](std::uint64_t& field) {
          if (field != 0xFFFFFFFFull) return;
          if (q + 8 > x + 4 + len)
            throw UsageError(path + ": damaged ZIP archive (short ZIP64 field of '" + m.name + "')");
          field = le(cd, q, 8);
          q += 8;
        };
        take(m.uncompressed);
        take(m.compressed);
      }
      x += 4 + len;
    }
    out.push_back(std::move(m));
    p += 46 + name_len + extra_len + comment_len;
  }
  return out;
}

std::vector<ZipMember> checked_zip_directory(const std::string& path) {
  auto members = read_zip_directory(path);
  const std::uint64_t file_size = File(path).size();
  std::uint64_t total = 0;
  for (const auto& m : members) {
    if (m.uncompressed > file_size)
      throw UsageError(path + ": ZIP member '" + m.name + "' declares " + std::to_string(m.uncompressed) +
                       " bytes uncompressed from " + std::to_string(m.compressed) +
                       " stored, more than the whole file (" + std::to_string(file_size) +
                       " bytes); torch.save stores members uncompressed: refusing a possible compression bomb");
    total += m.uncompressed;
  }
  if (total > 2 * file_size)
    throw UsageError(path + ": its ZIP members declare " + std::to_string(total) +
                     " bytes uncompressed in all, more than twice the file (" + std::to_string(file_size) +
                     " bytes); torch.save stores members uncompressed: refusing a possible compression bomb");
  return members;
}

std::uint32_t zip_crc32(const void* data, std::size_t n) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void verify_zip_member(const std::string& path, const std::vector<ZipMember>& members, const std::string& member,
                       const void* data, std::size_t n) {
  for (const auto& m : members) {
    if (m.name != member) continue;
    const auto crc = zip_crc32(data, n);
    if (crc != m.crc32) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "CRC-32 %08x, the archive records %08x", static_cast<unsigned>(crc),
                    static_cast<unsigned>(m.crc32));
      throw UsageError(path + ": ZIP member '" + member + "' is damaged (" + buf +
                       "): the file was corrupted after it was written; fetch or copy it again");
    }
    return;
  }
  throw UsageError(path + ": ZIP member '" + member + "' is not in the archive's central directory");
}

}  // namespace usbench
