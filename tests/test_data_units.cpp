#include <catch2/catch.hpp>

#include <cstring>
#include <set>

#include "datasets/clips.h"
#include "datasets/csv.h"
#include "datasets/decode.h"
#include "datasets/folds.h"
#include "datasets/frame_cache.h"
#include "datasets/rng.h"
#include "datasets/synthetic.h"
#include "harness/errors.h"
#include "support.h"

using namespace usbench;
using namespace usbench::datasets;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {
// n clips per class, one clip per group unless `per_group` > 1.
std::vector<ClipRecord> clips_of(const std::vector<int>& per_class, int per_group = 1) {
  std::vector<ClipRecord> out;
  const std::vector<std::string> labels = {"covid", "pneumonia", "regular"};
  for (std::size_t c = 0; c < per_class.size(); ++c)
    for (int i = 0; i < per_class[c]; ++i) {
      ClipRecord r;
      r.clip_id = labels[c] + "/" + std::to_string(i);
      r.label = labels[c];
      r.group = labels[c] + "-g" + std::to_string(i / per_group);
      r.n_frames = 1 + i % 7;
      out.push_back(r);
    }
  return out;
}
}  // namespace

TEST_CASE("natural order sorts digit runs by value", "[unit][data]") {
  CHECK(natural_less("frame2.jpg", "frame10.jpg"));
  CHECK_FALSE(natural_less("frame10.jpg", "frame2.jpg"));
  CHECK(natural_less("a.gif_frame0.jpg", "a.gif_frame105.jpg"));
  CHECK(natural_less("x9", "y1"));
  CHECK(natural_less("f01", "f1") != natural_less("f1", "f01"));  // total order on ties
}

TEST_CASE("the CSV reader handles quotes and names bad files and columns", "[unit][data]") {
  TempDir dir;
  write_bytes(dir / "ok.csv", "id,label,note\r\n1,0,\"a, quoted \"\"note\"\"\"\n2,1,\n");
  const auto t = read_csv((dir / "ok.csv").string());
  REQUIRE(t.rows.size() == 2);
  CHECK(t.rows[0][2] == "a, quoted \"note\"");
  CHECK(t.rows[1][2].empty());
  CHECK(t.column("label", "ok.csv") == 1);
  CHECK_THROWS_WITH(t.column("lable", "ok.csv"), Contains("ok.csv") && Contains("did you mean 'label'"));
  write_bytes(dir / "ragged.csv", "a,b\n1,2,3\n");
  CHECK_THROWS_WITH(read_csv((dir / "ragged.csv").string()), Contains("ragged.csv") && Contains("row 2 has 3 fields"));
  write_bytes(dir / "open.csv", "a,b\n\"1,2\n");
  CHECK_THROWS_WITH(read_csv((dir / "open.csv").string()), Contains("unterminated"));
  CHECK_THROWS_WITH(read_csv((dir / "none.csv").string()), Contains("none.csv"));
  // A cell that is not UTF-8 (a UTF-16 byte order mark as a cov_test value) is named by line and column,
  // after a quoted field with a newline in it.
  write_bytes(dir / "latin.csv", "patient_id,note,cov_test\n1,\"two\nlines\",1\n2,x,\xFF\xFE\n");
  CHECK_THROWS_WITH(read_csv((dir / "latin.csv").string()),
                    Contains("latin.csv:4: column 3 ('cov_test') is not valid UTF-8 (byte 0xFF at offset 0)"));
  CHECK(invalid_utf8_at("caf\xC3\xA9") == std::string::npos);
  CHECK(invalid_utf8_at("caf\xC3") == 3);                                        // cut short
  CHECK(invalid_utf8_at("ab\xE9t\xE9") == 2);                                    // Latin-1
  CHECK(escape_invalid_utf8("ab\xE9t\xC3\xA9\xC3") == "ab\\xE9t\xC3\xA9\\xC3");  // valid sequences kept
}

