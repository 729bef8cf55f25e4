#include "harness/store/results_schema.h"
#include "reports/comparison.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "harness/canonical.h"
#include "harness/errors.h"
#include "reports/figures.h"

namespace usbench::reports {

namespace {
const char* kSelections[] = {results::selection::kBestTest, results::selection::kLast, results::selection::kBestVal};
const std::map<std::string, std::string> kSelectionTitle = {
    {results::selection::kBestTest, "best epoch on test (optimistic, as in the paper)"},
    {results::selection::kLast, "last epoch"},
    {results::selection::kBestVal, "best epoch on validation"}};

std::string pct(double x) { return fmt::format("{:.2f}%", 100 * x); }

const nlohmann::json* find_label(const nlohmann::json& list, const std::string& label) {
  for (const auto& x : list)
    if (x.at("label") == label) return &x;
  return nullptr;
}

// The method config a run is matched on. A weights file (imagenet, checkpoint) is recorded in the run as
// `weights` (the absolute path it was read from) and `weights_sha256`; the spec names it another way or
// not at all (the hub cache, --weights), so neither takes part in matching.
nlohmann::json matchable(nlohmann::json config) {
  if (config.is_object()) {
    config.erase("weights");
    config.erase("weights_sha256");
  }
  return config;
}

// The done downstream runs that belong to the experiment's current spec: method and protocol at the
// spec's versions with its resolved configs, on its data config; of several for the same cell
// (method, protocol, seed, fold) the latest finished. `superseded` counts the rest.
CurrentRuns current_runs(const nlohmann::json& spec, const std::vector<RunRecord>& runs) {
  std::map<std::tuple<std::string, std::string, std::int64_t, int>, RunRecord> cells;
  int superseded = 0;
  for (const auto& r : runs) {
    if (r.stage == Stage::Pretrain || r.status != RunStatus::Done || !r.fold) continue;
    const auto* m = find_label(spec.at("methods"), r.method);
    const auto* p = find_label(spec.at("protocols"), r.protocol);
    const auto cfg = nlohmann::json::parse(r.config_json);
    const bool current =
        m && p && r.method_version == m->value("version", 0) && r.protocol_version == p->value("version", 0) &&
        matchable(cfg.value("method", nlohmann::json())) == matchable(m->value("config", nlohmann::json())) &&
        cfg.value("protocol", nlohmann::json()) == p->value("config", nlohmann::json()) &&
        cfg.value("data", nlohmann::json()) == spec.at("dataset").value("config", nlohmann::json());
    if (!current) {
      ++superseded;
      continue;
    }
    const auto key = std::make_tuple(r.method, r.protocol, r.seed, *r.fold);
    auto it = cells.find(key);
    if (it == cells.end()) {
      cells.emplace(key, r);
      continue;
    }
    ++superseded;
    if (r.finished_ms.value_or(0) > it->second.finished_ms.value_or(0)) it->second = r;
  }
  CurrentRuns out;
  out.superseded = superseded;
  for (const auto& r : runs)  // in store order
    for (const auto& [key, kept] : cells)
      if (kept.id == r.id) out.runs.push_back(r);
  return out;
}
// Of each (method, seed) of the spec, the latest done pretraining run at the method's version and config: the
// pretraining runs the counted downstream runs start from.
std::vector<RunRecord> current_pretraining_runs(const nlohmann::json& spec, const std::vector<RunRecord>& runs) {
  std::map<std::pair<std::string, std::int64_t>, RunRecord> latest;
  const auto seeds = spec.at("seeds").get<std::vector<std::int64_t>>();
  for (const auto& r : runs) {
    if (r.stage != Stage::Pretrain || r.status != RunStatus::Done ||
        std::find(seeds.begin(), seeds.end(), r.seed) == seeds.end())
      continue;
    const auto* m = find_label(spec.at("methods"), r.method);
    if (!m || r.method_version != m->value("version", 0) ||
        nlohmann::json::parse(r.config_json).value("method", nlohmann::json()) != m->value("config", nlohmann::json()))
      continue;
    auto [it, fresh] = latest.emplace(std::make_pair(r.method, r.seed), r);
    if (!fresh && r.finished_ms.value_or(0) > it->second.finished_ms.value_or(0)) it->second = r;
  }
  std::vector<RunRecord> out;
  for (const auto& r : runs)  // in store order
    if (const auto it = latest.find({r.method, r.seed}); it != latest.end() && it->second.id == r.id) out.push_back(r);
  return out;
}
// Fills row.curves from the per-epoch metrics of the row's counted runs and of its pretraining run.
void add_curves(Store& store, const nlohmann::json& spec, const std::vector<RunRecord>& runs,
                const std::vector<RunRecord>& all_runs, MethodRow& row) {
  const std::map<std::pair<std::string, std::string>, std::string> downstream = {
      {{results::split::kTrain, results::metric::kLoss}, "train loss"},
      {{results::split::kVal, results::metric::kAccuracy}, "val accuracy"},
      {{results::split::kTest, results::metric::kAccuracy}, "test accuracy"}};
  std::map<std::string, std::map<int, std::vector<double>>> values;  // curve -> epoch -> one value per run
  std::optional<std::int64_t> seed;
  for (const auto& r : runs) {
    if (r.method != row.label || r.protocol != row.protocol) continue;
    if (!seed) seed = r.seed;
    for (const auto& m : store.metrics(r.id)) {
      auto it = downstream.find({m.split, m.name});
      if (m.epoch < 0 || it == downstream.end()) continue;
      values[it->second][m.epoch].push_back(m.value);
    }
  }
  // The pretraining run: this method at the spec's version and resolved config, latest finished.
  const auto* m = find_label(spec.at("methods"), row.label);
  std::optional<RunRecord> pre;
  for (const auto& r : all_runs) {
    if (r.stage != Stage::Pretrain || r.method != row.label || r.status != RunStatus::Done || !m ||
        (seed && r.seed != *seed))
      continue;
    if (r.method_version != m->value("version", 0)) continue;
    if (nlohmann::json::parse(r.config_json).value("method", nlohmann::json()) != m->value("config", nlohmann::json()))
      continue;
    if (!pre || r.finished_ms.value_or(0) > pre->finished_ms.value_or(0)) pre = r;
  }
  if (pre)
    for (const auto& mr : store.metrics(pre->id)) {
      if (mr.epoch < 0) continue;
      const std::string name =
          mr.split == results::split::kTrain && mr.name == results::metric::kLoss            ? "pretrain loss"
          : mr.split == results::split::kHeldout && mr.name == results::metric::kContrastive ? "pretrain held-out loss"
          : mr.split == results::split::kHeldout && mr.name == results::metric::kKnnAccuracy ? "pretrain kNN accuracy"
                                                                                             : "";
      if (name.empty()) continue;
      values[name][mr.epoch].push_back(mr.value);
    }
  for (const auto& [name, by_epoch] : values) {
    const bool spread = name.rfind("pretrain", 0) != 0;  // downstream curves: over folds; a pretraining is one run
    auto& curve = row.curves[name];
    std::vector<double>* sd = spread ? &row.curves[name + " sd"] : nullptr;
    for (const auto& [epoch, v] : by_epoch) {
      const auto e = static_cast<std::size_t>(epoch);
      if (e >= curve.size()) curve.resize(e + 1, std::nan(""));
      curve[e] = mean(v);
      if (!sd) continue;
      if (e >= sd->size()) sd->resize(e + 1, std::nan(""));
      (*sd)[e] = v.size() >= 2 ? sample_std(v) : std::nan("");
    }
  }
}

// The paired tests of `mine` against `reference` over the frames both predicted (nullopt when none). A clip
// is one unit over every seed and frame: its balance is the sum, over seeds and frames, of (this right -
// reference right); the frame McNemar is reported only with one seed (frames_valid).
std::optional<Paired> paired_test(const std::map<FrameKey, bool>& mine, const std::map<FrameKey, bool>& reference) {
  Paired out;
  long paired = 0;
  std::set<std::int64_t> seeds;
  std::map<std::pair<int, std::string>, long> clip_balance;  // (fold, clip) -> this right - reference right
  for (const auto& [key, right] : mine) {
    const auto it = reference.find(key);
    if (it == reference.end()) continue;
    ++paired;
    seeds.insert(std::get<0>(key));
    out.b += it->second && !right;
    out.c += !it->second && right;
    clip_balance[{std::get<1>(key), std::get<2>(key)}] += (right ? 1 : 0) - (it->second ? 1 : 0);
  }
  if (paired == 0) return std::nullopt;
  out.frames_valid = seeds.size() == 1;
  out.p = out.frames_valid ? mcnemar_exact_p(out.b, out.c) : std::nan("");
  for (const auto& [clip, balance] : clip_balance) {
    out.clip_wins += balance > 0;
    out.clip_losses += balance < 0;
  }
  out.clip_p = mcnemar_exact_p(out.clip_wins, out.clip_losses);
  return out;
}
}  // namespace

CurrentRuns current_downstream_runs(const nlohmann::json& spec, const std::vector<RunRecord>& runs) {
  return current_runs(spec, runs);
}

ComparisonTable build_comparison(Store& store, const std::string& experiment, const Registries& registries) {
  const auto spec_text = store.experiment_spec(experiment);
  if (!spec_text) {
    std::set<std::string> names;
    for (const auto& r : store.runs()) names.insert(r.experiment);
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw UsageError("no experiment '" + experiment + "' in " + store.path() +
                     " (recorded: " + (known.empty() ? "none" : known) + ")");
  }
  const auto spec = nlohmann::json::parse(*spec_text);
  ComparisonTable t;
  t.experiment = experiment;
  t.version = spec.at("version");
  t.dataset = spec.at("dataset").at("label");
  t.dataset_kind = spec.at("dataset").at("name");
  // What the data kind's entry says of its data; a kind this binary does not know is named as recorded.
  if (registries.datasets.contains(t.dataset_kind)) {
    const auto& kind = registries.datasets.get(t.dataset_kind);
    t.synthetic = kind.synthetic;
    t.dataset_title = kind.table_name;
  }
  t.folds = spec.at("folds").at("k");
  t.seeds = spec.at("seeds").get<std::vector<std::int64_t>>();
  t.differences = declared_differences(spec, registries);
  const auto notes = store.method_notes(experiment);
  const auto all_runs = store.runs(experiment);
  const auto current = current_runs(spec, all_runs);
  const auto& runs = current.runs;
  t.superseded = current.superseded;
  const auto ds = store.dataset(t.dataset);
  std::set<std::string> labels;
  if (ds)
    for (const auto& c : ds->clips)
      if (!c.label.empty()) labels.insert(c.label);
  const std::vector<std::string> pocus = {"covid", "pneumonia", "regular"};
  t.classes = std::all_of(labels.begin(), labels.end(),
                          [&](const std::string& l) { return std::count(pocus.begin(), pocus.end(), l) > 0; })
                  ? pocus
                  : std::vector<std::string>(labels.begin(), labels.end());
  const int k = static_cast<int>(t.classes.size());

  // Per row (aligned with t.rows) and selection: whether each test prediction is right, keyed by
  // (seed, fold, clip, frame), for the paired tests (the headline selection) and the claims.
  std::vector<std::map<std::string, FrameOutcomes>> right_of_row;

  for (const auto& p : spec.at("protocols")) {
    for (const auto& m : spec.at("methods")) {
      MethodRow row;
      row.label = m.at("label");
      row.name = m.at("name");
      row.protocol = p.at("label");
      if (registries.protocols.contains(p.at("name"))) {
        const auto& figures = registries.protocols.get(p.at("name")).paper_figures;
        if (const auto it = figures.find(row.name); it != figures.end()) row.paper = it->second;
      }
      row.runs_expected = t.folds * static_cast<int>(t.seeds.size());
      if (registries.protocols.contains(p.at("name")))
        row.headline = registries.protocols.get(p.at("name")).headline_selection;
      for (const char* s : kSelections) {
        row.by[s].confusion = Confusion(k);
      }
      // selection -> seed -> per clip (correct, total) and the seed's confusion
      std::map<std::string, std::map<std::int64_t, std::vector<std::pair<long, long>>>> clip_counts;
      std::map<std::string, std::map<std::int64_t, Confusion>> seed_confusion;
      std::map<std::string, FrameOutcomes> right;
      for (const auto& r : runs) {
        if (r.method != row.label || r.protocol != row.protocol || r.stage == Stage::Pretrain ||
            r.status != RunStatus::Done)
          continue;
        ++row.runs_done;
        std::map<std::string, int> sel;
        for (const auto& mr : store.metrics(r.id))
          if (mr.epoch == -1 && mr.split == results::split::kSelection) sel[mr.name] = static_cast<int>(mr.value);
        t.runs.push_back({{"run", r.id},
                          {"method", r.method},
                          {"protocol", r.protocol},
                          {"fold", *r.fold},
                          {"seed", r.seed},
                          {"config_hash", r.config_hash},
                          {"manifest_hash", r.manifest_hash},
                          {"fold_hash", r.fold_hash},
                          {"seeds", store.seeds(r.id)},
                          {"environment", nlohmann::json::parse(r.env_json)},
                          {"selected_epochs", sel}});
        if (const auto rc = nlohmann::json::parse(r.config_json).value("method", nlohmann::json());
            rc.is_object() && rc.contains("weights_sha256"))
          t.runs.back()["weights"] = {{"path", rc.at("weights")}, {"sha256", rc.at("weights_sha256")}};
        for (const char* s : kSelections) {
          if (!sel.count(s)) continue;
          Confusion c(k);
          std::map<std::string, std::pair<long, long>> per_clip;
          for (const auto& pr : store.predictions(r.id, sel[s])) {
            c.add(pr.label, pr.predicted);
            auto& pc = per_clip[pr.clip_id];
            pc.first += pr.label == pr.predicted;
            ++pc.second;
            right[s][std::make_tuple(r.seed, *r.fold, pr.clip_id, pr.frame_index)] = pr.label == pr.predicted;
          }
          auto& selection = row.by[s];
          selection.reported = true;
          selection.confusion.merge(c);
          selection.per_fold.push_back(c.accuracy());
          selection.cells.emplace_back(r.seed, *r.fold);
          auto& sc = seed_confusion[s].emplace(r.seed, Confusion(k)).first->second;
          sc.merge(c);
          for (const auto& [clip, counts] : per_clip) clip_counts[s][r.seed].push_back(counts);
        }
      }
      add_curves(store, spec, runs, all_runs, row);
      for (const char* s : kSelections) {
        auto& sel = row.by[s];
        sel.pooled = sel.confusion.accuracy();
        sel.mean = mean(sel.per_fold);
        sel.std = sample_std(sel.per_fold);
        std::vector<std::vector<std::pair<long, long>>> per_seed_clips;
        for (const auto seed : t.seeds) {
          if (!seed_confusion[s].count(seed)) continue;
          sel.per_seed.push_back(seed_confusion[s].at(seed).accuracy());
          per_seed_clips.push_back(clip_counts[s][seed]);
        }
        sel.seed_mean = mean(sel.per_seed);
        sel.seed_sd = sample_std(sel.per_seed);
        sel.ci = bootstrap_accuracy_two_level(per_seed_clips, 1000, 20211001);
      }
      if (notes.count(row.label))
        row.note = notes.at(row.label);
      else if (row.runs_done == 0)
        row.note = "not run yet";
      else if (row.runs_done < row.runs_expected)
        row.note = fmt::format("{} of {} runs done", row.runs_done, row.runs_expected);
      if (t.test_frames == 0 && row.runs_done == row.runs_expected)
        t.test_frames = row.by[results::selection::kLast].confusion.total() / static_cast<long>(t.seeds.size());
      t.rows.push_back(row);
      right_of_row.push_back(std::move(right));
    }
  }
  // Each row against the first row of the same protocol whose method has the reference role (the paper's
  // method, the no-pretraining baseline), as the methods' registry entries say.
  auto role_of = [&](const MethodRow& r) {
    return registries.methods.contains(r.name) ? registries.methods.get(r.name).paired_role : PairedRole::None;
  };
  for (const PairedRole role : {PairedRole::PaperMethod, PairedRole::Baseline}) {
    for (std::size_t i = 0; i < t.rows.size(); ++i) {
      auto& row = t.rows[i];
      if (role_of(row) == role || row.runs_done == 0) continue;
      std::size_t ref = t.rows.size();
      for (std::size_t j = 0; j < t.rows.size() && ref == t.rows.size(); ++j)
        if (role_of(t.rows[j]) == role && t.rows[j].protocol == row.protocol && t.rows[j].runs_done > 0) ref = j;
      if (ref == t.rows.size()) continue;
      const auto paired = paired_test(right_of_row[i][row.headline], right_of_row[ref][row.headline]);
      if (paired) (role == PairedRole::PaperMethod ? row.vs_paper_method : row.vs_baseline) = paired;
    }
  }
  // The pre-registered claims, on the frames of the rows they name.
  const auto claims = claims_of_spec(spec);
  if (!claims.empty()) t.claims_hash = content_hash(spec.at("claims"));
  std::int64_t first_start = 0;
  for (const auto& r : all_runs)
    if (r.started_ms && (first_start == 0 || *r.started_ms < first_start)) first_start = *r.started_ms;
  if (first_start > 0) t.first_run_started = iso_utc(first_start);
  {
    auto counted = current_pretraining_runs(spec, all_runs);
    counted.insert(counted.end(), runs.begin(), runs.end());
    t.environments = environment_groups(counted);
  }
  for (const auto& c : claims) {
    std::string pending;
    const FrameOutcomes none;
    const FrameOutcomes* frames[2] = {&none, &none};
    for (std::size_t i = 0; i < t.rows.size(); ++i) {
      const auto& row = t.rows[i];
      const int side = row.label == c.a ? 0 : row.label == c.b ? 1 : -1;
      if (side < 0 || row.protocol != c.protocol) continue;
      if (const auto it = right_of_row[i].find(c.selection); it != right_of_row[i].end()) frames[side] = &it->second;
      if (row.runs_done < row.runs_expected)
        pending += fmt::format(
            "{}{}: {}", pending.empty() ? "" : "; ", row.label,
            !row.note.empty() ? row.note : fmt::format("{} of {} runs done", row.runs_done, row.runs_expected));
    }
    t.claims.push_back(test_claim(c, *frames[0], *frames[1], pending));
  }
  return t;
}

namespace {
bool has_results(const MethodRow& r) { return r.runs_done > 0; }
std::string cell(const MethodRow& r, const std::string& s) {
  return has_results(r) && r.by.at(s).reported ? pct(r.by.at(s).pooled) : "—";
}
// "82.10 ± 1.31% (3 seeds)" or "84.00% (1 seed)": the selection's pooled accuracy per seed, mean and SD.
std::string seeds_cell(const Selection& s) {
  if (s.per_seed.size() < 2) return fmt::format("{:.2f}% (1 seed)", 100 * s.seed_mean);
  return fmt::format("{:.2f} ± {:.2f}% ({} seeds)", 100 * s.seed_mean, 100 * s.seed_sd, s.per_seed.size());
}
const std::map<std::string, std::string> kSelectionShort = {
    {"best_test", "best on test"}, {"last", "last epoch"}, {"best_val", "best on validation"}};
// "p (reference right only / this right only) · clips p (reference better / this better)".
std::string paired_cell(const std::optional<Paired>& p) {
  if (!p) return "—";
  if (!p->frames_valid) return fmt::format("clips {:.3g} ({}/{})", p->clip_p, p->clip_losses, p->clip_wins);
  return fmt::format("{:.3g} ({}/{}) · clips {:.3g} ({}/{})", p->p, p->b, p->c, p->clip_p, p->clip_losses,
                     p->clip_wins);
}
nlohmann::json paired_json(const Paired& p) {
  return {{"b", p.b},
          {"c", p.c},
          {"p", p.frames_valid ? nlohmann::json(p.p) : nlohmann::json(nullptr)},
          {"clip_losses", p.clip_losses},
          {"clip_wins", p.clip_wins},
          {"clip_p", p.clip_p}};
}
std::string header_line(const ComparisonTable& t) {
  std::string seeds;
  for (auto s : t.seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s);
  return fmt::format("experiment {} v{} · data: {} ({}) · {} folds · seeds {} · {} test frames pooled per seed",
                     t.experiment, t.version, t.dataset, !t.dataset_title.empty() ? t.dataset_title : t.dataset_kind,
                     t.folds, seeds, t.test_frames) +
         (t.superseded > 0
              ? fmt::format(" · {} superseded runs (earlier method/protocol versions or configs) not counted",
                            t.superseded)
              : "");
}
}  // namespace

std::string to_markdown(const ComparisonTable& t) {
  std::string out = "### " + header_line(t) + "\n\n";
  out += claims_markdown(t.claims, t.claims_hash, t.first_run_started);
  out +=
      "Pooled accuracy over the test folds (confusion matrices summed), by epoch selection, each from the protocol "
      "that reports it (— where it does not): the best epoch on the test fold is the paper's choice and optimistic; "
      "the "
      "last epoch selects nothing; the best epoch on a validation part carved from the training folds is the honest "
      "selection. The statistics use each protocol's headline selection: its pooled accuracy per seed (mean ± SD over "
      "seeds: retraining), the mean ± SD over folds, a 95% interval from a two-level bootstrap (seeds, then clips "
      "within "
      "each seed's test folds), macro-F1, and paired tests against USCL and random-init on the same test frames: with "
      "one seed an exact McNemar p over frames (frames only the reference gets right / only this method gets right), "
      "and always an exact sign test over clips, a clip's predictions over every seed and frame counted as one unit "
      "(clips where the reference has more right / where this method has). Frames of a clip are not independent: read "
      "the clip test as the conservative one.\n\n";
  out +=
      "| method | protocol | best epoch on test (optimistic, as the paper) | last epoch | best epoch on validation | "
      "headline | over seeds | mean ± SD over folds | 95% CI (seeds, clips) | macro-F1 | vs USCL (paired) | "
      "vs random-init (paired) | paper (POCUS late-2020, best epoch on test) |\n";
  out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : t.rows) {
    if (!has_results(r)) {
      out += fmt::format("| {} | {} | {} | | | | | | | | | | {} |\n", r.label, r.protocol, r.note,
                         r.paper.empty() ? "—" : r.paper);
      continue;
    }
    const auto& v = r.by.at(r.headline);
    out += fmt::format(
        "| {}{} | {} | {} | {} | {} | {} | {} | {:.2f} ± {:.2f}% | [{:.2f}, {:.2f}]% | {:.3f} | {} | {} | {} |\n",
        r.label, r.note.empty() ? "" : " (" + r.note + ")", r.protocol, cell(r, results::selection::kBestTest),
        cell(r, results::selection::kLast), cell(r, results::selection::kBestVal), kSelectionShort.at(r.headline),
        seeds_cell(v), 100 * v.mean, 100 * v.std, 100 * v.ci.lo, 100 * v.ci.hi, v.confusion.macro_f1(),
        paired_cell(r.vs_paper_method), paired_cell(r.vs_baseline), r.paper.empty() ? "—" : r.paper);
  }
  out += "\nPer class, headline selection (precision / recall / F1):\n\n| method | protocol |";
  for (const auto& c : t.classes) out += " " + c + " |";
  out += "\n|---|---|";
  for (std::size_t i = 0; i < t.classes.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& r : t.rows) {
    if (!has_results(r)) continue;
    out += "| " + r.label + " | " + r.protocol + " |";
    const auto& c = r.by.at(r.headline).confusion;
    for (int k = 0; k < static_cast<int>(t.classes.size()); ++k)
      out += fmt::format(" {:.3f} / {:.3f} / {:.3f} |", c.precision(k), c.recall(k), c.f1(k));
    out += "\n";
  }
  // Pretraining, from the recorded curves: did the contrastive task get learnt at all?
  std::string pre;
  std::set<std::string> seen;
  for (const auto& r : t.rows) {
    if (!r.curves.count("pretrain held-out loss") || !seen.insert(r.label).second) continue;
    const auto& h = r.curves.at("pretrain held-out loss");
    std::size_t best = 0, first = h.size(), last = 0;
    for (std::size_t e = 0; e < h.size(); ++e) {
      if (std::isnan(h[e])) continue;
      if (first == h.size()) first = best = e;
      if (h[e] < h[best]) best = e;
      last = e;
    }
    if (first == h.size()) continue;
    // The kNN monitor (held-out clips against training clips, pretraining labels), first and last epoch.
    std::string knn = "—";
    if (r.curves.count("pretrain kNN accuracy")) {
      const auto& k = r.curves.at("pretrain kNN accuracy");
      if (first < k.size() && last < k.size() && !std::isnan(k[first]) && !std::isnan(k[last]))
        knn = fmt::format("{:.3f} → {:.3f}", k[first], k[last]);
    }
    pre += fmt::format("| {} | {} | {:.4f} | {:.4f} (epoch {}) | {:.4f} | {:+.1f}% | {} |\n", r.label, last + 1,
                       h[first], h[best], best, h[last], 100 * (h[best] - h[first]) / h[first], knn);
  }
  if (!pre.empty())
    out +=
        "\nPretraining, held-out contrastive loss (each method's own loss and chance level, so compare within a row; "
        "the backbone of the best epoch is the one fine-tuned; the kNN monitor is the accuracy of held-out clips' "
        "features against training clips' on the pretraining set's own labels, first → last epoch, never used to "
        "select):\n\n"
        "| method | epochs | first epoch | best | last epoch | best vs first | kNN monitor "
        "|\n|---|---|---|---|---|---|---|\n" +
        pre;
  // Which weights file every file-initialised row (imagenet, checkpoint) used, from its runs' records.
  std::map<std::tuple<std::string, std::string, std::string>, int> files;  // (method, path, sha256) -> runs
  for (const auto& run : t.runs)
    if (run.contains("weights"))
      ++files[{run.at("method").get<std::string>(), run.at("weights").at("path").get<std::string>(),
               run.at("weights").at("sha256").get<std::string>()}];
  if (!files.empty()) {
    out +=
        "\nWeights files the file-initialised rows were fine-tuned from (as read by each run; the SHA-256 is part of "
        "the run's identity):\n\n| method | file | SHA-256 | runs |\n|---|---|---|---|\n";
    for (const auto& [key, n] : files)
      out += fmt::format("| {} | {} | {} | {} |\n", std::get<0>(key), std::get<1>(key), std::get<2>(key), n);
  }
  out += differences_markdown(t.differences);
  out += environments_markdown(t.environments);
  return out;
}

