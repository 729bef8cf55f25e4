#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "harness/canonical.h"
#include "harness/cli/commands.h"
#include "harness/cli/signals.h"
#include "harness/errors.h"
#include "harness/kernels.h"
#include "harness/run/run_plan.h"
#include "harness/run/runner.h"
#include "harness/spec/spec.h"
#include "harness/store/store.h"
#include "reports/claims.h"
#include "reports/comparison.h"
#include "reports/gate.h"

namespace usbench::cli {

namespace fs = std::filesystem;
std::string default_cache_dir(const std::string& db);  // cmd_data.cpp

namespace {
struct RunOptions {
  std::string spec_path;
  std::string db = "usbench.db";
  std::string device, shard, cache, work_dir, weights, expected, cpu_isa;
  std::vector<std::string> overrides;
  bool plan = false;
  bool json = false;
};

void print_plan(const ExperimentSpec& spec, const std::vector<PlannedRun>& runs, bool json) {
  const nlohmann::json resolved = to_json(spec);
  if (json) {
    nlohmann::json out = {{"experiment", spec.name},
                          {"version", spec.version},
                          {"spec_hash", content_hash(resolved)},
                          {"spec", resolved},
                          {"runs", nlohmann::json::array()}};
    for (const auto& r : runs)
      out["runs"].push_back({{"stage", to_string(r.record.stage)},
                             {"method", r.record.method},
                             {"protocol", r.record.protocol},
                             {"fold", r.record.fold ? nlohmann::json(*r.record.fold) : nlohmann::json(nullptr)},
                             {"seed", r.record.seed},
                             {"config_hash", r.record.config_hash},
                             {"id", r.record.id.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.record.id)},
                             {"seeds", r.seeds}});
    std::cout << out.dump(2) << "\n";
    return;
  }
  int pretrain = 0;
  for (const auto& r : runs) pretrain += r.record.stage == Stage::Pretrain;
  fmt::print("experiment {} v{} (resolved spec sha256 {})\n", spec.name, spec.version,
             content_hash(resolved).substr(0, 16));
  fmt::print("{} methods x {} protocols x {} folds x {} seeds: {} pretraining runs, {} downstream runs\n",
             spec.methods.size(), spec.protocols.size(), spec.folds.k, spec.seeds.size(), pretrain,
             runs.size() - static_cast<std::size_t>(pretrain));
  if (!spec.claims.empty()) {
    // The same hash the report prints: what a pre-registration quotes.
    fmt::print("{} pre-registered claims (claims sha256 {}), each one-sided:\n", spec.claims.size(),
               content_hash(claims_json(spec.claims)).substr(0, 16));
    for (const auto& c : spec.claims)
      fmt::print("  {:<4} {}: {} test, alpha {:g}\n", c.id, reports::claim_statement(c), c.test, c.alpha);
  }
  fmt::print("{:<9} {:<12} {:<14} {:>4} {:>6}  {:<16} {}\n", "stage", "method", "protocol", "fold", "seed", "config",
             "run id");
  for (const auto& r : runs)
    fmt::print("{:<9} {:<12} {:<14} {:>4} {:>6}  {:<16} {}\n", to_string(r.record.stage), r.record.method,
               r.record.protocol.empty() ? "-" : r.record.protocol,
               r.record.fold ? std::to_string(*r.record.fold) : "-", r.record.seed, r.record.config_hash.substr(0, 16),
               r.record.id.empty() ? "(fixed once the data are ingested)" : r.record.id.substr(0, 16));
}
// `run --expected`: each finished gated run is compared with its record as soon as it is done, on the
// record's platform only (a run from another platform differs by rounding; check's paired tier judges it).
std::function<void(const RunRecord&, const std::string&)> fail_fast_gate(const reports::ExpectedRecord& expected,
                                                                         const std::string& db,
                                                                         const std::string& file) {
  auto said_off = std::make_shared<bool>(false);
  return [expected, db, file, said_off](const RunRecord& rec, const std::string& pretrain_run_id) {
    auto store = Store::open(db, Store::Access::ReadOnly);
    const auto run = store.find_run(rec.id);
    if (!run) return;
    std::vector<std::string> envs = {run->env_json};
    if (!pretrain_run_id.empty())
      if (const auto pre = store.find_run(pretrain_run_id)) envs.push_back(pre->env_json);
    for (const auto& env : envs) {
      const auto platform = reports::platform_of(nlohmann::json::parse(env));
      if (platform != expected.platform) {
        if (!*said_off)
          std::cerr << fmt::format(
              "--expected: these runs are on {}, {} was recorded on {}: no fail-fast; usbench check will use the "
              "paired tier\n",
              reports::describe_platform(platform), file, reports::describe_platform(expected.platform));
        *said_off = true;
        return;
      }
    }
    const auto observed = reports::gate_run(store, *run);
    for (const auto& e : expected.runs) {
      if (e.method != observed.method || e.protocol != observed.protocol || e.seed != observed.seed ||
          e.fold != observed.fold)
        continue;
      if (const auto diff = reports::exact_difference(e, observed); !diff.empty())
        throw RunFailure(fmt::format(
            "regression gate (fail-fast): {} {} seed {} fold {} (run {}) does not reproduce {}: {}", observed.method,
            observed.protocol, observed.seed, observed.fold, run->id.substr(0, 12), file, diff));
      return;
    }
    throw RunFailure(fmt::format("regression gate (fail-fast): {} {} seed {} fold {} (run {}) is not in {}",
                                 observed.method, observed.protocol, observed.seed, observed.fold,
                                 run->id.substr(0, 12), file));
  };
}
}  // namespace

