// Tests on the real ultrasound data in ../shared/data (never committed). They skip, with a message,
// where it is absent; CI has it.
#include <catch2/catch.hpp>

#include <set>

#include "datasets/folds.h"
#include "datasets/ingest.h"
#include "spec_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::datasets;
using namespace usbench::test;

namespace {
const fs::path kData = fs::path(USBENCH_SOURCE_DIR) / ".." / "shared" / "data";
bool have(const char* sub) {
  if (fs::is_directory(kData / sub)) return true;
  WARN("SKIPPED: " << (kData / sub).string() << " not found (real data is optional; CI has it)");
  return false;
}
}  // namespace

TEST_CASE("POCUS: 151 convex 3-class clips, video-grouped stratified folds", "[data][real]") {
  if (!have("pocus")) return;
  TempDir dir;
  const auto cfg = builtin_registries().datasets.get("pocus").resolve(
      {{"src", (kData / "pocus").string()}, {"stored_size", 32}}, "t", "d");
  IngestOptions o;
  o.name = "pocus";
  const auto r = ingest(test::builtin_registries().datasets.get("pocus"), cfg, FrameCache((dir / "c").string()), o);
  CHECK(r.dataset.clips.size() == 151);
  CHECK(r.per_class.at("covid").clips == 35);
  CHECK(r.per_class.at("pneumonia").clips == 50);
  CHECK(r.per_class.at("regular").clips == 66);
  int folders = 0, images = 0;
  for (const auto& c : r.dataset.clips) {
    const auto kind = nlohmann::json::parse(c.sampling)["kind"];
    folders += kind == "frames";
    images += kind == "image";
    CHECK(c.n_frames >= 1);
    CHECK(c.n_frames <= 30);
  }
  CHECK(folders == 3);
  CHECK(images == 29);

  const auto folds = stratified_group_kfold(r.dataset.clips, 5, 0);
  std::map<std::string, std::vector<int>> per;
  for (const auto& c : r.dataset.clips) {
    per[c.label].resize(5);
    ++per[c.label][static_cast<std::size_t>(folds.at(c.clip_id))];
  }
  for (const auto& [label, v] : per) {
    CHECK(*std::min_element(v.begin(), v.end()) >= 1);
    CHECK(*std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end()) <= 1);
  }
  CHECK(stratified_group_kfold(r.dataset.clips, 5, 0) == folds);
  CHECK(stratified_group_kfold(r.dataset.clips, 5, 1) != folds);

  const auto up = import_cross_val((kData / "pocus" / "pocovid_cross_val.json").string(), r.dataset.clips);
  CHECK(up.k == 5);
  CHECK(up.fold_of.size() == 122);  // every convex video; the 29 images are not in the upstream split
  CHECK(up.unmatched_names.empty());
}

TEST_CASE("COVID-BLUES: 362 clips of 63 patients labelled by cov_test", "[data][real]") {
  if (!have("covid-blues")) return;
  TempDir dir;
  const auto root = kData / "covid-blues";
  const auto cfg =
      builtin_registries().datasets.get("videos").resolve({{"src", (root / "lus_videos").string()},
                                                           {"labels_csv", (root / "clinical_variables.csv").string()},
                                                           {"key_column", "patient_id"},
                                                           {"label_column", "cov_test"},
                                                           {"group_regex", "^patient_([0-9]+)_"},
                                                           {"every_kth", 10},
                                                           {"stored_size", 16}},
                                                          "t", "d");
  IngestOptions o;
  o.name = "covid-blues";
  const auto r = ingest(test::builtin_registries().datasets.get("videos"), cfg, FrameCache((dir / "c").string()), o);
  CHECK(r.dataset.clips.size() == 362);
  CHECK(r.groups == 63);
  std::set<std::string> labels;
  for (const auto& c : r.dataset.clips) labels.insert(c.label);
  CHECK(labels == std::set<std::string>{"0", "1"});
  const auto folds = stratified_group_kfold(r.dataset.clips, 5, 0);
  std::map<std::string, std::set<int>> of_patient;
  for (const auto& c : r.dataset.clips) of_patient[c.group].insert(folds.at(c.clip_id));
  for (const auto& [p, f] : of_patient) CHECK(f.size() == 1);
}
