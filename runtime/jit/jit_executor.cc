// jit_executor.cc - JitExecutor: the engine's executor over crm::jit::Jit.
#include "runtime/jit/jit_executor.h"

namespace crm::jit {

std::shared_ptr<JitExecutor> JitExecutor::create(const bytecode::Program& program, std::string& error, bool eager,
                                                 Options options) {
  auto jit = Jit::create(program, error, std::move(options));
  if (!jit) return nullptr;
  if (eager && !jit->compile_all(error)) return nullptr;
  return std::shared_ptr<JitExecutor>(new JitExecutor(program, std::move(jit)));
}

void JitExecutor::run_batch(uint32_t unit, const vm::BatchInput& in, engine::BatchSelection& out) const {
  out.begin(in.rows);
  uint64_t* selected = out.selected_words();
  uint64_t* faulted = out.faulted_words();
  std::string error;
  SelectFn fn = jit_->select(unit, in, error);
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
  // One call over every row: the code writes the words straight into the bitmaps, or only
  // counts when they are not wanted.
  SelectOut o = fn(&in, &ctx, 0, in.rows, selected, faulted);
  out.matches = o.matches;
  out.faults = o.faults;
}

}  // namespace crm::jit
