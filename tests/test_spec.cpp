#include <catch2/catch.hpp>

#include <filesystem>

#include "harness/canonical.h"
#include "harness/errors.h"
#include "harness/spec/spec.h"
#include "spec_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

TEST_CASE("a valid spec resolves every default from the component that owns it", "[unit]") {
  const auto spec = parse_spec(minimal_spec(), "tiny.json", builtin_registries());
  CHECK(spec.name == "tiny");
  CHECK(spec.folds.k == 3);
  CHECK(spec.seeds == std::vector<std::int64_t>{0, 1});
  REQUIRE(spec.methods.size() == 2);
  CHECK(spec.methods[0].config.at("epochs") == 1);
  CHECK(spec.methods[0].config.at("temperature") == 0.5);  // USCL reference recipe
  CHECK(spec.methods[0].config.at("ce_weight") == 0.2);
  CHECK(spec.methods[0].config.at("lr") == 3e-4);
  CHECK(spec.methods[0].config.at("constant_epochs") == 1);  // min(10, epochs): a 1-epoch run is all constant
  CHECK(spec.methods[1].name == "random");
  CHECK(spec.methods[1].label == "random");
  CHECK(spec.protocols[0].config.at("lr") == 0.01);  // paper's downstream Adam rate
  CHECK(spec.protocols[0].config.at("epochs") == 2);
  CHECK(spec.device == "cpu");
}

TEST_CASE("a misspelt key is named with a suggestion", "[unit]") {
  auto doc = minimal_spec();
  doc["protocols"][0]["config"]["epohcs"] = 3;
  CHECK_THROWS_WITH(parse_spec(doc, "tiny.json", builtin_registries()), Contains("tiny.json") &&
                                                                            Contains("protocols.0.config.epohcs") &&
                                                                            Contains("did you mean 'epochs'?"));
  auto top = minimal_spec();
  top["seedz"] = {1};
  CHECK_THROWS_WITH(parse_spec(top, "tiny.json", builtin_registries()),
                    Contains("unknown key 'seedz'") && Contains("'seeds'"));
}

TEST_CASE("a string where a number belongs names the key", "[unit]") {
  auto doc = minimal_spec();
  doc["methods"][0]["config"]["lr"] = "0.1";
  CHECK_THROWS_WITH(parse_spec(doc, "tiny.json", builtin_registries()),
                    Contains("methods.0.config.lr") && Contains("expected a number"));
}

TEST_CASE("schema_version, unknown components, bad values and duplicates are rejected", "[unit]") {
  const auto& reg = builtin_registries();
  auto v = minimal_spec();
  v["schema_version"] = 2;
  CHECK_THROWS_WITH(parse_spec(v, "x.json", reg), Contains("schema_version") && Contains("version 1"));
  auto m = minimal_spec();
  m["methods"][1] = "simclrr";
  CHECK_THROWS_WITH(parse_spec(m, "x.json", reg), Contains("methods.1.name") && Contains("did you mean 'simclr'"));
  auto bad = minimal_spec();
  bad["protocols"][0]["config"]["epochs"] = 0;
  CHECK_THROWS_WITH(parse_spec(bad, "x.json", reg),
                    Contains("protocols.0.config.epochs: must be between 1 and 100000"));
  auto dup = minimal_spec();
  dup["methods"][1] = "uscl";
  CHECK_THROWS_WITH(parse_spec(dup, "x.json", reg), Contains("appears twice"));
  auto nopre = minimal_spec();
  nopre.erase("pretrain_data");
  CHECK_THROWS_WITH(parse_spec(nopre, "x.json", reg), Contains("pretrain_data"));
  auto moco = minimal_spec();
  moco["methods"][1] = {{"name", "moco"}, {"config", {{"queue_size", 100}}}};
  CHECK_THROWS_WITH(parse_spec(moco, "x.json", reg), Contains("queue_size") && Contains("multiple of batch_size"));
}

