// scene_test.cc - scenes (000 §2, issue 13 item 9): an event's `scene` is a declared enum, and
// the strategy index looks strategies up by it, so strategies of other scenes are never
// evaluated for an event (counted through the executor seam, as executor_test.cc does).
#include <gtest/gtest.h>

#include <atomic>
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
    ++runs;
    return vm_.run(unit, ctx);
  }
  void run_batch(uint32_t unit, const crm::vm::BatchInput& in, crm::engine::BatchSelection& out) const override {
    vm_.run_batch(unit, in, out);
  }
  mutable std::atomic<int> runs{0};

 private:
  crm::engine::VmExecutor vm_;
};

// 3 scenes x 10 strategies, each with a `who:` (one executor run when it is a candidate), plus
// one strategy that names a channel first and the scene second: the scene is the index.
std::string program() {
  std::string text = R"(
enum Scene { Home, Checkout, AfterOrder }
profile { level: Int = 1 }
event Visit { scene: Scene  channel: Channel }
resource points p { amount: 1 }
strategy app_checkout for business "mall" {
  who: level >= 1
  when: on Visit
  where: channel == App and scene in {Checkout}
  what: grant p
}
)";
  for (const char* scene : {"Home", "Checkout", "AfterOrder"})
    for (int i = 0; i < 10; ++i)
      text += "strategy s_" + std::string(scene) + "_" + std::to_string(i) + " for business \"mall\" {\n  who: level >= 1\n" +
              "  when: on Visit\n  where: scene == " + scene + "\n  what: grant p\n  priority: " + std::to_string(i) +
              "\n}\n";
  return text;
}

TEST(Scenes, StrategiesOfOtherScenesAreNotEvaluated) {
  Compiled c = compile_text(program());
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  for (const auto& s : p.strategies) {
    ASSERT_GE(s.index_field, 0) << s.name;
    EXPECT_EQ(p.events[s.event].fields[s.index_field].name, "scene") << s.name;  // preferred to `channel`
  }
  auto ex = std::make_shared<CountingExecutor>(p);
  crm::engine::Engine eng(p, {ex});
  std::string err;
  auto visit = [&](const std::string& id, const std::string& scene, const std::string& channel) {
    crm::engine::Event ev;
    EXPECT_TRUE(eng.parse_event(R"({"type":"Visit","id":")" + id + R"(","user":"u","time":"2026-01-01T00:00:00Z","scene":")" +
                                    scene + R"(","channel":")" + channel + R"("})",
                                ev, err))
        << err;
    std::vector<crm::engine::Decision> out;
    int before = ex->runs.load();
    EXPECT_TRUE(eng.process(ev, out, err)) << err;
    return std::make_pair(ex->runs.load() - before, out);
  };
  // Home: the 10 Home strategies run their `who` (plus `where`), nothing else.
  auto [home_runs, home] = visit("e1", "Home", "App");
  EXPECT_EQ(home_runs, 20);
  ASSERT_EQ(home.size(), 10u);
  for (const auto& d : home) EXPECT_EQ(p.strategies[d.strategy].name.rfind("s_Home_", 0), 0u) << p.strategies[d.strategy].name;
  // Checkout on App: 10 + app_checkout.
  auto [checkout_runs, checkout] = visit("e2", "Checkout", "App");
  EXPECT_EQ(checkout_runs, 22);
  EXPECT_EQ(checkout.size(), 11u);
  // AfterOrder: 10 strategies; the channel App strategy is not even a candidate.
  auto [after_runs, after] = visit("e3", "AfterOrder", "App");
  EXPECT_EQ(after_runs, 20);
  EXPECT_EQ(after.size(), 10u);
}

// The checker: a scene is a required enum; `scene` needs a trigger event that has one; a scene
// that the enum does not have is its own code.
TEST(Scenes, MisusesAreCodedDiagnostics) {
  auto codes = [](const std::string& text) {
    Compiled c = compile_text(text);
    return c.diagnostics;
  };
  EXPECT_NE(codes("event Visit { scene: String }").find("E0308"), std::string::npos);
  EXPECT_NE(codes("enum S { A }\nevent Visit { scene: S? }").find("E0308"), std::string::npos);
  const std::string base = "enum Scene { Home, Checkout }\nevent Visit { scene: Scene }\nevent Order { n: Int }\n"
                           "resource points p { amount: 1 }\n";
  EXPECT_NE(codes(base + "strategy s { who: true when: on Order where: scene == Home what: grant p }").find("E0309"),
            std::string::npos);
  EXPECT_NE(codes(base + "strategy s { who: true when: on Visit where: scene in {Home, Cart} what: grant p }").find("E0310"),
            std::string::npos);
  Compiled ok = compile_text(base + "strategy s { who: true when: on Visit where: scene in {Home} what: grant p }");
  EXPECT_TRUE(ok.ok) << ok.diagnostics;
}

}  // namespace
