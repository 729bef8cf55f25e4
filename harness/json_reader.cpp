#include "harness/json_reader.h"

#include <cmath>
#include <limits>

#include "harness/errors.h"
#include "harness/suggest.h"

namespace usbench {

std::string json_type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "integer";
    case nlohmann::json::value_t::number_float: return "number";
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::boolean: return "boolean";
    case nlohmann::json::value_t::object: return "object";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::null: return "null";
    default: return "value";
  }
}

namespace {
std::string shown(const nlohmann::json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}
}  // namespace

JsonObject::JsonObject(const nlohmann::json& value, std::string origin, std::string path)
    : value_(value), origin_(std::move(origin)), path_(std::move(path)) {
  if (!value_.is_object()) {
    const std::string where = path_.empty() ? "the document" : "'" + path_ + "'";
    throw SpecError(path_, origin_ + ": " + where + " must be a JSON object, got " + json_type_name(value_) +
                               " " + shown(value_));
  }
}

void JsonObject::fail(const std::string& key, const std::string& message) const {
  throw SpecError(key_path(key), origin_ + ": " + key_path(key) + ": " + message);
}

JsonObject JsonObject::object(const std::string& key, bool allow_missing) {
  claimed_.push_back(key);
  static const nlohmann::json kEmpty = nlohmann::json::object();
  auto it = value_.find(key);
  if (it == value_.end()) {
    if (!allow_missing) fail(key, "missing required object");
    return JsonObject(kEmpty, origin_, key_path(key));
  }
  return JsonObject(*it, origin_, key_path(key));
}

const nlohmann::json* JsonObject::raw(const std::string& key) {
  claimed_.push_back(key);
  auto it = value_.find(key);
  return it == value_.end() ? nullptr : &*it;
}

void JsonObject::finish() const {
  for (auto it = value_.begin(); it != value_.end(); ++it) {
    bool known = false;
    for (const auto& c : claimed_) known = known || c == it.key();
    if (!known) {
      throw SpecError(key_path(it.key()), origin_ + ": unknown key '" + key_path(it.key()) + "'" +
                                              did_you_mean(it.key(), claimed_));
    }
  }
}

template <>
std::int64_t json_as<std::int64_t>(const JsonObject& obj, const std::string& key, const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      obj.fail(key, "integer " + shown(v) + " is too large");
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 3.0 is accepted as 3 (JSON writers differ); 3.5 is not an integer.
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9e15) return static_cast<std::int64_t>(d);
    obj.fail(key, "expected an integer, got " + shown(v));
  }
  obj.fail(key, "expected an integer, got a " + json_type_name(v) + " (" + shown(v) + ")");
}

template <>
int json_as<int>(const JsonObject& obj, const std::string& key, const nlohmann::json& v) {
  const std::int64_t x = json_as<std::int64_t>(obj, key, v);
  if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
    obj.fail(key, "integer " + shown(v) + " is out of range");
  return static_cast<int>(x);
}

template <>
double json_as<double>(const JsonObject& obj, const std::string& key, const nlohmann::json& v) {
  if (!v.is_number()) obj.fail(key, "expected a number, got a " + json_type_name(v) + " (" + shown(v) + ")");
  return v.get<double>();
}

template <>
bool json_as<bool>(const JsonObject& obj, const std::string& key, const nlohmann::json& v) {
  if (!v.is_boolean()) obj.fail(key, "expected true or false, got a " + json_type_name(v) + " (" + shown(v) + ")");
  return v.get<bool>();
}

template <>
std::string json_as<std::string>(const JsonObject& obj, const std::string& key, const nlohmann::json& v) {
  if (!v.is_string()) obj.fail(key, "expected a string, got a " + json_type_name(v) + " (" + shown(v) + ")");
  return v.get<std::string>();
}

template <>
std::vector<std::int64_t> json_as<std::vector<std::int64_t>>(const JsonObject& obj, const std::string& key,
                                                             const nlohmann::json& v) {
  if (!v.is_array()) obj.fail(key, "expected an array of integers, got a " + json_type_name(v));
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(json_as<std::int64_t>(obj, key + "." + std::to_string(i), v[i]));
  return out;
}

template <>
std::vector<double> json_as<std::vector<double>>(const JsonObject& obj, const std::string& key,
                                                 const nlohmann::json& v) {
  if (!v.is_array()) obj.fail(key, "expected an array of numbers, got a " + json_type_name(v));
  std::vector<double> out;
  for (std::size_t i = 0; i < v.size(); ++i) out.push_back(json_as<double>(obj, key + "." + std::to_string(i), v[i]));
  return out;
}

template <>
std::vector<std::string> json_as<std::vector<std::string>>(const JsonObject& obj, const std::string& key,
                                                           const nlohmann::json& v) {
  if (!v.is_array()) obj.fail(key, "expected an array of strings, got a " + json_type_name(v));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(json_as<std::string>(obj, key + "." + std::to_string(i), v[i]));
  return out;
}

}  // namespace usbench
