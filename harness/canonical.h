// Canonical serialisation and content hashing: the basis of run identity (README Design §7).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace usbench {

// Canonical JSON: keys sorted (nlohmann::json keeps objects in a std::map), no whitespace, integers as
// integers, floating-point numbers in the shortest form that round-trips (always with a '.' or an
// exponent, so 1.0 never collides with the integer 1), strings UTF-8 with JSON escapes. Two values that
// compare equal produce the same bytes.
std::string canonical_json(const nlohmann::json& value);

// Lower-case hex SHA-256 of bytes (OpenSSL).
std::string sha256_hex(const std::string& bytes);

// Streaming SHA-256 of a file's bytes; UsageError naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

// sha256_hex(canonical_json(value)).
std::string content_hash(const nlohmann::json& value);

}  // namespace usbench
