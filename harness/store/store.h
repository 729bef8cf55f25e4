// The SQLite run store (README Design §7): one file per machine holding experiments, data manifests, folds,
// runs with provenance and heartbeat, seeds, per-epoch metrics, per-frame predictions and artifacts.
//
// Contracts:
// - open() never modifies a file it rejects: a file that is not SQLite, a SQLite file that is not a
//   usbench store (foreign application_id, or tables without our id), or a store whose schema version
//   is newer than this binary are refused with UsageError before any write.
// - Every write runs inside a BEGIN IMMEDIATE transaction and is all-or-nothing.
// - Metric writes are idempotent on (run, epoch, split, name): rewriting an epoch replaces its row.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/store/run_state.h"
#include "harness/store/sqlite.h"

namespace usbench {

struct RunRecord {
  std::string id;
  std::string experiment;
  std::string method;
  std::string protocol;  // "" for pretraining runs
  Stage stage = Stage::Finetune;
  std::optional<int> fold;
  std::int64_t seed = 0;
  std::string config_json;  // canonical resolved config
  std::string config_hash;
  int protocol_version = 0;
  int method_version = 0;
  std::string manifest_hash;
  std::string fold_hash;
  RunStatus status = RunStatus::Pending;
  std::string error;
  std::string env_json = "{}";
  std::int64_t created_ms = 0;
  std::optional<std::int64_t> started_ms, finished_ms, heartbeat_ms;
  std::string owner_host;  // the process that holds (or last held) the run; "" before its first claim
  std::int64_t owner_pid = 0;
};

// The process that executes a run: host name, pid and a random token drawn once per process (a pid can
// be reused; the token cannot). Claims, heartbeats and final statuses carry the token.
struct RunOwner {
  std::string host;
  std::int64_t pid = 0;
  std::string token;
  static RunOwner this_process();
};

// How long a claim lives without a heartbeat, and how often a running process renews it.
constexpr std::int64_t kHeartbeatPeriodMs = 5000;
constexpr std::int64_t kStaleClaimMs = 60000;

// True when `owner` certainly no longer runs: a dead pid on this host. Another host's process can only
// be judged by its heartbeat.
bool owner_is_dead(const RunOwner& owner);

// One clip of an ingested data set, as recorded in the manifest.
struct ClipRecord {
  std::string clip_id;
  std::string path;
  std::string label;  // "" when unlabelled
  std::string group;  // fold grouping key
  int n_frames = 0;   // frames in the cache
  double source_fps = 0;
  std::string sha256;    // content hash of the source clip
  std::string sampling;  // canonical JSON: rule, stored size, cache key, source frame count
};

struct DatasetRecord {
  std::string name;
  std::string kind;    // pocus | videos | synthetic
  std::string source;  // src folder ("" for synthetic)
  std::string config_json;
  std::string manifest_hash;
  std::vector<ClipRecord> clips;
};

struct SplitRecord {
  std::string dataset;
  std::string name;  // e.g. "k5-seed0" or "upstream"
  int k = 5;
  std::optional<std::int64_t> seed;
  std::string source;  // "stratified-group-kfold" or the imported file
  std::string assignment_hash;
  std::map<std::string, int> fold_of;  // clip_id -> fold
};

struct MetricRow {
  int epoch = 0;
  std::string split;
  std::string name;
  double value = 0;
};

// Milliseconds since the Unix epoch (UTC).
std::int64_t now_ms();
// ISO-8601 UTC with milliseconds, e.g. 2026-11-25T21:03:04.123Z.
std::string iso_utc(std::int64_t ms);

class Store {
 public:
  static constexpr std::int32_t kApplicationId = 0x55534231;  // "USB1"
  static int schema_version();                                // number of migrations known to this binary

  enum class Access {
    Existing,  // the file must exist; opened for writing (migrated when older)
    Create,    // created when missing (commands that write)
    ReadOnly,  // the file must exist at this schema version; never written (runs, report, check)
  };
  // Opens, verifies identity and version, enables WAL + busy timeout, applies pending migrations.
  static Store open(const std::string& path, Access access, int busy_timeout_ms = 30000);

  // Checks that an existing file is a usbench store this binary can open, without changing a byte of it
  // (open() switches the file to WAL, which rewrites its header). Throws UsageError as open() does.
  static void verify(const std::string& path);

  // Checks, before any work, that a writing command can create the store at `path` (when missing) or
  // write it (when present): its folder exists and this process may write there (SQLite creates the
  // -wal and -shm files beside the store and removes them on close), and an existing file is writable.
  // Throws UsageError naming the path, the folder and the reason (e.g. "Permission denied", a read-only
  // mount); read commands (runs, report, check) open a store read-only and need none of this.
  static void check_writable(const std::string& path);

  Store(Store&&) = default;
  const std::string& path() const { return path_; }
  sql::Db& db() { return *db_; }

  // Runs `body` in one BEGIN IMMEDIATE transaction; rolls back if it throws.
  void write(const std::function<void()>& body);

  void upsert_experiment(const std::string& name, int version, const std::string& spec_json,
                         const std::string& spec_hash);

  // Inserts the run with its seeds if its id is new; returns false (and changes nothing) if it exists.
  bool create_run(const RunRecord& run, const std::map<std::string, std::int64_t>& seeds);
  void start_run(const std::string& id, const std::string& env_json);
  void heartbeat(const std::string& id);
  void finish_run(const std::string& id, RunStatus status, const std::string& error = "");

