// schedule_parts_test.cc - a scheduled instant decided and recorded in parts (issue 15 item 3;
// docs/semantics.md, "Scheduled runs in parts"): the parts change neither the decisions nor
// their order, and a run interrupted in the middle of an instant (after a committed part, or
// with a part recorded but not committed) and restarted on the same input decides every user
// of the instant exactly once: its decisions and its ledger rows equal an uninterrupted run's.
#include <gtest/gtest.h>

#include <crm/run.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <stdexcept>
#include <tuple>

#include "sqlite_helpers.h"
#include "compile_helpers.h"
#include "runtime/state/state_store.h"

namespace {

using crm::testing::Compiled;
using crm::testing::compile_text;

// A daily instant over every user who ordered in the last 30 days, a budget that runs out in the
// middle of an instant, a per-user cap, a control group, a random draw (keyed by the run's id),
// and an event strategy with stock between the instants.
const char* kProgram = R"(
event Order { amount: Money(GBP) }
resource coupon c5 { discount: 5 GBP }
resource points p { amount: 10 }
resource red_envelope lucky_drop { discount: random 1 GBP .. 4 GBP step 1 GBP  use: within 1 day after claim }
strategy daily for business "b" {
    who: exists(Order within 30 days)
    when: every 1 day at 09:00 between 2026-01-01T00:00Z and 2026-01-10T00:00Z
    what: grant c5 via Email code "D"
    how much: budget 400 GBP, per user 1 per 3 days
    split: control 10%
    priority: 5
}
strategy lucky for business "b" {
    who: true
    when: every 1 day at 12:00 between 2026-01-01T00:00Z and 2026-01-10T00:00Z
    what: grant lucky_drop with chance 30% via Email
    how much: budget 60 GBP, per user 1 per 2 days
    priority: 4
}
strategy thanks for business "b" {
    who: true
    when: on Order
    what: grant p via Email code "T"
    how much: stock 40, per user 1 per day
    priority: 6
}
)";

std::vector<std::string> events() {
  std::vector<std::string> out;
  for (int i = 0; i < 400; ++i) {
    char t[40];
    std::snprintf(t, sizeof t, "2026-01-%02dT%02d:%02d:00Z", 1 + i / 50, (i % 50) * 28 / 60, (i % 50) * 28 % 60);
    out.push_back(R"({"id":"o)" + std::to_string(i) + R"(","type":"Order","user":"u)" + std::to_string((i * 37) % 61) +
                  R"(","time":")" + t + R"(","amount":)" + std::to_string(10 + i % 30) + "}");
  }
  return out;
}

// Thrown by the part sink: the process dying in the middle of an instant.
struct Killed {};

struct Result {
  std::vector<std::string> lines;  // the decisions as reported
  size_t parts = 0;                // how many times the sink was called
};

// Feeds `input` to a fresh engine on `store` with parts of `per_part` users. When `kill_at` > 0,
// the kill_at-th part call commits (when `commit_first`) and then "dies": the uncommitted rest of
// the ledger is rolled back, as a killed process's transaction is.
Result run(const Compiled& c, crm::state::MemoryStore& store, const std::vector<std::string>& input, size_t per_part,
           size_t kill_at = 0, bool commit_first = true) {
  Result r;
  crm::engine::Engine e(c.program());
  std::string err;
  EXPECT_TRUE(e.attach(&store, err)) << err;
  e.set_users_per_part(per_part);
  std::vector<crm::engine::Decision> out;
  auto take = [&] {
    for (const auto& d : out) r.lines.push_back(e.decision_json(d));
    out.clear();
  };
  e.set_part_sink([&](std::vector<crm::engine::Decision>& decided) {
    EXPECT_EQ(&decided, &out);
    take();
    ++r.parts;
    if (kill_at && r.parts == kill_at) {
      std::string why;
      if (commit_first) {
        EXPECT_TRUE(e.commit(why)) << why;
      }
      throw Killed{};
    }
  });
  try {
    for (const auto& line : input) {
      crm::engine::Event ev;
      EXPECT_TRUE(e.parse_event(line, ev, err)) << err;
      EXPECT_TRUE(e.submit(ev, out, err)) << err;
      take();
    }
    EXPECT_TRUE(e.finish(out, err)) << err;
    take();
    EXPECT_TRUE(e.commit(err)) << err;
  } catch (const Killed&) {
    EXPECT_TRUE(store.rollback(err)) << err;
  }
  return r;
}