TEST_CASE("downstream ablation keys: validated by name, and absent from the resolved config at their defaults",
          "[unit]") {
  const auto& reg = builtin_registries();
  const auto base = parse_spec(minimal_spec(), "x.json", reg);
  // At their defaults the keys are not written: run identities recorded before they existed still hold.
  CHECK(base.protocols[0].config ==
        nlohmann::json::parse(
            R"({"epochs": 2, "batch_size": 32, "lr": 0.01, "weight_decay": 0.0001, "input_size": 64})"));
  auto explicit_defaults = minimal_spec();
  explicit_defaults["protocols"][0]["config"].update(
      {{"train_augment", true}, {"input_mean", 0.5}, {"input_std", 0.25}});
  CHECK(parse_spec(explicit_defaults, "x.json", reg).protocols[0].config == base.protocols[0].config);
  auto changed = minimal_spec();
  changed["protocols"][0]["config"] = {
      {"train_augment", false}, {"input_mean", 0.485}, {"label_noise", {{"class", "covid"}, {"fraction", 0.2}}}};
  const auto c = parse_spec(changed, "x.json", reg).protocols[0].config;
  CHECK(c.at("train_augment") == false);
  CHECK(c.at("input_mean") == 0.485);
  CHECK_FALSE(c.contains("input_std"));
  CHECK(c.at("label_noise") == nlohmann::json({{"class", "covid"}, {"fraction", 0.2}}));
  const std::vector<std::pair<nlohmann::json, std::string>> bad = {
      {{{"train_augment", "no"}}, "protocols.0.config.train_augment"},
      {{{"input_std", 0}}, "protocols.0.config.input_std: must be in (0, 10]"},
      {{{"label_noise", {{"fraction", 0.2}}}}, "protocols.0.config.label_noise.class: missing required key"},
      {{{"label_noise", {{"class", "covid"}, {"fraction", 0}}}},
       "protocols.0.config.label_noise.fraction: must be in (0, 1]"},
      {{{"label_noise", {{"class", "covid"}, {"fraction", 0.2}, {"seed", 1}}}},
       "unknown key 'protocols.0.config.label_noise.seed'"}};
  for (const auto& [config, message] : bad) {
    auto doc = minimal_spec();
    doc["protocols"][0]["config"] = config;
    CHECK_THROWS_WITH(parse_spec(doc, "x.json", reg), Contains(message));
  }
  // Pretraining for 0 epochs (the initial backbone, a control) is allowed; below that is not.
  auto zero = minimal_spec();
  zero["methods"][0] = {{"name", "uscl"}, {"config", {{"epochs", 0}, {"constant_epochs", 0}}}};
  CHECK(parse_spec(zero, "x.json", reg).methods[0].config.at("epochs") == 0);
  zero["methods"][0]["config"]["epochs"] = -1;
  CHECK_THROWS_WITH(parse_spec(zero, "x.json", reg),
                    Contains("methods.0.config.epochs: must be between 0 (no pretraining) and 100000"));
}

TEST_CASE("spec overrides (--set) reach any field, by index or by label", "[unit]") {
  auto doc = minimal_spec();
  apply_override(doc, "methods.uscl.config.epochs=7");
  apply_override(doc, "protocols.0.config.lr=0.5");
  apply_override(doc, "methods.random.config.backbone=resnet50");  // string shorthand becomes an object
  apply_override(doc, "device=cuda");
  apply_override(doc, "seeds=[3,4,5]");
  const auto spec = parse_spec(doc, "x.json", builtin_registries());
  CHECK(spec.methods[0].config.at("epochs") == 7);
  CHECK(spec.protocols[0].config.at("lr") == 0.5);
  CHECK(spec.methods[1].config.at("backbone") == "resnet50");
  CHECK(spec.device == "cuda");
  CHECK(spec.seeds.size() == 3);
  CHECK_THROWS_AS(apply_override(doc, "no-equals-sign"), UsageError);
  CHECK_THROWS_WITH(apply_override(doc, "methods.nosuch.config.epochs=1"), Contains("no element labelled 'nosuch'"));
  CHECK_THROWS_WITH(apply_override(doc, "methods.9.config=1"), Contains("out of range"));
  auto typo = minimal_spec();
  apply_override(typo, "protocols.0.config.epohcs=1");  // lands, and the strict parser then names it
  CHECK_THROWS_WITH(parse_spec(typo, "x.json", builtin_registries()), Contains("did you mean 'epochs'?"));
}

TEST_CASE("the resolved spec serialises canonically, independent of key order and number spelling", "[unit]") {
  const auto a = parse_spec(minimal_spec(), "a.json", builtin_registries());
  auto doc = minimal_spec();
  doc["protocols"][0]["config"]["epochs"] = 2.0;  // same value, different spelling
  doc["methods"][0]["config"]["lr"] = 0.0003;     // the default, written out
  const auto b = parse_spec(doc, "b.json", builtin_registries());
  CHECK(canonical_json(to_json(a)) == canonical_json(to_json(b)));
  doc["methods"][0]["config"]["lr"] = 0.001;
  const auto c = parse_spec(doc, "c.json", builtin_registries());
  CHECK(content_hash(to_json(a)) != content_hash(to_json(c)));
  // Round trip: the resolved spec is itself a valid spec that resolves to the same thing.
  auto resolved = to_json(a);
  for (auto* list : {&resolved["methods"], &resolved["protocols"]})
    for (auto& el : *list) el.erase("version");
  resolved["dataset"].erase("version");
  resolved["pretrain_data"].erase("version");
  CHECK(canonical_json(to_json(parse_spec(resolved, "r.json", builtin_registries()))) == canonical_json(to_json(a)));
}