void add_run_command(CLI::App& app, const Registries& registries) {
  auto opt = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Run an experiment spec: methods x protocols x folds x seeds");
  cmd->add_option("EXPERIMENT", opt->spec_path, "Experiment spec (JSON), e.g. experiments/quickstart.json")->required();
  cmd->add_option("--db", opt->db, "Store file")->capture_default_str();
  cmd->add_option("--device", opt->device, "Override the spec's device")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option(
         "--cpu-isa", opt->cpu_isa,
         "Override the spec's CPU kernel set: avx2 (default; the same bits on every x86-64 machine with AVX2) or "
         "native (the libraries choose by processor; pinned training ran at 0.53-0.77x of native on a 2-core AMD EPYC "
         "with AVX-512, the same speed where there is no AVX-512; results then depend on the processor; README "
         "\"Performance\")")
      ->check(CLI::IsMember({"avx2", "native"}));
  cmd->add_option("--set", opt->overrides, "Override a spec field: key.path=value (repeatable)");
  cmd->add_option("--shard", opt->shard, "Run the I-th of N deterministic shares of the grid: I/N (0-based)");
  cmd->add_option("--cache", opt->cache,
                  "Frame cache folder (default: usbench-cache beside the store, or $USBENCH_CACHE)");
  cmd->add_option("--work-dir", opt->work_dir,
                  "Checkpoints and exported weights (default: usbench-runs beside the store)");
  cmd->add_option("--weights", opt->weights,
                  "ImageNet weights for the imagenet method (else $USBENCH_IMAGENET_WEIGHTS)");
  cmd->add_option(
      "--expected", opt->expected,
      "Regression gate, fail-fast: stop at the first gated run that does not reproduce this expected-results "
      "file exactly (on the file's platform; elsewhere usbench check's paired tier decides)");
  cmd->add_flag("--plan", opt->plan, "Validate the spec and print the run grid; write nothing");
  cmd->add_flag("--json", opt->json, "With --plan: print the resolved spec and grid as JSON");
  cmd->callback([opt, &registries] {
    auto overrides = opt->overrides;
    if (!opt->device.empty()) overrides.push_back("device=" + opt->device);
    if (!opt->cpu_isa.empty()) overrides.push_back("cpu_isa=" + opt->cpu_isa);
    // Validation happens before the store is opened, so a bad spec leaves no trace in the database.
    const ExperimentSpec spec = load_spec(opt->spec_path, overrides, registries);
    // Before LibTorch computes anything (check_runnable builds a network): the libraries read it once.
    apply_kernel_set(parse_cpu_isa(spec.cpu_isa, "cpu_isa"));
    const auto runs = plan_runs(spec, registries, DataIdentity{});
    // --plan validates exactly as run does: the shard, the device, the ImageNet weights.
    std::string weights = opt->weights;
    if (weights.empty())
      if (const char* env = std::getenv("USBENCH_IMAGENET_WEIGHTS"); env) weights = env;
    if (!opt->shard.empty()) parse_shard(opt->shard);
    check_runnable(spec, registries, weights);
    std::optional<reports::ExpectedRecord> expected;
    if (!opt->expected.empty()) {
      expected = reports::load_expected(opt->expected);
      if (expected->experiment != spec.name)
        throw UsageError(fmt::format("{} records experiment '{}', the spec is '{}'", opt->expected,
                                     expected->experiment, spec.name));
    }
    if (opt->plan) {
      print_plan(spec, runs, opt->json);
      return;
    }
    RunnerOptions ro;
    ro.db = opt->db;
    const fs::path parent = fs::path(opt->db).parent_path();
    ro.cache_dir = opt->cache.empty() ? default_cache_dir(opt->db) : opt->cache;
    ro.work_dir = opt->work_dir.empty() ? (parent.empty() ? fs::path("usbench-runs") : parent / "usbench-runs").string()
                                        : opt->work_dir;
    if (!opt->shard.empty()) std::tie(ro.shard_index, ro.shard_count) = parse_shard(opt->shard);
    ro.imagenet_weights = opt->weights;
    if (ro.imagenet_weights.empty())
      if (const char* env = std::getenv("USBENCH_IMAGENET_WEIGHTS"); env) ro.imagenet_weights = env;
    const bool tty = ::isatty(2);
    // On a terminal the progress line is rewritten in place; in a log file (Slurm, CI) one line every 30 s.
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    ro.progress = [tty, last](const std::string& line) {
      if (tty) {
        std::cerr << "\r\033[K" << line << std::flush;
      } else if (const auto now = std::chrono::steady_clock::now(); now - *last >= std::chrono::seconds(30)) {
        *last = now;
        std::cerr << line << "\n" << std::flush;
      }
    };
    ro.log = [tty](const std::string& line) { std::cerr << (tty ? "\r\033[K" : "") << line << "\n" << std::flush; };
    if (fs::exists(opt->db)) Store::verify(opt->db);
    install_stop_handlers();
    ro.interrupted = [] { return stop_signal(); };
    if (expected) ro.finished = fail_fast_gate(*expected, opt->db, opt->expected);
    const auto summary = run_experiment(spec, registries, ro);
    std::cerr << fmt::format(
        "{}: {} runs planned{}, {} executed, {} already done, {} failed{}\n", spec.name, summary.planned,
        ro.shard_count > 1 ? fmt::format(" in shard {}/{}", ro.shard_index, ro.shard_count) : "", summary.executed,
        summary.skipped_done, summary.failed,
        summary.held_elsewhere ? fmt::format(", {} left to other processes running them", summary.held_elsewhere) : "");
    auto store = Store::open(opt->db, Store::Access::Existing);
    std::cout << reports::to_markdown(reports::build_comparison(store, spec.name, registries));
    if (summary.failed > 0)
      throw RunFailure(fmt::format("{} run(s) failed; see usbench runs list --db {}", summary.failed, opt->db));
  });
}

}  // namespace usbench::cli
