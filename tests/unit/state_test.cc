// state_test.cc - durable state: idempotent events, restart from a ledger, store errors.
#include <gtest/gtest.h>

#include <fstream>

#include "compile_helpers.h"
#include "runtime/state/state_store.h"

namespace {

using crm::testing::Compiled;

const char* kProgram =
    "event Order { amount: Money(CNY) }\n"
    "resource coupon c { discount: 5 CNY }\n"
    "strategy s { who: true  when: on Order  what: grant c via App  how much: per user 2 per campaign, stock 3 }\n";

Compiled compile(const char* text) {
  Compiled c = crm::testing::compile_text(text);
  EXPECT_TRUE(c.ok) << c.diagnostics;
  return c;
}

std::string order(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time + R"(","amount":10})";
}

struct Replay {
  crm::engine::Engine engine;
  explicit Replay(const Compiled& c) : engine(c.program()) {}
  std::vector<std::string> feed(const std::string& line) {
    crm::engine::Event ev;
    std::string err;
    EXPECT_TRUE(engine.parse_event(line, ev, err)) << err;
    std::vector<crm::engine::Decision> out;
    EXPECT_TRUE(engine.process(ev, out, err)) << err;
    std::vector<std::string> json;
    for (const auto& d : out) json.push_back(engine.decision_json(d));
    return json;
  }
};

}  // namespace

TEST(State, TheSameEventIdTwiceGivesTheSameDecisionsAndNoSecondGrant) {
  Compiled c = compile(kProgram);
  Replay run(c);
  crm::state::MemoryStore store;
  std::string err;
  ASSERT_TRUE(run.engine.attach(&store, err)) << err;
  auto first = run.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
  ASSERT_EQ(first.size(), 1u);
  auto again = run.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
  EXPECT_EQ(again, first);
  // The per-user limit (2) still has room for exactly one more grant: the duplicate used none.
  auto second = run.feed(order("e2", "a", "2026-01-01T00:00:01Z"));
  EXPECT_NE(second[0].find("\"granted\""), std::string::npos);
  auto third = run.feed(order("e3", "a", "2026-01-01T00:00:02Z"));
  EXPECT_NE(third[0].find("per_user_limit"), std::string::npos);
}

TEST(State, ARestartedEngineContinuesFromTheLedger) {
  Compiled c = compile(kProgram);
  std::vector<std::string> events;
  for (int i = 0; i < 6; ++i)
    events.push_back(order("e" + std::to_string(i), i % 2 ? "a" : "b", "2026-01-01T00:00:0" + std::to_string(i) + "Z"));
  // Uninterrupted.
  std::vector<std::string> reference;
  {
    crm::state::MemoryStore store;
    Replay run(c);
    std::string err;
    ASSERT_TRUE(run.engine.attach(&store, err)) << err;
    for (const auto& e : events) for (auto& d : run.feed(e)) reference.push_back(d);
  }
  // Killed after three events (their decisions committed), restarted on the whole input.
  crm::state::MemoryStore store;
  std::vector<std::string> restarted;
  std::string err;
  {
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(&store, err)) << err;
    for (int i = 0; i < 3; ++i) run.feed(events[i]);
    ASSERT_TRUE(run.engine.commit(err));
  }
  {
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(&store, err)) << err;
    for (const auto& e : events) for (auto& d : run.feed(e)) restarted.push_back(d);
  }
  EXPECT_EQ(restarted, reference);  // stock 3 is honoured across the restart
  size_t granted = 0;
  for (const auto& d : restarted) granted += d.find("\"granted\"") != std::string::npos;
  EXPECT_EQ(granted, 3u);
}

TEST(State, SqliteStoreErrorsAreClear) {
  std::string err;
  EXPECT_EQ(crm::state::open_store("sqlite:/nonexistent-dir/x.db", err), nullptr);
  EXPECT_NE(err.find("/nonexistent-dir/x.db"), std::string::npos) << err;
  std::string corrupt = ::testing::TempDir() + "crm_corrupt.db";
  std::ofstream(corrupt) << std::string(4096, 'x');
  EXPECT_EQ(crm::state::open_store("sqlite:" + corrupt, err), nullptr);
  EXPECT_NE(err.find("not a database"), std::string::npos) << err;
  EXPECT_EQ(crm::state::open_store("redis:localhost", err), nullptr);
  EXPECT_NE(err.find("unknown state"), std::string::npos) << err;
}

TEST(State, SqliteLedgerRoundTrips) {
  std::string path = ::testing::TempDir() + "crm_ledger_test.db";
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  Compiled c = compile(kProgram);
  std::string err;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
    run.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
    run.feed(order("e2", "b", "2026-01-01T00:00:01Z"));
    ASSERT_TRUE(run.engine.commit(err)) << err;
    run.feed(order("e3", "c", "2026-01-01T00:00:02Z"));  // never committed: lost with the process
  }
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  std::vector<crm::state::LedgerEntry> entries;
  std::vector<std::string> units;
  ASSERT_TRUE(store->load(entries, units, err)) << err;
  EXPECT_EQ(units, (std::vector<std::string>{"e1", "e2"}));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].outcome, "granted");
  EXPECT_EQ(entries[0].amount, 5'000'000);
  EXPECT_EQ(entries[0].channel, "App");
}
