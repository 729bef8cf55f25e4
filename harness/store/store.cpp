#include "harness/store/store.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <random>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "harness/errors.h"
#include "harness/input_file.h"
#include "harness/store/migrations.h"

namespace usbench {

namespace fs = std::filesystem;

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string iso_utc(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms % 1000));
}

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

int Store::schema_version() { return static_cast<int>(store_migrations().size()); }

namespace {

// True when the first 16 bytes are SQLite's magic header (an empty file counts as a new database).
bool looks_like_sqlite(const std::string& path, bool& empty) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot read the file");
  char header[16] = {};
  in.read(header, sizeof header);
  empty = in.gcount() == 0;
  return empty || (in.gcount() == 16 && std::string(header, 16) == std::string("SQLite format 3\0", 16));
}

// The tables (and the runs columns) a store of `version` must have: a store whose tables were dropped or
// altered by hand is refused by name instead of being rewritten or failing later with a raw message.
void check_schema(sql::Db& db, const std::string& path, int version) {
  if (version == 0) return;  // new or empty: migrations create everything
  std::vector<std::string> tables = {"experiments", "datasets", "clips", "splits", "folds", "runs",
                                     "seeds", "metrics", "predictions", "artifacts"};
  if (version >= 2) tables.push_back("method_notes");
  std::string missing;
  for (const auto& t : tables) {
    sql::Stmt q(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
    q.bind(1, t);
    if (q.step() && q.int64(0) == 0) missing += (missing.empty() ? "" : ", ") + t;
  }
  if (!missing.empty())
    throw UsageError(fmt::format("{}: damaged usbench store (schema version {}): table(s) {} missing; refusing to touch it", path,
                                 version, missing));
  const std::string columns = version >= 3 ? "id, status, heartbeat_ms, owner_host, owner_pid, owner_token" : "id, status, heartbeat_ms";
  try {
    sql::Stmt q(db, "SELECT " + columns + " FROM runs LIMIT 0");
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("{}: damaged usbench store (schema version {}): table runs lacks columns ({}); refusing to touch it",
                                 path, version, e.what()));
  }
}

// Identity and version checks; they only read, so a rejected file stays byte-identical.
void check_identity(sql::Db& db, const std::string& path, int busy_timeout_ms) {
  try {
    db.exec("PRAGMA busy_timeout = " + std::to_string(busy_timeout_ms));
    const auto app_id = static_cast<std::int32_t>(db.scalar_int("PRAGMA application_id"));
    const auto version = db.scalar_int("PRAGMA user_version");
    const auto objects = db.scalar_int("SELECT count(*) FROM sqlite_master");
    if (app_id != Store::kApplicationId && (app_id != 0 || objects > 0 || version != 0))
      throw UsageError(fmt::format(
          "{}: not a usbench store (SQLite application_id {:#x}, expected {:#x}); refusing to touch it", path,
          static_cast<std::uint32_t>(app_id), static_cast<std::uint32_t>(Store::kApplicationId)));
    if (version < 0)
      throw UsageError(fmt::format("{}: store schema version {} is not one usbench ever wrote; refusing to touch it", path, version));
    if (version > Store::schema_version())
      throw UsageError(fmt::format(
          "{}: store schema version {} is newer than this usbench binary understands ({}); upgrade usbench or "
          "use another --db",
          path, version, Store::schema_version()));
    check_schema(db, path, static_cast<int>(version));
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw UsageError(path + ": cannot open as a usbench store: " + e.what());
  }
}

void check_file(const std::string& path) {
  // Not a regular file: a directory, /dev/null (SQLite would create /dev/null-journal), a FIFO (reading
  // it blocks forever), a device.
  if (const auto kind = describe_non_regular(path); !kind.empty())
    throw UsageError(path + ": a usbench store must be a regular file (or a new path), this is " + kind);
  bool empty = false;
  if (!looks_like_sqlite(path, empty))
    throw UsageError(path + ": not a usbench store (not an SQLite database); refusing to touch it");
}

}  // namespace

