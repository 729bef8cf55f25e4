// What a run executes with (no globals, README Design §10): the store, its record and seeds, the device, a
// folder of its own for checkpoints, and where progress lines go.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "harness/store/store.h"
#include "harness/torch_pch.h"

namespace usbench {

struct RunContext {
  Store* store = nullptr;
  RunRecord run;
  std::map<std::string, std::int64_t> seeds;  // init, data_order, augmentation, split, root
  torch::Device device = torch::kCPU;
  std::string run_dir;  // checkpoints and exported weights of this run
  int loader_threads = 1;
  bool amp = false;  // CUDA mixed precision: autocast float16 forwards, scaled losses (harness/model/amp.h)
  std::function<void(const std::string&)> progress;  // one line, overwritten in place by the CLI
  std::function<void(const std::string&)> log;       // lines that stay
  // Called between steps: throws Interrupted (a signal arrived) or RunFailure (the run's claim was taken
  // over by another process) when the run must stop now. Work since the last checkpoint is abandoned.
  std::function<void()> check_stop;
  void stop_point() const {
    if (check_stop) check_stop();
  }
  std::uint64_t seed(const std::string& stream) const { return static_cast<std::uint64_t>(seeds.at(stream)); }
};

}  // namespace usbench
