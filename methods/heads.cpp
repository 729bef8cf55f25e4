#include "methods/heads.h"

namespace usbench::methods {

torch::nn::Sequential projection_head(int in, int hidden, int out) {
  return torch::nn::Sequential(torch::nn::Linear(in, hidden), torch::nn::ReLU(), torch::nn::Linear(hidden, out));
}

EncoderImpl::EncoderImpl(const ResNetSpec& spec, int hidden, int out) {
  backbone = register_module("backbone", ResNet(spec));
  head = register_module("head", projection_head(spec.feature_dim(), hidden, out));
}

std::vector<torch::Tensor> trainable(torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (auto& p : m.parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

}  // namespace usbench::methods
