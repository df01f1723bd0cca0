// csv.h - the one CSV reader behind every CSV input: profiles (`--profiles P.csv`, `check --data`)
// and the dataset importers.
//
// RFC 4180: fields separated by commas, records by LF or CRLF, or a lone CR (old Mac files, which
// otherwise read as one record); a quoted field may hold commas, doubled quotes and line breaks,
// so a record can span several physical lines (a break inside one is read as LF, a lone CR as
// itself). Strict: a quote
// inside an unquoted field, text after a closing quote, an unterminated quoted field, a blank
// line before the last record and bytes that are not UTF-8 are errors. A UTF-8 byte order mark
// at the very start is dropped. Every record knows the physical line it starts on, so errors
// are reported as FILE:LINE.
//
// Hand-written rather than libcsv: libcsv reports no positions, skips blank lines silently,
// and trims spaces, which this reader must not do.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <memory>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

namespace crm::support {

// The format of a profiles file (`--profiles`, `check --data`), one rule for every command: CSV
// when the file name ends in `.csv` in any letter case (`P.CSV` and `p.Csv` too: names from
// Windows tools), else JSON Lines. Standard input (`-`) has no name: it is CSV unless its first
// character after a byte order mark and blank space is `{` (`head`: the first bytes of the
// input, as many as were read; all blank: JSON Lines, which reads blank lines as nothing).
bool profiles_are_csv(std::string_view path, std::string_view head = {});
// Whether `head`, the first bytes of an input, holds the byte profiles_are_csv decides by (the
// first after a byte order mark and blank space): a reader of standard input reads on until it
// does or the input ends, however the input's reads are split (a pipe may deliver only the byte
// order mark, or a blank line, first).
bool profiles_head_decides(std::string_view head);

// Profiles on a stream with no name (standard input), told apart by that rule: reads `in` up to
// the deciding byte (or its end), then stream() hands out those bytes and the rest of `in`, read
// once as they come, never held whole. A read error of `in` is the badbit of stream().
class SniffedProfiles : private std::streambuf {
 public:
  explicit SniffedProfiles(std::istream& in);
  ~SniffedProfiles() override;
  bool csv() const { return csv_; }
  std::istream& stream() { return *stream_; }

 private:
  int_type underflow() override;
  std::istream& in_;
  std::string head_;
  bool head_given_ = false;
  bool csv_ = false;
  std::vector<char> buf_;
  std::unique_ptr<std::istream> stream_;
};

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
  // The next physical line, without its break: LF, CRLF or a lone CR (then last_cr_ is set: a
  // quoted field keeps that CR as it is).
  bool read_line(std::string& line);
  bool fail(size_t line, std::string message);

  std::istream& in_;
  size_t physical_ = 0;
  size_t line_ = 0;
  size_t blank_line_ = 0;  // first blank line not yet followed by a record (0: none)
  std::string pending_;    // a record's first line, read before reporting the blank line above it
  bool has_pending_ = false;
  // What getline read after a lone CR: the lines still to come from it, from rest_at_.
  std::string rest_;
  size_t rest_at_ = 0;
  bool has_rest_ = false, rest_lf_ = false, last_cr_ = false;  // rest_lf_: getline's line ended at an LF
  std::string error_;
};

}  // namespace crm::support
