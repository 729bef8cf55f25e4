#include "harness/model/resnet.h"

#include "harness/errors.h"

namespace usbench {

namespace nn = torch::nn;

ResNetSpec ResNetSpec::by_name(const std::string& name) {
  if (name == "resnet18") return resnet18();
  if (name == "resnet50") return resnet50();
  throw UsageError("unknown backbone '" + name + "' (expected resnet18 or resnet50)");
}

namespace {

nn::Conv2d conv(int in, int out, int k, int stride, int pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

// torchvision.models.resnet.BasicBlock
class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int inplanes, int planes, int stride, bool downsample) {
    conv1 = register_module("conv1", conv(inplanes, planes, 3, stride, 1));
    bn1 = register_module("bn1", nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    if (downsample)
      down =
          register_module("downsample", nn::Sequential(conv(inplanes, planes, 1, stride, 0), nn::BatchNorm2d(planes)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    return torch::relu(out + (down ? down->forward(x) : x));
  }
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::Sequential down{nullptr};
};
TORCH_MODULE(BasicBlock);

// torchvision.models.resnet.Bottleneck (v1.5: the stride sits on the 3x3 convolution)
class BottleneckImpl : public nn::Module {
 public:
  BottleneckImpl(int inplanes, int planes, int stride, bool downsample) {
    conv1 = register_module("conv1", conv(inplanes, planes, 1, 1, 0));
    bn1 = register_module("bn1", nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    conv3 = register_module("conv3", conv(planes, planes * 4, 1, 1, 0));
    bn3 = register_module("bn3", nn::BatchNorm2d(planes * 4));
    if (downsample)
      down = register_module("downsample",
                             nn::Sequential(conv(inplanes, planes * 4, 1, stride, 0), nn::BatchNorm2d(planes * 4)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = torch::relu(bn2(conv2(out)));
    out = bn3(conv3(out));
    return torch::relu(out + (down ? down->forward(x) : x));
  }
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  nn::Sequential down{nullptr};
};
TORCH_MODULE(Bottleneck);

}  // namespace

ResNetImpl::ResNetImpl(const ResNetSpec& spec) : spec_(spec), inplanes_(spec.base_width) {
  const int w = spec.base_width;
  conv1 = register_module("conv1", conv(3, w, 7, 2, 3));
  bn1 = register_module("bn1", nn::BatchNorm2d(w));
  layer1 = register_module("layer1", make_layer(w, spec.layers[0], 1));
  layer2 = register_module("layer2", make_layer(w * 2, spec.layers[1], 2));
  layer3 = register_module("layer3", make_layer(w * 4, spec.layers[2], 2));
  layer4 = register_module("layer4", make_layer(w * 8, spec.layers[3], 2));
  fc = register_module("fc", nn::Linear(spec.feature_dim(), spec.num_classes));
  // torchvision: kaiming_normal_(fan_out, relu) for convolutions, BN weight 1 / bias 0; fc keeps
  // nn.Linear's own init, which the C++ Linear shares.
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* b = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(b->weight);
      nn::init::zeros_(b->bias);
    }
  }
}

nn::Sequential ResNetImpl::make_layer(int planes, int blocks, int stride) {
  const int expansion = spec_.bottleneck ? 4 : 1;
  nn::Sequential seq;
  for (int i = 0; i < blocks; ++i) {
    const int s = i == 0 ? stride : 1;
    const bool down = i == 0 && (stride != 1 || inplanes_ != planes * expansion);
    if (spec_.bottleneck)
      seq->push_back(Bottleneck(inplanes_, planes, s, down));
    else
      seq->push_back(BasicBlock(inplanes_, planes, s, down));
    inplanes_ = planes * expansion;
  }
  return seq;
}

torch::Tensor ResNetImpl::features(const torch::Tensor& x) {
  auto out = torch::max_pool2d(torch::relu(bn1(conv1(x))), 3, 2, 1);
  out = layer4->forward(layer3->forward(layer2->forward(layer1->forward(out))));
  return torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);
}

void torchvision_init(ResNetImpl& model, std::uint64_t seed) {
  torch::NoGradGuard guard;
  // The global generator is the only one nn::init accepts in LibTorch 1.13; seeding it here keeps the
  // init a pure function of the run's init stream.
  torch::manual_seed(seed);
  ResNetImpl fresh(model.spec());
  auto src = fresh.named_parameters(true);
  for (auto& p : model.named_parameters(true)) p.value().copy_(src[p.key()]);
  auto bsrc = fresh.named_buffers(true);
  for (auto& b : model.named_buffers(true)) b.value().copy_(bsrc[b.key()]);
}

}  // namespace usbench
