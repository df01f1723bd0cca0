// id_reuse_test.cc - an event id used again after the dedup window forgot it (docs/semantics.md,
// "Event order"): the second use is decided as a new event and recorded as a second unit with
// the same id. Every later attach (restart, hot reload, --threads) must take the ledger, and a
// replay of the same input must give the same decisions, decide nothing again and add no row;
// the counters rebuilt from it must be those of the uninterrupted run. The same for a delayed
// trigger's timer unit when its trigger id is used again.
#include <gtest/gtest.h>

#include <crm/report.h>
#include <crm/run.h>
#include <crm/runtime.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "compile_helpers.h"
#include "sqlite_helpers.h"
#include "runtime/state/state_store.h"

namespace {

using V = std::vector<std::string>;
constexpr int64_t kHour = 3600LL * 1'000'000;

std::string program(int stock) {
  return fmt::format(
      "event Order {{ amount: Money(CNY) }}\n"
      "event Visit {{ page: String = \"\" }}\n"
      "resource coupon c {{ discount: 5 CNY }}\n"
      "strategy s {{ who: true  when: on Order  what: grant c via App  how much: per user 2 per campaign, stock {} }}\n",
      stock);
}

// A delayed trigger: granted an hour after each Order.
const char* kTimerProgram =
    "event Order { amount: Money(CNY) }\n"
    "event Visit { page: String = \"\" }\n"
    "resource coupon c { discount: 5 CNY }\n"
    "strategy t for business \"m\" { who: true  when: on Order, after 1 hour  what: grant c via App }\n";

std::string at(int minutes) { return fmt::format("2026-01-01T{:02}:{:02}:00Z", minutes / 60, minutes % 60); }
std::string order(const std::string& id, const std::string& user, int minutes) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + at(minutes) + R"(","amount":10})";
}
std::string visit(const std::string& id, const std::string& user, int minutes) {
  return R"({"id":")" + id + R"(","type":"Visit","user":")" + user + R"(","time":")" + at(minutes) + R"("})";
}

crm::CompiledProgram compile(const std::string& text) {
  auto out = crm::compile_modules({{"main", text}});
  EXPECT_TRUE(out.diagnostics.ok()) << out.diagnostics.render_text();
  return out.program;
}

std::string temp_db(const std::string& name) {
  std::string path = ::testing::TempDir() + "crm_id_reuse_" + std::to_string(::getpid()) + "_" + name + ".db";
  crm::testing::remove_ledger_files(path);
  return path;
}

int64_t ledger_rows(const std::string& path) {
  // decision rows * 10^6 + unit rows
  return crm::testing::query_int(path, "SELECT (SELECT count(*) FROM crm_ledger) * 1000000 + (SELECT count(*) FROM crm_units)");
}

struct Result {
  bool ok = false;
  std::string error;
  V decisions;
  size_t decided_units = 0;
};

// One `crm run` on `lines` with the ledger at `path` (a window of one hour), as crm run feeds
// it: replay() on `threads` threads, then finish() and a commit.
Result run(const crm::CompiledProgram& p, const std::string& path, const V& lines, size_t threads, int64_t window = kHour) {
  Result r;
  crm::Run run(p);
  crm::Error e;
  if (!run.set_dedup_window(window, e) || (threads > 1 && !run.set_threads(threads, e)) ||
      !run.open_state("sqlite:" + path, false, e)) {
    r.error = e.message;
    return r;
  }
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  std::istringstream in(text);
  crm::ReplayOptions options;
  options.batch_lines = 2;  // several group commits
  if (!run.replay(
          in, options,
          [&](V& out) {
            r.decisions.insert(r.decisions.end(), out.begin(), out.end());
            return true;
          },
          [](size_t, const crm::Error&) {}, e)) {
    r.error = e.message;
    return r;
  }
  V end;
  if (!run.finish(end, e) || !run.commit(e)) {
    r.error = e.message;
    return r;
  }
  r.decisions.insert(r.decisions.end(), end.begin(), end.end());
  r.decided_units = run.decided_units();
  r.ok = true;
  return r;
}

