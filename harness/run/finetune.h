// Downstream protocols (README Design §6) for one (method, fold, seed):
//  - uscl-paper: new 512->C head; only layer4.1 and the head train; BatchNorm everywhere stays in training
//    mode (as the reference); Adam + cosine over the epochs; train augmentation resize + RandomResizedCrop
//    + flip, test resize only; the test fold is evaluated every epoch.
//  - full-finetune: the same, every layer training.
//  - linear-probe: frozen backbone in eval mode, features computed once (test transform), linear head.
// Every epoch's metrics go to the store; the epochs selected by last epoch, best validation accuracy
// (validation = clips carved from the training folds by group) and best test accuracy (the paper's
// optimistic choice) are recorded with their per-frame predictions. Frozen layers run without autograd.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/loader.h"
#include "harness/model/resnet.h"
#include "harness/run/protocols.h"
#include "harness/run/run_context.h"

namespace usbench {

struct BackboneSource {
  std::string weights_path;  // "" = torchvision random init from the run's init stream
  bool with_fc = false;      // the file's fc is loaded too (never for our uses: the head is replaced)
};

struct FoldData {
  const datasets::FrameSet* set = nullptr;
  std::vector<int> train_clips, test_clips;  // positions in set->clip_ids
  std::vector<std::string> groups;           // per clip position: grouping key
};

struct DownstreamOutcome {
  struct Selected {
    int epoch = -1;
    double test_accuracy = 0;
  };
  std::map<std::string, Selected> selected;  // by selection name (harness/store/results_schema.h), as recorded
};

// uscl-paper's two parts of a ResNet: conv1 .. layer4.0, which stays frozen (callers run it without
// autograd), and layer4.1 .. fc, which trains. Shared with the throughput benchmark.
torch::Tensor uscl_paper_frozen_part(ResNetImpl& m, const torch::Tensor& x);
torch::Tensor uscl_paper_trained_part(ResNetImpl& m, const torch::Tensor& h);

// The network a downstream protocol trains (build_downstream_net): the backbone with a new head (fc) and
// what trains, with the forwards the training loops use.
// Shared by the runs and by the differential test against the authors' evaluation.
struct DownstreamNet {
  ResNet model{nullptr};
  TrainedPart trains = TrainedPart::All;
  // The parameters that train (requires_grad), in named_parameters' order.
  std::vector<torch::Tensor> trainable() const;
  // The network's parameters by torchvision name (the head is fc).
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  // Pooled features -> logits (fc).
  torch::Tensor head(const torch::Tensor& features);
  // A training forward: the frozen part without autograd, the rest with it.
  torch::Tensor train_logits(const torch::Tensor& x);
  // A plain forward (evaluation; the caller chooses the mode and the grad mode).
  torch::Tensor logits(const torch::Tensor& x);
  void train(bool on);
};

// The protocol's network: `backbone` with torchvision's initialisation from `init_seed`, the weights file if
// any, a new head (from the same seed, after the file), and requires_grad set on what trains.
DownstreamNet build_downstream_net(const ProtocolInfo& protocol, const std::string& backbone, int n_classes,
                                   const BackboneSource& init, std::uint64_t init_seed, torch::Device device);

// The rate of `epoch`: CosineAnnealingLR(T_max = epochs) stepped once per epoch, as the authors' evaluation.
double downstream_lr(double base, int epoch, int epochs);

// The labels training sees (indexed by frame, like set.label_of): the set's own, or with the protocol's
// "label_noise" {class, fraction}, round(fraction x n) of the n `fit` frames of that class (drawn with
// the run's root seed, stream "label_noise") relabelled to one of the other classes, uniformly.
// Validation and test frames keep their labels. UsageError naming the key for a class the set lacks.
std::vector<std::int64_t> training_labels(const datasets::FrameSet& set, const std::vector<std::int64_t>& fit,
                                          const DownstreamConfig& config, const RunContext& ctx);

// `config` is the protocol's resolved config; what trains and how comes from `protocol`'s registry entry.
DownstreamOutcome run_downstream(RunContext& ctx, const ProtocolInfo& protocol, const nlohmann::json& config,
                                 const std::string& backbone, const BackboneSource& init, const FoldData& data);

}  // namespace usbench
