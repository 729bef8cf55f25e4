#include "reports/runs_view.h"

#include <fmt/format.h>

namespace usbench::reports {

namespace {
std::string fold_text(const RunRecord& r) { return r.fold ? std::to_string(*r.fold) : "-"; }
std::string when(const std::optional<std::int64_t>& ms) { return ms ? iso_utc(*ms) : "-"; }
nlohmann::json parsed_or_text(const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  return j.is_discarded() ? nlohmann::json(s) : j;
}
}  // namespace

std::string runs_table(const std::vector<RunRecord>& runs, std::int64_t now) {
  if (runs.empty()) return "no runs recorded\n";
  std::string out = fmt::format("{:<12}  {:<16} {:<12} {:<14} {:<8} {:>4} {:>6}  {:<11} {}\n", "run", "experiment",
                                "method", "protocol", "stage", "fold", "seed", "status", "finished");
  for (const auto& r : runs) {
    out += fmt::format("{:<12}  {:<16} {:<12} {:<14} {:<8} {:>4} {:>6}  {:<11} {}\n", r.id.substr(0, 12),
                       r.experiment, r.method, r.protocol.empty() ? "-" : r.protocol, r.stage, fold_text(r), r.seed,
                       effective_status(r, now, kStaleAfterMs), when(r.finished_ms));
  }
  return out;
}

nlohmann::json run_json(const RunRecord& r, const std::map<std::string, std::int64_t>& seeds,
                        const std::vector<MetricRow>& metrics, std::int64_t now) {
  nlohmann::json j = {{"id", r.id},
                      {"experiment", r.experiment},
                      {"method", r.method},
                      {"protocol", r.protocol},
                      {"stage", r.stage},
                      {"fold", r.fold ? nlohmann::json(*r.fold) : nlohmann::json(nullptr)},
                      {"seed", r.seed},
                      {"status", effective_status(r, now, kStaleAfterMs)},
                      {"recorded_status", r.status},
                      {"error", r.error},
                      {"config", parsed_or_text(r.config_json)},
                      {"config_hash", r.config_hash},
                      {"protocol_version", r.protocol_version},
                      {"method_version", r.method_version},
                      {"manifest_hash", r.manifest_hash},
                      {"fold_hash", r.fold_hash},
                      {"environment", parsed_or_text(r.env_json)},
                      {"created", iso_utc(r.created_ms)},
                      {"started", r.started_ms ? nlohmann::json(iso_utc(*r.started_ms)) : nlohmann::json(nullptr)},
                      {"finished", r.finished_ms ? nlohmann::json(iso_utc(*r.finished_ms)) : nlohmann::json(nullptr)},
                      {"heartbeat", r.heartbeat_ms ? nlohmann::json(iso_utc(*r.heartbeat_ms)) : nlohmann::json(nullptr)},
                      {"seeds", seeds}};
  j["metrics"] = nlohmann::json::array();
  for (const auto& m : metrics)
    j["metrics"].push_back({{"epoch", m.epoch}, {"split", m.split}, {"name", m.name}, {"value", m.value}});
  return j;
}

std::string run_details(const RunRecord& r, const std::map<std::string, std::int64_t>& seeds,
                        const std::vector<MetricRow>& metrics, std::int64_t now) {
  std::string out;
  out += fmt::format("run         {}\n", r.id);
  out += fmt::format("experiment  {}\nmethod      {} (v{})\n", r.experiment, r.method, r.method_version);
  if (!r.protocol.empty()) out += fmt::format("protocol    {} (v{})\n", r.protocol, r.protocol_version);
  out += fmt::format("stage       {}\nfold        {}\nseed        {}\n", r.stage, fold_text(r), r.seed);
  out += fmt::format("status      {}{}\n", effective_status(r, now, kStaleAfterMs),
                     r.error.empty() ? "" : " — " + r.error);
  out += fmt::format("config      {}\nmanifest    {}\nfolds       {}\n", r.config_hash, r.manifest_hash, r.fold_hash);
  out += fmt::format("created     {}\nstarted     {}\nfinished    {}\nheartbeat   {}\n", iso_utc(r.created_ms),
                     when(r.started_ms), when(r.finished_ms), when(r.heartbeat_ms));
  out += "seeds      ";
  for (const auto& [k, v] : seeds) out += fmt::format(" {}={}", k, v);
  out += "\n";
  out += fmt::format("environment {}\n", r.env_json);
  if (!metrics.empty()) {
    out += fmt::format("{:>6}  {:<8} {:<24} {:>14}\n", "epoch", "split", "metric", "value");
    for (const auto& m : metrics) out += fmt::format("{:>6}  {:<8} {:<24} {:>14.6g}\n", m.epoch, m.split, m.name, m.value);
  }
  return out;
}

}  // namespace usbench::reports
