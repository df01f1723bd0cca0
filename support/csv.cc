// csv.cc - the strict RFC 4180 reader; see csv.h for the rules.
#include "support/csv.h"

#include <fmt/format.h>

#include <cctype>
#include <ios>
#include <istream>

#include "support/text.h"

namespace crm::support {

bool profiles_are_csv(std::string_view path, std::string_view head) {
  if (path != "-") {
    if (path.size() < 4) return false;
    std::string_view ext = path.substr(path.size() - 4);
    for (size_t i = 0; i < 4; ++i)
      if (std::tolower(static_cast<unsigned char>(ext[i])) != ".csv"[i]) return false;
    return true;
  }
  if (head.substr(0, 3) == "\xEF\xBB\xBF") head.remove_prefix(3);
  size_t i = head.find_first_not_of(" \t\r\n");
  return i != std::string_view::npos && head[i] != '{';
}

bool profiles_head_decides(std::string_view head) {
  constexpr std::string_view bom = "\xEF\xBB\xBF";
  if (head.size() < bom.size() && bom.substr(0, head.size()) == head) return false;  // empty, or part of one
  if (head.substr(0, 3) == bom) head.remove_prefix(3);
  return head.find_first_not_of(" \t\r\n") != std::string_view::npos;
}

SniffedProfiles::SniffedProfiles(std::istream& in) : in_(in), buf_(1 << 16) {
  // One byte at a time up to the deciding one: what is read is only the byte order mark and the
  // blank space before it (handed out again first), whatever the reads of `in` deliver.
  char c;
  while (!profiles_head_decides(head_) && in_.get(c)) head_.push_back(c);
  csv_ = profiles_are_csv("-", head_);
  setg(buf_.data(), buf_.data(), buf_.data());
  stream_ = std::make_unique<std::istream>(static_cast<std::streambuf*>(this));
}

SniffedProfiles::~SniffedProfiles() = default;

SniffedProfiles::int_type SniffedProfiles::underflow() {
  if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
  if (!head_given_) {
    head_given_ = true;
    if (!head_.empty()) {
      setg(head_.data(), head_.data(), head_.data() + head_.size());
      return traits_type::to_int_type(*gptr());
    }
  }
  if (!in_.bad() && !in_.eof()) {
    in_.read(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    if (const auto n = in_.gcount(); n > 0) {
      setg(buf_.data(), buf_.data(), buf_.data() + n);
      return traits_type::to_int_type(*gptr());
    }
  }
  // The stream reading through this one sets its badbit (an exception from underflow does).
  if (in_.bad()) throw std::ios_base::failure("read error");
  return traits_type::eof();
}

bool CsvReader::fail(size_t line, std::string message) {
  line_ = line;
  error_ = std::move(message);
  return false;
}

bool CsvReader::failed() const { return in_.bad(); }

// getline splits at LF; a CR inside what it read splits that again (kept in rest_ and handed
// out a line at a time, so a file of CR-only breaks costs one pass, not one copy per line).
bool CsvReader::read_line(std::string& line) {
  bool lf = false;
  if (has_rest_) {
    const size_t end = rest_.find('\r', rest_at_);
    if (end != std::string::npos && end + 1 < rest_.size()) {
      line.assign(rest_, rest_at_, end - rest_at_);
      rest_at_ = end + 1;
      ++physical_;
      last_cr_ = true;
      return true;
    }
    line.assign(rest_, rest_at_);
    has_rest_ = false;
    lf = rest_lf_;
  } else {
    if (!std::getline(in_, line)) return false;
    lf = !in_.eof();  // getline stopped at an LF, not at the end of the input
    if (physical_ == 0 && starts_with_bom(line)) line.erase(0, kUtf8Bom.size());
    const size_t end = line.find('\r');
    if (end != std::string::npos && end + 1 < line.size()) {
      rest_.swap(line);
      rest_at_ = end + 1;
      has_rest_ = true;
      rest_lf_ = lf;
      line.assign(rest_, 0, end);
      ++physical_;
      last_cr_ = true;
      return true;
    }
  }
  ++physical_;
  // A CR at the end: CRLF, or a lone CR as the input's last byte.
  const bool ends_cr = !line.empty() && line.back() == '\r';
  if (ends_cr) line.pop_back();
  last_cr_ = ends_cr && !lf;
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
          const bool cr = last_cr_;  // the break that ended this line
          if (!read_line(line)) {
            if (in_.bad()) return fail(physical_ + 1, "read error");
            return fail(start, fmt::format("unterminated quoted field {}", fields.size() + 1));
          }
          if (!check_utf8(line)) return false;
          field.text += cr ? '\r' : '\n';
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
