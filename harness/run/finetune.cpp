#include "harness/store/results_schema.h"
#include "harness/run/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "harness/model/amp.h"
#include "harness/run/checkpoint.h"
#include "harness/errors.h"
#include "harness/run/pretrain_run.h"
#include "harness/run/logistic_regression.h"
#include "harness/run/protocols.h"
#include "harness/model/resnet.h"
#include "harness/run/seeds.h"
#include "harness/run/step_sums.h"
#include "harness/model/weights.h"

namespace usbench {

namespace F = torch::nn::functional;

torch::Tensor uscl_paper_frozen_part(ResNetImpl& m, const torch::Tensor& x) {
  auto h = torch::max_pool2d(torch::relu(m.bn1(m.conv1(x))), 3, 2, 1);
  h = m.layer3->forward(m.layer2->forward(m.layer1->forward(h)));
  auto it = m.layer4->begin();
  return it->forward(h);
}

torch::Tensor uscl_paper_trained_part(ResNetImpl& m, const torch::Tensor& h) {
  auto it = m.layer4->begin();
  torch::Tensor out = h;
  for (++it; it != m.layer4->end(); ++it) out = it->forward(out);
  return m.fc(torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1));
}

double downstream_lr(double base, int epoch, int epochs) { return base * (1 + std::cos(M_PI * epoch / epochs)) / 2; }

