// delivery_history_test.cc - `received(...)` and `redeemed(...)` (docs/semantics.md, "Delivery
// history"): the incremental aggregates equal a recount of the decisions, the same-unit order
// rule, and restarts from the ledger (engine and public API) at every point of a stream.
#include <crm/runtime.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "compile_helpers.h"
#include "history_helpers.h"
#include "runtime/state/state_store.h"
#include "tests/reference/ast_evaluator.h"

namespace {

using crm::testing::Compiled;
using Replay = crm::testing::Harness;

// Only delivery history decides here (no event aggregate), so a restart fed only the events
// after the cut must decide exactly as the uninterrupted run: what it knows of the past comes
// from the ledger alone. Quiet hours hold `tip` at night: a held message's delivery counts
// when it is held.
const char* kProgram = R"(
event Visit { page: String }
event Order { amount: Money(CNY)  coupon: String? }
resource coupon w10 { discount: 10 CNY  use: within 3 days after claim }
resource push hello { body: "hello" }
resource push tip { body: "tip" }
resource push back { body: "back" }
strategy greet { who: not received(welcome)  when: on Visit  what: send hello via Push  priority: 9 }
strategy welcome { who: true  when: on Visit  what: grant w10 via App code "W10"  how much: per user 1 per 2 days  priority: 5 }
strategy tip_s { who: received(welcome) and count(received(resource: w10) within 2 days) == 1 and not exists(redeemed(w10))
                 when: on Visit  what: send tip via Push code "TIP"  how much: per user 1 per day  priority: 1 }
strategy back_s { who: not exists(received(channel: Push) within 1 day) and count(redeemed(welcome)) >= 1
                  when: on Order  what: send back via Push  priority: 0 }
policy night { quiet between 22:00 and 07:00 }
)";

std::string visit(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"id":")" + id + R"(","type":"Visit","user":")" + user + R"(","time":")" + time + R"(","page":"home"})";
}
std::string order(const std::string& id, const std::string& user, const std::string& time, bool coupon) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time + R"(","amount":50)" +
         (coupon ? R"(,"coupon":"W10")" : "") + "}";
}

std::vector<std::string> stream() {
  return {visit("v1", "a", "2026-01-01T10:00:00Z"),  visit("v2", "b", "2026-01-01T23:00:00Z"),  // b: tip held
          order("o1", "a", "2026-01-02T09:00:00Z", true), visit("v3", "a", "2026-01-02T12:00:00Z"),
          visit("v4", "b", "2026-01-03T08:00:00Z"), order("o3", "b", "2026-01-03T09:00:00Z", true),
          order("o2", "a", "2026-01-03T12:00:00Z", false), visit("v5", "a", "2026-01-05T10:00:00Z"),
          order("o4", "b", "2026-01-05T11:00:00Z", false), visit("v6", "b", "2026-01-06T23:30:00Z")};
}

std::vector<std::string> run(const Compiled& c, crm::state::StateStore& store, const std::vector<std::string>& events,
                             size_t from, size_t to) {
  Replay r(c);
  std::string err;
  EXPECT_TRUE(r.engine.attach(&store, err)) << err;
  std::vector<std::string> out;
  for (size_t i = from; i < to; ++i)
    for (auto& d : r.feed(events[i])) out.push_back(d);
  EXPECT_TRUE(r.engine.commit(err)) << err;
  return out;
}

}  // namespace

// Each restart point, two ways: fed the whole input again (decided units are answered from the
// ledger), and fed only the events after the cut (the history comes from the ledger alone).
TEST(DeliveryHistory, SurvivesARestartAtEveryPoint) {
  Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  auto events = stream();
  crm::state::MemoryStore reference_store;
  std::vector<std::string> reference = run(c, reference_store, events, 0, events.size());
  auto count = [&](const std::vector<std::string>& v, const std::string& what) {
    return std::count_if(v.begin(), v.end(), [&](const std::string& d) { return d.find(what) != std::string::npos; });
  };
  // The history decides: greet once per user, tip after welcome, back after a redemption.
  EXPECT_EQ(count(reference, R"("strategy":"greet","outcome":"granted")"), 2);
  EXPECT_EQ(count(reference, R"("strategy":"tip_s","outcome":"held")"), 1);
  EXPECT_GE(count(reference, R"("strategy":"back_s","outcome":"granted")"), 1);
  EXPECT_EQ(count(reference, R"("outcome":"redeemed")"), 2);
  for (size_t cut = 0; cut <= events.size(); ++cut) {
    SCOPED_TRACE("restart after " + std::to_string(cut) + " events");
    {
      crm::state::MemoryStore store;
      run(c, store, events, 0, cut);
      EXPECT_EQ(run(c, store, events, 0, events.size()), reference);
    }
    {
      crm::state::MemoryStore store;
      std::vector<std::string> out = run(c, store, events, 0, cut);
      auto rest = run(c, store, events, cut, events.size());
      out.insert(out.end(), rest.begin(), rest.end());
      EXPECT_EQ(out, reference);
    }
  }
}

