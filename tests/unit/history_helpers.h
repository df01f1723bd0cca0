// history_helpers.h - the reference evaluator's delivery history, counted from an engine's
// decisions (shared by the delivery-history tests and the differential test): one record per
// delivery (the granted or held, not released, actions of one strategy at one event) and one per
// redemption, in decision order. Independent of runtime/engine/delivery_history on purpose.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/engine.h"
#include "tests/reference/ast_evaluator.h"

namespace crm::testing {

struct HistoryCounts {
  size_t deliveries = 0, redemptions = 0;
};

// Appends the records of `out` (one event's decisions) to `history`, by user.
inline HistoryCounts record_history(const bytecode::Program& prog, const std::vector<engine::Decision>& out,
                                    std::map<std::string, std::vector<vm::HistoryRecord>>& history) {
  HistoryCounts n;
  std::string last_key;
  for (const auto& d : out) {
    if (d.strategy >= prog.strategies.size()) continue;
    const auto& act = prog.strategies[d.strategy].actions[d.action];
    vm::HistoryRecord::Action a{prog.resources[act.resource].name, act.channel >= 0 ? prog.channels[act.channel] : "",
                                act.code};
    auto& h = history[d.user];
    if (d.outcome == engine::Outcome::Redeemed) {
      h.push_back({true, prog.strategies[d.strategy].name, d.at, {a}});
      ++n.redemptions;
    } else if ((d.outcome == engine::Outcome::Granted || d.outcome == engine::Outcome::Held) && !d.released) {
      std::string key = d.event + "\x1f" + std::to_string(d.strategy) + "\x1f" + std::to_string(d.at);
      if (key != last_key) {
        h.push_back({false, prog.strategies[d.strategy].name, d.at, {}});
        ++n.deliveries;
      }
      h.back().actions.push_back(a);
      last_key = key;
    }
  }
  return n;
}

}  // namespace crm::testing
