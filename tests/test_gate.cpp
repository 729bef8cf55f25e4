// The regression gate (reports/gate.h) on a store filled by hand: the exact tier's record round trip and
// what it names when a run changes; the paired tier's choice, statistics and verdicts; the expected file's
// refusals.
#include <catch2/catch.hpp>

#include <fstream>

#include <fmt/format.h>

#include "harness/canonical.h"
#include "harness/store/store.h"
#include "reports/gate.h"
#include "reports/metrics.h"
#include "store_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {

const char* kEnv =
    R"({"torch_version":"1.13.0","device":"cpu","device_name":"AMD EPYC","cpu_capability":"AVX2","threads":2})";

// Two methods x 2 folds on 10 clips of 3 frames; 3 epochs per run, each with train/val/test metrics.
// uscl gets every frame of clips 0-7 right and clips 8-9 wrong; random errs on frame 0 of every clip.
void fill(Store& store) {
  const auto spec = nlohmann::json::parse(R"({"name": "gate", "version": 2,
    "dataset": {"name": "pocus", "label": "pocus"}, "folds": {"k": 2}, "seeds": [0],
    "protocols": [{"name": "uscl-paper-val", "label": "uscl-paper"}],
    "methods": [{"name": "uscl", "label": "uscl"}, {"name": "random", "label": "random"}]})");
  store.upsert_experiment("gate", 2, canonical_json(spec), content_hash(spec));
  for (const std::string method : {"uscl", "random"}) {
    for (int fold = 0; fold < 2; ++fold) {
      const RunRecord r = hand_filled_run("gate", method, fold);
      store.create_run(r, {{"root", 0}});
      store.start_run(r.id, kEnv);
      store.finish_run(r.id, RunStatus::Done);
      store.put_metrics(r.id, -1, "selection", {{"last", 2}, {"best_val", 1}, {"best_test", 1}});
      for (int epoch = 0; epoch < 3; ++epoch) {
        store.put_metrics(r.id, epoch, "train",
                          {{"loss", 1.0 / (epoch + 1) + 0.1 * fold}, {"images_per_s", 100.0 + epoch}});
        store.put_metrics(r.id, epoch, "val", {{"accuracy", 0.5 + 0.1 * epoch}});
        store.put_metrics(r.id, epoch, "test", {{"accuracy", 0.6 + 0.05 * epoch}});
        std::vector<std::string> clips, scores;
        std::vector<int> frames, truth, pred;
        for (int c = fold; c < 10; c += 2)
          for (int f = 0; f < 3; ++f) {
            clips.push_back(fmt::format("clip{}", c));
            frames.push_back(f);
            truth.push_back(c % 3);
            const bool wrong = method == "uscl" ? c >= 8 : f == 0;
            pred.push_back(wrong ? (c + 1) % 3 : c % 3);
            scores.push_back("[1,0,0]");
          }
        store.put_predictions(r.id, epoch, clips, frames, truth, pred, scores);
      }
    }
  }
}

reports::ExpectedRecord round_trip(const reports::ExpectedRecord& r) {
  return reports::parse_expected(nlohmann::json::parse(reports::dump_expected(r)), "expected.json");
}

}  // namespace

TEST_CASE("paired statistics of the gate, computed by hand", "[unit][gate]") {
  // One-sided exact McNemar: P(X >= b), X ~ Binomial(b + c, 1/2).
  CHECK(reports::mcnemar_one_sided_p(0, 0) == 1.0);
  CHECK(reports::mcnemar_one_sided_p(3, 0) == Approx(1.0 / 8));
  CHECK(reports::mcnemar_one_sided_p(2, 1) == Approx(4.0 / 8));
  CHECK(reports::mcnemar_one_sided_p(0, 3) == Approx(1.0));
  CHECK(reports::mcnemar_one_sided_p(10, 0) == Approx(1.0 / 1024));

  using reports::ClipPair;
  // No frame differs: nothing to test.
  CHECK(reports::paired_bootstrap_drop_p({{0, 0, 5}, {0, 0, 5}}, 1000, 1) == 1.0);
  // Every clip lost frames: no resample reaches d >= 0, p = 1 / (1 + resamples).
  const std::vector<ClipPair> all_lost(10, ClipPair{2, 0, 5});
  CHECK(reports::paired_bootstrap_drop_p(all_lost, 999, 1) == Approx(1.0 / 1000));
  // Every clip gained: every resample has d >= 0.
  CHECK(reports::paired_bootstrap_drop_p(std::vector<ClipPair>(10, ClipPair{0, 1, 5}), 999, 1) == Approx(1.0));
  // One clip of ten lost frames: d* >= 0 exactly when that clip is not drawn, probability 0.9^10 = 0.349.
  std::vector<ClipPair> one(10, ClipPair{0, 0, 5});
  one[3].lost = 4;
  const double p = reports::paired_bootstrap_drop_p(one, 20000, 7);
  CHECK(p == Approx(0.3487).margin(0.015));
  CHECK(reports::paired_bootstrap_drop_p(one, 20000, 7) == p);  // seeded: the same answer every time

  // The spread of d*: two clips of 5 frames, one lost a frame. d* = -k / 10 with k ~ Binomial(2, 1/2)
  // draws of that clip: sd = sqrt(2 x 1/4) / 10 = 0.0707. Identical clips: d* never varies.
  CHECK(reports::paired_bootstrap_drop({{1, 0, 5}, {0, 0, 5}}, 40000, 3).sd == Approx(0.0707).margin(0.002));
  CHECK(reports::paired_bootstrap_drop(all_lost, 999, 1).sd == Approx(0.0).margin(1e-6));
  // Detectable drop: (z_0.9975 + z_0.8) x sd = (2.8070 + 0.8416) x sd.
  CHECK(reports::detectable_drop(0.01, 0.0025) == Approx(0.036486).margin(1e-5));
  CHECK(reports::detectable_drop(0.02, 0.05) == Approx((1.6449 + 0.8416) * 0.02).margin(1e-5));
}

