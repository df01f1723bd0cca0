// parallel_pipeline_test.cc - the hand-offs of `crm run --threads` (api/parallel_run): the reading
// thread fills three batches in turn, and where a batch is decided whole, each worker parses its
// lines of the next batch right after deciding this one (Phase::DecideParse, one barrier per
// batch); where a line may stop the run (stop mode), the batch is decided in ranges and the next
// one parsed in a phase of its own. Whatever the batch size and the thread count, every line is
// decided once, in input order, refusals are reported in order, a stop at the first error hands on
// exactly the decisions before it, and a worker's exception or a caller that stops taking the
// decisions ends the run cleanly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <crm/run.h>
#include <crm/runtime.h>

#include "api/parallel_run.h"
#include "api/program_data.h"
#include "compile_helpers.h"
#include "throwing_executor.h"

namespace {

std::shared_ptr<const crm::detail::ProgramData> program_data(const crm::testing::Compiled& c, bool throwing = false) {
  auto d = std::make_shared<crm::detail::ProgramData>();
  d->program = c.program();
  if (throwing) {
    auto ex = std::make_shared<crm::testing::ThrowingExecutor>(d->program);
    ex->arm(d->program.strategies[1].who, 700);
    d->executor = ex;
  }
  return d;
}

// Delayed triggers (a timer of one worker fires at another worker's line), a per-user cap.
const char* kProgram = R"(
event Order { order_id: String  paid: Bool  amount: Money(CNY) }
event Pay { order_id: String }
event Visit {}
resource coupon nudge5 { discount: 5 CNY }
resource coupon c3 { discount: 3 CNY }
strategy unpaid_nudge for business "mall" {
    who: count(Visit within 30 days) >= 1
    when: on Order if not paid, after 2 hours unless Pay where order_id == event.order_id
    what: grant nudge5
    how much: per user 1 per day
}
strategy visit for business "mall" {
    who: count(Visit within 30 days) >= 2
    when: on Visit
    what: grant c3
    how much: per user 2 per campaign
}
)";

// 3,000 lines of 300 users, a minute apart; every 97th line malformed, every 131st an hour
// before the clock (refused as late).
std::string make_input(std::vector<size_t>* refused_lines) {
  std::string input;
  for (int i = 0; i < 3000; ++i) {
    const size_t line = size_t(i) + 1;
    if (i % 97 == 50) {
      input += "{not json\n";
      if (refused_lines) refused_lines->push_back(line);
      continue;
    }
    const bool late = i % 131 == 70;
    const int m = 600 + i - (late ? 60 : 0);
    char time[40];
    std::snprintf(time, sizeof time, "2026-03-%02dT%02d:%02d:00Z", 1 + m / 1440, m / 60 % 24, m % 60);
    if (late && refused_lines) refused_lines->push_back(line);
    const std::string user = "u" + std::to_string(i * 7 % 300);
    const std::string head = R"({"id":"e)" + std::to_string(i) + R"(","user":")" + user + R"(","time":")" + time + "\"";
    switch (i % 3) {
      case 0: input += head + R"(,"type":"Visit"})" "\n"; break;
      case 1: input += head + R"(,"type":"Order","order_id":"o)" + std::to_string(i / 6) + R"(","paid":false,"amount":50})" "\n"; break;
      default: input += head + R"(,"type":"Pay","order_id":"o)" + std::to_string(i / 6 * (i % 4 == 0 ? 1 : 2)) + R"("})" "\n"; break;
    }
  }
  return input;
}

struct Result {
  std::string bytes;
  std::vector<size_t> refused;
  bool ok = false;
  crm::Error error;
};

Result replay(crm::Run& run, const std::string& input, size_t batch, bool stop) {
  Result r;
  std::istringstream in(input);
  crm::ReplayOptions options;
  options.batch_lines = batch;
  options.stop_at_first_error = stop;
  r.ok = run.replay_bytes(
      in, options,
      [&](std::string_view bytes, size_t) {
        r.bytes += bytes;
        return true;
      },
      [&](size_t line, const crm::Error&) { r.refused.push_back(line); }, r.error);
  return r;
}

}  // namespace

