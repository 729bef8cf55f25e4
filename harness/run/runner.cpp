#include "harness/run/runner.h"

#include <csignal>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (fmt 11+ has it only here)

#include "datasets/clips.h"
#include "datasets/folds.h"
#include "datasets/ingest.h"
#include "datasets/loader.h"
#include "harness/canonical.h"
#include "harness/env.h"
#include "harness/errors.h"
#include "harness/run/finetune.h"
#include "harness/input_file.h"
#include "harness/run/pretrain_run.h"
#include "harness/run/run_lease.h"
#include "harness/model/resnet.h"
#include "harness/run/run_plan.h"
#include "harness/store/store.h"
#include "harness/model/hub_weights.h"
#include "harness/model/weights.h"

namespace usbench {

namespace fs = std::filesystem;

std::pair<int, int> parse_shard(const std::string& text) {
  // Both numbers whole: "1/2x" or " 1/2" is not a shard.
  const auto whole_int = [](const std::string& s, int& out) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    out = std::stoi(s);
    return true;
  };
  const auto slash = text.find('/');
  int i = 0, n = 0;
  if (slash != std::string::npos && whole_int(text.substr(0, slash), i) && whole_int(text.substr(slash + 1), n) &&
      n >= 1 && i < n)
    return {i, n};
  throw UsageError("--shard '" + text + "': expected I/N with 0 <= I < N (e.g. 0/4 for the first of four shards)");
}

namespace {

struct LoadedData {
  DatasetRecord record;
  std::vector<std::string> classes;
};

LoadedData ensure_dataset(Store& store, const DatasetInfo& kind, const ComponentRef& ref,
                          const datasets::FrameCache& cache, const std::function<void(const std::string&)>& log) {
  datasets::IngestOptions o;
  o.name = ref.label;
  const auto report = datasets::ingest(kind, ref.config, cache, o);
  const auto change = store.put_dataset(report.dataset);
  if (log && !change.previous_manifest.empty()) log(change.describe(report.dataset.name, report.dataset.manifest_hash));
  if (log && !report.unlabelled.empty())
    log(fmt::format("'{}': {} of {} clips have no row in the label file (e.g. {})", ref.label, report.unlabelled.size(),
                    report.dataset.clips.size(), report.unlabelled.front()));
  if (log)
    for (const auto& r : report.rebuilt)
      log(fmt::format("frame cache entry of clip '{}' rebuilt from its source: {}", r.path, r.reason));
  if (log && report.decoded > 0)
    log(fmt::format("ingested '{}': {} clips, {} decoded, {} from cache", ref.label, report.dataset.clips.size(),
                    report.decoded, report.cache_hits));
  LoadedData d;
  d.record = report.dataset;
  std::set<std::string> labels;
  for (const auto& c : d.record.clips)
    if (!c.label.empty()) labels.insert(c.label);
  const auto& pocus = datasets::pocus_classes();
  const bool is_pocus = std::all_of(labels.begin(), labels.end(), [&](const std::string& l) {
    return std::find(pocus.begin(), pocus.end(), l) != pocus.end();
  });
  d.classes = is_pocus ? pocus : std::vector<std::string>(labels.begin(), labels.end());
  return d;
}

// On CUDA, a data set's frames move to the device when they take at most half of its free memory:
// batches are then cut and augmented there, and the loader needs one thread to launch the work. Frames
// left on the host are augmented by loader threads, one per core but one.
std::unique_ptr<datasets::FrameSet> place_frames(datasets::FrameSet set, const torch::Device& device,
                                                 const std::function<void(const std::string&)>& log) {
  if (device.is_cuda()) {
    const auto bytes = set.frames.numel();
    const auto free = cuda_free_bytes(device.has_index() ? device.index() : 0);
    if (free > 0 && bytes <= free / 2) {
      set.frames = set.frames.to(device);
      if (log) log(fmt::format("    frames on the GPU: {:.2f} GB of {:.2f} GB free", bytes / 1e9, free / 1e9));
    } else if (log) {
      log(fmt::format("    frames stay in host memory ({:.2f} GB; {:.2f} GB free on the GPU)", bytes / 1e9,
                      free / 1e9));
    }
  }
  return std::make_unique<datasets::FrameSet>(std::move(set));
}

int loader_threads_for(const datasets::FrameSet& set, const torch::Device& device) {
  if (!device.is_cuda() || set.frames.is_cuda()) return 1;
  return static_cast<int>(std::max(2u, std::thread::hardware_concurrency()) - 1);
}

// The run's claim was taken over by another process (this one was judged gone): stop without writing.
struct ClaimLost : std::runtime_error {
  explicit ClaimLost(const std::string& id)
      : std::runtime_error("run " + id.substr(0, 12) +
                           " was taken over by another process; leaving it to that process") {}
};

std::uint64_t shard_of(const std::string& id, int n) {
  return std::stoull(id.substr(0, 12), nullptr, 16) % static_cast<std::uint64_t>(n);
}

}  // namespace

