// decimal.cc - exact fixed-point arithmetic; see decimal.h for why it exists.
#include "support/decimal.h"

#include <limits>

namespace crm::support {
namespace {

using i128 = __int128;

std::optional<Decimal> from_wide(i128 v) {
  if (v > std::numeric_limits<int64_t>::max() || v < std::numeric_limits<int64_t>::min())
    return std::nullopt;
  return Decimal::from_units(static_cast<int64_t>(v));
}

// Divides rounding half to even, the rounding that keeps sums of many rounded values unbiased.
i128 div_round_even(i128 num, i128 den) {
  if (den < 0) { num = -num; den = -den; }
  i128 q = num / den;
  i128 r = num % den;
  if (r == 0) return q;
  i128 twice = (r < 0 ? -r : r) * 2;
  bool neg = num < 0;
  if (twice > den || (twice == den && (q % 2 != 0))) q += neg ? -1 : 1;
  return q;
}

}  // namespace

std::optional<Decimal> Decimal::from_int(int64_t v) { return from_wide(static_cast<i128>(v) * kScale); }

std::optional<Decimal> Decimal::parse(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '-' || s[0] == '+') { neg = s[0] == '-'; i = 1; }
  i128 whole = 0;
  size_t digits = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
    whole = whole * 10 + (s[i] - '0');
    if (whole > std::numeric_limits<int64_t>::max()) return std::nullopt;
  }
  i128 frac = 0;
  int frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (frac_digits == kScaleDigits) {
        if (s[i] != '0') return std::nullopt;  // would lose precision: refuse rather than round
        continue;
      }
      frac = frac * 10 + (s[i] - '0');
      ++frac_digits;
      ++digits;
    }
  }
  if (i != s.size() || digits == 0) return std::nullopt;
  for (int k = frac_digits; k < kScaleDigits; ++k) frac *= 10;
  i128 v = whole * kScale + frac;
  return from_wide(neg ? -v : v);
}

std::string Decimal::to_string() const {
  std::string out;
  append_units(out, units_);
  return out;
}

// Digits written backwards into a local buffer: INT64_MIN's magnitude does not fit an int64, so
// the magnitude is unsigned (|INT64_MIN| = 2^63 is one more than INT64_MAX, and fits).
void Decimal::append_units(std::string& out, int64_t units) {
  const bool neg = units < 0;
  const uint64_t v = neg ? 0 - static_cast<uint64_t>(units) : static_cast<uint64_t>(units);
  uint64_t whole = v / kScale, frac = v % kScale;
  char buf[1 + 20 + 1 + kScaleDigits];  // sign, whole digits (at most 20), point, fraction
  char* end = buf + sizeof buf;
  char* p = end;
  if (frac != 0) {
    int digits = kScaleDigits;
    while (frac % 10 == 0) frac /= 10, --digits;  // the shortest text: no trailing zeros
    for (int k = 0; k < digits; ++k) *--p = static_cast<char>('0' + frac % 10), frac /= 10;
    *--p = '.';
  }
  do *--p = static_cast<char>('0' + whole % 10), whole /= 10;
  while (whole != 0);
  if (neg) *--p = '-';
  out.append(p, end);
}

std::string Decimal::to_string_fixed(int digits) const {
  if (digits < 0) digits = 0;
  if (digits > kScaleDigits) digits = kScaleDigits;
  i128 div = 1;
  for (int k = digits; k < kScaleDigits; ++k) div *= 10;
  i128 v = div_round_even(units_, div);
  bool neg = v < 0;
  if (neg) v = -v;
  i128 unit = 1;
  for (int k = 0; k < digits; ++k) unit *= 10;
  std::string out = neg ? "-" : "";
  out += std::to_string(static_cast<unsigned long long>(v / unit));
  if (digits > 0) {
    std::string f = std::to_string(static_cast<unsigned long long>(v % unit));
    f.insert(0, digits - f.size(), '0');
    out += "." + f;
  }
  return out;
}

std::optional<Decimal> Decimal::add(Decimal a, Decimal b) { return from_wide(i128(a.units_) + b.units_); }
std::optional<Decimal> Decimal::sub(Decimal a, Decimal b) { return from_wide(i128(a.units_) - b.units_); }
std::optional<Decimal> Decimal::mul(Decimal a, Decimal b) {
  return from_wide(div_round_even(i128(a.units_) * b.units_, kScale));
}
std::optional<Decimal> Decimal::div(Decimal a, Decimal b) {
  if (b.units_ == 0) return std::nullopt;
  return from_wide(div_round_even(i128(a.units_) * kScale, b.units_));
}

}  // namespace crm::support
