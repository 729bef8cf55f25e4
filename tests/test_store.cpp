#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "harness/errors.h"
#include "harness/run/run_lease.h"
#include "harness/store/migrations.h"
#include "harness/store/store.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {
RunRecord sample_run(const std::string& id, std::optional<int> fold = 0) {
  RunRecord r;
  r.id = id;
  r.experiment = "exp";
  r.method = "uscl";
  r.protocol = "uscl-paper";
  r.stage = Stage::Finetune;
  r.fold = fold;
  r.seed = 0;
  r.config_json = "{}";
  r.config_hash = "c";
  r.manifest_hash = "m";
  r.fold_hash = "f";
  return r;
}

std::int64_t count(Store& s, const std::string& sql) { return s.db().scalar_int(sql); }

// A data set of one covid clip with the given manifest hash.
DatasetRecord one_clip_dataset(const std::string& name, const std::string& manifest_hash) {
  DatasetRecord d;
  d.name = name;
  d.kind = "pocus";
  d.config_json = "{}";
  d.manifest_hash = manifest_hash;
  d.clips.push_back({"c1", "/p/c1", "covid", "c1", 3, 0, "h", "{}"});
  return d;
}

// Makes a plain SQLite file with a table of its own (someone else's database).
void make_foreign_sqlite(const fs::path& p) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(p.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "CREATE TABLE patients(id INTEGER); INSERT INTO patients VALUES (1);", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
  sqlite3_close(db);
}
}  // namespace

