// usbench ingest and usbench splits.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "datasets/clips.h"
#include "datasets/folds.h"
#include "datasets/frame_cache.h"
#include "datasets/ingest.h"
#include "harness/cli/commands.h"
#include "harness/errors.h"
#include "harness/spec/spec.h"
#include "harness/store/store.h"

namespace usbench::cli {

namespace fs = std::filesystem;

// The frame cache lives beside the store unless USBENCH_CACHE or --cache says otherwise.
std::string default_cache_dir(const std::string& db) {
  if (const char* env = std::getenv("USBENCH_CACHE"); env && *env) return env;
  const fs::path parent = fs::path(db).parent_path();
  return (parent.empty() ? fs::path("usbench-cache") : parent / "usbench-cache").string();
}

namespace {

struct IngestArgs {
  std::string kind, src, labels, name, db = "usbench.db", cache, probe, key_column, label_column, group_regex;
  std::vector<std::string> sets;
  bool skip_bad = false;
  int threads = 0;
};

void print_ingest(const DatasetInfo& kind, const datasets::IngestReport& r, double seconds) {
  const auto& d = r.dataset;
  long long frames = 0;
  for (const auto& [label, c] : r.per_class) frames += c.frames;
  fmt::print("ingested '{}' ({}{}): {} clips in {} groups, {} frames  [{} decoded, {} from cache]  {:.2f} s\n", d.name,
             d.kind, kind.generate ? ", generated data" : ", from " + d.source, d.clips.size(), r.groups, frames,
             r.decoded, r.cache_hits, seconds);
  fmt::print("  {:<14} {:>6} {:>8}\n", "class", "clips", "frames");
  for (const auto& [label, c] : r.per_class)
    fmt::print("  {:<14} {:>6} {:>8}\n", label.empty() ? "(unlabelled)" : label, c.clips, c.frames);
  if (!r.skipped.empty()) {
    fmt::print("  left out ({}):\n", r.skipped.size());
    for (const auto& s : r.skipped) fmt::print("    {}: {}\n", s.path, s.reason);
  }
  if (!r.unlabelled.empty()) {
    fmt::print("  labelled {} of {} clips; no row in the label file for ({}):\n", d.clips.size() - r.unlabelled.size(),
               d.clips.size(), r.unlabelled.size());
    for (std::size_t i = 0; i < r.unlabelled.size() && i < 20; ++i) fmt::print("    {}\n", r.unlabelled[i]);
    if (r.unlabelled.size() > 20) fmt::print("    ... and {} more\n", r.unlabelled.size() - 20);
  }
  if (!r.rebuilt.empty()) {
    fmt::print("  cache entries rebuilt from their source clips ({}):\n", r.rebuilt.size());
    for (const auto& s : r.rebuilt) fmt::print("    {}: {}\n", s.path, s.reason);
  }
  if (!r.bad.empty()) {
    fmt::print("  bad clips skipped ({}):\n", r.bad.size());
    for (const auto& s : r.bad) fmt::print("    {}: {}\n", s.path, s.reason);
  }
  fmt::print("  manifest sha256 {}\n", d.manifest_hash);
}

}  // namespace

void add_ingest_command(CLI::App& app, const Registries& registries) {
  auto a = std::make_shared<IngestArgs>();
  auto* cmd = app.add_subcommand("ingest", "Decode clips once into the frame cache and record their manifest");
  cmd->add_option("--dataset", a->kind, "Data set kind")->required()->check(CLI::IsMember(registries.datasets.names()));
  cmd->add_option("--src", a->src,
                  "Source folder (pocus: the folder holding pocus_videos/; videos: a folder of clips)");
  cmd->add_option("--labels", a->labels, "videos: CSV with labels");
  cmd->add_option("--key-column", a->key_column, "videos: CSV column matched against each clip's group key");
  cmd->add_option("--label-column", a->label_column, "videos: CSV column holding the label");
  cmd->add_option("--group-regex", a->group_regex,
                  "videos: regex on the file name; capture group 1 = group (e.g. patient)");
  cmd->add_option("--probe", a->probe, "pocus: convex (default), linear or both");
  cmd->add_option("--set", a->sets, "Any other data set config field: key=value (e.g. stored_size=64)");
  cmd->add_option("--name", a->name, "Name in the store (default: the kind)");
  cmd->add_option("--db", a->db, "Store file")->capture_default_str();
  cmd->add_option("--cache", a->cache,
                  "Frame cache folder (default: usbench-cache beside the store, or $USBENCH_CACHE)");
  cmd->add_option("--threads", a->threads, "Decode threads (0 = one per core)");
  cmd->add_flag("--skip-bad", a->skip_bad, "Leave bad clips out (listed) instead of failing");
  cmd->callback([a, &registries] {
    nlohmann::json cfg = nlohmann::json::object();
    if (!a->src.empty()) cfg["src"] = a->src;
    if (!a->labels.empty()) cfg["labels_csv"] = a->labels;
    if (!a->key_column.empty()) cfg["key_column"] = a->key_column;
    if (!a->label_column.empty()) cfg["label_column"] = a->label_column;
    if (!a->group_regex.empty()) cfg["group_regex"] = a->group_regex;
    if (!a->probe.empty()) cfg["probe"] = a->probe;
    for (const auto& s : a->sets) apply_override(cfg, s);
    const nlohmann::json resolved = registries.datasets.get(a->kind).resolve(cfg, "command line", "ingest");
    const std::string name = a->name.empty() ? a->kind : a->name;
    // An existing --db is checked before the (long) decode, and so is the folder a new one will be created
    // in (a read-only place fails now, by name); a new store is created only on success.
    if (fs::exists(a->db)) Store::verify(a->db);
    Store::check_writable(a->db);
    datasets::FrameCache cache(a->cache.empty() ? default_cache_dir(a->db) : a->cache);
    datasets::IngestOptions opt;
    opt.name = name;
    opt.skip_bad = a->skip_bad;
    opt.threads = a->threads;
    opt.progress = [](int done, int total) {
      if (done % 10 == 0 || done == total) std::cerr << fmt::format("\r  decoding {}/{}", done, total) << std::flush;
      if (done == total) std::cerr << "\n";
    };
    const auto t0 = std::chrono::steady_clock::now();
    const DatasetInfo& kind = registries.datasets.get(a->kind);
    const auto report = datasets::ingest(kind, resolved, cache, opt);
    auto store = Store::open(a->db, Store::Access::Create);
    const auto change = store.put_dataset(report.dataset);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_ingest(kind, report, secs);
    if (!change.previous_manifest.empty())
      fmt::print("  {}\n", change.describe(report.dataset.name, report.dataset.manifest_hash));
  });
}

namespace {
struct SplitArgs {
  std::string dataset, db = "usbench.db", from_json;
  int folds = 5;
  std::int64_t seed = 0;
  bool json = false;
};

void print_split(const DatasetRecord& d, const SplitRecord& s) {
  std::set<std::string> labels;
  for (const auto& c : d.clips) labels.insert(c.label);
  std::map<std::pair<int, std::string>, std::pair<int, long>> cell;  // (fold, label) -> (clips, frames)
  for (const auto& c : d.clips) {
    auto it = s.fold_of.find(c.clip_id);
    if (it == s.fold_of.end()) continue;
    auto& v = cell[{it->second, c.label}];
    ++v.first;
    v.second += c.n_frames;
  }
  fmt::print("split '{}' of '{}': {} folds, {} ({}), assignment sha256 {}\n", s.name, d.name, s.k,
             s.seed ? fmt::format("seed {}", *s.seed) : std::string("imported"), s.source,
             s.assignment_hash.substr(0, 16));
  std::string head = fmt::format("  {:<5}", "fold");
  std::vector<std::size_t> width;
  for (const auto& l : labels) {
    const std::string title = (l.empty() ? "(unlabelled)" : l) + " clips/frames";
    width.push_back(title.size());
    head += fmt::format("  {:>{}}", title, title.size());
  }
  fmt::print("{} {:>14}\n", head, "total");
  for (int f = 0; f < s.k; ++f) {
    std::string row = fmt::format("  {:<5}", f);
    int tc = 0;
    long tf = 0;
    std::size_t col = 0;
    for (const auto& l : labels) {
      const auto v = cell[{f, l}];
      row += fmt::format("  {:>{}}", fmt::format("{} / {}", v.first, v.second), width[col++]);
      tc += v.first;
      tf += v.second;
    }
    fmt::print("{} {:>14}\n", row, fmt::format("{} / {}", tc, tf));
  }
}
}  // namespace

void add_splits_command(CLI::App& app) {
  auto a = std::make_shared<SplitArgs>();
  auto* cmd = app.add_subcommand("splits", "Make (or import) the stratified, clip-grouped k-fold split of a data set");
  cmd->add_option("--dataset", a->dataset, "Name of an ingested data set")->required();
  cmd->add_option("--folds", a->folds, "Number of folds")->capture_default_str()->check(CLI::Range(2, 100));
  cmd->add_option("--seed", a->seed, "Split seed")->capture_default_str();
  cmd->add_option("--from-json", a->from_json, "Import an upstream split (e.g. pocovid_cross_val.json)");
  cmd->add_option("--db", a->db, "Store file")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the full clip-to-fold assignment as JSON");
  cmd->callback([a] {
    auto store = Store::open(a->db, Store::Access::Existing);
    const auto d = store.dataset(a->dataset);
    if (!d) {
      std::string known;
      for (const auto& n : store.dataset_names()) known += (known.empty() ? "" : ", ") + n;
      throw UsageError("no data set '" + a->dataset + "' in " + a->db +
                       " (ingested: " + (known.empty() ? "none" : known) + "); run usbench ingest first");
    }
    SplitRecord s;
    s.dataset = d->name;
    if (!a->from_json.empty()) {
      const auto imported = datasets::import_cross_val(a->from_json, d->clips);
      s.name = "upstream:" + fs::path(a->from_json).filename().string();
      s.k = imported.k;
      s.source = a->from_json;
      s.fold_of = imported.fold_of;
      if (!imported.unmatched_names.empty() || !imported.unassigned.empty())
        std::cerr << fmt::format("note: {} name(s) in {} match no clip; {} clip(s) of '{}' are in no fold of it\n",
                                 imported.unmatched_names.size(), a->from_json, imported.unassigned.size(), d->name);
    } else {
      s.name = fmt::format("k{}-seed{}", a->folds, a->seed);
      s.k = a->folds;
      s.seed = a->seed;
      s.source = "stratified-group-kfold";
      s.fold_of = datasets::stratified_group_kfold(d->clips, a->folds, a->seed);
    }
    s.assignment_hash = datasets::assignment_hash(s.fold_of);
    store.put_split(s);
    if (a->json) {
      nlohmann::json out = {{"dataset", d->name},
                            {"split", s.name},
                            {"k", s.k},
                            {"assignment_hash", s.assignment_hash},
                            {"manifest_hash", d->manifest_hash},
                            {"folds", s.fold_of}};
      if (s.seed) out["seed"] = *s.seed;
      std::cout << out.dump(2) << "\n";
    } else {
      print_split(*d, s);
    }
  });
}

}  // namespace usbench::cli
