// pools_test.cc - budget pools shared by strategies and A/B/n arms (docs/semantics.md, "Budget
// pools", "Priority and split"), through the public API as a host uses them: pool counters
// survive a restart at every point, control deliveries take nothing from a pool, arms are
// stable and follow their shares, version 5 ledgers gain the pool and arm columns.
#include <crm/runtime.h>
#include <gtest/gtest.h>
#include "sqlite_helpers.h"
#include <sqlite3.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace {

crm::CompiledProgram compile(const std::string& text) {
  auto out = crm::compile_sources({{"pools.crm", text}});
  EXPECT_TRUE(out.program.valid()) << out.diagnostics.render_text() << out.error.message;
  return out.program;
}

// A fresh ledger path per test (ctest runs the tests of a binary as parallel processes).
std::string fresh_path(const char* tag) {
  std::string path = ::testing::TempDir() + "crm_pools_" + tag + ".db";
  crm::testing::remove_ledger_files(path);
  return path;
}

std::string login(int i) {
  char time[32];
  std::snprintf(time, sizeof time, "2026-05-01T10:%02d:%02dZ", i / 60, i % 60);
  return R"({"id":"l)" + std::to_string(i) + R"(","type":"Login","user":"u)" + std::to_string(i % 7) + R"(","time":")" +
         time + R"(","channel":"App"})";
}
std::string order(int i) {
  char time[32];
  std::snprintf(time, sizeof time, "2026-05-01T10:%02d:%02dZ", i / 60, i % 60);
  return R"({"id":"o)" + std::to_string(i) + R"(","type":"Order","user":"u)" + std::to_string(i % 5) + R"(","time":")" +
         time + R"(","amount":")" + std::to_string(20 + i % 3 * 40) + R"("})";
}

// Two strategies share a pool whose stock and budget both run out during the stream; one has
// its own budget too, and a control group (which takes nothing from either).
const char* kPooled = R"(
event Login { channel: Channel }
event Order { amount: Money(CNY) }
resource coupon c10 { discount: 10 CNY }
resource coupon c5 { discount: 5 CNY }
resource push hi { title: "Hi" body: "Welcome" }
pool launch { budget 95 CNY  stock 14 }
strategy welcome for business "app" {
    who: true
    when: on Login
    what: grant c10 via App code "L10", send hi via Push
    how much: from pool launch, budget 60 CNY, per user 2 per campaign
    split: control 30%
}
strategy thanks for business "app" {
    who: true
    when: on Order
    what: grant c5 via App code "O5"
    how much: from pool launch, per user 3 per campaign
    priority: 1
}
)";

std::vector<std::string> stream() {
  std::vector<std::string> events;
  for (int i = 0; i < 40; ++i) events.push_back(i % 2 ? order(i) : login(i));
  return events;
}

std::vector<crm::Decision> run_all(crm::Runtime& rt, const std::vector<std::string>& events, size_t from, size_t to) {
  std::vector<crm::Decision> out;
  crm::Error error;
  for (size_t i = from; i < to; ++i) EXPECT_TRUE(rt.process_event(events[i], out, error)) << error.message;
  return out;
}

}  // namespace

TEST(Pools, ARestartKeepsThePoolsCountersAtEveryPoint) {
  auto program = compile(kPooled);
  auto events = stream();
  std::vector<crm::Decision> reference;
  {
    crm::Runtime rt(program);
    std::string err;
    ASSERT_TRUE(rt.open_state("memory", err)) << err;
    reference = run_all(rt, events, 0, events.size());
  }
  // The stream exercises every limit: the strategy's own budget, the pool's stock and budget.
  std::map<std::string, int> reasons;
  int64_t pool_spent = 0, pool_deliveries = 0;
  std::string last_unit;
  for (const auto& d : reference) {
    ++reasons[d.reason];
    if (d.outcome == crm::Decision::Outcome::Granted) {
      EXPECT_EQ(d.pool, "launch") << d.json;
      pool_spent += d.amount_millionths;
      if (d.event + d.user + d.strategy != last_unit) ++pool_deliveries;
      last_unit = d.event + d.user + d.strategy;
    }
    if (d.outcome == crm::Decision::Outcome::Control) {
      EXPECT_EQ(d.pool, "launch");
    }
  }
  EXPECT_GT(reasons["pool_stock"] + reasons["pool_budget"], 0);
  EXPECT_LE(pool_spent, 95'000'000);
  EXPECT_LE(pool_deliveries, 14);
  EXPECT_GT(pool_deliveries, 8);
  // Killed after k events (committed), restarted on the whole input: the same decisions.
  for (size_t k = 1; k < events.size(); k += 3) {
    std::string path = fresh_path("restart");
    std::string err;
    {
      crm::Runtime rt(program);
      ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
      run_all(rt, events, 0, k);
    }
    crm::Runtime rt(program);
    ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
    auto restarted = run_all(rt, events, 0, events.size());
    ASSERT_EQ(restarted.size(), reference.size()) << "cut after " << k;
    for (size_t i = 0; i < reference.size(); ++i) ASSERT_EQ(restarted[i].json, reference[i].json) << "cut after " << k;
  }
}

