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
}

// The first instant of a scheduled strategy, once the stream has a time to start from.
void Scheduler::init(uint32_t si, int64_t upto, int64_t last_time) {
  const auto& s = p_.strategies[si];
  int64_t& next = next_[si];
  if (s.trigger == bytecode::Trigger::OnEvent || next != INT64_MIN) return;
  if (s.trigger == bytecode::Trigger::At) {
    next = s.at;
  } else {
    // `every D at HH:MM between A and B`: the first HH:MM on the strategy's local clock, on
    // or after A, in steps of D from A's local day. A period of whole days keeps to the
    // local clock (09:00 stays 09:00 when daylight saving starts or ends; a time that the
    // change skips runs at the first instant after the gap); shorter periods step in
    // elapsed time from the first run.
    int64_t start = s.has_window ? s.from : (last_time == INT64_MIN ? upto : last_time);
    int64_t local = 0;
    next = bytecode::first_schedule_run(s.zone, s.at, s.every, start, &local);
    if (daily_schedule(s)) local_[si] = local;
  }
  if (s.has_window && next >= s.to) next = INT64_MAX;
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

void Scheduler::advance(uint32_t si) {
  const auto& s = p_.strategies[si];
  int64_t& next = next_[si];
  if (s.trigger != bytecode::Trigger::Every || s.every <= 0) next = INT64_MAX;
  else if (daily_schedule(s)) next = s.zone.local_to_utc(local_[si] += s.every);
  else next += s.every;
  if (s.has_window && next >= s.to) next = INT64_MAX;
}

}  // namespace crm::engine
