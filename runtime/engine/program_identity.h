// program_identity.h - which program recorded a ledger, and whether another may continue it
// (docs/semantics.md, "Program identity").
#pragma once

#include <string>
#include <vector>

#include "bytecode/program.h"
#include "runtime/state/state_store.h"

namespace crm::engine {

// The program's hash (of its compiled form) and, per strategy, a hash of everything that
// decides what the strategy does: its own clauses and compiled conditions, the aggregates,
// fields and sets they read, its resources and channels, and the policies that apply to it.
state::ProgramIdentity program_identity(const bytecode::Program& p);

// How a ledger recorded by `recorded` may be continued by `current`.
struct ProgramChange {
  bool same = true;                  // the same program: nothing to say
  std::vector<std::string> changes;  // "strategy `s` changed", "... added", "... removed"
  std::vector<std::string> refusals; // changed strategies whose counters cannot carry over, and why
};
ProgramChange compare_programs(const state::ProgramIdentity& recorded, const state::ProgramIdentity& current,
                               const bytecode::Program& p);

}  // namespace crm::engine