TEST_CASE(
    "gate exact tier: a store reproduces its record - a changed prediction or metric is named by run, epoch and frame",
    "[unit][gate]") {
  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  fill(store);
  const auto record = reports::record_expected(store, "gate");
  REQUIRE(record.runs.size() == 4);
  CHECK(record.platform["threads"] == 2);
  CHECK(record.platform["cpu_capability"] == "AVX2");
  // Pooled over folds: uscl gets clips 8 and 9 (6 of 30 frames) wrong; random frame 0 of each clip (10 of 30).
  CHECK(record.metrics[0]["method"] == "uscl");
  CHECK(record.metrics[0]["pooled_accuracy"].get<double>() == Approx(24.0 / 30));
  CHECK(record.metrics[3]["method"] == "random");  // uscl's three selections first (best_test, best_val, last)
  CHECK(record.metrics[3]["pooled_accuracy"].get<double>() == Approx(20.0 / 30));
  CHECK(record.runs[0].labels == "000222111000222");  // clips 0, 2, 4, 6, 8 (classes 0, 2, 1, 0, 2), 3 frames each
  // The file is its own fixed point: written, read and written again byte for byte.
  const auto text = reports::dump_expected(record);
  CHECK(reports::dump_expected(round_trip(record)) == text);

  auto result = reports::check_expected(store, round_trip(record), {});
  INFO(result.text);
  CHECK(result.passed);
  CHECK(result.tier == reports::Tier::Exact);
  CHECK_THAT(result.text, Contains("exact tier") && Contains("passed: exact tier, 4 gated runs"));

  // Throughput is not a result: changing it changes nothing.
  store.db().exec("UPDATE metrics SET value = 1 WHERE name = 'images_per_s'");
  CHECK(reports::check_expected(store, record, {}).passed);

  // One test prediction of uscl fold 0 at its val-selected epoch (1): clip4 frame 2, class 1 -> 2.
  const auto uscl0 = record.runs[0].run_id;
  store.db().exec("UPDATE predictions SET predicted = 2 WHERE run_id = '" + uscl0 +
                  "' AND epoch = 1 AND clip_id = 'clip4' AND frame_index = 2");
  result = reports::check_expected(store, record, {});
  CHECK_FALSE(result.passed);
  CHECK(result.failures == 1);
  CHECK_THAT(result.text,
             Contains("uscl uscl-paper seed 0 fold 0") &&
                 Contains("1 of 15 best_test predictions differ (clip4 frame 2: 1 -> 2)"));  // = best_val's epoch
  CHECK_THAT(result.text, Contains("random uscl-paper seed 0 fold 1      ok"));

  // A metric of epoch 2 (the last) of random fold 1: named as the first differing epoch.
  store.db().exec("UPDATE metrics SET value = value + 1e-15 WHERE run_id = '" + record.runs[3].run_id +
                  "' AND epoch = 2 AND name = 'loss'");
  result = reports::check_expected(store, record, {});
  CHECK(result.failures == 2);
  CHECK_THAT(result.text,
             Contains("random uscl-paper seed 0 fold 1") && Contains("epoch 2 is the first whose metrics differ"));

  // A gated run that is not done: named as missing.
  store.db().exec("UPDATE runs SET status = 'failed' WHERE id = '" + record.runs[2].run_id + "'");
  result = reports::check_expected(store, record, {});
  CHECK_THAT(result.text, Contains("random uscl-paper seed 0 fold 0") && Contains("FAIL: no done run in the store"));
}

