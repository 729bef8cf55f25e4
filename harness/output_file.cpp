#include "harness/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "harness/canonical.h"
#include "harness/errors.h"

namespace usbench {

namespace fs = std::filesystem;

namespace {

// Writes all bytes to fd; false with errno set on failure.
bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw UsageError(path + ": " + what + " (" + std::strerror(err) + ")");
}

}  // namespace

FileDigest write_file_atomically(const std::string& path_in, const std::string& bytes,
                                 const std::function<void(const FileDigest&)>& before_rename) {
  FileDigest digest{sha256_hex(bytes), static_cast<std::int64_t>(bytes.size())};
  std::string path = path_in;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {  // follows links
    if (S_ISDIR(st.st_mode)) throw UsageError(path + ": is a directory; give a file name");
    if (!S_ISREG(st.st_mode)) {
      // A device, pipe or terminal: write in place, never replace it.
      const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) fail(path, "cannot open for writing", errno);
      const bool ok = write_all(fd, bytes);
      const int err = errno;
      if (::close(fd) != 0 && ok) fail(path, "write failed", errno);
      if (!ok) fail(path, "write failed", err);
      if (before_rename) before_rename(digest);
      return digest;
    }
    std::error_code ec;
    if (fs::is_symlink(path, ec)) path = fs::canonical(path).string();  // replace the file, keep the link
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()) % 1000000);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create " + tmp, errno);
  bool ok = write_all(fd, bytes);
  int err = errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && before_rename) {
    try {
      before_rename(digest);
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    fail(path, "write failed", err);
  }
  return digest;
}

}  // namespace usbench