std::vector<torch::Tensor> DownstreamNet::trainable() const {
  std::vector<torch::Tensor> out;
  for (const auto& [name, p] : named_parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> DownstreamNet::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

torch::Tensor DownstreamNet::head(const torch::Tensor& features) {
  auto logits = model->fc(features);
  return logits;
}

torch::Tensor DownstreamNet::train_logits(const torch::Tensor& x) {
  torch::Tensor out;
  if (trains == TrainedPart::Layer4Block1AndHead) {
    torch::Tensor h;
    {
      torch::NoGradGuard no_grad;  // frozen layers: no autograd graph, no saved activations
      h = uscl_paper_frozen_part(*model, x);
    }
    out = uscl_paper_trained_part(*model, h);
  } else if (trains == TrainedPart::Head) {
    torch::Tensor f;
    {
      torch::NoGradGuard no_grad;
      f = model->features(x);
    }
    out = model->fc(f);
  } else {
    out = model->forward(x);
  }
  return out;
}

torch::Tensor DownstreamNet::logits(const torch::Tensor& x) { return model->forward(x); }

void DownstreamNet::train(bool on) { model->train(on); }

DownstreamNet build_downstream_net(const ProtocolInfo& protocol, const std::string& backbone, int n_classes,
                                   const BackboneSource& init, std::uint64_t init_seed, torch::Device device) {
  DownstreamNet net;
  net.trains = protocol.trains;
  torch::manual_seed(init_seed);
  net.model = ResNet(ResNetSpec::by_name(backbone));
  if (!init.weights_path.empty())
    load_weights(*net.model, read_state_dict(init.weights_path), init.weights_path, init.with_fc);
  // The new head, from the init stream: features -> classes, and for the authors' head a second layer
  // classes -> classes (eval_pretrained_model.py's net.linear, then net.fc, created in that order).
  net.model->fc = net.model->replace_module("fc", torch::nn::Linear(net.model->spec().feature_dim(), n_classes));
  // What trains, as the protocol's entry says: layer4.1 and the head, the head alone, or everything.
  for (auto& p : net.model->parameters()) p.set_requires_grad(protocol.trains == TrainedPart::All);
  if (protocol.trains == TrainedPart::Layer4Block1AndHead) {
    auto it = net.model->layer4->begin();
    for (++it; it != net.model->layer4->end(); ++it)
      for (auto& p : it->ptr()->parameters()) p.set_requires_grad(true);
  }
  for (auto& p : net.model->fc->parameters()) p.set_requires_grad(true);
  net.model->to(device);
  return net;
}

namespace {

struct Eval {
  double accuracy = 0, loss = 0;
  std::vector<int> predicted;
  std::vector<std::array<float, 8>> scores;
};

// The state after a finished epoch, enough to continue bit-identically: model (parameters and BatchNorm
// buffers), optimiser, loss scaler, and every epoch's accuracies and test predictions so far (the epoch
// selections at the end need them). Written to a temporary file and renamed, so a kill leaves the
// previous epoch's checkpoint intact.
void save_downstream_checkpoint(const RunContext& ctx, const std::string& path, DownstreamNet& net,
                                torch::optim::Optimizer& opt, const GradScaler& scaler, int epoch,
                                const std::vector<double>& val_acc, const std::vector<double>& test_acc,
                                const std::vector<Eval>& test_evals) {
  torch::serialize::OutputArchive a;
  torch::serialize::OutputArchive m, o;
  net.model->save(m);
  opt.save(o);
  a.write("model", m);
  a.write("optimizer", o);
  if (scaler.enabled()) scaler.save(a);
  a.write("epoch", torch::tensor(static_cast<std::int64_t>(epoch)));
  a.write("val_acc", torch::tensor(val_acc, torch::kFloat64));
  a.write("test_acc", torch::tensor(test_acc, torch::kFloat64));
  std::vector<double> losses;
  std::vector<std::int64_t> predicted;
  std::vector<float> scores;
  for (const auto& e : test_evals) {
    losses.push_back(e.loss);
    predicted.insert(predicted.end(), e.predicted.begin(), e.predicted.end());
    for (const auto& s : e.scores) scores.insert(scores.end(), s.begin(), s.end());
  }
  a.write("test_loss", torch::tensor(losses, torch::kFloat64));
  a.write("test_predicted", torch::tensor(predicted, torch::kInt64));
  a.write("test_scores", torch::tensor(scores, torch::kFloat32));
  commit_checkpoint(ctx, a, path, epoch);
}

// Restores what save_downstream_checkpoint wrote; returns the last finished epoch.
int load_downstream_checkpoint(const std::string& path, torch::Device device, DownstreamNet& net,
                               torch::optim::Optimizer& opt, GradScaler& scaler, std::vector<double>& val_acc,
                               std::vector<double>& test_acc, std::vector<Eval>& test_evals, std::size_t test_frames) {
  torch::serialize::InputArchive a, m, o;
  a.load_from(path, device);
  a.read("model", m);
  net.model->load(m);
  a.read("optimizer", o);
  opt.load(o);
  if (scaler.enabled()) scaler.load(a);
  torch::Tensor e, va, ta, tl, tp, ts;
  a.read("epoch", e);
  a.read("val_acc", va);
  a.read("test_acc", ta);
  a.read("test_loss", tl);
  a.read("test_predicted", tp);
  a.read("test_scores", ts);
  const int epoch = static_cast<int>(e.item<std::int64_t>());
  const auto n = static_cast<std::size_t>(epoch + 1);
  va = va.cpu().contiguous();
  ta = ta.cpu().contiguous();
  tl = tl.cpu().contiguous();
  tp = tp.cpu().contiguous();
  ts = ts.cpu().contiguous();
  if (static_cast<std::size_t>(ta.numel()) != n || static_cast<std::size_t>(tp.numel()) != n * test_frames ||
      static_cast<std::size_t>(ts.numel()) != n * test_frames * 8)
    throw RunFailure(path + ": checkpoint does not match this run's test fold; delete it to restart the run");
  val_acc.assign(va.data_ptr<double>(), va.data_ptr<double>() + va.numel());
  test_acc.assign(ta.data_ptr<double>(), ta.data_ptr<double>() + n);
  test_evals.assign(n, Eval{});
  for (std::size_t k = 0; k < n; ++k) {
    auto& ev = test_evals[k];
    ev.accuracy = test_acc[k];
    ev.loss = tl.data_ptr<double>()[k];
    for (std::size_t i = 0; i < test_frames; ++i) {
      ev.predicted.push_back(static_cast<int>(tp.data_ptr<std::int64_t>()[k * test_frames + i]));
      std::array<float, 8> s{};
      std::copy_n(ts.data_ptr<float>() + (k * test_frames + i) * 8, 8, s.begin());
      ev.scores.push_back(s);
    }
  }
  return epoch;
}

}  // namespace

std::vector<std::int64_t> training_labels(const datasets::FrameSet& set, const std::vector<std::int64_t>& fit,
                                          const DownstreamConfig& config, const RunContext& ctx) {
  std::vector<std::int64_t> labels = set.label_of;
  if (config.label_noise_class.empty()) return labels;
  const std::string& name = config.label_noise_class;
  const auto it = std::find(set.classes.begin(), set.classes.end(), name);
  if (it == set.classes.end())
    throw UsageError("protocol config label_noise.class: '" + name + "' is not a class of the data set");
  const auto cls = static_cast<std::int64_t>(it - set.classes.begin());
  const auto k = static_cast<std::int64_t>(set.classes.size());
  if (k < 2)
    throw UsageError("protocol config label_noise: the data set has one class; there is no other label to give");
  std::vector<std::int64_t> of_class;
  for (auto f : fit)
    if (labels[static_cast<std::size_t>(f)] == cls) of_class.push_back(f);
  datasets::Rng rng(static_cast<std::uint64_t>(derive_seed(ctx.seeds.at("root"), "label_noise")));
  rng.shuffle(of_class);
  const auto n =
      static_cast<std::size_t>(std::llround(config.label_noise_fraction * static_cast<double>(of_class.size())));
  for (std::size_t i = 0; i < n && i < of_class.size(); ++i) {
    const auto other = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(k - 1)));
    labels[static_cast<std::size_t>(of_class[i])] = other < cls ? other : other + 1;
  }
  return labels;
}