TEST_CASE("gate paired tier: another platform is compared frame by frame, and only a real drop fails", "[unit][gate]") {
  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  fill(store);
  const auto record = reports::record_expected(store, "gate");

  // The runs recorded with another thread count: auto picks the paired tier and says why.
  store.db().exec("UPDATE runs SET env_json = json_set(env_json, '$.threads', 1)");
  auto result = reports::check_expected(store, record, {});
  INFO(result.text);
  CHECK(result.tier == reports::Tier::Paired);
  CHECK(result.passed);
  CHECK_THAT(
      result.text,
      Contains(
          "paired tier: the runs were recorded on LibTorch 1.13.0, cpu (AMD EPYC), CPU capability AVX2, threads 1, "
          "the expected file on LibTorch 1.13.0, cpu (AMD EPYC), CPU capability AVX2, threads 2"));
  CHECK_THAT(result.text, Contains("4 of 4 gated runs reproduce their record bit for bit"));

  // Rounding-size drift: one frame of one clip changes, a loss and a gain elsewhere. Not a regression.
  const auto uscl0 = record.runs[0].run_id, uscl1 = record.runs[1].run_id;
  store.db().exec("UPDATE predictions SET predicted = 0 WHERE run_id = '" + uscl0 +
                  "' AND clip_id = 'clip4' AND frame_index = 0");
  store.db().exec("UPDATE predictions SET predicted = label WHERE run_id = '" + uscl0 +
                  "' AND clip_id = 'clip8' AND frame_index = 0");
  result = reports::check_expected(store, record, {});
  CHECK(result.passed);
  CHECK_THAT(result.text, Contains("uscl       uscl-paper   best_val      30    80.00%    80.00%     1      1"));

  // A regression: uscl now errs on frames 1 and 2 of every clip it got right (8 clips, 16 frames lost).
  store.db().exec("UPDATE predictions SET predicted = (label + 1) % 3 WHERE run_id IN ('" + uscl0 + "', '" + uscl1 +
                  "') AND frame_index IN (1, 2) AND clip_id NOT IN ('clip8', 'clip9')");
  result = reports::check_expected(store, record, {});
  INFO(result.text);
  CHECK_FALSE(result.passed);
  CHECK(result.failures == 3);  // uscl's best_test, best_val and last; random untouched
  CHECK_THAT(result.text, Contains("FAIL: worse by"));
  CHECK_THAT(
      result.text,
      Contains("random     uscl-paper   best_val      30    66.67%    66.67%     0      0        1       0.0  ok"));

  // Forced exact tier on the other platform: every changed run fails.
  reports::GateOptions exact;
  exact.tier = reports::Tier::Exact;
  result = reports::check_expected(store, record, exact);
  CHECK(result.tier == reports::Tier::Exact);
  CHECK_THAT(result.text, Contains("(--tier exact)"));
  CHECK(result.failures == 2);
}

TEST_CASE("expected files: the fold-spread format, malformed records and unknown experiments are refused by name",
          "[unit][gate]") {
  CHECK_THROWS_WITH(
      reports::parse_expected(nlohmann::json::parse(R"({"experiment": "ci", "metrics": []})"), "old.json"),
      Contains("old.json") && Contains("usbench check --write"));
  CHECK_THROWS_WITH(reports::parse_expected(nlohmann::json::parse(R"({"format": 3})"), "new.json"),
                    Contains("new.json: format 3"));
  CHECK_THROWS_WITH(
      reports::parse_expected(
          nlohmann::json::parse(R"({"format": 2, "experiment": "ci", "version": 1, "platform": {}, "metrics": []})"),
          "x.json"),
      Contains("x.json: malformed expected results") && Contains("runs"));
  CHECK_THROWS_WITH(
      reports::parse_expected(
          nlohmann::json::parse(
              R"({"format": 2, "experiment": "ci", "version": 1, "platform": {}, "metrics": [], "runs": [{"method": "u", "protocol": "p", "seed": 0,
                            "fold": 0, "run": "r", "epochs": [], "selected": {"best_val": 0, "last": 0}, "frames": "f", "labels": "01",
                            "predicted": {"best_val": "0", "last": "01"}}]})"),
          "x.json"),
      Contains("x.json: runs: u p seed 0 fold 0: 1 predictions for 2 labels"));

  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  fill(store);
  auto record = reports::record_expected(store, "gate");
  std::ofstream(dir / "gate.json") << reports::dump_expected(record);
  record.experiment = "other";
  CHECK_THROWS_WITH(reports::check_expected(store, record, {}), Contains("no experiment 'other'"));
  // Recording an incomplete grid is refused: it would gate nothing.
  store.db().exec("UPDATE runs SET status = 'failed' WHERE method = 'random' AND fold = 1");
  CHECK_THROWS_WITH(reports::record_expected(store, "gate"), Contains("random uscl-paper: 1 of 2 runs done"));

  // Through the CLI: a missing file, an old-format file: exit 2 naming it.
  const auto missing = run_usbench("check --expected " + q(dir / "none.json") + " --db " + q(dir / "s.db"));
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Contains("none.json"));
  std::ofstream(dir / "old.json") << R"({"experiment": "gate", "metrics": []})";
  const auto old = run_usbench("check --expected " + q(dir / "old.json") + " --db " + q(dir / "s.db"));
  CHECK(old.exit_code == 2);
  CHECK_THAT(old.output, Contains("old.json") && Contains("regenerate it with usbench check --write"));
  // check's new options: an unknown tier, an alpha outside (0, 0.5].
  for (const std::string bad : {"--tier fast", "--alpha 2", "--alpha 0"}) {
    const auto r = run_usbench("check --expected " + q(dir / "old.json") + " --db " + q(dir / "s.db") + " " + bad);
    INFO(bad << ": " << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(bad.substr(0, bad.find(' '))));
  }

  // run --expected: a missing file, an old-format file, or the record of another experiment is refused
  // before the store is created.
  for (const auto& [file, message] :
       std::vector<std::pair<std::string, std::string>>{{"none.json", "none.json"},
                                                        {"old.json", "regenerate it with usbench check --write"},
                                                        {"gate.json", "records experiment 'gate', the spec is 'ci'"}}) {
    const auto r = run_usbench("run experiments/ci.json --db " + q(dir / "run.db") + " --expected " + q(dir / file));
    INFO(file << ": " << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(message));
    CHECK_FALSE(fs::exists(dir / "run.db"));
  }
}

