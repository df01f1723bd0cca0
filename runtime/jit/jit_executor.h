// jit_executor.h - the JIT behind the engine's executor interface (runtime/engine/executor.h):
// scalar units and batch audience selection as native code, with the VMs' results.
#pragma once

#include <memory>
#include <string>

#include "runtime/engine/executor.h"
#include "runtime/jit/jit.h"

namespace crm::jit {

class JitExecutor final : public engine::Executor {
 public:
  // An executor for `program` (verified; it must outlive the executor). Units are compiled on
  // first use, or all now with `eager`; null with `error` when LLVM cannot target the host or
  // (eager) a unit cannot be compiled, the error naming it.
  static std::shared_ptr<JitExecutor> create(const bytecode::Program& program, std::string& error, bool eager = false,
                                             Options options = {});

  std::string_view name() const override { return "jit"; }
  const bytecode::Program& program() const override { return p_; }
  void prepare(vm::Context&) const override {}  // native code keeps its registers on its stack
  vm::Result run(uint32_t unit, vm::Context& ctx) const override { return jit_->run(unit, ctx); }
  void run_batch(uint32_t unit, const vm::BatchInput& in, engine::BatchSelection& out) const override;
  // One native call per Jit::kClauseChunk strategies once the list is hot (Jit::clauses);
  // declined (one clause at a time, at each strategy's turn) until then and for lists that
  // Jit::clauses does not take.
  bool run_clauses(const engine::ClauseGroup* groups, size_t n, vm::Context& ctx,
                   engine::ClauseVerdict* out) const override;

  Jit& jit() const { return *jit_; }

 private:
  JitExecutor(const bytecode::Program& p, std::unique_ptr<Jit> jit) : p_(p), jit_(std::move(jit)) {}
  const bytecode::Program& p_;
  std::unique_ptr<Jit> jit_;
};

}  // namespace crm::jit