std::string to_csv(const ComparisonTable& t) {
  std::string out =
      "experiment,version,dataset,synthetic,method,protocol,note,runs_done,runs_expected,selection,pooled_accuracy,"
      "mean_accuracy,std_accuracy,ci_low,ci_high,macro_f1,mcnemar_p_vs_uscl,clip_sign_p_vs_uscl,"
      "mcnemar_p_vs_random,clip_sign_p_vs_random,paper\n";
  for (const auto& r : t.rows)
    for (const char* s : kSelections) {
      const auto& sel = r.by.at(s);
      const bool ok = has_results(r);
      const bool val = s == r.headline;  // the paired tests are of the headline selection
      auto p = [&](const std::optional<Paired>& x, bool clips) {
        return x && val ? fmt::format("{:.6g}", clips ? x->clip_p : x->p) : std::string();
      };
      out += fmt::format("{},{},{},{},{},{},\"{}\",{},{},{},{},{},{},{},{},{},{},{},{},{},\"{}\"\n", t.experiment,
                         t.version, t.dataset, t.synthetic ? 1 : 0, r.label, r.protocol, r.note, r.runs_done,
                         r.runs_expected, s, ok ? fmt::format("{:.6f}", sel.pooled) : "",
                         ok ? fmt::format("{:.6f}", sel.mean) : "", ok ? fmt::format("{:.6f}", sel.std) : "",
                         ok ? fmt::format("{:.6f}", sel.ci.lo) : "", ok ? fmt::format("{:.6f}", sel.ci.hi) : "",
                         ok ? fmt::format("{:.6f}", sel.confusion.macro_f1()) : "", p(r.vs_paper_method, false),
                         p(r.vs_paper_method, true), p(r.vs_baseline, false), p(r.vs_baseline, true), r.paper);
    }
  return out;
}