namespace {
// The weights file a method's runs start from, by its registry entry's source: "" for none (its own
// initialisation or pretraining), or an ImageNet file that is nowhere to be found (reported as not run).
std::string weights_file(const MethodInfo& info, const ComponentRef& m, const std::string& imagenet_weights) {
  switch (info.weights) {
    case WeightsSource::Initialisation:
      return "";
    case WeightsSource::GivenFile:
      return m.config.at("weights").get<std::string>();
    case WeightsSource::ImagenetFile:
      return resolve_imagenet_weights(m.config.at("weights").get<std::string>(), imagenet_weights,
                                      m.config.at("backbone").get<std::string>());
  }
  return "";
}
}  // namespace

void check_runnable(const ExperimentSpec& spec, const Registries& registries, const std::string& imagenet_weights) {
  if (spec.device == "cuda" && !torch::cuda::is_available())
    throw UsageError(
        "the spec asks for device cuda, but CUDA is not available in this build or machine; use --device cpu");
  for (const auto& m : spec.methods) {
    const std::string w = weights_file(registries.methods.get(m.name), m, imagenet_weights);
    if (w.empty()) continue;  // its own initialisation, or reported as not run
    if (const auto kind = describe_non_regular(w); !kind.empty())
      throw UsageError(w + ": weights file of method '" + m.label + "' must be a regular file, this is " + kind);
    // The whole file is read and fitted to the backbone now, so a bad file is refused before any run
    // is planned or recorded (embed does the same).
    ResNet probe(ResNetSpec::by_name(m.config.at("backbone").get<std::string>()));
    try {
      load_weights(*probe, read_state_dict(w), w, /*with_fc=*/false);
    } catch (const UsageError& e) {
      throw UsageError(std::string(e.what()) + " (weights of method '" + m.label + "')");
    }
  }
}

