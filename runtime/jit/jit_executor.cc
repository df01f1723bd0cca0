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
  // The code writes a block's words straight into the bitmaps (kBlock is a multiple of 64),
  // or into scratch when only the counts are wanted.
  uint64_t scratch_sel[vm::kBlock / 64], scratch_flt[vm::kBlock / 64];
  for (size_t base = 0; base < in.rows; base += vm::kBlock) {
    size_t n = std::min(vm::kBlock, in.rows - base);
    SelectOut o = selected ? fn(&in, &ctx, base, n, selected + base / 64, faulted + base / 64)
                           : fn(&in, &ctx, base, n, scratch_sel, scratch_flt);
    out.matches += o.matches;
    out.faults += o.faults;
  }
}

}  // namespace crm::jit
