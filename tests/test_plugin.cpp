// README "Adding a method, a protocol, a data kind", shown: a pretraining method, a downstream protocol and a
// data kind, each defined in this file alone and given to the registries with one add() each, run end to
// end through the same engine as the built-ins (planning, claims, pretraining, fine-tuning, the store) and
// reported. No other file of usbench knows their names.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "datasets/clips.h"
#include "datasets/dataset_config.h"
#include "datasets/decode.h"
#include "harness/canonical.h"
#include "harness/cli/builtins.h"
#include "harness/run/protocols.h"
#include "harness/run/runner.h"
#include "harness/spec/json_reader.h"
#include "harness/spec/spec.h"
#include "harness/store/results_schema.h"
#include "methods/heads.h"
#include "methods/pretrain_config.h"
#include "methods/pretrainer.h"
#include "reports/comparison.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {

// ---- A method: "siamese", two views of a frame pulled together (1 - cosine), Adam at a constant rate ----
struct SiameseConfig {
  methods::PretrainCommon common;
  static SiameseConfig parse(JsonObject& o) {
    SiameseConfig c;
    c.common = methods::read_pretrain_common(o, methods::PretrainCommon{});
    o.finish();
    return c;
  }
  nlohmann::json to_json() const {
    nlohmann::json j;
    methods::write_pretrain_common(j, common);
    return j;
  }
};

class SiamesePretrainer : public methods::Pretrainer {
 public:
  SiamesePretrainer(const SiameseConfig& c, torch::Device device, std::uint64_t seed) : c_(c) {
    torch::manual_seed(seed);
    net_ = methods::Encoder(ResNetSpec::by_name(c.common.backbone), 64, 32);
    net_->to(device);
    opt_ = std::make_unique<torch::optim::Adam>(methods::trainable(*net_), torch::optim::AdamOptions(c.common.lr));
  }
  const methods::PretrainCommon& common() const override { return c_.common; }
  torch::nn::Module& state() override { return *net_; }
  ResNet backbone() override { return net_->backbone; }
  torch::optim::Optimizer& optimizer() override { return *opt_; }
  double lr_for_epoch(int) const override { return c_.common.lr; }
  methods::PairMode pair_mode() const override { return methods::PairMode::Pair; }
  methods::StepLosses loss(const methods::PairBatch& b, bool) override {
    namespace F = torch::nn::functional;
    const auto z1 = F::normalize(net_->forward(b.x1), F::NormalizeFuncOptions().dim(1));
    const auto z2 = F::normalize(net_->forward(b.x2), F::NormalizeFuncOptions().dim(1));
    methods::StepLosses out;
    out.total = (1 - (z1 * z2).sum(1)).mean();
    out.parts[results::metric::kContrastive] = out.total.detach();
    return out;
  }

 private:
  SiameseConfig c_;
  methods::Encoder net_{nullptr};
  std::unique_ptr<torch::optim::Adam> opt_;
};

MethodInfo siamese_method() {
  MethodInfo m;
  m.name = "siamese";
  m.summary = "two views of a frame pulled together (test plug-in)";
  m.resolve = [](const nlohmann::json& user, const std::string& origin, const std::string& path) {
    JsonObject o(user, origin, path);
    return SiameseConfig::parse(o).to_json();
  };
  m.make_pretrainer = [](const methods::PretrainerArgs& a) -> std::unique_ptr<methods::Pretrainer> {
    JsonObject o(a.config, "resolved config", "siamese");
    return std::make_unique<SiamesePretrainer>(SiameseConfig::parse(o), a.device, a.init_seed);
  };
  return m;
}

// ---- A protocol: "head-only", a new head on a frozen backbone in training mode, epochs of Adam ----------
ProtocolInfo head_only_protocol() {
  DownstreamConfig d;
  d.epochs = 2;
  ProtocolInfo p = downstream_protocol(Stage::Finetune, "a new head on a frozen backbone (test plug-in)", d);
  p.name = "head-only";
  p.trains = TrainedPart::Head;
  p.paper_figures = {{"siamese", "(a figure the plug-in's paper reports)"}};
  return p;
}