// The same through the public API with a SQLite ledger: a second crm::Runtime on the ledger
// continues with the first one's deliveries in received(...).
TEST(DeliveryHistory, TheCppApiRestoresItFromASqliteLedger) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) / "crm_delivery_history";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "p.crm") << kProgram;
  auto compiled = crm::compile_files({(dir / "p.crm").string()});
  ASSERT_TRUE(compiled.program.valid());
  auto events = stream();
  auto feed = [&](const std::string& state, size_t from, size_t to) {
    crm::Runtime rt(compiled.program);
    std::string err;
    EXPECT_TRUE(rt.open_state(state, err)) << err;
    std::vector<std::string> out;
    for (size_t i = from; i < to; ++i) EXPECT_TRUE(rt.process_event(events[i], out, err)) << err;
    EXPECT_TRUE(rt.finish(out, err)) << err;
    return out;
  };
  auto reference = feed("sqlite:" + (dir / "ref.db").string(), 0, events.size());
  auto first = feed("sqlite:" + (dir / "cut.db").string(), 0, 4);
  auto second = feed("sqlite:" + (dir / "cut.db").string(), 4, events.size());
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(first, reference);
  fs::remove_all(dir);
}

// Within one event, a strategy sees the deliveries of the strategies decided before it (higher
// priority, then name) and not those decided after it.
TEST(DeliveryHistory, LaterStrategiesOfAUnitSeeEarlierDeliveries) {
  Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Replay r(c);
  auto out = r.feed(visit("v1", "a", "2026-01-01T10:00:00Z"));
  ASSERT_EQ(out.size(), 3u);
  // greet (9) before welcome (5): not received(welcome) still held; tip (1) after: it had.
  EXPECT_NE(out[0].find(R"("strategy":"greet","outcome":"granted")"), std::string::npos) << out[0];
  EXPECT_NE(out[1].find(R"("strategy":"welcome","outcome":"granted")"), std::string::npos) << out[1];
  EXPECT_NE(out[2].find(R"("strategy":"tip_s","outcome":"granted")"), std::string::npos) << out[2];
}

