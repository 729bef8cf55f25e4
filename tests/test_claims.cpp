// Pre-registered claims (README Design §6): parsed and resolved with the spec, tested by a paired two-level
// bootstrap on hand-made predictions whose answer is known, and fixed once an experiment has runs.
#include <catch2/catch.hpp>

#include "harness/canonical.h"
#include "harness/errors.h"
#include "harness/spec/spec.h"
#include "harness/store/store.h"
#include "reports/comparison.h"
#include "reports/metrics.h"
#include "spec_fixture.h"
#include "store_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {

nlohmann::json with_claims(nlohmann::json claims) {
  auto spec = minimal_spec();
  spec["claims"] = std::move(claims);
  return spec;
}

// The SpecError message of parsing `spec`, "" when it parses.
std::string spec_error(const nlohmann::json& spec) {
  try {
    parse_spec(spec, "s.json", builtin_registries());
  } catch (const SpecError& e) {
    return e.key_path() + " | " + e.what();
  }
  return "";
}

const char* kClaims = R"([
  {"id": "C1", "a": "uscl", "b": "random", "protocol": "uscl-paper", "selection": "last", "test": "paired",
   "alpha": 0.01},
  {"id": "C2", "a": "random", "b": "uscl", "protocol": "uscl-paper", "selection": "last", "test": "paired",
   "alpha": 0.01},
  {"id": "C3", "a": "uscl", "b": "random", "protocol": "uscl-paper", "selection": "best_test", "test": "paired",
   "alpha": 0.01}])";

// Two methods x two seeds x two folds on 12 clips of 3 frames (uscl-paper, selections last and best_test):
// uscl gets every frame right; random gets frame 0 of every clip wrong at `last` and every frame right at
// best_test. `skip_last_run`: random's run of seed 1, fold 1 is missing.
void fill(Store& store, bool skip_last_run) {
  const auto spec = nlohmann::json::parse(R"({"name": "claims", "version": 1,
    "dataset": {"name": "pocus", "label": "pocus"}, "folds": {"k": 2}, "seeds": [0, 1],
    "protocols": [{"name": "uscl-paper", "label": "uscl-paper"}],
    "methods": [{"name": "uscl", "label": "uscl"}, {"name": "random", "label": "random"}]})");
  auto stored = spec;
  stored["claims"] = nlohmann::json::parse(kClaims);
  store.upsert_experiment("claims", 1, canonical_json(stored), content_hash(stored));
  store.put_dataset(hand_filled_pocus(12, 3));
  for (const std::string method : {"uscl", "random"})
    for (int seed = 0; seed < 2; ++seed)
      for (int fold = 0; fold < 2; ++fold) {
        if (skip_last_run && method == "random" && seed == 1 && fold == 1) continue;
        RunRecord r = hand_filled_run("claims", method, fold);
        r.id = content_hash({{"m", method}, {"f", fold}, {"s", seed}});
        r.seed = seed;
        store.create_run(r, {{"init", 1}, {"root", seed}});
        store.start_run(r.id, R"({"device":"cpu"})");
        store.finish_run(r.id, RunStatus::Done);
        store.put_metrics(r.id, -1, "selection", {{"last", 1}, {"best_test", 2}});
        for (int epoch : {1, 2}) {
          std::vector<std::string> clips, scores;
          std::vector<int> frames, truth, pred;
          for (int c = fold; c < 12; c += 2)
            for (int f = 0; f < 3; ++f) {
              clips.push_back("clip" + std::to_string(c));
              frames.push_back(f);
              truth.push_back(c % 3);
              const bool wrong = method == "random" && epoch == 1 && f == 0;
              pred.push_back(wrong ? (c % 3 + 1) % 3 : c % 3);
              scores.push_back("[1,0,0]");
            }
          store.put_predictions(r.id, epoch, clips, frames, truth, pred, scores);
        }
      }
}

}  // namespace

