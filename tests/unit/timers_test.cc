// timers_test.cc - delayed triggers (issue 13 item 5): `on Order if not paid, after 2 hours
// unless Pay where order_id == event.order_id`. Timers fire in event time, are cancelled by the
// matching event of the same user, are decided with the user's state at firing, survive a
// restart (in memory and in SQLite, with the process gone between) without loss or duplicate,
// and are bounded by the pending-timer limits.
#include <gtest/gtest.h>

#include <crm/run.h>
#include <crm/runtime.h>

#include <filesystem>

#include <unistd.h>

#include "compile_helpers.h"
#include "runtime/state/state_store.h"

namespace {

using crm::testing::Compiled;
using crm::testing::compile_text;
using crm::testing::Harness;
using V = std::vector<std::string>;

const char* kProgram = R"(
event Order { order_id: String  paid: Bool  amount: Money(CNY) }
event Pay { order_id: String }
event Visit {}
resource coupon nudge5 { discount: 5 CNY }
strategy unpaid_nudge for business "mall" {
    who: exists(Visit within 30 days)
    when: on Order if not paid, after 2 hours unless Pay where order_id == event.order_id
    what: grant nudge5 via App
    how much: per user 1 per day
}
)";

std::string order(const std::string& id, const std::string& user, const std::string& time, const std::string& oid,
                  bool paid = false) {
  return R"({"type":"Order","id":")" + id + R"(","user":")" + user + R"(","time":")" + time + R"(","order_id":")" + oid +
         R"(","paid":)" + (paid ? "true" : "false") + R"(,"amount":10})";
}
std::string pay(const std::string& id, const std::string& user, const std::string& time, const std::string& oid) {
  return R"({"type":"Pay","id":")" + id + R"(","user":")" + user + R"(","time":")" + time + R"(","order_id":")" + oid + R"("})";
}
std::string visit(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"type":"Visit","id":")" + id + R"(","user":")" + user + R"(","time":")" + time + R"("})";
}

// A stream that exercises arming, cancelling, firing with the state at firing, and a pending end.
V stream() {
  return {visit("v1", "ann", "2026-11-12T09:00:00Z"),
          order("o1", "ann", "2026-11-12T10:00:00Z", "A1"),
          order("o2", "bob", "2026-11-12T10:05:00Z", "B1"),
          order("o3", "cat", "2026-11-12T10:10:00Z", "C1"),
          pay("p1", "bob", "2026-11-12T11:00:00Z", "B1"),
          pay("p2", "ann", "2026-11-12T11:10:00Z", "ZZ"),  // another order: cancels nothing
          visit("v2", "cat", "2026-11-12T12:00:00Z"),      // cat qualifies only after arming
          order("o4", "ann", "2026-11-12T12:30:00Z", "A2"),
          visit("v3", "bob", "2026-11-12T13:00:00Z"),
          order("o5", "bob", "2026-11-12T13:30:00Z", "B2"),
          visit("v4", "ann", "2026-11-12T15:00:00Z")};
}

// Feeds lines [from, to) through submit() (the stream entry point), as JSON lines.
V feed(Harness& h, const V& lines, size_t from, size_t to) {
  V out;
  for (size_t i = from; i < to; ++i) {
    crm::engine::Event ev = h.parse(lines[i]);
    std::vector<crm::engine::Decision> ds;
    std::string err;
    EXPECT_TRUE(h.engine.submit(ev, ds, err)) << err;
    for (const auto& d : ds) out.push_back(h.engine.decision_json(d));
  }
  return out;
}

// "outcome[:reason] event at" per decision line.
V brief(const V& json) {
  V out;
  for (const auto& j : json) {
    auto field = [&](const std::string& k) {
      auto p = j.find("\"" + k + "\":");
      if (p == std::string::npos) return std::string();
      p += k.size() + 3;
      if (j[p] == 'n') return std::string();
      ++p;
      return j.substr(p, j.find('"', p) - p);
    };
    std::string r = field("reason");
    out.push_back(field("outcome") + (r.empty() ? "" : ":" + r) + " " + field("event") + " " + field("user") + " " +
                  field("at"));
  }
  return out;
}

