// Golden-file tests of every report format on a store filled by hand (no training, so the figures are
// the same on every machine). USBENCH_UPDATE_GOLDEN=1 rewrites the files; review the diff.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <regex>
#include <vector>

#include <fmt/format.h>

#include "harness/canonical.h"
#include "harness/store/store.h"
#include "reports/comparison.h"
#include "reports/figures.h"
#include "spec_fixture.h"
#include "store_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;

namespace {

const fs::path kGolden = fs::path(USBENCH_SOURCE_DIR) / "tests" / "golden";

// Two methods x 2 folds on 8 clips of 2 frames; predictions chosen so every metric is non-trivial.
void fill(Store& store) {
  const auto spec = nlohmann::json::parse(R"({"name": "golden", "version": 3,
    "dataset": {"name": "pocus", "label": "pocus"}, "folds": {"k": 2}, "seeds": [0],
    "protocols": [{"name": "uscl-paper-val", "label": "uscl-paper"}],
    "methods": [{"name": "uscl", "label": "uscl"}, {"name": "random", "label": "random"}, {"name": "imagenet", "label": "imagenet"}]})");
  store.upsert_experiment("golden", 3, canonical_json(spec), content_hash(spec));
  store.set_method_note("golden", "imagenet", "not run: weights not supplied");
  store.put_dataset(hand_filled_pocus(8, 2));
  for (const std::string method : {"uscl", "random"}) {
    for (int fold = 0; fold < 2; ++fold) {
      RunRecord r = hand_filled_run("golden", method, fold);  // manifest: the data set's
      r.env_json = R"({"device":"cpu"})";
      store.create_run(r, {{"init", 1}, {"root", 0}});
      store.finish_run(r.id, RunStatus::Done);
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
  p.stage = Stage::Pretrain;
  p.config_json = "{}";
  p.config_hash = std::string(64, 'c');
  p.manifest_hash = std::string(64, 'e');
  store.create_run(p, {{"init", 1}});
  store.finish_run(p.id, RunStatus::Done);
  for (int epoch = 0; epoch < 3; ++epoch) {
    store.put_metrics(p.id, epoch, "train", {{"loss", 4.0 - epoch}});
    store.put_metrics(p.id, epoch, "heldout",
                      {{"contrastive", 3.5 - 0.5 * epoch}, {"knn_accuracy", 0.5 + 0.125 * epoch}});
  }
}

void compare(const std::string& name, const std::string& actual) {
  const auto path = kGolden / name;
  if (std::getenv("USBENCH_UPDATE_GOLDEN")) write_bytes(path, actual);
  INFO("golden file " << path.string() << " (USBENCH_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(fs::exists(path));
  CHECK(read_bytes(path) == actual);
}

// A strict check that `doc` is well-formed XML of the kind the figures use: one root element, every tag
// closed in order, attribute values quoted, only the five predefined entities, nothing after the root.
// Returns "" when well-formed, else what is wrong and where.
std::string xml_problem(const std::string& doc) {
  std::vector<std::string> open;
  std::size_t i = 0;
  bool root_seen = false;
  if (doc.rfind("<?xml", 0) == 0) i = doc.find("?>") + 2;
  while (i < doc.size()) {
    if (doc[i] != '<') {
      if (doc[i] == '&') {
        const auto semi = doc.find(';', i);
        const std::string ent = semi == std::string::npos ? "" : doc.substr(i, semi - i + 1);
        if (ent != "&lt;" && ent != "&gt;" && ent != "&amp;" && ent != "&quot;" && ent != "&apos;")
          return "bad entity at " + std::to_string(i);
      }
      if (open.empty() && !std::isspace(static_cast<unsigned char>(doc[i])))
        return "text outside the root at " + std::to_string(i);
      ++i;
      continue;
    }
    const auto end = doc.find('>', i);
    if (end == std::string::npos) return "unclosed tag at " + std::to_string(i);
    const std::string tag = doc.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1))
        return "</" + tag.substr(1) + "> closes " + (open.empty() ? "nothing" : open.back());
      open.pop_back();
      continue;
    }
    static const std::regex kTag(
        R"(^([A-Za-z][A-Za-z0-9:_-]*)((\s+[A-Za-z:_][A-Za-z0-9:_.-]*="[^"<&]*(&(lt|gt|amp|quot|apos);[^"<&]*)*")*)\s*(/?)$)");
    std::smatch m;
    if (!std::regex_match(tag, m, kTag)) return "malformed tag <" + tag.substr(0, 60) + ">";
    if (open.empty() && root_seen) return "a second root element <" + m[1].str() + ">";
    root_seen = true;
    if (m[6].str().empty()) open.push_back(m[1].str());
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return root_seen ? "" : "no element";
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the XML check used on the figures rejects what is not well-formed", "[unit][report]") {
  CHECK(xml_problem("<?xml version=\"1.0\"?>\n<svg a=\"1\"><g><text>a &amp; b</text></g><rect x=\"1\"/></svg>\n")
            .empty());
  CHECK_FALSE(xml_problem("<svg><g></svg></g>").empty());
  CHECK_FALSE(xml_problem("<svg><text>a & b</text></svg>").empty());
  CHECK_FALSE(xml_problem("<svg a=1></svg>").empty());
  CHECK_FALSE(xml_problem("<svg></svg><svg></svg>").empty());
  CHECK_FALSE(xml_problem("<svg>").empty());
}