// The engine's incremental aggregates against the definition: random streams over several
// strategies, every user's history recounted from the decisions by the reference evaluator, at
// several instants, for every window kind and filter.
TEST(DeliveryHistory, IncrementalAggregatesEqualARecountOfTheDecisions) {
  std::string program = kProgram;
  const char* exprs[] = {
      "received(welcome)", "count(received())", "count(received() within 1 day)", "count(received(resource: w10) last 2)",
      "count(received(channel: Push) previous)", "count(received(greet) previous 1)",
      "count(received(code: \"TIP\") since 2026-01-03T00:00Z)", "count(redeemed(w10))", "exists(redeemed(welcome) within 2 days)",
      "count(received(tip_s, channel: Push) within 3 days)", "count(received(welcome, resource: hello))"};
  for (size_t i = 0; i < std::size(exprs); ++i) program += "segment h" + std::to_string(i) + " = " + exprs[i] + " == " + exprs[i] + "\n";
  Compiled c = crm::testing::compile_text(program);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& prog = c.program();
  // Point each segment at its left side, so its unit computes the history's value.
  std::map<std::string, const crm::ast::Expr*> expr_of;
  for (auto& m : c.front->program.modules)
    for (crm::ast::Decl* d : m.ast->decls)
      if (d->kind == crm::ast::DeclKind::Segment) {
        auto* s = static_cast<crm::ast::SegmentDecl*>(d);
        s->value = static_cast<crm::ast::BinaryExpr*>(s->value)->lhs;
        expr_of[s->name] = s->value;
      }
  // Regenerated after pointing: each segment's unit computes the history's value, not `x == x`.
  auto compiled = crm::codegen::generate(c.front->program);
  ASSERT_EQ(compiled.error, "");
  std::map<std::string, uint32_t> unit_of;
  for (const auto& s : compiled.program.segments) unit_of[s.name] = s.unit;
  crm::engine::Engine eng(compiled.program);
  std::mt19937_64 rng(7);
  const int64_t base = crm::testing::T("2026-01-01T00:00:00Z"), hour = 3600LL * 1000000;
  std::vector<std::pair<int64_t, std::string>> evs;
  for (int i = 0; i < 400; ++i) {
    int64_t t = base + static_cast<int64_t>(rng() % (24 * 20)) * hour;
    std::string user = "u" + std::to_string(rng() % 12);
    std::string time = crm::support::format_time(t);
    evs.push_back({t, rng() % 3 ? visit("e" + std::to_string(i), user, time) : order("e" + std::to_string(i), user, time, rng() % 2)});
  }
  std::stable_sort(evs.begin(), evs.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::map<std::string, std::vector<crm::vm::HistoryRecord>> history;
  crm::vm::AstEvaluator ast(c.front->program, compiled);
  size_t compared = 0, nonzero = 0;
  auto compare_all = [&](int64_t now) {
    for (const auto& user : eng.users())
      for (size_t i = 0; i < std::size(exprs); ++i) {
        std::string seg = "h" + std::to_string(i);
        int64_t v = 0, want = 0;
        std::string err;
        ASSERT_TRUE(eng.evaluate(unit_of.at(seg), user, now, v, err)) << err;
        crm::vm::AstEnv env;
        env.now = now;
        env.strings = &eng.strings();
        env.history = &history[user];
        env.aggregate = [&](uint32_t g) { return eng.aggregate_of(user, g, now); };
        ASSERT_TRUE(ast.eval(expr_of.at(seg), env, want, err)) << err;
        EXPECT_EQ(v, want) << user << " at " << crm::support::format_time(now) << ": " << exprs[i];
        ++compared;
        nonzero += want != 0;
      }
  };
  for (size_t k = 0; k < evs.size(); ++k) {
    crm::engine::Event ev;
    std::string err;
    ASSERT_TRUE(eng.parse_event(evs[k].second, ev, err)) << err;
    std::vector<crm::engine::Decision> out;
    ASSERT_TRUE(eng.process(ev, out, err)) << err;
    crm::testing::record_history(prog, out, history);
    if (k % 50 == 49) compare_all(evs[k].first);
  }
  compare_all(evs.back().first);
  EXPECT_GT(compared, 1000u);
  EXPECT_GT(nonzero, compared / 4);
}

// Messages and points are never redeemed (docs/language.md 3.4.1): an order whose coupon names a
// push, an e-mail or points (the resource or an action code only they carry) designates no CRM
// coupon and is ignored; a code shared by a coupon and the push announcing it redeems the coupon.
// Before, o1 "redeemed" the push (subsidy 0) while the coupon stayed open for o2, and o3, o4, r1
// wrote `redeemed` rows of the e-mail, the push and the points. The same at every restart point
// (the push is restored from the ledger with the coupon), and the reference recount of the
// redemptions (history_helpers.h) agrees with the engine's `redeemed(...)`.
TEST(DeliveryHistory, OnlyCouponsAreRedeemedEvenWhenAMessageSharesTheirCode) {
  const char* program = R"(
event S { n: Int = 0 }
event Order { amount: Money(CNY)  coupon: String? }
event Redeem { resource: String?  code: String? }
resource coupon c { discount: 5 CNY  threshold: 20 CNY }
resource push p { body: "5 CNY off" }
resource email m { body: "5 CNY off" }
resource points pts { amount: 10 }
strategy g { who: true  when: on S  what: send p via Push code "D11", grant c via App code "D11", send m via Email code "MAIL", grant pts via App code "PTS" }
segment code_once = count(redeemed(code: "D11")) == 1
segment g_once = count(redeemed(g)) == 1
segment push_never = not exists(redeemed(channel: Push)) and not exists(redeemed(code: "MAIL"))
)";
  Compiled c = crm::testing::compile_text(program);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  auto ev = [](const std::string& type, const std::string& id, const std::string& user, const std::string& time,
               const std::string& rest) {
    return R"({"type":")" + type + R"(","id":")" + id + R"(","user":")" + user + R"(","time":")" + time + "\"" + rest + "}";
  };
  std::vector<std::string> events = {
      ev("S", "s1", "a", "2026-01-01T00:00:00Z", ""),
      ev("Order", "o1", "a", "2026-01-01T01:00:00Z", R"(,"amount":"30","coupon":"D11")"),
      ev("Order", "o2", "a", "2026-01-01T02:00:00Z", R"(,"amount":"30","coupon":"D11")"),
      ev("Order", "o3", "a", "2026-01-01T03:00:00Z", R"(,"amount":"30","coupon":"p")"),
      ev("Order", "o4", "a", "2026-01-01T04:00:00Z", R"(,"amount":"30","coupon":"MAIL")"),
      ev("Redeem", "r1", "a", "2026-01-01T05:00:00Z", R"(,"resource":"pts")"),
      ev("Redeem", "r2", "a", "2026-01-01T06:00:00Z", R"(,"code":"PTS")"),
      ev("Order", "o5", "b", "2026-01-01T07:00:00Z", R"(,"amount":"30","coupon":"D11")")};
  crm::state::MemoryStore reference_store;
  const std::vector<std::string> reference = run(c, reference_store, events, 0, events.size());
  std::vector<std::string> redemptions;
  for (const auto& d : reference)
    if (d.find(R"("outcome":"redeem)") != std::string::npos) redemptions.push_back(d);
  ASSERT_EQ(redemptions.size(), 3u) << ::testing::PrintToString(reference);
  EXPECT_NE(redemptions[0].find(R"("event":"o1","user":"a","strategy":"g","outcome":"redeemed","reason":null,"resource":"c")"),
            std::string::npos) << redemptions[0];
  EXPECT_NE(redemptions[0].find(R"("subsidy":"5")"), std::string::npos) << redemptions[0];
  EXPECT_NE(redemptions[1].find(R"("event":"o2","user":"a","strategy":"g","outcome":"redeem_rejected","reason":"already_redeemed","resource":"c")"),
            std::string::npos) << redemptions[1];
  // A code of the program's coupon, held by no grant of this user: no_grant, as before.
  EXPECT_NE(redemptions[2].find(R"("event":"o5","user":"b","strategy":null,"outcome":"redeem_rejected","reason":"no_grant")"),
            std::string::npos) << redemptions[2];
  for (size_t cut = 0; cut <= events.size(); ++cut) {
    SCOPED_TRACE("restart after " + std::to_string(cut) + " events");
    crm::state::MemoryStore store;
    std::vector<std::string> out = run(c, store, events, 0, cut);
    auto rest = run(c, store, events, cut, events.size());
    out.insert(out.end(), rest.begin(), rest.end());
    EXPECT_EQ(out, reference);
  }
  // The engine's redeemed(...) against the reference evaluator's recount of the decisions.
  Replay r(c);
  std::map<std::string, std::vector<crm::vm::HistoryRecord>> history;
  for (const auto& line : events) crm::testing::record_history(c.program(), r.process(line), history);
  crm::vm::AstEvaluator ast(c.front->program, c.out);
  const int64_t now = crm::testing::T("2026-01-02T00:00:00Z");
  for (auto& m : c.front->program.modules)
    for (crm::ast::Decl* d : m.ast->decls) {
      if (d->kind != crm::ast::DeclKind::Segment) continue;
      auto* seg = static_cast<crm::ast::SegmentDecl*>(d);
      crm::vm::AstEnv env;
      env.now = now;
      env.strings = &r.engine.strings();
      env.history = &history["a"];
      env.aggregate = [&](uint32_t g) { return r.engine.aggregate_of("a", g, now); };
      int64_t want = 0;
      std::string err;
      ASSERT_TRUE(ast.eval(seg->value, env, want, err)) << err;
      EXPECT_EQ(want, 1) << seg->name << " (reference)";
      EXPECT_EQ(r.segment(c, seg->name, "a", now), 1) << seg->name << " (engine)";
    }
}
