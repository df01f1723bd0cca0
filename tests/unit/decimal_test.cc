// decimal_test.cc - exact fixed-point arithmetic used for Money.
#include "support/decimal.h"

#include <gtest/gtest.h>

#include <cstdint>
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