namespace {

// Training sums of one epoch (loss, correct), kept on the device. read() brings them to the host and
// stops the run on a non-finite loss, naming the batches since the previous read.
class EpochMeter {
 public:
  explicit EpochMeter(int epoch) : epoch_(epoch), last_read_(std::chrono::steady_clock::now()) {}
  void add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& target, std::int64_t n) {
    sums_.add("loss", loss.detach().to(torch::kFloat64) * static_cast<double>(n));
    sums_.add("correct", (logits.argmax(1) == target).sum());
    seen_ += n;
    last_batch_ = batches_done_++;
  }
  void read(int batch_index) {
    totals_ = sums_.read();
    if (!std::isfinite(totals_.at("loss")))
      throw RunFailure(read_at_ + 1 == batches_done_
                           ? fmt::format("epoch {}: training loss is {}; stopping", epoch_, totals_.at("loss"))
                           : fmt::format("epoch {}: training loss is {} between batches {} and {}; stopping", epoch_,
                                         totals_.at("loss"), read_at_, batch_index));
    read_at_ = batches_done_;
    last_read_ = std::chrono::steady_clock::now();
  }
  void finish() {
    if (batches_done_ > read_at_) read(last_batch_);
  }
  bool read_is_current() const { return read_at_ == batches_done_; }
  double seconds_since_read() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_read_).count();
  }
  std::int64_t seen() const { return seen_; }
  double total(const char* name) const { return totals_.count(name) ? totals_.at(name) : 0.0; }

 private:
  int epoch_;
  StepSums sums_;
  std::map<std::string, double> totals_;
  std::int64_t seen_ = 0;
  int read_at_ = 0, batches_done_ = 0, last_batch_ = 0;
  std::chrono::steady_clock::time_point last_read_;
};

