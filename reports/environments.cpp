#include "reports/environments.h"

#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

namespace usbench::reports {
namespace {

// A recorded value as text; "?" where the run recorded none (stores of older releases, a damaged record).
std::string text(const nlohmann::json& env, const char* key) {
  if (!env.is_object() || !env.contains(key) || env.at(key).is_null()) return "?";
  const auto& v = env.at(key);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

EnvironmentGroup describe(const std::string& env_json) {
  auto env = nlohmann::json::parse(env_json, nullptr, /*allow_exceptions=*/false);
  if (!env.is_object()) env = nlohmann::json::object();
  EnvironmentGroup g;
  g.host = text(env, "hostname");
  g.device = text(env, "device");
  std::string detail;  // what is known of it
  if (text(env, "device_name") != "?") detail = text(env, "device_name");
  if (text(env, "logical_cpus") != "?")
    detail += (detail.empty() ? "" : ", ") + text(env, "logical_cpus") + " logical CPUs";
  if (!detail.empty()) g.device += " (" + detail + ")";
  if (env.contains("kernels") && env.at("kernels").is_object()) {
    const auto& k = env.at("kernels");
    g.kernels =
        fmt::format("{} requested: oneDNN {}, ATen {}", text(k, "requested"), text(k, "onednn"), text(k, "aten"));
  } else {
    g.kernels = "?";
  }
  g.torch = text(env, "torch_version");
  if (env.contains("cuda_version") && !env.at("cuda_version").is_null())
    g.torch += fmt::format(" (CUDA runtime {})", text(env, "cuda_version"));
  g.threads = text(env, "threads");
  const auto commit = text(env, "git_commit");
  g.commit = commit.substr(0, std::min<std::size_t>(commit.size(), 12));
  if (env.value("git_dirty", nlohmann::json()).is_boolean() && env.at("git_dirty").get<bool>())
    g.commit += " (dirty: uncommitted changes)";
  return g;
}

std::string when(std::int64_t ms) { return ms > 0 ? iso_utc(ms) : "—"; }

}  // namespace

std::vector<EnvironmentGroup> environment_groups(const std::vector<RunRecord>& runs) {
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>, EnvironmentGroup>
      groups;
  for (const auto& r : runs) {
    const auto d = describe(r.env_json);
    auto& g =
        groups.emplace(std::make_tuple(d.host, d.device, d.kernels, d.torch, d.threads, d.commit), d).first->second;
    ++(r.stage == Stage::Pretrain ? g.pretraining_runs : g.downstream_runs);
    if (r.started_ms && (g.first_started_ms == 0 || *r.started_ms < g.first_started_ms))
      g.first_started_ms = *r.started_ms;
    if (r.finished_ms) g.last_finished_ms = std::max(g.last_finished_ms, *r.finished_ms);
  }
  std::vector<EnvironmentGroup> out;
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  std::stable_sort(out.begin(), out.end(), [](const EnvironmentGroup& a, const EnvironmentGroup& b) {
    return std::make_pair(a.first_started_ms == 0, a.first_started_ms) <
           std::make_pair(b.first_started_ms == 0, b.first_started_ms);
  });
  return out;
}

std::string environments_markdown(const std::vector<EnvironmentGroup>& groups) {
  if (groups.empty()) return "";
  std::string out =
      "\nWhere the counted runs were made, from the environment each run recorded when it started (first start "
      "to last finish is a span: it includes any pause between invocations):\n\n"
      "| host | device | CPU kernels | LibTorch | threads | usbench commit | pretraining runs | downstream runs | "
      "first started (UTC) | last finished (UTC) |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& g : groups)
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", g.host, g.device, g.kernels, g.torch,
                       g.threads, g.commit, g.pretraining_runs, g.downstream_runs, when(g.first_started_ms),
                       when(g.last_finished_ms));
  return out;
}

nlohmann::json to_json(const EnvironmentGroup& g) {
  return {{"host", g.host},
          {"device", g.device},
          {"kernels", g.kernels},
          {"torch", g.torch},
          {"threads", g.threads},
          {"commit", g.commit},
          {"pretraining_runs", g.pretraining_runs},
          {"downstream_runs", g.downstream_runs},
          {"first_started", when(g.first_started_ms)},
          {"last_finished", when(g.last_finished_ms)}};
}

}  // namespace usbench::reports
