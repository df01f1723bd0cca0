// scheduler.h - the scheduler: when `at` and `every` strategies run. Instants are computed on
// the strategy's local clock (docs/semantics.md, "Schedules"); the engine runs each due instant
// as one work unit, in time order across strategies (then by priority), so limits and policies
// shared between them see grants in the order they happened.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/candidates.h"

namespace crm::engine {

class Scheduler {
 public:
  Scheduler(const bytecode::Program& program, const CandidateIndex& priority);
  // The earliest scheduled instant due at or before `upto` (ties: the higher priority), or
  // false. `last_time`: the latest event time seen, where an `every` without a window starts.
  bool next_due(int64_t upto, int64_t last_time, uint32_t& strategy, int64_t& at);
  // Whether the program has an `at` or `every` strategy.
  bool any() const { return any_; }
  // Moves strategy s on from the instant next_due() gave to its next run (or to never).
  void advance(uint32_t s);
  // How many scheduled instants next_due() would give, one after another, up to `upto`,
  // counting no further than `cap` (nothing changes: the limit on runs per step of the clock is
  // checked before the step is taken). `start`: where an `every` not started yet starts (as
  // next_due's `last_time`, or its `upto` when no event came yet). `busiest`: the strategy with
  // the most of them.
  size_t due_count(int64_t upto, int64_t start, size_t cap, uint32_t& busiest) const;
  // The work unit of strategy s's run at `at`, as the ledger names it.
  static std::string unit_id(const bytecode::Strategy& s, int64_t at) { return "schedule:" + s.name + "@" + std::to_string(at); }

 private:
  void init(uint32_t s, int64_t upto, int64_t last_time);
  // Strategy s's first instant when the stream starts at `start` (`local`: see local_).
  int64_t first_run(uint32_t s, int64_t start, int64_t& local) const;
  // The instant after `next` (INT64_MAX: never); `local` moves with it.
  int64_t step(uint32_t s, int64_t next, int64_t& local) const;
  const bytecode::Program& p_;
  const CandidateIndex& priority_;
  bool any_ = false;
  std::vector<int64_t> next_;  // per strategy: its next run; INT64_MIN before the first is known
  // `every` strategies whose period is whole days: the next run's local wall-clock time (micros
  // since 1970-01-01T00:00 local), so a daily 09:00 stays 09:00 across daylight-saving changes.
  std::vector<int64_t> local_;
};

}  // namespace crm::engine
