// The fixed values the differential tests' fixture generators compute (tests/fixtures/make_fixtures.py's
// pattern() and fixed_value()), computed here the same way: integer hashing, IEEE double arithmetic, one
// rounding to float32 - bit-identical on both sides, so no weights need committing.
#pragma once
#include <cmath>
#include <string>

#include "harness/torch_pch.h"

namespace usbench::test {

// make_fixtures.py's pattern(): ((i * 2654435761 + c(name)) mod 2^32) / 2^32 - 0.5 in float64, with
// c(name) = sum over the name's bytes of (position + 1) * byte, mod 2^32.
inline torch::Tensor pattern(const std::string& name, torch::IntArrayRef shape) {
  const std::int64_t two32 = 4294967296, golden = 2654435761;
  std::int64_t c = 0;
  for (std::size_t j = 0; j < name.size(); ++j)
    c = (c + static_cast<std::int64_t>(j + 1) * static_cast<unsigned char>(name[j])) % two32;
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  const auto i = torch::arange(n, torch::kInt64);
  return (((i * golden + c) % two32).to(torch::kFloat64) / 4294967296.0 - 0.5).reshape(shape);
}

// make_fixtures.py's fixed_value().
inline torch::Tensor fixed_value(const std::string& name, torch::IntArrayRef shape) {
  auto v = pattern(name, shape);
  if (shape.size() == 4)
    v = v * std::sqrt(24.0 / static_cast<double>(v.numel() / shape[0]));
  else if (shape.size() == 2)
    v = v * std::sqrt(12.0 / static_cast<double>(shape[1]));
  else if (name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0)
    v = 1.0 + 0.2 * v;
  else
    v = 0.2 * v;
  return v.to(torch::kFloat32);
}

}  // namespace usbench::test
