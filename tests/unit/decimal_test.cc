// decimal_test.cc - exact fixed-point arithmetic used for Money.
#include "support/decimal.h"

#include <gtest/gtest.h>

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
