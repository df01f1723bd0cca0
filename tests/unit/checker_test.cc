// checker_test.cc - type checker, name resolution and constant folding, through the driver so
// the side tables (types, folded constants) can be inspected.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "compiler/analysis/conflicts.h"
#include "compiler/diag/renderer.h"
#include "compiler/driver.h"
#include "compiler/sema/types.h"

namespace {

using crm::sema::TypeKind;

struct Checked {
  std::unique_ptr<crm::Compilation> c;
  std::vector<std::string> codes() const {
    std::vector<std::string> out;
    for (auto& d : c->sink.diagnostics()) out.push_back(crm::diag::info(d.code).name);
    return out;
  }
  const crm::ast::Decl* decl(const std::string& name) const {
    for (auto& m : c->program.modules)
      for (auto* d : m.ast->decls)
        if (d->name == name) return d;
    return nullptr;
  }
  const crm::ast::Expr* value(const std::string& name) const {
    auto* d = decl(name);
    if (!d) return nullptr;
    if (d->kind == crm::ast::DeclKind::Const) return static_cast<const crm::ast::ConstDecl*>(d)->value;
    if (d->kind == crm::ast::DeclKind::Segment) return static_cast<const crm::ast::SegmentDecl*>(d)->value;
    return nullptr;
  }
  std::string folded(const std::string& name) const {
    auto* e = value(name);
    auto* v = c->program.const_of(e);
    return v ? v->to_string(c->program.type_of(e)) : "<not constant>";
  }
  std::string type(const std::string& name) const { return c->program.type_of(value(name)).to_string(); }
  std::string text() const { return crm::diag::render_text(c->sink.diagnostics(), c->program.sources, {false}); }
};

const char* kSchema = R"(
profile { age: Int  city: String  level: Int = 0  gender: Gender?  birthday: Date?  tags: Set<String> }
enum Gender { Male, Female }
enum Tier { Gold, Silver }
event Order { amount: Money(CNY)  items: Int  paid: Bool  channel: Channel }
event Visit { page: String }
)";

Checked check(const std::string& body) {
  crm::DriverOptions o;
  return {crm::compile({{"t.crm", std::string(kSchema) + body}}, o)};
}

}  // namespace

TEST(Checker, ThreeIndependentErrorsGiveThreeDiagnostics) {
  auto r = check(
      "segment a = age > \"x\"\n"
      "segment b = count(Order within 30) > 1\n"
      "segment c = nosuch > 1\n");
  EXPECT_EQ(r.codes(), (std::vector<std::string>{"E0401", "E0404", "E0204"}));
}

TEST(Checker, PrecedenceAsFolded) {
  auto r = check(
      "const a = true or false and false\n"
      "const b = 1 + 2 * 3\n"
      "const c = not false and false\n"
      "const d = if false then 1 else 2 + 3\n"
      "const e = 10 - 4 - 3\n");
  ASSERT_TRUE(r.codes().empty());
  EXPECT_EQ(r.folded("a"), "true");
  EXPECT_EQ(r.folded("b"), "7");
  EXPECT_EQ(r.folded("c"), "false");
  EXPECT_EQ(r.folded("d"), "5");
  EXPECT_EQ(r.folded("e"), "3");
}

TEST(Checker, FoldsExactMoneyTimeAndDurations) {
  auto r = check(
      "const m = 0.1 CNY + 0.2 CNY\n"
      "const half = 10 CNY / 4\n"
      "const ratio = 15 CNY / 10 CNY\n"
      "const d = 30 days * 2\n"
      "const t = 2026-11-11T00:00+08:00 + 12 hours\n"
      "const span = 2026-11-12T00:00Z - 2026-11-11T00:00Z\n"
      "const p = 15%\n"
      "const w = days(2 weeks)\n");
  ASSERT_TRUE(r.codes().empty());
  EXPECT_EQ(r.folded("m"), "0.3 CNY");
  EXPECT_EQ(r.folded("half"), "2.5 CNY");
  EXPECT_EQ(r.type("ratio"), "Decimal");
  EXPECT_EQ(r.folded("ratio"), "1.5");
  EXPECT_EQ(r.folded("d"), "60 days");
  EXPECT_EQ(r.folded("t"), "2026-11-11T04:00:00Z");
  EXPECT_EQ(r.folded("span"), "1 day");
  EXPECT_EQ(r.folded("p"), "0.15");
  EXPECT_EQ(r.folded("w"), "14");
}

TEST(Checker, ConstantErrors) {
  auto r = check("const a = 1 / 0\nconst b = 9223372036854775807 + 1\nconst c = 2026-02-30\n");
  EXPECT_EQ(r.codes(), (std::vector<std::string>{"E0413", "E0413", "E0104"}));
}

