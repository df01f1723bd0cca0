// clause_dispatch_test.cc - one executor call per event for the candidates' clauses
// (Executor::run_clauses, DecisionRules::prematch, the JIT's clause dispatchers): the engine
// decides exactly as when every clause is evaluated at its strategy's turn, faults, short
// circuits and strategies whose outcome depends on an earlier one's decision included.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

#include "sqlite_helpers.h"
#include "compile_helpers.h"
#include "throwing_executor.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/executor.h"
#include "runtime/jit/jit.h"
#include "runtime/jit/jit_executor.h"
#include "runtime/state/state_store.h"

namespace {

using crm::testing::compile_text;
using crm::testing::Compiled;

// The VM, evaluating the lists prematch() gives it one unit at a time (the reference loop of the
// contract), and counting them: the fused order with the VM's code.
class LoopingExecutor final : public crm::engine::Executor {
 public:
  explicit LoopingExecutor(const crm::bytecode::Program& p) : vm_(p) {}
  std::string_view name() const override { return "vm-looping"; }
  const crm::bytecode::Program& program() const override { return vm_.program(); }
  void prepare(crm::vm::Context& ctx) const override { vm_.prepare(ctx); }
  crm::vm::Result run(uint32_t unit, crm::vm::Context& ctx) const override { return vm_.run(unit, ctx); }
  void run_batch(uint32_t unit, const crm::vm::BatchInput& in, crm::engine::BatchSelection& out) const override {
    vm_.run_batch(unit, in, out);
  }
  bool run_clauses(const crm::engine::ClauseGroup* groups, size_t n, crm::vm::Context& ctx,
                   crm::engine::ClauseVerdict* out) const override {
    ++lists;
    run_clauses_by_unit(groups, n, ctx, out);
    return true;
  }
  mutable std::atomic<int> lists{0};

 private:
  crm::engine::VmExecutor vm_;
};

// Strategies of every shape prematch() meets, all on Order and unindexed, so every event has
// the same candidate list (hot after its first use):
//  - clauses that fault for some users or events (division by zero, overflow), in `if`, `who`
//    and `where`;
//  - `where:` clauses that would fault if evaluated after a `who:` that failed (no fault may be
//    counted for them), and a `who:` after an `if` that failed;
//  - strategies drawing on one pool with a small stock, so a lower-priority strategy is
//    rejected once the higher ones took it (the same event, or earlier ones), and an exclusive
//    group;
//  - strategies reading their user's delivery history (`received`), which an earlier strategy
//    of the same event changes: these must be evaluated at their turn, not ahead;
//  - a strategy in another zone whose clause reads the local hour.
const char* kProgram = R"(
profile { level: Int = 0  k: Int = 1 }
event Order { amount: Money(CNY)  n: Int  city: String }
resource coupon c5 { discount: 5 CNY  threshold: 50 CNY }
resource coupon c9 { discount: 9 CNY  threshold: 50 CNY }
resource push hello { body: "hi" }
pool scarce { stock 7 }
strategy div_who { who: 100 / level > 30  when: on Order  what: grant c5 via App  how much: from pool scarce  priority: 20 }
strategy ovf_where { who: level >= 2  when: on Order  where: n * 4611686018427387904 > 0 and amount >= 20 CNY
                     what: grant c9 via App  how much: from pool scarce  priority: 19 }
strategy never_where { who: level < 0  when: on Order  where: 1 / (n - n) > 0  what: send hello via Push  priority: 18 }
strategy if_first { who: 10 / (k - 1) > 0  when: on Order if n > 1  what: grant c5 via App  how much: from pool scarce
                    priority: 17 }
strategy if_fault { who: level >= 1  when: on Order if 5 / n > 1  where: city != "x"  what: grant c9 via App
                    how much: from pool scarce, per user 1 per day  priority: 16 }
strategy first_gift { who: not received(first_gift)  when: on Order  where: amount >= 100 CNY  what: send hello via Push
                      priority: 15 }
strategy after_gift { who: received(first_gift)  when: on Order  where: amount >= 100 CNY  what: grant c5 via App
                      how much: from pool scarce  priority: 14 }
strategy excl_a { who: level >= 3  when: on Order  where: n >= 0  what: grant c9 via App  exclusive: "gifts"  priority: 13 }
strategy excl_b { who: level >= 1  when: on Order  where: n <= 2  what: grant c5 via App  exclusive: "gifts"  priority: 12 }
strategy local { who: level >= 0  when: on Order  where: hour(now()) >= 12 and amount * n >= 300 CNY  zone: "Asia/Shanghai"
                 what: send hello via Push  how much: per user 1 per day  priority: 11 }
strategy tail_a { who: level * 3 > 4  when: on Order  where: amount < 60 CNY  what: grant c9 via App  how much: from pool scarce
                  priority: 10 }
strategy tail_b { who: true  when: on Order  where: amount / (n + 1) > 40 CNY  what: grant c5 via App
                  how much: from pool scarce  priority: 9 }
)";

