#include "reports/differences.h"

#include <cmath>

#include <fmt/format.h>

namespace usbench::reports {

namespace {

bool same_value(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return std::abs(x - y) <= 1e-9 * std::max(std::abs(x), std::abs(y));
  }
  return a == b;
}

std::string shown(const nlohmann::json& v) {
  if (v.is_null()) return "(not a setting)";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

void compare(const std::string& label, const std::string& kind, const nlohmann::json& config,
             const std::vector<ReferenceSetting>& reference, Differences& out) {
  for (const auto& r : reference) {
    ++out.settings_checked;
    const auto it = config.is_object() ? config.find(r.key) : config.end();
    const nlohmann::json ours = it == config.end() ? r.when_absent : *it;
    if (!same_value(ours, r.value)) out.settings.push_back({label, kind, r.key, ours, r.value, r.source});
  }
}

}  // namespace

Differences declared_differences(const nlohmann::json& spec, const Registries& registries) {
  Differences d;
  for (const auto& m : spec.at("methods")) {
    const std::string name = m.at("name");
    // A spec without a resolved config (hand-made) has nothing to compare; its structure still differs.
    if (!registries.methods.contains(name)) continue;
    const auto& info = registries.methods.get(name);
    if (m.contains("config")) compare(m.at("label"), "method", m.at("config"), info.reference, d);
    for (const auto& s : info.structural_differences) d.structural.push_back({m.at("label"), s});
  }
  for (const auto& p : spec.at("protocols")) {
    const std::string name = p.at("name");
    if (!registries.protocols.contains(name) || !p.contains("config")) continue;
    compare(p.at("label"), "protocol", p.at("config"), registries.protocols.get(name).reference, d);
  }
  return d;
}

std::string differences_markdown(const Differences& d) {
  std::string out = fmt::format(
      "\nDifferences from the reference (generated from the runs' resolved configs and each method's and protocol's "
      "reference settings; {} settings compared, {} differ):\n\n",
      d.settings_checked, d.settings.size());
  if (!d.settings.empty()) {
    out += "| component | setting | this experiment | reference | where the reference's value comes from |\n";
    out += "|---|---|---|---|---|\n";
    for (const auto& s : d.settings)
      out += fmt::format("| {} {} | {} | {} | {} | {} |\n", s.kind, s.component, s.key, shown(s.ours),
                         shown(s.reference), s.source);
  }
  if (!d.structural.empty()) {
    out += "\nStructural differences (no config shows them):\n\n";
    for (const auto& s : d.structural) out += fmt::format("- {}: {}\n", s.component, s.text);
  }
  return out;
}

nlohmann::json to_json(const Differences& d) {
  nlohmann::json j = {{"settings_checked", d.settings_checked},
                      {"settings", nlohmann::json::array()},
                      {"structural", nlohmann::json::array()}};
  for (const auto& s : d.settings)
    j["settings"].push_back({{"component", s.component},
                             {"kind", s.kind},
                             {"key", s.key},
                             {"ours", s.ours},
                             {"reference", s.reference},
                             {"source", s.source}});
  for (const auto& s : d.structural) j["structural"].push_back({{"component", s.component}, {"text", s.text}});
  return j;
}

}  // namespace usbench::reports
