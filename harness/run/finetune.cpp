#include "harness/run/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "harness/model/amp.h"
#include "harness/run/checkpoint.h"
#include "harness/errors.h"
#include "harness/run/pretrain_run.h"
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
void save_downstream_checkpoint(const RunContext& ctx, const std::string& path, ResNetImpl& model, torch::optim::Optimizer& opt, const GradScaler& scaler,
                                int epoch, const std::vector<double>& val_acc, const std::vector<double>& test_acc,
                                const std::vector<Eval>& test_evals) {
  torch::serialize::OutputArchive a;
  torch::serialize::OutputArchive m, o;
  model.save(m);
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
int load_downstream_checkpoint(const std::string& path, torch::Device device, ResNetImpl& model, torch::optim::Optimizer& opt,
                               GradScaler& scaler, std::vector<double>& val_acc, std::vector<double>& test_acc,
                               std::vector<Eval>& test_evals, std::size_t test_frames) {
  torch::serialize::InputArchive a, m, o;
  a.load_from(path, device);
  a.read("model", m);
  model.load(m);
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
                                          const nlohmann::json& config, const RunContext& ctx) {
  std::vector<std::int64_t> labels = set.label_of;
  const auto noise = config.find("label_noise");
  if (noise == config.end()) return labels;
  const std::string name = noise->at("class");
  const auto it = std::find(set.classes.begin(), set.classes.end(), name);
  if (it == set.classes.end())
    throw UsageError("protocol config label_noise.class: '" + name + "' is not a class of the data set");
  const auto cls = static_cast<std::int64_t>(it - set.classes.begin());
  const auto k = static_cast<std::int64_t>(set.classes.size());
  if (k < 2) throw UsageError("protocol config label_noise: the data set has one class; there is no other label to give");
  std::vector<std::int64_t> of_class;
  for (auto f : fit)
    if (labels[static_cast<std::size_t>(f)] == cls) of_class.push_back(f);
  datasets::Rng rng(static_cast<std::uint64_t>(derive_seed(ctx.seeds.at("root"), "label_noise")));
  rng.shuffle(of_class);
  const auto n = static_cast<std::size_t>(std::llround(noise->at("fraction").get<double>() * static_cast<double>(of_class.size())));
  for (std::size_t i = 0; i < n && i < of_class.size(); ++i) {
    const auto other = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(k - 1)));
    labels[static_cast<std::size_t>(of_class[i])] = other < cls ? other : other + 1;
  }
  return labels;
}