TEST_CASE("a new store is created by the migrations and stamped with our id and version", "[store]") {
  TempDir dir;
  for (const bool zero_byte : {false, true}) {
    const auto path = dir / (zero_byte ? "empty.db" : "new.db");
    if (zero_byte) write_bytes(path, "");
    auto store = Store::open(path.string(), Store::Access::Create);
    CHECK(count(store, "PRAGMA application_id") == Store::kApplicationId);
    CHECK(count(store, "PRAGMA user_version") == Store::schema_version());
    CHECK(
        count(
            store,
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
            "('experiments','datasets','clips','splits','folds','runs','seeds','metrics','predictions','artifacts')") ==
        10);
    CHECK(store.db().scalar_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'") == 1);
  }
  // Reopening applies nothing twice and keeps data.
  {
    auto store = Store::open((dir / "new.db").string(), Store::Access::Existing);
    store.create_run(sample_run("r1"), {{"init", 5}});
  }
  auto again = Store::open((dir / "new.db").string(), Store::Access::Existing);
  CHECK(again.runs().size() == 1);
  CHECK(again.seeds("r1").at("init") == 5);
}

TEST_CASE("an existing-only open of a missing file is refused and creates nothing", "[store]") {
  TempDir dir;
  CHECK_THROWS_WITH(Store::open((dir / "none.db").string(), Store::Access::Existing), Contains("no usbench store"));
  CHECK_FALSE(fs::exists(dir / "none.db"));
}

TEST_CASE("foreign and newer files are refused and left byte-identical", "[store]") {
  TempDir dir;
  SECTION("not SQLite at all") {
    const auto p = dir / "notes.db";
    write_bytes(p, "these are my notes, not a database\n");
    const auto before = read_bytes(p);
    CHECK_THROWS_WITH(Store::open(p.string(), Store::Access::Create), Contains("not a usbench store"));
    CHECK(read_bytes(p) == before);
  }
  SECTION("another application's SQLite database") {
    const auto p = dir / "other.db";
    make_foreign_sqlite(p);
    const auto before = read_bytes(p);
    CHECK_THROWS_WITH(Store::open(p.string(), Store::Access::Create), Contains("not a usbench store"));
    CHECK_THROWS_WITH(Store::verify(p.string()), Contains("not a usbench store"));
    CHECK(read_bytes(p) == before);
    CHECK_FALSE(fs::exists(dir / "other.db-wal"));
  }
  SECTION("a store from a newer usbench") {
    const auto p = dir / "future.db";
    {
      auto store = Store::open(p.string(), Store::Access::Create);
      store.db().exec("PRAGMA journal_mode = DELETE");
      store.db().exec("PRAGMA user_version = " + std::to_string(Store::schema_version() + 1));
    }
    const auto before = read_bytes(p);
    CHECK_THROWS_WITH(Store::open(p.string(), Store::Access::Existing),
                      Contains("newer than this usbench binary") && Contains("future.db"));
    CHECK_THROWS_WITH(Store::verify(p.string()), Contains("newer than this usbench binary"));
    CHECK(read_bytes(p) == before);
  }
  SECTION("a current store whose declared schema version was set back to 1") {
    const auto p = dir / "setback.db";
    {
      auto store = Store::open(p.string(), Store::Access::Create);
      store.db().exec("PRAGMA journal_mode = DELETE");
      store.db().exec("PRAGMA user_version = 1");
    }
    const auto before = read_bytes(p);
    for (const auto access : {Store::Access::Create, Store::Access::Existing, Store::Access::ReadOnly}) {
      CHECK_THROWS_WITH(Store::open(p.string(), access),
                        Contains("setback.db: damaged usbench store") &&
                            Contains("do not match the schema version 1 it declares") &&
                            Contains("'method_notes' is not part of schema version 1"));
      CHECK(read_bytes(p) == before);
      CHECK_FALSE(fs::exists(dir / "setback.db-wal"));
      CHECK_FALSE(fs::exists(dir / "setback.db-shm"));
    }
  }
  SECTION("a store with a column dropped by hand") {
    const auto p = dir / "altered.db";
    {
      auto store = Store::open(p.string(), Store::Access::Create);
      store.db().exec("PRAGMA journal_mode = DELETE");
      store.db().exec("ALTER TABLE method_notes DROP COLUMN note");
    }
    const auto before = read_bytes(p);
    CHECK_THROWS_WITH(Store::open(p.string(), Store::Access::Existing),
                      Contains("damaged usbench store") && Contains("'method_notes' differs"));
    CHECK(read_bytes(p) == before);
  }
  SECTION("verifying a valid store changes nothing") {
    const auto p = dir / "ok.db";
    { Store::open(p.string(), Store::Access::Create).db().exec("PRAGMA journal_mode = DELETE"); }
    const auto before = read_bytes(p);
    CHECK_NOTHROW(Store::verify(p.string()));
    CHECK(read_bytes(p) == before);
  }
}

TEST_CASE("a write that throws rolls back everything it did", "[store]") {
  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  CHECK_THROWS_AS(store.write([&] {
    sql::Stmt(store.db(), "INSERT INTO experiments VALUES ('e', 1, '{}', 'h', 0)").run();
    throw std::runtime_error("boom");
  }),
                  std::runtime_error);
  CHECK(count(store, "SELECT count(*) FROM experiments") == 0);
  {
    sql::Transaction tx(store.db());  // never committed
    sql::Stmt(store.db(), "INSERT INTO experiments VALUES ('e', 1, '{}', 'h', 0)").run();
  }
  CHECK(count(store, "SELECT count(*) FROM experiments") == 0);
  // A failing statement in the middle leaves no partial run behind.
  auto bad = sample_run("r2");
  bad.stage = static_cast<Stage>(99);  // spelt "?": the runs table's CHECK constraint refuses it
  CHECK_THROWS(store.create_run(bad, {{"init", 1}}));
  CHECK(count(store, "SELECT count(*) FROM runs") == 0);
  CHECK(count(store, "SELECT count(*) FROM seeds") == 0);
}

TEST_CASE("metric writes are idempotent on (run, epoch, split, name)", "[store]") {
  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  REQUIRE(store.create_run(sample_run("r1"), {}));
  store.put_metric("r1", 3, "test", "accuracy", 0.5);
  store.put_metric("r1", 3, "test", "accuracy", 0.75);  // a resumed run rewrites epoch 3
  store.put_metrics("r1", 3, "test", {{"loss", 1.25}, {"accuracy", 0.75}});
  const auto rows = store.metrics("r1");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].name == "accuracy");
  CHECK(rows[0].value == 0.75);
  CHECK(rows[1].value == 1.25);
  CHECK_FALSE(store.create_run(sample_run("r1"), {{"init", 9}}));  // existing run: untouched
  CHECK(store.seeds("r1").empty());
}

