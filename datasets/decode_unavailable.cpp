// Decoding in a build without OpenCV (-DUSBENCH_WITH_OPENCV=OFF, e.g. a GPU machine with only LibTorch):
// every request to decode media is refused with the option named. Synthetic data, cached frames and
// everything downstream of the frame cache work unchanged.
#include "datasets/decode.h"
#include "harness/errors.h"

namespace usbench::datasets {

namespace {
[[noreturn]] void refuse(const std::string& path, const std::string& what) {
  throw UsageError(path + ": cannot " + what +
                   ": this usbench was built with -DUSBENCH_WITH_OPENCV=OFF, which has no "
                   "video or image decoder (rebuild with -DUSBENCH_WITH_OPENCV=ON, or use frames already in the cache "
                   "or synthetic data)");
}
}  // namespace

bool media_decoding_available() { return false; }

std::string opencv_version() { return ""; }

FrameBlock decode_clip(const ClipSource& clip, const SamplingRule&, int) {
  // The checks that need no decoder come first, so bad input is named as in an OpenCV build.
  if (clip.kind == ClipKind::FrameFolder) {
    if (frame_files(clip.path).empty()) throw ClipError(clip.path, "empty folder: no frame images in it");
  } else {
    require_nonempty_file(clip.path);
  }
  refuse(clip.path, "decode this clip");
}

std::vector<std::uint8_t> load_image_rgb(const std::string& path, int) { refuse(path, "read this image"); }

}  // namespace usbench::datasets
