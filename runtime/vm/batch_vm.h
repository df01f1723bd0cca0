// batch_vm.h - the batch interpreter: one unit over a block of users at a time.
//
// Used for audience counts and scheduled deliveries, where the same segment is evaluated for
// every user. Registers are columns of kBlock lanes; each instruction is a tight loop over the
// block that the compiler vectorises, so dispatch is paid once per block, not once per user.
// Batch units are compiled without jumps (`and`/`or` evaluate both sides, `if` selects); each
// register carries a fault bit per lane, and `and`/`or`/`if` keep only the faults the scalar
// VM's short-circuit would have met, so both VMs give the same value or the same fault.
#pragma once

#include <cstdint>
#include <vector>

#include "bytecode/program.h"
#include "runtime/vm/vm.h"

namespace crm::vm {

// Small enough that a unit's registers stay in L1/L2 cache, large enough to amortise dispatch.
constexpr size_t kBlock = 256;

// A column of one profile field: 4- or 8-byte integers in VM encoding, and which rows have a
// value (null: every row does).
struct Column {
  const void* data = nullptr;
  uint8_t width = 8;
  const uint8_t* present = nullptr;
};

struct BatchInput {
  const Column* columns = nullptr;  // indexed by profile field
  size_t column_count = 0;
  size_t rows = 0;
  int64_t now = 0;
  const support::ZoneRules* zone = nullptr;  // for date built-ins; null: UTC (see vm::Context)
  // Aggregates for row i (absolute index); may be null when the unit reads none.
  bytecode::AggValue (*aggregate)(void* state, size_t row, uint32_t g, int64_t now) = nullptr;
  void* aggregate_state = nullptr;
  StringPool* strings = nullptr;
  const CollectionStore* collections = nullptr;
};

struct BatchResult {
  uint64_t matches = 0;  // rows whose result is true (Bool units)
  uint64_t errors = 0;   // rows whose evaluation faulted (counted as no match)
};

class BatchVM {
 public:
  explicit BatchVM(const bytecode::Program& program) : p_(program) {}
  // Runs a jump-free unit over every row; `values`, when set, gets each row's value (0 when it
  // faulted or is absent) so callers can collect the matching users. `selected` and `faulted`,
  // when set, are bitmaps of (rows + 63) / 64 words, zeroed by the caller: bit i % 64 of word
  // i / 64 is set when row i's value is non-zero (and it did not fault), or when it faulted.
  BatchResult run(uint32_t unit, const BatchInput& in, std::vector<int64_t>* values = nullptr,
                  uint64_t* selected = nullptr, uint64_t* faulted = nullptr) const;

 private:
  const bytecode::Program& p_;
};

}  // namespace crm::vm
