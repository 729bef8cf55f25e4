#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "datasets/dataset_config.h"
#include "datasets/decode.h"
#include "datasets/ingest.h"
#include "harness/errors.h"
#include "spec_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::datasets;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {

// Writes a small MJPG AVI whose frames differ (a moving bright bar), `tone` varies content.
void write_video(const fs::path& p, int frames, int tone, double fps = 30) {
  cv::VideoWriter w(p.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, cv::Size(64, 48));
  REQUIRE(w.isOpened());
  for (int i = 0; i < frames; ++i) {
    cv::Mat m(48, 64, CV_8UC3, cv::Scalar(tone, tone / 2, 20));
    cv::rectangle(m, cv::Rect((i * 3) % 60, 10, 4, 30), cv::Scalar(250, 250, 250), cv::FILLED);
    w.write(m);
  }
}

void write_image(const fs::path& p, int tone) {
  cv::Mat m(40, 40, CV_8UC3, cv::Scalar(tone, tone, tone));
  cv::circle(m, {20, 20}, 8, cv::Scalar(255, 0, 0), cv::FILLED);
  REQUIRE(cv::imwrite(p.string(), m));
}

// A valid mini-POCUS tree: 2 videos, 1 frame folder, 1 image, 1 Vir clip (excluded).
fs::path make_pocus(const TempDir& dir) {
  const auto root = dir / "pocus";
  const auto conv = root / "pocus_videos" / "convex";
  fs::create_directories(conv / "Cov_folder");
  fs::create_directories(root / "pocus_images" / "convex");
  write_video(conv / "Cov_a.avi", 90, 100);
  write_video(conv / "pneu_b.avi", 40, 180);  // lower-case prefix
  write_video(conv / "Vir_c.avi", 20, 60);
  for (int i : {0, 2, 10}) write_image(conv / "Cov_folder" / ("frame" + std::to_string(i) + ".png"), 40 + i);
  write_image(root / "pocus_images" / "convex" / "Reg_d.png", 90);
  return root;
}

nlohmann::json pocus_config(const fs::path& src) {
  return builtin_registries().datasets.get("pocus").resolve({{"src", src.string()}, {"stored_size", 32}}, "test", "ds");
}

IngestReport run(const fs::path& src, const TempDir& dir, bool skip_bad = false) {
  IngestOptions o;
  o.name = "pocus";
  o.skip_bad = skip_bad;
  return ingest(test::builtin_registries().datasets.get("pocus"), pocus_config(src),
                FrameCache((dir / "cache").string()), o);
}

}  // namespace

TEST_CASE("ingest reads videos, frame folders and images, samples ~3 fps, and caches by content", "[data]") {
  TempDir dir;
  const auto src = make_pocus(dir);
  const auto r = run(src, dir);
  REQUIRE(r.dataset.clips.size() == 4);
  CHECK(r.per_class.at("covid").clips == 2);
  CHECK(r.per_class.at("pneumonia").clips == 1);
  CHECK(r.per_class.at("regular").clips == 1);
  CHECK(r.skipped.size() == 1);  // the Vir clip; this copy has no linear/, so it is not "left out" (issue 11 item 16)
  CHECK(r.decoded == 4);
  for (const auto& c : r.dataset.clips) {
    INFO(c.clip_id);
    if (c.clip_id == "pocus_videos/convex/Cov_a.avi") {
      CHECK(c.n_frames == 9);  // 90 frames at 30 fps, every 10th -> 9
      CHECK(c.source_fps == Approx(30));
    }
    if (c.clip_id == "pocus_videos/convex/Cov_folder") CHECK(c.n_frames == 3);
    if (c.clip_id == "pocus_images/convex/Reg_d.png") CHECK(c.n_frames == 1);
    CHECK(c.sha256.size() == 64);
  }
  const auto again = run(src, dir);
  CHECK(again.cache_hits == 4);
  CHECK(again.decoded == 0);
  CHECK(again.dataset.manifest_hash == r.dataset.manifest_hash);
  // Cached frames are the decoded frames at the stored size.
  const auto block =
      FrameCache((dir / "cache").string()).get(nlohmann::json::parse(r.dataset.clips[0].sampling)["cache_key"]);
  CHECK(block.height == 32);
  CHECK(block.width == 32);
}

// A PNG that is only a header declaring width x height (8-bit RGB) and an end chunk: no pixel data.
std::string png_header_only(std::uint32_t width, std::uint32_t height) {
  auto crc = [](const std::string& b) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char ch : b) {
      c ^= ch;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
  };
  auto be = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  const std::string ihdr = "IHDR" + be(width) + be(height) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + be(13) + ihdr + be(crc(ihdr)) + be(0) + "IEND" + be(crc("IEND"));
}

