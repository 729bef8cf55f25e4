// The method interface, part 2: a pretraining method as the harness's training loop sees it. A method
// owns its networks, optimiser and loss; it never touches files or the store (the runner does).
#pragma once
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/model/resnet.h"
#include "methods/pretrain_batches.h"

namespace usbench::methods {

struct StepLosses {
  torch::Tensor total;                         // what is minimised
  std::map<std::string, torch::Tensor> parts;  // named terms for the metrics (e.g. contrastive, ce): detached
                                               // 0-dim tensors on the run's device, read by the caller when it
                                               // chooses (on CUDA, not after every step)
};

class Pretrainer {
 public:
  virtual ~Pretrainer() = default;
  // Every module whose state a checkpoint must hold (backbone, heads, key encoder...).
  virtual torch::nn::Module& state() = 0;
  // Buffers that are not module parameters (MoCo's queue) go through state() as registered buffers.
  virtual ResNet backbone() = 0;
  virtual torch::optim::Optimizer& optimizer() = 0;
  // Learning rate for a whole epoch (the recipes change it once per epoch).
  virtual double lr_for_epoch(int epoch) const = 0;
  // How batches are built: USCL mixes frames around an anchor; SimCLR and MoCo pair two views.
  virtual PairMode pair_mode() const = 0;
  // Loss of one batch. `train` false: held-out evaluation on un-mixed views (no side effects).
  virtual StepLosses loss(const PairBatch& batch, bool train) = 0;
  // After the optimiser step (MoCo: momentum update of the key encoder, enqueue keys).
  virtual void after_step(const PairBatch&) {}
  // The contrastive term of the held-out loss that selects the checkpoint.
  virtual std::string selection_metric() const { return "contrastive"; }
};

// Builds the method's networks with torchvision init from `init_seed`, on `device`. `n_classes`: labels
// of the pretraining set (USCL's semi-supervised head; 0 = none).
std::unique_ptr<Pretrainer> make_pretrainer(const std::string& method, const nlohmann::json& config, int n_classes,
                                            torch::Device device, std::uint64_t init_seed);

// Cosine annealing as torch.optim.lr_scheduler.CosineAnnealingLR(T_max = epochs) stepped once per epoch
// from epoch `constant_epochs` on: lr(e) = base * (1 + cos(pi * max(0, e - constant_epochs) / epochs)) / 2.
double cosine_after_constant(double base, int epoch, int epochs, int constant_epochs);

}  // namespace usbench::methods
