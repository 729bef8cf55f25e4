// usbench_throughput: how fast usbench's own training steps run on a device, whether the CPU loader can
// feed them, and what that predicts for a whole experiment. Written for .ci/gpu-check (a GPU machine with
// LibTorch only, so no Google Benchmark); its --cpu mode runs the same measurements here at a small scale.
//
// Measured, side by side in one run:
//  - pretraining: USCL steps (loss with both terms, backward, optimiser, as the runner's loop) in views/s,
//    per batch size and precision (fp32; AMP on CUDA), on batches prepared beforehand (what the device
//    consumes, loader excluded);
//  - fine-tuning: uscl-paper steps (frozen trunk without autograd, layer4.1 + head trained, Adam) in
//    images/s, and evaluation (inference mode, batch 64) in images/s;
//  - the loader: pretraining pairs (USCL mixing: crop, flip, colour jitter, normalise, mix) and
//    fine-tuning batches (crop, flip, normalise) in views/s and images/s, with frames in host memory and
//    N loader threads, and with frames on the device (augmentation there, one thread) where it is CUDA;
//  - a prediction: with --spec, the wall time of that experiment from these rates, counting its
//    pretraining steps and fine-tuning images from the spec and the data set sizes given.
// Every figure goes to --out as JSON with the device and the settings.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <numeric>
#include <thread>

#include "datasets/loader.h"
#include "datasets/synthetic.h"
#include "harness/model/amp.h"
#include "harness/cli/builtins.h"
#include "harness/env.h"
#include "harness/kernels.h"
#include "harness/run/finetune.h"
#include "harness/spec/spec.h"
#include "methods/pretrainer.h"

namespace {

using namespace usbench;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string device = "cpu";
  int size = 224;
  std::vector<int> batches{32, 256};
  int steps = 20, warmup = 5;
  std::vector<int> loader_threads{1, 4, 16};
  int loader_batches = 8;
  std::string spec;
  int pretrain_clips = 362;      // COVID-BLUES: 362 clips
  int downstream_frames = 2149;  // POCUS public subset, convex, 3 classes: 2,149 frames
  std::string out;
  std::string cpu_isa = "avx2";
  int threads = 0;  // 0: one per logical CPU, as the runner for a spec without "threads"
};

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A FrameSet of `clips` clips of 3 frames at `size` px: synthetic ultrasound, 24 distinct clips repeated
// (content does not change the arithmetic; grey frames as real ultrasound mostly is).
datasets::FrameSet synthetic_frames(int clips, int size) {
  datasets::FrameSet s;
  s.classes = {"covid", "pneumonia", "regular"};
  std::vector<torch::Tensor> distinct;
  for (int c = 0; c < std::min(clips, 24); ++c) {
    auto b = datasets::synthetic_clip(c % 3, 1000 + static_cast<std::uint64_t>(c), 3, size);
    distinct.push_back(torch::from_blob(b.pixels.data(), {3, size, size, 3}, torch::kUInt8).clone());
  }
  std::vector<torch::Tensor> all;
  for (int c = 0; c < clips; ++c) {
    all.push_back(distinct[static_cast<std::size_t>(c) % distinct.size()]);
    s.clip_first.push_back(3 * c);
    s.clip_frames.push_back(3);
    s.clip_ids.push_back("clip" + std::to_string(c));
    for (int i = 0; i < 3; ++i) {
      s.clip_of.push_back(c);
      s.frame_in_clip.push_back(i);
      s.label_of.push_back(c % 2);  // two labels: USCL's semi-supervised term runs
    }
  }
  s.frames = torch::cat(all);
  return s;
}

datasets::AugmentConfig pretrain_aug(int size) {
  datasets::AugmentConfig a;
  a.out_size = size;
  a.random_crop = a.flip = a.color_jitter = true;
  return a;
}