TEST_CASE("claims: resolved with the spec, and wrong ones refused by key", "[unit][spec]") {
  const auto spec = parse_spec(with_claims(nlohmann::json::parse(R"([{"a": "uscl", "b": "random",
    "protocol": "uscl-paper"}, {"id": "mine", "a": "random", "b": "uscl", "protocol": "uscl-paper",
    "selection": "best_test", "alpha": 0.01}])")),
                               "s.json", builtin_registries());
  REQUIRE(spec.claims.size() == 2);
  CHECK(spec.claims[0].id == "C1");
  CHECK(spec.claims[0].selection == "last");  // uscl-paper's headline
  CHECK(spec.claims[0].test == "paired");
  CHECK(spec.claims[0].alpha == 0.05);
  CHECK(spec.claims[1].id == "mine");
  CHECK(spec.claims[1].selection == "best_test");
  CHECK(spec.claims[1].alpha == 0.01);
  CHECK(to_json(spec).at("claims") == claims_json(spec.claims));
  // Without claims the resolved spec has no "claims" key: the stored specs of earlier experiments keep their hash.
  CHECK_FALSE(to_json(parse_spec(minimal_spec(), "s.json", builtin_registries())).contains("claims"));

  const auto refused = [](const char* claim) {
    return spec_error(with_claims(nlohmann::json::array({nlohmann::json::parse(claim)})));
  };
  CHECK_THAT(refused(R"({"a": "usc", "b": "random", "protocol": "uscl-paper"})"),
             Contains("claims.0.a |") && Contains("'usc' is not a method label") && Contains("uscl, random"));
  CHECK_THAT(refused(R"({"a": "uscl", "b": "uscl", "protocol": "uscl-paper"})"),
             Contains("claims.0.b |") && Contains("with itself"));
  CHECK_THAT(refused(R"({"a": "uscl", "b": "random", "protocol": "linear-eval"})"),
             Contains("claims.0.protocol |") && Contains("not a protocol label"));
  CHECK_THAT(refused(R"({"a": "uscl", "b": "random", "protocol": "uscl-paper", "selection": "best_val"})"),
             Contains("claims.0.selection |") && Contains("best_test, last"));
  CHECK_THAT(refused(R"({"a": "uscl", "b": "random", "protocol": "uscl-paper", "test": "t-test"})"),
             Contains("claims.0.test |") && Contains("paired"));
  CHECK_THAT(refused(R"({"a": "uscl", "b": "random", "protocol": "uscl-paper", "alpha": 0})"),
             Contains("claims.0.alpha |"));
  CHECK_THAT(refused(R"({"a": "uscl", "b": "random", "protocol": "uscl-paper", "alpha": 0.7})"),
             Contains("claims.0.alpha |"));
  CHECK_THAT(refused(R"({"a": "uscl", "b": "random", "protocol": "uscl-paper", "alpah": 0.01})"),
             Contains("alpah") && Contains("did you mean 'alpha'?"));
  CHECK_THAT(spec_error(with_claims(nlohmann::json::parse(R"([{"id": "x", "a": "uscl", "b": "random",
    "protocol": "uscl-paper"}, {"id": "x", "a": "random", "b": "uscl", "protocol": "uscl-paper"}])"))),
             Contains("claims.1.id |") && Contains("names two claims"));
  CHECK_THAT(spec_error(with_claims(nlohmann::json::object())), Contains("claims |"));
}

TEST_CASE("paired two-level bootstrap of a difference: values known by hand", "[unit][report]") {
  using reports::ClipPair;
  // One seed where the new model gains 1 frame of 4 in every clip: d = 0.25, never <= 0, so p = 1 / (1 + R).
  const std::vector<ClipPair> gain(10, ClipPair{0, 1, 4});
  auto d = reports::paired_difference_two_level({gain}, 999, 3);
  CHECK(d.estimate == 0.25);
  CHECK(d.frames == 40);
  CHECK(d.p == Approx(1.0 / 1000));
  CHECK(d.ci.lo == 0.25);
  CHECK(d.ci.hi == 0.25);
  // No frame differs: p = 1, the interval a point at 0.
  d = reports::paired_difference_two_level({std::vector<ClipPair>(5, ClipPair{0, 0, 3})}, 999, 3);
  CHECK(d.p == 1);
  CHECK(d.estimate == 0);
  // Two seeds that disagree (+0.5 and -0.5, one clip each): a resample is <= 0 unless both draws are the
  // first seed, so p -> 3/4; the interval spans both seeds.
  d = reports::paired_difference_two_level({{ClipPair{0, 2, 4}}, {ClipPair{2, 0, 4}}}, 20000, 11);
  CHECK(d.estimate == 0);
  CHECK(d.p == Approx(0.75).margin(0.01));
  CHECK(d.ci.lo == -0.5);
  CHECK(d.ci.hi == 0.5);
  // Seeded: the same input gives the same answer.
  const auto again = reports::paired_difference_two_level({{ClipPair{0, 2, 4}}, {ClipPair{2, 0, 4}}}, 20000, 11);
  CHECK(again.p == d.p);
  // Empty seeds are ignored.
  const auto with_empty = reports::paired_difference_two_level({{}, gain}, 999, 3);
  CHECK(with_empty.p == Approx(1.0 / 1000));
  CHECK(with_empty.estimate == 0.25);
}

