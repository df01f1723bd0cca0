// throwing_executor.h - a test executor: the VM, whose run() throws once when armed. The
// executor contract says run() never throws, but deciding can (std::bad_alloc, a host function
// of JIT code); the engine, crm::Run, crm::Runtime and `--threads` must then stop rather than
// decide on half-updated state (Engine::stopped()). Shared by clause_dispatch_test.cc and
// parallel_stop_test.cc.
#pragma once

#include <atomic>
#include <cstdint>
#include <stdexcept>

#include "runtime/engine/executor.h"

namespace crm::testing {

class ThrowingExecutor final : public engine::Executor {
 public:
  explicit ThrowingExecutor(const bytecode::Program& p) : vm_(p) {}
  // Throws std::runtime_error("injected") at the `nth` evaluation of `unit` from now, counted
  // over every thread that shares the executor; once.
  void arm(uint32_t unit, int64_t nth = 1) {
    threw_.store(false);
    unit_.store(unit);
    left_.store(nth);
  }
  bool threw() const { return threw_.load(); }

  std::string_view name() const override { return "vm-throwing"; }
  const bytecode::Program& program() const override { return vm_.program(); }
  void prepare(vm::Context& ctx) const override { vm_.prepare(ctx); }
  vm::Result run(uint32_t unit, vm::Context& ctx) const override {
    if (left_.load(std::memory_order_relaxed) > 0 && unit == unit_.load() && left_.fetch_sub(1) == 1) {
      threw_.store(true);
      throw std::runtime_error("injected");
    }
    return vm_.run(unit, ctx);
  }
  void run_batch(uint32_t unit, const vm::BatchInput& in, engine::BatchSelection& out) const override {
    vm_.run_batch(unit, in, out);
  }
  bool run_clauses(const engine::ClauseGroup* groups, size_t n, vm::Context& ctx,
                   engine::ClauseVerdict* out) const override {
    run_clauses_by_unit(groups, n, ctx, out);
    return true;
  }

 private:
  engine::VmExecutor vm_;
  mutable std::atomic<uint32_t> unit_{UINT32_MAX};
  mutable std::atomic<int64_t> left_{0};  // evaluations of unit_ until the throw (<= 0: disarmed)
  mutable std::atomic<bool> threw_{false};
};

}  // namespace crm::testing
