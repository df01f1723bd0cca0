// decimal_test.cc - exact fixed-point arithmetic used for Money.
#include "support/decimal.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

using crm::support::Decimal;

TEST(Decimal, ParsesAndPrintsExactly) {
  EXPECT_EQ(Decimal::parse("12.5")->to_string(), "12.5");
  EXPECT_EQ(Decimal::parse("-0.000001")->to_string(), "-0.000001");
  EXPECT_EQ(Decimal::parse("139.12")->units(), 139'120'000);
  EXPECT_EQ(Decimal::parse("3")->to_string(), "3");
  EXPECT_EQ(Decimal::parse("1.5000000")->to_string(), "1.5");  // trailing zeros beyond scale are exact
}

TEST(Decimal, RejectsWhatItCannotRepresent) {
  EXPECT_FALSE(Decimal::parse("0.0000001"));  // 7 significant decimals would round
  EXPECT_FALSE(Decimal::parse("1e5"));
  EXPECT_FALSE(Decimal::parse(""));
  EXPECT_FALSE(Decimal::parse("."));
  EXPECT_FALSE(Decimal::parse("99999999999999999999"));
}

// parse_json: the one rule for Decimal and Money values in event and profile records. A JSON
// number in exponent form is its exact value (RFC 8259; Python's json.dumps(1e-06) writes
// `1e-06`); the text must be the JSON number grammar, for a numeric string too.
TEST(Decimal, ParseJsonTakesTheExactValueOfAJsonNumberWithAnExponent) {
  auto units = [](std::string_view t) {
    auto d = Decimal::parse_json(t);
    return d ? std::to_string(d->units()) : std::string("refused");
  };
  EXPECT_EQ(units("1e2"), "100000000");
  EXPECT_EQ(units("1E2"), "100000000");
  EXPECT_EQ(units("1.0e2"), "100000000");
  EXPECT_EQ(units("1e+2"), "100000000");
  EXPECT_EQ(units("1e-6"), "1");
  EXPECT_EQ(units("1e-06"), "1");
  EXPECT_EQ(units("-1e-06"), "-1");
  EXPECT_EQ(units("1.5e1"), "15000000");
  EXPECT_EQ(units("12345e-4"), "1234500");
  EXPECT_EQ(units("100e-8"), "1");                 // 0.000001: the zeros of D move into the power
  EXPECT_EQ(units("1.50000000e0"), "1500000");
  EXPECT_EQ(units("0.000000000000000000001e21"), "1000000");
  EXPECT_EQ(units("1234567890123000000000000e-18"), "1234567890123");  // past int64 as written, not in value
  EXPECT_EQ(units("0e99999"), "0");
  EXPECT_EQ(units("-0.0e-99999"), "0");
  EXPECT_EQ(units("9223372036854.775807"), "9223372036854775807");
  EXPECT_EQ(units("-9223372036854775808e-6"), "-9223372036854775808");  // the most negative value
  // Plain numbers as before: trailing zeros past the sixth decimal are exact.
  EXPECT_EQ(units("139.12"), "139120000");
  EXPECT_EQ(units("100.0000000"), "100000000");
  EXPECT_EQ(units("-0.5"), "-500000");
}

