// usbench report and usbench check: everything they print comes from the store.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.h"
#include "harness/errors.h"
#include "harness/output_file.h"
#include "harness/store/store.h"
#include "reports/comparison.h"
#include "reports/figures.h"
#include "reports/gate.h"

namespace usbench::cli {

namespace {

namespace fs = std::filesystem;

// The experiment to report: the named one, else the only one recorded.
std::string pick_experiment(Store& store, const std::string& name) {
  if (!name.empty()) return name;
  sql::Stmt q(store.db(), "SELECT name FROM experiments ORDER BY updated_ms DESC");
  std::vector<std::string> names;
  while (q.step()) names.push_back(q.text(0));
  if (names.empty()) throw UsageError(store.path() + ": no experiment recorded yet (run usbench run first)");
  if (names.size() > 1) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw UsageError(store.path() + " holds several experiments (" + list + "); choose one with --experiment");
  }
  return names.front();
}

void write_out(const std::string& text, const std::string& out) {
  if (out.empty()) {
    std::cout << text;
    return;
  }
  write_file_atomically(out, text);  // checked writes; devices and pipes written in place, never replaced
}

struct ReportArgs {
  std::string experiment, format = "md", out, db = "usbench.db";
};

struct CheckArgs {
  std::string expected, experiment, db = "usbench.db", write, tier = "auto";
  double alpha = 0.01;
};

// Each figure into `dir` (created when missing, refused when it is not a folder), each written atomically.
void write_figures(const std::vector<reports::Figure>& figures, const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw UsageError(dir + ": --format svg writes a folder of figures, and this is not a folder");
  fs::create_directories(dir, ec);
  if (ec) throw UsageError(dir + ": cannot create the figures folder (" + ec.message() + ")");
  if (figures.empty()) throw UsageError("no figures: the experiment has no finished downstream runs yet");
  for (const auto& f : figures) {
    const auto path = (fs::path(dir) / f.file_name).string();
    write_file_atomically(path, f.svg);
    fmt::print("{}  {}\n", path, f.caption);
  }
}

}  // namespace

void add_report_command(CLI::App& app, const Registries& registries) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Generate the comparison table of an experiment from the store");
  cmd->add_option("--experiment", a->experiment, "Experiment name (default: the only one recorded)");
  cmd->add_option("--format", a->format, "md, csv, tex, html, json, or svg (figures, one file each, into --out DIR)")
      ->check(CLI::IsMember({"md", "csv", "tex", "html", "json", "svg"}))
      ->capture_default_str();
  cmd->add_option("--out", a->out,
                  "Output file (default: standard output); with --format svg, the folder for the figures");
  cmd->add_option("--db", a->db, "Store file")->capture_default_str();
  cmd->callback([a, &registries] {
    auto store = Store::open(a->db, Store::Access::ReadOnly);
    if (a->format == "svg" && a->out.empty())
      throw UsageError("usbench report --format svg writes one file per figure: give the folder with --out DIR");
    const auto table = reports::build_comparison(store, pick_experiment(store, a->experiment), registries);
    if (a->format == "svg") {
      write_figures(reports::make_figures(table), a->out);
      return;
    }
    std::string text;
    if (a->format == "md")
      text = reports::to_markdown(table);
    else if (a->format == "csv")
      text = reports::to_csv(table);
    else if (a->format == "tex")
      text = reports::to_latex(table);
    else if (a->format == "html")
      text = reports::to_html(table);
    else
      text = reports::to_json(table).dump(2) + "\n";
    write_out(text, a->out);
  });
}

void add_check_command(CLI::App& app) {
  auto a = std::make_shared<CheckArgs>();
  auto* cmd = app.add_subcommand("check",
                                 "Regression gate: compare the recorded runs with an expected-results file (exact tier "
                                 "on its platform, paired tier elsewhere)");
  auto* expected = cmd->add_option("--expected", a->expected, "Expected results (experiments/expected/*.json)");
  auto* write =
      cmd->add_option("--write", a->write, "Record the experiment's runs as expected results in this file instead");
  expected->excludes(write);
  cmd->add_option("--experiment", a->experiment, "Experiment name (default: the expected file's, or the only one)");
  cmd->add_option("--db", a->db, "Store file")->capture_default_str();
  cmd->add_option("--tier", a->tier, "auto (exact on the expected file's platform, else paired), exact, or paired")
      ->check(CLI::IsMember({"auto", "exact", "paired"}))
      ->capture_default_str();
  cmd->add_option("--alpha", a->alpha, "Paired tier: family-wise level over all compared rows")
      ->check(CLI::Range(1e-6, 0.5))
      ->capture_default_str();
  cmd->callback([a] {
    if (a->expected.empty() && a->write.empty())
      throw UsageError("usbench check: give --expected FILE (or --write FILE)");
    auto store = Store::open(a->db, Store::Access::ReadOnly);
    if (!a->write.empty()) {
      const auto record = reports::record_expected(store, pick_experiment(store, a->experiment));
      write_out(reports::dump_expected(record), a->write);
      std::cout << fmt::format(
          "wrote the exact record of {} gated runs ({} pooled figures: rows x their selections) to {}, platform: {}\n",
          record.runs.size(), record.metrics.size(), a->write, reports::describe_platform(record.platform));
      return;
    }
    const auto record = reports::load_expected(a->expected);
    if (!a->experiment.empty() && a->experiment != record.experiment)
      throw UsageError(
          fmt::format("{} records experiment '{}', not '{}'", a->expected, record.experiment, a->experiment));
    reports::GateOptions options;
    options.tier = a->tier == "exact"    ? reports::Tier::Exact
                   : a->tier == "paired" ? reports::Tier::Paired
                                         : reports::Tier::Auto;
    options.alpha = a->alpha;
    const auto result = reports::check_expected(store, record, options);
    std::cout << result.text;
    if (!result.passed) throw RunFailure(fmt::format("regression gate failed ({} against {})", a->db, a->expected));
  });
}

}  // namespace usbench::cli
