// executor.cc - the default executor: the scalar and batch VMs behind the engine's Executor.
#include "runtime/engine/executor.h"

namespace crm::engine {

void VmExecutor::run_batch(uint32_t unit, const vm::BatchInput& in, BatchSelection& out) const {
  uint64_t* selected = nullptr;
  uint64_t* faulted = nullptr;
  if (out.bitmaps) {
    out.selected.assign((in.rows + 63) / 64, 0);
    out.faulted.assign((in.rows + 63) / 64, 0);
    selected = out.selected.data();
    faulted = out.faulted.data();
  }
  vm::BatchResult r = batch_.run(unit, in, nullptr, selected, faulted);
  out.matches = r.matches;
  out.faults = r.errors;
}

}  // namespace crm::engine
