// reload_test.cc - hot reload (issue 15 item 6; docs/semantics.md, "Hot reload"):
// Runtime::reload, Run::reload and crm_runtime_reload swap the program between two events.
// Unchanged strategies keep stock, per-user counts, A/B arms and pending timers; changed ones
// follow compare_programs; a refused reload leaves the running program in place; no event is
// lost or decided twice, also with threads feeding the runtime while it reloads; and what a
// reload decides is what a restart with the new program on the same input decides.
#include <crm/crm.h>
#include <crm/run.h>
#include <crm/runtime.h>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

// `limited` and `nudge` are the same in every version below; `extra` is removed by v2, which
// adds `fresh`.
const char* kV1 = R"(
event Order { order_id: String  paid: Bool }
event Pay { order_id: String }
event Visit { page: String }
resource coupon c10 { discount: 10 CNY }
resource coupon nudge5 { discount: 5 CNY }
strategy limited {
    who: true
    when: on Order if paid
    what: grant c10 via App
    how much: stock 3, per user 1 per campaign
    split: variants A 50%, B 50%
}
strategy nudge {
    who: true
    when: on Order if not paid, after 2 hours unless Pay where order_id == event.order_id
    what: grant nudge5 via App
}
strategy extra { who: true  when: on Visit  what: grant c10 via Push }
)";

std::string v2() {
  std::string s = kV1;
  s.replace(s.find("strategy extra"), std::string::npos,
            "strategy fresh { who: true  when: on Visit  what: grant c10 via Push  how much: stock 1 }\n");
  return s;
}

// The same strategies, another program (a segment nobody uses).
std::string v1_same_strategies() { return std::string(kV1) + "segment unused = true\n"; }

crm::CompiledProgram compile(const std::string& text) {
  auto out = crm::compile_modules({{"main", text}});
  EXPECT_TRUE(out.diagnostics.ok()) << out.diagnostics.render_text();
  return out.program;
}

std::string order(const std::string& id, const std::string& user, int minute, bool paid, const std::string& oid = "") {
  char t[32];
  std::snprintf(t, sizeof t, "2026-01-01T%02d:%02d:00Z", minute / 60, minute % 60);
  return R"({"type":"Order","id":")" + id + R"(","user":")" + user + R"(","time":")" + t + R"(","paid":)" +
         (paid ? "true" : "false") + R"(,"order_id":")" + (oid.empty() ? id : oid) + "\"}";
}

std::string visit(const std::string& id, const std::string& user, int minute) {
  char t[32];
  std::snprintf(t, sizeof t, "2026-01-01T%02d:%02d:00Z", minute / 60, minute % 60);
  return R"({"type":"Visit","id":")" + id + R"(","user":")" + user + R"(","time":")" + t + R"(","page":"x"})";
}

std::string pay(const std::string& id, const std::string& user, int minute, const std::string& oid) {
  char t[32];
  std::snprintf(t, sizeof t, "2026-01-01T%02d:%02d:00Z", minute / 60, minute % 60);
  return R"({"type":"Pay","id":")" + id + R"(","user":")" + user + R"(","time":")" + t + R"(","order_id":")" + oid + "\"}";
}

std::string temp_path(const std::string& name) {
  std::string p = ::testing::TempDir() + "reload_" + ::testing::UnitTest::GetInstance()->current_test_info()->name() +
                  "_" + name;
  std::filesystem::remove(p);
  std::filesystem::remove(p + "-wal");
  std::filesystem::remove(p + "-shm");
  std::filesystem::remove(p + ".lock");
  return p;
}

std::vector<crm::Decision> feed(crm::Runtime& rt, const std::string& line) {
  std::vector<crm::Decision> out;
  crm::Error e;
  EXPECT_TRUE(rt.process_event(line, out, e)) << line << ": " << e.message;
  return out;
}

const crm::Decision* of(const std::vector<crm::Decision>& ds, const std::string& strategy) {
  for (const auto& d : ds)
    if (d.strategy == strategy) return &d;
  return nullptr;
}

int64_t query(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  int64_t v = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
      v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
  }
  sqlite3_close(h);
  return v;
}