TEST(Pools, TheLedgerNamesThePoolThatPaid) {
  auto program = compile(kPooled);
  auto events = stream();
  std::string path = fresh_path("ledger"), err;
  size_t granted = 0;
  {
    crm::Runtime rt(program);
    ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
    for (const auto& d : run_all(rt, events, 0, events.size())) granted += d.outcome == crm::Decision::Outcome::Granted;
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*), sum(pool = 'launch'), count(arm) FROM crm_ledger WHERE outcome = 'granted'",
                               -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(size_t(sqlite3_column_int64(s, 0)), granted);
  EXPECT_EQ(size_t(sqlite3_column_int64(s, 1)), granted);
  EXPECT_EQ(sqlite3_column_int64(s, 2), 0);  // no arms in this program
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST(Pools, ControlDeliveriesTakeNothingFromThePool) {
  auto program = compile(R"(
event Login { channel: Channel }
resource coupon c10 { discount: 10 CNY }
pool tiny { stock 3 }
strategy welcome for business "app" {
    who: true
    when: on Login
    what: grant c10 via App
    how much: from pool tiny
    split: control 50%
}
)");
  crm::Runtime rt(program);
  std::vector<crm::Decision> out;
  crm::Error error;
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(rt.process_event(R"({"id":"e)" + std::to_string(i) + R"(","type":"Login","user":"user)" + std::to_string(i) +
                                     R"(","time":"2026-05-01T10:00:00Z","channel":"App"})",
                                 out, error))
        << error.message;
  int granted = 0, refused = 0, control = 0;
  for (const auto& d : out) {
    granted += d.outcome == crm::Decision::Outcome::Granted;
    refused += d.outcome == crm::Decision::Outcome::Rejected && d.reason == "pool_stock";
    control += d.outcome == crm::Decision::Outcome::Control && d.reason.empty();
  }
  EXPECT_EQ(granted, 3);
  EXPECT_GT(control, 10);  // every control user would have received it: none took the stock
  EXPECT_EQ(granted + refused + control, 40);
}

