// The OpenCV half of decoding (built with -DUSBENCH_WITH_OPENCV=ON, the default): videos, frame
// folders and still images into stored frames, and single images for embed.
#include <cmath>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <opencv2/core/version.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "datasets/decode.h"
#include "harness/errors.h"

namespace usbench::datasets {

namespace fs = std::filesystem;

namespace {

// Resizes (area interpolation when shrinking, bilinear when growing) and converts BGR(A)/gray to RGB.
// ClipError naming `path` for a frame too small or too elongated to be training data.
cv::Mat to_stored(const cv::Mat& src, int size, const std::string& path) {
  if (const auto problem = frame_geometry_problem(src.cols, src.rows); !problem.empty()) throw ClipError(path, problem);
  cv::Mat rgb;
  if (src.channels() == 1)
    cv::cvtColor(src, rgb, cv::COLOR_GRAY2RGB);
  else if (src.channels() == 4)
    cv::cvtColor(src, rgb, cv::COLOR_BGRA2RGB);
  else
    cv::cvtColor(src, rgb, cv::COLOR_BGR2RGB);
  if (rgb.depth() != CV_8U) rgb.convertTo(rgb, CV_8U);
  cv::Mat out;
  const bool shrink = rgb.cols >= size && rgb.rows >= size;
  cv::resize(rgb, out, cv::Size(size, size), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

void append(FrameBlock& b, const cv::Mat& rgb, int source_index) {
  const cv::Mat m = rgb.isContinuous() ? rgb : rgb.clone();
  const auto* p = m.ptr<std::uint8_t>(0);
  b.pixels.insert(b.pixels.end(), p, p + m.total() * m.elemSize());
  b.source_index.push_back(source_index);
  ++b.frames;
}

FrameBlock empty_block(int size) {
  FrameBlock b;
  b.height = b.width = size;
  b.channels = 3;
  return b;
}

cv::Mat read_image(const std::string& path) {
  cv::Mat img = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (img.empty()) throw ClipError(path, "cannot decode as an image (corrupt or not an image)");
  if (img.depth() == CV_16U) img.convertTo(img, CV_8U, 1.0 / 256);
  return img;
}

int step_for(const SamplingRule& rule, double fps) {
  if (rule.fps > 0)
    return (fps > 0 && std::isfinite(fps)) ? std::max(1, static_cast<int>(std::floor(fps / rule.fps))) : 1;
  return std::max(1, rule.every_kth);
}

FrameBlock decode_video(const ClipSource& clip, const SamplingRule& rule, int size) {
  require_nonempty_file(clip.path);
  cv::VideoCapture cap(clip.path, cv::CAP_FFMPEG);
  if (!cap.isOpened()) throw ClipError(clip.path, "cannot open as a video (truncated, corrupt or not a video)");
  FrameBlock out = empty_block(size);
  out.source_fps = cap.get(cv::CAP_PROP_FPS);
  if (!(out.source_fps > 0 && out.source_fps < 1000)) out.source_fps = 0;
  const double reported = cap.get(cv::CAP_PROP_FRAME_COUNT);
  const int step = step_for(rule, out.source_fps);
  int index = 0;
  bool reached_end = false;
  cv::Mat frame;
  for (;; ++index) {
    if (rule.max_frames > 0 && out.frames >= rule.max_frames) break;
    if (index % step == 0) {
      if (!cap.read(frame) || frame.empty()) {
        reached_end = true;
        break;
      }
      append(out, to_stored(frame, size, clip.path), index);
    } else if (!cap.grab()) {
      reached_end = true;
      break;
    }
  }
  out.source_frames = reached_end ? index : static_cast<int>(reported > 0 ? reported : index);
  if (out.frames == 0) throw ClipError(clip.path, "no decodable frames (zero-frame or corrupt video)");
  // A container that promises many more frames than decode delivered was cut short.
  if (reached_end && reported > 8 && index < 0.9 * reported)
    throw ClipError(clip.path, fmt::format("truncated: decoding stopped at frame {} of {}", index, reported));
  return out;
}

FrameBlock decode_folder(const ClipSource& clip, const SamplingRule& rule, int size) {
  const auto files = frame_files(clip.path);
  if (files.empty()) throw ClipError(clip.path, "empty folder: no frame images in it");
  // Frame folders hold frames already extracted upstream at their own rate: the fps rule does not
  // apply (no source rate); every_kth and max_frames do.
  const int step = rule.fps > 0 ? 1 : std::max(1, rule.every_kth);
  FrameBlock out = empty_block(size);
  out.source_frames = static_cast<int>(files.size());
  for (std::size_t i = 0; i < files.size(); i += static_cast<std::size_t>(step)) {
    if (rule.max_frames > 0 && out.frames >= rule.max_frames) break;
    append(out, to_stored(read_image(files[i]), size, files[i]), static_cast<int>(i));
  }
  return out;
}

}  // namespace

FrameBlock decode_clip(const ClipSource& clip, const SamplingRule& rule, int stored_size) {
  try {
    switch (clip.kind) {
      case ClipKind::Video:
        return decode_video(clip, rule, stored_size);
      case ClipKind::FrameFolder:
        return decode_folder(clip, rule, stored_size);
      case ClipKind::Image: {
        require_nonempty_file(clip.path);
        FrameBlock out = empty_block(stored_size);
        append(out, to_stored(read_image(clip.path), stored_size, clip.path), 0);
        out.source_frames = 1;
        return out;
      }
    }
  } catch (const cv::Exception& e) {
    throw ClipError(clip.path, std::string("OpenCV could not decode it: ") + e.err);
  }
  throw ClipError(clip.path, "unknown clip kind");
}

bool media_decoding_available() { return true; }

std::string opencv_version() { return CV_VERSION; }

std::vector<std::uint8_t> load_image_rgb(const std::string& path, int size) {
  cv::Mat img;
  try {
    img = cv::imread(path, cv::IMREAD_COLOR);
    if (img.empty()) throw UsageError(path + ": cannot decode as an image");
    if (const auto why = frame_geometry_problem(img.cols, img.rows); !why.empty()) throw UsageError(path + ": " + why);
    cv::cvtColor(img, img, cv::COLOR_BGR2RGB);  // the protocol's RGB order
    if (img.cols != size || img.rows != size) cv::resize(img, img, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
  } catch (const cv::Exception& e) {
    throw UsageError(path + ": OpenCV could not decode it: " + e.err);
  }
  const cv::Mat m = img.isContinuous() ? img : img.clone();
  const auto* p = m.ptr<std::uint8_t>(0);
  return std::vector<std::uint8_t>(p, p + m.total() * m.elemSize());
}

}  // namespace usbench::datasets
