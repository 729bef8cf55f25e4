// The comparison table of an experiment, computed from the store only (README Design §6, §10): per method and
// protocol, pooled accuracy under three epoch selections (best epoch on test — optimistic, as in the
// paper —, last epoch, best epoch on validation), mean +- std over folds, a 95% bootstrap interval over
// clips, per-class precision / recall / F1, macro-F1, McNemar against USCL on the same frames, and the
// paper's figure for reference. Rendered as Markdown, CSV, LaTeX, JSON or a self-contained HTML page.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/spec/registry.h"
#include "harness/store/store.h"
#include "reports/claims.h"
#include "reports/differences.h"
#include "reports/environments.h"
#include "reports/metrics.h"

namespace usbench::reports {

struct Selection {
  bool reported = false;  // the protocol reports this selection and the runs recorded it
  Confusion confusion;
  double pooled = 0;
  std::vector<double> per_seed;       // pooled accuracy of each seed (a retraining), in the spec's seed order
  double seed_mean = 0, seed_sd = 0;  // over seeds (SD 0 with one seed)
  std::vector<double> per_fold;       // accuracy of every (seed, fold)
  std::vector<std::pair<std::int64_t, int>> cells;  // the (seed, fold) of each per_fold entry
  double mean = 0, std = 0;
  Interval ci;  // 95%, two-level bootstrap: seeds, then clips within each seed's test folds
};

// A paired comparison with a reference row. Frames: exact McNemar on the frames one of the two gets right
// and the other wrong (b: reference right / this wrong, c: the reverse). Frames of one clip are not
// independent, so the clip-level sign test beside it is the conservative reading: per clip, which of
// the two has more of its frames right (wins: this one, losses: the reference; ties dropped).
struct Paired {
  long b = 0, c = 0;
  double p = 1;
  // The frame McNemar assumes one prediction per frame: with several seeds a frame is predicted once per
  // seed, so only the clip test (a clip's predictions over all seeds as one unit) is reported.
  bool frames_valid = true;
  long clip_wins = 0, clip_losses = 0;
  double clip_p = 1;
};

struct MethodRow {
  std::string label, name, protocol;
  std::string note;  // "not run: weights not supplied", "3 of 5 folds done", ...
  int runs_done = 0, runs_expected = 0;
  std::map<std::string, Selection> by;  // "best_test", "last", "best_val"
  // The selection the statistics (seeds, intervals, macro-F1, paired tests) use: the protocol's headline.
  std::string headline = "best_val";
  // Paired tests of the val-selected predictions against USCL's and against random-init's (the question
  // "did pretraining help?"), on the same test frames of the same (seed, fold); absent for the reference
  // row itself and where the reference has no results.
  std::optional<Paired> vs_paper_method, vs_baseline;  // vs USCL, vs random-init (the methods' paired roles)
  std::string paper;                                   // the paper's figure, "" where it reports none
  std::map<std::string, std::string> provenance;       // run id -> config hash etc. (JSON output only)
  // Learning curves, indexed by epoch: downstream "train loss", "val accuracy", "test accuracy" (means over
  // the counted runs that recorded the epoch) and each one's sample standard deviation over those runs
  // ("test accuracy sd", ...; NaN with fewer than 2), and the pretraining run's "pretrain loss",
  // "pretrain held-out loss" and "pretrain kNN accuracy" (seed of the first counted run) for methods
  // that pretrain.
  std::map<std::string, std::vector<double>> curves;
};

struct ComparisonTable {
  std::string experiment;
  int version = 0;
  std::string dataset, dataset_kind;
  std::string dataset_title;  // what the data kind calls its data in tables ("" = the kind's name)
  bool synthetic = false;
  int folds = 0;
  std::vector<std::int64_t> seeds;
  std::vector<std::string> classes;
  long test_frames = 0;  // pooled over folds, per seed
  // Done downstream runs of this experiment left out because they belong to an earlier version of its spec
  // (another method/protocol version or resolved config), or were redone since (the latest one counts).
  int superseded = 0;
  std::vector<MethodRow> rows;
  // The spec's pre-registered claims, each tested (reports/claims.h), the SHA-256 of the stored claims and when
  // the experiment's first run started (ISO UTC, "" before any): what a reader checks against the commit that
  // registered them.
  std::vector<ClaimOutcome> claims;
  std::string claims_hash, first_run_started;
  Differences differences;  // from the reference recipes, generated from the resolved spec (reports/differences.h)
  nlohmann::json runs = nlohmann::json::array();  // provenance of every downstream run
  // Where the counted runs (downstream, and the pretraining runs of the spec's methods and seeds) were made.
  std::vector<EnvironmentGroup> environments;
};

// The done downstream runs that belong to the resolved spec `spec` (its methods and protocols at their
// versions and configs, its data config); of several for one (method, protocol, seed, fold) the latest
// finished; `superseded` counts the others. The runs every table and the regression gate count.
struct CurrentRuns {
  std::vector<RunRecord> runs;
  int superseded = 0;  // the done downstream runs left out
};
CurrentRuns current_downstream_runs(const nlohmann::json& spec, const std::vector<RunRecord>& runs);

// UsageError when the experiment is not in the store. The registries say what each recorded component is
// (the paper's figures, the paired references, whether the data are synthetic); components this binary
// does not know still get their rows, without those.
ComparisonTable build_comparison(Store& store, const std::string& experiment, const Registries& registries);

std::string to_markdown(const ComparisonTable& t);
std::string to_csv(const ComparisonTable& t);
std::string to_latex(const ComparisonTable& t);
nlohmann::json to_json(const ComparisonTable& t);
std::string to_html(const ComparisonTable& t);

}  // namespace usbench::reports