TEST(ParallelPipeline, EveryLineIsDecidedOnceInInputOrderWhateverTheBatchSizeAndThreads) {
  crm::testing::Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  std::vector<size_t> refused_lines;
  const std::string input = make_input(&refused_lines);
  // One engine: the reference.
  Result one;
  {
    crm::Run run{crm::CompiledProgram(program_data(c))};
    one = replay(run, input, 4096, false);
    ASSERT_TRUE(one.ok) << one.error.message;
  }
  ASSERT_EQ(one.refused, refused_lines);
  ASSERT_GT(std::count(one.bytes.begin(), one.bytes.end(), '\n'), 500);
  ASSERT_NE(one.bytes.find("nudge5"), std::string::npos);  // timers fired
  // Stop mode, one engine: the decisions before the first malformed line.
  Result one_stop;
  {
    crm::Run run{crm::CompiledProgram(program_data(c))};
    one_stop = replay(run, input, 4096, true);
    ASSERT_FALSE(one_stop.ok);
  }
  ASSERT_EQ(one_stop.refused, std::vector<size_t>{refused_lines[0]});
  for (size_t threads : {1, 2, 3}) {
    for (size_t batch : {1, 2, 3, 5, 17, 64, 97, 1000, 4096}) {
      SCOPED_TRACE(testing::Message() << threads << " threads, batches of " << batch);
      crm::Error error;
      {
        crm::Run run{crm::CompiledProgram(program_data(c))};
        ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
        Result r = replay(run, input, batch, false);
        EXPECT_TRUE(r.ok) << r.error.message;
        EXPECT_EQ(r.refused, refused_lines);
        EXPECT_EQ(r.bytes, one.bytes);
      }
      {
        crm::Run run{crm::CompiledProgram(program_data(c))};
        ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
        Result r = replay(run, input, batch, true);
        EXPECT_FALSE(r.ok);
        EXPECT_EQ(r.error.kind, crm::ErrorKind::Input) << r.error.message;
        EXPECT_EQ(r.refused, one_stop.refused);
        EXPECT_EQ(r.bytes, one_stop.bytes);
      }
    }
  }
}

// A worker's deciding throws part way (the nth evaluation of a `who`): the batch it failed in is
// not handed on, every batch before it is, in order (a prefix of the run that did not fail), and
// the run ends with Internal; also when the caller stops taking the decisions part way, the run
// ends with what it was given and its threads stop.
TEST(ParallelPipeline, AWorkersExceptionOrACallerThatStopsEndsTheStreamWithAPrefix) {
  crm::testing::Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const std::string input = make_input(nullptr);
  auto data = [&](bool throwing) { return program_data(c, throwing); };
  auto run_it = [&](crm::detail::ParallelRun& run, size_t batch, size_t stop_after_chunks, Result& r) {
    std::istringstream in(input);
    crm::ReplayOptions options;
    options.batch_lines = batch;
    options.stop_at_first_error = false;  // the malformed and late lines skipped
    size_t chunks = 0;
    r.ok = run.replay(
        in, options,
        [&](std::string_view bytes, size_t) {
          if (stop_after_chunks && chunks == stop_after_chunks) return false;
          ++chunks;
          r.bytes += bytes;
          return true;
        },
        nullptr, r.error);
  };
  for (size_t threads : {1, 2, 3}) {
    for (size_t batch : {1, 3, 64, 500}) {
      SCOPED_TRACE(testing::Message() << threads << " threads, batches of " << batch);
      Result clean, failed, stopped;
      {
        crm::detail::ParallelRun run(data(false), threads);
        run_it(run, batch, 0, clean);
        ASSERT_TRUE(clean.ok) << clean.error.message;
      }
      {
        auto d = data(true);
        crm::detail::ParallelRun run(d, threads);
        run_it(run, batch, 0, failed);
        EXPECT_TRUE(static_cast<const crm::testing::ThrowingExecutor&>(*d->executor).threw());
      }
      EXPECT_FALSE(failed.ok);
      EXPECT_EQ(failed.error.kind, crm::ErrorKind::Internal) << failed.error.message;
      EXPECT_LT(failed.bytes.size(), clean.bytes.size());
      EXPECT_EQ(clean.bytes.compare(0, failed.bytes.size(), failed.bytes), 0) << "not a prefix";
      if (batch <= 64) {
        EXPECT_GT(failed.bytes.size(), 0u);
      }
      {
        crm::detail::ParallelRun run(data(false), threads);
        run_it(run, batch, 2, stopped);
      }  // its threads stop here
      if (batch < 500) {
        EXPECT_FALSE(stopped.ok);
        EXPECT_EQ(stopped.error.kind, crm::ErrorKind::Input) << stopped.error.message;
        EXPECT_LT(stopped.bytes.size(), clean.bytes.size());
        EXPECT_GT(stopped.bytes.size(), 0u);
      }
      EXPECT_EQ(clean.bytes.compare(0, stopped.bytes.size(), stopped.bytes), 0) << "not a prefix";
    }
  }
}
