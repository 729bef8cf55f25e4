// The central directory of a ZIP archive (torch.save's format since PyTorch 1.6), read without
// decompressing anything: names, compression methods and the sizes each member declares, ZIP64 included.
// The weights reader checks these before LibTorch's reader inflates a member, so a "zip bomb" (a small
// file whose members declare gigabytes) is refused by name before any allocation (issue 11, item 7).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "harness/errors.h"

namespace usbench {

// The file is not a ZIP archive at all (too short, no end-of-central-directory record): callers that accept
// other formats too say what the file is not in their own words.
class NotZipArchive : public UsageError {
 public:
  using UsageError::UsageError;
};

struct ZipMember {
  std::string name;
  std::uint16_t method = 0;  // 0 stored, 8 deflated
  std::uint64_t compressed = 0, uncompressed = 0;
  std::uint32_t crc32 = 0;  // the CRC-32 of the uncompressed bytes, as the directory records it
};

// The ZIP (and zlib, PNG) CRC-32 of `n` bytes: reflected polynomial 0xEDB88320, initial and final XOR
// 0xFFFFFFFF; crc32("123456789") = 0xCBF43926.
std::uint32_t zip_crc32(const void* data, std::size_t n);

// UsageError (exit 2) naming `path` and `member` unless `n` bytes at `data` have the CRC-32 the central
// directory records for it: a bit flipped inside a member (the ZIP's structure intact) is caught before the
// bytes are used. Members the directory does not list are refused too.
void verify_zip_member(const std::string& path, const std::vector<ZipMember>& members, const std::string& member,
                       const void* data, std::size_t n);

// The members listed by the archive's central directory, in directory order. NotZipArchive when the file
// has no end-of-central-directory record; UsageError naming `path` when the directory is damaged.
std::vector<ZipMember> read_zip_directory(const std::string& path);

// UsageError naming `path` and the member unless the archive is one torch.save could have written as far
// as sizes go: no member declares more bytes than the whole file holds, and all members together declare
// at most twice the file's size (torch.save stores members uncompressed; this leaves room for a
// checkpoint re-zipped with deflate, not for a compression bomb). Returns the directory.
std::vector<ZipMember> checked_zip_directory(const std::string& path);

}  // namespace usbench
