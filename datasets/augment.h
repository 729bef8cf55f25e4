// Batched augmentation as tensor operations, on CPU or CUDA, with torchvision's semantics (README Design §5):
// resize, RandomResizedCrop (torchvision's sampling rule), horizontal flip, ColorJitter (brightness,
// contrast, saturation, hue in a random order per image), normalisation, and USCL's frame mixup.
//
// Parameters are sampled on the CPU from a named, seeded stream (Rng), one image at a time, so the same
// seed gives the same parameters on every device and for any batching. The pixel work is one
// grid_sample (crop + resize + flip) followed by elementwise colour operations.
#pragma once
#include <array>
#include <vector>

#include "datasets/rng.h"
#include "harness/torch_pch.h"

namespace usbench::datasets {

// A crop in source pixels (top row, left column, height, width), integers as in torchvision.
struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
};

struct AugmentConfig {
  int out_size = 224;
  bool random_crop = false;  // false: resize the whole frame (test-time transform)
  std::array<double, 2> crop_scale{0.8, 1.0};
  std::array<double, 2> crop_ratio{0.8, 1.25};
  bool flip = false;
  bool color_jitter = false;
  std::array<double, 4> jitter{0.8, 0.8, 0.8, 0.2};  // brightness, contrast, saturation, hue
  // MoCo v2's additions (torchvision's RandomApply / RandomGrayscale / GaussianBlur). At their defaults no
  // random number is drawn for them, so the other recipes' streams are unchanged.
  double jitter_p = 1;     // probability that an image is colour-jittered at all
  double grayscale_p = 0;  // probability that an image is made grey (ITU-R 601 weights, three equal channels)
  double blur_p = 0;       // probability of a Gaussian blur, sigma uniform in blur_sigma, kernel ~10% of the size
  std::array<double, 2> blur_sigma{0.1, 2.0};
  double mean = 0.5, std = 0.25;  // per channel, the reference protocol's values
};

struct ImageParams {
  CropBox box;
  bool flip = false;
  std::array<int, 4> order{0, 1, 2, 3};  // 0 brightness, 1 contrast, 2 saturation, 3 hue
  double brightness = 1, contrast = 1, saturation = 1, hue = 0;
  bool jitter = false;
  bool grayscale = false;
  double blur_sigma = 0;  // 0: no blur
};

// torchvision.transforms.RandomResizedCrop.get_params: up to 10 tries of (scale, log-uniform ratio)
// with Python's round-half-even, then the centre-crop fallback.
CropBox sample_resized_crop(Rng& rng, int height, int width, const std::array<double, 2>& scale,
                            const std::array<double, 2>& ratio);

// Samples every random choice for one image of size height x width.
ImageParams sample_params(Rng& rng, const AugmentConfig& cfg, int height, int width);

// Crop + resize (bilinear, align_corners=False, no antialias: torchvision's tensor path) + flip for a
// batch. `images`: float [N, C, H, W] in [0, 1]. Returns float [N, C, out, out].
torch::Tensor resized_crop_flip(const torch::Tensor& images, const std::vector<ImageParams>& params, int out_size);

// ColorJitter on float [N, 3, H, W] in [0, 1], each image in its own order with its own factors.
torch::Tensor color_jitter(const torch::Tensor& images, const std::vector<ImageParams>& params);
torch::Tensor adjust_brightness(const torch::Tensor& img, const torch::Tensor& factor);  // factor [N]
torch::Tensor adjust_contrast(const torch::Tensor& img, const torch::Tensor& factor);
torch::Tensor adjust_saturation(const torch::Tensor& img, const torch::Tensor& factor);
torch::Tensor adjust_hue(const torch::Tensor& img, const torch::Tensor& shift);
torch::Tensor rgb_to_grayscale(const torch::Tensor& img);  // [N, 1, H, W], ITU-R 601 weights

// Grey for the images whose params say so, blurred where blur_sigma > 0 (separable Gaussian, reflect
// padding, kernel blur_kernel(size)). float [N, 3, H, W].
torch::Tensor grayscale_and_blur(const torch::Tensor& images, const std::vector<ImageParams>& params);
int blur_kernel(int size);  // odd, about 10% of the image size, at least 3 (torchvision's 23 at 224 px)

// (x - mean) / std.
torch::Tensor normalize(const torch::Tensor& images, double mean, double std);

// USCL mixup: lambda * a + (1 - lambda) * b with one lambda per item. `lambda`: float [N].
torch::Tensor mix(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& lambda);

// `t` on `device`. From the CPU to CUDA the copy goes through pinned memory and does not block the
// host (it is ordered on the current stream, before any kernel that later uses it); a tensor already
// there is returned as it is.
torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device);

// The whole pipeline: uint8 [N, H, W, 3] (cache layout) -> float [N, 3, out, out], normalised.
// Runs on the device of `frames_u8`.
torch::Tensor augment(const torch::Tensor& frames_u8, const std::vector<ImageParams>& params, const AugmentConfig& cfg);

}  // namespace usbench::datasets
