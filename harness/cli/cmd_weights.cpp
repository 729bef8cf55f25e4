// usbench weights: where ImageNet weights are looked for, and fetching them into torch's hub cache.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "harness/cli/commands.h"
#include "harness/errors.h"
#include "harness/model/hub_weights.h"
#ifdef USBENCH_WITH_CURL
#include "harness/model/download.h"
#endif

namespace usbench::cli {

namespace fs = std::filesystem;

namespace {
struct FetchArgs {
  std::string backbone, url, dir;
  long stall_seconds = 60;
};

const char* const kBackbones[] = {"resnet18", "resnet50"};

void print_where() {
  const std::string dir = hub_checkpoint_dir();
  fmt::print("torch hub cache: {}\n", dir);
  for (const char* b : kBackbones) {
    const auto files = torchvision_files(b);
    std::string found;
    for (const auto& f : files) {
      std::error_code ec;
      if (fs::exists(fs::path(dir) / f.file_name, ec)) {
        found = f.file_name;
        break;
      }
    }
    fmt::print("  {:<9} {}\n", b,
               found.empty()
                   ? "missing (usbench weights fetch " + std::string(b) + " downloads " + files.front().file_name + ")"
                   : "found: " + found);
  }
}

#ifdef USBENCH_WITH_CURL
void fetch(const FetchArgs& a) {
  std::string url = a.url;
  if (url.empty()) {
    if (a.backbone.empty())
      throw UsageError("usbench weights fetch: name a backbone (resnet18, resnet50) or pass --url");
    for (const auto& f : torchvision_files(a.backbone))
      if (!f.url.empty()) {
        url = f.url;
        break;
      }
    if (url.empty()) throw UsageError("unknown backbone '" + a.backbone + "' (expected resnet18 or resnet50)");
  }
  FetchOptions o;
  o.stall_seconds = a.stall_seconds;
  const bool tty = ::isatty(2);
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  auto last_quarter = std::make_shared<int>(-1);
  o.progress = [tty, last, last_quarter](std::int64_t now, std::int64_t total) {
    const double mb = 1e-6;
    const int pct = total > 0 ? static_cast<int>(100 * now / total) : -1;
    if (tty) {
      const auto t = std::chrono::steady_clock::now();
      if (t - *last < std::chrono::milliseconds(200) && now != total) return;
      *last = t;
      std::cerr << fmt::format("\r\033[K  {:.1f} / {} MB{}", now * mb,
                               total > 0 ? fmt::format("{:.1f}", total * mb) : "?",
                               pct >= 0 ? fmt::format("  {}%", pct) : "")
                << std::flush;
    } else if (pct >= 0 && pct / 25 != *last_quarter) {  // a log file: 0, 25, 50, 75, 100%
      *last_quarter = pct / 25;
      std::cerr << fmt::format("  {:.1f} / {:.1f} MB  {}%\n", now * mb, total * mb, pct);
    }
  };
  const std::string dir = a.dir.empty() ? hub_checkpoint_dir() : a.dir;
  const auto r = fetch_weights(url, dir, o);
  if (tty) std::cerr << "\r\033[K";
  if (r.already_present)
    fmt::print("{}: already present, SHA-256 {} matches its name; nothing downloaded\n", r.path, r.sha256);
  else
    fmt::print("{}: {} bytes{}, SHA-256 {} matches its name\n", r.path, r.bytes,
               r.resumed_from > 0 ? fmt::format(" (resumed after {} bytes)", r.resumed_from) : "", r.sha256);
}
#else
void fetch(const FetchArgs&) {
  throw UsageError(
      "this usbench was built without libcurl (libcurl4-openssl-dev), so it cannot download; fetch the file "
      "by hand into " +
      hub_checkpoint_dir());
}
#endif
}  // namespace

void add_weights_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("weights", "ImageNet weights: where usbench looks (torch's hub cache) and fetching them");
  cmd->require_subcommand(1);
  auto* where = cmd->add_subcommand("where", "Print the hub cache folder and which backbones' files are in it");
  where->callback(print_where);
  auto a = std::make_shared<FetchArgs>();
  auto* f = cmd->add_subcommand(
      "fetch", "Download torchvision's ImageNet file for a backbone into the hub cache (resumable, hash-checked)");
  f->add_option("BACKBONE", a->backbone, "resnet18 or resnet50");
  f->add_option("--url", a->url,
                "Download this URL instead (its file name must carry the hash prefix, NAME-<hex>.pth)");
  f->add_option("--dir", a->dir, "Destination folder (default: torch's hub cache, $TORCH_HOME/hub/checkpoints)");
  f->add_option("--stall-timeout", a->stall_seconds,
                "Give up after this many seconds under 1 KiB/s (the partial file is kept)")
      ->capture_default_str()
      ->check(CLI::Range(1L, 3600L));
  f->callback([a] { fetch(*a); });
}

}  // namespace usbench::cli
