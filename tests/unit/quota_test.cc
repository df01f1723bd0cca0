// quota_test.cc - campaign-wide counters behind state::Quotas (issue 4, shared backend design):
// the limit rule, the recount from a ledger, and several engines sharing one set of counters
// the way runtime processes on a shared backend would, including one that loses a race for the
// last unit of stock between its early check and its reservation.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "compile_helpers.h"
#include "runtime/state/state_store.h"

namespace {

using crm::state::Quota;
using crm::state::QuotaCheck;
using crm::state::QuotaLimits;

crm::testing::Compiled compile(const char* text) {
  auto c = crm::testing::compile_text(text);
  EXPECT_TRUE(c.ok) << c.diagnostics;
  return c;
}

std::string order(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time + R"(","amount":10})";
}

size_t count(const std::vector<crm::state::LedgerEntry>& entries, const std::string& outcome, const std::string& reason = "") {
  size_t n = 0;
  for (const auto& e : entries) n += e.outcome == outcome && (reason.empty() || e.reason == reason);
  return n;
}

// Counters shared by several engines, as a Redis backend shares them between processes; a mutex
// plays the part of the backend's atomic script.
class SharedQuotas : public crm::state::Quotas {
 public:
  uint32_t handle(std::string_view s) override { std::lock_guard lk(mu_); return q_.handle(s); }
  Quota used(uint32_t h) override { std::lock_guard lk(mu_); return q_.used(h); }
  QuotaCheck reserve(uint32_t h, int64_t amount, const QuotaLimits& l) override {
    std::lock_guard lk(mu_);
    return q_.reserve(h, amount, l);
  }
  QuotaCheck reserve_parts(const std::vector<crm::state::QuotaPart>& parts, int64_t amount, size_t& failed) override {
    std::lock_guard lk(mu_);
    return q_.reserve_parts(parts, amount, failed);
  }

 private:
  std::mutex mu_;
  crm::state::LocalQuotas q_;
};

// One runtime process's store: its own ledger, the shared counters.
class SharedStore : public crm::state::MemoryStore {
 public:
  explicit SharedStore(crm::state::Quotas& q) : q_(q) {}
  crm::state::Quotas& quotas() override { return q_; }
  std::vector<crm::state::LedgerEntry> ledger() {
    std::vector<crm::state::LedgerEntry> entries;
    std::vector<crm::state::Unit> units;
    std::string err;
    load(entries, units, err);
    return entries;
  }

 private:
  crm::state::Quotas& q_;
};

}  // namespace

TEST(Quotas, LimitsAreCheckedInOrderAndAFailedReservationChangesNothing) {
  crm::state::LocalQuotas q;
  uint32_t a = q.handle("a"), b = q.handle("b");
  EXPECT_NE(a, b);
  EXPECT_EQ(q.handle("a"), a);
  QuotaLimits l;
  l.stock = 2;
  l.budget = 15;
  EXPECT_EQ(q.reserve(a, 10, l), QuotaCheck::Fits);
  EXPECT_EQ(q.reserve(a, 10, l), QuotaCheck::Budget);  // 20 > 15
  EXPECT_EQ(q.used(a).deliveries, 1);
  EXPECT_EQ(q.used(a).reserved, 10);
  EXPECT_EQ(q.reserve(a, 5, l), QuotaCheck::Fits);  // exactly the budget
  EXPECT_EQ(q.reserve(a, 0, l), QuotaCheck::Stock);  // stock is checked before budget
  EXPECT_EQ(q.used(a).deliveries, 2);
  EXPECT_EQ(q.used(b).deliveries, 0);
  QuotaLimits paced;
  paced.paced_stock = 1;
  EXPECT_EQ(q.reserve(b, 0, paced), QuotaCheck::Fits);
  EXPECT_EQ(q.reserve(b, 0, paced), QuotaCheck::Pacing);
  paced = {};
  paced.paced_budget = 3;
  EXPECT_EQ(q.reserve(b, 4, paced), QuotaCheck::Pacing);
  EXPECT_STREQ(crm::state::quota_reason(QuotaCheck::Budget), "budget");
}