TEST(Timers, FireInEventTimeCancelByKeyAndDecideWithTheStateAtFiring) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  V all = stream();
  V got = brief(feed(h, all, 0, all.size()));
  EXPECT_EQ(got, (V{
                     "pending o1 ann 2026-11-12T10:00:00Z",
                     "pending o2 bob 2026-11-12T10:05:00Z",
                     "pending o3 cat 2026-11-12T10:10:00Z",
                     "cancelled p1 bob 2026-11-12T11:00:00Z",
                     // due 12:00 fires before v2 (12:00); ann visited: granted
                     "granted o1 ann 2026-11-12T12:00:00Z",
                     // cat's timer (due 12:10) fires at the next event (o4 12:30): cat visited at 12:00
                     "granted o3 cat 2026-11-12T12:10:00Z",
                     "pending o4 ann 2026-11-12T12:30:00Z",
                     "pending o5 bob 2026-11-12T13:30:00Z",
                     // ann's second timer: per user 1 per day, decided at 14:30 with the 12:00 grant
                     "rejected:per_user_limit o4 ann 2026-11-12T14:30:00Z",
                 }));
  std::vector<crm::engine::Decision> end;
  std::string err;
  ASSERT_TRUE(h.engine.finish(end, err)) << err;
  EXPECT_TRUE(end.empty());
  EXPECT_EQ(h.engine.pending_timers(), 1u);  // bob's o5, due 15:30, after the last event
  // Moving the clock fires it: bob visited at 13:00.
  ASSERT_TRUE(h.engine.advance_to(crm::testing::T("2026-11-12T16:00:00Z"), end, err)) << err;
  V fired;
  for (const auto& d : end) fired.push_back(h.engine.decision_json(d));
  EXPECT_EQ(brief(fired), (V{"granted o5 bob 2026-11-12T15:30:00Z"}));
  EXPECT_EQ(h.engine.pending_timers(), 0u);
  EXPECT_FALSE(h.engine.advance_to(crm::testing::T("2026-11-12T15:00:00Z"), end, err));  // the clock never goes back
}

TEST(Timers, AnEventOfTheTriggersTypeCancelsTheEarlierTimerAndArmsItsOwn) {
  Compiled c = compile_text(R"(
event Visit { page: String }
resource push back { body: "come back" }
strategy abandoned_browse for business "app" {
    who: true
    when: on Visit, after 1 day unless Visit
    what: send back via Push
}
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  V lines = {R"({"type":"Visit","id":"a","user":"u","time":"2026-01-01T00:00:00Z","page":"x"})",
             R"({"type":"Visit","id":"b","user":"u","time":"2026-01-01T12:00:00Z","page":"y"})",
             R"({"type":"Visit","id":"c","user":"w","time":"2026-01-03T00:00:00Z","page":"y"})"};
  EXPECT_EQ(brief(feed(h, lines, 0, lines.size())), (V{
                                                         "pending a u 2026-01-01T00:00:00Z",
                                                         "cancelled b u 2026-01-01T12:00:00Z",
                                                         "pending b u 2026-01-01T12:00:00Z",
                                                         "granted b u 2026-01-02T12:00:00Z",
                                                         "pending c w 2026-01-03T00:00:00Z",
                                                     }));
}

TEST(Timers, TheLimitsOfPendingTimersAreRejectionsWithAReason) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  {
    Harness h(c);
    h.engine.set_timer_limits(/*per_user=*/1, /*total=*/0);
    V lines = {order("o1", "ann", "2026-11-12T10:00:00Z", "A1"), order("o2", "ann", "2026-11-12T10:01:00Z", "A2"),
               order("o3", "bob", "2026-11-12T10:02:00Z", "B1")};
    EXPECT_EQ(brief(feed(h, lines, 0, lines.size())), (V{"pending o1 ann 2026-11-12T10:00:00Z",
                                                         "rejected:timer_limit o2 ann 2026-11-12T10:01:00Z",
                                                         "pending o3 bob 2026-11-12T10:02:00Z"}));
  }
  {
    Harness h(c);
    h.engine.set_timer_limits(0, /*total=*/2);
    V lines = {order("o1", "ann", "2026-11-12T10:00:00Z", "A1"), order("o2", "bob", "2026-11-12T10:01:00Z", "B1"),
               order("o3", "cat", "2026-11-12T10:02:00Z", "C1"), pay("p1", "ann", "2026-11-12T10:03:00Z", "A1"),
               order("o4", "dan", "2026-11-12T10:04:00Z", "D1")};
    EXPECT_EQ(brief(feed(h, lines, 0, lines.size())), (V{"pending o1 ann 2026-11-12T10:00:00Z",
                                                         "pending o2 bob 2026-11-12T10:01:00Z",
                                                         "rejected:timer_limit o3 cat 2026-11-12T10:02:00Z",
                                                         "cancelled p1 ann 2026-11-12T10:03:00Z",
                                                         "pending o4 dan 2026-11-12T10:04:00Z"}));
    EXPECT_EQ(h.engine.pending_timers(), 2u);
  }
}

