// data.cc - typed events and profiles written in the JSON Lines contract (include/crm/data.h),
// and the text conventions of include/crm/text.h over the library's own routines (support/).
#include <crm/data.h>
#include <crm/text.h>

#include <cctype>
#include <cstdint>
#include <string>

#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/json_text.h"
#include "support/line_reader.h"

namespace crm {

namespace {

void append_value(std::string& out, const Value& v) {
  using K = Value::Kind;
  switch (v.kind) {
    case K::Null: out += "null"; return;
    case K::Bool: out += v.boolean ? "true" : "false"; return;
    case K::Int: out += std::to_string(v.number); return;
    // Millionths of a second are microseconds: a duration is written as exact seconds.
    case K::Decimal:
    case K::Duration: out += support::Decimal::from_units(v.number).to_string(); return;
    case K::String: support::append_json_quoted(out, v.text); return;
    case K::Time: out += '"', support::append_time(out, v.number), out += '"'; return;
    case K::Date: support::append_json_quoted(out, support::format_date(static_cast<int32_t>(v.number))); return;
    case K::List:
      out += '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ',';
        append_value(out, v.items[i]);
      }
      out += ']';
      return;
  }
  out += "null";
}

void append_member(std::string& out, std::string_view key) {
  if (out.size() > 1) out += ',';
  support::append_json_quoted(out, key);
  out += ':';
}

void append_fields(std::string& out, const Fields& fields) {
  for (const auto& [name, value] : fields) {
    append_member(out, name);
    append_value(out, value);
  }
}

}  // namespace

std::string event_json(const Event& e) {
  std::string out = "{";
  append_member(out, "id");
  support::append_json_quoted(out, e.id);
  append_member(out, "type");
  support::append_json_quoted(out, e.type);
  append_member(out, "user");
  support::append_json_quoted(out, e.user);
  append_member(out, "time");
  out += '"';
  support::append_time(out, e.time_micros);
  out += '"';
  append_fields(out, e.fields);
  return out += '}';
}

std::string profile_json(const Profile& p) {
  std::string out = "{";
  append_member(out, "user");
  support::append_json_quoted(out, p.user);
  append_fields(out, p.fields);
  return out += '}';
}

// ---- text.h ----------------------------------------------------------------------------------

bool parse_time(std::string_view text, int64_t& micros) {
  auto t = support::parse_time(text, /*allow_date_only=*/true);
  if (!t) return false;
  micros = *t;
  return true;
}

std::string time_bound_note(std::string_view text) { return support::time_range_note(text, /*allow_date_only=*/true); }

std::string format_time(int64_t micros) { return support::format_time(micros); }

namespace {

// Reads `text` as digits and a unit: false when malformed; `over` when well formed but longer
// than kMaxDurationMicros (any number of digits: the bound, not the digit count, limits it).
bool read_duration(std::string_view text, int64_t& micros, bool& over) {
  over = false;
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return false;
  std::string_view unit = text.substr(digits);
  const int64_t scale = unit.empty() || unit == "s" ? support::kMicrosPerSecond
                        : unit == "m"               ? support::kMicrosPerMinute
                        : unit == "h"               ? support::kMicrosPerHour
                        : unit == "d"               ? support::kMicrosPerDay
                                                    : 0;
  if (!scale) return false;
  int64_t n = 0;
  for (size_t i = 0; i < digits; ++i) {
    n = n * 10 + (text[i] - '0');
    if (n > kMaxDurationMicros / scale) {  // also keeps n * 10 and n * scale from overflowing
      over = true;
      return false;
    }
  }
  micros = n * scale;
  return true;
}

}  // namespace

bool parse_duration(std::string_view text, int64_t& micros) {
  bool over = false;
  return read_duration(text, micros, over);
}

std::string duration_bound_note(std::string_view text) {
  int64_t micros = 0;
  bool over = false;
  if (read_duration(text, micros, over) || !over) return "";
  return " (at most " + std::to_string(kMaxDurationMicros / support::kMicrosPerDay) +
         "d, the span of the years 0001-9999, in any unit)";
}

std::string format_duration(int64_t micros) { return support::format_duration(micros); }

std::string json_quote(std::string_view text) { return support::json_quote(text); }

namespace detail {
struct LineReaderData {
  explicit LineReaderData(std::istream& in) : reader(in) {}
  support::LineReader reader;
  bool threw = false;
};
}  // namespace detail

LineReader::LineReader(std::istream& in) : d_(std::make_unique<detail::LineReaderData>(in)) {}
LineReader::~LineReader() = default;
LineReader::LineReader(LineReader&&) noexcept = default;
LineReader& LineReader::operator=(LineReader&&) noexcept = default;
// A stream that throws (exceptions() set by its owner) ends the input: nothing crosses include/.
bool LineReader::next(std::string& line) {
  try {
    return d_->reader.next(line);
  } catch (...) {
    d_->threw = true;
    return false;
  }
}
bool LineReader::failed() const { return d_->threw || d_->reader.failed(); }
size_t LineReader::line() const { return d_->reader.line(); }
size_t LineReader::bytes() const { return d_->reader.bytes(); }

}  // namespace crm
