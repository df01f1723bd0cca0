// scheduler.cc - the next instant of each scheduled strategy.
#include "runtime/engine/scheduler.h"

namespace crm::engine {

namespace {

// `every N days` (or weeks): runs keep to the local wall clock rather than to elapsed time.
bool daily_schedule(const bytecode::Strategy& s) {
  return s.trigger == bytecode::Trigger::Every && bytecode::schedule_keeps_local_clock(s.every);
}

}  // namespace

Scheduler::Scheduler(const bytecode::Program& program, const CandidateIndex& priority) : p_(program), priority_(priority) {
  next_.assign(p_.strategies.size(), INT64_MIN);
  local_.assign(p_.strategies.size(), 0);
  for (const auto& s : p_.strategies) any_ |= s.trigger != bytecode::Trigger::OnEvent;
}

// The first instant of a scheduled strategy, once the stream has a time to start from.
void Scheduler::init(uint32_t si, int64_t upto, int64_t last_time) {
  const auto& s = p_.strategies[si];
  if (s.trigger == bytecode::Trigger::OnEvent || next_[si] != INT64_MIN) return;
  next_[si] = first_run(si, last_time == INT64_MIN ? upto : last_time, local_[si]);
}

int64_t Scheduler::first_run(uint32_t si, int64_t start, int64_t& local) const {
  const auto& s = p_.strategies[si];
  int64_t next = 0;
  if (s.trigger == bytecode::Trigger::At) {
    next = s.at;
  } else {
    // `every D at HH:MM between A and B`: the first HH:MM on the strategy's local clock, on
    // or after A, in steps of D from A's local day. A period of whole days keeps to the
    // local clock (09:00 stays 09:00 when daylight saving starts or ends; a time that the
    // change skips runs at the first instant after the gap); shorter periods step in
    // elapsed time from the first run.
    if (s.has_window) start = s.from;
    int64_t loc = 0;
    next = bytecode::first_schedule_run(s.zone, s.at, s.every, start, &loc);
    if (daily_schedule(s)) local = loc;
  }
  if (s.has_window && next >= s.to) next = INT64_MAX;
  return next;
}

bool Scheduler::next_due(int64_t upto, int64_t last_time, uint32_t& strategy, int64_t& at) {
  int64_t best_time = INT64_MAX;
  uint32_t best = 0;
  for (uint32_t si = 0; si < p_.strategies.size(); ++si) {
    if (p_.strategies[si].trigger == bytecode::Trigger::OnEvent) continue;
    init(si, upto, last_time);
    int64_t next = next_[si];
    if (next <= upto && (next < best_time || (next == best_time && priority_.rank(si) < priority_.rank(best)))) {
      best_time = next;
      best = si;
    }
  }
  if (best_time == INT64_MAX) return false;
  strategy = best;
  at = best_time;
  return true;
}

void Scheduler::advance(uint32_t si) { next_[si] = step(si, next_[si], local_[si]); }

int64_t Scheduler::step(uint32_t si, int64_t next, int64_t& local) const {
  const auto& s = p_.strategies[si];
  if (s.trigger != bytecode::Trigger::Every || s.every <= 0) next = INT64_MAX;
  else if (daily_schedule(s)) next = s.zone.local_to_utc(local += s.every);
  else next += s.every;
  if (s.has_window && next >= s.to) next = INT64_MAX;
  return next;
}

// Walks each strategy's instants as next_due() and advance() would, on copies; at most `cap`
// steps in all, so a clock jump of centuries costs no more than the limit it breaks.
size_t Scheduler::due_count(int64_t upto, int64_t start, size_t cap, uint32_t& busiest) const {
  size_t total = 0, most = 0;
  busiest = 0;
  for (uint32_t si = 0; si < p_.strategies.size() && total < cap; ++si) {
    if (p_.strategies[si].trigger == bytecode::Trigger::OnEvent) continue;
    int64_t local = local_[si];
    int64_t next = next_[si] == INT64_MIN ? first_run(si, start, local) : next_[si];
    size_t n = 0;
    for (; next != INT64_MAX && next <= upto && total < cap; ++n, ++total) next = step(si, next, local);
    if (n > most) most = n, busiest = si;
  }
  return total;
}

}  // namespace crm::engine
