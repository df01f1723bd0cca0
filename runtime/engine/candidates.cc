// candidates.cc - the strategy index and the priority order.
#include "runtime/engine/candidates.h"

#include <algorithm>

namespace crm::engine {

CandidateIndex::CandidateIndex(const bytecode::Program& p) {
  // Higher priority first, so a policy such as "same resource type once per day" lets the most
  // important strategy win; equal priorities fall back to the name for determinism.
  std::vector<uint32_t> order(p.strategies.size());
  for (uint32_t s = 0; s < order.size(); ++s) order[s] = s;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (p.strategies[a].priority != p.strategies[b].priority) return p.strategies[a].priority > p.strategies[b].priority;
    return p.strategies[a].name < p.strategies[b].name;
  });
  rank_.assign(p.strategies.size(), 0);
  for (uint32_t i = 0; i < order.size(); ++i) rank_[order[i]] = i;
  by_event_.resize(p.events.size());
  index_.resize(p.events.size());
  for (uint32_t s : order) {
    const auto& st = p.strategies[s];
    if (st.trigger != bytecode::Trigger::OnEvent) continue;
    if (st.index_field < 0) {
      by_event_[st.event].push_back(s);
      continue;
    }
    auto& by_value = index_[st.event][st.index_field];
    for (int64_t v : st.index_values) by_value[v].push_back(s);
  }
}

// The unindexed strategies plus those indexed under this event's field values. Each list is
// already in priority order (built from `order`), so an event that no index adds to gets the
// unindexed list itself, and one that some index adds to gets the lists merged, not sorted: on
// an unindexed catalogue of 1,000 strategies a copy and a sort per event cost more than
// evaluating their clauses with the JIT.
const std::vector<uint32_t>& CandidateIndex::select(const Event& ev) {
  const std::vector<uint32_t>& always = by_event_[ev.type];
  hits_.clear();  // the non-empty lists indexed under this event's values, each looked up once
  for (const auto& [field, by_value] : index_[ev.type]) {
    auto it = by_value.find(ev.fields[field]);
    if (it != by_value.end() && !it->second.empty()) hits_.push_back(&it->second);
  }
  if (hits_.empty()) return always;
  if (always.empty() && hits_.size() == 1) return *hits_[0];
  candidates_ = always;
  for (const std::vector<uint32_t>* hit : hits_) {
    size_t mid = candidates_.size();
    candidates_.insert(candidates_.end(), hit->begin(), hit->end());
    std::inplace_merge(candidates_.begin(), candidates_.begin() + ptrdiff_t(mid), candidates_.end(),
                       [&](uint32_t a, uint32_t b) { return rank_[a] < rank_[b]; });
  }
  candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
  return candidates_;
}

}  // namespace crm::engine