TEST_CASE(
    "gate platform: the kernel set and threads decide the tier, not the CPU's model name - old records stay readable",
    "[unit][gate]") {
  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  fill(store);
  const auto old_record = reports::record_expected(store, "gate");  // runs recorded before the kernel set was
  CHECK(old_record.platform.contains("device_name"));
  // The same runs as recorded now: an AVX2 AMD machine with the pinned kernel set.
  store.db().exec(R"(UPDATE runs SET env_json = json_set(env_json, '$.kernels',
    json('{"requested":"avx2","onednn":"avx2","aten":"AVX2","blas":"blas/libblas.so.3.11.0","cpu_avx512":false}')))");
  const auto record = reports::record_expected(store, "gate");
  CHECK(
      record.platform ==
      nlohmann::json::parse(
          R"({"torch_version":"1.13.0","device":"cpu","kernels":"onednn avx2, aten AVX2, blas blas/libblas.so.3.11.0","threads":2})"));

  // Another CPU model (an AVX-512 Intel) running the same pinned kernels and threads: the same platform.
  store.db().exec(R"(UPDATE runs SET env_json = json_set(env_json, '$.cpu', 'Intel(R) Xeon(R) Platinum 8488C',
    '$.device_name', 'Intel(R) Xeon(R) Platinum 8488C', '$.cpu_capability', 'AVX2', '$.kernels.cpu_avx512', json('true')))");
  auto result = reports::check_expected(store, record, {});
  INFO(result.text);
  CHECK(result.tier == reports::Tier::Exact);
  CHECK(result.passed);
  CHECK_THAT(result.text,
             Contains("exact tier: the runs were recorded on LibTorch 1.13.0, cpu, kernels onednn avx2, aten AVX2, "
                      "blas blas/libblas.so.3.11.0, threads 2, the expected file's platform"));

  // The same machine with the libraries left to choose (oneDNN at AVX-512): another platform.
  store.db().exec("UPDATE runs SET env_json = json_set(env_json, '$.kernels.onednn', 'avx512_core')");
  result = reports::check_expected(store, record, {});
  CHECK(result.tier == reports::Tier::Paired);
  CHECK_THAT(result.text, Contains("kernels onednn avx512_core, aten AVX2"));
  // Another thread count with the pinned kernels: another platform too.
  store.db().exec("UPDATE runs SET env_json = json_set(env_json, '$.kernels.onednn', 'avx2', '$.threads', 4)");
  CHECK(reports::check_expected(store, record, {}).tier == reports::Tier::Paired);
  // A record written before the kernel set was recorded is read, and compared in the paired tier.
  store.db().exec("UPDATE runs SET env_json = json_set(env_json, '$.threads', 2)");
  CHECK(reports::check_expected(store, record, {}).tier == reports::Tier::Exact);
  result = reports::check_expected(store, round_trip(old_record), {});
  CHECK(result.tier == reports::Tier::Paired);
  CHECK(result.passed);
  CHECK_THAT(result.text,
             Contains("the expected file on LibTorch 1.13.0, cpu (AMD EPYC), CPU capability AVX2, threads 2"));
}