DownstreamOutcome run_downstream(RunContext& ctx, const std::string& protocol, const nlohmann::json& config,
                                 const std::string& backbone, const BackboneSource& init, const FoldData& data) {
  const auto& set = *data.set;
  const int n_classes = static_cast<int>(set.classes.size());
  if (n_classes > 8) throw UsageError("downstream protocols support at most 8 classes");
  const int epochs = config.at("epochs"), batch_size = config.at("batch_size"), input = config.at("input_size");
  const double base_lr = config.at("lr");

  // Validation part carved from the training folds by group, stratified by label.
  std::vector<std::string> train_groups;
  std::vector<std::int64_t> train_labels;
  for (int c : data.train_clips) {
    train_groups.push_back(data.groups[static_cast<std::size_t>(c)]);
    train_labels.push_back(set.label_of[static_cast<std::size_t>(set.clip_first[static_cast<std::size_t>(c)])]);
  }
  const auto held = held_out_positions(train_groups, train_labels, config.at("val_fraction"), ctx.seed("split"));
  std::vector<int> fit_clips, val_clips;
  {
    std::set<int> h(held.begin(), held.end());
    for (std::size_t i = 0; i < data.train_clips.size(); ++i)
      (h.count(static_cast<int>(i)) ? val_clips : fit_clips).push_back(data.train_clips[i]);
  }
  const auto fit = set.frames_of_clips(fit_clips), val = set.frames_of_clips(val_clips), test = set.frames_of_clips(data.test_clips);

  // Backbone, then a new head from the init stream.
  torch::manual_seed(ctx.seed("init"));
  ResNet model(ResNetSpec::by_name(backbone));
  if (!init.weights_path.empty()) load_weights(*model, read_state_dict(init.weights_path), init.weights_path, init.with_fc);
  model->fc = model->replace_module("fc", torch::nn::Linear(model->spec().feature_dim(), n_classes));
  model->to(ctx.device);

  const bool paper = protocol == "uscl-paper", probe = protocol == "linear-probe";
  std::vector<torch::Tensor> params;
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  if (paper) {
    auto it = model->layer4->begin();
    for (++it; it != model->layer4->end(); ++it)
      for (auto& p : it->ptr()->parameters()) p.set_requires_grad(true);
  } else if (!probe) {
    for (auto& p : model->parameters()) p.set_requires_grad(true);
  }
  for (auto& p : model->fc->parameters()) p.set_requires_grad(true);
  for (auto& p : model->parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(base_lr).weight_decay(config.at("weight_decay").get<double>()));
  GradScaler scaler(ctx.amp);

  datasets::AugmentConfig train_aug, test_aug;
  train_aug.out_size = test_aug.out_size = input;
  train_aug.random_crop = train_aug.flip = config.value("train_augment", true);
  train_aug.mean = test_aug.mean = config.value("input_mean", train_aug.mean);
  train_aug.std = test_aug.std = config.value("input_std", train_aug.std);
  // Training batches read their labels from `train_set`: the set itself unless label_noise changes some.
  datasets::FrameSet train_set = set;
  train_set.label_of = training_labels(set, fit, config, ctx);

  // Linear probe: the frozen backbone's features, once, under the test transform.
  torch::Tensor cached;
  auto features_of = [&](const std::vector<std::int64_t>& frames) {
    torch::InferenceMode guard;
    AutocastGuard autocast(ctx.amp);
    model->eval();
    std::vector<torch::Tensor> chunks;
    const auto fb = datasets::FrameBatches::make(set, frames, 64, false, test_aug, 0, 0);
    for (int b = 0; b < fb.num_batches(); ++b) chunks.push_back(model->features(datasets::to_device(fb.augmented(b).images, ctx.device)));
    return torch::cat(chunks);
  };
  std::map<std::int64_t, std::int64_t> row_of;  // frame -> row of `cached`
  if (probe) {
    std::vector<std::int64_t> all = fit;
    all.insert(all.end(), val.begin(), val.end());
    all.insert(all.end(), test.begin(), test.end());
    cached = features_of(all).to(torch::kFloat32).clone();
    for (std::size_t i = 0; i < all.size(); ++i) row_of[all[i]] = static_cast<std::int64_t>(i);
  }
  auto rows = [&](const std::vector<std::int64_t>& frames) {
    std::vector<std::int64_t> r;
    for (auto f : frames) r.push_back(row_of.at(f));
    return datasets::to_device(torch::tensor(r, torch::kInt64), ctx.device);
  };

  auto evaluate = [&](const std::vector<std::int64_t>& frames) {
    Eval e;
    if (frames.empty()) return e;
    torch::InferenceMode guard;
    AutocastGuard autocast(ctx.amp);
    model->eval();
    std::int64_t correct = 0;
    // Scores and the loss stay on the device until every chunk is done: one transfer per evaluation.
    std::vector<torch::Tensor> probs;
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(ctx.device));
    std::vector<std::int64_t> y;
    for (std::size_t begin = 0; begin < frames.size(); begin += 64) {
      const std::vector<std::int64_t> chunk(frames.begin() + static_cast<std::ptrdiff_t>(begin),
                                            frames.begin() + static_cast<std::ptrdiff_t>(std::min(frames.size(), begin + 64)));
      torch::Tensor logits;
      if (probe) {
        logits = model->fc(cached.index_select(0, rows(chunk)));
      } else {
        const auto fb = datasets::FrameBatches::make(set, chunk, 64, false, test_aug, 0, 0);
        logits = model->forward(datasets::to_device(fb.augmented(0).images, ctx.device));
      }
      std::vector<std::int64_t> chunk_y;
      for (auto f : chunk) chunk_y.push_back(set.label_of[static_cast<std::size_t>(f)]);
      y.insert(y.end(), chunk_y.begin(), chunk_y.end());
      const auto target = datasets::to_device(torch::tensor(chunk_y, torch::kInt64), ctx.device);
      loss_sum += F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kSum)).to(torch::kFloat64);
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
      for (int k = 0; k < n_classes; ++k) s[static_cast<std::size_t>(k)] = pa[i][k];
      e.scores.push_back(s);
      correct += p == y[static_cast<std::size_t>(i)];
    }
    e.accuracy = static_cast<double>(correct) / static_cast<double>(frames.size());
    e.loss = loss_sum.item<double>() / static_cast<double>(frames.size());
    return e;
  };

  DownstreamOutcome out;
  std::vector<Eval> test_evals;
  std::vector<double> val_acc, test_acc;
  // A run killed mid-way continues after its last finished epoch (batches and augmentation are drawn
  // from (seed, epoch), so the remaining epochs are the ones an uninterrupted run would do).
  std::filesystem::create_directories(ctx.run_dir);
  const std::string checkpoint = (std::filesystem::path(ctx.run_dir) / "downstream.pt").string();
  int start = 0;
  if (resumable_checkpoint(ctx, checkpoint)) {
    try {
      start = load_downstream_checkpoint(checkpoint, ctx.device, *model, opt, scaler, val_acc, test_acc, test_evals, test.size()) + 1;
    } catch (const c10::Error& e) {
      throw RunFailure(checkpoint + ": unreadable checkpoint (" + std::string(e.what_without_backtrace()) +
                       "); delete it to restart the run from epoch 0");
    }
    if (ctx.log) ctx.log(fmt::format("resuming {} from its checkpoint after epoch {}", ctx.run.id.substr(0, 12), start - 1));
  }
  const auto run_t0 = std::chrono::steady_clock::now();
  for (int epoch = start; epoch < epochs; ++epoch) {
    // CosineAnnealingLR(T_max = epochs) stepped once per epoch.
    const double lr = base_lr * (1 + std::cos(M_PI * epoch / epochs)) / 2;
    for (auto& g : opt.param_groups()) g.options().set_lr(lr);
    const auto t0 = std::chrono::steady_clock::now();
    // Step sums stay on the device; the CPU reads them every step (a NaN stops the run at its batch),
    // CUDA only at the progress interval and at the end of the epoch (no host synchronisation per step).
    StepSums sums;
    std::map<std::string, double> totals;
    std::int64_t seen = 0;
    int read_at = 0, batches_done = 0, last_batch = 0;
    auto last_read = t0;
    auto read_sums = [&](int batch_index) {
      totals = sums.read();
      if (!std::isfinite(totals.at("loss")))
        throw RunFailure(read_at + 1 == batches_done
                             ? fmt::format("epoch {}: training loss is {}; stopping", epoch, totals.at("loss"))
                             : fmt::format("epoch {}: training loss is {} between batches {} and {}; stopping", epoch,
                                           totals.at("loss"), read_at, batch_index));
      read_at = batches_done;
      last_read = std::chrono::steady_clock::now();
    };
    if (probe) {
      datasets::Rng rng = datasets::Rng(ctx.seed("data_order")).split(static_cast<std::uint64_t>(epoch) + 1);
      std::vector<std::int64_t> order = fit;
      rng.shuffle(order);
      for (std::size_t begin = 0; begin < order.size(); begin += static_cast<std::size_t>(batch_size)) {
        ctx.stop_point();
        const std::vector<std::int64_t> chunk(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                              order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + static_cast<std::size_t>(batch_size))));
        std::vector<std::int64_t> y;
        for (auto f : chunk) y.push_back(train_set.label_of[static_cast<std::size_t>(f)]);
        const auto target = datasets::to_device(torch::tensor(y, torch::kInt64), ctx.device);
        torch::Tensor logits, loss;
        {
          AutocastGuard autocast(ctx.amp);
          logits = model->fc(cached.index_select(0, rows(chunk)));
          loss = F::cross_entropy(logits, target);
        }
        opt.zero_grad();
        scaler.scale(loss).backward();
        scaler.step(opt);
        sums.add("loss", loss.detach().to(torch::kFloat64) * static_cast<double>(chunk.size()));
        sums.add("correct", (logits.argmax(1) == target).sum());
        seen += static_cast<std::int64_t>(chunk.size());
        last_batch = batches_done++;
      }
    } else {
      model->train();  // BatchNorm in training mode everywhere, frozen or not (the reference does so)
      const auto fb = datasets::FrameBatches::make(train_set, fit, batch_size, true, train_aug, ctx.seed("augmentation") ^ ctx.seed("data_order"), epoch);
      datasets::Loader loader(fb.num_batches(), [&fb](int b) { return fb.augmented(b); }, ctx.loader_threads, 2);
      while (auto batch = loader.next()) {
        ctx.stop_point();
        const auto x = datasets::to_device(batch->images, ctx.device);
        const auto target = datasets::to_device(batch->labels, ctx.device);
        torch::Tensor logits, loss;
        {
          AutocastGuard autocast(ctx.amp);
          if (paper) {
            torch::Tensor h;
            {
              torch::NoGradGuard no_grad;  // frozen layers: no autograd graph, no saved activations
              h = uscl_paper_frozen_part(*model, x);
            }
            logits = uscl_paper_trained_part(*model, h);
          } else {
            logits = model->forward(x);
          }
          loss = F::cross_entropy(logits, target);
        }
        sums.add("loss", loss.detach().to(torch::kFloat64) * static_cast<double>(x.size(0)));
        sums.add("correct", (logits.argmax(1) == target).sum());
        seen += x.size(0);
        last_batch = batches_done++;
        if (!ctx.device.is_cuda() ||
            std::chrono::duration<double>(std::chrono::steady_clock::now() - last_read).count() >= kStepSumReadSeconds)
          read_sums(batch->index);
        opt.zero_grad();
        scaler.scale(loss).backward();
        scaler.step(opt);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (ctx.progress && read_at == batches_done)
          ctx.progress(fmt::format("{} | {} {} fold {} seed {} | epoch {}/{} | batch {}/{} | loss {:.4f} | {:.1f} img/s | ETA {}",
                                   ctx.run.experiment, ctx.run.method, protocol, ctx.run.fold.value_or(-1), ctx.run.seed, epoch + 1,
                                   epochs, batch->index + 1, fb.num_batches(), totals.at("loss") / seen, seen / std::max(secs, 1e-9),
                                   eta(remaining_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count(),
                                                         epoch - start + static_cast<double>(batch->index + 1) / fb.num_batches(),
                                                         epochs - start))));
      }
    }
    if (batches_done > read_at) read_sums(last_batch);
    const double loss_sum = totals.count("loss") ? totals.at("loss") : 0.0;
    const auto correct = static_cast<std::int64_t>(totals.count("correct") ? totals.at("correct") : 0.0);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto v = evaluate(val);
    auto t = evaluate(test);
    val_acc.push_back(v.accuracy);
    test_acc.push_back(t.accuracy);
    ctx.store->put_metrics(ctx.run.id, epoch, "train",
                           {{"loss", loss_sum / std::max<std::int64_t>(1, seen)},
                            {"accuracy", static_cast<double>(correct) / std::max<std::int64_t>(1, seen)},
                            {"lr", lr},
                            {"images_per_s", seen / std::max(secs, 1e-9)}});
    if (!val.empty()) ctx.store->put_metrics(ctx.run.id, epoch, "val", {{"accuracy", v.accuracy}, {"loss", v.loss}});
    ctx.store->put_metrics(ctx.run.id, epoch, "test", {{"accuracy", t.accuracy}, {"loss", t.loss}});
    test_evals.push_back(std::move(t));
    if (epoch + 1 < epochs) save_downstream_checkpoint(ctx, checkpoint, *model, opt, scaler, epoch, val_acc, test_acc, test_evals);
    ctx.stop_point();  // the claim's heartbeat is renewed by the runner's RunLease
  }

  out.last_epoch = epochs - 1;
  out.best_test_epoch = static_cast<int>(std::max_element(test_acc.begin(), test_acc.end()) - test_acc.begin());
  out.best_val_epoch = val.empty() ? out.last_epoch
                                   : static_cast<int>(std::max_element(val_acc.begin(), val_acc.end()) - val_acc.begin());
  out.test_accuracy_last = test_acc.back();
  out.test_accuracy_best_val = test_acc[static_cast<std::size_t>(out.best_val_epoch)];
  out.test_accuracy_best_test = test_acc[static_cast<std::size_t>(out.best_test_epoch)];
  ctx.store->put_metrics(ctx.run.id, -1, "selection",
                         {{"last", out.last_epoch}, {"best_val", out.best_val_epoch}, {"best_test", out.best_test_epoch}});
  for (int e : std::set<int>{out.last_epoch, out.best_val_epoch, out.best_test_epoch}) {
    const auto& ev = test_evals[static_cast<std::size_t>(e)];
    std::vector<std::string> clip_ids, scores;
    std::vector<int> frame_index, labels;
    for (std::size_t i = 0; i < test.size(); ++i) {
      const auto f = static_cast<std::size_t>(test[i]);
      clip_ids.push_back(set.clip_ids[static_cast<std::size_t>(set.clip_of[f])]);
      frame_index.push_back(set.frame_in_clip[f]);
      labels.push_back(static_cast<int>(set.label_of[f]));
      nlohmann::json s = nlohmann::json::array();
      for (int k = 0; k < n_classes; ++k) s.push_back(std::round(ev.scores[i][static_cast<std::size_t>(k)] * 1e6) / 1e6);
      scores.push_back(s.dump());
    }
    ctx.store->put_predictions(ctx.run.id, e, clip_ids, frame_index, labels, ev.predicted, scores);
  }
  std::error_code ec;
  std::filesystem::remove(checkpoint, ec);  // the run is complete; its results are in the store
  ctx.store->drop_checkpoint(ctx.run.id);
  return out;
}

}  // namespace usbench