// crm's time is 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z: constant time and date
// arithmetic leaving it is E0413 at the expression, and a literal whose offset carries it out is
// E0104 (both used to fold to an instant of year 0 or 10000, which no reader of crm's takes).
TEST(Checker, ConstantTimesStayWithinTheYears0001To9999) {
  auto bad = check(
      "const a = 9999-12-31T23:59:59.999999Z + 1 seconds\n"
      "const b = 2026-01-01T00:00:00Z - 3652059 days\n"
      "const c = 3652059 days + 2026-01-01T00:00:00Z\n"
      "const d = 9999-12-31 + 1 days\n"
      "const e = 0001-01-01T00:00:00+01:00\n"
      "const f = 9999-12-31T23:59:59-01:00\n");
  EXPECT_EQ(bad.codes(), (std::vector<std::string>{"E0413", "E0413", "E0413", "E0413", "E0104", "E0104"}));
  const std::string text = bad.text();
  EXPECT_NE(text.find("t.crm:7:11: error[E0413]: constant time arithmetic leaves crm's time, 0001-01-01T00:00:00Z to "
                      "9999-12-31T23:59:59.999999Z"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("error[E0413]: constant date arithmetic leaves the years 0001-9999, 0001-01-01 to 9999-12-31"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("error[E0104]: time `0001-01-01T00:00:00+01:00` is outside crm's time (it is 0000-12-31T23:00:00Z "
                      "in UTC, and crm's time is 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z)"),
            std::string::npos)
      << text;
  auto edges = check(
      "const g = 9999-12-31T23:59:58.999999Z + 1 seconds\n"
      "const h = 0001-01-01T00:00:01Z - 1 seconds\n"
      "const i = 0001-01-01T01:00:00+01:00\n");
  ASSERT_TRUE(edges.codes().empty());
  EXPECT_EQ(edges.folded("g"), "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(edges.folded("h"), "0001-01-01T00:00:00Z");
  EXPECT_EQ(edges.folded("i"), "0001-01-01T00:00:00Z");
}

// Folding gives what run time gives (language.md 3.1): `and`/`or` run left to right, so a
// constant right operand never hides the left one, which may fail for some user.
TEST(Checker, FoldingFollowsEvaluationOrder) {
  auto r = check(
      "segment a = (if age / 0 > 3 then false else true) or true\n"
      "segment b = true or age / 0 > 3\n"
      "segment c = false and age > 1\n"
      "segment d = age > 1 and false\n"
      "const e = true and false\n"
      "const f = false or true\n");
  ASSERT_TRUE(r.codes().empty());
  EXPECT_EQ(r.folded("a"), "<not constant>");
  EXPECT_EQ(r.folded("b"), "true");
  EXPECT_EQ(r.folded("c"), "false");
  EXPECT_EQ(r.folded("d"), "<not constant>");
  EXPECT_EQ(r.folded("e"), "false");
  EXPECT_EQ(r.folded("f"), "true");
}

// Constant Int/Decimal comparisons fold as `==` and `in` compare at run time: the Int is widened,
// so `3.0 in [1, 3]` is true, and an Int too large for a Decimal is an overflow, not a guess.
TEST(Checker, MixedNumericConstantsCompareAsAtRunTime) {
  auto ok = check(
      "const a = 3.0 in [5, 4, 3, 2, 1]\n"
      "const b = 3 in [1.5, 3.0]\n"
      "const c = 3.0 == 3\n"
      "const d = 2.5 in {1, 2, 3}\n"
      "const e = 9223372036854775807 in [1, 9223372036854775807]\n");
  ASSERT_TRUE(ok.codes().empty());
  EXPECT_EQ(ok.folded("a"), "true");
  EXPECT_EQ(ok.folded("b"), "true");
  EXPECT_EQ(ok.folded("c"), "true");
  EXPECT_EQ(ok.folded("d"), "false");
  EXPECT_EQ(ok.folded("e"), "true");
  auto bad = check(
      "const f = 0.0 == 4611686018427387904\n"
      "const g = 1.5 in [4611686018427387904]\n"
      "const h = 4611686018427387904 in [1.5]\n"
      "const i = decimal(4611686018427387904)\n"
      "const j = 1.5 between 1 and 4611686018427387904\n");
  EXPECT_EQ(bad.codes(), (std::vector<std::string>{"E0413", "E0413", "E0413", "E0413", "E0413"}));
}

TEST(Checker, AggregateTypes) {
  auto r = check(
      "segment s1 = count(Order within 30 days) >= 3\n"
      "const x = 1\n"
      "fn spend(): Money(CNY) = sum(Order.amount where paid)\n"
      "fn mean(): Money(CNY)? = avg(Order.amount previous)\n"
      "fn lastpage(): String? = last(Visit).page\n"
      "fn latest(): Time? = last(Order.time)\n"
      "fn most(): Int? = max(Order.items last 5)\n");
  EXPECT_TRUE(r.codes().empty()) << r.codes().size();
}

TEST(Checker, AggregateErrors) {
  auto r = check(
      "segment a = sum(Visit.page) > 1\n"    // E0408: not numeric
      "segment b = avg(Visit.amount) > 1\n"  // E0407: Visit has no amount
      "segment c = count(Ordr) > 1\n"        // E0304 with a suggestion
      "segment d = count(Order within age * 1 days) > 1\n");  // E0417: window depends on data
  EXPECT_EQ(r.codes(), (std::vector<std::string>{"E0408", "E0407", "E0304", "E0417"}));
  EXPECT_EQ(r.c->sink.diagnostics()[2].help, "did you mean `Order`?");
}

TEST(Checker, OptionalsNeedDefaults) {
  auto bad = check("segment a = gender == Male and birthday > 2000-01-01\n");
  EXPECT_EQ(bad.codes(), std::vector<std::string>{"E0403"});
  auto good = check("segment a = gender == Male and (birthday ?? 1970-01-01) > 2000-01-01\n");
  EXPECT_TRUE(good.codes().empty());
}

TEST(Checker, EnumValuesResolveAgainstTheExpectedEnum) {
  auto r = check("segment a = gender in {Male, Female} and last(Order.channel) == App\n");
  EXPECT_TRUE(r.codes().empty());
  auto bad = check("segment a = last(Order.channel) == Ap\n");
  EXPECT_EQ(bad.codes(), std::vector<std::string>{"E0406"});
  EXPECT_EQ(bad.c->sink.diagnostics()[0].help, "did you mean `App`?");
  auto qualified = check("segment a = (gender ?? Gender.Male) == Gender.Female\n");
  EXPECT_TRUE(qualified.codes().empty());
}

TEST(Checker, MoneyCurrenciesNeverMix) {
  auto r = check("segment a = sum(Order.amount) + 5 USD > 1 CNY\nconst b = 5 CNY * 2 + 1\n");
  EXPECT_EQ(r.codes(), (std::vector<std::string>{"E0402", "E0405"}));
}

TEST(Checker, FunctionsWithNamedParametersAndNoRecursion) {
  auto ok = check(
      "fn active(n: Int = 3, w: Duration = 30 days): Bool = count(Order within w) >= n\n"
      "segment s = active() and active(5) and active(w: 7 days) and active(n: 1, w: 90 days)\n");
  EXPECT_TRUE(ok.codes().empty());
  auto bad = check(
      "fn active(n: Int = 3, w: Duration = 30 days): Bool = count(Order within w) >= n\n"
      "segment s = active(x: 1) or active(1, 2, 3) or active(w: age * 1 days)\n"
      "segment r1 = r2\nsegment r2 = r1\n");
  EXPECT_EQ(bad.codes(), (std::vector<std::string>{"E0409", "E0404", "E0409", "E0416", "E0412"}));
}

TEST(Checker, SchemasMergeAcrossModulesAndConflictsAreReported) {
  crm::DriverOptions o;
  auto c = crm::compile({{"a.crm", std::string("module a\nevent Order { amount: Money(CNY) }\n")},
                               {"b.crm", std::string("module b\nevent Order { amount: Money(USD)  items: Int }\n"
                                                     "segment s = count(Order where items > 1) > 0\n")}},
                              o);
  ASSERT_EQ(c->sink.diagnostics().size(), 1u);
  EXPECT_EQ(crm::diag::info(c->sink.diagnostics()[0].code).name, std::string("E0302"));
}

TEST(Checker, StrategyRules) {
  auto r = check(
      "resource coupon C { discount: 10 CNY  threshold: 50 CNY  claim: between 2026-11-01T00:00Z and 2026-11-12T00:00Z }\n"
      "strategy s for business \"store\" {\n"
      "  who: age >= 18\n"
      "  when: on Order between 2026-11-11T00:00+08:00 and 2026-11-12T00:00+08:00 if paid\n"
      "  where: channel == App\n"
      "  what: grant C via App code \"D11\"\n"
      "  how much: budget 10000 CNY, stock 20000, per user 1 per day, 2 per campaign\n"
      "  split: control 10%\n"
      "}\n");
  EXPECT_TRUE(r.codes().empty());
  auto bad = check(
      "resource coupon C { discount: 60 CNY  threshold: 50 CNY }\n"
      "strategy s {\n"
      "  who: age >= 18\n"
      "  when: on Order between 2026-11-12T00:00Z and 2026-11-11T00:00Z\n"
      "  what: grant C via Carrier\n"
      "  how much: budget 100 USD, per user 0 per fortnight\n"
      "  split: control 100%\n"
      "}\n");
  EXPECT_EQ(bad.codes(), (std::vector<std::string>{"E0508", "E0503", "E0406", "E0402", "E0506", "E0511", "E0505"}));
}

// E0508 says a coupon makes qualifying orders free. A fixed discount at or above its threshold
// does; a percentage below 100% never does, whatever its cap (it pays P% of the order: "15% off,
// at most 1000 JPY, orders from 100 JPY" is an ordinary coupon, refused before); 100% up to a cap
// at or above the threshold does, for the orders from the threshold up to the cap.
TEST(Checker, OnlyADiscountThatMakesQualifyingOrdersFreeIsE0508) {
  auto codes = [](const std::string& discount, const std::string& threshold) {
    return check("resource coupon c { discount: " + discount + "  threshold: " + threshold + " }\n").codes();
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(codes("15% up to 1000 JPY", "100 JPY"), V{});
  EXPECT_EQ(codes("99.99% up to 100 JPY", "100 JPY"), V{});
  EXPECT_EQ(codes("10% up to 20 CNY", "50 CNY"), V{});
  EXPECT_EQ(codes("100% up to 50 CNY", "100 CNY"), V{});  // at most 50 off an order of at least 100
  EXPECT_EQ(codes("100% up to 100 CNY", "100 CNY"), V{"E0508"});
  EXPECT_EQ(codes("100% up to 1000 JPY", "100 JPY"), V{"E0508"});
  EXPECT_EQ(codes("100 CNY", "100 CNY"), V{"E0508"});
  EXPECT_EQ(codes("99 CNY", "100 CNY"), V{});
  EXPECT_EQ(codes("15% up to 1000 JPY", "100 CNY"), V{"E0402"});  // currencies still never mix
  auto r = check("resource coupon c { discount: 100% up to 1000 JPY  threshold: 100 JPY }\n");
  ASSERT_EQ(r.c->sink.diagnostics().size(), 1u);
  EXPECT_EQ(r.c->sink.diagnostics()[0].message,
            "discount 100% up to 1000 JPY is not below the threshold 100 JPY: orders from 100 JPY to 1000 JPY are free");
}

TEST(Checker, ZoneIsAFixedUtcOffsetOrAKnownZoneName) {
  for (const char* zone : {"+08:00", "-05:30", "UTC", "Asia/Shanghai", "America/New_York"}) {
    auto ok = check(std::string("resource coupon c { discount: 5 CNY }\n"
                                "strategy s { who: true  when: on Order  what: grant c  zone: \"") + zone + "\" }\n");
    EXPECT_TRUE(ok.codes().empty()) << zone;
  }
  for (const char* zone : {"Asia/Shangai", "+8", "../etc/passwd", ""}) {
    auto bad = check(std::string("resource coupon c { discount: 5 CNY }\n"
                                 "strategy s { who: true  when: on Order  what: grant c  zone: \"") + zone + "\" }\n");
    EXPECT_EQ(bad.codes(), std::vector<std::string>{"E0104"}) << zone;
  }
}

// ---- strategy conflicts (W0105) ----------------------------------------------------------------

namespace {

std::string two_strategies(const std::string& who_a, const std::string& who_b, const std::string& extra_a = "",
                           const std::string& extra_b = "", const std::string& window_b =
                               "between 2026-11-11T00:00Z and 2026-11-12T00:00Z") {
  return "resource coupon c { discount: 5 CNY }\n"
         "strategy a for business \"mall\" { who: " + who_a +
         "  when: on Order between 2026-11-11T00:00Z and 2026-11-12T00:00Z  what: grant c " + extra_a + " }\n"
         "strategy b for business \"mall\" { who: " + who_b + "  when: on Order " + window_b + "  what: grant c " +
         extra_b + " }\n";
}

}  // namespace

TEST(Conflicts, OverlapIsReportedWithAWitness) {
  auto r = check(two_strategies("age between 18 and 35", "age >= 30 and city == \"Wuhan\""));
  ASSERT_EQ(r.codes(), std::vector<std::string>{"W0105"});
  EXPECT_NE(r.c->sink.diagnostics()[0].help.find("age = 30, city = \"Wuhan\""), std::string::npos)
      << r.c->sink.diagnostics()[0].help;
}

TEST(Conflicts, DisjointAudiencesAreNotReported) {
  EXPECT_TRUE(check(two_strategies("age < 18", "age >= 18")).codes().empty());
  EXPECT_TRUE(check(two_strategies("gender == Male", "gender == Female")).codes().empty());
  // The second selects nobody at all: W0106, and no pair.
  EXPECT_EQ(check(two_strategies("city in {\"A\", \"B\"}", "city not in {\"A\", \"B\"} and city == \"B\"")).codes(),
            std::vector<std::string>{"W0106"});
  EXPECT_TRUE(check(two_strategies("city in {\"A\", \"B\"}", "city not in {\"A\", \"B\"} and city == \"C\"")).codes().empty());
  EXPECT_TRUE(check(two_strategies("not (level >= 2)", "level between 2 and 5")).codes().empty());
}

TEST(Conflicts, DeclaredPrioritiesOrSeparateWindowsAreAccepted) {
  EXPECT_TRUE(check(two_strategies("true", "true", "priority: 2", "priority: 1")).codes().empty());
  EXPECT_EQ(check(two_strategies("true", "true", "priority: 2", "priority: 2")).codes(), std::vector<std::string>{"W0105"});
  EXPECT_TRUE(check(two_strategies("true", "true", "", "", "between 2026-11-12T00:00Z and 2026-11-13T00:00Z")).codes().empty());
}

TEST(Conflicts, UnanalyzableConditionsMayOverlap) {
  // History aggregates are not reasoned about: the pair may overlap.
  EXPECT_EQ(check(two_strategies("count(Order within 30 days) >= 3", "count(Order within 30 days) == 0")).codes(),
            std::vector<std::string>{"W0105"});
}

TEST(Conflicts, HashBucketArmsAreDisjoint) {
  // A/B arms written as hash buckets of the user id: bucket k of n is a value in 0..n-1.
  EXPECT_TRUE(check(two_strategies("hash_bucket(user, 5) == 1", "hash_bucket(user, 5) == 2")).codes().empty());
  EXPECT_TRUE(check(two_strategies("hash_bucket(user, 5) < 2", "hash_bucket(user, 5) >= 2")).codes().empty());
  EXPECT_TRUE(check(two_strategies("hash_bucket(user, 5) in {0, 1}", "hash_bucket(user,5) in {2, 3}")).codes().empty());
  EXPECT_TRUE(check(two_strategies("2 > hash_bucket(user, 5)", "hash_bucket(user, 5) between 2 and 4")).codes().empty());
  // Only two buckets exist, so "not 0" and "not 1" leave nothing in common.
  EXPECT_TRUE(check(two_strategies("hash_bucket(user, 2) != 0", "hash_bucket(user, 2) != 1")).codes().empty());
  EXPECT_TRUE(check(two_strategies("hash_bucket(lower(city), 5) == 1 and age > 3",
                                   "not (hash_bucket(lower(city), 5) == 1)")).codes().empty());
  // The same bucket, overlapping ranges: a witness names the bucket.
  auto same = check(two_strategies("hash_bucket(user, 5) <= 2", "hash_bucket(user, 5) >= 2"));
  ASSERT_EQ(same.codes(), std::vector<std::string>{"W0105"});
  EXPECT_NE(same.c->sink.diagnostics()[0].help.find("hash_bucket(user, 5) = 2"), std::string::npos)
      << same.c->sink.diagnostics()[0].help;
}

TEST(Conflicts, DifferentHashBucketsAreNotDisjoint) {
  // Another bucket count or another key splits users differently: the arms may share users.
  EXPECT_EQ(check(two_strategies("hash_bucket(user, 5) == 1", "hash_bucket(user, 4) == 2")).codes(),
            std::vector<std::string>{"W0105"});
  EXPECT_EQ(check(two_strategies("hash_bucket(user, 5) == 1", "hash_bucket(city, 5) == 2")).codes(),
            std::vector<std::string>{"W0105"});
  EXPECT_EQ(check(two_strategies("hash_bucket(user, 5) == 1", "hash_bucket(lower(user), 5) == 2")).codes(),
            std::vector<std::string>{"W0105"});
  EXPECT_EQ(check(two_strategies("hash_bucket(user, 5) == 1", "hash_bucket(user, 5) + 1 == 3")).codes(),
            std::vector<std::string>{"W0105"});
}

TEST(Conflicts, FiveHashBucketArmsGiveNoWarning) {
  std::string src = "resource coupon c { discount: 5 CNY }\n";
  for (int k = 0; k < 5; ++k)
    src += "strategy arm" + std::to_string(k) + " for business \"mall\" { who: hash_bucket(user, 5) == " +
           std::to_string(k) + "  when: on Order  what: grant c }\n";
  EXPECT_TRUE(check(src).codes().empty());
}

TEST(Conflicts, RequiredEnumsAndBoolsHaveOnlyTheirValues) {
  // `level` has a default (always present); Tier and Bool values are all listed.
  EXPECT_TRUE(check("profile { tier: Tier  vip: Bool }\n" +
                    two_strategies("tier != Gold", "tier != Silver")).codes().empty());
  EXPECT_TRUE(check("profile { vip: Bool }\n" + two_strategies("vip", "not vip")).codes().empty());
  // An optional field may be missing, and a missing value is `!=` every value.
  EXPECT_EQ(check(two_strategies("gender != Male", "gender != Female")).codes(), std::vector<std::string>{"W0105"});
}

// ---- strategies that can never deliver (W0106) ---------------------------------------------------

namespace {

std::string one_strategy(const std::string& clauses, const std::string& resources = "resource coupon c { discount: 5 CNY }\n") {
  return resources + "strategy s for business \"mall\" { " + clauses + " }\n";
}

std::vector<std::string> never(const std::string& clauses,
                               const std::string& resources = "resource coupon c { discount: 5 CNY }\n") {
  return check(one_strategy(clauses, resources)).codes();
}

const std::vector<std::string> kW0106{"W0106"};

}  // namespace

TEST(NeverDeliver, ContradictoryConditionsOfEveryKind) {
  EXPECT_EQ(never("who: level >= 3 and level < 2  when: on Order  what: grant c"), kW0106);
  EXPECT_EQ(never("who: level == 1 and level == 2  when: on Order  what: grant c"), kW0106);
  EXPECT_EQ(never("who: city in {\"A\", \"B\"} and city in {\"C\"}  when: on Order  what: grant c"), kW0106);
  EXPECT_EQ(never("who: city == \"A\" and not (city in {\"A\", \"B\"})  when: on Order  what: grant c"), kW0106);
  EXPECT_EQ(never("who: age between 18 and 30 and not (age < 40)  when: on Order  what: grant c"), kW0106);
  EXPECT_EQ(never("who: hash_bucket(user, 5) == 7  when: on Order  what: grant c"), kW0106);
  EXPECT_EQ(never("who: hash_bucket(user, 5) >= 5  when: on Order  what: grant c"), kW0106);
  // Across clauses: the trigger's `if` and `where:` read the same event.
  EXPECT_EQ(never("who: true  when: on Order if channel == App  where: channel == Web  what: grant c"), kW0106);
  EXPECT_EQ(never("who: true  when: on Order if paid  where: not paid  what: grant c"), kW0106);
  EXPECT_EQ(never("who: true  when: on Order if items > 3  where: items <= 3  what: grant c"), kW0106);
}

TEST(NeverDeliver, SatisfiableConditionsAreQuiet) {
  EXPECT_TRUE(never("who: level >= 3 and level < 5  when: on Order  what: grant c").empty());
  EXPECT_TRUE(never("who: hash_bucket(user, 5) == 4  when: on Order  what: grant c").empty());
  EXPECT_TRUE(never("who: hash_bucket(user, 5) == 1 and hash_bucket(user, 4) == 3  when: on Order  what: grant c").empty());
  EXPECT_TRUE(never("who: hash_bucket(city, 5) == 1 and hash_bucket(user, 5) == 2  when: on Order  what: grant c").empty());
  // A missing optional value is `!=` every value.
  EXPECT_TRUE(never("who: gender != Male and gender != Female  when: on Order  what: grant c").empty());
  // `or` and aggregates are not reasoned about.
  EXPECT_TRUE(never("who: (level > 3 or level < 1) and level == 2  when: on Order  what: grant c").empty());
  EXPECT_TRUE(never("who: count(Order) > 3 and count(Order) < 2  when: on Order  what: grant c").empty());
  // A profile field and an event field are different things, even with the same name.
  EXPECT_TRUE(never("who: level == 1  when: on Order if items == 2  what: grant c").empty());
}

TEST(NeverDeliver, SchedulesThatNeverFire) {
  EXPECT_EQ(never("who: true  when: at 2026-11-10T00:00Z between 2026-11-11T00:00Z and 2026-11-12T00:00Z  what: grant c"),
            kW0106);
  EXPECT_TRUE(never("who: true  when: at 2026-11-11T01:00Z between 2026-11-11T00:00Z and 2026-11-12T00:00Z  what: grant c")
                  .empty());
  // The first 09:00 in +08:00 on or after the start is 01:00Z on the 12th: after the window.
  EXPECT_EQ(never("who: true  when: every 1 day at 09:00 between 2026-11-11T02:00Z and 2026-11-12T00:00Z  what: grant c  "
                  "zone: \"+08:00\""),
            kW0106);
  EXPECT_TRUE(never("who: true  when: every 1 day at 09:00 between 2026-11-11T02:00Z and 2026-11-12T02:00Z  what: grant c  "
                    "zone: \"+08:00\"")
                  .empty());
  // A week-long period starting on a day whose clock time has passed: the next run is 7 days on.
  EXPECT_EQ(never("who: true  when: every 7 days at 08:00 between 2026-11-11T09:00Z and 2026-11-15T00:00Z  what: grant c"),
            kW0106);
  EXPECT_TRUE(never("who: true  when: every 2 hours between 2026-11-11T09:30Z and 2026-11-11T12:00Z  what: grant c").empty());
}

TEST(NeverDeliver, ConditionsOnTheDecisionInstantMeetTheWindow) {
  // An event's `time` and `now()` are the decision instant, which lies in the `when:` window.
  EXPECT_EQ(never("who: true  when: on Order between 2026-11-11T00:00Z and 2026-11-12T00:00Z if time < 2026-11-11T00:00Z"
                  "  what: grant c"),
            kW0106);
  EXPECT_EQ(never("who: now() >= 2026-11-12T00:00Z  when: on Order between 2026-11-11T00:00Z and 2026-11-12T00:00Z"
                  "  what: grant c"),
            kW0106);
  EXPECT_EQ(never("who: now() < 2026-11-08T00:00Z  when: at 2026-11-08T00:00Z  what: grant c"), kW0106);
  EXPECT_TRUE(never("who: now() >= 2026-11-11T12:00Z  when: on Order between 2026-11-11T00:00Z and 2026-11-12T00:00Z"
                    "  what: grant c").empty());
  EXPECT_TRUE(never("who: true  when: on Order if time < 2026-11-11T00:00Z  what: grant c").empty());
  auto r = check(one_strategy(
      "who: true  when: on Order between 2026-11-11T00:00Z and 2026-11-12T00:00Z if time >= 2026-11-12T00:00Z  what: grant c"));
  ASSERT_EQ(r.codes(), kW0106);
  EXPECT_EQ(r.c->sink.diagnostics()[0].message,
            "strategy `s` can never deliver: `time >= 2026-11-12T00:00Z` contradicts `between 2026-11-11T00:00Z and "
            "2026-11-12T00:00Z`");
  // Across strategies the instant differs: W0105 does not read now() (these two overlap in time).
  EXPECT_EQ(check(two_strategies("now() < 2026-11-11T12:00Z", "now() >= 2026-11-11T12:00Z")).codes(),
            std::vector<std::string>{"W0105"});
}

TEST(NeverDeliver, GrantsOutsideTheClaimWindow) {
  const std::string claim =
      "resource coupon c { discount: 5 CNY  claim: between 2026-11-11T00:00Z and 2026-11-12T00:00Z }\n";
  EXPECT_EQ(never("who: true  when: at 2026-11-08T00:00Z  what: grant c", claim), kW0106);
  EXPECT_EQ(never("who: true  when: at 2026-11-12T00:00Z  what: grant c", claim), kW0106);  // the end is excluded
  EXPECT_TRUE(never("who: true  when: at 2026-11-11T23:59Z  what: grant c", claim).empty());
  EXPECT_EQ(never("who: true  when: on Order between 2026-11-12T00:00Z and 2026-11-13T00:00Z  what: grant c", claim), kW0106);
  // In part: the existing W0102, not W0106.
  EXPECT_EQ(never("who: true  when: on Order between 2026-11-11T12:00Z and 2026-11-13T00:00Z  what: grant c", claim),
            std::vector<std::string>{"W0102"});
  EXPECT_TRUE(never("who: true  when: on Order  what: grant c", claim).empty());
  // Daily runs at 06:00Z from the 10th to the 20th: the one of the 11th is in the claim window
  // (W0102 says that the window is wider).
  EXPECT_EQ(never("who: true  when: every 1 day at 06:00 between 2026-11-10T00:00Z and 2026-11-20T00:00Z  what: grant c",
                  claim),
            std::vector<std::string>{"W0102"});
  // Every 3 days from the 9th at 06:00: the 9th, 12th, 15th... skip the 11th.
  EXPECT_EQ(never("who: true  when: every 3 days at 06:00 between 2026-11-09T00:00Z and 2026-11-20T00:00Z  what: grant c",
                  claim),
            (std::vector<std::string>{"W0102", "W0106"}));
}

TEST(NeverDeliver, MessagesScheduledInQuietHoursThatDropThem) {
  const std::string push = "resource push m { body: \"hi\" }\n";
  auto with = [&](const std::string& policy, const std::string& when) {
    return check(policy + one_strategy("who: true  when: " + when + "  what: send m via Push  zone: \"+08:00\"", push))
        .codes();
  };
  const std::string drop = "policy p { quiet between 22:00 and 08:00 drop }\n";
  EXPECT_EQ(with(drop, "at 2026-11-11T15:30Z"), kW0106);  // 23:30 at +08:00
  EXPECT_TRUE(with(drop, "at 2026-11-11T00:00Z").empty());  // 08:00: the quiet hours have ended
  EXPECT_EQ(with(drop, "every 1 day at 07:59 between 2026-11-01T00:00Z and 2026-12-01T00:00Z"), kW0106);
  EXPECT_TRUE(with(drop, "every 1 day at 12:00 between 2026-11-01T00:00Z and 2026-12-01T00:00Z").empty());
  EXPECT_TRUE(with(drop, "every 2 hours between 2026-11-01T00:00Z and 2026-12-01T00:00Z").empty());
  // Held rather than dropped, or a policy of another business: the message is sent.
  EXPECT_TRUE(with("policy p { quiet between 22:00 and 08:00 }\n", "at 2026-11-11T15:30Z").empty());
  EXPECT_TRUE(with("policy p for business \"other\" { quiet between 22:00 and 08:00 drop }\n", "at 2026-11-11T15:30Z")
                  .empty());
  EXPECT_EQ(with("policy p for business \"mall\" { quiet between 22:00 and 08:00 drop }\n", "at 2026-11-11T15:30Z"),
            kW0106);
}

TEST(NeverDeliver, BudgetBelowOneDelivery) {
  const std::string coupons = "resource coupon c10 { discount: 10 CNY }\nresource coupon c3 { discount: 3 CNY }\n";
  EXPECT_EQ(never("who: true  when: on Order  what: grant c10  how much: budget 5 CNY", coupons), kW0106);
  EXPECT_TRUE(never("who: true  when: on Order  what: grant c10  how much: budget 10 CNY", coupons).empty());
  // One delivery grants every action: 13 CNY.
  EXPECT_EQ(never("who: true  when: on Order  what: grant c10, grant c3  how much: budget 12 CNY", coupons), kW0106);
  EXPECT_TRUE(never("who: true  when: on Order  what: grant c10, grant c3  how much: budget 13 CNY", coupons).empty());
  // Points and messages cost nothing from a money budget.
  EXPECT_TRUE(never("who: true  when: on Order  what: grant p  how much: budget 1 CNY", "resource points p { amount: 5 }\n")
                  .empty());
}

TEST(NeverDeliver, StockAndPerUserLimitsOfZeroAreErrors) {
  // Already refused by the checker (E0506), so no strategy with them reaches the analysis.
  EXPECT_EQ(never("who: true  when: on Order  what: grant c  how much: stock 0"), std::vector<std::string>{"E0506"});
  EXPECT_EQ(never("who: true  when: on Order  what: grant c  how much: per user 0 per day"), std::vector<std::string>{"E0506"});
}

TEST(Checker, QuietHoursAreClockTimes) {
  EXPECT_TRUE(check("policy p { quiet between 22:00 and 08:00 }\n").codes().empty());
  EXPECT_EQ(check("policy p { quiet between 25:00 and 08:00 }\n").codes(), std::vector<std::string>{"E0104"});
  EXPECT_EQ(check("policy p { quiet between 08:00 and 08:00 }\n").codes(), std::vector<std::string>{"E0503"});
  EXPECT_EQ(check("policy p { quiet between 22:00 and 08:00; quiet between 23:00 and 07:00 }\n").codes(),
            std::vector<std::string>{"E0601"});
}

// ---- conflict analysis at scale (issue 9 item 7) ------------------------------------------------

namespace {

// `n` strategies of business "mall", strategy i with `who:` who(i) and window window(i).
template <typename Who, typename Window>
std::string catalogue(size_t n, Who who, Window window) {
  std::string s = "resource coupon c { discount: 5 CNY }\n";
  for (size_t i = 0; i < n; ++i)
    s += "strategy s" + std::to_string(i) + " for business \"mall\" { who: " + who(i) + "  when: on Order " +
         window(i) + "  what: grant c }\n";
  return s;
}

std::string same_window(size_t) { return "between 2026-11-01T00:00Z and 2026-12-01T00:00Z"; }

// Day i of 2026 (i < 28 stays in January), one day long: windows touch but never overlap.
std::string own_day(size_t i) {
  char from[32], to[32];
  std::snprintf(from, sizeof from, "2026-01-%02zuT00:00Z", i + 1);
  std::snprintf(to, sizeof to, "2026-01-%02zuT00:00Z", i + 2);
  return std::string("between ") + from + " and " + to;
}

// The front end without the analysis, then the analysis alone with its statistics.
struct Analysed {
  Checked checked;
  crm::analysis::ConflictStats stats;
};

Analysed analyse(const std::string& body, size_t max_warnings = 100) {
  crm::DriverOptions o;
  o.conflicts = false;
  Analysed a{{crm::compile({{"t.crm", std::string(kSchema) + body}}, o)}, {}};
  EXPECT_FALSE(a.checked.c->sink.has_errors()) << a.checked.codes().front();
  crm::analysis::ConflictOptions co;
  co.max_warnings = max_warnings;
  crm::analysis::check_strategy_conflicts(a.checked.c->program, a.checked.c->sink, co, &a.stats);
  return a;
}

size_t count_code(const Checked& r, const std::string& code) {
  auto codes = r.codes();
  return static_cast<size_t>(std::count(codes.begin(), codes.end(), code));
}

}  // namespace

TEST(ConflictScale, TheLimitStopsTheAnalysisWithOneSummary) {
  // 40 strategies in one window: 780 conflicting pairs. Three are shown, the fourth stops the
  // analysis, and the summary counts the 776 pairs left unexamined.
  auto a = analyse(catalogue(40, [](size_t) { return "true"; }, same_window), 3);
  EXPECT_EQ(count_code(a.checked, "W0105"), 3u);
  ASSERT_EQ(count_code(a.checked, "W0108"), 1u);
  EXPECT_EQ(a.stats.pairs_examined, 4u);
  const auto& last = a.checked.c->sink.diagnostics().back();
  EXPECT_EQ(last.code, crm::diag::Code::W0108);
  EXPECT_NE(last.message.find("stopped after 3 warnings"), std::string::npos) << last.message;
  EXPECT_NE(last.message.find("776 more pairs"), std::string::npos) << last.message;
  EXPECT_NE(last.help.find("--max-conflict-warnings"), std::string::npos);
  // Exactly at the limit there is nothing more to say.
  auto three = analyse(catalogue(3, [](size_t) { return "true"; }, same_window), 3);
  EXPECT_EQ(count_code(three.checked, "W0105"), 3u);
  EXPECT_EQ(count_code(three.checked, "W0108"), 0u);
}

TEST(ConflictScale, TheLimitIsADriverAndApiOption) {
  crm::DriverOptions o;
  o.max_conflict_warnings = 5;
  Checked r{crm::compile(
      {{"t.crm", std::string(kSchema) + catalogue(20, [](size_t) { return "true"; }, same_window)}}, o)};
  EXPECT_EQ(count_code(r, "W0105"), 5u);
  EXPECT_EQ(count_code(r, "W0108"), 1u);
  Checked dflt = check(catalogue(20, [](size_t) { return "true"; }, same_window));
  EXPECT_EQ(count_code(dflt, "W0105"), 100u);  // the default limit
  EXPECT_EQ(count_code(dflt, "W0108"), 1u);
}

TEST(ConflictScale, WindowsThatDoNotOverlapAreNeverPaired) {
  // 27 strategies on consecutive days (touching, not overlapping), all audiences equal.
  auto a = analyse(catalogue(27, [](size_t) { return "true"; }, own_day));
  EXPECT_EQ(a.stats.pairs_examined, 0u);
  EXPECT_TRUE(a.checked.codes().empty());
  // Two days long: each overlaps only its neighbour.
  auto two = analyse(catalogue(20, [](size_t) { return "true"; }, [](size_t i) {
    char from[32], to[32];
    std::snprintf(from, sizeof from, "2026-01-%02zuT00:00Z", i + 1);
    std::snprintf(to, sizeof to, "2026-01-%02zuT00:00Z", i + 3);
    return std::string("between ") + from + " and " + to;
  }));
  EXPECT_EQ(two.stats.pairs_examined, 19u);
  EXPECT_EQ(count_code(two.checked, "W0105"), 19u);
}

TEST(ConflictScale, DifferentBusinessesAreNeverPaired) {
  std::string s = "resource coupon c { discount: 5 CNY }\n";
  for (int i = 0; i < 30; ++i)
    s += "strategy s" + std::to_string(i) + " for business \"b" + std::to_string(i) +
         "\" { who: true  when: on Order  what: grant c }\n";
  auto a = analyse(s);
  EXPECT_EQ(a.stats.pairs_examined, 0u);
  EXPECT_TRUE(a.checked.codes().empty());
}

TEST(ConflictScale, StrategiesPinnedToDifferentValuesAreNotPaired) {
  // 30 cities, one window: disjoint, and not even compared. Two strategies without a city pair
  // with everything (and with each other): 30 * 2 + 1 pairs, all of them conflicts.
  auto a = analyse(catalogue(32, [](size_t i) {
    return i < 30 ? "city == \"c" + std::to_string(i % 30) + "\"" : std::string("age >= 18");
  }, same_window));
  EXPECT_EQ(a.stats.pairs_examined, 61u);
  EXPECT_EQ(count_code(a.checked, "W0105"), 61u);
  // Two strategies pinned to the same city are compared (and conflict).
  auto same = analyse(catalogue(4, [](size_t i) { return "city == \"c" + std::to_string(i / 2) + "\""; }, same_window));
  EXPECT_EQ(same.stats.pairs_examined, 2u);
  EXPECT_EQ(count_code(same.checked, "W0105"), 2u);
}

TEST(ConflictScale, EveryCommandThatRunsAProgramSkipsTheAnalysis) {
  // The driver flag used by run, audience, explain, compile and the runtime API.
  std::string text = std::string(kSchema) + catalogue(3, [](size_t) { return "true"; }, same_window);
  crm::DriverOptions off;
  off.conflicts = false;
  Checked skipped{crm::compile({{"t.crm", text}}, off)};
  EXPECT_TRUE(skipped.codes().empty());
  EXPECT_EQ(count_code(check(catalogue(3, [](size_t) { return "true"; }, same_window)), "W0105"), 3u);
}

TEST(SourceLimits, ASourceFileCostsItsSizeNotTheFileSizeLimit) {
  // 20 small files checked under a 32 MiB file-size limit: reading each into a buffer sized to
  // the limit kept 640 MiB resident; read as they are, they take a few kilobytes.
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("crm_file_limit_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<crm::Input> inputs;
  for (int i = 0; i < 20; ++i) {
    fs::path f = dir / ("m" + std::to_string(i) + ".crm");
    std::ofstream(f) << "segment s" << i << " = true\n";
    inputs.push_back({f.string(), std::nullopt});
  }
  auto resident_mib = [] {
    long pages = 0, resident = 0;
    std::ifstream("/proc/self/statm") >> pages >> resident;
    return resident * sysconf(_SC_PAGESIZE) / (1 << 20);
  };
  long before = resident_mib();
  crm::DriverOptions o;
  o.load.parse.max_file_bytes = size_t(32) << 20;
  auto c = crm::compile(inputs, o);
  long after = resident_mib();
  fs::remove_all(dir);
  EXPECT_FALSE(c->sink.has_errors());
  EXPECT_LT(after - before, 64) << "resident grew by " << (after - before) << " MiB";
}

TEST(Checker, AnEmptyCollectionWithoutAnElementTypeIsAnErrorAtTheLiteral) {
  // `const e = {}` was `Set<<error>>` with no diagnostic: every `in` accepted it and `len(e)`
  // failed in the code generator (E0112).
  using V = std::vector<std::string>;
  EXPECT_EQ(check("const e = {}\n").codes(), V{"E0426"});
  EXPECT_EQ(check("const e = []\n").codes(), V{"E0426"});
  EXPECT_EQ(check("segment s = len({}) == 0\n").codes(), V{"E0426"});
  EXPECT_EQ(check("segment s = len([]) == 0\n").codes(), V{"E0426"});
  EXPECT_EQ(check("const e = {{}}\n").codes(), V{"E0426"});
  EXPECT_EQ(check("const e = {}\nsegment s = age in e and len(e) == 0\n").codes(), V{"E0426"});
  // Where the context gives the element type, the empty collection takes it.
  auto typed = check("const e: Set<Int> = {}\nconst l: List<String> = []\nsegment s = age in e and len(l) == 0\n");
  EXPECT_EQ(typed.codes(), V{});
  EXPECT_EQ(typed.type("e"), "Set<Int>");
  EXPECT_EQ(typed.type("l"), "List<String>");
  auto in = check("segment s = age in {}\nsegment t = age + 1 not in {}\n");
  EXPECT_EQ(in.codes(), V{});
  EXPECT_EQ(check("fn f(x: Set<Int>): Int = len(x)\nsegment s = f({}) == 0\n").codes(), V{});
  EXPECT_EQ(check("fn f(x: Set<Int> = {}): Int = len(x)\nsegment s = f() == 0\n").codes(), V{});
}

TEST(Checker, W0101InSegments) {
  // A constant segment (`1 > 2`) and contradictory conditions warn; `true` as written and a
  // constant flag named in it are meant.
  auto c = check("segment v = 1 > 2\nsegment x = age > 1 and age < 0\nsegment everyone = true\n"
                 "segment off = false and age > 1\nconst enabled = false\nsegment flag = enabled and age > 1\n");
  auto codes = c.codes();
  EXPECT_EQ(std::count(codes.begin(), codes.end(), "W0101"), 2) << ::testing::PrintToString(codes);
}

// A field compared with itself has one result for every user who has a value for it: W0101 in
// a segment as in a `who:`; a strategy that never fires has no W0105. But reading a required
// field without a default (`age`, `city`) fails for a user known only from events, so
// `age == age` is not `true` for everyone: it was folded to `true` and granted users without an
// `age`. Such a comparison is left to run time; the never-true ones (`age > age`, `city != city`)
// are still proved never true by the constraint analysis (W0101 in a segment, W0106 in a
// strategy), the always-true ones say nothing.
TEST(Checker, W0101ForAFieldComparedWithItself) {
  auto c = check("segment t = age > age\nsegment u = age == age\nsegment v = age >= age and city != city\n"
                 "segment w = age > 1\nsegment l = level == level\nsegment g = gender == gender and level <= level\n"
                 "segment n = not (age == age)\n"
                 "resource push p { title: \"t\"  body: \"b\" }\n"
                 "strategy y for business \"m\" {\n    who: age < age\n    when: on Order\n    what: send p via Push\n}\n"
                 "strategy r for business \"m\" {\n    who: age > 3\n    when: on Order\n    what: send p via Push\n}\n");
  auto codes = c.codes();
  // t, v, n (never true), l and g (folded: `level` has a default, `gender` is optional).
  EXPECT_EQ(std::count(codes.begin(), codes.end(), "W0101"), 5) << ::testing::PrintToString(codes);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), "W0106"), 1) << ::testing::PrintToString(codes);  // y
  EXPECT_EQ(std::count(codes.begin(), codes.end(), "W0105"), 0) << ::testing::PrintToString(codes);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), "E0416"), 0) << ::testing::PrintToString(codes);
  for (const char* folded : {"t", "u", "v", "n"}) EXPECT_EQ(c.folded(folded), "<not constant>") << folded;
  EXPECT_EQ(c.folded("l"), "true");
  EXPECT_EQ(c.folded("g"), "true");
  for (const auto& d : c.c->sink.diagnostics())
    if (crm::diag::info(d.code).name == std::string("W0101")) {
      EXPECT_EQ(d.message.find("segment `u`"), std::string::npos) << "`age == age` is no W0101: " << d.message;
    }
}

