#include "reports/comparison.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "harness/errors.h"

namespace usbench::reports {

namespace {
const char* kSelections[] = {"best_test", "last", "best_val"};
const std::map<std::string, std::string> kSelectionTitle = {
    {"best_test", "best epoch on test (optimistic, as in the paper)"},
    {"last", "last epoch"},
    {"best_val", "best epoch on validation"}};

std::string pct(double x) { return fmt::format("{:.2f}%", 100 * x); }
}  // namespace

std::string paper_figure(const std::string& method) {
  // USCL paper (MICCAI 2021), POCUS late-2020 (2,116 frames), best epoch on the test fold.
  if (method == "uscl") return "94.19%";
  if (method == "imagenet") return "about 84%";
  return "";
}

ComparisonTable build_comparison(Store& store, const std::string& experiment) {
  const auto spec_text = store.experiment_spec(experiment);
  if (!spec_text) {
    std::set<std::string> names;
    for (const auto& r : store.runs()) names.insert(r.experiment);
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw UsageError("no experiment '" + experiment + "' in " + store.path() + " (recorded: " + (known.empty() ? "none" : known) + ")");
  }
  const auto spec = nlohmann::json::parse(*spec_text);
  ComparisonTable t;
  t.experiment = experiment;
  t.version = spec.at("version");
  t.dataset = spec.at("dataset").at("label");
  t.dataset_kind = spec.at("dataset").at("name");
  t.synthetic = t.dataset_kind == "synthetic";
  t.folds = spec.at("folds").at("k");
  t.seeds = spec.at("seeds").get<std::vector<std::int64_t>>();
  const auto notes = store.method_notes(experiment);
  const auto runs = store.runs(experiment);
  const auto ds = store.dataset(t.dataset);
  std::set<std::string> labels;
  if (ds)
    for (const auto& c : ds->clips)
      if (!c.label.empty()) labels.insert(c.label);
  const std::vector<std::string> pocus = {"covid", "pneumonia", "regular"};
  t.classes = std::all_of(labels.begin(), labels.end(), [&](const std::string& l) { return std::count(pocus.begin(), pocus.end(), l) > 0; })
                  ? pocus
                  : std::vector<std::string>(labels.begin(), labels.end());
  const int k = static_cast<int>(t.classes.size());

  // Predictions of USCL's val-selected epochs, keyed by (protocol, seed, fold, clip, frame), for McNemar.
  std::map<std::tuple<std::string, std::int64_t, int, std::string, int>, bool> uscl_right;

  for (const auto& p : spec.at("protocols")) {
    for (const auto& m : spec.at("methods")) {
      MethodRow row;
      row.label = m.at("label");
      row.name = m.at("name");
      row.protocol = p.at("label");
      row.paper = p.at("name") == "uscl-paper" ? paper_figure(row.name) : "";
      row.runs_expected = t.folds * static_cast<int>(t.seeds.size());
      for (const char* s : kSelections) row.by[s] = Selection{Confusion(k)};
      std::map<std::string, std::vector<std::pair<long, long>>> clip_counts;  // selection -> per clip
      for (const auto& r : runs) {
        if (r.method != row.label || r.protocol != row.protocol || r.stage == "pretrain" || r.status != "done") continue;
        ++row.runs_done;
        std::map<std::string, int> sel;
        for (const auto& mr : store.metrics(r.id))
          if (mr.epoch == -1 && mr.split == "selection") sel[mr.name] = static_cast<int>(mr.value);
        t.runs.push_back({{"run", r.id}, {"method", r.method}, {"protocol", r.protocol}, {"fold", *r.fold}, {"seed", r.seed},
                          {"config_hash", r.config_hash}, {"manifest_hash", r.manifest_hash}, {"fold_hash", r.fold_hash},
                          {"seeds", store.seeds(r.id)}, {"environment", nlohmann::json::parse(r.env_json)},
                          {"selected_epochs", sel}});
        for (const char* s : kSelections) {
          if (!sel.count(s)) continue;
          Confusion c(k);
          std::map<std::string, std::pair<long, long>> per_clip;
          for (const auto& pr : store.predictions(r.id, sel[s])) {
            c.add(pr.label, pr.predicted);
            auto& pc = per_clip[pr.clip_id];
            pc.first += pr.label == pr.predicted;
            ++pc.second;
            if (std::string(s) == "best_val") {
              const auto key = std::make_tuple(row.protocol, r.seed, *r.fold, pr.clip_id, pr.frame_index);
              if (row.name == "uscl") uscl_right[key] = pr.label == pr.predicted;
            }
          }
          auto& selection = row.by[s];
          selection.confusion.merge(c);
          selection.per_fold.push_back(c.accuracy());
          for (const auto& [clip, counts] : per_clip) clip_counts[s].push_back(counts);
        }
      }
      for (const char* s : kSelections) {
        auto& sel = row.by[s];
        sel.pooled = sel.confusion.accuracy();
        sel.mean = mean(sel.per_fold);
        sel.std = sample_std(sel.per_fold);
        sel.ci = bootstrap_accuracy(clip_counts[s], 1000, 20211001);
      }
      if (notes.count(row.label))
        row.note = notes.at(row.label);
      else if (row.runs_done == 0)
        row.note = "not run yet";
      else if (row.runs_done < row.runs_expected)
        row.note = fmt::format("{} of {} runs done", row.runs_done, row.runs_expected);
      if (t.test_frames == 0 && row.runs_done == row.runs_expected)
        t.test_frames = row.by["last"].confusion.total() / static_cast<long>(t.seeds.size());
      t.rows.push_back(row);
    }
  }
  // McNemar against USCL on the same frames (val-selected epochs).
  for (auto& row : t.rows) {
    if (row.name == "uscl" || row.runs_done == 0 || uscl_right.empty()) continue;
    long b = 0, c = 0, paired = 0;
    for (const auto& r : runs) {
      if (r.method != row.label || r.protocol != row.protocol || r.stage == "pretrain" || r.status != "done") continue;
      int epoch = -1;
      for (const auto& mr : store.metrics(r.id))
        if (mr.epoch == -1 && mr.split == "selection" && mr.name == "best_val") epoch = static_cast<int>(mr.value);
      for (const auto& pr : store.predictions(r.id, epoch)) {
        auto it = uscl_right.find(std::make_tuple(row.protocol, r.seed, *r.fold, pr.clip_id, pr.frame_index));
        if (it == uscl_right.end()) continue;
        ++paired;
        const bool mine = pr.label == pr.predicted;
        b += it->second && !mine;
        c += !it->second && mine;
      }
    }
    if (paired > 0) {
      row.mcnemar_b = b;
      row.mcnemar_c = c;
      row.mcnemar_p = mcnemar_exact_p(b, c);
    }
  }
  return t;
}

namespace {
bool has_results(const MethodRow& r) { return r.runs_done > 0; }
std::string cell(const MethodRow& r, const std::string& s) { return has_results(r) ? pct(r.by.at(s).pooled) : "—"; }
std::string header_line(const ComparisonTable& t) {
  std::string seeds;
  for (auto s : t.seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s);
  return fmt::format("experiment {} v{} · data: {} ({}) · {} folds · seeds {} · {} test frames pooled per seed", t.experiment,
                     t.version, t.dataset,
                     t.synthetic ? "SYNTHETIC clips — shows the harness works, says nothing about ultrasound"
                                 : t.dataset_kind == "pocus" ? "POCUS (public subset)" : t.dataset_kind,
                     t.folds, seeds, t.test_frames);
}
}  // namespace

std::string to_markdown(const ComparisonTable& t) {
  std::string out = "### " + header_line(t) + "\n\n";
  out += "Pooled accuracy over the test folds (confusion matrices summed), by epoch selection. The first column selects "
         "on the test fold, as the paper's code does, and is optimistic; the validation column is the honest figure.\n\n";
  out += "| method | protocol | best epoch on test (optimistic, as in the paper) | last epoch | best epoch on validation | "
         "val-selected mean ± std over folds | val-selected 95% CI (clips) | val-selected macro-F1 | vs USCL (McNemar p) | "
         "paper (POCUS late-2020, best epoch on test) |\n";
  out += "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : t.rows) {
    if (!has_results(r)) {
      out += fmt::format("| {} | {} | {} | | | | | | | {} |\n", r.label, r.protocol, r.note, r.paper.empty() ? "—" : r.paper);
      continue;
    }
    const auto& v = r.by.at("best_val");
    out += fmt::format("| {}{} | {} | {} | {} | {} | {:.2f} ± {:.2f}% | [{:.2f}, {:.2f}]% | {:.3f} | {} | {} |\n", r.label,
                       r.note.empty() ? "" : " (" + r.note + ")", r.protocol, cell(r, "best_test"), cell(r, "last"),
                       cell(r, "best_val"), 100 * v.mean, 100 * v.std, 100 * v.ci.lo, 100 * v.ci.hi, v.confusion.macro_f1(),
                       r.mcnemar_p ? fmt::format("{:.3g} ({}/{})", *r.mcnemar_p, *r.mcnemar_b, *r.mcnemar_c) : "—",
                       r.paper.empty() ? "—" : r.paper);
  }
  out += "\nPer class, val-selected epochs (precision / recall / F1):\n\n| method | protocol |";
  for (const auto& c : t.classes) out += " " + c + " |";
  out += "\n|---|---|";
  for (std::size_t i = 0; i < t.classes.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& r : t.rows) {
    if (!has_results(r)) continue;
    out += "| " + r.label + " | " + r.protocol + " |";
    const auto& c = r.by.at("best_val").confusion;
    for (int k = 0; k < static_cast<int>(t.classes.size()); ++k)
      out += fmt::format(" {:.3f} / {:.3f} / {:.3f} |", c.precision(k), c.recall(k), c.f1(k));
    out += "\n";
  }
  out += "\nDeliberate differences from the reference code: one forward pass per view serves both of USCL's loss terms "
         "(same loss and gradients, half the cost); augmentation parameters come from usbench's seeded streams, not "
         "Python's RNG.\n";
  return out;
}

