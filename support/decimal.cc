// decimal.cc - exact fixed-point arithmetic; see decimal.h for why it exists.
#include "support/decimal.h"

#include <algorithm>
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

int64_t json_exponent_cap(size_t text_size) {
  // |power| = |exp - fraction digits + 6 + trailing zeros| decides: with |exp| above the text's
  // length + 64, power is below 0 (too fine) or D's digits + power above 19 (out of range).
  constexpr int64_t kMin = 1'000'000'000;
  const int64_t by_text = text_size > size_t(INT64_MAX / 16) ? INT64_MAX / 16 : static_cast<int64_t>(text_size) + 64;
  return std::max(kMin, by_text);
}

namespace {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The exponent form of parse_json: the value is D x 10^(exponent - fraction digits), D the digits
// of the integer and fraction parts. D's leading zeros are dropped and its trailing zeros moved
// into the power, so the value fits exactly iff the power of ten that makes it millionths is not
// negative, and then D has few enough digits for the range to be checked without overflow.
std::optional<Decimal> parse_json_exponent(std::string_view s, bool neg, size_t ib, size_t ie, size_t fb, size_t fe,
                                           size_t i, Decimal::JsonError* why) {
  using E = Decimal::JsonError;
  auto fail = [&](E e) -> std::optional<Decimal> {
    if (why) *why = e;
    return std::nullopt;
  };
  bool exp_neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) exp_neg = s[i++] == '-';
  if (i == s.size() || !is_digit(s[i])) return fail(E::Malformed);
  // The exponent saturates at a bound past which every nonzero value is out of range or too fine
  // whatever its digits: D's digits and fraction digits are fewer than the text, so the bound
  // grows with the text (a fixed 10^9 gave a wrong value for a number of more than 10^9 digits).
  const int64_t cap = json_exponent_cap(s.size());
  int64_t exp = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) exp = exp > cap / 10 ? cap : std::min<int64_t>(exp * 10 + (s[i] - '0'), cap);
  if (i != s.size()) return fail(E::Malformed);
  if (exp_neg) exp = -exp;
  // D, as the digits [ib, ie) then [fb, fe): skip leading zeros, drop trailing ones.
  std::string digits;
  digits.reserve((ie - ib) + (fe - fb));
  digits.append(s.substr(ib, ie - ib));
  digits.append(s.substr(fb, fe - fb));
  int64_t power = exp - static_cast<int64_t>(fe - fb) + Decimal::kScaleDigits;
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return Decimal{};  // zero, whatever the exponent (`0e99999`)
  size_t last = digits.find_last_not_of('0');
  power += static_cast<int64_t>(digits.size() - 1 - last);
  std::string_view d = std::string_view(digits).substr(first, last + 1 - first);
  if (power < 0) return fail(E::TooManyDecimals);  // D ends in a nonzero digit below a millionth
  // D x 10^power >= 10^(|D| - 1 + power): at 10^19 it is past INT64_MAX (about 9.2 x 10^18).
  if (static_cast<int64_t>(d.size()) + power > 19) return fail(E::OutOfRange);
  i128 v = 0;
  for (char c : d) v = v * 10 + (c - '0');
  for (int64_t k = 0; k < power; ++k) v *= 10;  // power <= 19 here
  auto r = from_wide(neg ? -v : v);
  if (!r) return fail(E::OutOfRange);
  return r;
}

}  // namespace

std::optional<Decimal> Decimal::parse_json(std::string_view s, JsonError* why) {
  auto fail = [&](JsonError e) -> std::optional<Decimal> {
    if (why) *why = e;
    return std::nullopt;
  };
  const size_t n = s.size();
  size_t i = 0;
  const bool neg = n > 0 && s[0] == '-';
  if (neg) i = 1;
  const size_t ib = i;
  if (i == n || !is_digit(s[i])) return fail(JsonError::Malformed);
  // A whole number of at most 12 digits (an event's amount, most often) fits an int64 at scale:
  // read without the 128-bit arithmetic below. A leading zero takes the general path (its rule).
  if (n - i <= 12 && s[i] != '0') {
    int64_t x = 0;
    size_t j = i;
    for (; j < n && is_digit(s[j]); ++j) x = x * 10 + (s[j] - '0');
    if (j == n) return from_units((neg ? -x : x) * kScale);
  }
  // The integer part, its value computed as it is read (`big`: past int64, out of range unless an
  // exponent brings it back).
  i128 whole = 0;
  bool big = false;
  if (s[i] == '0') {
    if (++i < n && is_digit(s[i])) return fail(JsonError::Malformed);  // a leading zero
  } else {
    for (; i < n && is_digit(s[i]); ++i) {
      whole = whole * 10 + (s[i] - '0');
      if (whole > std::numeric_limits<int64_t>::max()) big = true, whole = 0;
    }
  }
  const size_t ie = i;
  size_t fb = i, fe = i;
  i128 frac = 0;
  int frac_digits = 0;
  bool too_fine = false;  // a nonzero digit past the sixth decimal
  if (i < n && s[i] == '.') {
    fb = ++i;
    for (; i < n && is_digit(s[i]); ++i) {
      if (frac_digits == kScaleDigits) {
        too_fine |= s[i] != '0';
        continue;
      }
      frac = frac * 10 + (s[i] - '0');
      ++frac_digits;
    }
    fe = i;
    if (fe == fb) return fail(JsonError::Malformed);  // `1.`
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) return parse_json_exponent(s, neg, ib, ie, fb, fe, i + 1, why);
  if (i != n) return fail(JsonError::Malformed);
  if (big) return fail(JsonError::OutOfRange);
  if (too_fine) return fail(JsonError::TooManyDecimals);
  for (int k = frac_digits; k < kScaleDigits; ++k) frac *= 10;
  i128 v = whole * kScale + frac;
  auto r = from_wide(neg ? -v : v);
  if (!r) return fail(JsonError::OutOfRange);
  return r;
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