TEST_CASE("two connections write concurrently without 'database is locked'", "[store]") {
  TempDir dir;
  const std::string path = (dir / "shared.db").string();
  {
    auto store = Store::open(path, Store::Access::Create);
    store.create_run(sample_run("a"), {});
    store.create_run(sample_run("b", 1), {});
  }
  constexpr int kWrites = 150;
  auto writer = [&](const std::string& run, std::string* error) {
    try {
      auto store = Store::open(path, Store::Access::Existing);
      for (int i = 0; i < kWrites; ++i) {
        store.put_metrics(run, i, "train", {{"loss", 1.0 / (i + 1)}, {"images_per_s", 10.0 * i}});
        store.heartbeat(run);
      }
    } catch (const std::exception& e) {
      *error = e.what();
    }
  };
  std::string err_a, err_b;
  std::thread ta(writer, "a", &err_a), tb(writer, "b", &err_b);
  ta.join();
  tb.join();
  CHECK(err_a.empty());
  CHECK(err_b.empty());
  auto store = Store::open(path, Store::Access::Existing);
  CHECK(count(store, "SELECT count(*) FROM metrics") == 4 * kWrites);
}

TEST_CASE("heartbeats advance and a silent running run is seen as stale", "[store]") {
  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  store.create_run(sample_run("r1"), {});
  CHECK(store.runs()[0].status == RunStatus::Pending);
  store.start_run("r1", R"({"device":"cpu"})");
  const auto first = store.find_run("r1")->heartbeat_ms.value();
  std::this_thread::sleep_for(std::chrono::milliseconds(15));
  store.heartbeat("r1");
  const auto run = store.find_run("r1").value();
  CHECK(run.status == RunStatus::Running);
  CHECK(run.heartbeat_ms.value() > first);
  CHECK(effective_status(run, run.heartbeat_ms.value() + 1000, 60000) == "running");
  CHECK(effective_status(run, run.heartbeat_ms.value() + 61000, 60000) == "stale");
  CHECK(store.mark_stale_runs(60000) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(15));
  CHECK(store.mark_stale_runs(5) == 1);
  CHECK(store.find_run("r1")->status == RunStatus::Interrupted);
  store.start_run("r1", "{}");  // a resumed run is running again, keeping its first start time
  CHECK(store.find_run("r1")->started_ms == run.started_ms);
  store.finish_run("r1", RunStatus::Done);
  CHECK(store.find_run("r1")->status == RunStatus::Done);
  CHECK(store.find_run("r1")->finished_ms.has_value());
}

TEST_CASE("runs are found by unique prefix", "[store]") {
  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  store.create_run(sample_run("abcd1111"), {});
  store.create_run(sample_run("abcd2222", 1), {});
  CHECK(store.find_run("abcd1")->id == "abcd1111");
  CHECK_FALSE(store.find_run("ffff").has_value());
  CHECK_THROWS_WITH(store.find_run("abcd"), Contains("ambiguous"));
  CHECK_THROWS_WITH(store.find_run("ab"), Contains("too short"));
}