std::string to_csv(const ComparisonTable& t) {
  std::string out = "experiment,version,dataset,synthetic,method,protocol,note,runs_done,runs_expected,selection,pooled_accuracy,"
                    "mean_accuracy,std_accuracy,ci_low,ci_high,macro_f1,mcnemar_p_vs_uscl,paper\n";
  for (const auto& r : t.rows)
    for (const char* s : kSelections) {
      const auto& sel = r.by.at(s);
      const bool ok = has_results(r);
      out += fmt::format("{},{},{},{},{},{},\"{}\",{},{},{},{},{},{},{},{},{},{},\"{}\"\n", t.experiment, t.version, t.dataset,
                         t.synthetic ? 1 : 0, r.label, r.protocol, r.note, r.runs_done, r.runs_expected, s,
                         ok ? fmt::format("{:.6f}", sel.pooled) : "", ok ? fmt::format("{:.6f}", sel.mean) : "",
                         ok ? fmt::format("{:.6f}", sel.std) : "", ok ? fmt::format("{:.6f}", sel.ci.lo) : "",
                         ok ? fmt::format("{:.6f}", sel.ci.hi) : "", ok ? fmt::format("{:.6f}", sel.confusion.macro_f1()) : "",
                         r.mcnemar_p && std::string(s) == "best_val" ? fmt::format("{:.6g}", *r.mcnemar_p) : "", r.paper);
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
      out += fmt::format("{} & {} & \\multicolumn{{3}}{{c}}{{{}}} & {} \\\\\n", esc(r.label), esc(r.protocol), esc(r.note),
                         esc(r.paper.empty() ? "--" : r.paper));
      continue;
    }
    out += fmt::format("{} & {} & {} & {} & {} & {} \\\\\n", esc(r.label), esc(r.protocol), esc(cell(r, "best_test")),
                       esc(cell(r, "last")), esc(cell(r, "best_val")), esc(r.paper.empty() ? "--" : r.paper));
  }
  out += "\\bottomrule\n\\end{tabular}\n% $^\\dagger$ selected on the test fold, as in the paper's code: optimistic.\n";
  if (t.synthetic) out += "% Data: synthetic clips, not ultrasound.\n";
  return out;
}

