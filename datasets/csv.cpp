#include "datasets/csv.h"

#include <fstream>
#include <sstream>

#include "harness/errors.h"
#include "harness/suggest.h"

namespace usbench::datasets {

std::size_t CsvTable::column(const std::string& name, const std::string& file) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  throw UsageError(file + ": no column '" + name + "'" + did_you_mean(name, header));
}

CsvTable read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot open CSV file (missing or unreadable)");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();

  std::vector<std::vector<std::string>> records;
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
    if (!(record.size() == 1 && record[0].empty())) records.push_back(record);  // skip blank lines
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

  CsvTable table;
  table.header = records.front();
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != table.header.size())
      throw UsageError(path + ": row " + std::to_string(r + 1) + " has " + std::to_string(records[r].size()) +
                       " fields, the header has " + std::to_string(table.header.size()));
    table.rows.push_back(std::move(records[r]));
  }
  return table;
}

}  // namespace usbench::datasets
