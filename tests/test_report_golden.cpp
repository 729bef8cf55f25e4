// Golden-file tests of every report format on a store filled by hand (no training, so the figures are
// the same on every machine). USBENCH_UPDATE_GOLDEN=1 rewrites the files; review the diff.
#include <catch2/catch.hpp>

#include <cmath>

#include "harness/canonical.h"
#include "harness/store.h"
#include "reports/comparison.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;

namespace {

const fs::path kGolden = fs::path(USBENCH_SOURCE_DIR) / "tests" / "golden";

// Two methods x 2 folds on 8 clips of 2 frames; predictions chosen so every metric is non-trivial.
void fill(Store& store) {
  const auto spec = nlohmann::json::parse(R"({"name": "golden", "version": 3,
    "dataset": {"name": "pocus", "label": "pocus"}, "folds": {"k": 2}, "seeds": [0],
    "protocols": [{"name": "uscl-paper", "label": "uscl-paper"}],
    "methods": [{"name": "uscl", "label": "uscl"}, {"name": "random", "label": "random"}, {"name": "imagenet", "label": "imagenet"}]})");
  store.upsert_experiment("golden", 3, canonical_json(spec), content_hash(spec));
  store.set_method_note("golden", "imagenet", "not run: weights not supplied");
  DatasetRecord d;
  d.name = "pocus";
  d.kind = "pocus";
  d.source = "/data/pocus";
  d.config_json = "{}";
  d.manifest_hash = std::string(64, 'a');
  const char* labels[] = {"covid", "pneumonia", "regular"};
  for (int c = 0; c < 8; ++c) d.clips.push_back({"clip" + std::to_string(c), "/data/clip" + std::to_string(c), labels[c % 3],
                                                 "clip" + std::to_string(c), 2, 0, std::string(64, 'b'), "{}"});
  store.put_dataset(d);
  for (const std::string method : {"uscl", "random"}) {
    for (int fold = 0; fold < 2; ++fold) {
      RunRecord r;
      r.id = content_hash({{"m", method}, {"f", fold}});
      r.experiment = "golden";
      r.method = method;
      r.protocol = "uscl-paper";
      r.stage = "finetune";
      r.fold = fold;
      r.config_json = "{}";
      r.config_hash = std::string(64, 'c');
      r.manifest_hash = d.manifest_hash;
      r.fold_hash = std::string(64, 'f');
      r.env_json = R"({"device":"cpu"})";
      store.create_run(r, {{"init", 1}, {"root", 0}});
      store.finish_run(r.id, "done");
      store.put_metrics(r.id, -1, "selection", {{"last", 4}, {"best_val", 3}, {"best_test", 2}});
      for (int epoch : {2, 3, 4}) {
        std::vector<std::string> clips, scores;
        std::vector<int> frames, truth, pred;
        for (int c = fold; c < 8; c += 2)
          for (int f = 0; f < 2; ++f) {
            clips.push_back("clip" + std::to_string(c));
            frames.push_back(f);
            const int t = c % 3;
            truth.push_back(t);
            // uscl errs on one frame per epoch-dependent clip, random on more.
            const bool wrong = method == "uscl" ? (c + f + epoch) % 7 == 0 : (c + 2 * f + epoch) % 3 == 0;
            pred.push_back(wrong ? (t + 1) % 3 : t);
            scores.push_back("[1,0,0]");
          }
        store.put_predictions(r.id, epoch, clips, frames, truth, pred, scores);
        // Learning-curve metrics: train loss falls with the epoch, differs by fold.
        store.put_metrics(r.id, epoch, "train", {{"loss", 1.0 / epoch + 0.25 * fold}});
      }
    }
  }
  // USCL's pretraining run, with a loss curve over 3 epochs.
  RunRecord p;
  p.id = content_hash({{"m", "uscl"}, {"stage", "pretrain"}});
  p.experiment = "golden";
  p.method = "uscl";
  p.stage = "pretrain";
  p.config_json = "{}";
  p.config_hash = std::string(64, 'c');
  p.manifest_hash = std::string(64, 'e');
  store.create_run(p, {{"init", 1}});
  store.finish_run(p.id, "done");
  for (int epoch = 0; epoch < 3; ++epoch) {
    store.put_metrics(p.id, epoch, "train", {{"loss", 4.0 - epoch}});
    store.put_metrics(p.id, epoch, "heldout", {{"contrastive", 3.5 - 0.5 * epoch}, {"knn_accuracy", 0.5 + 0.125 * epoch}});
  }
}

void compare(const std::string& name, const std::string& actual) {
  const auto path = kGolden / name;
  if (std::getenv("USBENCH_UPDATE_GOLDEN")) write_bytes(path, actual);
  INFO("golden file " << path.string() << " (USBENCH_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(fs::exists(path));
  CHECK(read_bytes(path) == actual);
}

}  // namespace

TEST_CASE("every report format matches its golden file", "[unit][report]") {
  TempDir dir;
  auto store = Store::open((dir / "g.db").string(), Store::Access::Create);
  fill(store);
  auto t = reports::build_comparison(store, "golden");
  for (auto& run : t.runs) run.erase("environment");  // the only machine-dependent part
  REQUIRE(t.rows.size() == 3);
  CHECK(t.rows[2].note == "not run: weights not supplied");
  CHECK(t.rows[0].paper == "94.19%");
  compare("golden.md", reports::to_markdown(t));
  compare("golden.csv", reports::to_csv(t));
  compare("golden.tex", reports::to_latex(t));
  compare("golden.json", reports::to_json(t).dump(2) + "\n");
  compare("golden.html", reports::to_html(t));
}

