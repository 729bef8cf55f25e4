// ResNet-18/50 with torchvision's module tree, parameter and buffer names and default initialisation
// (README Design §4): torchvision state dicts load without renaming, and a random init matches torchvision's
// statistics (kaiming-normal fan_out convolutions, BatchNorm weight 1 / bias 0, nn.Linear's default fc).
#pragma once
#include <string>
#include <vector>

#include "harness/torch_pch.h"

namespace usbench {

struct ResNetSpec {
  bool bottleneck = false;  // BasicBlock (18/34) or Bottleneck (50/101)
  std::vector<int> layers{2, 2, 2, 2};
  int base_width = 64;  // channels of conv1 / layer1 (torchvision: 64; smaller for test fixtures)
  int num_classes = 1000;

  static ResNetSpec resnet18() { return {}; }
  static ResNetSpec resnet50() { return {true, {3, 4, 6, 3}, 64, 1000}; }
  // "resnet18" | "resnet50"; UsageError otherwise.
  static ResNetSpec by_name(const std::string& name);
  int feature_dim() const { return base_width * 8 * (bottleneck ? 4 : 1); }
};

class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(const ResNetSpec& spec = ResNetSpec::resnet18());
  // Pooled features [N, feature_dim] (after the global average pool, before fc).
  torch::Tensor features(const torch::Tensor& x);
  torch::Tensor forward(const torch::Tensor& x) { return fc->forward(features(x)); }
  const ResNetSpec& spec() const { return spec_; }
  // Parameters of layer4.<block> and fc — what the uscl-paper protocol trains.
  torch::nn::Sequential layer(int i) { return i == 1 ? layer1 : i == 2 ? layer2 : i == 3 ? layer3 : layer4; }

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  torch::nn::Sequential make_layer(int planes, int blocks, int stride);
  ResNetSpec spec_;
  int inplanes_;
};
TORCH_MODULE(ResNet);

// Re-initialises every parameter as torchvision does, from `seed` (the run's "init" stream).
void torchvision_init(ResNetImpl& model, std::uint64_t seed);

}  // namespace usbench