std::vector<std::string> events(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  static const char* amounts[] = {"10", "25.5", "59", "100", "240", "600"};
  static const char* cities[] = {"x", "y", "z"};
  int64_t minute = 0;
  for (int i = 0; i < 240; ++i) {
    minute += 17 + static_cast<int64_t>(rng() % 300);
    char time[64];
    std::snprintf(time, sizeof time, "2026-03-%02lldT%02lld:%02lld:00Z", static_cast<long long>(1 + minute / 1440),
                  static_cast<long long>(minute / 60 % 24), static_cast<long long>(minute % 60));
    out.push_back(std::string(R"({"id":"e)") + std::to_string(i) + R"(","type":"Order","user":"u)" +
                  std::to_string(rng() % 12) + R"(","time":")" + time + R"(","amount":)" + amounts[rng() % 6] +
                  R"(,"n":)" + std::to_string(static_cast<int>(rng() % 7) - 3) + R"(,"city":")" + cities[rng() % 3] + "\"}");
  }
  return out;
}

struct Outcome {
  std::vector<std::string> decisions;
  crm::engine::Stats stats;
};

Outcome run(const Compiled& c, std::shared_ptr<crm::engine::Executor> ex, const std::vector<std::string>& lines) {
  crm::engine::Engine eng(c.program(), {std::move(ex)});
  std::string err;
  // Levels 0..5 and k 1 or 2: 100 / level and 10 / (k - 1) fault for some users.
  for (int u = 0; u < 12; ++u)
    EXPECT_TRUE(eng.load_profile_line(R"({"user":"u)" + std::to_string(u) + R"(","level":)" + std::to_string(u % 6) +
                                          R"(,"k":)" + std::to_string(1 + u % 2) + "}",
                                      err))
        << err;
  Outcome r;
  for (const auto& line : lines) {
    crm::engine::Event ev;
    EXPECT_TRUE(eng.parse_event(line, ev, err)) << line << ": " << err;
    std::vector<crm::engine::Decision> out;
    EXPECT_TRUE(eng.process(ev, out, err)) << err;
    for (const auto& d : out) r.decisions.push_back(eng.decision_json(d));
  }
  r.stats = eng.stats();
  return r;
}

void expect_same(const Outcome& a, const Outcome& b) {
  EXPECT_EQ(a.decisions, b.decisions);
  EXPECT_EQ(a.stats.eval_errors, b.stats.eval_errors);
  EXPECT_EQ(a.stats.eval_errors_by_kind, b.stats.eval_errors_by_kind);
  EXPECT_EQ(a.stats.granted, b.stats.granted);
  EXPECT_EQ(a.stats.rejected, b.stats.rejected);
}

