// ir.h - the code generator's intermediate form and the passes that turn it into bytecode.
//
// The lowering in codegen.cc emits an ir::Unit: the bytecode instruction set over *virtual*
// registers (a fresh one per value; only the result registers of `and`/`or`/`if` are written
// on more than one path), in one straight line with forward jumps. The passes here then
//   1. remove instructions whose results are never read (dead code), fixing jump targets, and
//   2. map virtual registers onto as few VM registers as possible (linear scan: with forward
//      jumps only, a value is live exactly from its first write to its last read in program
//      order), keeping each builtin call's arguments in consecutive registers.
// Fewer registers keep the batch VM's register columns in cache.
#pragma once

#include <string>
#include <vector>

#include "bytecode/program.h"

namespace crm::codegen::ir {

struct Unit {
  std::string name;
  std::vector<bytecode::Instr> code;  // registers are virtual
  uint32_t virtual_registers = 0;
  bytecode::Kind result = bytecode::Kind::Bool;
};

// Runs the passes and returns the executable unit. Throws std::runtime_error when the unit
// would need more VM registers than an instruction can name.
bytecode::Unit to_bytecode(Unit unit);

// Exposed for tests: the individual passes.
void eliminate_dead_code(Unit& unit);
uint16_t allocate_registers(Unit& unit);

}  // namespace crm::codegen::ir
