// Seeds in the statistics (README "Protocol and what the table reports"): the two-level bootstrap, the
// per-seed columns and the clip-level paired test over seeds, on hand-made data whose answer is known.
#include <catch2/catch.hpp>

#include "harness/canonical.h"
#include "harness/store/store.h"
#include "reports/comparison.h"
#include "reports/metrics.h"
#include "spec_fixture.h"
#include "store_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;

namespace {

// 40 clips of 5 frames; a seed gets `right` frames of each clip right (the same for every clip).
std::vector<std::pair<long, long>> seed_clips(long right) { return std::vector<std::pair<long, long>>(40, {right, 5}); }

// Two methods x two seeds x two folds on 12 clips of 3 frames; `wrong(method, seed, clip, frame)` says
// which predictions are wrong.
template <class Wrong>
void fill(Store& store, Wrong wrong) {
  const auto spec = nlohmann::json::parse(R"({"name": "seeds", "version": 1,
    "dataset": {"name": "pocus", "label": "pocus"}, "folds": {"k": 2}, "seeds": [0, 1],
    "protocols": [{"name": "uscl-paper", "label": "uscl-paper"}],
    "methods": [{"name": "uscl", "label": "uscl"}, {"name": "random", "label": "random"}]})");
  store.upsert_experiment("seeds", 1, canonical_json(spec), content_hash(spec));
  store.put_dataset(hand_filled_pocus(12, 3));
  for (const std::string method : {"uscl", "random"})
    for (int seed = 0; seed < 2; ++seed)
      for (int fold = 0; fold < 2; ++fold) {
        RunRecord r = hand_filled_run("seeds", method, fold);
        r.id = content_hash({{"m", method}, {"f", fold}, {"s", seed}});
        r.seed = seed;
        r.env_json = R"({"device":"cpu"})";
        store.create_run(r, {{"init", 1}, {"root", seed}});
        store.finish_run(r.id, RunStatus::Done);
        store.put_metrics(r.id, -1, "selection", {{"last", 1}, {"best_test", 1}});
        std::vector<std::string> clips, scores;
        std::vector<int> frames, truth, pred;
        for (int c = fold; c < 12; c += 2)
          for (int f = 0; f < 3; ++f) {
            clips.push_back("clip" + std::to_string(c));
            frames.push_back(f);
            truth.push_back(c % 3);
            pred.push_back(wrong(method, seed, c, f) ? (c % 3 + 1) % 3 : c % 3);
            scores.push_back("[1,0,0]");
          }
        store.put_predictions(r.id, 1, clips, frames, truth, pred, scores);
      }
}

}  // namespace

TEST_CASE("two-level bootstrap: one seed is the clip bootstrap, seeds that disagree widen the interval",
          "[unit][report]") {
  // One seed: exactly the clip bootstrap (same draws).
  std::vector<std::pair<long, long>> mixed;
  for (int c = 0; c < 40; ++c) mixed.push_back({c % 5, 5});
  const auto one = reports::bootstrap_accuracy_two_level({mixed}, 2000, 7);
  const auto clips = reports::bootstrap_accuracy(mixed, 2000, 7);
  CHECK(one.lo == clips.lo);
  CHECK(one.hi == clips.hi);
  // Three seeds with no clip variation inside a seed but 60% / 80% / 100% between them: the interval
  // spans the seeds' spread; three identical seeds at 80% give a point.
  const auto spread = reports::bootstrap_accuracy_two_level({seed_clips(3), seed_clips(4), seed_clips(5)}, 2000, 7);
  const auto same = reports::bootstrap_accuracy_two_level({seed_clips(4), seed_clips(4), seed_clips(4)}, 2000, 7);
  CHECK(same.lo == Approx(0.8));
  CHECK(same.hi == Approx(0.8));
  CHECK(spread.lo <= 0.6 + 1e-12);  // a resample of three 60% seeds happens in 1 of 27 draws
  CHECK(spread.hi >= 1.0 - 1e-12);
  // Large seed-to-seed variance: wider than any one seed's clip interval.
  std::vector<std::pair<long, long>> low, high;
  for (int c = 0; c < 40; ++c) {
    low.push_back({1 + c % 3, 5});   // about 40%
    high.push_back({3 + c % 3, 5});  // about 80%
  }
  const auto both = reports::bootstrap_accuracy_two_level({low, high}, 2000, 7);
  const auto low_only = reports::bootstrap_accuracy(low, 2000, 7);
  const auto high_only = reports::bootstrap_accuracy(high, 2000, 7);
  CHECK(both.hi - both.lo > 2 * (low_only.hi - low_only.lo));
  CHECK(both.hi - both.lo > 2 * (high_only.hi - high_only.lo));
}

TEST_CASE("a two-seed table: per-seed figures, a clip counted once over seeds, identical methods p = 1",
          "[unit][report]") {
  SECTION("identical methods") {
    TempDir dir;
    auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
    // Both methods wrong on the same frames; seed 1 wrong on more than seed 0.
    fill(store, [](const std::string&, int seed, int c, int f) { return (c + f) % (seed == 0 ? 4 : 2) == 0; });
    const auto t = reports::build_comparison(store, "seeds", builtin_registries());
    REQUIRE(t.rows.size() == 2);
    const auto& a = t.rows[0].by.at("last");
    const auto& b = t.rows[1].by.at("last");
    CHECK(t.rows[0].headline == "last");
    REQUIRE(a.per_seed.size() == 2);
    // Seed 0: (c + f) % 4 == 0 wrong on 9 of 36 frames; seed 1: (c + f) % 2 == 0 on 18 of 36.
    CHECK(a.per_seed[0] == Approx(27.0 / 36));
    CHECK(a.per_seed[1] == Approx(18.0 / 36));
    CHECK(a.seed_mean == Approx((27.0 + 18.0) / 72));
    CHECK(a.seed_sd == Approx(std::sqrt(2 * std::pow(9.0 / 72, 2))));
    CHECK(a.pooled == Approx(45.0 / 72));
    CHECK(a.per_seed == b.per_seed);
    REQUIRE(t.rows[1].vs_paper_method.has_value());
    const auto& p = *t.rows[1].vs_paper_method;
    CHECK_FALSE(p.frames_valid);  // two seeds: the frame test is not shown
    CHECK(p.clip_wins == 0);
    CHECK(p.clip_losses == 0);
    CHECK(p.clip_p == 1.0);
    CHECK_THAT(reports::to_markdown(t), Catch::Contains("(2 seeds)"));
  }
  SECTION("a clip is one unit over seeds") {
    TempDir dir;
    auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
    // random is wrong on every frame of clips 0-5 under seed 0 only; uscl never. Six clips where USCL
    // has more right: six units, not twelve (one per seed).
    fill(store, [](const std::string& m, int seed, int c, int) { return m == "random" && seed == 0 && c < 6; });
    const auto t = reports::build_comparison(store, "seeds", builtin_registries());
    REQUIRE(t.rows[1].vs_paper_method.has_value());
    const auto& p = *t.rows[1].vs_paper_method;
    CHECK(p.clip_losses == 6);
    CHECK(p.clip_wins == 0);
    CHECK(p.clip_p == Approx(2.0 / 64));  // two-sided exact sign test, 6 of 6
  }
}
