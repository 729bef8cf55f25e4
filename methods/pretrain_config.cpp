#include "methods/pretrain_config.h"

namespace usbench::methods {

namespace {
template <std::size_t N>
std::array<double, N> read_array(JsonObject& o, const std::string& key, const std::array<double, N>& fallback) {
  const auto v = o.optional<std::vector<double>>(key, std::vector<double>(fallback.begin(), fallback.end()));
  if (v.size() != N) o.fail(key, "expected " + std::to_string(N) + " numbers, got " + std::to_string(v.size()));
  std::array<double, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = v[i];
  return out;
}
}  // namespace

std::string read_backbone(JsonObject& o, const std::string& fallback) {
  const auto b = o.optional<std::string>("backbone", fallback);
  if (b != "resnet18" && b != "resnet50") o.fail("backbone", "must be \"resnet18\" or \"resnet50\", got \"" + b + "\"");
  return b;
}

PretrainCommon read_pretrain_common(JsonObject& o, const PretrainCommon& d) {
  PretrainCommon c;
  c.backbone = read_backbone(o, d.backbone);
  c.input_size = o.optional<int>("input_size", d.input_size);
  if (c.input_size < 32 || c.input_size > 1024) o.fail("input_size", "must be between 32 and 1024 pixels");
  c.epochs = o.optional<int>("epochs", d.epochs);
  // 0: no pretraining at all, the backbone handed on at its initialisation (a control for the pretraining).
  if (c.epochs < 0 || c.epochs > 100000) o.fail("epochs", "must be between 0 (no pretraining) and 100000");
  c.batch_size = o.optional<int>("batch_size", d.batch_size);
  if (c.batch_size < 2 || c.batch_size > 4096)
    o.fail("batch_size", "must be between 2 (contrastive losses need negatives) and 4096");
  c.lr = o.optional<double>("lr", d.lr);
  if (!(c.lr > 0 && c.lr <= 10)) o.fail("lr", "must be in (0, 10] (a larger learning rate is surely a typo)");
  c.weight_decay = o.optional<double>("weight_decay", d.weight_decay);
  if (!(c.weight_decay >= 0 && c.weight_decay <= 10)) o.fail("weight_decay", "must be in [0, 10]");
  c.crop_scale = read_array(o, "crop_scale", d.crop_scale);
  if (!(c.crop_scale[0] > 0 && c.crop_scale[0] <= c.crop_scale[1] && c.crop_scale[1] <= 1))
    o.fail("crop_scale", "must be [lo, hi] with 0 < lo <= hi <= 1");
  c.crop_ratio = read_array(o, "crop_ratio", d.crop_ratio);
  if (!(c.crop_ratio[0] > 0 && c.crop_ratio[0] <= c.crop_ratio[1]))
    o.fail("crop_ratio", "must be [lo, hi] with 0 < lo <= hi");
  c.color_jitter = read_array(o, "color_jitter", d.color_jitter);
  for (int i = 0; i < 3; ++i)
    if (c.color_jitter[i] < 0) o.fail("color_jitter", "brightness, contrast and saturation must be >= 0");
  if (c.color_jitter[3] < 0 || c.color_jitter[3] > 0.5) o.fail("color_jitter", "hue must be in [0, 0.5]");
  auto probability = [&](const char* key, double fallback) {
    const double v = o.optional<double>(key, fallback);
    if (!(v >= 0 && v <= 1)) o.fail(key, "must be a probability in [0, 1]");
    return v;
  };
  c.jitter_p = probability("jitter_p", d.jitter_p);
  c.grayscale_p = probability("grayscale_p", d.grayscale_p);
  c.blur_p = probability("blur_p", d.blur_p);
  c.val_fraction = o.optional<double>("val_fraction", d.val_fraction);
  if (!(c.val_fraction > 0 && c.val_fraction < 0.5)) o.fail("val_fraction", "must be in (0, 0.5)");
  return c;
}

void write_pretrain_common(nlohmann::json& j, const PretrainCommon& c) {
  j["backbone"] = c.backbone;
  j["input_size"] = c.input_size;
  j["epochs"] = c.epochs;
  j["batch_size"] = c.batch_size;
  j["lr"] = c.lr;
  j["weight_decay"] = c.weight_decay;
  j["crop_scale"] = c.crop_scale;
  j["crop_ratio"] = c.crop_ratio;
  j["color_jitter"] = c.color_jitter;
  j["val_fraction"] = c.val_fraction;
  const PretrainCommon none;  // the later keys, only where they change something
  if (c.jitter_p != none.jitter_p) j["jitter_p"] = c.jitter_p;
  if (c.grayscale_p != none.grayscale_p) j["grayscale_p"] = c.grayscale_p;
  if (c.blur_p != none.blur_p) j["blur_p"] = c.blur_p;
}

std::vector<ReferenceSetting> authors_contrastive_reference() {
  const std::string cfg = "train_USCL/config.yaml",
                    wrap = "train_USCL/data_aug/dataset_wrapper_Ultrasound_Video_Mixup.py";
  return {{"epochs", 300, cfg + " epochs"},
          {"batch_size", 32, cfg + " batch_size"},
          {"lr", 3e-4, "train_USCL/simclr.py Adam(model.parameters(), 3e-4)"},
          {"weight_decay", 1e-4, cfg + " weight_decay"},
          {"input_size", 224, cfg + " input_shape"},
          {"val_fraction", 0.2, cfg + " valid_size"},
          {"temperature", 0.5, cfg + " loss.temperature"},
          {"constant_epochs", 10, "train_USCL/simclr.py scheduler.step() only if epoch >= 10"},
          {"crop_scale", {0.8, 1.0}, wrap + " RandomResizedCrop(scale=(0.8, 1.0))"},
          {"crop_ratio", {0.8, 1.25}, wrap + " RandomResizedCrop(ratio=(0.8, 1.25))"},
          {"color_jitter", {0.8, 0.8, 0.8, 0.2}, wrap + " ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s), s = 1"},
          {"head_hidden", 512, "train_USCL/models/resnet_simclr.py l1"},
          {"head_out", 256, cfg + " model.out_dim"}};
}

}  // namespace usbench::methods