// Before the reload: u1 and u2 paid orders (2 of 3 stock, their arms), u3 an unpaid order (a
// pending timer due 02:10), u4 an unpaid order (due 02:20), a visit for `extra`.
std::vector<std::string> before() {
  return {order("o1", "u1", 0, true), order("o2", "u2", 1, true), order("o3", "u3", 10, false),
          order("o4", "u4", 20, false), visit("v1", "u1", 21)};
}
// After it: u1 again (per user 1: rejected), u5 takes the last stock, u6 finds none, u4 pays
// (its timer is cancelled), visits for `fresh` (stock 1), then the clock passes u3's timer.
std::vector<std::string> after() {
  return {order("o5", "u1", 30, true), order("o6", "u5", 31, true), order("o7", "u6", 32, true),
          pay("p4", "u4", 33, "o4"), visit("v2", "u7", 34), visit("v3", "u8", 35), order("o8", "u9", 200, true)};
}

void run_unchanged_strategies(const std::string& spec) {
  crm::CompiledProgram p1 = compile(kV1), p2 = compile(v2());
  crm::Runtime rt(p1);
  std::string err;
  if (!spec.empty()) {
    ASSERT_TRUE(rt.open_state(spec, err)) << err;
  }
  crm::Error e;
  ASSERT_TRUE(rt.enable_reload(e)) << e.message;
  std::map<std::string, std::string> arm;  // user -> arm before the reload
  for (const auto& line : before())
    for (const auto& d : feed(rt, line))
      if (d.strategy == "limited") arm[d.user] = d.arm;
  ASSERT_EQ(arm.size(), 2u);
  ASSERT_EQ(rt.pending_timers(), 2u);

  std::vector<crm::Decision> fresh;
  // Strategies added and removed: refused unless allowed, and nothing changes.
  ASSERT_FALSE(rt.reload(p2, fresh, e));
  EXPECT_EQ(e.kind, crm::ErrorKind::Input);
  EXPECT_NE(e.message.find("strategy `extra` removed"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("strategy `fresh` added"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("the running program goes on"), std::string::npos) << e.message;
  ASSERT_TRUE(rt.reload(p2, fresh, e, /*allow_program_change=*/true)) << e.message;
  EXPECT_TRUE(fresh.empty());
  EXPECT_EQ(rt.pending_timers(), 2u) << "pending timers carried over";
  bool noted = false;
  for (const auto& n : rt.state_notices()) noted = noted || n.find("strategy `fresh` added") != std::string::npos;
  EXPECT_TRUE(noted);

  std::map<std::string, std::vector<crm::Decision>> by_event;
  for (const auto& line : after())
    for (const auto& d : feed(rt, line)) by_event[d.event.empty() ? "timer:" + d.user : d.event].push_back(d);
  // Per-user count kept: u1 was granted before the reload.
  const crm::Decision* d = of(by_event["o5"], "limited");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->outcome, crm::Decision::Outcome::Rejected);
  EXPECT_EQ(d->arm, arm["u1"]) << "A/B arm kept";
  // Stock kept: 2 of 3 used before, so u5 takes the last one and u6 finds none.
  ASSERT_NE(of(by_event["o6"], "limited"), nullptr);
  EXPECT_EQ(of(by_event["o6"], "limited")->outcome, crm::Decision::Outcome::Granted);
  ASSERT_NE(of(by_event["o7"], "limited"), nullptr);
  EXPECT_EQ(of(by_event["o7"], "limited")->outcome, crm::Decision::Outcome::Rejected);
  EXPECT_EQ(of(by_event["o7"], "limited")->reason, "stock");
  // The removed strategy decides nothing; the added one starts from zero (stock 1).
  for (const auto& [ev, ds] : by_event) EXPECT_EQ(of(ds, "extra"), nullptr) << ev;
  ASSERT_NE(of(by_event["v2"], "fresh"), nullptr);
  EXPECT_EQ(of(by_event["v2"], "fresh")->outcome, crm::Decision::Outcome::Granted);
  ASSERT_NE(of(by_event["v3"], "fresh"), nullptr);
  EXPECT_EQ(of(by_event["v3"], "fresh")->reason, "stock");
  // Timers armed before the reload: u4's was cancelled by its Pay, u3's fired at 02:10 (when
  // o8 at 03:20 moved the clock), once.
  int fired_u3 = 0, fired_u4 = 0, cancelled_u4 = 0;
  for (const auto& [ev, ds] : by_event)
    for (const auto& x : ds) {
      if (x.strategy != "nudge") continue;
      if (x.user == "u3" && x.outcome == crm::Decision::Outcome::Granted) ++fired_u3;
      if (x.user == "u4" && x.outcome == crm::Decision::Outcome::Granted) ++fired_u4;
      if (x.user == "u4" && x.outcome == crm::Decision::Outcome::Cancelled) ++cancelled_u4;
    }
  EXPECT_EQ(fired_u3, 1);
  EXPECT_EQ(fired_u4, 0);
  EXPECT_EQ(cancelled_u4, 1);
  EXPECT_EQ(rt.pending_timers(), 0u);
}

}  // namespace

