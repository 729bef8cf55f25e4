#include <catch2/catch.hpp>

#include "harness/store/store.h"
#include "reports/runs_view.h"
#include "spec_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {}  // namespace

TEST_CASE("usbench --help lists every subcommand", "[cli]") {
  const auto r = run_usbench("--help");
  CHECK(r.exit_code == 0);
  for (const char* cmd : {"ingest", "splits", "run", "report", "check", "embed", "runs", "merge", "env"}) {
    INFO(cmd);
    CHECK_THAT(r.output, Contains(std::string(cmd)));
  }
  for (const char* cmd : {"ingest", "splits", "run", "report", "check", "embed", "runs", "merge", "env"}) {
    INFO(cmd);
    CHECK(run_usbench(std::string(cmd) + " --help").exit_code == 0);
  }
}

TEST_CASE("unknown commands and bad options exit 2 with a message", "[cli]") {
  auto r = run_usbench("frobnicate");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("unknown command 'frobnicate'"));
  r = run_usbench("rnu experiments/quickstart.json");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("did you mean 'run'"));
  CHECK(run_usbench("").exit_code == 2);
  CHECK(run_usbench("runs list --no-such-flag").exit_code == 2);
  CHECK(run_usbench("run").exit_code == 2);  // missing EXPERIMENT
}

TEST_CASE("a misspelt or mistyped spec exits 2 naming the key, and writes nothing", "[cli]") {
  TempDir dir;
  auto typo = minimal_spec();
  typo["protocols"][0]["config"]["epohcs"] = 3;
  write_bytes(dir / "typo.json", typo.dump(2));
  auto wrong = minimal_spec();
  wrong["protocols"][0]["config"]["epochs"] = "three";
  write_bytes(dir / "wrong.json", wrong.dump(2));

  SECTION("no database yet: none is created") {
    auto r = run_usbench("run " + q(dir / "typo.json") + " --db " + q(dir / "x.db"));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("epohcs") && Contains("did you mean 'epochs'?"));
    r = run_usbench("run " + q(dir / "wrong.json") + " --db " + q(dir / "x.db"));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("protocols.0.config.epochs") && Contains("expected an integer"));
    CHECK_FALSE(fs::exists(dir / "x.db"));
  }
  SECTION("an existing database stays byte-identical") {
    { Store::open((dir / "x.db").string(), Store::Access::Create).db().exec("PRAGMA journal_mode=DELETE"); }
    const auto before = read_bytes(dir / "x.db");
    CHECK(run_usbench("run " + q(dir / "typo.json") + " --db " + q(dir / "x.db")).exit_code == 2);
    CHECK(run_usbench("run " + q(dir / "wrong.json") + " --db " + q(dir / "x.db")).exit_code == 2);
    CHECK(read_bytes(dir / "x.db") == before);
  }
  SECTION("--set typos are caught the same way") {
    const auto r = run_usbench("run experiments/quickstart.json --plan --set protocols.0.config.epohcs=3");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("did you mean 'epochs'?"));
    CHECK(run_usbench("run experiments/quickstart.json --plan --set nonsense").exit_code == 2);
  }
  SECTION("missing spec file") {
    const auto r = run_usbench("run " + q(dir / "absent.json") + " --db " + q(dir / "x.db"));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("absent.json"));
  }
}

TEST_CASE("run --plan prints the grid of a shipped spec", "[cli]") {
  const auto r = run_usbench("run experiments/quickstart.json --plan");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("experiment quickstart v2") && Contains("3 pretraining runs, 50 downstream runs"));
  const auto j = run_usbench("run experiments/quickstart.json --plan --json --set seeds=[0,1]");
  REQUIRE(j.exit_code == 0);
  const auto doc = nlohmann::json::parse(j.output);
  CHECK(doc["runs"].size() == 106);  // 2 seeds x (3 pretraining + 5 methods x 2 protocols x 5 folds)
  CHECK(doc["spec"]["seeds"].size() == 2);
}

