// The store, part 1 (harness/store/store.h): the file itself (opened, checked against its application id
// and schema, migrated, written in immediate transactions) and the records runs refer to: experiments,
// data sets and their manifests, fold splits, method notes. Part 2, store_runs.cpp, is the runs and their results.
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
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

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

// The schema a store of `version` declares: each table and index by name, a table with its columns in
// order (name and declared type), as the first `version` migrations make it in an empty database.
std::map<std::string, std::string> schema_of(sql::Db& db) {
  std::map<std::string, std::string> out;
  sql::Stmt q(db, "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name");
  std::vector<std::pair<std::string, std::string>> objects;
  while (q.step()) objects.emplace_back(q.text(0), q.text(1));
  for (const auto& [type, name] : objects) {
    std::string desc = type;
    if (type == "table") {
      sql::Stmt c(db, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid");
      c.bind(1, name);
      while (c.step()) desc += " " + c.text(0) + ":" + c.text(1);
    }
    out[name] = desc;
  }
  return out;
}

// The store's tables, columns and indexes must be exactly those its declared version has: a store whose
// user_version was set back (a failed copy, a hand edit) or whose tables were dropped or altered is
// refused by name as damaged, before any migration runs on what it assumes.
void check_schema(sql::Db& db, const std::string& path, int version) {
  if (version == 0) return;  // new or empty: migrations create everything
  sql::Db expected_db(":memory:", sql::Db::Mode::ReadWriteCreate);
  const auto& migrations = store_migrations();
  for (int i = 0; i < version; ++i) expected_db.exec(migrations[static_cast<std::size_t>(i)]);
  const auto expected = schema_of(expected_db);
  const auto actual = schema_of(db);
  std::vector<std::string> problems;
  for (const auto& [name, desc] : expected) {
    const auto it = actual.find(name);
    if (it == actual.end())
      problems.push_back(fmt::format("{} '{}' missing", desc.substr(0, desc.find(' ')), name));
    else if (it->second != desc)
      problems.push_back(fmt::format("'{}' differs (has: {}; version {} has: {})", name, it->second, version, desc));
  }
  for (const auto& [name, desc] : actual)
    if (!expected.count(name))
      problems.push_back(
          fmt::format("{} '{}' is not part of schema version {}", desc.substr(0, desc.find(' ')), name, version));
  if (!problems.empty())
    throw UsageError(fmt::format(
        "{}: damaged usbench store: its tables do not match the schema version {} it declares ({}); refusing to "
        "touch it",
        path, version, fmt::join(problems, "; ")));
}

// Identity and version checks; they only read, so a rejected file stays byte-identical.
void check_identity(sql::Db& db, const std::string& path, int busy_timeout_ms) {
  try {
    db.exec("PRAGMA busy_timeout = " + std::to_string(busy_timeout_ms));
    const auto app_id = static_cast<std::int32_t>(db.scalar_int("PRAGMA application_id"));
    const auto version = db.scalar_int("PRAGMA user_version");
    const auto objects = db.scalar_int("SELECT count(*) FROM sqlite_master");
    if (app_id != Store::kApplicationId && (app_id != 0 || objects > 0 || version != 0))
      throw UsageError(
          fmt::format("{}: not a usbench store (SQLite application_id {:#x}, expected {:#x}); refusing to touch it",
                      path, static_cast<std::uint32_t>(app_id), static_cast<std::uint32_t>(Store::kApplicationId)));
    if (version < 0)
      throw UsageError(fmt::format("{}: store schema version {} is not one usbench ever wrote; refusing to touch it",
                                   path, version));
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
    throw UsageError(
        fmt::format("{}: cannot {} a usbench store: folder {} does not exist", path, verb, folder.string()));
  // Effective ids (AT_EACCESS), as the open() calls that follow will be checked; EROFS for a read-only mount.
  auto denied = [](const fs::path& p, int mode) {
    return ::faccessat(AT_FDCWD, p.c_str(), mode, AT_EACCESS) == 0 ? std::string() : std::string(std::strerror(errno));
  };
  if (const auto why = denied(folder, W_OK | X_OK); !why.empty())
    throw UsageError(
        fmt::format("{}: cannot {} a usbench store: folder {} is not writable ({}); read commands (runs list, "
                    "report, check) open a store read-only, writing ones need a writable folder",
                    path, verb, folder.string(), why));
  if (exists)
    if (const auto why = denied(path, R_OK | W_OK); !why.empty())
      throw UsageError(
          fmt::format("{}: cannot write this usbench store ({}); read commands (runs list, report, check) "
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
    const auto older = [&](std::int64_t version) {
      return UsageError(
          fmt::format("{}: store schema version {}, this usbench reads version {}; run a writing command on it "
                      "once (e.g. usbench ingest or usbench run) to migrate it",
                      path, version, schema_version()));
    };
    // Without a -wal file holding changes, the file itself has the version: a store of another version is
    // refused from the immutable read, before a regular connection would leave -wal and -shm beside it.
    if (!(fs::exists(path + "-wal", ec) && fs::file_size(path + "-wal", ec) > 0)) {
      sql::Db probe(path, sql::Db::Mode::Inspect);
      const auto version = probe.scalar_int("PRAGMA user_version");
      if (version != schema_version()) throw older(version);
    }
    auto mode = sql::Db::Mode::ReadOnly;
    if (!folder_writable && !fs::exists(path + "-shm", ec)) {
      if (fs::exists(path + "-wal", ec) && fs::file_size(path + "-wal", ec) > 0)
        throw UsageError(
            fmt::format("{}: its folder is read-only and {}-wal holds changes never checkpointed into it; read "
                        "it where it is writable (or copy the store, -wal included, to such a folder)",
                        path, path));
      mode = sql::Db::Mode::Inspect;
    }
    auto db = std::make_unique<sql::Db>(path, mode);
    db->exec("PRAGMA busy_timeout = " + std::to_string(busy_timeout_ms));
    const auto version = db->scalar_int("PRAGMA user_version");
    if (version != schema_version()) throw older(version);
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
    sql::Stmt up(
        *db_,
        "INSERT INTO datasets(name, kind, source, config_json, manifest_hash, created_ms) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(name) DO UPDATE SET kind=excluded.kind, source=excluded.source, "
        "config_json=excluded.config_json, manifest_hash=excluded.manifest_hash, created_ms=excluded.created_ms");
    up.bind(1, d.name)
        .bind(2, d.kind)
        .bind(3, d.source)
        .bind(4, d.config_json)
        .bind(5, d.manifest_hash)
        .bind(6, now_ms());
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
  return fmt::format(
      "data set '{}' changed: manifest {} -> {} (other clips, labels or sampling than recorded before); {} "
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
    d.clips.push_back(
        {c.text(0), c.text(1), c.text(2), c.text(3), static_cast<int>(c.int64(4)), c.real(5), c.text(6), c.text(7)});
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
    sql::Stmt ins(
        *db_, "INSERT INTO splits(dataset, name, k, seed, source, assignment_hash, created_ms) VALUES (?,?,?,?,?,?,?)");
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

}  // namespace usbench
