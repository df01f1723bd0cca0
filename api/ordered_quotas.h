// ordered_quotas.h - campaign-wide counters taken in input order by the workers of `crm run
// --threads N` (library-internal; docs/scaling.md, "Threads in one process").
//
// The workers decide the lines of one batch at once, each its own users' lines in input order.
// Counters without a limit can be counted in any order, but a limited one (stock, budget, a
// pool, pacing) goes to whoever asks first, and without this gate a worker could hand the last
// units to an event days later than another worker's earlier event still to be decided in the
// same batch (up to --commit-every lines apart). The gate makes every read and reservation of a
// limited counter wait until every other worker has decided the lines before it, so the counter
// is taken in input order, which is time order (threads run without allowed lateness), as one
// engine takes it. Counters without limits pass straight through. Not ordered: timers that
// several workers fire at one line (each at the same position) and the timers of the stream's
// end or of `--until`, fired worker by worker (docs/scaling.md says so).
//
// Positions: a worker deciding line i publishes 2i+1 for its own line and 2i for the timers it
// fires at another worker's line (one engine fires them before that line's event); it publishes
// "done" when its range is decided. A wait is for every other worker's position to reach the
// waiter's own, so the worker furthest behind never waits and no cycle of waits can form; a
// worker publishes its position at every line, and waits on nothing else while it waits here
// (the wrapped backend's own lock, if it has one, is taken after the wait).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bytecode/program.h"
#include "runtime/state/state_store.h"

namespace crm::detail {

class OrderedQuotas : public state::Quotas {
 public:
  static constexpr uint64_t kDone = UINT64_MAX;
  OrderedQuotas(const bytecode::Program& program, size_t workers);
  // The counters every worker reserves through. Set before any worker decides; handle() is
  // called while engines bind (attach, construction), never while workers decide.
  void wrap(state::Quotas& inner) { inner_ = &inner; }
  // Before a phase that decides lines starts: every worker at the start (the reader's thread,
  // while no worker runs).
  void begin_batch();
  // Worker w is at `position` (see above); the calling thread's reservations are ordered at it
  // until done(w).
  void at(size_t w, uint64_t position);
  // Worker w has decided its range: nobody waits for it; this thread's reservations are no
  // longer ordered (the end of the stream's timers are decided worker by worker).
  void done(size_t w);
  // How often a reservation waited for another worker (for the docs' measurements).
  uint64_t waits() const { return waits_.load(std::memory_order_relaxed); }

  uint32_t handle(std::string_view name) override;
  state::Quota used(uint32_t handle) override;
  state::QuotaCheck reserve(uint32_t handle, int64_t amount, const state::QuotaLimits& limits) override;
  state::QuotaCheck reserve_parts(const std::vector<state::QuotaPart>& parts, int64_t amount, size_t& failed) override;
  bool thread_safe() const override { return inner_->thread_safe(); }

 private:
  void gate(uint32_t handle);
  bool limited(uint32_t handle) const;

  struct alignas(64) Slot {
    std::atomic<uint64_t> position{kDone};
  };
  state::Quotas* inner_ = nullptr;
  std::unique_ptr<Slot[]> slots_;
  size_t workers_;
  std::set<std::string, std::less<>> limited_names_;  // counters with a limit: strategies, pool_counter(pool)
  std::vector<uint32_t> limited_;  // handles of counters with a limit, sorted
  std::atomic<uint64_t> waits_{0};
};

}  // namespace crm::detail
