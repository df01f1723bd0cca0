// candidates.h - candidate selection: which strategies an event can concern, in priority order.
// Strategies are indexed by trigger event type, and by the value of one event field when the
// compiler found a conjunct `event_field == constant` or `event_field in {constants}` in their
// `where:` or trigger `if` (bytecode::Strategy::index_field): everything else cannot match, so
// the cost per event follows the candidates, not the catalogue.
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/event.h"

namespace crm::engine {

class CandidateIndex {
 public:
  explicit CandidateIndex(const bytecode::Program& program);
  // The strategies to decide for `ev`, highest priority first (ties by name). Valid until the
  // next call (and while the index lives: it may be one of the index's own lists).
  const std::vector<uint32_t>& select(const Event& ev);
  // Strategy s's position in the global priority order (0 first).
  uint32_t rank(uint32_t s) const { return rank_[s]; }

 private:
  // Per event type: strategies that must always be tested, and strategies found by the value
  // of one event field.
  std::vector<std::vector<uint32_t>> by_event_;
  std::vector<std::map<int32_t, std::unordered_map<int64_t, std::vector<uint32_t>>>> index_;
  std::vector<uint32_t> rank_;
  std::vector<uint32_t> candidates_;
  std::vector<const std::vector<uint32_t>*> hits_;  // select()'s scratch
};

}  // namespace crm::engine
