// Seeds (README Design §7): one root seed per repetition, split deterministically into named streams so that
// changing how one stream is consumed (say, augmentation) never shifts another (say, weight init).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace usbench {

// The named streams every run records.
const std::vector<std::string>& seed_stream_names();  // init, data_order, augmentation, split

// First 63 bits of SHA-256("usbench/seed/v1/<root>/<stream>"): platform-independent, non-negative
// (so it survives SQLite's signed integers), and stable across releases.
std::int64_t derive_seed(std::int64_t root, const std::string& stream);

// Every stream of seed_stream_names() for `root`.
std::map<std::string, std::int64_t> derive_seeds(std::int64_t root);

}  // namespace usbench
