#include "harness/spec.h"

#include <fstream>
#include <set>
#include <sstream>

#include "harness/errors.h"
#include "harness/json_reader.h"

namespace usbench {

namespace {

template <class Info>
ComponentRef parse_component(const nlohmann::json& value, const std::string& origin, const std::string& path,
                             const Registry<Info>& registry) {
  ComponentRef ref;
  nlohmann::json user_config = nlohmann::json::object();
  if (value.is_string()) {
    ref.name = value.get<std::string>();
  } else {
    JsonObject obj(value, origin, path);
    ref.name = obj.required<std::string>("name");
    ref.label = obj.optional<std::string>("label", "");
    if (const auto* cfg = obj.raw("config")) user_config = *cfg;
    obj.finish();
  }
  if (ref.label.empty()) ref.label = ref.name;
  const Info* info = nullptr;
  try {
    info = &registry.get(ref.name);
  } catch (const UsageError& e) {
    throw SpecError(path + ".name", origin + ": " + path + ".name: " + e.what());
  }
  ref.version = info->version;
  ref.config = info->resolve(user_config, origin, path + ".config");
  return ref;
}

template <class Info>
std::vector<ComponentRef> parse_component_list(const nlohmann::json* value, const std::string& origin,
                                               const std::string& key, const Registry<Info>& registry) {
  if (!value) throw SpecError(key, origin + ": " + key + ": missing required list");
  if (!value->is_array() || value->empty())
    throw SpecError(key, origin + ": " + key + ": expected a non-empty array of " + registry.kind() + "s");
  std::vector<ComponentRef> out;
  std::set<std::string> labels;
  for (std::size_t i = 0; i < value->size(); ++i) {
    const std::string path = key + "." + std::to_string(i);
    out.push_back(parse_component((*value)[i], origin, path, registry));
    if (!labels.insert(out.back().label).second)
      throw SpecError(path, origin + ": " + path + ": " + registry.kind() + " label '" + out.back().label +
                                "' appears twice; give one of them a distinct \"label\"");
  }
  return out;
}

nlohmann::json component_json(const ComponentRef& c) {
  return {{"name", c.name}, {"label", c.label}, {"version", c.version}, {"config", c.config}};
}

}  // namespace

ExperimentSpec parse_spec(const nlohmann::json& doc, const std::string& origin, const Registries& registries) {
  JsonObject root(doc, origin, "");
  ExperimentSpec spec;
  spec.schema_version = root.required<int>("schema_version");
  if (spec.schema_version != kSpecSchemaVersion)
    root.fail("schema_version", "this usbench reads spec schema version " + std::to_string(kSpecSchemaVersion) +
                                    ", the file declares " + std::to_string(spec.schema_version));
  spec.name = root.required<std::string>("name");
  if (spec.name.empty() || spec.name.find_first_of(" /\\\t\n") != std::string::npos)
    root.fail("name", "must be a non-empty name without spaces or slashes");
  spec.version = root.required<int>("version");
  if (spec.version < 1) root.fail("version", "must be >= 1");
  spec.description = root.optional<std::string>("description", "");

  const auto* dataset = root.raw("dataset");
  if (!dataset) root.fail("dataset", "missing required key");
  spec.dataset = parse_component(*dataset, origin, "dataset", registries.datasets);
  if (const auto* pre = root.raw("pretrain_data"))
    spec.pretrain_data = parse_component(*pre, origin, "pretrain_data", registries.datasets);

  auto folds = root.object("folds", /*allow_missing=*/true);
  spec.folds.k = folds.optional<int>("k", 5);
  if (spec.folds.k < 2 || spec.folds.k > 100) folds.fail("k", "must be between 2 and 100");
  spec.folds.seed = folds.optional<std::int64_t>("seed", 0);
  spec.folds.from_json = folds.optional<std::string>("from_json", "");
  folds.finish();

  spec.seeds = root.optional<std::vector<std::int64_t>>("seeds", {0});
  if (spec.seeds.empty()) root.fail("seeds", "needs at least one root seed");
  std::set<std::int64_t> distinct(spec.seeds.begin(), spec.seeds.end());
  if (distinct.size() != spec.seeds.size()) root.fail("seeds", "repeats a seed");

  spec.protocols = parse_component_list(root.raw("protocols"), origin, "protocols", registries.protocols);
  spec.methods = parse_component_list(root.raw("methods"), origin, "methods", registries.methods);

  bool any_pretraining = false;
  for (const auto& m : spec.methods) any_pretraining = any_pretraining || registries.methods.get(m.name).pretrains;
  if (any_pretraining && !spec.pretrain_data)
    root.fail("pretrain_data", "is required: methods that pretrain (e.g. uscl, simclr, moco) need a clip set");

  spec.device = root.optional<std::string>("device", "cpu");
  if (spec.device != "cpu" && spec.device != "cuda") root.fail("device", "must be \"cpu\" or \"cuda\", got \"" + spec.device + "\"");
  spec.threads = root.optional<int>("threads", 0);
  if (spec.threads < 0) root.fail("threads", "must be >= 0 (0 = LibTorch default)");
  spec.precision = root.optional<std::string>("precision", "auto");
  if (spec.precision != "auto" && spec.precision != "fp32" && spec.precision != "amp")
    root.fail("precision", "must be \"auto\", \"fp32\" or \"amp\", got \"" + spec.precision + "\"");
  if (spec.precision == "amp" && spec.device != "cuda")
    root.fail("precision", "\"amp\" needs device \"cuda\" (mixed precision is a CUDA feature here; CPU runs are fp32)");
  root.finish();
  return spec;
}

nlohmann::json to_json(const ExperimentSpec& spec) {
  nlohmann::json j;
  j["schema_version"] = spec.schema_version;
  j["name"] = spec.name;
  j["version"] = spec.version;
  j["description"] = spec.description;
  j["dataset"] = component_json(spec.dataset);
  if (spec.pretrain_data) j["pretrain_data"] = component_json(*spec.pretrain_data);
  j["folds"] = {{"k", spec.folds.k}, {"seed", spec.folds.seed}, {"from_json", spec.folds.from_json}};
  j["seeds"] = spec.seeds;
  j["protocols"] = nlohmann::json::array();
  for (const auto& p : spec.protocols) j["protocols"].push_back(component_json(p));
  j["methods"] = nlohmann::json::array();
  for (const auto& m : spec.methods) j["methods"].push_back(component_json(m));
  j["device"] = spec.device;
  j["threads"] = spec.threads;
  j["precision"] = spec.precision;
  return j;
}

void apply_override(nlohmann::json& doc, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("--set '" + assignment + "': expected key.path=value");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;  // a bare word is a string

  std::vector<std::string> segments;
  std::stringstream ss(path);
  for (std::string seg; std::getline(ss, seg, '.');) {
    if (seg.empty()) throw UsageError("--set '" + assignment + "': empty segment in key path '" + path + "'");
    segments.push_back(seg);
  }
  nlohmann::json* node = &doc;
  std::string walked;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string& seg = segments[i];
    const bool last = i + 1 == segments.size();
    walked += (walked.empty() ? "" : ".") + seg;
    if (node->is_array()) {
      nlohmann::json* next = nullptr;
      if (!seg.empty() && seg.find_first_not_of("0123456789") == std::string::npos) {
        const auto idx = std::stoul(seg);
        if (idx >= node->size())
          throw UsageError("--set '" + assignment + "': index " + seg + " is out of range at '" + walked + "'");
        next = &(*node)[idx];
      } else {
        for (auto& el : *node) {
          if (el.is_string() && el.get<std::string>() == seg) el = nlohmann::json{{"name", seg}};
          if (el.is_object() && (el.value("label", "") == seg || (!el.contains("label") && el.value("name", "") == seg))) {
            next = &el;
            break;
          }
        }
        if (!next) throw UsageError("--set '" + assignment + "': no element labelled '" + seg + "' in '" + walked + "'");
      }
      if (last) *next = value;
      node = next;
      continue;
    }
    if (node->is_null()) *node = nlohmann::json::object();
    if (!node->is_object())
      throw UsageError("--set '" + assignment + "': '" + walked + "' goes inside a " + json_type_name(*node));
    if (last)
      (*node)[seg] = value;
    else
      node = &(*node)[seg];
  }
}

ExperimentSpec load_spec(const std::string& path, const std::vector<std::string>& overrides,
                         const Registries& registries) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot open experiment spec (missing or unreadable)");
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Turn the byte offset into line:column so the user can find it.
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw UsageError(path + ":" + std::to_string(line) + ":" + std::to_string(col) + ": not valid JSON: " + e.what());
  }
  for (const auto& o : overrides) apply_override(doc, o);
  return parse_spec(doc, path, registries);
}

}  // namespace usbench
