// A small RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF) for label files.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "harness/utf8.h"

namespace usbench::datasets {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  // Index of a column; throws UsageError naming the file, the column and the columns that exist.
  std::size_t column(const std::string& name, const std::string& file) const;
};

// Throws UsageError naming the file on a missing or non-regular file, an unterminated quote, a ragged
// row, a column named twice or a field that is not valid UTF-8 (named by line and column: labels end up in
// the store and in JSON, which hold UTF-8 only). A UTF-8 byte order mark is dropped and header names are
// trimmed.
CsvTable read_csv(const std::string& path);

using usbench::invalid_utf8_at;  // harness/utf8.h

// Without leading and trailing spaces and tabs.
std::string trim(const std::string& s);

}  // namespace usbench::datasets