// The ledger rows without their unit: (user, strategy, outcome, at, json), in ledger order.
std::vector<std::tuple<std::string, std::string, std::string, int64_t, std::string>> rows(crm::state::MemoryStore& store) {
  std::vector<crm::state::LedgerEntry> entries;
  std::vector<crm::state::Unit> units;
  std::string err;
  EXPECT_TRUE(store.load(entries, units, err)) << err;
  std::vector<std::tuple<std::string, std::string, std::string, int64_t, std::string>> out;
  for (const auto& x : entries) out.emplace_back(x.user, x.strategy, x.outcome, x.at, x.json);
  return out;
}

// More users than one part holds (one order each at 08:00), then an order at 10:00 that runs the
// 09:00 instant: a full part, then the last.
std::vector<std::string> one_part_and_more() {
  const size_t users = crm::engine::Engine::kUsersPerPart + 100;
  std::vector<std::string> input;
  for (size_t i = 0; i < users; ++i)
    input.push_back(R"({"id":"o)" + std::to_string(i) + R"(","type":"Order","user":"u)" + std::to_string(i) +
                    R"(","time":"2026-01-01T08:00:00Z","amount":20})");
  input.push_back(R"({"id":"last","type":"Order","user":"u0","time":"2026-01-01T10:00:00Z","amount":20})");
  return input;
}

}  // namespace

TEST(ScheduleParts, PartsChangeNeitherTheDecisionsNorTheirOrder) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto input = events();
  crm::state::MemoryStore whole_store, parts_store;
  Result whole = run(c, whole_store, input, 1000000);
  Result parts = run(c, parts_store, input, 7);
  EXPECT_EQ(whole.parts, 0u);
  EXPECT_GT(parts.parts, 50u);  // 61 users, 18 instants: several parts each
  EXPECT_EQ(parts.lines, whole.lines);
  EXPECT_EQ(rows(parts_store), rows(whole_store));
  // The instants do decide something in every way the program can: the budget runs out.
  std::map<std::string, int> seen;
  for (const auto& l : whole.lines)
    for (const char* k : {"\"granted\"", "\"control\"", "\"budget\"", "\"per_user_limit\"", "\"lost_draw\""})
      if (l.find(k) != std::string::npos) ++seen[k];
  EXPECT_EQ(seen.size(), 5u);
  // A part's id names where it ends; the last part has the run's own id.
  std::vector<crm::state::LedgerEntry> entries;
  std::vector<crm::state::Unit> units;
  std::string err;
  ASSERT_TRUE(parts_store.load(entries, units, err)) << err;
  size_t part_units = 0;
  for (const auto& u : units)
    if (u.kind == crm::state::UnitKind::Schedule && u.id.find('#') != std::string::npos) {
      ++part_units;
      EXPECT_EQ(std::stoul(u.id.substr(u.id.find('#') + 1)) % 7, 0u) << u.id;
    }
  EXPECT_EQ(part_units, parts.parts);
}

// Killed at every part of the run (after its commit, or before it), then restarted on the same
// input, with the same part size or another: the same decisions, reported in the same order, and
// the same ledger rows as a run never interrupted. No user of an instant is decided twice (the
// rows would differ: a second grant, or a per-user refusal) nor skipped.
TEST(ScheduleParts, ARestartInTheMiddleOfAnInstantDecidesAsAnUninterruptedRun) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto input = events();
  crm::state::MemoryStore ref_store;
  Result reference = run(c, ref_store, input, 7);
  const auto ref_rows = rows(ref_store);
  for (size_t kill = 1; kill <= reference.parts; kill += 3)
    for (bool committed : {true, false})
      for (size_t restart_part : {size_t(7), size_t(5), size_t(1000000)}) {
        SCOPED_TRACE("killed at part " + std::to_string(kill) + (committed ? " after" : " before") +
                     " its commit, restarted with parts of " + std::to_string(restart_part));
        crm::state::MemoryStore store;
        Result killed = run(c, store, input, 7, kill, committed);
        ASSERT_EQ(killed.parts, kill);
        Result restarted = run(c, store, input, restart_part);
        EXPECT_EQ(restarted.lines, reference.lines);
        EXPECT_EQ(rows(store), ref_rows);
      }
}

