// Store::merge_from: combining shard databases (README Design §7, §9). Works in SQL on the attached source, so
// predictions and metrics are copied without a round trip through C++.
#include <filesystem>

#include "harness/errors.h"
#include "harness/store/store.h"

namespace usbench {

namespace {
// Detaches the source when the merge ends, whether it succeeded or not.
struct Attached {
  sql::Db& db;
  Attached(sql::Db& d, const std::string& path) : db(d) {
    // Read-only: a merge input is never written.
    sql::Stmt(db, "ATTACH DATABASE ? AS src")
        .bind(1, sql::file_uri(std::filesystem::absolute(path).string(), "mode=ro"))
        .run();
  }
  ~Attached() {
    try {
      db.exec("DETACH DATABASE src");
    } catch (...) {
    }
  }
};

// Comma-separated first column of a query's rows ("" when none).
std::string listed(sql::Db& db, const std::string& query) {
  sql::Stmt s(db, query);
  std::string out;
  while (s.step()) out += (out.empty() ? "" : ", ") + s.text(0);
  return out;
}

int count(sql::Db& db, const std::string& table) {
  return static_cast<int>(db.scalar_int("SELECT COUNT(*) FROM " + table));
}
}  // namespace

Store::MergeCounts Store::merge_from(const std::string& source) {
  verify(source);  // a usbench store this binary understands; not a byte of it changes
  if (std::filesystem::equivalent(source, path_)) throw UsageError(source + ": cannot merge a store into itself");
  Attached attached(*db_, source);
  const auto version = db_->scalar_int("PRAGMA src.user_version");
  if (version != schema_version())
    throw UsageError(source + ": store schema version " + std::to_string(version) + ", this usbench writes version " +
                     std::to_string(schema_version()) + "; open it once with this usbench (e.g. `usbench runs --db " +
                     source + "`) to migrate it, then merge");
  MergeCounts counts;
  write([&] {
    const std::string conflicts_ds = listed(*db_,
                                            "SELECT s.name FROM src.datasets s JOIN main.datasets d ON d.name = s.name "
                                            "WHERE d.manifest_hash <> s.manifest_hash");
    if (!conflicts_ds.empty())
      throw UsageError(source + ": data set(s) " + conflicts_ds + " describe other clips than in " + path_ +
                       " (manifest hashes differ); shards must ingest the same data. Nothing was merged.");
    const std::string conflicts_sp = listed(*db_,
                                            "SELECT s.dataset || '/' || s.name FROM src.splits s JOIN main.splits d ON "
                                            "d.dataset = s.dataset AND d.name = s.name "
                                            "WHERE d.assignment_hash <> s.assignment_hash");
    if (!conflicts_sp.empty())
      throw UsageError(source + ": split(s) " + conflicts_sp + " assign other folds than in " + path_ +
                       ". Nothing was merged.");
    // Pre-registered claims (README Design §6) are fixed once an experiment has runs: two stores that state
    // different claims for one experiment are two experiments, and the newer spec must not replace the claims.
    const std::string conflicts_claims =
        listed(*db_,
               "SELECT s.name FROM src.experiments s JOIN main.experiments d ON d.name = s.name "
               "WHERE ifnull(json_extract(d.spec_json, '$.claims'), '[]') <> "
               "ifnull(json_extract(s.spec_json, '$.claims'), '[]')");
    if (!conflicts_claims.empty())
      throw UsageError(source + ": experiment(s) " + conflicts_claims + " state other claims than in " + path_ +
                       " (the spec's \"claims\" differ); claims are fixed before an experiment's runs, so these are "
                       "different experiments. Nothing was merged.");

    db_->exec(
        "CREATE TEMP TABLE merge_ds AS SELECT name FROM src.datasets WHERE name NOT IN (SELECT name FROM "
        "main.datasets)");
    db_->exec("INSERT INTO main.datasets SELECT * FROM src.datasets WHERE name IN (SELECT name FROM merge_ds)");
    db_->exec("INSERT INTO main.clips SELECT * FROM src.clips WHERE dataset IN (SELECT name FROM merge_ds)");
    counts.datasets_added = count(*db_, "merge_ds");
    db_->exec(
        "CREATE TEMP TABLE merge_sp AS SELECT dataset, name FROM src.splits s WHERE NOT EXISTS "
        "(SELECT 1 FROM main.splits d WHERE d.dataset = s.dataset AND d.name = s.name)");
    db_->exec(
        "INSERT INTO main.splits SELECT * FROM src.splits s WHERE EXISTS "
        "(SELECT 1 FROM merge_sp m WHERE m.dataset = s.dataset AND m.name = s.name)");
    db_->exec(
        "INSERT INTO main.folds SELECT * FROM src.folds f WHERE EXISTS "
        "(SELECT 1 FROM merge_sp m WHERE m.dataset = f.dataset AND m.name = f.split)");

    const auto before = db_->scalar_int("SELECT total_changes()");
    db_->exec(
        "INSERT INTO main.experiments SELECT * FROM src.experiments WHERE true ON CONFLICT(name) DO UPDATE SET "
        "version = excluded.version, spec_json = excluded.spec_json, spec_hash = excluded.spec_hash, "
        "updated_ms = excluded.updated_ms WHERE excluded.updated_ms > experiments.updated_ms");
    counts.experiments_updated = static_cast<int>(db_->scalar_int("SELECT total_changes()") - before);
    db_->exec(
        "INSERT INTO main.method_notes SELECT * FROM src.method_notes WHERE true ON CONFLICT(experiment, method) DO "
        "UPDATE SET "
        "note = excluded.note, updated_ms = excluded.updated_ms WHERE excluded.updated_ms > method_notes.updated_ms");

    db_->exec("CREATE TEMP TABLE merge_add AS SELECT id FROM src.runs WHERE id NOT IN (SELECT id FROM main.runs)");
    db_->exec(
        "CREATE TEMP TABLE merge_rep AS SELECT s.id FROM src.runs s JOIN main.runs d ON d.id = s.id "
        "WHERE s.status = 'done' AND d.status <> 'done'");
    counts.runs_added = count(*db_, "merge_add");
    counts.runs_replaced = count(*db_, "merge_rep");
    counts.runs_present = count(*db_, "src.runs") - counts.runs_added - counts.runs_replaced;
    db_->exec("DELETE FROM main.runs WHERE id IN (SELECT id FROM merge_rep)");  // cascades to its rows
    db_->exec("CREATE TEMP TABLE merge_ids AS SELECT id FROM merge_add UNION SELECT id FROM merge_rep");
    db_->exec("INSERT INTO main.runs SELECT * FROM src.runs WHERE id IN (SELECT id FROM merge_ids)");
    for (const char* table : {"seeds", "metrics", "predictions", "artifacts"})
      db_->exec(std::string("INSERT INTO main.") + table + " SELECT * FROM src." + table +
                " WHERE run_id IN (SELECT id FROM merge_ids)");
    for (const char* t : {"merge_ds", "merge_sp", "merge_add", "merge_rep", "merge_ids"})
      db_->exec(std::string("DROP TABLE temp.") + t);
  });
  return counts;
}

}  // namespace usbench