// A delivery from a budget pool reserves the strategy's counters and the pool's in one step: a
// part that does not fit leaves every part as it was, whichever part it is (the strategy's or
// the pool's), and `failed` names it.
TEST(Quotas, AReservationRefusedByOnePartCountsInNone) {
  auto counted = [](const Quota& c) { return std::pair{c.deliveries, c.reserved}; };
  crm::state::LocalQuotas q;
  const uint32_t s = q.handle("s"), pool = q.handle(crm::state::pool_counter("p"));
  QuotaLimits own, shared;
  own.budget = 25;
  shared.stock = 2;
  std::vector<crm::state::QuotaPart> parts{{s, own}, {pool, shared}};
  size_t failed = 9;
  EXPECT_EQ(q.reserve_parts(parts, 10, failed), QuotaCheck::Fits);
  EXPECT_EQ(failed, 9u);  // untouched when it fits
  // The strategy's budget refuses (10 + 20 > 25): the pool's stock is not taken.
  EXPECT_EQ(q.reserve_parts(parts, 20, failed), QuotaCheck::Budget);
  EXPECT_EQ(failed, 0u);
  EXPECT_EQ(counted(q.used(s)), counted({1, 10}));
  EXPECT_EQ(counted(q.used(pool)), counted({1, 10}));
  EXPECT_EQ(q.reserve_parts(parts, 5, failed), QuotaCheck::Fits);
  // The pool's stock refuses (2 used of 2): the strategy's budget, with room for 10, is not taken.
  EXPECT_EQ(q.reserve_parts(parts, 10, failed), QuotaCheck::Stock);
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(counted(q.used(s)), counted({2, 15}));
  EXPECT_EQ(counted(q.used(pool)), counted({2, 15}));
  // Another strategy of the same pool is refused by it too, and counts nothing of its own.
  const uint32_t t = q.handle("t");
  EXPECT_EQ(q.reserve_parts({{t, {}}, {pool, shared}}, 1, failed), QuotaCheck::Stock);
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(counted(q.used(t)), counted({0, 0}));
}

TEST(Quotas, TheStoreRecountsDeliveriesAndReservedMoneyFromItsLedger) {
  // Two coupons per delivery: stock counts deliveries, the budget counts both coupons.
  auto c = compile(
      "event Order { amount: Money(CNY) }\n"
      "resource coupon c { discount: 5 CNY }\n"
      "resource coupon d { discount: 2 CNY }\n"
      "strategy s { who: true  when: on Order  what: grant c via App, grant d via App  how much: stock 3, budget 100 CNY }\n");
  crm::state::MemoryStore store;
  std::string err;
  {
    crm::testing::Harness h(c);
    ASSERT_TRUE(h.engine.attach(&store, err)) << err;
    h.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
    h.feed(order("e2", "b", "2026-01-01T00:01:00Z"));
  }
  crm::state::MemoryStore reopened;
  {
    std::vector<crm::state::LedgerEntry> entries;
    std::vector<crm::state::Unit> units;
    ASSERT_TRUE(store.load(entries, units, err));
    for (size_t i = 0, k = 0; i < units.size(); ++i) {
      std::vector<crm::state::LedgerEntry> mine;
      while (k < entries.size() && entries[k].unit == units[i].id) mine.push_back(entries[k++]);
      int64_t first = 0;
      ASSERT_TRUE(reopened.append(units[i], mine, first, err));
    }
    ASSERT_TRUE(reopened.load(entries, units, err));
  }
  auto& q = reopened.quotas();
  Quota used = q.used(q.handle("s"));
  EXPECT_EQ(used.deliveries, 2);
  EXPECT_EQ(used.reserved, 14'000'000);  // 2 x (5 + 2) CNY in millionths
  // A restarted engine sees them: one delivery of stock left.
  crm::testing::Harness h(c);
  ASSERT_TRUE(h.engine.attach(&reopened, err)) << err;
  EXPECT_EQ(h.feed(order("e3", "c", "2026-01-01T00:02:00Z")).size(), 2u);
  auto last = h.feed(order("e4", "d", "2026-01-01T00:03:00Z"));
  ASSERT_EQ(last.size(), 2u);
  EXPECT_NE(last[0].find("\"reason\":\"stock\""), std::string::npos) << last[0];
}

TEST(Quotas, EnginesSharingCountersNeverOversellStockOrBudget) {
  // Two runtimes (one per thread) with their own users and ledgers, one set of counters.
  auto c = compile(
      "event Order { amount: Money(CNY) }\n"
      "resource coupon c { discount: 5 CNY }\n"
      "strategy s { who: true  when: on Order  what: grant c via App  how much: per user 1 per day, stock 150, budget 600 CNY }\n");
  SharedQuotas shared;
  SharedStore left(shared), right(shared);
  std::string err;
  crm::testing::Harness a(c), b(c);
  ASSERT_TRUE(a.engine.attach(&left, err)) << err;
  ASSERT_TRUE(b.engine.attach(&right, err)) << err;
  auto run = [&](crm::testing::Harness& e, const char* prefix) {
    for (int i = 0; i < 400; ++i)
      e.feed(order(std::string(prefix) + std::to_string(i), prefix + std::to_string(i % 200),
                    i < 200 ? "2026-01-01T00:00:00Z" : "2026-01-02T00:00:00Z"));
  };
  std::thread t([&] { run(a, "l"); });
  run(b, "r");
  t.join();
  auto l = left.ledger(), r = right.ledger();
  // The budget (600 / 5 = 120 coupons) binds before the stock does.
  EXPECT_EQ(count(l, "granted") + count(r, "granted"), 120u);
  EXPECT_EQ(count(l, "rejected", "budget") + count(r, "rejected", "budget"), 800u - 120u);
  Quota used = shared.used(shared.handle("s"));
  EXPECT_EQ(used.deliveries, 120);
  EXPECT_EQ(used.reserved, 600'000'000);
}

