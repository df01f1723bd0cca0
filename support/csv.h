// csv.h - the one CSV reader behind every CSV input: profiles (`--profiles P.csv`, `check --data`)
// and the dataset importers.
//
// RFC 4180: fields separated by commas, records by LF or CRLF; a quoted field may hold commas,
// doubled quotes and line breaks, so a record can span several physical lines. Strict: a quote
// inside an unquoted field, text after a closing quote, an unterminated quoted field, a blank
// line before the last record and bytes that are not UTF-8 are errors. A UTF-8 byte order mark
// at the very start is dropped. Every record knows the physical line it starts on, so errors
// are reported as FILE:LINE.
//
// Hand-written rather than libcsv: libcsv reports no positions, skips blank lines silently,
// trims spaces and ends records at a lone CR, all of which this reader must not do.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

namespace crm::support {

struct CsvField {
  std::string text;
  bool quoted = false;  // written as "..." (so an empty quoted field is an empty string, not a missing value)
};

class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}

  // Reads the next record. False at the end of the input (error() empty) or on a malformed
  // record (error() says why; line() is the line to report). After an error, the next call
  // goes on with the following record, so a caller may skip malformed records.
  bool next(std::vector<CsvField>& fields);

  // The physical line (1-based) where the last record starts, or where the last error is.
  size_t line() const { return line_; }
  const std::string& error() const { return error_; }
  // The last error was a read error (the stream's badbit), not a malformed record: nothing more
  // can be read, so a caller that skips malformed records must stop here.
  bool failed() const;

 private:
  bool read_line(std::string& line);
  bool fail(size_t line, std::string message);

  std::istream& in_;
  size_t physical_ = 0;
  size_t line_ = 0;
  size_t blank_line_ = 0;  // first blank line not yet followed by a record (0: none)
  std::string pending_;    // a record's first line, read before reporting the blank line above it
  bool has_pending_ = false;
  std::string error_;
};

}  // namespace crm::support
