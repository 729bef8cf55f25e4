#include "harness/store/results_schema.h"
#include "harness/run/protocols.h"

#include "harness/spec/json_reader.h"

namespace usbench {

DownstreamConfig parse_downstream_config(const nlohmann::json& user, const std::string& origin, const std::string& path,
                                         const DownstreamConfig& d, const DownstreamShape& shape) {
  JsonObject o(user, origin, path);
  DownstreamConfig c = d;
  if (!shape.validation_part && o.has("val_fraction"))
    o.fail("val_fraction",
           "this protocol fits on all training folds, as the authors' evaluation; for a validation-selected figure use "
           "its validation twin (e.g. uscl-paper-val)");
  if (shape.fit == HeadFit::LogisticRegression) {
    for (const char* key : {"epochs", "batch_size", "lr", "weight_decay", "train_augment"})
      if (o.has(key))
        o.fail(key,
               "this protocol fits a logistic regression once, to convergence: it has no epochs, batches, rate or "
               "training augmentation (its setting is C)");
  } else if (o.has("C")) {
    o.fail("C", "only a protocol that fits a logistic regression (linear-eval) has C");
  }
  if (shape.fit == HeadFit::LogisticRegression) {
    c.c = o.optional<double>("C", d.c);
    if (!(c.c > 0 && c.c <= 1e6)) o.fail("C", "must be in (0, 1e6] (the inverse L2 strength)");
  }
  c.epochs = o.optional<int>("epochs", d.epochs);
  if (c.epochs < 1 || c.epochs > 100000) o.fail("epochs", "must be between 1 and 100000");
  c.batch_size = o.optional<int>("batch_size", d.batch_size);
  if (c.batch_size < 1 || c.batch_size > 4096) o.fail("batch_size", "must be between 1 and 4096");
  c.lr = o.optional<double>("lr", d.lr);
  if (!(c.lr > 0 && c.lr <= 10)) o.fail("lr", "must be in (0, 10] (a larger learning rate is surely a typo)");
  c.weight_decay = o.optional<double>("weight_decay", d.weight_decay);
  if (!(c.weight_decay >= 0 && c.weight_decay <= 10)) o.fail("weight_decay", "must be in [0, 10]");
  c.input_size = o.optional<int>("input_size", d.input_size);
  if (c.input_size < 32 || c.input_size > 1024) o.fail("input_size", "must be between 32 and 1024 pixels");
  if (shape.validation_part) {
    c.val_fraction = o.optional<double>("val_fraction", d.val_fraction);
    if (!(c.val_fraction > 0 && c.val_fraction < 0.5)) o.fail("val_fraction", "must be in (0, 0.5)");
  } else {
    c.val_fraction = 0;
  }
  c.train_augment = o.optional<bool>("train_augment", d.train_augment);
  c.input_mean = o.optional<double>("input_mean", d.input_mean);
  if (!(c.input_mean >= -10 && c.input_mean <= 10)) o.fail("input_mean", "must be in [-10, 10]");
  c.input_std = o.optional<double>("input_std", d.input_std);
  if (!(c.input_std > 0 && c.input_std <= 10)) o.fail("input_std", "must be in (0, 10]");
  if (o.has("label_noise")) {
    JsonObject noise = o.object("label_noise");
    c.label_noise_class = noise.required<std::string>("class");
    if (c.label_noise_class.empty()) noise.fail("class", "must name a class of the data set");
    c.label_noise_fraction = noise.required<double>("fraction");
    if (!(c.label_noise_fraction > 0 && c.label_noise_fraction <= 1)) noise.fail("fraction", "must be in (0, 1]");
    noise.finish();
  }
  o.finish();
  return c;
}

nlohmann::json to_json(const DownstreamConfig& c, const DownstreamShape& shape) {
  if (shape.fit == HeadFit::LogisticRegression) {  // a protocol newer than the keys below: every key written
    nlohmann::json j = {
        {"input_size", c.input_size}, {"input_mean", c.input_mean}, {"input_std", c.input_std}, {"C", c.c}};
    if (!c.label_noise_class.empty())
      j["label_noise"] = {{"class", c.label_noise_class}, {"fraction", c.label_noise_fraction}};
    return j;
  }
  nlohmann::json j = {{"epochs", c.epochs},
                      {"batch_size", c.batch_size},
                      {"lr", c.lr},
                      {"weight_decay", c.weight_decay},
                      {"input_size", c.input_size}};
  if (shape.validation_part) j["val_fraction"] = c.val_fraction;
  const DownstreamConfig d;  // the later keys, only where they change something (see protocols.h)
  if (c.train_augment != d.train_augment) j["train_augment"] = c.train_augment;
  if (c.input_mean != d.input_mean) j["input_mean"] = c.input_mean;
  if (c.input_std != d.input_std) j["input_std"] = c.input_std;
  if (!c.label_noise_class.empty())
    j["label_noise"] = {{"class", c.label_noise_class}, {"fraction", c.label_noise_fraction}};
  return j;
}

ProtocolInfo downstream_protocol(Stage stage, std::string summary, DownstreamConfig defaults, DownstreamShape shape) {
  ProtocolInfo info;
  info.version = 1;
  info.stage = stage;
  info.summary = std::move(summary);
  info.validation_part = shape.validation_part;
  info.fit = shape.fit;
  info.resolve = [defaults, shape](const nlohmann::json& user, const std::string& origin, const std::string& path) {
    return to_json(parse_downstream_config(user, origin, path, defaults, shape), shape);
  };
  // What a run can select from: one fit gives one figure; epochs give the paper's best-on-test (optimistic)
  // and the last epoch (no selection), and a validation part the val-selected epoch. The headline - the
  // figure intervals and paired tests use - is a selection that never looks at the test fold.
  if (shape.fit == HeadFit::LogisticRegression) {
    info.selections = {results::selection::kLast};
    info.headline_selection = results::selection::kLast;
  } else if (shape.validation_part) {
    info.selections = {results::selection::kBestTest, results::selection::kLast, results::selection::kBestVal};
    info.headline_selection = results::selection::kBestVal;
  } else {
    info.selections = {results::selection::kBestTest, results::selection::kLast};
    info.headline_selection = results::selection::kLast;
  }
  return info;
}

DownstreamConfig resolved_downstream_config(const nlohmann::json& resolved, const ProtocolInfo& protocol) {
  // The resolved config holds every key its shape allows, so any defaults do; parsing it again gives the
  // typed struct back.
  DownstreamConfig d;
  if (protocol.fit == HeadFit::LogisticRegression) d.epochs = 1;  // fitted once
  return parse_downstream_config(resolved, "resolved config", protocol.name, d,
                                 DownstreamShape{protocol.validation_part, protocol.fit});
}

// One per protocol file (harness/run/protocol_*.cpp).
ProtocolInfo uscl_paper_protocol();
ProtocolInfo uscl_paper_val_protocol();
ProtocolInfo linear_eval_protocol();
ProtocolInfo full_finetune_protocol();
ProtocolInfo linear_probe_protocol();

void register_protocols(Registry<ProtocolInfo>& registry) {
  registry.add(uscl_paper_protocol());
  registry.add(uscl_paper_val_protocol());
  registry.add(linear_eval_protocol());
  registry.add(full_finetune_protocol());
  registry.add(linear_probe_protocol());
}

}  // namespace usbench