nlohmann::json to_json(const ComparisonTable& t) {
  nlohmann::json j = {{"experiment", t.experiment}, {"version", t.version}, {"dataset", t.dataset},
                      {"dataset_kind", t.dataset_kind}, {"synthetic", t.synthetic}, {"folds", t.folds},
                      {"seeds", t.seeds}, {"classes", t.classes}, {"test_frames", t.test_frames}, {"runs", t.runs}};
  j["methods"] = nlohmann::json::array();
  for (const auto& r : t.rows) {
    nlohmann::json m = {{"method", r.label}, {"name", r.name}, {"protocol", r.protocol}, {"note", r.note},
                        {"runs_done", r.runs_done}, {"runs_expected", r.runs_expected},
                        {"paper", r.paper.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.paper)}};
    if (r.mcnemar_p) m["mcnemar_vs_uscl"] = {{"b", *r.mcnemar_b}, {"c", *r.mcnemar_c}, {"p", *r.mcnemar_p}};
    if (has_results(r))
      for (const char* s : kSelections) {
        const auto& sel = r.by.at(s);
        nlohmann::json per_class = nlohmann::json::array();
        for (int c = 0; c < sel.confusion.k; ++c)
          per_class.push_back({{"class", t.classes[static_cast<std::size_t>(c)]}, {"precision", sel.confusion.precision(c)},
                               {"recall", sel.confusion.recall(c)}, {"f1", sel.confusion.f1(c)}});
        m["selections"][s] = {{"title", kSelectionTitle.at(s)}, {"pooled_accuracy", sel.pooled}, {"per_fold", sel.per_fold},
                              {"mean", sel.mean}, {"std", sel.std}, {"ci95", {sel.ci.lo, sel.ci.hi}},
                              {"macro_f1", sel.confusion.macro_f1()}, {"per_class", per_class},
                              {"confusion", sel.confusion.counts}};
      }
    j["methods"].push_back(m);
  }
  return j;
}

