// messages_test.cc - issue 13 items 2 and 3: SMS segment counting (GSM-7 and UCS-2), message
// texts rendered from the profile, message costs reserved from the budget (held messages
// included, across a restart), `{field}` placeholders as uses of the field for the editor, and
// percentage discounts with a cap (exact subsidy, rounded half to even to the minor unit).
#include <crm/runtime.h>
#include <crm/workspace.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "sqlite_helpers.h"
#include "compile_helpers.h"
#include "compiler/sema/message_template.h"
#include "runtime/engine/redemption.h"
#include "runtime/state/state_store.h"
#include "support/currency.h"
#include "support/sms.h"

namespace {

using crm::support::sms_size;
using crm::testing::Compiled;
using crm::testing::compile_text;
using crm::testing::Harness;

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST(Sms, GsmSevenIsOneSegmentUpTo160AndThen153Each) {
  EXPECT_EQ(sms_size("").segments, 1);
  EXPECT_EQ(sms_size(repeat("a", 160)).segments, 1);
  EXPECT_TRUE(sms_size(repeat("a", 160)).gsm7);
  EXPECT_EQ(sms_size(repeat("a", 161)).segments, 2);
  EXPECT_EQ(sms_size(repeat("a", 306)).segments, 2);
  EXPECT_EQ(sms_size(repeat("a", 307)).segments, 3);
  // The whole default alphabet is GSM-7: Greek capitals, accented letters, £ ¥ § ¿ ¡ ß Ø.
  auto s = sms_size("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");
  EXPECT_TRUE(s.gsm7);
  EXPECT_EQ(s.units, 127);
}

TEST(Sms, ExtensionCharactersCountTwoSeptetsAndAreNeverSplit) {
  auto s = sms_size("{[€]}");
  EXPECT_TRUE(s.gsm7);
  EXPECT_EQ(s.units, 10);
  EXPECT_EQ(sms_size(repeat("€", 80)).segments, 1);   // 160 septets
  EXPECT_EQ(sms_size(repeat("€", 80) + "a").segments, 2);
  // 152 septets then an escape pair: the pair does not fit in 153 and starts the next part.
  EXPECT_EQ(sms_size(repeat("a", 152) + "€" + repeat("a", 152)).segments, 3);
  EXPECT_EQ(sms_size(repeat("a", 151) + "€" + repeat("a", 153)).segments, 2);
}

TEST(Sms, AnyOtherCharacterMakesTheTextUcs2) {
  auto s = sms_size("hello `world`");  // a backtick is not in the GSM-7 alphabet
  EXPECT_FALSE(s.gsm7);
  EXPECT_EQ(s.units, 13);
  EXPECT_EQ(sms_size(repeat("好", 70)).segments, 1);
  EXPECT_EQ(sms_size(repeat("好", 71)).segments, 2);
  EXPECT_EQ(sms_size(repeat("好", 134)).segments, 2);
  EXPECT_EQ(sms_size(repeat("好", 135)).segments, 3);
  // An emoji is a surrogate pair: two units, never split between parts.
  auto e = sms_size(repeat("😀", 35));
  EXPECT_EQ(e.units, 70);
  EXPECT_EQ(e.segments, 1);
  EXPECT_EQ(sms_size("a" + repeat("😀", 35)).segments, 2);
  EXPECT_EQ(sms_size(repeat("a", 66) + "😀" + repeat("a", 66)).segments, 3);  // the pair does not fit at 66
}

TEST(Templates, PlaceholdersDefaultsAndLiteralBraces) {
  std::optional<crm::sema::TemplateError> err;
  auto p = crm::sema::parse_template("Hi {nickname|friend}, {{x}} {city}}", err);
  ASSERT_FALSE(err);
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[0].literal, "Hi ");
  EXPECT_TRUE(p[1].is_field && p[1].has_fallback);
  EXPECT_EQ(p[1].field, "nickname");
  EXPECT_EQ(p[1].fallback, "friend");
  EXPECT_EQ(p[1].field_at, 4u);
  EXPECT_EQ(p[2].literal, ", {x} ");
  EXPECT_EQ(p[3].field, "city");
  EXPECT_FALSE(p[3].has_fallback);
  EXPECT_EQ(p[4].literal, "}");
  crm::sema::parse_template("a { b }", err);
  EXPECT_TRUE(err);
  crm::sema::parse_template("a {b", err);
  EXPECT_TRUE(err);
}

namespace {

const char* kMessages = R"(
profile { nickname: String  city: String?  level: Int = 2  balance: Money(CNY)? }
event Visit { page: String }
resource sms hi { text: "Hi {nickname} from {city|nowhere} ({level}, {balance|0}) {{ok}}" cost: 0.05 CNY }
strategy greet for business "mall" {
    who: true
    when: on Visit
    what: send hi via SMS
    how much: budget 0.15 CNY
}
)";

