// jit_executor.cc - JitExecutor: the engine's executor over crm::jit::Jit.
#include "runtime/jit/jit_executor.h"

#include "bytecode/operations.h"

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

bool JitExecutor::run_clauses(const engine::ClauseGroup* groups, size_t n, vm::Context& ctx,
                              engine::ClauseVerdict* out) const {
  // Per thread: engines on several threads may share this executor.
  thread_local std::vector<int32_t> units;
  thread_local std::vector<const support::ZoneRules*> zones;
  thread_local std::vector<uint8_t> codes;
  thread_local std::vector<ClausesFn> chunks;
  units.resize(3 * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < 3; ++k) units[3 * i + k] = groups[i].units[k];
  if (!jit_->clauses(units.data(), n, chunks)) return false;
  zones.resize(n);
  codes.resize(n);
  for (size_t i = 0; i < n; ++i) zones[i] = groups[i].zone;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const size_t at = c * Jit::kClauseChunk;
    chunks[c](&ctx, zones.data() + at, codes.data() + at);
  }
  for (size_t i = 0; i < n; ++i) {
    const uint8_t code = codes[i];
    out[i].matched = code == 1;
    out[i].faulted = code >= 2;
    out[i].error = code >= 2 ? bytecode::ops::fault_text(static_cast<bytecode::ops::Fault>(code >> 1)) : nullptr;
  }
  return true;
}

}  // namespace crm::jit