TEST(ClauseDispatch, OneCallPerEventDecidesAsEveryClauseAtItsTurn) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  for (uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto lines = events(seed);
    // The reference: the VM executor declines, so every clause runs at its strategy's turn.
    Outcome reference = run(c, nullptr, lines);
    // The data exercise what the test is about: faults of several kinds, grants and rejections
    // (the pool runs out), deliveries of first_gift seen by after_gift.
    ASSERT_GE(reference.stats.eval_errors_by_kind.size(), 2u);
    ASSERT_GT(reference.stats.granted, 7u);
    ASSERT_GT(reference.stats.rejected, 0u);
    bool after_gift = false;
    for (const auto& d : reference.decisions) after_gift |= d.find(R"("strategy":"after_gift","outcome":"granted")") != std::string::npos;
    ASSERT_TRUE(after_gift);

    auto looping = std::make_shared<LoopingExecutor>(c.program());
    Outcome fused_vm = run(c, looping, lines);
    EXPECT_GT(looping->lists.load(), 0);
    expect_same(reference, fused_vm);

    // Compiled on the thread that made the list hot, the dispatcher exists from the second
    // event on, so events 3 to 240 surely ran through it (in the background the run could end
    // before it is published, and then nothing here would test it).
    std::string error;
    crm::jit::Options sync;
    sync.background_dispatchers = false;
    auto jit = crm::jit::JitExecutor::create(c.program(), error, false, sync);
    ASSERT_TRUE(jit) << error;
    Outcome fused_jit = run(c, jit, lines);
    EXPECT_EQ(jit->jit().stats().dispatchers, 1u);
    EXPECT_EQ(jit->jit().stats().background_dispatchers, 0u);
    expect_same(reference, fused_jit);
    // The product's default (in the background): the same decisions whenever it is published.
    auto background = crm::jit::JitExecutor::create(c.program(), error);
    ASSERT_TRUE(background) << error;
    Outcome fused_background = run(c, background, lines);
    background->jit().wait_for_dispatchers();
    EXPECT_EQ(background->jit().stats().dispatchers, 1u);
    expect_same(reference, fused_background);
  }
}

// The dispatcher's verdicts, group by group, against the reference loop over the VM: every
// user of kProgram against events that fault in every clause position.
TEST(ClauseDispatch, DispatcherVerdictsAndFaultTextsAreTheVms) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  std::string error;
  auto jit = crm::jit::JitExecutor::create(p, error);
  ASSERT_TRUE(jit) << error;
  crm::engine::VmExecutor vm(p);
  std::vector<crm::engine::ClauseGroup> groups;
  for (const auto& s : p.strategies) {
    crm::engine::ClauseGroup g;
    g.units[0] = s.trigger_if;
    g.units[1] = s.who;
    g.units[2] = s.where;
    g.zone = &s.zone;
    groups.push_back(g);
  }
  crm::engine::Engine eng(p);
  std::string err;
  int dispatched = 0;
  for (int level = 0; level < 6; ++level)
    for (int n = -3; n <= 3; ++n) {
      crm::engine::Event ev;
      ASSERT_TRUE(eng.parse_event(R"({"id":"e","type":"Order","user":"u","time":"2026-03-01T05:00:00Z","amount":240,"n":)" +
                                      std::to_string(n) + R"(,"city":"y"})",
                                  ev, err))
          << err;
      const std::string user = "u" + std::to_string(level);
      ASSERT_TRUE(eng.load_profile_line(R"({"user":")" + user + R"(","level":)" + std::to_string(level) + R"(,"k":)" +
                                            std::to_string(1 + level % 2) + "}",
                                        err))
          << err;
      // Copies: profile_of returns the row by value (the user's block is not a vector).
      const std::vector<int64_t> profile = *eng.profile_of(user);
      const std::vector<uint8_t> present = *eng.profile_present_of(user);
      crm::vm::Context ctx;
      vm.prepare(ctx);
      ctx.profile = profile.data();
      ctx.profile_present = present.data();
      ctx.profile_size = profile.size();
      ctx.event = ev.fields.data();
      ctx.event_present = ev.present.data();
      ctx.event_size = ev.fields.size();
      ctx.now = ev.time;
      std::vector<crm::engine::ClauseVerdict> want(groups.size()), got(groups.size());
      vm.run_clauses_by_unit(groups.data(), groups.size(), ctx, want.data());
      if (!jit->run_clauses(groups.data(), groups.size(), ctx, got.data())) {  // not hot yet
        jit->jit().wait_for_dispatchers();  // compiled in the background: from the next call on
        continue;
      }
      ++dispatched;
      for (size_t i = 0; i < groups.size(); ++i) {
        SCOPED_TRACE(p.strategies[i].name + ", level " + std::to_string(level) + ", n " + std::to_string(n));
        EXPECT_EQ(got[i].matched, want[i].matched);
        EXPECT_EQ(got[i].faulted, want[i].faulted);
        EXPECT_STREQ(got[i].error ? got[i].error : "", want[i].error ? want[i].error : "");
      }
    }
  EXPECT_GE(dispatched, 40);
}

