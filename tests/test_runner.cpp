// End-to-end behaviour of usbench run / report / check on a tiny synthetic experiment.
#include <catch2/catch.hpp>
#include <signal.h>

#include <spawn.h>
#include <unistd.h>  // environ
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <set>
#include <thread>

#ifdef USBENCH_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <fmt/format.h>

#include "datasets/loader.h"
#include "harness/canonical.h"
#include "harness/run/finetune.h"
#include "harness/model/resnet.h"
#include "harness/store/store.h"
#include "harness/model/weights.h"
#include "spec_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {

nlohmann::json tiny_experiment(int pretrain_epochs = 2) {
  return nlohmann::json::parse(R"({
    "schema_version": 1, "name": "tiny", "version": 1,
    "dataset": {"name": "synthetic", "config": {"clips_per_class": 4, "frames_per_clip": 2, "stored_size": 32}},
    "pretrain_data": {"name": "synthetic", "label": "pre", "config": {"clips_per_class": 4, "frames_per_clip": 3, "stored_size": 32, "seed": 5}},
    "folds": {"k": 2, "seed": 0},
    "seeds": [0],
    "protocols": [{"name": "uscl-paper", "config": {"epochs": 2, "input_size": 32, "batch_size": 8}}],
    "methods": [{"name": "uscl", "config": {"epochs": )" +
                               std::to_string(pretrain_epochs) +
                               R"(, "batch_size": 4, "input_size": 32, "constant_epochs": 1}},
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

// Starts `usbench run` on `db` in the background and SIGKILLs it as soon as a file named `checkpoint`
// appears in its work folder (polling for up to 30 s). Returns whether the file appeared before the kill.
// `extra` is appended to the command line (e.g. "--device cuda").
bool kill_at_checkpoint(const Workspace& w, const std::string& db, const std::string& checkpoint,
                        const std::string& extra = "") {
  const auto pidfile = w.dir / "pid";
  const std::string cmd = "cd '" USBENCH_SOURCE_DIR "' && ('" USBENCH_BIN "' run " + w.args(db) + " " + extra +
                          " >/dev/null 2>&1 & echo $! > " + q(pidfile) + ")";
  if (std::system(cmd.c_str()) != 0) return false;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const pid_t pid = static_cast<pid_t>(std::stol(read_bytes(pidfile)));
  const auto work = w.dir / ("work-" + db);
  bool checkpointed = false;
  for (int i = 0; i < 1200 && !checkpointed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (fs::exists(work))
      for (const auto& e : fs::recursive_directory_iterator(work))
        checkpointed = checkpointed || e.path().filename() == checkpoint;
  }
  ::kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return checkpointed;
}

// Starts `usbench <args>` (stdout and stderr to `log`) and returns its pid; the caller waits for it.
pid_t spawn_usbench(const std::string& args, const fs::path& log) {
  const std::string cmd = "cd '" USBENCH_SOURCE_DIR "' && exec '" USBENCH_BIN "' " + args + " >" + q(log) + " 2>&1";
  pid_t pid = 0;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0) return -1;
  return pid;
}

// Waits for `pid`; its exit code, or 128 + signal when a signal ended it.
int wait_exit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Polls (up to 30 s) until a file named `name` exists under `dir`.
bool wait_for_file(const fs::path& dir, const std::string& name) {
  for (int i = 0; i < 1200; ++i) {
    std::error_code ec;
    if (fs::exists(dir, ec))
      for (const auto& e : fs::recursive_directory_iterator(dir, ec))
        if (e.path().filename() == name) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

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
  CHECK_THAT(
      r.output,
      Contains(
          "| imagenet | uscl-paper | not run: weights not supplied (none in "
          "/nonexistent/usbench-tests/torch-home/hub/checkpoints; get them with `usbench weights fetch resnet18`"));
  CHECK_THAT(r.output, Contains("best epoch on test (optimistic, as the paper)") && Contains("SYNTHETIC"));
  // uscl-paper is the authors' procedure: the paper's figure stands beside USCL's row.
  CHECK_THAT(r.output, Contains("| 94.19% |\n| imagenet | uscl-paper |"));
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

  // Output write errors are errors, and a device or a directory is never replaced.
  for (const auto& out : {std::string("report --out /dev/full"), std::string("check --write /dev/full"),
                          std::string("report --out ") + q(w.dir.path())}) {
    const auto bad = run_usbench(out + " --db " + q(w.dir / "a.db"));
    INFO(out << ": " << bad.output);
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.output, Contains("No space left on device") || Contains("is a directory"));
  }
  CHECK(fs::is_character_file("/dev/full"));
  for (const auto& e : fs::directory_iterator(w.dir.path()))
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);

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
  CHECK_THAT(c.output, Contains("exact tier") && Contains("passed: exact tier, 4 gated runs"));
  // run --expected on the same platform: every done run is compared as the grid is walked; all reproduce.
  c = run_usbench("run " + w.args("b.db") + " --expected " + q(expected));
  INFO(c.output);
  CHECK(c.exit_code == 0);
  {
    auto store = Store::open((w.dir / "b.db").string(), Store::Access::Existing);
    // Every stored prediction of USCL's runs becomes wrong.
    store.db().exec(
        "UPDATE predictions SET predicted = (label + 1) % 3 WHERE run_id IN "
        "(SELECT id FROM runs WHERE method = 'uscl')");
  }
  c = run_usbench("check --expected " + q(expected) + " --db " + q(w.dir / "b.db"));
  CHECK(c.exit_code == 1);
  CHECK_THAT(c.output,
             Contains("uscl uscl-paper seed 0 fold 0") && Contains("FAIL (run") && Contains("last predictions differ"));
  CHECK_THAT(c.output, Contains("random uscl-paper seed 0 fold 0      ok"));
  // The fail-fast gate stops the grid at the first run that does not reproduce its record.
  c = run_usbench("run " + w.args("b.db") + " --expected " + q(expected));
  CHECK(c.exit_code == 1);
  CHECK_THAT(c.output,
             Contains("regression gate (fail-fast): uscl uscl-paper seed 0 fold 0") && Contains("does not reproduce"));
}

TEST_CASE("imagenet takes torchvision's file from torch's hub cache without a flag - a damaged one is refused",
          "[protocol][cli][slow]") {
  // The fixture carries its own hash prefix (no fixture can carry torchvision's); USBENCH_HUB_FILES
  // registers its name as resnet18's expected file. The weights: a seeded ResNet-18 in torchvision layout.
  auto spec = tiny_experiment();
  spec["methods"] = nlohmann::json::array({"imagenet"});
  Workspace w(spec);
  const auto ckpt = w.dir / "torch" / "hub" / "checkpoints";
  fs::create_directories(ckpt);
  torch::manual_seed(7);
  ResNet model(ResNetSpec::by_name("resnet18"));
  const auto tmp = w.dir / "r18.pth";
  const auto digest = save_state_dict(state_dict(*model), tmp.string());
  const std::string name = "resnet18-" + digest.sha256.substr(0, 8) + ".pth";
  fs::rename(tmp, ckpt / name);
  const std::string env = "TORCH_HOME=" + q(w.dir / "torch") + " USBENCH_HUB_FILES=resnet18=" + name + " ";

  auto r = run_usbench("run " + w.args("hub.db"), env);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("2 runs planned, 2 executed"));
  CHECK_THAT(r.output, !Contains("not run"));
  // The row has results, and the table names the file and its SHA-256.
  auto report = nlohmann::json::parse(run_usbench("report --format json --db " + q(w.dir / "hub.db")).output);
  REQUIRE(report["methods"].size() == 1);
  CHECK(report["methods"][0]["runs_done"] == 2);
  CHECK_THAT(r.output, Contains("| imagenet | " + (ckpt / name).string() + " | " + digest.sha256 + " | 2 |"));
  // The run's config records the file and its SHA-256; the SHA-256, not the path, is in its identity.
  auto store = Store::open((w.dir / "hub.db").string(), Store::Access::ReadOnly);
  const auto runs = store.runs();
  REQUIRE(runs.size() == 2);
  const auto config = nlohmann::json::parse(runs[0].config_json);
  CHECK(config["method"]["weights"] == (ckpt / name).string());
  CHECK(config["method"]["weights_sha256"] == digest.sha256);

  // Moved elsewhere and passed by flag: same content, same run ids, nothing new to do.
  fs::create_directories(w.dir / "elsewhere");
  fs::copy_file(ckpt / name, w.dir / "elsewhere" / "copy.pth");
  r = run_usbench("run " + w.args("hub.db") + " --weights " + q(w.dir / "elsewhere" / "copy.pth"));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("0 executed, 2 already done"));

  // One byte changed: refused by name before anything runs, exit 2.
  auto bytes = read_bytes(ckpt / name);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  write_bytes(ckpt / name, bytes);
  r = run_usbench("run " + w.args("hub2.db"), env);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains(name) && Contains("hash-prefix"));
  CHECK_FALSE(fs::exists(w.dir / "hub2.db"));
}