std::string to_latex(const ComparisonTable& t) {
  auto esc = [](std::string s) {
    std::string o;
    for (char c : s) {
      if (c == '%' || c == '_' || c == '&' || c == '#') o += '\\';
      o += c;
    }
    return o;
  };
  std::string out = "% " + header_line(t) + "\n\\begin{tabular}{llrrrr}\n\\toprule\n";
  out += "Method & Protocol & Best on test$^\\dagger$ & Last epoch & Best on validation & Paper \\\\\n\\midrule\n";
  for (const auto& r : t.rows) {
    if (!has_results(r)) {
      out += fmt::format("{} & {} & \\multicolumn{{3}}{{c}}{{{}}} & {} \\\\\n", esc(r.label), esc(r.protocol),
                         esc(r.note), esc(r.paper.empty() ? "--" : r.paper));
      continue;
    }
    out += fmt::format("{} & {} & {} & {} & {} & {} \\\\\n", esc(r.label), esc(r.protocol),
                       esc(cell(r, results::selection::kBestTest)), esc(cell(r, results::selection::kLast)),
                       esc(cell(r, results::selection::kBestVal)), esc(r.paper.empty() ? "--" : r.paper));
  }
  out += "\\bottomrule\n\\end{tabular}\n% $^\\dagger$ selected on the test fold, as in the paper's code: optimistic.\n";
  if (t.synthetic) out += "% Data: synthetic clips, not ultrasound.\n";
  return out;
}