V concat(V a, const V& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool has(const V& v, const std::string& what) {
  for (const auto& s : v)
    if (s.find(what) != std::string::npos) return true;
  return false;
}

// Run `input` on a ledger; restart on the same ledger with `input` + `more` (the restart
// contract: the input again from the start, then new lines). The restart must take the ledger,
// answer the input exactly as the first run did (deciding nothing of it again) and decide
// `more` as a run that never stopped does. `cut`: the first run sees only input[0, cut).
void check_restart(const crm::CompiledProgram& p, const std::string& name, const V& input, const V& more, size_t threads,
                   size_t cut = SIZE_MAX, int64_t window = kHour) {
  SCOPED_TRACE(fmt::format("{}, {} thread(s), first run on {} lines", name, threads, std::min(cut, input.size())));
  const std::string db = temp_db(name + std::to_string(threads)), whole = temp_db(name + "_whole" + std::to_string(threads));
  V head(input.begin(), input.begin() + long(std::min(cut, input.size())));
  Result first = run(p, db, head, threads, window);
  ASSERT_TRUE(first.ok) << first.error;
  const int64_t rows = ledger_rows(db);
  // The same input again: the ledger is taken, the answers are the recorded ones, nothing is
  // decided and no row is added.
  Result again = run(p, db, head, threads, window);
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.decisions, first.decisions);
  EXPECT_EQ(again.decided_units, 0u);
  EXPECT_EQ(ledger_rows(db), rows);
  // And on with the rest, as the uninterrupted run.
  Result on = run(p, db, concat(input, more), threads, window);
  ASSERT_TRUE(on.ok) << on.error;
  Result straight = run(p, whole, concat(input, more), threads, window);
  ASSERT_TRUE(straight.ok) << straight.error;
  EXPECT_EQ(on.decisions, straight.decisions);
  EXPECT_EQ(ledger_rows(db), ledger_rows(whole));
  // A third start on the whole input: nothing new.
  Result third = run(p, db, concat(input, more), threads, window);
  ASSERT_TRUE(third.ok) << third.error;
  EXPECT_EQ(third.decisions, straight.decisions);
  EXPECT_EQ(third.decided_units, 0u);
  for (const auto& path : {db, whole})
    crm::testing::remove_ledger_files(path);
}

}  // namespace

// e1 of user a granted at 00:00, forgotten by 03:00 (H = 1 hour), used again at 03:01 and
// granted again (a's second): two units named e1, both with decisions, and their grant rows
// adjacent (the Visit between has none). Stock 3: after e2 nothing is left, which a restart
// knows only if it counts e1's two grants as two deliveries.
TEST(IdReuse, BothUsesWithDecisionsSurviveARestart) {
  auto p = compile(program(3));
  const V input = {order("e1", "a", 0), visit("v1", "b", 180), order("e1", "a", 181)};
  const V more = {order("e2", "c", 182), order("e3", "d", 183), order("e4", "a", 184)};
  for (size_t threads : {1, 2}) {
    check_restart(p, "both", input, more, threads);
    // What the uninterrupted run decides (the restart is checked against it above).
    Result r = run(p, temp_db("both_plain"), concat(input, more), threads);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.decisions.size(), 5u);
    size_t granted = 0;
    for (const auto& d : r.decisions) granted += d.find("\"granted\"") != std::string::npos;
    EXPECT_EQ(granted, 3u);  // e1, e1 again, e2; then stock is out
  }
}