// crm::Run hands each part but the last to on_schedule_part with its lines already in the call's
// output (here add_event's buffer), so the caller can write them out in the middle of the call.
TEST(ScheduleParts, RunHandsEachPartToTheCallerDuringTheCall) {
  auto compiled = crm::compile_modules({{"main", kProgram}});
  ASSERT_TRUE(compiled.program.valid());
  std::vector<std::string> input = one_part_and_more();
  auto replay = [&](bool hook, size_t& calls, size_t& largest) {
    crm::Run run(compiled.program);
    std::string all, buffer;
    size_t count = 0;
    if (hook)
      run.on_schedule_part([&] {
        ++calls;
        largest = std::max(largest, buffer.size());
        all += buffer;
        buffer.clear();
      });
    crm::Error e;
    for (const auto& line : input) {
      EXPECT_TRUE(run.add_event(line, buffer, count, e)) << e.message;
      largest = std::max(largest, buffer.size());
      all += buffer;
      buffer.clear();
    }
    std::vector<std::string> rest;
    EXPECT_TRUE(run.finish(rest, e)) << e.message;
    for (const auto& l : rest) all += l + "\n";
    return all;
  };
  size_t calls = 0, largest = 0, no_calls = 0, largest_without = 0;
  std::string with_hook = replay(true, calls, largest);
  std::string without = replay(false, no_calls, largest_without);
  EXPECT_EQ(with_hook, without);
  EXPECT_EQ(calls, 1u);  // the 09:00 instant: one full part, then the last
  EXPECT_EQ(no_calls, 0u);
  EXPECT_LT(largest, largest_without);  // what the buffer held at most
}

// A caller's part callback that throws cuts an instant in the middle: the Run stops (its engine's
// memory holds a half-run instant), answers Internal with the first reason to every later call
// that feeds it or commits, and commits nothing more. A new Run on its ledger, given the input
// again from the start, decides as a run that never failed: the instant exactly once.
TEST(ScheduleParts, ARunWhosePartCallbackThrewStopsAndANewRunOnItsLedgerResumes) {
  auto compiled = crm::compile_modules({{"main", kProgram}});
  ASSERT_TRUE(compiled.program.valid());
  std::vector<std::string> input = one_part_and_more();
  input.push_back(R"({"id":"after","type":"Order","user":"u1","time":"2026-01-01T11:00:00Z","amount":20})");
  auto ledger = [](const std::string& name) {
    std::string path = ::testing::TempDir() + "crm_schedule_parts_" + std::to_string(::getpid()) + "_" + name + ".db";
    crm::testing::remove_ledger_files(path);
    return path;
  };
  // Every decision line of a whole run over `input` on `path`, committed every 4,096 lines.
  auto whole = [&](const std::string& path) {
    crm::Run run(compiled.program);
    crm::Error e;
    EXPECT_TRUE(run.open_state("sqlite:" + path, false, e)) << e.message;
    std::string all;
    size_t count = 0;
    for (size_t i = 0; i < input.size(); ++i) {
      EXPECT_TRUE(run.add_event(input[i], all, count, e)) << e.message;
      if (i % 4096 == 4095) {
        EXPECT_TRUE(run.commit(e)) << e.message;
      }
    }
    std::vector<std::string> rest;
    EXPECT_TRUE(run.finish(rest, e)) << e.message;
    for (const auto& l : rest) all += l + "\n";
    EXPECT_TRUE(run.commit(e)) << e.message;
    return all;
  };
  const std::string clean = whole(ledger("clean"));
  const std::string path = ledger("stopped");
  {
    crm::Run run(compiled.program);
    crm::Error e;
    ASSERT_TRUE(run.open_state("sqlite:" + path, false, e)) << e.message;
    run.on_schedule_part([] { throw std::runtime_error("the caller's sink failed"); });
    std::string out;
    size_t count = 0;
    for (size_t i = 0; i + 2 < input.size(); ++i) {
      ASSERT_TRUE(run.add_event(input[i], out, count, e)) << e.message;
      if (i % 4096 == 4095) {
        ASSERT_TRUE(run.commit(e)) << e.message;
      }
    }
    EXPECT_FALSE(run.add_event(input[input.size() - 2], out, count, e));  // the 09:00 instant's first part
    EXPECT_EQ(e.kind, crm::ErrorKind::Internal);
    EXPECT_NE(e.message.find("the caller's sink failed"), std::string::npos) << e.message;
    const size_t lines = count;
    e = {};
    EXPECT_FALSE(run.add_event(input.back(), out, count, e));
    EXPECT_EQ(e.kind, crm::ErrorKind::Internal);
    EXPECT_NE(e.message.find("the caller's sink failed"), std::string::npos) << e.message;
    e = {};
    EXPECT_FALSE(run.add_event("not json", out, count, e)) << "a stopped run read a line";
    EXPECT_EQ(e.kind, crm::ErrorKind::Internal) << e.message;
    e = {};
    EXPECT_FALSE(run.commit(e));
    EXPECT_EQ(e.kind, crm::ErrorKind::Internal);
    std::vector<std::string> rest;
    e = {};
    EXPECT_FALSE(run.finish(rest, e));
    EXPECT_EQ(e.kind, crm::ErrorKind::Internal);
    EXPECT_EQ(count, lines) << "a stopped run decided more";
  }
  EXPECT_EQ(whole(path), clean);
}