// The exponent saturates at a bound that grows with the text: a fixed 10^9 made a number of more
// than 10^9 digits wrong (`1` and 10^9 + 5 zeros `e-1000000003`, 100, read as 10^5): a value of
// the number's own digits and exponent is exact or refused, never another.
TEST(Decimal, ParseJsonSaturatesTheExponentPastAnythingTheTextCanBringBack) {
  EXPECT_EQ(crm::support::json_exponent_cap(20), 1'000'000'000);
  for (size_t n : {size_t(999'999'990), size_t(1'000'000'000), size_t(5'000'000'000), size_t(1) << 40})
    EXPECT_GT(crm::support::json_exponent_cap(n), static_cast<int64_t>(n) + 25) << n;  // digits + 19 + 6
  EXPECT_GT(crm::support::json_exponent_cap(SIZE_MAX), 0);  // no overflow
  // The number itself (1 GB of text, twice in memory): with CRM_TEST_BIG=1 only.
  if (!std::getenv("CRM_TEST_BIG")) GTEST_SKIP() << "CRM_TEST_BIG=1 reads a number of 10^9 + 5 digits";
  std::string t = "1" + std::string(1'000'000'005, '0') + "e-1000000003";
  auto d = Decimal::parse_json(t);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->units(), 100'000'000);
  t.back() = '1';  // e-1000000001: 10^4
  d = Decimal::parse_json(t);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->units(), 10'000'000'000);
}

// Whole numbers of up to 12 digits are read without 128-bit arithmetic: every length and sign
// gives what the same number with a fraction (the general path) gives, refusals included.
TEST(Decimal, ParseJsonReadsShortWholeNumbersAsTheGeneralPath) {
  using E = Decimal::JsonError;
  auto read = [](const std::string& t) {
    E e{};
    auto d = Decimal::parse_json(t, &e);
    return d ? std::to_string(d->units()) : "refused " + std::to_string(static_cast<int>(e));
  };
  size_t cases = 0;
  for (const char* sign : {"", "-"})
    for (size_t len = 1; len <= 20; ++len)
      for (const char* digits : {"123456789012345678901", "999999999999999999999", "100000000000000000000"}) {
        const std::string t = sign + std::string(digits, len);
        EXPECT_EQ(read(t), read(t + ".0")) << t;
        ++cases;
      }
  EXPECT_EQ(read("0"), "0");
  EXPECT_EQ(read("-0"), "0");
  EXPECT_EQ(read("01"), "refused " + std::to_string(static_cast<int>(E::Malformed)));
  EXPECT_EQ(read("12a"), "refused " + std::to_string(static_cast<int>(E::Malformed)));
  EXPECT_EQ(read("999999999999"), "999999999999000000");
  EXPECT_EQ(cases, 120u);
}

TEST(Decimal, ParseJsonSaysWhyItRefuses) {
  using E = Decimal::JsonError;
  auto why = [](std::string_view t) {
    E e{};
    auto d = Decimal::parse_json(t, &e);
    if (d) return std::string("accepted ") + d->to_string();
    return std::string(e == E::Malformed ? "malformed" : e == E::TooManyDecimals ? "too many decimals" : "out of range");
  };
  // Finer than a millionth, however written; huge exponents are answered without a loop over them.
  EXPECT_EQ(why("1e-7"), "too many decimals");
  EXPECT_EQ(why("0.0000001"), "too many decimals");
  EXPECT_EQ(why("1.0000001"), "too many decimals");
  EXPECT_EQ(why("1e-99999"), "too many decimals");
  EXPECT_EQ(why("1e-999999999999999999999999"), "too many decimals");
  EXPECT_EQ(why("1e400"), "out of range");
  EXPECT_EQ(why("1e999999999999999999999999"), "out of range");
  EXPECT_EQ(why("1e13"), "out of range");
  EXPECT_EQ(why("9223372036854.775808"), "out of range");
  EXPECT_EQ(why("99999999999999999999"), "out of range");
  EXPECT_EQ(why("9.223372036854e12"), "accepted 9223372036854");
  // The JSON number grammar, for the text of a numeric string as for a number.
  for (const char* bad : {"+100", "100.", ".5", "0100", "-", "", " 1", "1 ", "1e", "1e+", "1.e2", "1,5", "--1",
                          "0x10", "1e2.5", "1\u00a0", "Infinity", "NaN"})
    EXPECT_EQ(why(bad), "malformed") << bad;
}

TEST(Decimal, SumsOfCentsAreExact) {
  // 0.1 + 0.2 == 0.3 exactly, unlike binary floating point.
  auto s = Decimal::add(*Decimal::parse("0.1"), *Decimal::parse("0.2"));
  EXPECT_EQ(*s, *Decimal::parse("0.3"));
}

TEST(Decimal, DivisionRoundsHalfToEven) {
  EXPECT_EQ(Decimal::div(*Decimal::parse("1"), *Decimal::parse("3"))->to_string(), "0.333333");
  EXPECT_EQ(Decimal::div(*Decimal::parse("0.000001"), *Decimal::parse("2"))->to_string(), "0");  // 0.5e-6 -> even 0
  EXPECT_EQ(Decimal::div(*Decimal::parse("0.000003"), *Decimal::parse("2"))->to_string(), "0.000002");
  EXPECT_FALSE(Decimal::div(*Decimal::parse("1"), Decimal{}));
}

TEST(Decimal, OverflowIsReported) {
  auto big = Decimal::from_units(INT64_MAX);
  EXPECT_FALSE(Decimal::add(big, *Decimal::parse("1")));
  EXPECT_FALSE(Decimal::mul(big, *Decimal::parse("2")));
}

TEST(Decimal, FixedFormatting) {
  EXPECT_EQ(Decimal::parse("12.5")->to_string_fixed(2), "12.50");
  EXPECT_EQ(Decimal::parse("0.125")->to_string_fixed(2), "0.12");
  EXPECT_EQ(Decimal::parse("-2.5")->to_string_fixed(0), "-2");
}

namespace {
// The rendering Decimal::to_string had before append_units (a string per part), kept here as the
// reference the decision files were written with.
std::string reference_text(int64_t units) {
  __int128 v = units;
  bool neg = v < 0;
  if (neg) v = -v;
  auto whole = static_cast<unsigned long long>(v / Decimal::kScale);
  auto frac = static_cast<unsigned long long>(v % Decimal::kScale);
  std::string out = neg ? "-" : "";
  out += std::to_string(whole);
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, Decimal::kScaleDigits - f.size(), '0');
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out;
}
}  // namespace

// Every amount of every decision is rendered by append_units, into the line being built.
TEST(Decimal, AppendUnitsRendersAsBeforeAndAppends) {
  EXPECT_EQ(reference_text(INT64_MIN), "-9223372036854.775808");
  std::vector<int64_t> values{0,         1,         -1,         9,          10,          100000,      999999,
                              1000000,   -1000000,  1000001,    1500000,    -1500000,    1010000,     12345678901,
                              -10,       120000000, 100000000,  INT64_MAX,  INT64_MIN,   INT64_MIN + 1, INT64_MAX - 999999};
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 2000; ++i) {  // a fixed sequence of values of every magnitude and sign
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    values.push_back(static_cast<int64_t>(x) >> (i % 63));
  }
  for (int64_t v : values) {
    std::string out = "x";
    Decimal::append_units(out, v);
    EXPECT_EQ(out, "x" + reference_text(v)) << v;
    EXPECT_EQ(Decimal::from_units(v).to_string(), reference_text(v)) << v;
  }
  std::string two;
  Decimal::append_units(two, 12'500'000);
  Decimal::append_units(two, -1);
  EXPECT_EQ(two, "12.5-0.000001");
}
