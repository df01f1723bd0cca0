// line_reader.h - reads a JSON Lines file line by line: the one place that knows that lines end
// in LF or CRLF and that a UTF-8 byte order mark at the very start of a file is not data.
#pragma once

#include <cstddef>
#include <istream>
#include <string>

#include "support/text.h"

namespace crm::support {

class LineReader {
 public:
  explicit LineReader(std::istream& in) : in_(in) {}

  // The next line without its terminator; false at the end of the input, or when reading failed:
  // failed() tells the two apart. A read error (the stream's badbit: EIO, a directory, a buffer
  // that throws) is not the end of the input, so a caller that took it for one would go on with
  // partial data as if it were all.
  bool next(std::string& line) {
    if (!std::getline(in_, line)) {
      failed_ = in_.bad();
      return false;
    }
    bytes_ += line.size() + 1;
    if (++line_ == 1 && starts_with_bom(line)) line.erase(0, kUtf8Bom.size());
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }
  size_t line() const { return line_; }    // 1-based number of the last line read
  size_t bytes() const { return bytes_; }  // bytes consumed so far (for progress)
  bool failed() const { return failed_; }  // next() returned false because a read failed

 private:
  std::istream& in_;
  size_t line_ = 0;
  size_t bytes_ = 0;
  bool failed_ = false;
};

}  // namespace crm::support
