#include "datasets/folds.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "datasets/rng.h"
#include "harness/canonical.h"
#include "harness/errors.h"

namespace usbench::datasets {

namespace fs = std::filesystem;

std::map<std::string, int> stratified_group_kfold(const std::vector<ClipRecord>& clips, int k, std::int64_t seed) {
  if (k < 2) throw UsageError("folds: k must be at least 2");
  struct Group {
    std::string key;
    std::vector<const ClipRecord*> clips;
    std::string label;
  };
  std::map<std::string, Group> groups;
  for (const auto& c : clips) {
    auto& g = groups[c.group];
    g.key = c.group;
    g.clips.push_back(&c);
  }
  if (static_cast<int>(groups.size()) < k)
    throw UsageError("folds: " + std::to_string(k) + " folds need at least " + std::to_string(k) +
                     " groups, the data set has " + std::to_string(groups.size()));
  std::map<std::string, std::vector<Group*>> strata;
  for (auto& [key, g] : groups) {
    std::map<std::string, int> votes;
    for (const auto* c : g.clips) ++votes[c->label];
    g.label = std::max_element(votes.begin(), votes.end(), [](const auto& a, const auto& b) {
                return a.second < b.second;
              })->first;
    strata[g.label].push_back(&g);
  }
  std::vector<long> total(static_cast<std::size_t>(k), 0);
  std::map<std::string, int> fold_of;
  for (auto& [label, members] : strata) {
    // A stream per stratum, so adding a class does not reshuffle the others.
    Rng rng(static_cast<std::uint64_t>(seed) * 0x9E3779B97F4A7C15ull ^ std::hash<std::string>{}(label));
    rng.shuffle(members);
    std::stable_sort(members.begin(), members.end(),
                     [](const Group* a, const Group* b) { return a->clips.size() > b->clips.size(); });
    std::vector<long> in_stratum(static_cast<std::size_t>(k), 0);
    for (const Group* g : members) {
      int best = 0;
      for (int f = 1; f < k; ++f) {
        const auto uf = static_cast<std::size_t>(f), ub = static_cast<std::size_t>(best);
        if (in_stratum[uf] < in_stratum[ub] || (in_stratum[uf] == in_stratum[ub] && total[uf] < total[ub])) best = f;
      }
      in_stratum[static_cast<std::size_t>(best)] += static_cast<long>(g->clips.size());
      total[static_cast<std::size_t>(best)] += static_cast<long>(g->clips.size());
      for (const auto* c : g->clips) fold_of[c->clip_id] = best;
    }
  }
  return fold_of;
}

namespace {
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

ImportedSplit import_cross_val(const std::string& path, const std::vector<ClipRecord>& clips) {
  std::ifstream in(path);
  if (!in) throw UsageError(path + ": cannot open split file (missing or unreadable)");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw UsageError(path + ": not valid JSON: " + e.what());
  }
  if (!doc.is_object() || doc.empty()) throw UsageError(path + ": expected an object of folds {\"0\": {...}, ...}");
  std::map<std::string, std::string> by_name, by_stem;  // lower-case file name / stem -> clip_id
  for (const auto& c : clips) {
    const fs::path p(c.clip_id);
    by_name[lower(p.filename().string())] = c.clip_id;
    by_stem[lower(p.stem().string())] = c.clip_id;
  }
  ImportedSplit out;
  out.k = static_cast<int>(doc.size());
  for (int f = 0; f < out.k; ++f) {
    const std::string key = std::to_string(f);
    if (!doc.contains(key) || !doc[key].is_object() || !doc[key].contains("test"))
      throw UsageError(path + ": fold '" + key + "' missing or without a \"test\" list");
    const auto& test = doc[key]["test"];
    if (!test.is_array() || test.empty() || !test[0].is_array())
      throw UsageError(path + ": fold '" + key + "'.test must be [[file names], [labels]]");
    for (const auto& name_json : test[0]) {
      const std::string name = name_json.get<std::string>();
      std::string clip_id;
      if (auto it = by_name.find(lower(name)); it != by_name.end())
        clip_id = it->second;
      else if (auto st = by_stem.find(lower(fs::path(name).stem().string())); st != by_stem.end())
        clip_id = st->second;
      if (clip_id.empty()) {
        out.unmatched_names.push_back(name);
        continue;
      }
      auto [pos, fresh] = out.fold_of.emplace(clip_id, f);
      if (!fresh && pos->second != f)
        throw UsageError(path + ": '" + name + "' is in the test part of folds " + std::to_string(pos->second) +
                         " and " + key);
    }
  }
  for (const auto& c : clips)
    if (!out.fold_of.count(c.clip_id)) out.unassigned.push_back(c.clip_id);
  return out;
}

std::string assignment_hash(const std::map<std::string, int>& fold_of) { return content_hash(nlohmann::json(fold_of)); }

}  // namespace usbench::datasets