// USCL steps per second at batch `b`: the runner's step on batches made beforehand.
nlohmann::json pretrain_rate(const Registries& reg, const datasets::FrameSet& set, const torch::Device& dev, int b,
                             bool amp, const Options& o) {
  const auto cfg = reg.methods.get("uscl").resolve({{"batch_size", b}, {"input_size", o.size}}, "throughput", "uscl");
  auto m = methods::make_pretrainer(reg.methods.get("uscl"), cfg, 2, dev, 0);
  std::vector<int> clips(static_cast<std::size_t>(set.clip_ids.size()));
  std::iota(clips.begin(), clips.end(), 0);
  const auto pb =
      methods::PairBatches::make(set, clips, b, true, pretrain_aug(o.size), methods::PairMode::Mix, 0.5, true, 1, 0);
  std::vector<methods::PairBatch> ready;
  for (int i = 0; i < std::min(2, pb.num_batches()); ++i) {
    auto x = pb.batch(i);
    x.x1 = datasets::to_device(x.x1, dev);
    x.x2 = datasets::to_device(x.x2, dev);
    ready.push_back(std::move(x));
  }
  GradScaler scaler(amp);
  m->state().train();
  auto step = [&](int i) {
    const auto& batch = ready[static_cast<std::size_t>(i) % ready.size()];
    methods::StepLosses l;
    {
      AutocastGuard autocast(amp);
      l = m->loss(batch, true);
    }
    m->optimizer().zero_grad();
    scaler.scale(l.total).backward();
    scaler.step(m->optimizer());
    m->after_step(batch);
  };
  for (int i = 0; i < o.warmup; ++i) step(i);
  sync(dev);
  const auto t0 = Clock::now();
  for (int i = 0; i < o.steps; ++i) step(i);
  sync(dev);
  const double secs = seconds_since(t0);
  return {{"batch", b},      {"precision", amp ? "amp" : "fp32"},       {"steps", o.steps},
          {"seconds", secs}, {"views_per_s", 2.0 * b * o.steps / secs}, {"steps_per_s", o.steps / secs}};
}

// uscl-paper training steps and evaluation at batch `b`.
nlohmann::json finetune_rate(const torch::Device& dev, int b, bool amp, const Options& o) {
  torch::manual_seed(0);
  ResNet model(ResNetSpec::by_name("resnet18"));
  model->fc = model->replace_module("fc", torch::nn::Linear(512, 3));
  model->to(dev);
  std::vector<torch::Tensor> params;
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  auto it = model->layer4->begin();
  for (++it; it != model->layer4->end(); ++it)
    for (auto& p : it->ptr()->parameters()) p.set_requires_grad(true);
  for (auto& p : model->fc->parameters()) p.set_requires_grad(true);
  for (auto& p : model->parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(0.01).weight_decay(1e-4));
  GradScaler scaler(amp);
  const auto x = torch::randn({b, 3, o.size, o.size}).to(dev);
  const auto y = torch::randint(0, 3, {b}, torch::kLong).to(dev);
  model->train();
  auto step = [&] {
    torch::Tensor loss;
    {
      AutocastGuard autocast(amp);
      torch::Tensor h;
      {
        torch::NoGradGuard no_grad;
        h = uscl_paper_frozen_part(*model, x);
      }
      loss = torch::nn::functional::cross_entropy(uscl_paper_trained_part(*model, h), y);
    }
    opt.zero_grad();
    scaler.scale(loss).backward();
    scaler.step(opt);
  };
  for (int i = 0; i < o.warmup; ++i) step();
  sync(dev);
  auto t0 = Clock::now();
  for (int i = 0; i < o.steps; ++i) step();
  sync(dev);
  const double train_s = seconds_since(t0);

  const auto xe = torch::randn({64, 3, o.size, o.size}).to(dev);
  model->eval();
  auto eval = [&] {
    torch::InferenceMode guard;
    AutocastGuard autocast(amp);
    return torch::softmax(model->forward(xe), 1);
  };
  for (int i = 0; i < o.warmup; ++i) eval();
  sync(dev);
  t0 = Clock::now();
  for (int i = 0; i < o.steps; ++i) eval();
  sync(dev);
  const double eval_s = seconds_since(t0);
  return {{"batch", b},
          {"precision", amp ? "amp" : "fp32"},
          {"steps", o.steps},
          {"train_images_per_s", b * o.steps / train_s},
          {"eval_images_per_s", 64.0 * o.steps / eval_s}};
}