TEST_CASE("report figures: well-formed SVG documents whose marks are the table's numbers", "[unit][report]") {
  TempDir dir;
  auto store = Store::open((dir / "g.db").string(), Store::Access::Create);
  fill(store);
  const auto t = reports::build_comparison(store, "golden", builtin_registries());
  const auto figures = reports::make_figures(t);
  std::vector<std::string> names;
  for (const auto& f : figures) {
    names.push_back(f.file_name);
    INFO(f.file_name);
    CHECK(xml_problem(f.svg).empty());
    CHECK_THAT(f.svg, Catch::Matchers::Contains("xmlns=\"http://www.w3.org/2000/svg\"") &&
                          Catch::Matchers::Contains("in\" height=\""));
    CHECK_FALSE(f.caption.empty());
  }
  REQUIRE(names.size() >= 4);
  CHECK(names[0] == "forest.svg");
  CHECK(names[1] == "per_fold.svg");
  CHECK(std::find(names.begin(), names.end(), "confusion.svg") != names.end());
  // This store records the training loss by epoch (two folds each: a mean line and a +-1 SD band), no test curve.
  const auto loss = std::find_if(figures.begin(), figures.end(),
                                 [](const auto& f) { return f.file_name == "train_loss_uscl-paper.svg"; });
  REQUIRE(loss != figures.end());
  CHECK(count(loss->svg, "<polygon") == 2);   // a band per row
  CHECK(count(loss->svg, "<polyline") == 2);  // uscl and random
  const auto& forest = figures[0].svg;
  // Two rows with results x three selections: a point each, titled with its value and interval.
  CHECK(count(forest, "<circle") == 6);
  const auto& bt = t.rows[0].by.at("best_test");
  CHECK_THAT(forest, Catch::Matchers::Contains(
                         fmt::format("{:.2f}% [{:.2f}, {:.2f}]", 100 * bt.pooled, 100 * bt.ci.lo, 100 * bt.ci.hi)));
  CHECK(count(forest, "<path") == 0);  // uscl-paper-val has no paper figure (uscl-paper's: tests/test_runner.cpp)
  // One bar per (row, fold), labelled with its value.
  const auto& bars = figures[1].svg;
  CHECK(count(bars, "<rect") == 1 + 2 + 2 * 2);  // background, 2 legend swatches, 2 rows x 2 folds
  for (const auto* r : {&t.rows[0], &t.rows[1]})
    for (std::size_t i = 0; i < r->by.at("best_val").per_fold.size(); ++i)
      CHECK_THAT(bars,
                 Catch::Matchers::Contains(fmt::format(">{:.1f}</text>", 100 * r->by.at("best_val").per_fold[i])));
  CHECK_THAT(bars, Catch::Matchers::Contains(">fold 0</text>") && Catch::Matchers::Contains(">fold 1</text>"));
  // The confusion matrices print every count.
  const auto& conf =
      std::find_if(figures.begin(), figures.end(), [](const auto& f) { return f.file_name == "confusion.svg"; })->svg;
  const auto& cm = t.rows[0].by.at("best_val").confusion;
  for (int a = 0; a < cm.k; ++a)
    for (int b = 0; b < cm.k; ++b)
      CHECK_THAT(conf, Catch::Matchers::Contains(fmt::format("true {}, predicted {}: {} (",
                                                             t.classes[static_cast<std::size_t>(a)],
                                                             t.classes[static_cast<std::size_t>(b)], cm.at(a, b))));
}