void Store::check_writable(const std::string& path) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  const auto parent = fs::path(path).parent_path();
  const fs::path folder = parent.empty() ? fs::path(".") : parent;
  const char* verb = exists ? "write" : "create";
  if (!fs::is_directory(folder, ec))
    throw UsageError(fmt::format("{}: cannot {} a usbench store: folder {} does not exist", path, verb, folder.string()));
  // Effective ids (AT_EACCESS), as the open() calls that follow will be checked; EROFS for a read-only mount.
  auto denied = [](const fs::path& p, int mode) {
    return ::faccessat(AT_FDCWD, p.c_str(), mode, AT_EACCESS) == 0 ? std::string() : std::string(std::strerror(errno));
  };
  if (const auto why = denied(folder, W_OK | X_OK); !why.empty())
    throw UsageError(fmt::format("{}: cannot {} a usbench store: folder {} is not writable ({}); read commands (runs list, "
                                 "report, check) open a store read-only, writing ones need a writable folder",
                                 path, verb, folder.string(), why));
  if (exists)
    if (const auto why = denied(path, R_OK | W_OK); !why.empty())
      throw UsageError(fmt::format("{}: cannot write this usbench store ({}); read commands (runs list, report, check) "
                                   "open it read-only",
                                   path, why));
}

void Store::verify(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw UsageError(path + ": no usbench store here");
  check_file(path);
  sql::Db db(path, sql::Db::Mode::Inspect);  // no -wal or -shm is created beside a file it refuses
  check_identity(db, path, 30000);
}

Store Store::open(const std::string& path, Access access, int busy_timeout_ms) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (!exists && access != Access::Create)
    throw UsageError(path + ": no usbench store here (pass --db FILE, or run a command that records results first)");
  if (exists) verify(path);  // identity, version and schema, read through an immutable connection
  if (access == Access::ReadOnly) {
    // Read commands never write: no WAL switch, no migration, so a store on a read-only mount can be
    // listed and reported. A store of an older schema must be opened once by a writing command.
    // SQLite reads a WAL-mode store through its -shm file, which it must create when missing; in a
    // folder this process cannot write it cannot, so there the store is read as immutable (no locks: no
    // writer can reach a read-only folder either). A -wal file with content there would be ignored by
    // that, so such a store is refused instead of reported stale.
    const auto folder = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
    const bool folder_writable = ::faccessat(AT_FDCWD, folder.c_str(), W_OK | X_OK, AT_EACCESS) == 0;
    auto mode = sql::Db::Mode::ReadOnly;
    if (!folder_writable && !fs::exists(path + "-shm", ec)) {
      if (fs::exists(path + "-wal", ec) && fs::file_size(path + "-wal", ec) > 0)
        throw UsageError(fmt::format("{}: its folder is read-only and {}-wal holds changes never checkpointed into it; read "
                                     "it where it is writable (or copy the store, -wal included, to such a folder)",
                                     path, path));
      mode = sql::Db::Mode::Inspect;
    }
    auto db = std::make_unique<sql::Db>(path, mode);
    db->exec("PRAGMA busy_timeout = " + std::to_string(busy_timeout_ms));
    const auto version = db->scalar_int("PRAGMA user_version");
    if (version != schema_version())
      throw UsageError(fmt::format("{}: store schema version {}, this usbench reads version {}; run a writing command on it "
                                   "once (e.g. usbench ingest or usbench run) to migrate it",
                                   path, version, schema_version()));
    return Store(path, std::move(db));
  }
  check_writable(path);

  auto db = std::make_unique<sql::Db>(path, exists ? sql::Db::Mode::ReadWrite : sql::Db::Mode::ReadWriteCreate);
  check_identity(*db, path, busy_timeout_ms);
  db->exec("PRAGMA journal_mode = WAL");
  db->exec("PRAGMA synchronous = NORMAL");
  db->exec("PRAGMA foreign_keys = ON");
  Store store(path, std::move(db));
  store.migrate();
  return store;
}

void Store::migrate() {
  const auto& migrations = store_migrations();
  sql::Transaction tx(*db_);
  // Re-read inside the write lock: another process may have migrated since open() looked.
  const auto version = db_->scalar_int("PRAGMA user_version");
  if (version >= schema_version()) return;  // nothing to do; the guard rolls back the empty transaction
  for (std::size_t i = static_cast<std::size_t>(version); i < migrations.size(); ++i) db_->exec(migrations[i]);
  db_->exec(fmt::format("PRAGMA application_id = {}", kApplicationId));
  db_->exec(fmt::format("PRAGMA user_version = {}", schema_version()));
  tx.commit();
}