TEST_CASE("each kind of bad input is named with its reason and nothing is produced", "[data]") {
  TempDir dir;
  const auto src = make_pocus(dir);
  const auto conv = src / "pocus_videos" / "convex";
  std::string file, reason;
  SECTION("zero-byte video") {
    write_bytes(conv / "Cov_zero.mp4", "");
    file = "Cov_zero.mp4";
    reason = "empty file (0 bytes)";
  }
  SECTION("truncated video") {
    write_video(conv / "Reg_full.avi", 120, 30);
    const auto bytes = read_bytes(conv / "Reg_full.avi");
    fs::remove(conv / "Reg_full.avi");
    write_bytes(conv / "Reg_cut.avi", bytes.substr(0, bytes.size() / 3));
    file = "Reg_cut.avi";
    reason = "truncated";
  }
  SECTION("a text file with a video extension") {
    write_bytes(conv / "Reg_fake.mp4", "this is not a video at all, just some text\n");
    file = "Reg_fake.mp4";
    reason = "cannot open as a video";
  }
  SECTION("a non-media file") {
    write_bytes(conv / "Reg_notes.txt", "notes");
    file = "Reg_notes.txt";
    reason = "not a video, image or frame folder";
  }
  SECTION("a corrupt image") {
    write_bytes(conv / "Reg_broken.png", "\x89PNG\r\n\x1a\n garbage");
    file = "Reg_broken.png";
    reason = "cannot decode as an image";
  }
  SECTION("an image whose header declares 100000 x 100000 pixels") {
    write_bytes(conv / "Reg_huge.png", png_header_only(100000, 100000));
    file = "Reg_huge.png";
    reason = "decode";
  }
  SECTION("a 1x1-pixel PNG among the clips") {
    REQUIRE(cv::imwrite((conv / "Reg_pixel.png").string(), cv::Mat(1, 1, CV_8UC3, cv::Scalar(9, 9, 9))));
    file = "Reg_pixel.png";
    reason = "a 1x1 frame: frames smaller than 32 px";
  }
  SECTION("a 1x1-pixel GIF among the clips (decoded as a video)") {
    // The classic 43-byte one-pixel GIF.
    write_bytes(conv / "Reg_pixel.gif",
                std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00"
                            "\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02"
                            "D\x01\x00;",
                            43));
    file = "Reg_pixel.gif";
    reason = "1x1";
  }
  SECTION("a 400x20 strip") {
    REQUIRE(cv::imwrite((conv / "Reg_strip.png").string(), cv::Mat(20, 400, CV_8UC3, cv::Scalar(90, 90, 90))));
    file = "Reg_strip.png";
    reason = "frames smaller than 32 px";
  }
  SECTION("a 200x40 frame, more elongated than 4:1") {
    REQUIRE(cv::imwrite((conv / "Reg_wide.png").string(), cv::Mat(40, 200, CV_8UC3, cv::Scalar(90, 90, 90))));
    file = "Reg_wide.png";
    reason = "more elongated than 4:1";
  }
  SECTION("an unknown class prefix") {
    write_video(conv / "Xyz_e.avi", 20, 70);
    file = "Xyz_e.avi";
    reason = "unknown class prefix";
  }
  SECTION("an empty frame folder") {
    fs::create_directories(conv / "Cov_empty");
    file = "Cov_empty";
    reason = "empty folder";
  }
  SECTION("a duplicate clip") {
    fs::copy_file(conv / "Cov_a.avi", conv / "Pneu_copy.avi");
    file = "Pneu_copy.avi";
    reason = "duplicate clip: same content";
  }
  SECTION("an unreadable (dangling) link") {
    fs::create_symlink(dir / "nowhere.mp4", conv / "Reg_link.mp4");
    file = "Reg_link.mp4";
    reason = "unreadable";
  }
  try {
    run(src, dir);
    FAIL("ingest accepted bad input: " << file);
  } catch (const UsageError& e) {
    CHECK_THAT(e.what(), Contains(file) && Contains(reason) && Contains("nothing was recorded"));
  }
  // With --skip-bad the good clips go through and the bad one is listed.
  const auto r = run(src, dir, /*skip_bad=*/true);
  CHECK(r.dataset.clips.size() == 4);
  REQUIRE(r.bad.size() == 1);
  CHECK_THAT(r.bad[0].path, Contains(file));
}

