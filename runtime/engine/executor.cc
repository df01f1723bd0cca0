// executor.cc - the default executor: the scalar and batch VMs behind the engine's Executor.
#include "runtime/engine/executor.h"

namespace crm::engine {

void VmExecutor::run_batch(uint32_t unit, const vm::BatchInput& in, BatchSelection& out) const {
  out.begin(in.rows);
  vm::BatchResult r = batch_.run(unit, in, nullptr, out.selected_words(), out.faulted_words());
  out.matches = r.matches;
  out.faults = r.errors;
}

}  // namespace crm::engine