// The same id by several users (a, c, d, then a again, each after the window): each use takes
// its own unit (by its time), also when only one of them is delivered again. (With --threads one
// run decides these uses as one engine does, EventIdOwners.*; but at a restart an earlier run's
// id is the first thread's to meet it for the whole run and another user's use is refused,
// docs/scaling.md; so only one thread here.)
TEST(IdReuse, AnIdUsedAgainByAnotherUserSurvivesARestart) {
  auto p = compile(program(10));
  const V input = {order("e1", "a", 0), visit("v1", "b", 180), order("e1", "c", 181), visit("v3", "b", 399),
                   order("e1", "d", 400), visit("v2", "b", 600), order("e1", "a", 601)};
  const V more = {order("e2", "a", 602), order("e3", "c", 603)};
  check_restart(p, "users", input, more, 1);
  for (size_t cut : {2, 4, 6}) check_restart(p, "users_cut", input, more, 1, cut);
  // Only d's use delivered again (a tail after a crash): d's unit answers it, not the id's first.
  const std::string db = temp_db("users_tail");
  Result first = run(p, db, input, 1);
  ASSERT_TRUE(first.ok) << first.error;
  ASSERT_EQ(first.decisions.size(), 4u);
  Result tail = run(p, db, {order("e1", "d", 400)}, 1);
  ASSERT_TRUE(tail.ok) << tail.error;
  EXPECT_EQ(tail.decisions, V{first.decisions[2]});
  EXPECT_EQ(tail.decided_units, 0u);
}

// Only one of the uses has decisions (a Visit decides nothing): each use must still get its
// own unit's answer, the Visit none and the Order its grant, in either order.
TEST(IdReuse, OnlyOneUseWithDecisionsSurvivesARestart) {
  auto p = compile(program(10));
  const V input = {visit("e1", "a", 0),   order("x", "b", 180),  order("e1", "a", 181),
                   order("e5", "c", 182), order("z", "d", 400), visit("e5", "c", 401)};
  const V more = {order("w", "a", 402), order("y", "c", 403)};
  for (size_t threads : {1, 2}) {
    check_restart(p, "one", input, more, threads);
    for (size_t cut : {3, 5}) check_restart(p, "one_cut", input, more, threads, cut);
  }
}

// A delayed trigger whose trigger id is used again: two timer units `timer:t@e1`, each with
// its grant, and two event units e1 with a pending row each. A restart after both fired, and
// one between (the second timer still pending), must take the ledger and go on as the
// uninterrupted run.
TEST(IdReuse, AReusedTriggerIdOfADelayedStrategySurvivesARestart) {
  auto p = compile(kTimerProgram);
  const V input = {order("e1", "a", 0), visit("v1", "b", 180), order("e1", "a", 181), visit("v2", "b", 300)};
  const V more = {order("e2", "c", 301), visit("v3", "b", 400)};
  for (size_t threads : {1, 2}) {
    check_restart(p, "timer", input, more, threads);
    for (size_t cut : {1, 3}) check_restart(p, "timer_cut", input, more, threads, cut);
  }
  Result r = run(p, temp_db("timer_plain"), concat(input, more), 1);
  ASSERT_TRUE(r.ok) << r.error;
  size_t granted = 0;
  for (const auto& d : r.decisions) granted += d.find("\"granted\"") != std::string::npos;
  EXPECT_EQ(granted, 3u);  // e1's timer twice, e2's
}

// A hot reload attaches a new engine to the same ledger and gives it the input again: it must
// take a ledger with an id in two units, and the run goes on as without the reload.
TEST(IdReuse, AHotReloadTakesALedgerWithAnIdUsedAgain) {
  for (const std::string& text : {program(3), std::string(kTimerProgram)}) {
    auto p = compile(text);
    const V input = {order("e1", "a", 0), visit("v1", "b", 180), order("e1", "a", 181), visit("v2", "b", 300)};
    const V more = {order("e2", "c", 301), order("e3", "d", 302), visit("v3", "b", 400)};
    auto feed = [&](bool reload, V& out) {
      const std::string db = temp_db(reload ? "reload" : "reload_plain");
      crm::Run r(p);
      crm::Error e;
      ASSERT_TRUE(r.set_dedup_window(kHour, e)) << e.message;
      ASSERT_TRUE(r.open_state("sqlite:" + db, false, e)) << e.message;
      ASSERT_TRUE(r.enable_reload(e)) << e.message;
      for (const auto& l : input) ASSERT_TRUE(r.add_event(l, out, e)) << e.message;
      if (reload) {
        ASSERT_TRUE(r.commit(e)) << e.message;
        ASSERT_TRUE(r.reload(p, false, out, e)) << e.message;
      }
      for (const auto& l : more) ASSERT_TRUE(r.add_event(l, out, e)) << e.message;
      ASSERT_TRUE(r.finish(out, e)) << e.message;
      ASSERT_TRUE(r.commit(e)) << e.message;
    };
    V with, without;
    feed(true, with);
    feed(false, without);
    EXPECT_EQ(with, without);
    EXPECT_TRUE(has(without, "\"granted\""));
  }
}

