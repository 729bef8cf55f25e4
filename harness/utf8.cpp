#include "harness/utf8.h"

#include <fmt/format.h>

namespace usbench {

namespace {
// The length of the well-formed UTF-8 sequence at s[i], or 0 when there is none.
std::size_t sequence_at(const std::string& s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const int n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
  if (n < 0 || i + static_cast<std::size_t>(n) >= s.size() + (n == 0 ? 1 : 0)) return 0;
  for (int k = 1; k <= n; ++k)
    if ((static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) >> 6) != 0x2) return 0;
  return static_cast<std::size_t>(n) + 1;
}
}  // namespace

std::size_t invalid_utf8_at(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto n = sequence_at(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string::npos;
}

std::string escape_invalid_utf8(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto n = sequence_at(s, i);
    if (n == 0) {
      out += fmt::format("\\x{:02X}", static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    out.append(s, i, n);
    i += n;
  }
  return out;
}

}  // namespace usbench
