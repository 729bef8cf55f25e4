#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.h"
#include "harness/env.h"
#include "harness/kernels.h"

namespace usbench::cli {

void add_env_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("env", "Print devices, library versions and threads (what every run records)");
  auto json = std::make_shared<bool>(false);
  auto device = std::make_shared<std::string>("cpu");
  cmd->add_flag("--json", *json, "Print the environment record as JSON");
  cmd->add_option("--device", *device, "Device to describe (cpu or cuda)")->check(CLI::IsMember({"cpu", "cuda"}));
  auto isa = std::make_shared<std::string>("avx2");
  cmd->add_option("--cpu-isa", *isa, "The CPU kernel set to describe: avx2 (what runs use by default) or native")
      ->check(CLI::IsMember({"avx2", "native"}))
      ->capture_default_str();
  cmd->callback([json, device, isa] {
    apply_kernel_set(parse_cpu_isa(*isa, "--cpu-isa"));
    const auto env = capture_environment(*device);
    if (*json) {
      std::cout << env.dump(2) << "\n";
      return;
    }
    auto str = [&](const char* k) {
      return env[k].is_null() ? std::string("-") : env[k].is_string() ? env[k].get<std::string>() : env[k].dump();
    };
    fmt::print("usbench        {}\n", str("usbench_version"));
    fmt::print("git            {}{}\n", str("git_commit"),
               env["git_dirty"].is_boolean() && env["git_dirty"].get<bool>() ? " (dirty)" : "");
    fmt::print("host           {} ({}, {} logical CPUs)\n", str("hostname"), str("cpu"), str("logical_cpus"));
    fmt::print("compiler       {}\n", str("compiler"));
    fmt::print("LibTorch       {}   threads {} (interop {})   oneDNN {}\n", str("torch_version"), str("threads"),
               str("interop_threads"), env["mkldnn_available"].get<bool>() ? "yes" : "no");
    const auto& k = env["kernels"];
    fmt::print("CPU kernels    {} requested: oneDNN {}, ATen {}, BLAS {}{}\n", k.value("requested", "?"),
               k.value("onednn", "?"), k.value("aten", "?"), k.value("blas", "?"),
               k.value("cpu_avx512", false) ? " (this CPU has AVX-512)" : "");
    fmt::print("OpenCV         {}\nSQLite         {}\nfmt            {}\nnlohmann_json  {}\n", str("opencv_version"),
               str("sqlite_version"), str("fmt_version"), str("nlohmann_json_version"));
    fmt::print("CUDA           {}", env["cuda_available"].get<bool>() ? "available" : "not available");
    if (env["cuda_available"].get<bool>())
      fmt::print(" (runtime {}, cuDNN {}, {} device(s))", str("cuda_version"), str("cudnn_version"),
                 str("cuda_device_count"));
    fmt::print("\n");
    for (const auto& d : env["cuda_devices"])
      fmt::print("  cuda:{}       {} ({:.1f} GiB, sm {})\n", d["index"].get<int>(), d["name"].get<std::string>(),
                 d["memory_bytes"].get<double>() / (1 << 30), d["capability"].get<std::string>());
    fmt::print("determinism    deterministic_algorithms={} cudnn_deterministic={} cudnn_benchmark={}\n",
               str("deterministic_algorithms"), str("cudnn_deterministic"), str("cudnn_benchmark"));
  });
}

}  // namespace usbench::cli
