// The weights reader against damaged files: every mutation of a real checkpoint (bytes flipped,
// truncated, zeroed) is either read or refused with an exception, never a crash or an out-of-bounds
// access. Built and run under AddressSanitizer and UBSan in CI (usbench_sanitize_tests).
#include <caffe2/serialize/inline_container.h>
#include <catch2/catch.hpp>
#include <zlib.h>

#include <algorithm>

#include "datasets/rng.h"
#include "harness/errors.h"
#include "harness/model/weights.h"
#include "harness/model/zip_directory.h"
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
        case 0:
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << (i % 8)));
          break;  // one bit
        case 1:
          bytes.resize(at);
          break;  // truncated
        case 2:
          std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                    bytes.begin() + static_cast<std::ptrdiff_t>(std::min(bytes.size(), at + 64)), '\0');
          break;
        default:
          bytes[at] = static_cast<char>(rng.uniform() * 256);
          break;  // one byte
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

// ---- Hostile files built on purpose (issue 11, items 7 and 8) --------------------------------------------

namespace {

const fs::path kFixtures = fs::path(USBENCH_SOURCE_DIR) / "tests" / "fixtures";

void put(std::string& b, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A member of a hand-written ZIP archive: `data` stored or deflated, or (zeros > 0) that many zero bytes
// deflated without ever holding them in memory. `declared` > 0 overrides the uncompressed size written.
struct Member {
  std::string name, data;
  bool deflate = false;
  std::uint64_t zeros = 0, declared = 0;
};

std::string raw_deflate(const Member& m, std::uint32_t& crc) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out, chunk(1 << 20, '\0'), in = m.zeros ? std::string(1 << 20, '\0') : m.data;
  crc = static_cast<std::uint32_t>(crc32(0, nullptr, 0));
  std::uint64_t left = m.zeros ? m.zeros : m.data.size();
  while (true) {
    const auto n = static_cast<uInt>(std::min<std::uint64_t>(left, in.size()));
    z.next_in = reinterpret_cast<Bytef*>(in.data());
    z.avail_in = n;
    crc = static_cast<std::uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(in.data()), n));
    left -= n;
    const int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc = Z_OK;
    do {
      z.next_out = reinterpret_cast<Bytef*>(chunk.data());
      z.avail_out = static_cast<uInt>(chunk.size());
      rc = deflate(&z, flush);
      out.append(chunk.data(), chunk.size() - z.avail_out);
    } while (z.avail_out == 0);
    if (flush == Z_FINISH) {
      REQUIRE(rc == Z_STREAM_END);
      break;
    }
  }
  deflateEnd(&z);
  return out;
}

// A ZIP archive of `members`, written here so a test can build archives torch.save never would. With
// zip64, every size goes in a ZIP64 extra field (32-bit fields 0xFFFFFFFF) and a ZIP64 end record.
std::string zip_of(const std::vector<Member>& members, bool zip64 = false) {
  std::string out, cd;
  for (const auto& m : members) {
    std::uint32_t crc = 0;
    std::string payload = m.data;
    if (m.deflate || m.zeros)
      payload = raw_deflate(m, crc);
    else
      crc = static_cast<std::uint32_t>(
          crc32(0, reinterpret_cast<const Bytef*>(m.data.data()), static_cast<uInt>(m.data.size())));
    const std::uint64_t usize = m.declared ? m.declared : m.zeros ? m.zeros : m.data.size();
    const std::uint16_t method = m.deflate || m.zeros ? 8 : 0;
    std::string extra;
    if (zip64) {
      put(extra, 1, 2);
      put(extra, 16, 2);
      put(extra, usize, 8);
      put(extra, payload.size(), 8);
    }
    const std::uint64_t size32 = zip64 ? 0xFFFFFFFFull : payload.size(), usize32 = zip64 ? 0xFFFFFFFFull : usize;
    const auto offset = out.size();
    put(out, 0x04034b50, 4);
    put(out, zip64 ? 45 : 20, 2);
    put(out, 0, 2);
    put(out, method, 2);
    put(out, 0, 4);
    put(out, crc, 4);
    put(out, size32, 4);
    put(out, usize32, 4);
    put(out, m.name.size(), 2);
    put(out, extra.size(), 2);
    out += m.name + extra + payload;
    put(cd, 0x02014b50, 4);
    put(cd, 45, 2);
    put(cd, zip64 ? 45 : 20, 2);
    put(cd, 0, 2);
    put(cd, method, 2);
    put(cd, 0, 4);
    put(cd, crc, 4);
    put(cd, size32, 4);
    put(cd, usize32, 4);
    put(cd, m.name.size(), 2);
    put(cd, extra.size(), 2);
    put(cd, 0, 2);
    put(cd, 0, 2);
    put(cd, 0, 2);
    put(cd, 0, 4);
    put(cd, offset, 4);
    cd += m.name + extra;
  }
  const auto cd_offset = out.size();
  out += cd;
  if (zip64) {
    const auto record = out.size();
    put(out, 0x06064b50, 4);
    put(out, 44, 8);
    put(out, 45, 2);
    put(out, 45, 2);
    put(out, 0, 4);
    put(out, 0, 4);
    put(out, members.size(), 8);
    put(out, members.size(), 8);
    put(out, cd.size(), 8);
    put(out, cd_offset, 8);
    put(out, 0x07064b50, 4);
    put(out, 0, 4);
    put(out, record, 8);
    put(out, 1, 4);
  }
  put(out, 0x06054b50, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, members.size(), 2);
  put(out, members.size(), 2);
  put(out, cd.size(), 4);
  put(out, cd_offset, 4);
  put(out, 0, 2);
  return out;
}

