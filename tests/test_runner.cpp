// End-to-end behaviour of usbench run / report / check on a tiny synthetic experiment.
#include <catch2/catch.hpp>
#include <signal.h>

#include <chrono>
#include <set>
#include <thread>

#include "harness/store.h"
#include "harness/weights.h"
#include "spec_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

nlohmann::json tiny_experiment(int pretrain_epochs = 2) {
  return nlohmann::json::parse(R"({
    "schema_version": 1, "name": "tiny", "version": 1,
    "dataset": {"name": "synthetic", "config": {"clips_per_class": 4, "frames_per_clip": 2, "stored_size": 32}},
    "pretrain_data": {"name": "synthetic", "label": "pre", "config": {"clips_per_class": 4, "frames_per_clip": 3, "stored_size": 32, "seed": 5}},
    "folds": {"k": 2, "seed": 0},
    "seeds": [0],
    "protocols": [{"name": "uscl-paper", "config": {"epochs": 2, "input_size": 32, "batch_size": 8}}],
    "methods": [{"name": "uscl", "config": {"epochs": )" + std::to_string(pretrain_epochs) + R"(, "batch_size": 4, "input_size": 32, "constant_epochs": 1}},
                "imagenet", "random"],
    "threads": 1
  })");
}

struct Workspace {
  TempDir dir;
  fs::path spec = dir / "tiny.json";
  explicit Workspace(const nlohmann::json& s = tiny_experiment()) { write_bytes(spec, s.dump(2)); }
  std::string args(const std::string& db) const {
    return q(spec) + " --db " + q(dir / db) + " --cache " + q(dir / "cache") + " --work-dir " + q(dir / ("work-" + db));
  }
};

nlohmann::json methods_of(const CommandResult& r) {
  auto j = nlohmann::json::parse(r.output);
  return j["methods"];
}

}  // namespace

TEST_CASE("run executes the grid once, prints the table, and a second run does nothing new", "[protocol][cli][slow]") {
  Workspace w;
  auto r = run_usbench("run " + w.args("a.db"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("5 runs planned, 5 executed, 0 already done, 0 failed"));
  CHECK_THAT(r.output, Contains("| imagenet | uscl-paper | not run: weights not supplied"));
  CHECK_THAT(r.output, Contains("best epoch on test (optimistic, as in the paper)") && Contains("SYNTHETIC"));
  r = run_usbench("run " + w.args("a.db"));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("0 executed, 5 already done"));

  // report --format json carries the provenance of every run.
  const auto j = run_usbench("report --format json --db " + q(w.dir / "a.db"));
  REQUIRE(j.exit_code == 0);
  const auto doc = nlohmann::json::parse(j.output);
  REQUIRE(doc["runs"].size() == 4);  // uscl and random, 2 folds each
  for (const auto& run : doc["runs"]) {
    CHECK(run["config_hash"].get<std::string>().size() == 64);
    CHECK(run["manifest_hash"].get<std::string>().size() == 64);
    CHECK(run["fold_hash"].get<std::string>().size() == 64);
    CHECK(run["seeds"].contains("init"));
    CHECK(run["environment"].contains("torch_version"));
  }

  // Two fresh runs of the same experiment give identical metrics.
  const auto b = run_usbench("run " + w.args("b.db"));
  REQUIRE(b.exit_code == 0);
  const auto jb = run_usbench("report --format json --db " + q(w.dir / "b.db"));
  CHECK(methods_of(jb) == methods_of(j));

  // check: 0 against expectations recorded from an identical run, 1 once a metric is perturbed.
  const auto expected = w.dir / "expected.json";
  REQUIRE(run_usbench("check --write " + q(expected) + " --db " + q(w.dir / "a.db")).exit_code == 0);
  auto c = run_usbench("check --expected " + q(expected) + " --db " + q(w.dir / "b.db"));
  CHECK(c.exit_code == 0);
  CHECK_THAT(c.output, Contains("within tolerance"));
  {
    auto store = Store::open((w.dir / "b.db").string(), Store::Access::Existing);
    // Every stored prediction of USCL's runs becomes wrong.
    store.db().exec("UPDATE predictions SET predicted = (label + 1) % 3 WHERE run_id IN "
                    "(SELECT id FROM runs WHERE method = 'uscl')");
  }
  c = run_usbench("check --expected " + q(expected) + " --db " + q(w.dir / "b.db"));
  CHECK(c.exit_code == 1);
  CHECK_THAT(c.output, Contains("FAIL: off by") && Contains("uscl"));
}

