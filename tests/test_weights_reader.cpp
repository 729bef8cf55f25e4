// The weights reader against damaged files: every mutation of a real checkpoint (bytes flipped,
// truncated, zeroed) is either read or refused with an exception, never a crash or an out-of-bounds
// access. Built and run under AddressSanitizer and UBSan in CI (usbench_sanitize_tests).
#include <catch2/catch.hpp>

#include "datasets/rng.h"
#include "harness/errors.h"
#include "harness/weights.h"
#include "support.h"

using namespace usbench;
using namespace usbench::test;

TEST_CASE("the weights reader survives 300 damaged copies of real checkpoints", "[unit]") {
  TempDir dir;
  const fs::path fix = fs::path(USBENCH_SOURCE_DIR) / "tests" / "fixtures";
  int read = 0, refused = 0;
  datasets::Rng rng(2026);
  for (const auto* name : {"tiny_basic.pth", "tiny_basic_legacy.pth", "tiny_uscl_layout.pth"}) {
    const std::string original = read_bytes(fix / name);
    REQUIRE(original.size() > 100);
    for (int i = 0; i < 100; ++i) {
      std::string bytes = original;
      const auto at = static_cast<std::size_t>(rng.uniform() * static_cast<double>(bytes.size() - 1));
      switch (i % 4) {
        case 0: bytes[at] = static_cast<char>(bytes[at] ^ (1 << (i % 8))); break;       // one bit
        case 1: bytes.resize(at); break;                                                  // truncated
        case 2: std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin() + static_cast<std::ptrdiff_t>(std::min(bytes.size(), at + 64)), '\0'); break;
        default: bytes[at] = static_cast<char>(rng.uniform() * 256); break;             // one byte
      }
      const auto path = dir / "damaged.pth";
      write_bytes(path, bytes);
      try {
        const auto dict = read_state_dict(path.string());
        for (const auto& [k, t] : dict) CHECK(t.numel() >= 0);
        ++read;
      } catch (const std::exception&) {
        ++refused;
      }
    }
  }
  CHECK(read + refused == 300);
  CHECK(refused > 0);
}