TEST_CASE("store commands refuse files that are not usbench stores and leave them untouched", "[cli]") {
  TempDir dir;
  write_bytes(dir / "notes.txt", "not a database");
  auto r = run_usbench("runs list --db " + q(dir / "notes.txt"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("not a usbench store"));
  CHECK(read_bytes(dir / "notes.txt") == "not a database");

  {
    auto store = Store::open((dir / "future.db").string(), Store::Access::Create);
    store.db().exec("PRAGMA journal_mode=DELETE");
    store.db().exec("PRAGMA user_version=" + std::to_string(Store::schema_version() + 5));
  }
  const auto before = read_bytes(dir / "future.db");
  r = run_usbench("runs list --db " + q(dir / "future.db"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("newer than this usbench binary"));
  CHECK(read_bytes(dir / "future.db") == before);

  r = run_usbench("runs list --db " + q(dir / "missing.db"));
  CHECK(r.exit_code == 2);
  CHECK_FALSE(fs::exists(dir / "missing.db"));
}

TEST_CASE("runs list and runs show print recorded runs, as text and JSON", "[cli]") {
  TempDir dir;
  const auto db = dir / "s.db";
  {
    auto store = Store::open(db.string(), Store::Access::Create);
    RunRecord r;
    r.id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    r.experiment = "tiny";
    r.method = "uscl";
    r.protocol = "uscl-paper";
    r.stage = Stage::Finetune;
    r.fold = 2;
    r.seed = 7;
    r.config_json = R"({"method":{"epochs":1}})";
    r.config_hash = "cfg";
    r.manifest_hash = "man";
    r.fold_hash = "fh";
    store.create_run(r, {{"init", 11}, {"root", 7}});
    store.start_run(r.id, R"({"device":"cpu","threads":2})");
    store.put_metrics(r.id, 1, "test", {{"accuracy", 0.625}});
    store.finish_run(r.id, RunStatus::Done);
  }
  auto list = run_usbench("runs list --db " + q(db));
  CHECK(list.exit_code == 0);
  CHECK_THAT(list.output, Contains("0123456789ab") && Contains("tiny") && Contains("uscl-paper") && Contains("done"));
  CHECK_THAT(list.output, Contains("started (UTC)") && Contains("headline") && Contains("test 62.5% @ epoch 1"));
  auto list_json = run_usbench("runs list --json --db " + q(db));
  REQUIRE(list_json.exit_code == 0);
  const auto arr = nlohmann::json::parse(list_json.output);
  REQUIRE(arr.size() == 1);
  CHECK(arr[0]["fold"] == 2);
  CHECK(arr[0]["seeds"]["init"] == 11);
  CHECK(arr[0]["environment"]["threads"] == 2);

  auto show = run_usbench("runs show 01234567 --db " + q(db));
  CHECK(show.exit_code == 0);
  CHECK_THAT(show.output, Contains("accuracy") && Contains("0.625") && Contains("init=11"));
  auto show_json = run_usbench("runs show 0123 --json --db " + q(db));
  REQUIRE(show_json.exit_code == 0);
  const auto one = nlohmann::json::parse(show_json.output);
  CHECK(one["metrics"][0]["value"] == 0.625);
  CHECK(one["config"]["method"]["epochs"] == 1);
  CHECK(run_usbench("runs show ffffffff --db " + q(db)).exit_code == 2);
}

TEST_CASE("runs list: headline metric and duration computed from the recorded metrics and times", "[unit]") {
  RunRecord fine;
  fine.stage = Stage::Finetune;
  std::vector<MetricRow> m = {
      {1, "test", "accuracy", 0.5}, {3, "test", "accuracy", 0.75}, {2, "test", "accuracy", 0.9}};
  CHECK(reports::headline_metric(fine, m) == "test 75.0% @ epoch 3");  // the last epoch, not the best
  m.push_back({0, "selection", "best_val", 2});                        // the epoch validation chose
  m.push_back({2, "val", "accuracy", 0.8});
  CHECK(reports::headline_metric(fine, m) == "test 90.0% (val-selected, epoch 2)");
  CHECK(reports::headline_metric(fine, {}) == "-");
  RunRecord pre;
  pre.stage = Stage::Pretrain;
  const std::vector<MetricRow> p = {{1, "heldout", "contrastive", 2.5},    {2, "heldout", "contrastive", 2.2876},
                                    {3, "heldout", "contrastive", 2.4},    {1, "heldout", "knn_accuracy", 0.4},
                                    {3, "heldout", "knn_accuracy", 0.627}, {3, "train", "loss", 1.0}};
  CHECK(reports::headline_metric(pre, p) == "held-out 2.288 (best), kNN 0.627");
  RunRecord r;
  CHECK(reports::run_duration(r, 0) == "-");
  r.started_ms = 1000;
  r.finished_ms = 1000 + 45 * 1000;
  CHECK(reports::run_duration(r, 0) == "45s");
  r.finished_ms = 1000 + (12 * 60 + 34) * 1000;
  CHECK(reports::run_duration(r, 0) == "12m34s");
  r.finished_ms = 1000 + (3600 + 2 * 60 + 59) * 1000;
  CHECK(reports::run_duration(r, 0) == "1h02m");
  r.finished_ms.reset();
  r.status = RunStatus::Running;
  CHECK(reports::run_duration(r, 1000 + 90 * 1000) == "1m30s");
}

TEST_CASE("usbench env reports libraries, devices and threads", "[cli]") {
  auto r = run_usbench("env");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("LibTorch") && Contains("OpenCV") && Contains("SQLite") && Contains("CUDA") &&
                           Contains("threads"));
  auto j = run_usbench("env --json");
  REQUIRE(j.exit_code == 0);
  const auto env = nlohmann::json::parse(j.output);
  CHECK(env["threads"].get<int>() >= 1);
  CHECK(env.contains("git_commit"));
  CHECK(env.contains("cuda_available"));
  CHECK(env["sqlite_version"].get<std::string>().rfind("3.", 0) == 0);
}

TEST_CASE("merge, report and check refuse missing input without creating files", "[cli]") {
  TempDir dir;
  auto r = run_usbench("merge " + q(dir / "a.db") + " --out " + q(dir / "c.db"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("a.db") && Contains("no such store"));
  CHECK_FALSE(fs::exists(dir / "c.db"));
  write_bytes(dir / "text.db", "not sqlite");
  r = run_usbench("merge " + q(dir / "text.db") + " --out " + q(dir / "c.db"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("text.db"));
  CHECK_FALSE(fs::exists(dir / "c.db"));
  CHECK(run_usbench("embed --init random --images x --out y.csv").exit_code == 2);
  r = run_usbench("report --format md --db " + q(dir / "none.db"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("none.db"));
  CHECK_FALSE(fs::exists(dir / "none.db"));
  CHECK(run_usbench("check --db " + q(dir / "none.db")).exit_code == 2);
  CHECK(run_usbench("report --format pdf").exit_code == 2);
}

TEST_CASE("ingest and splits through the CLI: synthetic data, counts, JSON, and bad input", "[cli][data]") {
  TempDir dir;
  const auto db = q(dir / "s.db");
  const auto cache = q(dir / "cache");
  auto r = run_usbench(
      "ingest --dataset synthetic --set clips_per_class=4 --set frames_per_clip=2 --set stored_size=32 --db " + db +
      " --cache " + cache);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("12 clips in 12 groups, 24 frames") && Contains("[12 decoded, 0 from cache]"));
  r = run_usbench(
      "ingest --dataset synthetic --set clips_per_class=4 --set frames_per_clip=2 --set stored_size=32 --db " + db +
      " --cache " + cache);
  CHECK_THAT(r.output, Contains("[0 decoded, 12 from cache]"));

  r = run_usbench("splits --dataset synthetic --folds 4 --seed 3 --db " + db);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("split 'k4-seed3'"));
  const auto j = run_usbench("splits --dataset synthetic --folds 4 --seed 3 --json --db " + db);
  REQUIRE(j.exit_code == 0);
  const auto doc = nlohmann::json::parse(j.output);
  CHECK(doc["folds"].size() == 12);
  CHECK(doc["assignment_hash"].get<std::string>().size() == 64);
  CHECK(run_usbench("splits --dataset synthetic --folds 4 --seed 3 --json --db " + db).output == j.output);
  CHECK(run_usbench("splits --dataset synthetic --folds 4 --seed 4 --json --db " + db).output != j.output);

  r = run_usbench("splits --dataset pocsu --db " + db);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("no data set 'pocsu'") && Contains("synthetic"));
  r = run_usbench("ingest --dataset synthetic --set stored_sise=32 --db " + db);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("stored_sise") && Contains("did you mean 'stored_size'"));

  // A failed ingest writes nothing: no new store, and an existing one stays byte-identical.
  const auto fresh = dir / "fresh.db";
  r = run_usbench("ingest --dataset pocus --src " + q(dir / "absent") + " --db " + q(fresh));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("absent"));
  CHECK_FALSE(fs::exists(fresh));
  { Store::open((dir / "s.db").string(), Store::Access::Existing).db().exec("PRAGMA journal_mode=DELETE"); }
  const auto before = read_bytes(dir / "s.db");
  fs::create_directories(dir / "clips");
  write_bytes(dir / "clips" / "a.mp4", "");
  r = run_usbench("ingest --dataset videos --src " + q(dir / "clips") + " --db " + db + " --cache " + cache);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("a.mp4") && Contains("empty file"));
  CHECK(read_bytes(dir / "s.db") == before);
}

