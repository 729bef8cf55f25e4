#include "harness/store/results_schema.h"
#include "reports/gate.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (fmt 11+ has it only here)

#include "harness/canonical.h"
#include "harness/errors.h"
#include "harness/input_file.h"
#include "harness/kernels.h"
#include "harness/spec/json_reader.h"
#include "reports/comparison.h"
#include "reports/metrics.h"

namespace usbench::reports {

namespace {

// Every run records the last epoch; a protocol may record more selections (best_val, best_test), and the gate
// checks each one the run recorded.
bool known_selection(const std::string& s) {
  return s == results::selection::kBestVal || s == results::selection::kBestTest || s == results::selection::kLast;
}
constexpr int kFormat = 2;
constexpr std::uint64_t kBootstrapSeed = 0x6A7E2026ull;

using RunKey = std::tuple<std::string, std::string, std::int64_t, int>;  // method, protocol, seed, fold
RunKey key_of(const GateRun& r) { return {r.method, r.protocol, r.seed, r.fold}; }
std::string describe_key(const GateRun& r) {
  return fmt::format("{} {} seed {} fold {}", r.method, r.protocol, r.seed, r.fold);
}

std::string digest(const std::string& text) { return sha256_hex(text).substr(0, 16); }

// The resolved spec of `experiment`; UsageError naming the store when it is not there.
nlohmann::json spec_of(Store& store, const std::string& experiment) {
  const auto text = store.experiment_spec(experiment);
  if (!text) throw UsageError("no experiment '" + experiment + "' in " + store.path());
  return nlohmann::json::parse(*text);
}

// The gated (downstream) runs in spec order: protocols, then methods, then seed, then fold (how the table
// reads); and the done pretraining runs of the spec's methods, whose results feed them.
struct GatedRuns {
  std::vector<RunRecord> downstream, pretraining;
};
GatedRuns gated_runs(Store& store, const nlohmann::json& spec) {
  const auto all = store.runs(spec.at("name"));
  auto runs = current_downstream_runs(spec, all).runs;
  auto rank = [&](const std::string& list, const std::string& label) {
    const auto& l = spec.at(list);
    for (std::size_t i = 0; i < l.size(); ++i)
      if (l[i].at("label") == label) return i;
    return l.size();
  };
  std::sort(runs.begin(), runs.end(), [&](const RunRecord& a, const RunRecord& b) {
    return std::make_tuple(rank("protocols", a.protocol), rank("methods", a.method), a.seed, a.fold.value_or(-1)) <
           std::make_tuple(rank("protocols", b.protocol), rank("methods", b.method), b.seed, b.fold.value_or(-1));
  });
  GatedRuns out;
  const auto seeds = spec.at("seeds").get<std::vector<std::int64_t>>();
  for (const auto& r : all) {
    if (r.stage != Stage::Pretrain || r.status != RunStatus::Done ||
        std::count(seeds.begin(), seeds.end(), r.seed) == 0)
      continue;
    for (const auto& m : spec.at("methods"))
      if (m.at("label") == r.method &&
          nlohmann::json::parse(r.config_json).value("method", nlohmann::json()) == m.value("config", nlohmann::json()))
        out.pretraining.push_back(r);
  }
  out.downstream = std::move(runs);
  return out;
}

std::string class_digit(int c) {
  if (c < 0 || c > 9) throw RunFailure(fmt::format("class index {} does not fit the gate's one-digit record", c));
  return std::string(1, static_cast<char>('0' + c));
}

}  // namespace

nlohmann::json platform_of(const nlohmann::json& env) {
  auto text = [&](const char* key) {
    const auto it = env.find(key);
    return it != env.end() && it->is_string() ? it->get<std::string>() : std::string("unknown");
  };
  const auto threads = env.find("threads");
  const int n = threads != env.end() && threads->is_number_integer() ? threads->get<int>() : 0;
  const auto kernels = env.find("kernels");
  if (kernels == env.end() || !kernels->is_object())  // recorded before the kernel set was: the CPU's name stands in
    return {{"torch_version", text("torch_version")},
            {"device", text("device")},
            {"device_name", text("device_name")},
            {"cpu_capability", text("cpu_capability")},
            {"threads", n}};
  // The bits are fixed by the kernels that ran, not by the CPU's model name: an AVX-512 Intel and an AVX2
  // AMD running the pinned set are one platform. A GPU's model still counts (its kernels are its own).
  nlohmann::json p = {{"torch_version", text("torch_version")},
                      {"device", text("device")},
                      {"kernels", kernel_set_key(*kernels)},
                      {"threads", n}};
  if (text("device") != "cpu") p["device_name"] = text("device_name");
  return p;
}

std::string describe_platform(const nlohmann::json& p) {
  if (!p.is_object()) return "several platforms";
  const std::string device = p.contains("device_name")
                                 ? fmt::format("{} ({})", p.value("device", "?"), p.value("device_name", "?"))
                                 : p.value("device", "?");
  if (p.contains("kernels"))
    return fmt::format("LibTorch {}, {}, kernels {}, threads {}", p.value("torch_version", "?"), device,
                       p.value("kernels", "?"), p.value("threads", 0));
  return fmt::format("LibTorch {}, {}, CPU capability {}, threads {}", p.value("torch_version", "?"), device,
                     p.value("cpu_capability", "?"), p.value("threads", 0));
}

GateRun gate_run(Store& store, const RunRecord& run) {
  GateRun g;
  g.method = run.method;
  g.protocol = run.protocol;
  g.run_id = run.id;
  g.seed = run.seed;
  g.fold = run.fold.value_or(-1);
  std::map<int, std::vector<std::string>> parts;
  for (const auto& m : store.metrics(run.id)) {
    if (m.epoch == -1 && m.split == results::split::kSelection) {
      if (known_selection(m.name)) g.selected[m.name] = static_cast<int>(m.value);
      continue;
    }
    // Throughput is a measurement of the machine, not a result.
    if (m.epoch < 0 || m.name == results::metric::kImagesPerS ||
        (m.split != results::split::kTrain && m.split != results::split::kVal && m.split != results::split::kTest))
      continue;
    parts[m.epoch].push_back(fmt::format("{}/{}={:a}", m.split, m.name, m.value));
  }
  for (auto& [epoch, p] : parts) {  // indexed by epoch number; an epoch with no metrics reads "none"
    std::sort(p.begin(), p.end());
    std::string joined;
    for (const auto& x : p) joined += x + ";";
    g.epochs.resize(static_cast<std::size_t>(epoch) + 1, "none");
    g.epochs[static_cast<std::size_t>(epoch)] = digest(joined);
  }
  for (const auto& [sel, epoch] : g.selected) {
    auto preds = store.predictions(run.id, epoch);
    std::sort(preds.begin(), preds.end(), [](const Store::Prediction& a, const Store::Prediction& b) {
      return std::tie(a.clip_id, a.frame_index) < std::tie(b.clip_id, b.frame_index);
    });
    std::string frames, labels, predicted;
    std::vector<std::pair<std::string, int>> ids;
    for (const auto& p : preds) {
      frames += p.clip_id + "\t" + std::to_string(p.frame_index) + "\n";
      labels += class_digit(p.label);
      predicted += class_digit(p.predicted);
      ids.emplace_back(p.clip_id, p.frame_index);
    }
    if (g.frame_ids.empty()) {
      g.frames = digest(frames);
      g.labels = labels;
      g.frame_ids = ids;
    }
    g.predicted[sel] = predicted;
  }
  return g;
}

ExpectedRecord record_expected(Store& store, const std::string& experiment) {
  const auto spec = spec_of(store, experiment);
  ExpectedRecord rec;
  rec.experiment = experiment;
  rec.version = spec.at("version");
  const auto gated = gated_runs(store, spec);
  const auto& runs = gated.downstream;
  const auto& pretraining = gated.pretraining;
  const auto folds = spec.at("folds").at("k").get<int>();
  const auto seeds = spec.at("seeds").size();
  std::map<std::pair<std::string, std::string>, int> per_row;
  for (const auto& r : runs) ++per_row[{r.method, r.protocol}];
  for (const auto& [row, n] : per_row)
    if (n != folds * static_cast<int>(seeds))
      throw UsageError(
          fmt::format("{} {}: {} of {} runs done in {}; finish the experiment (usbench run) before recording it",
                      row.first, row.second, n, folds * static_cast<int>(seeds), store.path()));
  if (runs.empty())
    throw UsageError("experiment '" + experiment + "' has no done downstream runs in " + store.path() + " to record");
  std::set<std::string> platforms;
  for (const auto& r : runs) platforms.insert(platform_of(nlohmann::json::parse(r.env_json)).dump());
  for (const auto& r : pretraining) platforms.insert(platform_of(nlohmann::json::parse(r.env_json)).dump());
  rec.platform = platforms.size() == 1 ? nlohmann::json::parse(*platforms.begin()) : nlohmann::json("mixed");
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<long, long>> pooled;  // right, frames
  for (const auto& r : runs) {
    rec.runs.push_back(gate_run(store, r));
    const auto& g = rec.runs.back();
    for (const auto& [s, epoch] : g.selected) {
      auto& acc = pooled[{g.method, g.protocol, s}];
      const auto& p = g.predicted.at(s);
      for (std::size_t i = 0; i < p.size(); ++i) acc.first += p[i] == g.labels[i];
      acc.second += static_cast<long>(p.size());
    }
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& g : rec.runs) {
    if (!seen.insert({g.method, g.protocol}).second) continue;
    for (const auto& [s, epoch] : g.selected) {
      const auto& [right, frames] = pooled.at({g.method, g.protocol, s});
      rec.metrics.push_back(
          {{"method", g.method},
           {"protocol", g.protocol},
           {"selection", s},
           {"pooled_accuracy", static_cast<double>(right) / static_cast<double>(std::max(1L, frames))},
           {"right", right},
           {"frames", frames}});
    }
  }
  return rec;
}

std::string dump_expected(const ExpectedRecord& r) {
  std::ostringstream out;
  out << "{\n";
  out << "  \"experiment\": " << nlohmann::json(r.experiment).dump() << ",\n";
  out << "  \"version\": " << r.version << ",\n";
  out << "  \"format\": " << kFormat << ",\n";
  out << "  \"written_by\": \"usbench check --write: regenerate in the commit that changes results on purpose\",\n";
  out << "  \"platform\": " << r.platform.dump() << ",\n";
  out << "  \"metrics\": [\n";
  for (std::size_t i = 0; i < r.metrics.size(); ++i) {
    const auto& m = r.metrics[i];
    const nlohmann::ordered_json j = {{"method", m.at("method")},       {"protocol", m.at("protocol")},
                                      {"selection", m.at("selection")}, {"pooled_accuracy", m.at("pooled_accuracy")},
                                      {"right", m.at("right")},         {"frames", m.at("frames")}};
    out << "    " << j.dump() << (i + 1 < r.metrics.size() ? "," : "") << "\n";
  }
  out << "  ],\n";
  out << "  \"runs\": [\n";
  for (std::size_t i = 0; i < r.runs.size(); ++i) {
    const auto& g = r.runs[i];
    const nlohmann::ordered_json j = {{"method", g.method},
                                      {"protocol", g.protocol},
                                      {"seed", g.seed},
                                      {"fold", g.fold},
                                      {"run", g.run_id.substr(0, 12)},
                                      {"epochs", g.epochs},
                                      {"selected", g.selected},
                                      {"frames", g.frames},
                                      {"labels", g.labels},
                                      {"predicted", g.predicted}};
    out << "    " << j.dump() << (i + 1 < r.runs.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
  return out.str();
}

ExpectedRecord parse_expected(const nlohmann::json& doc, const std::string& origin) {
  auto bad = [&](const std::string& what) { return UsageError(origin + ": " + what); };
  if (!doc.is_object()) throw bad("not an expected-results object");
  const auto format = doc.find("format");
  if (format == doc.end() || !format->is_number_integer())
    throw bad(
        "no \"format\": this is the fold-spread format the exact/paired gate replaced; regenerate it with "
        "usbench check --write " +
        origin);
  if (format->get<int>() != kFormat)
    throw bad(fmt::format("format {} is not the format this usbench reads ({})", format->get<int>(), kFormat));
  ExpectedRecord r;
  try {
    r.experiment = doc.at("experiment").get<std::string>();
    r.version = doc.at("version").get<int>();
    r.platform = doc.at("platform");
    r.metrics = doc.at("metrics");
    for (const auto& m : r.metrics) {
      m.at("method").get<std::string>(), m.at("protocol").get<std::string>();
      const std::string s = m.at("selection");
      if (!known_selection(s)) throw bad("metrics: selection '" + s + "' is not best_val, best_test or last");
      m.at("pooled_accuracy").get<double>();
    }
    for (const auto& j : doc.at("runs")) {
      GateRun g;
      g.method = j.at("method");
      g.protocol = j.at("protocol");
      g.seed = j.at("seed");
      g.fold = j.at("fold");
      g.run_id = j.at("run");
      g.epochs = j.at("epochs").get<std::vector<std::string>>();
      g.selected = j.at("selected").get<std::map<std::string, int>>();
      g.frames = j.at("frames");
      g.labels = j.at("labels");
      g.predicted = j.at("predicted").get<std::map<std::string, std::string>>();
      if (!g.selected.count(results::selection::kLast))
        throw bad(fmt::format("runs: {} lacks the {} selection", describe_key(g), results::selection::kLast));
      for (const auto& [s, epoch] : g.selected) {
        if (!known_selection(s)) throw bad(fmt::format("runs: {}: unknown selection '{}'", describe_key(g), s));
        if (!g.predicted.count(s))
          throw bad(fmt::format("runs: {} lacks the predictions of its {} selection", describe_key(g), s));
        if (g.predicted.at(s).size() != g.labels.size())
          throw bad(fmt::format("runs: {}: {} predictions for {} labels", describe_key(g), g.predicted.at(s).size(),
                                g.labels.size()));
      }
      r.runs.push_back(std::move(g));
    }
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("malformed expected results: ") + e.what());
  }
  return r;
}

ExpectedRecord load_expected(const std::string& path) {
  // An expected file is a few hundred kilobytes even for thousands of frames; 64 MB bounds a wrong path.
  return parse_expected(parse_json_document(read_input_file(path, "expected results", 64u << 20), path), path);
}

std::string exact_difference(const GateRun& e, const GateRun& o) {
  std::vector<std::string> parts;
  const std::size_t n = std::min(e.epochs.size(), o.epochs.size());
  for (std::size_t i = 0; i < n; ++i)
    if (e.epochs[i] != o.epochs[i]) {
      parts.push_back(fmt::format("epoch {} is the first whose metrics differ", i));
      break;
    }
  if (e.epochs.size() != o.epochs.size())
    parts.push_back(fmt::format("{} epochs recorded, {} expected", o.epochs.size(), e.epochs.size()));
  if (e.frames != o.frames || e.labels != o.labels) {
    parts.push_back("the test frames or their labels differ (data or folds changed)");
    return fmt::format("{}", fmt::join(parts, "; "));
  }
  std::set<std::pair<int, int>> compared;  // (expected, observed) epochs whose predictions were compared
  for (const auto& [s, ee] : e.selected) {
    const int oe = o.selected.count(s) ? o.selected.at(s) : -1;
    if (ee != oe) parts.push_back(fmt::format("{} selects epoch {} (expected {})", s, oe, ee));
    // Two selections of the same epoch on both sides: its predictions were compared just now.
    if (!compared.insert({ee, oe}).second) continue;
    const auto& ep = e.predicted.at(s);
    const auto op = o.predicted.count(s) ? o.predicted.at(s) : std::string();
    if (op.size() != ep.size()) continue;
    std::vector<std::string> first;
    long differ = 0;
    for (std::size_t i = 0; i < ep.size(); ++i)
      if (ep[i] != op[i]) {
        ++differ;
        if (first.size() < 3 && i < o.frame_ids.size())
          first.push_back(
              fmt::format("{} frame {}: {} -> {}", o.frame_ids[i].first, o.frame_ids[i].second, ep[i], op[i]));
      }
    if (differ)
      parts.push_back(fmt::format("{} of {} {} predictions differ ({})", differ, ep.size(), s, fmt::join(first, ", ")));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

GateResult check_expected(Store& store, const ExpectedRecord& expected, const GateOptions& options) {
  const auto spec = spec_of(store, expected.experiment);
  const auto gated = gated_runs(store, spec);
  const auto& runs = gated.downstream;
  const auto& pretraining = gated.pretraining;
  std::map<RunKey, GateRun> observed;
  std::set<std::string> platforms;
  for (const auto& r : runs) {
    auto g = gate_run(store, r);
    observed.emplace(key_of(g), std::move(g));
    platforms.insert(platform_of(nlohmann::json::parse(r.env_json)).dump());
  }
  for (const auto& r : pretraining) platforms.insert(platform_of(nlohmann::json::parse(r.env_json)).dump());
  const nlohmann::json platform =
      platforms.size() == 1 ? nlohmann::json::parse(*platforms.begin()) : nlohmann::json("mixed");
  const bool same_platform = platform.is_object() && platform == expected.platform;

  GateResult result;
  std::ostringstream out;
  result.tier = options.tier == Tier::Auto ? (same_platform ? Tier::Exact : Tier::Paired) : options.tier;
  if (spec.at("version") != expected.version)
    out << fmt::format(
        "note: the store's experiment '{}' is at version {}, the expected file was written at version {}\n",
        expected.experiment, spec.at("version").get<int>(), expected.version);
  if (result.tier == Tier::Exact) {
    out << fmt::format(
        "exact tier{}: the runs were recorded on {}{}; every epoch's metrics and every test prediction must match\n",
        options.tier == Tier::Exact ? " (--tier exact)" : "", describe_platform(platform),
        same_platform ? ", the expected file's platform"
                      : fmt::format(", the expected file on {}", describe_platform(expected.platform)));
    std::set<RunKey> expected_keys;
    for (const auto& e : expected.runs) {
      expected_keys.insert(key_of(e));
      const auto it = observed.find(key_of(e));
      std::string verdict;
      if (it == observed.end()) {
        verdict = "FAIL: no done run in the store";
      } else if (const auto diff = exact_difference(e, it->second); !diff.empty()) {
        verdict = fmt::format("FAIL (run {}): {}", it->second.run_id.substr(0, 12), diff);
      } else {
        verdict = "ok";
      }
      result.failures += verdict != "ok";
      out << fmt::format("  {:<36} {}\n", describe_key(e), verdict);
    }
    for (const auto& [key, o] : observed)
      if (!expected_keys.count(key)) {
        ++result.failures;
        out << fmt::format(
            "  {:<36} FAIL (run {}): not in the expected file (regenerate it with check --write if the grid grew on "
            "purpose)\n",
            describe_key(o), o.run_id.substr(0, 12));
      }
  } else {
    const std::size_t comparisons = std::max<std::size_t>(1, expected.metrics.size());
    const double level = options.alpha / static_cast<double>(comparisons);
    out << fmt::format(
        "paired tier{}: the runs were recorded on {}, the expected file on {}: test predictions are paired frame by "
        "frame; "
        "a row fails when a one-sided paired bootstrap over clips ({} resamples) finds it worse at {} / {} comparisons "
        "= {:.4g}; "
        "detect.: the drop in points that this row's drift lets the test catch 4 times in 5\n",
        options.tier == Tier::Paired ? " (--tier paired)" : "", describe_platform(platform),
        describe_platform(expected.platform), options.resamples, options.alpha, comparisons, level);
    out << fmt::format("  {:<10} {:<12} {:<9} {:>6} {:>9} {:>9} {:>5} {:>6} {:>8} {:>9}  {}\n", "method", "protocol",
                       "selection", "frames", "expected", "observed", "lost", "gained", "p", "detect. ", "result");
    int identical = 0, total = 0;
    for (const auto& e : expected.runs)
      if (const auto it = observed.find(key_of(e)); it != observed.end()) {
        ++total;
        identical += exact_difference(e, it->second).empty();
      }
    for (const auto& m : expected.metrics) {
      const std::string method = m.at("method"), protocol = m.at("protocol"), sel = m.at("selection");
      std::map<std::string, ClipPair> clips;
      long frames = 0, right_e = 0, right_o = 0, lost = 0, gained = 0;
      std::string problem;
      for (const auto& e : expected.runs) {
        if (e.method != method || e.protocol != protocol) continue;
        const auto it = observed.find(key_of(e));
        if (it == observed.end()) {
          problem = fmt::format("FAIL: {} has no done run", describe_key(e));
          break;
        }
        const auto& o = it->second;
        if (o.frames != e.frames || o.labels != e.labels || !o.predicted.count(sel)) {
          problem = fmt::format("FAIL: {} was tested on other frames or labels (data or folds changed): cannot pair",
                                describe_key(e));
          break;
        }
        const auto& ep = e.predicted.at(sel);
        const auto& op = o.predicted.at(sel);
        for (std::size_t i = 0; i < ep.size(); ++i) {
          const bool re = ep[i] == e.labels[i], ro = op[i] == e.labels[i];
          // A clip's frames over all seeds are one unit: the seeds' predictions of one clip are not
          // independent draws (README "Seeds in the statistics").
          auto& c = clips[o.frame_ids[i].first];
          ++c.frames;
          c.lost += re && !ro;
          c.gained += !re && ro;
          lost += re && !ro;
          gained += !re && ro;
          right_e += re;
          right_o += ro;
          ++frames;
        }
      }
      std::string verdict = problem;
      PairedBootstrap boot;
      if (problem.empty()) {
        std::vector<ClipPair> list;
        for (const auto& [k, c] : clips) list.push_back(c);
        boot = paired_bootstrap_drop(list, options.resamples, kBootstrapSeed);
        verdict = boot.p < level ? fmt::format("FAIL: worse by {:.2f} points",
                                               100.0 * static_cast<double>(lost - gained) / static_cast<double>(frames))
                                 : "ok";
      }
      result.failures += verdict != "ok";
      const double fe = static_cast<double>(std::max(1L, frames));
      out << fmt::format("  {:<10} {:<12} {:<9} {:>6} {:>8.2f}% {:>8.2f}% {:>5} {:>6} {:>8.2g} {:>9.1f}  {}\n", method,
                         protocol, sel, frames, 100.0 * static_cast<double>(right_e) / fe,
                         100.0 * static_cast<double>(right_o) / fe, lost, gained, boot.p,
                         100.0 * detectable_drop(boot.sd, level), verdict);
    }
    out << fmt::format(
        "  {} of {} gated runs reproduce their record bit for bit (every epoch's metrics and predictions)\n", identical,
        total);
  }
  result.passed = result.failures == 0;
  out << (result.passed ? fmt::format("passed: {} tier, {} gated runs\n",
                                      result.tier == Tier::Exact ? "exact" : "paired", expected.runs.size())
                        : fmt::format("FAILED: {} tier, {} failure(s)\n",
                                      result.tier == Tier::Exact ? "exact" : "paired", result.failures));
  result.text = out.str();
  return result;
}

}  // namespace usbench::reports
