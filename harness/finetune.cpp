#include "harness/finetune.h"

#include <chrono>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "harness/amp.h"
#include "harness/errors.h"
#include "harness/pretrain_run.h"
#include "harness/resnet.h"
#include "harness/weights.h"

namespace usbench {

namespace F = torch::nn::functional;

namespace {

// conv1 .. layer4.0: the part uscl-paper keeps frozen.
torch::Tensor frozen_trunk(ResNetImpl& m, const torch::Tensor& x) {
  auto h = torch::max_pool2d(torch::relu(m.bn1(m.conv1(x))), 3, 2, 1);
  h = m.layer3->forward(m.layer2->forward(m.layer1->forward(h)));
  auto it = m.layer4->begin();
  return it->forward(h);
}

torch::Tensor last_block_and_head(ResNetImpl& m, const torch::Tensor& h) {
  auto it = m.layer4->begin();
  torch::Tensor out = h;
  for (++it; it != m.layer4->end(); ++it) out = it->forward(out);
  return m.fc(torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1));
}

struct Eval {
  double accuracy = 0, loss = 0;
  std::vector<int> predicted;
  std::vector<std::array<float, 8>> scores;
};

}  // namespace

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
  train_aug.random_crop = train_aug.flip = true;

  // Linear probe: the frozen backbone's features, once, under the test transform.
  torch::Tensor cached;
  auto features_of = [&](const std::vector<std::int64_t>& frames) {
    torch::InferenceMode guard;
    AutocastGuard autocast(ctx.amp);
    model->eval();
    std::vector<torch::Tensor> chunks;
    const auto fb = datasets::FrameBatches::make(set, frames, 64, false, test_aug, 0, 0);
    for (int b = 0; b < fb.num_batches(); ++b) chunks.push_back(model->features(fb.augmented(b).images.to(ctx.device)));
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
    return torch::tensor(r, torch::kInt64).to(ctx.device);
  };

  auto evaluate = [&](const std::vector<std::int64_t>& frames) {
    Eval e;
    if (frames.empty()) return e;
    torch::InferenceMode guard;
    AutocastGuard autocast(ctx.amp);
    model->eval();
    std::int64_t correct = 0;
    double loss = 0;
    for (std::size_t begin = 0; begin < frames.size(); begin += 64) {
      const std::vector<std::int64_t> chunk(frames.begin() + static_cast<std::ptrdiff_t>(begin),
                                            frames.begin() + static_cast<std::ptrdiff_t>(std::min(frames.size(), begin + 64)));
      torch::Tensor logits;
      if (probe) {
        logits = model->fc(cached.index_select(0, rows(chunk)));
      } else {
        const auto fb = datasets::FrameBatches::make(set, chunk, 64, false, test_aug, 0, 0);
        logits = model->forward(fb.augmented(0).images.to(ctx.device));
      }
      std::vector<std::int64_t> y;
      for (auto f : chunk) y.push_back(set.label_of[static_cast<std::size_t>(f)]);
      const auto target = torch::tensor(y, torch::kInt64).to(ctx.device);
      loss += F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
      const auto prob = torch::softmax(logits, 1).cpu();
      const auto pred = prob.argmax(1);
      for (std::int64_t i = 0; i < pred.size(0); ++i) {
        const int p = static_cast<int>(pred[i].item<std::int64_t>());
        e.predicted.push_back(p);
        std::array<float, 8> s{};
        for (int k = 0; k < n_classes; ++k) s[static_cast<std::size_t>(k)] = prob[i][k].item<float>();
        e.scores.push_back(s);
        correct += p == y[static_cast<std::size_t>(i)];
      }
    }
    e.accuracy = static_cast<double>(correct) / static_cast<double>(frames.size());
    e.loss = loss / static_cast<double>(frames.size());
    return e;
  };

  DownstreamOutcome out;
  std::vector<Eval> test_evals;
  std::vector<double> val_acc, test_acc;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    // CosineAnnealingLR(T_max = epochs) stepped once per epoch.
    const double lr = base_lr * (1 + std::cos(M_PI * epoch / epochs)) / 2;
    for (auto& g : opt.param_groups()) g.options().set_lr(lr);
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::int64_t seen = 0, correct = 0;
    if (probe) {
      datasets::Rng rng = datasets::Rng(ctx.seed("data_order")).split(static_cast<std::uint64_t>(epoch) + 1);
      std::vector<std::int64_t> order = fit;
      rng.shuffle(order);
      for (std::size_t begin = 0; begin < order.size(); begin += static_cast<std::size_t>(batch_size)) {
        const std::vector<std::int64_t> chunk(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                              order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + static_cast<std::size_t>(batch_size))));
        std::vector<std::int64_t> y;
        for (auto f : chunk) y.push_back(set.label_of[static_cast<std::size_t>(f)]);
        const auto target = torch::tensor(y, torch::kInt64).to(ctx.device);
        torch::Tensor logits, loss;
        {
          AutocastGuard autocast(ctx.amp);
          logits = model->fc(cached.index_select(0, rows(chunk)));
          loss = F::cross_entropy(logits, target);
        }
        opt.zero_grad();
        scaler.scale(loss).backward();
        scaler.step(opt);
        loss_sum += loss.item<double>() * static_cast<double>(chunk.size());
        correct += (logits.argmax(1) == target).sum().item<std::int64_t>();
        seen += static_cast<std::int64_t>(chunk.size());
      }
    } else {
      model->train();  // BatchNorm in training mode everywhere, frozen or not (the reference does so)
      const auto fb = datasets::FrameBatches::make(set, fit, batch_size, true, train_aug, ctx.seed("augmentation") ^ ctx.seed("data_order"), epoch);
      datasets::Loader loader(fb.num_batches(), [&fb](int b) { return fb.augmented(b); }, ctx.loader_threads, 2);
      while (auto batch = loader.next()) {
        const auto x = batch->images.to(ctx.device);
        const auto target = batch->labels.to(ctx.device);
        torch::Tensor logits, loss;
        {
          AutocastGuard autocast(ctx.amp);
          if (paper) {
            torch::Tensor h;
            {
              torch::NoGradGuard no_grad;  // frozen layers: no autograd graph, no saved activations
              h = frozen_trunk(*model, x);
            }
            logits = last_block_and_head(*model, h);
          } else {
            logits = model->forward(x);
          }
          loss = F::cross_entropy(logits, target);
        }
        const double value = loss.item<double>();
        if (!std::isfinite(value)) throw RunFailure(fmt::format("epoch {}: training loss is {}; stopping", epoch, value));
        opt.zero_grad();
        scaler.scale(loss).backward();
        scaler.step(opt);
        loss_sum += value * static_cast<double>(x.size(0));
        correct += (logits.argmax(1) == target).sum().item<std::int64_t>();
        seen += x.size(0);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (ctx.progress)
          ctx.progress(fmt::format("{} {} fold {} seed {} | epoch {}/{} | batch {}/{} | loss {:.4f} | {:.1f} img/s",
                                   ctx.run.method, protocol, ctx.run.fold.value_or(-1), ctx.run.seed, epoch + 1, epochs,
                                   batch->index + 1, fb.num_batches(), value, seen / std::max(secs, 1e-9)));
      }
    }
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
    ctx.store->heartbeat(ctx.run.id);
    test_evals.push_back(std::move(t));
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
  return out;
}

}  // namespace usbench