TEST_CASE("merge adds new runs with their rows, replaces unfinished ones by done ones, and is idempotent", "[store]") {
  TempDir dir;
  auto a = Store::open((dir / "a.db").string(), Store::Access::Create);
  auto b = Store::open((dir / "b.db").string(), Store::Access::Create);
  a.put_dataset(one_clip_dataset("pocus", "m1"));
  b.put_dataset(one_clip_dataset("pocus", "m1"));
  a.upsert_experiment("exp", 1, "{\"v\":1}", "h1");
  b.upsert_experiment("exp", 1, "{\"v\":1}", "h1");
  // a: run r1 done, r2 interrupted. b: r2 done (the same content hash), r3 done.
  a.create_run(sample_run("r1"), {{"init", 1}});
  a.finish_run("r1", RunStatus::Done);
  a.create_run(sample_run("r2", 1), {{"init", 2}});
  a.start_run("r2", "{}");
  a.put_metric("r2", 0, "train", "loss", 9.0);
  a.finish_run("r2", RunStatus::Interrupted);
  b.create_run(sample_run("r2", 1), {{"init", 2}});
  b.finish_run("r2", RunStatus::Done);
  b.put_metric("r2", 0, "train", "loss", 1.0);
  b.put_metric("r2", 1, "train", "loss", 0.5);
  b.put_predictions("r2", 1, {"c1", "c1"}, {0, 1}, {0, 0}, {0, 1}, {"[1,0,0]", "[0,1,0]"});
  b.create_run(sample_run("r3", 2), {{"init", 3}, {"root", 4}});
  b.finish_run("r3", RunStatus::Done);
  b.put_artifact("r3", "best_backbone", 1, "/work/r3.pth", "s", 10);

  const auto c = a.merge_from((dir / "b.db").string());
  CHECK(c.runs_added == 1);
  CHECK(c.runs_replaced == 1);
  CHECK(c.runs_present == 0);
  CHECK(c.datasets_added == 0);
  CHECK(a.find_run("r2")->status == RunStatus::Done);
  CHECK(a.metrics("r2").size() == 2);  // b's rows; a's interrupted epoch is gone
  CHECK(a.predictions("r2", 1).size() == 2);
  CHECK(a.seeds("r3") == std::map<std::string, std::int64_t>{{"init", 3}, {"root", 4}});
  CHECK(a.artifact("r3", "best_backbone")->first == "/work/r3.pth");
  CHECK(a.find_run("r1")->status == RunStatus::Done);
  CHECK(count(a, "SELECT COUNT(*) FROM runs") == 3);

  // Merging again changes nothing.
  const auto again = a.merge_from((dir / "b.db").string());
  CHECK(again.runs_added == 0);
  CHECK(again.runs_replaced == 0);
  CHECK(again.runs_present == 2);
  CHECK(count(a, "SELECT COUNT(*) FROM metrics") == 2);
  CHECK_THROWS_WITH(a.merge_from((dir / "a.db").string()), Contains("into itself"));
}

TEST_CASE("merge refuses a shard whose data set differs and writes nothing of it", "[store]") {
  TempDir dir;
  auto a = Store::open((dir / "a.db").string(), Store::Access::Create);
  auto b = Store::open((dir / "b.db").string(), Store::Access::Create);
  a.put_dataset(one_clip_dataset("pocus", "m1"));
  b.put_dataset(one_clip_dataset("pocus", "m2"));
  b.create_run(sample_run("r9"), {{"init", 1}});
  b.finish_run("r9", RunStatus::Done);
  CHECK_THROWS_WITH(a.merge_from((dir / "b.db").string()),
                    Contains("b.db") && Contains("pocus") && Contains("Nothing was merged"));
  CHECK(count(a, "SELECT COUNT(*) FROM runs") == 0);
  CHECK(a.dataset("pocus")->manifest_hash == "m1");
  // A new data set under another name is added with its clips.
  auto c = Store::open((dir / "c.db").string(), Store::Access::Create);
  c.put_dataset(one_clip_dataset("other", "m2"));
  CHECK(a.merge_from((dir / "c.db").string()).datasets_added == 1);
  CHECK(a.dataset("other")->clips.size() == 1);
}

TEST_CASE("claims: one process holds a run - a live holder is respected and a stale or dead one is taken over",
          "[store]") {
  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  store.create_run(sample_run("r1"), {});
  RunOwner a = RunOwner::this_process(), b = RunOwner::this_process();
  REQUIRE(a.token != b.token);  // two processes (or two claims) never share a token
  auto c = store.claim_run("r1", a, "{}");
  CHECK(c.result == Store::ClaimResult::Claimed);
  CHECK_FALSE(c.took_over);
  CHECK(store.find_run("r1")->owner_pid == a.pid);
  // A second process finds it held (same host, live pid, fresh heartbeat).
  c = store.claim_run("r1", b, "{}");
  CHECK(c.result == Store::ClaimResult::Busy);
  CHECK_THAT(c.holder, Contains("process " + std::to_string(a.pid)));
  // The holder renews; the other cannot renew or finish it.
  CHECK(store.heartbeat("r1", a.token));
  CHECK_FALSE(store.heartbeat("r1", b.token));
  CHECK_FALSE(store.finish_claimed_run("r1", b.token, RunStatus::Failed, "not mine"));
  CHECK(store.find_run("r1")->status == RunStatus::Running);
  // Heartbeat older than the bound: taken over, and the old holder can no longer write its status.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  c = store.claim_run("r1", b, "{}", /*stale_after_ms=*/10);
  CHECK(c.result == Store::ClaimResult::Claimed);
  CHECK(c.took_over);
  CHECK_FALSE(store.heartbeat("r1", a.token));
  CHECK_FALSE(store.finish_claimed_run("r1", a.token, RunStatus::Done));
  CHECK(store.finish_claimed_run("r1", b.token, RunStatus::Done));
  CHECK(store.claim_run("r1", a, "{}").result == Store::ClaimResult::Done);

  // A holder whose pid is dead on this host is taken over at once, heartbeat fresh or not.
  store.create_run(sample_run("r2"), {});
  RunOwner dead = a;
  dead.token = "dead-process";
  {
    const pid_t child = fork();
    if (child == 0) _exit(0);
    REQUIRE(child > 0);
    int status = 0;
    waitpid(child, &status, 0);  // reaped: its pid names no process now
    dead.pid = child;
  }
  REQUIRE(store.claim_run("r2", dead, "{}").result == Store::ClaimResult::Claimed);
  CHECK(owner_is_dead(dead));
  CHECK(effective_status(*store.find_run("r2"), now_ms(), 60000) == "stale");
  c = store.claim_run("r2", b, "{}");
  CHECK(c.result == Store::ClaimResult::Claimed);
  CHECK(c.took_over);
}

