// Issue 11: hostile targets and inputs that must never put wrong data anywhere. Each case builds its
// hostile input itself.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "harness/canonical.h"
#include "harness/errors.h"
#include "harness/output_file.h"
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
  write_file_atomically(target.string(), "newer", [&](const FileDigest& x) { seen = read_bytes(target) + "|" + x.sha256; });
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
  CHECK_THROWS_WITH(write_file_atomically((dir / "no" / "such.txt").string(), "x"), Contains((dir / "no" / "such.txt").string()));
  CHECK_FALSE(fs::exists(dir / "no"));
}