  // Atomically takes a run for `me` (one BEGIN IMMEDIATE transaction): Done when it is done; Busy when
  // another process holds it (status running, heartbeat younger than `stale_after_ms`, and not a dead
  // pid on this host); otherwise it becomes `running` under `me` (took_over: it was running under a
  // process judged gone). `holder` names the other process for Busy.
  enum class ClaimResult { Claimed, Done, Busy };
  struct Claim {
    ClaimResult result = ClaimResult::Claimed;
    std::string holder;
    bool took_over = false;
  };
  Claim claim_run(const std::string& id, const RunOwner& me, const std::string& env_json,
                  std::int64_t stale_after_ms = kStaleClaimMs);
  // A done run whose outputs turned out unusable goes back to `pending` (nothing else changes).
  void reopen_done_run(const std::string& id);
  // Renews `token`'s claim; false when the run is no longer running under that token (taken over).
  bool heartbeat(const std::string& id, const std::string& token);
  // Writes the final status only while `token` holds the run; false (nothing written) otherwise.
  bool finish_claimed_run(const std::string& id, const std::string& token, RunStatus status,
                          const std::string& error = "");
  // Marks `running` runs whose heartbeat is older than `stale_after_ms` as interrupted; returns how many.
  int mark_stale_runs(std::int64_t stale_after_ms);

  void put_metric(const std::string& run_id, int epoch, const std::string& split, const std::string& name,
                  double value);
  void put_metrics(const std::string& run_id, int epoch, const std::string& split,
                   const std::map<std::string, double>& values);
  void put_artifact(const std::string& run_id, const std::string& kind, int epoch, const std::string& path,
                    const std::string& sha256, std::int64_t bytes);

  // Replaces the data set's manifest in one transaction. When the manifest hash changes, its splits are
  // dropped (they described other clips); an unchanged manifest keeps them.
  struct DatasetChange {
    std::string previous_manifest;  // "" when new or unchanged
    int runs_of_previous = 0;       // recorded runs made with the previous manifest
    // One line for a person ("" when nothing changed).
    std::string describe(const std::string& name, const std::string& now_manifest) const;
  };
  DatasetChange put_dataset(const DatasetRecord& dataset);
  std::optional<DatasetRecord> dataset(const std::string& name);  // with clips, sorted by clip_id
  std::vector<std::string> dataset_names();
  // Replaces a split of a data set (all folds in one transaction). Every clip must belong to the set.
  void put_split(const SplitRecord& split);
  std::optional<SplitRecord> split(const std::string& dataset, const std::string& name);

  // A method of an experiment that produced no runs, and why; cleared when it runs.
  void set_method_note(const std::string& experiment, const std::string& method, const std::string& note);
  std::map<std::string, std::string> method_notes(const std::string& experiment);
  std::optional<std::string> experiment_spec(const std::string& name);  // resolved spec JSON

  void put_predictions(const std::string& run_id, int epoch, const std::vector<std::string>& clip_ids,
                       const std::vector<int>& frame_index, const std::vector<int>& labels,
                       const std::vector<int>& predicted, const std::vector<std::string>& scores_json);
  struct Prediction {
    std::string clip_id;
    int frame_index = 0, label = 0, predicted = 0;
  };
  std::vector<Prediction> predictions(const std::string& run_id, int epoch);
  // Artifact path and SHA-256 of (run, kind) at its latest epoch, if any.
  std::optional<std::pair<std::string, std::string>> artifact(const std::string& run_id, const std::string& kind);
  // A run's resume checkpoint: one row of kind "checkpoint" per run (older epochs' rows are dropped),
  // written after the file is complete. Resuming verifies the file against it (README Design §7).
  void put_checkpoint(const std::string& run_id, int epoch, const std::string& path, const std::string& sha256,
                      std::int64_t bytes);
  struct CheckpointRecord {
    int epoch = 0;
    std::string path, sha256;
    std::int64_t bytes = 0;
  };
  std::optional<CheckpointRecord> checkpoint(const std::string& run_id);
  void drop_checkpoint(const std::string& run_id);

  // Merges another store (e.g. a shard of the same experiments) into this one, in one transaction:
  // data sets, splits, experiments, method notes, and runs with their seeds, metrics, predictions and
  // artifacts. A run id (a content hash) already here is kept, unless it is unfinished here and done
  // there, in which case the done one replaces it. The newer spec and notes of an experiment win.
  // UsageError, with nothing written, when the source is not a store at this schema version or when a
  // data set or split of the same name describes other clips or folds.
  struct MergeCounts {
    int runs_added = 0, runs_replaced = 0, runs_present = 0, datasets_added = 0, experiments_updated = 0;
  };
  MergeCounts merge_from(const std::string& source);

  std::vector<RunRecord> runs(const std::string& experiment = "");
  // Exact id or unique prefix (at least 4 characters); UsageError when ambiguous; nullopt when absent.
  std::optional<RunRecord> find_run(const std::string& id_or_prefix);
  std::vector<MetricRow> metrics(const std::string& run_id);
  std::map<std::string, std::int64_t> seeds(const std::string& run_id);

 private:
  Store(std::string path, std::unique_ptr<sql::Db> db) : path_(std::move(path)), db_(std::move(db)) {}
  void migrate();
  std::string path_;
  std::unique_ptr<sql::Db> db_;
};

// The status a person should see: a `running` run whose heartbeat is older than `stale_after_ms`, or
// whose process is dead on this host, was killed or lost and is shown as `stale` (the next `run` takes
// it over and resumes it).
std::string effective_status(const RunRecord& run, std::int64_t now, std::int64_t stale_after_ms);

}  // namespace usbench