TEST_CASE("a RunLease renews its claim's heartbeat and notices when the claim is taken over", "[store]") {
  TempDir dir;
  const auto path = (dir / "s.db").string();
  auto store = Store::open(path, Store::Access::Create);
  store.create_run(sample_run("r1"), {});
  RunOwner a = RunOwner::this_process(), b = RunOwner::this_process();
  REQUIRE(store.claim_run("r1", a, "{}").result == Store::ClaimResult::Claimed);
  const auto first = store.find_run("r1")->heartbeat_ms.value();
  {
    RunLease lease(path, "r1", a.token, /*period_ms=*/20);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    CHECK(store.find_run("r1")->heartbeat_ms.value() > first);
    CHECK_FALSE(lease.lost());
    REQUIRE(store.claim_run("r1", b, "{}", /*stale_after_ms=*/-1).result == Store::ClaimResult::Claimed);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    CHECK(lease.lost());
  }
  CHECK(store.find_run("r1")->owner_pid == b.pid);
}

TEST_CASE("re-recording a data set with other clips says what changed and which runs belong to the old manifest",
          "[store]") {
  TempDir dir;
  auto store = Store::open((dir / "s.db").string(), Store::Access::Create);
  DatasetRecord d;
  d.name = "covid-blues";
  d.kind = "videos";
  d.config_json = "{}";
  d.manifest_hash = std::string(64, 'a');
  ClipRecord c;
  c.clip_id = "p1";
  c.path = "p1.mp4";
  c.label = "1";
  c.group = "1";
  c.n_frames = 3;
  c.sha256 = "x";
  c.sampling = "{}";
  d.clips = {c};
  CHECK(store.put_dataset(d).previous_manifest.empty());
  auto run = sample_run("r1");
  run.manifest_hash = d.manifest_hash;
  store.create_run(run, {});
  CHECK(store.put_dataset(d).previous_manifest.empty());  // unchanged: nothing to say
  d.clips[0].label = "0";
  d.manifest_hash = std::string(64, 'b');
  const auto change = store.put_dataset(d);
  CHECK(change.previous_manifest == std::string(64, 'a'));
  CHECK(change.runs_of_previous == 1);
  CHECK_THAT(change.describe("covid-blues", d.manifest_hash),
             Contains("'covid-blues' changed: manifest aaaaaaaaaaaa -> bbbbbbbbbbbb") && Contains("1 recorded run(s)"));
}