TEST_CASE("checkpoint: the USCL authors' layout and torchvision's layout of one backbone give the same rows",
          "[protocol][cli][slow]") {
  // One seeded ResNet-18 written twice: as the USCL code saves best_model.pth (features.0/1/4..7, with its
  // projection heads l1/l2) and in torchvision layout. Fine-tuned under the same seeds, the two rows must be
  // identical to the last frame; the files differ, so their run ids do too.
  torch::manual_seed(11);
  ResNet model(ResNetSpec::by_name("resnet18"));
  const auto tv = state_dict(*model);
  StateDict uscl;
  const std::map<std::string, std::string> prefix = {{"conv1.", "features.0."},  {"bn1.", "features.1."},
                                                     {"layer1.", "features.4."}, {"layer2.", "features.5."},
                                                     {"layer3.", "features.6."}, {"layer4.", "features.7."}};
  for (const auto& [key, tensor] : tv)
    for (const auto& [from, to] : prefix)
      if (key.rfind(from, 0) == 0) uscl.emplace_back(to + key.substr(from.size()), tensor);
  uscl.emplace_back("l1.weight", torch::randn({512, 512}));
  uscl.emplace_back("l1.bias", torch::zeros({512}));
  auto spec = tiny_experiment();
  TempDir files;
  save_state_dict(uscl, (files / "best_model.pth").string());
  save_state_dict(tv, (files / "resnet18-export.pth").string());
  spec["methods"] = nlohmann::json::array({{{"name", "checkpoint"},
                                            {"label", "uscl-released"},
                                            {"config", {{"weights", (files / "best_model.pth").string()}}}},
                                           {{"name", "checkpoint"},
                                            {"label", "same-torchvision"},
                                            {"config", {{"weights", (files / "resnet18-export.pth").string()}}}}});
  Workspace w(spec);
  auto r = run_usbench("run " + w.args("ck.db"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("4 runs planned, 4 executed"));
  const auto report = nlohmann::json::parse(run_usbench("report --format json --db " + q(w.dir / "ck.db")).output);
  REQUIRE(report["methods"].size() == 2);
  const auto& a = report["methods"][0];
  const auto& b = report["methods"][1];
  CHECK(a["runs_done"] == 2);
  CHECK(b["runs_done"] == 2);
  for (const char* s : {"best_test", "last"}) {  // what uscl-paper reports
    INFO(s);
    REQUIRE(a["selections"][s]["per_fold"].size() == 2);
    CHECK(a["selections"][s]["per_fold"] == b["selections"][s]["per_fold"]);
  }
  CHECK(a["curves"]["train loss"] == b["curves"]["train loss"]);
  // A checkpoint row without a file is refused when the spec is read.
  spec["methods"] = nlohmann::json::array({{{"name", "checkpoint"}, {"label", "x"}}});
  Workspace bad(spec);
  r = run_usbench("run " + bad.args("bad.db"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("weights") && Contains("missing required key"));
}

TEST_CASE("a pretraining killed with SIGKILL resumes from its checkpoint and ends bit-identical",
          "[protocol][cli][slow]") {
  Workspace w(tiny_experiment(/*pretrain_epochs=*/5));
  REQUIRE(run_usbench("run " + w.args("full.db")).exit_code == 0);

  // Start the same experiment in the background and kill it once the first checkpoint exists.
  REQUIRE(kill_at_checkpoint(w, "killed.db", "last.pt"));
  {
    auto store = Store::open((w.dir / "killed.db").string(), Store::Access::Existing);
    bool interrupted = false;
    for (const auto& r : store.runs("tiny"))
      interrupted = interrupted || (r.stage == Stage::Pretrain && r.status == RunStatus::Running);
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

TEST_CASE("a downstream run killed mid-fold resumes after its last epoch and ends bit-identical",
          "[protocol][cli][slow]") {
  auto spec = tiny_experiment();
  spec["methods"] = nlohmann::json::array({"random"});
  spec.erase("pretrain_data");
  spec["protocols"][0]["config"]["epochs"] = 8;
  Workspace w(spec);
  REQUIRE(run_usbench("run " + w.args("full.db")).exit_code == 0);

  REQUIRE(kill_at_checkpoint(w, "killed.db", "downstream.pt"));
  const auto resumed = run_usbench("run " + w.args("killed.db"));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Contains("resuming"));

  // Every recorded number — per-epoch metrics and the stored predictions — equals the uninterrupted run's.
  auto full = Store::open((w.dir / "full.db").string(), Store::Access::Existing);
  auto killed = Store::open((w.dir / "killed.db").string(), Store::Access::Existing);
  const auto runs = full.runs("tiny");
  REQUIRE(runs.size() == 2);
  for (const auto& r : runs) {
    INFO("fold " << *r.fold);
    REQUIRE(killed.find_run(r.id));
    CHECK(killed.find_run(r.id)->status == RunStatus::Done);
    const auto ma = full.metrics(r.id), mb = killed.metrics(r.id);
    REQUIRE(ma.size() == mb.size());
    for (std::size_t i = 0; i < ma.size(); ++i) {
      if (ma[i].name == "images_per_s") continue;  // wall-clock speed, not a result
      INFO(ma[i].split << "/" << ma[i].name << " epoch " << ma[i].epoch);
      CHECK(ma[i].value == mb[i].value);
    }
    auto predictions = [](Store& s, const std::string& id) {
      sql::Stmt q(s.db(),
                  "SELECT epoch || ':' || clip_id || ':' || frame_index || ':' || predicted || ':' || scores_json "
                  "FROM predictions WHERE run_id = ? ORDER BY epoch, clip_id, frame_index");
      q.bind(1, id);
      std::vector<std::string> rows;
      while (q.step()) rows.push_back(q.text(0));
      return rows;
    };
    const auto pa = predictions(full, r.id);
    CHECK_FALSE(pa.empty());
    CHECK(pa == predictions(killed, r.id));  // predicted classes and scores of the selected epochs
  }
  const auto ja = run_usbench("report --format json --db " + q(w.dir / "full.db"));
  const auto jb = run_usbench("report --format json --db " + q(w.dir / "killed.db"));
  CHECK(methods_of(ja) == methods_of(jb));
  for (const auto& e : fs::recursive_directory_iterator(w.dir / "work-killed.db"))
    CHECK(e.path().filename() != "downstream.pt");  // removed once the run is complete
}

TEST_CASE("a pretrained backbone changed on disk is not trusted: its pretraining runs again", "[protocol][cli][slow]") {
  Workspace w;
  REQUIRE(run_usbench("run " + w.args("a.db")).exit_code == 0);
  fs::path backbone;
  for (const auto& e : fs::recursive_directory_iterator(w.dir / "work-a.db"))
    if (e.path().filename() == "best_backbone.pth") backbone = e.path();
  REQUIRE_FALSE(backbone.empty());
  const auto original = read_bytes(backbone);
  write_bytes(backbone, original + "x");  // same path, other bytes than the recorded SHA-256
  const auto r = run_usbench("run " + w.args("a.db"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("is changed; running it again") && Contains("1 executed, 4 already done"));
  CHECK(read_bytes(backbone) == original);  // deterministic: the same weights come back
}

// A downstream-only spec of `epochs` epochs (random init): quick runs for the resume tests.
nlohmann::json random_only(int epochs) {
  auto spec = tiny_experiment();
  spec["methods"] = nlohmann::json::array({"random"});
  spec.erase("pretrain_data");
  spec["protocols"][0]["config"]["epochs"] = epochs;
  return spec;
}

// Every recorded metric (wall-clock speed aside) of every run of `a` equals `b`'s, and both are done.
void check_same_metrics(const fs::path& a_db, const fs::path& b_db) {
  auto a = Store::open(a_db.string(), Store::Access::Existing);
  auto b = Store::open(b_db.string(), Store::Access::Existing);
  const auto runs = a.runs("tiny");
  REQUIRE_FALSE(runs.empty());
  for (const auto& r : runs) {
    INFO("run " << r.id.substr(0, 12));
    REQUIRE(b.find_run(r.id));
    CHECK(b.find_run(r.id)->status == RunStatus::Done);
    auto strip = [](std::vector<MetricRow> m) {
      m.erase(std::remove_if(m.begin(), m.end(), [](const MetricRow& x) { return x.name == "images_per_s"; }), m.end());
      std::vector<std::string> out;
      for (const auto& x : m) out.push_back(fmt::format("{}/{}/{}={}", x.epoch, x.split, x.name, x.value));
      return out;
    };
    CHECK(strip(a.metrics(r.id)) == strip(b.metrics(r.id)));
  }
}

std::string id_of_fold(const fs::path& db, int fold) {
  auto s = Store::open(db.string(), Store::Access::Existing);
  for (const auto& r : s.runs("tiny"))
    if (r.fold == fold) return r.id;
  return "";
}

TEST_CASE("a checkpoint this store did not record is not resumed: the run starts again and records every epoch",
          "[protocol][cli][slow]") {
  Workspace w(random_only(4));
  REQUIRE(run_usbench("run " + w.args("a.db")).exit_code == 0);
  // b.db shares a.db's work folder and finds a checkpoint there that it never wrote: first garbage, then a
  // real checkpoint of a run killed under a.db's twin (same run id, other store).
  const std::string id = id_of_fold(w.dir / "a.db", 0);
  REQUIRE_FALSE(id.empty());
  const auto ckpt = w.dir / "work-a.db" / id.substr(0, 16) / "downstream.pt";
  fs::create_directories(ckpt.parent_path());
  write_bytes(ckpt, "not a checkpoint");
  const auto r = run_usbench("run " + q(w.spec) + " --db " + q(w.dir / "b.db") + " --cache " + q(w.dir / "cache") +
                             " --work-dir " + q(w.dir / "work-a.db"));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("not resuming " + id.substr(0, 12) + " from " + ckpt.string()) &&
                           Contains("has no record of it"));
  CHECK_THAT(r.output, !Contains("resuming " + id.substr(0, 12) + " from its checkpoint"));
  check_same_metrics(w.dir / "a.db", w.dir / "b.db");  // every epoch's metrics, none missing

  // A real checkpoint left by a killed run of another store (c.db): d.db does not resume from it.
  REQUIRE(kill_at_checkpoint(w, "c.db", "downstream.pt"));
  const auto d = run_usbench("run " + q(w.spec) + " --db " + q(w.dir / "d.db") + " --cache " + q(w.dir / "cache") +
                             " --work-dir " + q(w.dir / "work-c.db"));
  INFO(d.output);
  CHECK(d.exit_code == 0);
  CHECK_THAT(d.output, Contains("has no record of it") && !Contains("from its checkpoint after epoch"));
  check_same_metrics(w.dir / "a.db", w.dir / "d.db");
}

TEST_CASE("a bit-flipped resume checkpoint is detected by its recorded SHA-256 and the run restarts",
          "[protocol][cli][slow]") {
  Workspace w(random_only(6));
  REQUIRE(run_usbench("run " + w.args("full.db")).exit_code == 0);
  REQUIRE(kill_at_checkpoint(w, "killed.db", "downstream.pt"));
  fs::path ckpt;
  for (const auto& e : fs::recursive_directory_iterator(w.dir / "work-killed.db"))
    if (e.path().filename() == "downstream.pt") ckpt = e.path();
  REQUIRE_FALSE(ckpt.empty());
  std::string bytes = read_bytes(ckpt);
  REQUIRE(bytes.size() > 2000);
  bytes[bytes.size() - 1000] ^= 0x10;  // one bit, deep in the tensor data
  write_bytes(ckpt, bytes);
  const auto r = run_usbench("run " + w.args("killed.db"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("not resuming") && Contains("the file changed") && Contains(ckpt.string()));
  check_same_metrics(w.dir / "full.db", w.dir / "killed.db");
}

TEST_CASE("SIGTERM and SIGINT mark the current run interrupted and exit 143 and 130 - the next run resumes it",
          "[protocol][cli][slow]") {
  Workspace w(random_only(10));
  REQUIRE(run_usbench("run " + w.args("full.db")).exit_code == 0);
  for (const int sig : {SIGTERM, SIGINT}) {
    const std::string db = sig == SIGTERM ? "term.db" : "int.db";
    INFO("signal " << sig);
    const auto log = w.dir / (db + ".log");
    const pid_t pid = spawn_usbench("run " + w.args(db), log);
    REQUIRE(pid > 0);
    REQUIRE(wait_for_file(w.dir / ("work-" + db), "downstream.pt"));
    ::kill(pid, sig);
    const int rc = wait_exit(pid);
    INFO(read_bytes(log));
    CHECK(rc == 128 + sig);
    CHECK_THAT(read_bytes(log), Contains(sig == SIGTERM ? "interrupted by SIGTERM" : "interrupted by SIGINT"));
    {
      auto store = Store::open((w.dir / db).string(), Store::Access::Existing);
      int interrupted = 0, running = 0;
      for (const auto& r : store.runs("tiny")) {
        interrupted += r.status == RunStatus::Interrupted;
        running += r.status == RunStatus::Running;
      }
      CHECK(interrupted == 1);
      CHECK(running == 0);
    }
    const auto resumed = run_usbench("run " + w.args(db));
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    CHECK_THAT(resumed.output, Contains("from its checkpoint after epoch"));
    check_same_metrics(w.dir / "full.db", w.dir / db);
  }
}

TEST_CASE("four processes running one spec on one store execute every run exactly once", "[protocol][cli][slow]") {
  Workspace w(tiny_experiment(/*pretrain_epochs=*/3));
  REQUIRE(run_usbench("run " + w.args("single.db")).exit_code == 0);
  const std::string args = q(w.spec) + " --db " + q(w.dir / "shared.db") + " --cache " + q(w.dir / "cache") +
                           " --work-dir " + q(w.dir / "work-shared");
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) pids.push_back(spawn_usbench("run " + args, w.dir / ("p" + std::to_string(i) + ".log")));
  int executed = 0;
  for (int i = 0; i < 4; ++i) {
    const int rc = wait_exit(pids[static_cast<std::size_t>(i)]);
    const auto out = read_bytes(w.dir / ("p" + std::to_string(i) + ".log"));
    INFO("process " << i << ":\n" << out);
    CHECK(rc == 0);
    CHECK_THAT(out, !Contains("FAILED") && !Contains("cannot rename"));
    const auto at = out.find(" runs planned, ");
    REQUIRE(at != std::string::npos);
    executed += std::stoi(out.substr(at + 15));
  }
  CHECK(executed == 5);  // 1 pretraining + 2 methods x 2 folds: each executed by exactly one process
  auto store = Store::open((w.dir / "shared.db").string(), Store::Access::Existing);
  for (const auto& r : store.runs("tiny")) CHECK(r.status == RunStatus::Done);
  sql::Stmt arts(store.db(), "SELECT path, sha256, bytes FROM artifacts WHERE kind = 'best_backbone'");
  int n = 0;
  while (arts.step()) {
    ++n;
    INFO(arts.text(0));
    REQUIRE(fs::exists(arts.text(0)));
    CHECK(static_cast<std::int64_t>(fs::file_size(arts.text(0))) == arts.int64(2));
    CHECK(sha256_file(arts.text(0)) == arts.text(1));
  }
  CHECK(n >= 1);
  for (const auto& e : fs::recursive_directory_iterator(w.dir / "work-shared"))
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
  const auto a = run_usbench("report --format json --db " + q(w.dir / "single.db"));
  const auto b = run_usbench("report --format json --db " + q(w.dir / "shared.db"));
  CHECK(methods_of(a) == methods_of(b));
}

TEST_CASE("a NaN loss fails the run with its epoch named and exit code 1", "[protocol][cli][slow]") {
  auto spec = tiny_experiment();
  spec["methods"] = nlohmann::json::array(
      {{{"name", "uscl"},
        {"config", {{"epochs", 2}, {"batch_size", 4}, {"input_size", 32}, {"temperature", 1e-300}}}}});
  Workspace w(spec);
  const auto r = run_usbench("run " + w.args("nan.db"));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("epoch") && Contains("loss is") && Contains("failed"));
  auto store = Store::open((w.dir / "nan.db").string(), Store::Access::Existing);
  int failed = 0;
  for (const auto& run : store.runs("tiny")) failed += run.status == RunStatus::Failed;
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
  const auto m =
      run_usbench("merge " + q(w.dir / "s1.db") + " " + q(w.dir / "s2.db") + " --out " + q(w.dir / "merged.db"));
  INFO(m.output);
  REQUIRE(m.exit_code == 0);
  CHECK_THAT(m.output, Contains("merged 2 stores"));
  auto merged = Store::open((w.dir / "merged.db").string(), Store::Access::Existing);
  auto single = Store::open((w.dir / "whole.db").string(), Store::Access::Existing);
  std::set<std::string> merged_ids, single_ids;
  for (const auto& r : merged.runs()) merged_ids.insert(r.id + ":" + to_string(r.status));
  for (const auto& r : single.runs()) single_ids.insert(r.id + ":" + to_string(r.status));
  CHECK(merged_ids == single_ids);  // every run of the grid, once, done
  const auto a = run_usbench("report --format json --db " + q(w.dir / "whole.db"));
  const auto b = run_usbench("report --format json --db " + q(w.dir / "merged.db"));
  CHECK(methods_of(a) == methods_of(b));
  // The merged store is complete: running the experiment on it executes nothing.
  const auto again = run_usbench("run " + q(w.spec) + " --db " + q(w.dir / "merged.db") + shared);
  CHECK_THAT(again.output, Contains("0 executed, 5 already done"));
}

TEST_CASE("a run checkpointed on CUDA resumes on the CPU, and one checkpointed on the CPU resumes on CUDA",
          "[protocol][cli][gpu]") {
  if (!torch::cuda::is_available()) {
    WARN("SKIPPED: no CUDA device (this test runs in .ci/gpu-check on a GPU machine)");
    return;
  }
  // fp32 on both devices, so the run ids (which include the precision only under AMP) are the same.
  Workspace w(tiny_experiment(3));
  const std::string fp32 = " --set precision=fp32";
  REQUIRE(kill_at_checkpoint(w, "x.db", "last.pt", "--device cuda" + fp32));
  auto r = run_usbench("run " + w.args("x.db") + " --device cpu" + fp32 + " 2>&1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("resuming"));
  // Again, the other way round: killed on the CPU in a downstream fold, finished on CUDA.
  Workspace v(tiny_experiment(3));
  REQUIRE(kill_at_checkpoint(v, "y.db", "downstream.pt", "--device cpu" + fp32));
  r = run_usbench("run " + v.args("y.db") + " --device cuda" + fp32 + " 2>&1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("resuming"));
  for (const auto* db : {&w, &v}) {
    auto store = Store::open((db->dir / (db == &w ? "x.db" : "y.db")).string(), Store::Access::Existing);
    for (const auto& run : store.runs()) CHECK(run.status == RunStatus::Done);
  }
}

#ifdef USBENCH_WITH_OPENCV  // without OpenCV, tests/test_no_opencv.cpp checks that embed refuses
namespace {
// Rows of an embed CSV: file name -> features.
std::map<std::string, std::vector<double>> read_features(const fs::path& csv) {
  std::map<std::string, std::vector<double>> rows;
  std::istringstream in(read_bytes(csv));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream cells(line);
    std::string name, v;
    std::getline(cells, name, ',');
    auto& row = rows[name];
    while (std::getline(cells, v, ',')) row.push_back(std::stod(v));
  }
  return rows;
}
}  // namespace

TEST_CASE("embed: features equal the backbone's on the protocol's preprocessing, weights round trip, bad input refused",
          "[cli][slow]") {
  TempDir dir;
  const auto images = dir / "imgs";
  fs::create_directories(images);
  cv::RNG rng(7);
  for (int i = 0; i < 3; ++i) {
    cv::Mat img(40 + 10 * i, 48, CV_8UC3);  // not square, not the input size: embed resizes
    rng.fill(img, cv::RNG::UNIFORM, 0, 256);
    cv::imwrite((images / ("img" + std::to_string(i) + ".png")).string(), img);
  }
  write_bytes(images / "notes.txt", "not an image, not listed");
  auto r =
      run_usbench("embed --init random --seed 3 --size 64 --images " + q(images) + " --out " + q(dir / "random.csv"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto ours = read_features(dir / "random.csv");
  REQUIRE(ours.size() == 3);

  // The reference, step by step: RGB, resize to 64, [0, 1], (x - 0.5) / 0.25, eval-mode pooled features.
  torch::manual_seed(3);
  ResNet model(ResNetSpec::by_name("resnet18"));
  model->eval();
  torch::NoGradGuard g;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "img" + std::to_string(i) + ".png";
    cv::Mat img = cv::imread((images / name).string(), cv::IMREAD_COLOR), rgb, small;
    cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
    cv::resize(rgb, small, cv::Size(64, 64), 0, 0, cv::INTER_LINEAR);
    const auto x =
        (torch::from_blob(small.data, {64, 64, 3}, torch::kUInt8).permute({2, 0, 1}).to(torch::kFloat32) / 255.0 -
         0.5) /
        0.25;
    const auto want = model->features(x.unsqueeze(0))[0];
    REQUIRE(ours.at(name).size() == 512);
    const auto got = torch::tensor(ours.at(name), torch::kFloat64).to(torch::kFloat32);
    CHECK((got - want).abs().max().item<double>() < 1e-5);
  }

  // The same weights exported in torchvision layout and read back give the same features.
  save_state_dict(state_dict(*model), (dir / "r18.pth").string());
  r = run_usbench("embed --init checkpoint --weights " + q(dir / "r18.pth") + " --size 64 --images " + q(images) +
                  " --out " + q(dir / "ckpt.csv"));
  REQUIRE(r.exit_code == 0);
  const auto ckpt = read_features(dir / "ckpt.csv");
  for (const auto& [name, row] : ours)
    for (std::size_t k = 0; k < row.size(); ++k) REQUIRE(ckpt.at(name)[k] == Approx(row[k]).margin(1e-6));

  // ImageNet init without weights, and an undecodable image: exit 2, the cause named, no output left.
  r = run_usbench("embed --init imagenet --images " + q(images) + " --out " + q(dir / "x.csv"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("needs --weights"));
  CHECK_FALSE(fs::exists(dir / "x.csv"));
  write_bytes(images / "img9.png", "this is text, not a PNG");
  r = run_usbench("embed --init random --size 64 --images " + q(images) + " --out " + q(dir / "y.csv"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("img9.png") && Contains("cannot decode"));
  CHECK_FALSE(fs::exists(dir / "y.csv"));
  CHECK_FALSE(fs::exists(dir / "y.csv.tmp"));
  fs::remove(images / "img9.png");
  // A thumbnail is refused by name and size, not upscaled into features (README "Runs, seeds and the store").
  REQUIRE(cv::imwrite((images / "img8.png").string(), cv::Mat(16, 16, CV_8UC3, cv::Scalar(90, 90, 90))));
  r = run_usbench("embed --init random --size 64 --images " + q(images) + " --out " + q(dir / "y.csv"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("img8.png") && Contains("a 16x16 frame: frames smaller than 32 px"));
  CHECK_FALSE(fs::exists(dir / "y.csv"));
  fs::remove(images / "img8.png");
  for (const auto* size : {"0", "-5", "100000"}) {
    r = run_usbench(std::string("embed --init random --size ") + size + " --images " + q(images) + " --out " +
                    q(dir / "z.csv"));
    INFO(size << ": " << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("--size"));
  }
  // Output write errors are errors: a full device, a directory.
  r = run_usbench("embed --init random --size 64 --images " + q(images) + " --out /dev/full");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("/dev/full") && Contains("No space left"));
  r = run_usbench("embed --init random --size 64 --images " + q(images) + " --out " + q(dir.path()));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("is a directory"));
}
#endif  // USBENCH_WITH_OPENCV

TEST_CASE(
    "label_noise relabels the stated share of one class's training frames, and an unknown class is refused before any "
    "run",
    "[unit][protocol]") {
  datasets::FrameSet set;
  set.classes = {"covid", "pneumonia", "regular"};
  for (int f = 0; f < 60; ++f) set.label_of.push_back(f % 3);
  std::vector<std::int64_t> fit;
  for (std::int64_t f = 0; f < 45; ++f) fit.push_back(f);  // frames 45-59: validation and test
  RunContext ctx;
  ctx.seeds = {{"root", 0}};
  auto noise = [](const std::string& cls) {
    DownstreamConfig c;
    c.label_noise_class = cls;
    c.label_noise_fraction = 0.2;
    return c;
  };
  CHECK(training_labels(set, fit, DownstreamConfig{}, ctx) == set.label_of);
  const auto noisy = training_labels(set, fit, noise("covid"), ctx);
  int changed = 0;
  for (std::size_t f = 0; f < noisy.size(); ++f) {
    if (noisy[f] == set.label_of[f]) continue;
    ++changed;
    CHECK(set.label_of[f] == 0);  // only covid frames
    CHECK(f < 45);                // only training frames
    CHECK((noisy[f] == 1 || noisy[f] == 2));
  }
  CHECK(changed == 3);                                             // round(0.2 x 15 covid training frames)
  CHECK(training_labels(set, fit, noise("covid"), ctx) == noisy);  // seeded
  CHECK_THROWS_WITH(training_labels(set, fit, noise("covdi"), ctx), Contains("label_noise.class"));

  Workspace w;
  const auto r = run_usbench("run " + w.args("a.db") +
                             R"( --set 'protocols.uscl-paper.config.label_noise={"class":"covdi","fraction":0.2}')");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("protocols.uscl-paper.config.label_noise.class: 'covdi' is not a class of") &&
                           Contains("covid, pneumonia, regular"));
  auto store = Store::open((w.dir / "a.db").string(), Store::Access::ReadOnly);
  CHECK(store.runs().empty());
}

TEST_CASE(
    "the CPU kernel set is applied and recorded: pinned runs repeat bit for bit, and on AVX-512 native ones differ",
    "[protocol][cli]") {
  auto spec = tiny_experiment();
  spec["methods"] = nlohmann::json::array({"random"});
  Workspace w(spec);
  // Every train and test loss of every epoch, exactly, per run (fold order), and the recorded kernel set.
  auto results = [&](const std::string& db) {
    auto store = Store::open((w.dir / db).string(), Store::Access::ReadOnly);
    std::string bits;
    nlohmann::json kernels;
    for (const auto& r : store.runs("tiny")) {
      kernels = nlohmann::json::parse(r.env_json).at("kernels");
      for (const auto& m : store.metrics(r.id))
        if (m.name == "loss") bits += fmt::format("{} {} {} {:a}\n", r.fold.value_or(-1), m.epoch, m.split, m.value);
    }
    return std::make_pair(bits, kernels);
  };
  REQUIRE(run_usbench("run " + w.args("a.db") + " --cpu-isa avx2").exit_code == 0);
  REQUIRE(run_usbench("run " + w.args("b.db")).exit_code == 0);  // the spec says nothing: avx2
  REQUIRE(run_usbench("run " + w.args("n.db") + " --cpu-isa native").exit_code == 0);
  const auto [pinned, pinned_kernels] = results("a.db");
  const auto [again, again_kernels] = results("b.db");
  const auto [native, native_kernels] = results("n.db");
  INFO("pinned: " << pinned_kernels.dump() << "\nnative: " << native_kernels.dump());
  REQUIRE_FALSE(pinned.empty());
  CHECK(pinned_kernels["requested"] == "avx2");
  CHECK(native_kernels["requested"] == "native");
  CHECK(again == pinned);
  if (pinned_kernels["cpu_avx2"].get<bool>()) {
    CHECK(pinned_kernels["aten"] == "AVX2");
    CHECK((pinned_kernels["onednn"] == "avx2" || pinned_kernels["onednn"] == "unknown"));
  }
  const std::string native_onednn = native_kernels["onednn"];
  if (native_onednn.rfind("avx512", 0) != 0) {
    WARN("this CPU's oneDNN runs " << native_onednn
                                   << " natively (no AVX-512): pinned and native compute alike here; "
                                      "the difference is shown on an AVX-512 machine");
    return;
  }
  CHECK(native != pinned);  // the same program, other kernels, other bits: why the pin exists
}

TEST_CASE("a cpu_isa that is not a kernel set is refused by key before anything is recorded", "[cli]") {
  auto spec = tiny_experiment();
  spec["cpu_isa"] = "avx512";
  Workspace w(spec);
  const auto r = run_usbench("run " + w.args("x.db"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cpu_isa") && Contains("\"avx2\"") && Contains("avx512"));
  CHECK_FALSE(fs::exists(w.dir / "x.db"));
  CHECK(run_usbench("run " + w.args("x.db") + " --cpu-isa fast").exit_code == 2);
}
