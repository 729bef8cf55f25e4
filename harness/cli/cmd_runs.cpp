#include <iostream>
#include <map>

#include "harness/cli/commands.h"
#include "harness/errors.h"
#include "harness/store/store.h"
#include "reports/runs_view.h"

namespace usbench::cli {

void add_runs_command(CLI::App& app) {
  auto* runs = app.add_subcommand("runs", "List recorded runs or show one");
  runs->require_subcommand(1);
  auto db = std::make_shared<std::string>("usbench.db");
  auto json = std::make_shared<bool>(false);
  auto experiment = std::make_shared<std::string>();
  auto run_id = std::make_shared<std::string>();

  auto* list = runs->add_subcommand(
      "list",
      "List runs: id, experiment, method, protocol, stage, fold, seed, status, started, duration, headline metric");
  list->add_option("--db", *db, "Store file")->capture_default_str();
  list->add_option("--experiment", *experiment, "Only runs of this experiment");
  list->add_flag("--json", *json, "Print a JSON array (for scripts)");
  list->callback([=] {
    auto store = Store::open(*db, Store::Access::ReadOnly);
    const auto records = store.runs(*experiment);
    const auto now = now_ms();
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : records) out.push_back(reports::run_json(r, store.seeds(r.id), {}, now));
      std::cout << out.dump(2) << "\n";
    } else {
      std::map<std::string, std::string> headline;
      for (const auto& r : records) headline[r.id] = reports::headline_metric(r, store.metrics(r.id));
      std::cout << reports::runs_table(records, headline, now);
    }
  });

  auto* show = runs->add_subcommand("show", "Show one run: provenance, seeds, environment, metrics");
  show->add_option("RUN", *run_id, "Run id or a unique prefix of it (at least 4 characters)")->required();
  show->add_option("--db", *db, "Store file")->capture_default_str();
  show->add_flag("--json", *json, "Print JSON (for scripts)");
  show->callback([=] {
    auto store = Store::open(*db, Store::Access::ReadOnly);
    const auto run = store.find_run(*run_id);
    if (!run) throw UsageError("no run '" + *run_id + "' in " + *db + " (see: usbench runs list --db " + *db + ")");
    const auto seeds = store.seeds(run->id);
    const auto metrics = store.metrics(run->id);
    if (*json)
      std::cout << reports::run_json(*run, seeds, metrics, now_ms()).dump(2) << "\n";
    else
      std::cout << reports::run_details(*run, seeds, metrics, now_ms());
  });
}

}  // namespace usbench::cli
