// usbench report and usbench check: everything they print comes from the store.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.h"
#include "harness/errors.h"
#include "harness/output_file.h"
#include "harness/store.h"
#include "reports/comparison.h"
#include "reports/figures.h"

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
  std::string expected, experiment, db = "usbench.db", write;
  double z = 3.0;
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

void add_report_command(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Generate the comparison table of an experiment from the store");
  cmd->add_option("--experiment", a->experiment, "Experiment name (default: the only one recorded)");
  cmd->add_option("--format", a->format, "md, csv, tex, html, json, or svg (figures, one file each, into --out DIR)")
      ->check(CLI::IsMember({"md", "csv", "tex", "html", "json", "svg"}))
      ->capture_default_str();
  cmd->add_option("--out", a->out, "Output file (default: standard output); with --format svg, the folder for the figures");
  cmd->add_option("--db", a->db, "Store file")->capture_default_str();
  cmd->callback([a] {
    auto store = Store::open(a->db, Store::Access::ReadOnly);
    if (a->format == "svg" && a->out.empty())
      throw UsageError("usbench report --format svg writes one file per figure: give the folder with --out DIR");
    const auto table = reports::build_comparison(store, pick_experiment(store, a->experiment));
    if (a->format == "svg") {
      write_figures(reports::make_figures(table), a->out);
      return;
    }
    std::string text;
    if (a->format == "md") text = reports::to_markdown(table);
    else if (a->format == "csv") text = reports::to_csv(table);
    else if (a->format == "tex") text = reports::to_latex(table);
    else if (a->format == "html") text = reports::to_html(table);
    else text = reports::to_json(table).dump(2) + "\n";
    write_out(text, a->out);
  });
}

void add_check_command(CLI::App& app) {
  auto a = std::make_shared<CheckArgs>();
  auto* cmd = app.add_subcommand("check", "Compare recorded metrics with expected results (CI regression gate)");
  auto* expected = cmd->add_option("--expected", a->expected, "Expected results (experiments/expected/*.json)");
  auto* write = cmd->add_option("--write", a->write, "Write the expected results of the recorded runs to this file instead");
  expected->excludes(write);
  cmd->add_option("--experiment", a->experiment, "Experiment name (default: the expected file's, or the only one)");
  cmd->add_option("--db", a->db, "Store file")->capture_default_str();
  cmd->add_option("--z", a->z, "With --write: tolerance = z x (std over folds) / sqrt(folds)")->capture_default_str();
  cmd->callback([a] {
    if (a->expected.empty() && a->write.empty()) throw UsageError("usbench check: give --expected FILE (or --write FILE)");
    auto store = Store::open(a->db, Store::Access::ReadOnly);
    if (!a->write.empty()) {
      const auto table = reports::build_comparison(store, pick_experiment(store, a->experiment));
      nlohmann::json out = {{"experiment", table.experiment}, {"version", table.version}, {"z", a->z},
                            {"tolerance_rule", "z x sample std of per-fold accuracy / sqrt(number of folds), at least 1 frame in the pooled test set"},
                            {"metrics", nlohmann::json::array()}};
      for (const auto& r : table.rows) {
        if (r.runs_done == 0 || r.runs_done < r.runs_expected) continue;
        for (const char* s : {"best_val", "last"}) {
          const auto& sel = r.by.at(s);
          const double n = static_cast<double>(sel.per_fold.size());
          const double tol = std::max(a->z * sel.std / std::sqrt(n), 1.0 / std::max<long>(1, sel.confusion.total()));
          out["metrics"].push_back({{"method", r.label}, {"protocol", r.protocol}, {"selection", s},
                                    {"metric", "pooled_accuracy"}, {"value", sel.pooled}, {"fold_std", sel.std},
                                    {"folds", sel.per_fold.size()}, {"tolerance", tol}});
        }
      }
      write_out(out.dump(2) + "\n", a->write);
      std::cout << "wrote " << out["metrics"].size() << " expected metrics to " << a->write << "\n";
      return;
    }
    std::ifstream in(a->expected);
    if (!in) throw UsageError(a->expected + ": cannot open expected results");
    nlohmann::json exp;
    try {
      exp = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw UsageError(a->expected + ": not valid JSON: " + e.what());
    }
    const std::string name = a->experiment.empty() ? exp.value("experiment", "") : a->experiment;
    const auto table = reports::build_comparison(store, pick_experiment(store, name));
    int failures = 0;
    std::cout << fmt::format("{:<10} {:<12} {:<9} {:>10} {:>10} {:>10}  {}\n", "method", "protocol", "selection", "expected",
                             "observed", "tolerance", "result");
    for (const auto& m : exp.at("metrics")) {
      const std::string method = m.at("method"), protocol = m.at("protocol"), sel = m.at("selection");
      const double want = m.at("value"), tol = m.at("tolerance");
      const reports::MethodRow* row = nullptr;
      for (const auto& r : table.rows)
        if (r.label == method && r.protocol == protocol) row = &r;
      std::string result;
      double got = std::nan("");
      if (!row || row->runs_done < row->runs_expected) {
        result = "FAIL: no complete results";
        ++failures;
      } else {
        got = row->by.at(sel).pooled;
        const bool ok = std::fabs(got - want) <= tol + 1e-12;
        result = ok ? "ok" : fmt::format("FAIL: off by {:+.4f}", got - want);
        failures += !ok;
      }
      std::cout << fmt::format("{:<10} {:<12} {:<9} {:>10.4f} {:>10.4f} {:>10.4f}  {}\n", method, protocol, sel, want, got, tol, result);
    }
    if (failures) throw RunFailure(fmt::format("{} metric(s) outside their tolerance", failures));
    std::cout << "all " << exp.at("metrics").size() << " metrics within tolerance\n";
  });
}

}  // namespace usbench::cli
