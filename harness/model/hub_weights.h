// ImageNet weights where torchvision users already keep them: torch.hub's checkpoint cache, under
// torchvision's file names. Such a name carries a prefix of the file's SHA-256 ("resnet18-f37072fd.pth":
// the digest begins f37072fd), which torch.hub checks after a download (torch.hub.check_hash); usbench
// checks it whenever it takes a file from the cache. Torch-free.
#pragma once
#include <string>
#include <vector>

namespace usbench {

// One released torchvision ImageNet file for a backbone.
struct TorchvisionFile {
  std::string backbone;   // "resnet18", "resnet50"
  std::string file_name;  // as torch.hub stores it: the URL's last path component
  std::string url;        // empty for a name registered through USBENCH_HUB_FILES
};

// The files usbench takes for `backbone`, in order of preference. Built in (torchvision's weight enums
// in torchvision/models/resnet.py, and the names of torchvision < 0.13, whose files hold the same
// weights): resnet18 -> resnet18-f37072fd.pth (IMAGENET1K_V1), then resnet18-5c106cde.pth; resnet50 ->
// resnet50-0676ba61.pth (IMAGENET1K_V1, the weights the paper era used), resnet50-11ad3fa6.pth
// (IMAGENET1K_V2), resnet50-19c8e357.pth. USBENCH_HUB_FILES="resnet18=NAME.pth,resnet50=NAME.pth" puts
// other names first (a mirror's file, a test fixture); they are checked by the same hash-prefix rule.
std::vector<TorchvisionFile> torchvision_files(const std::string& backbone);

// torch.hub's checkpoint folder: $TORCH_HOME/hub/checkpoints, where TORCH_HOME defaults to
// $XDG_CACHE_HOME/torch, else $HOME/.cache/torch (torch.hub.get_dir()).
std::string hub_checkpoint_dir();

// The hash prefix in a file name, read as torch.hub reads it: the first match of "-([a-f0-9]*)\." .
// Empty when the name has none (then there is nothing to check).
std::string hash_prefix(const std::string& file_name);

// Throws UsageError naming `path` when its content's SHA-256 does not begin with the hash prefix of its
// file name; returns the full SHA-256 (hex) otherwise.
std::string check_hash_prefix(const std::string& path);

// Where the imagenet method's weights come from, first found wins: `configured` (the method config's
// `weights`), `caller` (--weights, else USBENCH_IMAGENET_WEIGHTS), then hub_checkpoint_dir() under the
// backbone's torchvision_files() names. Returns the path, or "" when there is none. A file found in the
// hub cache is checked with check_hash_prefix (UsageError on a mismatch); an explicit file is taken as given.
std::string resolve_imagenet_weights(const std::string& configured, const std::string& caller,
                                     const std::string& backbone);

// The table's note for an imagenet row without weights: where usbench looked and how to get them.
std::string missing_weights_note(const std::string& backbone);

}  // namespace usbench
