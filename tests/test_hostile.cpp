// Issue 11: hostile targets and inputs that must never put wrong data anywhere. Each case builds its
// hostile input itself.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "harness/canonical.h"
#include "harness/errors.h"
#include "harness/output_file.h"
#include "harness/store/store.h"
#include "spec_fixture.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {

bool leftover_temporaries(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) return true;
  return false;
}
}  // namespace

TEST_CASE("write_file_atomically replaces a regular file whole and returns the digest of what it wrote", "[unit]") {
  TempDir dir;
  const auto target = dir / "out.txt";
  write_bytes(target, "old contents");
  const auto d = write_file_atomically(target.string(), "new");
  CHECK(read_bytes(target) == "new");
  CHECK(d.bytes == 3);
  CHECK(d.sha256 == sha256_hex("new"));
  CHECK_FALSE(leftover_temporaries(dir.path()));
  // before_rename sees the digest while the target still holds the old bytes.
  std::string seen;
  write_file_atomically(target.string(), "newer",
                        [&](const FileDigest& x) { seen = read_bytes(target) + "|" + x.sha256; });
  CHECK(seen == "new|" + sha256_hex("newer"));
}

TEST_CASE("write_file_atomically refuses a directory and leaves nothing behind", "[unit]") {
  TempDir dir;
  fs::create_directories(dir / "d");
  CHECK_THROWS_WITH(write_file_atomically((dir / "d").string(), "x"), Contains("is a directory"));
  CHECK(fs::is_directory(dir / "d"));
  CHECK(fs::is_empty(dir / "d"));
  CHECK_FALSE(leftover_temporaries(dir.path()));
}

TEST_CASE("write_file_atomically writes a FIFO in place instead of replacing it with a file", "[unit]") {
  TempDir dir;
  const auto fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string received;
  std::thread reader([&] { received = read_bytes(fifo); });
  write_file_atomically(fifo.string(), "through the pipe");
  reader.join();
  CHECK(received == "through the pipe");
  CHECK(fs::is_fifo(fifo));  // still a pipe: the old tmp-and-rename turned it into a regular file
  CHECK_FALSE(leftover_temporaries(dir.path()));
}

TEST_CASE("write_file_atomically reports a device's write error and never replaces the device", "[unit]") {
  if (!fs::exists("/dev/full")) {
    WARN("SKIPPED: no /dev/full on this machine");
    return;
  }
  REQUIRE(fs::is_character_file("/dev/full"));
  CHECK_THROWS_WITH(write_file_atomically("/dev/full", std::string(100000, 'x')),
                    Contains("/dev/full") && Contains("No space left on device"));
  CHECK(fs::is_character_file("/dev/full"));
}

TEST_CASE("write_file_atomically keeps a symbolic link and replaces the file it points to", "[unit]") {
  TempDir dir;
  write_bytes(dir / "real.txt", "old");
  fs::create_symlink(dir / "real.txt", dir / "link.txt");
  write_file_atomically((dir / "link.txt").string(), "new");
  CHECK(fs::is_symlink(dir / "link.txt"));
  CHECK(read_bytes(dir / "real.txt") == "new");
  CHECK_FALSE(leftover_temporaries(dir.path()));
}

TEST_CASE("write_file_atomically into a missing folder fails by name and creates nothing", "[unit]") {
  TempDir dir;
  CHECK_THROWS_WITH(write_file_atomically((dir / "no" / "such.txt").string(), "x"),
                    Contains((dir / "no" / "such.txt").string()));
  CHECK_FALSE(fs::exists(dir / "no"));
}

// ---- Specs (items 5, 6, 8, 11, 16) ----------------------------------------------------------------

TEST_CASE("a spec nested 100000 levels deep is refused with exit 2 instead of crashing", "[cli]") {
  TempDir dir;
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  write_bytes(dir / "whole.json", deep);
  auto spec = minimal_spec().dump();
  write_bytes(dir / "seeds.json", spec.replace(spec.find("\"seeds\":[0,1]"), 14, "\"seeds\":" + deep));
  auto spec2 = minimal_spec().dump();
  write_bytes(dir / "description.json", spec2.insert(1, "\"description\":" + deep + ","));
  for (const auto* f : {"whole.json", "seeds.json", "description.json"}) {
    INFO(f);
    const auto r = run_usbench("run " + q(dir / f) + " --plan");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(f) && Contains("nested more than 64 levels"));
  }
  const auto r = run_usbench("run experiments/quickstart.json --plan --set seeds=" + std::string(5000, '[') +
                             std::string(5000, ']'));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("nested more than"));
}

TEST_CASE("a FIFO or /dev/zero or a directory as the spec is refused by name without blocking", "[cli]") {
  TempDir dir;
  REQUIRE(::mkfifo((dir / "spec.fifo").c_str(), 0600) == 0);
  fs::create_directories(dir / "spec.d");
  fs::create_symlink("/dev/zero", dir / "zero.json");
  for (const auto& [f, what] : std::vector<std::pair<std::string, std::string>>{
           {"spec.fifo", "FIFO"}, {"spec.d", "a directory"}, {"zero.json", "character device"}}) {
    INFO(f);
    const auto r = run_usbench("run " + q(dir / f) + " --plan");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(f) && Contains("must be a regular file") && Contains(what));
  }
}