TEST_CASE("a store of every earlier schema version migrates to the current one and is then usable", "[store]") {
  TempDir dir;
  const auto& migrations = Store::schema_version();
  for (int v = 1; v < migrations; ++v) {
    INFO("schema version " << v);
    const auto p = dir / ("v" + std::to_string(v) + ".db");
    {  // the tables the code of version v created, its id and version stamped as it stamped them
      sqlite3* db = nullptr;
      REQUIRE(sqlite3_open(p.c_str(), &db) == SQLITE_OK);
      for (int i = 0; i < v; ++i)
        REQUIRE(sqlite3_exec(db, store_migrations()[static_cast<std::size_t>(i)].c_str(), nullptr, nullptr, nullptr) ==
                SQLITE_OK);
      const auto stamp = "PRAGMA application_id = " + std::to_string(Store::kApplicationId) +
                         "; PRAGMA user_version = " + std::to_string(v) + ";";
      REQUIRE(sqlite3_exec(db, stamp.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(db);
    }
    // A read command asks for the migration; a writing one performs it; then every table is usable.
    CHECK_THROWS_WITH(Store::open(p.string(), Store::Access::ReadOnly), Contains("run a writing command"));
    auto store = Store::open(p.string(), Store::Access::Existing);
    CHECK(count(store, "PRAGMA user_version") == Store::schema_version());
    store.put_dataset(one_clip_dataset("pocus", "m1"));
    store.create_run(sample_run("r" + std::to_string(v)), {{"root", 0}});
    store.set_method_note("exp", "imagenet", "not run");
    CHECK(store.runs("exp").size() == 1);
    CHECK(store.method_notes("exp").at("imagenet") == "not run");
  }
}

TEST_CASE("stores the released code of every earlier schema version wrote migrate, keep their runs, and take writes",
          "[store]") {
  // tests/fixtures/stores/make_old_stores.sh made them with the commits that released each version.
  struct Old {
    const char* file;
    int version;
    std::size_t runs;
  };
  for (const Old old : {Old{"v1-7328f39.db", 1, 3}, Old{"v2-de28378.db", 2, 7}}) {
    INFO(old.file);
    TempDir dir;
    const auto p = dir / old.file;
    fs::copy_file(fs::path(USBENCH_SOURCE_DIR) / "tests/fixtures/stores" / old.file, p);
    const auto before = read_bytes(p);
    // A read refuses it by version, and leaves it byte-identical with nothing beside it.
    CHECK_THROWS_WITH(
        Store::open(p.string(), Store::Access::ReadOnly),
        Contains("store schema version " + std::to_string(old.version)) && Contains("run a writing command"));
    CHECK(read_bytes(p) == before);
    CHECK_FALSE(fs::exists(p.string() + "-wal"));
    CHECK_FALSE(fs::exists(p.string() + "-shm"));
    Store::verify(p.string());  // its tables are those its version declares
    {
      auto store = Store::open(p.string(), Store::Access::Existing);  // a writing open migrates
      CHECK(count(store, "PRAGMA user_version") == Store::schema_version());
      const auto runs = store.runs();
      CHECK(runs.size() == old.runs);
      for (const auto& r : runs) {
        INFO(r.id);
        CHECK(r.started_ms.has_value());
        CHECK_FALSE(store.metrics(r.id).empty());
        CHECK(store.seeds(r.id).count("init") == 1);
      }
      if (old.version == 1) {
        const auto failed = store.find_run("3333");
        REQUIRE(failed);
        CHECK(failed->status == RunStatus::Failed);
        CHECK(failed->error == "stopped by hand");
        CHECK(store.seeds(failed->id).size() == 5);  // the plan's streams: augmentation, data order, init, root, split
        const auto metrics = store.metrics(failed->id);
        const auto loss =
            std::find_if(metrics.begin(), metrics.end(), [](const MetricRow& m) { return m.name == "loss"; });
        REQUIRE(loss != metrics.end());
        CHECK(loss->value == 1.0);  // train loss 1.5 - 0.25 x 2
      } else {
        CHECK(store.dataset("synthetic").has_value());
        std::size_t predicted = 0;
        for (const auto& r : runs)
          if (r.stage != Stage::Pretrain) predicted += !store.predictions(r.id, 0).empty();
        CHECK(predicted == old.runs - 1);  // every fine-tuning run of the one pretraining
      }
      // The migrated store takes every kind of write.
      store.put_dataset(one_clip_dataset("pocus", "m1"));
      store.create_run(sample_run("new"), {{"root", 0}});
      store.put_metrics("new", 0, "train", {{"loss", 0.5}});
      store.set_method_note("exp", "imagenet", "not run");
      CHECK(store.runs().size() == old.runs + 1);
    }
    Store::verify(p.string());
    auto reread = Store::open(p.string(), Store::Access::ReadOnly);
    CHECK(reread.runs().size() == old.runs + 1);
  }
}
