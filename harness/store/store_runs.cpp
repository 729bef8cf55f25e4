// The store, part 2 (harness/store/store.h): runs and what they record. A run's life (created, claimed by
// one process, kept alive by its heartbeat, finished once by its holder; docs: README "Runs, seeds and the
// store") and its results: per-epoch metrics, test predictions, artifacts and resume checkpoints. Part 1,
// store.cpp, is the file itself (open, check, migrate) and the records runs refer to (experiments, data
// sets, splits).
#include "harness/store/store.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "harness/errors.h"

namespace usbench {

RunOwner RunOwner::this_process() {
  RunOwner o;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) o.host = host;
  o.pid = static_cast<std::int64_t>(::getpid());
  std::random_device rd;
  o.token = fmt::format("{:08x}{:08x}{:08x}", rd(), rd(), rd());
  return o;
}

bool owner_is_dead(const RunOwner& owner) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || owner.host != host || owner.pid <= 0) return false;
  if (::kill(static_cast<pid_t>(owner.pid), 0) != 0) return errno == ESRCH;
  // A killed process nobody has reaped yet (a zombie: in containers PID 1 often does not reap) is dead too.
  std::ifstream stat("/proc/" + std::to_string(owner.pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');  // the state follows the command name, which may hold spaces
  return close != std::string::npos && close + 2 < line.size() && (line[close + 2] == 'Z' || line[close + 2] == 'X');
}

bool Store::create_run(const RunRecord& r, const std::map<std::string, std::int64_t>& seeds) {
  bool created = false;
  write([&] {
    sql::Stmt s(*db_,
                "INSERT INTO runs(id, experiment, method, protocol, stage, fold, seed, config_json, "
                "config_hash, protocol_version, method_version, manifest_hash, fold_hash, status, error, env_json, "
                "created_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING");
    s.bind(1, r.id).bind(2, r.experiment).bind(3, r.method).bind(4, r.protocol).bind(5, to_string(r.stage));
    s.bind(6, r.fold).bind(7, r.seed).bind(8, r.config_json).bind(9, r.config_hash);
    s.bind(10, r.protocol_version).bind(11, r.method_version).bind(12, r.manifest_hash).bind(13, r.fold_hash);
    s.bind(14, to_string(r.status))
        .bind(15, r.error)
        .bind(16, r.env_json)
        .bind(17, r.created_ms ? r.created_ms : now_ms());
    s.run();
    created = db_->changes() > 0;
    if (!created) return;
    sql::Stmt seed(*db_, "INSERT INTO seeds(run_id, stream, value) VALUES (?,?,?)");
    for (const auto& [stream, value] : seeds) {
      seed.bind(1, r.id).bind(2, stream).bind(3, value).run();
      seed.reset();
    }
  });
  return created;
}

void Store::start_run(const std::string& id, const std::string& env_json) {
  write([&] {
    const auto t = now_ms();
    sql::Stmt s(*db_,
                "UPDATE runs SET status='running', error='', env_json=?, started_ms=coalesce(started_ms, ?), "
                "heartbeat_ms=? WHERE id=?");
    s.bind(1, env_json).bind(2, t).bind(3, t).bind(4, id).run();
    if (db_->changes() != 1) throw std::runtime_error("start_run: no run with id " + id);
  });
}

Store::Claim Store::claim_run(const std::string& id, const RunOwner& me, const std::string& env_json,
                              std::int64_t stale_after_ms) {
  Claim claim;
  write([&] {
    sql::Stmt q(*db_,
                "SELECT status, owner_host, owner_pid, owner_token, coalesce(heartbeat_ms, 0) FROM runs WHERE id=?");
    q.bind(1, id);
    if (!q.step()) throw std::runtime_error("claim_run: no run with id " + id);
    const std::string status = q.text(0);
    if (status == "done") {
      claim.result = ClaimResult::Done;
      return;
    }
    const RunOwner holder{q.text(1), q.int64(2), q.text(3)};
    const std::int64_t heartbeat = q.int64(4), t = now_ms();
    if (status == "running" && holder.token != me.token) {
      if (t - heartbeat <= stale_after_ms && !owner_is_dead(holder)) {
        claim.result = ClaimResult::Busy;
        claim.holder =
            fmt::format("process {} on {} (heartbeat {:.0f} s ago)", holder.pid, holder.host, (t - heartbeat) / 1000.0);
        return;
      }
      claim.took_over = true;
      claim.holder = fmt::format("process {} on {}", holder.pid, holder.host);
    }
    sql::Stmt s(*db_,
                "UPDATE runs SET status='running', error='', env_json=?, started_ms=coalesce(started_ms, ?), "
                "heartbeat_ms=?, owner_host=?, owner_pid=?, owner_token=? WHERE id=?");
    s.bind(1, env_json).bind(2, t).bind(3, t).bind(4, me.host).bind(5, me.pid).bind(6, me.token).bind(7, id).run();
  });
  return claim;
}

void Store::reopen_done_run(const std::string& id) {
  write([&] {
    sql::Stmt s(*db_, "UPDATE runs SET status='pending' WHERE id=? AND status='done'");
    s.bind(1, id).run();
  });
}

bool Store::heartbeat(const std::string& id, const std::string& token) {
  bool ours = false;
  write([&] {
    sql::Stmt s(*db_, "UPDATE runs SET heartbeat_ms=? WHERE id=? AND owner_token=? AND status='running'");
    s.bind(1, now_ms()).bind(2, id).bind(3, token).run();
    ours = db_->changes() == 1;
  });
  return ours;
}

bool Store::finish_claimed_run(const std::string& id, const std::string& token, RunStatus status,
                               const std::string& error) {
  if (status != RunStatus::Done && status != RunStatus::Failed && status != RunStatus::Interrupted)
    throw std::invalid_argument(std::string("finish_claimed_run: not a final status: ") + to_string(status));
  bool ours = false;
  write([&] {
    const auto t = now_ms();
    sql::Stmt s(*db_,
                "UPDATE runs SET status=?, error=?, finished_ms=?, heartbeat_ms=? WHERE id=? AND owner_token=? "
                "AND status='running'");
    s.bind(1, to_string(status)).bind(2, error).bind(3, t).bind(4, t).bind(5, id).bind(6, token).run();
    ours = db_->changes() == 1;
  });
  return ours;
}

void Store::heartbeat(const std::string& id) {
  write([&] {
    sql::Stmt s(*db_, "UPDATE runs SET heartbeat_ms=? WHERE id=?");
    s.bind(1, now_ms()).bind(2, id).run();
  });
}

void Store::finish_run(const std::string& id, RunStatus status, const std::string& error) {
  if (status != RunStatus::Done && status != RunStatus::Failed && status != RunStatus::Interrupted)
    throw std::invalid_argument(std::string("finish_run: not a final status: ") + to_string(status));
  write([&] {
    const auto t = now_ms();
    sql::Stmt s(*db_, "UPDATE runs SET status=?, error=?, finished_ms=?, heartbeat_ms=? WHERE id=?");
    s.bind(1, to_string(status)).bind(2, error).bind(3, t).bind(4, t).bind(5, id).run();
  });
}

int Store::mark_stale_runs(std::int64_t stale_after_ms) {
  int n = 0;
  write([&] {
    sql::Stmt s(*db_,
                "UPDATE runs SET status='interrupted', error='no heartbeat since ' || heartbeat_ms "
                "WHERE status='running' AND coalesce(heartbeat_ms, 0) < ?");
    s.bind(1, now_ms() - stale_after_ms).run();
    n = db_->changes();
  });
  return n;
}

void Store::put_metric(const std::string& run_id, int epoch, const std::string& split, const std::string& name,
                       double value) {
  put_metrics(run_id, epoch, split, {{name, value}});
}

void Store::put_metrics(const std::string& run_id, int epoch, const std::string& split,
                        const std::map<std::string, double>& values) {
  write([&] {
    sql::Stmt s(*db_,
                "INSERT INTO metrics(run_id, epoch, split, name, value, recorded_ms) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(run_id, epoch, split, name) DO UPDATE SET value=excluded.value, "
                "recorded_ms=excluded.recorded_ms");
    const auto t = now_ms();
    for (const auto& [name, value] : values) {
      s.bind(1, run_id).bind(2, epoch).bind(3, split).bind(4, name).bind(5, value).bind(6, t).run();
      s.reset();
    }
  });
}

void Store::put_artifact(const std::string& run_id, const std::string& kind, int epoch, const std::string& path,
                         const std::string& sha256, std::int64_t bytes) {
  write([&] {
    sql::Stmt s(*db_,
                "INSERT INTO artifacts(run_id, kind, epoch, path, sha256, bytes, created_ms) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT(run_id, kind, epoch) DO UPDATE SET path=excluded.path, sha256=excluded.sha256, "
                "bytes=excluded.bytes, created_ms=excluded.created_ms");
    s.bind(1, run_id).bind(2, kind).bind(3, epoch).bind(4, path).bind(5, sha256).bind(6, bytes).bind(7, now_ms());
    s.run();
  });
}

void Store::put_predictions(const std::string& run_id, int epoch, const std::vector<std::string>& clip_ids,
                            const std::vector<int>& frame_index, const std::vector<int>& labels,
                            const std::vector<int>& predicted, const std::vector<std::string>& scores_json) {
  write([&] {
    sql::Stmt s(*db_,
                "INSERT INTO predictions(run_id, epoch, clip_id, frame_index, label, predicted, scores_json) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(run_id, epoch, clip_id, frame_index) DO UPDATE SET "
                "label=excluded.label, predicted=excluded.predicted, scores_json=excluded.scores_json");
    for (std::size_t i = 0; i < clip_ids.size(); ++i) {
      s.bind(1, run_id).bind(2, epoch).bind(3, clip_ids[i]).bind(4, frame_index[i]).bind(5, labels[i]);
      s.bind(6, predicted[i]).bind(7, scores_json[i]).run();
      s.reset();
    }
  });
}

std::vector<Store::Prediction> Store::predictions(const std::string& run_id, int epoch) {
  sql::Stmt q(*db_,
              "SELECT clip_id, frame_index, label, predicted FROM predictions WHERE run_id=? AND epoch=? "
              "ORDER BY clip_id, frame_index");
  q.bind(1, run_id).bind(2, epoch);
  std::vector<Prediction> out;
  while (q.step())
    out.push_back(
        {q.text(0), static_cast<int>(q.int64(1)), static_cast<int>(q.int64(2)), static_cast<int>(q.int64(3))});
  return out;
}

std::optional<std::pair<std::string, std::string>> Store::artifact(const std::string& run_id, const std::string& kind) {
  sql::Stmt q(*db_, "SELECT path, sha256 FROM artifacts WHERE run_id=? AND kind=? ORDER BY epoch DESC LIMIT 1");
  q.bind(1, run_id).bind(2, kind);
  if (!q.step()) return std::nullopt;
  return std::make_pair(q.text(0), q.text(1));
}

void Store::put_checkpoint(const std::string& run_id, int epoch, const std::string& path, const std::string& sha256,
                           std::int64_t bytes) {
  write([&] {
    sql::Stmt del(*db_, "DELETE FROM artifacts WHERE run_id=? AND kind='checkpoint'");
    del.bind(1, run_id).run();
    sql::Stmt s(*db_,
                "INSERT INTO artifacts(run_id, kind, epoch, path, sha256, bytes, created_ms) VALUES "
                "(?,'checkpoint',?,?,?,?,?)");
    s.bind(1, run_id).bind(2, epoch).bind(3, path).bind(4, sha256).bind(5, bytes).bind(6, now_ms()).run();
  });
}

std::optional<Store::CheckpointRecord> Store::checkpoint(const std::string& run_id) {
  sql::Stmt q(*db_,
              "SELECT epoch, path, sha256, bytes FROM artifacts WHERE run_id=? AND kind='checkpoint' "
              "ORDER BY epoch DESC LIMIT 1");
  q.bind(1, run_id);
  if (!q.step()) return std::nullopt;
  return CheckpointRecord{static_cast<int>(q.int64(0)), q.text(1), q.text(2), q.int64(3)};
}

void Store::drop_checkpoint(const std::string& run_id) {
  write([&] {
    sql::Stmt del(*db_, "DELETE FROM artifacts WHERE run_id=? AND kind='checkpoint'");
    del.bind(1, run_id).run();
  });
}

const char* to_string(Stage stage) {
  switch (stage) {
    case Stage::Pretrain:
      return "pretrain";
    case Stage::Finetune:
      return "finetune";
    case Stage::Probe:
      return "probe";
  }
  return "?";
}

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::Pending:
      return "pending";
    case RunStatus::Running:
      return "running";
    case RunStatus::Done:
      return "done";
    case RunStatus::Failed:
      return "failed";
    case RunStatus::Interrupted:
      return "interrupted";
  }
  return "?";
}