// The in-memory store: the same restart with the engine alone (the store outlives it).
TEST(IdReuse, TheMemoryStoreKeepsTheUnitsApart) {
  crm::testing::Compiled c = crm::testing::compile_text(program(3).c_str());
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const V input = {order("e1", "a", 0), visit("v1", "b", 180), order("e1", "a", 181)};
  const V more = {order("e2", "c", 182), order("e3", "d", 183)};
  crm::state::MemoryStore store, whole;
  auto feed = [&](crm::state::MemoryStore& s, const V& lines, size_t* decided = nullptr) {
    crm::testing::Harness h(c);
    h.engine.set_dedup_window(kHour);
    std::string err;
    V out;
    EXPECT_TRUE(h.engine.attach(&s, err)) << err;
    for (const auto& l : lines) {
      std::vector<crm::engine::Decision> ds;
      crm::engine::Event ev = h.parse(l);
      EXPECT_TRUE(h.engine.submit(ev, ds, err)) << err;
      for (const auto& d : ds) out.push_back(h.engine.decision_json(d));
    }
    EXPECT_TRUE(h.engine.commit(err)) << err;
    if (decided) *decided = h.engine.decided_units();
    return out;
  };
  V first = feed(store, input);
  size_t decided = 1;
  EXPECT_EQ(feed(store, input, &decided), first);
  EXPECT_EQ(decided, 0u);
  V on = feed(store, concat(input, more));
  EXPECT_EQ(on, feed(whole, concat(input, more)));
  EXPECT_TRUE(has(on, "\"stock\""));  // e3: stock 3 is used by e1, e1 again and e2
}

// Makes the ledger at `path` one of schema version 7 (units without start or time).
void downgrade_to_v7(const std::string& path) {
  ASSERT_NO_FATAL_FAILURE(crm::testing::widen_ledger_rows(path));  // and whole records (before schema 9)
  crm::testing::exec_sql(path,
                         "ALTER TABLE crm_units DROP COLUMN first_seq; ALTER TABLE crm_units DROP COLUMN at;"
                         "UPDATE crm_meta SET value = '7' WHERE key = 'schema_version';");
}

// A ledger of schema version 7 (units without their start or time) still opens, is continued
// as before and is moved on to version 8 (and on to 9).
TEST(IdReuse, AVersion7LedgerStillOpensAndContinues) {
  auto p = compile(program(10));
  const std::string db = temp_db("v7");
  const V input = {order("e1", "a", 0), visit("v1", "b", 10), order("e2", "c", 20)};
  const V more = {order("e3", "a", 30)};
  Result first = run(p, db, input, 1);
  ASSERT_TRUE(first.ok) << first.error;
  ASSERT_NO_FATAL_FAILURE(downgrade_to_v7(db));
  Result on = run(p, db, concat(input, more), 1);
  ASSERT_TRUE(on.ok) << on.error;
  Result straight = run(p, temp_db("v7_whole"), concat(input, more), 1);
  ASSERT_TRUE(straight.ok) << straight.error;
  EXPECT_EQ(on.decisions, straight.decisions);
  EXPECT_EQ(on.decided_units, 1u);
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(h,
                               "SELECT (SELECT value FROM crm_meta WHERE key = 'schema_version'), count(*), count(first_seq) "
                               "FROM crm_units",
                               -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "9");
  EXPECT_EQ(sqlite3_column_int(s, 1), 4);  // three old units, one new
  EXPECT_EQ(sqlite3_column_int(s, 2), 1);  // only the new one records where it starts
  sqlite3_finalize(s);
  sqlite3_close(h);
}

