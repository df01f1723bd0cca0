// jit.h - native code for bytecode units, compiled with LLVM 16 ORC (LLJIT).
//
// Input is a verified bytecode::Program (so a .crmc loaded without the compiler can be
// compiled); output is, per unit, either
//  - scalar code: one function with the scalar VM's calling convention (a vm::Context in, a
//    value or a fault out), giving the VM's result to the bit, faults included; or
//  - batch code: a loop over a block of rows of a vm::BatchInput, jump-free with a fault bit per
//    lane exactly as the batch VM keeps them, written so LLVM vectorises it for the host CPU.
// Every instruction computes with bytecode/operations.h (inlined from bitcode, see
// jit_ops.cc); the JIT defines no operation of its own. Units compile on first use (lazily,
// O2; batch loops O3), or the scalar ones all at once with compile_all() (a cheap pipeline);
// compiled code lives as long as the Jit.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bytecode/program.h"
#include "runtime/vm/batch_vm.h"
#include "runtime/vm/vm.h"

namespace crm::jit {

// What scalar code returns, in two registers: the value, and flags = the ops::Fault (low byte,
// 0 = none) | kPresent when the value is present.
struct ScalarOut {
  static constexpr uint64_t kPresent = 0x100;
  int64_t value;
  uint64_t flags;
};
using ScalarFn = ScalarOut (*)(const vm::Context* ctx);
// Evaluates rows [base, base + n) (n <= vm::kBlock) of `in`: values[i] and errors[i] per row.
// `ctx` carries what built-ins read (now, zone, strings, collections), as in the batch VM.
using BatchFn = void (*)(const vm::BatchInput* in, const vm::Context* ctx, uint64_t base, uint64_t n, int64_t* values,
                         uint8_t* errors);

// Evaluates rows [base, base + n) (any n, base a multiple of 64) of `in` in one call and writes
// bit i of selected[i / 64] (row base + i selected: true, no fault) and of faulted[i / 64] for
// the (n + 63) / 64 words the rows cover (bits past n are 0), unless both are null (counts
// only); returns the counts. Each row's lane is the batch VM's (a fault bit per lane, the
// first fault in program order). With bitmaps the loop takes a word (64 rows) at a time; for
// counts only, chunks of 2,048 rows summed in 32-bit lanes, as native code counts.
struct SelectOut {
  uint64_t matches;
  uint64_t faults;
};
using SelectFn = SelectOut (*)(const vm::BatchInput* in, const vm::Context* ctx, uint64_t base, uint64_t n,
                               uint64_t* selected, uint64_t* faulted);

// Clause dispatch (JitExecutor::run_clauses, engine::Executor's contract): one function that
// evaluates a fixed list of strategies' clauses in order, each strategy's units short-circuited
// as the engine does, with the unit code inlined or called directly (no indirect call per
// clause). zones[i] is group i's zone; out[i] = 0 no match, 1 match, 2 * fault code when the
// unit it stopped at faulted.
using ClausesFn = void (*)(vm::Context* ctx, const support::ZoneRules* const* zones, uint8_t* out);

struct Stats {
  size_t scalar_units = 0;   // units compiled to scalar code
  size_t batch_units = 0;    // units compiled to batch code
  size_t modules = 0;        // LLVM modules compiled (a compile_all() batch is one per chunk)
  size_t code_bytes = 0;     // object code linked (the JIT's code memory, before relocation; never freed before the Jit)
  double compile_seconds = 0;  // wall time of translation, optimisation and code generation
  size_t cache_hits = 0;       // modules loaded from Options::cache_dir instead of compiled
  size_t cache_misses = 0;     // modules compiled and stored there
  // Of cache_misses: modules whose cache file was there but not used - another format or key,
  // or an object that does not match the digest written with it (a torn or damaged file) - so
  // they were compiled and the file replaced.
  size_t cache_rejected = 0;
  size_t dispatchers = 0;      // clause dispatchers compiled or loaded (clauses())
  // Of dispatchers: those compiled in the background (Options::background_dispatchers), not on
  // the thread that called clauses(); and the dispatchers queued or being compiled there now.
  size_t background_dispatchers = 0;
  size_t pending_dispatchers = 0;
  // Dispatchers that could not be compiled (their lists are evaluated one clause at a time for
  // good; results are the same, only slower), and why the last one failed.
  size_t failed_dispatchers = 0;
  std::string last_dispatcher_error;
  // Of scalar_units: units given the native code compile_all() (or a list's bulk compile,
  // below) made for another unit with the same code (registers and instructions) instead of
  // compiling their own.
  size_t shared_units = 0;
  // Of scalar_units: units whose code is the same as other units' up to the constants it reads
  // (LOAD_CONST, comparisons with a constant), given by compile_all() (or a list's bulk
  // compile) an entry of their own that calls one native function for all of them, a "shape",
  // with a table of their constants (session 17); and how many shapes were compiled. A shape
  // is compiled once per module that holds its members' entries (counted once here).
  size_t shape_units = 0;
  size_t shapes = 0;
  // Of scalar_units: units compiled (or shared) the way compile_all() compiles, in bulk, when a
  // candidate list of clauses() first reached them without code (see clauses()).
  size_t list_units = 0;
  // Of scalar_units: units compiled on their first use (scalar(), run(); one O2 module each),
  // not by compile_all() nor in a list's bulk compile. After compile_all(), a scalar unit that was not a batch unit never
  // adds to this: that it stays 0 is how a test knows the code it ran was compile_all()'s.
  size_t first_use_scalar_units = 0;
  // Where compile time goes, summed over the compile threads (so up to threads x the wall
  // time): reading the operations' bitcode and translating the units to IR (with the strip of
  // unused operations and the verifier), the IR optimisation pipeline, and code generation
  // (instruction selection, register allocation, object emission); and the size of the IR
  // (instructions over every defined function of the modules) before and after optimisation.
  double ir_seconds = 0;
  double optimise_seconds = 0;
  double codegen_seconds = 0;
  size_t ir_instructions = 0;
  size_t optimised_instructions = 0;
};

struct Options {
  // A directory of object files keyed by the program's identity (its serialised bytecode), the
  // units, the host CPU and its features, LLVM's and the translator's versions and the
  // operations' bitcode (ops_bitcode_hash()): a program compiled once is loaded from there on the
  // next start (a changed program, CPU, version or operation misses). Empty: no cache.
  // Created if missing; a cache that cannot be written only costs the compile. Each file holds
  // its full key and the object's BLAKE3 digest, checked before the object is linked: a damaged
  // or foreign file is compiled afresh and replaced (Stats::cache_rejected), never run.
  std::string cache_dir;
  // Threads compile_all() compiles modules on (0: one per hardware thread).
  unsigned threads = 0;
  // The operations' bitcode as the cache key sees it: 0 for ops_bitcode_hash(), the hash of
  // the bitcode embedded in this build. Only a test sets another value, to stand for a build
  // whose operations (bytecode/operations.h, jit_ops.cc, decimal.cc) changed.
  uint64_t ops_bitcode_hash = 0;
  // Clause dispatchers (clauses()) compiled on a thread of the Jit's own, while the list is
  // evaluated one clause at a time on its units' code, rather than on the thread that made the
  // list hot (which then waited for them: 32 s for a list of 10,000 strategies,
  // docs/performance.md §7, session 16). false: compiled there, as before.
  bool background_dispatchers = true;
  // Only a test sets this: called on the background thread before it compiles each dispatcher,
  // with no lock of the Jit held. Blocking in it blocks ~Jit (which joins that thread); an
  // exception it throws fails that dispatcher (Stats::failed_dispatchers).
  std::function<void()> before_background_compile;
};

// A 64-bit hash (FNV-1a) of the operations' bitcode embedded in this library, computed on first
// use: part of every object cache key, so native code inlining an operation that has since
// changed is not loaded from a cache directory, whatever the translator's version says.
// Never 0. Thread-safe.
uint64_t ops_bitcode_hash();

class Jit {
 public:
  // A JIT for `program`, which must outlive it and must have passed bytecode::verify. Null
  // with `error` set when LLVM cannot target the host, or when the measurement switch
  // CRM_JIT_DISPATCH is set to a value it does not know (jit.cc).
  static std::unique_ptr<Jit> create(const bytecode::Program& program, std::string& error, Options options = {});
  // Stops the background compile thread and joins it before any compiled code or LLVM state
  // goes. The dispatcher being compiled, if any, is finished first (0.8 s for 256 strategies
  // at O1 on this 2-core machine when idle, longer when loaded): that wait adds to the end of
  // a run and to the release of the old program after a reload.
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
  // Selection code for `in`'s layout (what the executor's run_batch and the counting
  // run_batch run): bitmap words and counts per block instead of a value per row.
  SelectFn select(uint32_t unit, const vm::BatchInput& in, std::string& error);
  // Clause dispatch: the dispatchers for `groups` strategies whose units are units[3 * i ..
  // 3 * i + 2] (-1: none), one per run of up to kClauseChunk strategies, in order; false when the
  // list is to be evaluated one clause at a time instead: shorter than kMinFusedUnits units, not
  // yet seen kHotAfter times (dispatchers compile on the kHotAfter-th use of a list: in the
  // background by default, Options::background_dispatchers, and the list is declined until
  // every chunk's dispatcher is published), the kMaxDispatchers bound reached, or its
  // compilation failed. The key is the exact list of
  // units (the candidate list after indexing and windows). On a list's first sight, its units
  // that have no code yet are compiled at once as compile_all() compiles them (in parallel, a
  // cheap pipeline, identical units sharing code; Stats::list_units), so that the clauses
  // evaluated one at a time meanwhile do not compile a module each. Thread-safe.
  static constexpr size_t kClauseChunk = 256;
  static constexpr size_t kMinFusedUnits = 8;
  static constexpr uint32_t kHotAfter = 2;
  static constexpr size_t kMaxDispatchers = 256;
  bool clauses(const int32_t* units, size_t groups, std::vector<ClausesFn>& chunks);
  // Returns once no dispatcher is queued or being compiled in the background (published or
  // failed): for tests and benchmarks that want the steady state. Dispatchers that a clauses()
  // call still running on another thread has claimed but not queued yet (it queues them after
  // compiling the list's cold units) are not waited for. Thread-safe.
  void wait_for_dispatchers();