namespace {

// Another runtime takes the last unit of stock between this engine's early check and its
// reservation: the early check reads counters from before, the reservation sees the rival's.
class RacedQuotas : public crm::state::LocalQuotas {
 public:
  Quota used(uint32_t h) override {
    Quota q = LocalQuotas::used(h);
    if (race_) q.deliveries -= 1;  // what this engine saw before the rival's reservation
    return q;
  }
  void rival_takes(uint32_t h) {
    QuotaLimits none;
    ASSERT_EQ(reserve(h, 0, none), QuotaCheck::Fits);
    race_ = true;
  }

 private:
  bool race_ = false;
};

class RacedStore : public crm::state::MemoryStore {
 public:
  RacedQuotas q;
  crm::state::Quotas& quotas() override { return q; }
};

}  // namespace

TEST(Quotas, ALostRaceForTheLastStockIsARejectionAndNoGrant) {
  auto c = compile(
      "event Order { amount: Money(CNY) }\n"
      "resource coupon c { discount: 5 CNY  use: within 3 days after claim }\n"
      "resource push hi { body: \"Hi\" }\n"
      "strategy s { who: true  when: on Order  what: grant c via App, send hi via Push  how much: stock 2 }\n");
  RacedStore store;
  std::string err;
  crm::testing::Harness h(c);
  ASSERT_TRUE(h.engine.attach(&store, err)) << err;
  ASSERT_EQ(h.feed(order("e1", "a", "2026-01-01T00:00:00Z")).size(), 2u);
  store.q.rival_takes(store.q.handle("s"));
  auto lost = h.feed(order("e2", "b", "2026-01-01T00:01:00Z"));
  ASSERT_EQ(lost.size(), 2u);
  for (const auto& d : lost) EXPECT_NE(d.find("\"outcome\":\"rejected\",\"reason\":\"stock\""), std::string::npos) << d;
  EXPECT_EQ(h.engine.stats().granted, 2u);
  EXPECT_EQ(h.engine.stats().rejected, 2u);
  // Nothing of the lost delivery stays: no grant to expire, and no claim counted for `b`.
  auto after = h.feed(order("e3", "b", "2026-01-09T00:00:00Z"));
  for (const auto& d : after)
    EXPECT_EQ(d.find("\"user\":\"b\",\"strategy\":\"s\",\"outcome\":\"expired\""), std::string::npos) << d;
  std::vector<crm::state::LedgerEntry> ledger;
  std::vector<crm::state::Unit> units;
  ASSERT_TRUE(store.load(ledger, units, err));
  EXPECT_EQ(count(ledger, "granted"), 2u);
  EXPECT_EQ(count(ledger, "expired"), 1u);  // a's coupon, at e3
}

TEST(Quotas, StateMustBeAttachedBeforeAnyEvent) {
  auto c = compile(
      "event Order { amount: Money(CNY) }\n"
      "resource coupon c { discount: 5 CNY }\n"
      "strategy s { who: true  when: on Order  what: grant c via App  how much: stock 1 }\n");
  crm::testing::Harness h(c);
  h.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
  crm::state::MemoryStore store;
  std::string err;
  EXPECT_FALSE(h.engine.attach(&store, err));
  EXPECT_NE(err.find("attach state before processing any event"), std::string::npos) << err;
}