TEST_CASE("a frame folder that cannot be traversed is a bad clip named with its reason - --skip-bad skips it",
          "[data]") {
  // Mode 000: nothing can be listed; mode 0444: names can be listed but not one of them opened. Root
  // ignores both, so the ingest runs as nobody when the suite runs as root.
  for (const auto mode : {fs::perms::none, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read}) {
    TempDir dir;
    const auto src = make_pocus(dir);
    const auto locked = src / "pocus_videos" / "convex" / "Cov_folder";
    fs::create_directories(dir / "cache");
    fs::permissions(dir / "cache", fs::perms::all);  // nobody writes the cache
    fs::permissions(locked, mode);
    INFO("mode " << std::oct << static_cast<int>(mode));
    std::string error;
    IngestReport skipped;
    {
      AsNobody nobody;
      REQUIRE(nobody.unprivileged());
      try {
        run(src, dir);
      } catch (const UsageError& e) {
        error = e.what();
      }
      skipped = run(src, dir, /*skip_bad=*/true);
    }
    fs::permissions(locked, fs::perms::owner_all);
    CHECK_THAT(error, Contains("Cov_folder") && Contains("frame folder cannot be listed") &&
                          Contains("Permission denied") && Contains("nothing was recorded"));
    CHECK(skipped.dataset.clips.size() == 3);
    REQUIRE(skipped.bad.size() == 1);
    CHECK_THAT(skipped.bad[0].path, Contains("Cov_folder"));
  }
}

TEST_CASE("embed's image reader names an image whose header declares 100000 x 100000 pixels", "[data]") {
  TempDir dir;
  for (const auto& [name, bytes] : {std::pair<std::string, std::string>{"huge.png", png_header_only(100000, 100000)},
                                    {"large.png", png_header_only(30000, 30000)}}) {
    write_bytes(dir / name, bytes);
    try {
      datasets::load_image_rgb((dir / name).string(), 64);
      FAIL("decoded a header-only image " << name);
    } catch (const UsageError& e) {
      CHECK_THAT(e.what(), Contains((dir / name).string()) && Contains("decode"));
    }
  }
}

TEST_CASE("embed's image reader refuses, by name and size, an image too small or too elongated to upscale", "[data]") {
  TempDir dir;
  for (const auto& [name, rows, cols, reason] :
       {std::tuple<std::string, int, int, std::string>{"pixel.png", 1, 1, "a 1x1 frame: frames smaller than 32 px"},
        {"thumb.png", 31, 64, "a 64x31 frame: frames smaller than 32 px"},
        {"strip.png", 40, 200, "a 200x40 frame: more elongated than 4:1"}}) {
    REQUIRE(cv::imwrite((dir / name).string(), cv::Mat(rows, cols, CV_8UC3, cv::Scalar(90, 90, 90))));
    CHECK_THROWS_WITH(datasets::load_image_rgb((dir / name).string(), 64),
                      Contains((dir / name).string()) && Contains(reason));
  }
  // At the limits: 32 px on a side and exactly 4:1 are read, and resized to the requested size.
  REQUIRE(cv::imwrite((dir / "edge.png").string(), cv::Mat(32, 128, CV_8UC3, cv::Scalar(90, 90, 90))));
  CHECK(datasets::load_image_rgb((dir / "edge.png").string(), 64).size() == 64u * 64u * 3u);
}

TEST_CASE("missing and malformed sources are refused", "[data]") {
  TempDir dir;
  CHECK_THROWS_WITH(run(dir / "absent", dir), Contains("absent") && Contains("not found"));
  fs::create_directories(dir / "flat");
  CHECK_THROWS_WITH(run(dir / "flat", dir), Contains("no pocus_videos"));
  // A generic clip folder that is empty.
  fs::create_directories(dir / "clips");
  const auto cfg = builtin_registries().datasets.get("videos").resolve({{"src", (dir / "clips").string()}}, "t", "d");
  IngestOptions o;
  o.name = "v";
  CHECK_THROWS_WITH(ingest(test::builtin_registries().datasets.get("videos"), cfg, FrameCache((dir / "c").string()), o),
                    Contains("empty folder"));
}

