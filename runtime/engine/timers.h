// timers.h - delayed triggers: the pending timers of `on E ..., after D unless C where ...`
// strategies (docs/semantics.md, "Delayed triggers"). Like the scheduler, it only says what is
// due and when; the engine decides a due timer as one work unit, in time order with the
// scheduled instants. A timer keeps its trigger event (the `event.` of the decision at firing)
// and is found by its user when a cancelling event arrives, so cancelling costs the user's
// pending timers, not all of them. Memory per timer is one Event plus fixed bookkeeping
// (docs/performance.md, "Pending timers"); limits per user and in all bound the total.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/candidates.h"
#include "runtime/engine/event.h"
#include "runtime/vm/vm.h"

namespace crm::engine {

struct Timer {
  int64_t due = 0;
  uint32_t strategy = 0;
  Event trigger;        // the event that armed it: `event.` fields at firing, its id names the unit
  bool replay = false;  // fired before a restart: its recorded decisions are reported at `due`
};

class Timers {
 public:
  Timers(const bytecode::Program& program, const CandidateIndex& priority);

  // Whether the program has a delayed strategy at all (the event path skips timers otherwise).
  bool any() const { return any_; }
  // Pending timers allowed per user and in all (0: no limit). Restored timers are not refused.
  void set_limits(size_t per_user, size_t total) { per_user_limit_ = per_user, total_limit_ = total; }
  size_t per_user_limit() const { return per_user_limit_; }
  size_t total_limit() const { return total_limit_; }
  // Would arming one more timer for `user` break a limit?
  bool full(const std::string& user) const;
  void arm(Timer t);
  // Removes the pending timers of ev.user that ev cancels (its type is their strategy's
  // cancelling event and its key fields equal their trigger's), appending them to `cancelled`
  // in firing order.
  void cancel(const Event& ev, std::vector<Timer>& cancelled);
  // The earliest timer due at or before `upto` (ties: priority, then the order they were armed).
  bool next_due(int64_t upto, int64_t& due) const;
  Timer pop();
  size_t pending() const { return timers_.size(); }
  size_t pending_of(const std::string& user) const;

  // The work unit of a timer's firing, as the ledger names it.
  static std::string unit_id(const bytecode::Strategy& s, std::string_view trigger_id) {
    return "timer:" + s.name + "@" + std::string(trigger_id);
  }

 private:
  const bytecode::Program& p_;
  const CandidateIndex& priority_;
  bool any_ = false;
  size_t per_user_limit_ = 0, total_limit_ = 0;
  uint64_t next_seq_ = 0;
  std::unordered_map<uint64_t, Timer> timers_;                            // by arming sequence
  std::set<std::tuple<int64_t, uint32_t, uint64_t>> queue_;                // (due, priority rank, seq)
  std::unordered_map<std::string, std::vector<uint64_t>> by_user_;        // each user's pending timers
};

// The trigger event as one JSON line the decoder reads back (the ledger's copy of a pending
// timer). Fields no compiled code reads were never kept (decoder.h) and are written empty.
std::string event_json(const bytecode::Program& p, const Event& ev, const vm::StringPool& strings,
                       const vm::CollectionStore& collections, const std::vector<uint8_t>& read);

}  // namespace crm::engine