TEST(Reload, UnchangedStrategiesKeepStockPerUserCountsArmsAndTimersInMemory) { run_unchanged_strategies(""); }

TEST(Reload, UnchangedStrategiesKeepStockPerUserCountsArmsAndTimersWithALedger) {
  std::string db = temp_path("l.db");
  run_unchanged_strategies("sqlite:" + db);
  // The ledger says which program decided what: the first five events v1, the rest v2.
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_programs"), 2);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units WHERE kind = 0 AND program = 1"), 5);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units WHERE kind = 0 AND program = 2"), 7);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units WHERE program IS NULL"), 0);
  // Every event decided once.
  EXPECT_EQ(query(db, "SELECT count(*) - count(DISTINCT unit) FROM crm_units WHERE kind = 0"), 0);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_ledger WHERE strategy = 'limited' AND outcome = 'granted'"), 3);
}

// The semantics are one thing: a reload mid-stream decides what a restart with the new program
// on the same input decides.
TEST(Reload, ReloadingDecidesWhatARestartWithTheNewProgramDecides) {
  crm::CompiledProgram p1 = compile(kV1), p2 = compile(v2());
  std::string a = temp_path("a.db"), b = temp_path("b.db"), err;
  std::vector<std::string> reloaded, restarted;
  {
    crm::Runtime rt(p1);
    crm::Error e;
    ASSERT_TRUE(rt.open_state("sqlite:" + a, err)) << err;
    ASSERT_TRUE(rt.enable_reload(e)) << e.message;
    for (const auto& line : before()) feed(rt, line);
    std::vector<crm::Decision> fresh;
    ASSERT_TRUE(rt.reload(p2, fresh, e, true)) << e.message;
    for (const auto& line : after())
      for (const auto& d : feed(rt, line)) reloaded.push_back(d.json);
    std::vector<crm::Decision> end;
    ASSERT_TRUE(rt.finish(end, e)) << e.message;
    for (const auto& d : end) reloaded.push_back(d.json);
  }
  {
    crm::Runtime rt(p1);
    ASSERT_TRUE(rt.open_state("sqlite:" + b, err)) << err;
    for (const auto& line : before()) feed(rt, line);
  }
  {
    crm::Runtime rt(p2);
    ASSERT_TRUE(rt.open_state("sqlite:" + b, err, crm::Runtime::Commit::OnReturn, true)) << err;
    for (const auto& line : before()) feed(rt, line);  // answered from the ledger
    for (const auto& line : after())
      for (const auto& d : feed(rt, line)) restarted.push_back(d.json);
    std::vector<crm::Decision> end;
    crm::Error e;
    ASSERT_TRUE(rt.finish(end, e)) << e.message;
    for (const auto& d : end) restarted.push_back(d.json);
  }
  EXPECT_FALSE(reloaded.empty());
  EXPECT_EQ(reloaded, restarted);
}