// A user whose profile is loaded before the ledger is attached (crm::Run and crm::Runtime
// allow that order; `crm run` loads profiles after): the grants the ledger holds for the user
// are the user's, count for its per-user limits and expire. Before, they stayed in the restored
// grants (Users::get took them only for a user it created), while the expiries queued for them
// indexed the user's own, empty, grants: Redemptions::expire read past the end (the first grant's
// index hit a null span and was skipped, the second crashed), and the per-user limit did not
// count them.
TEST(Quotas, GrantsRestoredForAUserLoadedBeforeTheLedgerAreTheUsersAndExpire) {
  auto c = compile(
      "profile { level: Int = 0 }\n"
      "event Order { amount: Money(CNY) }\n"
      "resource coupon c { discount: 5 CNY  use: within 3 days after claim }\n"
      "strategy s { who: true  when: on Order  what: grant c via App  how much: per user 2 per campaign }\n");
  crm::state::MemoryStore store;
  std::string err;
  {
    crm::testing::Harness h(c);
    ASSERT_TRUE(h.engine.attach(&store, err)) << err;
    ASSERT_EQ(h.feed(order("e1", "a", "2026-01-01T00:00:00Z")).size(), 1u);
    ASSERT_EQ(h.feed(order("e2", "a", "2026-01-01T01:00:00Z")).size(), 1u);
    ASSERT_TRUE(h.engine.commit(err)) << err;
  }
  crm::testing::Harness h(c);
  ASSERT_TRUE(h.engine.load_profile_line(R"({"user":"a","level":1})", err)) << err;
  ASSERT_TRUE(h.engine.attach(&store, err)) << err;
  // A week later: both coupons expire first, then the third order is over the per-user limit.
  auto later = h.feed(order("e3", "a", "2026-01-08T00:00:00Z"));
  ASSERT_EQ(later.size(), 3u);
  EXPECT_NE(later[0].find("\"outcome\":\"expired\""), std::string::npos) << later[0];
  EXPECT_NE(later[1].find("\"outcome\":\"expired\""), std::string::npos) << later[1];
  EXPECT_NE(later[2].find("\"outcome\":\"rejected\",\"reason\":\"per_user_limit\""), std::string::npos) << later[2];
  EXPECT_EQ(h.engine.stats().expired, 2u);
}

// `crm run --threads`: every worker reserves on one LocalQuotas, with no global lock. Many
// threads race for a strategy whose deliveries also draw on a pool (reserve_parts) and for one
// without a pool (reserve): the counts end exactly at the bounds (never above: no lost update,
// never below: nothing refused while it fitted), and a strategy-and-pool reservation is counted
// in both counters or in neither (the pool's count is the sum of its strategies').
TEST(Quotas, ThreadsReserveExactlyUpToTheBoundWithoutAGlobalLock) {
  crm::state::LocalQuotas q;
  const uint32_t a = q.handle("a"), b = q.handle("b"), pool = q.handle(crm::state::pool_counter("p")), solo = q.handle("solo");
  QuotaLimits sa, sb, sp, ss;
  sa.stock = 5000;                       // a alone could take 5,000 ...
  sb.budget = 7000 * int64_t(1'000'000); // ... b 7,000 at 1 CNY each ...
  sp.stock = 9000;                       // ... but the pool they share stops both at 9,000
  ss.stock = 4321, ss.budget = 10'000'000'000;
  constexpr int kThreads = 8, kTries = 4000;
  std::atomic<int64_t> granted_a{0}, granted_b{0}, granted_solo{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTries; ++i) {
        size_t failed = 0;
        bool use_a = (i + t) % 2 == 0;
        std::vector<crm::state::QuotaPart> parts{{use_a ? a : b, use_a ? sa : sb}, {pool, sp}};
        if (q.reserve_parts(parts, 1'000'000, failed) == QuotaCheck::Fits) ++(use_a ? granted_a : granted_b);
        if (q.reserve(solo, 1'000'000, ss) == QuotaCheck::Fits) ++granted_solo;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(q.used(pool).deliveries, 9000);
  EXPECT_EQ(q.used(a).deliveries + q.used(b).deliveries, 9000);
  EXPECT_EQ(q.used(a).deliveries, granted_a.load());
  EXPECT_EQ(q.used(b).deliveries, granted_b.load());
  EXPECT_LE(q.used(a).deliveries, 5000);
  EXPECT_LE(q.used(b).reserved, 7000 * int64_t(1'000'000));
  EXPECT_EQ(q.used(pool).reserved, 9000 * int64_t(1'000'000));
  EXPECT_EQ(q.used(solo).deliveries, 4321);
  EXPECT_EQ(granted_solo.load(), 4321);
  EXPECT_EQ(q.used(solo).reserved, 4321 * int64_t(1'000'000));
}

// Handles may be made while other threads reserve (a counter never moves once made).
TEST(Quotas, HandlesAreMadeWhileOthersReserve) {
  crm::state::LocalQuotas q;
  const uint32_t s = q.handle("s");
  QuotaLimits l;
  l.stock = 100000;
  std::thread maker([&] {
    for (int i = 0; i < 2000; ++i) q.handle("t" + std::to_string(i));
  });
  int64_t fits = 0;
  for (int i = 0; i < 20000; ++i) fits += q.reserve(s, 1, l) == QuotaCheck::Fits;
  maker.join();
  EXPECT_EQ(fits, 20000);
  EXPECT_EQ(q.used(s).deliveries, 20000);
  EXPECT_EQ(q.handle("t1999"), s + 2000);
}
