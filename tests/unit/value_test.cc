// value_test.cc - choice by value (issue 13 item 8, docs/semantics.md "Choice by value"): the
// strategies one event triggers are decided highest `value:` first (ties by priority, then
// name; strategies without a value after them), a fault in a value leaves its strategy out,
// values are computed by the engine's executor, and every decision and ledger row carries them.
#include <crm/runtime.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "compile_helpers.h"
#include "runtime/engine/executor.h"

namespace {

using crm::testing::compile_text;
using crm::testing::Compiled;

class CountingExecutor : public crm::engine::Executor {
 public:
  explicit CountingExecutor(const crm::bytecode::Program& p) : vm_(p) {}
  std::string_view name() const override { return "counting"; }
  const crm::bytecode::Program& program() const override { return vm_.program(); }
  void prepare(crm::vm::Context& ctx) const override { vm_.prepare(ctx); }
  crm::vm::Result run(uint32_t unit, crm::vm::Context& ctx) const override {
    ++runs[unit];
    return vm_.run(unit, ctx);
  }
  void run_batch(uint32_t unit, const crm::vm::BatchInput& in, crm::engine::BatchSelection& out) const override {
    vm_.run_batch(unit, in, out);
  }
  mutable std::map<uint32_t, int> runs;

 private:
  crm::engine::VmExecutor vm_;
};

// Three valued strategies and one without a value, all in one exclusive group: each order gets
// exactly one of them, the one the values choose.
const char* kProgram = R"(
event Order { amount: Money(CNY)  items: Int }
resource coupon cashback_10 { discount: 10 CNY }
resource points points_200 { amount: 200 }
resource coupon per_item_5 { discount: 5 CNY }
resource coupon thanks_1 { discount: 1 CNY }
strategy cashback { who: true  when: on Order  what: grant cashback_10  exclusive: "g"
                    value: amount * 0.05 - 10 CNY  priority: 1 }
strategy points { who: true  when: on Order  what: grant points_200  exclusive: "g"  value: 2 CNY  priority: 5 }
strategy per_item { who: true  when: on Order  what: grant per_item_5  exclusive: "g"
                    value: amount * 0.02 * (1 / items) - 1 CNY }
strategy thanks { who: true  when: on Order  what: grant thanks_1  exclusive: "g"  priority: 10 }
)";

struct Decided {
  std::string granted;  // the strategy granted
  std::vector<std::string> order;  // every decided strategy, in decision order
  std::vector<std::pair<bool, int64_t>> values;
};

Decided order(crm::engine::Engine& eng, const crm::bytecode::Program& p, const std::string& user, int amount, int items) {
  static int n = 0;
  std::string err;
  crm::engine::Event ev;
  EXPECT_TRUE(eng.parse_event(R"({"type":"Order","id":"o)" + std::to_string(++n) + R"(","user":")" + user +
                                  R"(","time":"2026-11-11T01:00:00Z","amount":)" + std::to_string(amount) +
                                  R"(,"items":)" + std::to_string(items) + "}",
                              ev, err))
      << err;
  std::vector<crm::engine::Decision> out;
  EXPECT_TRUE(eng.process(ev, out, err)) << err;
  Decided r;
  for (const auto& d : out) {
    r.order.push_back(p.strategies[d.strategy].name);
    r.values.emplace_back(d.has_value, d.value);
    if (d.outcome == crm::engine::Outcome::Granted) r.granted = p.strategies[d.strategy].name;
    else EXPECT_EQ(d.reason, crm::engine::Reason::ExclusiveGroup);
  }
  return r;
}

TEST(Value, TheHighestValueIsDecidedFirstTiesByPriorityThenName) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  crm::engine::Engine eng(p);
  // 400 CNY, 2 items: cashback 10, points 2, per_item 3; thanks (no value) last.
  Decided a = order(eng, p, "ann", 400, 2);
  EXPECT_EQ(a.granted, "cashback");
  EXPECT_EQ(a.order, (std::vector<std::string>{"cashback", "per_item", "points", "thanks"}));
  EXPECT_EQ(a.values[0], std::make_pair(true, int64_t(10'000'000)));
  EXPECT_EQ(a.values[1], std::make_pair(true, int64_t(3'000'000)));
  EXPECT_EQ(a.values[3], std::make_pair(false, int64_t(0)));
  // 100 CNY, 1 item: cashback -5, points 2, per_item 1: a fixed value beats a computed one.
  EXPECT_EQ(order(eng, p, "bob", 100, 1).granted, "points");
  // 240 CNY, 4 items: cashback 2 = points 2 (priority 5 beats 1), per_item 0.2.
  Decided e = order(eng, p, "eve", 240, 4);
  EXPECT_EQ(e.order, (std::vector<std::string>{"points", "cashback", "per_item", "thanks"}));
  // Equal values and equal priorities: the name decides.
  Compiled tie = compile_text(R"(
event Order { amount: Money(CNY)  items: Int }
resource points p1 { amount: 1 }
strategy b_second { who: true  when: on Order  what: grant p1  exclusive: "g"  value: 1 CNY }
strategy a_first { who: true  when: on Order  what: grant p1  exclusive: "g"  value: 1 CNY }
)");
  ASSERT_TRUE(tie.ok) << tie.diagnostics;
  crm::engine::Engine eng2(tie.program());
  EXPECT_EQ(order(eng2, tie.program(), "ann", 1, 1).order, (std::vector<std::string>{"a_first", "b_second"}));
}

