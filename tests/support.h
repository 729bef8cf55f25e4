// Test helpers: scratch directories, file bytes, and running the usbench binary.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace usbench::test {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("usbench-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Root ignores file permissions, so a test of "permission denied" must not run as root. The unprivileged
// user is nobody (uid and gid 65534); its files and folders must be readable by others.
constexpr int kNobody = 65534;

// A command prefix that runs the command as nobody when the suite runs as root (setpriv, util-linux, drops
// every capability with the uid change), and as the current user otherwise.
inline std::string unprivileged_prefix() {
  return ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups -- " : "";
}

// While alive, this process's file accesses are checked as nobody's when it runs as root (effective ids;
// the saved uid 0 restores root on destruction). Supplementary groups are kept: test folders locked with
// mode 000 or 0444 deny them too.
class AsNobody {
 public:
  AsNobody() {
    if (::geteuid() == 0) active_ = ::setegid(kNobody) == 0 && ::seteuid(kNobody) == 0;
  }
  ~AsNobody() {
    if (active_ && (::seteuid(0) != 0 || ::setegid(0) != 0)) std::abort();  // the rest of the suite needs root back
  }
  AsNobody(const AsNobody&) = delete;
  AsNobody& operator=(const AsNobody&) = delete;
  // False only when running as root failed to drop to nobody (then a permission test proves nothing).
  bool unprivileged() const { return ::geteuid() != 0; }

 private:
  bool active_ = false;
};

// A path quoted for the shell (test paths hold no single quote).
inline std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// Runs `usbench <args>` from the source root (args are passed to the shell as written); `prefix` goes
// before the binary (e.g. unprivileged_prefix()).
inline CommandResult run_usbench(const std::string& args, const std::string& prefix = "") {
  const std::string cmd = "cd '" USBENCH_SOURCE_DIR "' && " + prefix + "'" USBENCH_BIN "' " + args + " 2>&1";
  CommandResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace usbench::test