TEST_CASE("a labelled clip folder takes groups from file names and labels from a CSV", "[data]") {
  TempDir dir;
  fs::create_directories(dir / "clips");
  write_video(dir / "clips" / "patient_1_L1.avi", 12, 10);
  write_video(dir / "clips" / "patient_1_R2.avi", 12, 20);
  write_video(dir / "clips" / "patient_7_L1.avi", 12, 30);
  write_video(dir / "clips" / "patient_9_L1.avi", 12, 40);
  write_bytes(dir / "labels.csv", "patient_id,cov_test\n1,1\n7,0\n");
  const auto cfg = builtin_registries().datasets.get("videos").resolve({{"src", (dir / "clips").string()},
                                                                        {"labels_csv", (dir / "labels.csv").string()},
                                                                        {"key_column", "patient_id"},
                                                                        {"label_column", "cov_test"},
                                                                        {"group_regex", "^patient_([0-9]+)_"},
                                                                        {"every_kth", 4},
                                                                        {"stored_size", 16}},
                                                                       "t", "d");
  IngestOptions o;
  o.name = "v";
  const auto r = ingest(test::builtin_registries().datasets.get("videos"), cfg, FrameCache((dir / "c").string()), o);
  REQUIRE(r.dataset.clips.size() == 4);
  CHECK(r.groups == 3);
  CHECK(r.dataset.clips[0].group == "1");
  CHECK(r.dataset.clips[0].label == "1");
  CHECK(r.dataset.clips[2].label == "0");
  CHECK(r.dataset.clips[3].label.empty());                              // patient 9 is not in the CSV: unlabelled
  CHECK(r.unlabelled == std::vector<std::string>{"patient_9_L1.avi"});  // and reported
  CHECK(r.dataset.clips[0].n_frames == 3);                              // 12 frames, every 4th
  auto bad_col = cfg;
  bad_col["label_column"] = "covtest";
  CHECK_THROWS_WITH(
      ingest(test::builtin_registries().datasets.get("videos"), bad_col, FrameCache((dir / "c").string()), o),
      Contains("labels.csv") && Contains("did you mean 'cov_test'"));
}

TEST_CASE("synthetic ingest produces a labelled, cached, reproducible set", "[data]") {
  TempDir dir;
  const auto cfg = builtin_registries()
                       .datasets.get("synthetic")
                       .resolve({{"clips_per_class", 3}, {"frames_per_clip", 2}, {"stored_size", 32}}, "t", "d");
  IngestOptions o;
  o.name = "synthetic";
  const auto a = ingest(test::builtin_registries().datasets.get("synthetic"), cfg, FrameCache((dir / "c").string()), o);
  CHECK(a.dataset.clips.size() == 9);
  CHECK(a.per_class.at("covid").frames == 6);
  const auto b =
      ingest(test::builtin_registries().datasets.get("synthetic"), cfg, FrameCache((dir / "c2").string()), o);
  CHECK(a.dataset.manifest_hash == b.dataset.manifest_hash);
  const auto k = nlohmann::json::parse(a.dataset.clips[0].sampling)["cache_key"].get<std::string>();
  CHECK(read_bytes(FrameCache((dir / "c").string()).path_of(k)) ==
        read_bytes(FrameCache((dir / "c2").string()).path_of(k)));
}

TEST_CASE("a bit-flipped or truncated frame cache entry fails its checksum and ingest rebuilds it", "[data]") {
  TempDir dir;
  const auto cfg = builtin_registries()
                       .datasets.get("synthetic")
                       .resolve({{"clips_per_class", 2}, {"frames_per_clip", 2}, {"stored_size", 32}}, "t", "d");
  IngestOptions o;
  o.name = "synthetic";
  const FrameCache cache((dir / "c").string());
  const auto first = ingest(test::builtin_registries().datasets.get("synthetic"), cfg, cache, o);
  CHECK(first.rebuilt.empty());
  const auto key_of = [&](std::size_t i) {
    return nlohmann::json::parse(first.dataset.clips[i].sampling)["cache_key"].get<std::string>();
  };
  const auto flipped = cache.path_of(key_of(0)), torn = cache.path_of(key_of(1));
  const std::string original = read_bytes(flipped);
  std::string bytes = original;
  bytes[bytes.size() / 2] ^= 0x01;  // one pixel bit: the header still reads fine
  write_bytes(flipped, bytes);
  CHECK_THROWS_WITH(cache.get(key_of(0)), Contains(flipped) && Contains("checksum"));
  const std::string torn_original = read_bytes(torn);
  write_bytes(torn, torn_original.substr(0, torn_original.size() - 100));
  CHECK_THROWS_WITH(cache.get(key_of(1)), Contains(torn) && Contains("truncated"));

  const auto again = ingest(test::builtin_registries().datasets.get("synthetic"), cfg, cache, o);
  REQUIRE(again.rebuilt.size() == 2);
  CHECK(again.cache_hits == static_cast<int>(first.dataset.clips.size()) - 2);
  CHECK(again.dataset.manifest_hash == first.dataset.manifest_hash);
  CHECK(read_bytes(flipped) == original);  // decoded again: the same bytes as the first time
  CHECK(read_bytes(torn) == torn_original);
  CHECK_NOTHROW(cache.get(key_of(0)));
}