namespace {

// ImageNet weights: the spec's, else the caller's (--weights / USBENCH_IMAGENET_WEIGHTS), else torch's
// hub cache. Without a file the method is left out and noted in `not_run` (label -> note), never replaced
// by random weights. The file's SHA-256 joins the run identity (plan_runs leaves the path out of it), the
// path is recorded beside it in the run's config. Returns the methods that can run.
struct WeightFiles {
  std::vector<ComponentRef> runnable;          // with each file's absolute path and SHA-256 in its config
  std::map<std::string, std::string> not_run;  // label -> why (and how to get the weights)
};
WeightFiles resolve_weight_files(const std::vector<ComponentRef>& methods, const Registries& registries,
                                 const std::string& imagenet_weights) {
  WeightFiles out;
  auto& runnable = out.runnable;
  auto& not_run = out.not_run;
  for (auto m : methods) {
    const MethodInfo& info = registries.methods.get(m.name);
    if (info.weights != WeightsSource::Initialisation) {
      const std::string w = weights_file(info, m, imagenet_weights);
      if (w.empty()) {
        not_run[m.label] = missing_weights_note(m.config.at("backbone").get<std::string>());
        continue;
      }
      m.config["weights"] = fs::absolute(w).lexically_normal().string();
      m.config["weights_sha256"] = sha256_file(w);
    }
    runnable.push_back(m);
  }
  return out;
}

// A label_noise class only the data can confirm: refused before any run is recorded.
void check_label_noise(const ExperimentSpec& spec, const LoadedData& down) {
  for (const auto& p : spec.protocols)
    if (const auto noise = p.config.find("label_noise");
        noise != p.config.end() &&
        std::count(down.classes.begin(), down.classes.end(), noise->at("class").get<std::string>()) == 0)
      throw UsageError(fmt::format("protocols.{}.config.label_noise.class: '{}' is not a class of {} ({})", p.label,
                                   noise->at("class").get<std::string>(), down.record.name,
                                   fmt::join(down.classes, ", ")));
}

// The folds the spec asks for (imported from an upstream file, or stratified by group), recorded.
SplitRecord make_split(Store& store, const ExperimentSpec& spec, const LoadedData& down) {
  SplitRecord split;
  split.dataset = down.record.name;
  if (!spec.folds.from_json.empty()) {
    const auto imported = datasets::import_cross_val(spec.folds.from_json, down.record.clips);
    if (imported.k != spec.folds.k)
      throw UsageError(
          fmt::format("{}: has {} folds, the spec says k = {}", spec.folds.from_json, imported.k, spec.folds.k));
    split.name = "upstream:" + fs::path(spec.folds.from_json).filename().string();
    split.source = spec.folds.from_json;
    split.fold_of = imported.fold_of;
  } else {
    split.name = fmt::format("k{}-seed{}", spec.folds.k, spec.folds.seed);
    split.seed = spec.folds.seed;
    split.source = "stratified-group-kfold";
    split.fold_of = datasets::stratified_group_kfold(down.record.clips, spec.folds.k, spec.folds.seed);
  }
  split.k = spec.folds.k;
  split.assignment_hash = datasets::assignment_hash(split.fold_of);
  store.put_split(split);
  return split;
}

// This shard's downstream runs (by run id), preceded by the pretraining runs they need.
std::vector<PlannedRun> runs_of_shard(const std::vector<PlannedRun>& plan, int shard_index, int shard_count) {
  std::set<std::string> needed_pretrain;
  std::vector<PlannedRun> mine;
  for (const auto& r : plan)
    if (r.record.stage != Stage::Pretrain &&
        shard_of(r.record.id, shard_count) == static_cast<std::uint64_t>(shard_index)) {
      mine.push_back(r);
      if (!r.pretrain_run_id.empty()) needed_pretrain.insert(r.pretrain_run_id);
    }
  std::vector<PlannedRun> ordered;
  for (const auto& r : plan)
    if (r.record.stage == Stage::Pretrain && needed_pretrain.count(r.record.id)) ordered.push_back(r);
  ordered.insert(ordered.end(), mine.begin(), mine.end());
  return ordered;
}

// Executes planned runs one after the other: claims each in the store, skips what is done or held by a
// live process, runs the rest (pretraining, then downstream runs on its backbone) under a heartbeat
// lease, and records each run's final status. One data set's frames are held at a time.
class GridExecutor {
 public:
  GridExecutor(const ExperimentSpec& spec, const Registries& registries, const RunnerOptions& opt, Store& store,
               const datasets::FrameCache& cache, const LoadedData& down, const LoadedData& pre,
               const SplitRecord& split, torch::Device device)
      : spec_(spec),
        registries_(registries),
        opt_(opt),
        store_(store),
        cache_(cache),
        down_(down),
        pre_(pre),
        split_(split),
        device_(device),
        me_(RunOwner::this_process()),
        env_(capture_environment(spec.device).dump()) {  // env: the same for every run here
    for (const auto& m : spec_.methods) method_by_label_[m.label] = &m;
    for (const auto& p : spec_.protocols) protocol_by_label_[p.label] = &p;
  }