// A restart at every point of the stream (the first run stops after k events, committed; the
// second replays the whole input on the same ledger) reports exactly what an uninterrupted run
// does: every timer fires once, none is lost, cancelled ones stay cancelled.
TEST(Timers, PendingTimersSurviveARestartAtEveryPoint) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  std::string all_users = kProgram;
  all_users.replace(all_users.find("exists(Visit within 30 days)"), 28, "true");
  Compiled everyone = compile_text(all_users);
  ASSERT_TRUE(everyone.ok) << everyone.diagnostics;
  V all = stream();
  std::string err;
  V reference;
  {
    crm::state::MemoryStore fresh;
    Harness h(c);
    ASSERT_TRUE(h.engine.attach(&fresh, err)) << err;
    reference = feed(h, all, 0, all.size());
  }
  for (size_t k = 0; k <= all.size(); ++k) {
    crm::state::MemoryStore store;
    {
      Harness h(c);
      ASSERT_TRUE(h.engine.attach(&store, err)) << err;
      feed(h, all, 0, k);
      ASSERT_TRUE(h.engine.commit(err)) << err;
    }
    Harness h(c);
    ASSERT_TRUE(h.engine.attach(&store, err)) << err;
    EXPECT_EQ(feed(h, all, 0, all.size()), reference) << "restart after " << k << " events";
    // Without the replay of what came before: the second run sees only the rest of the stream
    // (a caller that continues where it stopped, so history before it is not known: `who:
    // true`); every grant is still reported exactly once.
    crm::state::MemoryStore store2;
    size_t granted = 0;
    auto count = [&](const V& json) {
      for (const auto& j : json) granted += j.find("\"granted\"") != std::string::npos;
    };
    {
      Harness h1(everyone);
      ASSERT_TRUE(h1.engine.attach(&store2, err)) << err;
      count(feed(h1, all, 0, k));
      ASSERT_TRUE(h1.engine.commit(err)) << err;
    }
    Harness h2(everyone);
    ASSERT_TRUE(h2.engine.attach(&store2, err)) << err;
    count(feed(h2, all, k, all.size()));
    EXPECT_EQ(granted, 2u) << "restart without replay after " << k << " events";
  }
}

// The same through the public API and a SQLite ledger, with the Runtime (and its ledger lock)
// gone between the two halves, as after a killed process.
TEST(Timers, ASqliteLedgerKeepsPendingTimersAcrossProcesses) {
  std::string err;
  crm::CompiledProgram p = crm::compile_modules({{"t", kProgram}}).program;
  ASSERT_TRUE(p.valid());
  auto dir = std::filesystem::temp_directory_path() / ("crm_timers_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string spec = "sqlite:" + (dir / "l.db").string();
  V all = stream();
  V first, second;
  {
    crm::Runtime rt(p);
    ASSERT_TRUE(rt.open_state(spec, err)) << err;
    for (size_t i = 0; i < 4; ++i) ASSERT_TRUE(rt.process_event(all[i], first, err)) << err;  // 3 timers armed
    EXPECT_EQ(rt.pending_timers(), 3u);
  }
  {
    crm::Runtime rt(p);
    ASSERT_TRUE(rt.open_state(spec, err)) << err;
    EXPECT_EQ(rt.pending_timers(), 3u);
    // The restart contract of `crm run`: the input again from the start; the first four events
    // are answered from the ledger (and rebuild the history `who:` reads).
    for (size_t i = 0; i < all.size(); ++i) ASSERT_TRUE(rt.process_event(all[i], second, err)) << err;
    std::vector<crm::Decision> end;
    crm::Error e;
    ASSERT_TRUE(rt.advance_time(crm::testing::T("2026-11-12T16:00:00Z"), end, e)) << e.message;
    for (const auto& d : end) second.push_back(d.json);
  }
  EXPECT_EQ(brief(first), (V{"pending o1 ann 2026-11-12T10:00:00Z", "pending o2 bob 2026-11-12T10:05:00Z",
                             "pending o3 cat 2026-11-12T10:10:00Z"}));
  EXPECT_EQ(brief(second), (V{
                      "pending o1 ann 2026-11-12T10:00:00Z",
                      "pending o2 bob 2026-11-12T10:05:00Z",
                      "pending o3 cat 2026-11-12T10:10:00Z",
                      "cancelled p1 bob 2026-11-12T11:00:00Z",
                      "granted o1 ann 2026-11-12T12:00:00Z",
                      "granted o3 cat 2026-11-12T12:10:00Z",
                      "pending o4 ann 2026-11-12T12:30:00Z",
                      "pending o5 bob 2026-11-12T13:30:00Z",
                      "rejected:per_user_limit o4 ann 2026-11-12T14:30:00Z",
                      "granted o5 bob 2026-11-12T15:30:00Z",
                  }));
  {
    // A third start finds nothing pending and fires nothing again.
    crm::Runtime rt(p);
    ASSERT_TRUE(rt.open_state(spec, err)) << err;
    EXPECT_EQ(rt.pending_timers(), 0u);
  }
  std::filesystem::remove_all(dir);
}

TEST(Timers, TheCancellingKeyIsTypedAndAnAfterNeedsAnEvent) {
  Compiled bad = compile_text(R"(
event Order { order_id: String  paid: Bool }
event Pay { order_id: Int }
resource coupon c { discount: 5 CNY }
strategy s for business "b" {
    who: true
    when: on Order, after 2 hours unless Pay where order_id == event.order_id
    what: grant c
}
)");
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.diagnostics.find("E0533"), std::string::npos) << bad.diagnostics;
}