std::string to_html(const ComparisonTable& t) {
  auto esc = [](const std::string& s) {
    std::string o;
    for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
    return o;
  };
  std::string out = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>usbench: " + esc(t.experiment) +
                    "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                    "td,th{border:1px solid #999;padding:4px 8px;text-align:right}th{background:#eee}"
                    "td.l{text-align:left}.bar{fill:#4a7}.warn{color:#a40}</style></head><body>\n";
  out += "<h1>usbench comparison</h1>\n<p>" + esc(header_line(t)) + "</p>\n";
  if (t.synthetic) out += "<p class=\"warn\">Synthetic data: these numbers do not describe ultrasound.</p>\n";
  out += "<table><tr><th>method</th><th>protocol</th><th>best epoch on test (optimistic, as in the paper)</th><th>last epoch</th>"
         "<th>best epoch on validation</th><th>95% CI (clips)</th><th>paper</th></tr>\n";
  for (const auto& r : t.rows) {
    if (!has_results(r)) {
      out += "<tr><td class=\"l\">" + esc(r.label) + "</td><td class=\"l\">" + esc(r.protocol) + "</td><td colspan=\"4\" class=\"l\">" +
             esc(r.note) + "</td><td>" + esc(r.paper.empty() ? "—" : r.paper) + "</td></tr>\n";
      continue;
    }
    const auto& v = r.by.at("best_val");
    out += fmt::format("<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>[{:.2f}, {:.2f}]%</td><td>{}</td></tr>\n",
                       esc(r.label), esc(r.protocol), cell(r, "best_test"), cell(r, "last"), cell(r, "best_val"),
                       100 * v.ci.lo, 100 * v.ci.hi, esc(r.paper.empty() ? "—" : r.paper));
  }
  out += "</table>\n<h2>Per-fold accuracy (val-selected)</h2>\n";
  for (const auto& r : t.rows) {
    if (!has_results(r)) continue;
    const auto& f = r.by.at("best_val").per_fold;
    out += "<p>" + esc(r.label + " / " + r.protocol) + "</p><svg width=\"" + std::to_string(40 + 30 * f.size()) + "\" height=\"120\">";
    for (std::size_t i = 0; i < f.size(); ++i)
      out += fmt::format("<rect class=\"bar\" x=\"{}\" y=\"{:.1f}\" width=\"24\" height=\"{:.1f}\"><title>fold {}: {:.2f}%</title></rect>",
                         20 + 30 * i, 110 - 100 * f[i], 100 * f[i], i, 100 * f[i]);
    out += "</svg>\n";
    out += "<table><tr><th>true \\ predicted</th>";
    for (const auto& c : t.classes) out += "<th>" + esc(c) + "</th>";
    out += "</tr>";
    const auto& cm = r.by.at("best_val").confusion;
    for (int a = 0; a < cm.k; ++a) {
      out += "<tr><th>" + esc(t.classes[static_cast<std::size_t>(a)]) + "</th>";
      for (int b = 0; b < cm.k; ++b) out += "<td>" + std::to_string(cm.at(a, b)) + "</td>";
      out += "</tr>";
    }
    out += "</table>\n";
  }
  out += "</body></html>\n";
  return out;
}

}  // namespace usbench::reports