TEST_CASE("load_spec names the file for missing files and JSON syntax errors", "[unit]") {
  TempDir dir;
  CHECK_THROWS_WITH(load_spec((dir / "nope.json").string(), {}, builtin_registries()),
                    Contains("nope.json") && Contains("not found"));
  write_bytes(dir / "broken.json", "{\n  \"name\": \"x\",\n  oops\n}");
  CHECK_THROWS_WITH(load_spec((dir / "broken.json").string(), {}, builtin_registries()),
                    Contains("broken.json:3:") && Contains("not valid JSON"));
}

TEST_CASE("every shipped experiment spec parses", "[unit]") {
  namespace fs = std::filesystem;
  int n = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(USBENCH_SOURCE_DIR) / "experiments")) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    const auto spec = load_spec(entry.path().string(), {}, builtin_registries());
    CHECK(spec.name == entry.path().stem().string());
    ++n;
  }
  CHECK(n >= 3);
}

TEST_CASE("precision is auto, fp32 or amp, and amp needs CUDA", "[unit]") {
  const auto reg = builtin_registries();
  auto spec = minimal_spec();
  CHECK(parse_spec(spec, "x.json", reg).precision == "auto");
  CHECK_FALSE(parse_spec(spec, "x.json", reg).amp());  // CPU: fp32
  spec["device"] = "cuda";
  CHECK(parse_spec(spec, "x.json", reg).amp());
  spec["precision"] = "fp32";
  CHECK_FALSE(parse_spec(spec, "x.json", reg).amp());
  spec["precision"] = "fp16";
  CHECK_THROWS_WITH(parse_spec(spec, "x.json", reg), Contains("precision") && Contains("fp16"));
  spec["precision"] = "amp";
  spec["device"] = "cpu";
  CHECK_THROWS_WITH(parse_spec(spec, "x.json", reg), Contains("precision") && Contains("cuda"));
}

TEST_CASE("size-like data config values are bounded and refused with their allowed range", "[unit]") {
  const auto& reg = builtin_registries();
  auto spec = minimal_spec();
  spec["dataset"]["config"]["clips_per_class"] = 1000000000;
  CHECK_THROWS_WITH(parse_spec(spec, "x.json", reg),
                    Contains("dataset.config.clips_per_class") && Contains("between 2 and 10000"));
  spec = minimal_spec();
  spec["dataset"]["config"] = {{"clips_per_class", 10000}, {"frames_per_clip", 1000}, {"stored_size", 1024}};
  CHECK_THROWS_WITH(parse_spec(spec, "x.json", reg), Contains("clips_per_class") && Contains("at most 8 GiB"));
  spec = minimal_spec();
  spec["dataset"] = {{"name", "pocus"}, {"config", {{"src", "/nowhere"}, {"max_frames", 1000000}}}};
  CHECK_THROWS_WITH(parse_spec(spec, "x.json", reg), Contains("max_frames") && Contains("between 1 and 100000"));
}

TEST_CASE("the new protocol and augmentation keys are validated by name", "[unit]") {
  const auto& reg = builtin_registries();
  auto with_protocol = [](nlohmann::json protocol) {
    auto s = minimal_spec();
    s["protocols"] = nlohmann::json::array({protocol});
    return s;
  };
  // uscl-paper fits on all training folds: a validation share belongs to uscl-paper-val.
  CHECK_THROWS_WITH(
      parse_spec(with_protocol({{"name", "uscl-paper"}, {"config", {{"val_fraction", 0.2}}}}), "x.json", reg),
      Contains("val_fraction"));
  CHECK_NOTHROW(
      parse_spec(with_protocol({{"name", "uscl-paper-val"}, {"config", {{"val_fraction", 0.2}}}}), "x.json", reg));
  // linear-eval is one fit: no epochs; C must be positive.
  CHECK_THROWS_WITH(parse_spec(with_protocol({{"name", "linear-eval"}, {"config", {{"epochs", 5}}}}), "x.json", reg),
                    Contains("epochs"));
  CHECK_THROWS_WITH(parse_spec(with_protocol({{"name", "linear-eval"}, {"config", {{"C", 0}}}}), "x.json", reg),
                    Contains("C"));
  CHECK_THROWS_WITH(parse_spec(with_protocol({{"name", "linear-eval"}, {"config", {{"C", "one"}}}}), "x.json", reg),
                    Contains("C"));
  // Augmentation probabilities lie in [0, 1].
  auto moco = minimal_spec();
  moco["methods"][0] = {{"name", "moco"}, {"config", {{"blur_p", 1.5}}}};
  CHECK_THROWS_WITH(parse_spec(moco, "x.json", reg), Contains("blur_p"));
  moco["methods"][0] = {{"name", "moco"}, {"config", {{"grayscale_p", -0.1}}}};
  CHECK_THROWS_WITH(parse_spec(moco, "x.json", reg), Contains("grayscale_p"));
}
