#include "harness/run/run_plan.h"

#include "harness/canonical.h"
#include "harness/run/seeds.h"

namespace usbench {

namespace {
// A file named by its content: when a config carries `weights_sha256` (the runner adds it for a weights
// file it resolved), the digest identifies the file and its path (`weights`) is left out, so moving or
// renaming the file keeps the run id, and another file under the same path changes it.
nlohmann::json component_identity(const ComponentRef& c) {
  nlohmann::json config = c.config;
  if (config.is_object() && config.contains("weights_sha256")) config.erase("weights");
  return {{"name", c.name}, {"version", c.version}, {"config", config}};
}
}  // namespace

std::vector<PlannedRun> plan_runs(const ExperimentSpec& spec, const Registries& registries, const DataIdentity& data) {
  std::vector<PlannedRun> out;
  const bool downstream_known = !data.manifest_hash.empty() && !data.fold_hash.empty();
  const bool pretrain_known = !data.pretrain_manifest_hash.empty();
  for (const auto seed : spec.seeds) {
    for (const auto& method : spec.methods) {
      const MethodInfo& info = registries.methods.get(method.name);
      std::string pretrain_id;
      bool pretrain_id_known = true;
      if (info.pretrains()) {
        PlannedRun p;
        nlohmann::json data_id = component_identity(*spec.pretrain_data);
        data_id["manifest_hash"] = data.pretrain_manifest_hash;
        p.identity = {{"experiment", spec.name},
                      {"stage", "pretrain"},
                      {"method", component_identity(method)},
                      {"data", data_id},
                      {"seed", seed}};
        if (spec.amp()) p.identity["precision"] = "amp-float16";  // fp32 identities predate this key
        const nlohmann::json config = {{"method", method.config}, {"data", spec.pretrain_data->config}};
        p.record.experiment = spec.name;
        p.record.method = method.label;
        p.record.stage = Stage::Pretrain;
        p.record.seed = seed;
        p.record.config_json = canonical_json(config);
        p.record.config_hash = content_hash(config);
        p.record.method_version = method.version;
        p.record.manifest_hash = data.pretrain_manifest_hash;
        p.seeds = derive_seeds(seed);
        if (pretrain_known) p.record.id = content_hash(p.identity);
        pretrain_id = p.record.id;
        pretrain_id_known = pretrain_known;
        out.push_back(std::move(p));
      }
      for (const auto& protocol : spec.protocols) {
        const ProtocolInfo& pinfo = registries.protocols.get(protocol.name);
        for (int fold = 0; fold < spec.folds.k; ++fold) {
          PlannedRun r;
          nlohmann::json data_id = component_identity(spec.dataset);
          data_id["manifest_hash"] = data.manifest_hash;
          r.identity = {{"experiment", spec.name},
                        {"stage", to_string(pinfo.stage)},
                        {"method", component_identity(method)},
                        {"protocol", component_identity(protocol)},
                        {"data", data_id},
                        {"fold", fold},
                        {"folds", {{"k", spec.folds.k}, {"assignment_hash", data.fold_hash}}},
                        {"seed", seed},
                        {"pretrain_run", pretrain_id}};
          if (spec.amp()) r.identity["precision"] = "amp-float16";
          const nlohmann::json config = {
              {"method", method.config}, {"protocol", protocol.config}, {"data", spec.dataset.config}};
          r.record.experiment = spec.name;
          r.record.method = method.label;
          r.record.protocol = protocol.label;
          r.record.stage = pinfo.stage;
          r.record.fold = fold;
          r.record.seed = seed;
          r.record.config_json = canonical_json(config);
          r.record.config_hash = content_hash(config);
          r.record.protocol_version = protocol.version;
          r.record.method_version = method.version;
          r.record.manifest_hash = data.manifest_hash;
          r.record.fold_hash = data.fold_hash;
          r.seeds = derive_seeds(seed);
          r.pretrain_run_id = pretrain_id;
          if (downstream_known && pretrain_id_known) r.record.id = content_hash(r.identity);
          out.push_back(std::move(r));
        }
      }
    }
  }
  return out;
}

}  // namespace usbench
