#include "harness/input_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "harness/errors.h"

namespace usbench {

std::string describe_non_regular(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::string("missing or unreadable (") + std::strerror(errno) + ")";
  if (S_ISREG(st.st_mode)) return "";
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISBLK(st.st_mode)) return "a block device";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  return "not a regular file";
}

void require_regular_file(const std::string& path, const std::string& what) {
  const auto kind = describe_non_regular(path);
  if (kind.empty()) return;
  if (kind.rfind("missing", 0) == 0) throw UsageError(path + ": " + what + " not found: " + kind);
  throw UsageError(path + ": " + what + " must be a regular file, this is " + kind);
}

std::string read_input_file(const std::string& path, const std::string& what, std::uintmax_t max_bytes) {
  require_regular_file(path, what);
  struct stat st {};
  ::stat(path.c_str(), &st);
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes)
    throw UsageError(
        fmt::format("{}: {} is {} bytes, more than the {} this reader accepts", path, what, st.st_size, max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot open " + what + " (" + std::strerror(errno) + ")");
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) throw UsageError(path + ": read error in " + what);
  return text;
}

}  // namespace usbench
