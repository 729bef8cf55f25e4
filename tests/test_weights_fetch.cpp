// Issue 12: ImageNet weights where torchvision users keep them. The hub-cache rules (folder, hash prefix)
// and `usbench weights fetch` against an HTTP server on 127.0.0.1 that this test starts itself.
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "harness/canonical.h"
#include "harness/errors.h"
#include "harness/model/hub_weights.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;
using Catch::Matchers::Contains;

namespace {

// Sets an environment variable for the life of the object (restores the old value).
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old, had_ = true;
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { had_ ? ::setenv(name_.c_str(), old_.c_str(), 1) : ::unsetenv(name_.c_str()); }

 private:
  std::string name_, old_;
  bool had_ = false;
};

// What the test server does for one path.
struct Route {
  int status = 200;
  std::string body;
  std::size_t send_limit = std::string::npos;  // close the connection after this many body bytes (a cut)
  int trickle_ms = 0;                          // > 0: one 64-byte piece per this many ms (a stalled server)
  bool ranges = true;                          // honour "Range: bytes=N-" with 206
};

// A one-connection-at-a-time HTTP/1.1 server on 127.0.0.1 and an ephemeral port, for the life of the
// object. Records the Range header of each request.
class TestServer {
 public:
  explicit TestServer(std::map<std::string, Route> routes) : routes_(std::move(routes)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    REQUIRE(::listen(fd_, 8) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<std::string> ranges_asked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ranges_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      handle(c);
      ::close(c);
    }
  }
  void handle(int c) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      const auto n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<std::size_t>(n));
    }
    const auto sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
    const std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t from = 0;
    std::string range;
    if (const auto r = req.find("Range: bytes="); r != std::string::npos) {
      range = req.substr(r + 13, req.find("\r\n", r) - r - 13);
      from = std::stoull(range);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ranges_.push_back(range);
    }
    const auto it = routes_.find(path);
    if (it == routes_.end() || it->second.status != 200) {
      send_all(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
      return;
    }
    const Route& route = it->second;
    const std::string& body = route.body;
    std::string head;
    if (from > 0 && route.ranges) {
      if (from >= body.size()) {
        send_all(c, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
      }
      head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + std::to_string(from) + "-" +
             std::to_string(body.size() - 1) + "/" + std::to_string(body.size()) + "\r\n";
    } else {
      from = 0;
      head = "HTTP/1.1 200 OK\r\n";
    }
    head += "Content-Length: " + std::to_string(body.size() - from) + "\r\nConnection: close\r\n\r\n";
    if (!send_all(c, head)) return;
    const std::size_t end =
        std::min(body.size(), route.send_limit == std::string::npos ? body.size() : route.send_limit);
    for (std::size_t at = from; at < end && !stop_;) {
      const std::size_t piece = route.trickle_ms > 0 ? 64 : end - at;
      if (!send_all(c, body.substr(at, std::min(piece, end - at)))) return;
      at += piece;
      if (route.trickle_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(route.trickle_ms));
    }
  }
  static bool send_all(int c, const std::string& s) {
    for (std::size_t at = 0; at < s.size();) {
      const auto n = ::send(c, s.data() + at, s.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<std::size_t>(n);
    }
    return true;
  }

  std::map<std::string, Route> routes_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> ranges_;
};

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& ch : s) ch = static_cast<char>(rng() & 0xff);
  return s;
}

}  // namespace

TEST_CASE("torch hub cache folder and hash prefixes follow torch.hub", "[unit]") {
  {
    ScopedEnv home("HOME", "/h"), xdg("XDG_CACHE_HOME", ""), th("TORCH_HOME", "");
    CHECK(hub_checkpoint_dir() == "/h/.cache/torch/hub/checkpoints");
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/x"), th("TORCH_HOME", "");
    CHECK(hub_checkpoint_dir() == "/x/torch/hub/checkpoints");
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/x"), th("TORCH_HOME", "/t");
    CHECK(hub_checkpoint_dir() == "/t/hub/checkpoints");
  }
  // torch.hub's HASH_REGEX, r'-([a-f0-9]*)\.', first match.
  CHECK(hash_prefix("resnet18-f37072fd.pth") == "f37072fd");
  CHECK(hash_prefix("resnet50-0676ba61.pth") == "0676ba61");
  CHECK(hash_prefix("my-net-ab12.v2.pth") == "ab12");  // "-net" is not hex up to a '.', "-ab12." is
  CHECK(hash_prefix("model-ABCD.pth").empty());        // upper case is not part of the pattern
  CHECK(hash_prefix("model.pth").empty());
  CHECK(torchvision_files("resnet18").front().file_name == "resnet18-f37072fd.pth");
  CHECK(torchvision_files("resnet18").front().url == "https://download.pytorch.org/models/resnet18-f37072fd.pth");
  {
    ScopedEnv reg("USBENCH_HUB_FILES", "resnet50=r50-00.pth,resnet18=fixture-12345678.pth");
    const auto files = torchvision_files("resnet18");
    REQUIRE(files.size() == 3);
    CHECK(files[0].file_name == "fixture-12345678.pth");
    CHECK(files[0].url.empty());
  }
}

