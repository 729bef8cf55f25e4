#include "harness/spec/json_reader.h"

#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "harness/errors.h"
#include "harness/spec/suggest.h"

namespace usbench {

std::string json_type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "integer";
    case nlohmann::json::value_t::number_float:
      return "number";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::object:
      return "object";
    case nlohmann::json::value_t::array:
      return "array";
    case nlohmann::json::value_t::null:
      return "null";
    default:
      return "value";
  }
}

namespace {

std::string line_col(const std::string& text, std::size_t byte) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

// The rejection a parser callback raises; carries a message without library text.
struct Refused {
  std::string message;
};

}  // namespace

nlohmann::json parse_json_document(const std::string& text, const std::string& origin) {
  using Event = nlohmann::json::parse_event_t;
  struct Level {
    bool object = false;
    std::set<std::string> keys;
    std::string key;
  };
  std::vector<Level> stack;
  auto key_path = [&stack] {
    std::string p;
    for (const auto& l : stack)
      if (l.object && !l.key.empty()) p += (p.empty() ? "" : ".") + l.key;
    return p.empty() ? std::string("the document") : "'" + p + "'";
  };
  const nlohmann::json::parser_callback_t check = [&](int, Event event, nlohmann::json& parsed) {
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (static_cast<int>(stack.size()) >= kMaxJsonDepth)
          throw Refused{"nested more than " + std::to_string(kMaxJsonDepth) + " levels deep at " + key_path() +
                        "; refusing it"};
        stack.push_back(Level{event == Event::object_start, {}, {}});
        break;
      case Event::object_end:
      case Event::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case Event::key: {
        const auto k = parsed.get<std::string>();
        if (!stack.empty()) {
          if (!stack.back().keys.insert(k).second) {
            stack.back().key = k;
            throw Refused{"key " + key_path() + " appears twice in one object (which one is meant?)"};
          }
          stack.back().key = k;
        }
        break;
      }
      case Event::value:
        break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, check);
  } catch (const Refused& r) {
    throw UsageError(origin + ": " + r.message);
  } catch (const nlohmann::json::parse_error& e) {
    throw UsageError(origin + ":" + line_col(text, e.byte > 0 ? e.byte - 1 : 0) + ": not valid JSON: " + e.what());
  } catch (const nlohmann::json::out_of_range& e) {
    // "number overflow parsing '1e999'": find the literal to name its place and key.
    const std::string what = e.what();
    const auto q1 = what.find('\''), q2 = what.rfind('\'');
    const std::string literal = q1 != std::string::npos && q2 > q1 ? what.substr(q1 + 1, q2 - q1 - 1) : "";
    const auto at = literal.empty() ? std::string::npos : text.find(literal);
    std::string key;
    if (at != std::string::npos) {
      const auto colon = text.rfind(':', at), close = colon == std::string::npos ? colon : text.rfind('"', colon);
      const auto open = close == std::string::npos || close == 0 ? close : text.rfind('"', close - 1);
      if (open != std::string::npos && close != std::string::npos) key = text.substr(open + 1, close - open - 1);
    }
    throw UsageError(origin + (at != std::string::npos ? ":" + line_col(text, at) : std::string()) + ": " +
                     (key.empty() ? std::string() : "'" + key + "': ") + "number " + literal +
                     " is out of range (a double holds at most about 1.8e308)");
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
    throw SpecError(
        path_, origin_ + ": " + where + " must be a JSON object, got " + json_type_name(value_) + " " + shown(value_));
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
      throw SpecError(key_path(it.key()),
                      origin_ + ": unknown key '" + key_path(it.key()) + "'" + did_you_mean(it.key(), claimed_));
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