std::string visit(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"type":"Visit","id":")" + id + R"(","user":")" + user + R"(","time":")" + time + R"(","page":"home"})";
}

}  // namespace

TEST(Messages, TextsAreRenderedFromTheProfileLiterally) {
  Compiled c = compile_text(kMessages);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  std::string err;
  ASSERT_TRUE(h.engine.load_profile_line(R"({"user":"ann","nickname":"{city}","city":"Wuhan","balance":12.5})", err)) << err;
  auto out = h.process(visit("e1", "ann", "2026-06-01T08:00:00Z"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome, crm::engine::Outcome::Granted);
  EXPECT_EQ(out[0].text, "Hi {city} from Wuhan (2, 12.50 CNY) {ok}");
  EXPECT_EQ(out[0].segments, 1);
  EXPECT_EQ(out[0].amount, 50000);
  // No profile: the required nickname is missing, and the text has no default for it.
  out = h.process(visit("e2", "bob", "2026-06-01T08:00:00Z"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, crm::engine::Reason::MissingField);
  EXPECT_EQ(out[0].amount, 0);
}

TEST(Messages, LongSmsCostsPerSegmentAndTheBudgetRefusesWhatDoesNotFit) {
  Compiled c = compile_text(kMessages);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  std::string err;
  ASSERT_TRUE(h.engine.load_profile_line(R"({"user":"ann","nickname":")" + repeat("n", 150) + R"("})", err)) << err;
  auto out = h.process(visit("e1", "ann", "2026-06-01T08:00:00Z"));  // 2 segments: 0.10
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].segments, 2);
  EXPECT_EQ(out[0].amount, 100000);
  out = h.process(visit("e2", "ann", "2026-06-01T09:00:00Z"));  // 0.10 more does not fit 0.15
  EXPECT_EQ(out[0].reason, crm::engine::Reason::Budget);
}

// The budget is recounted from the ledger: message costs, held ones included, reserve once.
TEST(Messages, CostsSurviveARestart) {
  Compiled c = compile_text(std::string(kMessages) + "policy night { quiet between 22:00 and 08:00; }\n");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const std::string profile = R"({"user":"ann","nickname":"Ann"})";
  const std::vector<std::pair<std::string, std::string>> events = {
      {"e1", "2026-06-01T23:00:00Z"},  // quiet: held, 0.05 reserved now
      {"e2", "2026-06-02T09:00:00Z"},  // releases e1's (no second reservation), sends e2's: 0.10
      {"e3", "2026-06-02T10:00:00Z"},  // 0.15
      {"e4", "2026-06-02T11:00:00Z"}};  // budget
  std::string err;
  std::vector<std::string> reference;
  {
    crm::state::MemoryStore fresh;
    Harness h(c);
    ASSERT_TRUE(h.engine.load_profile_line(profile, err)) << err;
    ASSERT_TRUE(h.engine.attach(&fresh, err)) << err;
    for (auto& [id, t] : events)
      for (auto& j : h.feed(visit(id, "ann", t))) reference.push_back(j);
  }
  ASSERT_EQ(reference.size(), 5u);
  EXPECT_NE(reference[0].find("\"outcome\":\"held\""), std::string::npos) << reference[0];
  EXPECT_NE(reference[0].find("\"cost\":\"0.05\""), std::string::npos) << reference[0];
  EXPECT_EQ(reference[1].find("\"cost\""), std::string::npos) << reference[1];  // the release
  EXPECT_NE(reference[4].find("\"reason\":\"budget\""), std::string::npos) << reference[4];
  for (size_t stop = 1; stop < events.size(); ++stop) {
    SCOPED_TRACE(stop);
    crm::state::MemoryStore store;
    {
      Harness h(c);
      ASSERT_TRUE(h.engine.load_profile_line(profile, err)) << err;
      ASSERT_TRUE(h.engine.attach(&store, err)) << err;
      for (size_t i = 0; i < stop; ++i) h.feed(visit(events[i].first, "ann", events[i].second));
      ASSERT_TRUE(h.engine.commit(err)) << err;
    }
    Harness h(c);
    ASSERT_TRUE(h.engine.load_profile_line(profile, err)) << err;
    ASSERT_TRUE(h.engine.attach(&store, err)) << err;
    std::vector<std::string> restarted;
    for (auto& [id, t] : events)
      for (auto& j : h.feed(visit(id, "ann", t))) restarted.push_back(j);
    EXPECT_EQ(restarted, reference);
  }
}

