// executor.cc - the default executor: the scalar and batch VMs behind the engine's Executor.
#include "runtime/engine/executor.h"

namespace crm::engine {

// One unit at a time, as DecisionRules::matches() evaluates a strategy's clauses.
void Executor::run_clauses_by_unit(const ClauseGroup* groups, size_t n, vm::Context& ctx, ClauseVerdict* out) const {
  for (size_t i = 0; i < n; ++i) {
    ctx.zone = groups[i].zone;
    ClauseVerdict v{true, false, nullptr};
    for (int32_t unit : groups[i].units) {
      if (unit < 0) continue;
      vm::Result r = run(static_cast<uint32_t>(unit), ctx);
      if (r.status != vm::Status::Ok) {
        v = {false, true, r.error};
        break;
      }
      if (r.value == 0) {
        v.matched = false;
        break;
      }
    }
    out[i] = v;
  }
}

void VmExecutor::run_batch(uint32_t unit, const vm::BatchInput& in, BatchSelection& out) const {
  out.begin(in.rows);
  vm::BatchResult r = batch_.run(unit, in, nullptr, out.selected_words(), out.faulted_words());
  out.matches = r.matches;
  out.faults = r.errors;
}

}  // namespace crm::engine
