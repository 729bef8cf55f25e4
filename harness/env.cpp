#include "harness/env.h"

#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>

#include <fmt/core.h>

#ifndef USBENCH_SOURCE_DIR
#define USBENCH_SOURCE_DIR ""
#endif

namespace usbench {

namespace {

// Output of a shell command with trailing newlines removed; "" when it fails.
std::string command_output(const std::string& cmd, int& status) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) {
    status = -1;
    return out;
  }
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  status = pclose(pipe.release());
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

}  // namespace

nlohmann::json capture_host_environment() {
  nlohmann::json env;
  const std::string src = USBENCH_SOURCE_DIR;
  env["source_dir"] = src;
  int status = 0;
  const std::string git = "git -C '" + src + "' ";
  const std::string commit = src.empty() ? "" : command_output(git + "rev-parse HEAD 2>/dev/null", status);
  if (!commit.empty() && status == 0) {
    env["git_commit"] = commit;
    const std::string dirty = command_output(git + "status --porcelain --untracked-files=no 2>/dev/null", status);
    env["git_dirty"] = !dirty.empty();
  } else {
    env["git_commit"] = nullptr;  // built outside a git checkout (e.g. from a tarball)
    env["git_dirty"] = nullptr;
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  env["hostname"] = host;
  env["cpu"] = cpu_model();
  env["logical_cpus"] = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
#if defined(__clang__)
  env["compiler"] = fmt::format("clang {}", __clang_version__);
#elif defined(__GNUC__)
  env["compiler"] = fmt::format("gcc {}", __VERSION__);
#else
  env["compiler"] = "unknown";
#endif
  env["sqlite_version"] = sqlite3_libversion();
  env["fmt_version"] = fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100);
  env["nlohmann_json_version"] = fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                                             NLOHMANN_JSON_VERSION_PATCH);
  env["usbench_version"] = USBENCH_VERSION;
  return env;
}

}  // namespace usbench