// Augmented pairs per second (USCL mixing) and fine-tuning images per second from `set` with `threads`.
nlohmann::json loader_rate(const datasets::FrameSet& set, int threads, const Options& o, const std::string& where) {
  std::vector<int> clips(static_cast<std::size_t>(set.clip_ids.size()));
  std::iota(clips.begin(), clips.end(), 0);
  const int b = 32;
  const auto pb =
      methods::PairBatches::make(set, clips, b, true, pretrain_aug(o.size), methods::PairMode::Mix, 0.5, true, 1, 0);
  const int n = std::min(o.loader_batches, pb.num_batches());
  auto t0 = Clock::now();
  {
    datasets::OrderedLoader<methods::PairBatch> loader(
        n, [&pb](int i) { return pb.batch(i); }, threads, 2 * std::max(1, threads));
    while (auto x = loader.next()) x->x1.sum();
  }
  sync(set.frames.device());
  const double pair_s = seconds_since(t0);

  datasets::AugmentConfig ft;
  ft.out_size = o.size;
  ft.random_crop = ft.flip = true;
  std::vector<std::int64_t> frames(static_cast<std::size_t>(set.size()));
  std::iota(frames.begin(), frames.end(), 0);
  const auto fb = datasets::FrameBatches::make(set, frames, b, true, ft, 2, 0);
  const int nf = std::min(o.loader_batches, fb.num_batches());
  t0 = Clock::now();
  {
    datasets::Loader loader(
        nf, [&fb](int i) { return fb.augmented(i); }, threads, 2 * std::max(1, threads));
    while (auto x = loader.next()) x->images.sum();
  }
  sync(set.frames.device());
  const double ft_s = seconds_since(t0);
  return {{"frames", where},
          {"threads", threads},
          {"pretrain_views_per_s", 2.0 * b * n / pair_s},
          {"finetune_images_per_s", static_cast<double>(b) * nf / ft_s}};
}

// The measured rate closest in batch size to `batch`, for one precision.
double nearest(const nlohmann::json& rows, int batch, bool amp, const char* key) {
  double best = 0;
  int dist = 1 << 30;
  for (const auto& r : rows)
    if ((r["precision"] == "amp") == amp && std::abs(r["batch"].get<int>() - batch) < dist) {
      dist = std::abs(r["batch"].get<int>() - batch);
      best = r[key].get<double>();
    }
  return best;
}