// Lists shorter than Jit::kMinFusedUnits are declined: one clause at a time, as before.
TEST(ClauseDispatch, ShortListsAreDeclined) {
  Compiled c = compile_text(R"(
profile { level: Int = 0 }
event Order { amount: Money(CNY) }
resource push hello { body: "hi" }
strategy one { who: level >= 1  when: on Order  where: amount > 1 CNY  what: send hello via Push }
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  std::string error;
  auto jit = crm::jit::JitExecutor::create(c.program(), error);
  ASSERT_TRUE(jit) << error;
  crm::engine::Engine eng(c.program(), {jit});
  std::string err;
  for (int i = 0; i < 5; ++i) {
    crm::engine::Event ev;
    ASSERT_TRUE(eng.parse_event(R"({"id":"e)" + std::to_string(i) +
                                    R"(","type":"Order","user":"u","time":"2026-03-01T05:00:00Z","amount":5})",
                                ev, err));
    std::vector<crm::engine::Decision> out;
    ASSERT_TRUE(eng.process(ev, out, err)) << err;
  }
  EXPECT_EQ(jit->jit().stats().dispatchers, 0u);
}

// ThrowingExecutor (throwing_executor.h): the VM with clause lists (as LoopingExecutor), whose
// run() throws once when armed.
using crm::testing::ThrowingExecutor;

// An event whose deciding throws after prematch() left verdicts for other strategies: before
// the engine stopped at an exception, the next event (`lo`'s, decided through rank() without a
// prematch of its own, since `valued` has `value:`) took the verdict left for `hi` and granted
// `plain` to `lo`, whose level is 0 (fixed then by a scope guard in DecisionRules). Now nothing
// is decided after the throw at all: every later call that changes state or commits throws the
// reason the engine stopped, and reads still answer.
TEST(ClauseDispatch, AnEngineWhoseDecidingThrewStopsAndTakesNoMoreInput) {
  Compiled c = compile_text(R"(
profile { level: Int = 0 }
event Order { city: String }
resource coupon c5 { discount: 5 CNY }
strategy gate { who: not received(gate)  when: on Order  what: grant c5 via App  priority: 20 }
strategy plain { who: level >= 1  when: on Order  what: grant c5 via App  priority: 10 }
strategy valued { who: true  when: on Order  where: event.city == "v"  what: grant c5 via App  value: 1 CNY  priority: 5 }
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& prog = c.program();
  auto ex = std::make_shared<ThrowingExecutor>(prog);
  crm::engine::Engine eng(prog, {ex});
  std::string err;
  ASSERT_TRUE(eng.load_profile_line(R"({"user":"hi","level":1})", err)) << err;
  ASSERT_TRUE(eng.load_profile_line(R"({"user":"lo","level":0})", err)) << err;
  auto event = [&](const std::string& id, const std::string& user, const std::string& city) {
    crm::engine::Event ev;
    EXPECT_TRUE(eng.parse_event(R"({"id":")" + id + R"(","type":"Order","user":")" + user +
                                    R"(","time":"2026-03-01T10:00:00Z","city":")" + city + "\"}",
                                ev, err))
        << err;
    return ev;
  };
  uint32_t gate = 0;
  for (uint32_t s = 0; s < prog.strategies.size(); ++s)
    if (prog.strategies[s].name == "gate") gate = s;
  ex->arm(prog.strategies[gate].who);
  std::vector<crm::engine::Decision> out;
  ASSERT_TRUE(eng.stopped().empty());
  const auto lo_profile = eng.profile_of("lo");
  ASSERT_TRUE(lo_profile.has_value());
  EXPECT_THROW(eng.process(event("e1", "hi", "x"), out, err), std::runtime_error);
  ASSERT_TRUE(ex->threw()) << "gate's who was not run";
  EXPECT_NE(eng.stopped().find("(injected)"), std::string::npos) << eng.stopped();
  const auto e2 = event("e2", "lo", "v");  // parsing changes no state: it still works
  out.clear();
  try {
    eng.process(e2, out, err);
    ADD_FAILURE() << "the next event was decided after the engine stopped";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), eng.stopped());
  }
  EXPECT_TRUE(out.empty());
  EXPECT_THROW(eng.submit(e2, out, err), std::runtime_error);
  EXPECT_THROW(eng.advance_to(e2.time, out, err), std::runtime_error);
  EXPECT_THROW(eng.finish(out, err), std::runtime_error);
  EXPECT_THROW(eng.commit(err), std::runtime_error);
  EXPECT_THROW(eng.load_profile_line(R"({"user":"x","level":2})", err), std::runtime_error);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(eng.has_user("x"));
  EXPECT_EQ(eng.profile_of("lo"), lo_profile);  // reads answer
  // The first reason stands: the refusals did not replace it.
  EXPECT_NE(eng.stopped().find("(injected)"), std::string::npos) << eng.stopped();
}