  // Compiles the scalar code of every unit not compiled yet that is not a batch unit, in
  // modules of `chunk` units, in parallel (Options::threads), with a much cheaper pipeline and
  // code generator than code compiled on first use: always-inline, SROA, early CSE,
  // instcombine, simplifycfg and FastISel instead of O2 (docs/performance.md §7, sessions 13
  // and 14). Units with the same code (registers and instructions) share one native function
  // (Stats::shared_units); units whose code differs only in the constants it reads share one
  // function that reads them from a table of each unit's own (Stats::shape_units, session 17;
  // code compiled on first use and dispatchers keep the constants baked in). Batch units (loops over columns, which need O3 to be vectorised)
  // and clause dispatchers are still compiled on first use. What CompiledProgram::with_jit
  // with `eager` runs; `crm run --jit` compiles lazily. Fails when CRM_JIT_EAGER (a
  // measurement switch, jit.cc) is set to something it does not accept.
  bool compile_all(std::string& error, size_t chunk = 256);

  // VM::run's contract: a result, or a fault with the VM's text. A unit the JIT cannot compile
  // is an error result naming it. Inline: once the unit is compiled, a load and a call.
  vm::Result run(uint32_t unit, vm::Context& ctx) {
    ScalarFn f = unit < units_ ? scalar_[unit].load(std::memory_order_acquire) : nullptr;
    if (!f) return run_first(unit, ctx);
    ScalarOut o = f(&ctx);
    vm::Result res;
    auto fault = static_cast<uint8_t>(o.flags);
    if (fault) {
      res.status = vm::Status::Error;
      res.error = bytecode::ops::fault_text(static_cast<bytecode::ops::Fault>(fault));
      return res;
    }
    res.value = o.value;
    res.present = (o.flags & ScalarOut::kPresent) != 0;
    return res;
  }
  // BatchVM::run's contract.
  vm::BatchResult run_batch(uint32_t unit, const vm::BatchInput& in, std::vector<int64_t>* values = nullptr);

  Stats stats() const;

  struct Impl;  // opaque

 private:
  explicit Jit(std::unique_ptr<Impl> impl);
  vm::Result run_first(uint32_t unit, vm::Context& ctx);  // compiles, then runs
  std::unique_ptr<Impl> impl_;
  std::atomic<ScalarFn>* scalar_ = nullptr;  // impl_'s entry points, for the inline run()
  size_t units_ = 0;
};

// The program's units as optimised LLVM IR (`crm compile --emit-llvm`): a scalar function per
// unit (`@crm_unit_N`) and a batch function per batch unit (`@crm_batch_N`), operations inlined.
bool emit_llvm(const bytecode::Program& program, std::string& out, std::string& error);

// Whether this build has the JIT (always true where this header's library is linked; the API
// reports the absence of the library itself).
inline constexpr bool kAvailable = true;

}  // namespace crm::jit
