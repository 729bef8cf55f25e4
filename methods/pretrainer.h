// The method interface, part 2: a pretraining method as the harness's training loop sees it. A method
// owns its networks, optimiser and loss; it never touches files or the store (the runner does).
#pragma once
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/store/results_schema.h"
#include "harness/model/resnet.h"
#include "harness/spec/registry.h"
#include "methods/pretrain_batches.h"
#include "methods/pretrain_config.h"

namespace usbench::methods {

struct StepLosses {
  torch::Tensor total;                         // what is minimised
  std::map<std::string, torch::Tensor> parts;  // named terms for the metrics (e.g. contrastive, ce): detached
                                               // 0-dim tensors on the run's device, read by the caller when it
                                               // chooses (on CUDA, not after every step)
};

// What a method's pretrainer factory (MethodInfo::make_pretrainer) is given.
struct PretrainerArgs {
  nlohmann::json config;  // the method's resolved config (its resolver's output)
  int n_classes = 0;      // labels of the pretraining set (USCL's semi-supervised head; 0 = none)
  torch::Device device = torch::kCPU;
  std::uint64_t init_seed = 0;  // networks get torchvision's initialisation from this seed
};

class Pretrainer {
 public:
  virtual ~Pretrainer() = default;
  // The settings the pretraining loop reads (epochs, batch, input size, augmentation, held-out share).
  virtual const PretrainCommon& common() const = 0;
  // Beta(alpha, alpha) of USCL's frame mixing (PairMode::Mix); unused by the pair methods.
  virtual double mixup_alpha() const { return 0.5; }
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
  virtual std::string selection_metric() const { return results::metric::kContrastive; }
};

// The method's pretrainer (its registry entry's factory) with torchvision init from `init_seed`, on
// `device`; UsageError for a method without a pretraining stage.
std::unique_ptr<Pretrainer> make_pretrainer(const MethodInfo& method, const nlohmann::json& config, int n_classes,
                                            torch::Device device, std::uint64_t init_seed);

// Cosine annealing as torch.optim.lr_scheduler.CosineAnnealingLR(T_max = epochs) stepped once per epoch
// from epoch `constant_epochs` on: lr(e) = base * (1 + cos(pi * max(0, e - constant_epochs) / epochs)) / 2.
double cosine_after_constant(double base, int epoch, int epochs, int constant_epochs);

}  // namespace usbench::methods
