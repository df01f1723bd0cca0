// rollout.h - the automatic roll-out of an A/B/n test's winner (design article 002;
// docs/semantics.md, "Automatic roll-out"). Per strategy with `rollout: best of (...) by METRIC
// after D`, counters kept online: each user of the control group and of the listed arms with
// their first decision, whether (and how much) they ordered in the attribution window after it,
// and what their deliveries cost before the decision point (subsidy of redeemed grants, message
// costs: the report's `cost`). At the decision point the listed arms are compared with the
// control group by the same statistics as `crm report` (support/statistics.h); the best arm
// whose interval excludes zero uplift (for roi: of its spend per user, and with a cost) wins,
// or none does. The choice is a ledger record; after a restart it is read back,
// never computed again.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/decision.h"
#include "runtime/engine/event.h"

namespace crm::engine {

// The numbers of one group at the decision point.
struct RolloutGroup {
  std::string name;     // the arm, or "control"
  int64_t users = 0, converters = 0, orders = 0;
  int64_t spend = 0;    // millionths of the order amounts
  int64_t cost = 0;     // millionths: subsidy of the group's redemptions and cost of its messages
  double value = 0;     // the metric: conversion rate, spend per user (currency units), or roi
  // Arms: incremental ROI, (incremental sales - cost) / cost with incremental sales = (spend per
  // user - control's) x users, as `crm report`'s incremental_roi; NaN without cost or amounts.
  double roi = 0;
  // Against the control group (arms only): absolute uplift, its 95% interval and two-sided
  // p-value (of the spend per user for spend_per_user and roi).
  double uplift = 0, low = 0, high = 0, p_value = 0;
  bool excludes_zero = false;  // the interval lies above zero
};

struct RolloutChoice {
  bool decided = false;   // at the decision point, or read back from the ledger
  int32_t winner = -1;    // index into Strategy::arms; -1: no arm won
  int64_t at = 0;
  std::vector<RolloutGroup> groups;  // control, then the listed arms in their order (computed here only)
  std::string json;       // the ledger record's members after "arm" (its numbers), as recorded
};

class Rollouts {
 public:
  explicit Rollouts(const bytecode::Program& p);
  bool any() const { return any_; }

  // A decision of a strategy with a roll-out (granted, rejected, held, control): the user's group
  // and first decision, before the decision point. Deliveries to the rest are not a group.
  void note(const Decision& d);
  void note_user(uint32_t si, const std::string& user, int32_t group, int64_t at);  // group: arm, or kControl
  // What a delivery to a user in a group cost before the decision point (a message's cost when
  // sent or held, a redeemed grant's subsidy): added to the user's cost, as the report's `cost`.
  void note_cost(uint32_t si, const std::string& user, int64_t amount, int64_t at);
  // An event: an order of a user in a group, after their first decision and within the window,
  // before the decision point, counts (once as a converter; every order's amount as spend).
  void observe(const Event& ev);

  // The earliest decision point at or before `upto` that has not passed yet.
  bool next_due(int64_t upto, uint32_t& si, int64_t& at) const;
  void pass(uint32_t si) { state_[si].passed = true; }
  // Computes the choice of strategy si from the counters and fixes it: the `rollout` record.
  Decision decide(uint32_t si);
  // A choice read back from the ledger (the `rollout` row: its arm and its JSON).
  void restore(uint32_t si, const std::string& arm, int64_t at, const std::string& json);

  const RolloutChoice& choice(uint32_t si) const { return state_[si].choice; }
  // The arm whose actions a user in no arm and not in control gets at `now`: the winner once
  // the decision point has passed; -1 before it, or when no arm won.
  int32_t rest_arm(uint32_t si, int64_t now) const;
  // One line for explain: the choice and its numbers, or when it will be made.
  std::string describe(uint32_t si) const;

  static constexpr int32_t kControl = -2;
  static constexpr double kConfidence = 0.95;

 private:
  struct UserOutcome {
    int32_t group = kControl;
    bool crossover = false;  // decided in two groups (the split changed): left out, as the report does
    bool converted = false;
    int64_t first = 0;       // the first decision
    int64_t orders = 0, spend = 0;
    int64_t cost = 0;        // millionths, before the decision point
  };
  struct State {
    std::unordered_map<std::string, UserOutcome> users;
    RolloutChoice choice;
    bool passed = false;  // the decision point was reached in this run (decided, or replayed)
  };
  const bytecode::Program& p_;
  std::vector<State> state_;  // per strategy
  std::vector<std::vector<uint32_t>> by_event_;  // per event type: the strategies whose orders it is
  bool any_ = false;
};

}  // namespace crm::engine