// Predicted wall time of a spec: every pretraining step and every fine-tuning / evaluation image,
// divided by the measured rates (USCL's step stands for SimCLR's and MoCo's, which do less work).
nlohmann::json predict(const Registries& reg, const nlohmann::json& measured, const Options& o, bool amp) {
  const auto spec = load_spec(o.spec, {}, reg);
  nlohmann::json out = {{"spec", o.spec},
                        {"pretrain_clips", o.pretrain_clips},
                        {"downstream_frames", o.downstream_frames},
                        {"precision", amp ? "amp" : "fp32"},
                        {"parts", nlohmann::json::array()}};
  auto check_size = [&](const ComponentRef& c) {
    if (c.config.contains("input_size") && c.config.at("input_size").get<int>() != o.size)
      throw std::runtime_error(fmt::format("{}: '{}' trains at {} px, the rates were measured at {} px (use --size {})",
                                           o.spec, c.label, c.config.at("input_size").get<int>(), o.size,
                                           c.config.at("input_size").get<int>()));
  };
  for (const auto& m : spec.methods) check_size(m);
  for (const auto& p : spec.protocols) check_size(p);
  double total = 0;
  int downstream_methods = 0;
  for (const auto& m : spec.methods) {
    // ImageNet-init without a weights file is reported "not run": it costs nothing.
    if (m.name == "imagenet" && m.config.value("weights", std::string()).empty()) {
      out["parts"].push_back({{"what", m.label + ": not run (no weights in the spec)"}, {"seconds", 0.0}});
      continue;
    }
    ++downstream_methods;
    if (!reg.methods.get(m.name).pretrains()) continue;
    const int epochs = m.config.at("epochs"), batch = m.config.at("batch_size");
    const double vf = m.config.at("val_fraction");
    const int train = static_cast<int>(std::lround((1 - vf) * o.pretrain_clips)), held = o.pretrain_clips - train;
    const int per_epoch = train / batch + (train % batch >= 2 ? 1 : 0);
    const double steps = static_cast<double>(epochs) * per_epoch * static_cast<double>(spec.seeds.size());
    const double rate = nearest(measured["pretrain"], batch, amp, "views_per_s");
    const double eval_rate = nearest(measured["finetune"], batch, amp, "eval_images_per_s");
    const double s =
        steps * 2 * batch / rate + epochs * 2.0 * held / eval_rate * static_cast<double>(spec.seeds.size());
    out["parts"].push_back({{"what", "pretrain " + m.label}, {"steps", steps}, {"seconds", s}});
    total += s;
  }
  for (const auto& p : spec.protocols) {
    const double k = spec.folds.k, train = o.downstream_frames * (k - 1) / k;
    const double runs = static_cast<double>(downstream_methods) * static_cast<double>(spec.seeds.size()) * k;
    if (!p.config.contains("epochs")) {  // fitted once (linear-eval): every frame's features once, per run
      const double eval_rate = nearest(measured["finetune"], 64, amp, "eval_images_per_s");
      const double s = runs * (train + o.downstream_frames / k) / eval_rate;
      out["parts"].push_back(
          {{"what", p.label + " (" + std::to_string(static_cast<int>(runs)) + " folds of all methods, one fit each)"},
           {"eval_images", runs * (train + o.downstream_frames / k)},
           {"seconds", s}});
      total += s;
      continue;
    }
    const int epochs = p.config.at("epochs"), batch = p.config.at("batch_size");
    // Without a validation part the head is fitted on all training folds.
    const double vf = p.config.value("val_fraction", 0.0);
    const double fit = train * (1 - vf);
    const double eval = train * vf + o.downstream_frames / k;
    const double rate = nearest(measured["finetune"], batch, amp, "train_images_per_s");
    const double eval_rate = nearest(measured["finetune"], batch, amp, "eval_images_per_s");
    const double s = runs * epochs * (fit / rate + eval / eval_rate);
    out["parts"].push_back(
        {{"what", p.label + " (" + std::to_string(static_cast<int>(runs)) + " folds of all methods)"},
         {"train_images", runs * epochs * fit},
         {"eval_images", runs * epochs * eval},
         {"seconds", s}});
    total += s;
  }
  out["seconds"] = total;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "usbench_throughput: training-step, evaluation and loader rates on a device, and a predicted experiment time"};
  app.add_option("--device", o.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--size", o.size, "input size (px)")->capture_default_str();
  app.add_option("--batches", o.batches, "batch sizes")->delimiter(',');
  app.add_option("--steps", o.steps, "timed steps per measurement")->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed steps first")->capture_default_str();
  app.add_option("--loader-threads", o.loader_threads, "loader thread counts")->delimiter(',');
  app.add_option("--loader-batches", o.loader_batches, "batches per loader measurement")->capture_default_str();
  app.add_option("--spec", o.spec, "predict this experiment's wall time");
  app.add_option("--pretrain-clips", o.pretrain_clips, "clips of the pretraining set (COVID-BLUES: 362)")
      ->capture_default_str();
  app.add_option("--downstream-frames", o.downstream_frames, "frames of the downstream set (POCUS public subset: 2149)")
      ->capture_default_str();
  app.add_option("--out", o.out, "write every figure here as JSON");
  app.add_option("--cpu-isa", o.cpu_isa,
                 "CPU kernel set: avx2 (usbench's default) or native (the libraries choose by processor)")
      ->check(CLI::IsMember({"avx2", "native"}))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "intra-op threads (0: one per logical CPU)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Before LibTorch's first computation (harness/kernels.h). .ci/kernel-price runs this program once per
  // kernel set: a process cannot change its set once the libraries have read it.
  apply_kernel_set(parse_cpu_isa(o.cpu_isa, "--cpu-isa"), argv);
  try {
    if (o.device == "cuda" && !torch::cuda::is_available())
      throw std::runtime_error("--device cuda: CUDA is not available");
    const torch::Device dev = o.device == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    Registries reg;
    cli::register_builtins(reg);
    // Intra-op threads as the runner sets them for a spec without "threads": one per logical CPU.
    at::set_num_threads(o.threads > 0 ? o.threads
                                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    const auto env = capture_environment(o.device);
    nlohmann::json r = {{"device", o.device},
                        {"device_name", env["device_name"]},
                        {"torch_version", env["torch_version"]},
                        {"cpu_isa", o.cpu_isa},
                        {"kernels", env["kernels"]},
                        {"threads", env["threads"]},
                        {"size", o.size},
                        {"pretrain", nlohmann::json::array()},
                        {"finetune", nlohmann::json::array()},
                        {"loader", nlohmann::json::array()}};
    const int max_batch = *std::max_element(o.batches.begin(), o.batches.end());
    auto host = synthetic_frames(std::max(2 * max_batch, 64), o.size);
    datasets::FrameSet on_device = host;
    on_device.frames = host.frames.to(dev);
    const std::vector<bool> precisions = dev.is_cuda() ? std::vector<bool>{false, true} : std::vector<bool>{false};
    fmt::print("usbench_throughput on {} ({}), {} px, LibTorch {}, {} threads, CPU kernels {} ({})\n", o.device,
               env["device_name"].get<std::string>(), o.size, env["torch_version"].get<std::string>(),
               env["threads"].dump(), o.cpu_isa, kernel_set_key(env["kernels"]));
    for (bool amp : precisions)
      for (int b : o.batches) {
        auto p = pretrain_rate(reg, on_device, dev, b, amp, o);
        fmt::print("  pretrain USCL   batch {:4d} {:5s}: {:9.1f} views/s\n", b, p["precision"].get<std::string>(),
                   p["views_per_s"].get<double>());
        r["pretrain"].push_back(p);
        auto f = finetune_rate(dev, b, amp, o);
        fmt::print("  finetune paper  batch {:4d} {:5s}: {:9.1f} images/s train, {:9.1f} images/s eval\n", b,
                   f["precision"].get<std::string>(), f["train_images_per_s"].get<double>(),
                   f["eval_images_per_s"].get<double>());
        r["finetune"].push_back(f);
      }
    for (int t : o.loader_threads) {
      auto l = loader_rate(host, t, o, "host");
      fmt::print(
          "  loader, frames in host memory, {:2d} threads: {:9.1f} pretraining views/s, {:9.1f} fine-tuning images/s\n",
          t, l["pretrain_views_per_s"].get<double>(), l["finetune_images_per_s"].get<double>());
      r["loader"].push_back(l);
    }
    if (dev.is_cuda()) {
      auto l = loader_rate(on_device, 1, o, "device");
      fmt::print(
          "  loader, frames on the GPU,       1 thread:  {:9.1f} pretraining views/s, {:9.1f} fine-tuning images/s\n",
          l["pretrain_views_per_s"].get<double>(), l["finetune_images_per_s"].get<double>());
      r["loader"].push_back(l);
    }
    if (!o.spec.empty()) {
      const bool amp = dev.is_cuda();
      r["prediction"] = predict(reg, r, o, amp);
      fmt::print("  predicted wall time of {} on this device ({}): {:.1f} min\n", o.spec, amp ? "AMP" : "fp32",
                 r["prediction"]["seconds"].get<double>() / 60);
      for (const auto& part : r["prediction"]["parts"])
        fmt::print("    {:50s} {:8.1f} s\n", part["what"].get<std::string>(), part["seconds"].get<double>());
    }
    if (!o.out.empty()) {
      std::ofstream f(o.out);
      f << r.dump(2) << "\n";
      if (!f) throw std::runtime_error(o.out + ": cannot write");
    }
  } catch (const std::exception& e) {
    std::cerr << "usbench_throughput: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
