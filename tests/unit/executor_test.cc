// executor_test.cc - the engine's executor seam (runtime/engine/executor.h): every evaluation
// of the engine (decisions, aggregate filters, explain's probes, evaluate, audience) goes
// through the executor it was given, and the VM executor keeps the contract a new backend must
// keep (batch selection and fault bitmaps agree row by row with the scalar run).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "compile_helpers.h"
#include "runtime/engine/executor.h"

namespace {

using crm::testing::compile_text;
using crm::testing::Compiled;
using crm::testing::T;

// Delegates to the VMs and counts the calls: a stand-in for another backend.
class CountingExecutor : public crm::engine::Executor {
 public:
  explicit CountingExecutor(const crm::bytecode::Program& p) : vm_(p) {}
  std::string_view name() const override { return "counting"; }
  const crm::bytecode::Program& program() const override { return vm_.program(); }
  void prepare(crm::vm::Context& ctx) const override {
    ++prepares;
    vm_.prepare(ctx);
  }
  crm::vm::Result run(uint32_t unit, crm::vm::Context& ctx) const override {
    ++runs;
    return vm_.run(unit, ctx);
  }
  void run_batch(uint32_t unit, const crm::vm::BatchInput& in, crm::engine::BatchSelection& out) const override {
    ++batches;
    vm_.run_batch(unit, in, out);
  }
  mutable std::atomic<int> prepares{0}, runs{0}, batches{0};

 private:
  crm::engine::VmExecutor vm_;
};

const char* kProgram = R"(
profile { level: Int = 0  spend: Money(CNY)? }
event Order { amount: Money(CNY) }
segment big = level / (level - 2) > 0
segment rich = (spend ?? 0 CNY) > 100 CNY
resource points p { amount: 10 }
strategy welcome for business "mall" {
  who: level >= 1
  when: on Order if amount > 5 CNY
  what: grant p
}
)";

TEST(Executor, EngineEvaluatesOnlyThroughItsExecutor) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  auto ex = std::make_shared<CountingExecutor>(c.program());
  crm::engine::Engine eng(c.program(), {ex});
  EXPECT_EQ(&eng.executor(), ex.get());
  EXPECT_EQ(ex->prepares.load(), 1);
  std::string err;
  ASSERT_TRUE(eng.load_profile_line(R"({"user":"a","level":3})", err)) << err;
  ASSERT_TRUE(eng.load_profile_line(R"({"user":"b","level":2,"spend":500})", err)) << err;
  crm::engine::Event ev;
  ASSERT_TRUE(eng.parse_event(R"({"type":"Order","id":"e1","user":"a","time":"2026-01-01T00:00:00Z","amount":9})", ev, err));
  std::vector<crm::engine::Decision> out;
  ASSERT_TRUE(eng.process(ev, out, err)) << err;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome, crm::engine::Outcome::Granted);
  int streaming = ex->runs.load();
  EXPECT_EQ(streaming, 2);  // who and if
  int64_t v = 0;
  ASSERT_TRUE(eng.evaluate(uint32_t(c.segment_unit("rich")), "b", T("2026-01-02T00:00:00Z"), v, err)) << err;
  EXPECT_EQ(v, 1);
  EXPECT_EQ(ex->runs.load(), streaming + 1);
  // Audience: one batch run per segment and per strategy `who`; `big` faults for b (2 / 0), and
  // the scalar run that names the fault goes through the executor too.
  auto counts = eng.audience(T("2026-01-02T00:00:00Z"));
  EXPECT_EQ(ex->batches.load(), 3);
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts[0], std::make_pair(std::string("big"), int64_t(1)));
  EXPECT_EQ(counts[1], std::make_pair(std::string("rich"), int64_t(1)));
  EXPECT_EQ(counts[2], std::make_pair(std::string("welcome"), int64_t(2)));
  EXPECT_GT(ex->runs.load(), streaming + 1);
  EXPECT_EQ(eng.stats().eval_errors_by_kind.at("division by zero"), 1u);
}