// tiny_basic.pth's records as members "archive/<record>", in its order, stored.
std::vector<Member> tiny_basic_members() {
  caffe2::serialize::PyTorchStreamReader reader((kFixtures / "tiny_basic.pth").string());
  std::vector<Member> out;
  for (const auto& name : reader.getAllRecords()) {
    auto [data, size] = reader.getRecord(name);
    out.push_back({"archive/" + name, std::string(static_cast<const char*>(data.get()), size)});
  }
  return out;
}

std::size_t first_tensor_record(const std::vector<Member>& members) {
  for (std::size_t i = 0; i < members.size(); ++i)
    if (members[i].name.rfind("archive/data/", 0) == 0) return i;
  FAIL("no tensor record in tiny_basic.pth");
  return 0;
}

void require_same(const StateDict& a, const StateDict& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    CHECK(torch::equal(a[i].second, b[i].second));
  }
}

std::string refusal(const fs::path& path) {
  try {
    read_state_dict(path.string());
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(read without complaint)";
}

}  // namespace

TEST_CASE("a checkpoint rebuilt member by member - stored or deflated - reads to the same tensors", "[unit]") {
  TempDir dir;
  const auto original = read_state_dict((kFixtures / "tiny_basic.pth").string());
  auto members = tiny_basic_members();
  write_bytes(dir / "stored.pth", zip_of(members));
  const auto listed = read_zip_directory((dir / "stored.pth").string());
  REQUIRE(listed.size() == members.size());
  for (std::size_t i = 0; i < members.size(); ++i) {
    CHECK(listed[i].name == members[i].name);
    CHECK(listed[i].method == 0);
    CHECK(listed[i].uncompressed == members[i].data.size());
  }
  require_same(read_state_dict((dir / "stored.pth").string()), original);
  // A checkpoint re-zipped with deflate is not a bomb: its members decompress to what the pickle declares.
  for (auto& m : members) m.deflate = true;
  write_bytes(dir / "deflated.pth", zip_of(members));
  CHECK(read_zip_directory((dir / "deflated.pth").string())[0].method == 8);
  require_same(read_state_dict((dir / "deflated.pth").string()), original);
}

TEST_CASE("a zip bomb - a tensor record inflating to far more than the file - is refused before it is inflated",
          "[unit]") {
  TempDir dir;
  auto members = tiny_basic_members();
  const auto i = first_tensor_record(members);
  members[i].data.clear();
  members[i].zeros = std::uint64_t{64} << 20;  // 64 MB of zeros, about 64 kB deflated
  write_bytes(dir / "bomb.pth", zip_of(members));
  REQUIRE(fs::file_size(dir / "bomb.pth") < (std::uint64_t{1} << 20));
  const auto message = refusal(dir / "bomb.pth");
  CHECK_THAT(message, Catch::Contains(members[i].name) && Catch::Contains("67108864 bytes uncompressed") &&
                          Catch::Contains("compression bomb"));
}

