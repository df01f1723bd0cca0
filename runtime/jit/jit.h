// jit.h - native code for bytecode units, compiled with LLVM 16 ORC (LLJIT).
//
// Input is a verified bytecode::Program (so a .crmc loaded without the compiler can be
// compiled); output is, per unit, either
//  - scalar code: one function with the scalar VM's calling convention (a vm::Context in, a
//    value or a fault out), giving the VM's result to the bit, faults included; or
//  - batch code: a loop over a block of rows of a vm::BatchInput, jump-free with a fault bit per
//    lane exactly as the batch VM keeps them, written so LLVM vectorises it for the host CPU.
// Every instruction computes with bytecode/operations.h (inlined from bitcode, see
// jit_ops.cc); the JIT defines no operation of its own. Units compile on first use (lazily),
// or all at once with compile_all(); compiled code lives as long as the Jit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bytecode/program.h"
#include "runtime/vm/batch_vm.h"
#include "runtime/vm/vm.h"

namespace crm::jit {

// Returns the unit's ops::Fault (0 = none); on 0, *value and *present hold its result.
using ScalarFn = uint8_t (*)(const vm::Context* ctx, int64_t* value, uint8_t* present);
// Evaluates rows [base, base + n) (n <= vm::kBlock) of `in`: values[i] and errors[i] per row.
// `ctx` carries what built-ins read (now, zone, strings, collections), as in the batch VM.
using BatchFn = void (*)(const vm::BatchInput* in, const vm::Context* ctx, uint64_t base, uint64_t n, int64_t* values,
                         uint8_t* errors);

struct Stats {
  size_t scalar_units = 0;   // units compiled to scalar code
  size_t batch_units = 0;    // units compiled to batch code
  size_t modules = 0;        // LLVM modules compiled (a compile_all() batch is one per chunk)
  size_t code_bytes = 0;     // object code emitted (the JIT's code memory, before relocation)
  double compile_seconds = 0;  // translation, optimisation and code generation, summed
};

class Jit {
 public:
  // A JIT for `program`, which must outlive it and must have passed bytecode::verify. Null
  // with `error` set when LLVM cannot target the host.
  static std::unique_ptr<Jit> create(const bytecode::Program& program, std::string& error);
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  // The unit's native code, compiled now if it is not yet; null with `error` naming the unit
  // when it cannot be compiled. Thread-safe.
  ScalarFn scalar(uint32_t unit, std::string& error);
  BatchFn batch(uint32_t unit, std::string& error);
  // Batch code specialised for the layout of `in`'s columns (widths, which have presence),
  // compiled on first use of that layout: what run_batch() runs.
  BatchFn batch(uint32_t unit, const vm::BatchInput& in, std::string& error);
  // Compiles every unit not compiled yet (scalar code for every unit, batch code for the batch
  // units of segments and strategies), in modules of `chunk` units.
  bool compile_all(std::string& error, size_t chunk = 512);

  // VM::run's contract: a result, or a fault with the VM's text. A unit the JIT cannot compile
  // is an error result naming it.
  vm::Result run(uint32_t unit, vm::Context& ctx);
  // BatchVM::run's contract.
  vm::BatchResult run_batch(uint32_t unit, const vm::BatchInput& in, std::vector<int64_t>* values = nullptr);

  Stats stats() const;

 private:
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The program's units as optimised LLVM IR (`crm compile --emit-llvm`): a scalar function per
// unit (`@crm_unit_N`) and a batch function per batch unit (`@crm_batch_N`), operations inlined.
bool emit_llvm(const bytecode::Program& program, std::string& out, std::string& error);

// Whether this build has the JIT (always true where this header's library is linked; the API
// reports the absence of the library itself).
inline constexpr bool kAvailable = true;

}  // namespace crm::jit