TEST_CASE("an oversized spec is refused before it is read", "[cli]") {
  TempDir dir;
  write_bytes(dir / "big.json", std::string(17u << 20, ' '));
  const auto r = run_usbench("run " + q(dir / "big.json") + " --plan");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("big.json") && Contains("more than"));
}

TEST_CASE("duplicate keys - number overflow - NUL bytes and absurd values in a spec are refused by key", "[cli]") {
  TempDir dir;
  struct Case {
    std::string name, text, expect;
  };
  const std::string base = minimal_spec().dump();
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  const std::vector<Case> cases = {
      {"dup.json", with("\"version\":1", "\"version\":1,\"version\":2"), "'version' appears twice"},
      {"overflow.json", with("\"epochs\":2", "\"epochs\":2,\"lr\":1e999"), "'lr': number 1e999 is out of range"},
      {"nul.json", with("\"name\":\"tiny\"", "\"name\":\"ti\\u0000ny\""), "control characters"},
      {"batch.json", with("\"epochs\":2", "\"epochs\":2,\"batch_size\":1000000000"), "batch_size"},
      {"lr.json", with("\"epochs\":2", "\"epochs\":2,\"lr\":1e308"), "lr"},
      {"constant.json", with("{\"epochs\":1}", "{\"epochs\":3,\"constant_epochs\":5}"), "constant_epochs"},
      {"threads.json", with("\"version\":1", "\"version\":1,\"threads\":100000"), "threads"},
  };
  for (const auto& c : cases) {
    INFO(c.name << ": " << c.text);
    write_bytes(dir / c.name, c.text);
    const auto r = run_usbench("run " + q(dir / c.name) + " --plan --db " + q(dir / "x.db"));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(c.expect) && !Contains("json.exception"));
  }
  CHECK_FALSE(fs::exists(dir / "x.db"));
}

TEST_CASE("run with --plan refuses what run refuses: a bad shard or weights file", "[cli]") {
  for (const auto* shard : {"3/2", "-1/2", "0/0", "a/b", "1/2x", " 1/2"}) {
    INFO(shard);
    const auto r = run_usbench(std::string("run experiments/quickstart.json --plan --shard '") + shard + "'");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("--shard"));
  }
  CHECK(run_usbench("run experiments/quickstart.json --plan --shard 1/2").exit_code == 0);
  TempDir dir;
  write_bytes(dir / "bad.pth", "not weights");
  const auto r = run_usbench("run experiments/quickstart.json --plan --weights " + q(dir / "bad.pth"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("bad.pth") && Contains("not a PyTorch checkpoint") && Contains("method 'imagenet'"));
  // run itself refuses the file before planning: no store, no failed runs under new ids.
  const auto run =
      run_usbench("run experiments/quickstart.json --db " + q(dir / "x.db") + " --weights " + q(dir / "bad.pth"));
  CHECK(run.exit_code == 2);
  CHECK_FALSE(fs::exists(dir / "x.db"));
  fs::create_directories(dir / "weights.d");
  const auto d = run_usbench("run experiments/quickstart.json --plan --weights " + q(dir / "weights.d"));
  CHECK(d.exit_code == 2);
  CHECK_THAT(d.output, Contains("weights.d") && Contains("a directory"));
}

// ---- Stores (items 6, 8, 15) ------------------------------------------------------------------------

TEST_CASE("a FIFO or /dev/null as the store is refused and nothing is created beside it", "[cli]") {
  TempDir dir;
  REQUIRE(::mkfifo((dir / "db.fifo").c_str(), 0600) == 0);
  for (const auto& cmd : {std::string("runs list --db "), std::string("ingest --dataset synthetic --db ")}) {
    auto r = run_usbench(cmd + q(dir / "db.fifo"));
    INFO(cmd << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("db.fifo") && Contains("FIFO"));
  }
  auto r = run_usbench("runs list --db /dev/null");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("/dev/null") && Contains("character device"));
  r = run_usbench("ingest --dataset synthetic --db /dev/null");
  CHECK(r.exit_code == 2);
  CHECK_FALSE(fs::exists("/dev/null-journal"));
  CHECK_FALSE(fs::exists("/dev/null-wal"));
}