  void execute(const std::vector<PlannedRun>& ordered, RunnerSummary& summary) {
    int index = 0;
    for (const auto& planned : ordered) {
      ++index;
      check_signal("");
      const RunRecord& rec = planned.record;
      store_.create_run(rec, planned.seeds);
      bool rerun = false;
      const auto claim = take(rec, summary, rerun);
      if (claim.result != Store::ClaimResult::Claimed) {
        if (claim.result == Store::ClaimResult::Done && rec.stage != Stage::Pretrain && opt_.finished)
          opt_.finished(rec, planned.pretrain_run_id);
        continue;
      }
      if (rerun) fs::remove_all(fs::path(opt_.work_dir) / rec.id.substr(0, 16));
      if (claim.took_over && opt_.log)
        opt_.log(fmt::format("run {} was left running by {}, which is gone; taking it over", rec.id.substr(0, 12),
                             claim.holder));
      if (opt_.log)
        opt_.log(fmt::format("[{}/{}] {} {} {}{}seed {} ({})", index, ordered.size(), spec_.name, rec.method,
                             to_string(rec.stage), rec.fold ? fmt::format(" fold {} ", *rec.fold) : std::string(" "),
                             rec.seed, rec.id.substr(0, 12)));
      if (run_claimed(planned, summary) && rec.stage != Stage::Pretrain && opt_.finished)
        opt_.finished(rec, planned.pretrain_run_id);
    }
  }

 private:
  void check_signal(const std::string& during) const {
    if (!opt_.interrupted) return;
    if (const int sig = opt_.interrupted())
      throw Interrupted(sig, fmt::format("interrupted by {}{}; run the same command again to resume",
                                         sig == SIGINT    ? "SIGINT"
                                         : sig == SIGTERM ? "SIGTERM"
                                                          : "signal " + std::to_string(sig),
                                         during));
  }

