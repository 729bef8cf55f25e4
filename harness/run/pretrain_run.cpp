#include "harness/run/pretrain_run.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "harness/model/amp.h"
#include "harness/canonical.h"
#include "harness/run/checkpoint.h"
#include "harness/errors.h"
#include "harness/run/knn_monitor.h"
#include "harness/run/step_sums.h"
#include "harness/model/weights.h"
#include "methods/pretrainer.h"

namespace usbench {

namespace fs = std::filesystem;
using datasets::Rng;

std::vector<int> held_out_positions(const std::vector<std::string>& groups, const std::vector<std::int64_t>& labels,
                                    double fraction, std::uint64_t seed) {
  // Distinct groups per label stratum, in first-seen order, then a seeded shuffle per stratum.
  std::map<std::int64_t, std::vector<std::string>> strata;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < groups.size(); ++i)
    if (seen.insert(groups[i]).second) strata[labels[i]].push_back(groups[i]);
  std::set<std::string> held;
  Rng rng(seed);
  for (auto& [label, gs] : strata) {
    rng.shuffle(gs);
    auto n = static_cast<std::size_t>(std::lround(fraction * static_cast<double>(gs.size())));
    if (gs.size() >= 2) n = std::clamp<std::size_t>(n, 1, gs.size() - 1);
    else n = 0;
    held.insert(gs.begin(), gs.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (held.empty() && seen.size() >= 2) held.insert(groups.front());
  std::vector<int> out;
  for (std::size_t i = 0; i < groups.size(); ++i)
    if (held.count(groups[i])) out.push_back(static_cast<int>(i));
  return out;
}

namespace {

datasets::AugmentConfig pretrain_augment(const nlohmann::json& c) {
  datasets::AugmentConfig a;
  a.out_size = c.at("input_size");
  a.random_crop = true;
  a.crop_scale = c.at("crop_scale");
  a.crop_ratio = c.at("crop_ratio");
  a.flip = true;
  a.color_jitter = true;
  a.jitter = c.at("color_jitter");
  return a;
}

void save_checkpoint(const RunContext& ctx, methods::Pretrainer& m, const GradScaler& scaler, const std::string& path, int epoch,
                     double best, int best_epoch) {
  torch::serialize::OutputArchive archive;
  m.state().save(archive);
  if (scaler.enabled()) scaler.save(archive);
  torch::serialize::OutputArchive opt;
  m.optimizer().save(opt);
  archive.write("optimizer", opt);
  archive.write("epoch", torch::tensor(static_cast<std::int64_t>(epoch)));
  archive.write("best", torch::tensor(best, torch::kFloat64));
  archive.write("best_epoch", torch::tensor(static_cast<std::int64_t>(best_epoch)));
  commit_checkpoint(ctx, archive, path, epoch);
}

}  // namespace

std::string eta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long>(seconds);
  return s >= 3600 ? fmt::format("{}h{:02d}m", s / 3600, s % 3600 / 60) : fmt::format("{}m{:02d}s", s / 60, s % 60);
}

double remaining_seconds(double elapsed, double done, double total) {
  return done > 0 && total >= done ? elapsed / done * (total - done) : std::numeric_limits<double>::quiet_NaN();
}

PretrainOutcome run_pretraining(RunContext& ctx, const std::string& method, const nlohmann::json& config,
                                const datasets::FrameSet& clips, const std::vector<std::string>& groups) {
  const int epochs = config.at("epochs");
  const int batch_size = config.at("batch_size");
  int n_classes = 0;
  for (auto l : clips.label_of) n_classes = std::max<int>(n_classes, static_cast<int>(l) + 1);
  auto method_impl = methods::make_pretrainer(method, config, n_classes, ctx.device, ctx.seed("init"));
  methods::Pretrainer& m = *method_impl;

  // Held-out clips by group (patients in COVID-BLUES), from the split stream.
  std::vector<std::int64_t> clip_labels;
  for (std::size_t c = 0; c < clips.clip_ids.size(); ++c)
    clip_labels.push_back(clips.label_of[static_cast<std::size_t>(clips.clip_first[c])]);
  const auto held = held_out_positions(groups, clip_labels, config.at("val_fraction"), ctx.seed("split"));
  std::vector<int> train, heldout;
  {
    std::set<int> h(held.begin(), held.end());
    for (int c = 0; c < static_cast<int>(clips.clip_ids.size()); ++c) (h.count(c) ? heldout : train).push_back(c);
  }
  if (static_cast<int>(train.size()) < 2) throw RunFailure("pretraining needs at least 2 training clips, has " + std::to_string(train.size()));

  fs::create_directories(ctx.run_dir);
  const std::string last_path = (fs::path(ctx.run_dir) / "last.pt").string();
  const std::string best_path = (fs::path(ctx.run_dir) / "best_backbone.pth").string();
  int start = 0, best_epoch = -1;
  double best = std::numeric_limits<double>::infinity();
  GradScaler scaler(ctx.amp);
  if (resumable_checkpoint(ctx, last_path)) {
    torch::Tensor e, b, be;
    try {
      torch::serialize::InputArchive archive;
      archive.load_from(last_path, ctx.device);
      m.state().load(archive);
      if (scaler.enabled()) scaler.load(archive);
      torch::serialize::InputArchive opt;
      archive.read("optimizer", opt);
      m.optimizer().load(opt);
      archive.read("epoch", e);
      archive.read("best", b);
      archive.read("best_epoch", be);
    } catch (const c10::Error& err) {
      throw RunFailure(last_path + ": unreadable checkpoint (" + std::string(err.what_without_backtrace()) +
                       "); delete it to restart the run from epoch 0");
    }
    start = static_cast<int>(e.item<std::int64_t>()) + 1;
    best = b.item<double>();
    best_epoch = static_cast<int>(be.item<std::int64_t>());
    if (ctx.log) ctx.log(fmt::format("resuming {} from its checkpoint after epoch {}", ctx.run.id.substr(0, 12), start - 1));
  }

  const auto aug = pretrain_augment(config);
  const double alpha = config.contains("mixup_alpha") ? config.at("mixup_alpha").get<double>() : 0.5;
  PretrainOutcome outcome;
  if (start == 0 && ctx.log) {
    // The monitor's baseline: the untrained backbone (logged, not stored: the first stored epoch is 0).
    const auto knn0 = knn_monitor(*m.backbone(), clips, train, heldout, config.at("input_size"), ctx.device);
    if (knn0) ctx.log(fmt::format("pretrain {} seed {} | before training | kNN {:.3f}", method, ctx.run.seed, *knn0));
  }
  const auto run_t0 = std::chrono::steady_clock::now();
  for (int epoch = start; epoch < epochs; ++epoch) {
    const double lr = m.lr_for_epoch(epoch);
    for (auto& group : m.optimizer().param_groups()) group.options().set_lr(lr);
    m.state().train();
    const auto batches = methods::PairBatches::make(clips, train, batch_size, true, aug, m.pair_mode(), alpha, true,
                                                    ctx.seed("augmentation"), epoch);
    datasets::OrderedLoader<methods::PairBatch> loader(
        batches.num_batches(), [&batches](int b) { return batches.batch(b); }, ctx.loader_threads, 2);
    // Step losses are summed where they are computed. On the CPU they are read after every step (a NaN
    // stops the run at its batch); on CUDA only at the progress interval and at the end of the epoch, so
    // the GPU is never made to wait for the host (a NaN is then caught at the next read).
    StepSums sums;
    const bool read_every_step = !ctx.device.is_cuda();
    auto last_read = std::chrono::steady_clock::now();
    int steps = 0, first_unread = 0;
    std::int64_t images = 0;
    std::map<std::string, double> totals;
    auto read_sums = [&](int batch_index) {
      totals = sums.read();
      const double value = totals.at("loss");
      if (!std::isfinite(value))
        throw RunFailure(first_unread + 1 == steps
                             ? fmt::format("epoch {}: the {} loss is {} at batch {}; stopping", epoch, method, value, batch_index)
                             : fmt::format("epoch {}: the {} loss is {} between batches {} and {}; stopping", epoch, method, value,
                                           first_unread, batch_index));
      first_unread = steps;
      last_read = std::chrono::steady_clock::now();
    };
    const auto t0 = std::chrono::steady_clock::now();
    while (auto next = loader.next()) {
      ctx.stop_point();
      const methods::PairBatch& pb = *next;
      const auto n = pb.x1.size(0);
      methods::StepLosses losses;
      {
        AutocastGuard autocast(ctx.amp);
        losses = m.loss(pb, true);
      }
      sums.add("loss", losses.total);
      for (const auto& [k, v] : losses.parts) sums.add(k, v);
      ++steps;
      images += 2 * n;
      const double since_read = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_read).count();
      if (read_every_step || since_read >= kStepSumReadSeconds) read_sums(pb.index);
      m.optimizer().zero_grad();
      scaler.scale(losses.total).backward();
      scaler.step(m.optimizer());  // under AMP, a step with inf/NaN gradients is skipped and the scale backs off
      m.after_step(pb);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (ctx.progress && first_unread == steps)
        ctx.progress(fmt::format("{} | pretrain {} seed {} | epoch {}/{} | batch {}/{} | loss {:.4f} | {:.1f} img/s | ETA {}",
                                 ctx.run.experiment, method, ctx.run.seed, epoch + 1, epochs, steps, batches.num_batches(),
                                 totals.at("loss") / steps, images / secs,
                                 eta(remaining_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count(),
                                                       epoch - start + static_cast<double>(steps) / batches.num_batches(), epochs - start))));
    }
    if (steps > first_unread) read_sums(batches.num_batches() - 1);
    const double sum = steps ? totals.at("loss") : 0.0;
    std::map<std::string, double> parts;
    for (const auto& [k, v] : totals)
      if (k != "loss") parts[k] = v;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Held-out loss on un-mixed views with fixed augmentation, comparable across epochs.
    double held_sum = 0;
    int held_steps = 0;
    if (!heldout.empty()) {
      torch::NoGradGuard guard;
      AutocastGuard autocast(ctx.amp);
      m.state().eval();  // running BatchNorm statistics, as the reference's validation
      const auto hb = methods::PairBatches::make(clips, heldout, batch_size, false, aug, m.pair_mode(), alpha, false,
                                                 ctx.seed("augmentation") ^ 0x4E1D0017ull, 0);
      for (int b = 0; b < hb.num_batches(); ++b) {
        const auto pb = hb.batch(b);
        held_sum += m.loss(pb, false).parts.at("contrastive").item<double>();
        ++held_steps;
      }
    }
    const double held_loss = held_steps ? held_sum / held_steps : sum / std::max(1, steps);
    if (!std::isfinite(held_loss)) throw RunFailure(fmt::format("epoch {}: held-out loss is {}; stopping", epoch, held_loss));
    std::map<std::string, double> train_metrics = {{"loss", sum / std::max(1, steps)}, {"lr", lr},
                                                   {"images_per_s", images / std::max(secs, 1e-9)}};
    for (const auto& [k, v] : parts) train_metrics[k] = v / std::max(1, steps);
    ctx.store->put_metrics(ctx.run.id, epoch, "train", train_metrics);
    // The monitor: kNN accuracy of the backbone's features on the pretraining set's own labels (held-out
    // clips against training clips). Recorded and drawn, never used to select a checkpoint.
    const auto knn = knn_monitor(*m.backbone(), clips, train, heldout, config.at("input_size"), ctx.device);
    std::map<std::string, double> held_metrics = {{"contrastive", held_loss}};
    if (knn) held_metrics["knn_accuracy"] = *knn;
    ctx.store->put_metrics(ctx.run.id, epoch, "heldout", held_metrics);
    if (held_loss < best) {
      best = held_loss;
      best_epoch = epoch;
      // The row is written after the file is complete, with the digest of the bytes written.
      const auto digest = save_state_dict(state_dict(*m.backbone()), best_path);
      ctx.store->put_artifact(ctx.run.id, "best_backbone", epoch, best_path, digest.sha256, digest.bytes);
    }
    save_checkpoint(ctx, m, scaler, last_path, epoch, best, best_epoch);
    ctx.stop_point();  // the claim's heartbeat is renewed by the runner's RunLease
    ++outcome.epochs_run;
    if (ctx.log)
      ctx.log(fmt::format("pretrain {} seed {} | epoch {}/{} | loss {:.4f} | held-out {:.4f}{}{} | {:.1f} img/s | ETA {}", method,
                          ctx.run.seed, epoch + 1, epochs, sum / std::max(1, steps), held_loss, epoch == best_epoch ? " (best)" : "",
                          knn ? fmt::format(" | kNN {:.3f}", *knn) : std::string(),
                          images / std::max(secs, 1e-9), eta(secs * (epochs - epoch - 1))));
  }
  if (epochs == 0) {
    // No pretraining: the backbone handed on is the method's initialisation (artifact epoch -1: before any).
    const auto digest = save_state_dict(state_dict(*m.backbone()), best_path);
    ctx.store->put_artifact(ctx.run.id, "best_backbone", -1, best_path, digest.sha256, digest.bytes);
    if (ctx.log) ctx.log(fmt::format("pretrain {} seed {} | 0 epochs: the backbone stays at its initialisation", method, ctx.run.seed));
  }
  if (!fs::exists(best_path)) throw RunFailure("pretraining produced no checkpoint");
  outcome.backbone_path = best_path;
  outcome.best_epoch = best_epoch;
  outcome.best_heldout = best;
  return outcome;
}

}  // namespace usbench
