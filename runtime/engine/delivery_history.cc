// delivery_history.cc - deliveries and redemptions folded into the user's history aggregates.
#include "runtime/engine/delivery_history.h"

#include <algorithm>

#include "runtime/engine/user_state.h"

namespace crm::engine {

using bytecode::AggSource;

DeliveryHistory::DeliveryHistory(const bytecode::Program& p) : p_(p) {
  received_.resize(p.strategies.size());
  redeemed_.resize(p.strategies.size());
  for (size_t si = 0; si < p.strategies.size(); ++si) {
    const auto& s = p.strategies[si];
    received_[si].resize(s.actions.size());
    redeemed_[si].resize(s.actions.size());
    for (size_t ai = 0; ai < s.actions.size(); ++ai) {
      const auto& a = s.actions[ai];
      for (uint32_t g = 0; g < p.aggregates.size(); ++g) {
        const auto& spec = p.aggregates[g];
        if (spec.source == AggSource::Events) continue;
        used_ = true;
        bool match = (spec.strategy < 0 || uint32_t(spec.strategy) == si) &&
                     (spec.resource < 0 || uint32_t(spec.resource) == a.resource) &&
                     (spec.channel < 0 || spec.channel == a.channel) && (spec.code.empty() || spec.code == a.code);
        if (match) (spec.source == AggSource::Received ? received_ : redeemed_)[si][ai].push_back(g);
      }
    }
  }
}

// A delivery counts once for each aggregate that one of its actions matches.
void DeliveryHistory::delivered(User& u, uint32_t si, const std::vector<int32_t>& actions, int64_t at) const {
  if (!used_ || si >= received_.size()) return;
  std::vector<uint32_t> gs;
  for (int32_t ai : actions)
    if (ai >= 0 && size_t(ai) < received_[si].size()) gs.insert(gs.end(), received_[si][ai].begin(), received_[si][ai].end());
  std::sort(gs.begin(), gs.end());
  gs.erase(std::unique(gs.begin(), gs.end()), gs.end());
  for (uint32_t g : gs) u.aggs().add(p_.aggregates[g], g, at, 0, true);
}

void DeliveryHistory::redeemed(User& u, uint32_t si, int32_t action, int64_t at) const {
  if (!used_ || si >= redeemed_.size() || action < 0 || size_t(action) >= redeemed_[si].size()) return;
  for (uint32_t g : redeemed_[si][action]) u.aggs().add(p_.aggregates[g], g, at, 0, true);
}

void DeliveryHistory::replay(User& u, const std::vector<HistoryEntry>& entries) const {
  if (!used_) return;
  for (size_t i = 0; i < entries.size();) {
    const HistoryEntry& e = entries[i];
    if (e.redemption) {
      redeemed(u, e.strategy, e.action, e.at);
      ++i;
      continue;
    }
    std::vector<int32_t> actions{e.action};
    size_t j = i + 1;
    for (; j < entries.size() && !entries[j].redemption && !entries[j].new_delivery; ++j) actions.push_back(entries[j].action);
    delivered(u, e.strategy, actions, e.at);
    i = j;
  }
}

}  // namespace crm::engine
