#include "harness/store/results_schema.h"
#include "reports/runs_view.h"

#include <algorithm>

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

std::string headline_metric(const RunRecord& r, const std::vector<MetricRow>& metrics) {
  const MetricRow* selected = nullptr;
  const MetricRow* last_test = nullptr;
  const MetricRow* last_knn = nullptr;
  const MetricRow* best_heldout = nullptr;
  for (const auto& m : metrics) {
    if (m.split == results::split::kSelection && m.name == results::selection::kBestVal) selected = &m;
    if (m.split == results::split::kTest && m.name == results::metric::kAccuracy &&
        (!last_test || m.epoch >= last_test->epoch))
      last_test = &m;
    if (m.split == results::split::kHeldout && m.name == results::metric::kKnnAccuracy &&
        (!last_knn || m.epoch >= last_knn->epoch))
      last_knn = &m;
    if (m.split == results::split::kHeldout && m.name == results::metric::kContrastive &&
        (!best_heldout || m.value < best_heldout->value))
      best_heldout = &m;
  }
  if (r.stage == Stage::Pretrain) {
    if (!best_heldout) return "-";
    return fmt::format("held-out {:.3f} (best){}", best_heldout->value,
                       last_knn ? fmt::format(", kNN {:.3f}", last_knn->value) : "");
  }
  if (selected)  // the selection rows record the chosen epoch; its test accuracy is the headline
    for (const auto& m : metrics)
      if (m.split == results::split::kTest && m.name == results::metric::kAccuracy &&
          m.epoch == static_cast<int>(selected->value))
        return fmt::format("test {:.1f}% (val-selected, epoch {})", 100 * m.value, m.epoch);
  if (last_test) return fmt::format("test {:.1f}% @ epoch {}", 100 * last_test->value, last_test->epoch);
  return "-";
}

std::string run_duration(const RunRecord& r, std::int64_t now) {
  if (!r.started_ms) return "-";
  const std::int64_t end = r.finished_ms ? *r.finished_ms : (r.status == RunStatus::Running ? now : *r.started_ms);
  const std::int64_t s = std::max<std::int64_t>(0, (end - *r.started_ms) / 1000);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, static_cast<int>(s % 3600 / 60));
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, static_cast<int>(s % 60));
  return fmt::format("{}s", s);
}

std::string runs_table(const std::vector<RunRecord>& runs, const std::map<std::string, std::string>& headline,
                       std::int64_t now) {
  if (runs.empty()) return "no runs recorded\n";
  constexpr const char* kRow = "{:<12}  {:<16} {:<12} {:<14} {:<8} {:>4} {:>4}  {:<14} {:<16}  {:>7}  {}\n";
  std::string out = fmt::format(kRow, "run", "experiment", "method", "protocol", "stage", "fold", "seed", "status",
                                "started (UTC)", "time", "headline");
  for (const auto& r : runs) {
    const auto h = headline.find(r.id);
    out += fmt::format(kRow, r.id.substr(0, 12), r.experiment, r.method, r.protocol.empty() ? "-" : r.protocol,
                       to_string(r.stage), fold_text(r), r.seed, effective_status(r, now, kStaleAfterMs),
                       r.started_ms ? iso_utc(*r.started_ms).substr(0, 16) : "-", run_duration(r, now),
                       h == headline.end() ? "-" : h->second);
  }
  return out;
}

nlohmann::json run_json(const RunRecord& r, const std::map<std::string, std::int64_t>& seeds,
                        const std::vector<MetricRow>& metrics, std::int64_t now) {
  nlohmann::json j = {
      {"id", r.id},
      {"experiment", r.experiment},
      {"method", r.method},
      {"protocol", r.protocol},
      {"stage", to_string(r.stage)},
      {"fold", r.fold ? nlohmann::json(*r.fold) : nlohmann::json(nullptr)},
      {"seed", r.seed},
      {"status", effective_status(r, now, kStaleAfterMs)},
      {"recorded_status", to_string(r.status)},
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
  out += fmt::format("stage       {}\nfold        {}\nseed        {}\n", to_string(r.stage), fold_text(r), r.seed);
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
    for (const auto& m : metrics)
      out += fmt::format("{:>6}  {:<8} {:<24} {:>14.6g}\n", m.epoch, m.split, m.name, m.value);
  }
  return out;
}

}  // namespace usbench::reports