TEST_CASE("a ZIP64 member declaring 6 GB is refused by the size it declares, without inflating anything", "[unit]") {
  TempDir dir;
  auto members = tiny_basic_members();
  const auto i = first_tensor_record(members);
  members[i].deflate = true;
  members[i].declared = std::uint64_t{6} << 30;
  write_bytes(dir / "zip64.pth", zip_of(members, true));
  const auto listed = read_zip_directory((dir / "zip64.pth").string());
  REQUIRE(listed.size() == members.size());
  CHECK(listed[i].uncompressed == (std::uint64_t{6} << 30));
  CHECK(listed[0].uncompressed == members[0].data.size());  // 64-bit sizes read from the extra field
  CHECK_THAT(refusal(dir / "zip64.pth"), Catch::Contains(members[i].name) && Catch::Contains("6442450944 bytes"));
}

TEST_CASE("many members that together inflate to more than twice the file are refused", "[unit]") {
  TempDir dir;
  auto members = tiny_basic_members();
  const auto file_size = zip_of(members).size();
  // Each extra member inflates to just under the file's size: none alone is too big, together they are.
  for (int k = 0; k < 4; ++k)
    members.push_back({"archive/padding" + std::to_string(k), "", false, file_size * 9 / 10, 0});
  write_bytes(dir / "many.pth", zip_of(members));
  CHECK_THAT(refusal(dir / "many.pth"), Catch::Contains("in all") && Catch::Contains("compression bomb"));
}

TEST_CASE("a tensor record larger than the storage its pickle declares is refused before it is read", "[unit]") {
  TempDir dir;
  auto members = tiny_basic_members();
  const auto i = first_tensor_record(members);
  const auto want = members[i].data.size();
  members[i].data += std::string(100, '\x7f');
  write_bytes(dir / "long.pth", zip_of(members));
  CHECK_THAT(refusal(dir / "long.pth"), Catch::Contains(members[i].name.substr(8)) &&
                                            Catch::Contains("declares " + std::to_string(want + 100) + " bytes") &&
                                            Catch::Contains("needs " + std::to_string(want)));
}

TEST_CASE("tensor views outside their storage are refused by the reader - torch.load refuses them too", "[unit]") {
  // make_fixtures.py --hostile-views: 'weight' is a view of a 16-element storage with the offset, sizes
  // and strides named in the file name.
  for (const char* name :
       {"negative_offset", "huge_offset", "stride_out_of_bounds", "negative_size", "end_past_storage"}) {
    INFO(name);
    const auto path = kFixtures / (std::string("hostile_view_") + name + ".pth");
    REQUIRE(fs::exists(path));
    const auto message = refusal(path);
    CHECK_THAT(message, Catch::Contains(path.string()) && (Catch::Contains("outside its storage") ||
                                                           Catch::Contains("negative or huge size or stride")));
  }
}

TEST_CASE("a bit flipped inside a tensor's data - the ZIP's structure intact - is refused by its CRC-32", "[unit]") {
  CHECK(zip_crc32("123456789", 9) == 0xCBF43926u);  // the standard check value
  CHECK(zip_crc32("", 0) == 0u);
  TempDir dir;
  const std::string original = read_bytes(kFixtures / "tiny_basic.pth");
  // The local header of member tiny_basic/data/0: data starts after its 30 bytes, name and extra field.
  const std::string name = "tiny_basic/data/0";
  const auto header = original.find(std::string("PK\x03\x04", 4));
  REQUIRE(header != std::string::npos);
  std::size_t at = std::string::npos;
  for (std::size_t p = header; p != std::string::npos; p = original.find(std::string("PK\x03\x04", 4), p + 4)) {
    const auto name_len = static_cast<unsigned char>(original[p + 26]) | static_cast<unsigned char>(original[p + 27])
                                                                             << 8;
    const auto extra_len = static_cast<unsigned char>(original[p + 28]) | static_cast<unsigned char>(original[p + 29])
                                                                              << 8;
    if (original.compare(p + 30, static_cast<std::size_t>(name_len), name) == 0) {
      at = p + 30 + static_cast<std::size_t>(name_len + extra_len) + 100;  // inside its 2,352 bytes
      break;
    }
  }
  REQUIRE(at != std::string::npos);
  std::string bytes = original;
  bytes[at] = static_cast<char>(bytes[at] ^ 0x01);  // the lowest mantissa bit of one weight
  const auto path = (dir / "flipped.pth").string();
  write_bytes(path, bytes);
  CHECK_THROWS_WITH(read_state_dict(path), Catch::Contains(path) &&
                                               Catch::Contains("ZIP member 'tiny_basic/data/0' is damaged") &&
                                               Catch::Contains("CRC-32"));
  // The untouched file reads, and so does every member's CRC.
  CHECK_NOTHROW(read_state_dict((kFixtures / "tiny_basic.pth").string()));
}