TEST(Value, AFaultInAValueLeavesTheStrategyOutAndIsCounted) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  crm::engine::Engine eng(p);
  Decided r = order(eng, p, "cat", 100, 0);  // per_item divides by 0 items
  EXPECT_EQ(r.granted, "points");
  EXPECT_EQ(r.order, (std::vector<std::string>{"points", "cashback", "thanks"}));
  EXPECT_EQ(eng.stats().eval_errors_by_kind.at("division by zero"), 1u);
}

// Values are units of the program run by the engine's executor (the VM here, the JIT with
// --jit), once per matching candidate: a strategy whose `who` is false is not valued.
TEST(Value, ValuesRunThroughTheExecutorOnlyForMatchingStrategies) {
  Compiled c = compile_text(R"(
profile { level: Int = 0 }
event Order { amount: Money(CNY)  items: Int }
resource points p1 { amount: 1 }
strategy members { who: level >= 1  when: on Order  what: grant p1  value: amount * 0.1 }
strategy everyone { who: true  when: on Order  what: grant p1  value: amount * 0.01 }
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  auto ex = std::make_shared<CountingExecutor>(p);
  crm::engine::Engine eng(p, {ex});
  Decided r = order(eng, p, "ann", 100, 1);  // level 0: members does not match
  EXPECT_EQ(r.order, (std::vector<std::string>{"everyone"}));
  EXPECT_EQ(ex->runs[uint32_t(p.strategies[0].value)], 0);
  EXPECT_EQ(ex->runs[uint32_t(p.strategies[1].value)], 1);
}

// Through the public API: the struct and the JSON line carry the value; a ledger keeps it, so a
// repeated event answered from the ledger after a restart still has it.
TEST(Value, DecisionsAndTheLedgerCarryTheValue) {
  std::string dir = ::testing::TempDir();
  std::string src = dir + "value_api.crm", ledger = dir + "value_api.db";
  std::ofstream(src) << kProgram;
  std::remove(ledger.c_str());
  auto out = crm::compile_files({src});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  const std::string line = R"({"id":"o1","type":"Order","user":"ann","time":"2026-11-11T01:00:00Z","amount":400,"items":2})";
  std::string first_json;
  for (int pass = 0; pass < 2; ++pass) {
    crm::Runtime rt(out.program);
    std::string err;
    ASSERT_TRUE(rt.open_state("sqlite:" + ledger, err)) << err;
    std::vector<crm::Decision> ds;
    crm::Error e;
    ASSERT_TRUE(rt.process_event(line, ds, e)) << e.message;
    ASSERT_EQ(ds.size(), 4u);
    EXPECT_EQ(ds[0].strategy, "cashback");
    EXPECT_TRUE(ds[0].has_value);
    EXPECT_EQ(ds[0].value_millionths, 10'000'000);
    EXPECT_EQ(ds[0].value_currency, "CNY");
    EXPECT_NE(ds[0].json.find(R"("value":"10","value_currency":"CNY")"), std::string::npos) << ds[0].json;
    EXPECT_EQ(ds[3].strategy, "thanks");
    EXPECT_FALSE(ds[3].has_value);
    if (pass == 0) first_json = ds[0].json;
    else EXPECT_EQ(ds[0].json, first_json);  // answered from the ledger
  }
}

TEST(Value, MisusesAreCodedDiagnostics) {
  const std::string base = "event Order { amount: Money(CNY)  items: Int }\nresource points p { amount: 1 }\n";
  auto diags = [&](const std::string& text) { return compile_text(base + text).diagnostics; };
  EXPECT_NE(diags("strategy s { who: true when: on Order what: grant p value: items }").find("E0520"), std::string::npos);
  EXPECT_NE(diags("strategy s { who: true when: on Order what: grant p value: last(Order).amount }").find("E0403"),
            std::string::npos);
  EXPECT_NE(diags("strategy s { who: true when: on Order what: grant p value: 1 CNY }\n"
                  "strategy t { who: true when: on Order what: grant p value: 1.5 }")
                .find("E0521"),
            std::string::npos);
  EXPECT_NE(diags("strategy s { who: true when: at 2026-01-01T00:00Z what: grant p value: 1 CNY }").find("E0522"),
            std::string::npos);
  Compiled ok = compile_text(base + "strategy s { who: true when: on Order what: grant p value: amount * 0.1 - 5 CNY }");
  EXPECT_TRUE(ok.ok) << ok.diagnostics;
}

}  // namespace