TEST_CASE("claims in the report: held, not held and pending, with the statistic from the frames", "[unit][report]") {
  TempDir dir;
  {
    auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
    fill(store, false);
    const auto t = reports::build_comparison(store, "claims", builtin_registries());
    REQUIRE(t.claims.size() == 3);
    // C1: uscl right on all 72 frames (2 seeds x 36), random wrong on frame 0 of each clip: 48 of 72.
    const auto& c1 = t.claims[0];
    CHECK(c1.a_accuracy == 1.0);
    CHECK(c1.b_accuracy == Approx(48.0 / 72));
    CHECK(c1.difference.estimate == Approx(24.0 / 72));
    CHECK(c1.difference.p == Approx(1.0 / (1 + reports::kClaimResamples)));
    CHECK(c1.clips_a_better == 12);
    CHECK(c1.clips_b_better == 0);
    CHECK(c1.seeds == 2);
    CHECK(c1.verdict == "held");
    // C2, the reverse: p = 1, not held.
    CHECK(t.claims[1].difference.p == 1);
    CHECK(t.claims[1].verdict == "not held");
    // C3 at best_test: no frame differs, not held.
    CHECK(t.claims[2].difference.estimate == 0);
    CHECK(t.claims[2].verdict == "not held");
    CHECK(t.claims_hash == content_hash(nlohmann::json::parse(kClaims)));
    CHECK_FALSE(t.first_run_started.empty());
    const auto md = reports::to_markdown(t);
    CHECK_THAT(md, Contains("| C1 | uscl above random under uscl-paper (last epoch) | 100.00% | 66.67% | +33.33 "
                            "points |") &&
                       Contains("**held**"));
    CHECK(md.find("Pre-registered claims") < md.find("| method | protocol |"));  // the claims come first
    const auto j = reports::to_json(t);
    CHECK(j.at("claims").at("tests").at(1).at("verdict") == "not held");
  }
  {
    auto store = Store::open((dir / "p.db").string(), Store::Access::Create);
    fill(store, true);
    const auto t = reports::build_comparison(store, "claims", builtin_registries());
    CHECK(t.claims[0].verdict == "pending");
    CHECK(t.claims[0].pending == "random: 3 of 4 runs done");
    CHECK(t.claims[0].difference.estimate == Approx(18.0 / 54));  // on the frames both have
  }
  {  // No runs yet: every claim pending, and no number printed for it.
    auto store = Store::open((dir / "e.db").string(), Store::Access::Create);
    auto spec = nlohmann::json::parse(R"({"name": "claims", "version": 1, "dataset": {"name": "pocus", "label":
      "pocus"}, "folds": {"k": 2}, "seeds": [0], "protocols": [{"name": "uscl-paper", "label": "uscl-paper"}],
      "methods": [{"name": "uscl", "label": "uscl"}, {"name": "random", "label": "random"}]})");
    spec["claims"] = nlohmann::json::parse(kClaims);
    store.upsert_experiment("claims", 1, canonical_json(spec), content_hash(spec));
    const auto t = reports::build_comparison(store, "claims", builtin_registries());
    CHECK(t.claims[0].verdict == "pending");
    CHECK(t.first_run_started.empty());
    CHECK_THAT(reports::to_markdown(t),
               Contains("| C1 | uscl above random under uscl-paper (last epoch) | — | — | — | — | — | 0.01 | — | "
                        "**pending** (uscl: not run yet; random: not run yet) |") &&
                   Contains("first run of the experiment started — (no runs yet)"));
  }
}

TEST_CASE("claims are fixed once an experiment has runs: run and merge refuse other claims", "[cli]") {
  TempDir dir;
  const auto stored_claims = nlohmann::json::parse(
      R"([{"id": "C1", "a": "uscl", "b": "random", "protocol": "uscl-paper", "selection": "last", "test": "paired",
      "alpha": 0.05}])");
  const auto make = [&](const fs::path& db, const nlohmann::json& claims) {
    auto store = Store::open(db.string(), Store::Access::Create);
    auto spec = to_json(parse_spec(with_claims(claims), "s.json", builtin_registries()));
    store.upsert_experiment("tiny", 1, canonical_json(spec), content_hash(spec));
    store.create_run(hand_filled_run("tiny", "uscl", 0), {{"init", 1}});
  };
  make(dir / "a.db", stored_claims);
  auto other = stored_claims;
  other[0]["alpha"] = 0.1;
  write_bytes(dir / "other.json", with_claims(other).dump(2));
  const auto before = read_bytes(dir / "a.db");
  // --plan prints the claims as resolved, with the hash the report prints.
  auto r = run_usbench("run " + q(dir / "other.json") + " --plan");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output,
             Contains("1 pre-registered claims (claims sha256 " +
                      content_hash(claims_json(parse_spec(with_claims(other), "s.json", builtin_registries()).claims))
                          .substr(0, 16)) &&
                 Contains("C1   uscl above random under uscl-paper (last epoch): paired test, alpha 0.1"));
  r = run_usbench("run " + q(dir / "other.json") + " --db " + q(dir / "a.db"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("experiment 'tiny': the spec's claims differ from those stored with its 1 runs") &&
                           Contains("\"alpha\":0.1") && Contains("new \"name\""));
  CHECK(read_bytes(dir / "a.db") == before);
  // Claims added after the runs are refused the same way.
  write_bytes(dir / "none.json", minimal_spec().dump(2));
  CHECK(run_usbench("run " + q(dir / "none.json") + " --db " + q(dir / "a.db")).exit_code == 2);
  CHECK(read_bytes(dir / "a.db") == before);

  make(dir / "b.db", other);
  r = run_usbench("merge " + q(dir / "b.db") + " --out " + q(dir / "a.db"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("experiment(s) tiny state other claims") && Contains("Nothing was merged"));
  CHECK(read_bytes(dir / "a.db") == before);
}
