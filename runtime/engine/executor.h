// executor.h - how the engine evaluates compiled units: the one seam between deciding and
// computing. The engine (streaming decisions, explain, audience) runs code only through an
// Executor; the scalar and batch VMs are the default one (VmExecutor), and other backends (the
// LLVM JIT of runtime/jit) plug in beside them without the engine changing.
//
// The contract every implementation keeps (tests/unit/executor_test.cc checks the VM's; a new
// backend adds itself to the differential test):
//
// Scalar - run(unit, ctx):
//   - `unit` is any index into program().units: strategy clauses (who/where/if), segments,
//     aggregate filters, and the part units explain probes. One call evaluates it once for the
//     user, event and instant that `ctx` points at (vm::Context: profile and event values with
//     their presence bytes, `now`, the zone for date built-ins, the aggregate source, the string
//     pool and collections). The engine binds ctx before each call and owns it.
//   - The result is vm::Result: status Ok with value (Bool units: 0 or 1) and `present` (false
//     only for an absent value of an optional-typed unit), or status Error with `error` set to
//     one of the static fault texts of bytecode/operations.h (vm::kOverflow, ...). Identical to
//     vm::VM::run bit for bit, faults included: the same fault text, and the same short-circuit
//     order (a fault on a branch `and`/`or` skips is no fault).
//   - prepare(ctx) is called once per Context before any run(); it sizes whatever scratch the
//     backend keeps in ctx (the VM: ctx.registers). run() may use ctx.registers as scratch.
//   - run() is const and reentrant: several engines (threads) may share one executor, each with
//     its own Context. It never allocates on the hot path and never throws.
//
// Batch - run_batch(unit, in, out):
//   - `unit` is a batch unit (bytecode::Segment::batch_unit, bytecode::Strategy::who_batch):
//     compiled jump-free, Bool-typed. It is evaluated for every row of `in` (columns of the
//     profile, vm::BatchInput) at in.now, in blocks of vm::kBlock rows.
//   - Faults are per lane: a row whose evaluation faults is not selected and counts in
//     out.faults; the faults kept are exactly those the scalar VM's short-circuit would meet
//     (vm/batch_vm.h), so row i is selected iff run(scalar unit) gives Ok and true for it.
//   - out.matches and out.faults are always set. When out.bitmaps is true, out.selected and
//     out.faulted are resized to (in.rows + 63) / 64 words and bit (i % 64) of word (i / 64)
//     says whether row i was selected or faulted (a row is never both; bits past rows are 0).
//
// Clauses - run_clauses(groups, n, ctx, out):
//   - Each group is one strategy's clauses (units: if, who, where; -1 for none), evaluated in
//     that order with ctx.zone = the group's zone, each only when the ones before it gave Ok and
//     true: exactly DecisionRules::matches()'s short circuit. Groups are evaluated in order,
//     independently (a group's verdict never skips another group).
//   - out[i] is the group's verdict: matched (every unit gave Ok and a non-zero value), or
//     not; faulted with `error` = the text run() gives when the unit it stopped at faulted.
//   - The engine calls it for one event's candidate strategies whose clauses read nothing an
//     earlier strategy's decision can change (DecisionRules::prematch), before deciding them,
//     so the verdicts are those the strategies' turns would give. ctx is bound as for run(),
//     except zone, which each group sets.
//   - Returning false declines: nothing was evaluated, and the engine evaluates each clause at
//     its strategy's turn through run(), as it always did. The default declines, so the VM
//     executor behaves exactly as before; the JIT evaluates a hot list in one native call
//     (JitExecutor). run_clauses_by_unit() is the reference loop over run().
//
// Choosing one: Engine's EngineOptions::executor (null: the VM). An executor is built for one
// program and answers program() with it; the engine refuses (aborts on) an executor of another
// program, a caller bug. A backend that cannot compile a unit says so when it is built (its
// factory returns an error naming the unit), never by silently running something else.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "bytecode/program.h"
#include "runtime/vm/batch_vm.h"
#include "runtime/vm/vm.h"

namespace crm::engine {

// What a batch run selected (see the contract above).
struct BatchSelection {
  uint64_t matches = 0;  // rows selected (true, no fault)
  uint64_t faults = 0;   // rows whose evaluation faulted (not selected)
  bool bitmaps = false;  // in: also fill the two bitmaps
  std::vector<uint64_t> selected;  // bit i: row i selected
  std::vector<uint64_t> faulted;   // bit i: row i faulted

  // What every backend does first: counts to 0 and, when `bitmaps` is set, both bitmaps sized
  // for `rows` and cleared. The word arrays (null without bitmaps) are then the backend's to set.
  void begin(size_t rows) {
    matches = faults = 0;
    if (bitmaps) {
      selected.assign((rows + 63) / 64, 0);
      faulted.assign((rows + 63) / 64, 0);
    }
  }
  uint64_t* selected_words() { return bitmaps ? selected.data() : nullptr; }
  uint64_t* faulted_words() { return bitmaps ? faulted.data() : nullptr; }
};

// One strategy's clauses for run_clauses(): units in evaluation order (-1: none), and the zone
// their date built-ins read.
struct ClauseGroup {
  int32_t units[3] = {-1, -1, -1};
  const support::ZoneRules* zone = nullptr;
};
struct ClauseVerdict {
  bool matched = false;
  bool faulted = false;         // a unit faulted (then not matched)
  const char* error = nullptr;  // its fault text
};

class Executor {
 public:
  virtual ~Executor() = default;
  // A short name for messages and benchmarks: "vm", "jit".
  virtual std::string_view name() const = 0;
  // The program this executor was built for.
  virtual const bytecode::Program& program() const = 0;
  virtual void prepare(vm::Context& ctx) const = 0;
  virtual vm::Result run(uint32_t unit, vm::Context& ctx) const = 0;
  virtual void run_batch(uint32_t unit, const vm::BatchInput& in, BatchSelection& out) const = 0;
  // The clauses of n strategies (see the contract above); false: declined, nothing evaluated.
  virtual bool run_clauses(const ClauseGroup*, size_t, vm::Context&, ClauseVerdict*) const { return false; }
  // What run_clauses() must give, one unit at a time through run(): for backends and tests.
  void run_clauses_by_unit(const ClauseGroup* groups, size_t n, vm::Context& ctx, ClauseVerdict* out) const;
};

// The default: the scalar interpreter (vm::VM) and the batch interpreter (vm::BatchVM).
class VmExecutor final : public Executor {
 public:
  explicit VmExecutor(const bytecode::Program& program) : p_(program), vm_(program), batch_(program) {}
  std::string_view name() const override { return "vm"; }
  const bytecode::Program& program() const override { return p_; }
  void prepare(vm::Context& ctx) const override { vm_.prepare(ctx); }
  vm::Result run(uint32_t unit, vm::Context& ctx) const override { return vm_.run(unit, ctx); }
  void run_batch(uint32_t unit, const vm::BatchInput& in, BatchSelection& out) const override;

 private:
  const bytecode::Program& p_;
  vm::VM vm_;
  vm::BatchVM batch_;
};

}  // namespace crm::engine