TEST_CASE("stratified group k-fold: every clip once, every class in every fold, balanced, seeded", "[unit][data]") {
  const auto clips = clips_of({30, 36, 56});
  const auto a = stratified_group_kfold(clips, 5, 0);
  REQUIRE(a.size() == clips.size());
  std::map<std::string, std::vector<int>> counts;
  for (const auto& c : clips) {
    const int f = a.at(c.clip_id);
    REQUIRE(f >= 0);
    REQUIRE(f < 5);
    counts[c.label].resize(5);
    ++counts[c.label][static_cast<std::size_t>(f)];
  }
  for (const auto& [label, per_fold] : counts) {
    INFO(label);
    CHECK(*std::min_element(per_fold.begin(), per_fold.end()) >= 1);
    CHECK(*std::max_element(per_fold.begin(), per_fold.end()) - *std::min_element(per_fold.begin(), per_fold.end()) <=
          1);
  }
  CHECK(stratified_group_kfold(clips, 5, 0) == a);
  CHECK(stratified_group_kfold(clips, 5, 1) != a);
  CHECK(assignment_hash(a) == assignment_hash(stratified_group_kfold(clips, 5, 0)));
  CHECK(assignment_hash(a) != assignment_hash(stratified_group_kfold(clips, 5, 1)));
}

TEST_CASE("groups never straddle folds", "[unit][data]") {
  const auto clips = clips_of({24, 30, 18}, /*per_group=*/3);
  const auto a = stratified_group_kfold(clips, 5, 7);
  std::map<std::string, std::set<int>> folds_of_group;
  for (const auto& c : clips) folds_of_group[c.group].insert(a.at(c.clip_id));
  for (const auto& [g, folds] : folds_of_group) CHECK(folds.size() == 1);
  CHECK_THROWS_WITH(stratified_group_kfold(clips_of({2, 1, 1}), 5, 0), Contains("need at least 5 groups"));
}

TEST_CASE("upstream split import matches file names and rejects malformed files", "[unit][data]") {
  TempDir dir;
  const auto clips = clips_of({2, 2, 0});
  // Clip ids are "covid/0"...: file names "0", "1" are ambiguous across classes, so rename for the test.
  std::vector<ClipRecord> named = clips;
  for (std::size_t i = 0; i < named.size(); ++i)
    named[i].clip_id = "pocus_videos/convex/Clip" + std::to_string(i) + ".mp4";
  write_bytes(dir / "cv.json", R"({"0": {"test": [["Clip0.mp4", "clip1.MOV"], ["cov", "cov"]], "train": []},
                                   "1": {"test": [["Clip2.mp4", "Ghost.mp4"], ["pne", "pne"]], "train": []}})");
  const auto s = import_cross_val((dir / "cv.json").string(), named);
  CHECK(s.k == 2);
  CHECK(s.fold_of.at("pocus_videos/convex/Clip0.mp4") == 0);
  CHECK(s.fold_of.at("pocus_videos/convex/Clip1.mp4") == 0);  // case and extension differ: matched by stem
  CHECK(s.fold_of.at("pocus_videos/convex/Clip2.mp4") == 1);
  CHECK(s.unmatched_names == std::vector<std::string>{"Ghost.mp4"});
  CHECK(s.unassigned == std::vector<std::string>{"pocus_videos/convex/Clip3.mp4"});
  write_bytes(dir / "twice.json",
              R"({"0": {"test": [["Clip0.mp4"], ["cov"]]}, "1": {"test": [["Clip0.mp4"], ["cov"]]}})");
  CHECK_THROWS_WITH(import_cross_val((dir / "twice.json").string(), named), Contains("folds 0 and 1"));
  write_bytes(dir / "bad.json", R"({"0": {"train": []}})");
  CHECK_THROWS_WITH(import_cross_val((dir / "bad.json").string(), named), Contains("bad.json"));
}

