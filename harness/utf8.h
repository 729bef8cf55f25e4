// UTF-8 checks for text that reaches the store and its JSON records (README Design §7): names, paths and
// config values are kept as UTF-8 text, so bytes that are not UTF-8 are refused by name, never stored or
// passed on to a library that would fail on them with its own message.
#pragma once
#include <string>

namespace usbench {

// The offset of the first byte of `s` that is not part of well-formed UTF-8 (lead byte, continuation
// bytes, not cut short), or std::string::npos when all of it is.
std::size_t invalid_utf8_at(const std::string& s);

// `s` printable in a message: every byte that is not part of well-formed UTF-8 written as \xNN.
std::string escape_invalid_utf8(const std::string& s);

}  // namespace usbench
