// Small networks shared by the contrastive methods: the projection MLP and a backbone + head pair.
#pragma once
#include "harness/model/resnet.h"

namespace usbench::methods {

// Linear(in, hidden) -> ReLU -> Linear(hidden, out): SimCLR/USCL's projection head, MoCo v2's MLP.
torch::nn::Sequential projection_head(int in, int hidden, int out);

// A backbone with its projection head, registered as "backbone" and "head".
class EncoderImpl : public torch::nn::Module {
 public:
  EncoderImpl(const ResNetSpec& spec, int hidden, int out);
  torch::Tensor forward(const torch::Tensor& x) { return head->forward(backbone->features(x)); }
  ResNet backbone{nullptr};
  torch::nn::Sequential head{nullptr};
};
TORCH_MODULE(Encoder);

// Every trainable parameter of a module.
std::vector<torch::Tensor> trainable(torch::nn::Module& m);

}  // namespace usbench::methods
