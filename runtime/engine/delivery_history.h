// delivery_history.h - the user's own deliveries and redemptions as history aggregates
// (`received(...)`, `redeemed(...)`; docs/semantics.md, "Delivery history").
//
// The compiler lists each such aggregate with its filter (bytecode::AggSpec::source, strategy,
// resource, channel, code). Here every (strategy, action) is matched against them once, when the
// engine is built, so recording a delivery or a redemption only adds to the aggregates listed
// for its actions: O(matching aggregates), like an event's update. Live decisions and the
// replay of a ledger at restart go through the same two functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bytecode/program.h"

namespace crm::engine {

struct User;

// One entry of a user's delivery history as a ledger gives it back: a delivery's action
// (granted, or held for quiet hours) or a redemption.
struct HistoryEntry {
  bool redemption = false;
  bool new_delivery = true;  // the first action of its delivery (deliveries span several rows)
  uint32_t strategy = 0;
  int32_t action = 0;
  int64_t at = 0;
};

class DeliveryHistory {
 public:
  explicit DeliveryHistory(const bytecode::Program& p);
  // Whether the program reads any delivery history (otherwise nothing is recorded).
  bool used() const { return used_; }
  // A delivery of strategy `si` to `u` at `at`: `actions` are its actions granted or held.
  void delivered(User& u, uint32_t si, const std::vector<int32_t>& actions, int64_t at) const;
  // The redemption at `at` of u's grant of strategy `si`'s action `action`.
  void redeemed(User& u, uint32_t si, int32_t action, int64_t at) const;
  // Entries from a ledger, in ledger order.
  void replay(User& u, const std::vector<HistoryEntry>& entries) const;

 private:
  const bytecode::Program& p_;
  bool used_ = false;
  // Per strategy, per action: the aggregates that a delivery (or a redemption) of it counts for.
  std::vector<std::vector<std::vector<uint32_t>>> received_, redeemed_;
};

}  // namespace crm::engine
