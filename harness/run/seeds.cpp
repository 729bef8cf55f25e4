#include "harness/run/seeds.h"

#include "harness/canonical.h"

namespace usbench {

const std::vector<std::string>& seed_stream_names() {
  static const std::vector<std::string> kStreams = {"init", "data_order", "augmentation", "split"};
  return kStreams;
}

std::int64_t derive_seed(std::int64_t root, const std::string& stream) {
  const std::string hex = sha256_hex("usbench/seed/v1/" + std::to_string(root) + "/" + stream);
  const std::uint64_t bits = std::stoull(hex.substr(0, 16), nullptr, 16);
  return static_cast<std::int64_t>(bits >> 1);
}

std::map<std::string, std::int64_t> derive_seeds(std::int64_t root) {
  std::map<std::string, std::int64_t> out;
  for (const auto& s : seed_stream_names()) out[s] = derive_seed(root, s);
  out["root"] = root;
  return out;
}

}  // namespace usbench
