#include <catch2/catch.hpp>

#include "harness/errors.h"
#include "harness/spec/json_reader.h"

using namespace usbench;
using Catch::Matchers::Contains;

namespace {
nlohmann::json J(const char* s) { return nlohmann::json::parse(s); }
}  // namespace

TEST_CASE("JsonObject reads typed values and defaults", "[unit]") {
  const auto doc = J(R"({"epochs": 3, "lr": 1, "name": "x", "flag": true, "ints": [1, 2], "whole": 4.0})");
  JsonObject o(doc, "spec.json", "protocol");
  CHECK(o.required<int>("epochs") == 3);
  CHECK(o.required<double>("lr") == 1.0);
  CHECK(o.required<std::string>("name") == "x");
  CHECK(o.required<bool>("flag"));
  CHECK(o.required<std::vector<std::int64_t>>("ints") == std::vector<std::int64_t>{1, 2});
  CHECK(o.required<int>("whole") == 4);
  CHECK(o.optional<int>("absent", 7) == 7);
  CHECK_NOTHROW(o.finish());
}

TEST_CASE("JsonObject names the key path and the expected type", "[unit]") {
  const auto doc = J(R"({"epochs": "3", "lr": "fast", "frac": 2.5, "flag": 1})");
  JsonObject o(doc, "spec.json", "protocols.0.config");
  CHECK_THROWS_WITH(o.required<int>("epochs"),
                    Contains("protocols.0.config.epochs") && Contains("expected an integer") && Contains("string"));
  CHECK_THROWS_WITH(o.required<double>("lr"), Contains("protocols.0.config.lr") && Contains("expected a number"));
  CHECK_THROWS_WITH(o.required<int>("frac"), Contains("expected an integer, got 2.5"));
  CHECK_THROWS_WITH(o.required<bool>("flag"), Contains("expected true or false"));
  CHECK_THROWS_WITH(o.required<int>("missing"), Contains("protocols.0.config.missing: missing required key"));
  try {
    o.required<int>("epochs");
    FAIL("no throw");
  } catch (const SpecError& e) {
    CHECK(e.key_path() == "protocols.0.config.epochs");
  }
}

TEST_CASE("JsonObject rejects unknown keys with a suggestion", "[unit]") {
  const auto doc = J(R"({"epohcs": 3, "lr": 0.1})");
  JsonObject o(doc, "spec.json", "protocol");
  o.optional<int>("epochs", 100);
  o.optional<double>("lr", 0.01);
  CHECK_THROWS_WITH(o.finish(), Contains("unknown key 'protocol.epohcs'") && Contains("did you mean 'epochs'?"));
}

TEST_CASE("JsonObject insists on objects", "[unit]") {
  const auto doc = J(R"([1, 2])");
  CHECK_THROWS_AS(JsonObject(doc, "spec.json", ""), SpecError);
}

TEST_CASE("parse_json_document bounds nesting and refuses duplicate keys and overflowing numbers", "[unit]") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_THROWS_WITH(parse_json_document(deep, "deep.json"),
                    Contains("deep.json") && Contains("nested more than 64 levels"));
  CHECK_THROWS_WITH(parse_json_document(R"({"a": {"b": 1, "b": 2}})", "dup.json"), Contains("'a.b' appears twice"));
  CHECK_THROWS_WITH(parse_json_document("{\n  \"lr\": 1e999\n}", "big.json"),
                    Contains("big.json:2:9") && Contains("'lr': number 1e999"));
  CHECK_THROWS_WITH(parse_json_document("{\"a\": }", "bad.json"),
                    Contains("bad.json:1:") && Contains("not valid JSON"));
  const auto ok =
      parse_json_document(std::string(64, '[') + std::string(64, ']'), "ok.json");  // the bound itself is fine
  CHECK(ok.is_array());
}
