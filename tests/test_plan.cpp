#include <catch2/catch.hpp>

#include <set>

#include "harness/run/run_plan.h"
#include "harness/spec/spec.h"
#include "spec_fixture.h"

using namespace usbench;
using namespace usbench::test;

namespace {
const DataIdentity kData{"m" + std::string(63, '0'), "f" + std::string(63, '0'), "p" + std::string(63, '0')};

std::vector<PlannedRun> plan(const nlohmann::json& doc, const DataIdentity& data = kData) {
  return plan_runs(parse_spec(doc, "t.json", builtin_registries()), builtin_registries(), data);
}
}  // namespace

TEST_CASE("the grid is methods x protocols x folds x seeds, pretraining once per method and seed", "[unit]") {
  const auto runs = plan(minimal_spec());
  // 2 seeds x (uscl: 1 pretrain + 3 folds; random: 3 folds)
  REQUIRE(runs.size() == 14);
  int pretrain = 0;
  std::set<std::string> ids;
  for (const auto& r : runs) {
    pretrain += r.record.stage == Stage::Pretrain;
    CHECK(r.record.id.size() == 64);
    ids.insert(r.record.id);
    CHECK(r.seeds.count("init") == 1);
    CHECK(r.seeds.at("root") == r.record.seed);
  }
  CHECK(pretrain == 2);
  CHECK(ids.size() == runs.size());
  // uscl downstream runs point at the pretraining run of their own seed; random ones at none.
  for (const auto& r : runs) {
    if (r.record.stage != Stage::Finetune) continue;
    if (r.record.method == "random") {
      CHECK(r.pretrain_run_id.empty());
      continue;
    }
    bool found = false;
    for (const auto& p : runs)
      found = found ||
              (p.record.stage == Stage::Pretrain && p.record.id == r.pretrain_run_id && p.record.seed == r.record.seed);
    CHECK(found);
  }
}

TEST_CASE("run ids follow content, not execution settings", "[unit]") {
  const auto base = plan(minimal_spec());
  CHECK(plan(minimal_spec())[5].record.id == base[5].record.id);  // deterministic

  auto device = minimal_spec();
  device["device"] = "cuda";
  device["threads"] = 7;
  device["precision"] = "fp32";
  const auto same = plan(device);
  for (std::size_t i = 0; i < base.size(); ++i) CHECK(same[i].record.id == base[i].record.id);

  // Mixed precision is arithmetic, not an execution detail: CUDA with precision auto (= AMP) gets new ids.
  device["precision"] = "auto";
  const auto amp = plan(device);
  for (std::size_t i = 0; i < base.size(); ++i) CHECK(amp[i].record.id != base[i].record.id);

  DataIdentity other = kData;
  other.manifest_hash[1] = '1';
  const auto moved = plan(minimal_spec(), other);
  for (std::size_t i = 0; i < base.size(); ++i) {
    if (base[i].record.stage == Stage::Pretrain)
      CHECK(moved[i].record.id == base[i].record.id);  // pretraining does not read the downstream data
    else
      CHECK(moved[i].record.id != base[i].record.id);
  }

  auto cfg = minimal_spec();
  cfg["methods"][0]["config"]["temperature"] = 0.1;  // uscl only
  const auto changed = plan(cfg);
  for (std::size_t i = 0; i < base.size(); ++i)
    CHECK((changed[i].record.id != base[i].record.id) == (base[i].record.method == "uscl"));
}

// An experiment too long for one sitting may run one seed at a time (`--set 'seeds=[k]'`, one store per
// seed, merged at the end): that is sound only because a run's id names its own seed, never the spec's list.
TEST_CASE("a run's id does not depend on which other seeds the spec lists", "[unit]") {
  const auto both = plan(minimal_spec());  // seeds 0 and 1
  for (const std::int64_t seed : {0, 1}) {
    auto one = minimal_spec();
    one["seeds"] = nlohmann::json::array({seed});
    const auto alone = plan(one);
    std::vector<std::string> expected;
    for (const auto& r : both)
      if (r.record.seed == seed) expected.push_back(r.record.id + " " + r.pretrain_run_id);
    std::vector<std::string> got;
    for (const auto& r : alone) got.push_back(r.record.id + " " + r.pretrain_run_id);
    CHECK(got.size() == 7);
    CHECK(got == expected);
  }
}

TEST_CASE("without ingested data the plan lists runs but assigns no ids", "[unit]") {
  for (const auto& r : plan(minimal_spec(), DataIdentity{})) {
    CHECK(r.record.id.empty());
    CHECK(r.record.config_hash.size() == 64);
  }
}