// A ledger that refuses every unit of one kind, as a full disk would refuse a write.
class RefusingStore : public crm::state::StateStore {
 public:
  explicit RefusingStore(crm::state::UnitKind kind) : kind_(kind) {}
  bool load(std::vector<crm::state::LedgerEntry>& e, std::vector<crm::state::Unit>& u, std::string& error) override {
    return inner_.load(e, u, error);
  }
  bool last_program(crm::state::ProgramIdentity& out, std::string& error) override {
    return inner_.last_program(out, error);
  }
  bool begin_program(const crm::state::ProgramIdentity& p, std::string& error) override {
    return inner_.begin_program(p, error);
  }
  bool append(const crm::state::Unit& unit, const std::vector<crm::state::LedgerEntry>& entries, int64_t& first_seq,
              std::string& error) override {
    if (unit.kind == kind_) {
      ++refused;
      error = "state test: cannot write unit " + unit.id;
      return false;
    }
    return inner_.append(unit, entries, first_seq, error);
  }
  bool read(int64_t first, size_t count, std::vector<crm::state::LedgerEntry>& out, std::string& error) override {
    return inner_.read(first, count, out, error);
  }
  bool commit(std::string& error) override { return inner_.commit(error); }
  bool rollback(std::string& error) override { return inner_.rollback(error); }
  std::string describe() const override { return "refusing"; }
  crm::state::Quotas& quotas() override { return inner_.quotas(); }
  int refused = 0;

 private:
  crm::state::UnitKind kind_;
  crm::state::MemoryStore inner_;
};

// A timer's unit that the ledger refuses stops the step with the store's message, as an event's
// unit does: advance_to returns false with it, and no later timer is decided after the failure.
// (Before, fire_timer dropped record_unit's error: advance_to returned true with no message and
// went on deciding every other due timer; the caller saw the failure only in store_error().)
TEST(Timers, ATimerTheLedgerRefusesStopsTheStepWithTheStoresMessage) {
  std::string everyone = kProgram;
  everyone.replace(everyone.find("exists(Visit within 30 days)"), 28, "true");
  Compiled c = compile_text(everyone);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  RefusingStore store(crm::state::UnitKind::Timer);
  Harness h(c);
  std::string err;
  ASSERT_TRUE(h.engine.attach(&store, err)) << err;
  feed(h, {order("o1", "ann", "2026-11-12T10:00:00Z", "A1"), order("o2", "bob", "2026-11-12T10:05:00Z", "B1")}, 0, 2);
  ASSERT_EQ(h.engine.pending_timers(), 2u);
  std::vector<crm::engine::Decision> out;
  EXPECT_FALSE(h.engine.advance_to(crm::testing::T("2026-11-12T13:00:00Z"), out, err));
  EXPECT_EQ(err, "state test: cannot write unit timer:unpaid_nudge@o1");
  EXPECT_EQ(h.engine.store_error(), "state test: cannot write unit timer:unpaid_nudge@o1");
  EXPECT_EQ(store.refused, 1);
  EXPECT_EQ(h.engine.stats().timers_fired, 1u);  // bob's timer (due 12:05) was not decided
}

// The same for a scheduled instant (run_schedule) and through the public API's stream calls.
TEST(Timers, AScheduledInstantTheLedgerRefusesStopsTheStepWithTheStoresMessage) {
  Compiled c = compile_text(R"(
event Visit {}
resource coupon c5 { discount: 5 CNY }
strategy noon { who: true  when: at 2026-11-12T12:00Z  what: grant c5 via App }
strategy one_pm { who: true  when: at 2026-11-12T13:00Z  what: grant c5 via App }
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  RefusingStore store(crm::state::UnitKind::Schedule);
  Harness h(c);
  std::string err;
  ASSERT_TRUE(h.engine.attach(&store, err)) << err;
  feed(h, {visit("v1", "ann", "2026-11-12T09:00:00Z")}, 0, 1);
  std::vector<crm::engine::Decision> out;
  EXPECT_FALSE(h.engine.advance_to(crm::testing::T("2026-11-12T14:00:00Z"), out, err));
  EXPECT_EQ(err, "state test: cannot write unit schedule:noon@1794484800000000");
  EXPECT_EQ(h.engine.store_error(), err);
  EXPECT_EQ(store.refused, 1);  // one_pm (13:00) was not decided after the failure
  EXPECT_EQ(out.size(), 1u);
}

}  // namespace
