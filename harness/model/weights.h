// Weights in and out (README Design §4).
//
// read_state_dict reads PyTorch's zip checkpoints as torch.save writes them, including torchvision's
// published files, whose pickled OrderedDict carries a `_metadata` attribute that LibTorch 1.13's
// pickle_load rejects: a small unpickler of our own handles the subset of pickle that state dicts use.
// load_weights maps torchvision and USCL layouts onto our ResNet strictly: missing or unexpected keys
// and shape mismatches are errors that list them. save_state_dict writes a torchvision-compatible file
// that Python's torch.load + load_state_dict(strict=True) accepts.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "harness/output_file.h"
#include "harness/model/resnet.h"

namespace usbench {

using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// Throws UsageError naming the file for missing files, non-zip files and pickles outside the subset.
StateDict read_state_dict(const std::string& path);

enum class WeightLayout { Torchvision, Uscl };

struct LoadReport {
  WeightLayout layout = WeightLayout::Torchvision;
  int loaded = 0;                    // tensors copied into the model
  std::vector<std::string> ignored;  // keys deliberately dropped (USCL heads l1/l2/fc; fc when !with_fc)
};

// Copies `weights` into `model`. Layouts: torchvision (names as ours, optional "module." prefix) and
// USCL's released checkpoints (features.0/1/4..7 = conv1, bn1, layer1..4; heads l1, l2, fc dropped).
// `with_fc`: the file's fc must be loaded too (torchvision files); otherwise fc keeps its init.
LoadReport load_weights(ResNetImpl& model, const StateDict& weights, const std::string& origin, bool with_fc);

StateDict state_dict(ResNetImpl& model);

// Atomic (temporary file + rename). The file opens in Python with torch.load.
FileDigest save_state_dict(const StateDict& dict, const std::string& path);  // atomic; digest of the bytes written

}  // namespace usbench
