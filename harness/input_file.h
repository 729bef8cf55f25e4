// Reading input files by name, with bounds (README Design §8). An input must be a regular file after resolving
// links: a FIFO blocks forever, /dev/zero never ends, a directory reads as empty and gives a misleading
// message ("unexpected end of input", "empty CSV file"). Each is refused up front with UsageError naming
// the file, what it was meant to be (`what`, e.g. "experiment spec") and what it is.
#pragma once
#include <cstdint>
#include <string>

namespace usbench {

// UsageError unless `path` exists and is a regular file (links followed).
void require_regular_file(const std::string& path, const std::string& what);

// require_regular_file, then the whole content; UsageError when it is larger than max_bytes.
std::string read_input_file(const std::string& path, const std::string& what, std::uintmax_t max_bytes);

// "a directory", "a FIFO (named pipe)", "a character device", ... for messages; "" for a regular file.
std::string describe_non_regular(const std::string& path);

}  // namespace usbench