TEST_CASE("frame cache entries round-trip and torn entries are detected", "[unit][data]") {
  TempDir dir;
  FrameCache cache((dir / "cache").string());
  FrameBlock b;
  b.frames = 2;
  b.height = 2;
  b.width = 3;
  b.source_fps = 29.97;
  b.source_frames = 40;
  b.source_index = {0, 10};
  for (int i = 0; i < 2 * 2 * 3 * 3; ++i) b.pixels.push_back(static_cast<std::uint8_t>(i * 7));
  const auto key = FrameCache::key("sha", "fps=3:max=30", 2);
  CHECK(key != FrameCache::key("sha", "fps=3:max=30", 3));
  CHECK(key != FrameCache::key("sha", "every=1:max=0", 2));
  CHECK_FALSE(cache.contains(key));
  cache.put(key, b);
  CHECK(cache.contains(key));
  const auto back = cache.get(key);
  CHECK(back.pixels == b.pixels);
  CHECK(back.source_index == b.source_index);
  CHECK(back.source_fps == 29.97);
  CHECK(back.source_frames == 40);
  CHECK(cache.header(key).pixels.empty());
  const auto bytes = read_bytes(cache.path_of(key));
  write_bytes(cache.path_of(key), bytes.substr(0, bytes.size() - 5));
  CHECK_THROWS_WITH(cache.get(key), Contains("truncated"));
}

TEST_CASE("synthetic clips are deterministic, class-dependent and shaped like a fan", "[unit][data]") {
  const auto a = synthetic_clip(0, 42, 3, 48);
  CHECK(a.frames == 3);
  CHECK(a.pixels.size() == 3u * 48 * 48 * 3);
  CHECK(synthetic_clip(0, 42, 3, 48).pixels == a.pixels);
  CHECK(synthetic_clip(0, 43, 3, 48).pixels != a.pixels);
  CHECK(synthetic_clip(2, 42, 3, 48).pixels != a.pixels);
  // The corners lie outside the convex fan and are black; the centre is not.
  auto at = [&](int f, int y, int x) { return a.pixels[((static_cast<std::size_t>(f) * 48 + y) * 48 + x) * 3]; };
  CHECK(at(0, 2, 0) == 0);
  CHECK(at(0, 2, 47) == 0);
  long centre = 0;
  for (int y = 20; y < 28; ++y)
    for (int x = 20; x < 28; ++x) centre += at(0, y, x);
  CHECK(centre > 0);
  CHECK(std::memcmp(a.frame(0), a.frame(1), a.frame_bytes()) != 0);  // frames move
}

TEST_CASE("the random stream is platform-independent and its samplers have the right moments", "[unit][data]") {
  Rng r(1);
  // SplitMix64 reference values for seed 1.
  CHECK(r.next() == 0x910a2dec89025cc1ull);
  CHECK(r.next() == 0xbeeb8da1658eec67ull);
  Rng m(7);
  double sum = 0, sum2 = 0, beta_sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = m.normal();
    sum += x;
    sum2 += x * x;
    const double b = m.beta(0.5, 0.5);
    REQUIRE(b >= 0);
    REQUIRE(b <= 1);
    beta_sum += b;
  }
  CHECK(std::abs(sum / n) < 0.03);
  CHECK(std::abs(sum2 / n - 1) < 0.05);
  CHECK(std::abs(beta_sum / n - 0.5) < 0.02);
}

TEST_CASE("frame geometry: frames under 32 px on a side or more elongated than 4:1 are refused", "[unit][data]") {
  CHECK(frame_geometry_problem(640, 480).empty());
  CHECK(frame_geometry_problem(32, 32).empty());
  CHECK(frame_geometry_problem(128, 32).empty());  // exactly 4:1
  CHECK_THAT(frame_geometry_problem(1, 1), Contains("a 1x1 frame") && Contains("smaller than 32 px"));
  CHECK_THAT(frame_geometry_problem(31, 200), Contains("smaller than 32 px"));
  CHECK_THAT(frame_geometry_problem(200, 40), Contains("more elongated than 4:1"));
  CHECK_THAT(frame_geometry_problem(40, 161), Contains("more elongated than 4:1"));
}
