#include "harness/model/hub_weights.h"

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "harness/canonical.h"
#include "harness/errors.h"
#include "harness/input_file.h"

namespace usbench {

namespace fs = std::filesystem;

namespace {
std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// "resnet18=a.pth,resnet50=b.pth" -> the names registered for `backbone`, in order.
std::vector<std::string> registered_names(const std::string& backbone) {
  std::vector<std::string> out;
  std::stringstream list(env_or("USBENCH_HUB_FILES", ""));
  std::string item;
  while (std::getline(list, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw UsageError("USBENCH_HUB_FILES: '" + item + "' is not BACKBONE=FILE_NAME");
    if (item.substr(0, eq) == backbone) out.push_back(item.substr(eq + 1));
  }
  return out;
}

bool is_hex_lower(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
}  // namespace

std::vector<TorchvisionFile> torchvision_files(const std::string& backbone) {
  static const std::vector<TorchvisionFile> kReleased = {
      {"resnet18", "resnet18-f37072fd.pth", "https://download.pytorch.org/models/resnet18-f37072fd.pth"},
      {"resnet18", "resnet18-5c106cde.pth", "https://download.pytorch.org/models/resnet18-5c106cde.pth"},
      {"resnet50", "resnet50-0676ba61.pth", "https://download.pytorch.org/models/resnet50-0676ba61.pth"},
      {"resnet50", "resnet50-11ad3fa6.pth", "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"},
      {"resnet50", "resnet50-19c8e357.pth", "https://download.pytorch.org/models/resnet50-19c8e357.pth"},
  };
  std::vector<TorchvisionFile> out;
  for (const auto& name : registered_names(backbone)) out.push_back({backbone, name, ""});
  for (const auto& f : kReleased)
    if (f.backbone == backbone) out.push_back(f);
  return out;
}

std::string hub_checkpoint_dir() {
  const std::string home = env_or("HOME", "");
  const std::string xdg = env_or("XDG_CACHE_HOME", (fs::path(home) / ".cache").string());
  const std::string torch_home = env_or("TORCH_HOME", (fs::path(xdg) / "torch").string());
  return (fs::path(torch_home) / "hub" / "checkpoints").string();
}

std::string hash_prefix(const std::string& name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '-') continue;
    std::size_t j = i + 1;
    while (j < name.size() && is_hex_lower(name[j])) ++j;
    if (j < name.size() && name[j] == '.') return name.substr(i + 1, j - i - 1);
  }
  return "";
}

std::string check_hash_prefix(const std::string& path) {
  const std::string digest = sha256_file(path);
  const std::string prefix = hash_prefix(fs::path(path).filename().string());
  if (digest.compare(0, prefix.size(), prefix) != 0)
    throw UsageError(
        fmt::format("{}: its SHA-256 begins {}, but its name says {} (torch.hub's hash-prefix check): the "
                    "file is damaged or not the released one; delete it and fetch it again "
                    "(usbench weights fetch)",
                    path, digest.substr(0, prefix.size()), prefix));
  return digest;
}

std::string resolve_imagenet_weights(const std::string& configured, const std::string& caller,
                                     const std::string& backbone) {
  if (!configured.empty()) return configured;
  if (!caller.empty()) return caller;
  const fs::path dir = hub_checkpoint_dir();
  for (const auto& f : torchvision_files(backbone)) {
    const std::string path = (dir / f.file_name).string();
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;
    if (const auto kind = describe_non_regular(path); !kind.empty())
      throw UsageError(path + ": ImageNet weights in torch's hub cache must be a regular file, this is " + kind);
    check_hash_prefix(path);
    return path;
  }
  return "";
}

std::string missing_weights_note(const std::string& backbone) {
  return fmt::format(
      "not run: weights not supplied (none in {}; get them with `usbench weights fetch {}`, or pass --weights FILE)",
      hub_checkpoint_dir(), backbone);
}

}  // namespace usbench