  // Claims the run. A pretraining held by another live process is waited for (its downstream runs need
  // the backbone); a done pretraining whose backbone file is gone or changed is reopened (`rerun`) and
  // claimed again. Busy and Done are counted in the summary; only Claimed runs are to be executed.
  Store::Claim take(const RunRecord& rec, RunnerSummary& summary, bool& rerun) {
    bool waiting = false;
    for (;;) {
      const auto claim = store_.claim_run(rec.id, me_, env_, opt_.stale_claim_ms);
      if (claim.result == Store::ClaimResult::Busy && rec.stage == Stage::Pretrain) {
        if (!waiting && opt_.log)
          opt_.log(fmt::format("pretraining {} is running in {}; waiting for it", rec.id.substr(0, 12), claim.holder));
        waiting = true;
        for (int i = 0; i < 10; ++i) {
          check_signal("");
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        continue;
      }
      if (claim.result == Store::ClaimResult::Busy) {
        ++summary.held_elsewhere;
        if (opt_.log)
          opt_.log(
              fmt::format("run {} is running in {}; leaving it to that process", rec.id.substr(0, 12), claim.holder));
      } else if (claim.result == Store::ClaimResult::Done) {
        if (rec.stage == Stage::Pretrain) {
          const auto art = store_.artifact(rec.id, "best_backbone");
          if (!art || !fs::exists(art->first) || sha256_file(art->first) != art->second) {
            // Recorded as done, but its weights are gone or not the ones recorded: run it again from
            // scratch (its finished checkpoint would otherwise hand back the same file).
            if (opt_.log)
              opt_.log(fmt::format("pretraining {} is recorded as done but its backbone {} is {}; running it again",
                                   rec.id.substr(0, 12), art ? art->first : std::string("(none)"),
                                   art && fs::exists(art->first) ? "changed" : "missing"));
            store_.reopen_done_run(rec.id);
            rerun = true;
            continue;
          }
          pretrained_[rec.id] = art->first;
        }
        ++summary.skipped_done;
      }
      return claim;
    }
  }

  // Runs a claimed run under a heartbeat lease and records its final status; true when it is done.
  // Interrupted leaves the grid (the run is marked interrupted); a lost claim or a failure is counted.
  bool run_claimed(const PlannedRun& planned, RunnerSummary& summary) {
    const RunRecord& rec = planned.record;
    RunLease lease(opt_.db, rec.id, me_.token, opt_.heartbeat_period_ms);
    RunContext ctx;
    ctx.store = &store_;
    ctx.run = rec;
    ctx.seeds = planned.seeds;
    ctx.device = device_;
    ctx.run_dir = (fs::path(opt_.work_dir) / rec.id.substr(0, 16)).string();
    ctx.loader_threads = 1;
    ctx.amp = spec_.amp();
    ctx.progress = opt_.progress;
    ctx.log = opt_.log;
    ctx.check_stop = [&] {
      check_signal(fmt::format(" during run {}; it is marked interrupted", rec.id.substr(0, 12)));
      if (lease.lost()) throw ClaimLost(rec.id);
    };
    try {
      if (rec.stage == Stage::Pretrain)
        pretrain(ctx, *method_by_label_.at(rec.method));
      else
        downstream(ctx, planned, *method_by_label_.at(rec.method));
      if (!store_.finish_claimed_run(rec.id, me_.token, RunStatus::Done)) throw ClaimLost(rec.id);
      ++summary.executed;
      return true;
    } catch (const Interrupted& e) {
      store_.finish_claimed_run(rec.id, me_.token, RunStatus::Interrupted, e.what());
      if (opt_.log) opt_.log(fmt::format("    {}", e.what()));
      throw;
    } catch (const ClaimLost& e) {
      // Another process judged this one gone and took the run over: leave it to that process.
      ++summary.held_elsewhere;
      if (opt_.log) opt_.log(fmt::format("    {}", e.what()));
    } catch (const std::exception& e) {
      store_.finish_claimed_run(rec.id, me_.token, RunStatus::Failed, e.what());
      ++summary.failed;
      if (opt_.log) opt_.log(fmt::format("    FAILED: {}", e.what()));
    }
    return false;
  }

  void pretrain(RunContext& ctx, const ComponentRef& method) {
    if (!pre_set_)
      pre_set_ = place_frames(datasets::FrameSet::load(pre_.record, cache_, pre_.classes), device_, opt_.log);
    ctx.loader_threads = loader_threads_for(*pre_set_, device_);
    std::vector<std::string> groups;
    for (const auto& c : pre_.record.clips) groups.push_back(c.group);
    pretrained_[ctx.run.id] =
        run_pretraining(ctx, registries_.methods.get(method.name), method.config, *pre_set_, groups).backbone_path;
  }

  void downstream(RunContext& ctx, const PlannedRun& planned, const ComponentRef& method) {
    pre_set_.reset();  // pretraining is over: hold one data set's frames at a time
    if (!planned.pretrain_run_id.empty() && !pretrained_.count(planned.pretrain_run_id))
      throw RunFailure("its pretraining run " + planned.pretrain_run_id.substr(0, 12) + " did not finish");
    if (!down_set_)
      down_set_ = place_frames(datasets::FrameSet::load(down_.record, cache_, down_.classes), device_, opt_.log);
    ctx.loader_threads = loader_threads_for(*down_set_, device_);
    FoldData fd;
    fd.set = down_set_.get();
    for (std::size_t c = 0; c < down_set_->clip_ids.size(); ++c) {
      const auto& id = down_set_->clip_ids[c];
      fd.groups.push_back(down_.record.clips[c].group);
      auto it = split_.fold_of.find(id);
      if (it == split_.fold_of.end()) continue;  // a clip the imported split leaves out
      (it->second == *ctx.run.fold ? fd.test_clips : fd.train_clips).push_back(static_cast<int>(c));
    }
    BackboneSource src;
    if (!planned.pretrain_run_id.empty()) src.weights_path = pretrained_.at(planned.pretrain_run_id);
    // A file-initialised method: the path resolve_weight_files recorded in its config.
    if (registries_.methods.get(method.name).weights != WeightsSource::Initialisation)
      src.weights_path = method.config.at("weights");
    const ComponentRef& protocol = *protocol_by_label_.at(ctx.run.protocol);
    const auto out = run_downstream(ctx, registries_.protocols.get(protocol.name), protocol.config,
                                    method.config.at("backbone"), src, fd);
    if (opt_.log) {
      std::vector<std::string> parts;
      for (const auto& [name, s] : out.selected) parts.push_back(fmt::format("{} {:.4f}", name, s.test_accuracy));
      opt_.log(fmt::format("    test accuracy: {}", fmt::join(parts, ", ")));
    }
  }

  const ExperimentSpec& spec_;
  const Registries& registries_;
  const RunnerOptions& opt_;
  Store& store_;
  const datasets::FrameCache& cache_;
  const LoadedData &down_, &pre_;
  const SplitRecord& split_;
  const torch::Device device_;
  const RunOwner me_;
  const std::string env_;
  std::unique_ptr<datasets::FrameSet> down_set_, pre_set_;
  std::map<std::string, std::string> pretrained_;  // pretrain run id -> backbone file
  std::map<std::string, const ComponentRef*> method_by_label_, protocol_by_label_;
};

}  // namespace

namespace {
// Claims are pre-registered (README Design §6): once an experiment has runs in the store, the claims stored
// with it are the ones its report tests, and a spec that states others is refused before anything is written.
void refuse_changed_claims(Store& store, const ExperimentSpec& spec) {
  const auto stored = store.experiment_spec(spec.name);
  if (!stored) return;
  const auto before = nlohmann::json::parse(*stored).value("claims", nlohmann::json::array());
  const auto now = claims_json(spec.claims);
  if (before == now) return;
  const auto runs = store.runs(spec.name);
  if (runs.empty()) return;
  std::int64_t first = 0;
  for (const auto& r : runs)
    if (r.created_ms > 0 && (first == 0 || r.created_ms < first)) first = r.created_ms;
  throw UsageError(fmt::format(
      "experiment '{}': the spec's claims differ from those stored with its {} runs in {} (first run created {}): "
      "stored {}, now {}. Claims are stated before an experiment's runs and never changed after them; to test other "
      "claims, give the experiment a new \"name\" (its runs are then made anew)",
      spec.name, runs.size(), store.path(), iso_utc(first), before.dump(), now.dump()));
}
}  // namespace

RunnerSummary run_experiment(const ExperimentSpec& spec_in, const Registries& registries, const RunnerOptions& opt) {
  ExperimentSpec spec = spec_in;
  check_runnable(spec, registries, opt.imagenet_weights);
  const torch::Device device = spec.device == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  at::set_num_threads(spec.threads > 0 ? spec.threads
                                       : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  auto files = resolve_weight_files(spec.methods, registries, opt.imagenet_weights);
  auto& not_run = files.not_run;
  spec.methods = std::move(files.runnable);

  // The experiment as asked (methods without weights included, with their notes), then its data.
  auto store = Store::open(opt.db, Store::Access::Create);
  const nlohmann::json resolved = to_json(spec_in);
  refuse_changed_claims(store, spec_in);
  store.upsert_experiment(spec.name, spec.version, canonical_json(resolved), content_hash(resolved));
  for (const auto& m : spec_in.methods)
    store.set_method_note(spec.name, m.label, not_run.count(m.label) ? not_run[m.label] : "");
  const datasets::FrameCache cache(opt.cache_dir);
  const LoadedData down =
      ensure_dataset(store, registries.datasets.get(spec.dataset.name), spec.dataset, cache, opt.log);
  check_label_noise(spec, down);
  bool any_pretraining = false;
  for (const auto& m : spec.methods) any_pretraining = any_pretraining || registries.methods.get(m.name).pretrains();
  LoadedData pre;
  if (any_pretraining)
    pre = ensure_dataset(store, registries.datasets.get(spec.pretrain_data->name), *spec.pretrain_data, cache, opt.log);
  const SplitRecord split = make_split(store, spec, down);

  const DataIdentity ids{down.record.manifest_hash, split.assignment_hash,
                         any_pretraining ? pre.record.manifest_hash : ""};
  const auto ordered = runs_of_shard(plan_runs(spec, registries, ids), opt.shard_index, opt.shard_count);
  RunnerSummary summary;
  summary.planned = static_cast<int>(ordered.size());
  summary.not_run = static_cast<int>(not_run.size());
  GridExecutor(spec, registries, opt, store, cache, down, pre, split, device).execute(ordered, summary);
  return summary;
}

}  // namespace usbench