// ---- A data kind: "stripes", generated clips whose class is the stripes' orientation ------------------
DatasetInfo stripes_kind() {
  DatasetInfo d;
  d.name = "stripes";
  d.summary = "generated clips of stripes; class = orientation (test plug-in)";
  d.resolve = [](const nlohmann::json& user, const std::string& origin, const std::string& path) {
    JsonObject o(user, origin, path);
    const int clips = o.optional<int>("clips_per_class", 4);
    const int stored = datasets::read_stored_size(o, 32);
    o.finish();
    return nlohmann::json{{"clips_per_class", clips}, {"stored_size", stored}};
  };
  d.discover = [](const nlohmann::json& c) {
    datasets::Discovery out;
    for (const std::string cls : {"covid", "pneumonia", "regular"})
      for (int i = 0; i < c.at("clips_per_class").get<int>(); ++i) {
        datasets::ClipSource clip;
        clip.clip_id = fmt::format("stripes/{}_{}", cls, i);
        clip.label = cls;
        clip.group = clip.clip_id;
        clip.kind = datasets::ClipKind::Generated;
        clip.content_id = sha256_hex(fmt::format("stripes|{}|{}|{}", cls, i, c.at("stored_size").get<int>()));
        out.clips.push_back(clip);
      }
    return out;
  };
  d.sampling = [](const nlohmann::json&) { return datasets::SamplingRule{}; };
  d.generate = [](const datasets::ClipSource& clip, const nlohmann::json&, int size) {
    datasets::FrameBlock b;
    b.frames = 3;
    b.height = b.width = size;
    b.source_frames = 3;
    b.source_index = {0, 1, 2};
    const int dir = clip.label == "covid" ? 0 : clip.label == "pneumonia" ? 1 : 2;
    const int phase = static_cast<int>(clip.content_id[0]) % 7;
    for (int f = 0; f < 3; ++f)
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          const int t = dir == 0 ? x : dir == 1 ? y : x + y;
          const auto v = static_cast<std::uint8_t>(((t + phase + f) / 4) % 2 ? 200 : 40);
          for (int ch = 0; ch < 3; ++ch) b.pixels.push_back(v);
        }
    return b;
  };
  d.synthetic = true;
  d.table_name = "stripes (a test plug-in's generated data)";
  return d;
}

}  // namespace

TEST_CASE("a method, a protocol and a data kind defined in one file run end to end and are reported",
          "[protocol][slow]") {
  Registries registries;
  cli::register_builtins(registries);
  registries.methods.add(siamese_method());
  registries.protocols.add(head_only_protocol());
  registries.datasets.add(stripes_kind());

  const auto doc = nlohmann::json::parse(R"({
    "schema_version": 1, "name": "plugins", "version": 1,
    "dataset": {"name": "stripes", "config": {"clips_per_class": 4, "stored_size": 64}},
    "pretrain_data": {"name": "stripes", "label": "stripes-pre", "config": {"clips_per_class": 5, "stored_size": 64}},
    "folds": {"k": 2, "seed": 0}, "seeds": [0],
    "protocols": [{"name": "head-only", "config": {"input_size": 64, "batch_size": 8}}],
    "methods": [{"name": "siamese", "label": "twins", "config": {"epochs": 2, "batch_size": 4, "input_size": 64}},
                "random"],
    "threads": 1
  })");
  const ExperimentSpec spec = parse_spec(doc, "plugins.json", registries);
  TempDir dir;
  RunnerOptions o;
  o.db = (dir / "p.db").string();
  o.cache_dir = (dir / "cache").string();
  o.work_dir = (dir / "work").string();
  std::string log;
  o.log = [&log](const std::string& line) { log += line + "\n"; };
  const auto summary = run_experiment(spec, registries, o);
  INFO(log);
  CHECK(summary.failed == 0);
  CHECK(summary.executed == 1 + 2 * 2);  // one pretraining, two methods x two folds

  auto store = Store::open(o.db, Store::Access::ReadOnly);
  const auto table = reports::build_comparison(store, "plugins", registries);
  REQUIRE(table.rows.size() == 2);
  CHECK(table.synthetic);
  const auto& siamese = table.rows[0];
  CHECK(siamese.label == "twins");
  CHECK(siamese.name == "siamese");
  CHECK(siamese.protocol == "head-only");
  CHECK(siamese.runs_done == 2);
  CHECK(siamese.paper == "(a figure the plug-in's paper reports)");
  CHECK(siamese.curves.count("pretrain held-out loss") == 1);  // its pretraining was recorded
  CHECK(table.rows[1].vs_baseline.has_value() == false);       // random is the baseline itself
  CHECK(siamese.vs_baseline.has_value());                      // siamese against random-init, same frames
  const auto md = reports::to_markdown(table);
  CHECK_THAT(md, Contains("stripes (a test plug-in's generated data)") && Contains("| twins | head-only |") &&
                     Contains("| twins | 2 |"));
  // The log names each run by its label (two rows may share a method: uscl and uscl-nolabels).
  CHECK_THAT(log, Contains("pretrain twins seed 0 | epoch 2/2 |"));
  // What trained: the head only. The backbone of a random-init run is its initialisation, so its
  // training loss moves only through the head; the run's metrics are there for every epoch.
  for (const auto& r : store.runs("plugins"))
    if (r.stage != Stage::Pretrain) CHECK(store.metrics(r.id).size() >= 2 * 5);
}
