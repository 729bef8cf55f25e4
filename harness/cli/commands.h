// The usbench subcommands. Each add_*_command registers its CLI11 subcommand; its callback throws
// UsageError (exit 2) or RunFailure (exit 1) and otherwise returns normally (exit 0).
#pragma once
#include <CLI/CLI.hpp>

#include "harness/spec/registry.h"

namespace usbench::cli {

void add_env_command(CLI::App& app);
void add_runs_command(CLI::App& app);
void add_run_command(CLI::App& app, const Registries& registries);
void add_ingest_command(CLI::App& app, const Registries& registries);
void add_splits_command(CLI::App& app);
void add_report_command(CLI::App& app, const Registries& registries);
void add_check_command(CLI::App& app);
void add_embed_command(CLI::App& app, const Registries& registries);
void add_merge_command(CLI::App& app);
void add_weights_command(CLI::App& app);

}  // namespace usbench::cli
