#include "harness/store/results_schema.h"
#include "harness/run/pretrain_run.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
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
    if (gs.size() >= 2)
      n = std::clamp<std::size_t>(n, 1, gs.size() - 1);
    else
      n = 0;
    held.insert(gs.begin(), gs.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (held.empty() && seen.size() >= 2) held.insert(groups.front());
  std::vector<int> out;
  for (std::size_t i = 0; i < groups.size(); ++i)
    if (held.count(groups[i])) out.push_back(static_cast<int>(i));
  return out;
}

namespace {

datasets::AugmentConfig pretrain_augment(const methods::PretrainCommon& c) {
  datasets::AugmentConfig a;
  a.out_size = c.input_size;
  a.random_crop = true;
  a.crop_scale = c.crop_scale;
  a.crop_ratio = c.crop_ratio;
  a.flip = true;
  a.color_jitter = true;
  a.jitter = c.color_jitter;
  a.jitter_p = c.jitter_p;
  a.grayscale_p = c.grayscale_p;
  a.blur_p = c.blur_p;
  return a;
}

void save_checkpoint(const RunContext& ctx, methods::Pretrainer& m, const GradScaler& scaler, const std::string& path,
                     int epoch, double best, int best_epoch) {
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

namespace {

// What one epoch of pretraining summed: the loss (and its named parts) over its steps, images seen,
// and the seconds it took.
struct EpochSums {
  double loss = 0;
  std::map<std::string, double> parts;
  int steps = 0;
  std::int64_t images = 0;
  double seconds = 0;
};

// One pretraining run, in the order it happens: the method's networks from the init stream and the
// held-out clips (construction); then the epochs, resumed after the last checkpointed one, each trained,
// scored on the held-out clips and the kNN monitor, and checkpointed; the best backbone by held-out loss
// is the run's output. The steps draw from the run's seed streams in the order the single function they
// were split from did, so results are unchanged.
class Pretraining {
 public:
  Pretraining(RunContext& ctx, const MethodInfo& method, const nlohmann::json& config, const datasets::FrameSet& clips,
              const std::vector<std::string>& groups)
      : ctx_(ctx),
        method_(method.name),
        clips_(clips),
        impl_(methods::make_pretrainer(method, config, classes_of(clips), ctx.device, ctx.seed("init"))),
        common_(impl_->common()),
        epochs_(common_.epochs),
        batch_size_(common_.batch_size),
        aug_(pretrain_augment(common_)),
        alpha_(impl_->mixup_alpha()),
        scaler_(ctx.amp) {
    split_heldout(groups);
  }

  PretrainOutcome execute() {
    methods::Pretrainer& m = *impl_;
    fs::create_directories(ctx_.run_dir);
    last_path_ = (fs::path(ctx_.run_dir) / "last.pt").string();
    best_path_ = (fs::path(ctx_.run_dir) / "best_backbone.pth").string();
    const int start = resume();
    PretrainOutcome outcome;
    if (start == 0 && ctx_.log) {
      // The monitor's baseline: the untrained backbone (logged, not stored: the first stored epoch is 0).
      const auto knn0 = knn_monitor(*m.backbone(), clips_, train_, heldout_, common_.input_size, ctx_.device);
      if (knn0)
        ctx_.log(
            fmt::format("pretrain {} seed {} | before training | kNN {:.3f}", ctx_.run.method, ctx_.run.seed, *knn0));
    }
    const auto run_t0 = std::chrono::steady_clock::now();
    for (int epoch = start; epoch < epochs_; ++epoch) {
      const double lr = m.lr_for_epoch(epoch);
      for (auto& group : m.optimizer().param_groups()) group.options().set_lr(lr);
      const EpochSums sums = train_epoch(epoch, start, run_t0);
      const double held_loss = heldout_loss(sums.steps ? sums.loss / sums.steps : sums.loss);
      if (!std::isfinite(held_loss))
        throw RunFailure(fmt::format("epoch {}: held-out loss is {}; stopping", epoch, held_loss));
      record_epoch(epoch, lr, sums, held_loss);
      save_checkpoint(ctx_, m, scaler_, last_path_, epoch, best_, best_epoch_);
      ctx_.stop_point();  // the claim's heartbeat is renewed by the runner's RunLease
      ++outcome.epochs_run;
    }
    if (epochs_ == 0) {
      // No pretraining: the backbone handed on is the method's initialisation (artifact epoch -1: before any).
      const auto digest = save_state_dict(state_dict(*m.backbone()), best_path_);
      ctx_.store->put_artifact(ctx_.run.id, "best_backbone", -1, best_path_, digest.sha256, digest.bytes);
      if (ctx_.log)
        ctx_.log(fmt::format("pretrain {} seed {} | 0 epochs: the backbone stays at its initialisation",
                             ctx_.run.method, ctx_.run.seed));
    }
    if (!fs::exists(best_path_)) throw RunFailure("pretraining produced no checkpoint");
    outcome.backbone_path = best_path_;
    outcome.best_epoch = best_epoch_;
    outcome.best_heldout = best_;
    return outcome;
  }

 private:
  // Held-out clips by group (patients in COVID-BLUES), from the split stream.
  void split_heldout(const std::vector<std::string>& groups) {
    std::vector<std::int64_t> clip_labels;
    for (std::size_t c = 0; c < clips_.clip_ids.size(); ++c)
      clip_labels.push_back(clips_.label_of[static_cast<std::size_t>(clips_.clip_first[c])]);
    const auto held = held_out_positions(groups, clip_labels, common_.val_fraction, ctx_.seed("split"));
    std::set<int> h(held.begin(), held.end());
    for (int c = 0; c < static_cast<int>(clips_.clip_ids.size()); ++c) (h.count(c) ? heldout_ : train_).push_back(c);
    if (static_cast<int>(train_.size()) < 2)
      throw RunFailure("pretraining needs at least 2 training clips, has " + std::to_string(train_.size()));
  }

  // The epoch to start from: 0, or the one after a checkpoint this store recorded (with the best so far).
  int resume() {
    if (!resumable_checkpoint(ctx_, last_path_)) return 0;
    methods::Pretrainer& m = *impl_;
    torch::Tensor e, b, be;
    try {
      torch::serialize::InputArchive archive;
      archive.load_from(last_path_, ctx_.device);
      m.state().load(archive);
      if (scaler_.enabled()) scaler_.load(archive);
      torch::serialize::InputArchive opt;
      archive.read("optimizer", opt);
      m.optimizer().load(opt);
      archive.read("epoch", e);
      archive.read("best", b);
      archive.read("best_epoch", be);
    } catch (const c10::Error& err) {
      throw RunFailure(last_path_ + ": unreadable checkpoint (" + std::string(err.what_without_backtrace()) +
                       "); delete it to restart the run from epoch 0");
    }
    const int start = static_cast<int>(e.item<std::int64_t>()) + 1;
    best_ = b.item<double>();
    best_epoch_ = static_cast<int>(be.item<std::int64_t>());
    if (ctx_.log)
      ctx_.log(fmt::format("resuming {} from its checkpoint after epoch {}", ctx_.run.id.substr(0, 12), start - 1));
    return start;
  }

  // One pass over the training clips' pair batches. Step losses are summed where they are computed. On
  // the CPU they are read after every step (a NaN stops the run at its batch); on CUDA only at the
  // progress interval and at the end of the epoch, so the GPU is never made to wait for the host (a NaN
  // is then caught at the next read).
  EpochSums train_epoch(int epoch, int start, std::chrono::steady_clock::time_point run_t0) {
    methods::Pretrainer& m = *impl_;
    m.state().train();
    const auto batches = methods::PairBatches::make(clips_, train_, batch_size_, true, aug_, m.pair_mode(), alpha_,
                                                    true, ctx_.seed("augmentation"), epoch);
    datasets::OrderedLoader<methods::PairBatch> loader(
        batches.num_batches(), [&batches](int b) { return batches.batch(b); }, ctx_.loader_threads, 2);
    StepSums sums;
    const bool read_every_step = !ctx_.device.is_cuda();
    auto last_read = std::chrono::steady_clock::now();
    int steps = 0, first_unread = 0;
    std::int64_t images = 0;
    std::map<std::string, double> totals;
    auto read_sums = [&](int batch_index) {
      totals = sums.read();
      const double value = totals.at("loss");
      if (!std::isfinite(value))
        throw RunFailure(
            first_unread + 1 == steps
                ? fmt::format("epoch {}: the {} loss is {} at batch {}; stopping", epoch, method_, value, batch_index)
                : fmt::format("epoch {}: the {} loss is {} between batches {} and {}; stopping", epoch, method_, value,
                              first_unread, batch_index));
      first_unread = steps;
      last_read = std::chrono::steady_clock::now();
    };
    const auto t0 = std::chrono::steady_clock::now();
    while (auto next = loader.next()) {
      ctx_.stop_point();
      const methods::PairBatch& pb = *next;
      const auto n = pb.x1.size(0);
      methods::StepLosses losses;
      {
        AutocastGuard autocast(ctx_.amp);
        losses = m.loss(pb, true);
      }
      sums.add("loss", losses.total);
      for (const auto& [k, v] : losses.parts) sums.add(k, v);
      ++steps;
      images += 2 * n;
      const double since_read = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_read).count();
      if (read_every_step || since_read >= kStepSumReadSeconds) read_sums(pb.index);
      m.optimizer().zero_grad();
      scaler_.scale(losses.total).backward();
      scaler_.step(m.optimizer());  // under AMP, a step with inf/NaN gradients is skipped and the scale backs off
      m.after_step(pb);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (ctx_.progress && first_unread == steps)
        ctx_.progress(fmt::format(
            "{} | pretrain {} seed {} | epoch {}/{} | batch {}/{} | loss {:.4f} | {:.1f} img/s | ETA {}",
            ctx_.run.experiment, ctx_.run.method, ctx_.run.seed, epoch + 1, epochs_, steps, batches.num_batches(),
            totals.at("loss") / steps, images / secs,
            eta(remaining_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count(),
                                  epoch - start + static_cast<double>(steps) / batches.num_batches(),
                                  epochs_ - start))));
    }
    if (steps > first_unread) read_sums(batches.num_batches() - 1);
    EpochSums out;
    out.loss = steps ? totals.at("loss") : 0.0;
    for (const auto& [k, v] : totals)
      if (k != "loss") out.parts[k] = v;
    out.steps = steps;
    out.images = images;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }

  // Held-out loss on un-mixed views with fixed augmentation, comparable across epochs (running BatchNorm
  // statistics, as the reference's validation); `fallback` without held-out clips.
  double heldout_loss(double fallback) {
    if (heldout_.empty()) return fallback;
    methods::Pretrainer& m = *impl_;
    double held_sum = 0;
    int held_steps = 0;
    torch::NoGradGuard guard;
    AutocastGuard autocast(ctx_.amp);
    m.state().eval();
    const auto hb = methods::PairBatches::make(clips_, heldout_, batch_size_, false, aug_, m.pair_mode(), alpha_, false,
                                               ctx_.seed("augmentation") ^ 0x4E1D0017ull, 0);
    for (int b = 0; b < hb.num_batches(); ++b) {
      const auto pb = hb.batch(b);
      held_sum += m.loss(pb, false).parts.at(results::metric::kContrastive).item<double>();
      ++held_steps;
    }
    return held_steps ? held_sum / held_steps : fallback;
  }

  // The epoch's metrics and monitor into the store; the backbone when its held-out loss is the best yet.
  void record_epoch(int epoch, double lr, const EpochSums& sums, double held_loss) {
    methods::Pretrainer& m = *impl_;
    const int steps = std::max(1, sums.steps);
    std::map<std::string, double> train_metrics = {
        {results::metric::kLoss, sums.loss / steps},
        {results::metric::kLr, lr},
        {results::metric::kImagesPerS, sums.images / std::max(sums.seconds, 1e-9)}};
    for (const auto& [k, v] : sums.parts) train_metrics[k] = v / steps;
    ctx_.store->put_metrics(ctx_.run.id, epoch, results::split::kTrain, train_metrics);
    // The monitor: kNN accuracy of the backbone's features on the pretraining set's own labels (held-out
    // clips against training clips). Recorded and drawn, never used to select a checkpoint.
    const auto knn = knn_monitor(*m.backbone(), clips_, train_, heldout_, common_.input_size, ctx_.device);
    std::map<std::string, double> held_metrics = {{results::metric::kContrastive, held_loss}};
    if (knn) held_metrics[results::metric::kKnnAccuracy] = *knn;
    ctx_.store->put_metrics(ctx_.run.id, epoch, results::split::kHeldout, held_metrics);
    if (held_loss < best_) {
      best_ = held_loss;
      best_epoch_ = epoch;
      // The row is written after the file is complete, with the digest of the bytes written.
      const auto digest = save_state_dict(state_dict(*m.backbone()), best_path_);
      ctx_.store->put_artifact(ctx_.run.id, "best_backbone", epoch, best_path_, digest.sha256, digest.bytes);
    }
    if (ctx_.log)
      ctx_.log(
          fmt::format("pretrain {} seed {} | epoch {}/{} | loss {:.4f} | held-out {:.4f}{}{} | {:.1f} img/s | ETA {}",
                      ctx_.run.method, ctx_.run.seed, epoch + 1, epochs_, sums.loss / steps, held_loss,
                      epoch == best_epoch_ ? " (best)" : "", knn ? fmt::format(" | kNN {:.3f}", *knn) : std::string(),
                      sums.images / std::max(sums.seconds, 1e-9), eta(sums.seconds * (epochs_ - epoch - 1))));
  }

  // Labels of the pretraining set (USCL's semi-supervised head).
  static int classes_of(const datasets::FrameSet& clips) {
    int n = 0;
    for (auto l : clips.label_of) n = std::max<int>(n, static_cast<int>(l) + 1);
    return n;
  }

  RunContext& ctx_;
  const std::string method_;
  const datasets::FrameSet& clips_;
  std::unique_ptr<methods::Pretrainer> impl_;  // before the settings read from it (member order)
  const methods::PretrainCommon& common_;      // the method's validated settings, held by impl_
  const int epochs_, batch_size_;
  const datasets::AugmentConfig aug_;
  const double alpha_;
  GradScaler scaler_;
  std::vector<int> train_, heldout_;
  std::string last_path_, best_path_;
  double best_ = std::numeric_limits<double>::infinity();
  int best_epoch_ = -1;
};

}  // namespace

PretrainOutcome run_pretraining(RunContext& ctx, const MethodInfo& method, const nlohmann::json& config,
                                const datasets::FrameSet& clips, const std::vector<std::string>& groups) {
  return Pretraining(ctx, method, config, clips, groups).execute();
}

}  // namespace usbench
