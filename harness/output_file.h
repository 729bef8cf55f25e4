// Writing files so that a failure never leaves a torn or half-written result (README Design §7, §8).
//
// write_file_atomically(path, bytes): for results the harness owns (checkpoints, weights, reports,
// feature tables). Every write and the close are checked; the bytes go to a temporary file beside the
// target named for this process and thread, which is renamed over the target only when complete, so two
// processes never share a temporary and a reader sees the old file or the new one. The rename happens
// only over a regular file or a missing path: a target that is not a regular file after resolving links
// (a device such as /dev/full, a pipe, /dev/stdout) is written in place instead, and a directory is
// refused. A symbolic link to a regular file keeps the link and replaces the file it points to. On any
// failure the temporary is removed and UsageError names the target (and the reason, e.g. "No space
// left on device"). Returns the SHA-256 and size of the bytes written.
//
// `before_rename`, when given, runs with the digest after the temporary is complete and before it
// replaces the target (a checkpoint's store record is written there, so a file that appears under its
// final name is always one the store already knows).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace usbench {

struct FileDigest {
  std::string sha256;
  std::int64_t bytes = 0;
};

FileDigest write_file_atomically(const std::string& path, const std::string& bytes,
                                 const std::function<void(const FileDigest&)>& before_rename = {});

}  // namespace usbench