TEST(Reload, AChangedStrategyFollowsTheProgramIdentityRules) {
  std::string more = kV1, other_currency = kV1;
  more.replace(more.find("stock 3"), 7, "stock 4");
  other_currency.replace(other_currency.find("discount: 10 CNY"), 16, "discount: 10 USD");
  crm::CompiledProgram p1 = compile(kV1), p_more = compile(more), p_usd = compile(other_currency);
  crm::Runtime rt(p1);
  crm::Error e;
  ASSERT_TRUE(rt.enable_reload(e)) << e.message;
  for (int i = 0; i < 3; ++i) feed(rt, order("o" + std::to_string(i), "u" + std::to_string(i), i, true));
  std::vector<crm::Decision> fresh;
  // Changed without the change allowed: refused; the old stock (3, all used) still holds.
  ASSERT_FALSE(rt.reload(p_more, fresh, e));
  EXPECT_EQ(e.kind, crm::ErrorKind::Input);
  EXPECT_NE(e.message.find("strategy `limited` changed"), std::string::npos) << e.message;
  auto ds = feed(rt, order("o3", "u3", 3, true));
  ASSERT_NE(of(ds, "limited"), nullptr);
  EXPECT_EQ(of(ds, "limited")->reason, "stock");
  // Counters that cannot carry over (a coupon granted in CNY now in USD): refused even when allowed.
  ASSERT_FALSE(rt.reload(p_usd, fresh, e, true));
  EXPECT_NE(e.message.find("cannot be continued"), std::string::npos) << e.message;
  // Allowed: the changed strategy keeps its counters; stock 4 after 3 grants leaves one.
  ASSERT_TRUE(rt.reload(p_more, fresh, e, true)) << e.message;
  ds = feed(rt, order("o4", "u4", 4, true));
  ASSERT_NE(of(ds, "limited"), nullptr);
  EXPECT_EQ(of(ds, "limited")->outcome, crm::Decision::Outcome::Granted);
  ds = feed(rt, order("o5", "u5", 5, true));
  ASSERT_NE(of(ds, "limited"), nullptr);
  EXPECT_EQ(of(ds, "limited")->reason, "stock");
  // Back to stock 3 is a change again; the same strategies in another program is none.
  ASSERT_FALSE(rt.reload(p1, fresh, e));
  ASSERT_TRUE(rt.reload(compile(more + "segment unused = true\n"), fresh, e)) << e.message;
}

TEST(Reload, AFailedReloadLeavesTheRunningProgram) {
  std::string db = temp_path("l.db"), err;
  crm::CompiledProgram p1 = compile(kV1);
  crm::Runtime rt(p1);
  crm::Error e;
  std::vector<crm::Decision> fresh;
  // Not enabled: refused.
  ASSERT_FALSE(rt.reload(p1, fresh, e));
  EXPECT_EQ(e.kind, crm::ErrorKind::Input);
  ASSERT_TRUE(rt.open_state("sqlite:" + db, err)) << err;
  ASSERT_TRUE(rt.enable_reload(e)) << e.message;
  feed(rt, order("o1", "u1", 0, true));
  feed(rt, visit("v1", "u1", 1));
  // Too late to enable now; a program that did not compile.
  EXPECT_FALSE(rt.enable_reload(e));
  EXPECT_FALSE(rt.reload(crm::CompiledProgram(), fresh, e));
  EXPECT_EQ(e.kind, crm::ErrorKind::Input);
  // A program that cannot read the input already given (Visit's `page` is an Int): refused,
  // after its engine had attached to the ledger.
  std::string no_page = kV1;
  no_page.replace(no_page.find("event Visit { page: String }"), 28, "event Visit { page: Int }");
  ASSERT_FALSE(rt.reload(compile(no_page), fresh, e, true));
  EXPECT_EQ(e.kind, crm::ErrorKind::Input);
  EXPECT_NE(e.message.find("refuses event #2"), std::string::npos) << e.message;
  // The running program goes on, its counters whole, and the ledger names it for new units.
  auto ds = feed(rt, order("o2", "u1", 2, true));
  ASSERT_NE(of(ds, "limited"), nullptr);
  EXPECT_EQ(of(ds, "limited")->outcome, crm::Decision::Outcome::Rejected);  // per user 1
  ds = feed(rt, visit("v2", "u2", 3));
  ASSERT_NE(of(ds, "extra"), nullptr);
  EXPECT_EQ(of(ds, "extra")->outcome, crm::Decision::Outcome::Granted);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units WHERE program IS NULL"), 0);
  // (The refused program's row stays in crm_programs, with no unit; the old program is
  // recorded again after it.)
  EXPECT_EQ(query(db, "SELECT count(DISTINCT p.hash) FROM crm_units u JOIN crm_programs p ON p.id = u.program"), 1);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units"), 4);
}