TEST(Executor, DefaultIsTheVm) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  crm::engine::Engine eng(c.program());
  EXPECT_EQ(eng.executor().name(), "vm");
  EXPECT_EQ(&eng.executor().program(), &c.program());
}

TEST(ExecutorDeathTest, ExecutorOfAnotherProgramIsRefused) {
  Compiled a = compile_text(kProgram), b = compile_text(kProgram);
  ASSERT_TRUE(a.ok && b.ok);
  auto ex = std::make_shared<crm::engine::VmExecutor>(b.program());
  EXPECT_DEATH(crm::engine::Engine(a.program(), {ex}), "built for another program");
}

// The batch contract: bit i of `selected` / `faulted` is row i, a row is never both, bits past
// the rows are clear, and each row agrees with the scalar run of the same segment.
TEST(Executor, BatchBitmapsAgreeWithScalarRuns) {
  Compiled c = compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  crm::engine::Engine eng(c.program());
  std::string err;
  const size_t rows = 300;  // more than one block of vm::kBlock rows, not a multiple of 64
  for (size_t i = 0; i < rows; ++i)
    ASSERT_TRUE(eng.load_profile_line("{\"user\":\"u" + std::to_string(i) + "\",\"level\":" + std::to_string(i % 5) + "}", err));
  const auto& p = c.program();
  const crm::bytecode::Segment* big = nullptr;
  for (const auto& s : p.segments) if (s.name == "big") big = &s;
  ASSERT_NE(big, nullptr);
  std::vector<std::vector<int64_t>> cols(p.profile.size(), std::vector<int64_t>(rows));
  std::vector<std::vector<uint8_t>> has(p.profile.size(), std::vector<uint8_t>(rows));
  const std::vector<std::string> users = eng.users();
  for (size_t i = 0; i < rows; ++i)
    for (size_t f = 0; f < p.profile.size(); ++f) {
      cols[f][i] = (*eng.profile_of(users[i]))[f];
      has[f][i] = (*eng.profile_present_of(users[i]))[f];
    }
  std::vector<crm::vm::Column> columns(p.profile.size());
  for (size_t f = 0; f < columns.size(); ++f) columns[f] = {cols[f].data(), 8, has[f].data()};
  crm::vm::BatchInput in;
  in.columns = columns.data();
  in.column_count = columns.size();
  in.rows = rows;
  in.now = T("2026-01-02T00:00:00Z");
  in.strings = &eng.strings();
  in.collections = &eng.collections();
  crm::engine::VmExecutor ex(p);
  crm::engine::BatchSelection sel;
  sel.bitmaps = true;
  ex.run_batch(big->batch_unit, in, sel);
  ASSERT_EQ(sel.selected.size(), (rows + 63) / 64);
  ASSERT_EQ(sel.faulted.size(), (rows + 63) / 64);
  uint64_t matches = 0, faults = 0;
  for (size_t i = 0; i < sel.selected.size() * 64; ++i) {
    bool s = sel.selected[i / 64] >> (i % 64) & 1, f = sel.faulted[i / 64] >> (i % 64) & 1;
    if (i >= rows) {
      EXPECT_FALSE(s || f) << "bit past the rows: " << i;
      continue;
    }
    EXPECT_FALSE(s && f) << i;
    int64_t v = 0;
    std::string e;
    bool ok = eng.evaluate(big->unit, users[i], in.now, v, e);
    EXPECT_EQ(f, !ok) << "row " << i;
    EXPECT_EQ(s, ok && v != 0) << "row " << i;
    matches += s;
    faults += f;
  }
  EXPECT_EQ(sel.matches, matches);
  EXPECT_EQ(sel.faults, faults);
  EXPECT_EQ(faults, rows / 5);  // level 2: division by zero
  // Counts without bitmaps are the same, and leave the bitmaps empty.
  crm::engine::BatchSelection counts;
  ex.run_batch(big->batch_unit, in, counts);
  EXPECT_EQ(counts.matches, matches);
  EXPECT_EQ(counts.faults, faults);
  EXPECT_TRUE(counts.selected.empty() && counts.faulted.empty());
}

}  // namespace