// A `const` is known when the program is compiled: one that reads a field is E0416 even where
// the comparison folds (`level > level`), and `age > age` is no constant at all (it was folded
// to `false`, a constant for every user, though reading `age` fails for some).
TEST(Checker, AConstThatReadsAFieldIsNoConstant) {
  for (const char* body : {"const k = age > age\n", "const k = level > level\n", "const k = false and age > 1\n",
                           "const k = city != city\n"}) {
    auto c = check(body);
    EXPECT_EQ(c.codes(), std::vector<std::string>{"E0416"}) << body;
  }
  EXPECT_EQ(check("const k = 1 > 2\nconst j = not k\nsegment s = j and age > 1\n").codes(), std::vector<std::string>{});
}

TEST(Conflicts, StrategiesThatNeverFireConflictWithNone) {
  // W0105 was reported between `y` (`who: 1 > 2`) and `q` (a reversed `between`), both W0101.
  const char* body = R"(
resource push p { title: "t"  body: "b" }
strategy y for business "m" {
    who: 1 > 2
    when: on Order
    what: send p via Push
}
strategy q for business "m" {
    who: age between 5 and 1 and city == "x"
    when: on Order
    what: send p via Push
}
strategy r for business "m" {
    who: age > 3
    when: on Order
    what: send p via Push
}
)";
  auto c = check(body);
  auto codes = c.codes();
  EXPECT_EQ(std::count(codes.begin(), codes.end(), "W0105"), 0) << ::testing::PrintToString(codes);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), "W0101"), 2) << ::testing::PrintToString(codes);
}