TEST(Pools, ArmsAreStableAndFollowTheirShares) {
  // Two strategies with one salt split users the same way; the roll-out's `rest` is exactly the
  // users the test's arms and control group left out.
  auto program = compile(R"(
event Login { channel: Channel }
resource sms a { text: "A" }
resource sms b { text: "B" }
resource sms w { text: "winner" }
strategy test for business "app" {
    who: true
    when: on Login
    what: send a via SMS for arm A, send b via SMS for arm B
    split: control 10%, variants A 20%, B 30% salt "exp"
}
strategy rollout for business "app" {
    who: true
    when: on Login
    what: send w via SMS for arm rest
    split: variants tested 60%, rest 40% salt "exp"
    priority: 1
}
)");
  crm::Runtime rt(program);
  crm::Error error;
  const int users = 10000;
  std::map<std::string, int> arms;  // "strategy/arm"
  std::map<std::string, std::string> test_arm;
  for (int i = 0; i < users; ++i) {
    std::vector<crm::Decision> out;
    std::string user = "user" + std::to_string(i);
    ASSERT_TRUE(rt.process_event(R"({"id":"e)" + std::to_string(i) + R"(","type":"Login","user":")" + user +
                                     R"(","time":"2026-05-01T10:00:00Z","channel":"App"})",
                                 out, error))
        << error.message;
    std::string in_test, in_rollout;
    for (const auto& d : out) {
      if (d.strategy == "test") {
        in_test = d.outcome == crm::Decision::Outcome::Control ? "control" : d.arm;
        if (d.arm == "A") {
          EXPECT_EQ(d.resource, "a");
        }
        if (d.arm == "B") {
          EXPECT_EQ(d.resource, "b");
        }
      } else {
        in_rollout = d.arm;
        EXPECT_EQ(d.resource, "w");
      }
    }
    // Every user is in exactly one of: control, A, B (the test), rest (the roll-out).
    EXPECT_NE(in_test.empty(), in_rollout.empty()) << user;
    ++arms[in_test.empty() ? "rollout/" + in_rollout : "test/" + in_test];
    test_arm[user] = in_test;
  }
  EXPECT_NEAR(arms["test/control"], 0.10 * users, 0.02 * users);
  EXPECT_NEAR(arms["test/A"], 0.20 * users, 0.02 * users);
  EXPECT_NEAR(arms["test/B"], 0.30 * users, 0.02 * users);
  EXPECT_NEAR(arms["rollout/rest"], 0.40 * users, 0.02 * users);
  EXPECT_EQ(arms.size(), 4u);
  // Stable: a second runtime puts every user in the same arm.
  crm::Runtime again(program);
  for (int i = 0; i < 500; ++i) {
    std::vector<crm::Decision> out;
    std::string user = "user" + std::to_string(i);
    ASSERT_TRUE(again.process_event(R"({"id":"e)" + std::to_string(i) + R"(","type":"Login","user":")" + user +
                                        R"(","time":"2026-05-01T11:00:00Z","channel":"App"})",
                                    out, error));
    std::string in_test;
    for (const auto& d : out)
      if (d.strategy == "test") in_test = d.outcome == crm::Decision::Outcome::Control ? "control" : d.arm;
    EXPECT_EQ(in_test, test_arm[user]) << user;
  }
}

TEST(Pools, VersionFiveLedgersAreMigrated) {
  std::string path = fresh_path("v5");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE crm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                         "INSERT INTO crm_meta VALUES ('schema_version', '5');"
                         "CREATE TABLE crm_units (seq INTEGER PRIMARY KEY, unit TEXT NOT NULL, kind INTEGER NOT NULL DEFAULT 0,"
                         " program INTEGER);"
                         "CREATE TABLE crm_ledger (seq INTEGER PRIMARY KEY, unit TEXT NOT NULL, user TEXT NOT NULL,"
                         " strategy TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT, resource TEXT, channel TEXT,"
                         " code TEXT, amount INTEGER NOT NULL, at INTEGER NOT NULL, json TEXT NOT NULL,"
                         " sales INTEGER NOT NULL DEFAULT 0, granted_at INTEGER, kind INTEGER NOT NULL DEFAULT 0, timer TEXT);"
                         "CREATE TABLE crm_programs (id INTEGER PRIMARY KEY, hash TEXT NOT NULL);"
                         "CREATE TABLE crm_strategies (program INTEGER NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL,"
                         " budget_currency TEXT NOT NULL, resources TEXT NOT NULL, split TEXT, PRIMARY KEY (program, name));"
                         "INSERT INTO crm_units (unit) VALUES ('old');"
                         "INSERT INTO crm_ledger (unit, user, strategy, outcome, amount, at, json)"
                         // at 2026-04-30: a row of the epoch would be the ledger's clock, and the
                         // event of 2026-05-01 below 56 years ahead of it (--max-time-jump)
                         " VALUES ('old', 'u9', 'welcome', 'granted', 10000000, 1777507200000000, '{}');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto program = compile(kPooled);
  crm::Runtime rt(program);
  std::string err;
  ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
  std::vector<std::string> out;
  ASSERT_TRUE(rt.process_event(login(0), out, err)) << err;
  ASSERT_TRUE(rt.commit(err)) << err;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT value FROM crm_meta WHERE key = 'schema_version'), count(pool),"
                               " (SELECT pool IS NULL AND arm IS NULL FROM crm_ledger WHERE unit = 'old') FROM crm_ledger",
                               -1, &s, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "9");
  EXPECT_EQ(sqlite3_column_int64(s, 1), int64_t(out.size()));  // every new row names its pool
  EXPECT_EQ(sqlite3_column_int64(s, 2), 1);                    // the old row: no pool, no arm
  sqlite3_finalize(s);
  sqlite3_close(db);
}
