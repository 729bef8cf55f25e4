// What a run executes with (no globals, DESIGN §10): the store, its record and seeds, the device, a
// folder of its own for checkpoints, and where progress lines go.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "harness/store.h"
#include "harness/torch_pch.h"

namespace usbench {

struct RunContext {
  Store* store = nullptr;
  RunRecord run;
  std::map<std::string, std::int64_t> seeds;  // init, data_order, augmentation, split, root
  torch::Device device = torch::kCPU;
  std::string run_dir;  // checkpoints and exported weights of this run
  int loader_threads = 1;
  bool amp = false;  // CUDA mixed precision: autocast float16 forwards, scaled losses (harness/amp.h)
  std::function<void(const std::string&)> progress;  // one line, overwritten in place by the CLI
  std::function<void(const std::string&)> log;       // lines that stay
  std::uint64_t seed(const std::string& stream) const { return static_cast<std::uint64_t>(seeds.at(stream)); }
};

}  // namespace usbench