nlohmann::json to_json(const ComparisonTable& t) {
  nlohmann::json j = {{"experiment", t.experiment},
                      {"version", t.version},
                      {"superseded_runs", t.superseded},
                      {"dataset", t.dataset},
                      {"dataset_kind", t.dataset_kind},
                      {"synthetic", t.synthetic},
                      {"folds", t.folds},
                      {"seeds", t.seeds},
                      {"classes", t.classes},
                      {"test_frames", t.test_frames},
                      {"runs", t.runs}};
  j["differences"] = to_json(t.differences);
  j["environments"] = nlohmann::json::array();
  for (const auto& g : t.environments) j["environments"].push_back(to_json(g));
  if (!t.claims.empty()) {
    j["claims"] = {
        {"sha256", t.claims_hash}, {"first_run_started", t.first_run_started}, {"tests", nlohmann::json::array()}};
    for (const auto& c : t.claims) j["claims"]["tests"].push_back(to_json(c));
  }
  j["methods"] = nlohmann::json::array();
  for (const auto& r : t.rows) {
    nlohmann::json m = {{"method", r.label},
                        {"name", r.name},
                        {"protocol", r.protocol},
                        {"note", r.note},
                        {"runs_done", r.runs_done},
                        {"runs_expected", r.runs_expected},
                        {"paper", r.paper.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.paper)}};
    if (r.vs_paper_method) m["paired_vs_uscl"] = paired_json(*r.vs_paper_method);
    if (r.vs_baseline) m["paired_vs_random"] = paired_json(*r.vs_baseline);
    for (const auto& [name, curve] : r.curves) {
      auto& c = m["curves"][name] = nlohmann::json::array();
      for (double v : curve) c.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
    }
    m["headline_selection"] = r.headline;
    if (has_results(r))
      for (const char* s : kSelections) {
        const auto& sel = r.by.at(s);
        if (!sel.reported) continue;
        nlohmann::json per_class = nlohmann::json::array();
        for (int c = 0; c < sel.confusion.k; ++c)
          per_class.push_back({{"class", t.classes[static_cast<std::size_t>(c)]},
                               {"precision", sel.confusion.precision(c)},
                               {"recall", sel.confusion.recall(c)},
                               {"f1", sel.confusion.f1(c)}});
        m["selections"][s] = {{"title", kSelectionTitle.at(s)},
                              {"pooled_accuracy", sel.pooled},
                              {"per_fold", sel.per_fold},
                              {"per_seed", sel.per_seed},
                              {"seed_mean", sel.seed_mean},
                              {"seed_sd", sel.seed_sd},
                              {"mean", sel.mean},
                              {"std", sel.std},
                              {"ci95", {sel.ci.lo, sel.ci.hi}},
                              {"macro_f1", sel.confusion.macro_f1()},
                              {"per_class", per_class},
                              {"confusion", sel.confusion.counts}};
      }
    j["methods"].push_back(m);
  }
  return j;
}