TEST_CASE("a hub-cache file is taken only when its content matches its name's hash prefix", "[unit]") {
  TempDir dir;
  const auto ckpt = dir / "hub" / "checkpoints";
  fs::create_directories(ckpt);
  const std::string bytes = random_bytes(5000, 1);
  const std::string name = "fixture-" + sha256_hex(bytes).substr(0, 8) + ".pth";
  write_bytes(ckpt / name, bytes);
  ScopedEnv th("TORCH_HOME", dir.path().string()), reg("USBENCH_HUB_FILES", "resnet18=" + name);
  CHECK(resolve_imagenet_weights("", "", "resnet18") == (ckpt / name).string());
  CHECK(resolve_imagenet_weights("spec.pth", "flag.pth", "resnet18") == "spec.pth");  // explicit files first
  CHECK(resolve_imagenet_weights("", "flag.pth", "resnet18") == "flag.pth");
  CHECK(resolve_imagenet_weights("", "", "resnet50").empty());
  std::string flipped = bytes;
  flipped[100] = static_cast<char>(flipped[100] ^ 1);
  write_bytes(ckpt / name, flipped);
  CHECK_THROWS_WITH(resolve_imagenet_weights("", "", "resnet18"), Contains(name) && Contains("hash-prefix"));
}

TEST_CASE("weights fetch: verified, atomic, resumable download from a local server", "[cli]") {
#ifndef USBENCH_WITH_CURL
  const auto r0 = run_usbench("weights fetch resnet18 --dir /nonexistent");
  CHECK(r0.exit_code == 2);
  CHECK_THAT(r0.output, Contains("without libcurl"));
  return;
#endif
  const std::string good = random_bytes(300000, 2);
  const std::string name = "fixture-" + sha256_hex(good).substr(0, 8) + ".pth";
  const std::string wrong_name = "fixture-00000000.pth";  // content does not start 00000000 (checked below)
  REQUIRE(sha256_hex(good).substr(0, 8) != "00000000");
  Route cut{200, good, good.size() / 3};
  Route slow{200, good};
  slow.trickle_ms = 500;
  Route no_ranges{200, good};
  no_ranges.ranges = false;
  TestServer server({{"/good/" + name, {200, good}},
                     {"/cut/" + name, cut},
                     {"/slow/" + name, slow},
                     {"/noranges/" + name, no_ranges},
                     {"/good/" + wrong_name, {200, good}}});
  TempDir dir;
  const auto out = dir / "hub";
  auto fetch = [&](const std::string& path, const std::string& extra = "") {
    return run_usbench("weights fetch --url " + server.url(path) + " --dir " + q(out) + extra);
  };
  auto files = [&] {
    std::vector<std::string> v;
    std::error_code ec;
    if (fs::is_directory(out, ec))
      for (const auto& e : fs::directory_iterator(out)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  };

  SECTION("404: named, exit 1, nothing left") {
    const auto r = fetch("/missing/" + name);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("/missing/" + name) && Contains("HTTP 404"));
    CHECK(files().empty());
  }
  SECTION("wrong hash: refused with exit 2, nothing kept under either name") {
    const auto r = fetch("/good/" + wrong_name);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(wrong_name) && Contains("its name says 00000000"));
    CHECK(files().empty());
  }
  SECTION("cut off: the partial is kept, the next fetch resumes from it and the file is whole") {
    auto r = fetch("/cut/" + name);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("run the same command again to resume"));
    CHECK(files() == std::vector<std::string>{name + ".partial"});
    CHECK(fs::file_size(out / (name + ".partial")) == good.size() / 3);
    r = fetch("/good/" + name);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Contains("resumed after " + std::to_string(good.size() / 3) + " bytes"));
    CHECK(server.ranges_asked().back() == std::to_string(good.size() / 3) + "-");
    CHECK(files() == std::vector<std::string>{name});
    CHECK(read_bytes(out / name) == good);
    // Again: already there, checked, not downloaded.
    const auto asked = server.ranges_asked().size();
    r = fetch("/good/" + name);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Contains("already present"));
    CHECK(server.ranges_asked().size() == asked);
  }
  SECTION("a server that ignores the range: the download starts again and is whole") {
    fs::create_directories(out);
    write_bytes(out / (name + ".partial"), good.substr(0, 1000));
    const auto r = fetch("/noranges/" + name);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(read_bytes(out / name) == good);
    CHECK(files() == std::vector<std::string>{name});
  }
  SECTION("a stalled server: given up after --stall-timeout, partial kept") {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = fetch("/slow/" + name, " --stall-timeout 1");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("stalled"));
    CHECK(secs < 20);
    CHECK_FALSE(fs::exists(out / name));
  }
  SECTION("a file already in place with the wrong content is refused by name, not overwritten") {
    fs::create_directories(out);
    write_bytes(out / name, "damaged");
    const auto r = fetch("/good/" + name);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(name) && Contains("hash-prefix"));
    CHECK(read_bytes(out / name) == "damaged");
  }
}

TEST_CASE("weights fetch and the hub file list refuse bad arguments by name, writing nothing", "[cli]") {
  TempDir dir;
  {
    ScopedEnv reg("USBENCH_HUB_FILES", "resnet18");
    CHECK_THROWS_WITH(torchvision_files("resnet18"), Contains("USBENCH_HUB_FILES") && Contains("BACKBONE=FILE_NAME"));
  }
#ifdef USBENCH_WITH_CURL
  auto r = run_usbench("weights fetch --dir " + q(dir / "w"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("name a backbone"));
  r = run_usbench("weights fetch resnet34 --dir " + q(dir / "w"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("unknown backbone 'resnet34'"));
  r = run_usbench("weights fetch --url http://127.0.0.1:9/ --dir " + q(dir / "w"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("names no file"));
  write_bytes(dir / "plain", "a file, not a folder");
  r = run_usbench("weights fetch --url http://127.0.0.1:9/x-00.pth --dir " + q(dir / "plain"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("plain") && Contains("cannot create the weights folder"));
  CHECK(read_bytes(dir / "plain") == "a file, not a folder");
  CHECK_FALSE(fs::exists(dir / "w"));
#endif
}
