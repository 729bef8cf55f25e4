// usbench embed: backbone features of every image in a folder, one CSV row per image.
#include <cstdlib>
#include <map>
#include <filesystem>
#include <sstream>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "datasets/clips.h"
#include "datasets/decode.h"
#include "harness/cli/commands.h"
#include "harness/errors.h"
#include "harness/model/hub_weights.h"
#include "harness/output_file.h"
#include "harness/model/resnet.h"
#include "harness/model/weights.h"

namespace usbench::cli {

namespace {
// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
}  // namespace

namespace fs = std::filesystem;

namespace {
struct EmbedArgs {
  std::string init, weights, images, out, normalize = "protocol", backbone = "resnet18";
  int size = 224;
  std::int64_t seed = 0;
};
}  // namespace

// The input normalisations embed offers, by name (per channel mean and std).
struct Normalisation {
  std::array<float, 3> mean, std;
};
const std::map<std::string, Normalisation>& normalisations() {
  static const std::map<std::string, Normalisation> n = {
      {"protocol", {{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}}},  // usbench's protocols and the USCL reference
      {"imagenet", {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}}};  // torchvision's ImageNet models
  return n;
}

// The methods embed can initialise a backbone with: those without a pretraining stage (a pretraining
// method's backbone is a file: use checkpoint).
std::vector<std::string> initialisations(const Registries& registries) {
  std::vector<std::string> out;
  for (const auto& n : registries.methods.names())
    if (!registries.methods.get(n).pretrains()) out.push_back(n);
  return out;
}

void add_embed_command(CLI::App& app, const Registries& registries) {
  auto a = std::make_shared<EmbedArgs>();
  auto* cmd = app.add_subcommand(
      "embed", "Write backbone features (after global average pooling) of every image in a folder to CSV");
  cmd->add_option("--init", a->init, "Backbone initialisation")
      ->required()
      ->check(CLI::IsMember(initialisations(registries)));
  cmd->add_option("--weights", a->weights,
                  "torchvision .pth, a USCL checkpoint or a usbench export (imagenet, checkpoint)");
  cmd->add_option("--images", a->images, "Folder of images (png, jpg, ...)")->required();
  cmd->add_option("--out", a->out, "Output CSV: file name, then one column per feature")->required();
  cmd->add_option("--normalize", a->normalize, "protocol (mean 0.5, std 0.25) or imagenet")
      ->check(CLI::IsMember(std::vector<std::string>{"protocol", "imagenet"}))
      ->capture_default_str();
  cmd->add_option("--backbone", a->backbone, "resnet18 or resnet50")->capture_default_str();
  cmd->add_option("--size", a->size, "Input size in pixels (32 to 1024)")
      ->capture_default_str()
      ->check(CLI::Range(32, 1024));
  cmd->add_option("--seed", a->seed, "Init seed for --init random")->capture_default_str();
  cmd->callback([a, &registries] {
    const WeightsSource source = registries.methods.get(a->init).weights;
    // ImageNet weights as run finds them: --weights, USBENCH_IMAGENET_WEIGHTS, then torch's hub cache.
    if (source == WeightsSource::ImagenetFile) {
      const char* env = std::getenv("USBENCH_IMAGENET_WEIGHTS");
      a->weights = resolve_imagenet_weights(a->weights, env ? env : "", a->backbone);
    }
    if (source != WeightsSource::Initialisation && a->weights.empty())
      throw UsageError(
          "usbench embed --init " + a->init + " needs --weights FILE" +
          (source == WeightsSource::ImagenetFile
               ? " (none in " + hub_checkpoint_dir() + "; usbench weights fetch " + a->backbone + " puts it there)"
               : ""));
    std::error_code ec;
    if (!fs::is_directory(a->images, ec)) throw UsageError(a->images + ": no such folder");
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(a->images))
      if (e.is_regular_file()) {
        std::string ext = e.path().extension().string();
        for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (datasets::is_image_extension(ext)) files.push_back(e.path());
      }
    std::sort(files.begin(), files.end());
    if (files.empty()) throw UsageError(a->images + ": no images in it");

    torch::manual_seed(static_cast<std::uint64_t>(a->seed));
    ResNet model(ResNetSpec::by_name(a->backbone));
    if (source != WeightsSource::Initialisation)
      load_weights(*model, read_state_dict(a->weights), a->weights, /*with_fc=*/false);
    model->eval();
    torch::InferenceMode guard;
    const auto& [mean, std] = normalisations().at(a->normalize);
    // The table is built in memory and written at the end (write_file_atomically): a failure (say, an
    // undecodable image) leaves no file, and a write error is an error.
    std::ostringstream out;
    for (const auto& f : files) {
      std::vector<std::uint8_t> rgb;
      try {
        rgb = datasets::load_image_rgb(f.string(), a->size);
      } catch (const UsageError& e) {
        throw UsageError(std::string(e.what()) + "; nothing was written");
      }
      auto x = torch::from_blob(rgb.data(), {a->size, a->size, 3}, torch::kUInt8)
                   .permute({2, 0, 1})
                   .to(torch::kFloat32)
                   .div(255.0);
      for (int c = 0; c < 3; ++c) x[c].sub_(mean[static_cast<std::size_t>(c)]).div_(std[static_cast<std::size_t>(c)]);
      const auto feat = model->features(x.unsqueeze(0))[0].contiguous();
      out << csv_field(f.filename().string());
      const float* p = feat.data_ptr<float>();
      for (std::int64_t i = 0; i < feat.numel(); ++i) out << ',' << fmt::format("{:.8g}", p[i]);
      out << '\n';
    }
    write_file_atomically(a->out, out.str());
    std::cout << fmt::format("wrote {} rows of {} features to {}\n", files.size(), model->spec().feature_dim(), a->out);
  });
}

}  // namespace usbench::cli