// One downstream run, in the order it happens: the fold's parts, the network, what trains, the transforms,
// the probe's feature cache (construction); then the epochs, resumed after the last checkpointed one, and
// the selections with their predictions (execute). Every step draws from the run's seed streams in the
// same order as before it was split into steps, so results are unchanged (the regression gate's exact tier).
class DownstreamRun {
 public:
  DownstreamRun(RunContext& ctx, const ProtocolInfo& protocol, const nlohmann::json& config,
                const std::string& backbone, const BackboneSource& init, const FoldData& data)
      : ctx_(ctx),
        protocol_(protocol),
        config_(resolved_downstream_config(config, protocol)),
        set_(*data.set),
        n_classes_(static_cast<int>(set_.classes.size())),
        epochs_(config_.epochs),
        batch_size_(config_.batch_size),
        probe_(protocol.cached_features) {
    if (n_classes_ > 8) throw UsageError("downstream protocols support at most 8 classes");
    carve_parts(data);
    build_model(backbone, init);
    make_optimiser();
    make_transforms();
    train_set_ = set_;  // training batches read their labels here: the set's unless label_noise changes some
    train_set_.label_of = training_labels(set_, fit_, config_, ctx_);
    if (probe_) cache_features();
  }

  DownstreamOutcome execute() {
    // A run killed mid-way continues after its last finished epoch (batches and augmentation are drawn
    // from (seed, epoch), so the remaining epochs are the ones an uninterrupted run would do).
    std::filesystem::create_directories(ctx_.run_dir);
    checkpoint_ = (std::filesystem::path(ctx_.run_dir) / "downstream.pt").string();
    if (protocol_.fit == HeadFit::LogisticRegression) return fit_logistic_head();
    const int start = resume();
    const auto run_t0 = std::chrono::steady_clock::now();
    for (int epoch = start; epoch < epochs_; ++epoch) {
      // CosineAnnealingLR(T_max = epochs) stepped once per epoch.
      const double lr = downstream_lr(config_.lr, epoch, epochs_);
      for (auto& g : opt_->param_groups()) g.options().set_lr(lr);
      const auto t0 = std::chrono::steady_clock::now();
      // Step sums stay on the device; the CPU reads them every step (a NaN stops the run at its batch),
      // CUDA only at the progress interval and at the end of the epoch (no host synchronisation per step).
      EpochMeter meter(epoch);
      if (probe_)
        train_probe_epoch(epoch, meter);
      else
        train_finetune_epoch(epoch, meter, t0, run_t0, start);
      meter.finish();
      record_epoch(epoch, lr, meter, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (epoch + 1 < epochs_)
        save_downstream_checkpoint(ctx_, checkpoint_, net_, *opt_, *scaler_, epoch, val_acc_, test_acc_, test_evals_);
      ctx_.stop_point();  // the claim's heartbeat is renewed by the runner's RunLease
    }
    const auto out = record_selections();
    std::error_code ec;
    std::filesystem::remove(checkpoint_, ec);  // the run is complete; its results are in the store
    ctx_.store->drop_checkpoint(ctx_.run.id);
    return out;
  }

 private:
  // Validation part carved from the training folds by group, stratified by label; a protocol without one
  // fits on every training clip (the authors' evaluation).
  void carve_parts(const FoldData& data) {
    if (!protocol_.validation_part) {
      fit_ = set_.frames_of_clips(data.train_clips);
      test_ = set_.frames_of_clips(data.test_clips);
      return;
    }
    std::vector<std::string> train_groups;
    std::vector<std::int64_t> train_labels;
    for (int c : data.train_clips) {
      train_groups.push_back(data.groups[static_cast<std::size_t>(c)]);
      train_labels.push_back(set_.label_of[static_cast<std::size_t>(set_.clip_first[static_cast<std::size_t>(c)])]);
    }
    const auto held = held_out_positions(train_groups, train_labels, config_.val_fraction, ctx_.seed("split"));
    std::vector<int> fit_clips, val_clips;
    std::set<int> h(held.begin(), held.end());
    for (std::size_t i = 0; i < data.train_clips.size(); ++i)
      (h.count(static_cast<int>(i)) ? val_clips : fit_clips).push_back(data.train_clips[i]);
    fit_ = set_.frames_of_clips(fit_clips);
    val_ = set_.frames_of_clips(val_clips);
    test_ = set_.frames_of_clips(data.test_clips);
  }

  // Backbone, then a new head from the init stream, and what trains.
  void build_model(const std::string& backbone, const BackboneSource& init) {
    net_ = build_downstream_net(protocol_, backbone, n_classes_, init, ctx_.seed("init"), ctx_.device);
    model_ = net_.model;
  }

  void make_optimiser() {
    opt_ = std::make_unique<torch::optim::Adam>(
        net_.trainable(), torch::optim::AdamOptions(config_.lr).weight_decay(config_.weight_decay));
    scaler_ = std::make_unique<GradScaler>(ctx_.amp);
  }

  void make_transforms() {
    train_aug_.out_size = test_aug_.out_size = config_.input_size;
    train_aug_.random_crop = train_aug_.flip = config_.train_augment;
    train_aug_.mean = test_aug_.mean = config_.input_mean;
    train_aug_.std = test_aug_.std = config_.input_std;
  }

  // Linear probe: the frozen backbone's features of every frame, once, under the test transform.
  void cache_features() {
    std::vector<std::int64_t> all = fit_;
    all.insert(all.end(), val_.begin(), val_.end());
    all.insert(all.end(), test_.begin(), test_.end());
    torch::Tensor features;
    {
      torch::InferenceMode guard;
      AutocastGuard autocast(ctx_.amp);
      model_->eval();
      std::vector<torch::Tensor> chunks;
      const auto fb = datasets::FrameBatches::make(set_, all, 64, false, test_aug_, 0, 0);
      for (int b = 0; b < fb.num_batches(); ++b)
        chunks.push_back(model_->features(datasets::to_device(fb.augmented(b).images, ctx_.device)));
      features = torch::cat(chunks);
    }
    cached_ = features.to(torch::kFloat32).clone();
    for (std::size_t i = 0; i < all.size(); ++i) row_of_[all[i]] = static_cast<std::int64_t>(i);
  }

  torch::Tensor rows(const std::vector<std::int64_t>& frames) const {
    std::vector<std::int64_t> r;
    for (auto f : frames) r.push_back(row_of_.at(f));
    return datasets::to_device(torch::tensor(r, torch::kInt64), ctx_.device);
  }

  // Accuracy, mean loss, predictions and class scores on `frames` (test transform, eval mode).
  Eval evaluate(const std::vector<std::int64_t>& frames) { return evaluate_with_labels(frames, set_); }

  // The same against the labels of `labelled` (training labels, which label_noise may have changed).
  Eval evaluate_with_labels(const std::vector<std::int64_t>& frames, const datasets::FrameSet& labelled) {
    Eval e;
    if (frames.empty()) return e;
    torch::InferenceMode guard;
    AutocastGuard autocast(ctx_.amp);
    net_.train(false);
    std::int64_t correct = 0;
    // Scores and the loss stay on the device until every chunk is done: one transfer per evaluation.
    std::vector<torch::Tensor> probs;
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(ctx_.device));
    std::vector<std::int64_t> y;
    for (std::size_t begin = 0; begin < frames.size(); begin += 64) {
      const std::vector<std::int64_t> chunk(
          frames.begin() + static_cast<std::ptrdiff_t>(begin),
          frames.begin() + static_cast<std::ptrdiff_t>(std::min(frames.size(), begin + 64)));
      torch::Tensor logits;
      if (probe_) {
        logits = net_.head(cached_.index_select(0, rows(chunk)));
      } else {
        const auto fb = datasets::FrameBatches::make(set_, chunk, 64, false, test_aug_, 0, 0);
        logits = net_.logits(datasets::to_device(fb.augmented(0).images, ctx_.device));
      }
      std::vector<std::int64_t> chunk_y;
      for (auto f : chunk) chunk_y.push_back(labelled.label_of[static_cast<std::size_t>(f)]);
      y.insert(y.end(), chunk_y.begin(), chunk_y.end());
      const auto target = datasets::to_device(torch::tensor(chunk_y, torch::kInt64), ctx_.device);
      loss_sum +=
          F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kSum)).to(torch::kFloat64);
      probs.push_back(torch::softmax(logits, 1).to(torch::kFloat32));
    }
    const auto prob = torch::cat(probs).cpu().contiguous();
    const auto pred = prob.argmax(1);
    const auto pa = prob.accessor<float, 2>();
    const auto pd = pred.accessor<std::int64_t, 1>();
    for (std::int64_t i = 0; i < prob.size(0); ++i) {
      const int p = static_cast<int>(pd[i]);
      e.predicted.push_back(p);
      std::array<float, 8> s{};
      for (int k = 0; k < n_classes_; ++k) s[static_cast<std::size_t>(k)] = pa[i][k];
      e.scores.push_back(s);
      correct += p == y[static_cast<std::size_t>(i)];
    }
    e.accuracy = static_cast<double>(correct) / static_cast<double>(frames.size());
    e.loss = loss_sum.item<double>() / static_cast<double>(frames.size());
    return e;
  }

  // The epoch to start from: 0, or the one after a checkpoint this store recorded.
  int resume() {
    if (!resumable_checkpoint(ctx_, checkpoint_)) return 0;
    int start = 0;
    try {
      start = load_downstream_checkpoint(checkpoint_, ctx_.device, net_, *opt_, *scaler_, val_acc_, test_acc_,
                                         test_evals_, test_.size()) +
              1;
    } catch (const c10::Error& e) {
      throw RunFailure(checkpoint_ + ": unreadable checkpoint (" + std::string(e.what_without_backtrace()) +
                       "); delete it to restart the run from epoch 0");
    }
    if (ctx_.log)
      ctx_.log(fmt::format("resuming {} from its checkpoint after epoch {}", ctx_.run.id.substr(0, 12), start - 1));
    return start;
  }

  void step(const torch::Tensor& loss) {
    opt_->zero_grad();
    scaler_->scale(loss).backward();
    scaler_->step(*opt_);
  }

  // Linear probe: the cached features of the fit frames in the epoch's order, in batches, through the head.
  void train_probe_epoch(int epoch, EpochMeter& meter) {
    datasets::Rng rng = datasets::Rng(ctx_.seed("data_order")).split(static_cast<std::uint64_t>(epoch) + 1);
    std::vector<std::int64_t> order = fit_;
    rng.shuffle(order);
    const auto batch = static_cast<std::size_t>(batch_size_);
    for (std::size_t begin = 0; begin < order.size(); begin += batch) {
      ctx_.stop_point();
      const std::vector<std::int64_t> chunk(
          order.begin() + static_cast<std::ptrdiff_t>(begin),
          order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + batch)));
      std::vector<std::int64_t> y;
      for (auto f : chunk) y.push_back(train_set_.label_of[static_cast<std::size_t>(f)]);
      const auto target = datasets::to_device(torch::tensor(y, torch::kInt64), ctx_.device);
      torch::Tensor logits, loss;
      {
        AutocastGuard autocast(ctx_.amp);
        logits = net_.head(cached_.index_select(0, rows(chunk)));
        loss = F::cross_entropy(logits, target);
      }
      step(loss);
      meter.add(loss, logits, target, static_cast<std::int64_t>(chunk.size()));
    }
  }

  // uscl-paper and full-finetune: augmented fit frames through the network in training mode.
  void train_finetune_epoch(int epoch, EpochMeter& meter, std::chrono::steady_clock::time_point t0,
                            std::chrono::steady_clock::time_point run_t0, int start) {
    net_.train(true);  // BatchNorm in training mode everywhere, frozen or not (the reference does so)
    const auto fb = datasets::FrameBatches::make(train_set_, fit_, batch_size_, true, train_aug_,
                                                 ctx_.seed("augmentation") ^ ctx_.seed("data_order"), epoch);
    datasets::Loader loader(
        fb.num_batches(), [&fb](int b) { return fb.augmented(b); }, ctx_.loader_threads, 2);
    while (auto batch = loader.next()) {
      ctx_.stop_point();
      const auto x = datasets::to_device(batch->images, ctx_.device);
      const auto target = datasets::to_device(batch->labels, ctx_.device);
      torch::Tensor logits, loss;
      {
        AutocastGuard autocast(ctx_.amp);
        logits = net_.train_logits(x);
        loss = F::cross_entropy(logits, target);
      }
      meter.add(loss, logits, target, x.size(0));
      if (!ctx_.device.is_cuda() || meter.seconds_since_read() >= kStepSumReadSeconds) meter.read(batch->index);
      step(loss);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (ctx_.progress && meter.read_is_current())
        ctx_.progress(fmt::format(
            "{} | {} {} fold {} seed {} | epoch {}/{} | batch {}/{} | loss {:.4f} | {:.1f} img/s | ETA {}",
            ctx_.run.experiment, ctx_.run.method, protocol_.name, ctx_.run.fold.value_or(-1), ctx_.run.seed, epoch + 1,
            epochs_, batch->index + 1, fb.num_batches(), meter.total("loss") / meter.seen(),
            meter.seen() / std::max(secs, 1e-9),
            eta(remaining_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count(),
                                  epoch - start + static_cast<double>(batch->index + 1) / fb.num_batches(),
                                  epochs_ - start))));
    }
  }

  // The authors' linear evaluation: one fit, to convergence, of a multinomial logistic regression on the
  // standardised features of the fit frames, folded into the head (logits of the raw features), then the
  // test evaluation, recorded as the run's one epoch (0).
  DownstreamOutcome fit_logistic_head() {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::int64_t> y;
    for (auto f : fit_) y.push_back(train_set_.label_of[static_cast<std::size_t>(f)]);
    const auto x = cached_.index_select(0, rows(fit_)).cpu();
    const auto fit = fit_logistic_regression(x, torch::tensor(y, torch::kInt64), n_classes_, config_.c);
    {
      torch::NoGradGuard g;
      net_.model->fc->weight.copy_(fit.raw_weight().to(torch::kFloat32));
      net_.model->fc->bias.copy_(fit.raw_bias().to(torch::kFloat32));
    }
    const auto train = evaluate_with_labels(fit_, train_set_);
    const auto t = evaluate(test_);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    namespace metric = results::metric;
    ctx_.store->put_metrics(ctx_.run.id, 0, results::split::kTrain,
                            {{metric::kLoss, train.loss},
                             {metric::kAccuracy, train.accuracy},
                             {metric::kImagesPerS, static_cast<double>(fit_.size()) / std::max(secs, 1e-9)}});
    ctx_.store->put_metrics(ctx_.run.id, 0, results::split::kTest,
                            {{metric::kAccuracy, t.accuracy}, {metric::kLoss, t.loss}});
    if (ctx_.log)
      ctx_.log(fmt::format(
          "    logistic regression (C = {}): {} L-BFGS rounds, largest gradient entry {:.2g}, objective {:.6g}",
          config_.c, fit.iterations, fit.gradient_max, fit.objective));
    test_acc_.push_back(t.accuracy);
    test_evals_.push_back(t);
    DownstreamOutcome out;
    out.selected[results::selection::kLast] = {0, t.accuracy};
    ctx_.store->put_metrics(ctx_.run.id, -1, results::split::kSelection, {{results::selection::kLast, 0}});
    record_predictions(0, t);
    ctx_.store->drop_checkpoint(ctx_.run.id);
    return out;
  }

  // The epoch's training sums and its validation and test evaluations, into the store and the history.
  void record_epoch(int epoch, double lr, const EpochMeter& meter, double train_seconds) {
    const auto seen = std::max<std::int64_t>(1, meter.seen());
    const auto v = evaluate(val_);
    auto t = evaluate(test_);
    val_acc_.push_back(v.accuracy);
    test_acc_.push_back(t.accuracy);
    namespace metric = results::metric;
    ctx_.store->put_metrics(
        ctx_.run.id, epoch, results::split::kTrain,
        {{metric::kLoss, meter.total("loss") / seen},
         {metric::kAccuracy, static_cast<double>(static_cast<std::int64_t>(meter.total("correct"))) / seen},
         {metric::kLr, lr},
         {metric::kImagesPerS, meter.seen() / std::max(train_seconds, 1e-9)}});
    if (!val_.empty())
      ctx_.store->put_metrics(ctx_.run.id, epoch, results::split::kVal,
                              {{metric::kAccuracy, v.accuracy}, {metric::kLoss, v.loss}});
    ctx_.store->put_metrics(ctx_.run.id, epoch, results::split::kTest,
                            {{metric::kAccuracy, t.accuracy}, {metric::kLoss, t.loss}});
    test_evals_.push_back(std::move(t));
  }

  // The last, best-on-validation and best-on-test epochs, and the test predictions of each.
  DownstreamOutcome record_selections() {
    DownstreamOutcome out;
    const int last = epochs_ - 1;
    const int best_test = static_cast<int>(std::max_element(test_acc_.begin(), test_acc_.end()) - test_acc_.begin());
    const int best_val =
        val_.empty() ? last : static_cast<int>(std::max_element(val_acc_.begin(), val_acc_.end()) - val_acc_.begin());
    // The selections the protocol reports (best_val only where it has a validation part).
    const std::map<std::string, int> epoch_of = {{results::selection::kLast, last},
                                                 {results::selection::kBestVal, best_val},
                                                 {results::selection::kBestTest, best_test}};
    std::map<std::string, double> selected;
    std::set<int> epochs;
    for (const auto& s : protocol_.selections) {
      const int e = epoch_of.at(s);
      selected[s] = e;
      epochs.insert(e);
      out.selected[s] = {e, test_acc_[static_cast<std::size_t>(e)]};
    }
    ctx_.store->put_metrics(ctx_.run.id, -1, results::split::kSelection, selected);
    for (int e : epochs) record_predictions(e, test_evals_[static_cast<std::size_t>(e)]);
    return out;
  }

  // The test predictions (and class scores, 6 decimals) of `epoch`.
  void record_predictions(int epoch, const Eval& ev) {
    std::vector<std::string> clip_ids, scores;
    std::vector<int> frame_index, labels;
    for (std::size_t i = 0; i < test_.size(); ++i) {
      const auto f = static_cast<std::size_t>(test_[i]);
      clip_ids.push_back(set_.clip_ids[static_cast<std::size_t>(set_.clip_of[f])]);
      frame_index.push_back(set_.frame_in_clip[f]);
      labels.push_back(static_cast<int>(set_.label_of[f]));
      nlohmann::json s = nlohmann::json::array();
      for (int k = 0; k < n_classes_; ++k)
        s.push_back(std::round(ev.scores[i][static_cast<std::size_t>(k)] * 1e6) / 1e6);
      scores.push_back(s.dump());
    }
    ctx_.store->put_predictions(ctx_.run.id, epoch, clip_ids, frame_index, labels, ev.predicted, scores);
  }

  RunContext& ctx_;
  const ProtocolInfo& protocol_;
  const DownstreamConfig config_;  // the run's validated config (its JSON is the stored form)
  const datasets::FrameSet& set_;
  const int n_classes_, epochs_, batch_size_;
  const bool probe_;
  DownstreamNet net_;
  std::vector<std::int64_t> fit_, val_, test_;
  ResNet model_{nullptr};
  std::unique_ptr<torch::optim::Adam> opt_;
  std::unique_ptr<GradScaler> scaler_;
  datasets::AugmentConfig train_aug_, test_aug_;
  datasets::FrameSet train_set_;
  torch::Tensor cached_;                         // linear probe: features, one row per frame
  std::map<std::int64_t, std::int64_t> row_of_;  // frame -> row of cached_
  std::string checkpoint_;
  std::vector<Eval> test_evals_;
  std::vector<double> val_acc_, test_acc_;
};

}  // namespace

DownstreamOutcome run_downstream(RunContext& ctx, const ProtocolInfo& protocol, const nlohmann::json& config,
                                 const std::string& backbone, const BackboneSource& init, const FoldData& data) {
  return DownstreamRun(ctx, protocol, config, backbone, init, data).execute();
}

}  // namespace usbench
