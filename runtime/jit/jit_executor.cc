// jit_executor.cc - JitExecutor: the engine's executor over crm::jit::Jit.
#include "runtime/jit/jit_executor.h"

namespace crm::jit {

std::shared_ptr<JitExecutor> JitExecutor::create(const bytecode::Program& program, std::string& error, bool eager) {
  auto jit = Jit::create(program, error);
  if (!jit) return nullptr;
  if (eager && !jit->compile_all(error)) return nullptr;
  return std::shared_ptr<JitExecutor>(new JitExecutor(program, std::move(jit)));
}

void JitExecutor::run_batch(uint32_t unit, const vm::BatchInput& in, engine::BatchSelection& out) const {
  out.begin(in.rows);
  uint64_t* selected = out.selected_words();
  uint64_t* faulted = out.faulted_words();
  std::string error;
  BatchFn fn = jit_->batch(unit, in, error);
  if (!fn) {  // cannot happen for a verified batch unit; every row faults rather than guess
    out.faults = in.rows;
    if (faulted)
      for (size_t i = 0; i < in.rows; ++i) faulted[i / 64] |= uint64_t{1} << (i % 64);
    return;
  }
  vm::Context ctx;  // what per-lane built-ins read, as in the batch VM
  ctx.now = in.now;
  ctx.zone = in.zone;
  ctx.strings = in.strings;
  ctx.collections = in.collections;
  int64_t values[vm::kBlock];
  uint8_t errors[vm::kBlock];
  for (size_t base = 0; base < in.rows; base += vm::kBlock) {
    size_t n = std::min(vm::kBlock, in.rows - base);
    fn(&in, &ctx, base, n, values, errors);
    for (size_t i = 0; i < n; ++i) {
      bool err = errors[i] != 0, sel = !err && values[i] != 0;
      out.faults += err;
      out.matches += sel;
      if (selected) {
        size_t row = base + i;
        selected[row / 64] |= uint64_t{sel} << (row % 64);
        faulted[row / 64] |= uint64_t{err} << (row % 64);
      }
    }
  }
}

}  // namespace crm::jit