namespace {

// Whole days from 2026-01-01 (at most 58: January and February).
std::string day(int d, int minutes = 0) {
  EXPECT_LT(d, 59);
  return fmt::format("2026-{:02}-{:02}T{:02}:{:02}:00Z", d < 31 ? 1 : 2, d < 31 ? d + 1 : d - 30, minutes / 60, minutes % 60);
}
std::string order_ref(const std::string& id, const std::string& user, int d, const std::string& ref) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + day(d) + R"(","amount":10,"ref":")" +
         ref + R"("})";
}
std::string visit_page(const std::string& id, const std::string& user, int d, const std::string& page) {
  return R"({"id":")" + id + R"(","type":"Visit","user":")" + user + R"(","time":")" + day(d) + R"(","page":")" + page +
         R"("})";
}

// A delayed strategy that a Visit cancels: the one naming the Order's ref, or any without one.
const char* kUnlessProgram =
    "event Order { amount: Money(CNY)  ref: String = \"\" }\n"
    "event Visit { page: String = \"\" }\n"
    "resource coupon c { discount: 5 CNY }\n"
    "strategy t for business \"m\" { who: true  when: on Order, after 30 days unless Visit where page == event.ref  "
    "what: grant c via App }\n";
constexpr int64_t kWeek = 7 * 24 * kHour;

size_t count(const V& v, const std::string& what) {
  size_t n = 0;
  for (const auto& s : v) n += s.find(what) != std::string::npos;
  return n;
}


// `before` run by a crm of ledger schema 7; `after` then run (the whole input, as a restart
// gives it) by this crm; restarted on the same input, and again with `more`: the same answers,
// nothing decided again, and the run goes on as the uninterrupted one.
void check_migrated(const crm::CompiledProgram& p, const std::string& name, const V& before, const V& after, const V& more,
                    int64_t window = kHour) {
  SCOPED_TRACE(name);
  const std::string db = temp_db(name), whole = temp_db(name + "_whole");
  ASSERT_TRUE(run(p, db, before, 1, window).ok);
  downgrade_to_v7(db);
  const V input = concat(before, after);
  Result on = run(p, db, input, 1, window);
  ASSERT_TRUE(on.ok) << on.error;
  const int64_t rows = ledger_rows(db);
  Result again = run(p, db, input, 1, window);
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.decisions, on.decisions);
  EXPECT_EQ(again.decided_units, 0u);
  EXPECT_EQ(ledger_rows(db), rows);
  Result rest = run(p, db, concat(input, more), 1, window);
  ASSERT_TRUE(rest.ok) << rest.error;
  Result straight = run(p, whole, concat(input, more), 1, window);
  ASSERT_TRUE(straight.ok) << straight.error;
  EXPECT_EQ(rest.decisions, straight.decisions);
  EXPECT_EQ(ledger_rows(db), ledger_rows(whole));
}

}  // namespace

// Order X at day 0 and again at day 12 (H = 7 days: forgotten, a second timer), a Visit at day
// 14 cancels both: two `cancelled` rows, one per timer. A restart must revive neither (nothing
// is ever granted); when the Visit names one Order's ref only that timer is cancelled, and the
// other one fires.
TEST(IdReuse, TheTimersOfAReusedTriggerIdAreCancelledOneByOne) {
  auto p = compile(kUnlessProgram);
  const V more = {visit_page("w1", "b", 45, ""), visit_page("w2", "b", 50, "")};
  struct Case {
    std::string page;
    size_t granted;
    std::string due;
  };
  for (const Case& c : {Case{"", 0, ""}, Case{"r1", 1, day(42)}, Case{"r2", 1, day(30)}}) {
    SCOPED_TRACE("the Visit names `" + c.page + "`");
    const V input = {order_ref("X", "a", 0, c.page.empty() ? "" : "r1"), visit_page("u", "b", 11, ""),
                     order_ref("X", "a", 12, c.page.empty() ? "" : "r2"), visit_page("v", "a", 14, c.page)};
    Result r = run(p, temp_db("unless_plain"), concat(input, more), 1, kWeek);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(count(r.decisions, "\"cancelled\""), c.page.empty() ? 2u : 1u);
    EXPECT_EQ(count(r.decisions, "\"granted\""), c.granted);
    if (c.granted) {
      EXPECT_EQ(count(r.decisions, "\"at\":\"" + c.due), 1u) << ::testing::PrintToString(r.decisions);
    }
    for (size_t threads : {1, 2}) {
      check_restart(p, "unless", input, more, threads, SIZE_MAX, kWeek);
      check_restart(p, "unless_cut", input, more, threads, 4, kWeek);
    }
  }
}

