// audience.h - audience: how many known users each segment and each strategy's `who` selects at
// one instant, evaluated over columns of the profile by the executor's batch path.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/decision.h"
#include "runtime/engine/evaluator.h"
#include "runtime/engine/user_state.h"

namespace crm::engine {

// Counts per segment and per strategy `who`, in program order, over users in first-seen order.
// Faulted rows count as no match, in stats (by fault text, from the scalar run).
std::vector<std::pair<std::string, int64_t>> audience_counts(const bytecode::Program& program, Users& users, Evaluator& eval,
                                                             vm::StringPool& strings, const vm::CollectionStore& collections,
                                                             Stats& stats, int64_t at);

}  // namespace crm::engine
