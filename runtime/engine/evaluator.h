// evaluator.h - evaluation: runs one compiled unit for one user through the engine's executor
// (runtime/engine/executor.h). It owns the one vm::Context the engine binds before every run
// (the user's profile and aggregates, the event, the instant, the zone the unit's date
// built-ins read) and knows which zone each unit reads: its strategy's, or the program's for
// segments and aggregate filters, which every strategy shares.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/event.h"
#include "runtime/engine/executor.h"
#include "runtime/engine/user_state.h"

namespace crm::engine {

class Evaluator {
 public:
  Evaluator(const bytecode::Program& program, std::shared_ptr<const Executor> executor, vm::StringPool& strings,
            const vm::CollectionStore& collections);
  ~Evaluator();

  const Executor& executor() const { return *executor_; }
  // The zone unit u's date built-ins read.
  const support::ZoneRules* zone_of(uint32_t unit) const { return unit < zone_.size() ? zone_[unit] : &p_.zone; }
  // Unit u for user `user` against `ev` (may be null) at `now`, reading the calendar in `zone`.
  vm::Result run(uint32_t unit, User& user, const Event* ev, int64_t now, const support::ZoneRules* zone);
  vm::Result run(uint32_t unit, User& user, const Event* ev, int64_t now) { return run(unit, user, ev, now, zone_of(unit)); }
  // The clauses of n strategies for `user` against `ev` at `now`, through one executor call
  // (Executor::run_clauses); each group reads its own zone. False: the executor declined.
  bool run_clauses(const ClauseGroup* groups, size_t n, User& user, const Event* ev, int64_t now, ClauseVerdict* out);
  // Off the engine's time line (an audience, an evaluation at an instant of the caller's): runs
  // read the users' aggregates without changing them (AggregatesRef::peek), so a read at an
  // instant after the stream's clock makes no window forget what later events still count.
  // ReadOnly sets it for a scope.
  void set_read_only(bool on);
  bool read_only() const { return source_ != agg_source_.get(); }
  class ReadOnly {
   public:
    explicit ReadOnly(Evaluator& e) : e_(e), was_(e.read_only()) { e_.set_read_only(true); }
    ~ReadOnly() { e_.set_read_only(was_); }
    ReadOnly(const ReadOnly&) = delete;
    ReadOnly& operator=(const ReadOnly&) = delete;

   private:
    Evaluator& e_;
    bool was_;
  };

 private:
  void bind(User& u, const Event* ev, int64_t now);  // ctx_ for one user, event and instant
  class AggSource;
  class PeekSource;
  const bytecode::Program& p_;
  std::shared_ptr<const Executor> executor_;
  vm::Context ctx_;
  std::unique_ptr<AggSource> agg_source_;
  std::unique_ptr<AggSource> peek_source_;
  AggSource* source_;  // the one ctx_ reads: agg_source_, or peek_source_ while read-only
  std::vector<const support::ZoneRules*> zone_;  // per unit: the zone its date built-ins read
};

}  // namespace crm::engine