// A held message's cost is reserved once, when it is held; its release records none, and a
// release that a policy refuses (the SMS cap filled by the first release) does not return it.
TEST(Messages, HeldMessagesReserveTheirCostOnce) {
  Compiled c = compile_text(R"(
profile { nickname: String }
event Visit { page: String }
resource sms hi { text: "Hi {nickname}" cost: 0.05 CNY }
policy night { quiet between 22:00 and 08:00; SMS <= 1 per 1 day }
strategy greet for business "mall" {
    who: true
    when: on Visit
    what: send hi via SMS
    how much: budget 0.10 CNY
}
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  std::string err;
  ASSERT_TRUE(h.engine.load_profile_line(R"({"user":"ann","nickname":"Ann"})", err)) << err;
  using crm::engine::Outcome;
  using crm::engine::Reason;
  auto out = h.process(visit("v1", "ann", "2026-06-01T23:00:00Z"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome, Outcome::Held);
  EXPECT_EQ(out[0].amount, 50000);
  EXPECT_EQ(out[0].text, "Hi Ann");
  out = h.process(visit("v2", "ann", "2026-06-01T23:30:00Z"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome, Outcome::Held);
  EXPECT_EQ(out[0].amount, 50000);  // the 0.10 budget is now fully reserved
  // 09:00: both releases (08:00) first: the first is sent at no further cost, the second is
  // refused by the cap; then v3 finds the budget spent although one SMS went out.
  out = h.process(visit("v3", "ann", "2026-06-02T09:00:00Z"));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].outcome, Outcome::Granted);
  EXPECT_TRUE(out[0].released);
  EXPECT_EQ(out[0].amount, 0);
  EXPECT_EQ(out[1].outcome, Outcome::Rejected);
  EXPECT_EQ(out[1].reason, Reason::ChannelCap);
  EXPECT_EQ(out[2].reason, Reason::Budget);
  EXPECT_EQ(h.engine.decision_json(out[0]).find("\"cost\""), std::string::npos) << h.engine.decision_json(out[0]);
}

// Issue 13 items 2 and 3 through the C++ API and a SQLite ledger: a percentage coupon reserves its
// cap and a message its cost; a redemption pays less than the cap and returns nothing to the
// budget; a runtime restarted from the ledger at any point decides the rest as one that never
// stopped (the recounted budget holds both caps and both costs, so cat is refused).
TEST(PercentDiscount, CapsAndMessageCostsAreRestoredFromTheLedger) {
  const std::string src = R"(
profile { nickname: String }
event Signup { source: String }
event Order { amount: Money(CNY)  coupon: String? }
resource coupon ten_pct { discount: 10% up to 20 CNY }
resource sms hi { text: "Hi {nickname}" cost: 0.05 CNY }
strategy welcome for business "mall" {
    who: true
    when: on Signup
    what: grant ten_pct via App, send hi via SMS
    how much: budget 40.10 CNY
}
)";
  auto compiled = crm::compile_sources({{"percent_restart.crm", src}});
  ASSERT_TRUE(compiled.diagnostics.ok()) << compiled.diagnostics.render_text();
  const std::vector<std::string> profiles = {R"({"user":"ann","nickname":"Ann"})", R"({"user":"bob","nickname":"Bob"})",
                                             R"({"user":"cat","nickname":"Cat"})"};
  auto signup = [](const std::string& id, const std::string& user, const std::string& time) {
    return R"({"type":"Signup","id":")" + id + R"(","user":")" + user + R"(","time":")" + time + R"(","source":"app"})";
  };
  auto order = [](const std::string& id, const std::string& user, const std::string& time) {
    return R"({"type":"Order","id":")" + id + R"(","user":")" + user + R"(","time":")" + time +
           R"(","amount":10,"coupon":"ten_pct"})";
  };
  const std::vector<std::string> events = {
      signup("s1", "ann", "2026-06-01T08:00:00Z"), signup("s2", "bob", "2026-06-01T09:00:00Z"),
      order("o1", "ann", "2026-06-02T08:00:00Z"),  // subsidy 1 CNY of the 20 reserved
      order("o2", "bob", "2026-06-02T09:00:00Z"), signup("s3", "cat", "2026-06-03T08:00:00Z")};
  auto start = [&](crm::Runtime& rt, const std::string& state) {
    std::string err;
    ASSERT_TRUE(rt.open_state(state, err)) << err;
    for (const auto& p : profiles) ASSERT_TRUE(rt.load_profile(p, err)) << err;
  };
  std::vector<crm::Decision> reference;
  {
    crm::Runtime rt(compiled.program);
    start(rt, "memory");
    for (const auto& e : events) {
      crm::Error error;
      ASSERT_TRUE(rt.process_event(e, reference, error)) << error.message;
    }
  }
  ASSERT_EQ(reference.size(), 8u);
  using O = crm::Decision::Outcome;
  EXPECT_EQ(reference[0].outcome, O::Granted);
  EXPECT_TRUE(reference[0].has_percent);
  EXPECT_EQ(reference[0].percent_millionths, 100000);
  EXPECT_EQ(reference[0].amount_millionths, 20'000000);  // the cap
  EXPECT_EQ(reference[1].resource, "hi");
  EXPECT_EQ(reference[1].text, "Hi Ann");
  EXPECT_EQ(reference[1].segments, 1);
  EXPECT_TRUE(reference[1].has_cost);
  EXPECT_EQ(reference[1].cost_millionths, 50000);
  EXPECT_EQ(reference[4].outcome, O::Redeemed);
  EXPECT_EQ(reference[4].amount_millionths, 1'000000);  // 10% of 10 CNY
  EXPECT_EQ(reference[6].reason, "budget");
  EXPECT_EQ(reference[7].reason, "budget");
  for (size_t stop = 1; stop < events.size(); ++stop) {
    SCOPED_TRACE(stop);
    const std::string path = ::testing::TempDir() + "crm_percent_restart_" + std::to_string(stop) + ".db";
    crm::testing::remove_ledger_files(path);
    std::vector<crm::Decision> got;
    crm::Error error;
    {
      crm::Runtime rt(compiled.program);
      start(rt, "sqlite:" + path);
      for (size_t i = 0; i < stop; ++i) ASSERT_TRUE(rt.process_event(events[i], got, error)) << error.message;
    }
    crm::Runtime rt(compiled.program);
    start(rt, "sqlite:" + path);
    for (size_t i = stop; i < events.size(); ++i) ASSERT_TRUE(rt.process_event(events[i], got, error)) << error.message;
    ASSERT_EQ(got.size(), reference.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].json, reference[i].json) << i;
  }
}