void Store::write(const std::function<void()>& body) {
  sql::Transaction tx(*db_);
  body();
  tx.commit();
}

void Store::upsert_experiment(const std::string& name, int version, const std::string& spec_json,
                              const std::string& spec_hash) {
  write([&] {
    sql::Stmt s(*db_,
                "INSERT INTO experiments(name, version, spec_json, spec_hash, updated_ms) VALUES (?,?,?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET version=excluded.version, spec_json=excluded.spec_json, "
                "spec_hash=excluded.spec_hash, updated_ms=excluded.updated_ms");
    s.bind(1, name).bind(2, version).bind(3, spec_json).bind(4, spec_hash).bind(5, now_ms()).run();
  });
}

bool Store::create_run(const RunRecord& r, const std::map<std::string, std::int64_t>& seeds) {
  bool created = false;
  write([&] {
    sql::Stmt s(*db_,
                "INSERT INTO runs(id, experiment, method, protocol, stage, fold, seed, config_json, "
                "config_hash, protocol_version, method_version, manifest_hash, fold_hash, status, error, env_json, "
                "created_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING");
    s.bind(1, r.id).bind(2, r.experiment).bind(3, r.method).bind(4, r.protocol).bind(5, r.stage);
    s.bind(6, r.fold).bind(7, r.seed).bind(8, r.config_json).bind(9, r.config_hash);
    s.bind(10, r.protocol_version).bind(11, r.method_version).bind(12, r.manifest_hash).bind(13, r.fold_hash);
    s.bind(14, r.status).bind(15, r.error).bind(16, r.env_json).bind(17, r.created_ms ? r.created_ms : now_ms());
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
    sql::Stmt q(*db_, "SELECT status, owner_host, owner_pid, owner_token, coalesce(heartbeat_ms, 0) FROM runs WHERE id=?");
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
        claim.holder = fmt::format("process {} on {} (heartbeat {:.0f} s ago)", holder.pid, holder.host, (t - heartbeat) / 1000.0);
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

bool Store::finish_claimed_run(const std::string& id, const std::string& token, const std::string& status,
                               const std::string& error) {
  if (status != "done" && status != "failed" && status != "interrupted")
    throw std::invalid_argument("finish_claimed_run: bad final status " + status);
  bool ours = false;
  write([&] {
    const auto t = now_ms();
    sql::Stmt s(*db_, "UPDATE runs SET status=?, error=?, finished_ms=?, heartbeat_ms=? WHERE id=? AND owner_token=? "
                      "AND status='running'");
    s.bind(1, status).bind(2, error).bind(3, t).bind(4, t).bind(5, id).bind(6, token).run();
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

void Store::finish_run(const std::string& id, const std::string& status, const std::string& error) {
  if (status != "done" && status != "failed" && status != "interrupted")
    throw std::invalid_argument("finish_run: bad final status " + status);
  write([&] {
    const auto t = now_ms();
    sql::Stmt s(*db_, "UPDATE runs SET status=?, error=?, finished_ms=?, heartbeat_ms=? WHERE id=?");
    s.bind(1, status).bind(2, error).bind(3, t).bind(4, t).bind(5, id).run();
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

Store::DatasetChange Store::put_dataset(const DatasetRecord& d) {
  DatasetChange change;
  write([&] {
    std::string previous;
    {
      sql::Stmt q(*db_, "SELECT manifest_hash FROM datasets WHERE name=?");
      q.bind(1, d.name);
      if (q.step()) previous = q.text(0);
    }
    if (!previous.empty() && previous != d.manifest_hash) {
      change.previous_manifest = previous;
      sql::Stmt runs(*db_, "SELECT count(*) FROM runs WHERE manifest_hash=?");
      runs.bind(1, previous);
      if (runs.step()) change.runs_of_previous = static_cast<int>(runs.int64(0));
      sql::Stmt del(*db_, "DELETE FROM splits WHERE dataset=?");
      del.bind(1, d.name).run();
    }
    sql::Stmt delc(*db_, "DELETE FROM clips WHERE dataset=?");
    delc.bind(1, d.name).run();
    sql::Stmt up(*db_,
                 "INSERT INTO datasets(name, kind, source, config_json, manifest_hash, created_ms) VALUES (?,?,?,?,?,?) "
                 "ON CONFLICT(name) DO UPDATE SET kind=excluded.kind, source=excluded.source, "
                 "config_json=excluded.config_json, manifest_hash=excluded.manifest_hash, created_ms=excluded.created_ms");
    up.bind(1, d.name).bind(2, d.kind).bind(3, d.source).bind(4, d.config_json).bind(5, d.manifest_hash).bind(6, now_ms());
    up.run();
    sql::Stmt ins(*db_,
                  "INSERT INTO clips(dataset, clip_id, path, label, grp, n_frames, source_fps, sha256, sampling) "
                  "VALUES (?,?,?,?,?,?,?,?,?)");
    for (const auto& c : d.clips) {
      ins.bind(1, d.name).bind(2, c.clip_id).bind(3, c.path);
      if (c.label.empty())
        ins.bind_null(4);
      else
        ins.bind(4, c.label);
      ins.bind(5, c.group).bind(6, c.n_frames).bind(7, c.source_fps).bind(8, c.sha256).bind(9, c.sampling);
      ins.run();
      ins.reset();
    }
  });
  return change;
}

std::string Store::DatasetChange::describe(const std::string& name, const std::string& now) const {
  if (previous_manifest.empty()) return "";
  return fmt::format("data set '{}' changed: manifest {} -> {} (other clips, labels or sampling than recorded before); {} "
                     "recorded run(s) belong to the old manifest and keep their results under their own ids",
                     name, previous_manifest.substr(0, 12), now.substr(0, 12), runs_of_previous);
}

std::optional<DatasetRecord> Store::dataset(const std::string& name) {
  DatasetRecord d;
  {
    sql::Stmt q(*db_, "SELECT name, kind, source, config_json, manifest_hash FROM datasets WHERE name=?");
    q.bind(1, name);
    if (!q.step()) return std::nullopt;
    d.name = q.text(0);
    d.kind = q.text(1);
    d.source = q.text(2);
    d.config_json = q.text(3);
    d.manifest_hash = q.text(4);
  }
  sql::Stmt c(*db_,
              "SELECT clip_id, path, coalesce(label, ''), grp, n_frames, coalesce(source_fps, 0), sha256, sampling "
              "FROM clips WHERE dataset=? ORDER BY clip_id");
  c.bind(1, name);
  while (c.step())
    d.clips.push_back({c.text(0), c.text(1), c.text(2), c.text(3), static_cast<int>(c.int64(4)), c.real(5), c.text(6),
                       c.text(7)});
  return d;
}

std::vector<std::string> Store::dataset_names() {
  sql::Stmt q(*db_, "SELECT name FROM datasets ORDER BY name");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

void Store::put_split(const SplitRecord& s) {
  write([&] {
    sql::Stmt del(*db_, "DELETE FROM splits WHERE dataset=? AND name=?");
    del.bind(1, s.dataset).bind(2, s.name).run();
    sql::Stmt ins(*db_,
                  "INSERT INTO splits(dataset, name, k, seed, source, assignment_hash, created_ms) VALUES (?,?,?,?,?,?,?)");
    ins.bind(1, s.dataset).bind(2, s.name).bind(3, s.k).bind(4, s.seed).bind(5, s.source).bind(6, s.assignment_hash);
    ins.bind(7, now_ms()).run();
    sql::Stmt known(*db_, "SELECT count(*) FROM clips WHERE dataset=? AND clip_id=?");
    sql::Stmt f(*db_, "INSERT INTO folds(dataset, split, clip_id, fold) VALUES (?,?,?,?)");
    for (const auto& [clip, fold] : s.fold_of) {
      known.bind(1, s.dataset).bind(2, clip);
      known.step();
      const bool exists = known.int64(0) == 1;
      known.reset();
      if (!exists) throw UsageError("split " + s.name + ": clip '" + clip + "' is not in data set " + s.dataset);
      f.bind(1, s.dataset).bind(2, s.name).bind(3, clip).bind(4, fold).run();
      f.reset();
    }
  });
}

std::optional<SplitRecord> Store::split(const std::string& dataset, const std::string& name) {
  SplitRecord s;
  {
    sql::Stmt q(*db_, "SELECT k, seed, source, assignment_hash FROM splits WHERE dataset=? AND name=?");
    q.bind(1, dataset).bind(2, name);
    if (!q.step()) return std::nullopt;
    s.dataset = dataset;
    s.name = name;
    s.k = static_cast<int>(q.int64(0));
    if (!q.is_null(1)) s.seed = q.int64(1);
    s.source = q.text(2);
    s.assignment_hash = q.text(3);
  }
  sql::Stmt f(*db_, "SELECT clip_id, fold FROM folds WHERE dataset=? AND split=?");
  f.bind(1, dataset).bind(2, name);
  while (f.step()) s.fold_of[f.text(0)] = static_cast<int>(f.int64(1));
  return s;
}

void Store::set_method_note(const std::string& experiment, const std::string& method, const std::string& note) {
  write([&] {
    if (note.empty()) {
      sql::Stmt d(*db_, "DELETE FROM method_notes WHERE experiment=? AND method=?");
      d.bind(1, experiment).bind(2, method).run();
      return;
    }
    sql::Stmt s(*db_,
                "INSERT INTO method_notes(experiment, method, note, updated_ms) VALUES (?,?,?,?) "
                "ON CONFLICT(experiment, method) DO UPDATE SET note=excluded.note, updated_ms=excluded.updated_ms");
    s.bind(1, experiment).bind(2, method).bind(3, note).bind(4, now_ms()).run();
  });
}

std::map<std::string, std::string> Store::method_notes(const std::string& experiment) {
  sql::Stmt q(*db_, "SELECT method, note FROM method_notes WHERE experiment=?");
  q.bind(1, experiment);
  std::map<std::string, std::string> out;
  while (q.step()) out[q.text(0)] = q.text(1);
  return out;
}

std::optional<std::string> Store::experiment_spec(const std::string& name) {
  sql::Stmt q(*db_, "SELECT spec_json FROM experiments WHERE name=?");
  q.bind(1, name);
  if (!q.step()) return std::nullopt;
  return q.text(0);
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
  sql::Stmt q(*db_, "SELECT clip_id, frame_index, label, predicted FROM predictions WHERE run_id=? AND epoch=? "
                    "ORDER BY clip_id, frame_index");
  q.bind(1, run_id).bind(2, epoch);
  std::vector<Prediction> out;
  while (q.step())
    out.push_back({q.text(0), static_cast<int>(q.int64(1)), static_cast<int>(q.int64(2)), static_cast<int>(q.int64(3))});
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
    sql::Stmt s(*db_, "INSERT INTO artifacts(run_id, kind, epoch, path, sha256, bytes, created_ms) VALUES (?,'checkpoint',?,?,?,?,?)");
    s.bind(1, run_id).bind(2, epoch).bind(3, path).bind(4, sha256).bind(5, bytes).bind(6, now_ms()).run();
  });
}

std::optional<Store::CheckpointRecord> Store::checkpoint(const std::string& run_id) {
  sql::Stmt q(*db_, "SELECT epoch, path, sha256, bytes FROM artifacts WHERE run_id=? AND kind='checkpoint' "
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
  r.stage = s.text(4);
  if (!s.is_null(5)) r.fold = static_cast<int>(s.int64(5));
  r.seed = s.int64(6);
  r.config_json = s.text(7);
  r.config_hash = s.text(8);
  r.protocol_version = static_cast<int>(s.int64(9));
  r.method_version = static_cast<int>(s.int64(10));
  r.manifest_hash = s.text(11);
  r.fold_hash = s.text(12);
  r.status = s.text(13);
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
  if (id_or_prefix.size() < 4) throw UsageError("run id '" + id_or_prefix + "' is too short: give at least 4 characters");
  sql::Stmt s(*db_, fmt::format("SELECT {} FROM runs WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT 2",
                                kRunColumns));
  s.bind(1, id_or_prefix);
  if (!s.step()) return std::nullopt;
  RunRecord first = read_run(s);
  if (s.step())
    throw UsageError("run id prefix '" + id_or_prefix + "' is ambiguous: give more characters");
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
  if (run.status == "running" && (now - run.heartbeat_ms.value_or(0) > stale_after_ms ||
                                  owner_is_dead(RunOwner{run.owner_host, run.owner_pid, ""})))
    return "stale";
  return run.status;
}

}  // namespace usbench
