// Strict reading of JSON objects into typed structs (config as validated data, README Design §10).
//
// Contract: every key of the object must be claimed by a required()/optional()/object()/raw() call
// before finish(); finish() throws SpecError for the first unclaimed key, naming its full dotted path
// and suggesting the closest claimed key. Type mismatches throw SpecError naming the key path and the
// expected type. Integers never silently accept fractions; numbers never accept strings or booleans.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace usbench {

// Parses a whole JSON document strictly, for specs and other input files. Refused with UsageError naming
// `origin` and the line:column or key: malformed JSON; nesting deeper than kMaxJsonDepth (100,000 nested
// arrays would otherwise overflow the stack when the value is destroyed or printed); a key that appears
// twice in one object (the last would silently win); a number outside the range of a double (1e999).
constexpr int kMaxJsonDepth = 64;
nlohmann::json parse_json_document(const std::string& text, const std::string& origin);

// "integer", "number", "string", "boolean", "object", "array" or "null": the JSON type of a value.
std::string json_type_name(const nlohmann::json& v);

class JsonObject {
 public:
  // `origin` names the document for messages (usually the spec file); `path` is this object's dotted
  // path inside it ("" for the root). Throws SpecError if `value` is not an object.
  JsonObject(const nlohmann::json& value, std::string origin, std::string path);

  template <class T>
  T required(const std::string& key);
  template <class T>
  T optional(const std::string& key, T fallback);

  // Nested object (required, or empty object when absent and `allow_missing`).
  JsonObject object(const std::string& key, bool allow_missing = false);
  // Claims the key and returns the value untouched, or nullptr when absent.
  const nlohmann::json* raw(const std::string& key);
  bool has(const std::string& key) const { return value_.contains(key); }

  // Throws SpecError for any key no accessor claimed.
  void finish() const;

  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& origin() const { return origin_; }
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  const nlohmann::json& value_;
  std::string origin_;
  std::string path_;
  std::vector<std::string> claimed_;  // in claim order, for suggestions
};

// Converters used by JsonObject::required/optional; each throws SpecError through `obj.fail`.
template <class T>
T json_as(const JsonObject& obj, const std::string& key, const nlohmann::json& v);

template <>
std::int64_t json_as<std::int64_t>(const JsonObject&, const std::string&, const nlohmann::json&);
template <>
int json_as<int>(const JsonObject&, const std::string&, const nlohmann::json&);
template <>
double json_as<double>(const JsonObject&, const std::string&, const nlohmann::json&);
template <>
bool json_as<bool>(const JsonObject&, const std::string&, const nlohmann::json&);
template <>
std::string json_as<std::string>(const JsonObject&, const std::string&, const nlohmann::json&);
template <>
std::vector<std::int64_t> json_as<std::vector<std::int64_t>>(const JsonObject&, const std::string&,
                                                             const nlohmann::json&);
template <>
std::vector<double> json_as<std::vector<double>>(const JsonObject&, const std::string&, const nlohmann::json&);
template <>
std::vector<std::string> json_as<std::vector<std::string>>(const JsonObject&, const std::string&,
                                                           const nlohmann::json&);

template <class T>
T JsonObject::required(const std::string& key) {
  claimed_.push_back(key);
  auto it = value_.find(key);
  if (it == value_.end()) fail(key, "missing required key");
  return json_as<T>(*this, key, *it);
}

template <class T>
T JsonObject::optional(const std::string& key, T fallback) {
  claimed_.push_back(key);
  auto it = value_.find(key);
  if (it == value_.end()) return fallback;
  return json_as<T>(*this, key, *it);
}

}  // namespace usbench