// A new `at` strategy whose instant has passed is decided by the reload, as a restart decides
// it; a refused reload after such a decision rolls it back.
TEST(Reload, ANewScheduledStrategyIsDecidedAsARestartDecidesIt) {
  std::string with_at = v1_same_strategies() +
                        "strategy morning { who: true  when: at 2026-01-01T00:15Z  what: grant c10 via Push }\n";
  crm::CompiledProgram p1 = compile(kV1), p_at = compile(with_at);
  std::string db = temp_path("l.db"), err;
  crm::Runtime rt(p1);
  crm::Error e;
  ASSERT_TRUE(rt.open_state("sqlite:" + db, err)) << err;
  ASSERT_TRUE(rt.enable_reload(e)) << e.message;
  for (const auto& line : before()) feed(rt, line);
  std::vector<crm::Decision> fresh;
  // The same, but it cannot read the visit at 00:21: refused after it decided the run at 00:15,
  // which is rolled back (nothing of it in the ledger, nothing reported).
  std::string bad = with_at;
  bad.replace(bad.find("event Visit { page: String }"), 28, "event Visit { page: Int }");
  ASSERT_FALSE(rt.reload(compile(bad), fresh, e, true));
  EXPECT_NE(e.message.find("refuses event #5"), std::string::npos) << e.message;
  EXPECT_TRUE(fresh.empty());
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units WHERE kind = 1"), 0);
  auto ds = feed(rt, visit("v2", "u5", 22));  // the running program goes on
  ASSERT_NE(of(ds, "extra"), nullptr);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units WHERE kind = 1"), 0);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_ledger WHERE strategy = 'morning'"), 0);
  ASSERT_TRUE(rt.reload(p_at, fresh, e, true)) << e.message;
  // u1, u2, u3 were known at 00:15 (u4 came at 00:20).
  std::set<std::string> users;
  for (const auto& d : fresh) {
    EXPECT_EQ(d.strategy, "morning");
    users.insert(d.user);
  }
  EXPECT_EQ(users, (std::set<std::string>{"u1", "u2", "u3"}));
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units WHERE kind = 1"), 1);
  // Back to v1 (allowed): the scheduled run stays in the ledger, decided once.
  ASSERT_TRUE(rt.reload(p1, fresh, e, true)) << e.message;
  ASSERT_TRUE(rt.reload(p_at, fresh, e, true)) << e.message;
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units WHERE kind = 1"), 1);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_ledger WHERE strategy = 'morning'"), 3);
}

// Threads feed the runtime while another reloads between two programs with the same
// strategies: every event is decided exactly once, stock is never overgranted.
TEST(Reload, ConcurrentCallersLoseNoEventAndDecideNoneTwice) {
  std::string db = temp_path("l.db"), err;
  crm::CompiledProgram p1 = compile(kV1), p1b = compile(v1_same_strategies());
  crm::Runtime rt(p1);
  crm::Error e;
  ASSERT_TRUE(rt.open_state("sqlite:" + db, err)) << err;
  ASSERT_TRUE(rt.enable_reload(e)) << e.message;
  constexpr int kThreads = 3, kPerThread = 150;
  std::atomic<int> done{0}, failures{0};
  std::mutex first_failure_mu;
  std::string first_failure;
  std::vector<std::vector<crm::Decision>> got(kThreads);
  std::vector<std::thread> feeders;
  for (int t = 0; t < kThreads; ++t)
    feeders.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Each thread its own users; one instant, so no interleaving is out of time order.
        std::string id = "t" + std::to_string(t) + "_" + std::to_string(i);
        std::string user = "t" + std::to_string(t) + "u" + std::to_string(i % 40);
        crm::Error fe;
        if (!rt.process_event(order(id, user, 0, true), got[t], fe)) {
          ++failures;
          std::lock_guard lk(first_failure_mu);
          if (first_failure.empty()) first_failure = fe.message;
        }
      }
      ++done;
    });
  int reloads = 0;
  while (done.load() < kThreads) {
    std::vector<crm::Decision> fresh;
    crm::Error re;
    if (rt.reload(reloads % 2 ? p1 : p1b, fresh, re)) ++reloads;
    else ADD_FAILURE() << re.message;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (auto& f : feeders) f.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GE(reloads, 2);
  std::map<std::string, int> decided;
  int granted = 0;
  for (const auto& ds : got)
    for (const auto& d : ds) {
      if (d.strategy == "limited") ++decided[d.event];
      if (d.strategy == "limited" && d.outcome == crm::Decision::Outcome::Granted) ++granted;
    }
  EXPECT_EQ(decided.size(), size_t(kThreads * kPerThread));
  for (const auto& [id, n] : decided) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(granted, 3);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units WHERE kind = 0"), kThreads * kPerThread);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_ledger WHERE outcome = 'granted'"), 3);
}

