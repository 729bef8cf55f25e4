// The differences a report declares (reports/differences.h): generated from the resolved spec and the
// registry's reference settings, so a setting moved to the reference's value leaves the list and one moved
// away from it joins; the structural ones come with every method that has them.
#include <catch2/catch.hpp>

#include "harness/spec/spec.h"
#include "reports/differences.h"
#include "spec_fixture.h"

using namespace usbench;
using Catch::Matchers::Contains;

namespace {
const reports::SettingDifference* find(const reports::Differences& d, const std::string& component,
                                       const std::string& key) {
  for (const auto& s : d.settings)
    if (s.component == component && s.key == key) return &s;
  return nullptr;
}
}  // namespace

TEST_CASE("differences from the reference are generated from the resolved configs", "[unit][report]") {
  const auto& reg = test::builtin_registries();
  auto user = test::minimal_spec();  // uscl for 1 epoch, uscl-paper for 2 epochs at 64 px
  const auto spec = to_json(parse_spec(user, "x.json", reg));
  const auto d = reports::declared_differences(spec, reg);
  // Every reference setting of uscl (15) and uscl-paper (7) is compared; random has none.
  CHECK(d.settings_checked == 22);
  const auto* e = find(d, "uscl", "epochs");
  REQUIRE(e);
  CHECK(e->ours == 1);
  CHECK(e->reference == 300);
  CHECK_THAT(e->source, Contains("train_USCL/config.yaml"));
  REQUIRE(find(d, "uscl-paper", "input_size"));
  CHECK(find(d, "uscl-paper", "input_size")->ours == 64);
  // Equal to the reference: not listed (weight decay 1e-4 written as 0.0001; the input normalisation
  // absent from the resolved config at its default, which is the reference's).
  CHECK_FALSE(find(d, "uscl", "weight_decay"));
  CHECK_FALSE(find(d, "uscl-paper", "lr"));
  CHECK_FALSE(find(d, "uscl-paper", "input_mean"));
  CHECK_FALSE(find(d, "uscl", "temperature"));
  // Moved away from the reference: listed; moved to it: gone.
  user["methods"][0]["config"]["temperature"] = 0.1;
  user["protocols"][0]["config"]["input_mean"] = 0.485;
  user["protocols"][0]["config"]["input_size"] = 224;
  const auto d2 = reports::declared_differences(to_json(parse_spec(user, "x.json", reg)), reg);
  REQUIRE(find(d2, "uscl", "temperature"));
  CHECK(find(d2, "uscl", "temperature")->ours == 0.1);
  REQUIRE(find(d2, "uscl-paper", "input_mean"));
  CHECK_FALSE(find(d2, "uscl-paper", "input_size"));
  CHECK(d2.settings.size() == d.settings.size() + 2 - 1);
  // The structural list is uscl's and random's, in spec order, and the Markdown names them.
  REQUIRE(!d.structural.empty());
  CHECK(d.structural.front().component == "uscl");
  CHECK(d.structural.back().component == "random");
  const auto md = reports::differences_markdown(d2);
  CHECK_THAT(md, Contains("| method uscl | temperature | 0.1 | 0.5 |") &&
                     Contains("| protocol uscl-paper | input_mean | 0.485 | 0.5 |") &&
                     Contains("Structural differences"));
  // uscl-paper-val declares its one procedural difference: the validation part.
  user["protocols"][0]["name"] = "uscl-paper-val";
  const auto d3 = reports::declared_differences(to_json(parse_spec(user, "x.json", reg)), reg);
  REQUIRE(find(d3, "uscl-paper-val", "val_fraction"));
  CHECK(find(d3, "uscl-paper-val", "val_fraction")->ours == 0.2);
}