TEST_CASE("nice axis ticks: steps of 1, 2 or 5 x 10^k that cover the range", "[unit][report]") {
  CHECK(reports::nice_ticks(0, 100) == std::vector<double>{0, 20, 40, 60, 80, 100});
  CHECK(reports::nice_ticks(71.3, 88.9) == std::vector<double>{70, 75, 80, 85, 90});
  CHECK(reports::nice_ticks(0, 59, 6) == std::vector<double>{0, 10, 20, 30, 40, 50, 60});
  CHECK(reports::nice_ticks(0, 2, 6) == std::vector<double>{0, 0.5, 1, 1.5, 2});
  CHECK(reports::nice_ticks(0, 2, 6, /*integers=*/true) == std::vector<double>{0, 1, 2});  // epochs
  const auto t = reports::nice_ticks(1.23, 3.07);
  CHECK(t.front() <= 1.23);
  CHECK(t.back() >= 3.07);
}

TEST_CASE("every report format matches its golden file", "[unit][report]") {
  TempDir dir;
  auto store = Store::open((dir / "g.db").string(), Store::Access::Create);
  fill(store);
  auto t = reports::build_comparison(store, "golden", builtin_registries());
  for (auto& run : t.runs) run.erase("environment");                           // the machine-dependent part
  for (auto& g : t.environments) g.first_started_ms = g.last_finished_ms = 0;  // when the test ran
  REQUIRE(t.rows.size() == 3);
  CHECK(t.rows[2].note == "not run: weights not supplied");
  CHECK(t.rows[0].paper.empty());  // uscl-paper-val fits on 80%: not the paper's figure (uscl-paper's: test_runner.cpp)
  compare("golden.md", reports::to_markdown(t));
  compare("golden.csv", reports::to_csv(t));
  compare("golden.tex", reports::to_latex(t));
  compare("golden.json", reports::to_json(t).dump(2) + "\n");
  compare("golden.html", reports::to_html(t));
}

TEST_CASE("the report says where its runs were made: runs grouped by recorded environment, ordered by start",
          "[unit][report]") {
  const std::string a =
      R"({"hostname":"vm","device":"cpu","device_name":"AMD EPYC","logical_cpus":2,"threads":2,)"
      R"("torch_version":"1.13.0","cuda_version":null,"git_commit":"43397454dc348f9015489797a803afb5681f1aba",)"
      R"("git_dirty":false,"kernels":{"requested":"avx2","onednn":"avx2","aten":"AVX2"}})";
  const std::string b =
      R"({"hostname":"gpu1","device":"cuda","device_name":"NVIDIA H200","logical_cpus":16,"threads":8,)"
      R"("torch_version":"2.6.0","cuda_version":12040,"git_commit":"0123456789abcdef","git_dirty":true})";
  auto run = [](const std::string& env, Stage stage, std::optional<std::int64_t> start,
                std::optional<std::int64_t> end) {
    RunRecord r;
    r.env_json = env;
    r.stage = stage;
    r.started_ms = start;
    r.finished_ms = end;
    return r;
  };
  const auto groups = reports::environment_groups(
      {run(a, Stage::Finetune, 2000, 9000), run("not json", Stage::Probe, std::nullopt, std::nullopt),
       run(b, Stage::Pretrain, 1500, std::nullopt), run(a, Stage::Pretrain, 1000, 5000)});
  REQUIRE(groups.size() == 3);  // a's two runs are one group; a run never started comes last
  CHECK(groups[0].host == "vm");
  CHECK(groups[0].device == "cpu (AMD EPYC, 2 logical CPUs)");
  CHECK(groups[0].kernels == "avx2 requested: oneDNN avx2, ATen AVX2");
  CHECK(groups[0].torch == "1.13.0");
  CHECK(groups[0].commit == "43397454dc34");
  CHECK(groups[0].pretraining_runs == 1);
  CHECK(groups[0].downstream_runs == 1);
  CHECK(groups[0].first_started_ms == 1000);
  CHECK(groups[0].last_finished_ms == 9000);
  CHECK(groups[1].torch == "2.6.0 (CUDA runtime 12040)");
  CHECK(groups[1].kernels == "?");  // recorded none
  CHECK(groups[1].commit == "0123456789ab (dirty: uncommitted changes)");
  CHECK(groups[1].last_finished_ms == 0);
  CHECK(groups[2].host == "?");  // an unreadable record is named as unknown, not dropped
  CHECK(groups[2].downstream_runs == 1);
  const auto md = reports::environments_markdown(groups);
  CHECK(md.find("| vm | cpu (AMD EPYC, 2 logical CPUs) | avx2 requested: oneDNN avx2, ATen AVX2 | 1.13.0 | 2 | "
                "43397454dc34 | 1 | 1 | 1970-01-01T00:00:01.000Z | 1970-01-01T00:00:09.000Z |") != std::string::npos);
  CHECK(md.find("| 1970-01-01T00:00:01.500Z | — |") != std::string::npos);
  CHECK(reports::environments_markdown({}).empty());
}

