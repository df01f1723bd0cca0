// event_id_owners_test.cc - the reading thread's memory of event ids under --threads with a ledger
// (api/event_id_owners.h, docs/scaling.md "Threads in one process"): bounded by the dedup window
// by the recorder's rule, never shorter than the engine that owns an id remembers it; earlier
// runs' ids for the whole run. End to end: an id used again by another user after the window is
// decided as one engine decides it, with 1, 2 and 3 threads; within the window it is refused;
// a restart gives one engine's result or that refusal, and decides nothing twice.
#include <gtest/gtest.h>

#include <crm/run.h>
#include <unistd.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "api/event_id_owners.h"
#include "runtime/vm/vm.h"
#include "sqlite_helpers.h"

namespace {

using crm::detail::EventIdOwners;
using V = std::vector<std::string>;
constexpr int64_t kMinute = 60LL * 1'000'000, kHour = 60 * kMinute;

uint64_t h(const std::string& id) { return EventIdOwners::hash(id); }

// H = 1 hour: generations of 30 minutes; an id at 00:00 (generation [00:00, 00:30)) is kept
// while the watermark is before 01:30 and dropped at 01:30 (start + width <= W - H).
TEST(EventIdOwners, ClaimsAnIdForItsFirstThread) {
  EventIdOwners ids;
  ids.set_window(kHour);
  EXPECT_EQ(ids.claim(h("e1"), 0, 1), 1u);
  EXPECT_EQ(ids.claim(h("e1"), 0, 1), 1u);  // a retry on its own thread
  EXPECT_EQ(ids.claim(h("e1"), 5 * kMinute, 0), 1u);  // another thread: the first's
  EXPECT_EQ(ids.claim(h("e2"), 5 * kMinute, 0), 0u);
  EXPECT_EQ(ids.claim(h("e2"), 5 * kMinute, 255), 0u);
  EXPECT_EQ(ids.claim(h("e3"), 5 * kMinute, 255), 255u);  // owners up to 255 (--threads 256)
  EXPECT_EQ(ids.claim(h("e3"), 5 * kMinute, 2), 255u);
  EXPECT_EQ(ids.size(), 3u);
}

TEST(EventIdOwners, ForgetsAfterTheWindowAsTheRecorderDoesNotBefore) {
  EventIdOwners ids;
  ids.set_window(kHour);
  ASSERT_EQ(ids.width(), 30 * kMinute);
  ASSERT_EQ(ids.claim(h("e1"), 10 * kMinute, 0), 0u);
  // W - H = 00:29:59.999999: its generation ends at 00:30 and is kept, although the id's own
  // time (00:10) is older than W - H (the engine keeps it too, and would answer it).
  ids.prune(90 * kMinute - 1);
  EXPECT_EQ(ids.claim(h("e1"), 90 * kMinute - 1, 1), 0u);
  EXPECT_EQ(ids.generations(), 1u);  // a refused claim files nothing
  ids.prune(90 * kMinute);
  EXPECT_EQ(ids.claim(h("e1"), 90 * kMinute, 1), 1u);  // forgotten: thread 1 decides it afresh
  EXPECT_EQ(ids.claim(h("e1"), 91 * kMinute, 0), 1u);
  // Generations of at least a second (H = 0: the current second's).
  EventIdOwners zero;
  zero.set_window(0);
  EXPECT_EQ(zero.width(), 1'000'000);
  zero.claim(h("z"), 0, 0);
  zero.prune(999'999);
  EXPECT_EQ(zero.claim(h("z"), 999'999, 1), 0u);
  zero.prune(1'000'000);
  EXPECT_EQ(zero.claim(h("z"), 1'000'000, 1), 1u);
  // kForever: nothing is dropped.
  EventIdOwners forever;
  forever.set_window(EventIdOwners::kForever);
  forever.claim(h("f"), 0, 0);
  forever.prune(INT64_MAX / 2);
  EXPECT_EQ(forever.claim(h("f"), INT64_MAX / 2, 1), 0u);
}

// Its owner's engine may forget an id and decide it afresh later, keeping that record until the
// later generation goes: the reader files the id there too.
TEST(EventIdOwners, AnIdClaimedAgainByItsOwnerLaterIsKeptWithTheLaterGeneration) {
  EventIdOwners ids;
  ids.set_window(kHour);
  ids.claim(h("e1"), 0, 0);
  ids.prune(80 * kMinute);
  EXPECT_EQ(ids.claim(h("e1"), 80 * kMinute, 0), 0u);  // generation 01:00
  ids.prune(100 * kMinute);                             // 00:00 goes
  EXPECT_EQ(ids.generations(), 1u);
  EXPECT_EQ(ids.claim(h("e1"), 100 * kMinute, 1), 0u);  // still thread 0's
  ids.prune(150 * kMinute);                             // 01:00 goes
  EXPECT_EQ(ids.claim(h("e1"), 150 * kMinute, 1), 1u);
  // A late retry (an older time) on its own thread files nothing new.
  EXPECT_EQ(ids.claim(h("e1"), 140 * kMinute, 1), 1u);
  EXPECT_EQ(ids.size(), 1u);
}

TEST(EventIdOwners, EarlierRunsIdsAreHeldForTheWholeRun) {
  EventIdOwners ids;
  ids.set_window(kHour);
  ids.add_earlier(h("old"));
  ids.add_earlier(h("old"));
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids.claim(h("old"), 0, 2), 2u);  // the first thread to meet it owns it
  ids.prune(1000 * kHour);
  EXPECT_EQ(ids.claim(h("old"), 1000 * kHour, 0), 2u);
  EXPECT_EQ(ids.claim(h("old"), 1000 * kHour, 2), 2u);
  EXPECT_EQ(ids.generations(), 0u);  // never filed in a generation
}

// Growth: every id keeps its owner through the rehashes; the memory is the live generations'
// only (about 9 to 24 bytes an id), and a stream of any length keeps about 1.5 H of ids.
TEST(EventIdOwners, GrowsAndStaysBounded) {
  EventIdOwners ids;
  ids.set_window(kHour);
  const int64_t step = kHour / 10'000;  // 10,000 ids an hour
  for (int64_t i = 0; i < 100'000; ++i) {
    ids.prune(i * step);
    ASSERT_EQ(ids.claim(h(fmt::format("id{}", i)), i * step, uint32_t(i % 7)), uint32_t(i % 7));
    if (i % 1000 == 999) {
      // Ids within the window still answer with their owner.
      for (int64_t j = std::max<int64_t>(0, i - 10'000); j <= i; j += 97)
        ASSERT_EQ(ids.claim(h(fmt::format("id{}", j)), i * step, 99), uint32_t(j % 7)) << j << " at " << i;
    }
    ASSERT_LE(ids.size(), 20'001u);  // H plus the generation that is partly out of it, at most 2 H
  }
  EXPECT_GE(ids.size(), 10'000u);
  EXPECT_LE(ids.generations(), 4u);
  EXPECT_LE(ids.bytes(), 24 * ids.size() + 9 * 256 * ids.generations());
}

// ---- end to end --------------------------------------------------------------------------------

const char* kProgram =
    "event Order { amount: Money(CNY) }\n"
    "resource coupon c { discount: 5 CNY }\n"
    "strategy s { who: true  when: on Order  what: grant c via App  how much: per user 3 per campaign }\n";

std::string at(int minutes) { return fmt::format("2026-01-01T{:02}:{:02}:00Z", minutes / 60, minutes % 60); }
std::string order(const std::string& id, const std::string& user, int minutes) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + at(minutes) + R"(","amount":10})";
}

std::string temp_db(const std::string& name) {
  std::string path = ::testing::TempDir() + "crm_id_owners_" + std::to_string(::getpid()) + "_" + name + ".db";
  crm::testing::remove_ledger_files(path);
  return path;
}

struct Result {
  bool ok = false;
  std::string error;
  V decisions;
  std::map<size_t, std::string> refused;  // line -> message
  size_t decided_units = 0;
};

Result run(const std::string& db, const V& lines, size_t threads, bool add_events = false) {
  Result r;
  auto c = crm::compile_modules({{"main", kProgram}});
  EXPECT_TRUE(c.diagnostics.ok()) << c.diagnostics.render_text();
  crm::Run run(c.program);
  crm::Error e;
  if (!run.set_dedup_window(kHour, e) || (threads > 1 && !run.set_threads(threads, e)) ||
      !run.open_state("sqlite:" + db, false, e))
    return r.error = e.message, r;
  if (add_events) {
    // One event at a time (Run::add_event): the same claims as a replay's.
    for (size_t i = 0; i < lines.size(); ++i) {
      V out;
      if (!run.add_event(lines[i], out, e)) r.refused[i + 1] = e.message;
      r.decisions.insert(r.decisions.end(), out.begin(), out.end());
    }
  } else {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    std::istringstream in(text);
    crm::ReplayOptions options;
    options.batch_lines = 3;
    options.stop_at_first_error = false;
    if (!run.replay(
            in, options,
            [&](V& out) {
              r.decisions.insert(r.decisions.end(), out.begin(), out.end());
              return true;
            },
            [&](size_t line, const crm::Error& err) { r.refused[line] = err.message; }, e))
      return r.error = e.message, r;
  }
  V end;
  if (!run.finish(end, e) || !run.commit(e)) return r.error = e.message, r;
  r.decisions.insert(r.decisions.end(), end.begin(), end.end());
  r.decided_units = run.decided_units();
  r.ok = true;
  return r;
}

// A user on another thread than each of `others` under both 2 and 3 threads (the routing:
// stable_hash(user) % N).
std::string other_user(const V& others, const std::string& not_this = "") {
  for (int i = 0;; ++i) {
    std::string u = fmt::format("u{}", i);
    if (u == not_this) continue;
    const uint64_t s = crm::vm::stable_hash(u);
    bool apart = true;
    for (const auto& o : others) {
      const uint64_t t = crm::vm::stable_hash(o);
      apart = apart && s % 2 != t % 2 && s % 3 != t % 3;
    }
    if (apart) return u;
  }
}

int64_t ledger_rows(const std::string& path) {
  return crm::testing::query_int(path, "SELECT (SELECT count(*) FROM crm_ledger) * 1000000 + (SELECT count(*) FROM crm_units)");
}

// The lines not refused.
V kept(const V& lines, const std::map<size_t, std::string>& refused) {
  V out;
  for (size_t i = 0; i < lines.size(); ++i)
    if (!refused.count(i + 1)) out.push_back(lines[i]);
  return out;
}

TEST(EventIdOwners, AnIdUsedAgainAfterTheWindowIsDecidedAsOneEngineDoes) {
  // Each use of e1 on another thread than the one before.
  V u = {"u0"};
  for (int k = 1; k < 4; ++k) u.push_back(other_user({u.back()}));
  // e1 by u0 at 00:00; by u1 at 01:31 and u2 at 03:02 (each after its last use's generation was
  // dropped: 00:00's at W = 01:30); by u3 at 04:33. Fillers move the clock.
  const V lines = {order("e1", u[0], 0),   order("f1", u[1], 45),  order("f2", u[2], 90),  order("e1", u[1], 91),
                   order("f3", u[3], 150), order("f4", u[0], 181), order("e1", u[2], 182), order("f5", u[1], 240),
                   order("f6", u[2], 272), order("e1", u[3], 273), order("e1", u[3], 274), order("f7", u[0], 275)};
  Result one = run(temp_db("after1"), lines, 1);
  ASSERT_TRUE(one.ok) << one.error;
  ASSERT_TRUE(one.refused.empty());
  ASSERT_EQ(one.decisions.size(), 12u);  // every Order granted; e1 at 04:34 is a retry of 04:33's
  for (size_t threads : {2, 3}) {
    for (bool add : {false, true}) {
      SCOPED_TRACE(fmt::format("{} threads{}", threads, add ? ", add_event" : ""));
      const std::string db = temp_db(fmt::format("after{}{}", threads, add));
      Result r = run(db, lines, threads, add);
      ASSERT_TRUE(r.ok) << r.error;
      EXPECT_TRUE(r.refused.empty()) << r.refused.begin()->second;
      EXPECT_EQ(r.decisions, one.decisions);
      // A restart on its ledger (the input again): one engine's answers, or the id refused as
      // another thread's (an earlier run's id is its first thread's for the whole run); nothing
      // is decided again and no row is added.
      const int64_t rows = ledger_rows(db);
      Result again = run(db, lines, threads);
      ASSERT_TRUE(again.ok) << again.error;
      for (const auto& [line, why] : again.refused)
        EXPECT_NE(why.find("was used in this run by a user of another thread"), std::string::npos) << line << ": " << why;
      EXPECT_EQ(again.decided_units, 0u);
      // One engine restarted on the same ledger with the lines the threads did not refuse.
      const std::string ref = temp_db("after_ref");
      ASSERT_TRUE(run(ref, lines, 1).ok);
      Result ref_again = run(ref, kept(lines, again.refused), 1);
      ASSERT_TRUE(ref_again.ok) << ref_again.error;
      EXPECT_EQ(again.decisions, ref_again.decisions);
      crm::testing::remove_ledger_files(ref);
      EXPECT_EQ(ledger_rows(db), rows);
      crm::testing::remove_ledger_files(db);
    }
  }
}

// Within the window (its generation kept) one engine answers the id from the ledger with the
// first user's decisions; threads refuse it on another thread, never decide it again — also
// where the id's own time is already older than W - H but its generation is not yet dropped
// (forgetting by the id's time, or at W - H, would decide it twice).
TEST(EventIdOwners, AnIdUsedAgainWithinTheWindowIsRefusedOnAnotherThread) {
  const V u = {"u0", other_user({"u0"}), other_user({"u0"}, other_user({"u0"}))};
  const V lines = {order("e1", u[0], 10), order("f1", u[1], 70), order("f2", u[1], 85), order("e1", u[1], 89),
                   order("e1", u[2], 89), order("e1", u[0], 89), order("f3", u[0], 90)};
  Result one = run(temp_db("within1"), lines, 1);
  ASSERT_TRUE(one.ok) << one.error;
  ASSERT_TRUE(one.refused.empty());
  ASSERT_EQ(one.decisions.size(), 7u);  // e1's three retries answered with u0's grant
  for (size_t threads : {2, 3}) {
    for (bool add : {false, true}) {
      SCOPED_TRACE(fmt::format("{} threads{}", threads, add ? ", add_event" : ""));
      const std::string db = temp_db(fmt::format("within{}{}", threads, add));
      Result r = run(db, lines, threads, add);
      ASSERT_TRUE(r.ok) << r.error;
      // u1's and u2's uses are on other threads than u0's.
      ASSERT_EQ(r.refused.size(), 2u);
      EXPECT_TRUE(r.refused.count(4) && r.refused.count(5));
      for (const auto& [line, why] : r.refused)
        EXPECT_NE(why.find("event id \"e1\" was used in this run by a user of another thread"), std::string::npos) << why;
      Result ref = run(temp_db("within_ref"), kept(lines, r.refused), 1);
      ASSERT_TRUE(ref.ok) << ref.error;
      EXPECT_EQ(r.decisions, ref.decisions);
      EXPECT_EQ(crm::testing::query_int(db, "SELECT count(*) FROM crm_units WHERE unit = 'e1'"), 1);
      crm::testing::remove_ledger_files(db);
    }
  }
}

}  // namespace
