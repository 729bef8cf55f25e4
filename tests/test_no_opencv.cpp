// A build without OpenCV (-DUSBENCH_WITH_OPENCV=OFF, the GPU machine's): decoding media is refused with
// the option named, while synthetic data still ingests (it needs no decoder). Built only in that
// configuration; the OpenCV build tests real decoding in test_ingest.cpp.
#include <catch2/catch.hpp>

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

TEST_CASE("without OpenCV, decoding is refused naming the build option, while synthetic data still ingests",
          "[data][unit]") {
  CHECK_FALSE(media_decoding_available());
  CHECK(opencv_version().empty());
  TempDir dir;
  write_bytes(dir / "Cov_a.mp4", "bytes of a video this build cannot decode");
  write_bytes(dir / "img.png", "bytes of an image");
  ClipSource clip;
  clip.path = (dir / "Cov_a.mp4").string();
  clip.kind = ClipKind::Video;
  CHECK_THROWS_WITH(decode_clip(clip, SamplingRule{}, 32),
                    Contains("Cov_a.mp4") && Contains("USBENCH_WITH_OPENCV=OFF"));
  CHECK_THROWS_AS(decode_clip(clip, SamplingRule{}, 32), UsageError);
  CHECK_THROWS_WITH(load_image_rgb((dir / "img.png").string(), 32),
                    Contains("img.png") && Contains("USBENCH_WITH_OPENCV=OFF"));
  // Bad input that needs no decoder to see is named as in an OpenCV build (a bad clip, not a refusal).
  write_bytes(dir / "empty.mp4", "");
  clip.path = (dir / "empty.mp4").string();
  CHECK_THROWS_AS(decode_clip(clip, SamplingRule{}, 32), ClipError);
  CHECK_THROWS_WITH(decode_clip(clip, SamplingRule{}, 32), Contains("empty.mp4") && Contains("empty file"));
  fs::create_directories(dir / "no_frames");
  clip.path = (dir / "no_frames").string();
  clip.kind = ClipKind::FrameFolder;
  CHECK_THROWS_WITH(decode_clip(clip, SamplingRule{}, 32), Contains("empty folder"));
  clip.path = (dir / "Cov_a.mp4").string();
  clip.kind = ClipKind::Video;

  // An ingest of a clip folder stops at the first clip with the same message (not a "bad clip").
  fs::create_directories(dir / "videos");
  write_bytes(dir / "videos" / "clip1.mp4", "x");
  IngestOptions o;
  o.name = "v";
  o.skip_bad = true;
  const auto videos = builtin_registries().datasets.get("videos").resolve(
      {{"src", (dir / "videos").string()}, {"stored_size", 32}}, "test", "ds");
  CHECK_THROWS_WITH(
      ingest(test::builtin_registries().datasets.get("videos"), videos, FrameCache((dir / "cache").string()), o),
      Contains("USBENCH_WITH_OPENCV=OFF"));

  const auto synthetic =
      builtin_registries()
          .datasets.get("synthetic")
          .resolve({{"clips_per_class", 2}, {"frames_per_clip", 2}, {"stored_size", 16}}, "test", "ds");
  o.name = "s";
  const auto report =
      ingest(test::builtin_registries().datasets.get("synthetic"), synthetic, FrameCache((dir / "cache").string()), o);
  CHECK(report.dataset.clips.size() == 6);
}