TEST_CASE("the report's figures are the ones computed by hand from the predictions", "[unit][report]") {
  TempDir dir;
  auto store = Store::open((dir / "g.db").string(), Store::Access::Create);
  fill(store);
  const auto t = reports::build_comparison(store, "golden");
  // uscl at its best_test epoch 2 is wrong where (c + f + 2) % 7 == 0: c=5,f=0 (fold 1) and c=4,f=1 (fold 0).
  const auto& best_test = t.rows[0].by.at("best_test");
  CHECK(best_test.confusion.total() == 16);
  CHECK(best_test.pooled == Approx(14.0 / 16));
  CHECK(best_test.per_fold == std::vector<double>{7.0 / 8, 7.0 / 8});
  CHECK(t.test_frames == 16);
  // Paired tests at the val-selected epoch 3. USCL errs where (c + f + 3) % 7 == 0: (clip 4, frame 0) and
  // (clip 3, frame 1); random where (c + 2f) % 3 == 0: frame 0 of clips 0, 3, 6 and frame 1 of clips 1, 4, 7.
  // No frame is wrong for both: b (USCL right only) = 6, c (random right only) = 2, p = 2 (1 + 8 + 28) / 256.
  // Clips: random has fewer frames right on 0, 1, 6, 7; clips 3 and 4 are ties (one error each), 2 and 5 too.
  REQUIRE(t.rows[1].vs_uscl.has_value());
  CHECK(t.rows[1].vs_uscl->b == 6);
  CHECK(t.rows[1].vs_uscl->c == 2);
  CHECK(t.rows[1].vs_uscl->p == Approx(74.0 / 256));
  CHECK(t.rows[1].vs_uscl->clip_losses == 4);
  CHECK(t.rows[1].vs_uscl->clip_wins == 0);
  CHECK(t.rows[1].vs_uscl->clip_p == Approx(2.0 / 16));
  // The same pairs seen from USCL's row against random-init; no row is tested against itself.
  REQUIRE(t.rows[0].vs_random.has_value());
  CHECK(t.rows[0].vs_random->b == 2);
  CHECK(t.rows[0].vs_random->c == 6);
  CHECK(t.rows[0].vs_random->clip_wins == 4);
  CHECK(t.rows[0].vs_random->clip_losses == 0);
  CHECK_FALSE(t.rows[0].vs_uscl.has_value());
  CHECK_FALSE(t.rows[1].vs_random.has_value());
  CHECK_FALSE(t.rows[2].vs_uscl.has_value());  // imagenet: not run
  // Learning curves: epoch 3's train loss is the mean of fold 0 (1/3) and fold 1 (1/3 + 0.25); epochs
  // 0 and 1 were not recorded (NaN); the pretraining curves come from the pretraining run.
  const auto& loss = t.rows[0].curves.at("train loss");
  REQUIRE(loss.size() == 5);
  CHECK(std::isnan(loss[0]));
  CHECK(loss[3] == Approx((1.0 / 3 + 1.0 / 3 + 0.25) / 2));
  CHECK(t.rows[0].curves.at("pretrain held-out loss") == std::vector<double>{3.5, 3.0, 2.5});
  CHECK(t.rows[1].curves.count("pretrain loss") == 0);  // random-init does not pretrain
}

TEST_CASE("runs of an earlier method version or a redone cell are not counted twice", "[unit][report]") {
  TempDir dir;
  auto store = Store::open((dir / "g.db").string(), Store::Access::Create);
  fill(store);
  const auto before = reports::build_comparison(store, "golden");
  REQUIRE(before.superseded == 0);
  // The same cell (uscl, fold 0) from an older uscl version, every frame predicted wrong.
  RunRecord r;
  r.id = content_hash({{"m", "uscl"}, {"f", 0}, {"old", true}});
  r.experiment = "golden";
  r.method = "uscl";
  r.protocol = "uscl-paper";
  r.stage = "finetune";
  r.fold = 0;
  r.method_version = 7;  // the spec's methods carry no version (0)
  r.config_json = "{}";
  r.config_hash = std::string(64, 'c');
  r.manifest_hash = std::string(64, 'a');
  r.fold_hash = std::string(64, 'f');
  store.create_run(r, {{"init", 1}});
  store.finish_run(r.id, "done");
  store.put_metrics(r.id, -1, "selection", {{"last", 2}, {"best_val", 2}, {"best_test", 2}});
  store.put_predictions(r.id, 2, {"clip0", "clip2"}, {0, 0}, {0, 2}, {1, 0}, {"[0,1,0]", "[1,0,0]"});
  const auto after = reports::build_comparison(store, "golden");
  CHECK(after.superseded == 1);
  CHECK(after.rows[0].runs_done == 2);
  CHECK(after.rows[0].by.at("best_test").pooled == before.rows[0].by.at("best_test").pooled);
  CHECK(after.rows[0].by.at("best_test").confusion.total() == 16);
  CHECK_THAT(reports::to_markdown(after), Catch::Contains("1 superseded runs"));
}