std::string temp_ledger(const std::string& name) {
  std::string path = ::testing::TempDir() + "crm_clause_dispatch_" + std::to_string(::getpid()) + "_" + name + ".db";
  crm::testing::remove_ledger_files(path);
  return path;
}

// What a stopped engine leaves in its ledger: the units committed before the failure and nothing
// after (the store rolls back what no commit covered). A new engine on that ledger, given the
// same input again, answers the committed event from the ledger and decides the rest once: its
// decisions are those of a run that never failed (the stock of 2 is not taken twice).
TEST(ClauseDispatch, ANewEngineOnTheLedgerOfAStoppedOneDecidesAsARunThatNeverFailed) {
  Compiled c = compile_text(R"(
event Order { city: String }
resource coupon c5 { discount: 5 CNY }
strategy gate { who: event.city != ""  when: on Order  what: grant c5 via App  how much: per user 1 per campaign, stock 2 }
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& prog = c.program();
  std::vector<std::string> lines;
  for (int i = 0; i < 4; ++i)
    lines.push_back(R"({"id":"e)" + std::to_string(i) + R"(","type":"Order","user":"u)" + std::to_string(i) +
                    R"(","time":"2026-03-01T10:0)" + std::to_string(i) + R"(:00Z","city":"x"})");
  // Feeds lines[from, to) to `eng`; the decisions' lines in order.
  auto feed = [&](crm::engine::Engine& eng, size_t from, size_t to, std::vector<std::string>& json) {
    std::string err;
    for (size_t i = from; i < to; ++i) {
      crm::engine::Event ev;
      ASSERT_TRUE(eng.parse_event(lines[i], ev, err)) << err;
      std::vector<crm::engine::Decision> out;
      ASSERT_TRUE(eng.process(ev, out, err)) << err;
      for (const auto& d : out) json.push_back(eng.decision_json(d));
    }
  };
  std::string err;
  std::vector<std::string> clean;
  {
    auto store = crm::state::open_store("sqlite:" + temp_ledger("clean"), err);
    ASSERT_TRUE(store) << err;
    crm::engine::Engine eng(prog);
    ASSERT_TRUE(eng.attach(store.get(), err)) << err;
    feed(eng, 0, 4, clean);
    ASSERT_TRUE(eng.commit(err)) << err;
  }
  ASSERT_EQ(clean.size(), 4u);
  const std::string path = temp_ledger("stopped");
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_TRUE(store) << err;
    auto ex = std::make_shared<ThrowingExecutor>(prog);
    crm::engine::Engine eng(prog, {ex});
    ASSERT_TRUE(eng.attach(store.get(), err)) << err;
    std::vector<std::string> first;
    feed(eng, 0, 1, first);
    ASSERT_TRUE(eng.commit(err)) << err;
    feed(eng, 1, 2, first);  // decided (its grant took stock in memory), not committed
    ex->arm(prog.strategies[0].who);
    crm::engine::Event ev;
    ASSERT_TRUE(eng.parse_event(lines[2], ev, err)) << err;
    std::vector<crm::engine::Decision> out;
    EXPECT_THROW(eng.process(ev, out, err), std::runtime_error);
    EXPECT_THROW(eng.commit(err), std::runtime_error) << "a stopped engine committed";
  }
  std::vector<std::string> resumed;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_TRUE(store) << err;
    crm::engine::Engine eng(prog);
    ASSERT_TRUE(eng.attach(store.get(), err)) << err;
    EXPECT_EQ(eng.decided_units(), 0u);
    feed(eng, 0, 4, resumed);
    ASSERT_TRUE(eng.commit(err)) << err;
    EXPECT_EQ(eng.decided_units(), 3u) << "e0 was in the ledger; e1-e3 are decided once";
  }
  EXPECT_EQ(resumed, clean);
}

}  // namespace
