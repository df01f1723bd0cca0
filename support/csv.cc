// csv.cc - the strict RFC 4180 reader; see csv.h for the rules.
#include "support/csv.h"

#include <fmt/format.h>

#include <istream>

#include "support/text.h"

namespace crm::support {

bool CsvReader::fail(size_t line, std::string message) {
  line_ = line;
  error_ = std::move(message);
  return false;
}

bool CsvReader::failed() const { return in_.bad(); }

bool CsvReader::read_line(std::string& line) {
  if (!std::getline(in_, line)) return false;
  ++physical_;
  if (physical_ == 1 && starts_with_bom(line)) line.erase(0, kUtf8Bom.size());
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

bool CsvReader::next(std::vector<CsvField>& fields) {
  fields.clear();
  error_.clear();
  std::string line;
  if (has_pending_) {  // the record after a reported blank line
    line = std::move(pending_);
    has_pending_ = false;
  } else {
    while (true) {
      if (!read_line(line)) {
        if (in_.bad()) return fail(physical_ + 1, "read error");
        return false;
      }
      if (!line.empty()) break;
      if (!blank_line_) blank_line_ = physical_;
    }
    if (blank_line_) {
      // Reported once; the caller may skip it and go on with this record.
      pending_ = std::move(line);
      has_pending_ = true;
      size_t blank = blank_line_;
      blank_line_ = 0;
      return fail(blank, "blank line inside the data");
    }
  }
  line_ = physical_;
  auto check_utf8 = [&](const std::string& text) {
    size_t bad = utf8_invalid_at(text);
    if (bad == std::string::npos) return true;
    return fail(physical_, fmt::format("invalid UTF-8 (byte 0x{:02X} at byte {} of the line)",
                                       static_cast<unsigned char>(text[bad]), bad + 1));
  };
  if (!check_utf8(line)) return false;

  size_t i = 0;
  while (true) {  // one iteration per field
    CsvField field;
    if (i < line.size() && line[i] == '"') {
      field.quoted = true;
      ++i;
      while (true) {
        if (i == line.size()) {  // the quoted field continues on the next physical line
          size_t start = line_;
          if (!read_line(line)) {
            if (in_.bad()) return fail(physical_ + 1, "read error");
            return fail(start, fmt::format("unterminated quoted field {}", fields.size() + 1));
          }
          if (!check_utf8(line)) return false;
          field.text += '\n';
          i = 0;
          continue;
        }
        char c = line[i++];
        if (c != '"') {
          field.text += c;
        } else if (i < line.size() && line[i] == '"') {
          field.text += '"';
          ++i;
        } else {
          break;
        }
      }
      if (i < line.size() && line[i] != ',')
        return fail(line_, fmt::format("unexpected character after a closing quote in field {}", fields.size() + 1));
    } else {
      size_t end = line.find(',', i);
      if (end == std::string::npos) end = line.size();
      std::string_view raw(line.data() + i, end - i);
      if (raw.find('"') != std::string_view::npos)
        return fail(line_, fmt::format("quote inside an unquoted field {}", fields.size() + 1));
      field.text.assign(raw);
      i = end;
    }
    fields.push_back(std::move(field));
    if (i == line.size()) return true;
    ++i;  // the comma
  }
}

}  // namespace crm::support
