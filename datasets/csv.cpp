#include "datasets/csv.h"

#include <cstdio>

#include <fstream>
#include <sstream>

#include "harness/errors.h"
#include "harness/input_file.h"
#include "harness/spec/suggest.h"

namespace usbench::datasets {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::size_t CsvTable::column(const std::string& name, const std::string& file) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  throw UsageError(file + ": no column '" + name + "'" + did_you_mean(name, header));
}

CsvTable read_csv(const std::string& path) {
  // A FIFO or a directory is refused by name; a label file is small (64 MB bounds a mistaken path).
  std::string text = read_input_file(path, "CSV file", 64u << 20);
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a UTF-8 byte order mark (spreadsheet exports)

  std::vector<std::vector<std::string>> records;
  std::vector<std::size_t> record_line;  // the line each record starts on
  std::size_t start_line = 1;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, field_started = false;
  std::size_t line = 1;
  auto end_field = [&] {
    record.push_back(field);
    field.clear();
    field_started = false;
  };
  auto end_record = [&] {
    end_field();
    if (!(record.size() == 1 && record[0].empty())) {  // skip blank lines
      records.push_back(record);
      record_line.push_back(start_line);
    }
    record.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n') {
      end_record();
      ++line;
      start_line = line;
    } else if (c == '\r') {
      // CRLF: the '\n' ends the record.
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) throw UsageError(path + ":" + std::to_string(line) + ": unterminated quoted field");
  if (!field.empty() || !record.empty()) end_record();
  if (records.empty()) throw UsageError(path + ": empty CSV file (no header)");

  for (std::size_t r = 0; r < records.size(); ++r)
    for (std::size_t f = 0; f < records[r].size(); ++f)
      if (const auto at = invalid_utf8_at(records[r][f]); at != std::string::npos) {
        char byte[8];
        std::snprintf(byte, sizeof byte, "0x%02X",
                      static_cast<unsigned>(static_cast<unsigned char>(records[r][f][at])));
        const std::string column = r > 0 && f < records[0].size() && invalid_utf8_at(records[0][f]) == std::string::npos
                                       ? " ('" + trim(records[0][f]) + "')"
                                       : "";
        throw UsageError(path + ":" + std::to_string(record_line[r]) + ": column " + std::to_string(f + 1) + column +
                         " is not valid UTF-8 (byte " + byte + " at offset " + std::to_string(at) +
                         "); save the file as UTF-8");
      }
  CsvTable table;
  table.header = records.front();
  for (auto& h : table.header) h = trim(h);
  for (std::size_t i = 0; i < table.header.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (table.header[i] == table.header[j])
        throw UsageError(path + ": column '" + table.header[i] + "' appears twice in the header (columns " +
                         std::to_string(j + 1) + " and " + std::to_string(i + 1) + ")");
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != table.header.size())
      throw UsageError(path + ": row " + std::to_string(r + 1) + " has " + std::to_string(records[r].size()) +
                       " fields, the header has " + std::to_string(table.header.size()));
    table.rows.push_back(std::move(records[r]));
  }
  return table;
}

}  // namespace usbench::datasets