TEST_CASE("the report's figures are the ones computed by hand from the predictions", "[unit][report]") {
  TempDir dir;
  auto store = Store::open((dir / "g.db").string(), Store::Access::Create);
  fill(store);
  const auto t = reports::build_comparison(store, "golden", builtin_registries());
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
  REQUIRE(t.rows[1].vs_paper_method.has_value());
  CHECK(t.rows[1].vs_paper_method->b == 6);
  CHECK(t.rows[1].vs_paper_method->c == 2);
  CHECK(t.rows[1].vs_paper_method->p == Approx(74.0 / 256));
  CHECK(t.rows[1].vs_paper_method->clip_losses == 4);
  CHECK(t.rows[1].vs_paper_method->clip_wins == 0);
  CHECK(t.rows[1].vs_paper_method->clip_p == Approx(2.0 / 16));
  // The same pairs seen from USCL's row against random-init; no row is tested against itself.
  REQUIRE(t.rows[0].vs_baseline.has_value());
  CHECK(t.rows[0].vs_baseline->b == 2);
  CHECK(t.rows[0].vs_baseline->c == 6);
  CHECK(t.rows[0].vs_baseline->clip_wins == 4);
  CHECK(t.rows[0].vs_baseline->clip_losses == 0);
  CHECK_FALSE(t.rows[0].vs_paper_method.has_value());
  CHECK_FALSE(t.rows[1].vs_baseline.has_value());
  CHECK_FALSE(t.rows[2].vs_paper_method.has_value());  // imagenet: not run
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
  const auto before = reports::build_comparison(store, "golden", builtin_registries());
  REQUIRE(before.superseded == 0);
  // The same cell (uscl, fold 0) from an older uscl version, every frame predicted wrong.
  RunRecord r;
  r.id = content_hash({{"m", "uscl"}, {"f", 0}, {"old", true}});
  r.experiment = "golden";
  r.method = "uscl";
  r.protocol = "uscl-paper";
  r.stage = Stage::Finetune;
  r.fold = 0;
  r.method_version = 7;  // the spec's methods carry no version (0)
  r.config_json = "{}";
  r.config_hash = std::string(64, 'c');
  r.manifest_hash = std::string(64, 'a');
  r.fold_hash = std::string(64, 'f');
  store.create_run(r, {{"init", 1}});
  store.finish_run(r.id, RunStatus::Done);
  store.put_metrics(r.id, -1, "selection", {{"last", 2}, {"best_val", 2}, {"best_test", 2}});
  store.put_predictions(r.id, 2, {"clip0", "clip2"}, {0, 0}, {0, 2}, {1, 0}, {"[0,1,0]", "[1,0,0]"});
  const auto after = reports::build_comparison(store, "golden", builtin_registries());
  CHECK(after.superseded == 1);
  CHECK(after.rows[0].runs_done == 2);
  CHECK(after.rows[0].by.at("best_test").pooled == before.rows[0].by.at("best_test").pooled);
  CHECK(after.rows[0].by.at("best_test").confusion.total() == 16);
  CHECK_THAT(reports::to_markdown(after), Catch::Contains("1 superseded runs"));
}

TEST_CASE("report --format svg needs a folder: without --out or with a file there it exits 2 and writes nothing",
          "[cli][report]") {
  TempDir dir;
  {
    auto store = Store::open((dir / "g.db").string(), Store::Access::Create);
    fill(store);
  }
  const std::string db = " --db '" + (dir / "g.db").string() + "'";
  auto r = run_usbench("report --format svg" + db);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("--out DIR"));
  write_bytes(dir / "figs", "a file");
  r = run_usbench("report --format svg --out '" + (dir / "figs").string() + "'" + db);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("figs") && Catch::Matchers::Contains("not a folder"));
  CHECK(read_bytes(dir / "figs") == "a file");
  r = run_usbench("report --format svg --out '" + (dir / "out").string() + "'" + db);
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(dir / "out" / "forest.svg"));
}