namespace {
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}

}  // namespace

std::string to_html(const ComparisonTable& t) {
  std::string out = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>usbench: " + esc(t.experiment) +
                    "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                    "td,th{border:1px solid #999;padding:4px 8px;text-align:right}th{background:#eee}"
                    "td.l{text-align:left}.bar{fill:#4a7}.warn{color:#a40}</style></head><body>\n";
  out += "<h1>usbench comparison</h1>\n<p>" + esc(header_line(t)) + "</p>\n";
  if (t.synthetic) out += "<p class=\"warn\">Synthetic data: these numbers do not describe ultrasound.</p>\n";
  out +=
      "<table><tr><th>method</th><th>protocol</th><th>best epoch on test (optimistic, as in the paper)</th><th>last "
      "epoch</th>"
      "<th>best epoch on validation</th><th>95% CI (clips)</th><th>paper</th></tr>\n";
  for (const auto& r : t.rows) {
    if (!has_results(r)) {
      out += "<tr><td class=\"l\">" + esc(r.label) + "</td><td class=\"l\">" + esc(r.protocol) +
             "</td><td colspan=\"4\" class=\"l\">" + esc(r.note) + "</td><td>" + esc(r.paper.empty() ? "—" : r.paper) +
             "</td></tr>\n";
      continue;
    }
    const auto& v = r.by.at(r.headline);
    out += fmt::format(
        "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>[{:.2f}, "
        "{:.2f}]%</td><td>{}</td></tr>\n",
        esc(r.label), esc(r.protocol), cell(r, results::selection::kBestTest), cell(r, results::selection::kLast),
        cell(r, results::selection::kBestVal), 100 * v.ci.lo, 100 * v.ci.hi, esc(r.paper.empty() ? "—" : r.paper));
  }
  out += "</table>\n";
  if (!t.claims.empty()) {
    out += "<h2>Pre-registered claims</h2>\n<ul>\n";
    for (const auto& c : t.claims)
      out += "<li>" +
             (c.difference.frames == 0
                  ? esc(fmt::format("{}: {}: {} ({})", c.claim.id, claim_statement(c.claim), c.verdict, c.pending))
                  : esc(fmt::format("{}: {}: a - b = {:+.2f} points, 95% CI [{:+.2f}, {:+.2f}], one-sided p = {:.4f}, "
                                    "alpha {:g}: {}{}",
                                    c.claim.id, claim_statement(c.claim), 100 * c.difference.estimate,
                                    100 * c.difference.ci.lo, 100 * c.difference.ci.hi, c.difference.p, c.claim.alpha,
                                    c.verdict, c.pending.empty() ? "" : " (" + c.pending + ")"))) +
             "</li>\n";
    out += "</ul>\n";
  }
  out += "<h2>Differences from the reference</h2>\n<ul>\n";
  for (const auto& d : t.differences.settings)
    out += "<li>" +
           esc(fmt::format("{} {}: {} = {} (reference {}, {})", d.kind, d.component, d.key,
                           d.ours.is_null() ? "(not a setting)" : d.ours.dump(), d.reference.dump(), d.source)) +
           "</li>\n";
  for (const auto& d : t.differences.structural) out += "<li>" + esc(d.component + ": " + d.text) + "</li>\n";
  if (!t.environments.empty()) {
    out += "</ul>\n<h2>Where the runs were made</h2>\n<ul>\n";
    for (const auto& g : t.environments)
      out += "<li>" +
             esc(fmt::format("{} · {} · {} · LibTorch {} · {} threads · usbench {}: {} pretraining and {} downstream "
                             "runs, first started {}, last finished {}",
                             g.host, g.device, g.kernels, g.torch, g.threads, g.commit, g.pretraining_runs,
                             g.downstream_runs, g.first_started_ms > 0 ? iso_utc(g.first_started_ms) : "—",
                             g.last_finished_ms > 0 ? iso_utc(g.last_finished_ms) : "—")) +
             "</li>\n";
  }
  out +=
      "</ul>\n<h2>Figures</h2>\n<p>Each figure is also written as a standalone SVG by <code>usbench report --format "
      "svg --out DIR</code>.</p>\n";
  for (const auto& f : make_figures(t)) {
    const auto body = f.svg.find("<svg");  // inline: without the XML declaration
    out += "<figure>" + f.svg.substr(body) + "<figcaption>" + esc(f.file_name + ": " + f.caption) +
           "</figcaption></figure>\n";
  }
  out += "</body></html>\n";
  return out;
}

}  // namespace usbench::reports