Stage parse_stage(const std::string& text) {
  for (const Stage s : {Stage::Pretrain, Stage::Finetune, Stage::Probe})
    if (text == to_string(s)) return s;
  throw RunFailure("a run's stage reads '" + text + "', which no usbench writes: the store is damaged");
}

RunStatus parse_run_status(const std::string& text) {
  for (const RunStatus s :
       {RunStatus::Pending, RunStatus::Running, RunStatus::Done, RunStatus::Failed, RunStatus::Interrupted})
    if (text == to_string(s)) return s;
  throw RunFailure("a run's status reads '" + text + "', which no usbench writes: the store is damaged");
}

namespace {
const char* kRunColumns =
    "id, experiment, method, protocol, stage, fold, seed, config_json, config_hash, protocol_version, "
    "method_version, manifest_hash, fold_hash, status, error, env_json, created_ms, started_ms, finished_ms, "
    "heartbeat_ms, owner_host, owner_pid";

std::optional<std::int64_t> opt_int(const sql::Stmt& s, int col) {
  if (s.is_null(col)) return std::nullopt;
  return s.int64(col);
}

RunRecord read_run(const sql::Stmt& s) {
  RunRecord r;
  r.id = s.text(0);
  r.experiment = s.text(1);
  r.method = s.text(2);
  r.protocol = s.text(3);
  r.stage = parse_stage(s.text(4));
  if (!s.is_null(5)) r.fold = static_cast<int>(s.int64(5));
  r.seed = s.int64(6);
  r.config_json = s.text(7);
  r.config_hash = s.text(8);
  r.protocol_version = static_cast<int>(s.int64(9));
  r.method_version = static_cast<int>(s.int64(10));
  r.manifest_hash = s.text(11);
  r.fold_hash = s.text(12);
  r.status = parse_run_status(s.text(13));
  r.error = s.text(14);
  r.env_json = s.text(15);
  r.created_ms = s.int64(16);
  r.started_ms = opt_int(s, 17);
  r.finished_ms = opt_int(s, 18);
  r.heartbeat_ms = opt_int(s, 19);
  r.owner_host = s.text(20);
  r.owner_pid = s.int64(21);
  return r;
}
}  // namespace