TEST(Reload, RunReloadsAndRefusesThreads) {
  crm::CompiledProgram p1 = compile(kV1), p2 = compile(v2());
  {
    crm::Run run(p1);
    crm::Error e;
    ASSERT_TRUE(run.set_threads(2, e)) << e.message;
    EXPECT_FALSE(run.enable_reload(e));
    EXPECT_NE(e.message.find("thread"), std::string::npos) << e.message;
  }
  crm::Run run(p1);
  crm::Error e;
  ASSERT_TRUE(run.enable_reload(e)) << e.message;
  EXPECT_EQ(run.state_description(), "memory");
  std::vector<std::string> out;
  for (const auto& line : before()) ASSERT_TRUE(run.add_event(line, out, e)) << e.message;
  std::vector<std::string> fresh;
  ASSERT_TRUE(run.reload(p2, true, fresh, e)) << e.message;
  out.clear();
  for (const auto& line : after()) ASSERT_TRUE(run.add_event(line, out, e)) << e.message;
  ASSERT_TRUE(run.commit(e));
  size_t fresh_grants = 0, stock_rejections = 0;
  for (const auto& line : out) {
    if (line.find("\"strategy\":\"fresh\"") != std::string::npos && line.find("\"granted\"") != std::string::npos) ++fresh_grants;
    if (line.find("\"strategy\":\"limited\"") != std::string::npos && line.find("\"stock\"") != std::string::npos) ++stock_rejections;
  }
  EXPECT_EQ(fresh_grants, 1u);
  EXPECT_EQ(stock_rejections, 2u);  // o7 and o8: stock 3 used by u1, u2, u5
  EXPECT_EQ(run.stats().events, before().size() + after().size()) << "counts go on across a reload, once";
}

TEST(Reload, TheCApiReloads) {
  crm_compilation* c1 = nullptr;
  crm_compilation* c2 = nullptr;
  std::string s1 = kV1, s2 = v2();
  const char* name = "main";
  const char* t1 = s1.c_str();
  const char* t2 = s2.c_str();
  ASSERT_EQ(crm_compile_sources(&name, &t1, nullptr, 1, nullptr, &c1), CRM_OK);
  ASSERT_EQ(crm_compile_sources(&name, &t2, nullptr, 1, nullptr, &c2), CRM_OK);
  crm_program* p1 = nullptr;
  crm_program* p2 = nullptr;
  ASSERT_EQ(crm_compilation_program(c1, &p1), CRM_OK);
  ASSERT_EQ(crm_compilation_program(c2, &p2), CRM_OK);
  crm_runtime* rt = nullptr;
  ASSERT_EQ(crm_runtime_new(p1, nullptr, &rt), CRM_OK);
  crm_decisions* out = nullptr;
  EXPECT_EQ(crm_runtime_reload(rt, p2, 1, &out), CRM_ERR_INPUT);  // not enabled
  ASSERT_EQ(crm_runtime_enable_reload(rt), CRM_OK);
  for (const auto& line : before()) {
    ASSERT_EQ(crm_runtime_process_event(rt, line.data(), line.size(), &out), CRM_OK) << crm_last_error();
    crm_decisions_free(out);
  }
  EXPECT_EQ(crm_runtime_reload(rt, p2, 0, &out), CRM_ERR_INPUT);
  EXPECT_NE(std::string(crm_last_error()).find("allow"), std::string::npos) << crm_last_error();
  ASSERT_EQ(crm_runtime_reload(rt, p2, 1, &out), CRM_OK) << crm_last_error();
  EXPECT_EQ(crm_decisions_count(out), 0u);
  crm_decisions_free(out);
  EXPECT_GE(crm_runtime_notice_count(rt), 1u);
  std::string v = visit("v9", "u9", 50);
  ASSERT_EQ(crm_runtime_process_event(rt, v.data(), v.size(), &out), CRM_OK) << crm_last_error();
  ASSERT_EQ(crm_decisions_count(out), 1u);
  crm_decision d;
  ASSERT_EQ(crm_decisions_get(out, 0, &d), CRM_OK);
  EXPECT_STREQ(d.strategy, "fresh");
  crm_decisions_free(out);
  crm_runtime_free(rt);
  crm_program_free(p1);
  crm_program_free(p2);
  crm_compilation_free(c1);
  crm_compilation_free(c2);
}