TEST(Checker, OneMisspeltArgumentNameIsOneError) {
  // `f(y: 1)` was also "missing argument `x`": the did-you-mean says it.
  auto c = check("fn f(x: Int): Int = x\nsegment s = f(y: 1) > 1\n");
  ASSERT_EQ(c.codes(), std::vector<std::string>{"E0409"});
  EXPECT_EQ(c.c->sink.diagnostics()[0].help, "did you mean `x`?");
  // A parameter nobody meant is still missing.
  auto two = check("fn f(x: Int, z: Int): Int = x + z\nsegment s = f(y: 1) > 1\n");
  EXPECT_EQ(two.codes(), (std::vector<std::string>{"E0409", "E0409"}));
}

TEST(Checker, TimeLiteralsTakeFractionalSeconds) {
  // As event data does (`"time": "...:30.5+08:00"`); it was two unrelated syntax errors.
  auto c = check("const t = 2026-01-01T00:00:30.5+08:00\nconst u = 2026-01-01T00:00:30+08:00\n"
                 "const later = t > u\nconst v = 2026-01-01T00:00:30.25Z < 2026-01-01T00:00:30.3Z\n");
  ASSERT_TRUE(c.codes().empty());
  EXPECT_EQ(c.folded("later"), "true");
  EXPECT_EQ(c.folded("v"), "true");
  EXPECT_EQ(check("const t = 2026-01-01T00:00:30.1234567Z\n").codes(), std::vector<std::string>{"E0104"});
}

