#include "harness/env.h"

#include <sqlite3.h>
#include <unistd.h>

#include <fstream>

#include <fmt/core.h>

#include "build_provenance.h"  // generated: USBENCH_GIT_COMMIT, USBENCH_GIT_DIRTY

#ifndef USBENCH_SOURCE_DIR
#define USBENCH_SOURCE_DIR ""
#endif

namespace usbench {

namespace {

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
  // The source this binary was built from (recorded at build time: the checkout may have moved on since).
  if (USBENCH_GIT_DIRTY >= 0) {
    env["git_commit"] = USBENCH_GIT_COMMIT;
    env["git_dirty"] = USBENCH_GIT_DIRTY == 1;
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
  env["nlohmann_json_version"] =
      fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH);
  env["usbench_version"] = USBENCH_VERSION;
  return env;
}

}  // namespace usbench