// A ledger of schema version 7 with unit e1 (unrecorded start); after the upgrade e1 is used
// again (after the window): its second unit records its start, and the first takes the rows
// before it. Both are answered apart at a restart.
TEST(IdReuse, AnIdOfAVersion7LedgerUsedAgainAfterTheUpgrade) {
  auto p = compile(program(3));
  check_migrated(p, "v7_reuse", {order("e1", "a", 0), visit("v1", "b", 10)},
                 {visit("v2", "b", 180), order("e1", "a", 181)}, {order("e2", "c", 182), order("e3", "d", 183)});
  // Adjacent rows: e1's second grant right after its first.
  check_migrated(p, "v7_reuse_adjacent", {order("e1", "a", 0)}, {visit("v2", "b", 180), order("e1", "a", 181)},
                 {order("e2", "c", 182), order("e3", "d", 183)});
}

// A migrated ledger (its units do not record where they start) where a trigger id is used again
// after the upgrade, and the restart cuts with the second timer pending: one timer unit with
// that id, so only the first timer fired; the second still waits (and fires once).
TEST(IdReuse, ATimerPendingInAMigratedLedgerWaits) {
  auto p = compile(kTimerProgram);
  check_migrated(p, "v7_timer", {order("e0", "a", 0), visit("v0", "b", 70)},
                 {order("e1", "c", 100), visit("v1", "b", 170), visit("v4", "b", 250), order("e1", "c", 290)},
                 {visit("v2", "b", 400)});
}

// A restart whose input is only the tail of what was delivered (a redelivery after a crash):
// a retry of the id's second use, with its own time or another within the window, is answered
// with the second unit; the first use alone, with the first. (Both redelivered in reverse
// order is not checked: the second line is then answered as a retry of the first, see below.)
TEST(IdReuse, ATailOnlyRestartAnswersEachUseWithItsUnit) {
  auto p = compile(program(10));
  const std::string db = temp_db("tail");
  Result first = run(p, db, {order("e1", "a", 0), visit("v1", "b", 180), order("e1", "a", 181)}, 1);
  ASSERT_TRUE(first.ok) << first.error;
  ASSERT_EQ(first.decisions.size(), 2u);
  const int64_t rows = ledger_rows(db);
  struct Case {
    V lines, want;
  };
  for (const Case& c : {Case{{order("e1", "a", 181)}, {first.decisions[1]}}, Case{{order("e1", "a", 200)}, {first.decisions[1]}},
                        Case{{order("e1", "a", 0)}, {first.decisions[0]}}}) {
    SCOPED_TRACE(::testing::PrintToString(c.lines));
    Result r = run(p, db, c.lines, 1);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.decisions, c.want);
    EXPECT_EQ(r.decided_units, 0u);
    EXPECT_EQ(ledger_rows(db), rows);
  }
}

// `crm report` counts e1's two adjacent grants (two units) as two deliveries, as a restart's
// counters do (stock 3 is used up by e1, e1 again and e2 in BothUsesWithDecisionsSurviveARestart).
TEST(IdReuse, TheReportCountsTheDeliveriesOfAReusedIdApart) {
  auto p = compile(program(10));
  const std::string db = temp_db("report");
  Result first = run(p, db, {order("e1", "a", 0), visit("v1", "b", 180), order("e1", "a", 181), order("e2", "c", 182)}, 1);
  ASSERT_TRUE(first.ok) << first.error;
  crm::report::Options o;
  o.state = "sqlite:" + db;
  crm::report::Report r = crm::report::build(o);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_FALSE(r.indicators.empty());
  EXPECT_EQ(r.indicators[0].strategy, "s");
  EXPECT_EQ(r.indicators[0].granted, 3);
  EXPECT_EQ(r.indicators[0].deliveries, 3);
}