TEST_CASE("a pretraining killed with SIGKILL resumes from its checkpoint and ends bit-identical", "[protocol][cli][slow]") {
  Workspace w(tiny_experiment(/*pretrain_epochs=*/5));
  REQUIRE(run_usbench("run " + w.args("full.db")).exit_code == 0);

  // Start the same experiment in the background and kill it once the first checkpoint exists.
  const auto pidfile = w.dir / "pid";
  const std::string cmd = "cd '" USBENCH_SOURCE_DIR "' && ('" USBENCH_BIN "' run " + w.args("killed.db") +
                          " >/dev/null 2>&1 & echo $! > " + q(pidfile) + ")";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const pid_t pid = static_cast<pid_t>(std::stol(read_bytes(pidfile)));
  bool checkpointed = false;
  for (int i = 0; i < 600 && !checkpointed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (fs::exists(w.dir / "work-killed.db"))
      for (const auto& e : fs::recursive_directory_iterator(w.dir / "work-killed.db"))
        checkpointed = checkpointed || e.path().filename() == "last.pt";
  }
  REQUIRE(checkpointed);
  ::kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    auto store = Store::open((w.dir / "killed.db").string(), Store::Access::Existing);
    bool interrupted = false;
    for (const auto& r : store.runs("tiny")) interrupted = interrupted || (r.stage == "pretrain" && r.status == "running");
    CHECK(interrupted);  // left as running; its heartbeat goes stale
  }
  const auto resumed = run_usbench("run " + w.args("killed.db"));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Contains("resuming"));

  // Same pretrained weights, bit for bit, and the same table.
  auto weights = [&](const std::string& db) {
    for (const auto& e : fs::recursive_directory_iterator(w.dir / ("work-" + db)))
      if (e.path().filename() == "best_backbone.pth") return read_state_dict(e.path().string());
    FAIL("no best_backbone.pth under work-" << db);
    return StateDict{};
  };
  const auto a = weights("full.db"), b = weights("killed.db");
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i].second, b[i].second));
  const auto ja = run_usbench("report --format json --db " + q(w.dir / "full.db"));
  const auto jb = run_usbench("report --format json --db " + q(w.dir / "killed.db"));
  CHECK(methods_of(ja) == methods_of(jb));
}

TEST_CASE("a NaN loss fails the run with its epoch named and exit code 1", "[protocol][cli][slow]") {
  auto spec = tiny_experiment();
  spec["methods"] = nlohmann::json::array({{{"name", "uscl"}, {"config", {{"epochs", 2}, {"batch_size", 4}, {"input_size", 32}, {"lr", 1e30}}}}});
  Workspace w(spec);
  const auto r = run_usbench("run " + w.args("nan.db"));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("epoch") && Contains("loss is") && Contains("failed"));
  auto store = Store::open((w.dir / "nan.db").string(), Store::Access::Existing);
  int failed = 0;
  for (const auto& run : store.runs("tiny")) failed += run.status == "failed";
  CHECK(failed == 3);  // the pretraining and both folds that depend on it
}

TEST_CASE("two shards merged give the same table as one unsharded run", "[protocol][cli][slow]") {
  Workspace w;
  const auto whole = run_usbench("run " + w.args("whole.db"));
  REQUIRE(whole.exit_code == 0);
  // Shards share the frame cache and work folder, as Slurm array tasks on one file system would.
  const std::string shared = " --cache " + q(w.dir / "cache") + " --work-dir " + q(w.dir / "work-shards");
  const auto s1 = run_usbench("run " + q(w.spec) + " --db " + q(w.dir / "s1.db") + shared + " --shard 0/2");
  const auto s2 = run_usbench("run " + q(w.spec) + " --db " + q(w.dir / "s2.db") + shared + " --shard 1/2");
  INFO(s1.output << s2.output);
  REQUIRE(s1.exit_code == 0);
  REQUIRE(s2.exit_code == 0);
  const auto m = run_usbench("merge " + q(w.dir / "s1.db") + " " + q(w.dir / "s2.db") + " --out " + q(w.dir / "merged.db"));
  INFO(m.output);
  REQUIRE(m.exit_code == 0);
  CHECK_THAT(m.output, Contains("merged 2 stores"));
  auto merged = Store::open((w.dir / "merged.db").string(), Store::Access::Existing);
  auto single = Store::open((w.dir / "whole.db").string(), Store::Access::Existing);
  std::set<std::string> merged_ids, single_ids;
  for (const auto& r : merged.runs()) merged_ids.insert(r.id + ":" + r.status);
  for (const auto& r : single.runs()) single_ids.insert(r.id + ":" + r.status);
  CHECK(merged_ids == single_ids);  // every run of the grid, once, done
  const auto a = run_usbench("report --format json --db " + q(w.dir / "whole.db"));
  const auto b = run_usbench("report --format json --db " + q(w.dir / "merged.db"));
  CHECK(methods_of(a) == methods_of(b));
  // The merged store is complete: running the experiment on it executes nothing.
  const auto again = run_usbench("run " + q(w.spec) + " --db " + q(w.dir / "merged.db") + shared);
  CHECK_THAT(again.output, Contains("0 executed, 5 already done"));
}
