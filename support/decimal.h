// decimal.h - exact fixed-point numbers shared by the checker (constant folding) and the runtime.
//
// Money must never go through double: a Decimal is an int64 count of millionths, so any value
// with at most six fractional digits is represented exactly, and every operation either gives the
// exact result (rounded half-to-even only where division or multiplication needs it) or reports
// overflow instead of wrapping.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace crm::support {

class Decimal {
 public:
  static constexpr int kScaleDigits = 6;
  static constexpr int64_t kScale = 1'000'000;

  constexpr Decimal() = default;
  static constexpr Decimal from_units(int64_t units) { Decimal d; d.units_ = units; return d; }
  static std::optional<Decimal> from_int(int64_t v);

  // Parses `-12.345`; nullopt when malformed, out of range, or more than six fractional digits.
  // Lenient about the form (`+1`, `1.`, `.5`, `007`): for the program's own constants and importers.
  static std::optional<Decimal> parse(std::string_view text);

  // Why parse_json refused a text.
  enum class JsonError { Malformed, TooManyDecimals, OutOfRange };
  // Parses the text of a JSON number (RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?) to
  // its exact value, never through binary floating point: `1e2` is 100, `1.5e1` 15, `1e-06`
  // 0.000001. Refused (with `why`) when the text is not that grammar (`+1`, `1.`, `.5`, `01`), when
  // the exact value has more than six decimals (`1e-7`, `0.1234567`; trailing zeros do not count:
  // `1.50000000` is 1.5) or when it is out of range. The one rule for Decimal and Money values read
  // from event and profile records (JSON numbers, numeric strings, CSV cells). The plain form costs
  // what parse() does; an exponent costs the length of the text, never the size of the exponent.
  static std::optional<Decimal> parse_json(std::string_view text, JsonError* why = nullptr);

  int64_t units() const { return units_; }
  bool is_integer() const { return units_ % kScale == 0; }
  int64_t truncated() const { return units_ / kScale; }

  // Shortest exact text: `12.5`, `3`, `-0.000001`.
  std::string to_string() const;
  // Appends to_string() of the Decimal with `units` to `out`, with no temporary string (this
  // renders every amount of every decision).
  static void append_units(std::string& out, int64_t units);
  // Fixed number of fractional digits (rounded half-to-even), for money display: `12.50`.
  std::string to_string_fixed(int digits) const;

  // Checked arithmetic: nullopt on overflow or division by zero.
  static std::optional<Decimal> add(Decimal a, Decimal b);
  static std::optional<Decimal> sub(Decimal a, Decimal b);
  static std::optional<Decimal> mul(Decimal a, Decimal b);
  static std::optional<Decimal> div(Decimal a, Decimal b);

  friend constexpr bool operator==(Decimal a, Decimal b) { return a.units_ == b.units_; }
  friend constexpr auto operator<=>(Decimal a, Decimal b) { return a.units_ <=> b.units_; }

 private:
  int64_t units_ = 0;
};

// The bound at which parse_json saturates the exponent of a number whose text has `text_size`
// bytes (at least 10^9, and more than the text's length): every nonzero value with an exponent
// past it is out of range or too fine, so saturating never changes the answer.
int64_t json_exponent_cap(size_t text_size);

}  // namespace crm::support
