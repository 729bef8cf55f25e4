#include <catch2/catch.hpp>

#include "harness/canonical.h"
#include "harness/run/seeds.h"

using namespace usbench;

TEST_CASE("sha256 matches the FIPS 180-2 test vectors", "[unit]") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("canonical JSON sorts keys and keeps integers distinct from floats", "[unit]") {
  const auto a = nlohmann::json::parse(R"({"b": 1, "a": {"y": 0.5, "x": [3, 2]}})");
  const auto b = nlohmann::json::parse(R"({"a": {"x": [3, 2], "y": 0.5}, "b": 1})");
  CHECK(canonical_json(a) == R"({"a":{"x":[3,2],"y":0.5},"b":1})");
  CHECK(canonical_json(a) == canonical_json(b));
  CHECK(content_hash(a) == content_hash(b));
  CHECK(canonical_json(nlohmann::json(1.0)) == "1.0");
  CHECK(canonical_json(nlohmann::json(1)) == "1");
  CHECK(canonical_json(nlohmann::json(1e-4)) == "0.0001");
  CHECK(content_hash(nlohmann::json(1.0)) != content_hash(nlohmann::json(1)));
}

TEST_CASE("seed streams are deterministic, distinct and non-negative", "[unit]") {
  const auto s0 = derive_seeds(0);
  const auto again = derive_seeds(0);
  const auto s1 = derive_seeds(1);
  CHECK(s0 == again);
  CHECK(s0.at("root") == 0);
  CHECK(s0.at("init") != s0.at("augmentation"));
  CHECK(s0.at("init") != s1.at("init"));
  for (const auto& [name, value] : s0) CHECK(value >= 0);
  // Pinned: the derivation is part of run reproducibility; changing it must be deliberate.
  const std::string hex = sha256_hex("usbench/seed/v1/0/init");
  CHECK(derive_seed(0, "init") == static_cast<std::int64_t>(std::stoull(hex.substr(0, 16), nullptr, 16) >> 1));
}