TEST_CASE("a store with a dropped table or a negative schema version is refused and left as found", "[cli]") {
  TempDir dir;
  for (const auto& damage :
       {std::string("DROP TABLE metrics"), std::string("DROP TABLE runs"), std::string("PRAGMA user_version = -1")}) {
    INFO(damage);
    const auto db = dir / "damaged.db";
    fs::remove(db);
    {
      auto store = Store::open(db.string(), Store::Access::Create);
      store.db().exec("PRAGMA journal_mode=DELETE");
      store.db().exec(damage);
    }
    const auto before = read_bytes(db);
    for (const auto* cmd : {"runs list", "ingest --dataset synthetic", "report"}) {
      const auto r = run_usbench(std::string(cmd) + " --db " + q(db));
      INFO(cmd << ": " << r.output);
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.output,
                 Contains("damaged.db") && (Contains("damaged usbench store") || Contains("schema version -1")));
    }
    CHECK(read_bytes(db) == before);
    CHECK_FALSE(fs::exists(dir / "damaged.db-wal"));
    CHECK_FALSE(fs::exists(dir / "damaged.db-shm"));
  }
}

TEST_CASE("ingest and merge against a refused store leave no -wal or -shm beside it", "[cli]") {
  TempDir dir;
  {
    auto store = Store::open((dir / "future.db").string(), Store::Access::Create);  // WAL mode, as usbench writes
    store.db().exec("PRAGMA user_version=" + std::to_string(Store::schema_version() + 5));
  }
  for (const auto* sfx : {"-wal", "-shm"}) fs::remove(dir / (std::string("future.db") + sfx));
  const auto before = read_bytes(dir / "future.db");
  CHECK(run_usbench("ingest --dataset synthetic --db " + q(dir / "future.db")).exit_code == 2);
  CHECK(run_usbench("merge " + q(dir / "future.db") + " --out " + q(dir / "out.db")).exit_code == 2);
  CHECK(read_bytes(dir / "future.db") == before);
  CHECK_FALSE(fs::exists(dir / "future.db-wal"));
  CHECK_FALSE(fs::exists(dir / "future.db-shm"));
}

TEST_CASE("a store in a read-only folder: read commands list it - writing ones refuse it by name before any work",
          "[cli]") {
  // Run as nobody when the suite runs as root (root writes anywhere); nothing may appear in the folder.
  TempDir dir;
  const auto ro = dir / "ro";
  fs::create_directories(ro);
  { Store::open((ro / "old.db").string(), Store::Access::Create).db().exec("PRAGMA wal_checkpoint(TRUNCATE)"); }
  fs::permissions(ro / "old.db", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read | fs::perms::group_exec |
                          fs::perms::others_read | fs::perms::others_exec);
  const auto before = read_bytes(ro / "old.db");
  const auto as = unprivileged_prefix();

  auto r = run_usbench("runs list --db " + q(ro / "old.db"), as);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("no runs recorded"));
  for (const auto& cmd :
       {std::string("ingest --dataset synthetic --db "), std::string("run experiments/ci.json --db ")}) {
    r = run_usbench(cmd + q(ro / "new.db"), as);
    INFO(cmd << "new store: " << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("new.db") && Contains("cannot create a usbench store") && Contains("not writable") &&
                             Contains("Permission denied"));
    r = run_usbench(cmd + q(ro / "old.db"), as);
    INFO(cmd << "existing store: " << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output,
               Contains("old.db") && Contains("cannot write a usbench store") && Contains("Permission denied"));
  }
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(ro)) left.push_back(e.path().filename().string());
  CHECK(left == std::vector<std::string>{"old.db"});
  CHECK(read_bytes(ro / "old.db") == before);
  fs::permissions(ro, fs::perms::owner_all);
}

TEST_CASE("text that is not UTF-8 is refused by usbench, escaped, never by a library", "[cli]") {
  TempDir dir;
  // Command-line arguments: a --set value, a data set name, a source folder (issue 25).
  auto r = run_usbench("run experiments/quickstart.json --plan --set 'description=caf\xe9'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("argument 5 ('description=caf\\xE9') is not valid UTF-8 (byte 15)"));
  CHECK_THAT(r.output, !Contains("json.exception"));
  r = run_usbench("ingest --dataset synthetic --name 's\xff' --db " + q(dir / "s.db"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("('s\\xFF')") && Contains("not valid UTF-8"));
  CHECK_FALSE(fs::exists(dir / "s.db"));
  // A folder whose name is not UTF-8, reached through a relative path from a working folder inside it.
  const fs::path latin1 = dir / "caf\xe9";
  fs::create_directories(latin1 / "pocus" / "pocus_videos" / "convex");
  r = run_usbench("ingest --dataset pocus --src pocus --db " + q(dir / "p.db"), "cd " + q(latin1) + " && ");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("caf\\xE9/pocus/pocus_videos/convex: folder path is not valid UTF-8") &&
                           !Contains("json.exception"));
  CHECK_FALSE(fs::exists(dir / "p.db"));
  // A spec file's text: the JSON reader names the line and column.
  write_bytes(dir / "bad.json", "{\"schema_version\": 1,\n \"name\": \"q\xff\"}");
  r = run_usbench("run " + q(dir / "bad.json") + " --plan");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("bad.json:2:") && Contains("ill-formed UTF-8"));
}