TEST(Checker, NumberLimitHelpGivesTheRealBound) {
  auto ok = check("const x = 1000000000000 CNY\nconst y = 9000000000000.5\n");
  EXPECT_TRUE(ok.codes().empty());
  auto c = check("const z = 90000000000000 CNY\n");
  ASSERT_EQ(c.codes(), std::vector<std::string>{"E0104"});
  EXPECT_NE(c.c->sink.diagnostics()[0].help.find("9223372036854.775807"), std::string::npos);
}

TEST(Checker, DidYouMeanNeverSuggestsACycle) {
  // `segment s = b`: "did you mean `s`?" named the segment being defined (then E0412).
  auto c = check("segment s = sx\n");
  ASSERT_EQ(c.codes(), std::vector<std::string>{"E0204"});
  EXPECT_EQ(c.c->sink.diagnostics()[0].help.find("`s`"), std::string::npos) << c.c->sink.diagnostics()[0].help;
  auto dep = check("segment ab = ac and age > 1\nsegment ac = ab2\n");
  ASSERT_EQ(dep.codes(), std::vector<std::string>{"E0204"});
  EXPECT_EQ(dep.c->sink.diagnostics()[0].help.find("`ab`"), std::string::npos) << dep.c->sink.diagnostics()[0].help;
}
