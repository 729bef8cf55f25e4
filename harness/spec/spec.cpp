#include "harness/spec/spec.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "harness/errors.h"
#include "harness/input_file.h"
#include "harness/spec/json_reader.h"

namespace usbench {

namespace {

bool has_control_character(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

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
    if (has_control_character(ref.label) || ref.label.find('|') != std::string::npos)
      obj.fail("label", "must not contain control characters (a NUL byte, a newline) or '|'");
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

std::vector<Claim> parse_claims(const nlohmann::json& value, const std::string& origin, const ExperimentSpec& spec,
                                const Registries& registries) {
  if (!value.is_array()) throw SpecError("claims", origin + ": claims: expected an array of claims");
  std::vector<Claim> out;
  std::set<std::string> ids;
  auto labels = [](const std::vector<ComponentRef>& list) {
    std::string s;
    for (const auto& c : list) s += (s.empty() ? "" : ", ") + c.label;
    return s;
  };
  for (std::size_t i = 0; i < value.size(); ++i) {
    JsonObject obj(value[i], origin, "claims." + std::to_string(i));
    Claim c;
    c.id = obj.optional<std::string>("id", "C" + std::to_string(i + 1));
    if (c.id.empty() || has_control_character(c.id) || c.id.find('|') != std::string::npos)
      obj.fail("id", "must be a non-empty name without control characters or '|'");
    if (!ids.insert(c.id).second) obj.fail("id", "'" + c.id + "' names two claims");
    c.a = obj.required<std::string>("a");
    c.b = obj.required<std::string>("b");
    c.protocol = obj.required<std::string>("protocol");
    const auto has = [](const std::vector<ComponentRef>& list, const std::string& label) {
      return std::any_of(list.begin(), list.end(), [&](const ComponentRef& r) { return r.label == label; });
    };
    for (const auto& [key, label] : {std::pair<std::string, std::string>{"a", c.a}, {"b", c.b}})
      if (!has(spec.methods, label))
        obj.fail(key, "'" + label + "' is not a method label of this spec (its methods: " + labels(spec.methods) + ")");
    if (c.a == c.b) obj.fail("b", "compares method '" + c.a + "' with itself");
    const auto protocol = std::find_if(spec.protocols.begin(), spec.protocols.end(),
                                       [&](const ComponentRef& p) { return p.label == c.protocol; });
    if (protocol == spec.protocols.end())
      obj.fail("protocol", "'" + c.protocol + "' is not a protocol label of this spec (its protocols: " +
                               labels(spec.protocols) + ")");
    const auto& info = registries.protocols.get(protocol->name);
    c.selection = obj.optional<std::string>("selection", info.headline_selection);
    if (std::find(info.selections.begin(), info.selections.end(), c.selection) == info.selections.end()) {
      std::string allowed;
      for (const auto& s : info.selections) allowed += (allowed.empty() ? "" : ", ") + s;
      obj.fail("selection",
               "protocol '" + c.protocol + "' reports the selections " + allowed + ", not '" + c.selection + "'");
    }
    c.test = obj.optional<std::string>("test", "paired");
    if (std::find(std::begin(kClaimTests), std::end(kClaimTests), c.test) == std::end(kClaimTests))
      obj.fail("test",
               "must be \"paired\" (a paired two-level bootstrap over seeds and clips), got \"" + c.test + "\"");
    c.alpha = obj.optional<double>("alpha", 0.05);
    if (!(c.alpha > 0 && c.alpha <= 0.5)) obj.fail("alpha", "must be in (0, 0.5] (a one-sided level)");
    obj.finish();
    out.push_back(c);
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
  if (spec.name.empty() || spec.name.find_first_of(" /\\") != std::string::npos || has_control_character(spec.name))
    root.fail("name", "must be a non-empty name without spaces, slashes or control characters");
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
  for (const auto& m : spec.methods) any_pretraining = any_pretraining || registries.methods.get(m.name).pretrains();
  if (any_pretraining && !spec.pretrain_data)
    root.fail("pretrain_data", "is required: methods that pretrain (e.g. uscl, simclr, moco) need a clip set");

  if (const auto* claims = root.raw("claims")) spec.claims = parse_claims(*claims, origin, spec, registries);

  spec.device = root.optional<std::string>("device", "cpu");
  if (spec.device != "cpu" && spec.device != "cuda")
    root.fail("device", "must be \"cpu\" or \"cuda\", got \"" + spec.device + "\"");
  spec.threads = root.optional<int>("threads", 0);
  if (spec.threads < 0 || spec.threads > 256) root.fail("threads", "must be between 0 (one per logical CPU) and 256");
  spec.cpu_isa = root.optional<std::string>("cpu_isa", "avx2");
  if (spec.cpu_isa != "avx2" && spec.cpu_isa != "native")
    root.fail("cpu_isa",
              "must be \"avx2\" (the same bits on every x86-64 machine with AVX2) or \"native\" (the "
              "libraries choose by processor), got \"" +
                  spec.cpu_isa + "\"");
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
  if (!spec.claims.empty()) j["claims"] = claims_json(spec.claims);
  j["device"] = spec.device;
  j["threads"] = spec.threads;
  j["cpu_isa"] = spec.cpu_isa;
  j["precision"] = spec.precision;
  return j;
}

nlohmann::json claims_json(const std::vector<Claim>& claims) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : claims)
    out.push_back({{"id", c.id},
                   {"a", c.a},
                   {"b", c.b},
                   {"protocol", c.protocol},
                   {"selection", c.selection},
                   {"test", c.test},
                   {"alpha", c.alpha}});
  return out;
}

void apply_override(nlohmann::json& doc, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw UsageError("--set '" + assignment + "': expected key.path=value");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  // Nesting is bounded as in spec files (a deep value would overflow the stack when destroyed).
  const nlohmann::json::parser_callback_t bounded = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxJsonDepth)
      throw UsageError("--set '" + path + "=...': value nested more than " + std::to_string(kMaxJsonDepth) +
                       " levels deep");
    return true;
  };
  nlohmann::json value = nlohmann::json::parse(text, bounded, /*allow_exceptions=*/false);
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
          if (el.is_object() &&
              (el.value("label", "") == seg || (!el.contains("label") && el.value("name", "") == seg))) {
            next = &el;
            break;
          }
        }
        if (!next)
          throw UsageError("--set '" + assignment + "': no element labelled '" + seg + "' in '" + walked + "'");
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
  // A spec is a few kilobytes; 16 MB bounds a mistaken path (a video, /dev/zero is refused as a device).
  const std::string text = read_input_file(path, "experiment spec", 16u << 20);
  nlohmann::json doc = parse_json_document(text, path);
  for (const auto& o : overrides) apply_override(doc, o);
  return parse_spec(doc, path, registries);
}

}  // namespace usbench