TEST_CASE("label CSVs from spreadsheets: BOM and padded keys match - header-only or duplicate columns are refused",
          "[data]") {
  TempDir dir;
  fs::create_directories(dir / "clips");
  write_video(dir / "clips" / "patient_3_L1.avi", 8, 10);
  write_video(dir / "clips" / "patient_5_L1.avi", 8, 20);
  auto cfg = builtin_registries().datasets.get("videos").resolve({{"src", (dir / "clips").string()},
                                                                  {"labels_csv", (dir / "labels.csv").string()},
                                                                  {"key_column", "patient_id"},
                                                                  {"label_column", "cov_test"},
                                                                  {"group_regex", "^patient_([0-9]+)_"},
                                                                  {"every_kth", 4},
                                                                  {"stored_size", 16}},
                                                                 "t", "d");
  IngestOptions o;
  o.name = "v";
  const FrameCache cache((dir / "c").string());
  // A UTF-8 byte order mark, a key with spaces and a zero-padded key.
  write_bytes(dir / "labels.csv", "\xEF\xBB\xBFpatient_id,cov_test\n 3 ,1\n05,0\n");
  const auto r = ingest(test::builtin_registries().datasets.get("videos"), cfg, cache, o);
  REQUIRE(r.dataset.clips.size() == 2);
  CHECK(r.dataset.clips[0].label == "1");
  CHECK(r.dataset.clips[1].label == "0");
  CHECK(r.unlabelled.empty());
  write_bytes(dir / "labels.csv", "patient_id,cov_test\n");
  CHECK_THROWS_WITH(ingest(test::builtin_registries().datasets.get("videos"), cfg, cache, o),
                    Contains("labels.csv") && Contains("no rows under the header"));
  write_bytes(dir / "labels.csv", "patient_id,cov_test,cov_test\n3,1,0\n");
  CHECK_THROWS_WITH(ingest(test::builtin_registries().datasets.get("videos"), cfg, cache, o),
                    Contains("labels.csv") && Contains("'cov_test' appears twice"));
  write_bytes(dir / "labels.csv", "patient_id,cov_test\n77,1\n");
  CHECK_THROWS_WITH(ingest(test::builtin_registries().datasets.get("videos"), cfg, cache, o),
                    Contains("labels.csv") && Contains("no clip got a label"));
  fs::remove(dir / "labels.csv");
  fs::create_directories(dir / "labels.csv");
  CHECK_THROWS_WITH(ingest(test::builtin_registries().datasets.get("videos"), cfg, cache, o),
                    Contains("labels.csv") && Contains("a directory") && !Contains("empty CSV"));
}

TEST_CASE(
    "a FIFO or a link to /dev/zero as a clip and a file name that is not UTF-8 are bad clips named - never a hang",
    "[data]") {
  TempDir dir;
  fs::create_directories(dir / "clips");
  write_video(dir / "clips" / "good.avi", 8, 10);
  REQUIRE(::mkfifo((dir / "clips" / "pipe.mp4").c_str(), 0600) == 0);
  fs::create_symlink("/dev/zero", dir / "clips" / "zero.mp4");
  write_video(dir / "clips" / "bad\xff.avi", 8, 20);
  const auto cfg = builtin_registries().datasets.get("videos").resolve(
      {{"src", (dir / "clips").string()}, {"every_kth", 4}, {"stored_size", 16}}, "t", "d");
  IngestOptions o;
  o.name = "v";
  const FrameCache cache((dir / "c").string());
  CHECK_THROWS_WITH(ingest(test::builtin_registries().datasets.get("videos"), cfg, cache, o),
                    Contains("pipe.mp4: not a regular file: this is a FIFO") &&
                        Contains("zero.mp4: not a regular file: this is a character device") &&
                        Contains("not valid UTF-8"));
  o.skip_bad = true;
  const auto r = ingest(test::builtin_registries().datasets.get("videos"), cfg, cache, o);
  REQUIRE(r.dataset.clips.size() == 1);
  CHECK(r.bad.size() == 3);
  CHECK_NOTHROW(nlohmann::json(r.dataset.clips[0].clip_id).dump());  // every recorded name serialises
}