std::vector<RunRecord> Store::runs(const std::string& experiment) {
  sql::Stmt s(*db_, fmt::format("SELECT {} FROM runs WHERE ?1 = '' OR experiment = ?1 "
                                "ORDER BY experiment, stage = 'pretrain' DESC, method, protocol, seed, fold, id",
                                kRunColumns));
  s.bind(1, experiment);
  std::vector<RunRecord> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

std::optional<RunRecord> Store::find_run(const std::string& id_or_prefix) {
  {
    sql::Stmt exact(*db_, fmt::format("SELECT {} FROM runs WHERE id = ?", kRunColumns));
    exact.bind(1, id_or_prefix);
    if (exact.step()) return read_run(exact);
  }
  if (id_or_prefix.size() < 4)
    throw UsageError("run id '" + id_or_prefix + "' is too short: give at least 4 characters");
  sql::Stmt s(*db_,
              fmt::format("SELECT {} FROM runs WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT 2", kRunColumns));
  s.bind(1, id_or_prefix);
  if (!s.step()) return std::nullopt;
  RunRecord first = read_run(s);
  if (s.step()) throw UsageError("run id prefix '" + id_or_prefix + "' is ambiguous: give more characters");
  return first;
}

std::vector<MetricRow> Store::metrics(const std::string& run_id) {
  sql::Stmt s(*db_, "SELECT epoch, split, name, value FROM metrics WHERE run_id=? ORDER BY epoch, split, name");
  s.bind(1, run_id);
  std::vector<MetricRow> out;
  while (s.step()) out.push_back({static_cast<int>(s.int64(0)), s.text(1), s.text(2), s.real(3)});
  return out;
}

std::map<std::string, std::int64_t> Store::seeds(const std::string& run_id) {
  sql::Stmt s(*db_, "SELECT stream, value FROM seeds WHERE run_id=?");
  s.bind(1, run_id);
  std::map<std::string, std::int64_t> out;
  while (s.step()) out[s.text(0)] = s.int64(1);
  return out;
}

std::string effective_status(const RunRecord& run, std::int64_t now, std::int64_t stale_after_ms) {
  if (run.status == RunStatus::Running && (now - run.heartbeat_ms.value_or(0) > stale_after_ms ||
                                           owner_is_dead(RunOwner{run.owner_host, run.owner_pid, ""})))
    return "stale";
  return to_string(run.status);
}

}  // namespace usbench