TEST_CASE("stores earlier releases wrote: refused unchanged by reads, migrated by a write, then every command works",
          "[cli]") {
  // tests/fixtures/stores/make_old_stores.sh made them with the commits that released schema versions 1 and 2.
  for (const char* file : {"v1-7328f39.db", "v2-de28378.db"}) {
    INFO(file);
    const bool v2 = std::string(file).rfind("v2", 0) == 0;
    const std::string experiment = v2 ? "old-v2" : "quickstart";
    TempDir dir;
    const auto db = dir / file;
    fs::copy_file(fs::path(USBENCH_SOURCE_DIR) / "tests/fixtures/stores" / file, db);
    const auto before = read_bytes(db);
    for (const std::string read : {"runs list", "report", "runs show 2222"}) {
      INFO(read);
      const auto r = run_usbench(read + " --db " + q(db));
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.output, Contains("run a writing command on it once"));
      CHECK(read_bytes(db) == before);
      CHECK_FALSE(fs::exists(db.string() + "-wal"));
      CHECK_FALSE(fs::exists(db.string() + "-shm"));
    }
    // Writing commands: ingest (which migrates it), splits, run.
    auto r = run_usbench("ingest --dataset synthetic --name extra --set clips_per_class=2 --set stored_size=32 --db " +
                         q(db));
    REQUIRE(r.exit_code == 0);
    CHECK(run_usbench("splits --dataset extra --folds 2 --db " + q(db)).exit_code == 0);
    auto spec = minimal_spec();
    spec.erase("pretrain_data");
    spec["methods"] = {"random"};
    spec["seeds"] = {0};
    spec["protocols"][0]["config"]["epochs"] = 1;
    write_bytes(dir / "tiny.json", spec.dump(2));
    r = run_usbench("run " + q(dir / "tiny.json") + " --db " + q(dir / file));
    CHECK(r.exit_code == 0);
    // Reading commands: the old runs beside the new ones.
    r = run_usbench("runs list --db " + q(db));
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Contains(experiment) && Contains("tiny"));
    const auto old_run =
        nlohmann::json::parse(run_usbench("runs list --json --experiment " + experiment + " --db " + q(db)).output)
            .at(0)
            .at("id")
            .get<std::string>();
    CHECK(run_usbench("runs show " + old_run.substr(0, 8) + " --db " + q(db)).exit_code == 0);
    r = run_usbench("report --experiment " + experiment + " --db " + q(db));
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Contains("experiment " + experiment));
    if (v2) CHECK_THAT(r.output, Contains("| simclr | uscl-paper |") && Contains("| random | uscl-paper |"));
    CHECK(run_usbench("report --experiment tiny --db " + q(db)).exit_code == 0);
    CHECK(run_usbench("check --write " + q(dir / "expected.json") + " --experiment tiny --db " + q(db)).exit_code == 0);
    CHECK(run_usbench("check --expected " + q(dir / "expected.json") + " --db " + q(db)).exit_code == 0);
    // merge: the migrated store into a new one, every run carried.
    CHECK(run_usbench("merge " + q(db) + " --out " + q(dir / "merged.db")).exit_code == 0);
    CHECK(run_usbench("runs list --json --db " + q(dir / "merged.db")).output ==
          run_usbench("runs list --json --db " + q(db)).output);
  }
}