TEST(Messages, PlaceholdersAreReferencesOfTheField) {
  crm::Workspace ws;
  const std::string path = "/nonexistent-crm-messages-test/m.crm";
  ws.open(path,
          "profile { nickname: String }\n"
          "resource sms hi { text: \"Hi \\\"{nickname}\\\" and {nickname|you}\" }\n");
  auto refs = ws.references(path, {0, 12}, true);
  ASSERT_EQ(refs.size(), 3u);
  std::set<uint32_t> columns;
  for (const auto& l : refs) {
    if (l.range.start.line == 1) columns.insert(l.range.start.character);
    EXPECT_EQ(l.range.end.character - l.range.start.character, 8u);
  }
  // `resource sms hi { text: "Hi \"{` is 31 characters; the second name follows `}\" and {`.
  EXPECT_EQ(columns, (std::set<uint32_t>{31, 48}));
}

TEST(PercentDiscount, SubsidyIsExactAndRoundedHalfToEvenToTheMinorUnit) {
  using R = crm::engine::Redemptions;
  const int64_t ten = 100000, cap = 20'000000;
  EXPECT_EQ(R::percent_subsidy(123'450000, ten, 2, cap), 12'340000);  // 12.345 -> 12.34
  EXPECT_EQ(R::percent_subsidy(123'550000, ten, 2, cap), 12'360000);  // 12.355 -> 12.36
  EXPECT_EQ(R::percent_subsidy(123'560000, ten, 2, cap), 12'360000);  // 12.356 -> 12.36
  EXPECT_EQ(R::percent_subsidy(350'000000, ten, 2, cap), cap);
  EXPECT_EQ(R::percent_subsidy(0, ten, 2, cap), 0);
  // Yen have no minor unit: 15% of 1,050 JPY is 157.5 -> 158; of 1,030, 154.5 -> 154.
  EXPECT_EQ(R::percent_subsidy(1050'000000, 150000, 0, 1000'000000), 158'000000);
  EXPECT_EQ(R::percent_subsidy(1030'000000, 150000, 0, 1000'000000), 154'000000);
  // Three decimals (KWD): 12.5% of 1.001 is 0.125125 -> 0.125.
  EXPECT_EQ(R::percent_subsidy(1'001000, 125000, 3, 1'000000), 125000);
  // The largest amounts do not overflow the exact product: 50% of 9,223,372,036,854.775807 is
  // ...427.3879035 -> .39; 100% rounds up past the largest amount and stops at the cap.
  EXPECT_EQ(R::percent_subsidy(INT64_MAX, 500000, 2, INT64_MAX), 4611686018427'390000);
  EXPECT_EQ(R::percent_subsidy(INT64_MAX, 1'000000, 2, INT64_MAX), INT64_MAX);
  EXPECT_EQ(crm::support::minor_unit_digits("CNY"), 2);
  EXPECT_EQ(crm::support::minor_unit_digits("JPY"), 0);
  EXPECT_EQ(crm::support::minor_unit_digits("KWD"), 3);
}
