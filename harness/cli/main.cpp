// usbench: the command-line entry point. Exit codes (README Design §8): 0 ok, 1 a run or check failed,
// 2 bad usage or bad input.
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "harness/cli/builtins.h"
#include "harness/cli/commands.h"
#include "harness/errors.h"
#include "harness/utf8.h"
#include "harness/kernels.h"
#include "harness/spec/suggest.h"

int main(int argc, char** argv) {
  using namespace usbench;
  // Every command computes with the pinned kernel set unless a spec or option says otherwise before
  // LibTorch computes (run --cpu-isa / "cpu_isa"). Here, first, because OpenBLAS may need a restart.
  apply_kernel_set(CpuIsa::Avx2, argv);
  Registries registries;
  cli::register_builtins(registries);

  CLI::App app{
      "usbench — reproducible ultrasound pretraining benchmarks (USCL, SimCLR, MoCo v2, ImageNet-init, "
      "random-init under one 5-fold protocol)"};
  app.require_subcommand(1);
  cli::add_ingest_command(app, registries);
  cli::add_splits_command(app);
  cli::add_run_command(app, registries);
  cli::add_report_command(app, registries);
  cli::add_check_command(app);
  cli::add_embed_command(app, registries);
  cli::add_runs_command(app);
  cli::add_env_command(app);
  cli::add_merge_command(app);
  cli::add_weights_command(app);

  // An unknown first word is a mistyped command far more often than a stray argument: say so.
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), std::string(argv[1])) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      std::cerr << "usbench: unknown command '" << argv[1] << "'" << did_you_mean(argv[1], names)
                << "\ncommands: " << list << "\nsee: usbench --help\n";
      return 2;
    }
  }

  // Names, paths and config values end up in the store and its JSON as UTF-8 text (README Design §7): an
  // argument that is not UTF-8 (a Latin-1 folder name, stray bytes) is refused here, by position, escaped.
  for (int i = 1; i < argc; ++i)
    if (const auto at = invalid_utf8_at(argv[i]); at != std::string::npos) {
      std::cerr << "usbench: argument " << i << " ('" << escape_invalid_utf8(argv[i]) << "') is not valid UTF-8 (byte "
                << at
                << "): usbench keeps names, paths and config values as UTF-8 text; rename the file or folder, or "
                   "pass the value as UTF-8\n";
      return 2;
    }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const UsageError& e) {
    std::cerr << "usbench: " << e.what() << "\n";
    return 2;
  } catch (const Interrupted& e) {
    std::cerr << "usbench: " << e.what() << "\n";
    return 128 + e.signal();
  } catch (const RunFailure& e) {
    std::cerr << "usbench: " << e.what() << "\n";
    return 1;
  } catch (const nlohmann::json::type_error& e) {
    // A last line of defence: text that is not UTF-8 reached a JSON record by a way no check above covers
    // (e.g. a working folder whose name is not UTF-8 in a path the spec makes absolute).
    if (e.id == 316) {
      std::cerr << "usbench: a name, path or value is not valid UTF-8 text, which the store's JSON records cannot "
                   "hold; rename the file or folder (or the working folder) to UTF-8\n";
      return 2;
    }
    std::cerr << "usbench: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "usbench: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
