#include "datasets/augment.h"

#include <algorithm>
#include <cmath>

namespace usbench::datasets {

namespace {
// Python's int(round(x)): round half to even.
int round_even(double x) { return static_cast<int>(std::nearbyint(x)); }
}  // namespace

CropBox sample_resized_crop(Rng& rng, int height, int width, const std::array<double, 2>& scale,
                            const std::array<double, 2>& ratio) {
  const double area = static_cast<double>(height) * width;
  const double log_lo = std::log(ratio[0]), log_hi = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale[0], scale[1]);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int w = round_even(std::sqrt(target_area * aspect));
    const int h = round_even(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      CropBox b;
      b.top = static_cast<int>(rng.below(static_cast<std::uint64_t>(height - h + 1)));
      b.left = static_cast<int>(rng.below(static_cast<std::uint64_t>(width - w + 1)));
      b.height = h;
      b.width = w;
      return b;
    }
  }
  // Fallback: centre crop at the nearest allowed ratio.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < std::min(ratio[0], ratio[1])) {
    h = round_even(w / std::min(ratio[0], ratio[1]));
  } else if (in_ratio > std::max(ratio[0], ratio[1])) {
    w = round_even(h * std::max(ratio[0], ratio[1]));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

ImageParams sample_params(Rng& rng, const AugmentConfig& cfg, int height, int width) {
  ImageParams p;
  p.box = cfg.random_crop ? sample_resized_crop(rng, height, width, cfg.crop_scale, cfg.crop_ratio)
                          : CropBox{0, 0, height, width};
  if (cfg.flip) p.flip = rng.bernoulli(0.5);
  if (cfg.color_jitter && (cfg.jitter_p >= 1 || rng.bernoulli(cfg.jitter_p))) {
    p.jitter = true;
    // torch.randperm(4), as a Fisher-Yates shuffle.
    for (int i = 3; i > 0; --i)
      std::swap(p.order[static_cast<std::size_t>(i)], p.order[rng.below(static_cast<std::uint64_t>(i + 1))]);
    auto factor = [&](double j) { return j > 0 ? rng.uniform(std::max(0.0, 1 - j), 1 + j) : 1.0; };
    p.brightness = factor(cfg.jitter[0]);
    p.contrast = factor(cfg.jitter[1]);
    p.saturation = factor(cfg.jitter[2]);
    p.hue = cfg.jitter[3] > 0 ? rng.uniform(-cfg.jitter[3], cfg.jitter[3]) : 0.0;
  }
  if (cfg.grayscale_p > 0) p.grayscale = rng.bernoulli(cfg.grayscale_p);
  if (cfg.blur_p > 0 && rng.bernoulli(cfg.blur_p)) p.blur_sigma = rng.uniform(cfg.blur_sigma[0], cfg.blur_sigma[1]);
  return p;
}

int blur_kernel(int size) {
  const int k = static_cast<int>(std::lround(0.1 * size));
  return std::max(3, k % 2 ? k : k + 1);
}

torch::Tensor grayscale_and_blur(const torch::Tensor& images, const std::vector<ImageParams>& params) {
  auto out = images;
  bool copied = false;
  const int k = blur_kernel(static_cast<int>(images.size(3)));
  for (std::size_t b = 0; b < params.size(); ++b) {
    const auto& p = params[b];
    if (!p.grayscale && p.blur_sigma <= 0) continue;
    if (!copied) out = images.clone(), copied = true;
    auto img = out.slice(0, static_cast<int64_t>(b), static_cast<int64_t>(b) + 1);
    if (p.grayscale) img.copy_(rgb_to_grayscale(img).expand_as(img));
    if (p.blur_sigma > 0) {
      // torchvision's _get_gaussian_kernel1d: exp(-x^2 / (2 sigma^2)) on x = -(k-1)/2 .. (k-1)/2, normalised.
      const auto x = torch::linspace(-(k - 1) / 2.0, (k - 1) / 2.0, k, img.options());
      auto w = torch::exp(-(x * x) / (2 * p.blur_sigma * p.blur_sigma));
      w = w / w.sum();
      namespace F = torch::nn::functional;
      auto y = F::pad(img, F::PadFuncOptions({k / 2, k / 2, k / 2, k / 2}).mode(torch::kReflect));
      y = F::conv2d(y, w.view({1, 1, 1, k}).expand({3, 1, 1, k}), F::Conv2dFuncOptions().groups(3));
      y = F::conv2d(y, w.view({1, 1, k, 1}).expand({3, 1, k, 1}), F::Conv2dFuncOptions().groups(3));
      img.copy_(y);
    }
  }
  return out;
}

torch::Tensor resized_crop_flip(const torch::Tensor& images, const std::vector<ImageParams>& params, int out) {
  const auto n = images.size(0), H = images.size(2), W = images.size(3);
  TORCH_CHECK(static_cast<std::size_t>(n) == params.size(), "resized_crop_flip: one ImageParams per image");
  // Source coordinate of each output pixel, as interpolate(bilinear, align_corners=False) on the crop
  // computes it: (dst + 0.5) * (crop / out) - 0.5, clamped to the crop (its edge pixels are
  // replicated), then mapped to grid_sample's normalised coordinates of the whole frame.
  auto grid = torch::empty({n, out, out, 2}, torch::kFloat32);
  auto g = grid.accessor<float, 4>();
  std::vector<double> xs(static_cast<std::size_t>(out)), ys(static_cast<std::size_t>(out));
  for (int64_t b = 0; b < n; ++b) {
    const auto& p = params[static_cast<std::size_t>(b)];
    const double sx = static_cast<double>(p.box.width) / out, sy = static_cast<double>(p.box.height) / out;
    for (int i = 0; i < out; ++i) {
      const double px = std::clamp((i + 0.5) * sx - 0.5, 0.0, p.box.width - 1.0) + p.box.left;
      const double py = std::clamp((i + 0.5) * sy - 0.5, 0.0, p.box.height - 1.0) + p.box.top;
      xs[static_cast<std::size_t>(p.flip ? out - 1 - i : i)] = (2 * px + 1) / static_cast<double>(W) - 1;
      ys[static_cast<std::size_t>(i)] = (2 * py + 1) / static_cast<double>(H) - 1;
    }
    for (int y = 0; y < out; ++y)
      for (int x = 0; x < out; ++x) {
        g[b][y][x][0] = static_cast<float>(xs[static_cast<std::size_t>(x)]);
        g[b][y][x][1] = static_cast<float>(ys[static_cast<std::size_t>(y)]);
      }
  }
  grid = to_device(grid, images.device()).to(images.scalar_type());
  namespace F = torch::nn::functional;
  return F::grid_sample(
      images, grid,
      F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
}

torch::Tensor rgb_to_grayscale(const torch::Tensor& img) {
  auto c = img.unbind(1);
  return (0.2989 * c[0] + 0.587 * c[1] + 0.114 * c[2]).unsqueeze(1).to(img.scalar_type());
}

namespace {
torch::Tensor per_image(const torch::Tensor& f, const torch::Tensor& like) {
  return to_device(f, like.device()).to(like.scalar_type()).view({-1, 1, 1, 1});
}
// torchvision's _blend: (ratio * a + (1 - ratio) * b).clamp(0, 1)
torch::Tensor blend(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& ratio) {
  const auto r = per_image(ratio, a);
  return (r * a + (1 - r) * b).clamp(0, 1);
}
}  // namespace

torch::Tensor adjust_brightness(const torch::Tensor& img, const torch::Tensor& factor) {
  return blend(img, torch::zeros_like(img), factor);
}

torch::Tensor adjust_contrast(const torch::Tensor& img, const torch::Tensor& factor) {
  const auto mean = rgb_to_grayscale(img).mean({1, 2, 3}, /*keepdim=*/true);
  return blend(img, mean, factor);
}

torch::Tensor adjust_saturation(const torch::Tensor& img, const torch::Tensor& factor) {
  return blend(img, rgb_to_grayscale(img), factor);
}

torch::Tensor adjust_hue(const torch::Tensor& img, const torch::Tensor& shift) {
  // A grey image (r == g == b everywhere) has saturation 0, and the HSV round trip returns it exactly
  // (p = q = t = v): skip the work, which dominates augmentation on grey-scale ultrasound.
  // (On CUDA the test would make the host wait for the device, so the round trip is always computed there.)
  if (img.device().is_cpu()) {
    const auto grey =
        (img.select(1, 0) == img.select(1, 1)).logical_and(img.select(1, 1) == img.select(1, 2)).flatten(1).all(1);
    if (grey.all().item<bool>()) return img;
  }
  // torchvision's _rgb2hsv / _hsv2rgb on tensors.
  auto c = img.unbind(1);
  const auto r = c[0], g = c[1], b = c[2];
  const auto maxc = std::get<0>(img.max(1)), minc = std::get<0>(img.min(1));
  const auto eqc = maxc == minc;
  const auto cr = maxc - minc;
  const auto ones = torch::ones_like(maxc);
  const auto s = cr / torch::where(eqc, ones, maxc);
  const auto cr_divisor = torch::where(eqc, ones, cr);
  const auto rc = (maxc - r) / cr_divisor, gc = (maxc - g) / cr_divisor, bc = (maxc - b) / cr_divisor;
  const auto hr = (maxc == r).to(img.scalar_type()) * (bc - gc);
  const auto hg = ((maxc == g) & (maxc != r)).to(img.scalar_type()) * (2.0 + rc - bc);
  const auto hb = ((maxc != g) & (maxc != r)).to(img.scalar_type()) * (4.0 + gc - rc);
  auto h = torch::fmod((hr + hg + hb) / 6.0 + 1.0, 1.0);
  h = torch::fmod(h + per_image(shift, img).squeeze(1), 1.0);
  h = torch::where(h < 0, h + 1, h);
  const auto v = maxc;
  const auto i = torch::floor(h * 6.0);
  const auto f = h * 6.0 - i;
  const auto ii = i.to(torch::kInt64).remainder(6);
  const auto p = torch::clamp(v * (1.0 - s), 0.0, 1.0);
  const auto q = torch::clamp(v * (1.0 - s * f), 0.0, 1.0);
  const auto t = torch::clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0);
  const auto mask = ii.unsqueeze(1) == torch::arange(6, ii.options()).view({1, -1, 1, 1});  // [N, 6, H, W]
  const auto a1 = torch::stack({v, q, p, p, t, v}, 1);
  const auto a2 = torch::stack({t, v, v, q, p, p}, 1);
  const auto a3 = torch::stack({p, p, t, v, v, q}, 1);
  const auto m = mask.to(img.scalar_type());
  return torch::stack({(m * a1).sum(1), (m * a2).sum(1), (m * a3).sum(1)}, 1);
}

torch::Tensor color_jitter(const torch::Tensor& images, const std::vector<ImageParams>& params) {
  const auto n = images.size(0);
  std::vector<float> fb, fc, fs, fh;
  for (const auto& p : params) {
    fb.push_back(static_cast<float>(p.brightness));
    fc.push_back(static_cast<float>(p.contrast));
    fs.push_back(static_cast<float>(p.saturation));
    fh.push_back(static_cast<float>(p.hue));
  }
  const auto to_t = [&](std::vector<float>& v) { return torch::from_blob(v.data(), {n}, torch::kFloat32).clone(); };
  const torch::Tensor factor[4] = {to_t(fb), to_t(fc), to_t(fs), to_t(fh)};
  // Position k of every image's order: group the images by which operation they apply there.
  torch::Tensor out = images;
  for (int k = 0; k < 4; ++k) {
    for (int op = 0; op < 4; ++op) {
      std::vector<int64_t> idx;
      for (int64_t b = 0; b < n; ++b) {
        const auto& p = params[static_cast<std::size_t>(b)];
        if (p.jitter && p.order[static_cast<std::size_t>(k)] == op) idx.push_back(b);
      }
      if (idx.empty()) continue;
      const auto index = torch::tensor(idx, torch::kInt64);
      const auto on_device = to_device(index, out.device());
      const auto sub = out.index_select(0, on_device);
      const auto f = factor[op].index_select(0, index);
      torch::Tensor res;
      switch (op) {
        case 0:
          res = adjust_brightness(sub, f);
          break;
        case 1:
          res = adjust_contrast(sub, f);
          break;
        case 2:
          res = adjust_saturation(sub, f);
          break;
        default:
          res = adjust_hue(sub, f);
          break;
      }
      out = out.index_copy(0, on_device, res);
    }
  }
  return out;
}

torch::Tensor normalize(const torch::Tensor& images, double mean, double std) { return (images - mean) / std; }

torch::Tensor mix(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& lambda) {
  const auto l = to_device(lambda, a.device()).to(a.scalar_type()).view({-1, 1, 1, 1});
  return l * a + (1 - l) * b;
}

torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device) {
  if (t.device() == device) return t;
  if (device.is_cuda() && t.device().is_cpu()) return t.pin_memory().to(device, /*non_blocking=*/true);
  return t.to(device);
}

torch::Tensor augment(const torch::Tensor& frames_u8, const std::vector<ImageParams>& params,
                      const AugmentConfig& cfg) {
  auto x = frames_u8.permute({0, 3, 1, 2}).to(torch::kFloat32).div_(255.0);
  const bool identity = !cfg.random_crop && !cfg.flip && x.size(2) == cfg.out_size && x.size(3) == cfg.out_size;
  if (!identity) x = resized_crop_flip(x, params, cfg.out_size);
  if (cfg.color_jitter) x = color_jitter(x, params);
  if (cfg.grayscale_p > 0 || cfg.blur_p > 0) x = grayscale_and_blur(x, params);
  return normalize(x, cfg.mean, cfg.std).contiguous();
}

}  // namespace usbench::datasets
